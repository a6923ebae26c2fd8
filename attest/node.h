/* The node's flows over tpm.h: AK provisioning, quote with its log snapshot, extend with its log
 * append, credential activation. Each takes the node's lock (flock on STATE_DIR/lock) first and
 * then opens the TPM for as short a time as it can: lock order is donjon lock, then TPM. */
#ifndef DJ_ATTEST_NODE_H
#define DJ_ATTEST_NODE_H

#include <jansson.h>
#include <stdbool.h>

#include "attest/tpm.h"
#include "attest/tpmstruct.h"

#define DJ_NODE_DEFAULT_STATE_DIR "/var/lib/donjon/attest"
#define DJ_NODE_DEFAULT_PCR 23

struct dj_node {
  const char *tcti;          /* NULL: dj_tpm_tcti_choose(NULL) */
  const char *state_dir;     /* AK blobs, measurement logs, lock; NULL: the default */
  enum dj_ek_kind ek_kind;
  enum dj_ak_kind ak_kind;
  uint32_t ak_handle;        /* persistent handle for tpm2-tools, 0: do not persist */
  uint32_t ek_handle;        /* an RSA EK is kept persistent here (an RSA CreatePrimary costs tens of
                                ms in swtpm, seconds in some TPMs); 0: re-create it every time */
  unsigned workload_pcr;
};

/* Defaults: RSA-2048 EK (kept at 0x81010001), RSA-2048 AK (at 0x81010002), PCR 23. */
void dj_node_defaults(struct dj_node *node);

/* Load the AK blobs, or create the AK (and persist it) when there are none. The quote and the
 * activation make it persistent at ak_handle again when that handle is empty (after TPM2_Clear or
 * an evict), and use the persistent copy when it is the blobs' key. */
int dj_node_ak_ensure(const struct dj_node *node, struct dj_ak_blobs *ak, bool *created, dj_err *err);

/* Whether name is the name of one of the node's AKs (any EK and AK kind with blobs in its state
 * directory): `tpm info` reports a persistent handle as donjon's AK only then. */
bool dj_node_ak_known(const struct dj_node *node, const TPM2B_NAME *name);

/* Everything a verifier needs from one quote. */
struct dj_evidence {
  TPM2B_PUBLIC ak;
  uint8_t msg[DJ_TPM_STRUCT_MAX];
  size_t msg_len;
  uint8_t sig[DJ_TPM_STRUCT_MAX];
  size_t sig_len;
  struct dj_pcr_values pcrs;   /* the values read under the lock, selection order */
  char *log;                   /* this boot's measurement log, snapshot under the lock (malloc'd) */
  size_t log_len;
};
void dj_evidence_free(struct dj_evidence *ev);

int dj_node_quote(const struct dj_node *node, const TPML_PCR_SELECTION *sel, const uint8_t *extra, size_t extra_len,
                  struct dj_evidence *ev, dj_err *err);

/* Append a measurement event to this boot's log and extend the workload PCR with it, under one
 * lock. A PCR found at zero where the log says otherwise is recorded as a reset event first; any
 * other difference is DJ_ATTEST_E_LOG_REPLAY (someone else extended the PCR). */
int dj_node_extend(const struct dj_node *node, const json_t *event, uint64_t *seq, dj_err *err);

/* ActivateCredential with the AK under the EK: the recovered secret in *secret. */
int dj_node_activate(const struct dj_node *node, const TPM2B_ID_OBJECT *blob, const TPM2B_ENCRYPTED_SECRET *seed,
                     TPM2B_DIGEST *secret, dj_err *err);

/* This boot's log file name (by resetCount) in a buffer of PATH_MAX. */
void dj_node_log_path(const struct dj_node *node, const struct dj_tpm_counters *c, char *out, size_t size);

#endif
