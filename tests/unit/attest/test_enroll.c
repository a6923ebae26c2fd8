/* Enrolment checks in order, each failing alone with its own code. */
#include <criterion/criterion.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "attest/codes.h"
#include "attest/enroll.h"
#include "helpers.h"

static EVP_PKEY *ca_key, *ek_key, *ak_key;
static X509 *ca;
static struct dj_ek_trust trust;
static const char *ca_file;
static struct dj_enroll_request req;
static uint8_t *der;

static void setup(void)
{
  ca_key = th_key("p256");
  ek_key = th_key("p256");
  ak_key = th_key("p256");
  ca = th_ca("Test EK CA", ca_key, NULL, NULL);
  ca_file = th_pem_file(&ca, 1, 0);
  dj_err err = { 0 };
  cr_assert_eq(dj_ek_trust_load(&trust, &ca_file, 1, NULL, 0, &err), 0, "%s", err.msg);
  X509 *cert = th_ek_cert(ek_key, ca, ca_key, NULL);
  memset(&req, 0, sizeof req);
  der = th_der(cert, &req.ek_cert_len);
  req.ek_cert = der;
  X509_free(cert);
  th_ek_public(ek_key, &req.ek);
  th_ak_public(ak_key, &req.ak);
}

static void teardown(void)
{
  OPENSSL_free(der);
  dj_ek_trust_free(&trust);
  unlink(ca_file);
  X509_free(ca);
  EVP_PKEY_free(ca_key);
  EVP_PKEY_free(ek_key);
  EVP_PKEY_free(ak_key);
}

TestSuite(enroll, .init = setup, .fini = teardown);

static void expect_code(int code)
{
  struct dj_enroll_claims c;
  struct dj_enroll_challenge ch;
  dj_err err = { 0 };
  cr_assert_eq(dj_enroll_check(&req, &trust, NULL, 0, &c, &ch, &err), -1, "accepted, expected %s",
               dj_attest_code_name(code));
  cr_assert_eq(err.code, code, "code %s (%s)", dj_attest_code_name(err.code), err.msg);
}

Test(enroll, valid_with_certificate)
{
  struct dj_enroll_claims c;
  struct dj_enroll_challenge ch;
  dj_err err = { 0 };
  cr_assert_eq(dj_enroll_check(&req, &trust, NULL, 0, &c, &ch, &err), 0, "%s", err.msg);
  cr_assert(c.ek_cert_present);
  cr_assert_str_eq(c.ek.manufacturer, "id:53544D20");
  cr_assert_eq(c.ak_name.size, 34);
  cr_assert_gt(ch.blob.size, 0);
  cr_assert_gt(ch.seed.size, 0);
}

Test(enroll, no_certificate_is_a_claim_not_a_failure)
{
  req.ek_cert = NULL;
  struct dj_enroll_claims c;
  struct dj_enroll_challenge ch;
  dj_err err = { 0 };
  cr_assert_eq(dj_enroll_check(&req, &trust, NULL, 0, &c, &ch, &err), 0, "%s", err.msg);
  cr_assert_not(c.ek_cert_present);
}

Test(enroll, ek_that_can_sign)
{
  req.ek.publicArea.objectAttributes |= TPMA_OBJECT_SIGN_ENCRYPT;
  expect_code(DJ_ATTEST_E_EK_PUBLIC);
}

Test(enroll, ek_that_differs_from_its_certificate)
{
  EVP_PKEY *k = th_key("p256");
  th_ek_public(k, &req.ek);
  EVP_PKEY_free(k);
  expect_code(DJ_ATTEST_E_EK_KEY_MISMATCH);
}

Test(enroll, certificate_from_another_ca)
{
  EVP_PKEY *k = th_key("p256");
  X509 *other = th_ca("Test EK CA", k, NULL, NULL);
  X509 *cert = th_ek_cert(ek_key, other, k, NULL);
  OPENSSL_free(der);
  der = th_der(cert, &req.ek_cert_len);
  req.ek_cert = der;
  X509_free(cert);
  X509_free(other);
  EVP_PKEY_free(k);
  expect_code(DJ_ATTEST_E_EK_CHAIN);
}

Test(enroll, ak_that_can_decrypt)
{
  req.ak.publicArea.objectAttributes |= TPMA_OBJECT_DECRYPT;
  expect_code(DJ_ATTEST_E_AK_ATTRIBUTES);
}
