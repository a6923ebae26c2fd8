/* A container's state directory, --root/ID: made exclusively (an id is used once), holding
 * state.json (the OCI state plus what donjon needs), written atomically, removed at the end.
 * state.json: {ociVersion, id, status, pid, bundle, created, annotations?,
 *              donjon: {initStartTime, cgroup?}}; see docs/lifecycle.md. */
#ifndef DJ_STATE_H
#define DJ_STATE_H

#include <jansson.h>
#include <stdbool.h>
#include <sys/types.h>

#include "common/err.h"
#include "sandbox/spec.h"

/* mkdir root (0700) if needed, then root/id; EEXIST is "container ID already exists". */
int dj_state_create(const char *root, const char *id, dj_err *err);
/* The same under the state root's lock, then root/id/lock made and held: returns its fd. */
int dj_state_create_locked(const char *root, const char *id, dj_err *err);
/* Take root/id's lock (waits for other commands on the container); returns its fd. A container
 * that does not exist (or was deleted while we waited) is an error with errnum ENOENT. */
int dj_state_lock(const char *root, const char *id, dj_err *err);

/* The state document; the caller adds "donjon" members (dj_state_private). */
json_t *dj_state_new(const char *id, const struct dj_spec *spec, const char *bundle, pid_t pid,
                     const char *status);
json_t *dj_state_private(json_t *st);
int dj_state_save(const char *root, const char *id, json_t *st, dj_err *err);
int dj_state_write(const char *root, const char *id, const struct dj_spec *spec, const char *bundle, pid_t pid,
                   const char *status, dj_err *err);
/* Load root/id/state.json; a missing one is an error with errnum ENOENT. */
int dj_state_load(const char *root, const char *id, json_t **out, dj_err *err);

/* The config the container was made from, kept as root/id/config.json (exec, update and delete's
 * poststop hooks work from it, not from a bundle that may have changed since). */
int dj_state_save_config(const char *root, const char *id, json_t *doc, dj_err *err);
int dj_state_load_config(const char *root, const char *id, json_t **doc, dj_err *err);

/* A container's state as loaded, and what the kernel says of it. */
struct dj_cgroup;
struct dj_live {
  json_t *st;
  pid_t pid;
  const char *status;   /* creating, created, running, paused, stopped */
  int pidfd;            /* the init, checked by start time (-1 when stopped) */
  struct dj_cgroup *cg; /* from state.json (NULL when none was recorded) */
};
int dj_live_load(const char *root, const char *id, struct dj_live *l, dj_err *err);
void dj_live_free(struct dj_live *l);

/* /proc/PID/stat: state letter (field 3) and start time in clock ticks since boot (field 22).
 * -1 when the process does not exist. */
int dj_proc_stat(pid_t pid, char *state, unsigned long long *start_time);

/* ---- the commands after create, each under the container's lock (sandbox/lifecycle.c) ---- */

/* The OCI state of root/id (without donjon's members), its status true to the kernel: the init
 * dead, a zombie or not the same process (start time) -> stopped; cgroup frozen -> paused. */
int dj_container_state(const char *root, const char *id, json_t **out, dj_err *err);
/* Let a created container's init exec its process (open the exec fifo); status -> running. */
int dj_container_start(const char *root, const char *id, dj_err *err);
/* Signal the init (all: every process of the container's cgroup); created or running only. */
int dj_container_kill(const char *root, const char *id, int sig, bool all, dj_err *err);
/* Remove a stopped container (force: kill it first; and a missing one is not an error): its
 * processes, cgroups and state directory. */
int dj_container_delete(const char *root, const char *id, bool force, dj_err *err);
/* The states of every container under root (an array; empty if root does not exist). */
int dj_container_list(const char *root, json_t **out, dj_err *err);

/* Freeze (pause) a created or running container's cgroups, or thaw (resume) a paused one. */
int dj_container_pause(const char *root, const char *id, bool pause, dj_err *err);
/* The pids in the container's cgroup (malloc'd; none once it is stopped). */
int dj_container_pids(const char *root, const char *id, pid_t **pids, size_t *n, dj_err *err);
/* Apply a linux.resources object (checked by the config parser) to a running container's cgroups;
 * only what it sets changes, and devices are refused. */
int dj_container_update(const char *root, const char *id, json_t *resources, dj_err *err);

/* Remove root/id and what is in it (never following links); quiet. */
void dj_state_remove(const char *root, const char *id);

#endif
