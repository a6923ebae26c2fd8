/* A procfs handle donjon made and checked itself, and every procfs write through it
 * (CVE-2025-52881: a container-made path or over-mount could redirect writes to /proc). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include "common/safepath.h"
#include "common/util.h"
#include "sandbox/mounts.h"
#include "sandbox/rootfs.h"

static int check_procfs(int fd, const char *what, dj_err *err)
{
  struct statfs sfs;
  if (fstatfs(fd, &sfs) < 0)
    return dj_error(err, errno, "%s: fstatfs", what);
  if (sfs.f_type != PROC_SUPER_MAGIC)
    return dj_error(err, EXDEV, "%s: not procfs (filesystem magic %#lx)", what, (unsigned long) sfs.f_type);
  return 0;
}

int dj_procfs_open(dj_err *err)
{
  /* A fresh, detached procfs: nothing in any container can have mounted over any of it. */
  dj_err ignored = { 0 };
  int fd = dj_fs_detached("open a procfs handle", "proc", "proc", NULL,
                          MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, &ignored);
  if (fd < 0 && (ignored.errnum == EPERM || ignored.errnum == EACCES)) {
    /* Where a new procfs is refused (a user namespace whose proc mount is not fully visible), a
     * non-recursive clone of our /proc leaves every over-mount behind just the same. */
    fd = dj_sys_open_tree(AT_FDCWD, "/proc", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (fd < 0)
      return dj_error(err, errno, "open a procfs handle: %s; clone /proc", ignored.msg);
  } else if (fd < 0) {
    *err = ignored;
    return -1;
  }
  _cleanup_close_ int procfd = fd;
  if (check_procfs(procfd, "open a procfs handle", err) < 0)
    return -1;
  return dj_steal_fd(&procfd);
}

int dj_procfs_write(int procfs_fd, const char *relpath, const char *value, dj_err *err)
{
  /* Beneath the handle, on its one mount, through no magic link: nothing can redirect it. */
  _cleanup_close_ int fd = dj_openat2(procfs_fd, relpath, O_WRONLY | O_CLOEXEC | O_NOCTTY, 0,
                                      RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
  if (fd < 0)
    return dj_error(err, errno, "open /proc/%s", relpath);
  char what[PATH_MAX];
  snprintf(what, sizeof what, "/proc/%s", relpath);
  if (check_procfs(fd, what, err) < 0)
    return -1;
  size_t len = strlen(value);
  /* procfs takes a value in one write(2): a short write is a failure, not something to resume. */
  ssize_t n = write(fd, value, len);
  if (n < 0)
    return dj_error(err, errno, "write /proc/%s", relpath);
  if ((size_t) n != len)
    return dj_error(err, EIO, "write /proc/%s: short write (%zd of %zu bytes)", relpath, n, len);
  return 0;
}

/* Which namespace a sysctl belongs to (0: none, the host's: refused). */
static int sysctl_namespace(const char *key)
{
  static const char *const ipc[] = { "kernel/msgmax", "kernel/msgmnb", "kernel/msgmni", "kernel/sem",
                                     "kernel/shmall", "kernel/shmmax", "kernel/shmmni",
                                     "kernel/shm_rmid_forced" };
  if (strncmp(key, "net/", 4) == 0)
    return CLONE_NEWNET;
  if (strncmp(key, "fs/mqueue/", 10) == 0)
    return CLONE_NEWIPC;
  for (size_t i = 0; i < DJ_ARRAY_SIZE(ipc); i++)
    if (strcmp(key, ipc[i]) == 0)
      return CLONE_NEWIPC;
  return 0;
}

/* "net.ipv4.ip_forward" -> "net/ipv4/ip_forward"; a key with '/' is taken as a path already (so
 * "net/ipv4/conf/eth0.100/forwarding" can name an interface with a dot), as runc does. */
static int sysctl_path(const char *key, char *out, size_t size)
{
  if (strlen(key) >= size || key[0] == '\0' || key[0] == '/' || key[0] == '.')
    return -1;
  bool slashes = strchr(key, '/') != NULL;
  size_t i;
  for (i = 0; key[i] != '\0'; i++)
    out[i] = (!slashes && key[i] == '.') ? '/' : key[i];
  out[i] = '\0';
  /* No empty, "." or ".." component: the key names one file under /proc/sys. */
  for (const char *c = out;; c++) {
    size_t n = strcspn(c, "/");
    if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
      return -1;
    c += n;
    if (*c == '\0')
      break;
  }
  return 0;
}

int dj_sysctl_apply(const struct dj_spec *spec, int procfs_fd, dj_err *err)
{
  for (size_t i = 0; i < spec->n_sysctl; i++) {
    const char *key = spec->sysctl[i].key, *value = spec->sysctl[i].value;
    char path[PATH_MAX];
    if (sysctl_path(key, path, sizeof path) < 0)
      return dj_error(err, EINVAL, "linux.sysctl: \"%s\": not a sysctl name", key);
    if (strcmp(path, "kernel/hostname") == 0 || strcmp(path, "kernel/domainname") == 0)
      return dj_error(err, EPERM, "linux.sysctl: \"%s\": set hostname/domainname in the config instead", key);
    int ns = sysctl_namespace(path);
    if (ns == 0)
      return dj_error(err, EPERM, "linux.sysctl: \"%s\": not a namespaced sysctl, it would change the host", key);
    if ((spec->ns_flags & ns) == 0)
      return dj_error(err, EPERM, "linux.sysctl: \"%s\": needs a new %s namespace", key,
                      ns == CLONE_NEWNET ? "network" : "ipc");
    char rel[PATH_MAX + 8];
    snprintf(rel, sizeof rel, "sys/%s", path);
    if (dj_procfs_write(procfs_fd, rel, value, err) < 0)
      return dj_err_wrap(err, "linux.sysctl: \"%s\"", key);
  }
  return 0;
}
