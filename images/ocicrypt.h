/* ocicrypt layer encryption as skopeo, buildah, podman and containerd use it:
 *   annotations org.opencontainers.image.enc.keys.jwe (comma-separated base64 JWEs whose plaintext
 *   is the private options JSON {"symkey","digest","cipheroptions":{"nonce"}}) and
 *   org.opencontainers.image.enc.pubopts (base64 JSON {"cipher","hmac","cipheroptions"});
 *   cipher AES_256_CTR_HMAC_SHA256: AES-256-CTR with the 16-byte nonce as IV, HMAC-SHA256 (same
 *   key) over the ciphertext.
 * The HMAC is checked over the whole ciphertext before a single plaintext byte is produced; the
 * ciphertext must be in a sealed memfd (dj_image_blob_stage), so what was checked is what is
 * decrypted. */
#ifndef DJ_IMAGES_OCICRYPT_H
#define DJ_IMAGES_OCICRYPT_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "images/layout.h"

#define DJ_ANNOT_KEYS_JWE "org.opencontainers.image.enc.keys.jwe"
#define DJ_ANNOT_KEYS_PKCS7 "org.opencontainers.image.enc.keys.pkcs7"
#define DJ_ANNOT_KEYS_PGP "org.opencontainers.image.enc.keys.pgp"
#define DJ_ANNOT_KEYS_PROVIDER "org.opencontainers.image.enc.keys.provider."
#define DJ_ANNOT_PUBOPTS "org.opencontainers.image.enc.pubopts"
#define DJ_OCICRYPT_CIPHER "AES_256_CTR_HMAC_SHA256"

/* What unlocks an encrypted layer. */
struct dj_layer_secret {
  uint8_t key[32];
  uint8_t nonce[16];
  uint8_t hmac[32];
  char digest[DJ_DIGEST_MAX]; /* of the plaintext (still compressed) blob */
};

/* The kinds of recipient of an encrypted layer, e.g. "jwe, provider:kbs" (into buf). */
void dj_ocicrypt_recipient_kinds(json_t *annotations, char *buf, size_t n);

/* Parse the private options JSON (the JWE plaintext). */
int dj_ocicrypt_privopts_parse(const uint8_t *json, size_t len, struct dj_layer_secret *s, dj_err *err);
/* Parse the pubopts annotation value (base64 JSON) into s->hmac. */
int dj_ocicrypt_pubopts_parse(const char *b64, struct dj_layer_secret *s, dj_err *err);

/* Recover a layer's secret with a private key from the descriptor's annotations. */
int dj_ocicrypt_unwrap(const struct dj_descriptor *d, EVP_PKEY *key, struct dj_layer_secret *s, dj_err *err);

/* Check the HMAC of the ciphertext in sealed memfd fd (read to its end from offset 0) against
 * s->hmac in constant time; the fd is left at offset 0. */
int dj_ocicrypt_verify_hmac(int fd, const struct dj_layer_secret *s, dj_err *err);

/* Encrypt the plaintext blob in fd (size bytes, digest already known) to out_fd, filling the
 * encrypted descriptor's annotations (keys.jwe, pubopts) into annotations, and the digest and size
 * of the ciphertext into ct_digest and ct_size. */
int dj_ocicrypt_encrypt(int fd, const char *plain_digest, EVP_PKEY *const *keys, size_t n_keys, int out_fd,
                        json_t *annotations, char ct_digest[DJ_DIGEST_MAX], uint64_t *ct_size, dj_err *err);

/* AES-256-CTR keystream over a buffer, continuing a stream: ctx from dj_ocicrypt_ctr_new. */
EVP_CIPHER_CTX *dj_ocicrypt_ctr_new(const struct dj_layer_secret *s);
int dj_ocicrypt_ctr_update(EVP_CIPHER_CTX *ctx, uint8_t *buf, size_t n);

#endif
