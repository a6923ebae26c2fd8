/* Enrolment -> approval (by the operator, or by the inventory) -> attestation -> release, with RSA
 * and ECC AKs; an AK rotation the operator approves; image layer keys released only for the
 * attested image, with one uniform error for every unwrap failure. */
#include <criterion/criterion.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/util.h"
#include "images/b64.h"
#include "images/jwe.h"
#include "verifier/requests.h"
#include "vharness.h"

static struct vh v;

static void setup(void)
{
  vh_create(&v, "\"nonce_lifetime_ms\": 20000,");
  vh_start(&v);
}

static void teardown(void)
{
  vh_destroy(&v);
}

TestSuite(flow, .init = setup, .fini = teardown, .timeout = 300);

static void put_secret(const char *tenant, const char *id, const char *value)
{
  char *b = dj_b64url_encode((const uint8_t *) value, strlen(value));
  json_t *body = json_pack("{s:s, s:s}", "kind", "secret", "value", b);
  char path[128];
  snprintf(path, sizeof path, "/v1/keys/%s", id);
  long st = vh_call(&v, tenant, "PUT", path, body, NULL);
  cr_assert(st == 201 || st == 200, "key put: %ld", st);
  json_decref(body);
  free(b);
}

static int count_type(const char *type)
{
  json_t *resp = NULL;
  cr_assert_eq(vh_call(&v, "auditor", "GET", "/v1/audit?limit=10000", NULL, &resp), 200);
  int n = 0;
  size_t i;
  json_t *r;
  json_array_foreach(json_object_get(resp, "records"), i, r) {
    json_error_t je;
    json_t *rec = json_loads(json_string_value(json_object_get(r, "record")), 0, &je);
    n += strcmp(json_string_value(json_object_get(rec, "type")), type) == 0;
    json_decref(rec);
  }
  json_decref(resp);
  return n;
}

static void attest_allowed(struct vnode *n, const char *expect_secret)
{
  json_t *cfg = vh_config("--serve");
  const char *keys[] = { "acme-db" };
  struct dj_vattest_args args = { .keys = keys, .n_keys = 1, .manifest = VH_MANIFEST, .profile = "confidential",
                                  .config = cfg };
  struct vh_attest a = { .args = &args };
  struct dj_vattest_result res;
  long st = vh_attest(&v, n, &a, &res);
  char *s = json_dumps(res.answer, 0);
  cr_assert_eq(st, 200, "attest: %ld %s", st, s);
  free(s);
  cr_assert(res.allowed);
  cr_assert_eq(res.n_keys, 1);
  cr_assert_str_eq(res.keys[0].id, "acme-db");
  cr_assert_eq(res.keys[0].len, strlen(expect_secret));
  cr_assert_eq(memcmp(res.keys[0].data, expect_secret, res.keys[0].len), 0);
  json_t *rec = vh_audit_record(&v, json_integer_value(json_object_get(res.answer, "audit_seq")));
  json_t *body = json_object_get(rec, "body");
  cr_assert_str_eq(json_string_value(json_object_get(rec, "type")), "attest");
  cr_assert_str_eq(json_string_value(json_object_get(body, "decision")), "allow");
  cr_assert_str_eq(json_string_value(json_object_get(body, "node")), n->id);
  cr_assert_null(json_object_get(json_array_get(json_object_get(body, "keys"), 0), "jwe"), "a JWE in the audit log");
  /* the answer is the audited body, with audit_seq and the released JWEs */
  const char *k;
  json_t *val;
  json_object_foreach(res.answer, k, val) {
    if (strcmp(k, "audit_seq") == 0 || strcmp(k, "released") == 0)
      continue;
    cr_assert(json_equal(val, json_object_get(body, k)), "answer member %s is not the audit record's", k);
  }
  cr_assert_eq(json_object_size(res.answer), json_object_size(body) + 2);
  json_decref(rec);
  dj_vattest_result_free(&res);
  json_decref(cfg);
}

Test(flow, rsa_ak_manual_approval_and_ecc_ak_by_inventory)
{
  struct vnode a, b;
  vnode_create(&a, DJ_AK_RSA2048);
  vnode_create(&b, DJ_AK_ECC_P256);
  struct vnode *both[] = { &a, &b };
  vh_operator_policy(&v, both, 2);
  vh_tenant_policy(&v, NULL);
  put_secret("acme", "acme-db", "postgres master key");

  cr_assert_str_eq(vnode_enroll(&v, &a), "pending");
  cr_assert_str_eq(vnode_enroll(&v, &a), "pending", "enrolling again is harmless");
  vnode_approve(&v, &a, "FR-PAR-1", "FR", "std-1");
  attest_allowed(&a, "postgres master key");

  /* the operator's inventory names b's EK: approved at activation */
  char id[65];
  dj_err err = { 0 };
  cr_assert_eq(dj_vclient_node_id(&b.node, id, &err), 0, "%s", err.msg);
  char digest[80];
  snprintf(digest, sizeof digest, "sha256:%s", id);
  json_t *inv = json_pack("{s:[{s:s, s:s, s:s, s:s, s:s}]}", "entries", "ek_digest", digest, "name", "rack-7",
                          "site", "FR-PAR-1", "jurisdiction", "FR", "hardware_class", "std-1");
  cr_assert_eq(vh_call(&v, "operator", "POST", "/v1/inventory", inv, NULL), 200);
  json_decref(inv);
  cr_assert_str_eq(vnode_enroll(&v, &b), "approved");
  cr_assert_str_eq(b.id, id, "the node id is the EK's digest");
  attest_allowed(&b, "postgres master key");

  json_t *nodes = NULL;
  cr_assert_eq(vh_call(&v, "operator", "GET", "/v1/nodes", NULL, &nodes), 200);
  cr_assert_eq(json_array_size(json_object_get(nodes, "nodes")), 2);
  json_decref(nodes);
  cr_assert_eq(count_type("enroll"), 3);
  cr_assert_eq(count_type("activate"), 2);
  cr_assert_eq(count_type("approve"), 1);
  cr_assert_eq(count_type("inventory"), 1);
  cr_assert_eq(count_type("key-put"), 1);
  cr_assert_eq(count_type("attest"), 2);

  /* an AK rotation: a new AK for a known EK is pending until the operator approves it */
  a.node.ak_kind = DJ_AK_ECC_P256;
  cr_assert_str_eq(vnode_enroll(&v, &a), "approved");
  json_t *cfg = vh_config("--serve");
  struct dj_vattest_args args = { .manifest = VH_MANIFEST, .profile = "confidential", .config = cfg };
  struct vh_attest at = { .args = &args };
  struct dj_vattest_result res;
  cr_assert_eq(vh_attest(&v, &a, &at, &res), 403);
  cr_assert_str_eq(vh_code(&res), "ak-rotation-pending");
  dj_vattest_result_free(&res);
  char path[128];
  snprintf(path, sizeof path, "/v1/nodes/%s/approve", a.id);
  json_t *rot = json_pack("{s:b}", "rotation", true);
  cr_assert_eq(vh_call(&v, "operator", "POST", path, rot, NULL), 200);
  cr_assert_eq(count_type("rotate"), 1);
  attest_allowed(&a, "postgres master key");
  /* a replaced secret is what the next release gives (the workers keep copies of key rows) */
  put_secret("acme", "acme-db", "the rotated master key");
  attest_allowed(&a, "the rotated master key");
  attest_allowed(&b, "the rotated master key");
  /* and the old AK is no longer the node's */
  a.node.ak_kind = DJ_AK_RSA2048;
  cr_assert_eq(vh_attest(&v, &a, &at, &res), 403);
  cr_assert_str_eq(vh_code(&res), "ak-unknown");
  dj_vattest_result_free(&res);
  json_decref(rot);

  /* inventory_required: whether the inventory lists the node's EK, with the placement it was
   * approved at, is read at each attestation. a was approved by hand and is not listed; b is. */
  a.node.ak_kind = DJ_AK_ECC_P256;
  json_t *op = NULL;
  cr_assert_eq(vh_call(&v, "operator", "GET", "/v1/policy/operator", NULL, &op), 200);
  json_object_set_new(json_object_get(op, "hardware"), "inventory_required", json_true());
  cr_assert_eq(vh_call(&v, "operator", "PUT", "/v1/policy/operator", op, NULL), 200);
  json_decref(op);
  const char *keys[] = { "acme-db" };
  struct dj_vattest_args kargs = { .keys = keys, .n_keys = 1, .manifest = VH_MANIFEST, .profile = "confidential",
                                   .config = cfg };
  struct vh_attest kat = { .args = &kargs };
  cr_assert_eq(vh_attest(&v, &a, &kat, &res), 403);
  cr_assert_str_eq(vh_code(&res), "policy");
  json_t *r0;
  size_t ri;
  bool inventory_failed = false;
  json_array_foreach(json_object_get(json_array_get(json_object_get(res.answer, "keys"), 0), "reasons"), ri, r0) {
    if (strcmp(json_string_value(json_object_get(r0, "rule")), "operator.inventory") == 0)
      inventory_failed = strcmp(json_string_value(json_object_get(r0, "result")), "failed") == 0;
  }
  cr_assert(inventory_failed, "a node the inventory does not list is not in it");
  dj_vattest_result_free(&res);
  attest_allowed(&b, "the rotated master key");
  /* listed elsewhere than where it was approved: still not in the inventory */
  snprintf(digest, sizeof digest, "sha256:%s", a.id);
  inv = json_pack("{s:[{s:s, s:s, s:s, s:s, s:s}]}", "entries", "ek_digest", digest, "name", "rack-9", "site",
                  "FR-LYS-1", "jurisdiction", "FR", "hardware_class", "std-1");
  cr_assert_eq(vh_call(&v, "operator", "POST", "/v1/inventory", inv, NULL), 200);
  json_decref(inv);
  cr_assert_eq(vh_attest(&v, &a, &kat, &res), 403);
  cr_assert_str_eq(vh_code(&res), "policy");
  dj_vattest_result_free(&res);
  /* the operator lists a's EK where it was approved: a node approved by hand is then in it */
  inv = json_pack("{s:[{s:s, s:s, s:s, s:s, s:s}]}", "entries", "ek_digest", digest, "name", "rack-9", "site",
                  "FR-PAR-1", "jurisdiction", "FR", "hardware_class", "std-1");
  cr_assert_eq(vh_call(&v, "operator", "POST", "/v1/inventory", inv, NULL), 200);
  json_decref(inv);
  attest_allowed(&a, "the rotated master key");
  json_decref(cfg);

  /* the whole log verifies, through the admin command */
  char out[4096];
  const char *args2[] = { "audit", "verify", "--pubkey", v.audit_pub, NULL };
  cr_assert_eq(vh_admin(&v, "auditor", out, sizeof out, args2), 0, "%s", out);
  vnode_destroy(&a);
  vnode_destroy(&b);
}

/* ---- image keys ----------------------------------------------------------------------------- */

/* Node n attests workload_manifest asking for the layer's key; as node_id when not NULL. */
static long layer_attest_as(struct vnode *n, const char *node_id, const char *workload_manifest, const char *image,
                            const char *layer_digest, const char *recipient, struct dj_vattest_result *res)
{
  json_t *cfg = vh_config("--serve");
  const char *keys[] = { "acme-kek" };
  struct dj_vlayer layer = { .digest = layer_digest, .recipient = recipient };
  struct dj_vattest_args args = { .keys = keys, .n_keys = 1, .manifest = workload_manifest, .profile = "confidential",
                                  .config = cfg, .image_manifest = (const uint8_t *) image,
                                  .image_manifest_len = strlen(image), .layers = &layer, .n_layers = 1 };
  struct vh_attest a = { .args = &args, .node_id = node_id };
  long st = vh_attest(&v, n, &a, res);
  json_decref(cfg);
  return st;
}

static long layer_attest(struct vnode *n, const char *workload_manifest, const char *image, const char *layer_digest,
                         const char *recipient, struct dj_vattest_result *res)
{
  return layer_attest_as(n, NULL, workload_manifest, image, layer_digest, recipient, res);
}

/* Whether the answer reports a check of that name: what the verifier looked at. */
static bool answer_has_check(const struct dj_vattest_result *res, const char *name)
{
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(res->answer, "checks"), i, c) {
    if (strcmp(json_string_value(json_object_get(c, "check")), name) == 0)
      return true;
  }
  return false;
}

/* No unwrap was tried for the request: no image or layer check, and no layer names a key. */
static void assert_no_unwrap(const struct dj_vattest_result *res, const char *what)
{
  cr_assert_not(answer_has_check(res, "image"), "%s: the layer's recipient was looked at", what);
  cr_assert_not(answer_has_check(res, "layer"), "%s: an unwrap was tried", what);
  json_t *l = json_array_get(json_object_get(res->answer, "layers"), 0);
  cr_assert_str_eq(json_string_value(json_object_get(l, "key")), "", "%s: a KEK opened the layer", what);
}

Test(flow, layer_keys_only_for_the_attested_image)
{
  struct vnode a;
  vnode_create(&a, DJ_AK_ECC_P256);
  struct vnode *one[] = { &a };
  vh_operator_policy(&v, one, 1);
  EVP_PKEY *kek = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
  EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
  char *pa, *ra, *pb, *rb, *pc, *rc, *pd, *rd;
  char da[72], db[72], dc[72], dd[72];
  const int oaep = DJ_JWE_RSA_OAEP;
  char *ma = vh_layer_manifest(kek, oaep, "1111111111111111111111111111111111111111111111111111111111111111", false,
                               &pa, &ra, da);
  char *mb = vh_layer_manifest(kek, oaep, "2222222222222222222222222222222222222222222222222222222222222222", false,
                               &pb, &rb, db);
  char *mc = vh_layer_manifest(other, oaep, "3333333333333333333333333333333333333333333333333333333333333333", false,
                               &pc, &rc, dc);
  char *md = vh_layer_manifest(kek, oaep, "4444444444444444444444444444444444444444444444444444444444444444", true,
                               &pd, &rd, dd);
  /* the tenant allows image A (and C, D to reach the unwrap); the KEK goes to the verifier */
  json_t *wl = json_pack("[{s:s, s:s, s:{s:[[s,s]], s:[s], s:[s]}}]", "manifest", da, "profile", "confidential",
                         "config", "args", "/bin/app", "--serve", "env", "PATH=*", "mounts", "/tmp");
  for (int i = 0; i < 2; i++)
    json_array_append_new(wl, json_pack("{s:s, s:s, s:{s:[[s,s]], s:[s], s:[s]}}", "manifest", i ? dd : dc, "profile",
                                        "confidential", "config", "args", "/bin/app", "--serve", "env", "PATH=*",
                                        "mounts", "/tmp"));
  json_t *doc = json_pack("{s:s, s:s, s:{s:{s:[s], s:[s], s:[s], s:i, s:o}}}", "kind", "tenant", "tenant", "acme",
                          "keys", "acme-kek", "jurisdictions", "FR", "sites", "FR-*", "hardware_classes", "std-1",
                          "max_evidence_age", 60, "workloads", wl);
  cr_assert_eq(vh_call(&v, "acme", "PUT", "/v1/policy/tenants/acme", doc, NULL), 200);
  json_decref(doc);
  BIO *bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, kek, NULL, NULL, 0, NULL, NULL);
  char *pem = NULL;
  long len = BIO_get_mem_data(bio, &pem);
  json_t *kb = json_pack("{s:s, s:s%}", "kind", "kek", "private_key", pem, (size_t) len);
  json_t *kresp = NULL;
  cr_assert_eq(vh_call(&v, "acme", "PUT", "/v1/keys/acme-kek", kb, &kresp), 201);
  cr_assert_not_null(json_object_get(kresp, "public_key"));
  json_decref(kresp);
  json_decref(kb);
  BIO_free(bio);
  vnode_enroll(&v, &a);
  vnode_approve(&v, &a, "FR-PAR-1", "FR", "std-1");

  struct dj_vattest_result res;
  const char *la = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
  cr_assert_eq(layer_attest(&a, da, ma, la, ra, &res), 200, "%s", vh_code(&res));
  cr_assert_eq(res.n_layers, 1);
  cr_assert_eq(res.n_keys, 0, "a KEK is never released");
  cr_assert_str_eq(res.layers[0].id, la);
  cr_assert_eq(res.layers[0].len, strlen(pa));
  cr_assert_eq(memcmp(res.layers[0].data, pa, strlen(pa)), 0);
  dj_vattest_result_free(&res);

  /* Nothing is unwrapped for whoever is not the approved node with its AK and a live nonce: a TPM
   * that is not node A's quoting with its own AK, on A's nonce, for A's image and recipient. */
  struct vnode stranger;
  vnode_create(&stranger, DJ_AK_ECC_P256);
  cr_assert_eq(layer_attest_as(&stranger, a.id, da, ma, la, ra, &res), 403);
  cr_assert_str_eq(vh_code(&res), "ak-unknown");
  cr_assert_not(answer_has_check(&res, "quote"), "a stranger's quote was verified");
  assert_no_unwrap(&res, "a stranger's AK");
  json_t *k0 = json_array_get(json_object_get(res.answer, "keys"), 0);
  cr_assert_str_eq(json_string_value(json_object_get(k0, "tenant")), "", "a stranger learnt whose key acme-kek is");
  dj_vattest_result_free(&res);
  vnode_destroy(&stranger);
  /* nor for a workload the tenant's policy refuses (image B), even with B's own recipient */
  cr_assert_eq(layer_attest(&a, db, mb, "sha256:2222222222222222222222222222222222222222222222222222222222222222", rb,
                            &res), 403);
  cr_assert_str_eq(vh_code(&res), "policy");
  assert_no_unwrap(&res, "a refused workload");
  dj_vattest_result_free(&res);

  /* the decryption-oracle attempt: image B's recipient, attesting image A */
  cr_assert_eq(layer_attest(&a, da, ma, la, rb, &res), 403);
  cr_assert_str_eq(vh_code(&res), "recipient-not-in-manifest");
  json_t *rec = vh_audit_record(&v, json_integer_value(json_object_get(res.answer, "audit_seq")));
  cr_assert_str_eq(json_string_value(json_object_get(json_object_get(rec, "body"), "reason")),
                   "recipient-not-in-manifest");
  json_decref(rec);
  dj_vattest_result_free(&res);
  /* a list with image B's recipient among A's own: refused as a whole */
  char *list = dj_xasprintf("%s,%s", ra, rb);
  cr_assert_eq(layer_attest(&a, da, ma, la, list, &res), 403);
  cr_assert_str_eq(vh_code(&res), "recipient-not-in-manifest");
  dj_vattest_result_free(&res);
  free(list);
  /* image B's manifest sent for workload A */
  cr_assert_eq(layer_attest(&a, da, mb, "sha256:2222222222222222222222222222222222222222222222222222222222222222", rb,
                            &res), 403);
  cr_assert_str_eq(vh_code(&res), "image-manifest-mismatch");
  dj_vattest_result_free(&res);
  /* a recipient for another key and a corrupted one fail alike: no oracle */
  cr_assert_eq(layer_attest(&a, dc, mc, "sha256:3333333333333333333333333333333333333333333333333333333333333333", rc,
                            &res), 403);
  cr_assert_str_eq(vh_code(&res), "layer-unwrap");
  char *m1 = dj_xstrdup(json_string_value(json_object_get(json_object_get(res.answer, "error"), "message")));
  dj_vattest_result_free(&res);
  cr_assert_eq(layer_attest(&a, dd, md, "sha256:4444444444444444444444444444444444444444444444444444444444444444", rd,
                            &res), 403);
  cr_assert_str_eq(vh_code(&res), "layer-unwrap");
  cr_assert_str_eq(json_string_value(json_object_get(json_object_get(res.answer, "error"), "message")), m1);
  free(m1);
  dj_vattest_result_free(&res);
  free(ma), free(mb), free(mc), free(md);
  free(pa), free(pb), free(pc), free(pd), free(ra), free(rb), free(rc), free(rd);
  EVP_PKEY_free(kek);
  EVP_PKEY_free(other);
  vnode_destroy(&a);
}

/* The commands: donjon node enroll and donjon attest on the node, donjon-verifier's admin
 * commands for the operator, the tenant and the auditor. */
static int agent(struct vnode *n, char *out, size_t size, const char *const *args)
{
  const char *argv[32];
  size_t k = 0;
  argv[k++] = getenv("DONJON_AGENT");
  cr_assert_not_null(argv[0], "DONJON_AGENT is not set");
  for (; *args; args++)
    argv[k++] = *args;
  const char *common[] = { "--verifier", v.url, "--ca", v.ca, "--tpm", n->sw.tcti, "--state-dir", n->sw.node_dir,
                           "--ak", "ecc-p256", "--ak-handle", "0" };
  for (size_t i = 0; i < DJ_ARRAY_SIZE(common); i++)
    argv[k++] = common[i];
  argv[k] = NULL;
  return vh_run(argv, out, size);
}

static void write_text(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
}

Test(flow, the_commands)
{
  struct vnode n;
  vnode_create(&n, DJ_AK_ECC_P256);
  struct vnode *one[] = { &n };
  vh_operator_policy(&v, one, 1);
  char out[16384], path[PATH_MAX + 64], file[PATH_MAX + 64];

  /* the tenant: its policy and a secret, by command */
  json_t *cfg = vh_config("--serve");
  char cfg_digest[72];
  dj_err err = { 0 };
  cr_assert_eq(dj_vconfig_digest(cfg, cfg_digest, &err), 0);
  snprintf(file, sizeof file, "%s/tenant.json", v.dir);
  char *doc = dj_xasprintf("{\"kind\": \"tenant\", \"tenant\": \"acme\", \"keys\": {\"acme-db\": {"
                           "\"jurisdictions\": [\"FR\"], \"sites\": [\"FR-*\"], \"hardware_classes\": [\"std-1\"],"
                           " \"max_evidence_age\": 60, \"workloads\": [{\"manifest\": \"%s\", \"profile\":"
                           " \"confidential\", \"config\": {\"digest\": \"%s\"}}]}}}",
                           VH_MANIFEST, cfg_digest);
  write_text(file, doc);
  free(doc);
  const char *set[] = { "policy", "set", file, NULL };
  cr_assert_eq(vh_admin(&v, "acme", out, sizeof out, set), 0, "%s", out);
  snprintf(path, sizeof path, "%s/secret.bin", v.dir);
  write_text(path, "the database key");
  const char *put[] = { "key", "put", "acme-db", "--secret-file", path, NULL };
  cr_assert_eq(vh_admin(&v, "acme", out, sizeof out, put), 0, "%s", out);
  const char *list[] = { "key", "list", NULL };
  cr_assert_eq(vh_admin(&v, "acme", out, sizeof out, list), 0, "%s", out);
  cr_assert_not_null(strstr(out, "\"acme-db\""), "%s", out);
  cr_assert_null(strstr(out, "the database key"), "a secret listed: %s", out);

  /* the operator: the node's EK in the inventory, by command */
  char id[65];
  cr_assert_eq(dj_vclient_node_id(&n.node, id, &err), 0, "%s", err.msg);
  snprintf(file, sizeof file, "%s/inventory.json", v.dir);
  doc = dj_xasprintf("{\"entries\": [{\"ek_digest\": \"sha256:%s\", \"site\": \"FR-PAR-1\", \"jurisdiction\":"
                     " \"FR\", \"hardware_class\": \"std-1\"}]}", id);
  write_text(file, doc);
  free(doc);
  const char *inv[] = { "inventory", "import", file, NULL };
  cr_assert_eq(vh_admin(&v, "operator", out, sizeof out, inv), 0, "%s", out);

  /* the node */
  const char *enroll[] = { "node", "enroll", "--name", "rack-3", NULL };
  cr_assert_eq(agent(&n, out, sizeof out, enroll), 0, "%s", out);
  cr_assert_not_null(strstr(out, ": approved"), "%s", out);
  cr_assert_eq(agent(&n, out, sizeof out, enroll), 0, "%s", out);
  cr_assert_not_null(strstr(out, "(already enrolled)"), "%s", out);
  snprintf(file, sizeof file, "%s/workload.json", v.dir);
  char *c = json_dumps(cfg, JSON_COMPACT);
  doc = dj_xasprintf("{\"manifest\": \"%s\", \"profile\": \"confidential\", \"config\": %s}", VH_MANIFEST, c);
  free(c);
  write_text(file, doc);
  free(doc);
  snprintf(path, sizeof path, "%s/keys.json", v.dir);
  const char *attest[] = { "attest", "--key", "acme-db", "--workload", file, "--out", path, NULL };
  cr_assert_eq(agent(&n, out, sizeof out, attest), 0, "%s", out);
  cr_assert_not_null(strstr(out, "decision: allow"), "%s", out);
  struct stat sb;
  cr_assert_eq(stat(path, &sb), 0);
  cr_assert_eq(sb.st_mode & 0777, 0600);
  json_t *keys = NULL;
  cr_assert_eq(dj_json_load_file(path, 4096, &keys, &err), 0, "%s", err.msg);
  char *want = dj_b64url_encode((const uint8_t *) "the database key", 16);
  cr_assert_str_eq(json_string_value(json_object_get(json_object_get(keys, "keys"), "acme-db")), want);
  free(want);
  json_decref(keys);
  /* without the workload: denied, exit 1, the reason printed, nothing written */
  unlink(path);
  const char *denied[] = { "attest", "--key", "acme-db", "--out", path, NULL };
  cr_assert_eq(agent(&n, out, sizeof out, denied), 1, "%s", out);
  cr_assert_not_null(strstr(out, "tenant.workload"), "%s", out);
  cr_assert_neq(access(path, F_OK), 0, "a denial wrote key material");

  /* the operator revokes by command; the auditor reads and verifies */
  const char *revoke[] = { "node", "revoke", id, "--reason", "decommissioned", NULL };
  cr_assert_eq(vh_admin(&v, "operator", out, sizeof out, revoke), 0, "%s", out);
  cr_assert_eq(agent(&n, out, sizeof out, attest), 1, "%s", out);
  cr_assert_not_null(strstr(out, "node-revoked"), "%s", out);
  const char *show[] = { "audit", "show", "--from", "1", "--limit", "1000", NULL };
  cr_assert_eq(vh_admin(&v, "auditor", out, sizeof out, show), 0, "%s", out);
  cr_assert_not_null(strstr(out, "\"type\":\"revoke\""), "%s", out);
  snprintf(path, sizeof path, "%s/auditor.state", v.dir);
  const char *verify[] = { "audit", "verify", "--pubkey", v.audit_pub, "--state", path, NULL };
  cr_assert_eq(vh_admin(&v, "auditor", out, sizeof out, verify), 0, "%s", out);
  cr_assert_not_null(strstr(out, "audit log OK"), "%s", out);
  json_decref(cfg);
  vnode_destroy(&n);
}
