/* The HTTPS service: TLS context, worker threads, connection deadlines, routing by method, path and
 * role, JSON answers. Handlers live in api_*.c. */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "verifier/audit.h"
#include "verifier/server.h"

void dj_vmetrics_request(struct dj_vserver *srv, const char *route, int status, double ms);

int64_t dj_vnow_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t dj_vmono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static double mono_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* ---- answers -------------------------------------------------------------------------------- */

int dj_vreq_error(struct dj_vreq *r, int status, const char *code, const char *fmt, ...)
{
  char msg[DJ_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  json_decref(r->resp);
  r->status = status;
  r->resp = json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", msg);
  if (r->reason == NULL)
    r->reason = code;
  return -1;
}

int dj_vreq_json(struct dj_vreq *r, json_t **out)
{
  dj_err err = { 0 };
  if (r->body_len == 0)
    return dj_vreq_error(r, 400, "malformed", "the request needs a JSON object body");
  if (dj_json_load_buf(r->body, r->body_len, out, &err) < 0)
    return dj_vreq_error(r, 400, "malformed", "body: %s", err.msg);
  return 0;
}

int dj_vaudit_text(struct dj_vreq *r, const char *type, json_t *body, int64_t *seq, char **text, dj_err *err)
{
  json_object_set_new(body, "source", json_string(r->peer));
  if (r->role != DJ_ROLE_NONE) {
    const char *role = r->role == DJ_ROLE_OPERATOR ? "operator" : r->role == DJ_ROLE_TENANT ? "tenant" : "auditor";
    json_object_set_new(body, "actor", json_pack("{s:s, s:s}", "role", role, "name", r->tenant));
  }
  char *canon = dj_json_canonical(body);
  if (canon == NULL)
    return dj_error(err, 0, "audit: the record's body does not serialise");
  int rc = r->w->st->ops->audit_append_text(r->w->st, type, canon, dj_vnow_ms(), seq, err);
  if (rc == 0 && text)
    *text = canon;
  else
    free(canon);
  return rc;
}

int dj_vaudit(struct dj_vreq *r, const char *type, json_t *body, int64_t *seq, dj_err *err)
{
  return dj_vaudit_text(r, type, body, seq, NULL, err);
}

/* ---- routing -------------------------------------------------------------------------------- */

#define OPEN 0
#define OP DJ_ROLE_OPERATOR
#define TEN DJ_ROLE_TENANT
#define AUD DJ_ROLE_AUDITOR

struct route {
  enum evhttp_cmd_type method;
  const char *pattern; /* "{}" is one path segment */
  int roles;           /* 0: no client certificate needed */
  int (*fn)(struct dj_vreq *r);
  const char *name;
};

static const struct route routes[] = {
  { EVHTTP_REQ_GET, "/healthz", OPEN, dj_api_healthz, "healthz" },
  { EVHTTP_REQ_GET, "/metrics", OP | AUD, dj_api_metrics, "metrics" },
  { EVHTTP_REQ_POST, "/v1/nodes", OPEN, dj_api_enroll, "enroll" },
  { EVHTTP_REQ_GET, "/v1/nodes", OP, dj_api_node_list, "node_list" },
  { EVHTTP_REQ_GET, "/v1/nodes/{}", OP, dj_api_node_get, "node_get" },
  { EVHTTP_REQ_POST, "/v1/nodes/{}/activate", OPEN, dj_api_activate, "activate" },
  { EVHTTP_REQ_POST, "/v1/nodes/{}/approve", OP, dj_api_node_approve, "approve" },
  { EVHTTP_REQ_POST, "/v1/nodes/{}/revoke", OP, dj_api_node_revoke, "revoke" },
  { EVHTTP_REQ_POST, "/v1/inventory", OP, dj_api_inventory, "inventory" },
  { EVHTTP_REQ_POST, "/v1/challenge", OPEN, dj_api_challenge, "challenge" },
  { EVHTTP_REQ_POST, "/v1/attest", OPEN, dj_api_attest, "attest" },
  { EVHTTP_REQ_PUT, "/v1/keys/{}", TEN, dj_api_key_put, "key_put" },
  { EVHTTP_REQ_GET, "/v1/keys", TEN, dj_api_key_list, "key_list" },
  { EVHTTP_REQ_PUT, "/v1/policy/{}", OP | TEN, dj_api_policy_put, "policy_put" },
  { EVHTTP_REQ_GET, "/v1/policy/{}", OP | TEN, dj_api_policy_get, "policy_get" },
  { EVHTTP_REQ_PUT, "/v1/policy/tenants/{}", TEN, dj_api_policy_put, "policy_put" },
  { EVHTTP_REQ_GET, "/v1/policy/tenants/{}", TEN, dj_api_policy_get, "policy_get" },
  { EVHTTP_REQ_GET, "/v1/audit", AUD, dj_api_audit_list, "audit" },
  { EVHTTP_REQ_GET, "/v1/audit/checkpoints", AUD, dj_api_audit_checkpoints, "audit_checkpoints" },
};

/* Match path against pattern; the one "{}" segment is copied (unescaped) into param. */
static bool route_match(const char *pattern, const char *path, char *param, size_t size, bool *bad)
{
  while (*pattern && *path) {
    if (pattern[0] == '{' && pattern[1] == '}') {
      const char *end = strchrnul(path, '/');
      size_t n = (size_t) (end - path);
      if (n == 0)
        return false;
      char raw[256];
      if (n >= sizeof raw) {
        *bad = true;
        return false;
      }
      memcpy(raw, path, n);
      raw[n] = '\0';
      size_t out_len = 0;
      char *dec = evhttp_uridecode(raw, 0, &out_len);
      bool ok = dec && out_len < size && out_len > 0;
      for (size_t i = 0; ok && i < out_len; i++) /* ids are printable and never carry a '/' */
        ok = dec[i] > 0x20 && dec[i] < 0x7f && dec[i] != '/';
      if (ok)
        memcpy(param, dec, out_len + 1);
      free(dec);
      if (!ok) {
        *bad = true;
        return false;
      }
      pattern += 2;
      path = end;
      continue;
    }
    if (*pattern != *path)
      return false;
    pattern++;
    path++;
  }
  return *pattern == '\0' && *path == '\0';
}

/* Role and tenant from a verified client certificate: OU is the role, CN the name. */
static void peer_role(struct dj_vreq *r, struct bufferevent *bev)
{
  SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
  X509 *cert = ssl ? SSL_get0_peer_certificate(ssl) : NULL;
  if (cert == NULL || SSL_get_verify_result(ssl) != X509_V_OK)
    return;
  X509_NAME *subj = X509_get_subject_name(cert);
  char ou[32] = "", cn[DJ_VNAME_MAX] = "";
  X509_NAME_get_text_by_NID(subj, NID_organizationalUnitName, ou, sizeof ou);
  X509_NAME_get_text_by_NID(subj, NID_commonName, cn, sizeof cn);
  if (strcmp(ou, "operator") == 0)
    r->role = DJ_ROLE_OPERATOR;
  else if (strcmp(ou, "tenant") == 0 && cn[0] != '\0')
    r->role = DJ_ROLE_TENANT;
  else if (strcmp(ou, "auditor") == 0)
    r->role = DJ_ROLE_AUDITOR;
  if (r->role != DJ_ROLE_NONE)
    snprintf(r->tenant, sizeof r->tenant, "%s", cn);
}

/* ---- connection deadlines (slow clients) ---------------------------------------------------- */

struct conn_guard {
  struct conn_guard *prev, *next;
  struct dj_vworker *w;
  struct bufferevent *bev;
  int64_t deadline_ms;
};

static int guard_index = -1;

static void guard_unlink(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp)
{
  struct conn_guard *g = ptr;
  if (g == NULL)
    return;
  if (g->prev)
    g->prev->next = g->next;
  else
    g->w->guards = g->next;
  if (g->next)
    g->next->prev = g->prev;
  g->w->n_guards--;
  free(g);
}

/* Every connection gets its TLS bufferevent here, and a deadline: the TLS handshake and each request
 * must be complete within request_timeout_ms of the accept or of the previous answer. */
static struct bufferevent *make_bev(struct event_base *base, void *arg)
{
  struct dj_vworker *w = arg;
  SSL *ssl = SSL_new(w->srv->ssl);
  struct bufferevent *bev =
    ssl ? bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE) : NULL;
  if (bev == NULL)
    return NULL;
  bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
  struct conn_guard *g = dj_xcalloc(1, sizeof *g);
  g->w = w;
  g->bev = bev;
  int64_t now = dj_vmono_ms();
  /* over the connection limit: closed at the next tick */
  g->deadline_ms = w->n_guards >= w->srv->cfg.max_connections ? now : now + w->srv->cfg.request_timeout_ms;
  g->next = w->guards;
  if (w->guards)
    w->guards->prev = g;
  w->guards = g;
  w->n_guards++;
  SSL_set_ex_data(ssl, guard_index, g);
  return bev;
}

static void guard_progress(struct bufferevent *bev, struct dj_vworker *w)
{
  SSL *ssl = bev ? bufferevent_openssl_get_ssl(bev) : NULL;
  struct conn_guard *g = ssl ? SSL_get_ex_data(ssl, guard_index) : NULL;
  if (g)
    g->deadline_ms = dj_vmono_ms() + w->srv->cfg.request_timeout_ms;
}

static void guards_expire(struct dj_vworker *w, int64_t now)
{
  for (struct conn_guard *g = w->guards; g; g = g->next)
    if (g->deadline_ms <= now) {
      int fd = bufferevent_getfd(g->bev);
      if (fd >= 0)
        shutdown(fd, SHUT_RDWR); /* evhttp sees the end of the connection and frees it */
      g->deadline_ms = INT64_MAX;
    }
}

/* ---- requests ------------------------------------------------------------------------------- */

static void send_answer(struct dj_vreq *r)
{
  struct evbuffer *out = evhttp_request_get_output_buffer(r->req);
  struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
  evhttp_add_header(h, "Cache-Control", "no-store");
  evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
  if (r->text) {
    evhttp_add_header(h, "Content-Type", r->content_type ? r->content_type : "text/plain; charset=utf-8");
    evbuffer_add(out, r->text, strlen(r->text));
  } else {
    if (r->resp == NULL)
      r->resp = json_object();
    char *s = json_dumps(r->resp, JSON_COMPACT);
    evhttp_add_header(h, "Content-Type", "application/json");
    if (s)
      evbuffer_add(out, s, strlen(s));
    free(s);
  }
  if (r->status == 429)
    evhttp_add_header(h, "Retry-After", "1");
  const char *phrase = r->status < 300 ? "OK" : r->status < 500 ? "Refused" : "Error";
  struct evhttp_connection *conn = evhttp_request_get_connection(r->req);
  struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
  evhttp_send_reply(r->req, r->status, phrase, NULL);
  /* the head and the body in one piece, written at the next turn of the loop: one TLS record and
   * one write instead of one each (the small answers of this API fit one record) */
  if (bev && evbuffer_get_length(bufferevent_get_output(bev)) <= 16384)
    evbuffer_pullup(bufferevent_get_output(bev), -1);
}

static void handle(struct evhttp_request *req, void *arg)
{
  struct dj_vworker *w = arg;
  double t0 = mono_s();
  struct dj_vreq r = { .w = w, .req = req, .status = 200 };
  struct evhttp_connection *conn = evhttp_request_get_connection(req);
  struct bufferevent *bev = conn ? evhttp_connection_get_bufferevent(conn) : NULL;
  char *peer = NULL;
  ev_uint16_t port = 0;
  if (conn)
    evhttp_connection_get_peer(conn, &peer, &port);
  snprintf(r.peer, sizeof r.peer, "%s", peer ? peer : "?");
  peer_role(&r, bev);

  const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
  const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
  const char *query = uri ? evhttp_uri_get_query(uri) : NULL;
  snprintf(r.query, sizeof r.query, "%s", query ? query : "");
  r.path = path ? path : "";
  struct evbuffer *in = evhttp_request_get_input_buffer(req);
  r.body_len = evbuffer_get_length(in);
  r.body = r.body_len ? (const char *) evbuffer_pullup(in, -1) : "";

  const struct route *route = NULL;
  bool path_known = false, bad = false;
  enum evhttp_cmd_type method = evhttp_request_get_command(req);
  for (size_t i = 0; i < DJ_ARRAY_SIZE(routes) && !route; i++) {
    char param[256];
    if (route_match(routes[i].pattern, r.path, param, sizeof param, &bad)) {
      path_known = true;
      if (routes[i].method == method) {
        route = &routes[i];
        snprintf(r.param_buf, sizeof r.param_buf, "%s", param);
        r.param = strstr(routes[i].pattern, "{}") ? r.param_buf : NULL;
      }
    }
  }
  const char *name = route ? route->name : "unknown";
  if (bad)
    dj_vreq_error(&r, 400, "malformed", "%s: a path segment is not a valid id", r.path);
  else if (!route)
    dj_vreq_error(&r, path_known ? 405 : 404, path_known ? "method" : "not-found", "%s: no such %s", r.path,
                  path_known ? "method for this path" : "endpoint");
  else if (route->roles != OPEN && r.role == DJ_ROLE_NONE)
    dj_vreq_error(&r, 401, "client-certificate", "%s needs a client certificate of role %s", r.path,
                  route->roles & OP ? "operator" : route->roles & TEN ? "tenant" : "auditor");
  else if (route->roles != OPEN && !(route->roles & (int) r.role))
    dj_vreq_error(&r, 403, "role", "%s is not allowed to this role", r.path);
  else
    route->fn(&r);
  if (w->st && route) { /* a handler that failed half-way never leaves its transaction open */
    w->st->ops->rollback(w->st);
    w->st->ops->read_end(w->st);
  }
  send_answer(&r);
  guard_progress(bev, w);
  dj_vmetrics_request(w->srv, name, r.status, (mono_s() - t0) * 1000.0);
  json_decref(r.resp);
  free(r.text);
}

/* ---- workers -------------------------------------------------------------------------------- */

static void tick(evutil_socket_t fd, short what, void *arg)
{
  struct dj_vworker *w = arg;
  struct dj_vserver *srv = w->srv;
  if (atomic_load(&srv->stopping)) {
    event_base_loopbreak(w->base);
    return;
  }
  int64_t mono = dj_vmono_ms();
  guards_expire(w, mono);
  if (w->index != 0)
    return;
  dj_err err = { 0 };
  if (mono - w->last_checkpoint_ms >= srv->cfg.checkpoint_interval_ms) {
    w->last_checkpoint_ms = mono;
    if (dj_audit_checkpoint_now(w->st, srv->audit_key, dj_vnow_ms(), &w->last_signed, &err) < 0)
      dj_log_error("audit checkpoint: %s", err.msg);
  }
  if (mono - w->last_purge_ms >= 10000) {
    w->last_purge_ms = mono;
    if (w->st->ops->begin(w->st, &err) == 0) {
      if (w->st->ops->nonce_purge(w->st, dj_vnow_ms() - 60000, &err) < 0 || w->st->ops->commit(w->st, &err) < 0)
        dj_log_error("nonce purge: %s", err.msg);
      w->st->ops->rollback(w->st);
    }
  }
}

static int listen_socket(struct dj_vserver *srv, dj_err *err)
{
  struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST }, *ai;
  char port[16];
  snprintf(port, sizeof port, "%d", srv->port);
  int rc = getaddrinfo(srv->cfg.listen_host, port, &hints, &ai);
  if (rc != 0)
    return dj_error(err, 0, "listen %s: %s", srv->cfg.listen_host, gai_strerror(rc));
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
  if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
      setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
      /* accepted sockets inherit it: an answer's last TLS record must not wait for a delayed ACK */
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
      listen(fd, 1024) < 0) {
    int e = errno;
    if (fd >= 0)
      close(fd);
    freeaddrinfo(ai);
    return dj_error(err, e, "listen %s:%s", srv->cfg.listen_host, port);
  }
  freeaddrinfo(ai);
  if (srv->port == 0) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    getsockname(fd, (struct sockaddr *) &ss, &len);
    srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *) &ss)->sin6_port
                                               : ((struct sockaddr_in *) &ss)->sin_port);
  }
  return fd;
}

static int worker_init(struct dj_vserver *srv, struct dj_vworker *w, int index, dj_err *err)
{
  w->srv = srv;
  w->index = index;
  if (dj_store_sqlite_open(srv->cfg.database, srv->cfg.synchronous_full, &w->st, err) < 0)
    return -1;
  int fd = listen_socket(srv, err);
  if (fd < 0)
    return -1;
  w->base = event_base_new();
  w->http = w->base ? evhttp_new(w->base) : NULL;
  if (w->http == NULL || evhttp_accept_socket_with_handle(w->http, fd) == NULL) {
    close(fd);
    return dj_error(err, 0, "worker %d: cannot set up the HTTP server", index);
  }
  evhttp_set_bevcb(w->http, make_bev, w);
  evhttp_set_gencb(w->http, handle, w);
  evhttp_set_max_body_size(w->http, srv->cfg.max_body);
  evhttp_set_max_headers_size(w->http, 16384);
  evhttp_set_allowed_methods(w->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT);
  struct timeval tv = { srv->cfg.request_timeout_ms / 1000, (srv->cfg.request_timeout_ms % 1000) * 1000 };
  evhttp_set_timeout_tv(w->http, &tv);
  w->tick = event_new(w->base, -1, EV_PERSIST, tick, w);
  struct timeval t = { 0, 100000 };
  if (w->tick == NULL || event_add(w->tick, &t) < 0)
    return dj_error(err, 0, "worker %d: timer", index);
  w->last_checkpoint_ms = dj_vmono_ms();
  return 0;
}

static void worker_free(struct dj_vworker *w)
{
  if (w->tick)
    event_free(w->tick);
  if (w->http)
    evhttp_free(w->http);
  if (w->base)
    event_base_free(w->base);
  dj_vpolicies_free(&w->pol);
  dj_vak_cache_free(w->akc);
  if (w->st)
    w->st->ops->close(w->st);
}

static void *worker_run(void *arg)
{
  struct dj_vworker *w = arg;
  event_base_dispatch(w->base);
  return NULL;
}

static SSL_CTX *tls_context(const struct dj_vconfig *cfg, dj_err *err)
{
  SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == NULL)
    return dj_error(err, 0, "TLS: cannot make a context"), NULL;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  /* TLS 1.2: forward-secret AEAD suites only */
  SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20");
  const char *what = NULL;
  if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1)
    what = cfg->tls_cert;
  else if (SSL_CTX_use_PrivateKey_file(ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(ctx) != 1)
    what = cfg->tls_key;
  else if (SSL_CTX_load_verify_locations(ctx, cfg->client_ca, NULL) != 1)
    what = cfg->client_ca;
  if (what) {
    char buf[256];
    ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
    ERR_clear_error();
    SSL_CTX_free(ctx);
    return dj_error(err, 0, "TLS: %s: %s", what, buf), NULL;
  }
  STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cfg->client_ca);
  if (names)
    SSL_CTX_set_client_CA_list(ctx, names);
  /* Client certificates are asked for, not required: node endpoints are authorised by the
   * evidence. A certificate that does not verify ends the handshake. */
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
  SSL_CTX_set_session_id_context(ctx, (const unsigned char *) "donjon-verifier", 15);
  return ctx;
}

/* Each request allocates and frees some hundred small JSON nodes and a few larger buffers: with
 * glibc's defaults the larger ones were mapped and unmapped, and the heap's top trimmed, on every
 * request (page faults, malloc_consolidate: a tenth of the verifier's CPU in bench/verifier). A
 * server keeps its heap: only allocations of 4 MiB or more are mapped, and at most 64 MiB of free
 * heap is kept. */
static void malloc_for_a_server(void)
{
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  mallopt(M_TOP_PAD, 16 << 20);
}

int dj_vserver_run(struct dj_vconfig *cfg, int ready_fd, dj_err *err)
{
  malloc_for_a_server();
  struct dj_vserver *srv = dj_xcalloc(1, sizeof *srv);
  srv->cfg = *cfg;
  srv->port = cfg->listen_port;
  pthread_mutex_init(&srv->lock, NULL);
  atomic_init(&srv->policy_generation, 1);
  atomic_init(&srv->stopping, false);
  uint8_t inst[16];
  RAND_bytes(inst, sizeof inst);
  for (int i = 0; i < 16; i++)
    snprintf(srv->instance + 2 * i, 3, "%02x", inst[i]);
  if (guard_index < 0)
    guard_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, guard_unlink);
  int r = -1;
  srv->ssl = tls_context(cfg, err);
  if (srv->ssl == NULL || dj_master_key_load(cfg->master_key, false, &srv->master, err) < 0 ||
      dj_audit_key_load(cfg->audit_key, false, &srv->audit_key, err) < 0)
    goto out;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, NULL); /* the workers inherit it; main waits for the signals */
  srv->n_workers = cfg->workers;
  srv->workers = dj_xcalloc((size_t) srv->n_workers, sizeof *srv->workers);
  for (int i = 0; i < srv->n_workers; i++)
    if (worker_init(srv, &srv->workers[i], i, err) < 0)
      goto out;
  int started = 0;
  for (; started < srv->n_workers; started++)
    if (pthread_create(&srv->workers[started].thread, NULL, worker_run, &srv->workers[started]) != 0)
      break;
  dj_log_info("donjon-verifier listening on %s:%d with %d workers", cfg->listen_host, srv->port, started);
  if (ready_fd >= 0) {
    dprintf(ready_fd, "%d\n", srv->port);
    close(ready_fd);
  }
  int sig = 0;
  if (started == srv->n_workers) {
    sigdelset(&set, SIGPIPE);
    sigwait(&set, &sig);
  }
  atomic_store(&srv->stopping, true);
  for (int i = 0; i < started; i++)
    pthread_join(srv->workers[i].thread, NULL);
  if (started == srv->n_workers) {
    /* a clean stop signs the head, so nothing is left unsigned */
    if (dj_audit_checkpoint_now(srv->workers[0].st, srv->audit_key, dj_vnow_ms(), &srv->workers[0].last_signed, err) < 0)
      goto out;
    r = 0;
  } else {
    dj_error(err, 0, "cannot start the worker threads");
  }
out:
  for (int i = 0; srv->workers && i < srv->n_workers; i++)
    worker_free(&srv->workers[i]);
  free(srv->workers);
  SSL_CTX_free(srv->ssl);
  dj_master_key_free(&srv->master);
  EVP_PKEY_free(srv->audit_key);
  free(srv->rates);
  free(srv->metrics);
  pthread_mutex_destroy(&srv->lock);
  free(srv);
  return r;
}
