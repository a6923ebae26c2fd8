/* CVE-2019-5736: a container must not be able to overwrite the runtime binary through
 * /proc/<pid>/exe. Before donjon enters a container it re-executes itself from a read-only,
 * detached bind mount of its own binary (open_tree + mount_setattr(MOUNT_ATTR_RDONLY) +
 * execveat), as crun does with a read-only bind mount; cheaper than runc's memfd copy, which is
 * also charged to the container's memory cgroup. */
#ifndef DJ_REEXEC_H
#define DJ_REEXEC_H

#include <stdbool.h>

#include "common/err.h"

/* Does this command (as the command line's parser found it) enter a container (run, create,
 * exec, launch)? */
bool dj_reexec_needed(const char *command);
/* Whether the running binary already lives on a read-only mount. */
bool dj_reexec_is_sealed(void);
/* Re-exec from a read-only copy when the command needs it and it is not already sealed.
 * Returns only when no re-exec was needed (or it failed: then the command refuses to enter a
 * container, see dj_reexec_check). */
void dj_reexec_maybe(const char *command, char **argv);
/* For commands that enter a container: fail unless the running binary is sealed. */
int dj_reexec_check(dj_err *err);

#endif
