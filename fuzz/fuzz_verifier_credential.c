/* The enrolment challenge a node receives from the verifier: JSON, then the credential's two TPM
 * structures (dj_vcredential_parse, what `donjon node enroll` runs on the answer). */
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
  const char *id;
  TPM2B_ID_OBJECT blob;
  TPM2B_ENCRYPTED_SECRET seed;
  dj_vcredential_parse(j, &id, &blob, &seed, &err);
  json_decref(j);
  return 0;
}
