/* The container's root filesystem: propagation, the root bind, config mounts, /dev, the console,
 * masked and read-only paths, pivot_root and root.readonly, in that order.
 *
 * Everything here happens in the container init's own mount namespace: a failure leaves mounts
 * only there, and the namespace dies with the process, so nothing is unmounted on error. */
#include "sandbox/rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/magic.h>

#include "common/safepath.h"
#include "common/util.h"
#include "sandbox/mounts.h"

/* bundle-relative or absolute, as root.path and bind sources are given. */
static void bundle_path(const struct dj_rootfs_opts *opts, const char *p, char *out, size_t size)
{
  if (p[0] == '/' || opts->bundle == NULL)
    snprintf(out, size, "%s", p);
  else
    snprintf(out, size, "%s/%s", opts->bundle, p);
}

static bool spec_has_namespace(const struct dj_spec *spec, int type)
{
  for (size_t i = 0; i < spec->n_namespaces; i++)
    if (spec->namespaces[i].type == type)
      return true;
  return false;
}

/* A shared parent would make pivot_root fail (and propagate our mounts out): make the mount that
 * holds the root's mountpoint private, found as the nearest ancestor that is a mount root. */
static int make_parent_private(const char *root, dj_err *err)
{
  char dir[PATH_MAX];
  if (realpath(root, dir) == NULL)
    return dj_error(err, errno, "realpath %s", root);
  struct mount_attr attr = { .propagation = MS_PRIVATE };
  for (;;) {
    char *slash = strrchr(dir, '/');
    if (slash == dir)
      dir[1] = '\0';
    else
      *slash = '\0';
    if (dj_sys_mount_setattr(AT_FDCWD, dir, 0, &attr) == 0)
      return 0;
    if (errno != EINVAL || strcmp(dir, "/") == 0)
      return dj_error(err, errno, "make the mount holding %s private", root);
  }
}

int *dj_rootfs_sources_open(const struct dj_spec *spec, const char *bundle, dj_err *err)
{
  const struct dj_rootfs_opts o = { .bundle = bundle };
  int *fds = dj_xmalloc((spec->n_mounts + 1) * sizeof *fds);
  char path[PATH_MAX];
  bundle_path(&o, spec->root_path != NULL ? spec->root_path : "rootfs", path, sizeof path);
  fds[0] = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fds[0] < 0) {
    dj_error(err, errno, "root.path %s", path);
    free(fds);
    return NULL;
  }
  for (size_t i = 0; i < spec->n_mounts; i++) {
    const struct dj_mount *m = &spec->mounts[i];
    fds[1 + i] = -1;
    if (!m->bind || m->source == NULL)
      continue;
    bundle_path(&o, m->source, path, sizeof path);
    /* a source that cannot be opened now is reported by the mount, with its name, as before */
    fds[1 + i] = open(path, O_PATH | O_CLOEXEC);
  }
  return fds;
}

void dj_rootfs_sources_close(const struct dj_spec *spec, int *sources)
{
  if (sources == NULL)
    return;
  for (size_t i = 0; i < spec->n_mounts + 1; i++)
    if (sources[i] >= 0)
      close(sources[i]);
  free(sources);
}

/* root.path bound onto itself (pivot_root needs a mount point); its fd is the root of every later
 * resolution. */
static int root_open(const struct dj_spec *spec, const struct dj_rootfs_opts *opts, dj_err *err)
{
  char root[PATH_MAX];
  bundle_path(opts, spec->root_path != NULL ? spec->root_path : "rootfs", root, sizeof root);
  /* Before the bind, so that the root mount is not cloned into a shared peer group. */
  if ((spec->rootfs_propagation & MS_SHARED) && make_parent_private(root, err) < 0)
    return dj_err_wrap(err, "linux.rootfsPropagation");
  int at = opts->sources != NULL ? opts->sources[0] : AT_FDCWD;
  const char *rel = opts->sources != NULL ? "" : root;
  unsigned empty = opts->sources != NULL ? AT_EMPTY_PATH : 0;
  _cleanup_close_ int tree = dj_sys_open_tree(at, rel, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | empty);
  if (tree < 0)
    return dj_error(err, errno, "root.path %s: open_tree", root);
  struct stat st;
  if (fstat(tree, &st) < 0 || !S_ISDIR(st.st_mode))
    return dj_error(err, ENOTDIR, "root.path %s", root);
  if (dj_sys_move_mount(tree, "", at, rel, MOVE_MOUNT_F_EMPTY_PATH | (empty ? MOVE_MOUNT_T_EMPTY_PATH : 0)) < 0)
    return dj_error(err, errno, "root.path %s: bind it onto itself", root);
  return dj_steal_fd(&tree);
}

/* /dev/null as donjon sees it before pivoting, checked through the fd to be the 1:3 character
 * device: the source of every masking bind, so an image's /dev/null symlink changes nothing
 * (CVE-2025-31133). */
static int devnull_open(dj_err *err)
{
  _cleanup_close_ int fd = open("/dev/null", O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return dj_error(err, errno, "maskedPaths: open the host's /dev/null");
  struct stat st;
  if (fstat(fd, &st) < 0)
    return dj_error(err, errno, "maskedPaths: stat the host's /dev/null");
  if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3))
    return dj_error(err, 0, "maskedPaths: the host's /dev/null is not the character device 1:3");
  return dj_steal_fd(&fd);
}

/* Where a config mount may land: never over the root itself, and on procfs only where runc allows
 * (LXCFS-style files), since an over-mounted /proc file can lie to or redirect the runtime. */
static int check_target(const struct dj_mount *m, int rootfd, int target, const char *what, dj_err *err)
{
  static const char *const proc_allowed[] = { "/proc/cpuinfo", "/proc/diskstats", "/proc/meminfo", "/proc/stat",
                                              "/proc/swaps", "/proc/uptime", "/proc/loadavg", "/proc/slabinfo",
                                              "/proc/net/dev", "/proc/sys/kernel/ns_last_pid" };
  struct stat a, b;
  if (fstat(rootfd, &a) < 0 || fstat(target, &b) < 0)
    return dj_error(err, errno, "%s: stat the destination", what);
  if (a.st_dev == b.st_dev && a.st_ino == b.st_ino)
    return dj_error(err, EINVAL, "%s: the destination is the container's root", what);
  struct statfs sfs;
  if (fstatfs(target, &sfs) < 0)
    return dj_error(err, errno, "%s: statfs the destination", what);
  if (sfs.f_type != PROC_SUPER_MAGIC || (!m->bind && m->type != NULL && strcmp(m->type, "proc") == 0))
    return 0;
  for (size_t i = 0; i < DJ_ARRAY_SIZE(proc_allowed); i++)
    if (strcmp(m->destination, proc_allowed[i]) == 0)
      return 0;
  return dj_error(err, EPERM, "%s: mounting over procfs is only allowed on /proc/cpuinfo, /proc/meminfo and "
                  "the other LXCFS files", what);
}

static int mount_bind(const struct dj_mount *m, int rootfd, const struct dj_rootfs_opts *opts, int prepared,
                      const char *what, dj_err *err)
{
  if (m->source == NULL)
    return dj_error(err, EINVAL, "%s: a bind mount needs a source", what);
  char src[PATH_MAX];
  bundle_path(opts, m->source, src, sizeof src);
  _cleanup_close_ int srcfd = prepared >= 0 ? fcntl(prepared, F_DUPFD_CLOEXEC, 3) : open(src, O_PATH | O_CLOEXEC);
  struct stat st;
  if (srcfd < 0 || fstat(srcfd, &st) < 0)
    return dj_error(err, errno, "%s: open the source %s", what, src);
  _cleanup_close_ int target = S_ISDIR(st.st_mode) ? dj_mkdirs_in_root(rootfd, m->destination, 0755, err)
                                                    : dj_mkfile_in_root(rootfd, m->destination, 0644, err);
  if (target < 0)
    return dj_err_wrap(err, "%s", what);
  if (check_target(m, rootfd, target, what, err) < 0)
    return -1;
  struct mount_attr attr = { 0 };
  dj_mount_attr_from_flags(m->flags, m->clear_flags, &attr);
  return dj_bind_fd(srcfd, m->recursive, &attr, target, m->propagation, what, err);
}

static int mount_fs(const struct dj_spec *spec, const struct dj_mount *m, int rootfd,
                    const struct dj_rootfs_opts *opts, const char *what, dj_err *err)
{
  _cleanup_close_ int target = dj_mkdirs_in_root(rootfd, m->destination, 0755, err);
  if (target < 0)
    return dj_err_wrap(err, "%s", what);
  if (check_target(m, rootfd, target, what, err) < 0)
    return -1;
  struct mount_attr attr = { 0 };
  dj_mount_attr_from_flags(m->flags, m->clear_flags, &attr);
  unsigned set = (unsigned) attr.attr_set;
  if (strcmp(m->type, "cgroup") == 0)
    return dj_mount_cgroup(spec, m->destination, target, set, err);
  if (strcmp(m->type, "sysfs") == 0 && opts->userns && !spec_has_namespace(spec, CLONE_NEWNET)) {
    /* sysfs belongs to the network namespace's owner: bind the host's, read-only (as runc). */
    _cleanup_close_ int sys = open("/sys", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (sys < 0)
      return dj_error(err, errno, "%s: open the host's /sys", what);
    attr.attr_set |= MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    attr.attr_clr &= ~(uint64_t) MOUNT_ATTR_RDONLY;
    return dj_bind_fd(sys, true, &attr, target, m->propagation, what, err);
  }
  _cleanup_close_ int mfd = dj_fs_detached(what, m->type, m->source, m->data, set, err);
  if (mfd < 0)
    return -1;
  return dj_mount_attach(mfd, target, m->propagation, what, err);
}

static int mount_one(const struct dj_spec *spec, size_t i, int rootfd, const struct dj_rootfs_opts *opts,
                     dj_err *err)
{
  const struct dj_mount *m = &spec->mounts[i];
  char what[PATH_MAX + 64];
  snprintf(what, sizeof what, "mount %s on %s", m->bind ? "bind" : (m->type ? m->type : "?"),
           m->destination ? m->destination : "?");
  if (m->destination == NULL || m->destination[0] != '/')
    return dj_error(err, EINVAL, "%s: the destination must be an absolute path", what);
  if (m->bind)
    return mount_bind(m, rootfd, opts, opts->sources != NULL ? opts->sources[1 + i] : -1, what, err);
  if (m->type == NULL)
    return dj_error(err, EINVAL, "%s: no type", what);
  return mount_fs(spec, m, rootfd, opts, what, err);
}

static bool dev_is_bound(const struct dj_spec *spec)
{
  for (size_t i = 0; i < spec->n_mounts; i++) {
    const char *d = spec->mounts[i].destination;
    if (spec->mounts[i].bind && d != NULL && strncmp(d, "/dev", 4) == 0 && strspn(d + 4, "/") == strlen(d + 4))
      return true;
  }
  return false;
}

/* maskedPaths: a directory gets an empty read-only tmpfs, anything else the host's /dev/null. */
static int mask_paths(const struct dj_spec *spec, int rootfd, int nullfd, dj_err *err)
{
  for (size_t i = 0; i < spec->n_masked_paths; i++) {
    const char *p = spec->masked_paths[i];
    char what[PATH_MAX + 32];
    snprintf(what, sizeof what, "maskedPaths: %s", p);
    _cleanup_close_ int fd = dj_openat2(rootfd, p, O_PATH | O_CLOEXEC, 0, DJ_RESOLVE_ROOT_FLAGS);
    if (fd < 0 && errno == ENOENT)
      continue;
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
      return dj_error(err, errno, "%s", what);
    if (S_ISDIR(st.st_mode)) {
      _cleanup_close_ int mfd = dj_fs_detached(what, "tmpfs", "tmpfs", NULL,
                                               MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                               MOUNT_ATTR_NOEXEC, err);
      if (mfd < 0 || dj_mount_attach(mfd, fd, 0, what, err) < 0)
        return -1;
    } else if (dj_bind_fd(nullfd, false, NULL, fd, 0, what, err) < 0) {
      return -1;
    }
  }
  return 0;
}

/* readonlyPaths: bound over themselves, recursively read-only, nosuid, nodev, noexec (as runc). */
static int readonly_paths(const struct dj_spec *spec, int rootfd, dj_err *err)
{
  for (size_t i = 0; i < spec->n_readonly_paths; i++) {
    const char *p = spec->readonly_paths[i];
    char what[PATH_MAX + 32];
    snprintf(what, sizeof what, "readonlyPaths: %s", p);
    _cleanup_close_ int fd = dj_openat2(rootfd, p, O_PATH | O_CLOEXEC, 0, DJ_RESOLVE_ROOT_FLAGS);
    if (fd < 0 && errno == ENOENT)
      continue;
    if (fd < 0)
      return dj_error(err, errno, "%s", what);
    struct mount_attr attr = {
      .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC };
    if (dj_bind_fd(fd, true, &attr, fd, 0, what, err) < 0)
      return -1;
  }
  return 0;
}

/* mountinfo escapes blanks and backslashes in paths as \ooo. */
static void mountinfo_unescape(char *s)
{
  char *o = s;
  for (const char *i = s; *i != '\0'; o++) {
    if (i[0] == '\\' && i[1] >= '0' && i[1] <= '3' && i[2] >= '0' && i[2] <= '7' && i[3] >= '0' && i[3] <= '7') {
      *o = (char) (((i[1] - '0') << 6) | ((i[2] - '0') << 3) | (i[3] - '0'));
      i += 4;
    } else {
      *o = *i++;
    }
  }
  *o = '\0';
}

static int by_length_desc(const void *a, const void *b)
{
  size_t la = strlen(*(char *const *) a), lb = strlen(*(char *const *) b);
  return la < lb ? 1 : la > lb ? -1 : 0;
}

/* Without pivot_root the host's mounts stay in our namespace beneath the chroot: detach every one
 * that neither holds nor lies inside the root (as runc does); cover those the kernel keeps locked. */
static int detach_outside_root(int rootfd, dj_err *err)
{
  char link[64], root[PATH_MAX];
  snprintf(link, sizeof link, "/proc/self/fd/%d", rootfd);
  ssize_t n = readlink(link, root, sizeof root - 1);
  if (n < 0)
    return dj_error(err, errno, "no_pivot: find the root's path");
  root[n] = '\0';
  size_t rlen = (size_t) n;
  _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
  if (f == NULL)
    return dj_error(err, errno, "no_pivot: read /proc/self/mountinfo");
  _cleanup_strv_ char **mps = NULL;
  size_t count = 0;
  char line[PATH_MAX * 2], mp[PATH_MAX];
  while (fgets(line, sizeof line, f) != NULL) {
    if (sscanf(line, "%*s %*s %*s %*s %4095s", mp) != 1)
      continue;
    mountinfo_unescape(mp);
    mps = dj_xrealloc(mps, (count + 2) * sizeof *mps);
    mps[count++] = dj_xstrdup(mp);
    mps[count] = NULL;
  }
  if (count == 0)
    return 0;
  qsort(mps, count, sizeof *mps, by_length_desc);
  for (size_t i = 0; i < count; i++) {
    const char *m = mps[i];
    size_t l = strlen(m);
    bool inside = strncmp(m, root, rlen) == 0 && (m[rlen] == '\0' || m[rlen] == '/');
    bool holds = strcmp(m, "/") == 0 || (strncmp(root, m, l) == 0 && root[l] == '/');
    if (inside || holds || umount2(m, MNT_DETACH | UMOUNT_NOFOLLOW) == 0 || errno == ENOENT)
      continue;
    struct stat st;
    if (stat(m, &st) < 0 || !S_ISDIR(st.st_mode))
      continue; /* gone with its parent, or a file no path from the chroot reaches */
    char what[PATH_MAX + 32];
    snprintf(what, sizeof what, "no_pivot: cover %s", m);
    _cleanup_close_ int cover = dj_fs_detached(what, "tmpfs", "tmpfs", NULL, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
                                               MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err);
    if (cover < 0)
      return -1;
    if (dj_sys_move_mount(cover, "", AT_FDCWD, m, MOVE_MOUNT_F_EMPTY_PATH) < 0)
      return dj_error(err, errno, "%s", what);
  }
  return 0;
}

/* Enter the root: pivot_root and detach the old root, or (no_pivot) move it onto / and chroot. */
static int enter_root(int rootfd, bool no_pivot, dj_err *err)
{
  if (fchdir(rootfd) < 0)
    return dj_error(err, errno, "enter the root: fchdir");
  if (no_pivot) {
    if (detach_outside_root(rootfd, err) < 0)
      return -1;
    if (dj_sys_move_mount(rootfd, "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) < 0)
      return dj_error(err, errno, "enter the root: move it onto /");
    if (chroot(".") < 0)
      return dj_error(err, errno, "enter the root: chroot");
  } else {
    _cleanup_close_ int oldroot = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (oldroot < 0)
      return dj_error(err, errno, "enter the root: open the old root");
    if (syscall(SYS_pivot_root, ".", ".") < 0)
      return dj_error(err, errno, "enter the root: pivot_root");
    /* Detaching the old root must not propagate to the host, whatever rootfsPropagation said. */
    struct mount_attr slave = { .propagation = MS_SLAVE };
    if (dj_sys_mount_setattr(oldroot, "", AT_EMPTY_PATH | AT_RECURSIVE, &slave) < 0)
      return dj_error(err, errno, "enter the root: make the old root a slave");
    if (umount2(".", MNT_DETACH) < 0)
      return dj_error(err, errno, "enter the root: detach the old root");
  }
  if (chdir("/") < 0)
    return dj_error(err, errno, "enter the root: chdir /");
  return 0;
}

int dj_rootfs_setup(const struct dj_spec *spec, const struct dj_rootfs_opts *opts, dj_err *err)
{
  /* Nothing of ours propagates back to the host: "/" recursively slave unless the config says. */
  unsigned long prop = spec->rootfs_propagation != 0 ? spec->rootfs_propagation : (MS_SLAVE | MS_REC);
  struct mount_attr pattr = { .propagation = prop & ~(unsigned long) MS_REC };
  if (dj_sys_mount_setattr(AT_FDCWD, "/", (prop & MS_REC) ? AT_RECURSIVE : 0, &pattr) < 0)
    return dj_error(err, errno, "make / %s (linux.rootfsPropagation)",
                    (prop & MS_SHARED) ? "shared" : (prop & MS_PRIVATE) ? "private" :
                    (prop & MS_UNBINDABLE) ? "unbindable" : "slave");

  _cleanup_close_ int nullfd = devnull_open(err);
  if (nullfd < 0)
    return -1;
  _cleanup_close_ int rootfd = root_open(spec, opts, err);
  if (rootfd < 0)
    return -1;
  bool cgroups_ready = opts->before_cgroup_mount == NULL;
  for (size_t i = 0; i < spec->n_mounts; i++) {
    const char *type = spec->mounts[i].type;
    if (!cgroups_ready && type != NULL && (strcmp(type, "cgroup") == 0 || strcmp(type, "cgroup2") == 0)) {
      if (opts->before_cgroup_mount(opts->arg, err) < 0)
        return -1;
      cgroups_ready = true;
    }
    if (mount_one(spec, i, rootfd, opts, err) < 0)
      return dj_err_wrap(err, "mounts[%zu]", i);
  }
  if (!dev_is_bound(spec) && dj_devices_setup(spec, rootfd, opts->userns, err) < 0)
    return dj_err_wrap(err, "/dev");
  int console = opts->console_fd;
  if (console < 0 && opts->make_console != NULL && (console = opts->make_console(opts->arg, rootfd, err)) < 0)
    return -1;
  if (console >= 0 && dj_console_bind(rootfd, console, err) < 0)
    return -1;
  /* After the mounts: masked and read-only paths usually live in the container's /proc and /sys. */
  if (mask_paths(spec, rootfd, nullfd, err) < 0 || readonly_paths(spec, rootfd, err) < 0)
    return -1;
  if (opts->before_pivot != NULL && opts->before_pivot(opts->arg, err) < 0)
    return -1;
  if (enter_root(rootfd, opts->no_pivot, err) < 0)
    return -1;
  /* pivot_root refuses a shared new root: a shared root is made so only once inside it. */
  if ((spec->rootfs_propagation & MS_SHARED) &&
      dj_mount_propagate(rootfd, spec->rootfs_propagation, "linux.rootfsPropagation: make / shared", err) < 0)
    return -1;
  if (spec->root_readonly) {
    /* Only the root mount itself, as runc remounts it: /dev, /proc, tmpfs mounts keep theirs. */
    struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
    if (dj_sys_mount_setattr(rootfd, "", AT_EMPTY_PATH, &ro) < 0)
      return dj_error(err, errno, "root.readonly: make / read-only");
  }
  return 0;
}
