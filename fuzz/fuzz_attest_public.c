/* libFuzzer: TPM2B_PUBLIC from untrusted bytes, then the AK checks, its key and its name. */
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "attest/quote.h"
#include "attest/tpmstruct.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  TPM2B_PUBLIC pub;
  dj_err err = { 0 };
  if (dj_tpm_unmarshal_public(data, size, &pub, &err) < 0)
    return 0;
  TPM2B_NAME name;
  if (dj_tpm_public_name(&pub.publicArea, &name, &err) == 0)
    dj_ak_check(&pub, &name, NULL, &err);
  EVP_PKEY *key = NULL;
  if (dj_tpm_public_to_evp(&pub.publicArea, &key, &err) == 0)
    EVP_PKEY_free(key);
  return 0;
}
