/* Copying an image into another layout with its layers encrypted (ocicrypt, as skopeo copy
 * --encryption-key writes) or decrypted (as skopeo copy --decryption-key). The config is copied
 * unchanged; manifests are re-serialised, layer descriptors are what skopeo writes. */
#ifndef DJ_IMAGES_CONVERT_H
#define DJ_IMAGES_CONVERT_H

#include <openssl/evp.h>
#include <stddef.h>

#include "common/err.h"

/* Encrypt every unencrypted layer of src to the recipients' public keys. */
int dj_image_encrypt(const char *src_ref, const char *dst_ref, EVP_PKEY *const *keys, size_t n_keys, dj_err *err);
/* Decrypt every encrypted layer of src with key, checking HMAC, digests and diff_ids. */
int dj_image_decrypt(const char *src_ref, const char *dst_ref, EVP_PKEY *key, dj_err *err);

#endif
