/* EK material the test writes into the TPM's NV itself, because swtpm makes none: a P-256 EK
 * certificate at 0x01c0000a issued by the test's local CA (EK EKU, critical TCG SAN, as
 * swtpm_localca makes the RSA one), and EK templates at 0x01c00004 (RSA) / 0x01c0000c (ECC). */
#include <criterion/criterion.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "attest/codes.h"
#include "attest/ekcert.h"
#include "attest/makecred.h"
#include "attest/node.h"
#include "attest/tpm.h"
#include "attest/tpmstruct.h"
#include "swtpm.h"

static struct swtpm sw;

static void setup(void)
{
  swtpm_create(&sw);
  swtpm_start(&sw);
}

static void teardown(void)
{
  swtpm_destroy(&sw);
}

TestSuite(eknv, .init = setup, .fini = teardown, .timeout = 300);

static void open_tpm(struct dj_tpm *tpm)
{
  dj_err err = { 0 };
  cr_assert_eq(dj_tpm_open(sw.tcti, tpm, &err), 0, "%s", err.msg);
}

/* Define an NV index in the platform hierarchy (as a manufacturer would) and fill it. */
static void nv_write(uint32_t index, const uint8_t *data, size_t len)
{
  char file[PATH_MAX + 32], idx[16], size[16];
  snprintf(file, sizeof file, "%s/nv-%08x", sw.dir, index);
  snprintf(idx, sizeof idx, "0x%08x", index);
  snprintf(size, sizeof size, "%zu", len);
  FILE *f = fopen(file, "w");
  cr_assert_not_null(f);
  cr_assert_eq(fwrite(data, 1, len, f), len);
  fclose(f);
  const char *define[] = { "tpm2_nvdefine", "-C", "p", "-s", size, "-a",
                           "ppwrite|ppread|ownerread|authread|platformcreate|no_da", idx, NULL };
  cr_assert_eq(swtpm_run(&sw, define), 0, "tpm2_nvdefine %s", idx);
  const char *write[] = { "tpm2_nvwrite", "-C", "p", "-i", file, idx, NULL };
  cr_assert_eq(swtpm_run(&sw, write), 0, "tpm2_nvwrite %s", idx);
}

static void add_tcg_attr(X509_NAME *name, const char *oid, const char *value)
{
  ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
  cr_assert_not_null(obj);
  cr_assert(X509_NAME_add_entry_by_OBJ(name, obj, MBSTRING_UTF8, (const unsigned char *) value, -1, -1, 0));
  ASN1_OBJECT_free(obj);
}

static void add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
  cr_assert_not_null(ext, "extension %d = %s", nid, value);
  cr_assert(X509_add_ext(cert, ext, -1));
  X509_EXTENSION_free(ext);
}

/* An EK certificate for key, issued by the local CA's intermediate (the one that signs swtpm's). */
static size_t issue_ek_cert(EVP_PKEY *key, long days, bool with_eku, uint8_t *der, size_t size)
{
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/ca/signkey.pem", sw.dir);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f, "%s", path);
  EVP_PKEY *ca_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
  fclose(f);
  cr_assert_not_null(ca_key, "%s: not an unencrypted PEM key", path);
  f = fopen(sw.issuer_ca, "r");
  cr_assert_not_null(f);
  X509 *ca = PEM_read_X509(f, NULL, NULL, NULL);
  fclose(f);
  cr_assert_not_null(ca);

  X509 *cert = X509_new();
  cr_assert(X509_set_version(cert, X509_VERSION_3));
  cr_assert(ASN1_INTEGER_set(X509_get_serialNumber(cert), 4242));
  cr_assert(X509_set_issuer_name(cert, X509_get_subject_name(ca)));
  cr_assert(X509_gmtime_adj(X509_getm_notBefore(cert), -3600));
  cr_assert(X509_gmtime_adj(X509_getm_notAfter(cert), days * 86400));
  cr_assert(X509_set_pubkey(cert, key));
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca, cert, NULL, NULL, 0);
  add_ext(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert, &ctx, NID_key_usage, "critical,keyAgreement");
  add_ext(cert, &ctx, NID_authority_key_identifier, "keyid:always");
  if (with_eku)
    add_ext(cert, &ctx, NID_ext_key_usage, DJ_OID_EK_EKU);
  /* the TCG SAN: a critical directoryName with manufacturer, model and version (empty subject) */
  GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
  GENERAL_NAME *gn = GENERAL_NAME_new();
  X509_NAME *dn = X509_NAME_new();
  add_tcg_attr(dn, DJ_OID_TPM_MANUFACTURER, "id:00001014");
  add_tcg_attr(dn, DJ_OID_TPM_MODEL, "donjon-p256");
  add_tcg_attr(dn, DJ_OID_TPM_VERSION, "id:20260101");
  GENERAL_NAME_set0_value(gn, GEN_DIRNAME, dn);
  sk_GENERAL_NAME_push(names, gn);
  cr_assert(X509_add1_ext_i2d(cert, NID_subject_alt_name, names, 1, 0));
  GENERAL_NAMES_free(names);
  cr_assert(X509_sign(cert, ca_key, EVP_sha256()) > 0);

  int len = i2d_X509(cert, NULL);
  cr_assert(len > 0 && (size_t) len <= size);
  unsigned char *p = der;
  i2d_X509(cert, &p);
  X509_free(cert);
  X509_free(ca);
  EVP_PKEY_free(ca_key);
  return (size_t) len;
}

static void create_ek(struct dj_tpm *tpm, enum dj_ek_kind kind, TPM2B_PUBLIC *pub)
{
  dj_err err = { 0 };
  ESYS_TR ek;
  cr_assert_eq(dj_tpm_ek_create(tpm, kind, &ek, pub, &err), 0, "%s: %s", dj_ek_kind_name(kind), err.msg);
  dj_tpm_flush(tpm, &ek);
}

Test(eknv, p256_ek_certificate_chains_matches_and_gives_claims)
{
  struct dj_tpm tpm;
  open_tpm(&tpm);
  TPM2B_PUBLIC pub, p384;
  create_ek(&tpm, DJ_EK_ECC_P256, &pub);
  create_ek(&tpm, DJ_EK_ECC_P384, &p384);
  dj_tpm_close(&tpm); /* tpm2_nvdefine needs the one connection swtpm serves */
  dj_err err = { 0 };
  EVP_PKEY *key = NULL;
  cr_assert_eq(dj_tpm_public_to_evp(&pub.publicArea, &key, &err), 0, "%s", err.msg);
  uint8_t der[DJ_EK_CERT_MAX];
  size_t len = issue_ek_cert(key, 365, true, der, sizeof der);
  EVP_PKEY_free(key);
  nv_write(0x01c0000a, der, len);

  open_tpm(&tpm);
  uint8_t got[DJ_EK_CERT_MAX];
  size_t got_len = 0;
  cr_assert_eq(dj_tpm_ek_cert_read(&tpm, DJ_EK_ECC_P256, got, &got_len, &err), 0, "%s", err.msg);
  cr_assert_eq(got_len, len);
  cr_assert_eq(memcmp(got, der, len), 0, "the certificate read from NV 0x01c0000a is the one written");
  struct dj_ek_trust trust;
  const char *roots[] = { sw.root_ca }, *inter[] = { sw.issuer_ca };
  cr_assert_eq(dj_ek_trust_load(&trust, roots, 1, inter, 1, &err), 0, "%s", err.msg);
  X509 *cert = NULL;
  struct dj_ek_claims c;
  cr_assert_eq(dj_ekcert_verify(got, got_len, &trust, 0, &cert, &c, &err), 0, "%s", err.msg);
  cr_assert_str_eq(c.manufacturer, "id:00001014");
  cr_assert_str_eq(c.model, "donjon-p256");
  cr_assert_str_eq(c.version, "id:20260101");
  cr_assert_str_eq(c.key_type, "ECC-P256");
  TPM2B_PUBLIC again;
  create_ek(&tpm, DJ_EK_ECC_P256, &again);
  cr_assert_eq(dj_ekcert_match_public(cert, &again.publicArea, &err), 0, "%s", err.msg);
  /* one thing changed: the P-384 EK's key against the P-256 certificate */
  cr_assert_eq(dj_ekcert_match_public(cert, &p384.publicArea, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_EK_KEY_MISMATCH, "%s", err.msg);
  X509_free(cert);
  /* one thing changed: the same certificate without the EK EKU */
  key = NULL;
  cr_assert_eq(dj_tpm_public_to_evp(&pub.publicArea, &key, &err), 0, "%s", err.msg);
  len = issue_ek_cert(key, 365, false, der, sizeof der);
  EVP_PKEY_free(key);
  cr_assert_eq(dj_ekcert_verify(der, len, &trust, 0, NULL, NULL, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_EK_EKU, "%s", err.msg);
  dj_ek_trust_free(&trust);
  dj_tpm_close(&tpm);
}

/* The default template with the high-range EK's policy choice (userWithAuth, no authPolicy): a
 * visible difference that the re-created EK must carry if the NV template was used. */
static void template_in_nv_is_followed(enum dj_ek_kind kind, uint32_t index)
{
  struct dj_tpm tpm;
  open_tpm(&tpm);
  TPM2B_PUBLIC before;
  create_ek(&tpm, kind, &before);
  dj_tpm_close(&tpm);
  TPM2B_PUBLIC tmpl;
  dj_ek_template(kind, &tmpl);
  tmpl.publicArea.objectAttributes |= TPMA_OBJECT_USERWITHAUTH;
  tmpl.publicArea.objectAttributes &= ~TPMA_OBJECT_ADMINWITHPOLICY;
  tmpl.publicArea.authPolicy.size = 0;
  uint8_t buf[sizeof(TPMT_PUBLIC)];
  size_t len = 0;
  cr_assert_eq(Tss2_MU_TPMT_PUBLIC_Marshal(&tmpl.publicArea, buf, sizeof buf, &len), TSS2_RC_SUCCESS);
  nv_write(index, buf, len);
  open_tpm(&tpm);
  TPM2B_PUBLIC after;
  create_ek(&tpm, kind, &after);
  dj_tpm_close(&tpm);
  cr_assert_eq(after.publicArea.objectAttributes, tmpl.publicArea.objectAttributes, "the EK follows the NV template");
  cr_assert_eq(after.publicArea.authPolicy.size, 0);
  cr_assert_neq(before.publicArea.objectAttributes, after.publicArea.objectAttributes);
  cr_assert_neq(before.publicArea.authPolicy.size, 0, "the default template has PolicySecret(endorsement)");
  /* That EK is used as its own public area says (a password session, not PolicySecret): an AK
   * is made and loaded under it, and a credential made for that EK activates. */
  struct dj_node node;
  dj_node_defaults(&node);
  node.tcti = sw.tcti;
  node.state_dir = sw.node_dir;
  node.ek_kind = kind;
  node.ak_kind = kind == DJ_EK_RSA2048 ? DJ_AK_RSA2048 : DJ_AK_ECC_P256;
  dj_err err = { 0 };
  struct dj_ak_blobs ak;
  bool created;
  if (kind == DJ_EK_RSA2048) {
    /* swtpm_setup's RSA certificate is for the default template's EK, not this one: the node
     * refuses an EK whose key is not its certificate's (before recording it, docs/protocol.md §5),
     * and takes it once NV has no certificate (a TPM without one: enrolment decides) */
    cr_assert_eq(dj_node_ak_ensure(&node, &ak, &created, &err), -1);
    cr_assert_eq(err.code, DJ_ATTEST_E_EK_KEY_MISMATCH, "%s", err.msg);
    const char *undefine[] = { "tpm2_nvundefine", "-C", "p", "0x01c00002", NULL };
    cr_assert_eq(swtpm_run(&sw, undefine), 0);
  }
  cr_assert_eq(dj_node_ak_ensure(&node, &ak, &created, &err), 0, "AK under the NV template's EK: %s", err.msg);
  TPM2B_NAME name;
  cr_assert_eq(dj_tpm_public_name(&ak.pub.publicArea, &name, &err), 0);
  uint8_t secret[32];
  RAND_bytes(secret, sizeof secret);
  TPM2B_ID_OBJECT blob;
  TPM2B_ENCRYPTED_SECRET seed;
  cr_assert_eq(dj_make_credential(&after.publicArea, &name, secret, sizeof secret, &blob, &seed, &err), 0, "%s",
               err.msg);
  TPM2B_DIGEST got;
  cr_assert_eq(dj_node_activate(&node, &blob, &seed, &got, &err), 0, "%s", err.msg);
  cr_assert_eq(dj_credential_check(secret, sizeof secret, got.buffer, got.size, &err), 0, "%s", err.msg);
}

static bool same_key(const TPM2B_PUBLIC *a, const TPM2B_PUBLIC *b)
{
  if (a->publicArea.type == TPM2_ALG_RSA)
    return a->publicArea.unique.rsa.size == b->publicArea.unique.rsa.size &&
           memcmp(a->publicArea.unique.rsa.buffer, b->publicArea.unique.rsa.buffer, a->publicArea.unique.rsa.size) == 0;
  return a->publicArea.unique.ecc.x.size == b->publicArea.unique.ecc.x.size &&
         memcmp(a->publicArea.unique.ecc.x.buffer, b->publicArea.unique.ecc.x.buffer, a->publicArea.unique.ecc.x.size) == 0;
}

/* The EK nonce (0x01c00003 RSA, 0x01c0000b ECC) fills the unique field of whichever template is
 * used: the default one, or the one in NV (as tpm2_createek -t and FAPI apply it). */
static void nonce_applies_to_the_nv_template_too(enum dj_ek_kind kind, uint32_t nonce_index, uint32_t template_index)
{
  struct dj_tpm tpm;
  open_tpm(&tpm);
  TPM2B_PUBLIC plain;
  create_ek(&tpm, kind, &plain);
  dj_tpm_close(&tpm);
  nv_write(nonce_index, (const uint8_t *) "donjon!!", 8);
  open_tpm(&tpm);
  TPM2B_PUBLIC with_nonce;
  create_ek(&tpm, kind, &with_nonce);
  dj_tpm_close(&tpm);
  cr_assert_not(same_key(&plain, &with_nonce), "the nonce is part of the EK's template");
  /* the default template again, from NV, with an empty unique field: the nonce fills it */
  TPM2B_PUBLIC tmpl;
  dj_ek_template(kind, &tmpl);
  memset(&tmpl.publicArea.unique, 0, sizeof tmpl.publicArea.unique);
  uint8_t buf[sizeof(TPMT_PUBLIC)];
  size_t len = 0;
  cr_assert_eq(Tss2_MU_TPMT_PUBLIC_Marshal(&tmpl.publicArea, buf, sizeof buf, &len), TSS2_RC_SUCCESS);
  nv_write(template_index, buf, len);
  open_tpm(&tpm);
  TPM2B_PUBLIC both;
  create_ek(&tpm, kind, &both);
  dj_tpm_close(&tpm);
  cr_assert(same_key(&both, &with_nonce), "the NV template with the nonce is the default template with the nonce");
}

Test(eknv, rsa_nonce_applies_to_the_nv_template_too)
{
  nonce_applies_to_the_nv_template_too(DJ_EK_RSA2048, 0x01c00003, 0x01c00004);
}

Test(eknv, ecc_nonce_applies_to_the_nv_template_too)
{
  nonce_applies_to_the_nv_template_too(DJ_EK_ECC_P256, 0x01c0000b, 0x01c0000c);
}

Test(eknv, rsa_ek_follows_the_template_at_0x01c00004)
{
  template_in_nv_is_followed(DJ_EK_RSA2048, 0x01c00004);
}

Test(eknv, ecc_ek_follows_the_template_at_0x01c0000c)
{
  template_in_nv_is_followed(DJ_EK_ECC_P256, 0x01c0000c);
}

static void malformed_template_is_refused(bool truncated)
{
  TPM2B_PUBLIC tmpl;
  dj_ek_template(DJ_EK_ECC_P256, &tmpl);
  uint8_t buf[sizeof(TPMT_PUBLIC) + 1];
  size_t len = 0;
  cr_assert_eq(Tss2_MU_TPMT_PUBLIC_Marshal(&tmpl.publicArea, buf, sizeof buf, &len), TSS2_RC_SUCCESS);
  buf[len] = 0;
  nv_write(0x01c0000c, buf, truncated ? len - 1 : len + 1); /* one thing changed: a byte less or more */
  struct dj_tpm tpm;
  open_tpm(&tpm);
  dj_err err = { 0 };
  ESYS_TR ek;
  TPM2B_PUBLIC pub;
  cr_assert_eq(dj_tpm_ek_create(&tpm, DJ_EK_ECC_P256, &ek, &pub, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_MALFORMED, "%s", err.msg);
  cr_assert(strstr(err.msg, "0x01c0000c") != NULL, "%s", err.msg);
  dj_tpm_close(&tpm);
}

Test(eknv, a_truncated_template_is_refused)
{
  malformed_template_is_refused(true);
}

Test(eknv, a_template_with_trailing_bytes_is_refused)
{
  malformed_template_is_refused(false);
}

Test(eknv, a_template_of_another_key_type_is_refused)
{
  /* one thing changed: the RSA EK's template at the P-256 EK's index would make an RSA "P-256 EK" */
  TPM2B_PUBLIC tmpl;
  dj_ek_template(DJ_EK_RSA2048, &tmpl);
  uint8_t buf[sizeof(TPMT_PUBLIC)];
  size_t len = 0;
  cr_assert_eq(Tss2_MU_TPMT_PUBLIC_Marshal(&tmpl.publicArea, buf, sizeof buf, &len), TSS2_RC_SUCCESS);
  nv_write(0x01c0000c, buf, len);
  struct dj_tpm tpm;
  open_tpm(&tpm);
  dj_err err = { 0 };
  ESYS_TR ek = ESYS_TR_NONE;
  TPM2B_PUBLIC pub;
  int r = dj_tpm_ek_create(&tpm, DJ_EK_ECC_P256, &ek, &pub, &err);
  dj_tpm_flush(&tpm, &ek);
  dj_tpm_close(&tpm);
  cr_assert_eq(r, -1, "an RSA template made the P-256 EK");
  cr_assert_eq(err.code, DJ_ATTEST_E_MALFORMED, "%s", err.msg);
  cr_assert(strstr(err.msg, "0x01c0000c") != NULL, "%s", err.msg);
}
