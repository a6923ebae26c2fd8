/* JWE decryption (compact, flattened and general JSON) with fixed RSA and EC keys: those in
 * $DJ_FUZZ_JWE_KEYS (rsa.pem, p256.pem, p384.pem: scripts/fuzz makes them and encrypts its seeds to
 * them, so that the seeds decrypt all the way), else keys made once per process. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/pem.h>

#include "images/jwe.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static EVP_PKEY *key_from(const char *dir, const char *name)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "r");
  EVP_PKEY *k = f != NULL ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
  if (f != NULL)
    fclose(f);
  return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static EVP_PKEY *keys[3];
  if (keys[0] == NULL) {
    const char *dir = getenv("DJ_FUZZ_JWE_KEYS");
    if (dir != NULL) {
      keys[0] = key_from(dir, "rsa.pem");
      keys[1] = key_from(dir, "p256.pem");
      keys[2] = key_from(dir, "p384.pem");
    }
    if (keys[0] == NULL)
      keys[0] = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    if (keys[1] == NULL)
      keys[1] = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (keys[2] == NULL)
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
