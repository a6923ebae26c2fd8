/* The v1 backend: one directory per controller hierarchy. */
#include "sandbox/cgroup_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static bool has_controller(const struct dj_cgroup_dir *d, const char *name)
{
  char buf[128];
  snprintf(buf, sizeof buf, "%s", d->controllers);
  char *save = NULL;
  for (char *c = strtok_r(buf, ",", &save); c != NULL; c = strtok_r(NULL, ",", &save))
    if (strcmp(c, name) == 0)
      return true;
  return false;
}

static int write_i64(const char *dir, const char *file, int64_t v, dj_err *err)
{
  char buf[32];
  snprintf(buf, sizeof buf, "%" PRId64, v);
  return dj_cgroup_write(dir, file, buf, err);
}

int dj_cgroup_v1_prepare_level(const char *parent, const char *dir, const char *controllers, dj_err *err)
{
  /* A new v1 cpuset starts with empty cpus and mems, and no process can join it until they are set. */
  if (strstr(controllers, "cpuset") == NULL)
    return 0;
  const char *files[] = { "cpuset.cpus", "cpuset.mems" };
  for (size_t i = 0; i < 2; i++) {
    char buf[1024];
    if (dj_cgroup_read(parent, files[i], buf, sizeof buf, err) < 0 || dj_cgroup_write(dir, files[i], buf, err) < 0)
      return -1;
  }
  return 0;
}

static int apply_memory(const char *dir, const struct dj_resources *r, bool update, dj_err *err)
{
  /* update: a limit above the current memory+swap limit is refused by the kernel until memsw is
   * raised, and memsw below the current limit likewise: in that case swap goes first. */
  bool swap_first = false;
  if (update && r->memory_limit != DJ_UNSET_I64 && r->memory_swap != DJ_UNSET_I64 &&
      dj_cgroup_has(dir, "memory.memsw.limit_in_bytes")) {
    char cur[32];
    int64_t memsw;
    swap_first = dj_cgroup_read(dir, "memory.memsw.limit_in_bytes", cur, sizeof cur, NULL) == 0 &&
                 dj_parse_i64(cur, &memsw) == 0 && (r->memory_limit < 0 || r->memory_limit > memsw);
  }
  if (swap_first && write_i64(dir, "memory.memsw.limit_in_bytes", r->memory_swap, err) < 0)
    return -1;
  if (r->memory_limit != DJ_UNSET_I64 && write_i64(dir, "memory.limit_in_bytes", r->memory_limit, err) < 0)
    return -1;
  /* memsw (memory + swap) must stay >= the limit: the cgroup is new (unlimited), so the limit is
   * set first, then memsw. Without swap accounting the file is absent: then swap cannot be limited. */
  if (r->memory_swap != DJ_UNSET_I64 && !swap_first) {
    if (!dj_cgroup_has(dir, "memory.memsw.limit_in_bytes"))
      return dj_error(err, 0, "linux.resources.memory.swap: this kernel has no swap accounting "
                              "(memory.memsw.limit_in_bytes), so the limit cannot be enforced");
    if (write_i64(dir, "memory.memsw.limit_in_bytes", r->memory_swap, err) < 0)
      return -1;
  }
  if (r->memory_reservation != DJ_UNSET_I64 && write_i64(dir, "memory.soft_limit_in_bytes", r->memory_reservation, err) < 0)
    return -1;
  if (r->memory_swappiness != DJ_UNSET_I64 && r->memory_swappiness >= 0 &&
      write_i64(dir, "memory.swappiness", r->memory_swappiness, err) < 0)
    return -1;
  if (r->has_disable_oom_killer && r->disable_oom_killer && dj_cgroup_write(dir, "memory.oom_control", "1", err) < 0)
    return -1;
  return 0;
}

static int apply_cpu(const char *dir, const struct dj_resources *r, dj_err *err)
{
  if (r->has_cpu_shares && write_i64(dir, "cpu.shares", (int64_t) r->cpu_shares, err) < 0)
    return -1;
  if (r->has_cpu_period && write_i64(dir, "cpu.cfs_period_us", (int64_t) r->cpu_period, err) < 0)
    return -1;
  if (r->cpu_quota != DJ_UNSET_I64 && write_i64(dir, "cpu.cfs_quota_us", r->cpu_quota, err) < 0)
    return -1;
  if (r->has_rt_period && write_i64(dir, "cpu.rt_period_us", (int64_t) r->cpu_realtime_period, err) < 0)
    return -1;
  if (r->has_rt_runtime && write_i64(dir, "cpu.rt_runtime_us", r->cpu_realtime_runtime, err) < 0)
    return -1;
  return 0;
}

static void rule_text(const struct dj_device_rule *d, char *buf, size_t n)
{
  char maj[24] = "*", min[24] = "*";
  if (d->major >= 0)
    snprintf(maj, sizeof maj, "%" PRId64, d->major);
  if (d->minor >= 0)
    snprintf(min, sizeof min, "%" PRId64, d->minor);
  snprintf(buf, n, "%c %s:%s %s", d->type, maj, min, d->access[0] ? d->access : "rwm");
}

static int apply_devices(const char *dir, const struct dj_spec *spec, dj_err *err)
{
  struct dj_device_rule *rules = NULL;
  size_t n = 0;
  dj_cgroup_device_rules(spec, &rules, &n);
  /* Deny everything first; then each rule in order, so the last one that matches wins. */
  int rc = dj_cgroup_write(dir, "devices.deny", "a", err);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    char text[96];
    if (rules[i].type == 'a' && rules[i].allow) {
      rc = dj_cgroup_write(dir, "devices.allow", "a", err);
      continue;
    }
    if (rules[i].type == 'a') {
      rc = dj_cgroup_write(dir, "devices.deny", "a", err);
      continue;
    }
    rule_text(&rules[i], text, sizeof text);
    rc = dj_cgroup_write(dir, rules[i].allow ? "devices.allow" : "devices.deny", text, err);
  }
  free(rules);
  return rc;
}

int dj_cgroup_v1_apply(const struct dj_cgroup_dir *d, const struct dj_spec *spec, bool update, dj_err *err)
{
  const struct dj_resources *r = &spec->resources;
  if (has_controller(d, "memory") && apply_memory(d->dir, r, update, err) < 0)
    return -1;
  if (has_controller(d, "pids") && r->pids_limit != DJ_UNSET_I64) {
    if (r->pids_limit > 0 ? write_i64(d->dir, "pids.max", r->pids_limit, err) < 0
                          : dj_cgroup_write(d->dir, "pids.max", "max", err) < 0)
      return -1;
  }
  if (has_controller(d, "cpu") && apply_cpu(d->dir, r, err) < 0)
    return -1;
  if (has_controller(d, "cpuset")) {
    if (r->cpuset_cpus != NULL && dj_cgroup_write(d->dir, "cpuset.cpus", r->cpuset_cpus, err) < 0)
      return -1;
    if (r->cpuset_mems != NULL && dj_cgroup_write(d->dir, "cpuset.mems", r->cpuset_mems, err) < 0)
      return -1;
  }
  if (has_controller(d, "blkio") && r->has_blkio_weight) {
    /* CFQ's file, or BFQ's; a kernel with neither scheduler has no weight to set (as runc, an error) */
    const char *f = dj_cgroup_has(d->dir, "blkio.weight")       ? "blkio.weight"
                    : dj_cgroup_has(d->dir, "blkio.bfq.weight") ? "blkio.bfq.weight"
                                                                : NULL;
    if (f == NULL)
      return dj_error(err, ENOTSUP,
                      "%s: linux.resources.blockIO.weight %u: this kernel's blkio controller has no weight"
                      " (neither blkio.weight nor blkio.bfq.weight: no CFQ or BFQ I/O scheduler)",
                      d->dir, (unsigned) r->blkio_weight);
    if (write_i64(d->dir, f, r->blkio_weight, err) < 0)
      return -1;
  }
  if (!update && has_controller(d, "devices") && apply_devices(d->dir, spec, err) < 0)
    return -1;
  return 0;
}
