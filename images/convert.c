#include "images/convert.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "common/util.h"
#include "images/layerstream.h"
#include "images/layout.h"
#include "images/ocicrypt.h"
#include "images/writer.h"

/* Bound on a layer's tar while checking diff_ids during decryption (unpack sets its own). */
#define CONVERT_MAX_TAR (1ull << 40)

static void image_freep(struct dj_image **i)
{
  dj_image_free(*i);
}
static void writer_freep(struct dj_layout_writer **w)
{
  dj_layout_writer_free(*w);
}

/* Copy a checked blob (staged) into the new layout. */
static int copy_blob(struct dj_image *img, const struct dj_descriptor *d, struct dj_layout_writer *w, dj_err *err)
{
  _cleanup_close_ int in = dj_image_blob_stage(img->dirfd, d, err);
  if (in < 0)
    return -1;
  int out;
  if (dj_layout_writer_blob_begin(w, &out, err) < 0)
    return -1;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n == 0)
      break;
    if (n < 0 || dj_write_all(out, buf, (size_t) n) < 0) {
      dj_error(err, errno, "copy blob %s", d->digest);
      dj_layout_writer_blob_abort(w, out);
      return -1;
    }
  }
  return dj_layout_writer_blob_commit(w, out, d->digest, err);
}

/* The layer descriptor minus the ocicrypt annotations. */
static json_t *plain_annotations(json_t *annotations)
{
  json_t *a = json_deep_copy(annotations);
  const char *k;
  json_t *v;
  void *tmp;
  json_object_foreach_safe(a, tmp, k, v)
  {
    if (strncmp(k, "org.opencontainers.image.enc.", 29) == 0)
      json_object_del(a, k);
  }
  return a;
}

static json_t *layer_desc(const char *mt, const char *digest, uint64_t size, json_t *annotations)
{
  json_t *d = json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest", digest, "size", (json_int_t) size);
  if (annotations != NULL && json_object_size(annotations) > 0)
    json_object_set(d, "annotations", annotations);
  return d;
}

static int convert(const char *src_ref, const char *dst_ref, bool encrypt, EVP_PKEY *const *keys, size_t n_keys,
                   dj_err *err)
{
  __attribute__((cleanup(image_freep))) struct dj_image *img = NULL;
  __attribute__((cleanup(writer_freep))) struct dj_layout_writer *w = NULL;
  if (dj_image_open(src_ref, &img, err) < 0 || dj_layout_writer_open(dst_ref, &w, err) < 0)
    return -1;
  if (copy_blob(img, &img->config_desc, w, err) < 0)
    return dj_err_wrap(err, "config");
  _cleanup_json_ json_t *manifest = json_deep_copy(img->manifest);
  json_t *layers = json_object_get(manifest, "layers");
  for (size_t i = 0; i < img->n_layers; i++) {
    const struct dj_descriptor *d = &img->layers[i];
    if (encrypt == d->encrypted) {
      /* Already in the wanted form: copied as is (skopeo does the same). */
      if (copy_blob(img, d, w, err) < 0)
        return dj_err_wrap(err, "layer %zu", i);
      continue;
    }
    int out;
    if (dj_layout_writer_blob_begin(w, &out, err) < 0)
      return -1;
    json_t *nd;
    if (encrypt) {
      _cleanup_close_ int in = dj_image_blob_stage(img->dirfd, d, err);
      _cleanup_json_ json_t *ann = d->annotations ? json_deep_copy(d->annotations) : json_object();
      char ct_digest[DJ_DIGEST_MAX];
      uint64_t ct_size = 0;
      if (in < 0 || dj_ocicrypt_encrypt(in, d->digest, keys, n_keys, out, ann, ct_digest, &ct_size, err) < 0) {
        dj_layout_writer_blob_abort(w, out);
        return dj_err_wrap(err, "layer %zu (%s)", i, d->digest);
      }
      if (dj_layout_writer_blob_commit(w, out, ct_digest, err) < 0)
        return -1;
      nd = layer_desc(dj_layer_media_type(d->compression, true), ct_digest, ct_size, ann);
    } else {
      struct dj_layer_reader *r = NULL;
      char plain[DJ_DIGEST_MAX];
      if (dj_layer_reader_open(img, i, keys[0], CONVERT_MAX_TAR, out, &r, err) < 0 ||
          dj_layer_reader_finish(r, plain, err) < 0) {
        dj_layer_reader_free(r);
        dj_layout_writer_blob_abort(w, out);
        return -1;
      }
      uint64_t size = (uint64_t) lseek(out, 0, SEEK_CUR);
      dj_layer_reader_free(r);
      if (dj_layout_writer_blob_commit(w, out, plain, err) < 0)
        return -1;
      _cleanup_json_ json_t *ann = plain_annotations(d->annotations);
      nd = layer_desc(dj_layer_media_type(d->compression, false), plain, size, ann);
    }
    json_array_set_new(layers, i, nd);
  }
  return dj_layout_writer_finish(w, manifest, err);
}

int dj_image_encrypt(const char *src_ref, const char *dst_ref, EVP_PKEY *const *keys, size_t n_keys, dj_err *err)
{
  if (n_keys == 0)
    return dj_error(err, 0, "encrypt: no recipient");
  if (convert(src_ref, dst_ref, true, keys, n_keys, err) < 0)
    return dj_err_wrap(err, "encrypt");
  return 0;
}

int dj_image_decrypt(const char *src_ref, const char *dst_ref, EVP_PKEY *key, dj_err *err)
{
  if (convert(src_ref, dst_ref, false, &key, 1, err) < 0)
    return dj_err_wrap(err, "decrypt");
  return 0;
}
