#include "verifier/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/util.h"

char *dj_audit_record(int64_t seq, int64_t time_ms, const char *type, json_t *body)
{
  _cleanup_free_ char *text = dj_json_canonical(body);
  return text ? dj_audit_record_text(seq, time_ms, type, text) : NULL;
}

char *dj_audit_record_text(int64_t seq, int64_t time_ms, const char *type, const char *body)
{
  json_t *t = json_string(type);
  _cleanup_free_ char *ts = t ? dj_json_canonical(t) : NULL;
  json_decref(t);
  if (ts == NULL || body[0] != '{')
    return NULL;
  return dj_xasprintf("{\"body\":%s,\"seq\":%" PRId64 ",\"time\":%" PRId64 ",\"type\":%s}", body, seq, time_ms, ts);
}

void dj_audit_hash(const uint8_t prev[32], const char *record, size_t len, uint8_t out[32])
{
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  unsigned int n = 0;
  if (ctx == NULL || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) ||
      !EVP_DigestUpdate(ctx, DJ_AUDIT_LABEL, sizeof DJ_AUDIT_LABEL - 1) || !EVP_DigestUpdate(ctx, prev, 32) ||
      !EVP_DigestUpdate(ctx, record, len) || !EVP_DigestFinal_ex(ctx, out, &n))
    memset(out, 0xff, 32); /* cannot happen with a working libcrypto; never matches a real chain */
  EVP_MD_CTX_free(ctx);
}

static void put_be64(uint8_t *p, uint64_t v)
{
  for (int i = 7; i >= 0; i--, v >>= 8)
    p[i] = (uint8_t) v;
}

static size_t cp_message(const struct dj_vcheckpoint *c, uint8_t *out)
{
  size_t n = sizeof DJ_AUDIT_CP_LABEL - 1;
  memcpy(out, DJ_AUDIT_CP_LABEL, n);
  put_be64(out + n, (uint64_t) c->seq);
  put_be64(out + n + 8, (uint64_t) c->time_ms);
  memcpy(out + n + 16, c->hash, 32);
  return n + 48;
}

int dj_audit_key_load(const char *path, bool create, EVP_PKEY **out, dj_err *err)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT && create) {
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL;
    long len = 0;
    int r = -1;
    if (key && bio && PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL) &&
        (len = BIO_get_mem_data(bio, &pem)) > 0) {
      int wfd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
      r = wfd >= 0 && dj_write_all(wfd, pem, (size_t) len) == 0 && fsync(wfd) == 0 ? 0 : -1;
      if (r < 0)
        dj_error(err, errno, "audit key %s: create", path);
      if (wfd >= 0)
        close(wfd);
    } else {
      dj_error(err, 0, "audit key: cannot generate an Ed25519 key");
    }
    if (pem)
      OPENSSL_cleanse(pem, (size_t) len);
    BIO_free(bio);
    if (r < 0) {
      EVP_PKEY_free(key);
      return -1;
    }
    *out = key;
    return 0;
  }
  if (fd < 0)
    return dj_error(err, errno, "audit key %s", path);
  struct stat st;
  if (fstat(fd, &st) < 0 || (st.st_mode & 077) != 0) {
    close(fd);
    return dj_error(err, 0, "audit key %s: mode %03o: must not be readable by group or others (0600)", path,
                    (unsigned) (st.st_mode & 0777));
  }
  FILE *f = fdopen(fd, "r");
  EVP_PKEY *key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
  if (f)
    fclose(f);
  else
    close(fd);
  ERR_clear_error();
  if (key == NULL || !EVP_PKEY_is_a(key, "ED25519")) {
    EVP_PKEY_free(key);
    return dj_error(err, 0, "audit key %s: not an Ed25519 private key in PEM", path);
  }
  *out = key;
  return 0;
}

char *dj_audit_key_public_pem(EVP_PKEY *key)
{
  BIO *bio = BIO_new(BIO_s_mem());
  char *p = NULL, *r = NULL;
  long len;
  if (bio && PEM_write_bio_PUBKEY(bio, key) && (len = BIO_get_mem_data(bio, &p)) > 0) {
    r = dj_xmalloc((size_t) len + 1);
    memcpy(r, p, (size_t) len);
    r[len] = '\0';
  }
  BIO_free(bio);
  return r;
}

int dj_audit_checkpoint_sign(EVP_PKEY *key, struct dj_vcheckpoint *c, dj_err *err)
{
  uint8_t msg[128];
  size_t mlen = cp_message(c, msg), slen = sizeof c->sig;
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  int ok = ctx && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
           EVP_DigestSign(ctx, c->sig, &slen, msg, mlen) == 1 && slen == 64;
  EVP_MD_CTX_free(ctx);
  if (!ok) {
    ERR_clear_error();
    return dj_error(err, 0, "audit checkpoint: Ed25519 signature failed");
  }
  return 0;
}

bool dj_audit_checkpoint_valid(EVP_PKEY *pub, const struct dj_vcheckpoint *c)
{
  uint8_t msg[128];
  size_t mlen = cp_message(c, msg);
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pub) == 1 &&
            EVP_DigestVerify(ctx, c->sig, sizeof c->sig, msg, mlen) == 1;
  EVP_MD_CTX_free(ctx);
  ERR_clear_error();
  return ok;
}

int dj_audit_checkpoint_now(struct dj_store *st, EVP_PKEY *key, int64_t now_ms, int64_t *last_signed, dj_err *err)
{
  if (st->ops->begin(st, err) < 0)
    return -1;
  struct dj_vcheckpoint c = { .time_ms = now_ms };
  int r = st->ops->audit_head(st, &c.seq, c.hash, err);
  if (r == 0 && c.seq > *last_signed) {
    r = dj_audit_checkpoint_sign(key, &c, err);
    if (r == 0)
      r = st->ops->checkpoint_put(st, &c, err);
  }
  if (r < 0) {
    st->ops->rollback(st);
    return -1;
  }
  if (st->ops->commit(st, err) < 0)
    return -1;
  if (c.seq > *last_signed)
    *last_signed = c.seq;
  return 0;
}

void dj_audit_verifier_init(struct dj_audit_verifier *v, EVP_PKEY *pub)
{
  memset(v, 0, sizeof *v);
  v->pub = pub;
  v->next_seq = 1;
}

void dj_audit_verifier_free(struct dj_audit_verifier *v)
{
  free(v->cps);
  v->cps = NULL;
}

__attribute__((format(printf, 2, 3))) static int vfail(struct dj_audit_verifier *v, const char *fmt, ...)
{
  if (!v->failed) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->why, sizeof v->why, fmt, ap);
    va_end(ap);
    v->failed = true;
  }
  return -1;
}

int dj_audit_verifier_checkpoint(struct dj_audit_verifier *v, const struct dj_vcheckpoint *c)
{
  if (v->failed)
    return -1;
  if (!dj_audit_checkpoint_valid(v->pub, c))
    return vfail(v, "checkpoint at seq %" PRId64 ": the signature does not verify under the audit key", c->seq);
  if (v->n_cps > 0 && c->seq <= v->cps[v->n_cps - 1].seq)
    return vfail(v, "checkpoint at seq %" PRId64 ": not after the previous one", c->seq);
  if (v->n_cps == v->cap_cps) {
    v->cap_cps = v->cap_cps ? v->cap_cps * 2 : 64;
    v->cps = dj_xrealloc(v->cps, v->cap_cps * sizeof *v->cps);
  }
  v->cps[v->n_cps++] = *c;
  return 0;
}

int dj_audit_verifier_record(struct dj_audit_verifier *v, int64_t seq, const char *record, const uint8_t hash[32])
{
  if (v->failed)
    return -1;
  if (seq != v->next_seq)
    return vfail(v, "record %" PRId64 ": expected record %" PRId64 " (a record was dropped or reordered)", seq,
                 v->next_seq);
  json_error_t je;
  json_t *j = json_loads(record, JSON_REJECT_DUPLICATES, &je);
  json_t *jseq = j ? json_object_get(j, "seq") : NULL;
  bool seq_ok = json_is_integer(jseq) && json_integer_value(jseq) == seq;
  json_decref(j);
  if (!seq_ok)
    return vfail(v, "record %" PRId64 ": its text does not carry seq %" PRId64 " (edited or moved)", seq, seq);
  uint8_t h[32];
  dj_audit_hash(v->prev, record, strlen(record), h);
  if (CRYPTO_memcmp(h, hash, 32) != 0)
    return vfail(v, "record %" PRId64 ": its hash is not the chain's over its text (an edited record, or a "
                    "record before it was changed)", seq);
  while (v->next_cp < v->n_cps && v->cps[v->next_cp].seq == seq) {
    if (CRYPTO_memcmp(v->cps[v->next_cp].hash, h, 32) != 0)
      return vfail(v, "record %" PRId64 ": the chain differs from the signed checkpoint at this seq (a rewritten "
                      "chain)", seq);
    v->next_cp++;
  }
  if (v->known_seq == seq && CRYPTO_memcmp(v->known_hash, h, 32) != 0)
    return vfail(v, "record %" PRId64 ": the chain differs from the checkpoint kept by the auditor", seq);
  memcpy(v->prev, h, 32);
  v->next_seq++;
  v->records++;
  return 0;
}

int dj_audit_verifier_finish(struct dj_audit_verifier *v)
{
  if (v->failed)
    return -1;
  int64_t last = v->next_seq - 1;
  if (v->next_cp < v->n_cps)
    return vfail(v, "the log ends at record %" PRId64 " but a checkpoint signs record %" PRId64 " (a dropped tail)",
                 last, v->cps[v->next_cp].seq);
  if (v->known_seq > last)
    return vfail(v, "the log ends at record %" PRId64 " but the auditor kept a checkpoint of record %" PRId64
                    " (a dropped tail)", last, v->known_seq);
  if (v->known_seq > 0) {
    bool present = false;
    for (size_t i = 0; i < v->n_cps; i++)
      present |= v->cps[i].seq == v->known_seq;
    if (!present)
      return vfail(v, "the checkpoint of record %" PRId64 " the auditor kept is gone", v->known_seq);
  }
  return 0;
}
