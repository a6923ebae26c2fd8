/* The workload measurement log (docs/protocol.md, "The measurement log"): JSON Lines, one event per
 * line, replayed to the workload PCR; and the binding hash that goes into a quote's extraData
 * (DESIGN.md §3). */
#ifndef DJ_ATTEST_MLOG_H
#define DJ_ATTEST_MLOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "attest/pcr.h"
#include "common/err.h"

#define DJ_MLOG_MAX_BYTES (16u << 20)
#define DJ_MLOG_MAX_LINE 65536u
#define DJ_MLOG_MAX_EVENTS 65536u

#define DJ_BINDING_LABEL "donjon/attest/v1"

struct dj_mlog_entry {
  uint64_t seq;
  unsigned pcr;
  bool reset;        /* a PCR reset (from locality 0) recorded as an event: replay restarts at zero */
  char *event;       /* canonical JSON of the event object (measurements only) */
};

struct dj_mlog {
  size_t count;
  struct dj_mlog_entry *e;
};

/* Parse a whole log (DJ_ATTEST_E_LOG_FORMAT on any defect: bad JSON, unknown member or type, seq
 * not 0,1,2..., a line over DJ_MLOG_MAX_LINE, too many events, no final newline). */
int dj_mlog_parse(const char *buf, size_t len, struct dj_mlog *out, dj_err *err);
void dj_mlog_free(struct dj_mlog *log);

/* The digest a measurement extends into a bank: H_bank(canonical JSON of the event). */
int dj_mlog_event_digest(const char *canonical_event, TPMI_ALG_HASH bank, uint8_t *out, size_t *len, dj_err *err);
/* The value PCR pcr of bank should hold after the log: zeros, extended by each event of that PCR. */
int dj_mlog_replay(const struct dj_mlog *log, unsigned pcr, TPMI_ALG_HASH bank, uint8_t *out, size_t *len,
                   dj_err *err);
/* Replay and compare with a quoted value (DJ_ATTEST_E_LOG_REPLAY when they differ). */
int dj_mlog_check(const struct dj_mlog *log, const struct dj_pcr_value *quoted, dj_err *err);

/* One log line (with its newline) for an event object, or a reset when event is NULL. The
 * event's canonical form is what is hashed. Returns a malloc'd string. */
char *dj_mlog_line(uint64_t seq, unsigned pcr, const json_t *event);

/* SHA-256("donjon/attest/v1" || nonce || JWK thumbprint of the ephemeral key || workload digest). */
void dj_binding_hash(const uint8_t nonce[32], const uint8_t key_thumbprint[32], const uint8_t workload[32],
                     uint8_t out[32]);
/* SHA-256 of the canonical {"config":..., "manifest":..., "profile":...} (DESIGN.md §3). */
int dj_workload_digest(const char *manifest, const char *config, const char *profile, uint8_t out[32], dj_err *err);

#endif
