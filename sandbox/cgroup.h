/* cgroups through one ops table with backends for v2 (unified), v1 and hybrid (controllers on
 * v1 plus the unified tree, as runc and crun place processes).
 *
 * cgroupsPath is resolved from the controller roots (/sys/fs/cgroup/<controller> on v1,
 * /sys/fs/cgroup on v2), never relative to donjon's own cgroup. See docs/cgroups.md. */
#ifndef DJ_CGROUP_H
#define DJ_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/err.h"
#include "sandbox/spec.h"

enum dj_cgroup_mode { DJ_CGROUP_V1 = 1, DJ_CGROUP_V2, DJ_CGROUP_HYBRID };

struct dj_cgroup; /* what one container's cgroups are: paths created, mode, backend */

/* The host's layout (cached after the first call). */
int dj_cgroup_detect(enum dj_cgroup_mode *mode, dj_err *err);

/* Create the container's cgroups for spec (cgroupsPath, or the default for id) and apply
 * linux.resources, devices included. On failure everything created is removed. */
int dj_cgroup_create(const struct dj_spec *spec, const char *id, struct dj_cgroup **out, dj_err *err);
/* `donjon update`: apply spec's linux.resources (only what it sets; devices are not changed) to
 * the cgroups of a running container. */
int dj_cgroup_update(struct dj_cgroup *cg, const struct dj_spec *spec, dj_err *err);
/* Move pid (and so its future children) into every cgroup of cg. */
int dj_cgroup_enter(struct dj_cgroup *cg, pid_t pid, dj_err *err);
/* Remove the cgroups this container created (killing what is still in them), then free cg. */
int dj_cgroup_destroy(struct dj_cgroup *cg, dj_err *err);
void dj_cgroup_free(struct dj_cgroup *cg);

/* The container's cgroup path from the hierarchy roots ("/donjon/ID"). */
const char *dj_cgroup_path(const struct dj_cgroup *cg);
/* Freeze or thaw every process (v1 freezer, v2 cgroup.freeze). */
int dj_cgroup_freeze(struct dj_cgroup *cg, bool frozen, dj_err *err);
/* The pids in the container's cgroup (malloc'd). */
int dj_cgroup_pids(struct dj_cgroup *cg, pid_t **pids, size_t *n, dj_err *err);

/* What a later command (state, kill, delete) needs to find the cgroups again, for state.json:
 * {"path": "/donjon/ID", "dirs": [{"dir", "controllers", "v2", "created"}]}. */
json_t *dj_cgroup_save(const struct dj_cgroup *cg);
/* The reverse; each dir must be a hierarchy of this host followed by path (a state.json cannot
 * name another directory to remove). */
int dj_cgroup_load(const json_t *saved, struct dj_cgroup **out, dj_err *err);
/* Is the container frozen (v1 freezer.state FROZEN, v2 cgroup.events "frozen 1")? */
int dj_cgroup_is_frozen(const struct dj_cgroup *cg, bool *frozen, dj_err *err);

#endif
