/* tss2-mu unmarshalling: whole buffers only, bounded; keys and names. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <tss2/tss2_mu.h>

#include "attest/codes.h"
#include "attest/tpm.h"
#include "attest/tpmstruct.h"
#include "helpers.h"

Test(tpmstruct, public_roundtrip_and_defects)
{
  EVP_PKEY *k = th_key("p256");
  TPM2B_PUBLIC pub, back;
  th_ak_public(k, &pub);
  uint8_t buf[DJ_TPM_STRUCT_MAX + 8];
  size_t len = 0;
  dj_err err = { 0 };
  cr_assert_eq(dj_tpm_marshal_public(&pub, buf, &len, &err), 0);
  cr_assert_eq(dj_tpm_unmarshal_public(buf, len, &back, &err), 0, "%s", err.msg);
  cr_assert_eq(memcmp(&back.publicArea.unique.ecc, &pub.publicArea.unique.ecc, sizeof pub.publicArea.unique.ecc), 0);
  cr_assert_eq(dj_tpm_unmarshal_public(buf, len - 1, &back, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_MALFORMED);
  cr_assert_eq(dj_tpm_unmarshal_public(buf, len + 1, &back, &err), -1);
  cr_assert(strstr(err.msg, "trailing") != NULL, "%s", err.msg);
  cr_assert_eq(dj_tpm_unmarshal_public(buf, DJ_TPM_STRUCT_MAX + 1, &back, &err), -1);
  buf[0] ^= 0x10; /* TPM2B size no longer the contents' */
  cr_assert_eq(dj_tpm_unmarshal_public(buf, len, &back, &err), -1);
  EVP_PKEY_free(k);
}

Test(tpmstruct, evp_roundtrip_rsa_and_ecc)
{
  const char *kinds[] = { "rsa2048", "p256", "p384" };
  for (size_t i = 0; i < 3; i++) {
    EVP_PKEY *k = th_key(kinds[i]), *back = NULL;
    TPM2B_PUBLIC pub;
    th_ak_public(k, &pub);
    dj_err err = { 0 };
    cr_assert_eq(dj_tpm_public_to_evp(&pub.publicArea, &back, &err), 0, "%s: %s", kinds[i], err.msg);
    cr_assert_eq(EVP_PKEY_eq(k, back), 1, "%s", kinds[i]);
    EVP_PKEY_free(back);
    EVP_PKEY_free(k);
  }
}

Test(tpmstruct, rsa_modulus_size_must_match_key_bits)
{
  EVP_PKEY *k = th_key("rsa2048"), *back = NULL;
  TPM2B_PUBLIC pub;
  th_ak_public(k, &pub);
  pub.publicArea.unique.rsa.size = 128;
  dj_err err = { 0 };
  cr_assert_eq(dj_tpm_public_to_evp(&pub.publicArea, &back, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_MALFORMED);
  EVP_PKEY_free(k);
}

Test(tpmstruct, name_is_namealg_and_digest)
{
  EVP_PKEY *k = th_key("p256");
  TPM2B_PUBLIC pub;
  th_ak_public(k, &pub);
  TPM2B_NAME n1, n2;
  dj_err err = { 0 };
  cr_assert_eq(dj_tpm_public_name(&pub.publicArea, &n1, &err), 0);
  cr_assert_eq(n1.size, 34);
  cr_assert_eq(n1.name[0], 0x00);
  cr_assert_eq(n1.name[1], 0x0b);
  pub.publicArea.nameAlg = TPM2_ALG_SHA384;
  cr_assert_eq(dj_tpm_public_name(&pub.publicArea, &n2, &err), 0);
  cr_assert_eq(n2.size, 50);
  EVP_PKEY_free(k);
}

Test(tpmstruct, attest_and_signature_bounds)
{
  uint8_t junk[64] = { 0xff, 0x54, 0x43, 0x47 };
  TPMS_ATTEST att;
  TPMT_SIGNATURE sig;
  dj_err err = { 0 };
  cr_assert_eq(dj_tpm_unmarshal_attest(junk, sizeof junk, &att, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_MALFORMED);
  cr_assert_eq(dj_tpm_unmarshal_signature(junk, 0, &sig, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_MALFORMED);
}

Test(pcrsel, parse_format_compare)
{
  TPML_PCR_SELECTION a, b;
  dj_err err = { 0 };
  char text[256];
  cr_assert_eq(dj_pcr_selection_parse("sha256:0,1,2,3,4,5,6,7,23+sha1:0", &a, &err), 0, "%s", err.msg);
  dj_pcr_selection_format(&a, text, sizeof text);
  cr_assert_str_eq(text, "sha256:0,1,2,3,4,5,6,7,23+sha1:0");
  cr_assert_eq(dj_pcr_selection_count(&a), 10);
  cr_assert_eq(dj_pcr_selection_parse("sha256:0,1,2,3,4,5,6,7,23+sha1:0", &b, &err), 0);
  b.pcrSelections[0].sizeofSelect = 4; /* a trailing zero byte selects nothing more */
  cr_assert(dj_pcr_selection_equal(&a, &b));
  b.pcrSelections[0].pcrSelect[3] = 1;
  cr_assert_not(dj_pcr_selection_equal(&a, &b));
  cr_assert_eq(dj_pcr_selection_parse("sha256:24", &b, &err), -1);
  cr_assert_eq(dj_pcr_selection_parse("md5:1", &b, &err), -1);
  cr_assert_eq(dj_pcr_selection_parse("sha256:1+sha256:2", &b, &err), -1);
  cr_assert_eq(dj_pcr_selection_parse("", &b, &err), -1);
}

static size_t marshal_template(const TPMT_PUBLIC *t, uint8_t *buf, size_t size)
{
  size_t len = 0;
  cr_assert_eq(Tss2_MU_TPMT_PUBLIC_Marshal(t, buf, size, &len), TSS2_RC_SUCCESS);
  return len;
}

Test(tpmstruct, ek_template_must_be_the_ek_kind)
{
  TPM2B_PUBLIC rsa, p256, p384;
  dj_ek_template(DJ_EK_RSA2048, &rsa);
  dj_ek_template(DJ_EK_ECC_P256, &p256);
  dj_ek_template(DJ_EK_ECC_P384, &p384);
  uint8_t buf[DJ_TPM_STRUCT_MAX + 8];
  dj_err err = { 0 };
  TPMT_PUBLIC out;
  size_t len = marshal_template(&p256.publicArea, buf, sizeof buf);
  cr_assert_eq(dj_tpm_unmarshal_ek_template(buf, len, &p256.publicArea, &out, &err), 0, "%s", err.msg);
  cr_assert_eq(out.parameters.eccDetail.curveID, TPM2_ECC_NIST_P256);
  /* one thing changed each time: a byte more, another type, another curve, another RSA size */
  cr_assert_eq(dj_tpm_unmarshal_ek_template(buf, len + 1, &p256.publicArea, &out, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_MALFORMED);
  cr_assert_eq(dj_tpm_unmarshal_ek_template(buf, len, &rsa.publicArea, &out, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_MALFORMED);
  len = marshal_template(&p384.publicArea, buf, sizeof buf);
  cr_assert_eq(dj_tpm_unmarshal_ek_template(buf, len, &p256.publicArea, &out, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_MALFORMED, "%s", err.msg);
  TPMT_PUBLIC rsa3072 = rsa.publicArea;
  rsa3072.parameters.rsaDetail.keyBits = 3072;
  len = marshal_template(&rsa3072, buf, sizeof buf);
  cr_assert_eq(dj_tpm_unmarshal_ek_template(buf, len, &rsa.publicArea, &out, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_MALFORMED, "%s", err.msg);
  len = marshal_template(&rsa.publicArea, buf, sizeof buf);
  cr_assert_eq(dj_tpm_unmarshal_ek_template(buf, len, &rsa.publicArea, &out, &err), 0, "%s", err.msg);
}

/* The AK blobs file is read back exactly as dj_ak_blobs_save writes it: a TPM2B size that
 * disagrees with its contents, an empty part or a trailing byte is not AK blobs (found by
 * fuzz_attest_akblobs: tss2-mu alone accepts the first two). */
static void write_bytes(const char *path, const uint8_t *b, size_t n)
{
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f);
  cr_assert_eq(fwrite(b, 1, n, f), n);
  fclose(f);
}

Test(tpmstruct, ak_blobs_load_exactly_what_save_writes)
{
  char dir[] = "/tmp/dj-akblobs-XXXXXX", path[64];
  cr_assert_not_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/ak.blob", dir);
  EVP_PKEY *k = th_key("p256");
  struct dj_ak_blobs ak = { 0 }, back;
  th_ak_public(k, &ak.pub);
  ak.priv.size = 40;
  memset(ak.priv.buffer, 0xa5, 40);
  dj_err err = { 0 };
  cr_assert_eq(dj_ak_blobs_save(path, &ak, &err), 0, "%s", err.msg);
  cr_assert_eq(dj_ak_blobs_load(path, &back, &err), 0, "%s", err.msg);
  cr_assert_eq(back.priv.size, 40);
  uint8_t buf[2 * DJ_TPM_STRUCT_MAX];
  FILE *f = fopen(path, "rb");
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  const uint8_t empty[] = { 0, 0, 0, 0 }, short_public[] = { 0, 2, 0, 2, 0, 0 };
  write_bytes(path, empty, sizeof empty);
  cr_assert_eq(dj_ak_blobs_load(path, &back, &err), -1, "empty parts");
  cr_assert_eq(err.code, DJ_ATTEST_E_MALFORMED);
  write_bytes(path, short_public, sizeof short_public);
  cr_assert_eq(dj_ak_blobs_load(path, &back, &err), -1, "a public size that is not its contents'");
  buf[n] = 0;
  write_bytes(path, buf, n + 1);
  cr_assert_eq(dj_ak_blobs_load(path, &back, &err), -1, "a trailing byte");
  unlink(path);
  rmdir(dir);
  EVP_PKEY_free(k);
}
