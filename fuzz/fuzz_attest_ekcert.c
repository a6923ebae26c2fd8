/* libFuzzer: EK certificates (DER) through path validation to an empty trust set and the TCG SAN. */
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "attest/ekcert.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static struct dj_ek_trust trust;
  if (trust.roots == NULL) {
    trust.roots = X509_STORE_new();
    trust.intermediates = sk_X509_new_null();
  }
  dj_err err = { 0 };
  dj_ekcert_verify(data, size, &trust, 0, NULL, NULL, &err);
  const unsigned char *p = data;
  X509 *x = d2i_X509(NULL, &p, (long) size);
  if (x != NULL) {
    struct dj_ek_claims c;
    dj_ekcert_claims(x, &c, &err);
    X509_free(x);
  }
  return 0;
}
