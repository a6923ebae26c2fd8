/* TPM operations on loaded objects: PCR read and extend, clock, quote, credential activation. */
#include "attest/tpm.h"

#include <string.h>

#include <openssl/evp.h>
#include <tss2/tss2_mu.h>

#include "attest/codes.h"
#include "attest/tpmstruct.h"
#include "common/util.h"

#define TPM_FAIL(err, what, rc) \
  dj_error_code(err, DJ_ATTEST_E_TPM, "%s: %s (0x%x)", what, dj_tpm_rc_str(rc), (unsigned) (rc))

int dj_tpm_pcr_read(struct dj_tpm *tpm, const TPML_PCR_SELECTION *sel, struct dj_pcr_values *out, dj_err *err)
{
  if (dj_pcr_selection_count(sel) > DJ_PCR_VALUES_MAX)
    return dj_error(err, 0, "PCR read: too many PCRs");
  struct dj_pcr_values got = { 0 };
  TPML_PCR_SELECTION left = *sel;
  for (int round = 0; dj_pcr_selection_count(&left) > 0; round++) {
    TPML_PCR_SELECTION *done = NULL;
    TPML_DIGEST *vals = NULL;
    TSS2_RC rc = Esys_PCR_Read(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &left, NULL, &done, &vals);
    if (rc != TSS2_RC_SUCCESS)
      return TPM_FAIL(err, "PCR_Read", rc);
    /* The TPM returns what it read (at most 8 digests) in selection order: take those out of left. */
    uint32_t k = 0;
    for (uint32_t b = 0; b < done->count; b++) {
      TPMS_PCR_SELECTION *s = &done->pcrSelections[b];
      for (unsigned p = 0; p < 8u * TPM2_PCR_SELECT_MAX; p++) {
        if (!dj_pcr_selected(s, p))
          continue;
        if (k >= vals->count || got.count >= DJ_PCR_VALUES_MAX) {
          Esys_Free(done);
          Esys_Free(vals);
          return dj_error_code(err, DJ_ATTEST_E_TPM, "PCR_Read: fewer digests than PCRs read");
        }
        struct dj_pcr_value *v = &got.v[got.count++];
        v->bank = s->hash;
        v->index = (uint8_t) p;
        v->size = vals->digests[k].size;
        memcpy(v->digest, vals->digests[k].buffer, vals->digests[k].size);
        k++;
        for (uint32_t lb = 0; lb < left.count; lb++)
          if (left.pcrSelections[lb].hash == s->hash)
            left.pcrSelections[lb].pcrSelect[p / 8] &= (uint8_t) ~(1u << (p % 8));
      }
    }
    Esys_Free(done);
    Esys_Free(vals);
    if (k == 0 || round > 3 * DJ_PCR_COUNT)
      return dj_error_code(err, DJ_ATTEST_E_TPM, "PCR_Read: the TPM read none of the PCRs asked for (bank not allocated?)");
  }
  /* Put the values in selection order. */
  out->count = 0;
  for (uint32_t b = 0; b < sel->count; b++)
    for (unsigned p = 0; p < 8u * TPM2_PCR_SELECT_MAX; p++)
      if (dj_pcr_selected(&sel->pcrSelections[b], p)) {
        const struct dj_pcr_value *v = dj_pcr_values_find(&got, sel->pcrSelections[b].hash, p);
        if (v == NULL)
          return dj_error_code(err, DJ_ATTEST_E_TPM, "PCR_Read: PCR %u not read", p);
        out->v[out->count++] = *v;
      }
  return 0;
}

int dj_tpm_banks(struct dj_tpm *tpm, TPML_PCR_SELECTION *banks, dj_err *err)
{
  TPMS_CAPABILITY_DATA *cap = NULL;
  TSS2_RC rc = Esys_GetCapability(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_PCRS, 0, 1, NULL, &cap);
  if (rc != TSS2_RC_SUCCESS)
    return TPM_FAIL(err, "GetCapability(PCRs)", rc);
  memset(banks, 0, sizeof *banks);
  const TPML_PCR_SELECTION *a = &cap->data.assignedPCR;
  for (uint32_t i = 0; i < a->count && i < TPM2_NUM_PCR_BANKS; i++) {
    bool any = false;
    for (unsigned j = 0; j < a->pcrSelections[i].sizeofSelect && j < TPM2_PCR_SELECT_MAX; j++)
      any |= a->pcrSelections[i].pcrSelect[j] != 0;
    if (any) {
      banks->pcrSelections[banks->count].hash = a->pcrSelections[i].hash;
      banks->pcrSelections[banks->count].sizeofSelect = 3;
      banks->count++;
    }
  }
  Esys_Free(cap);
  return 0;
}

int dj_tpm_extend(struct dj_tpm *tpm, unsigned pcr, const void *data, size_t len, dj_err *err)
{
  if (pcr >= DJ_PCR_COUNT)
    return dj_error(err, 0, "extend: PCR %u", pcr);
  TPML_PCR_SELECTION banks;
  if (dj_tpm_banks(tpm, &banks, err) < 0)
    return -1;
  TPML_DIGEST_VALUES dv = { 0 };
  for (uint32_t i = 0; i < banks.count; i++) {
    const EVP_MD *md = dj_tpm_md(banks.pcrSelections[i].hash);
    if (md == NULL)
      continue; /* a bank OpenSSL cannot hash (SM3): left alone, and the verifier does not use it */
    unsigned int n = 0;
    dv.digests[dv.count].hashAlg = banks.pcrSelections[i].hash;
    if (!EVP_Digest(data, len, (uint8_t *) &dv.digests[dv.count].digest, &n, md, NULL))
      return dj_error(err, 0, "extend: digest failed");
    dv.count++;
  }
  TSS2_RC rc = Esys_PCR_Extend(tpm->esys, ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &dv);
  if (rc != TSS2_RC_SUCCESS)
    return dj_error_code(err, DJ_ATTEST_E_TPM, "PCR_Extend %u: %s", pcr, dj_tpm_rc_str(rc));
  return 0;
}

int dj_tpm_clock(struct dj_tpm *tpm, struct dj_tpm_counters *out, dj_err *err)
{
  TPMS_TIME_INFO *t = NULL;
  TSS2_RC rc = Esys_ReadClock(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &t);
  if (rc != TSS2_RC_SUCCESS)
    return TPM_FAIL(err, "ReadClock", rc);
  out->clock = t->clockInfo.clock;
  out->reset_count = t->clockInfo.resetCount;
  out->restart_count = t->clockInfo.restartCount;
  out->safe = t->clockInfo.safe == TPM2_YES;
  Esys_Free(t);
  return 0;
}

int dj_tpm_quote(struct dj_tpm *tpm, ESYS_TR ak, ESYS_TR session, const TPML_PCR_SELECTION *sel,
                 const uint8_t *extra, size_t extra_len, uint8_t *msg, size_t *msg_len, uint8_t *sig, size_t *sig_len,
                 dj_err *err)
{
  TPM2B_DATA qd = { 0 };
  if (extra_len > sizeof qd.buffer)
    return dj_error(err, 0, "quote: extraData of %zu bytes", extra_len);
  qd.size = (uint16_t) extra_len;
  memcpy(qd.buffer, extra, extra_len);
  TPMT_SIG_SCHEME scheme = { .scheme = TPM2_ALG_NULL }; /* the AK's own scheme */
  TPM2B_ATTEST *quoted = NULL;
  TPMT_SIGNATURE *signature = NULL;
  TSS2_RC rc = Esys_Quote(tpm->esys, ak, session, ESYS_TR_NONE, ESYS_TR_NONE, &qd, &scheme, sel, &quoted, &signature);
  if (rc != TSS2_RC_SUCCESS)
    return TPM_FAIL(err, "Quote", rc);
  int r = 0;
  if (quoted->size > DJ_TPM_STRUCT_MAX) {
    r = dj_error(err, 0, "Quote: TPMS_ATTEST of %u bytes", quoted->size);
  } else {
    memcpy(msg, quoted->attestationData, quoted->size);
    *msg_len = quoted->size;
    r = dj_tpm_marshal_signature(signature, sig, sig_len, err);
  }
  Esys_Free(quoted);
  Esys_Free(signature);
  return r;
}

int dj_tpm_activate(struct dj_tpm *tpm, const TPMT_PUBLIC *ek_pub, ESYS_TR ek, ESYS_TR ak, const TPM2B_ID_OBJECT *blob,
                    const TPM2B_ENCRYPTED_SECRET *enc_seed, TPM2B_DIGEST *cert, dj_err *err)
{
  ESYS_TR ek_session = ESYS_TR_NONE, salted = ESYS_TR_NONE;
  if (dj_tpm_salted_session(tpm, ek, &salted, err) < 0)
    return dj_err_wrap(err, "ActivateCredential");
  if (dj_tpm_ek_session(tpm, ek_pub, &ek_session, err) < 0) {
    dj_tpm_flush(tpm, &salted);
    return dj_err_wrap(err, "ActivateCredential");
  }
  TPM2B_DIGEST *out = NULL;
  TSS2_RC rc = Esys_ActivateCredential(tpm->esys, ak, ek, salted, ek_session, ESYS_TR_NONE, blob, enc_seed, &out);
  dj_tpm_flush(tpm, &ek_session);
  dj_tpm_flush(tpm, &salted);
  if (rc != TSS2_RC_SUCCESS)
    return dj_error_code(err, DJ_ATTEST_E_CREDENTIAL, "ActivateCredential: %s (0x%x)", dj_tpm_rc_str(rc), (unsigned) rc);
  *cert = *out;
  dj_wipe(out, sizeof *out);
  Esys_Free(out);
  return 0;
}
