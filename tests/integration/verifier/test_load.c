/* 20 concurrent clients for 30 s (attestations with quotes from a real swtpm, and replays of them),
 * then kill -9 under that load and a restart: every answer has its audit record, no record is
 * duplicated or lost from the chain, no nonce is accepted twice, `audit verify` passes and the
 * service serves again. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#include "common/json.h"
#include "common/util.h"
#include "fastquote.h"
#include "images/b64.h"
#include "vharness.h"

#define CLIENTS 20
#define SECONDS 30

static struct vh v;
static struct vnode n;
static struct fastquote fq;
static atomic_bool stop;

struct answer {
  long long seq;
  char nonce[65];
  bool allowed;
};

struct client {
  pthread_t thread;
  struct answer *answers;
  size_t n, cap;
  size_t replays_denied, errors;
};

static void hex(const uint8_t *b, size_t len, char *out)
{
  for (size_t i = 0; i < len; i++)
    snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void note(struct client *c, const struct dj_vattest_result *res, const uint8_t nonce[32])
{
  if (c->n == c->cap) {
    c->cap = c->cap ? 2 * c->cap : 1024;
    c->answers = dj_xrealloc(c->answers, c->cap * sizeof *c->answers);
  }
  struct answer *a = &c->answers[c->n++];
  a->seq = json_integer_value(json_object_get(res->answer, "audit_seq"));
  hex(nonce, 32, a->nonce);
  a->allowed = res->allowed;
}

static void *client_run(void *arg)
{
  struct client *c = arg;
  struct dj_vclient *vc = vh_client(&v, NULL);
  json_t *cfg = vh_config("--serve");
  const char *keys[] = { "acme-db" };
  struct dj_vattest_args args = { .keys = keys, .n_keys = 1, .manifest = VH_MANIFEST, .profile = "confidential",
                                  .config = cfg };
  dj_err err = { 0 };
  for (unsigned i = 0; !atomic_load(&stop); i++) {
    struct dj_vchallenge ch;
    if (dj_vclient_challenge(vc, n.id, &ch, &err) < 0) {
      c->errors++;
      break;
    }
    EVP_PKEY *eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    uint8_t binding[32];
    struct dj_evidence ev;
    if (dj_vclient_binding(&args, ch.nonce, eph, binding, &err) < 0 || fq_quote(&fq, binding, &ev, &err) < 0) {
      EVP_PKEY_free(eph);
      c->errors++;
      break;
    }
    json_t *body = dj_vclient_attest_body(&args, n.id, ch.nonce, &ev, eph, &err);
    dj_evidence_free(&ev);
    struct dj_vattest_result res;
    int r = dj_vclient_attest_send(vc, body, eph, &res, &err);
    if (r == 0)
      note(c, &res, ch.nonce);
    dj_vattest_result_free(&res);
    if (r == 0 && i % 5 == 4) { /* the same request again: a replay, denied */
      r = dj_vclient_attest_send(vc, body, eph, &res, &err);
      if (r == 0) {
        note(c, &res, ch.nonce);
        c->replays_denied += !res.allowed &&
                             strcmp(json_string_value(json_object_get(json_object_get(res.answer, "error"), "code")) ?: "",
                                    "nonce-used") == 0;
      }
      dj_vattest_result_free(&res);
    }
    json_decref(body);
    EVP_PKEY_free(eph);
    if (r < 0) {
      c->errors++; /* the verifier was killed */
      break;
    }
  }
  json_decref(cfg);
  dj_vclient_close(vc);
  return NULL;
}

struct record {
  char nonce[65];
  bool allowed;
  bool present;
};

static void setup(void)
{
  vh_create(&v, "\"nonce_lifetime_ms\": 60000, \"limits\": {\"challenges_per_node\": 1000000, "
                "\"challenge_burst_per_node\": 1000000, \"challenges_per_address\": 1000000, "
                "\"challenge_burst_per_address\": 1000000, \"max_outstanding_nonces\": 100000},");
  vh_start(&v);
  vnode_create(&n, DJ_AK_ECC_P256);
}

static void teardown(void)
{
  vnode_destroy(&n);
  vh_destroy(&v);
}

TestSuite(load, .init = setup, .fini = teardown, .timeout = 600);

Test(load, twenty_clients_for_thirty_seconds_then_kill_9_and_restart)
{
  struct vnode *one[] = { &n };
  vh_operator_policy(&v, one, 1);
  vh_tenant_policy(&v, NULL);
  char *b = dj_b64url_encode((const uint8_t *) "k", 1);
  json_t *kb = json_pack("{s:s, s:s}", "kind", "secret", "value", b);
  cr_assert_eq(vh_call(&v, "acme", "PUT", "/v1/keys/acme-db", kb, NULL), 201);
  json_decref(kb);
  free(b);
  vnode_enroll(&v, &n);
  vnode_approve(&v, &n, "FR-PAR-1", "FR", "std-1");
  dj_err err = { 0 };
  cr_assert_eq(fq_open(&fq, &n.node, "sha256:0,1,2,3,4,5,6,7,23", &err), 0, "%s", err.msg);

  static struct client clients[CLIENTS];
  for (int i = 0; i < CLIENTS; i++)
    cr_assert_eq(pthread_create(&clients[i].thread, NULL, client_run, &clients[i]), 0);
  struct timespec load = { SECONDS, 0 };
  nanosleep(&load, NULL); /* the load's duration is the test's own requirement */
  vh_kill9(&v);           /* under load */
  atomic_store(&stop, true);
  size_t answers = 0, allowed = 0, replays = 0;
  for (int i = 0; i < CLIENTS; i++) {
    pthread_join(clients[i].thread, NULL);
    answers += clients[i].n;
    replays += clients[i].replays_denied;
    for (size_t k = 0; k < clients[i].n; k++)
      allowed += clients[i].answers[k].allowed;
  }
  cr_log_info("load: %zu answers (%zu allowed, %zu replays denied) from %d clients in %d s", answers, allowed, replays,
              CLIENTS, SECONDS);
  cr_assert_gt(allowed, 100, "too little load to mean anything: %zu", allowed);
  cr_assert_gt(replays, 10);

  vh_start(&v);
  char out[8192];
  const char *verify[] = { "audit", "verify", "--pubkey", v.audit_pub, NULL };
  cr_assert_eq(vh_admin(&v, "auditor", out, sizeof out, verify), 0, "after kill -9: %s", out);
  cr_log_info("%s", out);

  /* every record, by seq */
  long long head = vh_audit_head(&v);
  struct record *recs = dj_xcalloc((size_t) head + 1, sizeof *recs);
  for (long long from = 1; from <= head;) {
    char path[96];
    snprintf(path, sizeof path, "/v1/audit?from=%lld&limit=1000", from);
    json_t *resp = NULL;
    cr_assert_eq(vh_call(&v, "auditor", "GET", path, NULL, &resp), 200);
    size_t i;
    json_t *r;
    cr_assert_gt(json_array_size(json_object_get(resp, "records")), 0);
    json_array_foreach(json_object_get(resp, "records"), i, r) {
      long long seq = json_integer_value(json_object_get(r, "seq"));
      cr_assert_eq(seq, from, "records out of order or missing");
      json_error_t je;
      json_t *rec = json_loads(json_string_value(json_object_get(r, "record")), 0, &je);
      json_t *body = json_object_get(rec, "body");
      const char *nonce = json_string_value(json_object_get(body, "nonce"));
      if (nonce) {
        snprintf(recs[seq].nonce, sizeof recs[seq].nonce, "%s", nonce);
        recs[seq].allowed = strcmp(json_string_value(json_object_get(body, "decision")), "allow") == 0;
        recs[seq].present = true;
      }
      json_decref(rec);
      from++;
    }
    json_decref(resp);
  }
  /* every answer a client got is in the log as answered: nothing lost */
  for (int i = 0; i < CLIENTS; i++)
    for (size_t k = 0; k < clients[i].n; k++) {
      const struct answer *a = &clients[i].answers[k];
      cr_assert(a->seq >= 1 && a->seq <= head && recs[a->seq].present, "answer with audit seq %lld not in the log",
                a->seq);
      cr_assert_str_eq(recs[a->seq].nonce, a->nonce, "audit seq %lld records another request", a->seq);
      cr_assert_eq(recs[a->seq].allowed, a->allowed, "audit seq %lld records another decision", a->seq);
    }
  /* no nonce accepted twice */
  size_t allowed_records = 0;
  char (*nonces)[65] = dj_xcalloc((size_t) head + 1, 65);
  for (long long s = 1; s <= head; s++)
    if (recs[s].present && recs[s].allowed)
      memcpy(nonces[allowed_records++], recs[s].nonce, 65);
  qsort(nonces, allowed_records, 65, (int (*)(const void *, const void *)) strcmp);
  for (size_t i = 1; i < allowed_records; i++)
    cr_assert_str_neq(nonces[i - 1], nonces[i], "nonce %s accepted twice", nonces[i]);
  free(nonces);
  cr_assert_geq(allowed_records, allowed);
  cr_assert_leq(allowed_records, allowed + CLIENTS, "more releases recorded than requests in flight could explain");
  free(recs);

  /* and it serves again */
  struct dj_vclient *vc = vh_client(&v, NULL);
  json_t *cfg = vh_config("--serve");
  const char *keys[] = { "acme-db" };
  struct dj_vattest_args args = { .keys = keys, .n_keys = 1, .manifest = VH_MANIFEST, .profile = "confidential",
                                  .config = cfg };
  struct dj_vchallenge ch;
  cr_assert_eq(dj_vclient_challenge(vc, n.id, &ch, &err), 0, "%s", err.msg);
  EVP_PKEY *eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  uint8_t binding[32];
  struct dj_evidence ev;
  cr_assert_eq(dj_vclient_binding(&args, ch.nonce, eph, binding, &err), 0);
  cr_assert_eq(fq_quote(&fq, binding, &ev, &err), 0, "%s", err.msg);
  json_t *body = dj_vclient_attest_body(&args, n.id, ch.nonce, &ev, eph, &err);
  struct dj_vattest_result res;
  cr_assert_eq(dj_vclient_attest_send(vc, body, eph, &res, &err), 0, "%s", err.msg);
  cr_assert(res.allowed, "after the restart: %s", json_dumps(res.answer, 0));
  dj_vattest_result_free(&res);
  dj_evidence_free(&ev);
  json_decref(body);
  json_decref(cfg);
  EVP_PKEY_free(eph);
  dj_vclient_close(vc);
  fq_close(&fq);
  for (int i = 0; i < CLIENTS; i++)
    free(clients[i].answers);
}
