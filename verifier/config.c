#include "verifier/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attest/pcr.h"
#include "common/json.h"
#include "common/util.h"
#include "verifier/requests.h"

#define CONFIG_MAX (256 * 1024)

static int req_path(json_t *obj, const char *key, const char *path, char **out, dj_err *err)
{
  const char *s;
  if (dj_json_req_string(obj, key, path, &s, err) < 0)
    return -1;
  if (s[0] != '/') {
    char p[DJ_JPATH_MAX];
    dj_jpath_key(p, path, key);
    return dj_error(err, 0, "%s: \"%s\" is not an absolute path", p, s);
  }
  *out = dj_xstrdup(s);
  return 0;
}

static int opt_ms(json_t *obj, const char *key, const char *path, int64_t min, int64_t max, int64_t *out, dj_err *err)
{
  return dj_json_opt_int64(obj, key, path, min, max, out, err) < 0 ? -1 : 0;
}

static int opt_rate(json_t *obj, const char *key, const char *path, double *out, dj_err *err)
{
  int64_t v = (int64_t) *out;
  if (dj_json_opt_int64(obj, key, path, 1, 1000000, &v, err) < 0)
    return -1;
  *out = (double) v;
  return 0;
}

static int parse_limits(json_t *l, struct dj_vconfig *c, dj_err *err)
{
  static const char *const members[] = { "max_body", "request_timeout_ms", "max_connections", "challenges_per_node",
                                         "challenge_burst_per_node", "challenges_per_address",
                                         "challenge_burst_per_address", "max_outstanding_nonces", NULL };
  int64_t conns = c->max_connections;
  if (dj_vjson_members(l, "limits", members, err) < 0 || opt_ms(l, "max_body", "limits", 1024, 64 << 20, &c->max_body, err) < 0 ||
      opt_ms(l, "request_timeout_ms", "limits", 100, 600000, &c->request_timeout_ms, err) < 0 ||
      opt_ms(l, "max_connections", "limits", 1, 100000, &conns, err) < 0 ||
      opt_rate(l, "challenges_per_node", "limits", &c->node_rate, err) < 0 ||
      opt_rate(l, "challenge_burst_per_node", "limits", &c->node_burst, err) < 0 ||
      opt_rate(l, "challenges_per_address", "limits", &c->addr_rate, err) < 0 ||
      opt_rate(l, "challenge_burst_per_address", "limits", &c->addr_burst, err) < 0 ||
      opt_ms(l, "max_outstanding_nonces", "limits", 1, 1000000, &c->max_outstanding_nonces, err) < 0)
    return -1;
  c->max_connections = (int) conns;
  return 0;
}

static int parse_listen(const char *s, struct dj_vconfig *c, dj_err *err)
{
  const char *colon = strrchr(s, ':');
  uint64_t port;
  if (colon == NULL || colon == s || dj_parse_u64(colon + 1, &port) < 0 || port > 65535)
    return dj_error(err, 0, "listen: \"%s\" is not HOST:PORT", s);
  c->listen_host = dj_xasprintf("%.*s", (int) (colon - s), s);
  c->listen_port = (int) port;
  return 0;
}

static int parse(json_t *j, struct dj_vconfig *c, dj_err *err)
{
  static const char *const members[] = { "listen", "tls", "database", "master_key", "audit_key", "synchronous",
                                         "workers", "nonce_lifetime_ms", "enroll_lifetime_ms", "clock_tolerance_ms",
                                         "checkpoint_interval_ms", "pcr_selection", "workload_pcr", "limits", NULL };
  static const char *const tls_members[] = { "certificate", "key", "client_ca", NULL };
  const char *listen = NULL, *sync = NULL, *sel = NULL;
  json_t *tls, *limits = NULL;
  int64_t workers = c->workers, pcr = c->workload_pcr;
  if (dj_vjson_members(j, "", members, err) < 0 || dj_json_req_string(j, "listen", "", &listen, err) < 0 ||
      parse_listen(listen, c, err) < 0 || dj_json_req_object(j, "tls", "", &tls, err) < 0 ||
      dj_vjson_members(tls, "tls", tls_members, err) < 0 || req_path(tls, "certificate", "tls", &c->tls_cert, err) < 0 ||
      req_path(tls, "key", "tls", &c->tls_key, err) < 0 || req_path(tls, "client_ca", "tls", &c->client_ca, err) < 0 ||
      req_path(j, "database", "", &c->database, err) < 0 || req_path(j, "master_key", "", &c->master_key, err) < 0 ||
      req_path(j, "audit_key", "", &c->audit_key, err) < 0 || dj_json_opt_string(j, "synchronous", "", &sync, err) < 0 ||
      dj_json_opt_int64(j, "workers", "", 1, 64, &workers, err) < 0 ||
      opt_ms(j, "nonce_lifetime_ms", "", 100, 3600000, &c->nonce_lifetime_ms, err) < 0 ||
      opt_ms(j, "enroll_lifetime_ms", "", 1000, 86400000, &c->enroll_lifetime_ms, err) < 0 ||
      opt_ms(j, "clock_tolerance_ms", "", 0, 86400000, &c->clock_tolerance_ms, err) < 0 ||
      opt_ms(j, "checkpoint_interval_ms", "", 10, 3600000, &c->checkpoint_interval_ms, err) < 0 ||
      dj_json_opt_string(j, "pcr_selection", "", &sel, err) < 0 ||
      dj_json_opt_int64(j, "workload_pcr", "", 0, DJ_PCR_COUNT - 1, &pcr, err) < 0 ||
      dj_json_opt_object(j, "limits", "", &limits, err) < 0)
    return -1;
  if (limits && parse_limits(limits, c, err) < 0)
    return -1;
  if (sync && strcmp(sync, "full") != 0 && strcmp(sync, "normal") != 0)
    return dj_error(err, 0, "synchronous: \"%s\" is not \"normal\" or \"full\"", sync);
  c->synchronous_full = sync && strcmp(sync, "full") == 0;
  c->workers = (int) workers;
  c->workload_pcr = (unsigned) pcr;
  if (sel)
    c->pcr_selection_text = dj_xstrdup(sel);
  if (dj_pcr_selection_parse(c->pcr_selection_text, &c->pcr_selection, err) < 0)
    return dj_err_wrap(err, "pcr_selection");
  bool has_workload = false;
  for (uint32_t i = 0; i < c->pcr_selection.count; i++)
    has_workload |= c->pcr_selection.pcrSelections[i].hash == TPM2_ALG_SHA256 &&
                    dj_pcr_selected(&c->pcr_selection.pcrSelections[i], c->workload_pcr);
  if (!has_workload)
    return dj_error(err, 0, "pcr_selection: \"%s\" does not select the workload PCR sha256:%u", c->pcr_selection_text,
                    c->workload_pcr);
  return 0;
}

int dj_vconfig_load(const char *path, struct dj_vconfig *cfg, dj_err *err)
{
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  *cfg = (struct dj_vconfig){
    .workers = ncpu > 0 && ncpu < 64 ? (int) ncpu : 2,
    .nonce_lifetime_ms = 60000,
    .enroll_lifetime_ms = 300000,
    .clock_tolerance_ms = 5000,
    .checkpoint_interval_ms = 1000,
    .pcr_selection_text = dj_xstrdup("sha256:0,1,2,3,4,5,6,7,23"),
    .workload_pcr = 23,
    .max_body = 4 << 20,
    .request_timeout_ms = 10000,
    .max_connections = 4096,
    .node_rate = 20, .node_burst = 40,
    .addr_rate = 200, .addr_burst = 400,
    .max_outstanding_nonces = 256,
  };
  json_t *j _cleanup_json_ = NULL;
  if (dj_json_load_file(path, CONFIG_MAX, &j, err) < 0)
    return -1;
  if (parse(j, cfg, err) < 0) {
    dj_vconfig_free(cfg);
    return dj_err_wrap(err, "%s", path);
  }
  return 0;
}

void dj_vconfig_free(struct dj_vconfig *c)
{
  free(c->listen_host);
  free(c->tls_cert);
  free(c->tls_key);
  free(c->client_ca);
  free(c->database);
  free(c->master_key);
  free(c->audit_key);
  free(c->pcr_selection_text);
  memset(c, 0, sizeof *c);
}
