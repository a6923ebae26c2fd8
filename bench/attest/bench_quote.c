/* Quote verifications per second on one core (dj_ak_check and dj_ak_key_init excluded: once per AK):
 * dj_quote_verify on a software-signed quote over sha256:0-7,23 with a 32-byte binding hash, for an
 * RSA-2048 RSASSA-SHA256 AK and an ECC P-256 ECDSA-SHA256 AK. Compare with `openssl speed`. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "attest/quote.h"
#include "attest/tpmstruct.h"

static double now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static void die(const char *what, const dj_err *err)
{
  fprintf(stderr, "bench_quote: %s: %s\n", what, err ? err->msg : "failed");
  exit(1);
}

static void sign(EVP_PKEY *key, bool rsa, const uint8_t *msg, size_t len, TPMT_SIGNATURE *sig)
{
  uint8_t out[1024];
  size_t olen = sizeof out;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX *pctx = NULL;
  if (EVP_DigestSignInit(ctx, &pctx, EVP_sha256(), NULL, key) != 1 || EVP_DigestSign(ctx, out, &olen, msg, len) != 1)
    die("sign", NULL);
  EVP_MD_CTX_free(ctx);
  memset(sig, 0, sizeof *sig);
  if (rsa) {
    sig->sigAlg = TPM2_ALG_RSASSA;
    sig->signature.rsassa.hash = TPM2_ALG_SHA256;
    sig->signature.rsassa.sig.size = (uint16_t) olen;
    memcpy(sig->signature.rsassa.sig.buffer, out, olen);
  } else {
    const unsigned char *p = out;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long) olen);
    sig->sigAlg = TPM2_ALG_ECDSA;
    sig->signature.ecdsa.hash = TPM2_ALG_SHA256;
    sig->signature.ecdsa.signatureR.size = 32;
    sig->signature.ecdsa.signatureS.size = 32;
    BN_bn2binpad(ECDSA_SIG_get0_r(es), sig->signature.ecdsa.signatureR.buffer, 32);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), sig->signature.ecdsa.signatureS.buffer, 32);
    ECDSA_SIG_free(es);
  }
}

static void bench(const char *label, bool rsa, double seconds)
{
  dj_err err = { 0 };
  EVP_PKEY *key = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
  TPM2B_PUBLIC ak = { 0 };
  TPMT_PUBLIC *p = &ak.publicArea;
  if (key == NULL || dj_tpm_public_from_evp(key, p, &err) < 0)
    die("key", &err);
  p->nameAlg = TPM2_ALG_SHA256;
  p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                        TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
  if (rsa) {
    p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
    p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
    p->parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
  } else {
    p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
    p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
    p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  }
  if (dj_ak_check(&ak, NULL, NULL, &err) < 0)
    die("AK", &err);
  TPML_PCR_SELECTION sel;
  static struct dj_pcr_values vals;
  dj_pcr_selection_parse("sha256:0,1,2,3,4,5,6,7,23", &sel, &err);
  unsigned idx[] = { 0, 1, 2, 3, 4, 5, 6, 7, 23 };
  for (size_t i = 0; i < 9; i++) {
    vals.v[i] = (struct dj_pcr_value){ .bank = TPM2_ALG_SHA256, .index = (uint8_t) idx[i], .size = 32 };
    RAND_bytes(vals.v[i].digest, 32);
  }
  vals.count = 9;
  TPMS_ATTEST att = { .magic = TPM2_GENERATED_VALUE, .type = TPM2_ST_ATTEST_QUOTE };
  uint8_t extra[32];
  RAND_bytes(extra, sizeof extra);
  att.extraData.size = 32;
  memcpy(att.extraData.buffer, extra, 32);
  dj_tpm_public_name(p, &att.qualifiedSigner, &err);
  att.attested.quote.pcrSelect = sel;
  size_t dl = 0;
  dj_pcr_digest(&sel, &vals, TPM2_ALG_SHA256, att.attested.quote.pcrDigest.buffer, &dl, &err);
  att.attested.quote.pcrDigest.size = (uint16_t) dl;
  uint8_t msg[DJ_TPM_STRUCT_MAX], sigbuf[DJ_TPM_STRUCT_MAX];
  size_t msg_len, sig_len;
  TPMT_SIGNATURE sig;
  dj_tpm_marshal_attest(&att, msg, &msg_len, &err);
  sign(key, rsa, msg, msg_len, &sig);
  dj_tpm_marshal_signature(&sig, sigbuf, &sig_len, &err);
  struct dj_quote_expect ex = { .extra_data = extra, .extra_len = 32, .selection = &sel, .pcrs = &vals };
  struct dj_ak_key prepared; /* once per AK, as the verifier keeps enrolled AKs */
  if (dj_ak_key_init(&prepared, &ak, &err) < 0)
    die("AK key", &err);
  unsigned long n = 0;
  double start = now(), end = start + seconds;
  while (now() < end) {
    for (int i = 0; i < 16; i++, n++)
      if (dj_quote_verify_key(msg, msg_len, sigbuf, sig_len, &prepared, &ex, NULL, &err) < 0)
        die("verify", &err);
  }
  double t = now() - start;
  printf("%-22s %10.0f quote verifications/s (1 core)\n", label, (double) n / t);
  dj_ak_key_free(&prepared);
  EVP_PKEY_free(key);
}

int main(int argc, char **argv)
{
  double seconds = argc > 1 ? atof(argv[1]) : 3.0;
  bench("RSA-2048 RSASSA-SHA256", true, seconds);
  bench("ECC P-256 ECDSA-SHA256", false, seconds);
  return 0;
}
