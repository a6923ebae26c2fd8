/* donjon-verifier serve|init, and the admin commands over the API (verifier/client.h):
 * node list|approve|revoke, inventory import, key put, policy set, audit show|verify. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "images/b64.h"
#include "policy/policy.h"
#include "verifier/audit.h"
#include "verifier/client.h"
#include "verifier/config.h"
#include "verifier/seal.h"
#include "verifier/server.h"
#include "verifier/store.h"

int dj_verifier_cmd_admin(int argc, char **argv);

#define DOC_MAX (4u << 20)

static int fail(const dj_err *err)
{
  fprintf(stderr, "donjon-verifier: %s\n", err->msg);
  return 1;
}

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "donjon-verifier: ");
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, " (see donjon-verifier --help)\n");
  return 2;
}

struct opts {
  const char *config, *url, *ca, *cert, *key;
  const char *site, *jurisdiction, *hw_class, *reason, *secret_file, *kek_file, *pubkey, *state, *database;
  bool rotation;
  int ready_fd;
  int64_t from, limit;
};

static int parse(int argc, char **argv, struct opts *o)
{
  enum { O_CONFIG = 256, O_URL, O_CA, O_CERT, O_KEY, O_SITE, O_JUR, O_CLASS, O_REASON, O_SECRET, O_KEK, O_PUB,
         O_STATE, O_DB, O_ROT, O_READY, O_FROM, O_LIMIT };
  static const struct option lo[] = {
    { "config", required_argument, NULL, O_CONFIG }, { "verifier", required_argument, NULL, O_URL },
    { "ca", required_argument, NULL, O_CA },         { "cert", required_argument, NULL, O_CERT },
    { "key", required_argument, NULL, O_KEY },       { "site", required_argument, NULL, O_SITE },
    { "jurisdiction", required_argument, NULL, O_JUR }, { "class", required_argument, NULL, O_CLASS },
    { "reason", required_argument, NULL, O_REASON }, { "secret-file", required_argument, NULL, O_SECRET },
    { "kek", required_argument, NULL, O_KEK },       { "pubkey", required_argument, NULL, O_PUB },
    { "state", required_argument, NULL, O_STATE },   { "database", required_argument, NULL, O_DB },
    { "rotation", no_argument, NULL, O_ROT },        { "ready-fd", required_argument, NULL, O_READY },
    { "from", required_argument, NULL, O_FROM },     { "limit", required_argument, NULL, O_LIMIT },
    { 0 },
  };
  memset(o, 0, sizeof *o);
  o->url = getenv("DONJON_VERIFIER");
  o->ca = getenv("DONJON_VERIFIER_CA");
  o->cert = getenv("DONJON_VERIFIER_CERT");
  o->key = getenv("DONJON_VERIFIER_KEY");
  o->ready_fd = -1;
  o->from = 1;
  o->limit = 100;
  int c;
  optind = 1;
  while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
    uint64_t v;
    switch (c) {
    case O_CONFIG: o->config = optarg; break;
    case O_URL: o->url = optarg; break;
    case O_CA: o->ca = optarg; break;
    case O_CERT: o->cert = optarg; break;
    case O_KEY: o->key = optarg; break;
    case O_SITE: o->site = optarg; break;
    case O_JUR: o->jurisdiction = optarg; break;
    case O_CLASS: o->hw_class = optarg; break;
    case O_REASON: o->reason = optarg; break;
    case O_SECRET: o->secret_file = optarg; break;
    case O_KEK: o->kek_file = optarg; break;
    case O_PUB: o->pubkey = optarg; break;
    case O_STATE: o->state = optarg; break;
    case O_DB: o->database = optarg; break;
    case O_ROT: o->rotation = true; break;
    case O_READY:
      if (dj_parse_u64(optarg, &v) < 0 || v > 65535)
        return usage_error("--ready-fd: \"%s\" is not a file descriptor", optarg);
      o->ready_fd = (int) v;
      break;
    case O_FROM:
    case O_LIMIT:
      if (dj_parse_u64(optarg, &v) < 0 || v < 1 || v > INT64_MAX)
        return usage_error("\"%s\" is not a positive integer", optarg);
      *(c == O_FROM ? &o->from : &o->limit) = (int64_t) v;
      break;
    default: return 2;
    }
  }
  return -1;
}

static int client(const struct opts *o, struct dj_vclient **c, dj_err *err)
{
  if (o->url == NULL)
    return dj_error(err, 0, "--verifier URL (or DONJON_VERIFIER) is needed");
  struct dj_vclient_opts co = { .url = o->url, .ca = o->ca, .cert = o->cert, .key = o->key };
  return dj_vclient_open(&co, c, err);
}

/* A call whose answer is printed as JSON; non-2xx is an error naming the verifier's code. */
static int call_print(const struct opts *o, const char *method, const char *path, json_t *body, const char *what)
{
  dj_err err = { 0 };
  struct dj_vclient *c = NULL;
  if (client(o, &c, &err) < 0)
    return fail(&err);
  long status = 0;
  json_t *resp _cleanup_json_ = NULL;
  int r = dj_vclient_request(c, method, path, body, &status, &resp, NULL, &err);
  dj_vclient_close(c);
  if (r < 0)
    return fail(&err);
  if (status < 200 || status >= 300) {
    dj_vclient_refused(status, resp, what, &err);
    json_t *errs = json_object_get(resp, "errors");
    for (size_t i = 0; i < json_array_size(errs); i++)
      fprintf(stderr, "donjon-verifier: %s\n", json_string_value(json_array_get(errs, i)));
    return fail(&err);
  }
  char *s = json_dumps(resp, JSON_INDENT(2) | JSON_SORT_KEYS);
  printf("%s\n", s ? s : "{}");
  free(s);
  return 0;
}

static int cmd_serve(const struct opts *o)
{
  dj_err err = { 0 };
  struct dj_vconfig cfg;
  if (o->config == NULL)
    return usage_error("serve: %s is needed", "--config FILE");
  if (dj_vconfig_load(o->config, &cfg, &err) < 0)
    return fail(&err);
  dj_log_setup(-1, DJ_LOG_TEXT, DJ_LOG_INFO);
  int r = dj_vserver_run(&cfg, o->ready_fd, &err);
  dj_vconfig_free(&cfg);
  return r < 0 ? fail(&err) : 0;
}

static int cmd_init(const struct opts *o)
{
  dj_err err = { 0 };
  struct dj_vconfig cfg;
  if (o->config == NULL)
    return usage_error("init: %s is needed", "--config FILE");
  if (dj_vconfig_load(o->config, &cfg, &err) < 0)
    return fail(&err);
  struct dj_master_key mk;
  EVP_PKEY *ak = NULL;
  struct dj_store *st = NULL;
  int r = dj_master_key_load(cfg.master_key, true, &mk, &err);
  if (r == 0) {
    dj_master_key_free(&mk);
    r = dj_audit_key_load(cfg.audit_key, true, &ak, &err);
  }
  if (r == 0)
    r = dj_store_sqlite_open(cfg.database, cfg.synchronous_full, &st, &err);
  if (r == 0) {
    st->ops->close(st);
    char *pem = dj_audit_key_public_pem(ak);
    printf("%s", pem ? pem : ""); /* the auditor's copy of the checkpoint key */
    free(pem);
  }
  EVP_PKEY_free(ak);
  dj_vconfig_free(&cfg);
  return r < 0 ? fail(&err) : 0;
}

static int cmd_node(const struct opts *o, int argc, char **argv)
{
  if (argc >= 1 && strcmp(argv[0], "list") == 0)
    return call_print(o, "GET", "/v1/nodes", NULL, "node list");
  if (argc < 2)
    return usage_error("node: %s", "list | approve ID ... | revoke ID --reason TEXT");
  _cleanup_free_ char *path = dj_xasprintf("/v1/nodes/%s/%s", argv[1], argv[0]);
  json_t *body _cleanup_json_ = NULL;
  if (strcmp(argv[0], "approve") == 0) {
    if (o->rotation)
      body = json_pack("{s:b}", "rotation", true);
    else if (o->site && o->jurisdiction && o->hw_class)
      body = json_pack("{s:s, s:s, s:s}", "site", o->site, "jurisdiction", o->jurisdiction, "hardware_class",
                       o->hw_class);
    else
      return usage_error("node approve: %s", "--site, --jurisdiction and --class, or --rotation");
  } else if (strcmp(argv[0], "revoke") == 0) {
    if (o->reason == NULL)
      return usage_error("node revoke: %s is needed", "--reason TEXT");
    body = json_pack("{s:s}", "reason", o->reason);
  } else {
    return usage_error("node: unknown subcommand \"%s\"", argv[0]);
  }
  return call_print(o, "POST", path, body, argv[0]);
}

static int load_doc(const char *file, json_t **out)
{
  dj_err err = { 0 };
  if (dj_json_load_file(file, DOC_MAX, out, &err) < 0)
    return fail(&err);
  return 0;
}

static int cmd_key_put(const struct opts *o, const char *id)
{
  dj_err err = { 0 };
  if ((o->secret_file == NULL) == (o->kek_file == NULL))
    return usage_error("key put: %s", "one of --secret-file FILE or --kek FILE");
  int fd = open(o->secret_file ? o->secret_file : o->kek_file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    dj_error(&err, errno, "%s", o->secret_file ? o->secret_file : o->kek_file);
    return fail(&err);
  }
  uint8_t *buf = dj_xmalloc(8193);
  ssize_t n = dj_read_all(fd, buf, 8193);
  close(fd);
  if (n <= 0 || n > 8192) {
    free(buf);
    dj_error(&err, 0, "key put: the file must hold 1 to 8192 bytes");
    return fail(&err);
  }
  buf[n] = '\0';
  json_t *body _cleanup_json_ = NULL;
  char *b64 = NULL;
  if (o->secret_file) {
    b64 = dj_b64url_encode(buf, (size_t) n);
    body = json_pack("{s:s, s:s}", "kind", "secret", "value", b64);
  } else {
    body = json_pack("{s:s, s:s}", "kind", "kek", "private_key", (const char *) buf);
  }
  dj_wipe(buf, (size_t) n);
  free(buf);
  if (b64)
    dj_wipe(b64, strlen(b64));
  free(b64);
  _cleanup_free_ char *path = dj_xasprintf("/v1/keys/%s", id);
  int r = call_print(o, "PUT", path, body, "key put");
  json_t *v = json_object_get(body, o->secret_file ? "value" : "private_key");
  dj_wipe((char *) json_string_value(v), json_string_length(v));
  return r;
}

static int cmd_policy_set(const struct opts *o, const char *file)
{
  json_t *doc _cleanup_json_ = NULL;
  if (load_doc(file, &doc) != 0)
    return 1;
  const char *kind = json_string_value(json_object_get(doc, "kind"));
  const char *tenant = json_string_value(json_object_get(doc, "tenant"));
  _cleanup_free_ char *path = kind && strcmp(kind, "tenant") == 0 && tenant ? dj_xasprintf("/v1/policy/tenants/%s", tenant)
                                                                            : dj_xstrdup("/v1/policy/operator");
  return call_print(o, "PUT", path, doc, "policy set");
}

/* ---- audit ---------------------------------------------------------------------------------- */

typedef int (*page_fn)(json_t *records, void *ctx);

/* Every record from o->from, page by page, over the API. */
static int audit_pages(struct dj_vclient *c, int64_t from, int64_t max, page_fn fn, void *ctx, dj_err *err)
{
  for (int64_t got = 0; got < max;) {
    int64_t limit = max - got < 1000 ? max - got : 1000;
    _cleanup_free_ char *path = dj_xasprintf("/v1/audit?from=%" PRId64 "&limit=%" PRId64, from, limit);
    long status = 0;
    json_t *resp _cleanup_json_ = NULL;
    if (dj_vclient_request(c, "GET", path, NULL, &status, &resp, NULL, err) < 0)
      return -1;
    if (status != 200)
      return dj_vclient_refused(status, resp, "audit", err);
    json_t *recs = json_object_get(resp, "records");
    if (json_array_size(recs) == 0)
      return 0;
    if (fn(recs, ctx) < 0)
      return -1;
    got += (int64_t) json_array_size(recs);
    from = json_integer_value(json_object_get(json_array_get(recs, json_array_size(recs) - 1), "seq")) + 1;
  }
  return 0;
}

static int show_page(json_t *recs, void *ctx)
{
  size_t i;
  json_t *r;
  json_array_foreach(recs, i, r) printf("%s\n", json_string_value(json_object_get(r, "record")));
  return 0;
}

static bool unhex32(const char *s, uint8_t out[32])
{
  if (s == NULL || strlen(s) != 64)
    return false;
  for (int i = 0; i < 32; i++)
    if (sscanf(s + 2 * i, "%2hhx", &out[i]) != 1)
      return false;
  return true;
}

static int verify_page(json_t *recs, void *ctx)
{
  struct dj_audit_verifier *v = ctx;
  size_t i;
  json_t *r;
  json_array_foreach(recs, i, r) {
    uint8_t h[32] = { 0 };
    unhex32(json_string_value(json_object_get(r, "hash")), h);
    const char *rec = json_string_value(json_object_get(r, "record"));
    if (dj_audit_verifier_record(v, json_integer_value(json_object_get(r, "seq")), rec ? rec : "", h) < 0)
      return -1;
  }
  return 0;
}

static int store_cp(const struct dj_vcheckpoint *c, void *ctx)
{
  return dj_audit_verifier_checkpoint(ctx, c);
}

static int store_rec(const struct dj_vaudit *a, void *ctx)
{
  return dj_audit_verifier_record(ctx, a->seq, a->record, a->hash);
}

/* The auditor's state: the highest checkpoint it verified, which must never disappear. */
static void state_load(const char *file, struct dj_audit_verifier *v)
{
  json_t *j _cleanup_json_ = NULL;
  dj_err err = { 0 };
  if (file && dj_json_load_file(file, 4096, &j, &err) == 0 &&
      unhex32(json_string_value(json_object_get(j, "hash")), v->known_hash))
    v->known_seq = json_integer_value(json_object_get(j, "seq"));
}

static int cmd_audit_verify(const struct opts *o)
{
  dj_err err = { 0 };
  if (o->pubkey == NULL)
    return usage_error("audit verify: %s is needed (the auditor's copy of the checkpoint key)", "--pubkey FILE");
  FILE *f = fopen(o->pubkey, "r");
  EVP_PKEY *pub = f ? PEM_read_PUBKEY(f, NULL, NULL, NULL) : NULL;
  if (f)
    fclose(f);
  if (pub == NULL) {
    dj_error(&err, 0, "%s: not a PEM public key", o->pubkey);
    return fail(&err);
  }
  struct dj_audit_verifier v;
  dj_audit_verifier_init(&v, pub);
  state_load(o->state, &v);
  int r = 0;
  if (o->database) { /* offline: the database file itself */
    struct dj_store *st = NULL;
    r = dj_store_sqlite_open_readonly(o->database, &st, &err); /* never writes what it audits */
    if (r == 0) {
      if (st->ops->checkpoint_list(st, store_cp, &v, &err) < 0 || st->ops->audit_list(st, 1, INT64_MAX, store_rec, &v, &err) < 0)
        r = v.failed ? 0 : -1;
      st->ops->close(st);
    }
  } else {
    struct dj_vclient *c = NULL;
    r = client(o, &c, &err);
    long status = 0;
    json_t *resp _cleanup_json_ = NULL;
    if (r == 0)
      r = dj_vclient_request(c, "GET", "/v1/audit/checkpoints", NULL, &status, &resp, NULL, &err);
    if (r == 0 && status != 200)
      r = dj_vclient_refused(status, resp, "audit checkpoints", &err);
    size_t i;
    json_t *cp;
    json_array_foreach(json_object_get(resp, "checkpoints"), i, cp) {
      struct dj_vcheckpoint k = { .seq = json_integer_value(json_object_get(cp, "seq")),
                                  .time_ms = json_integer_value(json_object_get(cp, "time_ms")) };
      uint8_t *sig = NULL;
      size_t sl = 0;
      const char *s = json_string_value(json_object_get(cp, "signature"));
      unhex32(json_string_value(json_object_get(cp, "hash")), k.hash);
      if (s && dj_b64url_decode(s, strlen(s), &sig, &sl) == 0 && sl == 64)
        memcpy(k.sig, sig, 64);
      free(sig);
      if (r == 0 && dj_audit_verifier_checkpoint(&v, &k) < 0)
        break;
    }
    if (r == 0 && !v.failed && audit_pages(c, 1, INT64_MAX, verify_page, &v, &err) < 0 && !v.failed)
      r = -1;
    dj_vclient_close(c);
  }
  if (r == 0)
    dj_audit_verifier_finish(&v);
  EVP_PKEY_free(pub);
  if (r < 0) {
    dj_audit_verifier_free(&v);
    return fail(&err);
  }
  if (v.failed) {
    fprintf(stderr, "donjon-verifier: audit verify: FAILED: %s\n", v.why);
    dj_audit_verifier_free(&v);
    return 1;
  }
  int64_t signed_to = v.n_cps ? v.cps[v.n_cps - 1].seq : 0;
  printf("audit log OK: %" PRId64 " records, %zu signed checkpoints, signed up to record %" PRId64
         " (%" PRId64 " newer records not signed yet)\n",
         v.records, v.n_cps, signed_to, v.records - signed_to);
  if (o->state && v.n_cps) {
    char h[65];
    for (int i = 0; i < 32; i++)
      snprintf(h + 2 * i, 3, "%02x", v.cps[v.n_cps - 1].hash[i]);
    _cleanup_free_ char *s = dj_xasprintf("{\"seq\":%" PRId64 ",\"hash\":\"%s\"}\n", signed_to, h);
    if (dj_write_file_atomic(o->state, s, strlen(s), 0600, &err) < 0) {
      dj_audit_verifier_free(&v);
      return fail(&err);
    }
  }
  dj_audit_verifier_free(&v);
  return 0;
}

static int cmd_audit_show(const struct opts *o)
{
  dj_err err = { 0 };
  struct dj_vclient *c = NULL;
  if (client(o, &c, &err) < 0)
    return fail(&err);
  int r = audit_pages(c, o->from, o->limit, show_page, NULL, &err);
  dj_vclient_close(c);
  return r < 0 ? fail(&err) : 0;
}

int dj_verifier_cmd_admin(int argc, char **argv)
{
  const char *cmd = argv[0];
  const char *sub = argc > 1 && argv[1][0] != '-' ? argv[1] : "";
  struct opts o;
  int r = parse(argc, argv, &o);
  if (r >= 0)
    return r;
  umask(077); /* the database, the keys and the auditor's state are nobody else's */
  char **rest = argv + optind;
  int nrest = argc - optind;
  if (strcmp(cmd, "serve") == 0)
    return nrest ? usage_error("serve: unexpected \"%s\"", rest[0]) : cmd_serve(&o);
  if (strcmp(cmd, "init") == 0)
    return cmd_init(&o);
  if (strcmp(cmd, "node") == 0)
    return cmd_node(&o, nrest, rest);
  if (strcmp(cmd, "inventory") == 0 && nrest == 2 && strcmp(rest[0], "import") == 0) {
    json_t *doc _cleanup_json_ = NULL;
    return load_doc(rest[1], &doc) ? 1 : call_print(&o, "POST", "/v1/inventory", doc, "inventory import");
  }
  if (strcmp(cmd, "key") == 0 && nrest == 2 && strcmp(rest[0], "put") == 0)
    return cmd_key_put(&o, rest[1]);
  if (strcmp(cmd, "key") == 0 && nrest == 1 && strcmp(rest[0], "list") == 0)
    return call_print(&o, "GET", "/v1/keys", NULL, "key list");
  if (strcmp(cmd, "policy") == 0 && nrest == 2 && strcmp(rest[0], "set") == 0)
    return cmd_policy_set(&o, rest[1]);
  if (strcmp(cmd, "audit") == 0 && nrest == 1 && strcmp(rest[0], "verify") == 0)
    return cmd_audit_verify(&o);
  if (strcmp(cmd, "audit") == 0 && nrest == 1 && strcmp(rest[0], "show") == 0)
    return cmd_audit_show(&o);
  return usage_error("unknown command \"%s\"", sub[0] ? sub : cmd);
}
