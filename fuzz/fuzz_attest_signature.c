/* libFuzzer: TPMT_SIGNATURE from untrusted bytes, verified under a fixed software ECC AK. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "attest/quote.h"
#include "attest/tpmstruct.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  TPMT_SIGNATURE sig;
  dj_err err = { 0 };
  if (dj_tpm_unmarshal_signature(data, size, &sig, &err) < 0)
    return 0;
  /* the NIST P-256 generator as a valid public point */
  static const uint8_t gx[32] = { 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40, 0xf2,
                                  0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2, 0x96 };
  static const uint8_t gy[32] = { 0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e, 0x16,
                                  0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51, 0xf5 };
  TPM2B_PUBLIC ak = { 0 };
  ak.publicArea.type = TPM2_ALG_ECC;
  ak.publicArea.nameAlg = TPM2_ALG_SHA256;
  ak.publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
  ak.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
  ak.publicArea.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
  ak.publicArea.unique.ecc.x.size = 32;
  ak.publicArea.unique.ecc.y.size = 32;
  memcpy(ak.publicArea.unique.ecc.x.buffer, gx, 32);
  memcpy(ak.publicArea.unique.ecc.y.buffer, gy, 32);
  dj_signature_verify(data, size, &sig, &ak, &err);
  return 0;
}
