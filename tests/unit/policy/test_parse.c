/* Parsers: the demo documents parse; unknown properties, wrong types and bad values are refused
 * with their JSON paths, and every error of a document is reported, not only the first. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <string.h>

#include "common/json.h"
#include "policy/policy.h"

static const char *D64 = "1111111111111111111111111111111111111111111111111111111111111111";
static const char *D40 = "1111111111111111111111111111111111111111";

/* A bank giving PCR 0-7 each the digest hex. */
static json_t *full_bank(const char *hex)
{
  json_t *b = json_object();
  for (char k[2] = "0"; k[0] <= '7'; k[0]++)
    json_object_set_new(b, k, json_string(hex));
  return b;
}

static json_t *doc(const char *text)
{
  json_t *j = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_json_load_buf(text, strlen(text), &j, &err), 0, "%s", err.msg);
  return j;
}

static json_t *fixture(const char *name)
{
  json_t *j = NULL;
  dj_err err = { 0 };
  char path[512];
  snprintf(path, sizeof path, "%s/%s", POLICY_FIXTURES, name);
  cr_assert_eq(dj_json_load_file(path, 1 << 20, &j, &err), 0, "%s", err.msg);
  return j;
}

/* Parse j (operator or tenant by its kind) and expect exactly these errors, in order. */
static void expect_errors(json_t *j, const char *const *want)
{
  struct dj_policy_errors errs = { 0 };
  dj_err err = { 0 };
  int r;
  if (strcmp(json_string_value(json_object_get(j, "kind")), "operator") == 0) {
    struct dj_operator_policy p;
    r = dj_operator_policy_parse(j, &p, &errs, &err);
  } else {
    struct dj_tenant_policy p;
    r = dj_tenant_policy_parse(j, &p, &errs, &err);
  }
  cr_assert_eq(r, -1);
  size_t n = 0;
  while (want[n])
    n++;
  for (size_t i = 0; i < errs.n; i++)
    cr_log_info("error %zu: %s", i, errs.msgs[i]);
  cr_assert_eq(errs.n, n, "got %zu errors, want %zu", errs.n, n);
  for (size_t i = 0; i < n; i++)
    cr_assert_str_eq(errs.msgs[i], want[i]);
  cr_assert_str_eq(err.msg, want[0]);
  dj_policy_errors_clear(&errs);
  json_decref(j);
}

#define ERRORS(j, ...) expect_errors(j, (const char *const[]) { __VA_ARGS__, NULL })

Test(parse, demo_operator)
{
  json_t *j = fixture("demo-operator.json");
  struct dj_operator_policy p;
  dj_err err = { 0 };
  cr_assert_eq(dj_policy_kind(j, &err), DJ_POLICY_OPERATOR);
  cr_assert_eq(dj_operator_policy_parse(j, &p, NULL, &err), 0, "%s", err.msg);
  cr_assert_eq(p.n_ek_roots, 2);
  cr_assert_eq(p.n_vendors, 2);
  cr_assert_str_eq(p.vendors[0].manufacturer, "id:53544D20");
  cr_assert_eq(p.vendors[0].min_firmware, 65538);
  cr_assert_eq(p.vendors[1].n_denied, 1);
  cr_assert_eq(p.vendors[1].denied_firmware[0], 1074790408);
  cr_assert(p.inventory_required && p.require_clock_safe);
  cr_assert_eq(p.n_sites, 1);
  cr_assert_str_eq(p.sites[0].name, "FR-PAR-1");
  cr_assert_str_eq(p.sites[0].jurisdiction, "FR");
  cr_assert_eq(p.n_classes, 1);
  cr_assert_eq(p.classes[0].n_boot, 8);
  for (unsigned k = 0; k < 8; k++) {
    cr_assert_str_eq(p.classes[0].boot[k].bank, "sha256");
    cr_assert_eq(p.classes[0].boot[k].index, k);
  }
  cr_assert_eq(p.classes[0].boot[7].hex[0], '7');
  dj_operator_policy_free(&p);
  json_decref(j);
}

Test(parse, demo_tenant)
{
  json_t *j = fixture("demo-tenant.json");
  struct dj_tenant_policy p;
  dj_err err = { 0 };
  cr_assert_eq(dj_policy_kind(j, &err), DJ_POLICY_TENANT);
  cr_assert_eq(dj_tenant_policy_parse(j, &p, NULL, &err), 0, "%s", err.msg);
  cr_assert_str_eq(p.tenant, "acme");
  cr_assert_eq(p.n_keys, 1);
  cr_assert_eq(p.keys[0].max_evidence_age, 300);
  cr_assert_eq(p.keys[0].n_workloads, 2);
  cr_assert_eq(p.keys[0].workloads[0].n_args, 1);
  cr_assert_str_eq(p.keys[0].workloads[0].args[0][2], "/data");
  cr_assert_null(p.keys[0].workloads[0].args[0][3]);
  cr_assert_str_eq(p.keys[0].workloads[1].config_digest,
                   "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc");
  dj_tenant_policy_free(&p);
  json_decref(j);
}

Test(parse, kind)
{
  dj_err err = { 0 };
  json_t *j = doc("{\"hardware\": {}}");
  cr_assert_eq(dj_policy_kind(j, &err), -1);
  cr_assert_str_eq(err.msg, "kind: missing");
  json_decref(j);
  j = doc("{\"kind\": \"admin\"}");
  cr_assert_eq(dj_policy_kind(j, &err), -1);
  cr_assert_str_eq(err.msg, "kind: \"admin\" is neither \"operator\" nor \"tenant\"");
  struct dj_operator_policy op;
  cr_assert_eq(dj_operator_policy_parse(j, &op, NULL, &err), -1);
  cr_assert_str_eq(err.msg, "kind: \"admin\" is neither \"operator\" nor \"tenant\"");
  json_decref(j);
  j = doc("{\"kind\": \"tenant\"}");
  cr_assert_eq(dj_operator_policy_parse(j, &op, NULL, &err), -1);
  cr_assert_str_eq(err.msg, "kind: expected \"operator\", got \"tenant\"");
  json_decref(j);
  j = doc("{\"kind\": \"operator\"}");
  struct dj_tenant_policy t;
  cr_assert_eq(dj_tenant_policy_parse(j, &t, NULL, &err), -1);
  cr_assert_str_eq(err.msg, "kind: expected \"tenant\", got \"operator\"");
  json_decref(j);
}

Test(parse, operator_empty_names_every_missing_member)
{
  ERRORS(doc("{\"kind\": \"operator\"}"), "hardware: missing", "jurisdictions: missing", "sites: missing",
         "hardware_classes: missing");
}

Test(parse, operator_unknown_properties_refused)
{
  json_t *j = fixture("demo-operator.json");
  json_object_set_new(j, "jurisdiction", json_string("DE"));
  json_object_set_new(json_object_get(j, "hardware"), "inventory_requried", json_false());
  json_object_set_new(json_object_get(json_object_get(j, "hardware"), "manufacturers"), "id:49465800",
                      json_pack("{s:i}", "max_firmware", 3));
  json_object_set_new(json_object_get(json_object_get(j, "hardware_classes"), "std-1"), "bot", json_object());
  ERRORS(j, "jurisdiction: unknown property", "hardware.inventory_requried: unknown property",
         "hardware.manufacturers.id:49465800.max_firmware: unknown property",
         "hardware_classes.std-1.bot: unknown property");
}

Test(parse, operator_hardware_values)
{
  json_t *j = fixture("demo-operator.json");
  json_t *hw = json_object_get(j, "hardware");
  json_object_set_new(hw, "ek_roots", json_array());
  json_object_set_new(hw, "require_clock_safe", json_string("yes"));
  json_object_set_new(json_object_get(hw, "manufacturers"), "id:53544D20",
                      json_pack("{s:i, s:[s]}", "min_firmware", -1, "denied_firmware", "1"));
  ERRORS(j, "hardware.ek_roots: must not be empty",
         "hardware.manufacturers.id:53544D20.min_firmware: -1 is out of range [0, 9223372036854775807]",
         "hardware.manufacturers.id:53544D20.denied_firmware[0]: expected a non-negative integer, got string",
         "hardware.require_clock_safe: expected a boolean, got string");
  /* the empty id is what a TPM without an EK certificate would match */
  j = fixture("demo-operator.json");
  json_object_set_new(json_object_get(json_object_get(j, "hardware"), "manufacturers"), "", json_object());
  ERRORS(j, "hardware.manufacturers.: a manufacturer id must not be empty");
}

/* A self-signed P-256 certificate in PEM, made here (no fixture from elsewhere). */
static char *make_root_pem(void)
{
  EVP_PKEY *key = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  cr_assert(key && x);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *) "root", -1, -1, 0);
  X509_set_issuer_name(x, X509_get_subject_name(x));
  X509_set_pubkey(x, key);
  cr_assert(X509_sign(x, key, EVP_sha256()) > 0);
  BIO *bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, x);
  char *data;
  long n = BIO_get_mem_data(bio, &data);
  char *pem = strndup(data, (size_t) n);
  BIO_free(bio);
  X509_free(x);
  EVP_PKEY_free(key);
  return pem;
}

Test(parse, operator_ek_roots)
{
  char *pem = make_root_pem();
  json_t *j = fixture("demo-operator.json");
  json_object_set_new(json_object_get(j, "hardware"), "ek_roots",
                      json_pack("[s, s, s, s]", "/etc/donjon/root.pem", pem, "-----BEGIN CERTIFICATE-----\nMIIB\n",
                                "roots/stm.pem"));
  free(pem);
  ERRORS(j, "hardware.ek_roots[2]: inline PEM is not a certificate",
         "hardware.ek_roots[3]: expected an absolute path or an inline PEM certificate");
}

Test(parse, operator_ek_intermediates)
{
  char *pem = make_root_pem();
  json_t *j = fixture("demo-operator.json");
  json_object_set_new(json_object_get(j, "hardware"), "ek_intermediates", json_pack("[s, s]", "/etc/i.pem", pem));
  struct dj_operator_policy p;
  dj_err err = { 0 };
  cr_assert_eq(dj_operator_policy_parse(j, &p, NULL, &err), 0, "%s", err.msg);
  cr_assert_eq(p.n_ek_intermediates, 2);
  cr_assert_str_eq(p.ek_intermediates[0], "/etc/i.pem");
  dj_operator_policy_free(&p);
  json_object_set_new(json_object_get(j, "hardware"), "ek_intermediates", json_pack("[s, i]", "i.pem", 3));
  free(pem);
  ERRORS(j, "hardware.ek_intermediates[1]: expected a string, got integer");
  j = fixture("demo-operator.json");
  json_object_set_new(json_object_get(j, "hardware"), "ek_intermediates", json_pack("[s]", "i.pem"));
  ERRORS(j, "hardware.ek_intermediates[0]: expected an absolute path or an inline PEM certificate");
}

Test(parse, operator_ek_roots_inline)
{
  char *pem = make_root_pem();
  json_t *j = fixture("demo-operator.json");
  json_object_set_new(json_object_get(j, "hardware"), "ek_roots", json_pack("[s]", pem));
  struct dj_operator_policy p;
  dj_err err = { 0 };
  cr_assert_eq(dj_operator_policy_parse(j, &p, NULL, &err), 0, "%s", err.msg);
  cr_assert_str_eq(p.ek_roots[0], pem);
  dj_operator_policy_free(&p);
  json_decref(j);
  free(pem);
}

Test(parse, operator_safe_defaults)
{
  json_t *j = fixture("demo-operator.json");
  json_object_del(json_object_get(j, "hardware"), "inventory_required");
  json_object_del(json_object_get(j, "hardware"), "require_clock_safe");
  struct dj_operator_policy p;
  dj_err err = { 0 };
  cr_assert_eq(dj_operator_policy_parse(j, &p, NULL, &err), 0, "%s", err.msg);
  cr_assert(p.inventory_required);
  cr_assert(p.require_clock_safe);
  dj_operator_policy_free(&p);
  json_decref(j);
}

Test(parse, operator_sites_and_classes)
{
  json_t *j = fixture("demo-operator.json");
  json_object_set_new(json_object_get(j, "sites"), "DE-FRA-1", json_string("DE"));
  json_object_set_new(json_object_get(j, "sites"), "X", json_integer(1));
  json_t *boot = json_pack("{s:{s:s, s:s, s:s}, s:{s:s}, s:{s:s}}", "sha256", "8", D64, "1", "12", "2",
                           "ABCDEF0123ABCDEF0123ABCDEF0123ABCDEF0123ABCDEF0123ABCDEF0123ABCD", "md5", "0", D64,
                           "sha1", "0", D64);
  json_object_set_new(json_object_get(json_object_get(j, "hardware_classes"), "std-1"), "boot", boot);
  /* a PCR with a bad digest is reported as that, not also as missing */
  ERRORS(j, "sites.DE-FRA-1: jurisdiction \"DE\" is not in jurisdictions",
         "sites.X: expected a jurisdiction string, got integer",
         "hardware_classes.std-1.boot.sha256.8: PCR index must be 0-7",
         "hardware_classes.std-1.boot.sha256.1: expected 64 lower-case hex digits",
         "hardware_classes.std-1.boot.sha256.2: expected 64 lower-case hex digits",
         "hardware_classes.std-1.boot.sha256: PCR 0, 3, 4, 5, 6, 7 missing (the boot reference values are PCR 0-7)",
         "hardware_classes.std-1.boot.md5: unknown bank (sha1, sha256, sha384 or sha512)",
         "hardware_classes.std-1.boot.sha1.0: expected 40 lower-case hex digits",
         "hardware_classes.std-1.boot.sha1: PCR 1, 2, 3, 4, 5, 6, 7 missing (the boot reference values are PCR 0-7)");
}

/* DESIGN.md §5 check 10: the node's PCR 0-7 must match, so each bank a class names gives all eight. */
Test(parse, operator_class_missing_boot_pcrs)
{
  json_t *j = fixture("demo-operator.json");
  json_t *classes = json_object_get(j, "hardware_classes");
  json_t *sha256 = json_object_get(json_object_get(json_object_get(classes, "std-1"), "boot"), "sha256");
  for (const char *k = "123456"; *k; k++)
    json_object_del(sha256, (char[]) { *k, '\0' });
  /* a second bank must be complete too, even when the first is */
  json_t *boot = json_pack("{s:o, s:o}", "sha256", full_bank(D64), "sha1", full_bank(D40));
  json_object_del(json_object_get(boot, "sha1"), "3");
  json_object_set_new(classes, "gpu-1", json_pack("{s:o}", "boot", boot));
  ERRORS(j, "hardware_classes.std-1.boot.sha256: PCR 1, 2, 3, 4, 5, 6 missing (the boot reference values are PCR 0-7)",
         "hardware_classes.gpu-1.boot.sha1: PCR 3 missing (the boot reference values are PCR 0-7)");
  /* complete, with a second bank: parsed, each bank's eight */
  j = fixture("demo-operator.json");
  json_object_set_new(json_object_get(json_object_get(json_object_get(j, "hardware_classes"), "std-1"), "boot"),
                      "sha1", full_bank(D40));
  struct dj_operator_policy p;
  dj_err err = { 0 };
  cr_assert_eq(dj_operator_policy_parse(j, &p, NULL, &err), 0, "%s", err.msg);
  cr_assert_eq(p.classes[0].n_boot, 16);
  dj_operator_policy_free(&p);
  json_decref(j);
}

Test(parse, operator_class_without_reference_values)
{
  json_t *j = fixture("demo-operator.json");
  json_object_set_new(json_object_get(j, "hardware_classes"), "empty", json_pack("{s:{}}", "boot"));
  json_object_set_new(json_object_get(j, "hardware_classes"), "none", json_object());
  json_object_set_new(json_object_get(j, "hardware_classes"), "nobank", json_pack("{s:{s:{}}}", "boot", "sha256"));
  json_object_set_new(json_object_get(j, "hardware_classes"), "flat", json_pack("{s:{s:s}}", "boot", "sha256", D64));
  ERRORS(j, "hardware_classes.empty.boot: must name at least one bank", "hardware_classes.none.boot: missing",
         "hardware_classes.nobank.boot.sha256: PCR 0, 1, 2, 3, 4, 5, 6, 7 missing (the boot reference values are "
         "PCR 0-7)",
         "hardware_classes.flat.boot.sha256: expected an object of PCR index to digest, got string");
}

Test(parse, tenant_empty_names_every_missing_member)
{
  ERRORS(doc("{\"kind\": \"tenant\", \"keys\": {}}"), "tenant: missing", "keys: must not be empty");
}

Test(parse, tenant_unknown_properties_refused)
{
  json_t *j = fixture("demo-tenant.json");
  json_t *k = json_object_get(json_object_get(j, "keys"), "acme-db");
  json_object_set_new(j, "owner", json_string("x"));
  json_object_set_new(k, "max_age", json_integer(5));
  json_t *w = json_array_get(json_object_get(k, "workloads"), 0);
  json_object_set_new(w, "image", json_string("x"));
  json_object_set_new(json_object_get(w, "config"), "cwd", json_string("/"));
  ERRORS(j, "owner: unknown property", "keys.acme-db.max_age: unknown property",
         "keys.acme-db.workloads[0].image: unknown property", "keys.acme-db.workloads[0].config.cwd: unknown property");
}

Test(parse, tenant_key_values)
{
  json_t *j = doc("{\"kind\": \"tenant\", \"tenant\": \"\", \"keys\": {\"k\": {\"jurisdictions\": \"FR\", "
                  "\"sites\": [], \"hardware_classes\": [\"std-1\", 3, \"\"], \"max_evidence_age\": 0, "
                  "\"workloads\": []}, \"m\": 5}}");
  ERRORS(j, "tenant: must not be empty", "keys.k.jurisdictions: expected an array, got string",
         "keys.k.sites: must not be empty", "keys.k.hardware_classes[1]: expected a string, got integer",
         "keys.k.hardware_classes[2]: must be a non-empty string without NUL",
         "keys.k.max_evidence_age: must be at least 1", "keys.k.workloads: expected a non-empty array",
         "keys.m: expected an object, got integer");
}

Test(parse, tenant_missing_age_and_workloads)
{
  json_t *j = doc("{\"kind\": \"tenant\", \"tenant\": \"t\", \"keys\": {\"k\": {\"jurisdictions\": [\"FR\"], "
                  "\"sites\": [\"*\"], \"hardware_classes\": [\"c\"], \"max_evidence_age\": 86401}}}");
  ERRORS(j, "keys.k.max_evidence_age: 86401 is out of range [0, 86400]", "keys.k.workloads: missing");
}

Test(parse, tenant_workload_values)
{
  json_t *j = fixture("demo-tenant.json");
  json_t *ws = json_object_get(json_object_get(json_object_get(j, "keys"), "acme-db"), "workloads");
  json_array_append_new(ws, json_pack("{s:s, s:s, s:{s:s, s:[]}}", "manifest",
                                      "sha256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                      "profile", "p", "config", "digest", "sha256:00", "args"));
  json_array_append_new(ws, json_pack("{s:s, s:{s:s}}", "manifest", "md5:00", "config", "digest", "sha256:00"));
  json_array_append_new(ws, json_pack("{s:s, s:s, s:{s:[[]], s:[i]}}", "manifest",
                                      "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                      "profile", "p", "config", "args", "env", 1));
  json_array_append_new(ws, json_pack("{s:s, s:s}", "manifest",
                                      "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                      "profile", "p"));
  ERRORS(j, "keys.acme-db.workloads[2].manifest: expected sha256:<64 lower-case hex digits>",
         "keys.acme-db.workloads[2].config: either digest or args/env/mounts rules, not both",
         "keys.acme-db.workloads[3].manifest: expected sha256:<64 lower-case hex digits>",
         "keys.acme-db.workloads[3].profile: missing",
         "keys.acme-db.workloads[3].config.digest: expected sha256:<64 lower-case hex digits>",
         "keys.acme-db.workloads[4].config.args[0]: must not be empty",
         "keys.acme-db.workloads[4].config.env[0]: expected a string, got integer",
         "keys.acme-db.workloads[4].config.mounts: missing",
         "keys.acme-db.workloads[5].config: missing");
}

Test(parse, every_error_bounded)
{
  json_t *j = doc("{\"kind\": \"tenant\", \"tenant\": \"t\"}");
  for (int i = 0; i < DJ_POLICY_MAX_ERRORS + 10; i++) {
    char key[16];
    snprintf(key, sizeof key, "x%d", i);
    json_object_set_new(j, key, json_null());
  }
  struct dj_policy_errors errs = { 0 };
  dj_err err = { 0 };
  struct dj_tenant_policy t;
  cr_assert_eq(dj_tenant_policy_parse(j, &t, &errs, &err), -1);
  cr_assert_eq(errs.n, DJ_POLICY_MAX_ERRORS);
  cr_assert_eq(errs.dropped, 11); /* the 10 beyond, and keys: missing */
  dj_policy_errors_clear(&errs);
  json_decref(j);
}
