/* The container's filesystem: mounts, /dev, masked and read-only paths, pivot_root.
 * Runs in the container's init, in its new mount namespace, before the process is exec'd. */
#ifndef DJ_ROOTFS_H
#define DJ_ROOTFS_H

#include <stdbool.h>

#include "common/err.h"
#include "sandbox/spec.h"

struct dj_rootfs_opts {
  const char *bundle;     /* the bundle directory: root.path and relative bind sources are under it */
  bool no_pivot;          /* MS_MOVE + chroot instead of pivot_root */
  bool userns;            /* in a new user namespace: device nodes are bind-mounted, not made */
  int console_fd;         /* the pty slave to bind over /dev/console, or -1 */
  /* console_fd -1 and this set: called once /dev is made, to open the pty from the container's
   * own devpts (rootfd is the new root); returns the slave to bind over /dev/console. */
  int (*make_console)(void *arg, int rootfd, dj_err *err);
  /* Called once everything is mounted, just before pivot_root (the hooks of create). NULL: none. */
  int (*before_pivot)(void *arg, dj_err *err);
  /* Called once, just before the first mount that depends on the process's cgroups (a "cgroup"
   * or "cgroup2" mount), so that donjon can place the process in its cgroups while the mounts
   * before it are made. NULL: nothing to wait for. */
  int (*before_cgroup_mount)(void *arg, dj_err *err);
  void *arg;
  /* root.path and the bind mount sources opened while the init still had the host's credentials
   * (dj_rootfs_sources_open): [0] the root, [1 + i] mounts[i]'s source or -1. NULL: opened by path
   * during the setup. */
  const int *sources;
};

/* In a new user namespace the init becomes the namespace's root, an unprivileged host id, before
 * it mounts: an orchestrator's root and bind sources (podman's userdata, containerd's bundle) sit in
 * 0700 directories that id cannot cross. So the init opens them (O_PATH) first, as runc opens mount
 * sources before it leaves the host's credentials. Returns the array for dj_rootfs_opts.sources. */
int *dj_rootfs_sources_open(const struct dj_spec *spec, const char *bundle, dj_err *err);
void dj_rootfs_sources_close(const struct dj_spec *spec, int *sources);

/* Make the root, every mount, /dev and the devices, the console, masked and read-only paths,
 * then pivot into it and detach the old root; root.readonly last. Afterwards "/" is the
 * container's root and the cwd is "/". */
int dj_rootfs_setup(const struct dj_spec *spec, const struct dj_rootfs_opts *opts, dj_err *err);

/* A procfs handle donjon opened and checked itself (PROC_SUPER_MAGIC, not over-mounted): every
 * write to procfs (sysctl, oom_score_adj, LSM attributes) goes through it, never through a path
 * inside the container. Returns a directory fd. */
int dj_procfs_open(dj_err *err);
/* Write value to procfs_fd/relpath, refusing anything that resolves outside that procfs. */
int dj_procfs_write(int procfs_fd, const char *relpath, const char *value, dj_err *err);

/* Apply linux.sysctl through a procfs handle (in the container's namespaces). */
int dj_sysctl_apply(const struct dj_spec *spec, int procfs_fd, dj_err *err);

#endif
