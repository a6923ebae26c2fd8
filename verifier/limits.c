/* Rate limits (token buckets per node and per source address) and the Prometheus metrics, shared by
 * every worker under the server's mutex. Both tables are bounded: a flood of new keys cannot grow
 * memory without limit. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "verifier/server.h"

#define RATE_MAX_ENTRIES 65536
#define RATE_IDLE_MS 120000

struct rate_entry {
  char key[96];
  double tokens;
  int64_t last_ms;
  bool used;
};

static uint64_t fnv1a(const char *s)
{
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (uint8_t) *s) * 1099511628211ull;
  return h;
}

/* Open addressing; idle entries are dropped when the table is rebuilt. */
static void rate_rebuild(struct dj_vserver *srv, int64_t now)
{
  size_t cap = srv->cap_rates ? srv->cap_rates : 1024;
  struct rate_entry *old = srv->rates;
  size_t old_cap = srv->cap_rates, live = 0;
  for (size_t i = 0; i < old_cap; i++)
    live += old[i].used && now - old[i].last_ms < RATE_IDLE_MS;
  while (live * 2 >= cap)
    cap *= 2;
  srv->rates = dj_xcalloc(cap, sizeof *srv->rates);
  srv->cap_rates = cap;
  srv->n_rates = 0;
  for (size_t i = 0; i < old_cap; i++) {
    if (!old[i].used || now - old[i].last_ms >= RATE_IDLE_MS)
      continue;
    size_t k = fnv1a(old[i].key) & (cap - 1);
    while (srv->rates[k].used)
      k = (k + 1) & (cap - 1);
    srv->rates[k] = old[i];
    srv->n_rates++;
  }
  free(old);
}

bool dj_vrate_allow(struct dj_vserver *srv, const char *kind, const char *key, double rate, double burst)
{
  char full[96];
  snprintf(full, sizeof full, "%s:%.80s", kind, key);
  int64_t now = dj_vmono_ms();
  bool ok;
  pthread_mutex_lock(&srv->lock);
  if (srv->cap_rates == 0 || (srv->n_rates + 1) * 2 > srv->cap_rates)
    rate_rebuild(srv, now);
  size_t mask = srv->cap_rates - 1, k = fnv1a(full) & mask;
  while (srv->rates[k].used && strcmp(srv->rates[k].key, full) != 0)
    k = (k + 1) & mask;
  struct rate_entry *e = &srv->rates[k];
  if (!e->used) {
    if (srv->n_rates >= RATE_MAX_ENTRIES) { /* too many callers at once: refuse newcomers */
      pthread_mutex_unlock(&srv->lock);
      return false;
    }
    snprintf(e->key, sizeof e->key, "%s", full);
    e->used = true;
    e->tokens = burst;
    e->last_ms = now;
    srv->n_rates++;
  }
  e->tokens += (double) (now - e->last_ms) * rate / 1000.0;
  if (e->tokens > burst)
    e->tokens = burst;
  e->last_ms = now;
  ok = e->tokens >= 1.0;
  if (ok)
    e->tokens -= 1.0;
  pthread_mutex_unlock(&srv->lock);
  return ok;
}

/* ---- metrics -------------------------------------------------------------------------------- */

#define MAX_SERIES 256
static const double buckets_ms[] = { 0.5, 1, 2, 5, 10, 20, 50, 100, 250, 500, 1000, 5000 };
#define N_BUCKETS (sizeof buckets_ms / sizeof buckets_ms[0])

struct series {
  char route[32];
  int status;
  uint64_t count;
};
struct latency {
  char route[32];
  uint64_t count, bucket[N_BUCKETS];
  double sum_ms;
};
struct decision {
  char decision[8];
  char reason[48];
  uint64_t count;
};
struct metrics {
  struct series req[MAX_SERIES];
  size_t n_req;
  struct latency lat[64];
  size_t n_lat;
  struct decision dec[MAX_SERIES];
  size_t n_dec;
};

static struct metrics *metrics_of(struct dj_vserver *srv)
{
  if (srv->metrics == NULL)
    srv->metrics = dj_xcalloc(1, sizeof *srv->metrics);
  return srv->metrics;
}

void dj_vmetrics_request(struct dj_vserver *srv, const char *route, int status, double ms);
void dj_vmetrics_request(struct dj_vserver *srv, const char *route, int status, double ms)
{
  pthread_mutex_lock(&srv->lock);
  struct metrics *m = metrics_of(srv);
  size_t i;
  for (i = 0; i < m->n_req && (m->req[i].status != status || strcmp(m->req[i].route, route) != 0); i++) {
  }
  if (i == m->n_req && m->n_req < MAX_SERIES) {
    snprintf(m->req[i].route, sizeof m->req[i].route, "%s", route);
    m->req[i].status = status;
    m->n_req++;
  }
  if (i < m->n_req)
    m->req[i].count++;
  for (i = 0; i < m->n_lat && strcmp(m->lat[i].route, route) != 0; i++) {
  }
  if (i == m->n_lat && m->n_lat < DJ_ARRAY_SIZE(m->lat)) {
    snprintf(m->lat[i].route, sizeof m->lat[i].route, "%s", route);
    m->n_lat++;
  }
  if (i < m->n_lat) {
    struct latency *l = &m->lat[i];
    l->count++;
    l->sum_ms += ms;
    for (size_t b = 0; b < N_BUCKETS; b++)
      if (ms <= buckets_ms[b])
        l->bucket[b]++;
  }
  pthread_mutex_unlock(&srv->lock);
}

void dj_vmetrics_decision(struct dj_vserver *srv, const char *decision, const char *reason)
{
  pthread_mutex_lock(&srv->lock);
  struct metrics *m = metrics_of(srv);
  size_t i;
  for (i = 0; i < m->n_dec && (strcmp(m->dec[i].decision, decision) != 0 || strcmp(m->dec[i].reason, reason) != 0);
       i++) {
  }
  if (i == m->n_dec && m->n_dec < MAX_SERIES) {
    snprintf(m->dec[i].decision, sizeof m->dec[i].decision, "%s", decision);
    snprintf(m->dec[i].reason, sizeof m->dec[i].reason, "%s", reason);
    m->n_dec++;
  }
  if (i < m->n_dec)
    m->dec[i].count++;
  pthread_mutex_unlock(&srv->lock);
}

char *dj_vmetrics_text(struct dj_vserver *srv)
{
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL)
    return NULL;
  pthread_mutex_lock(&srv->lock);
  struct metrics *m = metrics_of(srv);
  fprintf(f, "# HELP donjon_verifier_requests_total HTTP requests answered, by route and status.\n"
             "# TYPE donjon_verifier_requests_total counter\n");
  for (size_t i = 0; i < m->n_req; i++)
    fprintf(f, "donjon_verifier_requests_total{route=\"%s\",status=\"%d\"} %" PRIu64 "\n", m->req[i].route,
            m->req[i].status, m->req[i].count);
  fprintf(f, "# HELP donjon_verifier_decisions_total Attestation and enrolment decisions, by reason.\n"
             "# TYPE donjon_verifier_decisions_total counter\n");
  for (size_t i = 0; i < m->n_dec; i++)
    fprintf(f, "donjon_verifier_decisions_total{decision=\"%s\",reason=\"%s\"} %" PRIu64 "\n", m->dec[i].decision,
            m->dec[i].reason, m->dec[i].count);
  fprintf(f, "# HELP donjon_verifier_request_duration_seconds Time spent answering a request.\n"
             "# TYPE donjon_verifier_request_duration_seconds histogram\n");
  for (size_t i = 0; i < m->n_lat; i++) {
    const struct latency *l = &m->lat[i];
    for (size_t b = 0; b < N_BUCKETS; b++)
      fprintf(f, "donjon_verifier_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %" PRIu64 "\n", l->route,
              buckets_ms[b] / 1000.0, l->bucket[b]);
    fprintf(f, "donjon_verifier_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", l->route,
            l->count);
    fprintf(f, "donjon_verifier_request_duration_seconds_sum{route=\"%s\"} %.6f\n", l->route, l->sum_ms / 1000.0);
    fprintf(f, "donjon_verifier_request_duration_seconds_count{route=\"%s\"} %" PRIu64 "\n", l->route, l->count);
  }
  pthread_mutex_unlock(&srv->lock);
  fclose(f);
  return buf;
}
