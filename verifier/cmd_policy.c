/* `donjon-verifier policy check FILE`: every error with its JSON path, or what a valid file allows. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/json.h"
#include "policy/policy.h"

/* declared here and in main.c: the verifier has no header of its own yet */
int dj_verifier_cmd_policy(int argc, char **argv);

#define POLICY_MAX_SIZE (1024 * 1024)

static void print_list(const char *label, char *const *v, size_t n)
{
  printf("  %s:", label);
  for (size_t i = 0; i < n; i++)
    printf("%s %s", i ? "," : "", v[i]);
  printf("\n");
}

static void summary_operator(const struct dj_operator_policy *p)
{
  printf("operator policy\n");
  printf("  EK roots: %zu\n", p->n_ek_roots);
  if (p->n_ek_intermediates)
    printf("  EK intermediates: %zu\n", p->n_ek_intermediates);
  for (size_t i = 0; i < p->n_vendors; i++) {
    const struct dj_tpm_vendor *v = &p->vendors[i];
    printf("  TPM manufacturer %s: firmware >= %" PRIu64, v->manufacturer, v->min_firmware);
    for (size_t k = 0; k < v->n_denied; k++)
      printf("%s%" PRIu64, k ? ", " : ", except ", v->denied_firmware[k]);
    printf("\n");
  }
  printf("  nodes must be in the inventory: %s\n", p->inventory_required ? "yes" : "no");
  printf("  TPM clock must be safe: %s\n", p->require_clock_safe ? "yes" : "no");
  print_list("jurisdictions", p->jurisdictions, p->n_jurisdictions);
  for (size_t i = 0; i < p->n_sites; i++)
    printf("  site %s in %s\n", p->sites[i].name, p->sites[i].jurisdiction);
  for (size_t i = 0; i < p->n_classes; i++) {
    /* the parser requires all of PCR 0-7 in every bank a class names: only the banks differ */
    const struct dj_hw_class *cls = &p->classes[i];
    printf("  hardware class %s: boot PCRs 0-7 in", cls->name);
    for (size_t k = 0; k < cls->n_boot; k++)
      if (k == 0 || strcmp(cls->boot[k].bank, cls->boot[k - 1].bank) != 0)
        printf("%s %s", k ? "," : "", cls->boot[k].bank);
    printf("\n");
  }
}

static void summary_tenant(const struct dj_tenant_policy *p)
{
  printf("tenant policy of %s\n", p->tenant);
  for (size_t i = 0; i < p->n_keys; i++) {
    const struct dj_key_rule *k = &p->keys[i];
    printf("key %s: released when all of\n", k->key_id);
    print_list("jurisdiction in", k->jurisdictions, k->n_jurisdictions);
    print_list("site matches", k->sites, k->n_sites);
    print_list("hardware class in", k->classes, k->n_classes);
    printf("  evidence at most %" PRIu64 " s old\n", k->max_evidence_age);
    for (size_t w = 0; w < k->n_workloads; w++) {
      const struct dj_workload_rule *r = &k->workloads[w];
      printf("  workload %s profile %s", r->manifest, r->profile);
      if (r->config_digest)
        printf(" config %s\n", r->config_digest);
      else
        printf(" with %zu allowed argument vector(s), %zu env pattern(s), %zu mount pattern(s)\n", r->n_args,
               r->n_env, r->n_mounts);
    }
  }
  printf("(and only where the operator policy allows too)\n");
}

static int policy_check(const char *file)
{
  json_t *doc _cleanup_json_ = NULL;
  dj_err err = { 0 };
  if (dj_json_load_file(file, POLICY_MAX_SIZE, &doc, &err) < 0) {
    fprintf(stderr, "donjon-verifier: %s: %s\n", file, err.msg);
    return 1;
  }
  int kind = dj_policy_kind(doc, &err);
  if (kind < 0) {
    fprintf(stderr, "donjon-verifier: %s: %s\n", file, err.msg);
    return 1;
  }
  struct dj_policy_errors errs = { 0 };
  int r;
  if (kind == DJ_POLICY_OPERATOR) {
    struct dj_operator_policy p;
    r = dj_operator_policy_parse(doc, &p, &errs, &err);
    if (r == 0) {
      summary_operator(&p);
      dj_operator_policy_free(&p);
    }
  } else {
    struct dj_tenant_policy p;
    r = dj_tenant_policy_parse(doc, &p, &errs, &err);
    if (r == 0) {
      summary_tenant(&p);
      dj_tenant_policy_free(&p);
    }
  }
  for (size_t i = 0; i < errs.n; i++)
    fprintf(stderr, "donjon-verifier: %s: %s\n", file, errs.msgs[i]);
  if (errs.dropped)
    fprintf(stderr, "donjon-verifier: %s: and %zu more errors\n", file, errs.dropped);
  dj_policy_errors_clear(&errs);
  return r == 0 ? 0 : 1;
}

int dj_verifier_cmd_policy(int argc, char **argv)
{
  if (argc == 3 && strcmp(argv[1], "check") == 0)
    return policy_check(argv[2]);
  fprintf(stderr, "usage: donjon-verifier policy check FILE\n");
  return 2;
}
