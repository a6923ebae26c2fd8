#include "fastquote.h"

#include <string.h>

#include "common/util.h"

int fq_open(struct fastquote *q, const struct dj_node *node, const char *selection, dj_err *err)
{
  memset(q, 0, sizeof *q);
  pthread_mutex_init(&q->lock, NULL);
  bool created;
  TPM2B_PUBLIC ekpub;
  q->ek = q->ak = ESYS_TR_NONE;
  if (dj_node_ak_ensure(node, &q->blobs, &created, err) < 0 || dj_pcr_selection_parse(selection, &q->sel, err) < 0 ||
      dj_tpm_open(dj_tpm_tcti_choose(node->tcti), &q->tpm, err) < 0)
    return -1;
  if (dj_tpm_ek_create(&q->tpm, node->ek_kind, &q->ek, &ekpub, err) < 0 ||
      dj_tpm_ak_load(&q->tpm, &ekpub.publicArea, q->ek, &q->blobs, &q->ak, err) < 0 ||
      dj_tpm_pcr_read(&q->tpm, &q->sel, &q->pcrs, err) < 0) {
    fq_close(q);
    return -1;
  }
  return 0;
}

int fq_quote(struct fastquote *q, const uint8_t binding[32], struct dj_evidence *ev, dj_err *err)
{
  memset(ev, 0, sizeof *ev);
  ev->ak = q->blobs.pub;
  ev->pcrs = q->pcrs;
  pthread_mutex_lock(&q->lock);
  int r = dj_tpm_quote(&q->tpm, q->ak, ESYS_TR_PASSWORD, &q->sel, binding, 32, ev->msg, &ev->msg_len, ev->sig,
                       &ev->sig_len, err);
  pthread_mutex_unlock(&q->lock);
  ev->log = dj_xstrdup("");
  return r;
}

void fq_close(struct fastquote *q)
{
  if (q->tpm.esys) {
    dj_tpm_flush(&q->tpm, &q->ak);
    dj_tpm_flush(&q->tpm, &q->ek);
  }
  dj_tpm_close(&q->tpm);
  pthread_mutex_destroy(&q->lock);
}
