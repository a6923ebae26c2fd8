#include "images/layerstream.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "common/util.h"
#include "images/digest.h"

#define IN_CHUNK (256u << 10)

struct dj_layer_stream {
  int fd;
  int tee_fd;
  enum dj_compression comp;
  EVP_CIPHER_CTX *ctr;
  struct dj_sha256 h_comp, h_tar;
  uint64_t max_tar, tar_size;
  uint8_t *in;
  size_t in_pos, in_len;
  bool in_eof, done;
  z_stream z;
  bool z_init, z_end;
  ZSTD_DCtx *zstd;
};

int dj_layer_stream_open(int fd, enum dj_compression comp, const struct dj_layer_secret *secret,
                         uint64_t max_tar_size, int tee_fd, struct dj_layer_stream **out, dj_err *err)
{
  struct dj_layer_stream *s = dj_xcalloc(1, sizeof *s);
  s->fd = fd;
  s->tee_fd = tee_fd;
  s->comp = comp;
  s->max_tar = max_tar_size;
  s->in = dj_xmalloc(IN_CHUNK);
  dj_sha256_init(&s->h_comp);
  dj_sha256_init(&s->h_tar);
  if (secret != NULL && (s->ctr = dj_ocicrypt_ctr_new(secret)) == NULL) {
    dj_layer_stream_free(s);
    return dj_error(err, 0, "AES-256-CTR unavailable");
  }
  if (comp == DJ_COMP_GZIP) {
    if (inflateInit2(&s->z, 15 + 16) != Z_OK) {
      dj_layer_stream_free(s);
      return dj_error(err, 0, "zlib: inflateInit failed");
    }
    s->z_init = true;
  } else if (comp == DJ_COMP_ZSTD) {
    s->zstd = ZSTD_createDCtx();
    if (s->zstd == NULL) {
      dj_layer_stream_free(s);
      return dj_error(err, 0, "zstd: cannot create a context");
    }
  }
  *out = s;
  return 0;
}

/* Refill the input buffer with the next chunk of (decrypted) compressed bytes. */
static int fill(struct dj_layer_stream *s, dj_err *err)
{
  if (s->in_pos < s->in_len || s->in_eof)
    return 0;
  ssize_t n;
  do
    n = read(s->fd, s->in, IN_CHUNK);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return dj_error(err, errno, "read layer");
  s->in_pos = 0;
  s->in_len = (size_t) n;
  if (n == 0) {
    s->in_eof = true;
    return 0;
  }
  if (s->ctr != NULL && dj_ocicrypt_ctr_update(s->ctr, s->in, (size_t) n) < 0)
    return dj_error(err, 0, "AES-256-CTR failed");
  dj_sha256_update(&s->h_comp, s->in, (size_t) n);
  if (s->tee_fd >= 0 && dj_write_all(s->tee_fd, s->in, (size_t) n) < 0)
    return dj_error(err, errno, "write decrypted layer");
  return 0;
}

static ssize_t read_raw(struct dj_layer_stream *s, uint8_t *buf, size_t n, dj_err *err)
{
  for (;;) {
    if (fill(s, err) < 0)
      return -1;
    if (s->in_eof && s->in_pos == s->in_len) {
      if (s->comp == DJ_COMP_GZIP && !s->z_end)
        return dj_error(err, 0, "gzip: truncated stream");
      if (s->comp == DJ_COMP_ZSTD && !s->z_end)
        return dj_error(err, 0, "zstd: truncated stream");
      return 0;
    }
    size_t avail = s->in_len - s->in_pos;
    if (s->comp == DJ_COMP_NONE) {
      size_t k = avail < n ? avail : n;
      memcpy(buf, s->in + s->in_pos, k);
      s->in_pos += k;
      return (ssize_t) k;
    }
    if (s->comp == DJ_COMP_GZIP) {
      if (s->z_end) { /* another gzip member follows (concatenated gzip is valid) */
        if (inflateReset(&s->z) != Z_OK)
          return dj_error(err, 0, "gzip: reset failed");
        s->z_end = false;
      }
      s->z.next_in = s->in + s->in_pos;
      s->z.avail_in = (uInt) avail;
      s->z.next_out = buf;
      s->z.avail_out = (uInt) (n > (1u << 30) ? (1u << 30) : n);
      uInt before = s->z.avail_out;
      int r = inflate(&s->z, Z_NO_FLUSH);
      s->in_pos = s->in_len - s->z.avail_in;
      if (r == Z_STREAM_END)
        s->z_end = true;
      else if (r != Z_OK && r != Z_BUF_ERROR)
        return dj_error(err, 0, "gzip: %s", s->z.msg ? s->z.msg : "corrupt data");
      size_t produced = before - s->z.avail_out;
      if (produced > 0)
        return (ssize_t) produced;
      continue;
    }
    ZSTD_inBuffer zin = { s->in + s->in_pos, avail, 0 };
    ZSTD_outBuffer zout = { buf, n, 0 };
    size_t r = ZSTD_decompressStream(s->zstd, &zout, &zin);
    s->in_pos += zin.pos;
    if (ZSTD_isError(r))
      return dj_error(err, 0, "zstd: %s", ZSTD_getErrorName(r));
    s->z_end = r == 0;
    if (zout.pos > 0)
      return (ssize_t) zout.pos;
  }
}

ssize_t dj_layer_stream_read(struct dj_layer_stream *s, void *buf, size_t n, dj_err *err)
{
  if (s->done || n == 0)
    return 0;
  ssize_t r = read_raw(s, buf, n, err);
  if (r < 0)
    return -1;
  if (r == 0) {
    s->done = true;
    return 0;
  }
  s->tar_size += (uint64_t) r;
  if (s->max_tar && s->tar_size > s->max_tar)
    return dj_error(err, 0, "layer expands to more than %llu bytes (a decompression bomb?)",
                    (unsigned long long) s->max_tar);
  dj_sha256_update(&s->h_tar, buf, (size_t) r);
  return r;
}

int dj_layer_stream_finish(struct dj_layer_stream *s, char compressed_digest[DJ_DIGEST_MAX],
                           char diff_id[DJ_DIGEST_MAX], dj_err *err)
{
  _cleanup_free_ uint8_t *buf = dj_xmalloc(IN_CHUNK);
  ssize_t r;
  while ((r = dj_layer_stream_read(s, buf, IN_CHUNK, err)) > 0)
    ;
  if (r < 0)
    return -1;
  /* Bytes after the end of the compressed stream are still part of the blob's digest. */
  while (!s->in_eof) {
    s->in_pos = s->in_len;
    if (fill(s, err) < 0)
      return -1;
  }
  dj_sha256_final(&s->h_comp, compressed_digest);
  dj_sha256_final(&s->h_tar, diff_id);
  return 0;
}

uint64_t dj_layer_stream_tar_size(const struct dj_layer_stream *s)
{
  return s->tar_size;
}

void dj_layer_stream_free(struct dj_layer_stream *s)
{
  if (s == NULL)
    return;
  if (s->z_init)
    inflateEnd(&s->z);
  ZSTD_freeDCtx(s->zstd);
  EVP_CIPHER_CTX_free(s->ctr);
  dj_sha256_discard(&s->h_comp);
  dj_sha256_discard(&s->h_tar);
  if (s->in != NULL)
    dj_wipe(s->in, IN_CHUNK); /* decrypted bytes */
  free(s->in);
  free(s);
}

/* The layer's secret from private options the verifier released (the HMAC from its pubopts). */
static int secret_released(const struct dj_layer_keys *k, const struct dj_descriptor *d, size_t i,
                           struct dj_layer_secret *s, dj_err *err)
{
  const char *pub = json_string_value(json_object_get(d->annotations, DJ_ANNOT_PUBOPTS));
  if (pub == NULL)
    return dj_error(err, 0, "%s: no %s annotation", d->digest, DJ_ANNOT_PUBOPTS);
  if (dj_ocicrypt_pubopts_parse(pub, s, err) < 0)
    return dj_err_wrap(err, "%s", d->digest);
  uint8_t *json = NULL;
  size_t len = 0;
  if (k->released(k->ctx, d, i, &json, &len, err) < 0)
    return -1;
  int r = dj_ocicrypt_privopts_parse(json, len, s, err);
  dj_wipe(json, len);
  free(json);
  return r < 0 ? dj_err_wrap(err, "%s: released private options", d->digest) : 0;
}

int dj_layer_reader_open(struct dj_image *img, size_t i, EVP_PKEY *key, uint64_t max_tar_size, int tee_fd,
                         struct dj_layer_reader **out, dj_err *err)
{
  const struct dj_layer_keys keys = { .kek = key };
  return dj_layer_reader_open_keys(img, i, &keys, max_tar_size, tee_fd, out, err);
}

int dj_layer_reader_open_keys(struct dj_image *img, size_t i, const struct dj_layer_keys *keys, uint64_t max_tar_size,
                              int tee_fd, struct dj_layer_reader **out, dj_err *err)
{
  struct dj_layer_reader *r = dj_xcalloc(1, sizeof *r);
  r->fd = -1;
  mlock(r, sizeof *r); /* it holds the layer key: keep it out of swap where allowed (best effort) */
  r->desc = &img->layers[i];
  r->diff_id = img->diff_ids[i];
  r->index = i;
  r->encrypted = r->desc->encrypted;
  r->fd = dj_image_blob_stage(img->dirfd, r->desc, err);
  if (r->fd < 0)
    goto fail;
  if (r->encrypted) {
    if (keys->released != NULL) {
      if (secret_released(keys, r->desc, i, &r->secret, err) < 0)
        goto fail;
    } else if (keys->kek == NULL) {
      char kinds[256];
      dj_ocicrypt_recipient_kinds(r->desc->annotations, kinds, sizeof kinds);
      dj_error(err, 0, "%s: encrypted (recipients: %s) and no key was given", r->desc->digest,
               kinds[0] ? kinds : "none");
      goto fail;
    } else if (dj_ocicrypt_unwrap(r->desc, keys->kek, &r->secret, err) < 0)
      goto fail;
    /* The whole ciphertext is authenticated before any of it is decrypted. */
    if (dj_ocicrypt_verify_hmac(r->fd, &r->secret, err) < 0) {
      dj_err_wrap(err, "%s", r->desc->digest);
      goto fail;
    }
  }
  if (dj_layer_stream_open(r->fd, r->desc->compression, r->encrypted ? &r->secret : NULL, max_tar_size, tee_fd,
                           &r->stream, err) < 0)
    goto fail;
  *out = r;
  return 0;
fail:
  dj_err_wrap(err, "layer %zu", i);
  dj_layer_reader_free(r);
  return -1;
}

int dj_layer_reader_finish(struct dj_layer_reader *r, char plain_digest[DJ_DIGEST_MAX], dj_err *err)
{
  char diff_id[DJ_DIGEST_MAX];
  if (dj_layer_stream_finish(r->stream, plain_digest, diff_id, err) < 0)
    return dj_err_wrap(err, "layer %zu (%s)", r->index, r->desc->digest);
  if (r->encrypted && strcmp(plain_digest, r->secret.digest) != 0)
    return dj_error(err, 0, "layer %zu (%s): decrypted blob has digest %s, its private options say %s", r->index,
                    r->desc->digest, plain_digest, r->secret.digest);
  if (strcmp(diff_id, r->diff_id) != 0)
    return dj_error(err, 0, "layer %zu (%s): uncompressed digest %s differs from config rootfs.diff_ids[%zu] %s",
                    r->index, r->desc->digest, diff_id, r->index, r->diff_id);
  return 0;
}

void dj_layer_reader_free(struct dj_layer_reader *r)
{
  if (r == NULL)
    return;
  dj_layer_stream_free(r->stream);
  if (r->fd >= 0)
    close(r->fd);
  dj_wipe(&r->secret, sizeof r->secret);
  munlock(r, sizeof *r);
  free(r);
}
