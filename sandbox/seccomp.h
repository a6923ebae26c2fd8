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

/* Load the filter into the calling thread (seccomp_load); the last step before execve. */
int dj_seccomp_load(scmp_filter_ctx ctx, dj_err *err);

/* The seccomp section of the confidential profile, as OCI JSON (linux.seccomp). New reference. */
json_t *dj_seccomp_confidential_profile(void);

#endif
