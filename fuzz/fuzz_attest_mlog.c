/* libFuzzer: the measurement log parser and its replay. */
#include <stddef.h>
#include <stdint.h>

#include "attest/mlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  struct dj_mlog m;
  dj_err err = { 0 };
  if (dj_mlog_parse((const char *) data, size, &m, &err) < 0)
    return 0;
  struct dj_pcr_value q = { .bank = TPM2_ALG_SHA256, .index = 23, .size = 32 };
  dj_mlog_check(&m, &q, &err);
  dj_mlog_free(&m);
  return 0;
}
