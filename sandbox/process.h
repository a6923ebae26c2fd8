/* The container process's identity and limits, applied in its init just before execve. */
#ifndef DJ_PROCESS_H
#define DJ_PROCESS_H

#include <stdbool.h>

#include "common/err.h"
#include "sandbox/seccomp.h"
#include "sandbox/spec.h"

/* Check every rlimit against what this host allows before anything is created: the spec says soft
 * and hard MUST be what is asked, so a value above the host's hard limit (without
 * CAP_SYS_RESOURCE) is an error naming the limit, the value asked and the host's hard limit. */
int dj_rlimits_check(const struct dj_process *p, dj_err *err);
int dj_rlimits_apply(const struct dj_process *p, dj_err *err);

/* Refuse what this host cannot confine as asked, before anything is made: apparmorProfile and
 * selinuxLabel where the LSM is not in /sys/kernel/security/lsm (as runc does), mountLabel always
 * (donjon does not label its mounts). */
int dj_lsm_check(const struct dj_spec *spec, dj_err *err);
/* Does the process ask for an LSM label (so that a procfs handle must be opened for it)? */
bool dj_lsm_wanted(const struct dj_process *p);
/* How an attribute is written: dj_procfs_write (sandbox/rootfs.h); a test passes its own. */
typedef int (*dj_attr_write_fn)(int dirfd, const char *relpath, const char *value, dj_err *err);
/* Label the next execve of the calling thread, through procfs_fd (a handle from dj_procfs_open,
 * opened while still privileged): AppArmor "exec PROFILE" to thread-self/attr/apparmor/exec
 * (attr/exec before Linux 5.8), SELinux the label to thread-self/attr/exec. Called last before
 * the filter, so that hooks the init runs are not labelled; the kernel refuses an unknown profile. */
int dj_lsm_label_exec(const struct dj_process *p, int procfs_fd, dj_attr_write_fn write_attr, dj_err *err);

/* Capability bounding set first (while still privileged), then user and groups (keeping
 * capabilities across the uid change), then the other four sets. */
int dj_caps_drop_bounding(const struct dj_caps *caps, dj_err *err);
int dj_user_apply(const struct dj_process *p, dj_err *err);
int dj_caps_apply(const struct dj_caps *caps, dj_err *err);

/* The last steps before execve, in the order the kernel allows: without no_new_privs the filter
 * (NULL: none) needs CAP_SYS_ADMIN, so it is loaded before the final capability sets (capset must
 * pass it); with no_new_privs the filter is the very last step. */
int dj_process_confine(const struct dj_process *p, scmp_filter_ctx seccomp, dj_err *err);

/* Mark every fd >= first_kept_past close-on-exec: nothing of donjon's reaches the workload. */
int dj_fds_cloexec_from(int first, dj_err *err);

/* Change to the process's cwd, resolved inside the (already pivoted) root, and check the result
 * is inside it (CVE-2024-21626: no leaked host directory as cwd). */
int dj_cwd_enter(const char *cwd, dj_err *err);

/* execvp with the container's environment (PATH from it) plus extra "K=V" entries that replace
 * same-named ones (NULL: none); returns only on failure. */
int dj_process_exec(const struct dj_process *p, const char *const *extra_env, dj_err *err);

#endif
