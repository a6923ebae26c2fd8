/* Quote checks 3-8 and AK checks: a valid quote passes, and each test changes exactly one thing
 * and expects that check's own code. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <string.h>

#include "attest/codes.h"
#include "attest/quote.h"
#include "attest/tpmstruct.h"
#include "helpers.h"

static struct th_quote q;
static struct dj_tpm_counters last;
static struct dj_quote_expect expect;

static void setup_kind(const char *kind)
{
  th_quote_new(&q, kind);
  expect = (struct dj_quote_expect){
    .extra_data = q.extra, .extra_len = sizeof q.extra, .selection = &q.sel, .pcrs = &q.pcrs, .last = NULL,
    .clock_tolerance_ms = 5000,
  };
}
static void setup_rsa(void)
{
  setup_kind("rsa2048");
}
static void setup_ecc(void)
{
  setup_kind("p256");
}
static void teardown(void)
{
  th_quote_free(&q);
}

static int verify(dj_err *err, struct dj_quote_claims *claims)
{
  return dj_quote_verify(q.msg, q.msg_len, q.sig, q.sig_len, &q.ak, &expect, claims, err);
}

static void expect_code(int code)
{
  dj_err err = { 0 };
  cr_assert_eq(verify(&err, NULL), -1, "quote accepted, expected %s", dj_attest_code_name(code));
  cr_assert_eq(err.code, code, "code %s (%s), expected %s", dj_attest_code_name(err.code), err.msg,
               dj_attest_code_name(code));
  cr_assert_neq(err.msg[0], '\0');
}

#define BOTH(name)                                                                                                   \
  static void name##_body(void);                                                                                     \
  Test(quote_rsa, name, .init = setup_rsa, .fini = teardown) { name##_body(); }                                     \
  Test(quote_ecc, name, .init = setup_ecc, .fini = teardown) { name##_body(); }                                     \
  static void name##_body(void)

BOTH(valid_quote_verifies_and_gives_claims)
{
  dj_err err = { 0 };
  struct dj_quote_claims c;
  cr_assert_eq(verify(&err, &c), 0, "%s", err.msg);
  cr_assert_eq(c.counters.reset_count, 5);
  cr_assert_eq(c.counters.restart_count, 2);
  cr_assert_eq(c.counters.clock, 100000);
  cr_assert(c.counters.safe);
  cr_assert_eq(c.firmware_version, 0x2000100000000ULL);
  cr_assert_eq(c.pcr_digest_len, 32);
}

BOTH(one_signature_byte)
{
  q.sig[q.sig_len - 5] ^= 0x01;
  expect_code(DJ_ATTEST_E_SIGNATURE);
}

BOTH(one_message_byte_after_signing)
{
  q.msg[q.msg_len - 1] ^= 0x80; /* clock info / digest: only the signature catches it */
  expect_code(DJ_ATTEST_E_SIGNATURE);
}

BOTH(signature_hash_not_the_aks)
{
  TPMT_SIGNATURE sig;
  dj_err err = { 0 };
  cr_assert_eq(dj_tpm_unmarshal_signature(q.sig, q.sig_len, &sig, &err), 0);
  sig.signature.any.hashAlg = TPM2_ALG_SHA384;
  cr_assert_eq(dj_tpm_marshal_signature(&sig, q.sig, &q.sig_len, &err), 0);
  expect_code(DJ_ATTEST_E_SIG_SCHEME);
}

BOTH(signed_by_another_key)
{
  EVP_PKEY *other = th_key(q.ak.publicArea.type == TPM2_ALG_RSA ? "rsa2048" : "p256");
  TPM2B_PUBLIC ak = q.ak;
  EVP_PKEY_free(q.key);
  q.key = other;
  th_quote_seal(&q, false);
  q.ak = ak;
  expect_code(DJ_ATTEST_E_SIGNATURE);
}

BOTH(magic)
{
  q.att.magic = 0x12345678;
  th_quote_seal(&q, false);
  expect_code(DJ_ATTEST_E_MAGIC);
}

BOTH(type)
{
  /* A TPMS_ATTEST of another type (TIME) with a body of its own, properly signed. */
  memset(&q.att.attested, 0, sizeof q.att.attested);
  q.att.type = TPM2_ST_ATTEST_TIME;
  th_quote_seal(&q, false);
  expect_code(DJ_ATTEST_E_TYPE);
}

BOTH(extra_data)
{
  q.att.extraData.buffer[0] ^= 1;
  th_quote_seal(&q, false);
  expect_code(DJ_ATTEST_E_EXTRA_DATA);
}

BOTH(extra_data_shorter)
{
  q.att.extraData.size = 31;
  th_quote_seal(&q, false);
  expect_code(DJ_ATTEST_E_EXTRA_DATA);
}

BOTH(selection_missing_a_pcr)
{
  q.att.attested.quote.pcrSelect.pcrSelections[0].pcrSelect[2] = 0; /* drop PCR 23 */
  q.pcrs.count--;
  th_quote_seal(&q, true);
  q.pcrs.count++;
  expect_code(DJ_ATTEST_E_PCR_SELECTION);
}

BOTH(selection_other_bank)
{
  q.att.attested.quote.pcrSelect.pcrSelections[0].hash = TPM2_ALG_SHA1;
  th_quote_seal(&q, false);
  expect_code(DJ_ATTEST_E_PCR_SELECTION);
}

BOTH(one_pcr_value)
{
  q.pcrs.v[8].digest[0] ^= 1; /* PCR 23 as supplied differs from what the TPM quoted */
  expect_code(DJ_ATTEST_E_PCR_DIGEST);
}

BOTH(digest_with_the_banks_hash_not_the_schemes)
{
  /* A sha1 bank quoted by a SHA-256 AK: the digest is SHA-256 over SHA-1 values. */
  dj_err err = { 0 };
  cr_assert_eq(dj_pcr_selection_parse("sha1:0,1", &q.sel, &err), 0);
  q.pcrs.count = 2;
  q.pcrs.v[0] = (struct dj_pcr_value){ .bank = TPM2_ALG_SHA1, .index = 0, .size = 20 };
  q.pcrs.v[1] = (struct dj_pcr_value){ .bank = TPM2_ALG_SHA1, .index = 1, .size = 20 };
  q.att.attested.quote.pcrSelect = q.sel;
  size_t len = 0;
  cr_assert_eq(dj_pcr_digest(&q.sel, &q.pcrs, TPM2_ALG_SHA1, q.att.attested.quote.pcrDigest.buffer, &len, &err), 0);
  q.att.attested.quote.pcrDigest.size = (uint16_t) len;
  th_quote_seal(&q, false);
  expect_code(DJ_ATTEST_E_PCR_DIGEST);
  th_quote_seal(&q, true);
  cr_assert_eq(verify(&err, NULL), 0, "%s", err.msg);
}

BOTH(supplied_pcr_not_covered)
{
  struct dj_pcr_value *v = &q.pcrs.v[q.pcrs.count++];
  *v = (struct dj_pcr_value){ .bank = TPM2_ALG_SHA256, .index = 10, .size = 32 };
  expect_code(DJ_ATTEST_E_PCR_UNCOVERED);
}

BOTH(quoted_pcr_without_value)
{
  q.pcrs.count--;
  expect_code(DJ_ATTEST_E_PCR_UNCOVERED);
}

BOTH(values_out_of_order)
{
  struct dj_pcr_value t = q.pcrs.v[0];
  q.pcrs.v[0] = q.pcrs.v[1];
  q.pcrs.v[1] = t;
  expect_code(DJ_ATTEST_E_PCR_UNCOVERED);
}

BOTH(reset_count_went_backwards)
{
  last = (struct dj_tpm_counters){ .clock = 90000, .reset_count = 6, .restart_count = 0 };
  expect.last = &last;
  expect_code(DJ_ATTEST_E_RESET_COUNT);
}

BOTH(restart_count_went_backwards)
{
  last = (struct dj_tpm_counters){ .clock = 90000, .reset_count = 5, .restart_count = 3 };
  expect.last = &last;
  expect_code(DJ_ATTEST_E_RESTART_COUNT);
}

BOTH(clock_went_backwards_beyond_tolerance)
{
  last = (struct dj_tpm_counters){ .clock = 105001, .reset_count = 5, .restart_count = 2 };
  expect.last = &last;
  expect_code(DJ_ATTEST_E_CLOCK);
}

BOTH(counters_that_are_fine)
{
  dj_err err = { 0 };
  expect.last = &last;
  last = (struct dj_tpm_counters){ .clock = 105000, .reset_count = 5, .restart_count = 2 }; /* within tolerance */
  cr_assert_eq(verify(&err, NULL), 0, "%s", err.msg);
  last = (struct dj_tpm_counters){ .clock = 900000, .reset_count = 4, .restart_count = 7 }; /* a new boot */
  cr_assert_eq(verify(&err, NULL), 0, "%s", err.msg);
}

BOTH(trailing_bytes_after_the_attest)
{
  q.msg[q.msg_len++] = 0;
  TPMT_SIGNATURE sig;
  dj_err err = { 0 };
  th_sign(q.key, &q.ak, q.msg, q.msg_len, &sig);
  cr_assert_eq(dj_tpm_marshal_signature(&sig, q.sig, &q.sig_len, &err), 0);
  expect_code(DJ_ATTEST_E_MALFORMED);
}

/* AK checks */

static void expect_ak(const TPM2B_PUBLIC *ak, const TPM2B_NAME *name, const struct dj_ak_allowed *allowed, int code)
{
  dj_err err = { 0 };
  int r = dj_ak_check(ak, name, allowed, &err);
  if (code == 0) {
    cr_assert_eq(r, 0, "%s", err.msg);
    return;
  }
  cr_assert_eq(r, -1, "AK accepted, expected %s", dj_attest_code_name(code));
  cr_assert_eq(err.code, code, "code %s (%s)", dj_attest_code_name(err.code), err.msg);
}

BOTH(ak_valid)
{
  TPM2B_NAME name;
  dj_err err = { 0 };
  cr_assert_eq(dj_tpm_public_name(&q.ak.publicArea, &name, &err), 0);
  expect_ak(&q.ak, &name, NULL, 0);
}

struct attr_case {
  TPMA_OBJECT clear;
  TPMA_OBJECT set;
};

BOTH(ak_each_attribute)
{
  struct attr_case cases[] = {
    { TPMA_OBJECT_FIXEDTPM, 0 },   { TPMA_OBJECT_FIXEDPARENT, 0 }, { TPMA_OBJECT_SENSITIVEDATAORIGIN, 0 },
    { TPMA_OBJECT_RESTRICTED, 0 }, { TPMA_OBJECT_SIGN_ENCRYPT, 0 }, { 0, TPMA_OBJECT_DECRYPT },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    TPM2B_PUBLIC ak = q.ak;
    ak.publicArea.objectAttributes &= ~cases[i].clear;
    ak.publicArea.objectAttributes |= cases[i].set;
    expect_ak(&ak, NULL, NULL, DJ_ATTEST_E_AK_ATTRIBUTES);
  }
}

BOTH(ak_name_of_another_key)
{
  TPM2B_NAME name;
  dj_err err = { 0 };
  TPM2B_PUBLIC other = q.ak;
  other.publicArea.objectAttributes |= TPMA_OBJECT_NODA;
  cr_assert_eq(dj_tpm_public_name(&other.publicArea, &name, &err), 0);
  expect_ak(&q.ak, &name, NULL, DJ_ATTEST_E_AK_NAME);
}

BOTH(ak_no_scheme)
{
  TPM2B_PUBLIC ak = q.ak;
  if (ak.publicArea.type == TPM2_ALG_RSA)
    ak.publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
  else
    ak.publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
  expect_ak(&ak, NULL, NULL, DJ_ATTEST_E_AK_ALGORITHM);
}

BOTH(ak_name_alg_sha1)
{
  TPM2B_PUBLIC ak = q.ak;
  ak.publicArea.nameAlg = TPM2_ALG_SHA1;
  expect_ak(&ak, NULL, NULL, DJ_ATTEST_E_AK_ALGORITHM);
}

Test(ak, sizes_and_curves_by_allow_list)
{
  EVP_PKEY *k3072 = th_key("rsa3072"), *k384 = th_key("p384");
  TPM2B_PUBLIC a3072, a384;
  th_ak_public(k3072, &a3072);
  th_ak_public(k384, &a384);
  expect_ak(&a3072, NULL, NULL, DJ_ATTEST_E_AK_ALGORITHM);
  expect_ak(&a384, NULL, NULL, DJ_ATTEST_E_AK_ALGORITHM);
  struct dj_ak_allowed allow = { .set = true, .rsa3072 = true, .ecc_p384 = true };
  expect_ak(&a3072, NULL, &allow, 0);
  expect_ak(&a384, NULL, &allow, 0);
  EVP_PKEY *k2048 = th_key("rsa2048");
  TPM2B_PUBLIC a2048;
  th_ak_public(k2048, &a2048);
  expect_ak(&a2048, NULL, &allow, DJ_ATTEST_E_AK_ALGORITHM);
  EVP_PKEY_free(k3072);
  EVP_PKEY_free(k384);
  EVP_PKEY_free(k2048);
}

Test(ak, ecc_point_off_the_curve)
{
  EVP_PKEY *k = th_key("p256");
  TPM2B_PUBLIC ak;
  th_ak_public(k, &ak);
  ak.publicArea.unique.ecc.y.buffer[31] ^= 1;
  expect_ak(&ak, NULL, NULL, DJ_ATTEST_E_MALFORMED);
  EVP_PKEY_free(k);
}
