/* /dev inside the container: device nodes, the standard symlinks, /dev/ptmx and /dev/console. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/safepath.h"
#include "common/util.h"
#include "sandbox/mounts.h"

/* The devices every container gets (runtime-spec "Default Devices"). */
static const struct dj_device default_devices[] = {
  { .path = "/dev/null", .type = 'c', .major = 1, .minor = 3 },
  { .path = "/dev/zero", .type = 'c', .major = 1, .minor = 5 },
  { .path = "/dev/full", .type = 'c', .major = 1, .minor = 7 },
  { .path = "/dev/random", .type = 'c', .major = 1, .minor = 8 },
  { .path = "/dev/urandom", .type = 'c', .major = 1, .minor = 9 },
  { .path = "/dev/tty", .type = 'c', .major = 5, .minor = 0 },
};

/* Remove whatever the image has at parentfd/base (a symlink, an old node), refusing a directory. */
static int clear_entry(int parentfd, const char *base, const char *path, dj_err *err)
{
  struct stat st;
  if (fstatat(parentfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : dj_error(err, errno, "stat %s", path);
  if (S_ISDIR(st.st_mode))
    return dj_error(err, EISDIR, "%s", path);
  if (unlinkat(parentfd, base, 0) < 0)
    return dj_error(err, errno, "remove the image's %s", path);
  return 0;
}

/* An empty regular file at parentfd/base to bind a node over; returns its O_PATH fd. */
static int bind_target(int parentfd, const char *base, const char *path, dj_err *err)
{
  struct stat st;
  if (fstatat(parentfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode)) {
    if (clear_entry(parentfd, base, path, err) < 0)
      return -1;
    int fd = openat(parentfd, base, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
      return dj_error(err, errno, "create %s", path);
    close(fd);
  }
  int fd = openat(parentfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return dj_error(err, errno, "open %s", path);
  return fd;
}

static mode_t node_type(char type)
{
  switch (type) {
  case 'b': return S_IFBLK;
  case 'p': return S_IFIFO;
  default: return S_IFCHR; /* 'c' and 'u' */
  }
}

/* In a user namespace mknod is not allowed: bind the host's node, after checking through the fd
 * that it is the device the config names. */
static int bind_host_node(const struct dj_device *d, int parentfd, const char *base, dj_err *err)
{
  _cleanup_close_ int src = open(d->path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (src < 0)
    return dj_error(err, errno, "device %s: open the host's %s", d->path, d->path);
  struct stat st;
  if (fstat(src, &st) < 0)
    return dj_error(err, errno, "device %s: stat the host's node", d->path);
  if ((st.st_mode & S_IFMT) != node_type(d->type) ||
      st.st_rdev != makedev((unsigned) d->major, (unsigned) d->minor))
    return dj_error(err, 0, "device %s: the host's %s is not device %c %lld:%lld", d->path, d->path, d->type,
                    (long long) d->major, (long long) d->minor);
  _cleanup_close_ int target = bind_target(parentfd, base, d->path, err);
  if (target < 0)
    return -1;
  char what[PATH_MAX + 32];
  snprintf(what, sizeof what, "bind device %s", d->path);
  return dj_bind_fd(src, false, NULL, target, 0, what, err);
}

static int make_node(const struct dj_device *d, int rootfd, bool userns, dj_err *err)
{
  char parent[PATH_MAX];
  const char *base = dj_path_split(d->path, parent, sizeof parent);
  if (base == NULL)
    return dj_error(err, EINVAL, "device %s: not a file path", d->path);
  _cleanup_close_ int parentfd = dj_mkdirs_in_root(rootfd, parent, 0755, err);
  if (parentfd < 0)
    return dj_err_wrap(err, "device %s", d->path);
  if (userns && d->type != 'p')
    return bind_host_node(d, parentfd, base, err);
  if (clear_entry(parentfd, base, d->path, err) < 0)
    return dj_err_wrap(err, "device");
  mode_t perm = d->has_file_mode ? (d->file_mode & 07777) : 0666;
  dev_t dev = d->type == 'p' ? 0 : makedev((unsigned) d->major, (unsigned) d->minor);
  if (mknodat(parentfd, base, node_type(d->type) | perm, dev) < 0)
    return dj_error(err, errno, "device %s: mknod", d->path);
  /* mknod applied the umask; the config's mode is the mode. */
  if (fchmodat(parentfd, base, perm, 0) < 0)
    return dj_error(err, errno, "device %s: chmod %o", d->path, (unsigned) perm);
  if (fchownat(parentfd, base, d->has_uid ? d->uid : 0, d->has_gid ? d->gid : 0, AT_SYMLINK_NOFOLLOW) < 0)
    return dj_error(err, errno, "device %s: chown", d->path);
  return 0;
}

int dj_devices_setup(const struct dj_spec *spec, int rootfd, bool userns, dj_err *err)
{
  for (size_t i = 0; i < DJ_ARRAY_SIZE(default_devices); i++) {
    bool overridden = false;
    for (size_t j = 0; j < spec->n_devices && !overridden; j++)
      overridden = strcmp(spec->devices[j].path, default_devices[i].path) == 0;
    if (!overridden && make_node(&default_devices[i], rootfd, userns, err) < 0)
      return -1;
  }
  for (size_t i = 0; i < spec->n_devices; i++)
    if (make_node(&spec->devices[i], rootfd, userns, err) < 0)
      return -1;

  static const struct { const char *name, *target; } links[] = {
    { "fd", "/proc/self/fd" }, { "stdin", "/proc/self/fd/0" }, { "stdout", "/proc/self/fd/1" },
    { "stderr", "/proc/self/fd/2" }, { "ptmx", "pts/ptmx" },
  };
  _cleanup_close_ int devfd = dj_mkdirs_in_root(rootfd, "/dev", 0755, err);
  if (devfd < 0)
    return dj_err_wrap(err, "/dev");
  for (size_t i = 0; i < DJ_ARRAY_SIZE(links); i++) {
    char path[64];
    snprintf(path, sizeof path, "/dev/%s", links[i].name);
    /* /dev/ptmx must reach the container's own devpts instance, whatever the image has there. */
    if (strcmp(links[i].name, "ptmx") == 0 && clear_entry(devfd, links[i].name, path, err) < 0)
      return -1;
    if (symlinkat(links[i].target, devfd, links[i].name) < 0 && errno != EEXIST)
      return dj_error(err, errno, "symlink %s -> %s", path, links[i].target);
  }
  return 0;
}

int dj_console_bind(int rootfd, int console_fd, dj_err *err)
{
  struct stat st;
  if (fstat(console_fd, &st) < 0)
    return dj_error(err, errno, "/dev/console: stat the console fd %d", console_fd);
  if (!S_ISCHR(st.st_mode) || major(st.st_rdev) < 136 || major(st.st_rdev) > 143)
    return dj_error(err, 0, "/dev/console: fd %d is not a pty slave (device %u:%u)", console_fd,
                    major(st.st_rdev), minor(st.st_rdev));
  _cleanup_close_ int devfd = dj_mkdirs_in_root(rootfd, "/dev", 0755, err);
  if (devfd < 0)
    return dj_err_wrap(err, "/dev/console");
  _cleanup_close_ int target = bind_target(devfd, "console", "/dev/console", err);
  if (target < 0)
    return -1;
  /* The source is the fd itself, never a path in the container (CVE-2025-52565). */
  _cleanup_close_ int src = dup(console_fd);
  if (src < 0)
    return dj_error(err, errno, "/dev/console: dup");
  int tree = dj_sys_open_tree(src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
  if (tree < 0 && errno == EINVAL) {
    /* The pty was opened before our mount namespace was copied, so its mount is the host
     * namespace's: take the same inode through our copy of that mount, checked by identity. */
    char link[64], path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", console_fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0)
      return dj_error(err, errno, "/dev/console: readlink %s", link);
    path[n] = '\0';
    close(src);
    src = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    struct stat st2;
    if (src < 0 || fstat(src, &st2) < 0)
      return dj_error(err, errno, "/dev/console: open %s", path);
    if (st2.st_dev != st.st_dev || st2.st_ino != st.st_ino || st2.st_rdev != st.st_rdev)
      return dj_error(err, 0, "/dev/console: %s is not the console fd's pty", path);
    tree = dj_sys_open_tree(src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
  }
  if (tree < 0)
    return dj_error(err, errno, "/dev/console: open_tree of the pty");
  _cleanup_close_ int treefd = tree;
  return dj_mount_attach(treefd, target, 0, "bind the pty on /dev/console", err);
}
