#include "images/digest.h"

#include <stdio.h>
#include <stdlib.h>

void dj_sha256_init(struct dj_sha256 *h)
{
  h->ctx = EVP_MD_CTX_new();
  if (h->ctx == NULL || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
    abort(); /* allocation failure: as dj_xmalloc */
}

void dj_sha256_update(struct dj_sha256 *h, const void *p, size_t n)
{
  EVP_DigestUpdate(h->ctx, p, n);
}

void dj_sha256_final(struct dj_sha256 *h, char out[72])
{
  unsigned char md[32];
  unsigned int len = 0;
  EVP_DigestFinal_ex(h->ctx, md, &len);
  EVP_MD_CTX_free(h->ctx);
  h->ctx = NULL;
  int o = snprintf(out, 72, "sha256:");
  for (unsigned i = 0; i < 32; i++)
    o += snprintf(out + o, (size_t) (72 - o), "%02x", md[i]);
}

void dj_sha256_discard(struct dj_sha256 *h)
{
  EVP_MD_CTX_free(h->ctx);
  h->ctx = NULL;
}

void dj_sha256_digest(const void *p, size_t n, char out[72])
{
  struct dj_sha256 h;
  dj_sha256_init(&h);
  dj_sha256_update(&h, p, n);
  dj_sha256_final(&h, out);
}
