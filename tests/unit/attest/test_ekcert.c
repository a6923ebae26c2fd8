/* EK certificates: a path through an intermediate to a configured root, and each defect alone. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "attest/codes.h"
#include "attest/ekcert.h"
#include "helpers.h"

static EVP_PKEY *root_key, *inter_key, *ek_key;
static X509 *root, *inter;
static struct dj_ek_trust trust;
static const char *files[2];

static void setup(void)
{
  root_key = th_key("p256");
  inter_key = th_key("p256");
  ek_key = th_key("p256");
  root = th_ca("Test EK Root CA", root_key, NULL, NULL);
  inter = th_ca("Test EK Intermediate CA", inter_key, root, root_key);
  files[0] = th_pem_file(&root, 1, 0);
  files[1] = th_pem_file(&inter, 1, 1);
  dj_err err = { 0 };
  cr_assert_eq(dj_ek_trust_load(&trust, &files[0], 1, &files[1], 1, &err), 0, "%s", err.msg);
}

static void teardown(void)
{
  dj_ek_trust_free(&trust);
  unlink(files[0]);
  unlink(files[1]);
  X509_free(root);
  X509_free(inter);
  EVP_PKEY_free(root_key);
  EVP_PKEY_free(inter_key);
  EVP_PKEY_free(ek_key);
}

static int verify_cert(X509 *cert, struct dj_ek_claims *claims, dj_err *err)
{
  size_t len;
  uint8_t *der = th_der(cert, &len);
  X509 *out = NULL;
  int r = dj_ekcert_verify(der, len, &trust, 0, &out, claims, err);
  OPENSSL_free(der);
  X509_free(out);
  return r;
}

static void expect_code(X509 *cert, int code)
{
  dj_err err = { 0 };
  cr_assert_eq(verify_cert(cert, NULL, &err), -1, "accepted, expected %s", dj_attest_code_name(code));
  cr_assert_eq(err.code, code, "code %s (%s)", dj_attest_code_name(err.code), err.msg);
  X509_free(cert);
}

TestSuite(ekcert, .init = setup, .fini = teardown);

Test(ekcert, valid_through_intermediate_with_critical_san)
{
  X509 *cert = th_ek_cert(ek_key, inter, inter_key, NULL);
  struct dj_ek_claims c;
  dj_err err = { 0 };
  cr_assert_eq(verify_cert(cert, &c, &err), 0, "%s", err.msg);
  cr_assert_str_eq(c.manufacturer, "id:53544D20");
  cr_assert_str_eq(c.model, "ST33TPHF2XSPI");
  cr_assert_str_eq(c.version, "id:00010102");
  cr_assert_str_eq(c.key_type, "ECC-P256");
  cr_assert(strstr(c.issuer, "Test EK Intermediate CA") != NULL, "%s", c.issuer);
  X509_free(cert);
}

Test(ekcert, from_another_ca)
{
  EVP_PKEY *k = th_key("p256");
  X509 *other = th_ca("Test EK Intermediate CA", k, NULL, NULL); /* same name, other key */
  expect_code(th_ek_cert(ek_key, other, k, NULL), DJ_ATTEST_E_EK_CHAIN);
  X509_free(other);
  EVP_PKEY_free(k);
}

Test(ekcert, intermediate_not_configured)
{
  struct dj_ek_trust only_root;
  dj_err err = { 0 };
  cr_assert_eq(dj_ek_trust_load(&only_root, &files[0], 1, NULL, 0, &err), 0, "%s", err.msg);
  X509 *cert = th_ek_cert(ek_key, inter, inter_key, NULL);
  size_t len;
  uint8_t *der = th_der(cert, &len);
  cr_assert_eq(dj_ekcert_verify(der, len, &only_root, 0, NULL, NULL, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_EK_CHAIN, "%s", err.msg);
  OPENSSL_free(der);
  X509_free(cert);
  dj_ek_trust_free(&only_root);
}

/* A date failure is ek-chain, and its message names the validity period (not just "no path"). */
static void expect_dates(const struct th_cert_opts *o, const char *what)
{
  X509 *cert = th_ek_cert(ek_key, inter, inter_key, o);
  char from[24], to[24];
  struct tm tm;
  cr_assert_eq(ASN1_TIME_to_tm(X509_get0_notBefore(cert), &tm), 1);
  strftime(from, sizeof from, "%Y-%m-%dT%H:%M:%SZ", &tm);
  cr_assert_eq(ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm), 1);
  strftime(to, sizeof to, "%Y-%m-%dT%H:%M:%SZ", &tm);
  dj_err err = { 0 };
  cr_assert_eq(verify_cert(cert, NULL, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_EK_CHAIN, "%s", err.msg);
  cr_assert_not_null(strstr(err.msg, what), "%s", err.msg);
  char period[80];
  snprintf(period, sizeof period, "valid from %s to %s", from, to);
  cr_assert_not_null(strstr(err.msg, period), "the message names the validity period: %s", err.msg);
  X509_free(cert);
}

Test(ekcert, expired)
{
  struct th_cert_opts o = { .not_before_days = -30, .not_after_days = -1 };
  expect_dates(&o, "certificate has expired");
}

Test(ekcert, not_yet_valid)
{
  struct th_cert_opts o = { .not_before_days = 2, .not_after_days = 30 };
  expect_dates(&o, "certificate is not yet valid");
}

Test(ekcert, without_ek_eku)
{
  struct th_cert_opts o = { .no_eku = true };
  expect_code(th_ek_cert(ek_key, inter, inter_key, &o), DJ_ATTEST_E_EK_EKU);
}

Test(ekcert, without_tpm_san)
{
  struct th_cert_opts o = { .no_san = true };
  expect_code(th_ek_cert(ek_key, inter, inter_key, &o), DJ_ATTEST_E_EK_SAN);
}

Test(ekcert, unknown_critical_extension_stays_an_error)
{
  struct th_cert_opts o = { .extra_critical = true };
  expect_code(th_ek_cert(ek_key, inter, inter_key, &o), DJ_ATTEST_E_EK_CHAIN);
}

Test(ekcert, signature_byte)
{
  X509 *cert = th_ek_cert(ek_key, inter, inter_key, NULL);
  size_t len;
  uint8_t *der = th_der(cert, &len);
  der[len - 3] ^= 1;
  dj_err err = { 0 };
  int r = dj_ekcert_verify(der, len, &trust, 0, NULL, NULL, &err);
  cr_assert_eq(r, -1);
  cr_assert(err.code == DJ_ATTEST_E_EK_CHAIN || err.code == DJ_ATTEST_E_MALFORMED, "%s", err.msg);
  OPENSSL_free(der);
  X509_free(cert);
}

Test(ekcert, trailing_bytes)
{
  X509 *cert = th_ek_cert(ek_key, inter, inter_key, NULL);
  size_t len;
  uint8_t *der = th_der(cert, &len);
  uint8_t *buf = malloc(len + 1);
  memcpy(buf, der, len);
  buf[len] = 0xff;
  dj_err err = { 0 };
  cr_assert_eq(dj_ekcert_verify(buf, len + 1, &trust, 0, NULL, NULL, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_MALFORMED, "%s", err.msg);
  free(buf);
  OPENSSL_free(der);
  X509_free(cert);
}

Test(ekcert, key_matches_the_ek_and_not_another)
{
  X509 *cert = th_ek_cert(ek_key, inter, inter_key, NULL);
  TPM2B_PUBLIC ek, other;
  th_ek_public(ek_key, &ek);
  EVP_PKEY *k = th_key("p256");
  th_ek_public(k, &other);
  dj_err err = { 0 };
  cr_assert_eq(dj_ekcert_match_public(cert, &ek.publicArea, &err), 0, "%s", err.msg);
  cr_assert_eq(dj_ekcert_match_public(cert, &other.publicArea, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_EK_KEY_MISMATCH, "%s", err.msg);
  EVP_PKEY_free(k);
  X509_free(cert);
}

Test(ekcert, rsa_ek_key_type)
{
  EVP_PKEY *k = th_key("rsa2048");
  X509 *cert = th_ek_cert(k, inter, inter_key, NULL);
  struct dj_ek_claims c;
  dj_err err = { 0 };
  cr_assert_eq(verify_cert(cert, &c, &err), 0, "%s", err.msg);
  cr_assert_str_eq(c.key_type, "RSA-2048");
  TPM2B_PUBLIC ek;
  th_ek_public(k, &ek);
  cr_assert_eq(dj_ekcert_match_public(cert, &ek.publicArea, &err), 0, "%s", err.msg);
  X509_free(cert);
  EVP_PKEY_free(k);
}
