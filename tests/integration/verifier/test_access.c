/* Roles by mutual TLS and tenant isolation; malformed, mistyped, oversized and slow clients get a
 * 4xx or a closed connection, the service keeps serving, and nothing is stored. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/util.h"
#include "images/b64.h"
#include "vharness.h"

static struct vh v;

static void setup(void)
{
  vh_create(&v, "\"nonce_lifetime_ms\": 20000, \"limits\": {\"max_body\": 65536, \"request_timeout_ms\": 1000},");
  vh_start(&v);
}

static void teardown(void)
{
  vh_destroy(&v);
}

TestSuite(access, .init = setup, .fini = teardown, .timeout = 300);

static const char *code_of(json_t *resp)
{
  const char *c = json_string_value(json_object_get(json_object_get(resp, "error"), "code"));
  return c ? c : "";
}

static void expect(const char *role, const char *method, const char *path, json_t *body, long status, const char *code)
{
  json_t *resp = NULL;
  long st = vh_call(&v, role, method, path, body, &resp);
  cr_assert_eq(st, status, "%s %s %s as %s: %ld %s", method, path, code ? code : "", role ? role : "nobody", st,
               code_of(resp));
  if (code)
    cr_assert_str_eq(code_of(resp), code, "%s %s as %s", method, path, role ? role : "nobody");
  json_decref(resp);
}

static json_t *secret(const char *value)
{
  char *b = dj_b64url_encode((const uint8_t *) value, strlen(value));
  json_t *j = json_pack("{s:s, s:s}", "kind", "secret", "value", b);
  free(b);
  return j;
}

Test(access, roles_by_client_certificate_and_no_cross_tenant_access)
{
  expect(NULL, "GET", "/healthz", NULL, 200, NULL);
  expect(NULL, "GET", "/v1/nodes", NULL, 401, "client-certificate");
  expect(NULL, "GET", "/metrics", NULL, 401, "client-certificate");
  expect("acme", "GET", "/v1/nodes", NULL, 403, "role");
  expect("auditor", "GET", "/v1/nodes", NULL, 403, "role");
  expect("operator", "GET", "/v1/audit", NULL, 403, "role");
  expect("acme", "GET", "/v1/audit", NULL, 403, "role");
  expect("operator", "PUT", "/v1/keys/k", NULL, 403, "role");
  expect(NULL, "PUT", "/v1/keys/k", NULL, 401, "client-certificate");
  /* a certificate from another CA ends the TLS handshake: no HTTP answer at all */
  cr_assert_eq(vh_call(&v, "rogue", "GET", "/v1/nodes", NULL, NULL), 0);
  cr_assert_eq(vh_call(&v, "rogue", "GET", "/healthz", NULL, NULL), 0);

  struct vnode n;
  vnode_create(&n, DJ_AK_ECC_P256);
  struct vnode *one[] = { &n };
  vh_operator_policy(&v, one, 1);
  expect("acme", "PUT", "/v1/policy/operator", json_pack("{s:s}", "kind", "operator"), 403, "role");
  vh_tenant_policy(&v, NULL);
  json_t *s = secret("acme's");
  expect("acme", "PUT", "/v1/keys/acme-db", s, 201, NULL);
  long long head = vh_audit_head(&v);
  json_t *s2 = secret("beta's");
  expect("beta", "PUT", "/v1/keys/acme-db", s2, 403, "key-owned-by-another-tenant");
  json_t *rec = vh_audit_record(&v, head + 1);
  cr_assert_str_eq(json_string_value(json_object_get(json_object_get(rec, "body"), "reason")),
                   "key-owned-by-another-tenant");
  cr_assert_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(rec, "body"), "actor"), "name")),
                   "beta");
  json_decref(rec);
  json_t *keys = NULL;
  cr_assert_eq(vh_call(&v, "beta", "GET", "/v1/keys", NULL, &keys), 200);
  cr_assert_eq(json_array_size(json_object_get(keys, "keys")), 0, "beta sees acme's keys");
  json_decref(keys);
  cr_assert_eq(vh_call(&v, "acme", "GET", "/v1/keys", NULL, &keys), 200);
  cr_assert_eq(json_array_size(json_object_get(keys, "keys")), 1);
  cr_assert_null(strstr(json_dumps(keys, 0), "value"), "a secret listed");
  json_decref(keys);
  expect("beta", "GET", "/v1/policy/tenants/acme", NULL, 403, "other-tenant");
  json_t *doc = json_pack("{s:s, s:s, s:{s:{s:[s], s:[s], s:[s], s:i, s:[{s:s, s:s, s:{s:s}}]}}}", "kind", "tenant",
                          "tenant", "acme", "keys", "acme-db", "jurisdictions", "FR", "sites", "*", "hardware_classes",
                          "std-1", "max_evidence_age", 60, "workloads", "manifest", VH_MANIFEST, "profile", "x", "config",
                          "digest", VH_MANIFEST);
  expect("beta", "PUT", "/v1/policy/tenants/acme", doc, 403, "other-tenant");
  expect("beta", "PUT", "/v1/policy/tenants/beta", doc, 400, "policy-invalid"); /* names tenant acme */
  /* a tenant cannot widen the operator: a jurisdiction the operator does not serve */
  json_array_set_new(json_object_get(json_object_get(json_object_get(doc, "keys"), "acme-db"), "jurisdictions"), 0,
                     json_string("US"));
  json_t *resp = NULL;
  cr_assert_eq(vh_call(&v, "acme", "PUT", "/v1/policy/tenants/acme", doc, &resp), 400);
  cr_assert_str_eq(code_of(resp), "policy-invalid");
  cr_assert_gt(json_array_size(json_object_get(resp, "errors")), 0);
  json_decref(resp);
  json_decref(doc);

  /* the admin commands say why */
  char out[4096];
  const char *list[] = { "node", "list", NULL };
  cr_assert_eq(vh_admin(&v, "acme", out, sizeof out, list), 1);
  cr_assert_not_null(strstr(out, "403 role"), "%s", out);
  cr_assert_eq(vh_admin(&v, "operator", out, sizeof out, list), 0, "%s", out);
  json_t *m = NULL;
  struct dj_vclient *c = vh_client(&v, "operator");
  long st = 0;
  char *text = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_vclient_request(c, "GET", "/metrics", NULL, &st, &m, &text, &err), 0, "%s", err.msg);
  cr_assert_eq(st, 200);
  cr_assert_not_null(strstr(text, "donjon_verifier_requests_total{route=\"key_put\",status=\"403\"} 2"), "%s", text);
  cr_assert_not_null(strstr(text, "donjon_verifier_request_duration_seconds_bucket"), "%s", text);
  free(text);
  dj_vclient_close(c);
  vnode_destroy(&n);
}

/* ---- bad clients ---------------------------------------------------------------------------- */

static int tcp_connect(void)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) v.port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  cr_assert_eq(connect(fd, (struct sockaddr *) &a, sizeof a), 0);
  return fd;
}

/* Whether the server closed fd within ms (reading and discarding what it sent). */
static bool closed_within(int fd, int ms)
{
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (;;) {
    clock_gettime(CLOCK_MONOTONIC, &t);
    int left = ms - (int) ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000);
    if (left <= 0)
      return false;
    struct pollfd p = { .fd = fd, .events = POLLIN };
    if (poll(&p, 1, left) <= 0)
      continue;
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0)
      return true;
  }
}

Test(access, malformed_oversized_and_slow_clients)
{
  struct vnode n;
  vnode_create(&n, DJ_AK_ECC_P256);
  struct vnode *one[] = { &n };
  vh_operator_policy(&v, one, 1);
  vnode_enroll(&v, &n);
  vnode_approve(&v, &n, "FR-PAR-1", "FR", "std-1");
  long long head = vh_audit_head(&v);
  json_t *before = NULL;
  cr_assert_eq(vh_call(&v, "operator", "GET", "/v1/nodes", NULL, &before), 200);

  struct dj_vclient *c = vh_client(&v, NULL);
  long st;
  json_t *resp = NULL;
  dj_err err = { 0 };
  /* malformed JSON, wrong types, unknown members, a node that is not there */
  static const char *const bodies[][2] = {
    { "/v1/challenge", "{\"node_id\": " },
    { "/v1/challenge", "[1, 2]" },
    { "/v1/challenge", "{\"node_id\": 7}" },
    { "/v1/challenge", "{\"node_id\": \"x\", \"extra\": 1}" },
    { "/v1/attest", "{\"node_id\": \"00\"}" },
    { "/v1/attest", "{\"nonce\": [], \"evidence\": \"\"}" },
    { "/v1/nodes", "{\"name\": \"n\", \"ek_public\": \"!!\", \"ak_public\": \"\"}" },
    { "/v1/nodes", "{\"name\": 3}" },
    { "/v1/nodes/00/activate", "{\"challenge_id\": \"x\", \"secret\": 1}" },
  };
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    json_error_t je;
    json_t *b = json_loads(bodies[i][1], JSON_DECODE_ANY, &je);
    /* the invalid ones go as raw text */
    char *raw = b ? NULL : dj_xstrdup(bodies[i][1]);
    if (b && !json_is_object(b)) {
      raw = json_dumps(b, JSON_ENCODE_ANY);
      json_decref(b);
      b = NULL;
    }
    if (raw) {
      char cmd[8192];
      snprintf(cmd, sizeof cmd, "curl -s -o /dev/null -w '%%{http_code}' --cacert %s -X POST --data-binary '%s' %s%s",
               v.ca, raw, v.url, bodies[i][0]);
      char out[64];
      const char *argv[] = { "sh", "-c", cmd, NULL };
      vh_run(argv, out, sizeof out);
      cr_assert_str_eq(out, "400", "%s %s: %s", bodies[i][0], raw, out);
      free(raw);
    } else {
      cr_assert_eq(dj_vclient_request(c, "POST", bodies[i][0], b, &st, &resp, NULL, &err), 0, "%s", err.msg);
      cr_assert_eq(st, 400, "%s %s: %ld", bodies[i][0], bodies[i][1], st);
      cr_assert_str_eq(code_of(resp), "malformed");
      json_decref(resp);
      json_decref(b);
    }
  }
  /* a malformed attestation does not consume the nonce it carries */
  struct dj_vchallenge ch;
  cr_assert_eq(dj_vclient_challenge(c, n.id, &ch, &err), 0, "%s", err.msg);
  json_t *cfg = vh_config("--serve");
  struct dj_vattest_args args = { .manifest = VH_MANIFEST, .profile = "confidential", .config = cfg };
  struct vh_attest a = { .args = &args, .nonce = ch.nonce, .body_hook = NULL };
  char *nb = dj_b64url_encode(ch.nonce, 32);
  json_t *bad = json_pack("{s:s, s:s, s:{}, s:{}, s:{}, s:i}", "node_id", n.id, "nonce", nb, "evidence", "ephemeral_key",
                          "workload", "keys", 5);
  cr_assert_eq(dj_vclient_request(c, "POST", "/v1/attest", bad, &st, &resp, NULL, &err), 0);
  cr_assert_eq(st, 400);
  json_decref(resp);
  json_decref(bad);
  free(nb);
  cr_assert_eq(vh_audit_head(&v), head, "a malformed request left an audit record");
  struct dj_vattest_result res;
  cr_assert_eq(vh_attest(&v, &n, &a, &res), 200, "the nonce was consumed by a malformed request: %s", vh_code(&res));
  dj_vattest_result_free(&res);
  head++;

  /* oversized: refused (413) or the connection closed, nothing stored */
  size_t big = 200 * 1024;
  char *pad = dj_xmalloc(big + 1);
  memset(pad, 'a', big);
  pad[big] = '\0';
  json_t *huge = json_pack("{s:s}", "node_id", pad);
  st = 0;
  int r = dj_vclient_request(c, "POST", "/v1/challenge", huge, &st, &resp, NULL, &err);
  cr_assert(r < 0 || st == 413, "oversized body: %ld", st);
  json_decref(resp);
  json_decref(huge);
  free(pad);
  dj_vclient_close(c);

  /* slow clients: a TCP connection that never speaks, and a TLS one that trickles its headers
   * (python's ssl: a client that is not built on the libraries under test) while others are served */
  int idle = tcp_connect();
  char port[16], out[256], script[PATH_MAX];
  snprintf(port, sizeof port, "%d", v.port);
  snprintf(script, sizeof script, "%s/tests/integration/verifier/trickle.py", getenv("DJ_SOURCE_ROOT"));
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    const char *argv[] = { "python3", script, port, v.ca, "6", NULL };
    int rc = vh_run(argv, out, sizeof out);
    if (rc != 0)
      fprintf(stderr, "trickle: %s", out);
    _exit(rc);
  }
  expect(NULL, "GET", "/healthz", NULL, 200, NULL);
  int st_trickle;
  waitpid(pid, &st_trickle, 0);
  cr_assert(WIFEXITED(st_trickle) && WEXITSTATUS(st_trickle) == 0, "a trickling client is still connected");
  cr_assert(closed_within(idle, 3000), "a silent client is still connected");
  close(idle);

  expect(NULL, "GET", "/healthz", NULL, 200, NULL);
  cr_assert_eq(vh_audit_head(&v), head, "bad clients changed the audit log");
  json_t *after = NULL;
  cr_assert_eq(vh_call(&v, "operator", "GET", "/v1/nodes", NULL, &after), 200);
  json_object_del(json_array_get(json_object_get(before, "nodes"), 0), "counters");
  json_object_del(json_array_get(json_object_get(after, "nodes"), 0), "counters");
  json_object_del(json_array_get(json_object_get(before, "nodes"), 0), "updated_ms");
  json_object_del(json_array_get(json_object_get(after, "nodes"), 0), "updated_ms");
  cr_assert(json_equal(before, after), "bad clients changed a node");
  json_decref(before);
  json_decref(after);
  json_decref(cfg);
  vnode_destroy(&n);
}

Test(access, challenges_are_rate_limited_per_node)
{
  struct vnode n;
  vnode_create(&n, DJ_AK_ECC_P256);
  struct vnode *one[] = { &n };
  vh_operator_policy(&v, one, 1);
  vnode_enroll(&v, &n);
  struct dj_vclient *c = vh_client(&v, NULL);
  json_t *body = json_pack("{s:s}", "node_id", n.id);
  int created = 0, limited = 0;
  dj_err err = { 0 };
  for (int i = 0; i < 60; i++) { /* the default bucket: 20/s, a burst of 40 */
    long st = 0;
    json_t *resp = NULL;
    cr_assert_eq(dj_vclient_request(c, "POST", "/v1/challenge", body, &st, &resp, NULL, &err), 0, "%s", err.msg);
    if (st == 201)
      created++;
    else if (st == 429 && strcmp(code_of(resp), "rate-limited") == 0)
      limited++;
    else
      cr_assert_fail("challenge %d: HTTP %ld %s", i, st, code_of(resp));
    json_decref(resp);
  }
  cr_assert_geq(created, 40, "the burst was not allowed: %d", created);
  cr_assert_gt(limited, 0, "60 challenges at once were never limited");
  json_decref(body);
  dj_vclient_close(c);
  vnode_destroy(&n);
}
