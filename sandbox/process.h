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

/* Refuse what this host cannot confine as asked (apparmorProfile, selinuxLabel, mountLabel
 * without the LSM), as runc does. */
int dj_lsm_check(const struct dj_spec *spec, dj_err *err);

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
