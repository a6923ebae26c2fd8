/* The OCI seccomp profile translated to a libseccomp filter. */
#ifndef DJ_SECCOMP_H
#define DJ_SECCOMP_H

#include <seccomp.h>

#include "common/err.h"
#include "sandbox/spec.h"

/* Build the filter for sc. Syscall names this libseccomp does not know are not dropped silently:
 * their names are returned in *unknown (NULL-terminated, malloc'd; NULL when none) for the caller
 * to report. Errors name the rule (linux.seccomp.syscalls[i]) and the reason. */
int dj_seccomp_build(const struct dj_seccomp *sc, scmp_filter_ctx *out, char ***unknown, dj_err *err);

/* The runtime's steps after the filter is loaded must pass it: execve always, capset and prctl when
 * capabilities are dropped after the load (noNewPrivileges false). Refuses a profile that denies
 * one of them for every argument, naming the rule (or defaultAction) and the reason. */
int dj_seccomp_check_runtime_steps(const struct dj_seccomp *sc, bool caps_after_load, dj_err *err);

/* The mask of the bits the kernel reads of argument index of syscall (0xffffffff for int and
 * unsigned int, 0xffff for umode_t), 0 when it reads all 64: EQ/NE there become masked compares. */
uint64_t dj_seccomp_narrow_mask(const char *syscall, unsigned index);

/* Load the filter into the calling thread (seccomp_load); the last step before execve. */
int dj_seccomp_load(scmp_filter_ctx ctx, dj_err *err);

/* The seccomp section of the confidential profile, as OCI JSON (linux.seccomp). New reference. */
json_t *dj_seccomp_confidential_profile(void);

#endif
