#include <criterion/criterion.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "images/b64.h"
#include "images/jwe.h"
#include "../keypool.h"

static BIGNUM *bn_b64url(const char *s)
{
  uint8_t *b;
  size_t n;
  cr_assert_eq(dj_b64url_decode(s, strlen(s), &b, &n), 0);
  BIGNUM *bn = BN_bin2bn(b, (int) n, NULL);
  free(b);
  return bn;
}

/* The RSA key of RFC 7516 A.1.3, rebuilt from its primes. */
static EVP_PKEY *rfc7516_a1_key(void)
{
  BIGNUM *p = bn_b64url("1r52Xk46c-LsfB5P442p7atdPUrxQSy4mti_tZI3Mgf2EuFVbUoDBvaRQ-SWxkbkmoEzL7JXroSBjSrK3YIQgYdMgyAEPTPjXv_hI2_1eTSPVZfzL0lffNn03IXqWF5MDFuoUYE0hzb2vhrlN_rKrbfDIwUbTrjjgieRbwC6Cl0");
  BIGNUM *q = bn_b64url("wLb35x7hmQWZsWJmB_vle87ihgZ19S8lBEROLIsZG4ayZVe9Hi9gDVCOBmUDdaDYVTSNx_8Fyw1YYa9XGrGnDew00J28cRUoeBB_jKI1oma0Orv1T9aXIWxKwd4gvxFImOWr3QRL9KEBRzk2RatUBnmDZJTIAfwTs0g68UZHvtc");
  BIGNUM *e = bn_b64url("AQAB");
  BN_CTX *bctx = BN_CTX_new();
  BIGNUM *n = BN_new(), *d = BN_new(), *p1 = BN_dup(p), *q1 = BN_dup(q), *phi = BN_new();
  BIGNUM *dp = BN_new(), *dq = BN_new(), *qi = BN_new();
  BN_mul(n, p, q, bctx);
  BN_sub_word(p1, 1);
  BN_sub_word(q1, 1);
  BN_mul(phi, p1, q1, bctx);
  BN_mod_inverse(d, e, phi, bctx);
  BN_mod(dp, d, p1, bctx);
  BN_mod(dq, d, q1, bctx);
  BN_mod_inverse(qi, q, p, bctx);
  OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d);
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, p);
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, q);
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp);
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq);
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, qi);
  OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
  EVP_PKEY *key = NULL;
  cr_assert_gt(EVP_PKEY_fromdata_init(ctx), 0);
  cr_assert_gt(EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_KEYPAIR, params), 0);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_CTX_free(bctx);
  BIGNUM *all[] = { p, q, e, n, d, p1, q1, phi, dp, dq, qi };
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    BN_free(all[i]);
  return key;
}

static const char rfc7516_a1_jwe[] =
  "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ."
  "OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKoTCVJRgckCL9kiMT03JGe"
  "ipsEdY3mx_etLbbWSrFr05kLzcSr4qKAq7YN7e9jwQRb23nfa6c9d-StnImGyFDb"
  "Sv04uVuxIp5Zms1gNxKKK2Da14B8S4rzVRltdYwam_lDp5XnZAYpQdb76FdIKLaV"
  "mqgfwX7XWRxv2322i-vDxRfqNzo_tETKzpVLzfiwQyeyPGLBIO56YJ7eObdv0je8"
  "1860ppamavo35UgoRdbYaBcoh9QcfylQr66oc6vFWXRcZ_ZT2LawVCWTIy3brGPi"
  "6UklfCpIMfIjf7iGdXKHzg."
  "48V1_ALb6US04U3b."
  "5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6ji"
  "SdiwkIr3ajwQzaBtQD_A."
  "XFBoMYUZodetZdvTiFvSkQ";
static const char rfc7516_a1_plaintext[] = "The true sign of intelligence is not knowledge but imagination.";

Test(jwe, rfc7516_a1_rsa_oaep_a256gcm_compact)
{
  EVP_PKEY *key = rfc7516_a1_key();
  dj_err err = { 0 };
  uint8_t *pt = NULL;
  size_t n = 0;
  cr_assert_eq(dj_jwe_decrypt(rfc7516_a1_jwe, strlen(rfc7516_a1_jwe), key, &pt, &n, &err), 0, "%s", err.msg);
  cr_assert_eq(n, strlen(rfc7516_a1_plaintext));
  cr_assert_str_eq((char *) pt, rfc7516_a1_plaintext);
  free(pt);
  EVP_PKEY_free(key);
}

/* The same JWE in flattened JSON form. */
Test(jwe, rfc7516_a1_as_flattened_json)
{
  EVP_PKEY *key = rfc7516_a1_key();
  char *parts[5];
  char *copy = strdup(rfc7516_a1_jwe), *save = NULL;
  for (int i = 0; i < 5; i++)
    parts[i] = strtok_r(i ? NULL : copy, ".", &save);
  json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s}", "protected", parts[0], "encrypted_key", parts[1], "iv",
                        parts[2], "ciphertext", parts[3], "tag", parts[4]);
  char *s = json_dumps(j, 0);
  dj_err err = { 0 };
  uint8_t *pt = NULL;
  size_t n = 0;
  cr_assert_eq(dj_jwe_decrypt(s, strlen(s), key, &pt, &n, &err), 0, "%s", err.msg);
  cr_assert_str_eq((char *) pt, rfc7516_a1_plaintext);
  free(pt);
  free(s);
  json_decref(j);
  free(copy);
  EVP_PKEY_free(key);
}

/* The same JWE in general JSON form, behind a recipient whose key does not open it: each
 * recipient is tried, the one of the RFC opens the content. */
Test(jwe, rfc7516_a1_as_general_json_behind_another_recipient)
{
  EVP_PKEY *key = rfc7516_a1_key();
  char *parts[5];
  char *copy = strdup(rfc7516_a1_jwe), *save = NULL;
  for (int i = 0; i < 5; i++)
    parts[i] = strtok_r(i ? NULL : copy, ".", &save);
  /* a decoy: the RFC's encrypted key with its first byte changed (same size) */
  uint8_t *ek;
  size_t n;
  cr_assert_eq(dj_b64url_decode(parts[1], strlen(parts[1]), &ek, &n), 0);
  ek[0] ^= 0x80;
  char *decoy = dj_b64url_encode(ek, n);
  json_t *j = json_pack("{s:s, s:[{s:s}, {s:s}], s:s, s:s, s:s}", "protected", parts[0], "recipients",
                        "encrypted_key", decoy, "encrypted_key", parts[1], "iv", parts[2], "ciphertext", parts[3], "tag",
                        parts[4]);
  char *s = json_dumps(j, 0);
  dj_err err = { 0 };
  uint8_t *pt = NULL;
  size_t len = 0;
  cr_assert_eq(dj_jwe_decrypt(s, strlen(s), key, &pt, &len, &err), 0, "%s", err.msg);
  cr_assert_str_eq((char *) pt, rfc7516_a1_plaintext);
  free(pt);
  free(s);
  json_decref(j);
  /* the decoy alone does not open it, and says so as for any wrong key */
  j = json_pack("{s:s, s:[{s:s}], s:s, s:s, s:s}", "protected", parts[0], "recipients", "encrypted_key", decoy, "iv",
                parts[2], "ciphertext", parts[3], "tag", parts[4]);
  s = json_dumps(j, 0);
  pt = NULL;
  cr_assert_eq(dj_jwe_decrypt(s, strlen(s), key, &pt, &len, &err), -1);
  cr_assert_null(pt);
  cr_assert_eq(err.code, DJ_JWE_ERR_DECRYPT, "%s", err.msg);
  free(s);
  json_decref(j);
  free(decoy);
  free(ek);
  free(copy);
  EVP_PKEY_free(key);
}

/* RFC 7518 Appendix C: Z from the example's P-256 keys, "A128GCM", apu "Alice", apv "Bob". */
Test(jwe, rfc7518_appendix_c_concat_kdf)
{
  const uint8_t z[32] = { 158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156,
                          251, 49, 110, 163, 218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196 };
  uint8_t out[16];
  dj_err err = { 0 };
  cr_assert_eq(dj_jwe_concat_kdf(z, sizeof z, "A128GCM", (const uint8_t *) "Alice", 5, (const uint8_t *) "Bob", 3,
                                 out, sizeof out, &err), 0, "%s", err.msg);
  char *s = dj_b64url_encode(out, sizeof out);
  cr_assert_str_eq(s, "VqqN6vgjbSBcIijNcacQGg");
  free(s);
}

static EVP_PKEY *gen_rsa(void)
{
  return tk_key("rsa2048");
}
static EVP_PKEY *gen_ec(const char *group)
{
  return EVP_PKEY_Q_keygen(NULL, NULL, "EC", group);
}

static char *encrypt1(EVP_PKEY *key, enum dj_jwe_alg alg, const char *msg)
{
  dj_err err = { 0 };
  char *out = NULL;
  enum dj_jwe_alg algs[] = { alg };
  cr_assert_eq(dj_jwe_encrypt((const uint8_t *) msg, strlen(msg), &key, algs, 1, &out, &err), 0, "%s", err.msg);
  return out;
}

static void expect_decrypts(const char *jwe, EVP_PKEY *key, const char *msg)
{
  dj_err err = { 0 };
  uint8_t *pt = NULL;
  size_t n = 0;
  cr_assert_eq(dj_jwe_decrypt(jwe, strlen(jwe), key, &pt, &n, &err), 0, "%s", err.msg);
  cr_assert_eq(n, strlen(msg));
  cr_assert_str_eq((char *) pt, msg);
  free(pt);
}

static void expect_fails(const char *jwe, EVP_PKEY *key, const char *needle, dj_err *err)
{
  uint8_t *pt = NULL;
  size_t n = 0;
  cr_assert_eq(dj_jwe_decrypt(jwe, strlen(jwe), key, &pt, &n, err), -1);
  cr_assert_null(pt);
  if (needle)
    cr_assert(strstr(err->msg, needle) != NULL, "\"%s\" not in \"%s\"", needle, err->msg);
}

Test(jwe, round_trips_each_algorithm_and_curve)
{
  const char *msg = "{\"symkey\":\"c2VjcmV0\"}";
  EVP_PKEY *rsa = gen_rsa();
  enum dj_jwe_alg ras[] = { DJ_JWE_RSA_OAEP, DJ_JWE_RSA_OAEP_256 };
  for (size_t i = 0; i < 2; i++) {
    char *jwe = encrypt1(rsa, ras[i], msg);
    expect_decrypts(jwe, rsa, msg);
    free(jwe);
  }
  EVP_PKEY_free(rsa);
  const char *groups[] = { "P-256", "P-384", "P-521" };
  for (size_t i = 0; i < 3; i++) {
    EVP_PKEY *ec = gen_ec(groups[i]);
    char *jwe = encrypt1(ec, DJ_JWE_ALG_DEFAULT, msg);
    cr_assert(strstr(jwe, "\"encrypted_key\"") != NULL);
    expect_decrypts(jwe, ec, msg);
    free(jwe);
    EVP_PKEY_free(ec);
  }
}

/* One recipient: everything in the protected header, as go-jose (and so skopeo) writes it. */
Test(jwe, single_recipient_is_flattened_with_merged_header)
{
  EVP_PKEY *ec = gen_ec("P-256");
  char *jwe = encrypt1(ec, DJ_JWE_ALG_DEFAULT, "x");
  dj_err err = { 0 };
  json_t *doc = NULL;
  cr_assert_eq(dj_json_load_buf(jwe, strlen(jwe), &doc, &err), 0);
  cr_assert_null(json_object_get(doc, "recipients"));
  const char *p = json_string_value(json_object_get(doc, "protected"));
  uint8_t *ph;
  size_t n;
  cr_assert_eq(dj_b64url_decode(p, strlen(p), &ph, &n), 0);
  json_t *h = json_loadb((char *) ph, n, 0, NULL);
  cr_assert_str_eq(json_string_value(json_object_get(h, "alg")), "ECDH-ES+A256KW");
  cr_assert_str_eq(json_string_value(json_object_get(h, "enc")), "A256GCM");
  cr_assert_str_eq(json_string_value(json_object_get(json_object_get(h, "epk"), "crv")), "P-256");
  json_decref(h);
  free(ph);
  json_decref(doc);
  free(jwe);
  EVP_PKEY_free(ec);
}

Test(jwe, several_recipients_general_serialization)
{
  EVP_PKEY *keys[3] = { gen_rsa(), gen_ec("P-256"), gen_ec("P-384") };
  const char *msg = "three recipients";
  dj_err err = { 0 };
  char *jwe = NULL;
  cr_assert_eq(dj_jwe_encrypt((const uint8_t *) msg, strlen(msg), keys, NULL, 3, &jwe, &err), 0, "%s", err.msg);
  cr_assert(strstr(jwe, "\"recipients\"") != NULL);
  for (int i = 0; i < 3; i++)
    expect_decrypts(jwe, keys[i], msg);
  EVP_PKEY *other = gen_ec("P-256");
  expect_fails(jwe, other, "cannot decrypt", &err);
  cr_assert_eq(err.code, DJ_JWE_ERR_DECRYPT);
  EVP_PKEY_free(other);
  for (int i = 0; i < 3; i++)
    EVP_PKEY_free(keys[i]);
  free(jwe);
}

/* Replace member key of the flattened JWE with a modified base64url value (one byte flipped). */
static char *tamper(const char *jwe, const char *member)
{
  json_t *doc = json_loads(jwe, 0, NULL);
  const char *v = json_string_value(json_object_get(doc, member));
  uint8_t *b;
  size_t n;
  cr_assert_eq(dj_b64url_decode(v, strlen(v), &b, &n), 0);
  b[n / 2] ^= 0x01;
  char *s = dj_b64url_encode(b, n);
  json_object_set_new(doc, member, json_string(s));
  char *out = json_dumps(doc, JSON_COMPACT);
  free(s);
  free(b);
  json_decref(doc);
  return out;
}

/* Every RSA-OAEP failure reads exactly like a tag failure: nothing to learn from the error. */
Test(jwe, rsa_failures_are_uniform)
{
  EVP_PKEY *rsa = gen_rsa(), *other = gen_rsa();
  char *jwe = encrypt1(rsa, DJ_JWE_RSA_OAEP, "secret");
  dj_err e_key = { 0 }, e_tag = { 0 }, e_wrong = { 0 }, e_ct = { 0 };
  char *bad_key = tamper(jwe, "encrypted_key"), *bad_tag = tamper(jwe, "tag"), *bad_ct = tamper(jwe, "ciphertext");
  expect_fails(bad_key, rsa, "cannot decrypt", &e_key);
  expect_fails(bad_tag, rsa, "cannot decrypt", &e_tag);
  expect_fails(bad_ct, rsa, "cannot decrypt", &e_ct);
  expect_fails(jwe, other, "cannot decrypt", &e_wrong);
  cr_assert_str_eq(e_key.msg, e_tag.msg);
  cr_assert_str_eq(e_key.msg, e_wrong.msg);
  cr_assert_eq(e_key.code, DJ_JWE_ERR_DECRYPT);
  cr_assert_eq(e_tag.code, DJ_JWE_ERR_DECRYPT);
  free(bad_key);
  free(bad_tag);
  free(bad_ct);
  free(jwe);
  EVP_PKEY_free(rsa);
  EVP_PKEY_free(other);
}

Test(jwe, tampered_protected_header_fails)
{
  EVP_PKEY *ec = gen_ec("P-256");
  char *jwe = encrypt1(ec, DJ_JWE_ALG_DEFAULT, "secret");
  /* Re-encode the protected header with an extra member: the AAD changes, the tag must fail. */
  json_t *doc = json_loads(jwe, 0, NULL);
  const char *p = json_string_value(json_object_get(doc, "protected"));
  uint8_t *ph;
  size_t n;
  cr_assert_eq(dj_b64url_decode(p, strlen(p), &ph, &n), 0);
  json_t *h = json_loadb((char *) ph, n, 0, NULL);
  json_object_set_new(h, "kid", json_string("x"));
  char *hs = json_dumps(h, JSON_COMPACT);
  char *hb = dj_b64url_encode((uint8_t *) hs, strlen(hs));
  json_object_set_new(doc, "protected", json_string(hb));
  char *bad = json_dumps(doc, JSON_COMPACT);
  dj_err err = { 0 };
  expect_fails(bad, ec, "cannot decrypt", &err);
  free(bad);
  free(hb);
  free(hs);
  json_decref(h);
  free(ph);
  json_decref(doc);
  free(jwe);
  EVP_PKEY_free(ec);
}

static char *jwe_with_protected(const char *header_json, const char *ek)
{
  char *hb = dj_b64url_encode((const uint8_t *) header_json, strlen(header_json));
  char *s = NULL;
  cr_assert_gt(asprintf(&s, "{\"protected\":\"%s\",\"encrypted_key\":\"%s\",\"iv\":\"48V1_ALb6US04U3b\","
                            "\"ciphertext\":\"AAAA\",\"tag\":\"XFBoMYUZodetZdvTiFvSkQ\"}", hb, ek), 0);
  free(hb);
  return s;
}

Test(jwe, rsa1_5_is_refused)
{
  EVP_PKEY *rsa = gen_rsa();
  char *s = jwe_with_protected("{\"alg\":\"RSA1_5\",\"enc\":\"A256GCM\"}", "AAAA");
  dj_err err = { 0 };
  expect_fails(s, rsa, "RSA1_5 key transport is refused (padding oracles)", &err);
  free(s);
  EVP_PKEY_free(rsa);
}

Test(jwe, other_content_encryption_is_refused)
{
  EVP_PKEY *rsa = gen_rsa();
  char *s = jwe_with_protected("{\"alg\":\"RSA-OAEP\",\"enc\":\"A128CBC-HS256\"}", "AAAA");
  dj_err err = { 0 };
  expect_fails(s, rsa, "A128CBC-HS256", &err);
  free(s);
  s = jwe_with_protected("{\"alg\":\"RSA-OAEP\",\"enc\":\"A256GCM\",\"zip\":\"DEF\"}", "AAAA");
  expect_fails(s, rsa, "zip", &err);
  free(s);
  EVP_PKEY_free(rsa);
}

Test(jwe, epk_off_the_curve_is_refused)
{
  EVP_PKEY *ec = gen_ec("P-256");
  /* x = 1, y = 1 is not a point of P-256. */
  char *s = jwe_with_protected("{\"alg\":\"ECDH-ES+A256KW\",\"enc\":\"A256GCM\",\"epk\":{\"kty\":\"EC\","
                               "\"crv\":\"P-256\",\"x\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\","
                               "\"y\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE\"}}",
                               "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  dj_err err = { 0 };
  expect_fails(s, ec, "not a", &err);
  cr_assert(strstr(err.msg, "epk") != NULL, "%s", err.msg);
  free(s);
  EVP_PKEY_free(ec);
}

/* An ephemeral key on another curve than the recipient's: not this key's recipient. */
Test(jwe, epk_on_another_curve_does_not_open)
{
  EVP_PKEY *p384 = gen_ec("P-384"), *p256 = gen_ec("P-256");
  char *jwe = encrypt1(p384, DJ_JWE_ALG_DEFAULT, "secret");
  json_t *doc = json_loads(jwe, 0, NULL);
  const char *p = json_string_value(json_object_get(doc, "protected"));
  uint8_t *ph;
  size_t n;
  cr_assert_eq(dj_b64url_decode(p, strlen(p), &ph, &n), 0);
  json_t *h = json_loadb((char *) ph, n, 0, NULL);
  dj_err err = { 0 };
  json_object_set_new(h, "epk", dj_jwk_public(p256, &err));
  char *hs = json_dumps(h, JSON_COMPACT);
  char *hb = dj_b64url_encode((uint8_t *) hs, strlen(hs));
  json_object_set_new(doc, "protected", json_string(hb));
  char *bad = json_dumps(doc, JSON_COMPACT);
  expect_fails(bad, p384, "cannot decrypt", &err);
  cr_assert_eq(err.code, DJ_JWE_ERR_DECRYPT);
  free(bad);
  free(hb);
  free(hs);
  json_decref(h);
  free(ph);
  json_decref(doc);
  free(jwe);
  EVP_PKEY_free(p384);
  EVP_PKEY_free(p256);
}

Test(jwe, duplicate_header_parameters_are_refused)
{
  EVP_PKEY *rsa = gen_rsa();
  char *hb = dj_b64url_encode((const uint8_t *) "{\"alg\":\"RSA-OAEP\",\"enc\":\"A256GCM\"}", 34);
  char *s = NULL;
  cr_assert_gt(asprintf(&s, "{\"protected\":\"%s\",\"header\":{\"alg\":\"RSA-OAEP-256\"},\"encrypted_key\":\"AAAA\","
                            "\"iv\":\"48V1_ALb6US04U3b\",\"ciphertext\":\"AAAA\",\"tag\":\"XFBoMYUZodetZdvTiFvSkQ\"}", hb), 0);
  dj_err err = { 0 };
  expect_fails(s, rsa, "more than one header", &err);
  free(s);
  free(hb);
  EVP_PKEY_free(rsa);
}

Test(jwe, structural_errors_name_the_member)
{
  EVP_PKEY *rsa = gen_rsa();
  dj_err err = { 0 };
  char *s = jwe_with_protected("{\"alg\":\"RSA-OAEP\",\"enc\":\"A256GCM\"}", "AAAA");
  /* iv of 3 bytes */
  char *p = strstr(s, "48V1_ALb6US04U3b");
  memcpy(p, "AAAA\",\"x\":\"ALb6", 15);
  expect_fails(s, rsa, "jwe.iv", &err);
  free(s);
  expect_fails("a.b.c", rsa, "parts", &err);
  expect_fails("{\"protected\":1}", rsa, "jwe.protected", &err);
  EVP_PKEY_free(rsa);
}

Test(jwe, ec_key_on_rsa_only_jwe_says_so)
{
  EVP_PKEY *rsa = gen_rsa(), *ec = gen_ec("P-256");
  char *jwe = encrypt1(rsa, DJ_JWE_RSA_OAEP, "x");
  dj_err err = { 0 };
  expect_fails(jwe, ec, "no recipient for a EC key", &err);
  free(jwe);
  EVP_PKEY_free(rsa);
  EVP_PKEY_free(ec);
}

/* RFC 7638 3.1: the RSA key's thumbprint. */
Test(jwe, rfc7638_thumbprint)
{
  BIGNUM *n = bn_b64url("0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebW"
                        "KRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAt"
                        "aSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksI"
                        "NHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw");
  BIGNUM *e = bn_b64url("AQAB");
  OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
  OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
  EVP_PKEY *key = NULL;
  cr_assert_gt(EVP_PKEY_fromdata_init(ctx), 0);
  cr_assert_gt(EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params), 0);
  uint8_t tp[32];
  dj_err err = { 0 };
  cr_assert_eq(dj_jwk_thumbprint(key, tp, &err), 0, "%s", err.msg);
  char *s = dj_b64url_encode(tp, sizeof tp);
  cr_assert_str_eq(s, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  free(s);
  EVP_PKEY_free(key);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_free(n);
  BN_free(e);
}

/* An EC key's thumbprint is over {"crv","kty","x","y"} with padded coordinates. */
Test(jwe, ec_thumbprint_matches_its_jwk)
{
  EVP_PKEY *ec = gen_ec("P-384");
  dj_err err = { 0 };
  json_t *jwk = dj_jwk_public(ec, &err);
  char *s = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
  cr_assert_eq(strncmp(s, "{\"crv\":\"P-384\",\"kty\":\"EC\",\"x\":\"", 31), 0, "%s", s);
  uint8_t want[32], got[32];
  EVP_Digest(s, strlen(s), want, NULL, EVP_sha256(), NULL);
  cr_assert_eq(dj_jwk_thumbprint(ec, got, &err), 0, "%s", err.msg);
  cr_assert_arr_eq(got, want, 32);
  free(s);
  json_decref(jwk);
  EVP_PKEY_free(ec);
}

/* A key kept in compressed form (decoded from a compressed SubjectPublicKeyInfo) has the same JWK
 * as in uncompressed form, and each curve's JWK imports back to the same point. */
Test(jwe, jwk_of_compressed_and_uncompressed_keys_and_import)
{
  const char *groups[] = { "P-256", "P-384", "P-521" };
  for (size_t i = 0; i < 3; i++) {
    EVP_PKEY *ec = gen_ec(groups[i]);
    dj_err err = { 0 };
    json_t *jwk = dj_jwk_public(ec, &err);
    cr_assert_not_null(jwk, "%s", err.msg);
    /* the same public key, re-encoded with a compressed point */
    EVP_PKEY *pub = NULL;
    unsigned char *der = NULL, *pt = NULL;
    size_t ptlen = EVP_PKEY_get1_encoded_public_key(ec, &pt);
    cr_assert_gt(ptlen, 0);
    OSSL_PARAM set[] = { OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                                          (char *) "compressed", 0),
                         OSSL_PARAM_construct_end() };
    EVP_PKEY *copy = EVP_PKEY_dup(ec);
    cr_assert_gt(EVP_PKEY_set_params(copy, set), 0);
    int dlen = i2d_PUBKEY(copy, &der);
    cr_assert_gt(dlen, 0);
    const unsigned char *p = der;
    pub = d2i_PUBKEY(NULL, &p, dlen);
    cr_assert_not_null(pub);
    unsigned char enc[200];
    size_t elen = 0;
    cr_assert(EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_PUB_KEY, enc, sizeof enc, &elen));
    cr_assert(enc[0] == 0x02 || enc[0] == 0x03, "the copy keeps its point compressed");
    json_t *jwk2 = dj_jwk_public(pub, &err);
    cr_assert_not_null(jwk2, "%s", err.msg);
    cr_assert(json_equal(jwk, jwk2), "%s: the same JWK in both forms", groups[i]);
    EVP_PKEY *back = NULL;
    cr_assert_eq(dj_jwk_ec_import(jwk, "jwk", &back, &err), 0, "%s", err.msg);
    cr_assert_eq(EVP_PKEY_eq(back, ec), 1, "%s: the imported point is the key's", groups[i]);
    EVP_PKEY_free(back);
    /* the thumbprint an import gives is the key's own (the verifier binds the quote to it) */
    uint8_t want[32], got[32];
    cr_assert_eq(dj_jwk_thumbprint(ec, want, &err), 0, "%s", err.msg);
    cr_assert_eq(dj_jwk_ec_import_thumbprint(jwk2, "jwk", &back, got, &err), 0, "%s", err.msg);
    cr_assert_arr_eq(got, want, 32, "%s: the import's thumbprint", groups[i]);
    EVP_PKEY_free(back);
    json_decref(jwk);
    json_decref(jwk2);
    OPENSSL_free(der);
    OPENSSL_free(pt);
    EVP_PKEY_free(copy);
    EVP_PKEY_free(pub);
    EVP_PKEY_free(ec);
  }
}
