/* Mounts made by file descriptor: the new mount API through syscall(2), and the "cgroup" mount. */
#include "sandbox/mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/magic.h>

#include "common/util.h"

int dj_sys_fsopen(const char *fstype, unsigned flags)
{
  return (int) syscall(SYS_fsopen, fstype, flags);
}

int dj_sys_fsconfig(int fd, unsigned cmd, const char *key, const void *value, int aux)
{
  return (int) syscall(SYS_fsconfig, fd, cmd, key, value, aux);
}

int dj_sys_fsmount(int fd, unsigned flags, unsigned attr)
{
  return (int) syscall(SYS_fsmount, fd, flags, attr);
}

int dj_sys_open_tree(int dfd, const char *path, unsigned flags)
{
  return (int) syscall(SYS_open_tree, dfd, path, flags);
}

int dj_sys_move_mount(int from_dfd, const char *from, int to_dfd, const char *to, unsigned flags)
{
  return (int) syscall(SYS_move_mount, from_dfd, from, to_dfd, to, flags);
}

int dj_sys_mount_setattr(int dfd, const char *path, unsigned flags, struct mount_attr *attr)
{
  return (int) syscall(SYS_mount_setattr, dfd, path, flags, attr, sizeof *attr);
}

void dj_mount_attr_from_flags(unsigned long set, unsigned long clear, struct mount_attr *attr)
{
  static const struct { unsigned long ms; uint64_t attr; } map[] = {
    { MS_RDONLY, MOUNT_ATTR_RDONLY }, { MS_NOSUID, MOUNT_ATTR_NOSUID }, { MS_NODEV, MOUNT_ATTR_NODEV },
    { MS_NOEXEC, MOUNT_ATTR_NOEXEC }, { MS_NODIRATIME, MOUNT_ATTR_NODIRATIME },
    { MS_NOSYMFOLLOW, MOUNT_ATTR_NOSYMFOLLOW },
  };
  for (size_t i = 0; i < DJ_ARRAY_SIZE(map); i++) {
    if (set & map[i].ms)
      attr->attr_set |= map[i].attr;
    else if (clear & map[i].ms)
      attr->attr_clr |= map[i].attr;
  }
  /* atime is one mode, not independent bits: naming any of them replaces the whole mode. */
  if (set & MS_NOATIME)
    attr->attr_set |= MOUNT_ATTR_NOATIME;
  else if (set & MS_STRICTATIME)
    attr->attr_set |= MOUNT_ATTR_STRICTATIME;
  if ((set | clear) & (MS_NOATIME | MS_STRICTATIME | MS_RELATIME))
    attr->attr_clr |= MOUNT_ATTR__ATIME;
}

/* The kernel explains fsconfig failures in the context's log: keep its last line for the error. */
static int fs_fail(dj_err *err, int fsfd, const char *what, const char *step)
{
  int e = errno;
  char log[256], last[256] = "";
  ssize_t n;
  while ((n = read(fsfd, log, sizeof log - 1)) > 0) {
    log[n] = '\0';
    log[strcspn(log, "\n")] = '\0';
    snprintf(last, sizeof last, "%s", n > 2 ? log + 2 : log); /* drop the "e " severity prefix */
  }
  if (last[0] != '\0')
    return dj_error(err, e, "%s: %s (%s)", what, step, last);
  return dj_error(err, e, "%s: %s", what, step);
}

int dj_fs_detached(const char *what, const char *type, const char *source, const char *data, unsigned attr,
                   dj_err *err)
{
  _cleanup_close_ int fsfd = dj_sys_fsopen(type, FSOPEN_CLOEXEC);
  if (fsfd < 0)
    return dj_error(err, errno, "%s: fsopen %s", what, type);
  if (source != NULL && source[0] != '\0' &&
      dj_sys_fsconfig(fsfd, FSCONFIG_SET_STRING, "source", source, 0) < 0)
    return fs_fail(err, fsfd, what, "fsconfig source");
  if (data != NULL && data[0] != '\0') {
    _cleanup_free_ char *copy = dj_xstrdup(data);
    char *save = NULL;
    for (char *opt = strtok_r(copy, ",", &save); opt != NULL; opt = strtok_r(NULL, ",", &save)) {
      char *eq = strchr(opt, '=');
      int r;
      if (eq != NULL) {
        *eq = '\0';
        r = dj_sys_fsconfig(fsfd, FSCONFIG_SET_STRING, opt, eq + 1, 0);
      } else {
        r = dj_sys_fsconfig(fsfd, FSCONFIG_SET_FLAG, opt, NULL, 0);
      }
      if (r < 0) {
        char step[300];
        snprintf(step, sizeof step, "option \"%s\"", opt);
        return fs_fail(err, fsfd, what, step);
      }
    }
  }
  if (dj_sys_fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
    return fs_fail(err, fsfd, what, "create the filesystem");
  int mfd = dj_sys_fsmount(fsfd, FSMOUNT_CLOEXEC, attr);
  if (mfd < 0)
    return fs_fail(err, fsfd, what, "fsmount");
  return mfd;
}

int dj_mount_attach(int mntfd, int targetfd, unsigned long propagation, const char *what, dj_err *err)
{
  if (dj_sys_move_mount(mntfd, "", targetfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
    return dj_error(err, errno, "%s: move_mount", what);
  return dj_mount_propagate(mntfd, propagation, what, err);
}

int dj_bind_fd(int srcfd, bool recursive, struct mount_attr *attr, int targetfd, unsigned long propagation,
               const char *what, dj_err *err)
{
  unsigned rec = recursive ? AT_RECURSIVE : 0;
  _cleanup_close_ int tree = dj_sys_open_tree(srcfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | rec);
  if (tree < 0)
    return dj_error(err, errno, "%s: open_tree", what);
  if (attr != NULL && (attr->attr_set | attr->attr_clr) != 0 &&
      dj_sys_mount_setattr(tree, "", AT_EMPTY_PATH | rec, attr) < 0)
    return dj_error(err, errno, "%s: mount_setattr", what);
  return dj_mount_attach(tree, targetfd, propagation, what, err);
}

int dj_mount_propagate(int fd, unsigned long propagation, const char *what, dj_err *err)
{
  struct mount_attr attr = { .propagation = propagation & ~(unsigned long) MS_REC };
  if (attr.propagation == 0)
    return 0;
  if (dj_sys_mount_setattr(fd, "", AT_EMPTY_PATH | ((propagation & MS_REC) ? AT_RECURSIVE : 0), &attr) < 0)
    return dj_error(err, errno, "%s: set propagation %#lx", what, propagation);
  return 0;
}

/* ---- "cgroup" ----------------------------------------------------------------------------------- */

/* /proc/self/cgroup, read once for all hierarchies (the kernel formats it on every read). */
static int read_self_cgroup(char *buf, size_t size)
{
  _cleanup_close_ int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = dj_read_all(fd, buf, size - 1);
  if (n < 0)
    return -1;
  buf[n] = '\0';
  return 0;
}

/* This process's cgroup path in the hierarchy whose controllers are given ("" for v2), from the
 * text of /proc/self/cgroup. */
static int own_cgroup_path(const char *self_cgroup, const char *controllers, char *out, size_t size)
{
  size_t clen = strlen(controllers);
  for (const char *line = self_cgroup; *line != '\0';) {
    const char *end = strchrnul(line, '\n');
    const char *c = memchr(line, ':', (size_t) (end - line));
    const char *p = c != NULL ? memchr(c + 1, ':', (size_t) (end - c - 1)) : NULL;
    if (p != NULL && (size_t) (p - c - 1) == clen && strncmp(c + 1, controllers, clen) == 0) {
      snprintf(out, size, "%.*s", (int) (end - p - 1), p + 1);
      return 0;
    }
    line = *end ? end + 1 : end;
  }
  errno = ENOENT;
  return -1;
}

/* One hierarchy of the host, mounted at name inside the cgroup tmpfs (dirfd). */
static int mount_hierarchy(int dirfd, const char *dest, const char *mountpoint, const char *fstype,
                           const char *superopts, const char *self_cgroup, unsigned attr, dj_err *err)
{
  const char *name = strrchr(mountpoint, '/') + 1;
  char what[PATH_MAX + 64];
  snprintf(what, sizeof what, "mount cgroup hierarchy %s on %s/%s", name, dest, name);
  if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
    return dj_error(err, errno, "%s: mkdir", what);
  _cleanup_close_ int target = openat(dirfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (target < 0)
    return dj_error(err, errno, "%s: open", what);
  bool v2 = strcmp(fstype, "cgroup2") == 0;
  if (self_cgroup == NULL) {
    /* In its own cgroup namespace the container sees its cgroups as the roots of fresh mounts. */
    char data[512] = "";
    size_t len = 0;
    _cleanup_free_ char *copy = dj_xstrdup(superopts);
    char *save = NULL;
    for (char *o = strtok_r(copy, ",", &save); o != NULL && !v2; o = strtok_r(NULL, ",", &save))
      if (strcmp(o, "rw") != 0 && strcmp(o, "ro") != 0)
        len += (size_t) snprintf(data + len, sizeof data - len, "%s%s", len ? "," : "", o);
    _cleanup_close_ int mfd = dj_fs_detached(what, fstype, "cgroup", data, attr, err);
    if (mfd < 0)
      return -1;
    return dj_mount_attach(mfd, target, 0, what, err);
  }
  /* Without one, only the container's own cgroup is shown, bound from the host (as runc). */
  char own[PATH_MAX], src[PATH_MAX * 2];
  const char *key = v2 ? "" : superopts;
  if (!v2 && strncmp(key, "rw,", 3) == 0)
    key += 3;
  if (own_cgroup_path(self_cgroup, key, own, sizeof own) < 0)
    return dj_error(err, errno, "%s: find the container's cgroup in /proc/self/cgroup", what);
  snprintf(src, sizeof src, "%s%s", mountpoint, own);
  _cleanup_close_ int srcfd = open(src, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (srcfd < 0)
    return dj_error(err, errno, "%s: open %s", what, src);
  struct mount_attr ma = { .attr_set = attr };
  return dj_bind_fd(srcfd, false, &ma, target, 0, what, err);
}

static int mount_cgroup_v1(const struct dj_spec *spec, const char *dest, int targetfd, unsigned attr,
                           dj_err *err)
{
  char what[PATH_MAX + 32];
  snprintf(what, sizeof what, "mount cgroup on %s", dest);
  _cleanup_close_ int mfd = dj_fs_detached(what, "tmpfs", "cgroup", "mode=755",
                                           MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, err);
  if (mfd < 0 || dj_mount_attach(mfd, targetfd, 0, what, err) < 0)
    return -1;
  /* In its own cgroup namespace the container mounts fresh hierarchies; otherwise it binds its own
   * cgroups, found in /proc/self/cgroup. */
  char self_cgroup_buf[16384];
  const char *self_cgroup = NULL;
  if (!(spec->ns_flags & CLONE_NEWCGROUP)) {
    if (read_self_cgroup(self_cgroup_buf, sizeof self_cgroup_buf) < 0)
      return dj_error(err, errno, "%s: read /proc/self/cgroup", what);
    self_cgroup = self_cgroup_buf;
  }
  _cleanup_fclose_ FILE *f = fopen("/proc/self/mountinfo", "re");
  if (f == NULL)
    return dj_error(err, errno, "%s: read /proc/self/mountinfo", what);
  char line[PATH_MAX * 2];
  while (fgets(line, sizeof line, f) != NULL) {
    /* "id parent maj:min root mountpoint opts [optional...] - fstype source superopts" */
    char mountpoint[PATH_MAX], fstype[32], superopts[512];
    char *sep = strstr(line, " - ");
    if (sep == NULL || sscanf(line, "%*s %*s %*s %*s %4095s", mountpoint) != 1 ||
        sscanf(sep + 3, "%31s %*s %511s", fstype, superopts) != 2)
      continue;
    if (strncmp(mountpoint, "/sys/fs/cgroup/", 15) != 0 || strchr(mountpoint + 15, '/') != NULL ||
        (strcmp(fstype, "cgroup") != 0 && strcmp(fstype, "cgroup2") != 0))
      continue;
    if (mount_hierarchy(mfd, dest, mountpoint, fstype, superopts, self_cgroup, attr, err) < 0)
      return -1;
    /* "cpu,cpuacct" is also reachable as cpu and cpuacct (as runc links them). */
    const char *name = mountpoint + 15;
    if (strchr(name, ',') != NULL) {
      _cleanup_free_ char *copy = dj_xstrdup(name);
      char *save = NULL;
      for (char *c = strtok_r(copy, ",", &save); c != NULL; c = strtok_r(NULL, ",", &save))
        if (symlinkat(name, mfd, c) < 0 && errno != EEXIST)
          return dj_error(err, errno, "%s: symlink %s", what, c);
    }
  }
  if (attr & MOUNT_ATTR_RDONLY) {
    struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
    if (dj_sys_mount_setattr(mfd, "", AT_EMPTY_PATH, &ro) < 0)
      return dj_error(err, errno, "%s: make it read-only", what);
  }
  return 0;
}

int dj_mount_cgroup(const struct dj_spec *spec, const char *dest, int targetfd, unsigned attr, dj_err *err)
{
  struct statfs sfs;
  if (statfs("/sys/fs/cgroup", &sfs) < 0)
    return dj_error(err, errno, "mount cgroup on %s: statfs /sys/fs/cgroup", dest);
  if (sfs.f_type != CGROUP2_SUPER_MAGIC)
    return mount_cgroup_v1(spec, dest, targetfd, attr, err);
  char what[PATH_MAX + 32];
  snprintf(what, sizeof what, "mount cgroup2 on %s", dest);
  if (spec->ns_flags & CLONE_NEWCGROUP) {
    _cleanup_close_ int mfd = dj_fs_detached(what, "cgroup2", "cgroup", NULL, attr, err);
    if (mfd < 0)
      return -1;
    return dj_mount_attach(mfd, targetfd, 0, what, err);
  }
  char own[PATH_MAX], src[PATH_MAX + 32], self_cgroup[16384];
  if (read_self_cgroup(self_cgroup, sizeof self_cgroup) < 0 || own_cgroup_path(self_cgroup, "", own, sizeof own) < 0)
    return dj_error(err, errno, "%s: find the container's cgroup in /proc/self/cgroup", what);
  snprintf(src, sizeof src, "/sys/fs/cgroup%s", own);
  _cleanup_close_ int srcfd = open(src, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (srcfd < 0)
    return dj_error(err, errno, "%s: open %s", what, src);
  struct mount_attr ma = { .attr_set = attr };
  return dj_bind_fd(srcfd, false, &ma, targetfd, 0, what, err);
}
