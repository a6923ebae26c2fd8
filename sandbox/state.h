/* A container's state directory, --root/ID: made exclusively (an id is used once), holding
 * state.json (the OCI state plus what donjon needs), written atomically, removed at the end. */
#ifndef DJ_STATE_H
#define DJ_STATE_H

#include <sys/types.h>

#include "common/err.h"
#include "sandbox/spec.h"

/* mkdir root (0700) if needed, then root/id; EEXIST is "container ID already exists". */
int dj_state_create(const char *root, const char *id, dj_err *err);
int dj_state_write(const char *root, const char *id, const struct dj_spec *spec, const char *bundle, pid_t pid,
                   const char *status, dj_err *err);
/* Remove root/id and what is in it (never following links); quiet. */
void dj_state_remove(const char *root, const char *id);

#endif
