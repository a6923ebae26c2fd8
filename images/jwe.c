#include "images/jwe.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "common/json.h"
#include "common/util.h"
#include "images/b64.h"

#define CEK_LEN 32
#define GCM_IV_LEN 12
#define GCM_TAG_LEN 16
#define WRAPPED_LEN (CEK_LEN + 8)

static void pkey_freep(EVP_PKEY **k)
{
  EVP_PKEY_free(*k);
}
#define _cleanup_pkey_ __attribute__((cleanup(pkey_freep)))

static void pkey_ctx_freep(EVP_PKEY_CTX **c)
{
  EVP_PKEY_CTX_free(*c);
}
#define _cleanup_pkey_ctx_ __attribute__((cleanup(pkey_ctx_freep)))

static void cipher_ctx_freep(EVP_CIPHER_CTX **c)
{
  EVP_CIPHER_CTX_free(*c);
}
#define _cleanup_cipher_ctx_ __attribute__((cleanup(cipher_ctx_freep)))

static void bn_freep(BIGNUM **b)
{
  BN_free(*b);
}
#define _cleanup_bn_ __attribute__((cleanup(bn_freep)))

/* A secret buffer: wiped and freed on scope exit. */
struct secret {
  uint8_t *p;
  size_t n;
};
static void secret_freep(struct secret *s)
{
  if (s->p != NULL) {
    dj_wipe(s->p, s->n);
    free(s->p);
  }
  s->p = NULL;
  s->n = 0;
}
#define _cleanup_secret_ __attribute__((cleanup(secret_freep)))

static int ossl_error(dj_err *err, const char *what)
{
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown OpenSSL error";
  if (e != 0)
    ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return dj_error(err, 0, "%s: %s", what, buf);
}

/* ---- EC curves ------------------------------------------------------------------------------ */

struct curve {
  const char *jwk;   /* "P-256" */
  const char *group; /* OpenSSL group name */
  size_t field;      /* bytes of a coordinate */
};
static const struct curve curves[] = {
  { "P-256", "prime256v1", 32 },
  { "P-384", "secp384r1", 48 },
  { "P-521", "secp521r1", 66 },
};

/* Parameters-only keys of each curve, made once: what imported points are set into. */
static EVP_PKEY *curve_keys[DJ_ARRAY_SIZE(curves)];
static pthread_once_t curve_keys_once = PTHREAD_ONCE_INIT;

static void curve_keys_make(void)
{
  for (size_t i = 0; i < DJ_ARRAY_SIZE(curves); i++) {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL || EVP_PKEY_paramgen_init(ctx) <= 0 || EVP_PKEY_CTX_set_group_name(ctx, curves[i].group) <= 0 ||
        EVP_PKEY_paramgen(ctx, &curve_keys[i]) <= 0)
      curve_keys[i] = NULL;
    EVP_PKEY_CTX_free(ctx);
  }
  ERR_clear_error();
}

static EVP_PKEY *curve_params(const struct curve *c)
{
  pthread_once(&curve_keys_once, curve_keys_make);
  return curve_keys[c - curves];
}

static const struct curve *curve_of_key(EVP_PKEY *key)
{
  char name[64];
  if (!EVP_PKEY_is_a(key, "EC") ||
      !EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, name, sizeof name, NULL))
    return NULL;
  for (size_t i = 0; i < DJ_ARRAY_SIZE(curves); i++)
    if (strcmp(curves[i].group, name) == 0 || strcmp(curves[i].jwk, name) == 0)
      return &curves[i];
  return NULL;
}

static char *bn_b64url(const BIGNUM *bn, size_t pad_to)
{
  size_t n = pad_to ? pad_to : (size_t) BN_num_bytes(bn);
  _cleanup_free_ uint8_t *buf = dj_xmalloc(n ? n : 1);
  if (BN_bn2binpad(bn, buf, (int) n) < 0)
    return NULL;
  return dj_b64url_encode(buf, n);
}

json_t *dj_jwk_public(EVP_PKEY *key, dj_err *err)
{
  if (EVP_PKEY_is_a(key, "RSA")) {
    _cleanup_bn_ BIGNUM *n = NULL, *e = NULL;
    if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) ||
        !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e)) {
      ossl_error(err, "RSA key");
      return NULL;
    }
    _cleanup_free_ char *ns = bn_b64url(n, 0), *es = bn_b64url(e, 0);
    return json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", ns, "e", es);
  }
  const struct curve *c = curve_of_key(key);
  if (c == NULL) {
    dj_error(err, 0, "unsupported key type %s (RSA, or EC on P-256, P-384 or P-521)",
             EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "?");
    return NULL;
  }
  /* the encoded point in one call (two BIGNUM parameters cost five times as much); a key kept in
   * compressed form goes the BIGNUM way */
  uint8_t point[1 + 2 * 66];
  size_t plen = 0;
  if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &plen) &&
      plen == 1 + 2 * c->field && point[0] == 0x04) {
    _cleanup_free_ char *xs = dj_b64url_encode(point + 1, c->field);
    _cleanup_free_ char *ys = dj_b64url_encode(point + 1 + c->field, c->field);
    return json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", c->jwk, "x", xs, "y", ys);
  }
  _cleanup_bn_ BIGNUM *x = NULL, *y = NULL;
  if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) ||
      !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y)) {
    ossl_error(err, "EC key");
    return NULL;
  }
  _cleanup_free_ char *xs = bn_b64url(x, c->field), *ys = bn_b64url(y, c->field);
  if (xs == NULL || ys == NULL) {
    dj_error(err, 0, "EC key: coordinate larger than its field");
    return NULL;
  }
  return json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", c->jwk, "x", xs, "y", ys);
}

/* RFC 7638: SHA-256 of the required members, sorted and compact. Takes jwk's reference. */
static int jwk_digest(json_t *jwk, uint8_t out[32], dj_err *err)
{
  if (jwk == NULL)
    return -1;
  char *s = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
  json_decref(jwk);
  if (s == NULL)
    return dj_error(err, ENOMEM, "JWK thumbprint");
  unsigned int n = 0;
  int ok = EVP_Digest(s, strlen(s), out, &n, EVP_sha256(), NULL);
  free(s);
  if (ok != 1 || n != 32)
    return ossl_error(err, "JWK thumbprint: SHA-256");
  return 0;
}

int dj_jwk_thumbprint(EVP_PKEY *key, uint8_t out[32], dj_err *err)
{
  return jwk_digest(dj_jwk_public(key, err), out, err); /* exactly the required members */
}

/* Decode a required base64url string member. */
static int get_b64url(json_t *obj, const char *key, const char *path, bool required, struct secret *out,
                      dj_err *err)
{
  const char *s = NULL;
  int r = required ? dj_json_req_string(obj, key, path, &s, err) : dj_json_opt_string(obj, key, path, &s, err);
  if (r < 0)
    return -1;
  if (s == NULL)
    return 0;
  if (dj_b64url_decode(s, strlen(s), &out->p, &out->n) < 0) {
    char p[DJ_JPATH_MAX];
    dj_jpath_key(p, path, key);
    return dj_error(err, 0, "%s: not base64url", p);
  }
  return 1;
}

int dj_jwk_ec_import(json_t *jwk, const char *path, EVP_PKEY **out, dj_err *err)
{
  return dj_jwk_ec_import_thumbprint(jwk, path, out, NULL, err);
}

int dj_jwk_ec_import_thumbprint(json_t *jwk, const char *path, EVP_PKEY **out, uint8_t thumbprint[32], dj_err *err)
{
  const char *kty, *crv;
  if (!json_is_object(jwk))
    return dj_error(err, 0, "%s: expected a JWK object", path);
  if (dj_json_req_string(jwk, "kty", path, &kty, err) < 0 || dj_json_req_string(jwk, "crv", path, &crv, err) < 0)
    return -1;
  if (strcmp(kty, "EC") != 0)
    return dj_error(err, 0, "%s.kty: \"%s\" is not EC", path, kty);
  const struct curve *c = NULL;
  for (size_t i = 0; i < DJ_ARRAY_SIZE(curves); i++)
    if (strcmp(curves[i].jwk, crv) == 0)
      c = &curves[i];
  if (c == NULL)
    return dj_error(err, 0, "%s.crv: unsupported curve \"%s\" (P-256, P-384, P-521)", path, crv);
  _cleanup_secret_ struct secret x = { 0 }, y = { 0 };
  if (get_b64url(jwk, "x", path, true, &x, err) < 0 || get_b64url(jwk, "y", path, true, &y, err) < 0)
    return -1;
  if (x.n != c->field || y.n != c->field)
    return dj_error(err, 0, "%s: coordinates of %zu and %zu bytes, %s needs %zu", path, x.n, y.n, crv, c->field);
  uint8_t point[1 + 2 * 66];
  point[0] = 0x04; /* uncompressed */
  memcpy(point + 1, x.p, c->field);
  memcpy(point + 1 + c->field, y.p, c->field);
  /* a copy of the curve's parameters takes the point (decoded and checked to lie on the curve):
   * a quarter of the cost of EVP_PKEY_fromdata, which builds the curve's group anew each time */
  EVP_PKEY *tmpl = curve_params(c), *key = tmpl ? EVP_PKEY_dup(tmpl) : NULL;
  if (key == NULL || EVP_PKEY_set1_encoded_public_key(key, point, 1 + 2 * c->field) != 1) {
    EVP_PKEY_free(key);
    char what[DJ_JPATH_MAX + 32];
    snprintf(what, sizeof what, "%s: not a point of %s", path, crv);
    return ossl_error(err, what);
  }
  /* the decoding checks the point; the explicit check also refuses the point at infinity. The quick
   * check (on the curve, not at infinity, coordinates in range) is the whole check on these
   * prime-order curves (cofactor 1): the full one adds a scalar multiplication by the order. */
  _cleanup_pkey_ctx_ EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
  if (chk == NULL || EVP_PKEY_public_check_quick(chk) <= 0) {
    EVP_PKEY_free(key);
    char what[DJ_JPATH_MAX + 32];
    snprintf(what, sizeof what, "%s: not a valid point of %s", path, crv);
    return ossl_error(err, what);
  }
  if (thumbprint) { /* what dj_jwk_thumbprint gives for this key, from the coordinates at hand */
    _cleanup_free_ char *xs = dj_b64url_encode(x.p, x.n), *ys = dj_b64url_encode(y.p, y.n);
    json_t *pub = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC", "crv", c->jwk, "x", xs, "y", ys);
    if (pub == NULL)
      dj_error(err, ENOMEM, "%s: thumbprint", path);
    if (pub == NULL || jwk_digest(pub, thumbprint, err) < 0) {
      EVP_PKEY_free(key);
      return -1;
    }
  }
  *out = key;
  return 0;
}

/* ---- primitives ----------------------------------------------------------------------------- */

static void put_be32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t) (v >> 24);
  p[1] = (uint8_t) (v >> 16);
  p[2] = (uint8_t) (v >> 8);
  p[3] = (uint8_t) v;
}

int dj_jwe_concat_kdf(const uint8_t *z, size_t z_len, const char *alg_id, const uint8_t *apu,
                      size_t apu_len, const uint8_t *apv, size_t apv_len, uint8_t *out, size_t out_len,
                      dj_err *err)
{
  size_t alg_len = strlen(alg_id);
  if (alg_len > 256 || apu_len > 4096 || apv_len > 4096 || out_len > 1024)
    return dj_error(err, 0, "concat KDF: input too long");
  size_t info_len = 4 + alg_len + 4 + apu_len + 4 + apv_len + 4;
  _cleanup_free_ uint8_t *info = dj_xmalloc(info_len);
  uint8_t *p = info;
  put_be32(p, (uint32_t) alg_len);
  memcpy(p + 4, alg_id, alg_len);
  p += 4 + alg_len;
  put_be32(p, (uint32_t) apu_len);
  if (apu_len)
    memcpy(p + 4, apu, apu_len);
  p += 4 + apu_len;
  put_be32(p, (uint32_t) apv_len);
  if (apv_len)
    memcpy(p + 4, apv, apv_len);
  p += 4 + apv_len;
  put_be32(p, (uint32_t) (out_len * 8)); /* SuppPubInfo: keydatalen in bits */

  EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SSKDF", NULL);
  EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
  EVP_KDF_free(kdf);
  if (kctx == NULL)
    return ossl_error(err, "concat KDF: SSKDF unavailable");
  OSSL_PARAM params[] = {
    OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *) "SHA256", 0),
    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *) z, z_len),
    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, info_len),
    OSSL_PARAM_construct_end(),
  };
  int ok = EVP_KDF_derive(kctx, out, out_len, params);
  EVP_KDF_CTX_free(kctx);
  if (ok <= 0)
    return ossl_error(err, "concat KDF");
  return 0;
}

/* AES-256 key wrap (RFC 3394) of a 32-byte key into 40 bytes, or unwrap. */
static int aes_kw(bool wrap, const uint8_t kek[32], const uint8_t *in, size_t in_len, uint8_t *out,
                  size_t *out_len)
{
  _cleanup_cipher_ctx_ EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int len = 0, fin = 0;
  if (ctx == NULL)
    return -1;
  EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  if (EVP_CipherInit_ex(ctx, EVP_aes_256_wrap(), NULL, kek, NULL, wrap ? 1 : 0) <= 0 ||
      EVP_CipherUpdate(ctx, out, &len, in, (int) in_len) <= 0 ||
      EVP_CipherFinal_ex(ctx, out + len, &fin) <= 0) {
    ERR_clear_error();
    return -1;
  }
  *out_len = (size_t) (len + fin);
  return 0;
}

/* ECDH on P-256, P-384 or P-521 (the curves of curve_of_key). The peer's point is checked here with
 * the quick check (not at infinity, coordinates in range, on the curve), which is the whole check
 * on these prime-order curves (cofactor 1): OpenSSL's default full check in derive_set_peer adds
 * a scalar multiplication by the order, as long as the key agreement itself, that can only confirm
 * it. The provider still refuses a peer on another curve than priv's. */
static int ecdh_derive(EVP_PKEY *priv, EVP_PKEY *peer, struct secret *z)
{
  _cleanup_pkey_ctx_ EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new_from_pkey(NULL, peer, NULL);
  _cleanup_pkey_ctx_ EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
  size_t n = 0;
  if (chk == NULL || ctx == NULL || curve_of_key(peer) == NULL || EVP_PKEY_public_check_quick(chk) <= 0 ||
      EVP_PKEY_derive_init(ctx) <= 0 || EVP_PKEY_derive_set_peer_ex(ctx, peer, 0) <= 0 ||
      EVP_PKEY_derive(ctx, NULL, &n) <= 0)
    return -1;
  z->p = dj_xmalloc(n);
  z->n = n;
  if (EVP_PKEY_derive(ctx, z->p, &z->n) <= 0)
    return -1;
  return 0;
}

static int rsa_oaep(bool enc, EVP_PKEY *key, enum dj_jwe_alg alg, const uint8_t *in, size_t in_len,
                    struct secret *out)
{
  const EVP_MD *md = alg == DJ_JWE_RSA_OAEP_256 ? EVP_sha256() : EVP_sha1();
  _cleanup_pkey_ctx_ EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
  size_t n = 0;
  if (ctx == NULL || (enc ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) <= 0 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) <= 0 || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) <= 0)
    return -1;
  n = (size_t) EVP_PKEY_get_size(key);
  out->p = dj_xmalloc(n);
  out->n = n;
  int r = enc ? EVP_PKEY_encrypt(ctx, out->p, &out->n, in, in_len) : EVP_PKEY_decrypt(ctx, out->p, &out->n, in, in_len);
  return r > 0 ? 0 : -1;
}

static int gcm(bool enc, const uint8_t key[CEK_LEN], const uint8_t iv[GCM_IV_LEN], const char *aad,
               const uint8_t *in, size_t in_len, uint8_t *out, uint8_t tag[GCM_TAG_LEN])
{
  _cleanup_cipher_ctx_ EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int len = 0, fin = 0;
  if (ctx == NULL || in_len > INT32_MAX || EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv, enc ? 1 : 0) <= 0 ||
      EVP_CipherUpdate(ctx, NULL, &len, (const uint8_t *) aad, (int) strlen(aad)) <= 0 ||
      EVP_CipherUpdate(ctx, out, &len, in, (int) in_len) <= 0)
    goto fail;
  if (!enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, GCM_TAG_LEN, tag) <= 0)
    goto fail;
  if (EVP_CipherFinal_ex(ctx, out + len, &fin) <= 0)
    goto fail;
  if (enc && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, GCM_TAG_LEN, tag) <= 0)
    goto fail;
  return 0;
fail:
  ERR_clear_error();
  return -1;
}

/* ---- decryption ----------------------------------------------------------------------------- */

static enum dj_jwe_alg alg_parse(const char *s)
{
  if (strcmp(s, "RSA-OAEP") == 0)
    return DJ_JWE_RSA_OAEP;
  if (strcmp(s, "RSA-OAEP-256") == 0)
    return DJ_JWE_RSA_OAEP_256;
  if (strcmp(s, "ECDH-ES+A256KW") == 0)
    return DJ_JWE_ECDH_ES_A256KW;
  return DJ_JWE_ALG_DEFAULT;
}

static const char *alg_name(enum dj_jwe_alg a)
{
  switch (a) {
  case DJ_JWE_RSA_OAEP: return "RSA-OAEP";
  case DJ_JWE_RSA_OAEP_256: return "RSA-OAEP-256";
  case DJ_JWE_ECDH_ES_A256KW: return "ECDH-ES+A256KW";
  default: return "?";
  }
}

/* Turn a compact serialization into the equivalent flattened JSON object. */
static int compact_to_json(const char *s, size_t len, json_t **out, dj_err *err)
{
  const char *parts[5];
  size_t lens[5];
  size_t k = 0, start = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || s[i] == '.') {
      if (k == 5)
        return dj_error(err, 0, "compact JWE: more than 5 parts");
      parts[k] = s + start;
      lens[k++] = i - start;
      start = i + 1;
    }
  }
  if (k != 5)
    return dj_error(err, 0, "compact JWE: %zu parts, expected 5", k);
  static const char *names[5] = { "protected", "encrypted_key", "iv", "ciphertext", "tag" };
  json_t *o = json_object();
  for (size_t i = 0; i < 5; i++)
    json_object_set_new(o, names[i], json_stringn(parts[i], lens[i]));
  *out = o;
  return 0;
}

/* Check that no header member appears in two of the header objects (RFC 7516 7.2.1). */
static int headers_merge(json_t *merged, json_t *h, const char *what, dj_err *err)
{
  const char *k;
  json_t *v;
  if (h == NULL)
    return 0;
  json_object_foreach(h, k, v)
  {
    if (json_object_get(merged, k) != NULL)
      return dj_error(err, 0, "%s: header parameter \"%s\" appears in more than one header", what, k);
    json_object_set(merged, k, v);
  }
  return 0;
}

struct jwe_common {
  const char *protected_b64;
  json_t *protected;   /* decoded, owned */
  json_t *unprotected; /* borrowed */
  char *aad;           /* the GCM additional data: protected_b64 [ "." aad ] */
  struct secret iv, ct, tag;
};

static void jwe_common_free(struct jwe_common *c)
{
  json_decref(c->protected);
  free(c->aad);
  secret_freep(&c->iv);
  secret_freep(&c->ct);
  secret_freep(&c->tag);
}

static int jwe_common_parse(json_t *doc, struct jwe_common *c, dj_err *err)
{
  const char *aad = NULL;
  if (dj_json_opt_string(doc, "protected", "jwe", &c->protected_b64, err) < 0 ||
      dj_json_opt_object(doc, "unprotected", "jwe", &c->unprotected, err) < 0 ||
      dj_json_opt_string(doc, "aad", "jwe", &aad, err) < 0)
    return -1;
  if (c->protected_b64 == NULL)
    c->protected_b64 = "";
  if (*c->protected_b64 != '\0') {
    _cleanup_secret_ struct secret ph = { 0 };
    if (dj_b64url_decode(c->protected_b64, strlen(c->protected_b64), &ph.p, &ph.n) < 0)
      return dj_error(err, 0, "jwe.protected: not base64url");
    if (dj_json_load_buf((const char *) ph.p, ph.n, &c->protected, err) < 0)
      return dj_err_wrap(err, "jwe.protected");
  }
  c->aad = aad ? dj_xasprintf("%s.%s", c->protected_b64, aad) : dj_xstrdup(c->protected_b64);
  if (get_b64url(doc, "iv", "jwe", true, &c->iv, err) < 0 || get_b64url(doc, "ciphertext", "jwe", true, &c->ct, err) < 0 ||
      get_b64url(doc, "tag", "jwe", true, &c->tag, err) < 0)
    return -1;
  if (c->iv.n != GCM_IV_LEN)
    return dj_error(err, 0, "jwe.iv: %zu bytes, A256GCM needs %d", c->iv.n, GCM_IV_LEN);
  if (c->tag.n != GCM_TAG_LEN)
    return dj_error(err, 0, "jwe.tag: %zu bytes, A256GCM needs %d", c->tag.n, GCM_TAG_LEN);
  return 0;
}

/* Recover the content key of one recipient. RSA-OAEP failures yield a random key instead of an
 * error, so that they end exactly like a bad tag (RFC 7516 11.5). Returns -1 only for structural
 * errors of the header (which do not depend on the private key). */
static int recipient_cek(EVP_PKEY *key, enum dj_jwe_alg alg, json_t *hdr, const char *path,
                         const struct secret *ek, uint8_t cek[CEK_LEN], dj_err *err)
{
  if (alg == DJ_JWE_RSA_OAEP || alg == DJ_JWE_RSA_OAEP_256) {
    _cleanup_secret_ struct secret out = { 0 };
    int r = rsa_oaep(false, key, alg, ek->p, ek->n, &out);
    ERR_clear_error();
    /* Always draw the random key, so that both branches do the same work. */
    uint8_t fake[CEK_LEN];
    if (RAND_bytes(fake, sizeof fake) != 1)
      return ossl_error(err, "random");
    bool ok = r == 0 && out.n == CEK_LEN;
    memcpy(cek, ok ? out.p : fake, CEK_LEN);
    dj_wipe(fake, sizeof fake);
    return 0;
  }
  /* ECDH-ES+A256KW */
  json_t *epk_j = json_object_get(hdr, "epk");
  char epath[DJ_JPATH_MAX];
  dj_jpath_key(epath, path, "epk");
  _cleanup_pkey_ EVP_PKEY *epk = NULL;
  if (dj_jwk_ec_import(epk_j, epath, &epk, err) < 0)
    return -1;
  const struct curve *ck = curve_of_key(key), *ce = curve_of_key(epk);
  if (ck != ce) {
    RAND_bytes(cek, CEK_LEN); /* another curve: not this key's recipient */
    return 0;
  }
  _cleanup_secret_ struct secret apu = { 0 }, apv = { 0 }, z = { 0 };
  if (get_b64url(hdr, "apu", path, false, &apu, err) < 0 || get_b64url(hdr, "apv", path, false, &apv, err) < 0)
    return -1;
  uint8_t kek[32];
  size_t n = 0;
  int r = ecdh_derive(key, epk, &z);
  if (r == 0)
    r = dj_jwe_concat_kdf(z.p, z.n, "ECDH-ES+A256KW", apu.p, apu.n, apv.p, apv.n, kek, sizeof kek, err);
  if (r == 0 && ek->n == WRAPPED_LEN)
    r = aes_kw(false, kek, ek->p, ek->n, cek, &n);
  else
    r = -1;
  dj_wipe(kek, sizeof kek);
  ERR_clear_error();
  if (r < 0 || n != CEK_LEN)
    RAND_bytes(cek, CEK_LEN);
  return 0;
}

static bool key_fits(EVP_PKEY *key, enum dj_jwe_alg alg)
{
  if (alg == DJ_JWE_RSA_OAEP || alg == DJ_JWE_RSA_OAEP_256)
    return EVP_PKEY_is_a(key, "RSA");
  if (alg == DJ_JWE_ECDH_ES_A256KW)
    return curve_of_key(key) != NULL;
  return false;
}

int dj_jwe_decrypt(const char *jwe, size_t len, EVP_PKEY *key, uint8_t **pt, size_t *pt_len, dj_err *err)
{
  if (len > DJ_JWE_MAX_SIZE)
    return dj_error(err, 0, "jwe: %zu bytes, larger than the %u allowed", len, DJ_JWE_MAX_SIZE);
  size_t i = 0;
  while (i < len && (jwe[i] == ' ' || jwe[i] == '\n' || jwe[i] == '\r' || jwe[i] == '\t'))
    i++;
  _cleanup_json_ json_t *doc = NULL;
  if (i < len && jwe[i] == '{') {
    if (dj_json_load_buf(jwe, len, &doc, err) < 0)
      return dj_err_wrap(err, "jwe");
  } else if (compact_to_json(jwe + i, len - i, &doc, err) < 0) {
    return -1;
  }
  struct jwe_common c = { 0 };
  int ret = -1;
  if (jwe_common_parse(doc, &c, err) < 0)
    goto out;

  json_t *recipients = NULL;
  if (dj_json_opt_array(doc, "recipients", "jwe", &recipients, err) < 0)
    goto out;
  json_t *flat = NULL;
  if (recipients == NULL) {
    flat = json_array();
    json_t *r = json_object();
    json_t *h = json_object_get(doc, "header");
    if (h != NULL)
      json_object_set(r, "header", h);
    json_t *ek = json_object_get(doc, "encrypted_key");
    if (ek != NULL)
      json_object_set(r, "encrypted_key", ek);
    json_array_append_new(flat, r);
    recipients = flat;
  } else if (json_object_get(doc, "header") != NULL ||
             (json_object_get(doc, "encrypted_key") != NULL &&
              !json_equal(json_object_get(doc, "encrypted_key"),
                          json_object_get(json_array_get(recipients, 0), "encrypted_key")))) {
    /* go-jose repeats the first recipient's encrypted_key at the top: only that is accepted. */
    dj_error(err, 0, "jwe: both \"recipients\" and a flattened \"encrypted_key\" or \"header\"");
    goto out;
  }
  size_t nrec = json_array_size(recipients);
  if (nrec == 0 || nrec > DJ_JWE_MAX_RECIPIENTS) {
    dj_error(err, 0, "jwe.recipients: %zu recipients (1 to %d)", nrec, DJ_JWE_MAX_RECIPIENTS);
    goto out_flat;
  }
  size_t tried = 0, refused_rsa15 = 0;
  char seen[256] = "";
  for (size_t k = 0; k < nrec; k++) {
    char path[DJ_JPATH_MAX];
    dj_jpath_index(path, "jwe.recipients", k);
    json_t *rec = json_array_get(recipients, k);
    json_t *rh = NULL;
    if (!json_is_object(rec)) {
      dj_error(err, 0, "%s: expected an object", path);
      goto out_flat;
    }
    if (dj_json_opt_object(rec, "header", path, &rh, err) < 0)
      goto out_flat;
    _cleanup_json_ json_t *hdr = json_object();
    if (headers_merge(hdr, c.protected, path, err) < 0 || headers_merge(hdr, c.unprotected, path, err) < 0 ||
        headers_merge(hdr, rh, path, err) < 0)
      goto out_flat;
    const char *alg_s = NULL, *enc_s = NULL;
    if (dj_json_req_string(hdr, "alg", path, &alg_s, err) < 0 || dj_json_req_string(hdr, "enc", path, &enc_s, err) < 0)
      goto out_flat;
    if (strcmp(enc_s, "A256GCM") != 0) {
      dj_error(err, 0, "%s.enc: \"%s\" is not supported (A256GCM)", path, enc_s);
      goto out_flat;
    }
    if (json_object_get(hdr, "zip") != NULL || json_object_get(hdr, "crit") != NULL) {
      dj_error(err, 0, "%s: \"zip\" and \"crit\" header parameters are not supported", path);
      goto out_flat;
    }
    size_t sl = strlen(seen);
    if (sl + strlen(alg_s) + 3 < sizeof seen)
      snprintf(seen + sl, sizeof seen - sl, "%s%s", sl ? ", " : "", alg_s);
    if (strcmp(alg_s, "RSA1_5") == 0) {
      refused_rsa15++; /* PKCS#1 v1.5 key transport invites padding oracles */
      continue;
    }
    enum dj_jwe_alg alg = alg_parse(alg_s);
    if (!key_fits(key, alg))
      continue;
    _cleanup_secret_ struct secret ek = { 0 };
    if (get_b64url(rec, "encrypted_key", path, true, &ek, err) < 0)
      goto out_flat;
    uint8_t cek[CEK_LEN];
    if (recipient_cek(key, alg, hdr, path, &ek, cek, err) < 0)
      goto out_flat;
    tried++;
    uint8_t *buf = dj_xmalloc(c.ct.n + 1);
    int r = gcm(false, cek, c.iv.p, c.aad, c.ct.p, c.ct.n, buf, c.tag.p);
    dj_wipe(cek, sizeof cek);
    if (r == 0) {
      buf[c.ct.n] = '\0';
      *pt = buf;
      *pt_len = c.ct.n;
      ret = 0;
      goto out_flat;
    }
    dj_wipe(buf, c.ct.n);
    free(buf);
  }
  if (tried > 0)
    dj_error_code(err, DJ_JWE_ERR_DECRYPT,
                  "jwe: cannot decrypt: no recipient opens with this key, or the JWE was altered");
  else if (refused_rsa15 > 0 && refused_rsa15 == nrec)
    dj_error(err, 0, "jwe: RSA1_5 key transport is refused (padding oracles); re-encrypt with RSA-OAEP");
  else
    dj_error_code(err, DJ_JWE_ERR_DECRYPT, "jwe: no recipient for a %s key (recipients: %s)",
                  EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "?", seen);
out_flat:
  json_decref(flat);
out:
  jwe_common_free(&c);
  return ret;
}

/* ---- encryption ----------------------------------------------------------------------------- */

static int recipient_wrap(EVP_PKEY *key, enum dj_jwe_alg alg, const uint8_t cek[CEK_LEN], json_t **header,
                          char **ek_b64, dj_err *err)
{
  if (alg == DJ_JWE_ALG_DEFAULT)
    alg = EVP_PKEY_is_a(key, "RSA") ? DJ_JWE_RSA_OAEP : DJ_JWE_ECDH_ES_A256KW;
  if (!key_fits(key, alg))
    return dj_error(err, 0, "%s needs %s key", alg_name(alg), alg == DJ_JWE_ECDH_ES_A256KW ? "an EC" : "an RSA");
  if (alg != DJ_JWE_ECDH_ES_A256KW) {
    if (EVP_PKEY_get_bits(key) < 2048)
      return dj_error(err, 0, "RSA key of %d bits: at least 2048 are needed", EVP_PKEY_get_bits(key));
    _cleanup_secret_ struct secret out = { 0 };
    if (rsa_oaep(true, key, alg, cek, CEK_LEN, &out) < 0)
      return ossl_error(err, alg_name(alg));
    *ek_b64 = dj_b64url_encode(out.p, out.n);
    *header = json_pack("{s:s}", "alg", alg_name(alg));
    return 0;
  }
  /* the ephemeral key on the recipient's curve, generated with the recipient's key as template (its
   * group is copied, not built again from the curve's name) */
  _cleanup_pkey_ EVP_PKEY *eph = NULL;
  _cleanup_pkey_ctx_ EVP_PKEY_CTX *gen = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
  if (gen == NULL || EVP_PKEY_keygen_init(gen) <= 0 || EVP_PKEY_keygen(gen, &eph) <= 0 || curve_of_key(eph) == NULL)
    return ossl_error(err, "ECDH-ES: ephemeral key");
  _cleanup_secret_ struct secret z = { 0 };
  if (ecdh_derive(eph, key, &z) < 0)
    return ossl_error(err, "ECDH-ES: key agreement");
  uint8_t kek[32], wrapped[WRAPPED_LEN + 16];
  size_t n = 0;
  int r = dj_jwe_concat_kdf(z.p, z.n, "ECDH-ES+A256KW", NULL, 0, NULL, 0, kek, sizeof kek, err);
  if (r == 0 && aes_kw(true, kek, cek, CEK_LEN, wrapped, &n) < 0)
    r = ossl_error(err, "ECDH-ES: AES key wrap");
  dj_wipe(kek, sizeof kek);
  if (r < 0)
    return -1;
  json_t *epk = dj_jwk_public(eph, err);
  if (epk == NULL)
    return -1;
  *ek_b64 = dj_b64url_encode(wrapped, n);
  *header = json_pack("{s:s, s:o}", "alg", alg_name(alg), "epk", epk);
  return 0;
}

int dj_jwe_encrypt(const uint8_t *pt, size_t len, EVP_PKEY *const *keys, const enum dj_jwe_alg *algs,
                   size_t n, char **out, dj_err *err)
{
  if (n == 0 || n > DJ_JWE_MAX_RECIPIENTS)
    return dj_error(err, 0, "jwe: %zu recipients (1 to %d)", n, DJ_JWE_MAX_RECIPIENTS);
  if (len > DJ_JWE_MAX_SIZE)
    return dj_error(err, 0, "jwe: plaintext of %zu bytes is too large", len);
  uint8_t cek[CEK_LEN], iv[GCM_IV_LEN], tag[GCM_TAG_LEN];
  if (RAND_bytes(cek, sizeof cek) != 1 || RAND_bytes(iv, sizeof iv) != 1)
    return ossl_error(err, "jwe: random");
  _cleanup_json_ json_t *recips = json_array(), *prot = NULL, *doc = NULL;
  _cleanup_free_ char *prot_s = NULL, *prot_b64 = NULL, *iv_b64 = NULL, *ct_b64 = NULL, *tag_b64 = NULL;
  _cleanup_free_ uint8_t *ct = NULL;
  int ret = -1;
  for (size_t i = 0; i < n; i++) {
    json_t *h = NULL;
    _cleanup_free_ char *ek = NULL;
    if (recipient_wrap(keys[i], algs ? algs[i] : DJ_JWE_ALG_DEFAULT, cek, &h, &ek, err) < 0) {
      dj_err_wrap(err, "jwe: recipient %zu", i + 1);
      goto out;
    }
    json_array_append_new(recips, json_pack("{s:o, s:s}", "header", h, "encrypted_key", ek));
  }
  prot = json_pack("{s:s}", "enc", "A256GCM");
  if (n == 1) /* as go-jose: a single recipient's header moves into the protected header */
    json_object_update(prot, json_object_get(json_array_get(recips, 0), "header"));
  prot_s = json_dumps(prot, JSON_COMPACT | JSON_SORT_KEYS);
  prot_b64 = dj_b64url_encode((const uint8_t *) prot_s, strlen(prot_s));
  ct = dj_xmalloc(len + 1);
  if (gcm(true, cek, iv, prot_b64, pt, len, ct, tag) < 0) {
    ossl_error(err, "jwe: A256GCM");
    goto out;
  }
  iv_b64 = dj_b64url_encode(iv, sizeof iv);
  ct_b64 = dj_b64url_encode(ct, len);
  tag_b64 = dj_b64url_encode(tag, sizeof tag);
  doc = json_pack("{s:s, s:s, s:s, s:s}", "protected", prot_b64, "iv", iv_b64,
                                         "ciphertext", ct_b64, "tag", tag_b64);
  if (n == 1)
    json_object_set(doc, "encrypted_key", json_object_get(json_array_get(recips, 0), "encrypted_key"));
  else
    json_object_set(doc, "recipients", recips);
  *out = json_dumps(doc, JSON_COMPACT);
  ret = 0;
out:
  dj_wipe(cek, sizeof cek);
  return ret;
}
