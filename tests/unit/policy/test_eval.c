/* Evaluation: the demo policies allow the demo claims; each rule, broken alone, denies with its
 * own reason named; a tenant cannot widen what the operator allows. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/json.h"
#include "policy/policy.h"

static json_t *load(const char *name)
{
  json_t *j = NULL;
  dj_err err = { 0 };
  char path[512];
  snprintf(path, sizeof path, "%s/%s", POLICY_FIXTURES, name);
  cr_assert_eq(dj_json_load_file(path, 1 << 20, &j, &err), 0, "%s", err.msg);
  return j;
}

static json_t *op_doc, *tenant_doc;
static struct dj_operator_policy op;
static struct dj_tenant_policy tenant;

static const char *M_A = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char *M_B = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
static const char *CFG_C = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
/* the demo's sha256 reference values: PCR k is the digit k 64 times */
static char pcr_hex[8][65];
static struct dj_pcr_claim pcrs[8];
static const char *args[] = { "/usr/bin/postgres", "-D", "/data" };
static const char *env[] = { "PATH=/usr/bin:/bin", "PGPORT=5432" };
static const char *mounts[] = { "/data", "/tmp" };
static struct dj_policy_claims c;

static void parse_both(void)
{
  dj_err err = { 0 };
  cr_assert_eq(dj_operator_policy_parse(op_doc, &op, NULL, &err), 0, "%s", err.msg);
  cr_assert_eq(dj_tenant_policy_parse(tenant_doc, &tenant, NULL, &err), 0, "%s", err.msg);
}

static void setup(void)
{
  op_doc = load("demo-operator.json");
  tenant_doc = load("demo-tenant.json");
  parse_both();
  for (unsigned k = 0; k < 8; k++) {
    memset(pcr_hex[k], '0' + (int) k, 64);
    pcr_hex[k][64] = '\0';
    pcrs[k] = (struct dj_pcr_claim) { "sha256", k, pcr_hex[k] };
  }
  c = (struct dj_policy_claims) {
    .site = "FR-PAR-1", .jurisdiction = "FR", .hw_class = "std-1",
    .tpm_manufacturer = "id:53544D20", .firmware_version = 65538,
    .clock_safe = true, .in_inventory = true, .pcrs = pcrs, .n_pcrs = 8,
    .manifest_digest = M_A, .profile = "confidential",
    .args = args, .n_args = 3, .env = env, .n_env = 2, .mounts = mounts, .n_mounts = 2,
    .evidence_age = 10, .key_id = "acme-db",
  };
}

static void teardown(void)
{
  dj_operator_policy_free(&op);
  dj_tenant_policy_free(&tenant);
  json_decref(op_doc);
  json_decref(tenant_doc);
}

/* Re-parse after a test changed the documents. */
static void reparse(void)
{
  dj_operator_policy_free(&op);
  dj_tenant_policy_free(&tenant);
  parse_both();
}

static json_t *reason_of(json_t *d, const char *rule)
{
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(d, "reasons"), i, r)
    if (strcmp(json_string_value(json_object_get(r, "rule")), rule) == 0)
      return r;
  return NULL;
}

/* Evaluate; expect deny with exactly the named rules failed (NULL-terminated), and detail. */
static void expect(int want, const char *const *failed, const char *rule, const char *detail)
{
  json_t *d = NULL;
  dj_err err = { 0 };
  int r = dj_policy_evaluate(&op, &tenant, &c, &d, &err);
  char *s = json_dumps(d, JSON_INDENT(1));
  cr_assert_eq(r, want, "%s", s);
  cr_assert_str_eq(json_string_value(json_object_get(d, "decision")), want ? "allow" : "deny");
  size_t i;
  json_t *reason;
  size_t n_failed = 0;
  json_array_foreach(json_object_get(d, "reasons"), i, reason) {
    const char *name = json_string_value(json_object_get(reason, "rule"));
    bool is_failed = strcmp(json_string_value(json_object_get(reason, "result")), "failed") == 0;
    bool expected = false;
    for (size_t k = 0; failed && failed[k]; k++)
      expected |= strcmp(failed[k], name) == 0;
    cr_assert_eq(is_failed, expected, "rule %s: %s", name, s);
    n_failed += is_failed;
  }
  /* Every rule named as failed must be among the reasons, not merely absent. */
  size_t n_want = 0;
  while (failed && failed[n_want])
    n_want++;
  cr_assert_eq(n_failed, n_want, "%zu rules failed, %zu expected: %s", n_failed, n_want, s);
  if (rule) {
    json_t *x = reason_of(d, rule);
    cr_assert_not_null(x, "%s", s);
    cr_assert_str_eq(json_string_value(json_object_get(x, "detail")), detail);
  }
  free(s);
  json_decref(d);
}

#define DENY(rule, detail, ...) expect(0, (const char *const[]) { __VA_ARGS__, NULL }, rule, detail)

TestSuite(eval, .init = setup, .fini = teardown);

Test(eval, demo_claims_allowed_with_every_rule_met)
{
  expect(1, NULL, "tenant.workload", "workload matches workloads[0]");
  json_t *d = NULL;
  dj_err err = { 0 };
  dj_policy_evaluate(&op, &tenant, &c, &d, &err);
  const char *rules[] = { "operator.tpm_manufacturer", "operator.tpm_firmware", "operator.inventory",
                          "operator.clock_safe", "operator.site", "operator.jurisdiction",
                          "operator.hardware_class", "operator.boot", "tenant.key", "tenant.jurisdiction",
                          "tenant.site", "tenant.hardware_class", "tenant.workload", "tenant.evidence_age" };
  cr_assert_eq(json_array_size(json_object_get(d, "reasons")), sizeof rules / sizeof rules[0]);
  for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++)
    cr_assert_not_null(reason_of(d, rules[i]), "%s", rules[i]);
  cr_assert_str_eq(json_string_value(json_object_get(d, "tenant")), "acme");
  cr_assert_str_eq(json_string_value(json_object_get(d, "key")), "acme-db");
  json_decref(d);
}

Test(eval, manufacturer_not_allowed)
{
  c.tpm_manufacturer = "id:FFFFFFFF";
  DENY("operator.tpm_manufacturer", "TPM manufacturer id:FFFFFFFF is not allowed", "operator.tpm_manufacturer",
       "operator.tpm_firmware");
}

/* A TPM without an EK certificate (enrolled through the inventory) has no manufacturer: no key. */
Test(eval, tpm_without_ek_certificate_has_no_manufacturer)
{
  c.tpm_manufacturer = "";
  DENY("operator.tpm_manufacturer", "TPM manufacturer unknown (no EK certificate names it)",
       "operator.tpm_manufacturer", "operator.tpm_firmware");
}

Test(eval, firmware_below_minimum)
{
  c.firmware_version = 65537;
  DENY("operator.tpm_firmware", "firmware 65537 is below the minimum 65538", "operator.tpm_firmware");
}

Test(eval, firmware_denied)
{
  c.tpm_manufacturer = "id:49465800";
  c.firmware_version = 1074790408;
  DENY("operator.tpm_firmware", "firmware 1074790408 is denied", "operator.tpm_firmware");
  c.firmware_version = 1074790409;
  expect(1, NULL, "operator.tpm_firmware", "firmware 1074790409 is allowed");
}

Test(eval, not_in_inventory)
{
  c.in_inventory = false;
  DENY("operator.inventory", "node is not in the inventory", "operator.inventory");
  json_object_set_new(json_object_get(op_doc, "hardware"), "inventory_required", json_false());
  reparse();
  expect(1, NULL, "operator.inventory", "inventory not required");
}

Test(eval, clock_not_safe)
{
  c.clock_safe = false;
  DENY("operator.clock_safe", "TPM clock is not safe", "operator.clock_safe");
  json_object_set_new(json_object_get(op_doc, "hardware"), "require_clock_safe", json_false());
  reparse();
  expect(1, NULL, "operator.clock_safe", "safe clock not required");
}

Test(eval, unknown_site)
{
  c.site = "FR-PAR-2";
  DENY("operator.site", "site FR-PAR-2 is not an operator site", "operator.site");
}

Test(eval, site_in_another_jurisdiction)
{
  c.jurisdiction = "DE";
  DENY("operator.site", "site FR-PAR-1 is in jurisdiction FR, not DE", "operator.site", "operator.jurisdiction",
       "tenant.jurisdiction");
}

Test(eval, missing_claims_deny)
{
  c.site = NULL;
  c.jurisdiction = NULL;
  c.hw_class = NULL;
  c.tpm_manufacturer = NULL;
  c.manifest_digest = NULL;
  c.key_id = NULL;
  DENY("tenant.key", "key (none) has no rule of tenant acme", "operator.tpm_manufacturer", "operator.tpm_firmware",
       "operator.site", "operator.jurisdiction", "operator.hardware_class", "operator.boot", "tenant.key",
       "tenant.jurisdiction", "tenant.site", "tenant.hardware_class", "tenant.workload", "tenant.evidence_age");
}

Test(eval, unknown_hardware_class)
{
  c.hw_class = "gpu-9";
  DENY("operator.hardware_class", "hardware class gpu-9 is not known", "operator.hardware_class", "operator.boot",
       "tenant.hardware_class");
}

Test(eval, boot_pcr_differs)
{
  pcrs[7].hex = pcr_hex[0];
  DENY("operator.boot", "PCR sha256:7 differs from the reference value", "operator.boot");
}

/* A second bank: its eight reference values in lower case, claimed in upper case, match. */
Test(eval, boot_pcr_upper_case_hex_matches)
{
  json_t *sha1 = json_object();
  char ref[8][41], claim[8][41];
  struct dj_pcr_claim both[16];
  for (unsigned k = 0; k < 8; k++) {
    snprintf(ref[k], sizeof ref[k], "abcdef0123abcdef0123abcdef0123abcdef012%u", k);
    snprintf(claim[k], sizeof claim[k], "ABCDEF0123ABCDEF0123ABCDEF0123ABCDEF012%u", k);
    json_object_set_new(sha1, (char[]) { (char) ('0' + k), '\0' }, json_string(ref[k]));
    both[k] = pcrs[k];
    both[8 + k] = (struct dj_pcr_claim) { "sha1", k, claim[k] };
  }
  json_object_set_new(json_object_get(json_object_get(json_object_get(op_doc, "hardware_classes"), "std-1"), "boot"),
                      "sha1", sha1);
  reparse();
  c.pcrs = both;
  c.n_pcrs = 16;
  expect(1, NULL, "operator.boot", "16 boot PCR values match hardware class std-1");
  /* the second bank is checked too: one of its PCRs differing denies */
  both[8 + 3].hex = claim[4];
  DENY("operator.boot", "PCR sha1:3 differs from the reference value", "operator.boot");
}

Test(eval, boot_pcr_missing_or_other_bank)
{
  c.n_pcrs = 7;
  DENY("operator.boot", "PCR sha256:7 was not supplied", "operator.boot");
  c.n_pcrs = 8;
  pcrs[7].bank = "sha1";
  DENY("operator.boot", "PCR sha256:7 was not supplied", "operator.boot");
}

Test(eval, unknown_key)
{
  c.key_id = "acme-other";
  /* the other tenant rules are still reported, failed, since there is no rule to meet */
  DENY("tenant.workload", "no rule of tenant acme for key acme-other", "tenant.key", "tenant.jurisdiction",
       "tenant.site", "tenant.hardware_class", "tenant.workload", "tenant.evidence_age");
}

/* An operator with a second jurisdiction, site and class, for the tenant's narrowing. */
static void widen_operator(void)
{
  json_array_append_new(json_object_get(op_doc, "jurisdictions"), json_string("DE"));
  json_object_set_new(json_object_get(op_doc, "sites"), "DE-FRA-1", json_string("DE"));
  json_object_set_new(json_object_get(op_doc, "sites"), "FR-LYO-1", json_string("FR"));
  json_object_set(json_object_get(op_doc, "hardware_classes"), "gpu-1",
                  json_object_get(json_object_get(op_doc, "hardware_classes"), "std-1"));
  reparse();
}

Test(eval, tenant_jurisdiction_narrower_than_operator)
{
  widen_operator();
  c.site = "DE-FRA-1";
  c.jurisdiction = "DE";
  DENY("tenant.jurisdiction", "jurisdiction DE is not allowed", "tenant.jurisdiction", "tenant.site");
}

Test(eval, tenant_site_pattern)
{
  widen_operator();
  c.site = "FR-LYO-1";
  DENY("tenant.site", "site FR-LYO-1 matches no site pattern", "tenant.site");
}

Test(eval, tenant_hardware_class)
{
  widen_operator();
  c.hw_class = "gpu-1";
  DENY("tenant.hardware_class", "hardware class gpu-1 is not allowed", "tenant.hardware_class");
}

Test(eval, tenant_cannot_widen_operator)
{
  /* the tenant allows DE, a site pattern and a class the operator does not have: still denied */
  json_t *k = json_object_get(json_object_get(tenant_doc, "keys"), "acme-db");
  json_array_append_new(json_object_get(k, "jurisdictions"), json_string("DE"));
  json_array_append_new(json_object_get(k, "sites"), json_string("DE-*"));
  json_array_append_new(json_object_get(k, "hardware_classes"), json_string("gpu-1"));
  reparse();
  c.site = "DE-FRA-1";
  c.jurisdiction = "DE";
  DENY("operator.site", "site DE-FRA-1 is not an operator site", "operator.site", "operator.jurisdiction");
  c.site = "FR-PAR-1";
  c.jurisdiction = "FR";
  c.hw_class = "gpu-1";
  DENY("operator.hardware_class", "hardware class gpu-1 is not known", "operator.hardware_class", "operator.boot");

  struct dj_policy_errors errs = { 0 };
  dj_err err = { 0 };
  cr_assert_eq(dj_tenant_policy_within(&op, &tenant, &errs, &err), -1);
  cr_assert_eq(errs.n, 3);
  cr_assert_str_eq(errs.msgs[0], "keys.acme-db.jurisdictions[1]: \"DE\" is not an operator jurisdiction");
  cr_assert_str_eq(errs.msgs[1], "keys.acme-db.sites[1]: \"DE-*\" matches no operator site");
  cr_assert_str_eq(errs.msgs[2], "keys.acme-db.hardware_classes[1]: \"gpu-1\" is not an operator hardware class");
  cr_assert_str_eq(err.msg, errs.msgs[0]);
  dj_policy_errors_clear(&errs);
}

Test(eval, tenant_within_operator)
{
  dj_err err = { 0 };
  cr_assert_eq(dj_tenant_policy_within(&op, &tenant, NULL, &err), 0, "%s", err.msg);
}

Test(eval, workload_other_image)
{
  c.manifest_digest = "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";
  DENY("tenant.workload",
       "workload sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd: other image manifest",
       "tenant.workload");
}

Test(eval, workload_other_profile)
{
  c.profile = "default";
  DENY("tenant.workload",
       "workload sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: other profile",
       "tenant.workload");
}

Test(eval, workload_other_args)
{
  const char *other[] = { "/usr/bin/postgres", "-D", "/tmp" };
  c.args = other;
  DENY("tenant.workload",
       "workload sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: arguments not allowed",
       "tenant.workload");
  c.args = args;
  c.n_args = 2;
  DENY("tenant.workload",
       "workload sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: arguments not allowed",
       "tenant.workload");
}

Test(eval, workload_env_not_allowed)
{
  const char *other[] = { "PATH=/bin", "LD_PRELOAD=/tmp/x.so" };
  c.env = other;
  DENY("tenant.workload",
       "workload sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: environment entry LD_PRELOAD "
       "not allowed",
       "tenant.workload");
  const char *port[] = { "PGPORT=5433" };
  c.env = port;
  c.n_env = 1;
  DENY("tenant.workload",
       "workload sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: environment entry PGPORT "
       "not allowed",
       "tenant.workload");
}

Test(eval, workload_mount_not_allowed)
{
  const char *other[] = { "/data", "/host" };
  c.mounts = other;
  DENY("tenant.workload",
       "workload sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: mount /host not allowed",
       "tenant.workload");
}

Test(eval, workload_by_config_digest)
{
  c.manifest_digest = M_B;
  c.config_digest = CFG_C;
  expect(1, NULL, "tenant.workload", "workload matches workloads[1]");
  c.config_digest = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
  DENY("tenant.workload",
       "workload sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb: other config digest",
       "tenant.workload");
  c.config_digest = NULL;
  DENY("tenant.workload",
       "workload sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb: other config digest",
       "tenant.workload");
}

Test(eval, evidence_too_old)
{
  c.evidence_age = 300;
  expect(1, NULL, "tenant.evidence_age", "evidence is 300 s old, at most 300 s allowed");
  c.evidence_age = 301;
  DENY("tenant.evidence_age", "evidence is 301 s old, at most 300 s allowed", "tenant.evidence_age");
}
