/* Enrolment and approval on a real verifier with swtpm nodes: each activation refusal, placement
 * and status refusals, the inventory (its placement checked, a pending node approved by it, a TPM
 * without an EK certificate), re-enrolment of a revoked EK, an AK rotation and a placement by the
 * operator's commands, the operator policy set by command, the decisions metric (enrolment,
 * activation and attestation), and a node's cap on unused nonces. */
#include <criterion/criterion.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>
#include <unistd.h>

#include "attest/tpm.h"
#include "attest/tpmstruct.h"
#include "common/json.h"
#include "common/util.h"
#include "images/b64.h"
#include "verifier/requests.h"
#include "vharness.h"

static struct vh v;
static struct vnode a, b; /* a: EK certificate from its own CA; b: its EK certificate removed */

static void setup(void)
{
  vh_create(&v, "\"enroll_lifetime_ms\": 3000, \"limits\": {\"max_outstanding_nonces\": 2},");
  vh_start(&v);
  vnode_create(&a, DJ_AK_RSA2048);
  vnode_create(&b, DJ_AK_ECC_P256);
}

static void teardown(void)
{
  vh_destroy(&v);
  vnode_destroy(&a);
  vnode_destroy(&b);
}

TestSuite(nodes, .init = setup, .fini = teardown, .timeout = 300);

static const char *code_of(json_t *resp)
{
  const char *c = json_string_value(json_object_get(json_object_get(resp, "error"), "code"));
  return c ? c : "";
}

static char *b64_public(const TPM2B_PUBLIC *p)
{
  uint8_t buf[DJ_TPM_STRUCT_MAX];
  size_t n = 0;
  dj_err err = { 0 };
  cr_assert_eq(dj_tpm_marshal_public(p, buf, &n, &err), 0, "%s", err.msg);
  return dj_b64url_encode(buf, n);
}

/* POST /v1/nodes for n as the client library would; returns the status, *resp the answer. */
static long enrol(struct vnode *n, json_t **resp)
{
  dj_err err = { 0 };
  struct dj_ak_blobs ak;
  bool created;
  cr_assert_eq(dj_node_ak_ensure(&n->node, &ak, &created, &err), 0, "%s", err.msg);
  struct dj_tpm tpm;
  cr_assert_eq(dj_tpm_open(n->node.tcti, &tpm, &err), 0, "%s", err.msg);
  ESYS_TR h = ESYS_TR_NONE;
  TPM2B_PUBLIC ek;
  cr_assert_eq(dj_tpm_ek_create(&tpm, n->node.ek_kind, &h, &ek, &err), 0, "%s", err.msg);
  dj_tpm_flush(&tpm, &h);
  uint8_t cert[4096];
  size_t cert_len = 0;
  if (dj_tpm_ek_cert_read(&tpm, n->node.ek_kind, cert, &cert_len, &err) < 0)
    cert_len = 0;
  dj_tpm_close(&tpm);
  cr_assert_eq(dj_vnode_id(&ek.publicArea, n->id, &err), 0);
  char *ekp = b64_public(&ek), *akp = b64_public(&ak.pub);
  json_t *body = json_pack("{s:s, s:s, s:s}", "name", "rack", "ek_public", ekp, "ak_public", akp);
  if (cert_len) {
    char *c = dj_b64url_encode(cert, cert_len);
    json_object_set_new(body, "ek_certificate", json_string(c));
    free(c);
  }
  long st = vh_call(&v, NULL, "POST", "/v1/nodes", body, resp);
  free(ekp);
  free(akp);
  json_decref(body);
  return st;
}

/* The secret the node's TPM recovers from the challenge of an enrolment answer. */
static char *recover(struct vnode *n, json_t *resp)
{
  json_t *ch = json_object_get(resp, "challenge");
  const char *bs = json_string_value(json_object_get(ch, "credential_blob"));
  const char *ss = json_string_value(json_object_get(ch, "encrypted_secret"));
  cr_assert(bs && ss);
  uint8_t *bb = NULL, *sb = NULL;
  size_t bl = 0, sl = 0, o1 = 0, o2 = 0;
  TPM2B_ID_OBJECT blob;
  TPM2B_ENCRYPTED_SECRET seed;
  cr_assert_eq(dj_b64url_decode(bs, strlen(bs), &bb, &bl), 0);
  cr_assert_eq(dj_b64url_decode(ss, strlen(ss), &sb, &sl), 0);
  cr_assert_eq(Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(bb, bl, &o1, &blob), 0);
  cr_assert_eq(Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(sb, sl, &o2, &seed), 0);
  free(bb);
  free(sb);
  TPM2B_DIGEST secret;
  dj_err err = { 0 };
  cr_assert_eq(dj_node_activate(&n->node, &blob, &seed, &secret, &err), 0, "%s", err.msg);
  return dj_b64url_encode(secret.buffer, secret.size);
}

static long activate(const char *node_id, const char *challenge_id, const char *secret, json_t **resp)
{
  char path[128];
  snprintf(path, sizeof path, "/v1/nodes/%s/activate", node_id);
  json_t *body = json_pack("{s:s, s:s}", "challenge_id", challenge_id, "secret", secret);
  long st = vh_call(&v, NULL, "POST", path, body, resp);
  json_decref(body);
  return st;
}

/* resp by address: it is read after st's call ran (argument order is unspecified). */
static void expect_status(long st, json_t **respp, long want, const char *code, const char *what)
{
  json_t *resp = *respp;
  *respp = NULL;
  char *s = json_dumps(resp, JSON_COMPACT);
  cr_assert_eq(st, want, "%s: %ld %s", what, st, s);
  if (code)
    cr_assert_str_eq(code_of(resp), code, "%s: %s", what, s);
  free(s);
  json_decref(resp);
}

/* The refused activation's audit record: the newest one. */
static void expect_audited(const char *type, const char *reason)
{
  json_t *rec = vh_audit_record(&v, vh_audit_head(&v));
  json_t *body = json_object_get(rec, "body");
  cr_assert_str_eq(json_string_value(json_object_get(rec, "type")), type);
  cr_assert_str_eq(json_string_value(json_object_get(body, "reason")), reason);
  json_decref(rec);
}

static json_t *node_of(const char *id)
{
  char path[128];
  snprintf(path, sizeof path, "/v1/nodes/%s", id);
  json_t *n = NULL;
  cr_assert_eq(vh_call(&v, "operator", "GET", path, NULL, &n), 200);
  return n;
}

static const char *str(json_t *j, const char *k)
{
  const char *s = json_string_value(json_object_get(j, k));
  return s ? s : "";
}

static void approve(const char *id, json_t *body, long want, const char *code)
{
  char path[128];
  snprintf(path, sizeof path, "/v1/nodes/%s/approve", id);
  json_t *resp = NULL;
  expect_status(vh_call(&v, "operator", "POST", path, body, &resp), &resp, want, code, path);
  json_decref(body);
}

static long inventory(const char *id, const char *site, const char *jur, const char *cls, json_t **resp)
{
  char d[80];
  snprintf(d, sizeof d, "sha256:%s", id);
  json_t *body = json_pack("{s:[{s:s, s:s, s:s, s:s}]}", "entries", "ek_digest", d, "site", site, "jurisdiction", jur,
                           "hardware_class", cls);
  long st = vh_call(&v, "operator", "POST", "/v1/inventory", body, resp);
  json_decref(body);
  return st;
}

static void write_text(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
}

/* GET /metrics as the operator (malloc'd text). */
static char *metrics_text(void)
{
  char *text = NULL;
  json_t *none = NULL; /* the text is not JSON */
  struct dj_vclient *c = vh_client(&v, "operator");
  long st = 0;
  dj_err err = { 0 };
  cr_assert_eq(dj_vclient_request(c, "GET", "/metrics", NULL, &st, &none, &text, &err), 0, "%s", err.msg);
  dj_vclient_close(c);
  cr_assert_eq(st, 200);
  return text;
}

/* The operator policy by `donjon-verifier policy set`: the harness's, as a file. */
static void operator_policy_by_command(void)
{
  struct vnode *both[] = { &a, &b };
  json_t *doc = vh_operator_doc(both, 2);
  char file[PATH_MAX + 32], out[8192];
  snprintf(file, sizeof file, "%s/operator.json", v.dir);
  char *text = json_dumps(doc, JSON_INDENT(2));
  write_text(file, text);
  free(text);
  json_decref(doc);
  const char *set[] = { "policy", "set", file, NULL };
  cr_assert_eq(vh_admin(&v, "operator", out, sizeof out, set), 0, "%s", out);
  json_t *got = NULL;
  cr_assert_eq(vh_call(&v, "operator", "GET", "/v1/policy/operator", NULL, &got), 200);
  cr_assert_str_eq(json_string_value(json_object_get(got, "kind")), "operator", "policy set did not store it");
  json_decref(got);
  /* a document the verifier refuses: exit 1, its error with the JSON path */
  write_text(file, "{\"kind\": \"operator\", \"hardware\": {}, \"jurisdictions\": [\"FR\"], \"sites\": {},"
                   " \"hardware_classes\": {}}");
  cr_assert_eq(vh_admin(&v, "operator", out, sizeof out, set), 1, "%s", out);
  cr_assert_not_null(strstr(out, "hardware.ek_roots"), "%s", out);
}

Test(nodes, activation_refusals_approval_and_the_inventory)
{
  operator_policy_by_command();
  json_t *resp = NULL, *r1 = NULL;
  char bogus[65];
  memset(bogus, 'f', 64);
  bogus[64] = '\0';

  /* a new EK: activating, which cannot be approved yet */
  expect_status(enrol(&a, &r1), &r1, 201, NULL, "enrol a");
  cr_assert_eq(enrol(&a, &r1), 201);
  const char *ch1 = json_string_value(json_object_get(json_object_get(r1, "challenge"), "id"));
  cr_assert_str_eq(str(r1, "status"), "activating");
  approve(a.id, json_pack("{s:s, s:s, s:s}", "site", "FR-PAR-1", "jurisdiction", "FR", "hardware_class", "std-1"), 409,
          "node-status");

  /* each activation refusal, answered, recorded and counted; the challenge is used up by each */
  char *secret1 = recover(&a, r1);
  expect_status(activate(a.id, "0123456789abcdef0123456789abcdef", secret1, &resp), &resp, 403, "challenge-unknown",
                "unknown challenge");
  expect_audited("activate", "challenge-unknown");
  expect_status(activate(bogus, ch1, secret1, &resp), &resp, 403, "challenge-other-node", "another node's challenge");
  expect_audited("activate", "challenge-other-node");
  expect_status(activate(a.id, ch1, secret1, &resp), &resp, 403, "challenge-unknown", "a used challenge");
  json_decref(r1);
  free(secret1);

  cr_assert_eq(enrol(&a, &r1), 201);
  uint8_t wrong[32];
  RAND_bytes(wrong, sizeof wrong);
  char *w = dj_b64url_encode(wrong, sizeof wrong);
  expect_status(activate(a.id, str(json_object_get(r1, "challenge"), "id"), w, &resp), &resp, 403, "credential",
                "a secret the TPM did not recover");
  expect_audited("activate", "credential");
  free(w);
  json_decref(r1);

  cr_assert_eq(enrol(&a, &r1), 201);
  char *secret2 = recover(&a, r1);
  sleep(4); /* enroll_lifetime_ms is 3000 */
  expect_status(activate(a.id, str(json_object_get(r1, "challenge"), "id"), secret2, &resp), &resp, 403,
                "challenge-expired", "an expired challenge");
  expect_audited("activate", "challenge-expired");
  free(secret2);
  json_decref(r1);

  /* and a good one: pending (not in the inventory) */
  cr_assert_eq(enrol(&a, &r1), 201);
  char *secret3 = recover(&a, r1);
  expect_status(activate(a.id, str(json_object_get(r1, "challenge"), "id"), secret3, &resp), &resp, 200, NULL,
                "activation");
  free(secret3);
  json_decref(r1);
  json_t *n = node_of(a.id);
  cr_assert_str_eq(str(n, "status"), "pending");
  json_decref(n);

  /* placements outside the operator policy: refused by approval and by the inventory alike */
  approve(a.id, json_pack("{s:s, s:s, s:s}", "site", "DE-FRA-1", "jurisdiction", "FR", "hardware_class", "std-1"), 400,
          "placement");
  approve(a.id, json_pack("{s:s, s:s, s:s}", "site", "FR-PAR-1", "jurisdiction", "FR", "hardware_class", "gpu-9"), 400,
          "placement");
  long long head = vh_audit_head(&v);
  expect_status(inventory(a.id, "FR-NIC-1", "FR", "std-1", &resp), &resp, 400, "placement", "inventory, other site");
  expect_status(inventory(a.id, "FR-PAR-1", "DE", "std-1", &resp), &resp, 400, "placement",
                "inventory, site of another jurisdiction");
  expect_status(inventory(a.id, "FR-PAR-1", "FR", "gpu-9", &resp), &resp, 400, "placement", "inventory, other class");
  cr_assert_eq(vh_audit_head(&v), head, "a refused import was recorded");
  n = node_of(a.id);
  cr_assert_str_eq(str(n, "status"), "pending", "a refused import approved the node");
  json_decref(n);

  /* an import listing the pending node approves it with the inventory's placement */
  cr_assert_eq(inventory(a.id, "FR-LYS-1", "FR", "std-1", &resp), 200);
  cr_assert_str_eq(json_string_value(json_array_get(json_object_get(resp, "approved"), 0)), a.id);
  json_decref(resp);
  n = node_of(a.id);
  cr_assert_str_eq(str(n, "status"), "approved");
  cr_assert_str_eq(str(n, "site"), "FR-LYS-1");
  cr_assert(json_is_true(json_object_get(n, "in_inventory")));
  json_decref(n);
  json_t *rec = vh_audit_record(&v, vh_audit_head(&v) - 1);
  cr_assert_str_eq(str(rec, "type"), "approve");
  cr_assert_str_eq(str(json_object_get(rec, "body"), "by"), "inventory");
  json_decref(rec);

  /* the operator moves it by command, then revokes it: its EK cannot enrol again */
  char out[8192];
  const char *move[] = { "node", "approve", a.id, "--site", "FR-PAR-1", "--jurisdiction", "FR", "--class", "std-1",
                         NULL };
  cr_assert_eq(vh_admin(&v, "operator", out, sizeof out, move), 0, "%s", out);
  n = node_of(a.id);
  cr_assert_str_eq(str(n, "site"), "FR-PAR-1");
  /* as attestation sees it: the inventory lists it at FR-LYS-1, not where it now is */
  cr_assert(json_is_false(json_object_get(n, "in_inventory")));
  json_decref(n);
  const char *bad[] = { "node", "approve", a.id, "--site", "DE-FRA-1", "--jurisdiction", "FR", "--class", "std-1",
                        NULL };
  cr_assert_eq(vh_admin(&v, "operator", out, sizeof out, bad), 1, "%s", out);
  cr_assert_not_null(strstr(out, "placement"), "%s", out);
  const char *revoke[] = { "node", "revoke", a.id, "--reason", "stolen", NULL };
  cr_assert_eq(vh_admin(&v, "operator", out, sizeof out, revoke), 0, "%s", out);
  expect_status(enrol(&a, &resp), &resp, 403, "node-revoked", "a revoked EK enrolling again");
  expect_audited("enroll", "node-revoked");
  approve(a.id, json_pack("{s:s, s:s, s:s}", "site", "FR-PAR-1", "jurisdiction", "FR", "hardware_class", "std-1"), 409,
          "node-status");

  /* every refusal above is in the decisions metric */
  char *metrics = metrics_text();
  const char *want[] = { "donjon_verifier_decisions_total{decision=\"deny\",reason=\"challenge-unknown\"} 2",
                         "donjon_verifier_decisions_total{decision=\"deny\",reason=\"challenge-other-node\"} 1",
                         "donjon_verifier_decisions_total{decision=\"deny\",reason=\"credential\"} 1",
                         "donjon_verifier_decisions_total{decision=\"deny\",reason=\"challenge-expired\"} 1",
                         "donjon_verifier_decisions_total{decision=\"deny\",reason=\"node-revoked\"} 1",
                         "donjon_verifier_decisions_total{decision=\"allow\",reason=\"activated\"} 1" };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
    cr_assert_not_null(strstr(metrics, want[i]), "%s not in\n%s", want[i], metrics);
  free(metrics);
}

/* A TPM without an EK certificate: refused unless the inventory lists its EK; then approved and
 * attesting, but no key is released to it (no manufacturer: docs/policy.md). */
Test(nodes, a_tpm_without_ek_certificate)
{
  operator_policy_by_command();
  vh_tenant_policy(&v, NULL);
  char *value = dj_b64url_encode((const uint8_t *) "db key", 6);
  json_t *key = json_pack("{s:s, s:s}", "kind", "secret", "value", value);
  cr_assert_eq(vh_call(&v, "acme", "PUT", "/v1/keys/acme-db", key, NULL), 201);
  json_decref(key);
  free(value);
  char hex[16];
  snprintf(hex, sizeof hex, "0x%08x", dj_ek_cert_index(b.node.ek_kind));
  const char *undef[] = { "tpm2_nvundefine", hex, "-C", "p", NULL };
  cr_assert_eq(swtpm_run(&b.sw, undef), 0, "cannot remove the EK certificate");
  json_t *resp = NULL;
  expect_status(enrol(&b, &resp), &resp, 403, "ek-no-cert", "no EK certificate, not in the inventory");
  expect_audited("enroll", "ek-no-cert");
  cr_assert_eq(inventory(b.id, "FR-PAR-1", "FR", "std-1", &resp), 200);
  json_decref(resp);
  cr_assert_str_eq(vnode_enroll(&v, &b), "approved");
  json_t *n = node_of(b.id);
  json_t *ek = json_object_get(n, "ek");
  cr_assert(json_is_false(json_object_get(ek, "certificate")));
  cr_assert_str_eq(str(ek, "manufacturer"), "");
  json_decref(n);

  json_t *cfg = vh_config("--serve");
  const char *keys[] = { "acme-db" };
  struct dj_vattest_args args = { .keys = keys, .n_keys = 1, .manifest = VH_MANIFEST, .profile = "confidential",
                                  .config = cfg };
  struct vh_attest at = { .args = &args };
  struct dj_vattest_result res;
  cr_assert_eq(vh_attest(&v, &b, &at, &res), 403, "%s", vh_code(&res));
  cr_assert_str_eq(vh_code(&res), "policy");
  json_t *reasons = json_object_get(json_array_get(json_object_get(res.answer, "keys"), 0), "reasons");
  size_t i;
  json_t *r;
  bool seen = false;
  json_array_foreach(reasons, i, r) {
    if (strcmp(str(r, "rule"), "operator.tpm_manufacturer") == 0) {
      cr_assert_str_eq(str(r, "result"), "failed");
      cr_assert_str_eq(str(r, "detail"), "TPM manufacturer unknown (no EK certificate names it)");
      seen = true;
    } else if (strcmp(str(r, "rule"), "operator.boot") == 0) {
      cr_assert_str_eq(str(r, "detail"), "8 boot PCR values match hardware class std-1");
    } else if (strncmp(str(r, "rule"), "tenant.", 7) == 0) {
      cr_assert_str_eq(str(r, "result"), "met", "%s", str(r, "rule"));
    }
  }
  char *answer = json_dumps(res.answer, JSON_COMPACT);
  cr_assert(seen, "no operator.tpm_manufacturer reason: %s", answer);
  free(answer);
  cr_assert_eq(res.n_keys, 0);
  dj_vattest_result_free(&res);
  char *metrics = metrics_text();
  const char *denied = "donjon_verifier_decisions_total{decision=\"deny\",reason=\"policy\"} 1";
  cr_assert_not_null(strstr(metrics, denied), "%s not in\n%s", denied, metrics);
  free(metrics);

  /* a node holds at most max_outstanding_nonces (2) unused nonces */
  struct dj_vclient *c = vh_client(&v, NULL);
  struct dj_vchallenge ch;
  dj_err err = { 0 };
  for (int k = 0; k < 2; k++)
    cr_assert_eq(dj_vclient_challenge(c, b.id, &ch, &err), 0, "%s", err.msg);
  json_t *body = json_pack("{s:s}", "node_id", b.id);
  long st = 0;
  json_t *ans = NULL;
  cr_assert_eq(dj_vclient_request(c, "POST", "/v1/challenge", body, &st, &ans, NULL, &err), 0, "%s", err.msg);
  expect_status(st, &ans, 429, "too-many-nonces", "a third unused nonce");
  json_decref(body);
  dj_vclient_close(c);
  json_decref(cfg);
}

/* A new AK for a known EK waits for the operator's `node approve --rotation`. */
Test(nodes, ak_rotation_approved_by_command)
{
  operator_policy_by_command();
  cr_assert_str_eq(vnode_enroll(&v, &a), "pending");
  json_t *n = node_of(a.id);
  char *old_name = dj_xstrdup(str(n, "ak_name"));
  json_decref(n);
  char out[8192];
  const char *none[] = { "node", "approve", a.id, "--rotation", NULL };
  cr_assert_eq(vh_admin(&v, "operator", out, sizeof out, none), 1, "%s", out);
  cr_assert_not_null(strstr(out, "no-rotation"), "%s", out);
  /* the node loses its AK (a TPM clear): a new one, enrolled again */
  char cmd[PATH_MAX + 64];
  snprintf(cmd, sizeof cmd, "rm -f %s/ak-*.blob", a.sw.node_dir);
  cr_assert_eq(system(cmd), 0);
  vnode_enroll(&v, &a);
  n = node_of(a.id);
  cr_assert(json_is_true(json_object_get(n, "rotation_pending")));
  cr_assert_str_eq(str(n, "ak_name"), old_name, "the new AK replaced the old one before approval");
  json_decref(n);
  const char *rot[] = { "node", "approve", a.id, "--rotation", NULL };
  cr_assert_eq(vh_admin(&v, "operator", out, sizeof out, rot), 0, "%s", out);
  n = node_of(a.id);
  cr_assert(json_is_false(json_object_get(n, "rotation_pending")));
  cr_assert_str_neq(str(n, "ak_name"), old_name);
  json_decref(n);
  json_t *rec = vh_audit_record(&v, vh_audit_head(&v));
  cr_assert_str_eq(str(rec, "type"), "rotate");
  json_decref(rec);
  free(old_name);
}
