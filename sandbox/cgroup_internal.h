/* Shared between cgroup.c and its backends; not for other modules. */
#ifndef DJ_CGROUP_INTERNAL_H
#define DJ_CGROUP_INTERNAL_H

#include "sandbox/cgroup.h"

#define DJ_CGROUP_MAX_DIRS 16

struct dj_cgroup_dir {
  char *dir;            /* /sys/fs/cgroup/memory/donjon/ID */
  char *controllers;    /* "memory", "cpu,cpuacct", "name=systemd", "" for v2 */
  bool v2;
  bool created;         /* the leaf was made by us (and so is removed by us) */
};

struct dj_cgroup {
  enum dj_cgroup_mode mode;
  char *path;           /* from the hierarchy roots: "/donjon/ID" */
  struct dj_cgroup_dir dirs[DJ_CGROUP_MAX_DIRS];
  size_t n_dirs;
};

/* The device rules to enforce: linux.resources.devices, then an allow rule for each
 * linux.devices node, then the defaults every container needs (as runc adds them). */
int dj_cgroup_device_rules(const struct dj_spec *spec, struct dj_device_rule **out, size_t *n);

/* Write value to dir/file; the error names both. */
int dj_cgroup_write(const char *dir, const char *file, const char *value, dj_err *err);
/* Read dir/file (trailing newline removed) into buf. */
int dj_cgroup_read(const char *dir, const char *file, char *buf, size_t size, dj_err *err);
bool dj_cgroup_has(const char *dir, const char *file);

/* Backends: apply linux.resources to one directory. */
int dj_cgroup_v1_apply(const struct dj_cgroup_dir *d, const struct dj_spec *spec, bool update, dj_err *err);
int dj_cgroup_v1_prepare_level(const char *parent, const char *dir, const char *controllers, dj_err *err);
int dj_cgroup_v2_apply(const struct dj_cgroup_dir *d, const struct dj_spec *spec, bool primary, bool update,
                       dj_err *err);
int dj_cgroup_v2_enable_controllers(const char *dir, dj_err *err);

/* The v2 device allowlist as a BPF_PROG_TYPE_CGROUP_DEVICE program attached to dir. */
int dj_cgroup_bpf_devices(const char *dir, const struct dj_device_rule *rules, size_t n, dj_err *err);

#endif
