#include "helpers.h"
#include "../keypool.h"

#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "attest/tpmstruct.h"
#include "common/err.h"

EVP_PKEY *th_key(const char *kind)
{
  return tk_key(kind);
}

static void fill_key(EVP_PKEY *key, TPMT_PUBLIC *p)
{
  dj_err err = { 0 };
  cr_assert_eq(dj_tpm_public_from_evp(key, p, &err), 0, "%s", err.msg);
}

void th_ak_public(EVP_PKEY *key, TPM2B_PUBLIC *out)
{
  memset(out, 0, sizeof *out);
  TPMT_PUBLIC *p = &out->publicArea;
  fill_key(key, p);
  p->nameAlg = TPM2_ALG_SHA256;
  p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                        TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
  if (p->type == TPM2_ALG_RSA) {
    p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
    p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
    p->parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
  } else {
    p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
    p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
    p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  }
}

void th_ek_public(EVP_PKEY *key, TPM2B_PUBLIC *out)
{
  memset(out, 0, sizeof *out);
  TPMT_PUBLIC *p = &out->publicArea;
  fill_key(key, p);
  bool p384 = p->type == TPM2_ALG_ECC && p->parameters.eccDetail.curveID == TPM2_ECC_NIST_P384;
  p->nameAlg = p384 ? TPM2_ALG_SHA384 : TPM2_ALG_SHA256;
  p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                        TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
  TPMT_SYM_DEF_OBJECT *sym = &p->parameters.asymDetail.symmetric;
  sym->algorithm = TPM2_ALG_AES;
  sym->keyBits.aes = p384 ? 256 : 128;
  sym->mode.aes = TPM2_ALG_CFB;
  if (p->type == TPM2_ALG_RSA)
    p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
  else {
    p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
    p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  }
}

void th_sign(EVP_PKEY *key, const TPM2B_PUBLIC *ak, const uint8_t *data, size_t len, TPMT_SIGNATURE *sig)
{
  memset(sig, 0, sizeof *sig);
  const TPMT_PUBLIC *p = &ak->publicArea;
  TPMI_ALG_HASH h = p->type == TPM2_ALG_RSA ? p->parameters.rsaDetail.scheme.details.anySig.hashAlg
                                            : p->parameters.eccDetail.scheme.details.anySig.hashAlg;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX *pctx = NULL;
  cr_assert_eq(EVP_DigestSignInit(ctx, &pctx, dj_tpm_md(h), NULL, key), 1);
  uint8_t out[1024];
  size_t olen = sizeof out;
  if (p->type == TPM2_ALG_RSA)
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING);
  cr_assert_eq(EVP_DigestSign(ctx, out, &olen, data, len), 1);
  EVP_MD_CTX_free(ctx);
  if (p->type == TPM2_ALG_RSA) {
    sig->sigAlg = TPM2_ALG_RSASSA;
    sig->signature.rsassa.hash = h;
    sig->signature.rsassa.sig.size = (uint16_t) olen;
    memcpy(sig->signature.rsassa.sig.buffer, out, olen);
  } else {
    const unsigned char *q = out;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &q, (long) olen);
    cr_assert_not_null(es);
    size_t sz = (size_t) (EVP_PKEY_get_bits(key) + 7) / 8;
    sig->sigAlg = TPM2_ALG_ECDSA;
    sig->signature.ecdsa.hash = h;
    sig->signature.ecdsa.signatureR.size = (uint16_t) sz;
    sig->signature.ecdsa.signatureS.size = (uint16_t) sz;
    BN_bn2binpad(ECDSA_SIG_get0_r(es), sig->signature.ecdsa.signatureR.buffer, (int) sz);
    BN_bn2binpad(ECDSA_SIG_get0_s(es), sig->signature.ecdsa.signatureS.buffer, (int) sz);
    ECDSA_SIG_free(es);
  }
}

void th_quote_new(struct th_quote *q, const char *kind)
{
  memset(q, 0, sizeof *q);
  dj_err err = { 0 };
  q->key = th_key(kind);
  th_ak_public(q->key, &q->ak);
  cr_assert_eq(dj_pcr_selection_parse("sha256:0,1,2,3,4,5,6,7,23", &q->sel, &err), 0, "%s", err.msg);
  unsigned idx[] = { 0, 1, 2, 3, 4, 5, 6, 7, 23 };
  for (size_t i = 0; i < 9; i++) {
    struct dj_pcr_value *v = &q->pcrs.v[q->pcrs.count++];
    v->bank = TPM2_ALG_SHA256;
    v->index = (uint8_t) idx[i];
    v->size = 32;
    RAND_bytes(v->digest, 32);
  }
  RAND_bytes(q->extra, sizeof q->extra);
  TPMS_ATTEST *a = &q->att;
  a->magic = TPM2_GENERATED_VALUE;
  a->type = TPM2_ST_ATTEST_QUOTE;
  dj_tpm_public_name(&q->ak.publicArea, &a->qualifiedSigner, &err);
  a->extraData.size = sizeof q->extra;
  memcpy(a->extraData.buffer, q->extra, sizeof q->extra);
  a->clockInfo.clock = 100000;
  a->clockInfo.resetCount = 5;
  a->clockInfo.restartCount = 2;
  a->clockInfo.safe = TPM2_YES;
  a->firmwareVersion = 0x2000100000000ULL;
  a->attested.quote.pcrSelect = q->sel;
  th_quote_seal(q, true);
}

void th_quote_seal(struct th_quote *q, bool recompute_digest)
{
  dj_err err = { 0 };
  if (recompute_digest) {
    size_t len = 0;
    cr_assert_eq(dj_pcr_digest(&q->att.attested.quote.pcrSelect, &q->pcrs, TPM2_ALG_SHA256,
                               q->att.attested.quote.pcrDigest.buffer, &len, &err), 0, "%s", err.msg);
    q->att.attested.quote.pcrDigest.size = (uint16_t) len;
  }
  cr_assert_eq(dj_tpm_marshal_attest(&q->att, q->msg, &q->msg_len, &err), 0, "%s", err.msg);
  TPMT_SIGNATURE sig;
  th_sign(q->key, &q->ak, q->msg, q->msg_len, &sig);
  cr_assert_eq(dj_tpm_marshal_signature(&sig, q->sig, &q->sig_len, &err), 0, "%s", err.msg);
}

void th_quote_free(struct th_quote *q)
{
  EVP_PKEY_free(q->key);
  q->key = NULL;
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer ? issuer : cert, cert, NULL, NULL, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  cr_assert_not_null(ext, "extension %d = %s", nid, value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

static X509 *cert_base(EVP_PKEY *key, long nb_days, long na_days)
{
  static long serial = 1;
  X509 *c = X509_new();
  X509_set_version(c, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c), serial++);
  X509_gmtime_adj(X509_getm_notBefore(c), nb_days * 86400);
  X509_gmtime_adj(X509_getm_notAfter(c), na_days * 86400);
  X509_set_pubkey(c, key);
  return c;
}

X509 *th_ca(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key)
{
  X509 *c = cert_base(key, -1, 3650);
  X509_NAME *n = X509_get_subject_name(c);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *) cn, -1, -1, 0);
  X509_set_issuer_name(c, issuer ? X509_get_subject_name(issuer) : n);
  add_ext(c, issuer, NID_basic_constraints, "critical,CA:TRUE");
  add_ext(c, issuer, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_ext(c, issuer, NID_subject_key_identifier, "hash");
  cr_assert(X509_sign(c, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
  return c;
}

X509 *th_ek_cert(EVP_PKEY *ek_key, X509 *issuer, EVP_PKEY *issuer_key, const struct th_cert_opts *opts)
{
  struct th_cert_opts o = opts ? *opts : (struct th_cert_opts){ 0 };
  if (o.not_before_days == 0 && o.not_after_days == 0) {
    o.not_before_days = -1;
    o.not_after_days = 365;
  }
  X509 *c = cert_base(ek_key, o.not_before_days, o.not_after_days);
  X509_set_issuer_name(c, X509_get_subject_name(issuer));
  add_ext(c, issuer, NID_basic_constraints, "critical,CA:FALSE");
  add_ext(c, issuer, NID_key_usage, "critical,keyEncipherment");
  add_ext(c, issuer, NID_authority_key_identifier, "keyid");
  if (!o.no_eku)
    add_ext(c, issuer, NID_ext_key_usage, "2.23.133.8.1");
  if (!o.no_san) {
    /* The TCG SAN: a critical directoryName with the TPM's manufacturer, model and version. */
    X509_NAME *dn = X509_NAME_new();
    X509_NAME_add_entry_by_txt(dn, "2.23.133.2.1", MBSTRING_UTF8, (const unsigned char *) "id:53544D20", -1, -1, 0);
    X509_NAME_add_entry_by_txt(dn, "2.23.133.2.2", MBSTRING_UTF8, (const unsigned char *) "ST33TPHF2XSPI", -1, -1, 0);
    X509_NAME_add_entry_by_txt(dn, "2.23.133.2.3", MBSTRING_UTF8, (const unsigned char *) "id:00010102", -1, -1, 0);
    GENERAL_NAME *gn = GENERAL_NAME_new();
    GENERAL_NAME_set0_value(gn, GEN_DIRNAME, dn);
    GENERAL_NAMES *gns = sk_GENERAL_NAME_new_null();
    sk_GENERAL_NAME_push(gns, gn);
    cr_assert_eq(X509_add1_ext_i2d(c, NID_subject_alt_name, gns, 1, X509V3_ADD_DEFAULT), 1);
    GENERAL_NAMES_free(gns);
  }
  if (o.extra_critical) {
    ASN1_OBJECT *obj = OBJ_txt2obj("1.3.6.1.4.1.99999.1", 1);
    ASN1_OCTET_STRING *val = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(val, (const unsigned char *) "\x05\x00", 2);
    X509_EXTENSION *ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 1, val);
    X509_add_ext(c, ext, -1);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(val);
    ASN1_OBJECT_free(obj);
  }
  cr_assert(X509_sign(c, issuer_key, EVP_sha256()) > 0);
  return c;
}

uint8_t *th_der(X509 *cert, size_t *len)
{
  uint8_t *der = NULL;
  int n = i2d_X509(cert, &der);
  cr_assert_gt(n, 0);
  *len = (size_t) n;
  return der;
}

const char *th_pem_file(X509 *const *certs, size_t n, int slot)
{
  static char paths[4][64];
  snprintf(paths[slot], sizeof paths[slot], "/tmp/dj-attest-test-XXXXXX");
  int fd = mkstemp(paths[slot]);
  cr_assert_geq(fd, 0);
  FILE *f = fdopen(fd, "w");
  for (size_t i = 0; i < n; i++)
    PEM_write_X509(f, certs[i]);
  fclose(f);
  return paths[slot];
}
