#include "attest/quote.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "attest/codes.h"
#include "attest/tpmstruct.h"
#include "common/util.h"

#define AK_REQUIRED_ATTRS                                                                              \
  (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_RESTRICTED | \
   TPMA_OBJECT_SIGN_ENCRYPT)

static const struct dj_ak_allowed ak_defaults = { .set = true, .rsa2048 = true, .ecc_p256 = true };

static bool scheme_hash_allowed(TPMI_ALG_HASH h)
{
  return h == TPM2_ALG_SHA256 || h == TPM2_ALG_SHA384;
}

int dj_ak_check(const TPM2B_PUBLIC *ak, const TPM2B_NAME *name, const struct dj_ak_allowed *allowed, dj_err *err)
{
  const TPMT_PUBLIC *p = &ak->publicArea;
  const struct dj_ak_allowed *a = allowed != NULL && allowed->set ? allowed : &ak_defaults;
  TPMA_OBJECT attrs = p->objectAttributes;
  if ((attrs & AK_REQUIRED_ATTRS) != AK_REQUIRED_ATTRS || (attrs & TPMA_OBJECT_DECRYPT))
    return dj_error_code(err, DJ_ATTEST_E_AK_ATTRIBUTES,
                         "AK attributes 0x%08x: need fixedTPM, fixedParent, sensitiveDataOrigin, restricted, sign "
                         "and not decrypt",
                         attrs);
  if (p->nameAlg != TPM2_ALG_SHA256 && p->nameAlg != TPM2_ALG_SHA384)
    return dj_error_code(err, DJ_ATTEST_E_AK_ALGORITHM, "AK nameAlg 0x%04x: not SHA-256 or SHA-384", p->nameAlg);
  if (p->type == TPM2_ALG_RSA) {
    const TPMS_RSA_PARMS *r = &p->parameters.rsaDetail;
    bool size_ok = (r->keyBits == 2048 && a->rsa2048) || (r->keyBits == 3072 && a->rsa3072);
    if (!size_ok)
      return dj_error_code(err, DJ_ATTEST_E_AK_ALGORITHM, "AK RSA-%u: size not allowed", r->keyBits);
    if (r->exponent != 0 && r->exponent != 65537)
      return dj_error_code(err, DJ_ATTEST_E_AK_ALGORITHM, "AK RSA exponent %u: not 65537", r->exponent);
    if (r->scheme.scheme != TPM2_ALG_RSASSA || !scheme_hash_allowed(r->scheme.details.rsassa.hashAlg))
      return dj_error_code(err, DJ_ATTEST_E_AK_ALGORITHM, "AK RSA scheme 0x%04x/0x%04x: not RSASSA with SHA-256/384",
                           r->scheme.scheme, r->scheme.details.anySig.hashAlg);
    if (r->symmetric.algorithm != TPM2_ALG_NULL)
      return dj_error_code(err, DJ_ATTEST_E_AK_ALGORITHM, "AK RSA: a signing key with a symmetric algorithm");
  } else if (p->type == TPM2_ALG_ECC) {
    const TPMS_ECC_PARMS *e = &p->parameters.eccDetail;
    bool curve_ok = (e->curveID == TPM2_ECC_NIST_P256 && a->ecc_p256) || (e->curveID == TPM2_ECC_NIST_P384 && a->ecc_p384);
    if (!curve_ok)
      return dj_error_code(err, DJ_ATTEST_E_AK_ALGORITHM, "AK ECC curve 0x%04x: not allowed", e->curveID);
    if (e->scheme.scheme != TPM2_ALG_ECDSA || !scheme_hash_allowed(e->scheme.details.ecdsa.hashAlg))
      return dj_error_code(err, DJ_ATTEST_E_AK_ALGORITHM, "AK ECC scheme 0x%04x/0x%04x: not ECDSA with SHA-256/384",
                           e->scheme.scheme, e->scheme.details.anySig.hashAlg);
    if (e->symmetric.algorithm != TPM2_ALG_NULL || e->kdf.scheme != TPM2_ALG_NULL)
      return dj_error_code(err, DJ_ATTEST_E_AK_ALGORITHM, "AK ECC: a signing key with a symmetric algorithm or KDF");
  } else {
    return dj_error_code(err, DJ_ATTEST_E_AK_ALGORITHM, "AK type 0x%04x: neither RSA nor ECC", p->type);
  }
  EVP_PKEY *key = NULL; /* the key material must make a valid key (an ECC point on its curve) */
  if (dj_tpm_public_to_evp(p, &key, err) < 0)
    return dj_err_wrap(err, "AK");
  EVP_PKEY_free(key);
  if (name != NULL) {
    TPM2B_NAME computed;
    if (dj_tpm_public_name(p, &computed, err) < 0)
      return dj_err_wrap(err, "AK");
    if (name->size != computed.size || CRYPTO_memcmp(name->name, computed.name, computed.size) != 0)
      return dj_error_code(err, DJ_ATTEST_E_AK_NAME, "AK name: not the nameAlg digest of its public area");
  }
  return 0;
}


/* TPM ECDSA signatures are (r, s) big-endian: OpenSSL verifies DER. */
static int ecdsa_to_der(const TPMS_SIGNATURE_ECC *e, uint8_t **der, size_t *len, dj_err *err)
{
  ECDSA_SIG *s = ECDSA_SIG_new();
  BIGNUM *r = BN_bin2bn(e->signatureR.buffer, e->signatureR.size, NULL);
  BIGNUM *ss = BN_bin2bn(e->signatureS.buffer, e->signatureS.size, NULL);
  if (s == NULL || r == NULL || ss == NULL || !ECDSA_SIG_set0(s, r, ss)) {
    ECDSA_SIG_free(s);
    BN_free(r);
    BN_free(ss);
    return dj_error(err, 0, "ECDSA signature: out of memory");
  }
  *der = NULL;
  int n = i2d_ECDSA_SIG(s, der);
  ECDSA_SIG_free(s);
  if (n <= 0)
    return dj_error_code(err, DJ_ATTEST_E_SIGNATURE, "ECDSA signature: cannot encode");
  *len = (size_t) n;
  return 0;
}

void dj_ak_key_free(struct dj_ak_key *key)
{
  EVP_PKEY_CTX_free(key->vctx);
  EVP_PKEY_free(key->pkey);
  key->vctx = NULL;
  key->pkey = NULL;
}

int dj_ak_key_init(struct dj_ak_key *key, const TPM2B_PUBLIC *ak, dj_err *err)
{
  memset(key, 0, sizeof *key);
  key->pub = *ak;
  const TPMT_PUBLIC *p = &ak->publicArea;
  if (p->type == TPM2_ALG_RSA) {
    key->scheme = p->parameters.rsaDetail.scheme.scheme;
    key->hash = p->parameters.rsaDetail.scheme.details.anySig.hashAlg;
  } else if (p->type == TPM2_ALG_ECC) {
    key->scheme = p->parameters.eccDetail.scheme.scheme;
    key->hash = p->parameters.eccDetail.scheme.details.anySig.hashAlg;
  } else {
    return dj_error_code(err, DJ_ATTEST_E_SIG_SCHEME, "AK: type 0x%04x", p->type);
  }
  if ((key->scheme != TPM2_ALG_RSASSA && key->scheme != TPM2_ALG_ECDSA) || dj_tpm_md(key->hash) == NULL)
    return dj_error_code(err, DJ_ATTEST_E_SIG_SCHEME, "AK: scheme 0x%04x/0x%04x is not RSASSA or ECDSA", key->scheme,
                         key->hash);
  if (dj_tpm_public_to_evp(p, &key->pkey, err) < 0)
    return dj_err_wrap(err, "AK");
  key->vctx = EVP_PKEY_CTX_new_from_pkey(NULL, key->pkey, NULL);
  if (key->vctx == NULL || EVP_PKEY_verify_init(key->vctx) <= 0 ||
      EVP_PKEY_CTX_set_signature_md(key->vctx, dj_tpm_md(key->hash)) <= 0 ||
      (key->scheme == TPM2_ALG_RSASSA && EVP_PKEY_CTX_set_rsa_padding(key->vctx, RSA_PKCS1_PADDING) <= 0)) {
    dj_ak_key_free(key);
    return dj_error(err, 0, "AK: cannot set up verification");
  }
  return 0;
}

static int signature_verify_key(const uint8_t *data, size_t len, const TPMT_SIGNATURE *sig, struct dj_ak_key *key,
                                dj_err *err)
{
  if (sig->sigAlg != key->scheme || sig->signature.any.hashAlg != key->hash)
    return dj_error_code(err, DJ_ATTEST_E_SIG_SCHEME, "signature: scheme 0x%04x/0x%04x is not the AK's 0x%04x/0x%04x",
                         sig->sigAlg, sig->signature.any.hashAlg, key->scheme, key->hash);
  uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int dlen = 0;
  if (!EVP_Digest(data, len, digest, &dlen, dj_tpm_md(key->hash), NULL))
    return dj_error(err, 0, "signature: digest failed");
  _cleanup_free_ uint8_t *der = NULL;
  const uint8_t *s;
  size_t slen = 0;
  if (key->scheme == TPM2_ALG_RSASSA) {
    s = sig->signature.rsassa.sig.buffer;
    slen = sig->signature.rsassa.sig.size;
  } else {
    if (ecdsa_to_der(&sig->signature.ecdsa, &der, &slen, err) < 0)
      return -1;
    s = der;
  }
  if (EVP_PKEY_verify(key->vctx, s, slen, digest, dlen) != 1) {
    ERR_clear_error();
    return dj_error_code(err, DJ_ATTEST_E_SIGNATURE, "signature: does not verify under the AK");
  }
  return 0;
}

int dj_signature_verify(const uint8_t *data, size_t len, const TPMT_SIGNATURE *sig, const TPM2B_PUBLIC *ak, dj_err *err)
{
  struct dj_ak_key key;
  if (dj_ak_key_init(&key, ak, err) < 0)
    return dj_err_wrap(err, "signature");
  int r = signature_verify_key(data, len, sig, &key, err);
  dj_ak_key_free(&key);
  return r;
}

int dj_counters_check(const struct dj_tpm_counters *now, const struct dj_tpm_counters *last, uint64_t tolerance_ms,
                      dj_err *err)
{
  if (last == NULL)
    return 0;
  if (now->reset_count < last->reset_count)
    return dj_error_code(err, DJ_ATTEST_E_RESET_COUNT,
                         "resetCount %u after %u: the TPM was cleared or is another TPM; the node must re-enroll",
                         now->reset_count, last->reset_count);
  if (now->reset_count > last->reset_count)
    return 0; /* a new boot: restartCount started again from 0 and the clock may have been lost */
  if (now->restart_count < last->restart_count)
    return dj_error_code(err, DJ_ATTEST_E_RESTART_COUNT, "restartCount %u after %u within resetCount %u",
                         now->restart_count, last->restart_count, now->reset_count);
  if (last->clock > now->clock && last->clock - now->clock > tolerance_ms)
    return dj_error_code(err, DJ_ATTEST_E_CLOCK, "clock %llu ms after %llu ms within resetCount %u (tolerance %llu ms)",
                         (unsigned long long) now->clock, (unsigned long long) last->clock, now->reset_count,
                         (unsigned long long) tolerance_ms);
  return 0;
}

int dj_quote_verify(const uint8_t *msg, size_t msg_len, const uint8_t *sig, size_t sig_len, const TPM2B_PUBLIC *ak,
                    const struct dj_quote_expect *expect, struct dj_quote_claims *claims, dj_err *err)
{
  struct dj_ak_key key;
  if (dj_ak_key_init(&key, ak, err) < 0)
    return dj_err_wrap(err, "quote");
  int r = dj_quote_verify_key(msg, msg_len, sig, sig_len, &key, expect, claims, err);
  dj_ak_key_free(&key);
  return r;
}

int dj_quote_verify_key(const uint8_t *msg, size_t msg_len, const uint8_t *sig, size_t sig_len, struct dj_ak_key *ak,
                        const struct dj_quote_expect *expect, struct dj_quote_claims *claims, dj_err *err)
{
  TPMT_SIGNATURE tsig;
  TPMS_ATTEST att;
  if (msg_len > DJ_TPM_STRUCT_MAX)
    return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "quote: TPMS_ATTEST of %zu bytes", msg_len);
  if (dj_tpm_unmarshal_signature(sig, sig_len, &tsig, err) < 0)
    return dj_err_wrap(err, "quote");
  if (signature_verify_key(msg, msg_len, &tsig, ak, err) < 0) /* check 3, before parsing msg */
    return dj_err_wrap(err, "quote");
  if (dj_tpm_unmarshal_attest(msg, msg_len, &att, err) < 0)
    return dj_err_wrap(err, "quote");
  if (att.magic != TPM2_GENERATED_VALUE) /* check 4 */
    return dj_error_code(err, DJ_ATTEST_E_MAGIC, "quote: magic 0x%08x is not TPM_GENERATED_VALUE", att.magic);
  if (att.type != TPM2_ST_ATTEST_QUOTE)
    return dj_error_code(err, DJ_ATTEST_E_TYPE, "quote: type 0x%04x is not TPM_ST_ATTEST_QUOTE", att.type);
  if (att.extraData.size != expect->extra_len || /* check 5 */
      CRYPTO_memcmp(att.extraData.buffer, expect->extra_data, expect->extra_len) != 0)
    return dj_error_code(err, DJ_ATTEST_E_EXTRA_DATA, "quote: extraData is not the expected value (binding hash or nonce)");
  const TPML_PCR_SELECTION *qsel = &att.attested.quote.pcrSelect;
  if (!dj_pcr_selection_equal(qsel, expect->selection)) { /* check 6 */
    char got[512], want[512];
    dj_pcr_selection_format(qsel, got, sizeof got);
    dj_pcr_selection_format(expect->selection, want, sizeof want);
    return dj_error_code(err, DJ_ATTEST_E_PCR_SELECTION, "quote: PCR selection %s is not the %s asked for", got, want);
  }
  uint8_t digest[EVP_MAX_MD_SIZE]; /* check 7: the signing scheme's hash, not the bank's */
  size_t dlen = 0;
  if (dj_pcr_digest(qsel, expect->pcrs, tsig.signature.any.hashAlg, digest, &dlen, err) < 0)
    return dj_err_wrap(err, "quote");
  const TPM2B_DIGEST *qd = &att.attested.quote.pcrDigest;
  if (qd->size != dlen || CRYPTO_memcmp(qd->buffer, digest, dlen) != 0)
    return dj_error_code(err, DJ_ATTEST_E_PCR_DIGEST, "quote: pcrDigest is not the digest of the supplied PCR values");
  struct dj_tpm_counters now = {
    .clock = att.clockInfo.clock,
    .reset_count = att.clockInfo.resetCount,
    .restart_count = att.clockInfo.restartCount,
    .safe = att.clockInfo.safe == TPM2_YES,
  };
  if (dj_counters_check(&now, expect->last, expect->clock_tolerance_ms, err) < 0) /* check 8 */
    return dj_err_wrap(err, "quote");
  if (claims != NULL) {
    memset(claims, 0, sizeof *claims);
    claims->counters = now;
    claims->firmware_version = att.firmwareVersion;
    claims->qualified_signer_len = att.qualifiedSigner.size;
    memcpy(claims->qualified_signer, att.qualifiedSigner.name, att.qualifiedSigner.size);
    claims->pcr_digest_len = dlen;
    memcpy(claims->pcr_digest, digest, dlen);
  }
  return 0;
}
