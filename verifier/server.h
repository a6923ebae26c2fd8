/* donjon-verifier's service: HTTPS (OpenSSL, TLS 1.2/1.3) through libevent's evhttp with
 * bufferevent_openssl, N worker threads each with its own event loop, listening socket
 * (SO_REUSEPORT) and store connection. Shared state (rate limits, metrics, policy generation) is
 * guarded by mutexes. The handlers (api_*.c) see one request at a time through struct dj_vreq. */
#ifndef DJ_VERIFIER_SERVER_H
#define DJ_VERIFIER_SERVER_H

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "attest/ekcert.h"
#include "common/err.h"
#include "policy/policy.h"
#include "verifier/config.h"
#include "verifier/seal.h"
#include "verifier/store.h"

struct evhttp_request;
struct event_base;
struct evhttp;
struct event;

enum dj_role { DJ_ROLE_NONE = 0, DJ_ROLE_OPERATOR = 1, DJ_ROLE_TENANT = 2, DJ_ROLE_AUDITOR = 4 };

struct dj_vserver;

/* The parsed policies one worker evaluates with, rebuilt when the generation changes. */
struct dj_vpolicies {
  unsigned generation;
  bool have_operator;
  struct dj_operator_policy op;
  struct dj_ek_trust trust;
  bool trust_ok;
  char trust_error[DJ_ERR_MSG_MAX];
  struct tenant_entry {
    char *tenant;
    bool present;
    struct dj_tenant_policy t;
  } *tenants;
  size_t n_tenants;
  struct key_entry {                 /* key rows read (sealed values only), and ids not found */
    struct dj_vkey *key;             /* NULL: no such key */
    char id[DJ_VNAME_MAX];
  } *keys;
  size_t n_keys;
};

struct dj_vworker {
  struct dj_vserver *srv;
  int index;
  pthread_t thread;
  struct event_base *base;
  struct evhttp *http;
  struct event *tick;
  struct dj_store *st;
  struct dj_vpolicies pol;
  struct dj_vak_cache *akc;          /* prepared AKs (api_attest.c) */
  struct conn_guard *guards;         /* open connections (slow-client deadlines) */
  int n_guards;
  int64_t last_signed;               /* worker 0: the last checkpointed seq */
  int64_t last_checkpoint_ms, last_purge_ms;
};

struct dj_vserver {
  struct dj_vconfig cfg;
  SSL_CTX *ssl;
  struct dj_master_key master;
  EVP_PKEY *audit_key;
  char instance[33];                 /* this process, for nonces it issued (monotonic clock) */
  atomic_uint policy_generation;
  atomic_bool stopping;
  int port;                          /* the bound port */
  int n_workers;
  struct dj_vworker *workers;
  pthread_mutex_t lock;              /* rate limits and metrics */
  struct rate_entry *rates;          /* hash table */
  size_t n_rates, cap_rates;
  struct metrics *metrics;
};

struct dj_vreq {
  struct dj_vworker *w;
  struct evhttp_request *req;
  const char *path;                  /* without the query */
  char query[256];
  const char *param;                 /* {id} of the route, unescaped */
  char param_buf[256];
  enum dj_role role;
  char tenant[DJ_VNAME_MAX];         /* the tenant role's tenant (certificate CN) */
  char peer[64];                     /* source address */
  const char *body;
  size_t body_len;
  int status;
  json_t *resp;                      /* JSON answer, or NULL when text is set */
  char *text;                        /* non-JSON answer (metrics, PEM) */
  const char *content_type;
  const char *reason;                /* decision reason for the metrics (static string) */
};

/* Set an error answer {"error": {"code", "message"}} and return -1. */
int dj_vreq_error(struct dj_vreq *r, int status, const char *code, const char *fmt, ...)
  __attribute__((format(printf, 4, 5)));
/* Parse the body as one JSON object (400 malformed otherwise). */
int dj_vreq_json(struct dj_vreq *r, json_t **out);
int64_t dj_vnow_ms(void);
int64_t dj_vmono_ms(void);

/* Append an audit record in the current transaction (body gets source and actor). */
int dj_vaudit(struct dj_vreq *r, const char *type, json_t *body, int64_t *seq, dj_err *err);
/* The same, and *text (malloc'd) gets the body's canonical JSON as recorded. */
int dj_vaudit_text(struct dj_vreq *r, const char *type, json_t *body, int64_t *seq, char **text, dj_err *err);

/* The current policies of this worker (rebuilt from the store when they changed). */
struct dj_vpolicies *dj_vpolicies_get(struct dj_vworker *w, dj_err *err);
/* A tenant's policy, or NULL when it has none. */
const struct dj_tenant_policy *dj_vpolicies_tenant(struct dj_vworker *w, const char *tenant, dj_err *err);
void dj_vpolicies_free(struct dj_vpolicies *p);
/* A key's row (its value sealed) from this worker's copy, read from the store the first time:
 * 1 found, 0 not, -1 error. Emptied with the policies at the next generation. */
int dj_vpolicies_key(struct dj_vworker *w, const char *id, struct dj_vkey *out, dj_err *err);
/* Bump the generation after a policy or key write commits. */
void dj_vpolicies_changed(struct dj_vserver *srv);

/* Token buckets: true when a request keyed by key may go ahead. */
bool dj_vrate_allow(struct dj_vserver *srv, const char *kind, const char *key, double rate, double burst);
/* Metrics: one decision with its reason. */
void dj_vmetrics_decision(struct dj_vserver *srv, const char *decision, const char *reason);
char *dj_vmetrics_text(struct dj_vserver *srv);

/* Handlers (api_*.c). */
int dj_api_enroll(struct dj_vreq *r);
int dj_api_activate(struct dj_vreq *r);
int dj_api_node_list(struct dj_vreq *r);
int dj_api_node_get(struct dj_vreq *r);
int dj_api_node_approve(struct dj_vreq *r);
int dj_api_node_revoke(struct dj_vreq *r);
int dj_api_inventory(struct dj_vreq *r);
int dj_api_challenge(struct dj_vreq *r);
int dj_api_attest(struct dj_vreq *r);
int dj_api_key_put(struct dj_vreq *r);
int dj_api_key_list(struct dj_vreq *r);
int dj_api_policy_put(struct dj_vreq *r);
int dj_api_policy_get(struct dj_vreq *r);
int dj_api_audit_list(struct dj_vreq *r);
int dj_api_audit_checkpoints(struct dj_vreq *r);
int dj_api_healthz(struct dj_vreq *r);
int dj_api_metrics(struct dj_vreq *r);

void dj_vak_cache_free(struct dj_vak_cache *c);

/* The node as the API shows it. */
json_t *dj_vnode_json(const struct dj_vnode *n);
/* The inventory claim: the node is approved and the inventory lists its EK now, with the placement
 * (site, jurisdiction, class) it is approved at. Read at each attestation, never a stored flag. */
bool dj_vnode_in_inventory(struct dj_store *st, const struct dj_vnode *n);

/* Start the service and run until SIGTERM/SIGINT; ready_fd (>= 0) gets "PORT\n" once listening. */
int dj_vserver_run(struct dj_vconfig *cfg, int ready_fd, dj_err *err);

#endif
