/* libFuzzer: an EK template from NV (0x01c00004/0x01c0000c) from untrusted bytes, against each
 * default EK template, then the public key the re-created EK would have. */
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "attest/tpm.h"
#include "attest/tpmstruct.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const enum dj_ek_kind kinds[] = { DJ_EK_RSA2048, DJ_EK_ECC_P256 };
  for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
    TPM2B_PUBLIC dflt;
    dj_ek_template(kinds[i], &dflt);
    TPMT_PUBLIC t;
    dj_err err = { 0 };
    if (dj_tpm_unmarshal_ek_template(data, size, &dflt.publicArea, &t, &err) < 0)
      continue;
    TPM2B_NAME name;
    dj_tpm_public_name(&t, &name, &err);
    EVP_PKEY *key = NULL;
    if (dj_tpm_public_to_evp(&t, &key, &err) == 0)
      EVP_PKEY_free(key);
  }
  return 0;
}
