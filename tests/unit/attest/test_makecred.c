/* Software MakeCredential: KDFa against a direct HMAC construction of Part 1 §11.4.10.2, and a
 * software ActivateCredential written independently here (the real TPM's is in the integration
 * tests) recovering the secret for RSA-2048, P-256 and P-384 EKs. */
#include <criterion/criterion.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "attest/codes.h"
#include "attest/makecred.h"
#include "attest/tpmstruct.h"
#include "helpers.h"

static void be32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t) (v >> 24);
  p[1] = (uint8_t) (v >> 16);
  p[2] = (uint8_t) (v >> 8);
  p[3] = (uint8_t) v;
}

/* KDFa written out: HMAC(key, [i]32 || label || 0 || contextU || contextV || [bits]32) per block. */
static void kdfa_ref(const EVP_MD *md, const uint8_t *key, size_t key_len, const char *label, const uint8_t *ctx,
                     size_t ctx_len, uint8_t *out, size_t out_len)
{
  uint8_t in[512], block[EVP_MAX_MD_SIZE];
  size_t done = 0;
  for (uint32_t i = 1; done < out_len; i++) {
    size_t n = 0;
    be32(in, i);
    n += 4;
    memcpy(in + n, label, strlen(label) + 1);
    n += strlen(label) + 1;
    if (ctx_len > 0)
      memcpy(in + n, ctx, ctx_len);
    n += ctx_len;
    be32(in + n, (uint32_t) (out_len * 8));
    n += 4;
    unsigned int bl = 0;
    HMAC(md, key, (int) key_len, in, n, block, &bl);
    size_t take = out_len - done < bl ? out_len - done : bl;
    memcpy(out + done, block, take);
    done += take;
  }
}

Test(kdfa, matches_the_tpm_definition)
{
  uint8_t key[32], ctx[34], got[48], want[48];
  RAND_bytes(key, sizeof key);
  RAND_bytes(ctx, sizeof ctx);
  dj_err err = { 0 };
  size_t lens[] = { 16, 32, 48 };
  for (size_t i = 0; i < 3; i++) {
    cr_assert_eq(dj_kdfa(TPM2_ALG_SHA256, key, sizeof key, "STORAGE", ctx, sizeof ctx, NULL, 0, got, lens[i], &err), 0,
                 "%s", err.msg);
    kdfa_ref(EVP_sha256(), key, sizeof key, "STORAGE", ctx, sizeof ctx, want, lens[i]);
    cr_assert_arr_eq(got, want, lens[i], "KDFa differs for %zu bytes", lens[i]);
  }
}

/* Software ActivateCredential, independent of attest/makecred.c except for dj_tpm_public_to_evp. */
static int activate(EVP_PKEY *ek_priv, const TPMT_PUBLIC *ek, const TPM2B_NAME *name, const TPM2B_ID_OBJECT *blob,
                    const TPM2B_ENCRYPTED_SECRET *enc, uint8_t *secret, size_t *secret_len)
{
  const EVP_MD *md = dj_tpm_md(ek->nameAlg);
  size_t ds = (size_t) EVP_MD_get_size(md);
  uint8_t seed[64];
  if (ek->type == TPM2_ALG_RSA) {
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(ek_priv, NULL);
    EVP_PKEY_decrypt_init(c);
    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING);
    EVP_PKEY_CTX_set_rsa_oaep_md(c, md);
    EVP_PKEY_CTX_set_rsa_mgf1_md(c, md);
    EVP_PKEY_CTX_set0_rsa_oaep_label(c, OPENSSL_memdup("IDENTITY", 9), 9);
    uint8_t out[512]; /* OpenSSL wants room for a whole modulus */
    size_t sl = sizeof out;
    int ok = EVP_PKEY_decrypt(c, out, &sl, enc->secret, enc->size);
    EVP_PKEY_CTX_free(c);
    if (ok <= 0 || sl != ds)
      return -1;
    memcpy(seed, out, ds);
  } else {
    TPMT_PUBLIC eph = *ek;
    size_t off = 0;
    if (Tss2_MU_TPMS_ECC_POINT_Unmarshal(enc->secret, enc->size, &off, &eph.unique.ecc) != 0 || off != enc->size)
      return -1;
    EVP_PKEY *ephk = NULL;
    dj_err err = { 0 };
    if (dj_tpm_public_to_evp(&eph, &ephk, &err) < 0)
      return -1;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(ek_priv, NULL);
    uint8_t z[66];
    size_t zl = sizeof z;
    EVP_PKEY_derive_init(c);
    EVP_PKEY_derive_set_peer(c, ephk);
    cr_assert_eq(EVP_PKEY_derive(c, z, &zl), 1);
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(ephk);
    /* KDFe: H([1]32 || Z || "IDENTITY\0" || ephemeral x || EK x), one block is enough here */
    uint8_t in[300];
    size_t n = 0;
    be32(in, 1);
    n = 4;
    memcpy(in + n, z, zl);
    n += zl;
    memcpy(in + n, "IDENTITY", 9);
    n += 9;
    memcpy(in + n, eph.unique.ecc.x.buffer, eph.unique.ecc.x.size);
    n += eph.unique.ecc.x.size;
    memcpy(in + n, ek->unique.ecc.x.buffer, ek->unique.ecc.x.size);
    n += ek->unique.ecc.x.size;
    unsigned int sl = 0;
    EVP_Digest(in, n, seed, &sl, md, NULL);
  }
  uint8_t hkey[64], skey[32], mac[64];
  kdfa_ref(md, seed, ds, "INTEGRITY", NULL, 0, hkey, ds);
  size_t klen = ek->parameters.asymDetail.symmetric.keyBits.aes / 8;
  kdfa_ref(md, seed, ds, "STORAGE", name->name, name->size, skey, klen);
  size_t mlen = ((size_t) blob->credential[0] << 8) | blob->credential[1];
  if (mlen != ds || blob->size < 2 + mlen + 2)
    return -1;
  const uint8_t *encid = blob->credential + 2 + mlen;
  size_t elen = blob->size - 2 - mlen;
  uint8_t macin[512];
  memcpy(macin, encid, elen);
  memcpy(macin + elen, name->name, name->size);
  unsigned int ml = 0;
  HMAC(md, hkey, (int) ds, macin, elen + name->size, mac, &ml);
  if (memcmp(mac, blob->credential + 2, ds) != 0)
    return -1;
  uint8_t plain[128], iv[16] = { 0 };
  int ol = 0;
  EVP_CIPHER_CTX *cc = EVP_CIPHER_CTX_new();
  EVP_DecryptInit_ex(cc, klen == 16 ? EVP_aes_128_cfb128() : EVP_aes_256_cfb128(), NULL, skey, iv);
  EVP_DecryptUpdate(cc, plain, &ol, encid, (int) elen);
  EVP_CIPHER_CTX_free(cc);
  size_t sl = ((size_t) plain[0] << 8) | plain[1];
  if (sl + 2 != elen)
    return -1;
  memcpy(secret, plain + 2, sl);
  *secret_len = sl;
  return 0;
}

static void roundtrip(const char *kind)
{
  EVP_PKEY *ekk = th_key(kind), *akk = th_key("p256");
  TPM2B_PUBLIC ek, ak;
  th_ek_public(ekk, &ek);
  th_ak_public(akk, &ak);
  TPM2B_NAME name, other;
  dj_err err = { 0 };
  cr_assert_eq(dj_tpm_public_name(&ak.publicArea, &name, &err), 0);
  other = name;
  other.name[5] ^= 1;
  uint8_t secret[32], got[64];
  size_t got_len = 0;
  RAND_bytes(secret, sizeof secret);
  TPM2B_ID_OBJECT blob;
  TPM2B_ENCRYPTED_SECRET enc;
  cr_assert_eq(dj_make_credential(&ek.publicArea, &name, secret, sizeof secret, &blob, &enc, &err), 0, "%s", err.msg);
  cr_assert_eq(activate(ekk, &ek.publicArea, &name, &blob, &enc, got, &got_len), 0, "%s: activation failed", kind);
  cr_assert_eq(dj_credential_check(secret, sizeof secret, got, got_len, &err), 0, "%s", err.msg);
  cr_assert_eq(activate(ekk, &ek.publicArea, &other, &blob, &enc, got, &got_len), -1, "%s: another name activated", kind);
  got[0] ^= 1;
  cr_assert_eq(dj_credential_check(secret, sizeof secret, got, got_len, &err), -1);
  EVP_PKEY_free(ekk);
  EVP_PKEY_free(akk);
}

Test(makecred, rsa2048_ek)
{
  roundtrip("rsa2048");
}

Test(makecred, p256_ek)
{
  roundtrip("p256");
}

Test(makecred, p384_ek)
{
  roundtrip("p384");
}

Test(makecred, wrong_secret_is_its_own_error)
{
  uint8_t a[32] = { 1 }, b[32] = { 2 };
  dj_err err = { 0 };
  cr_assert_eq(dj_credential_check(a, sizeof a, b, sizeof b, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_CREDENTIAL);
  cr_assert_eq(dj_credential_check(a, sizeof a, a, 31, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_CREDENTIAL);
}

Test(makecred, secret_longer_than_the_digest)
{
  EVP_PKEY *ekk = th_key("p256");
  TPM2B_PUBLIC ek;
  th_ek_public(ekk, &ek);
  TPM2B_NAME name = { .size = 34 };
  uint8_t secret[33] = { 0 };
  TPM2B_ID_OBJECT blob;
  TPM2B_ENCRYPTED_SECRET enc;
  dj_err err = { 0 };
  cr_assert_eq(dj_make_credential(&ek.publicArea, &name, secret, sizeof secret, &blob, &enc, &err), -1);
  EVP_PKEY_free(ekk);
}
