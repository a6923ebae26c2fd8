#include "attest/ekcert.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "attest/codes.h"
#include "attest/tpmstruct.h"
#include "common/util.h"

void dj_ek_trust_free(struct dj_ek_trust *trust)
{
  X509_STORE_free(trust->roots);
  sk_X509_pop_free(trust->intermediates, X509_free);
  trust->roots = NULL;
  trust->intermediates = NULL;
}

static void bio_freep(BIO **b)
{
  BIO_free(*b);
}

/* Add every certificate of a PEM file to the store or the stack. */
static int load_pem(const char *file, X509_STORE *store, STACK_OF(X509) *stack, dj_err *err)
{
  __attribute__((cleanup(bio_freep))) BIO *bio = BIO_new_file(file, "r");
  if (bio == NULL)
    return dj_error(err, 0, "%s: cannot open", file);
  size_t n = 0;
  X509 *x;
  while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
    int ok = store ? X509_STORE_add_cert(store, x) : sk_X509_push(stack, x) > 0;
    if (store || !ok)
      X509_free(x);
    if (!ok)
      return dj_error(err, 0, "%s: cannot add certificate %zu", file, n);
    n++;
  }
  ERR_clear_error(); /* the end of the file reads as "no start line" */
  if (n == 0)
    return dj_error(err, 0, "%s: no PEM certificate", file);
  return 0;
}

int dj_ek_trust_load(struct dj_ek_trust *trust, const char *const *root_files, size_t n_roots,
                     const char *const *intermediate_files, size_t n_intermediates, dj_err *err)
{
  trust->roots = X509_STORE_new();
  trust->intermediates = sk_X509_new_null();
  if (trust->roots == NULL || trust->intermediates == NULL) {
    dj_ek_trust_free(trust);
    return dj_error(err, 0, "EK roots: out of memory");
  }
  for (size_t i = 0; i < n_roots; i++)
    if (load_pem(root_files[i], trust->roots, NULL, err) < 0) {
      dj_ek_trust_free(trust);
      return dj_err_wrap(err, "EK roots");
    }
  for (size_t i = 0; i < n_intermediates; i++)
    if (load_pem(intermediate_files[i], NULL, trust->intermediates, err) < 0) {
      dj_ek_trust_free(trust);
      return dj_err_wrap(err, "EK intermediates");
    }
  return 0;
}

static void copy_asn1_string(const ASN1_STRING *s, char *out, size_t size)
{
  unsigned char *utf8 = NULL;
  int n = ASN1_STRING_to_UTF8(&utf8, s);
  out[0] = '\0';
  if (n < 0)
    return;
  size_t len = (size_t) n < size - 1 ? (size_t) n : size - 1;
  for (size_t i = 0; i < len; i++) /* claims are printed and stored: keep them to printable ASCII */
    out[i] = utf8[i] >= 0x20 && utf8[i] < 0x7f ? (char) utf8[i] : '?';
  out[len] = '\0';
  OPENSSL_free(utf8);
}

static int name_attr(const X509_NAME *name, const char *oid, char *out, size_t size)
{
  ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
  int idx = obj ? X509_NAME_get_index_by_OBJ(name, obj, -1) : -1;
  ASN1_OBJECT_free(obj);
  if (idx < 0)
    return -1;
  copy_asn1_string(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)), out, size);
  return 0;
}

static void key_type(X509 *cert, char *out, size_t size)
{
  EVP_PKEY *key = X509_get0_pubkey(cert);
  if (key == NULL)
    snprintf(out, size, "none");
  else if (EVP_PKEY_is_a(key, "RSA"))
    snprintf(out, size, "RSA-%d", EVP_PKEY_get_bits(key));
  else if (EVP_PKEY_is_a(key, "EC"))
    snprintf(out, size, "ECC-P%d", EVP_PKEY_get_bits(key));
  else
    snprintf(out, size, "other");
}

int dj_ekcert_claims(X509 *cert, struct dj_ek_claims *claims, dj_err *err)
{
  memset(claims, 0, sizeof *claims);
  X509_NAME_oneline(X509_get_subject_name(cert), claims->subject, sizeof claims->subject);
  X509_NAME_oneline(X509_get_issuer_name(cert), claims->issuer, sizeof claims->issuer);
  key_type(cert, claims->key_type, sizeof claims->key_type);
  int crit = -1;
  GENERAL_NAMES *names = X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, NULL);
  if (names == NULL)
    return dj_error_code(err, DJ_ATTEST_E_EK_SAN, "EK certificate: no subjectAltName with the TPM's identity%s",
                         crit == -2 ? " (extension repeated)" : "");
  int found = -1;
  for (int i = 0; i < sk_GENERAL_NAME_num(names) && found < 0; i++) {
    const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type != GEN_DIRNAME)
      continue;
    if (name_attr(gn->d.directoryName, DJ_OID_TPM_MANUFACTURER, claims->manufacturer, sizeof claims->manufacturer) == 0) {
      found = 0;
      if (name_attr(gn->d.directoryName, DJ_OID_TPM_MODEL, claims->model, sizeof claims->model) < 0 ||
          name_attr(gn->d.directoryName, DJ_OID_TPM_VERSION, claims->version, sizeof claims->version) < 0)
        found = 1;
    }
  }
  GENERAL_NAMES_free(names);
  if (found != 0)
    return dj_error_code(err, DJ_ATTEST_E_EK_SAN,
                         "EK certificate: subjectAltName has no directoryName with TPM manufacturer, model and version");
  return 0;
}

static bool has_ek_eku(X509 *cert)
{
  EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(cert, NID_ext_key_usage, NULL, NULL);
  if (eku == NULL)
    return false;
  ASN1_OBJECT *want = OBJ_txt2obj(DJ_OID_EK_EKU, 1);
  bool found = false;
  for (int i = 0; want != NULL && i < sk_ASN1_OBJECT_num(eku); i++)
    if (OBJ_cmp(sk_ASN1_OBJECT_value(eku, i), want) == 0)
      found = true;
  ASN1_OBJECT_free(want);
  EXTENDED_KEY_USAGE_free(eku);
  return found;
}

static void x509_freep(X509 **x)
{
  X509_free(*x);
}
static void store_ctx_freep(X509_STORE_CTX **c)
{
  X509_STORE_CTX_free(*c);
}

/* ", valid from 2026-01-01T00:00:00Z to ...": what a date failure is measured against. */
static void validity_period(const X509 *cert, char *out, size_t size)
{
  struct tm from, to;
  char a[24], b[24];
  if (cert == NULL || ASN1_TIME_to_tm(X509_get0_notBefore(cert), &from) != 1 ||
      ASN1_TIME_to_tm(X509_get0_notAfter(cert), &to) != 1)
    return;
  strftime(a, sizeof a, "%Y-%m-%dT%H:%M:%SZ", &from);
  strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &to);
  snprintf(out, size, ", valid from %s to %s", a, b);
}

int dj_ekcert_verify(const uint8_t *der, size_t len, const struct dj_ek_trust *trust, time_t at, X509 **cert_out,
                     struct dj_ek_claims *claims, dj_err *err)
{
  if (len == 0 || len > DJ_EK_CERT_MAX)
    return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "EK certificate: %zu bytes", len);
  const unsigned char *p = der;
  __attribute__((cleanup(x509_freep))) X509 *cert = d2i_X509(NULL, &p, (long) len);
  if (cert == NULL || p != der + len) {
    ERR_clear_error();
    return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "EK certificate: not one DER certificate");
  }
  __attribute__((cleanup(store_ctx_freep))) X509_STORE_CTX *ctx = X509_STORE_CTX_new();
  if (ctx == NULL || !X509_STORE_CTX_init(ctx, trust->roots, cert, trust->intermediates))
    return dj_error(err, 0, "EK certificate: cannot set up verification");
  if (at != 0)
    X509_STORE_CTX_set_time(ctx, 0, at);
  if (X509_verify_cert(ctx) != 1) {
    int e = X509_STORE_CTX_get_error(ctx);
    char period[64] = "";
    if (e == X509_V_ERR_CERT_HAS_EXPIRED || e == X509_V_ERR_CERT_NOT_YET_VALID)
      validity_period(X509_STORE_CTX_get_current_cert(ctx), period, sizeof period);
    ERR_clear_error();
    return dj_error_code(err, DJ_ATTEST_E_EK_CHAIN,
                         "EK certificate: no valid path to a configured root: %s%s (depth %d)",
                         X509_verify_cert_error_string(e), period, X509_STORE_CTX_get_error_depth(ctx));
  }
  if (!has_ek_eku(cert))
    return dj_error_code(err, DJ_ATTEST_E_EK_EKU, "EK certificate: no EK extended key usage " DJ_OID_EK_EKU);
  struct dj_ek_claims tmp;
  if (dj_ekcert_claims(cert, claims ? claims : &tmp, err) < 0)
    return -1;
  if (cert_out != NULL)
    *cert_out = dj_steal_ptr(&cert);
  return 0;
}

static void pkey_freep(EVP_PKEY **p)
{
  EVP_PKEY_free(*p);
}

int dj_ekcert_match_public(X509 *cert, const TPMT_PUBLIC *ek, dj_err *err)
{
  __attribute__((cleanup(pkey_freep))) EVP_PKEY *key = NULL;
  if (dj_tpm_public_to_evp(ek, &key, err) < 0)
    return dj_err_wrap(err, "EK");
  EVP_PKEY *ckey = X509_get0_pubkey(cert);
  if (ckey == NULL || EVP_PKEY_eq(key, ckey) != 1) {
    ERR_clear_error();
    return dj_error_code(err, DJ_ATTEST_E_EK_KEY_MISMATCH, "EK: its public key is not the one in its certificate");
  }
  return 0;
}
