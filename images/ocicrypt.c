#include "images/ocicrypt.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "common/util.h"
#include "images/b64.h"
#include "images/digest.h"
#include "images/jwe.h"

#define CHUNK (1u << 20)
#define MAX_WRAPPED_KEYS 64

void dj_ocicrypt_recipient_kinds(json_t *annotations, char *buf, size_t n)
{
  const char *k;
  json_t *v;
  size_t o = 0;
  buf[0] = '\0';
  json_object_foreach(annotations, k, v)
  {
    const char *kind = NULL;
    char tmp[128];
    if (strcmp(k, DJ_ANNOT_KEYS_JWE) == 0)
      kind = "jwe";
    else if (strcmp(k, DJ_ANNOT_KEYS_PKCS7) == 0)
      kind = "pkcs7";
    else if (strcmp(k, DJ_ANNOT_KEYS_PGP) == 0)
      kind = "pgp";
    else if (strncmp(k, DJ_ANNOT_KEYS_PROVIDER, strlen(DJ_ANNOT_KEYS_PROVIDER)) == 0) {
      snprintf(tmp, sizeof tmp, "provider:%s", k + strlen(DJ_ANNOT_KEYS_PROVIDER));
      kind = tmp;
    }
    if (kind != NULL && o < n)
      o += (size_t) snprintf(buf + o, n - o, "%s%s", o ? ", " : "", kind);
  }
}

/* A base64 member decoded into a fixed-size field. */
static int b64_field(json_t *obj, const char *key, const char *path, uint8_t *out, size_t len, dj_err *err)
{
  const char *s;
  if (dj_json_req_string(obj, key, path, &s, err) < 0)
    return -1;
  uint8_t *buf;
  size_t n;
  if (dj_b64_decode(s, strlen(s), &buf, &n) < 0)
    return dj_error(err, 0, "%s.%s: not base64", path, key);
  int r = 0;
  if (n != len)
    r = dj_error(err, 0, "%s.%s: %zu bytes, expected %zu", path, key, n, len);
  else
    memcpy(out, buf, len);
  dj_wipe(buf, n);
  free(buf);
  return r;
}

int dj_ocicrypt_privopts_parse(const uint8_t *json, size_t len, struct dj_layer_secret *s, dj_err *err)
{
  _cleanup_json_ json_t *j = NULL;
  json_t *co = NULL;
  const char *digest = NULL;
  if (dj_json_load_buf((const char *) json, len, &j, err) < 0)
    return dj_err_wrap(err, "private options");
  int r = -1;
  if (b64_field(j, "symkey", "privopts", s->key, sizeof s->key, err) < 0 ||
      dj_json_req_object(j, "cipheroptions", "privopts", &co, err) < 0 ||
      b64_field(co, "nonce", "privopts.cipheroptions", s->nonce, sizeof s->nonce, err) < 0 ||
      dj_json_req_string(j, "digest", "privopts", &digest, err) < 0)
    goto out;
  if (!dj_digest_valid(digest)) {
    dj_error(err, 0, "privopts.digest: \"%.80s\" is not a sha256 digest", digest);
    goto out;
  }
  snprintf(s->digest, sizeof s->digest, "%s", digest);
  r = 0;
out:
  /* The document held the key in base64: wipe it before jansson frees it. */
  {
    json_t *sk = json_object_get(j, "symkey");
    if (json_is_string(sk))
      dj_wipe((char *) json_string_value(sk), json_string_length(sk));
  }
  return r;
}

int dj_ocicrypt_pubopts_parse(const char *b64, struct dj_layer_secret *s, dj_err *err)
{
  _cleanup_free_ uint8_t *raw = NULL;
  size_t n;
  if (dj_b64_decode(b64, strlen(b64), &raw, &n) < 0)
    return dj_error(err, 0, "%s: not base64", DJ_ANNOT_PUBOPTS);
  _cleanup_json_ json_t *j = NULL;
  const char *cipher;
  if (dj_json_load_buf((const char *) raw, n, &j, err) < 0)
    return dj_err_wrap(err, "%s", DJ_ANNOT_PUBOPTS);
  if (dj_json_req_string(j, "cipher", "pubopts", &cipher, err) < 0)
    return -1;
  if (strcmp(cipher, DJ_OCICRYPT_CIPHER) != 0)
    return dj_error(err, 0, "pubopts.cipher: \"%s\" is not supported (%s)", cipher, DJ_OCICRYPT_CIPHER);
  return b64_field(j, "hmac", "pubopts", s->hmac, sizeof s->hmac, err);
}

int dj_ocicrypt_unwrap(const struct dj_descriptor *d, EVP_PKEY *key, struct dj_layer_secret *s, dj_err *err)
{
  if (!d->encrypted)
    return dj_error(err, 0, "%s: not encrypted", d->digest);
  const char *jwe = json_string_value(json_object_get(d->annotations, DJ_ANNOT_KEYS_JWE));
  const char *pub = json_string_value(json_object_get(d->annotations, DJ_ANNOT_PUBOPTS));
  if (pub == NULL)
    return dj_error(err, 0, "%s: no %s annotation", d->digest, DJ_ANNOT_PUBOPTS);
  if (jwe == NULL) {
    char kinds[256];
    dj_ocicrypt_recipient_kinds(d->annotations, kinds, sizeof kinds);
    return dj_error(err, 0, "%s: no JWE recipient (recipients: %s)", d->digest, kinds[0] ? kinds : "none");
  }
  if (dj_ocicrypt_pubopts_parse(pub, s, err) < 0)
    return dj_err_wrap(err, "%s", d->digest);
  /* keys.jwe: comma-separated base64 blobs, each a JWE; any one that opens is enough. */
  dj_err last = { 0 };
  size_t count = 0;
  for (const char *p = jwe; *p;) {
    const char *e = strchrnul(p, ',');
    if (++count > MAX_WRAPPED_KEYS)
      return dj_error(err, 0, "%s: more than %d wrapped keys", d->digest, MAX_WRAPPED_KEYS);
    _cleanup_free_ uint8_t *blob = NULL;
    size_t bn;
    if (dj_b64_decode(p, (size_t) (e - p), &blob, &bn) < 0)
      return dj_error(err, 0, "%s: %s[%zu]: not base64", d->digest, DJ_ANNOT_KEYS_JWE, count - 1);
    uint8_t *pt = NULL;
    size_t pn = 0;
    if (dj_jwe_decrypt((const char *) blob, bn, key, &pt, &pn, &last) == 0) {
      int r = dj_ocicrypt_privopts_parse(pt, pn, s, err);
      dj_wipe(pt, pn);
      free(pt);
      if (r < 0)
        return dj_err_wrap(err, "%s", d->digest);
      return 0;
    }
    p = *e ? e + 1 : e;
  }
  *err = last;
  return dj_err_wrap(err, "%s", d->digest);
}

int dj_ocicrypt_verify_hmac(int fd, const struct dj_layer_secret *s, dj_err *err)
{
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
  EVP_MAC_free(mac);
  OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string("digest", (char *) "SHA256", 0), OSSL_PARAM_construct_end() };
  int r = -1;
  _cleanup_free_ uint8_t *buf = dj_xmalloc(CHUNK);
  if (ctx == NULL || EVP_MAC_init(ctx, s->key, sizeof s->key, params) != 1) {
    dj_error(err, 0, "HMAC-SHA256 unavailable");
    goto out;
  }
  if (lseek(fd, 0, SEEK_SET) < 0) {
    dj_error(err, errno, "seek");
    goto out;
  }
  for (;;) {
    ssize_t n = read(fd, buf, CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      dj_error(err, errno, "read ciphertext");
      goto out;
    }
    if (n == 0)
      break;
    EVP_MAC_update(ctx, buf, (size_t) n);
  }
  uint8_t got[32];
  size_t gl = 0;
  if (EVP_MAC_final(ctx, got, &gl, sizeof got) != 1 || gl != 32) {
    dj_error(err, 0, "HMAC-SHA256 failed");
    goto out;
  }
  if (CRYPTO_memcmp(got, s->hmac, 32) != 0) {
    dj_error(err, 0, "HMAC mismatch: the encrypted layer was altered or its pubopts annotation does not belong to it");
    goto out;
  }
  if (lseek(fd, 0, SEEK_SET) < 0) {
    dj_error(err, errno, "seek");
    goto out;
  }
  r = 0;
out:
  EVP_MAC_CTX_free(ctx);
  ERR_clear_error();
  return r;
}

EVP_CIPHER_CTX *dj_ocicrypt_ctr_new(const struct dj_layer_secret *s)
{
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  if (ctx != NULL && EVP_EncryptInit_ex(ctx, EVP_aes_256_ctr(), NULL, s->key, s->nonce) != 1) {
    EVP_CIPHER_CTX_free(ctx);
    return NULL;
  }
  return ctx;
}

int dj_ocicrypt_ctr_update(EVP_CIPHER_CTX *ctx, uint8_t *buf, size_t n)
{
  while (n > 0) {
    int chunk = n > CHUNK ? (int) CHUNK : (int) n, out = 0;
    if (EVP_EncryptUpdate(ctx, buf, &out, buf, chunk) != 1 || out != chunk)
      return -1;
    buf += chunk;
    n -= (size_t) chunk;
  }
  return 0;
}

int dj_ocicrypt_encrypt(int fd, const char *plain_digest, EVP_PKEY *const *keys, size_t n_keys, int out_fd,
                        json_t *annotations, char ct_digest[DJ_DIGEST_MAX], uint64_t *ct_size, dj_err *err)
{
  struct dj_sha256 h;
  dj_sha256_init(&h);
  *ct_size = 0;
  struct dj_layer_secret s = { 0 };
  int r = -1;
  EVP_CIPHER_CTX *ctr = NULL;
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *hctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
  EVP_MAC_free(mac);
  OSSL_PARAM params[] = { OSSL_PARAM_construct_utf8_string("digest", (char *) "SHA256", 0), OSSL_PARAM_construct_end() };
  _cleanup_free_ uint8_t *buf = dj_xmalloc(CHUNK);
  char *privopts = NULL, *jwe = NULL;
  _cleanup_free_ char *key_b64 = NULL, *nonce_b64 = NULL, *hmac_b64 = NULL, *jwe_b64 = NULL, *pub = NULL,
                      *pub_b64 = NULL;
  if (RAND_bytes(s.key, sizeof s.key) != 1 || RAND_bytes(s.nonce, sizeof s.nonce) != 1) {
    dj_error(err, 0, "random");
    goto out;
  }
  snprintf(s.digest, sizeof s.digest, "%s", plain_digest);
  ctr = dj_ocicrypt_ctr_new(&s);
  if (ctr == NULL || hctx == NULL || EVP_MAC_init(hctx, s.key, sizeof s.key, params) != 1) {
    dj_error(err, 0, "AES-256-CTR/HMAC-SHA256 unavailable");
    goto out;
  }
  for (;;) {
    ssize_t n = read(fd, buf, CHUNK);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      dj_error(err, errno, "read layer");
      goto out;
    }
    if (n == 0)
      break;
    if (dj_ocicrypt_ctr_update(ctr, buf, (size_t) n) < 0) {
      dj_error(err, 0, "AES-256-CTR failed");
      goto out;
    }
    EVP_MAC_update(hctx, buf, (size_t) n);
    dj_sha256_update(&h, buf, (size_t) n);
    *ct_size += (uint64_t) n;
    if (dj_write_all(out_fd, buf, (size_t) n) < 0) {
      dj_error(err, errno, "write encrypted layer");
      goto out;
    }
  }
  size_t hl = 0;
  if (EVP_MAC_final(hctx, s.hmac, &hl, sizeof s.hmac) != 1) {
    dj_error(err, 0, "HMAC-SHA256 failed");
    goto out;
  }
  /* The documents as ocicrypt (Go's encoding/json) writes them: []byte as standard base64. */
  key_b64 = dj_b64_encode(s.key, sizeof s.key);
  nonce_b64 = dj_b64_encode(s.nonce, sizeof s.nonce);
  hmac_b64 = dj_b64_encode(s.hmac, sizeof s.hmac);
  privopts = dj_xasprintf("{\"symkey\":\"%s\",\"digest\":\"%s\",\"cipheroptions\":{\"nonce\":\"%s\"}}", key_b64,
                          s.digest, nonce_b64);
  dj_wipe(key_b64, strlen(key_b64));
  if (dj_jwe_encrypt((const uint8_t *) privopts, strlen(privopts), keys, NULL, n_keys, &jwe, err) < 0)
    goto out;
  jwe_b64 = dj_b64_encode((const uint8_t *) jwe, strlen(jwe));
  pub = dj_xasprintf("{\"cipher\":\"%s\",\"hmac\":\"%s\",\"cipheroptions\":{}}",
                                          DJ_OCICRYPT_CIPHER, hmac_b64);
  pub_b64 = dj_b64_encode((const uint8_t *) pub, strlen(pub));
  json_object_set_new(annotations, DJ_ANNOT_KEYS_JWE, json_string(jwe_b64));
  json_object_set_new(annotations, DJ_ANNOT_PUBOPTS, json_string(pub_b64));
  dj_sha256_final(&h, ct_digest);
  r = 0;
out:
  if (privopts != NULL) {
    dj_wipe(privopts, strlen(privopts));
    free(privopts);
  }
  free(jwe);
  dj_wipe(&s, sizeof s);
  dj_sha256_discard(&h);
  EVP_CIPHER_CTX_free(ctr);
  EVP_MAC_CTX_free(hctx);
  ERR_clear_error();
  return r;
}
