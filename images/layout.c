#include "images/layout.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/safepath.h"
#include "common/util.h"
#include "images/oci_archive.h"
#include "images/digest.h"
#include "images/tree.h"

/* Blobs are plain files of the layout: no symlink, no "..", no magic link on the way. */
#define BLOB_RESOLVE (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)

bool dj_digest_valid(const char *digest)
{
  if (strncmp(digest, "sha256:", 7) != 0 || strlen(digest) != 7 + 64)
    return false;
  for (const char *p = digest + 7; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
      return false;
  return true;
}

int dj_layer_media_type_parse(const char *mt, enum dj_compression *comp, bool *encrypted)
{
  size_t base = strlen(DJ_MT_LAYER);
  if (strncmp(mt, DJ_MT_LAYER, base) != 0)
    return -1;
  const char *rest = mt + base;
  *encrypted = false;
  size_t rl = strlen(rest);
  if (rl >= 10 && strcmp(rest + rl - 10, "+encrypted") == 0) {
    *encrypted = true;
    rl -= 10;
  }
  if (rl == 0)
    *comp = DJ_COMP_NONE;
  else if (rl == 5 && strncmp(rest, "+gzip", 5) == 0)
    *comp = DJ_COMP_GZIP;
  else if (rl == 5 && strncmp(rest, "+zstd", 5) == 0)
    *comp = DJ_COMP_ZSTD;
  else
    return -1;
  return 0;
}

const char *dj_layer_media_type(enum dj_compression comp, bool encrypted)
{
  static const char *names[3][2] = {
    { DJ_MT_LAYER, DJ_MT_LAYER "+encrypted" },
    { DJ_MT_LAYER "+gzip", DJ_MT_LAYER "+gzip+encrypted" },
    { DJ_MT_LAYER "+zstd", DJ_MT_LAYER "+zstd+encrypted" },
  };
  return names[comp][encrypted ? 1 : 0];
}

void dj_descriptor_clear(struct dj_descriptor *d)
{
  free(d->media_type);
  json_decref(d->annotations);
  json_decref(d->raw);
  memset(d, 0, sizeof *d);
}

int dj_descriptor_parse(json_t *j, const char *path, struct dj_descriptor *d, dj_err *err)
{
  memset(d, 0, sizeof *d);
  if (!json_is_object(j))
    return dj_error(err, 0, "%s: expected a descriptor object, got %s", path, dj_json_type_name(j));
  const char *mt = NULL, *digest = NULL;
  int64_t size = 0;
  json_t *annotations = NULL, *urls = NULL;
  if (dj_json_req_string(j, "mediaType", path, &mt, err) < 0 || dj_json_req_string(j, "digest", path, &digest, err) < 0 ||
      dj_json_opt_object(j, "annotations", path, &annotations, err) < 0 ||
      dj_json_opt_array(j, "urls", path, &urls, err) < 0)
    return -1;
  if (json_object_get(j, "size") == NULL)
    return dj_error(err, 0, "%s.size: missing", path);
  if (dj_json_opt_int64(j, "size", path, 0, INT64_MAX, &size, err) < 0)
    return -1;
  if (!dj_digest_valid(digest))
    return dj_error(err, 0, "%s.digest: \"%.80s\" is not a sha256 digest (sha256:<64 lowercase hex>)", path, digest);
  if (urls != NULL && json_array_size(urls) > 0)
    return dj_error(err, 0, "%s.urls: external blob urls are refused (every blob must be in the layout)", path);
  if (annotations != NULL) {
    const char *k;
    json_t *v;
    json_object_foreach(annotations, k, v)
    {
      if (!json_is_string(v))
        return dj_error(err, 0, "%s.annotations.%s: expected a string, got %s", path, k, dj_json_type_name(v));
    }
  }
  d->media_type = dj_xstrdup(mt);
  snprintf(d->digest, sizeof d->digest, "%s", digest);
  d->size = (uint64_t) size;
  d->annotations = json_incref(annotations);
  d->raw = json_incref(j);
  return 0;
}

static int blob_open(int dirfd, const struct dj_descriptor *d, struct stat *st, dj_err *err)
{
  char path[128];
  snprintf(path, sizeof path, "blobs/sha256/%s", d->digest + 7);
  int fd = dj_openat2(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0, BLOB_RESOLVE);
  if (fd < 0)
    return dj_error(err, errno, "blob %s", d->digest);
  if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
    close(fd);
    return dj_error(err, 0, "blob %s: not a regular file", d->digest);
  }
  if ((uint64_t) st->st_size != d->size) {
    close(fd);
    return dj_error(err, 0, "blob %s: %lld bytes, the descriptor says %llu", d->digest, (long long) st->st_size,
                    (unsigned long long) d->size);
  }
  return fd;
}

int dj_image_blob_read(int dirfd, const struct dj_descriptor *d, size_t max, uint8_t **out, dj_err *err)
{
  if (d->size > max)
    return dj_error(err, 0, "blob %s: %llu bytes, more than the %zu allowed", d->digest,
                    (unsigned long long) d->size, max);
  struct stat st;
  _cleanup_close_ int fd = blob_open(dirfd, d, &st, err);
  if (fd < 0)
    return -1;
  _cleanup_free_ uint8_t *buf = dj_xmalloc(d->size + 1);
  ssize_t n = dj_read_all(fd, buf, d->size + 1); /* one byte more: a blob that grew is caught */
  if (n < 0)
    return dj_error(err, errno, "blob %s: read", d->digest);
  if ((uint64_t) n != d->size)
    return dj_error(err, 0, "blob %s: read %zd bytes, the descriptor says %llu", d->digest, n,
                    (unsigned long long) d->size);
  char got[DJ_DIGEST_MAX];
  dj_sha256_digest(buf, d->size, got);
  if (strcmp(got, d->digest) != 0)
    return dj_error(err, 0, "blob %s: content digest is %s", d->digest, got);
  buf[d->size] = '\0';
  *out = dj_steal_ptr(&buf);
  return 0;
}

int dj_image_blob_stage(int dirfd, const struct dj_descriptor *d, dj_err *err)
{
  struct stat st;
  _cleanup_close_ int fd = blob_open(dirfd, d, &st, err);
  if (fd < 0)
    return -1;
  _cleanup_close_ int mfd = memfd_create("donjon-blob", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0)
    return dj_error(err, errno, "blob %s: memfd_create", d->digest);
  struct dj_sha256 h;
  dj_sha256_init(&h);
  uint64_t total = 0;
  _cleanup_free_ uint8_t *buf = dj_xmalloc(1 << 20);
  for (;;) {
    ssize_t n = read(fd, buf, 1 << 20);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return dj_error(err, errno, "blob %s: read", d->digest);
    if (n == 0)
      break;
    total += (uint64_t) n;
    if (total > d->size)
      return dj_error(err, 0, "blob %s: longer than the %llu bytes of its descriptor", d->digest,
                      (unsigned long long) d->size);
    dj_sha256_update(&h, buf, (size_t) n);
    if (dj_write_all(mfd, buf, (size_t) n) < 0)
      return dj_error(err, errno, "blob %s: write to memory staging", d->digest);
  }
  char got[DJ_DIGEST_MAX];
  dj_sha256_final(&h, got);
  if (total != d->size)
    return dj_error(err, 0, "blob %s: %llu bytes read, the descriptor says %llu", d->digest,
                    (unsigned long long) total, (unsigned long long) d->size);
  if (strcmp(got, d->digest) != 0)
    return dj_error(err, 0, "blob %s: content digest is %s", d->digest, got);
  /* Sealed: nothing can change the checked copy any more. */
  if (fcntl(mfd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
    return dj_error(err, errno, "blob %s: seal the memory staging", d->digest);
  if (lseek(mfd, 0, SEEK_SET) < 0)
    return dj_error(err, errno, "blob %s: seek", d->digest);
  return dj_steal_fd(&mfd);
}

int dj_image_ref_parse(const char *ref, bool *archive, char **path, char **tag, dj_err *err)
{
  const char *rest;
  if (strncmp(ref, "oci:", 4) == 0) {
    *archive = false;
    rest = ref + 4;
  } else if (strncmp(ref, "oci-archive:", 12) == 0) {
    *archive = true;
    rest = ref + 12;
  } else {
    return dj_error(err, 0, "image reference \"%s\": expected oci:DIR[:TAG] or oci-archive:FILE[:TAG]", ref);
  }
  const char *colon = strchr(rest, ':');
  size_t plen = colon ? (size_t) (colon - rest) : strlen(rest);
  if (plen == 0)
    return dj_error(err, 0, "image reference \"%s\": empty path", ref);
  *path = strndup(rest, plen);
  *tag = colon && colon[1] ? dj_xstrdup(colon + 1) : NULL;
  if (colon && !colon[1]) {
    free(*path);
    return dj_error(err, 0, "image reference \"%s\": empty tag after ':'", ref);
  }
  return 0;
}

static bool platform_is_host(json_t *desc)
{
  json_t *p = json_object_get(desc, "platform");
  const char *os = json_string_value(json_object_get(p, "os"));
  const char *arch = json_string_value(json_object_get(p, "architecture"));
#if defined(__x86_64__)
  const char *host = "amd64";
#elif defined(__aarch64__)
  const char *host = "arm64";
#else
  const char *host = "";
#endif
  return os && arch && strcmp(os, "linux") == 0 && strcmp(arch, host) == 0;
}

static int index_check(json_t *index, const char *path, json_t **manifests, dj_err *err)
{
  int64_t schema = 0;
  if (dj_json_opt_int64(index, "schemaVersion", path, 0, 100, &schema, err) < 0 ||
      dj_json_req_array(index, "manifests", path, manifests, err) < 0)
    return -1;
  if (schema != 2)
    return dj_error(err, 0, "%s.schemaVersion: %lld, expected 2", path, (long long) schema);
  return 0;
}

static bool is_index(json_t *d)
{
  const char *mt = json_string_value(json_object_get(d, "mediaType"));
  return mt != NULL && strcmp(mt, DJ_MT_INDEX) == 0;
}

/* Read a nested index blob named by descriptor object dj (checked). */
static int index_load(int dirfd, json_t *dj, const char *path, int depth, json_t **out, dj_err *err)
{
  if (dirfd < 0)
    return dj_error(err, 0, "%s: nested index not allowed here", path);
  if (depth + 1 >= DJ_IMAGE_MAX_INDEX_DEPTH)
    return dj_error(err, 0, "%s: indexes nested more than %d deep", path, DJ_IMAGE_MAX_INDEX_DEPTH);
  struct dj_descriptor d;
  if (dj_descriptor_parse(dj, path, &d, err) < 0)
    return -1;
  _cleanup_free_ uint8_t *buf = NULL;
  int r = dj_image_blob_read(dirfd, &d, DJ_IMAGE_JSON_MAX, &buf, err);
  if (r == 0)
    r = dj_json_load_buf((const char *) buf, d.size, out, err);
  if (r < 0)
    dj_err_wrap(err, "%s", path);
  dj_descriptor_clear(&d);
  return r;
}

/* Collect (as [descriptor, path] pairs) every entry tagged `tag`, searching untagged nested indexes. */
static int index_collect(int dirfd, json_t *index, const char *path, const char *tag, int depth, json_t *matches,
                         size_t *loads, dj_err *err)
{
  json_t *manifests;
  if (index_check(index, path, &manifests, err) < 0)
    return -1;
  for (size_t i = 0; i < json_array_size(manifests); i++) {
    json_t *d = json_array_get(manifests, i);
    char dpath[DJ_JPATH_MAX];
    snprintf(dpath, sizeof dpath, "%s.manifests[%zu]", path, i);
    const char *name = json_string_value(json_object_get(json_object_get(d, "annotations"), DJ_ANNOT_REF_NAME));
    if (name != NULL && strcmp(name, tag) == 0) {
      json_array_append_new(matches, json_pack("[O, s, i]", d, dpath, depth));
    } else if (name == NULL && is_index(d)) {
      _cleanup_json_ json_t *nested = NULL;
      /* Entries may all name one big nested index: bound the work, not only the depth. */
      if (++*loads > DJ_IMAGE_MAX_NESTED_INDEXES)
        return dj_error(err, 0, "%s: more than %d nested indexes to search", dpath, DJ_IMAGE_MAX_NESTED_INDEXES);
      if (index_load(dirfd, d, dpath, depth, &nested, err) < 0 ||
          index_collect(dirfd, nested, dpath, tag, depth + 1, matches, loads, err) < 0)
        return -1;
    }
  }
  return 0;
}

/* From a descriptor object to a manifest descriptor: an index resolves to its only entry or to the
 * entry for the host's platform. */
static int index_resolve(int dirfd, json_t *dj, const char *path, int depth, struct dj_descriptor *out, dj_err *err)
{
  if (!is_index(dj)) {
    if (dj_descriptor_parse(dj, path, out, err) < 0)
      return -1;
    if (strcmp(out->media_type, DJ_MT_MANIFEST) != 0) {
      dj_error(err, 0, "%s.mediaType: \"%s\" is neither an OCI manifest nor an OCI index", path, out->media_type);
      dj_descriptor_clear(out);
      return -1;
    }
    return 0;
  }
  _cleanup_json_ json_t *nested = NULL;
  json_t *manifests;
  if (index_load(dirfd, dj, path, depth, &nested, err) < 0 || index_check(nested, path, &manifests, err) < 0)
    return -1;
  size_t n = json_array_size(manifests), found = 0, idx = 0;
  for (size_t i = 0; i < n; i++)
    if (n == 1 || platform_is_host(json_array_get(manifests, i))) {
      found++;
      idx = i;
    }
  if (found != 1)
    return dj_error(err, 0, "%s: %zu of its %zu manifests fit this host (linux/%s); cannot choose", path, found, n,
#if defined(__x86_64__)
                    "amd64"
#else
                    "other"
#endif
    );
  char dpath[DJ_JPATH_MAX];
  snprintf(dpath, sizeof dpath, "%.400s -> manifests[%zu]", path, idx);
  return index_resolve(dirfd, json_array_get(manifests, idx), dpath, depth + 1, out, err);
}

int dj_index_select(int dirfd, json_t *index, const char *tag, struct dj_descriptor *out, dj_err *err)
{
  json_t *manifests;
  if (index_check(index, "index.json", &manifests, err) < 0)
    return -1;
  if (tag == NULL) {
    size_t n = json_array_size(manifests);
    if (n != 1)
      return dj_error(err, 0, "index.json: %zu manifests and no tag given; name one with :TAG", n);
    return index_resolve(dirfd, json_array_get(manifests, 0), "index.json.manifests[0]", 0, out, err);
  }
  _cleanup_json_ json_t *matches = json_array();
  size_t loads = 0;
  if (index_collect(dirfd, index, "index.json", tag, 0, matches, &loads, err) < 0)
    return -1;
  size_t n = json_array_size(matches);
  if (n == 0)
    return dj_error(err, 0, "index.json: no manifest is tagged \"%s\"", tag);
  if (n > 1)
    return dj_error(err, 0, "index.json: %zu entries are tagged \"%s\" (%s and %s); the reference is ambiguous", n,
                    tag, json_string_value(json_array_get(json_array_get(matches, 0), 1)),
                    json_string_value(json_array_get(json_array_get(matches, 1), 1)));
  json_t *m = json_array_get(matches, 0);
  return index_resolve(dirfd, json_array_get(m, 0), json_string_value(json_array_get(m, 1)),
                       (int) json_integer_value(json_array_get(m, 2)), out, err);
}

int dj_manifest_parse(json_t *m, struct dj_image *img, dj_err *err)
{
  int64_t schema = 0;
  const char *mt = NULL;
  json_t *config = NULL, *layers = NULL;
  if (dj_json_opt_int64(m, "schemaVersion", "manifest", 0, 100, &schema, err) < 0 ||
      dj_json_opt_string(m, "mediaType", "manifest", &mt, err) < 0 ||
      dj_json_req_object(m, "config", "manifest", &config, err) < 0 ||
      dj_json_req_array(m, "layers", "manifest", &layers, err) < 0)
    return -1;
  if (schema != 2)
    return dj_error(err, 0, "manifest.schemaVersion: %lld, expected 2", (long long) schema);
  if (mt != NULL && strcmp(mt, DJ_MT_MANIFEST) != 0)
    return dj_error(err, 0, "manifest.mediaType: \"%s\" is not %s", mt, DJ_MT_MANIFEST);
  if (dj_descriptor_parse(config, "manifest.config", &img->config_desc, err) < 0)
    return -1;
  if (strcmp(img->config_desc.media_type, DJ_MT_CONFIG) != 0)
    return dj_error(err, 0, "manifest.config.mediaType: \"%s\" is not %s", img->config_desc.media_type, DJ_MT_CONFIG);
  size_t n = json_array_size(layers);
  if (n > DJ_IMAGE_MAX_LAYERS)
    return dj_error(err, 0, "manifest.layers: %zu layers, at most %d", n, DJ_IMAGE_MAX_LAYERS);
  img->layers = dj_xcalloc(n ? n : 1, sizeof *img->layers);
  for (size_t i = 0; i < n; i++) {
    char path[DJ_JPATH_MAX];
    dj_jpath_index(path, "manifest.layers", i);
    struct dj_descriptor *d = &img->layers[i];
    if (dj_descriptor_parse(json_array_get(layers, i), path, d, err) < 0)
      return -1;
    img->n_layers = i + 1;
    if (dj_layer_media_type_parse(d->media_type, &d->compression, &d->encrypted) < 0)
      return dj_error(err, 0, "%s.mediaType: \"%s\" is not an OCI layer (tar, tar+gzip, tar+zstd, optionally "
                      "+encrypted)", path, d->media_type);
  }
  return 0;
}

int dj_config_parse(json_t *c, struct dj_image *img, dj_err *err)
{
  json_t *rootfs = NULL, *diff_ids = NULL;
  const char *type = NULL;
  if (dj_json_req_object(c, "rootfs", "config", &rootfs, err) < 0 ||
      dj_json_req_string(rootfs, "type", "config.rootfs", &type, err) < 0 ||
      dj_json_req_array(rootfs, "diff_ids", "config.rootfs", &diff_ids, err) < 0)
    return -1;
  if (strcmp(type, "layers") != 0)
    return dj_error(err, 0, "config.rootfs.type: \"%s\", expected \"layers\"", type);
  if (json_array_size(diff_ids) != img->n_layers)
    return dj_error(err, 0, "config.rootfs.diff_ids: %zu entries for %zu layers", json_array_size(diff_ids),
                    img->n_layers);
  img->diff_ids = dj_xcalloc(img->n_layers + 1, sizeof *img->diff_ids);
  for (size_t i = 0; i < img->n_layers; i++) {
    const char *s = json_string_value(json_array_get(diff_ids, i));
    if (s == NULL || !dj_digest_valid(s))
      return dj_error(err, 0, "config.rootfs.diff_ids[%zu]: not a sha256 digest", i);
    img->diff_ids[i] = dj_xstrdup(s);
  }
  return 0;
}

void dj_image_free(struct dj_image *img)
{
  if (img == NULL)
    return;
  if (img->dirfd >= 0)
    close(img->dirfd);
  if (img->tmpdir != NULL) {
    dj_remove_tree(img->tmpdir);
    free(img->tmpdir);
  }
  free(img->ref_name);
  dj_descriptor_clear(&img->manifest_desc);
  dj_descriptor_clear(&img->config_desc);
  json_decref(img->manifest);
  json_decref(img->config);
  for (size_t i = 0; i < img->n_layers; i++)
    dj_descriptor_clear(&img->layers[i]);
  free(img->layers);
  if (img->diff_ids != NULL)
    for (size_t i = 0; img->diff_ids[i]; i++)
      free(img->diff_ids[i]);
  free(img->diff_ids);
  free(img);
}

static int read_layout_json(int dirfd, const char *name, json_t **out, dj_err *err)
{
  _cleanup_close_ int fd = dj_openat2(dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK, 0, BLOB_RESOLVE);
  if (fd < 0)
    return dj_error(err, errno, "%s", name);
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
    return dj_error(err, 0, "%s: not a regular file", name);
  if (dj_json_load_fd(fd, DJ_IMAGE_JSON_MAX, out, err) < 0)
    return dj_err_wrap(err, "%s", name);
  return 0;
}

int dj_image_open(const char *ref, struct dj_image **out, dj_err *err)
{
  bool archive;
  _cleanup_free_ char *path = NULL, *tag = NULL;
  if (dj_image_ref_parse(ref, &archive, &path, &tag, err) < 0)
    return -1;
  _cleanup_json_ json_t *layout = NULL, *index = NULL;
  _cleanup_free_ uint8_t *mbuf = NULL, *cbuf = NULL;
  const char *version = NULL;
  struct dj_image *img = dj_xcalloc(1, sizeof *img);
  img->dirfd = -1;
  img->ref_name = dj_steal_ptr(&tag);
  if (archive) {
    if (dj_oci_archive_extract(path, &img->tmpdir, err) < 0)
      goto fail;
    img->dirfd = open(img->tmpdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  } else {
    img->dirfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  }
  if (img->dirfd < 0) {
    dj_error(err, errno, "%s", path);
    goto fail;
  }
  if (read_layout_json(img->dirfd, "oci-layout", &layout, err) < 0 ||
      dj_json_req_string(layout, "imageLayoutVersion", "oci-layout", &version, err) < 0)
    goto fail_wrap;
  if (strcmp(version, "1.0.0") != 0) {
    dj_error(err, 0, "oci-layout.imageLayoutVersion: \"%s\", expected \"1.0.0\"", version);
    goto fail_wrap;
  }
  if (read_layout_json(img->dirfd, "index.json", &index, err) < 0 ||
      dj_index_select(img->dirfd, index, img->ref_name, &img->manifest_desc, err) < 0)
    goto fail_wrap;
  if (dj_image_blob_read(img->dirfd, &img->manifest_desc, DJ_IMAGE_JSON_MAX, &mbuf, err) < 0 ||
      dj_json_load_buf((const char *) mbuf, img->manifest_desc.size, &img->manifest, err) < 0) {
    dj_err_wrap(err, "manifest");
    goto fail_wrap;
  }
  if (dj_manifest_parse(img->manifest, img, err) < 0)
    goto fail_wrap;
  if (dj_image_blob_read(img->dirfd, &img->config_desc, DJ_IMAGE_JSON_MAX, &cbuf, err) < 0 ||
      dj_json_load_buf((const char *) cbuf, img->config_desc.size, &img->config, err) < 0) {
    dj_err_wrap(err, "config");
    goto fail_wrap;
  }
  if (dj_config_parse(img->config, img, err) < 0)
    goto fail_wrap;
  *out = img;
  return 0;
fail_wrap:
  dj_err_wrap(err, "%s", ref);
  dj_image_free(img);
  return -1;
fail:
  dj_image_free(img);
  return -1;
}
