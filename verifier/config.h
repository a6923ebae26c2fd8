/* donjon-verifier's configuration file (JSON, strict: an unknown member is an error, every error
 * names its path). docs/verifier.md documents every member and its default. */
#ifndef DJ_VERIFIER_CONFIG_H
#define DJ_VERIFIER_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "common/err.h"

struct dj_vconfig {
  char *listen_host;             /* "127.0.0.1" */
  int listen_port;               /* 0: any free port (printed at start) */
  char *tls_cert, *tls_key, *client_ca;
  char *database, *master_key, *audit_key;
  bool synchronous_full;
  int workers;
  int64_t nonce_lifetime_ms;
  int64_t enroll_lifetime_ms;
  int64_t clock_tolerance_ms;
  int64_t checkpoint_interval_ms;
  char *pcr_selection_text;
  TPML_PCR_SELECTION pcr_selection;
  unsigned workload_pcr;
  /* limits */
  int64_t max_body;
  int64_t request_timeout_ms;
  int max_connections;           /* per worker */
  double node_rate, node_burst;  /* challenges per second and burst, per node */
  double addr_rate, addr_burst;  /* per source address */
  int64_t max_outstanding_nonces;
};

int dj_vconfig_load(const char *path, struct dj_vconfig *cfg, dj_err *err);
void dj_vconfig_free(struct dj_vconfig *cfg);

#endif
