#include "images/writer.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/util.h"
#include "images/digest.h"
#include "images/oci_archive.h"
#include "images/tree.h"

#define MAX_PENDING 1024

struct dj_layout_writer {
  char *dir;          /* the layout directory (a temporary one for oci-archive) */
  char *archive;      /* oci-archive: the file to write at the end */
  char *tag;
  int dirfd;          /* dir */
  int blobfd;         /* dir/blobs/sha256 */
  bool created;       /* we created dir: remove it on failure */
  bool finished;
  /* fd -> temporary name of the blobs being written */
  int pending_fd[MAX_PENDING];
  char pending_name[MAX_PENDING][32];
  size_t n_pending;
};

static int write_small(int dirfd, const char *name, const char *data, dj_err *err)
{
  char tmp[64];
  snprintf(tmp, sizeof tmp, ".%s.tmp", name);
  _cleanup_close_ int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0 || dj_write_all(fd, data, strlen(data)) < 0)
    return dj_error(err, errno, "%s", name);
  if (renameat(dirfd, tmp, dirfd, name) < 0)
    return dj_error(err, errno, "%s: rename into place", name);
  return 0;
}

int dj_layout_writer_open(const char *ref, struct dj_layout_writer **out, dj_err *err)
{
  bool archive;
  _cleanup_free_ char *path = NULL, *tag = NULL;
  if (dj_image_ref_parse(ref, &archive, &path, &tag, err) < 0)
    return -1;
  struct dj_layout_writer *w = dj_xcalloc(1, sizeof *w);
  w->dirfd = w->blobfd = -1;
  w->tag = dj_steal_ptr(&tag);
  if (archive) {
    const char *base = getenv("TMPDIR");
    w->dir = dj_xasprintf("%s/donjon-oci-out-XXXXXX", base && *base ? base : "/var/tmp");
    if (mkdtemp(w->dir) == NULL) {
      dj_error(err, errno, "%s: create a temporary directory", w->dir);
      goto fail;
    }
    w->archive = dj_steal_ptr(&path);
    w->created = true;
  } else {
    w->dir = dj_steal_ptr(&path);
    if (mkdir(w->dir, 0755) == 0)
      w->created = true;
    else if (errno != EEXIST) {
      dj_error(err, errno, "%s", w->dir);
      goto fail;
    }
  }
  w->dirfd = open(w->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (w->dirfd < 0) {
    dj_error(err, errno, "%s", w->dir);
    goto fail;
  }
  if ((mkdirat(w->dirfd, "blobs", 0755) < 0 && errno != EEXIST) ||
      (mkdirat(w->dirfd, "blobs/sha256", 0755) < 0 && errno != EEXIST)) {
    dj_error(err, errno, "%s/blobs/sha256", w->dir);
    goto fail;
  }
  w->blobfd = openat(w->dirfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (w->blobfd < 0) {
    dj_error(err, errno, "%s/blobs/sha256", w->dir);
    goto fail;
  }
  if (write_small(w->dirfd, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", err) < 0)
    goto fail;
  *out = w;
  return 0;
fail:
  dj_err_wrap(err, "%s", ref);
  dj_layout_writer_free(w);
  return -1;
}

int dj_layout_writer_blob_begin(struct dj_layout_writer *w, int *fd, dj_err *err)
{
  if (w->n_pending == MAX_PENDING)
    return dj_error(err, 0, "too many blobs being written");
  uint8_t rnd[8];
  RAND_bytes(rnd, sizeof rnd);
  char *name = w->pending_name[w->n_pending];
  snprintf(name, 32, ".tmp-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5],
           rnd[6], rnd[7]);
  int f = openat(w->blobfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (f < 0)
    return dj_error(err, errno, "%s/blobs/sha256/%s", w->dir, name);
  w->pending_fd[w->n_pending++] = f;
  *fd = f;
  return 0;
}

int dj_layout_writer_blob_commit(struct dj_layout_writer *w, int fd, const char *digest, dj_err *err)
{
  for (size_t i = 0; i < w->n_pending; i++) {
    if (w->pending_fd[i] != fd)
      continue;
    int r = renameat(w->blobfd, w->pending_name[i], w->blobfd, digest + 7);
    int e = errno;
    close(fd);
    if (r < 0)
      unlinkat(w->blobfd, w->pending_name[i], 0);
    w->pending_fd[i] = w->pending_fd[--w->n_pending];
    memcpy(w->pending_name[i], w->pending_name[w->n_pending], 32);
    if (r < 0)
      return dj_error(err, e, "blob %s", digest);
    return 0;
  }
  return dj_error(err, EBADF, "blob %s: not being written", digest);
}

void dj_layout_writer_blob_abort(struct dj_layout_writer *w, int fd)
{
  for (size_t i = 0; i < w->n_pending; i++) {
    if (w->pending_fd[i] != fd)
      continue;
    close(fd);
    unlinkat(w->blobfd, w->pending_name[i], 0);
    w->pending_fd[i] = w->pending_fd[--w->n_pending];
    memcpy(w->pending_name[i], w->pending_name[w->n_pending], 32);
    return;
  }
}

int dj_layout_writer_blob_buf(struct dj_layout_writer *w, const void *buf, size_t n, char digest[DJ_DIGEST_MAX],
                              dj_err *err)
{
  dj_sha256_digest(buf, n, digest);
  int fd;
  if (dj_layout_writer_blob_begin(w, &fd, err) < 0)
    return -1;
  if (dj_write_all(fd, buf, n) < 0) {
    dj_error(err, errno, "blob %s: write", digest);
    dj_layout_writer_blob_abort(w, fd);
    return -1;
  }
  return dj_layout_writer_blob_commit(w, fd, digest, err);
}

int dj_layout_writer_finish(struct dj_layout_writer *w, json_t *manifest, dj_err *err)
{
  _cleanup_free_ char *m = json_dumps(manifest, JSON_COMPACT);
  char digest[DJ_DIGEST_MAX];
  if (dj_layout_writer_blob_buf(w, m, strlen(m), digest, err) < 0)
    return -1;
  json_t *desc = json_pack("{s:s, s:s, s:I}", "mediaType", DJ_MT_MANIFEST, "digest", digest, "size",
                           (json_int_t) strlen(m));
  if (w->tag != NULL)
    json_object_set_new(desc, "annotations", json_pack("{s:s}", DJ_ANNOT_REF_NAME, w->tag));
  /* An existing index keeps its other entries; one with our tag (or, untagged, all) is replaced. */
  _cleanup_json_ json_t *index = NULL;
  dj_err ignored = { 0 };
  _cleanup_close_ int ifd = openat(w->dirfd, "index.json", O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (ifd >= 0 && dj_json_load_fd(ifd, DJ_IMAGE_JSON_MAX, &index, &ignored) < 0)
    index = NULL;
  json_t *manifests = json_object_get(index, "manifests");
  if (!json_is_array(manifests)) {
    json_decref(index);
    index = json_pack("{s:i, s:[]}", "schemaVersion", 2, "manifests");
    manifests = json_object_get(index, "manifests");
  }
  for (size_t i = json_array_size(manifests); i-- > 0;) {
    const char *name = json_string_value(
      json_object_get(json_object_get(json_array_get(manifests, i), "annotations"), DJ_ANNOT_REF_NAME));
    if (w->tag == NULL || (name != NULL && strcmp(name, w->tag) == 0))
      json_array_remove(manifests, i);
  }
  json_array_append_new(manifests, desc);
  _cleanup_free_ char *idx = json_dumps(index, JSON_COMPACT);
  if (write_small(w->dirfd, "index.json", idx, err) < 0)
    return -1;
  if (w->archive != NULL && dj_oci_archive_write(w->dir, w->archive, err) < 0)
    return -1;
  w->finished = true;
  return 0;
}

void dj_layout_writer_free(struct dj_layout_writer *w)
{
  if (w == NULL)
    return;
  for (size_t i = 0; i < w->n_pending; i++) {
    close(w->pending_fd[i]);
    unlinkat(w->blobfd, w->pending_name[i], 0);
  }
  if (w->blobfd >= 0)
    close(w->blobfd);
  if (w->dirfd >= 0)
    close(w->dirfd);
  if (w->created && (!w->finished || w->archive != NULL))
    dj_remove_tree(w->dir);
  free(w->dir);
  free(w->archive);
  free(w->tag);
  free(w);
}
