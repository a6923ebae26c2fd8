/* libFuzzer: TPMS_ATTEST from untrusted bytes (attest/tpmstruct.c), unmarshalled and marshalled back;
 * the quote checks behind a valid signature are fuzz_attest_quote.c's. */
#include <stddef.h>
#include <stdint.h>

#include "attest/tpmstruct.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  TPMS_ATTEST att;
  dj_err err = { 0 };
  if (dj_tpm_unmarshal_attest(data, size, &att, &err) == 0) {
    uint8_t buf[DJ_TPM_STRUCT_MAX];
    size_t len = 0;
    dj_tpm_marshal_attest(&att, buf, &len, &err);
  }
  return 0;
}
