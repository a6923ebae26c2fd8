#include "common/safepath.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"

int dj_openat2(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve)
{
  struct open_how how = { .flags = (uint64_t) flags, .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
                          .resolve = resolve };
  int fd;
  do
    fd = (int) syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  while (fd < 0 && errno == EAGAIN);
  return fd;
}

int dj_open_in_root(int rootfd, const char *path, int flags, mode_t mode, dj_err *err)
{
  int fd = dj_openat2(rootfd, path, flags | O_CLOEXEC, mode, DJ_RESOLVE_ROOT_FLAGS);
  if (fd < 0)
    return dj_error(err, errno, "open %s inside the root", path);
  return fd;
}

const char *dj_path_next(const char **cursor, size_t *len)
{
  const char *p = *cursor;
  while (*p == '/')
    p++;
  if (*p == '\0') {
    *cursor = p;
    return NULL;
  }
  const char *e = strchrnul(p, '/');
  *len = (size_t) (e - p);
  *cursor = e;
  return p;
}

const char *dj_path_split(const char *path, char *parent, size_t parent_size)
{
  size_t len = strlen(path);
  while (len > 0 && path[len - 1] == '/')
    len--;
  size_t b = len;
  while (b > 0 && path[b - 1] != '/')
    b--;
  if (b == len)
    return NULL;
  size_t blen = len - b;
  if ((blen == 1 && path[b] == '.') || (blen == 2 && path[b] == '.' && path[b + 1] == '.'))
    return NULL;
  size_t plen = b;
  if (plen >= parent_size || len - b >= NAME_MAX + 1)
    return NULL;
  memcpy(parent, path, plen);
  parent[plen] = '\0';
  if (plen == 0)
    strcpy(parent, ".");
  return path + b;
}

static int mkdirs_in_root(int rootfd, const char *path, mode_t mode, int depth, dj_err *err);

/* comp, in the directory prefix_dir (inside the root), is a symlink to nowhere yet: make its target
 * (inside the root, like every resolution here), as runc does for /var/run -> /run. */
static int mkdirs_link_target(int rootfd, int dirfd, const char *comp, const char *prefix_dir, mode_t mode, int depth,
                              dj_err *err)
{
  char link[PATH_MAX], target[PATH_MAX * 2];
  ssize_t n = readlinkat(dirfd, comp, link, sizeof link - 1);
  if (n < 0)
    return dj_error(err, errno, "readlink %s/%s inside the root", prefix_dir, comp);
  link[n] = '\0';
  if (link[0] == '/')
    snprintf(target, sizeof target, "%s", link);
  else
    snprintf(target, sizeof target, "%s/%s", prefix_dir, link);
  int fd = mkdirs_in_root(rootfd, target, mode, depth + 1, err);
  if (fd < 0)
    return -1;
  close(fd);
  return 0;
}

static int mkdirs_in_root(int rootfd, const char *path, mode_t mode, int depth, dj_err *err)
{
  if (depth > 40)
    return dj_error(err, ELOOP, "mkdir %s inside the root", path);
  if (strlen(path) >= PATH_MAX)
    return dj_error(err, ENAMETOOLONG, "mkdir %s inside the root", path);
  char prefix[PATH_MAX];
  size_t plen = 0;
  _cleanup_close_ int cur = dj_openat2(rootfd, "/", O_PATH | O_DIRECTORY | O_CLOEXEC, 0, DJ_RESOLVE_ROOT_FLAGS);
  if (cur < 0)
    return dj_error(err, errno, "open the root");
  prefix[0] = '\0';
  const char *cursor = path, *p;
  size_t clen;
  while ((p = dj_path_next(&cursor, &clen)) != NULL) {
    if (clen > NAME_MAX)
      return dj_error(err, ENAMETOOLONG, "mkdir %s inside the root", path);
    char comp[NAME_MAX + 1];
    memcpy(comp, p, clen);
    comp[clen] = '\0';
    char parent_dir[PATH_MAX];
    memcpy(parent_dir, prefix, plen + 1);
    prefix[plen++] = '/';
    memcpy(prefix + plen, comp, clen);
    plen += clen;
    prefix[plen] = '\0';
    /* ".." and symlinks are resolved by openat2 below, which clamps them to the root. */
    if (strcmp(comp, ".") != 0 && strcmp(comp, "..") != 0 && mkdirat(cur, comp, mode) < 0 && errno != EEXIST)
      return dj_error(err, errno, "mkdir %s inside the root", prefix);
    int next = dj_openat2(rootfd, prefix, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, DJ_RESOLVE_ROOT_FLAGS);
    struct stat st;
    if (next < 0 && errno == ENOENT && fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) {
      if (mkdirs_link_target(rootfd, cur, comp, parent_dir, mode, depth, err) < 0)
        return -1;
      next = dj_openat2(rootfd, prefix, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, DJ_RESOLVE_ROOT_FLAGS);
    }
    if (next < 0)
      return dj_error(err, errno, "open %s inside the root", prefix);
    close(cur);
    cur = next;
  }
  return dj_steal_fd(&cur);
}

int dj_mkdirs_in_root(int rootfd, const char *path, mode_t mode, dj_err *err)
{
  /* Most targets exist already (an image's /proc, /dev...): one lookup instead of a walk. */
  int fd = dj_openat2(rootfd, path, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, DJ_RESOLVE_ROOT_FLAGS);
  if (fd >= 0)
    return fd;
  return mkdirs_in_root(rootfd, path, mode, 0, err);
}

int dj_mkfile_in_root(int rootfd, const char *path, mode_t mode, dj_err *err)
{
  char parent[PATH_MAX];
  const char *base = dj_path_split(path, parent, sizeof parent);
  if (base == NULL)
    return dj_error(err, EINVAL, "create file %s inside the root", path);
  _cleanup_close_ int dfd = dj_mkdirs_in_root(rootfd, parent, 0755, err);
  if (dfd < 0)
    return -1;
  int fd = openat(dfd, base, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd >= 0)
    close(fd);
  else if (errno != EEXIST)
    return dj_error(err, errno, "create file %s inside the root", path);
  fd = dj_openat2(rootfd, path, O_PATH | O_CLOEXEC, 0, DJ_RESOLVE_ROOT_FLAGS);
  if (fd < 0)
    return dj_error(err, errno, "open %s inside the root", path);
  struct stat st;
  if (fstat(fd, &st) < 0 || S_ISDIR(st.st_mode)) {
    close(fd);
    return dj_error(err, EISDIR, "%s inside the root", path);
  }
  return fd;
}
