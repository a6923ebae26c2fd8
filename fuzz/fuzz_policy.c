/* Operator and tenant policy documents: both strict parsers with their error lists, the
 * narrowing check, and one evaluation against whatever parsed. */
#include <stddef.h>
#include <stdint.h>

#include "common/json.h"
#include "policy/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  json_t *j = NULL;
  dj_err err = { 0 };
  if (dj_json_load_buf((const char *) data, size, &j, &err) < 0)
    return 0;
  struct dj_policy_errors errs = { 0 };
  struct dj_operator_policy op;
  struct dj_tenant_policy t;
  int op_ok = dj_operator_policy_parse(j, &op, &errs, &err) == 0;
  dj_policy_errors_clear(&errs);
  int t_ok = dj_tenant_policy_parse(j, &t, &errs, &err) == 0;
  dj_policy_errors_clear(&errs);
  if (op_ok && t_ok) {
    /* a document cannot be both kinds; keep the calls reachable anyway */
    dj_tenant_policy_within(&op, &t, &errs, &err);
    dj_policy_errors_clear(&errs);
  }
  if (t_ok) {
    struct dj_operator_policy empty = { 0 };
    const char *args[] = { "/bin/sh" };
    struct dj_pcr_claim pcr = { "sha256", 0, "00" };
    struct dj_policy_claims c = { .site = "FR-PAR-1", .jurisdiction = "FR", .hw_class = "std-1",
                                  .key_id = t.n_keys ? t.keys[0].key_id : "k", .args = args, .n_args = 1,
                                  .pcrs = &pcr, .n_pcrs = 1, .profile = "p",
                                  .manifest_digest = t.n_keys && t.keys[0].n_workloads ? t.keys[0].workloads[0].manifest
                                                                                       : NULL };
    json_t *d = NULL;
    if (dj_policy_evaluate(&empty, &t, &c, &d, &err) >= 0)
      json_decref(d);
    dj_tenant_policy_free(&t);
  }
  if (op_ok)
    dj_operator_policy_free(&op);
  json_decref(j);
  return 0;
}
