#include "images/oci_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "images/tree.h"

static void archive_freep(struct archive **a)
{
  if (*a != NULL)
    archive_free(*a);
}
#define _cleanup_archive_ __attribute__((cleanup(archive_freep)))

static bool is_hex64(const char *s)
{
  if (strlen(s) != 64)
    return false;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
      return false;
  return true;
}

enum member { M_SKIP, M_DIR, M_FILE };

/* Which layout member an entry name is; everything else is skipped. */
static enum member classify(const char *name, bool isdir)
{
  while (name[0] == '.' && name[1] == '/')
    name += 2;
  size_t n = strlen(name);
  char buf[PATH_MAX];
  if (n == 0 || n >= sizeof buf)
    return M_SKIP;
  memcpy(buf, name, n + 1);
  while (n > 0 && buf[n - 1] == '/')
    buf[--n] = '\0';
  if (isdir)
    return strcmp(buf, "blobs") == 0 || strcmp(buf, "blobs/sha256") == 0 ? M_DIR : M_SKIP;
  if (strcmp(buf, "oci-layout") == 0 || strcmp(buf, "index.json") == 0)
    return M_FILE;
  if (strncmp(buf, "blobs/sha256/", 13) == 0 && is_hex64(buf + 13))
    return M_FILE;
  return M_SKIP;
}

static int extract_entry(struct archive *a, int dirfd, const char *name, uint64_t *left, dj_err *err)
{
  while (name[0] == '.' && name[1] == '/')
    name += 2;
  if (strncmp(name, "blobs/", 6) == 0) {
    mkdirat(dirfd, "blobs", 0700);
    mkdirat(dirfd, "blobs/sha256", 0700);
  }
  _cleanup_close_ int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return dj_error(err, errno, "%s", name);
  char buf[1 << 16];
  for (;;) {
    la_ssize_t n = archive_read_data(a, buf, sizeof buf);
    if (n < 0)
      return dj_error(err, 0, "%s: %s", name, archive_error_string(a));
    if (n == 0)
      break;
    if ((uint64_t) n > *left)
      return dj_error(err, 0, "%s: the archive expands to more than %d times its size (a decompression bomb?)", name,
                      DJ_OCI_ARCHIVE_MAX_RATIO);
    *left -= (uint64_t) n;
    if (dj_write_all(fd, buf, (size_t) n) < 0)
      return dj_error(err, errno, "%s: write", name);
  }
  return 0;
}

int dj_oci_archive_extract(const char *file, char **tmpdir, dj_err *err)
{
  const char *base = getenv("TMPDIR");
  char *dir = dj_xasprintf("%s/donjon-oci-XXXXXX", base && *base ? base : "/var/tmp");
  if (mkdtemp(dir) == NULL) {
    dj_error(err, errno, "%s: create a temporary directory", dir);
    free(dir);
    return -1;
  }
  _cleanup_close_ int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  _cleanup_archive_ struct archive *a = archive_read_new();
  archive_read_support_format_tar(a);
  archive_read_support_filter_gzip(a);
  archive_read_support_filter_zstd(a);
  archive_read_support_filter_none(a);
  int r = -1;
  size_t count = 0;
  struct stat st;
  uint64_t left = 0;
  if (dirfd < 0) {
    dj_error(err, errno, "%s", dir);
    goto out;
  }
  if (stat(file, &st) < 0) {
    dj_error(err, errno, "%s", file);
    goto out;
  }
  left = (uint64_t) st.st_size * DJ_OCI_ARCHIVE_MAX_RATIO;
  if (left < DJ_OCI_ARCHIVE_MIN_BOUND)
    left = DJ_OCI_ARCHIVE_MIN_BOUND;
  if (left > DJ_OCI_ARCHIVE_MAX_BYTES)
    left = DJ_OCI_ARCHIVE_MAX_BYTES;
  if (archive_read_open_filename(a, file, 1 << 16) != ARCHIVE_OK) {
    dj_error(err, archive_errno(a) > 0 ? archive_errno(a) : 0, "%s: %s", file, archive_error_string(a));
    goto out;
  }
  for (;;) {
    struct archive_entry *e;
    int s = archive_read_next_header(a, &e);
    if (s == ARCHIVE_EOF)
      break;
    if (s < ARCHIVE_WARN) {
      dj_error(err, 0, "%s: %s", file, archive_error_string(a));
      goto out;
    }
    if (++count > DJ_OCI_ARCHIVE_MAX_ENTRIES) {
      dj_error(err, 0, "%s: more than %d entries", file, DJ_OCI_ARCHIVE_MAX_ENTRIES);
      goto out;
    }
    const char *name = archive_entry_pathname(e);
    mode_t type = archive_entry_filetype(e);
    if (name == NULL)
      continue;
    enum member m = classify(name, type == AE_IFDIR);
    if (m == M_SKIP)
      continue;
    if (m == M_DIR)
      continue; /* created as needed, with our own modes */
    if (type != AE_IFREG || archive_entry_hardlink(e) != NULL) {
      dj_error(err, 0, "%s: %s: not a regular file", file, name);
      goto out;
    }
    if (extract_entry(a, dirfd, name, &left, err) < 0) {
      dj_err_wrap(err, "%s", file);
      goto out;
    }
  }
  r = 0;
out:
  if (r < 0) {
    dj_remove_tree(dir);
    free(dir);
  } else {
    *tmpdir = dir;
  }
  return r;
}

static int add_file(struct archive *a, int dirfd, const char *name, dj_err *err)
{
  _cleanup_close_ int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0)
    return dj_error(err, errno, "%s", name);
  struct archive_entry *e = archive_entry_new();
  archive_entry_set_pathname(e, name);
  archive_entry_set_filetype(e, S_ISDIR(st.st_mode) ? AE_IFDIR : AE_IFREG);
  archive_entry_set_perm(e, S_ISDIR(st.st_mode) ? 0755 : 0644);
  archive_entry_set_size(e, S_ISDIR(st.st_mode) ? 0 : st.st_size);
  archive_entry_set_mtime(e, st.st_mtime, 0);
  int r = archive_write_header(a, e);
  archive_entry_free(e);
  if (r != ARCHIVE_OK)
    return dj_error(err, 0, "%s: %s", name, archive_error_string(a));
  if (S_ISDIR(st.st_mode))
    return 0;
  char buf[1 << 16];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return dj_error(err, errno, "%s: read", name);
    if (n == 0)
      break;
    if (archive_write_data(a, buf, (size_t) n) != n)
      return dj_error(err, 0, "%s: %s", name, archive_error_string(a));
  }
  return 0;
}

int dj_oci_archive_write(const char *dir, const char *file, dj_err *err)
{
  _cleanup_close_ int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dirfd < 0)
    return dj_error(err, errno, "%s", dir);
  _cleanup_free_ char *tmp = dj_xasprintf("%s.tmp-XXXXXX", file);
  int fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0)
    return dj_error(err, errno, "%s: create", tmp);
  _cleanup_archive_ struct archive *a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  int r = -1;
  if (archive_write_open_fd(a, fd) != ARCHIVE_OK) {
    dj_error(err, 0, "%s: %s", file, archive_error_string(a));
    goto out;
  }
  if (add_file(a, dirfd, "oci-layout", err) < 0 || add_file(a, dirfd, "index.json", err) < 0 ||
      add_file(a, dirfd, "blobs", err) < 0 || add_file(a, dirfd, "blobs/sha256", err) < 0)
    goto out;
  {
    int bfd = openat(dirfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = bfd >= 0 ? fdopendir(bfd) : NULL;
    if (d == NULL) {
      if (bfd >= 0)
        close(bfd);
      dj_error(err, errno, "%s/blobs/sha256", dir);
      goto out;
    }
    struct dirent *de;
    int ok = 0;
    while (ok == 0 && (de = readdir(d)) != NULL) {
      if (de->d_name[0] == '.')
        continue;
      char name[PATH_MAX];
      snprintf(name, sizeof name, "blobs/sha256/%s", de->d_name);
      ok = add_file(a, dirfd, name, err);
    }
    closedir(d);
    if (ok < 0)
      goto out;
  }
  if (archive_write_close(a) != ARCHIVE_OK) {
    dj_error(err, 0, "%s: %s", file, archive_error_string(a));
    goto out;
  }
  if (rename(tmp, file) < 0) {
    dj_error(err, errno, "%s: rename into place", file);
    goto out;
  }
  r = 0;
out:
  close(fd);
  if (r < 0) {
    unlink(tmp);
    dj_err_wrap(err, "write oci-archive %s", file);
  }
  return r;
}
