/* libFuzzer: the quote checks 4-8 behind a valid signature. The input's TPMS_ATTEST bytes are
 * signed with a software AK made once per process, so dj_quote_verify_key gets past check 3 and
 * parses them; the expectation is drawn from the attestation itself (so checks 5-7 can pass) and
 * changed by the input's flags, and the pcrDigest can be set right so that check 8 is reached.
 * Input: flags (1 byte), the last accepted counters (clock u64, resetCount u32, restartCount u32,
 * little-endian), then the TPMS_ATTEST. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include "attest/pcr.h"
#include "attest/quote.h"
#include "attest/tpmstruct.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { F_OTHER_EXTRA = 1, F_DROP_BANK = 2, F_FIX_DIGEST = 4, F_LAST = 8, HEADER = 17 };

static EVP_PKEY *key;
static struct dj_ak_key ak;

static void ak_once(void)
{
  dj_err err = { 0 };
  TPM2B_PUBLIC pub = { 0 };
  key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  if (key == NULL || dj_tpm_public_from_evp(key, &pub.publicArea, &err) < 0)
    abort();
  TPMT_PUBLIC *p = &pub.publicArea;
  p->nameAlg = TPM2_ALG_SHA256;
  p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                        TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
  p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
  p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
  p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
  p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  if (dj_ak_check(&pub, NULL, NULL, &err) < 0 || dj_ak_key_init(&ak, &pub, &err) < 0)
    abort();
}

/* ECDSA-SHA256 over msg as a TPM would sign it, marshalled as a TPMT_SIGNATURE. */
static void sign(const uint8_t *msg, size_t len, uint8_t *sig, size_t *sig_len)
{
  uint8_t der[128];
  size_t der_len = sizeof der;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  if (ctx == NULL || EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
      EVP_DigestSign(ctx, der, &der_len, msg, len) != 1)
    abort();
  EVP_MD_CTX_free(ctx);
  const unsigned char *q = der;
  ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long) der_len);
  if (es == NULL)
    abort();
  TPMT_SIGNATURE s = { .sigAlg = TPM2_ALG_ECDSA };
  s.signature.ecdsa.hash = TPM2_ALG_SHA256;
  s.signature.ecdsa.signatureR.size = s.signature.ecdsa.signatureS.size = 32;
  BN_bn2binpad(ECDSA_SIG_get0_r(es), s.signature.ecdsa.signatureR.buffer, 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(es), s.signature.ecdsa.signatureS.buffer, 32);
  ECDSA_SIG_free(es);
  dj_err err = { 0 };
  if (dj_tpm_marshal_signature(&s, sig, sig_len, &err) < 0)
    abort();
}

static uint64_t le(const uint8_t *p, int n)
{
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (key == NULL)
    ak_once();
  if (size < HEADER)
    return 0;
  uint8_t flags = data[0];
  struct dj_tpm_counters last = { .clock = le(data + 1, 8), .reset_count = (uint32_t) le(data + 9, 4),
                                  .restart_count = (uint32_t) le(data + 13, 4) };
  const uint8_t *msg = data + HEADER;
  size_t msg_len = size - HEADER;

  static uint8_t fixed[DJ_TPM_STRUCT_MAX], sig[DJ_TPM_STRUCT_MAX];
  static struct dj_pcr_values vals;
  size_t sig_len = 0;
  uint8_t extra[sizeof(TPMU_HA)] = { 0 };
  TPML_PCR_SELECTION sel = { 0 };
  memset(&vals, 0, sizeof vals);
  struct dj_quote_expect ex = { .extra_data = extra, .extra_len = 0, .selection = &sel, .pcrs = &vals,
                                .last = flags & F_LAST ? &last : NULL, .clock_tolerance_ms = 1000 };
  TPMS_ATTEST att;
  dj_err err = { 0 };
  if (dj_tpm_unmarshal_attest(msg, msg_len, &att, &err) == 0 && att.type == TPM2_ST_ATTEST_QUOTE) {
    ex.extra_len = att.extraData.size <= sizeof extra ? att.extraData.size : 0;
    memcpy(extra, att.extraData.buffer, ex.extra_len);
    if (flags & F_OTHER_EXTRA)
      extra[0] ^= 1;
    sel = att.attested.quote.pcrSelect;
    if ((flags & F_DROP_BANK) && sel.count > 0)
      sel.count--;
    /* one value per selected PCR, in selection order (too many: the check must say so) */
    for (uint32_t b = 0; b < sel.count && b < TPM2_NUM_PCR_BANKS; b++)
      for (unsigned i = 0; i < 8u * TPM2_PCR_SELECT_MAX && vals.count < DJ_PCR_VALUES_MAX; i++)
        if (dj_pcr_selected(&sel.pcrSelections[b], i)) {
          struct dj_pcr_value *v = &vals.v[vals.count++];
          const EVP_MD *md = dj_tpm_md(sel.pcrSelections[b].hash);
          v->bank = sel.pcrSelections[b].hash;
          v->index = (uint8_t) i;
          v->size = (uint16_t) (md != NULL ? EVP_MD_get_size(md) : 32);
          memset(v->digest, (int) i, v->size);
        }
    size_t n = 0;
    if (flags & F_FIX_DIGEST) {
      size_t dlen = 0;
      uint8_t d[TPM2_SHA512_DIGEST_SIZE];
      if (dj_pcr_digest(&sel, &vals, TPM2_ALG_SHA256, d, &dlen, &err) == 0) {
        att.attested.quote.pcrDigest.size = (uint16_t) dlen;
        memcpy(att.attested.quote.pcrDigest.buffer, d, dlen);
        if (dj_tpm_marshal_attest(&att, fixed, &n, &err) == 0) {
          msg = fixed;
          msg_len = n;
        }
      }
    }
  }
  sign(msg, msg_len, sig, &sig_len);
  struct dj_quote_claims claims;
  dj_quote_verify_key(msg, msg_len, sig, sig_len, &ak, &ex, &claims, &err);
  return 0;
}
