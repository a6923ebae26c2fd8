/* libFuzzer: the tpm2-tools PCR file (the CLI's interop format), and writing it back. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attest/pcrsfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  TPML_PCR_SELECTION sel;
  static struct dj_pcr_values vals, again;
  dj_err err = { 0 };
  if (dj_pcrs_file_read(data, size, &sel, &vals, &err) < 0)
    return 0;
  uint8_t *out = NULL;
  size_t len = 0;
  if (dj_pcrs_file_write(&sel, &vals, &out, &len, &err) == 0) {
    TPML_PCR_SELECTION sel2;
    if (dj_pcrs_file_read(out, len, &sel2, &again, &err) != 0 || again.count != vals.count)
      abort(); /* what we write we must read back */
    free(out);
  }
  return 0;
}
