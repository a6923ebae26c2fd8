/* The v2 backend: one directory in the unified tree. On a hybrid host that directory only holds
 * the process (and linux.resources.unified keys, e.g. hugetlb): the v1 hierarchies enforce the rest. */
#include "sandbox/cgroup_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static int write_i64_or_max(const char *dir, const char *file, int64_t v, dj_err *err)
{
  char buf[32];
  if (v < 0)
    snprintf(buf, sizeof buf, "max");
  else
    snprintf(buf, sizeof buf, "%" PRId64, v);
  return dj_cgroup_write(dir, file, buf, err);
}

int dj_cgroup_v2_enable_controllers(const char *dir, dj_err *err)
{
  char avail[512], enabled[512];
  if (dj_cgroup_read(dir, "cgroup.controllers", avail, sizeof avail, err) < 0 ||
      dj_cgroup_read(dir, "cgroup.subtree_control", enabled, sizeof enabled, err) < 0)
    return -1;
  char *save = NULL;
  for (char *c = strtok_r(avail, " ", &save); c != NULL; c = strtok_r(NULL, " ", &save)) {
    char padded[520], word[80];
    snprintf(padded, sizeof padded, " %s ", enabled);
    snprintf(word, sizeof word, " %s ", c);
    if (strstr(padded, word) != NULL)
      continue;
    char plus[80];
    snprintf(plus, sizeof plus, "+%s", c);
    if (dj_cgroup_write(dir, "cgroup.subtree_control", plus, err) < 0)
      return -1;
  }
  return 0;
}

static int apply_unified(const char *dir, json_t *unified, dj_err *err)
{
  const char *key;
  json_t *v;
  json_object_foreach(unified, key, v) {
    if (strchr(key, '/') != NULL || key[0] == '.' || strncmp(key, "cgroup.", 7) == 0)
      return dj_error(err, 0, "linux.resources.unified.%s: not a controller file", key);
    if (dj_cgroup_write(dir, key, json_string_value(v), err) < 0)
      return dj_err_wrap(err, "linux.resources.unified");
  }
  return 0;
}

int dj_cgroup_v2_apply(const struct dj_cgroup_dir *d, const struct dj_spec *spec, bool primary, bool update,
                       dj_err *err)
{
  const struct dj_resources *r = &spec->resources;
  const char *dir = d->dir;
  if (primary) {
    if (r->memory_limit != DJ_UNSET_I64 && write_i64_or_max(dir, "memory.max", r->memory_limit, err) < 0)
      return -1;
    if (r->memory_swap != DJ_UNSET_I64 && r->memory_swap != 0) {
      /* v1's memory+swap total becomes v2's swap alone (runc's conversion and checks). */
      int64_t limit = r->memory_limit, swap = -1;
      if (r->memory_swap >= 0) {
        if (limit == DJ_UNSET_I64 || limit <= 0)
          return dj_error(err, 0, "linux.resources.memory.swap: %" PRId64 " needs a memory limit", r->memory_swap);
        if (r->memory_swap < limit)
          return dj_error(err, 0, "linux.resources.memory.swap: %" PRId64 " is below memory.limit %" PRId64
                                  " (swap is memory+swap)", r->memory_swap, limit);
        swap = r->memory_swap - limit;
      }
      if (!dj_cgroup_has(dir, "memory.swap.max"))
        return dj_error(err, 0, "linux.resources.memory.swap: this kernel has no memory.swap.max");
      if (write_i64_or_max(dir, "memory.swap.max", swap, err) < 0)
        return -1;
    }
    if (r->memory_reservation != DJ_UNSET_I64 && write_i64_or_max(dir, "memory.low", r->memory_reservation, err) < 0)
      return -1;
    if (r->pids_limit != DJ_UNSET_I64 && write_i64_or_max(dir, "pids.max", r->pids_limit > 0 ? r->pids_limit : -1, err) < 0)
      return -1;
    if (r->has_cpu_shares && r->cpu_shares > 0) {
      /* runc's conversion of v1 shares [2, 262144] to v2 weight [1, 10000]; v1 clamps to that range */
      uint64_t shares = r->cpu_shares < 2 ? 2 : r->cpu_shares > 262144 ? 262144 : r->cpu_shares;
      uint64_t weight = 1 + ((shares - 2) * 9999) / 262142;
      if (write_i64_or_max(dir, "cpu.weight", (int64_t) weight, err) < 0)
        return -1;
    }
    if (r->cpu_quota != DJ_UNSET_I64 || r->has_cpu_period) {
      char buf[64];
      uint64_t period = r->has_cpu_period ? r->cpu_period : 100000;
      if (r->cpu_quota == DJ_UNSET_I64 || r->cpu_quota < 0)
        snprintf(buf, sizeof buf, "max %" PRIu64, period);
      else
        snprintf(buf, sizeof buf, "%" PRId64 " %" PRIu64, r->cpu_quota, period);
      if (dj_cgroup_write(dir, "cpu.max", buf, err) < 0)
        return -1;
    }
    if (r->cpuset_cpus != NULL && dj_cgroup_write(dir, "cpuset.cpus", r->cpuset_cpus, err) < 0)
      return -1;
    if (r->cpuset_mems != NULL && dj_cgroup_write(dir, "cpuset.mems", r->cpuset_mems, err) < 0)
      return -1;
    if (r->has_blkio_weight) {
      /* io.bfq.weight takes v1's 10..1000 as it is; io.weight is 1..10000 (runc's conversion). */
      bool bfq = dj_cgroup_has(dir, "io.bfq.weight");
      int64_t w = bfq ? r->blkio_weight : 1 + ((int64_t) r->blkio_weight - 10) * 9999 / 990;
      if (write_i64_or_max(dir, bfq ? "io.bfq.weight" : "io.weight", w, err) < 0)
        return -1;
    }
    if (!update) {
      struct dj_device_rule *rules = NULL;
      size_t n = 0;
      dj_cgroup_device_rules(spec, &rules, &n);
      int rc = dj_cgroup_bpf_devices(dir, rules, n, err);
      free(rules);
      if (rc < 0)
        return -1;
    }
  }
  if (r->unified != NULL && apply_unified(dir, r->unified, err) < 0)
    return -1;
  return 0;
}
