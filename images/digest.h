/* SHA-256 digests in the OCI form "sha256:<64 lowercase hex>", through OpenSSL. */
#ifndef DJ_IMAGES_DIGEST_H
#define DJ_IMAGES_DIGEST_H

#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

struct dj_sha256 {
  EVP_MD_CTX *ctx;
};

void dj_sha256_init(struct dj_sha256 *h);
void dj_sha256_update(struct dj_sha256 *h, const void *p, size_t n);
/* Write "sha256:<hex>" into out (72 bytes) and release the context. */
void dj_sha256_final(struct dj_sha256 *h, char out[72]);
/* Release without a result (error paths). */
void dj_sha256_discard(struct dj_sha256 *h);
void dj_sha256_digest(const void *p, size_t n, char out[72]);

#endif
