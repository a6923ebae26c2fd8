/* RSA-OAEP-256 against JWEs made without donjon's JWE code: the key wrapped and the content
 * sealed here with OpenSSL's EVP calls directly, as RFC 7518 4.3 says (OAEP with SHA-256 and
 * MGF1 with SHA-256), and donjon's own RSA-OAEP-256 opened the same way. A key wrapped with the
 * other hash than its "alg" names must not open. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <string.h>

#include "images/b64.h"
#include "images/jwe.h"
#include "../keypool.h"

static const char plaintext[] = "{\"symkey\":\"a layer's private options\"}";

/* OAEP with md and MGF1 with mgf1, through EVP_PKEY directly. */
static size_t oaep(bool enc, EVP_PKEY *key, const EVP_MD *md, const EVP_MD *mgf1, const uint8_t *in, size_t n,
                   uint8_t *out, size_t out_size)
{
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
  cr_assert_not_null(ctx);
  cr_assert_gt(enc ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx), 0);
  cr_assert_gt(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING), 0);
  cr_assert_gt(EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md), 0);
  cr_assert_gt(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, mgf1), 0);
  size_t len = out_size;
  int r = enc ? EVP_PKEY_encrypt(ctx, out, &len, in, n) : EVP_PKEY_decrypt(ctx, out, &len, in, n);
  cr_assert_gt(r, 0, "OAEP %s", enc ? "wrap" : "unwrap");
  EVP_PKEY_CTX_free(ctx);
  return len;
}

/* AES-256-GCM over pt with the ASCII of the protected header as AAD (RFC 7516 5.1). */
static void gcm(bool enc, const uint8_t cek[32], const uint8_t iv[12], const char *aad, const uint8_t *in, size_t n,
                uint8_t *out, uint8_t tag[16])
{
  EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
  int len = 0, fin = 0;
  cr_assert_eq(EVP_CipherInit_ex(c, EVP_aes_256_gcm(), NULL, cek, iv, enc), 1);
  cr_assert_eq(EVP_CipherUpdate(c, NULL, &len, (const uint8_t *) aad, (int) strlen(aad)), 1);
  cr_assert_eq(EVP_CipherUpdate(c, out, &len, in, (int) n), 1);
  if (!enc)
    cr_assert_eq(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, 16, tag), 1);
  cr_assert_eq(EVP_CipherFinal_ex(c, out + len, &fin), 1, "GCM tag");
  if (enc)
    cr_assert_eq(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, 16, tag), 1);
  EVP_CIPHER_CTX_free(c);
}

/* A compact JWE of plaintext labelled alg, its CEK wrapped with OAEP(md, MGF1 mgf1). */
static char *jwe_by_hand(EVP_PKEY *key, const char *alg, const EVP_MD *md, const EVP_MD *mgf1)
{
  uint8_t cek[32], iv[12], tag[16], ek[512], ct[sizeof plaintext];
  cr_assert_eq(RAND_bytes(cek, sizeof cek), 1);
  cr_assert_eq(RAND_bytes(iv, sizeof iv), 1);
  char header[96];
  snprintf(header, sizeof header, "{\"alg\":\"%s\",\"enc\":\"A256GCM\"}", alg);
  char *h = dj_b64url_encode((const uint8_t *) header, strlen(header));
  size_t ek_len = oaep(true, key, md, mgf1, cek, sizeof cek, ek, sizeof ek);
  size_t pt_len = strlen(plaintext);
  gcm(true, cek, iv, h, (const uint8_t *) plaintext, pt_len, ct, tag);
  char *parts[4] = { dj_b64url_encode(ek, ek_len), dj_b64url_encode(iv, sizeof iv), dj_b64url_encode(ct, pt_len),
                     dj_b64url_encode(tag, sizeof tag) };
  char *jwe = NULL;
  cr_assert_gt(asprintf(&jwe, "%s.%s.%s.%s.%s", h, parts[0], parts[1], parts[2], parts[3]), 0);
  free(h);
  for (int i = 0; i < 4; i++)
    free(parts[i]);
  return jwe;
}

static int decrypt(const char *jwe, EVP_PKEY *key, dj_err *err)
{
  uint8_t *pt = NULL;
  size_t n = 0;
  int r = dj_jwe_decrypt(jwe, strlen(jwe), key, &pt, &n, err);
  if (r == 0) {
    cr_assert_eq(n, strlen(plaintext));
    cr_assert_str_eq((char *) pt, plaintext);
  }
  free(pt);
  return r;
}

/* RSA-OAEP-256 with SHA-256 for both; RSA-OAEP (SHA-1 for both) is the control of the test below. */
Test(jwe_oaep, made_with_openssl_opens)
{
  EVP_PKEY *key = tk_key("rsa2048");
  char *jwe[2] = { jwe_by_hand(key, "RSA-OAEP-256", EVP_sha256(), EVP_sha256()),
                   jwe_by_hand(key, "RSA-OAEP", EVP_sha1(), EVP_sha1()) };
  for (int i = 0; i < 2; i++) {
    dj_err err = { 0 };
    cr_assert_eq(decrypt(jwe[i], key, &err), 0, "%s: %s", i ? "RSA-OAEP" : "RSA-OAEP-256", err.msg);
    free(jwe[i]);
  }
  EVP_PKEY_free(key);
}

Test(jwe_oaep, the_hash_must_be_the_one_alg_names)
{
  EVP_PKEY *key = tk_key("rsa2048");
  struct {
    const char *alg;
    const EVP_MD *md, *mgf1;
  } wrong[] = {
    { "RSA-OAEP-256", EVP_sha1(), EVP_sha1() },     /* SHA-1 wrapping labelled RSA-OAEP-256 */
    { "RSA-OAEP", EVP_sha256(), EVP_sha256() },     /* SHA-256 wrapping labelled RSA-OAEP */
    { "RSA-OAEP-256", EVP_sha256(), EVP_sha1() },   /* MGF1 must be SHA-256 too */
    { "RSA-OAEP", EVP_sha1(), EVP_sha256() },
  };
  for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
    char *jwe = jwe_by_hand(key, wrong[i].alg, wrong[i].md, wrong[i].mgf1);
    dj_err err = { 0 };
    cr_assert_eq(decrypt(jwe, key, &err), -1, "case %zu opened", i);
    cr_assert_eq(err.code, DJ_JWE_ERR_DECRYPT, "case %zu: %s", i, err.msg);
    free(jwe);
  }
  EVP_PKEY_free(key);
}

/* The other way: what donjon writes as RSA-OAEP-256 is opened by OpenSSL with SHA-256 for both. */
Test(jwe_oaep, donjons_rsa_oaep_256_opens_with_openssl)
{
  EVP_PKEY *key = tk_key("rsa2048");
  enum dj_jwe_alg alg = DJ_JWE_RSA_OAEP_256;
  char *out = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_jwe_encrypt((const uint8_t *) plaintext, strlen(plaintext), &key, &alg, 1, &out, &err), 0, "%s",
               err.msg);
  json_t *j = json_loads(out, 0, NULL);
  cr_assert_not_null(j);
  const char *prot = json_string_value(json_object_get(j, "protected"));
  cr_assert_not_null(prot, "flattened JSON with a protected header");
  uint8_t *hdr, *ek, *iv, *ct, *tag;
  size_t hdr_n, ek_n, iv_n, ct_n, tag_n;
  cr_assert_eq(dj_b64url_decode(prot, strlen(prot), &hdr, &hdr_n), 0);
  json_t *h = json_loads((char *) hdr, 0, NULL);
  cr_assert_str_eq(json_string_value(json_object_get(h, "alg")), "RSA-OAEP-256");
  cr_assert_str_eq(json_string_value(json_object_get(h, "enc")), "A256GCM");
  const char *names[] = { "encrypted_key", "iv", "ciphertext", "tag" };
  uint8_t **bufs[] = { &ek, &iv, &ct, &tag };
  size_t *lens[] = { &ek_n, &iv_n, &ct_n, &tag_n };
  for (int i = 0; i < 4; i++) {
    const char *s = json_string_value(json_object_get(j, names[i]));
    cr_assert_not_null(s, "%s", names[i]);
    cr_assert_eq(dj_b64url_decode(s, strlen(s), bufs[i], lens[i]), 0, "%s", names[i]);
  }
  cr_assert_null(json_object_get(j, "aad"), "no JWE AAD: the header alone is authenticated");
  cr_assert_eq(iv_n, 12);
  cr_assert_eq(tag_n, 16);
  uint8_t cek[512], pt[sizeof plaintext] = { 0 };
  cr_assert_eq(oaep(false, key, EVP_sha256(), EVP_sha256(), ek, ek_n, cek, sizeof cek), 32);
  cr_assert_eq(ct_n, strlen(plaintext));
  gcm(false, cek, iv, prot, ct, ct_n, pt, tag);
  cr_assert_str_eq((char *) pt, plaintext);
  uint8_t *all[] = { hdr, ek, iv, ct, tag };
  for (int i = 0; i < 5; i++)
    free(all[i]);
  json_decref(h);
  json_decref(j);
  free(out);
  EVP_PKEY_free(key);
}
