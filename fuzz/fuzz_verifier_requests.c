/* Every other request body of the verifier's API, each parser on every input: enrolment,
 * activation, approval, revocation, inventory, challenge, key upload. */
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
  struct dj_venroll_req *e = malloc(sizeof *e);
  dj_venroll_req_parse(j, e, &err);
  free(e);
  struct dj_vactivate_req a;
  dj_vactivate_req_parse(j, &a, &err);
  struct dj_vapprove_req ap;
  dj_vapprove_req_parse(j, &ap, &err);
  const char *s;
  dj_vrevoke_req_parse(j, &s, &err);
  dj_vchallenge_req_parse(j, &s, &err);
  struct dj_vinventory *inv = NULL;
  size_t n;
  if (dj_vinventory_req_parse(j, &inv, &n, &err) == 0)
    free(inv);
  struct dj_vkey_req *k = malloc(sizeof *k);
  dj_vkey_req_parse(j, k, &err);
  free(k);
  json_decref(j);
  return 0;
}
