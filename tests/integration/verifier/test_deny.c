/* Every denial of the issue, each with its own reason in the answer and in its audit record: the
 * nonce (replayed, expired, another node's), the node (pending, revoked, unknown AK), the quote
 * (forged signature, changed PCR, edited log, extraData bound to another key or workload,
 * resetCount going back), the policies (jurisdiction, site, workload: other image, other args),
 * and an EK from a CA the operator does not trust. One verifier and three swtpm for all. */
#include <criterion/criterion.h>
#include <limits.h>
#include <string.h>
#include <time.h>

#include "common/json.h"
#include "common/util.h"
#include "images/b64.h"
#include "vharness.h"

static struct vh v;
static struct vnode a, p, x; /* approved, pending, from an unapproved CA */

#define LIFETIME_MS 5000

static void setup(void)
{
  vh_create(&v, "\"nonce_lifetime_ms\": 5000,");
  vh_start(&v);
  vnode_create(&a, DJ_AK_ECC_P256);
  vnode_create(&p, DJ_AK_ECC_P256);
  vnode_create(&x, DJ_AK_ECC_P256);
  struct vnode *trusted[] = { &a, &p };
  vh_operator_policy(&v, trusted, 2);
  vh_tenant_policy(&v, NULL);
  char *b = dj_b64url_encode((const uint8_t *) "s3cret", 6);
  json_t *body = json_pack("{s:s, s:s}", "kind", "secret", "value", b);
  cr_assert_eq(vh_call(&v, "acme", "PUT", "/v1/keys/acme-db", body, NULL), 201);
  json_decref(body);
  free(b);
  vnode_enroll(&v, &a);
  vnode_approve(&v, &a, "FR-PAR-1", "FR", "std-1");
  cr_assert_str_eq(vnode_enroll(&v, &p), "pending");
}

static void teardown(void)
{
  vnode_destroy(&a);
  vnode_destroy(&p);
  vnode_destroy(&x);
  vh_destroy(&v);
}

TestSuite(deny, .init = setup, .fini = teardown, .timeout = 300);

/* An EK certificate from a manufacturer CA the operator does not trust: refused, recorded, no row. */
static void unapproved_ca(void)
{
  struct dj_vclient *c = vh_client(&v, NULL);
  struct dj_venrolled e;
  dj_err err = { 0 };
  long long before = vh_audit_head(&v);
  cr_assert_eq(dj_vclient_enroll(c, &x.node, "intruder", &e, &err), -1);
  dj_vclient_close(c);
  cr_assert_eq(err.code, 403, "%s", err.msg);
  cr_assert_not_null(strstr(err.msg, "ek-chain"), "%s", err.msg);
  cr_assert_eq(vh_audit_head(&v), before + 1);
  json_t *rec = vh_audit_record(&v, before + 1);
  json_t *body = json_object_get(rec, "body");
  cr_assert_str_eq(json_string_value(json_object_get(rec, "type")), "enroll");
  cr_assert_str_eq(json_string_value(json_object_get(body, "decision")), "deny");
  cr_assert_str_eq(json_string_value(json_object_get(body, "reason")), "ek-chain");
  json_decref(rec);
  json_t *nodes = NULL;
  cr_assert_eq(vh_call(&v, "operator", "GET", "/v1/nodes", NULL, &nodes), 200);
  cr_assert_eq(json_array_size(json_object_get(nodes, "nodes")), 2, "no node row for a refused EK");
  json_decref(nodes);
}


static const char *keys[] = { "acme-db" };

static struct dj_vattest_args workload(json_t *cfg, const char *manifest)
{
  return (struct dj_vattest_args){ .keys = keys, .n_keys = 1, .manifest = manifest ? manifest : VH_MANIFEST,
                                   .profile = "confidential", .config = cfg };
}

/* The answer is a 403 with code, and its audit record is a denial for that reason. */
static void expect_denied(struct dj_vattest_result *res, long st, const char *code, const char *what)
{
  char *s = json_dumps(res->answer, 0);
  cr_assert_eq(st, 403, "%s: HTTP %ld %s", what, st, s);
  cr_assert_str_eq(vh_code(res), code, "%s: %s", what, s);
  cr_assert(!res->allowed && res->n_keys == 0, "%s: released something", what);
  cr_assert_null(strstr(s, "\"jwe\""), "%s: a JWE in a denial", what);
  free(s);
  json_t *rec = vh_audit_record(&v, json_integer_value(json_object_get(res->answer, "audit_seq")));
  json_t *body = json_object_get(rec, "body");
  cr_assert_str_eq(json_string_value(json_object_get(rec, "type")), "attest", "%s", what);
  cr_assert_str_eq(json_string_value(json_object_get(body, "decision")), "deny", "%s", what);
  cr_assert_str_eq(json_string_value(json_object_get(body, "reason")), code, "%s", what);
  json_decref(rec);
  dj_vattest_result_free(res);
}

/* A policy denial: the failed rule is among the key's reasons (and only the rules expected). */
static void expect_rule(struct dj_vattest_result *res, long st, const char *rule, const char *what)
{
  json_t *reasons = json_object_get(json_array_get(json_object_get(res->answer, "keys"), 0), "reasons");
  size_t i;
  json_t *r;
  bool found = false;
  json_array_foreach(reasons, i, r) {
    bool failed = strcmp(json_string_value(json_object_get(r, "result")), "failed") == 0;
    if (failed && strcmp(json_string_value(json_object_get(r, "rule")), rule) == 0)
      found = true;
  }
  cr_assert(found, "%s: rule %s did not fail", what, rule);
  expect_denied(res, st, "policy", what);
}

static long attest(struct vnode *n, struct vh_attest *at, struct dj_vattest_result *res)
{
  return vh_attest(&v, n, at, res);
}

static void flip_sig(struct dj_evidence *ev, void *ctx)
{
  ev->sig[ev->sig_len - 1] ^= 1;
}
static void change_pcr(struct dj_evidence *ev, void *ctx)
{
  ev->pcrs.v[0].digest[0] ^= 1;
}
static void edit_log(struct dj_evidence *ev, void *ctx)
{
  char *at = strstr(ev->log, "launch-1");
  cr_assert_not_null(at, "the log has no event to edit: %s", ev->log);
  at[7] = '2'; /* still valid JSON, another event */
}

Test(deny, each_with_its_own_reason_and_audit_record_and_no_release)
{
  json_t *cfg = vh_config("--serve"), *cfg_debug = vh_config("--debug");
  struct dj_vattest_args ok = workload(cfg, NULL), other_args = workload(cfg_debug, NULL),
                         other_image = workload(cfg, "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
  struct dj_vattest_result res;

  /* allowed first, then the same nonce again: a replay */
  struct vh_attest first = { .args = &ok };
  cr_assert_eq(attest(&a, &first, &res), 200, "%s", vh_code(&res));
  dj_vattest_result_free(&res);
  struct vh_attest replay = { .args = &ok, .nonce = first.used_nonce };
  expect_denied(&res, attest(&a, &replay, &res), "nonce-used", "replayed nonce");

  struct vh_attest unknown = { .args = &ok, .nonce = (const uint8_t *) "0123456789abcdef0123456789abcdef" };
  expect_denied(&res, attest(&a, &unknown, &res), "nonce-unknown", "nonce never issued");
  struct vh_attest other_node = { .args = &ok, .challenge_node = p.id };
  expect_denied(&res, attest(&a, &other_node, &res), "nonce-other-node", "a nonce issued to another node");

  struct vh_attest forged = { .args = &ok, .ev_hook = flip_sig };
  expect_denied(&res, attest(&a, &forged, &res), "signature", "forged signature");
  struct vh_attest pcr = { .args = &ok, .ev_hook = change_pcr };
  expect_denied(&res, attest(&a, &pcr, &res), "pcr-digest", "changed PCR");

  /* a measurement in the log, then the log edited */
  dj_err err = { 0 };
  json_t *event = json_pack("{s:s}", "workload", "launch-1");
  cr_assert_eq(dj_node_extend(&a.node, event, NULL, &err), 0, "%s", err.msg);
  json_decref(event);
  struct vh_attest logged = { .args = &ok };
  cr_assert_eq(attest(&a, &logged, &res), 200, "with a log: %s", vh_code(&res));
  dj_vattest_result_free(&res);
  struct vh_attest edited = { .args = &ok, .ev_hook = edit_log };
  expect_denied(&res, attest(&a, &edited, &res), "log-replay", "edited measurement log");

  /* extraData bound to another ephemeral key, or to another workload */
  EVP_PKEY *other_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  struct vh_attest key2 = { .args = &ok, .bind_key = other_key };
  expect_denied(&res, attest(&a, &key2, &res), "extra-data", "bound to another ephemeral key");
  EVP_PKEY_free(other_key);
  struct vh_attest wl2 = { .args = &ok, .bind_args = &other_args };
  expect_denied(&res, attest(&a, &wl2, &res), "extra-data", "bound to another workload");

  /* the workload: another image, other arguments */
  struct vh_attest img = { .args = &other_image };
  expect_rule(&res, attest(&a, &img, &res), "tenant.workload", "another image");
  struct vh_attest args = { .args = &other_args };
  expect_rule(&res, attest(&a, &args, &res), "tenant.workload", "other arguments");

  /* placement: another jurisdiction, a site the tenant does not allow */
  vnode_approve(&v, &a, "DE-FRA-1", "DE", "std-1");
  struct vh_attest plain = { .args = &ok };
  expect_rule(&res, attest(&a, &plain, &res), "tenant.jurisdiction", "wrong jurisdiction");
  vnode_approve(&v, &a, "FR-LYS-1", "FR", "std-1");
  expect_rule(&res, attest(&a, &plain, &res), "tenant.site", "site not allowed");
  vnode_approve(&v, &a, "FR-PAR-1", "FR", "std-1");

  /* the node: pending; an AK the node never enrolled */
  expect_denied(&res, attest(&p, &plain, &res), "node-pending", "pending node");
  a.node.ak_kind = DJ_AK_RSA2048; /* a second AK of the same TPM, never enrolled */
  expect_denied(&res, attest(&a, &plain, &res), "ak-unknown", "unknown AK");
  a.node.ak_kind = DJ_AK_ECC_P256;

  /* an expired nonce: the verifier's clock passes the lifetime */
  struct dj_vclient *c = vh_client(&v, NULL);
  struct dj_vchallenge ch;
  cr_assert_eq(dj_vclient_challenge(c, a.id, &ch, &err), 0, "%s", err.msg);
  dj_vclient_close(c);
  struct timespec ts = { LIFETIME_MS / 1000, (LIFETIME_MS % 1000) * 1000000L + 200000000L };
  nanosleep(&ts, NULL); /* time itself is what is tested: there is no event to wait for */
  struct vh_attest expired = { .args = &ok, .nonce = ch.nonce };
  expect_denied(&res, attest(&a, &expired, &res), "nonce-expired", "expired nonce");

  /* resetCount going backwards: the TPM's state rolled back to an older copy (a restored VM or
   * disk image) after two boots were accepted */
  char cmd[4 * PATH_MAX + 64];
  snprintf(cmd, sizeof cmd, "cp -a %s %s.old", a.sw.state, a.sw.state);
  const char *save[] = { "sh", "-ec", cmd, NULL };
  cr_assert_eq(vh_run(save, NULL, 0), 0);
  swtpm_power_cycle(&a.sw);
  swtpm_power_cycle(&a.sw);
  cr_assert_eq(attest(&a, &plain, &res), 200, "after two boots: %s", vh_code(&res));
  dj_vattest_result_free(&res);
  swtpm_stop(&a.sw);
  snprintf(cmd, sizeof cmd, "rm -rf %s && mv %s.old %s", a.sw.state, a.sw.state, a.sw.state);
  const char *restore[] = { "sh", "-ec", cmd, NULL };
  cr_assert_eq(vh_run(restore, NULL, 0), 0);
  swtpm_start(&a.sw);
  expect_denied(&res, attest(&a, &plain, &res), "reset-count", "resetCount went back");

  /* revoked */
  char path[128];
  snprintf(path, sizeof path, "/v1/nodes/%s/revoke", a.id);
  json_t *why = json_pack("{s:s}", "reason", "disk stolen");
  cr_assert_eq(vh_call(&v, "operator", "POST", path, why, NULL), 200);
  json_decref(why);
  expect_denied(&res, attest(&a, &plain, &res), "node-revoked", "revoked node");

  unapproved_ca();
  json_decref(cfg);
  json_decref(cfg_debug);
}
