/* The verifier's /v1/attest body: JSON, then the strict request parser (evidence, ephemeral JWK,
 * workload and its digest, keys, image manifest, layers). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "common/json.h"
#include "verifier/requests.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  setenv("TSS2_LOG", "all+NONE", 0);
  json_t *j = NULL;
  dj_err err = { 0 };
  if (dj_json_load_buf((const char *) data, size, &j, &err) < 0)
    return 0;
  struct dj_vattest_req *r = malloc(sizeof *r);
  if (dj_vattest_req_parse(j, r, &err) == 0)
    dj_vattest_req_free(r);
  free(r);
  json_decref(j);
  return 0;
}
