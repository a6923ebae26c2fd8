/* A real donjon-verifier on 127.0.0.1 for tests: a throw-away CA, server and client certificates
 * made with OpenSSL at run time in the test's temp dir, a config, `init`, then `serve` started and
 * stopped by PID; and nodes on real swtpm (tests/integration/attest/swtpm.h) enrolled through the
 * client library. */
#ifndef DJ_TEST_VHARNESS_H
#define DJ_TEST_VHARNESS_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

#include "attest/node.h"
#include "swtpm.h"
#include "verifier/client.h"

struct vh {
  char dir[PATH_MAX];
  char config[PATH_MAX + 32], db[PATH_MAX + 32], audit_pub[PATH_MAX + 32], ca[PATH_MAX + 32];
  char url[64];
  int port;
  pid_t pid;
  char extra[1024];            /* extra config members, e.g. "\"nonce_lifetime_ms\": 300," */
};

/* Certificates, config and init (extra: more config members, may be NULL). */
void vh_create(struct vh *v, const char *extra);
/* Start serve and wait for its port on a pipe. */
void vh_start(struct vh *v);
void vh_stop(struct vh *v);      /* SIGTERM, reap: a clean stop */
void vh_kill9(struct vh *v);     /* SIGKILL, reap */
void vh_destroy(struct vh *v);

/* A file of the harness dir: "operator.pem", "ca.pem"... (static buffer per slot 0-3). */
const char *vh_path(struct vh *v, const char *name, int slot);

/* A client with role "operator", "acme", "beta" (tenants), "auditor", "rogue" (a certificate from
 * another CA) or NULL (no certificate). */
struct dj_vclient *vh_client(struct vh *v, const char *role);
/* One call; returns the HTTP status (0 when no answer came, e.g. the TLS handshake was refused). */
long vh_call(struct vh *v, const char *role, const char *method, const char *path, json_t *body, json_t **resp);
/* Run donjon-verifier with role's certificate (--verifier, --ca, --cert, --key added); output in out. */
int vh_admin(struct vh *v, const char *role, char *out, size_t size, const char *const *args);

/* The audit record of seq, parsed ({"body", "seq", "time", "type"}); asserts it exists. */
json_t *vh_audit_record(struct vh *v, long long seq);
long long vh_audit_head(struct vh *v);

/* A node: swtpm with its own manufacturer CA, a dj_node on it. */
struct vnode {
  struct swtpm sw;
  struct dj_node node;
  char id[65];
};
void vnode_create(struct vnode *n, enum dj_ak_kind ak);
void vnode_destroy(struct vnode *n);
/* Enrol through the client library (asserts success); returns the status. */
const char *vnode_enroll(struct vh *v, struct vnode *n);
/* Approve as the operator. */
void vnode_approve(struct vh *v, struct vnode *n, const char *site, const char *jurisdiction, const char *cls);

/* The operator policy trusting the EK CAs of the given nodes (sites FR-PAR-1/FR, FR-LYS-1/FR,
 * DE-FRA-1/DE; class std-1 with PCR 0-7 = zeros, as swtpm has them): the document, and set. */
json_t *vh_operator_doc(struct vnode *const *nodes, size_t n);
void vh_operator_policy(struct vh *v, struct vnode *const *nodes, size_t n);

/* Run a command, with its output (stdout+stderr) in out; returns the exit status. */
int vh_run(const char *const *argv, char *out, size_t size);

#endif

/* One attestation of node n, with a thing changed where a test asks. */
struct vh_attest {
  const struct dj_vattest_args *args;
  const char *node_id;                         /* sent as node_id (NULL: n's) */
  const char *challenge_node;                  /* whose nonce (NULL: the node_id sent) */
  const uint8_t *nonce;                        /* a nonce to reuse instead of a challenge */
  EVP_PKEY *bind_key;                          /* key in the binding (NULL: the one sent) */
  const struct dj_vattest_args *bind_args;     /* workload in the binding (NULL: args) */
  void (*ev_hook)(struct dj_evidence *ev, void *ctx);
  void (*body_hook)(json_t *body, void *ctx);
  void *ctx;
  uint8_t used_nonce[32];                      /* out */
};
/* Returns the HTTP status; res (free with dj_vattest_result_free) has the answer and releases. */
long vh_attest(struct vh *v, struct vnode *n, struct vh_attest *a, struct dj_vattest_result *res);
/* The answer's error code ("" when none). */
const char *vh_code(const struct dj_vattest_result *res);

/* The test workload: manifest sha256:aaaa..., profile confidential, /bin/app --serve. */
extern const char *const VH_MANIFEST;
json_t *vh_config(const char *arg1);
/* Tenant acme's policy: keys acme-db (secret) and acme-kek, FR, FR-PAR-*, std-1, that workload. */
void vh_tenant_policy(struct vh *v, const char *manifest2);

/* An image manifest with one encrypted layer (digest sha256:<tag>) whose ocicrypt private options
 * (*privopts, a fresh key) are a JWE to kek with alg (enum dj_jwe_alg), the layer's recipient
 * (*recipient, base64 of the JWE as in the keys.jwe annotation; corrupt: one byte of its wrapped
 * key changed); all malloc'd. digest: the manifest's sha256. */
char *vh_layer_manifest(EVP_PKEY *kek, int alg, const char *tag, bool corrupt, char **privopts, char **recipient,
                        char digest[72]);
