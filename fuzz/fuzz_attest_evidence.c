/* libFuzzer: the evidence JSON codec (attest/evidence.c). */
#include <stddef.h>
#include <stdint.h>

#include "attest/evidence.h"
#include "common/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  json_t *j = NULL;
  dj_err err = { 0 };
  if (dj_json_load_buf((const char *) data, size, &j, &err) < 0)
    return 0;
  struct dj_evidence ev;
  if (dj_evidence_from_json(j, &ev, &err) == 0) {
    json_t *back = dj_evidence_to_json(&ev);
    json_decref(back);
    dj_evidence_free(&ev);
  }
  json_decref(j);
  return 0;
}
