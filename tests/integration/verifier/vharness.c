#include "vharness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <openssl/sha.h>

#include "common/json.h"
#include "common/util.h"
#include "images/b64.h"
#include "images/jwe.h"

static const char *verifier_bin(void)
{
  const char *v = getenv("DONJON_VERIFIER_BIN");
  cr_assert_not_null(v, "DONJON_VERIFIER_BIN is not set (meson sets it)");
  return v;
}

int vh_run(const char *const *argv, char *out, size_t size)
{
  int p[2];
  cr_assert_eq(pipe(p), 0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    dup2(p[1], 1);
    dup2(p[1], 2);
    close(p[0]);
    execvp(argv[0], (char *const *) argv);
    _exit(127);
  }
  close(p[1]);
  size_t n = 0;
  char tmp[4096];
  ssize_t r;
  while ((r = read(p[0], tmp, sizeof tmp)) > 0 || (r < 0 && errno == EINTR)) {
    if (r <= 0)
      continue;
    size_t k = out && n + (size_t) r < size ? (size_t) r : (out && size > n + 1 ? size - n - 1 : 0);
    if (out && k)
      memcpy(out + n, tmp, k);
    n += k;
  }
  if (out && size)
    out[n < size ? n : size - 1] = '\0';
  close(p[0]);
  int st;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void sh(const char *cmd)
{
  const char *argv[] = { "sh", "-ec", cmd, NULL };
  char out[4096];
  int st = vh_run(argv, out, sizeof out);
  cr_assert_eq(st, 0, "%s: %s", cmd, out);
}

const char *vh_path(struct vh *v, const char *name, int slot)
{
  static char buf[4][PATH_MAX + 64];
  snprintf(buf[slot], sizeof buf[slot], "%s/%s", v->dir, name);
  return buf[slot];
}

void vh_create(struct vh *v, const char *extra)
{
  memset(v, 0, sizeof *v);
  snprintf(v->dir, sizeof v->dir, "/tmp/dj-verifier-XXXXXX");
  cr_assert_not_null(mkdtemp(v->dir));
  snprintf(v->extra, sizeof v->extra, "%s", extra ? extra : "");
  char cmd[8192];
  /* a CA for the verifier's TLS and its clients, another one for a rogue client */
  snprintf(cmd, sizeof cmd,
           "cd %s\n"
           "ca() { openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $1.key -out $1.pem"
           " -days 2 -subj \"/CN=$1\" 2>/dev/null; }\n"
           "leaf() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $2.key -out $2.csr"
           " -subj \"$3\" 2>/dev/null; printf '%%s\\n' \"$4\" > $2.ext;"
           " openssl x509 -req -in $2.csr -CA $1.pem -CAkey $1.key -CAcreateserial -out $2.pem -days 2"
           " -extfile $2.ext 2>/dev/null; }\n"
           "ca ca; ca otherca\n"
           "leaf ca server /CN=verifier subjectAltName=IP:127.0.0.1\n"
           "leaf ca operator /O=donjon/OU=operator/CN=ops basicConstraints=CA:FALSE\n"
           "leaf ca acme /O=donjon/OU=tenant/CN=acme basicConstraints=CA:FALSE\n"
           "leaf ca beta /O=donjon/OU=tenant/CN=beta basicConstraints=CA:FALSE\n"
           "leaf ca auditor /O=donjon/OU=auditor/CN=audit basicConstraints=CA:FALSE\n"
           "leaf otherca rogue /O=donjon/OU=operator/CN=ops basicConstraints=CA:FALSE\n",
           v->dir);
  sh(cmd);
  snprintf(v->config, sizeof v->config, "%s/config.json", v->dir);
  snprintf(v->db, sizeof v->db, "%s/db.sqlite", v->dir);
  snprintf(v->audit_pub, sizeof v->audit_pub, "%s/audit.pub", v->dir);
  snprintf(v->ca, sizeof v->ca, "%s/ca.pem", v->dir);
  FILE *f = fopen(v->config, "w");
  cr_assert_not_null(f);
  fprintf(f,
          "{\"listen\": \"127.0.0.1:0\", \"workers\": 2, %s\n"
          " \"tls\": {\"certificate\": \"%s/server.pem\", \"key\": \"%s/server.key\", \"client_ca\": \"%s/ca.pem\"},\n"
          " \"database\": \"%s\", \"master_key\": \"%s/master.key\", \"audit_key\": \"%s/audit.key\"}\n",
          v->extra, v->dir, v->dir, v->dir, v->db, v->dir, v->dir);
  fclose(f);
  char out[4096];
  const char *argv[] = { verifier_bin(), "init", "--config", v->config, NULL };
  cr_assert_eq(vh_run(argv, out, sizeof out), 0, "init: %s", out);
  f = fopen(v->audit_pub, "w");
  fputs(out, f);
  fclose(f);
}

void vh_start(struct vh *v)
{
  int p[2];
  cr_assert_eq(pipe(p), 0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a crashed test leaves no verifier behind */
    close(p[0]);
    char fd[16], log[PATH_MAX + 32];
    snprintf(fd, sizeof fd, "%d", p[1]);
    snprintf(log, sizeof log, "%s/serve.log", v->dir);
    int l = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(l, 2);
    execl(verifier_bin(), "donjon-verifier", "serve", "--config", v->config, "--ready-fd", fd, (char *) NULL);
    _exit(127);
  }
  close(p[1]);
  char buf[32] = "";
  ssize_t n;
  while ((n = read(p[0], buf, sizeof buf - 1)) < 0 && errno == EINTR) { /* the port, once it listens */
  }
  close(p[0]);
  cr_assert_gt(n, 0, "donjon-verifier serve did not start (see %s/serve.log)", v->dir);
  buf[n] = '\0';
  v->port = atoi(buf);
  v->pid = pid;
  snprintf(v->url, sizeof v->url, "https://127.0.0.1:%d", v->port);
}

static void reap(struct vh *v, int sig)
{
  if (v->pid <= 0)
    return;
  kill(v->pid, sig);
  int st;
  while (waitpid(v->pid, &st, 0) < 0 && errno == EINTR) {
  }
  v->pid = 0;
}

void vh_stop(struct vh *v)
{
  reap(v, SIGTERM);
}

void vh_kill9(struct vh *v)
{
  reap(v, SIGKILL);
}

void vh_destroy(struct vh *v)
{
  vh_kill9(v);
  if (v->dir[0]) {
    const char *argv[] = { "rm", "-rf", "--one-file-system", v->dir, NULL };
    vh_run(argv, NULL, 0);
  }
}

struct dj_vclient *vh_client(struct vh *v, const char *role)
{
  char cert[PATH_MAX + 64], key[PATH_MAX + 64];
  struct dj_vclient_opts o = { .url = v->url, .ca = v->ca, .timeout_ms = 20000 };
  if (role) {
    snprintf(cert, sizeof cert, "%s/%s.pem", v->dir, role);
    snprintf(key, sizeof key, "%s/%s.key", v->dir, role);
    o.cert = cert;
    o.key = key;
  }
  struct dj_vclient *c = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_vclient_open(&o, &c, &err), 0, "%s", err.msg);
  return c;
}

long vh_call(struct vh *v, const char *role, const char *method, const char *path, json_t *body, json_t **resp)
{
  struct dj_vclient *c = vh_client(v, role);
  long status = 0;
  json_t *r = NULL;
  dj_err err = { 0 };
  if (dj_vclient_request(c, method, path, body, &status, &r, NULL, &err) < 0)
    status = 0;
  dj_vclient_close(c);
  if (resp)
    *resp = r;
  else
    json_decref(r);
  return status;
}

int vh_admin(struct vh *v, const char *role, char *out, size_t size, const char *const *args)
{
  const char *argv[32];
  size_t n = 0;
  char cert[PATH_MAX + 64], key[PATH_MAX + 64];
  snprintf(cert, sizeof cert, "%s/%s.pem", v->dir, role);
  snprintf(key, sizeof key, "%s/%s.key", v->dir, role);
  argv[n++] = verifier_bin();
  for (; *args && n < 20; args++)
    argv[n++] = *args;
  const char *conn[] = { "--verifier", v->url, "--ca", v->ca, "--cert", cert, "--key", key };
  for (size_t i = 0; i < 8; i++)
    argv[n++] = conn[i];
  argv[n] = NULL;
  return vh_run(argv, out, size);
}

json_t *vh_audit_record(struct vh *v, long long seq)
{
  char path[128];
  snprintf(path, sizeof path, "/v1/audit?from=%lld&limit=1", seq);
  json_t *resp = NULL;
  cr_assert_eq(vh_call(v, "auditor", "GET", path, NULL, &resp), 200);
  json_t *rec = json_array_get(json_object_get(resp, "records"), 0);
  cr_assert_not_null(rec, "no audit record %lld", seq);
  json_error_t je;
  json_t *r = json_loads(json_string_value(json_object_get(rec, "record")), 0, &je);
  json_decref(resp);
  cr_assert_not_null(r);
  cr_assert_eq(json_integer_value(json_object_get(r, "seq")), seq);
  return r;
}

long long vh_audit_head(struct vh *v)
{
  json_t *resp = NULL;
  cr_assert_eq(vh_call(v, "auditor", "GET", "/v1/audit?limit=1", NULL, &resp), 200);
  long long h = json_integer_value(json_object_get(resp, "head"));
  json_decref(resp);
  return h;
}

void vnode_create(struct vnode *n, enum dj_ak_kind ak)
{
  memset(n, 0, sizeof *n);
  swtpm_create(&n->sw);
  swtpm_start(&n->sw);
  dj_node_defaults(&n->node);
  n->node.tcti = n->sw.tcti;
  n->node.state_dir = n->sw.node_dir;
  n->node.ak_kind = ak;
  n->node.ak_handle = 0;
}

void vnode_destroy(struct vnode *n)
{
  swtpm_destroy(&n->sw);
}

const char *vnode_enroll(struct vh *v, struct vnode *n)
{
  static char status[16];
  struct dj_vclient *c = vh_client(v, NULL);
  struct dj_venrolled e;
  dj_err err = { 0 };
  int r = dj_vclient_enroll(c, &n->node, "node", &e, &err);
  dj_vclient_close(c);
  cr_assert_eq(r, 0, "enrol: %s", err.msg);
  memcpy(n->id, e.node_id, sizeof n->id);
  snprintf(status, sizeof status, "%s", e.status);
  return status;
}

void vnode_approve(struct vh *v, struct vnode *n, const char *site, const char *jurisdiction, const char *cls)
{
  char path[128];
  snprintf(path, sizeof path, "/v1/nodes/%s/approve", n->id);
  json_t *body = json_pack("{s:s, s:s, s:s}", "site", site, "jurisdiction", jurisdiction, "hardware_class", cls);
  json_t *resp = NULL;
  long st = vh_call(v, "operator", "POST", path, body, &resp);
  char *s = json_dumps(resp, 0);
  cr_assert_eq(st, 200, "approve: %ld %s", st, s);
  free(s);
  json_decref(body);
  json_decref(resp);
}

json_t *vh_operator_doc(struct vnode *const *nodes, size_t n)
{
  json_t *roots = json_array(), *inter = json_array(), *pcrs = json_object();
  for (size_t i = 0; i < n; i++) {
    json_array_append_new(roots, json_string(nodes[i]->sw.root_ca));
    json_array_append_new(inter, json_string(nodes[i]->sw.issuer_ca));
  }
  for (char k[2] = "0"; k[0] <= '7'; k[0]++) /* all of PCR 0-7, as DESIGN.md §5 means */
    json_object_set_new(pcrs, k, json_string("0000000000000000000000000000000000000000000000000000000000000000"));
  return json_pack(
    "{s:s, s:{s:o, s:o, s:{s:{}}, s:b, s:b}, s:[s,s], s:{s:s, s:s, s:s}, s:{s:{s:{s:o}}}}", "kind", "operator",
    "hardware", "ek_roots", roots, "ek_intermediates", inter, "manufacturers", "id:00001014", "inventory_required", false,
    "require_clock_safe", false, "jurisdictions", "FR", "DE", "sites", "FR-PAR-1", "FR", "FR-LYS-1", "FR", "DE-FRA-1",
    "DE", "hardware_classes", "std-1", "boot", "sha256", pcrs);
}

void vh_operator_policy(struct vh *v, struct vnode *const *nodes, size_t n)
{
  json_t *doc = vh_operator_doc(nodes, n);
  json_t *resp = NULL;
  long st = vh_call(v, "operator", "PUT", "/v1/policy/operator", doc, &resp);
  char *s = json_dumps(resp, 0);
  cr_assert_eq(st, 200, "operator policy: %ld %s", st, s);
  free(s);
  json_decref(doc);
  json_decref(resp);
}

const char *const VH_MANIFEST = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

json_t *vh_config(const char *arg1)
{
  return json_pack("{s:{s:[s,s], s:[s]}, s:[{s:s}]}", "process", "args", "/bin/app", arg1, "env", "PATH=/bin", "mounts",
                   "destination", "/tmp");
}

void vh_tenant_policy(struct vh *v, const char *manifest2)
{
  json_t *wl = json_pack("[{s:s, s:s, s:{s:[[s,s]], s:[s], s:[s]}}]", "manifest", VH_MANIFEST, "profile",
                         "confidential", "config", "args", "/bin/app", "--serve", "env", "PATH=*", "mounts", "/tmp");
  if (manifest2)
    json_array_append_new(wl, json_pack("{s:s, s:s, s:{s:[[s,s]], s:[s], s:[s]}}", "manifest", manifest2, "profile",
                                        "confidential", "config", "args", "/bin/app", "--serve", "env", "PATH=*",
                                        "mounts", "/tmp"));
  json_t *rule = json_pack("{s:[s], s:[s], s:[s], s:i, s:O}", "jurisdictions", "FR", "sites", "FR-PAR-*",
                           "hardware_classes", "std-1", "max_evidence_age", 60, "workloads", wl);
  json_t *doc = json_pack("{s:s, s:s, s:{s:O, s:O}}", "kind", "tenant", "tenant", "acme", "keys", "acme-db", rule,
                          "acme-kek", rule);
  json_t *resp = NULL;
  long st = vh_call(v, "acme", "PUT", "/v1/policy/tenants/acme", doc, &resp);
  char *s = json_dumps(resp, 0);
  cr_assert_eq(st, 200, "tenant policy: %ld %s", st, s);
  free(s);
  json_decref(resp);
  json_decref(doc);
  json_decref(rule);
  json_decref(wl);
}

long vh_attest(struct vh *v, struct vnode *n, struct vh_attest *a, struct dj_vattest_result *res)
{
  dj_err err = { 0 };
  memset(res, 0, sizeof *res);
  struct dj_vclient *c = vh_client(v, NULL);
  const char *node_id = a->node_id ? a->node_id : n->id;
  struct dj_vchallenge ch = { 0 };
  if (a->nonce) {
    memcpy(ch.nonce, a->nonce, 32);
  } else {
    cr_assert_eq(dj_vclient_challenge(c, a->challenge_node ? a->challenge_node : node_id, &ch, &err), 0, "%s", err.msg);
  }
  TPML_PCR_SELECTION sel;
  cr_assert_eq(dj_pcr_selection_parse("sha256:0,1,2,3,4,5,6,7,23", &sel, &err), 0);
  memcpy(a->used_nonce, ch.nonce, 32);
  EVP_PKEY *eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  uint8_t binding[32];
  cr_assert_eq(dj_vclient_binding(a->bind_args ? a->bind_args : a->args, ch.nonce, a->bind_key ? a->bind_key : eph,
                                  binding, &err), 0, "%s", err.msg);
  struct dj_evidence ev;
  cr_assert_eq(dj_node_quote(&n->node, &sel, binding, 32, &ev, &err), 0, "%s", err.msg);
  if (a->ev_hook)
    a->ev_hook(&ev, a->ctx);
  json_t *body = dj_vclient_attest_body(a->args, node_id, ch.nonce, &ev, eph, &err);
  cr_assert_not_null(body, "%s", err.msg);
  if (a->body_hook)
    a->body_hook(body, a->ctx);
  dj_evidence_free(&ev);
  int r = dj_vclient_attest_send(c, body, eph, res, &err);
  json_decref(body);
  EVP_PKEY_free(eph);
  dj_vclient_close(c);
  cr_assert(r == 0 || res->status != 0, "attest: %s", err.msg);
  return res->status;
}

const char *vh_code(const struct dj_vattest_result *res)
{
  const char *c = json_string_value(json_object_get(json_object_get(res->answer, "error"), "code"));
  return c ? c : "";
}

char *vh_layer_manifest(EVP_PKEY *kek, int alg, const char *tag, bool corrupt, char **privopts, char **recipient,
                        char digest[72])
{
  uint8_t key[32], nonce[16];
  RAND_bytes(key, sizeof key);
  RAND_bytes(nonce, sizeof nonce);
  char *k = dj_b64_encode(key, 32), *n = dj_b64_encode(nonce, 16);
  *privopts = dj_xasprintf("{\"symkey\":\"%s\",\"digest\":\"sha256:%064d\",\"cipheroptions\":{\"nonce\":\"%s\"}}", k,
                           0, n);
  free(k);
  free(n);
  char *jwe = NULL;
  dj_err err = { 0 };
  enum dj_jwe_alg a = (enum dj_jwe_alg) alg;
  cr_assert_eq(dj_jwe_encrypt((const uint8_t *) *privopts, strlen(*privopts), &kek, &a, 1, &jwe, &err), 0, "%s",
               err.msg);
  if (corrupt) { /* one byte of the wrapped key changed: the unwrap fails */
    char *p = strstr(jwe, "\"encrypted_key\":\"");
    cr_assert_not_null(p);
    p += 20;
    *p = *p == 'A' ? 'B' : 'A';
  }
  *recipient = dj_b64_encode((const uint8_t *) jwe, strlen(jwe));
  free(jwe);
  char *m = dj_xasprintf("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                         "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":"
                         "\"sha256:%064d\",\"size\":2},\"layers\":[{\"mediaType\":"
                         "\"application/vnd.oci.image.layer.v1.tar+gzip+encrypted\",\"digest\":\"sha256:%s\","
                         "\"size\":10,\"annotations\":{\"org.opencontainers.image.enc.keys.jwe\":\"%s\","
                         "\"org.opencontainers.image.enc.pubopts\":\"e30=\"}}]}",
                         0, tag, *recipient);
  uint8_t d[32];
  SHA256((const uint8_t *) m, strlen(m), d);
  strcpy(digest, "sha256:");
  for (int i = 0; i < 32; i++)
    snprintf(digest + 7 + 2 * i, 3, "%02x", d[i]);
  return m;
}
