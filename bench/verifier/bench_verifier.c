/* donjon-verifier's throughput: attestations released per second and their latency, with quotes
 * made ahead of time. The nodes (swtpm, ECC P-256 AKs) are enrolled through the inventory; each
 * takes a batch of challenges and quotes them all (binding: nonce, a fresh ephemeral key, the
 * workload) within the nonce lifetime; then CLIENTS keep-alive HTTPS connections send the
 * /v1/attest requests as fast as they are answered. Every request is fully checked, decided by
 * both policies and audited by the verifier; every answer is checked to be a release.
 * usage: bench_verifier URL DIR REQUESTS CLIENTS NODE... (NODE: TCTI|STATE_DIR|ROOT_CA|ISSUER_CA;
 *        DIR holds ca.pem, operator.pem/.key, acme.pem/.key) */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/util.h"
#include "images/b64.h"
#include "tests/integration/verifier/fastquote.h"
#include "verifier/client.h"

#define MANIFEST "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const char *url, *dir;
static char **bodies;
static size_t total;
static atomic_size_t next;
static double *lat_ms;
static atomic_size_t released, refused;

static double now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

static void die(const char *what, const dj_err *err)
{
  fprintf(stderr, "bench_verifier: %s: %s\n", what, err ? err->msg : "");
  exit(1);
}

static struct dj_vclient *client(const char *role)
{
  char cert[512], key[512], ca[512];
  snprintf(ca, sizeof ca, "%s/ca.pem", dir);
  snprintf(cert, sizeof cert, "%s/%s.pem", dir, role ? role : "");
  snprintf(key, sizeof key, "%s/%s.key", dir, role ? role : "");
  struct dj_vclient_opts o = { .url = url, .ca = ca, .cert = role ? cert : NULL, .key = role ? key : NULL };
  struct dj_vclient *c;
  dj_err err = { 0 };
  if (dj_vclient_open(&o, &c, &err) < 0)
    die("client", &err);
  return c;
}

static void call(const char *role, const char *method, const char *path, json_t *body)
{
  struct dj_vclient *c = client(role);
  long st = 0;
  json_t *resp = NULL;
  dj_err err = { 0 };
  if (dj_vclient_request(c, method, path, body, &st, &resp, NULL, &err) < 0)
    die(path, &err);
  if (st < 200 || st >= 300) {
    dj_vclient_refused(st, resp, path, &err);
    die("setup", &err);
  }
  json_decref(resp);
  dj_vclient_close(c);
}

struct node {
  struct dj_node node;
  char id[65];
  size_t first, count;
  pthread_t thread;
};

static json_t *config_json(void)
{
  return json_pack("{s:{s:[s,s], s:[s]}, s:[{s:s}]}", "process", "args", "/bin/app", "--serve", "env", "PATH=/bin",
                   "mounts", "destination", "/tmp");
}

/* Challenges for this node's share, then a quote for each: the bodies are ready to send. */
static void *prepare(void *arg)
{
  struct node *n = arg;
  dj_err err = { 0 };
  struct dj_vclient *c = client(NULL);
  struct fastquote fq;
  if (fq_open(&fq, &n->node, "sha256:0,1,2,3,4,5,6,7,23", &err) < 0)
    die("quote", &err);
  struct dj_vchallenge *ch = dj_xcalloc(n->count, sizeof *ch);
  for (size_t i = 0; i < n->count; i++)
    if (dj_vclient_challenge(c, n->id, &ch[i], &err) < 0)
      die("challenge", &err);
  json_t *cfg = config_json();
  const char *keys[] = { "acme-db" };
  struct dj_vattest_args args = { .keys = keys, .n_keys = 1, .manifest = MANIFEST, .profile = "confidential",
                                  .config = cfg };
  for (size_t i = 0; i < n->count; i++) {
    EVP_PKEY *eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    uint8_t binding[32];
    struct dj_evidence ev;
    if (dj_vclient_binding(&args, ch[i].nonce, eph, binding, &err) < 0 || fq_quote(&fq, binding, &ev, &err) < 0)
      die("quote", &err);
    json_t *body = dj_vclient_attest_body(&args, n->id, ch[i].nonce, &ev, eph, &err);
    bodies[n->first + i] = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    dj_evidence_free(&ev);
    EVP_PKEY_free(eph);
  }
  json_decref(cfg);
  free(ch);
  fq_close(&fq);
  dj_vclient_close(c);
  return NULL;
}

struct sink {
  char buf[65536];
  size_t n;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *ctx)
{
  struct sink *s = ctx;
  size_t len = size * nmemb, room = sizeof s->buf - 1 - s->n;
  memcpy(s->buf + s->n, data, len < room ? len : room);
  s->n += len < room ? len : room;
  s->buf[s->n] = '\0';
  return len;
}

/* One keep-alive connection sending prepared bodies until none are left. */
static void *fire(void *arg)
{
  char ca[512], path[600];
  snprintf(ca, sizeof ca, "%s/ca.pem", dir);
  snprintf(path, sizeof path, "%s/v1/attest", url);
  CURL *h = curl_easy_init();
  struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
  hdr = curl_slist_append(hdr, "Expect:");
  struct sink s;
  curl_easy_setopt(h, CURLOPT_URL, path);
  curl_easy_setopt(h, CURLOPT_CAINFO, ca);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  (void) arg;
  for (size_t i; (i = atomic_fetch_add(&next, 1)) < total;) {
    s.n = 0;
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, bodies[i]);
    double t0 = now_ms();
    CURLcode rc = curl_easy_perform(h);
    lat_ms[i] = now_ms() - t0;
    long st = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &st);
    if (rc == CURLE_OK && st == 200 && strstr(s.buf, "\"decision\":\"allow\"") && strstr(s.buf, "\"jwe\":"))
      atomic_fetch_add(&released, 1);
    else
      atomic_fetch_add(&refused, 1);
  }
  curl_slist_free_all(hdr);
  curl_easy_cleanup(h);
  return NULL;
}

/* CPU seconds (user + system) a process has used, from /proc (0 when unknown). */
static double cpu_seconds(const char *pid)
{
  char path[64], buf[1024];
  if (pid == NULL)
    return 0;
  snprintf(path, sizeof path, "/proc/%s/stat", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  unsigned long long ut = 0, st = 0;
  if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
    return 0;
  return (double) (ut + st) / (double) sysconf(_SC_CLK_TCK);
}

static int cmp(const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
  if (argc < 6) {
    fprintf(stderr, "usage: bench_verifier URL DIR REQUESTS CLIENTS TCTI|STATE|ROOT|ISSUER...\n");
    return 2;
  }
  url = argv[1];
  dir = argv[2];
  total = (size_t) atol(argv[3]);
  int clients = atoi(argv[4]), n_nodes = argc - 5;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  struct node *nodes = dj_xcalloc((size_t) n_nodes, sizeof *nodes);
  json_t *roots = json_array(), *inter = json_array(), *inv = json_array();
  dj_err err = { 0 };
  for (int i = 0; i < n_nodes; i++) {
    char *spec = argv[5 + i], *save = NULL;
    dj_node_defaults(&nodes[i].node);
    nodes[i].node.tcti = strtok_r(spec, "|", &save);
    nodes[i].node.state_dir = strtok_r(NULL, "|", &save);
    json_array_append_new(roots, json_string(strtok_r(NULL, "|", &save)));
    json_array_append_new(inter, json_string(strtok_r(NULL, "|", &save)));
    nodes[i].node.ak_kind = DJ_AK_ECC_P256;
    nodes[i].node.ak_handle = 0;
    if (dj_vclient_node_id(&nodes[i].node, nodes[i].id, &err) < 0)
      die("node id", &err);
    char d[80];
    snprintf(d, sizeof d, "sha256:%s", nodes[i].id);
    json_array_append_new(inv, json_pack("{s:s, s:s, s:s, s:s}", "ek_digest", d, "site", "FR-PAR-1", "jurisdiction",
                                         "FR", "hardware_class", "std-1"));
  }
  json_t *pcrs = json_object();
  for (char k[2] = "0"; k[0] <= '7'; k[0]++) /* swtpm's PCR 0-7: zeros, no firmware extends them */
    json_object_set_new(pcrs, k, json_string("0000000000000000000000000000000000000000000000000000000000000000"));
  json_t *op = json_pack("{s:s, s:{s:o, s:o, s:{s:{}}, s:b, s:b}, s:[s], s:{s:s}, s:{s:{s:{s:o}}}}", "kind",
                         "operator", "hardware", "ek_roots", roots, "ek_intermediates", inter, "manufacturers",
                         "id:00001014", "inventory_required", true, "require_clock_safe", false, "jurisdictions", "FR",
                         "sites", "FR-PAR-1", "FR", "hardware_classes", "std-1", "boot", "sha256", pcrs);
  call("operator", "PUT", "/v1/policy/operator", op);
  json_t *invdoc = json_pack("{s:o}", "entries", inv);
  call("operator", "POST", "/v1/inventory", invdoc);
  json_t *tenant = json_pack("{s:s, s:s, s:{s:{s:[s], s:[s], s:[s], s:i, s:[{s:s, s:s, s:{s:[[s,s]], s:[s], s:[s]}}]}}}",
                             "kind", "tenant", "tenant", "acme", "keys", "acme-db", "jurisdictions", "FR", "sites",
                             "FR-PAR-*", "hardware_classes", "std-1", "max_evidence_age", 300, "workloads", "manifest",
                             MANIFEST, "profile", "confidential", "config", "args", "/bin/app", "--serve", "env",
                             "PATH=*", "mounts", "/tmp");
  call("acme", "PUT", "/v1/policy/tenants/acme", tenant);
  char *v = dj_b64url_encode((const uint8_t *) "0123456789abcdef0123456789abcdef", 32);
  json_t *key = json_pack("{s:s, s:s}", "kind", "secret", "value", v);
  call("acme", "PUT", "/v1/keys/acme-db", key);
  for (int i = 0; i < n_nodes; i++) {
    struct dj_vclient *c = client(NULL);
    struct dj_venrolled e;
    if (dj_vclient_enroll(c, &nodes[i].node, "bench", &e, &err) < 0)
      die("enrol", &err);
    if (strcmp(e.status, "approved") != 0)
      die("enrol: not approved by the inventory", NULL);
    dj_vclient_close(c);
  }

  /* rounds of ROUND requests: each round's quotes are made, then sent, well within the nonce
   * lifetime even on a loaded machine; only the sending is timed */
  size_t all = total, round = total < 4000 ? total : 4000;
  bodies = dj_xcalloc(all, sizeof *bodies);
  lat_ms = dj_xcalloc(all, sizeof *lat_ms);
  const char *vpid = getenv("BENCH_VERIFIER_PID"), *wpath = getenv("BENCH_WINDOWS");
  FILE *windows = wpath ? fopen(wpath, "w") : NULL;
  double prep_ms = 0, secs = 0, cpu_v = 0, cpu_c = 0;
  pthread_t *th = dj_xcalloc((size_t) clients, sizeof *th);
  for (size_t base = 0; base < all; base += round) {
    size_t count = all - base < round ? all - base : round;
    double t0 = now_ms();
    for (int i = 0; i < n_nodes; i++) {
      nodes[i].first = base + count * (size_t) i / (size_t) n_nodes;
      nodes[i].count = base + count * (size_t) (i + 1) / (size_t) n_nodes - nodes[i].first;
      pthread_create(&nodes[i].thread, NULL, prepare, &nodes[i]);
    }
    for (int i = 0; i < n_nodes; i++)
      pthread_join(nodes[i].thread, NULL);
    double t1 = now_ms();
    prep_ms += t1 - t0;
    atomic_store(&next, base);
    total = base + count;
    double c2 = cpu_seconds(vpid), s2 = cpu_seconds("self");
    double t2 = now_ms();
    for (int i = 0; i < clients; i++)
      pthread_create(&th[i], NULL, fire, NULL);
    for (int i = 0; i < clients; i++)
      pthread_join(th[i], NULL);
    double t3 = now_ms();
    secs += (t3 - t2) / 1e3;
    cpu_v += cpu_seconds(vpid) - c2;
    cpu_c += cpu_seconds("self") - s2;
    for (size_t i = base; i < base + count; i++)
      free(bodies[i]);
    if (windows) /* for perf report --time: the sending phases, CLOCK_MONOTONIC seconds */
      fprintf(windows, "%s%.6f,%.6f", base ? " " : "", t2 / 1e3, t3 / 1e3);
    if (base == 0)
      printf("round 1: nonces used at most %.1f s after their challenge (lifetime 60 s)\n", (t3 - t0) / 1e3);
  }
  total = all;
  if (windows)
    fclose(windows);
  printf("prepared %zu challenges and quotes on %d swtpm nodes in %.1f s (%.0f/s)\n", total, n_nodes, prep_ms / 1e3,
         (double) total * 1e3 / prep_ms);
  qsort(lat_ms, total, sizeof *lat_ms, cmp);
  printf("attest: %zu released, %zu not, in %.2f s with %d keep-alive clients: %.0f released/s, "
         "latency p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
         (size_t) atomic_load(&released), (size_t) atomic_load(&refused), secs, clients,
         (double) atomic_load(&released) / secs, lat_ms[total / 2], lat_ms[total * 99 / 100], lat_ms[total - 1]);
  printf("CPU while sending: verifier %.2f cores (%.0f us per release), load client %.2f cores\n", cpu_v / secs,
         cpu_v * 1e6 / (double) (atomic_load(&released) ? atomic_load(&released) : 1), cpu_c / secs);
  return atomic_load(&refused) == 0 ? 0 : 1;
}
