/* JWE decryption (compact, flattened and general JSON) with fixed RSA and EC keys. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "images/jwe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static EVP_PKEY *keys[3];
  if (keys[0] == NULL) {
    keys[0] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    keys[1] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    keys[2] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
  }
  for (int i = 0; i < 3; i++) {
    uint8_t *pt = NULL;
    size_t n = 0;
    dj_err err = { 0 };
    if (dj_jwe_decrypt((const char *) data, size, keys[i], &pt, &n, &err) == 0)
      free(pt);
  }
  return 0;
}
