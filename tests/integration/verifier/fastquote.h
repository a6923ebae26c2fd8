/* Quotes made ahead of time for load tests and the benchmark: one TPM connection kept open with
 * the EK and AK loaded, the PCR values read once (nothing extends them meanwhile), one quote per
 * binding. Not for production: the node side's quotes go through attest/node.h. */
#ifndef DJ_TEST_FASTQUOTE_H
#define DJ_TEST_FASTQUOTE_H

#include <pthread.h>

#include "attest/node.h"
#include "attest/tpm.h"

struct fastquote {
  struct dj_tpm tpm;
  ESYS_TR ek, ak;
  struct dj_ak_blobs blobs;
  TPML_PCR_SELECTION sel;
  struct dj_pcr_values pcrs;
  pthread_mutex_t lock;
};

int fq_open(struct fastquote *q, const struct dj_node *node, const char *selection, dj_err *err);
/* Thread-safe; ev->log is empty (free ev with dj_evidence_free). */
int fq_quote(struct fastquote *q, const uint8_t binding[32], struct dj_evidence *ev, dj_err *err);
void fq_close(struct fastquote *q);

#endif
