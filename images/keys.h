/* Loading the PEM (or DER) keys the image commands take: PKCS#8, PKCS#1 or SEC1 private keys,
 * SubjectPublicKeyInfo public keys (or a private key whose public half is wanted). */
#ifndef DJ_IMAGES_KEYS_H
#define DJ_IMAGES_KEYS_H

#include <openssl/evp.h>
#include <stdbool.h>

#include "common/err.h"

int dj_key_load_private(const char *path, EVP_PKEY **out, dj_err *err);
int dj_key_load_public(const char *path, EVP_PKEY **out, dj_err *err);

#endif
