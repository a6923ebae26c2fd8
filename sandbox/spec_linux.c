/* config.json's linux section -> struct dj_spec: namespaces, id mappings, devices, resources,
 * seccomp, sysctl, time offsets, personality. Errors are named by their JSON path. */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>

#include "common/json.h"
#include "common/util.h"
#include "sandbox/spec_internal.h"

#define MAX_ID_MAP_LINES 340 /* the kernel's limit for uid_map/gid_map */

/* ---- linux: namespaces, id mappings, devices ---- */

static int parse_namespaces(struct dj_spec *s, json_t *lx, dj_err *err)
{
  char ip[DJ_JPATH_MAX], p[DJ_JPATH_MAX];
  json_t *arr;
  if (TRY_R(spec_opt_object_array(lx, "namespaces", "linux", &arr, err)) == 0)
    return 0;
  s->namespaces = dj_xcalloc(json_array_size(arr), sizeof *s->namespaces);
  int seen = 0;
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *e = json_array_get(arr, i);
    struct dj_namespace *ns = &s->namespaces[i];
    const char *type;
    dj_jpath_index(ip, "linux.namespaces", i);
    TRY(dj_json_req_string(e, "type", ip, &type, err));
    spec_key_path(p, ip, "type");
    if ((ns->type = dj_namespace_from_name(type)) < 0)
      return spec_perr(err, p, "unknown namespace \"%s\"", type);
    if (seen & ns->type)
      return spec_perr(err, p, "duplicate namespace \"%s\"", type);
    seen |= ns->type;
    TRY(dj_json_opt_string(e, "path", ip, &ns->path, err));
    if (ns->path != NULL && *ns->path == '\0')
      ns->path = NULL; /* the spec: an empty path means a new namespace */
    if (ns->path != NULL)
      TRY(spec_check_abs(spec_key_path(p, ip, "path"), ns->path, err));
    else
      s->ns_flags |= ns->type;
    s->n_namespaces = i + 1;
  }
  return 0;
}

static int parse_id_maps(json_t *lx, const char *key, struct dj_id_map **out, size_t *n, dj_err *err)
{
  char p[DJ_JPATH_MAX], ip[DJ_JPATH_MAX];
  json_t *arr;
  if (TRY_R(spec_opt_object_array(lx, key, "linux", &arr, err)) == 0)
    return 0;
  spec_key_path(p, "linux", key);
  if (json_array_size(arr) > MAX_ID_MAP_LINES)
    return spec_perr(err, p, "%zu lines, the kernel takes at most %d", json_array_size(arr), MAX_ID_MAP_LINES);
  *out = dj_xcalloc(json_array_size(arr), sizeof **out);
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *e = json_array_get(arr, i);
    struct dj_id_map *m = &(*out)[i];
    dj_jpath_index(ip, p, i);
    TRY(spec_req_u32(e, "containerID", ip, &m->container_id, err));
    TRY(spec_req_u32(e, "hostID", ip, &m->host_id, err));
    TRY(spec_req_u32(e, "size", ip, &m->size, err));
    if (m->size == 0)
      return spec_perr(err, ip, "size must be greater than 0");
    if ((uint64_t) m->container_id + m->size > UINT32_MAX || (uint64_t) m->host_id + m->size > UINT32_MAX)
      return spec_perr(err, ip, "range overflows 32-bit ids");
    for (size_t j = 0; j < i; j++) {
      const struct dj_id_map *o = &(*out)[j];
      if (m->container_id < o->container_id + o->size && o->container_id < m->container_id + m->size)
        return spec_perr(err, ip, "container range overlaps %s[%zu]", p, j);
    }
    *n = i + 1;
  }
  return 0;
}

static int parse_devices(struct dj_spec *s, json_t *lx, dj_err *err)
{
  char ip[DJ_JPATH_MAX], p[DJ_JPATH_MAX];
  json_t *arr;
  if (TRY_R(spec_opt_object_array(lx, "devices", "linux", &arr, err)) == 0)
    return 0;
  s->devices = dj_xcalloc(json_array_size(arr), sizeof *s->devices);
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *e = json_array_get(arr, i);
    struct dj_device *d = &s->devices[i];
    const char *type;
    dj_jpath_index(ip, "linux.devices", i);
    TRY(dj_json_req_string(e, "type", ip, &type, err));
    if (strlen(type) != 1 || strchr("cbup", type[0]) == NULL)
      return spec_perr(err, spec_key_path(p, ip, "type"), "unknown device type \"%s\" (c, b, u or p)", type);
    d->type = type[0];
    TRY(dj_json_req_string(e, "path", ip, &d->path, err));
    TRY(spec_check_abs(spec_key_path(p, ip, "path"), d->path, err));
    if (d->type != 'p') {
      TRY(spec_req_i64(e, "major", ip, 0, UINT32_MAX, &d->major, err));
      TRY(spec_req_i64(e, "minor", ip, 0, UINT32_MAX, &d->minor, err));
    } else {
      d->major = d->minor = 0;
    }
    int64_t mode;
    if (TRY_R(dj_json_opt_int64(e, "fileMode", ip, 0, 07777, &mode, err)) == 1) {
      d->file_mode = (uint32_t) mode;
      d->has_file_mode = true;
    }
    TRY(spec_opt_u32(e, "uid", ip, &d->uid, &d->has_uid, err));
    TRY(spec_opt_u32(e, "gid", ip, &d->gid, &d->has_gid, err));
    s->n_devices = i + 1;
  }
  return 0;
}

/* ---- linux.resources ---- */

/* "0-3,5": what cpuset.cpus and cpuset.mems take. */
static int check_cpu_list(const char *path, const char *v, dj_err *err)
{
  bool digit = false;
  for (const char *c = v; *c; c++) {
    if (*c >= '0' && *c <= '9')
      digit = true;
    else if ((*c == ',' || *c == '-') && digit)
      digit = false;
    else
      return spec_perr(err, path, "\"%s\" is not a list like \"0-3,5\"", v);
  }
  return *v == '\0' || digit ? 0 : spec_perr(err, path, "\"%s\" is not a list like \"0-3,5\"", v);
}

static int parse_memory(struct dj_resources *r, json_t *res, dj_err *err)
{
  const char *P = "linux.resources.memory";
  json_t *mem;
  if (TRY_R(dj_json_opt_object(res, "memory", "linux.resources", &mem, err)) == 0)
    return 0;
  TRY(dj_json_opt_int64(mem, "limit", P, -1, INT64_MAX, &r->memory_limit, err));
  TRY(dj_json_opt_int64(mem, "reservation", P, -1, INT64_MAX, &r->memory_reservation, err));
  TRY(dj_json_opt_int64(mem, "swap", P, -1, INT64_MAX, &r->memory_swap, err));
  TRY(dj_json_opt_int64(mem, "kernel", P, -1, INT64_MAX, &r->memory_kernel, err));
  TRY(dj_json_opt_int64(mem, "swappiness", P, 0, 100, &r->memory_swappiness, err));
  if (TRY_R(dj_json_opt_bool(mem, "disableOOMKiller", P, &r->disable_oom_killer, err)) == 1)
    r->has_disable_oom_killer = true;
  TRY(spec_refuse_unsupported(mem, "kernelTCP", P, err));
  /* swap is memory+swap, as in runc: below the memory limit it means nothing sane */
  if (r->memory_swap != DJ_UNSET_I64 && r->memory_swap != -1 && r->memory_limit != DJ_UNSET_I64 &&
      r->memory_limit != -1 && r->memory_swap < r->memory_limit)
    return spec_perr(err, "linux.resources.memory.swap", "%lld is below memory.limit %lld (swap counts memory plus swap)",
                (long long) r->memory_swap, (long long) r->memory_limit);
  return 0;
}

static int parse_cpu(struct dj_resources *r, json_t *res, dj_err *err)
{
  const char *P = "linux.resources.cpu";
  json_t *cpu;
  if (TRY_R(dj_json_opt_object(res, "cpu", "linux.resources", &cpu, err)) == 0)
    return 0;
  if (TRY_R(dj_json_opt_uint64(cpu, "shares", P, UINT64_MAX, &r->cpu_shares, err)) == 1)
    r->has_cpu_shares = true;
  TRY(dj_json_opt_int64(cpu, "quota", P, -1, INT64_MAX, &r->cpu_quota, err));
  if (TRY_R(dj_json_opt_uint64(cpu, "period", P, UINT64_MAX, &r->cpu_period, err)) == 1)
    r->has_cpu_period = true;
  if (TRY_R(dj_json_opt_int64(cpu, "realtimeRuntime", P, -1, INT64_MAX, &r->cpu_realtime_runtime, err)) == 1)
    r->has_rt_runtime = true;
  if (TRY_R(dj_json_opt_uint64(cpu, "realtimePeriod", P, UINT64_MAX, &r->cpu_realtime_period, err)) == 1)
    r->has_rt_period = true;
  if (TRY_R(dj_json_opt_string(cpu, "cpus", P, &r->cpuset_cpus, err)) == 1)
    TRY(check_cpu_list("linux.resources.cpu.cpus", r->cpuset_cpus, err));
  if (TRY_R(dj_json_opt_string(cpu, "mems", P, &r->cpuset_mems, err)) == 1)
    TRY(check_cpu_list("linux.resources.cpu.mems", r->cpuset_mems, err));
  TRY(spec_refuse_unsupported(cpu, "idle", P, err));
  TRY(spec_refuse_unsupported(cpu, "burst", P, err));
  return 0;
}

static int parse_block_io(struct dj_resources *r, json_t *res, dj_err *err)
{
  static const char *const unsupported[] = { "leafWeight", "weightDevice", "throttleReadBpsDevice",
    "throttleWriteBpsDevice", "throttleReadIOPSDevice", "throttleWriteIOPSDevice" };
  const char *P = "linux.resources.blockIO";
  json_t *bio;
  int64_t w;
  if (TRY_R(dj_json_opt_object(res, "blockIO", "linux.resources", &bio, err)) == 0)
    return 0;
  if (TRY_R(dj_json_opt_int64(bio, "weight", P, 10, 1000, &w, err)) == 1) {
    r->blkio_weight = (uint16_t) w;
    r->has_blkio_weight = true;
  }
  for (size_t i = 0; i < DJ_ARRAY_SIZE(unsupported); i++)
    TRY(spec_refuse_unsupported(bio, unsupported[i], P, err));
  return 0;
}

static int parse_device_rules(struct dj_resources *r, json_t *res, dj_err *err)
{
  char ip[DJ_JPATH_MAX], p[DJ_JPATH_MAX];
  json_t *arr;
  if (TRY_R(spec_opt_object_array(res, "devices", "linux.resources", &arr, err)) == 0)
    return 0;
  r->devices = dj_xcalloc(json_array_size(arr), sizeof *r->devices);
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *e = json_array_get(arr, i);
    struct dj_device_rule *d = &r->devices[i];
    const char *type = "a", *access = "";
    dj_jpath_index(ip, "linux.resources.devices", i);
    json_t *allow = json_object_get(e, "allow");
    if (allow == NULL || json_is_null(allow))
      return spec_perr(err, spec_key_path(p, ip, "allow"), "missing");
    TRY(dj_json_opt_bool(e, "allow", ip, &d->allow, err));
    TRY(dj_json_opt_string(e, "type", ip, &type, err));
    if (strcmp(type, "a") != 0 && strcmp(type, "c") != 0 && strcmp(type, "b") != 0)
      return spec_perr(err, spec_key_path(p, ip, "type"), "unknown device type \"%s\" (a, c or b)", type);
    d->type = type[0];
    d->major = d->minor = -1;
    TRY(dj_json_opt_int64(e, "major", ip, -1, UINT32_MAX, &d->major, err));
    TRY(dj_json_opt_int64(e, "minor", ip, -1, UINT32_MAX, &d->minor, err));
    TRY(dj_json_opt_string(e, "access", ip, &access, err));
    size_t n = 0;
    for (const char *c = access; *c; c++) { /* kept in the order given, each letter once */
      if (strchr("rwm", *c) == NULL || memchr(d->access, *c, n) != NULL)
        return spec_perr(err, spec_key_path(p, ip, "access"), "\"%s\" is not a combination of r, w and m", access);
      d->access[n++] = *c;
    }
    r->n_devices = i + 1;
  }
  return 0;
}

static int parse_resources(struct dj_spec *s, json_t *lx, dj_err *err)
{
  static const char *const unsupported[] = { "hugepageLimits", "network", "rdma" };
  struct dj_resources *r = &s->resources;
  const char *P = "linux.resources";
  json_t *res, *pids = NULL;
  if (TRY_R(dj_json_opt_object(lx, "resources", "linux", &res, err)) == 0)
    return 0;
  r->present = true;
  TRY(parse_memory(r, res, err));
  TRY(parse_cpu(r, res, err));
  TRY(dj_json_opt_object(res, "pids", P, &pids, err));
  TRY(dj_json_opt_int64(pids, "limit", "linux.resources.pids", -1, INT64_MAX, &r->pids_limit, err));
  TRY(parse_block_io(r, res, err));
  TRY(parse_device_rules(r, res, err));
  for (size_t i = 0; i < DJ_ARRAY_SIZE(unsupported); i++)
    TRY(spec_refuse_unsupported(res, unsupported[i], P, err));
  if (TRY_R(spec_opt_string_map(res, "unified", P, &r->unified, err)) == 1) {
    const char *k;
    json_t *v;
    char p[DJ_JPATH_MAX];
    json_object_foreach(r->unified, k, v) { /* keys are file names in the container's cgroup */
      if (*k == '\0' || *k == '.' || strchr(k, '/') != NULL)
        return spec_perr(err, spec_key_path(p, "linux.resources.unified", k), "not a cgroup file name");
    }
  }
  return 0;
}

/* ---- linux.seccomp ---- */

static const struct { const char *name; enum dj_seccomp_action action; } scmp_actions[] = {
  { "SCMP_ACT_KILL", DJ_SCMP_ACT_KILL }, { "SCMP_ACT_KILL_PROCESS", DJ_SCMP_ACT_KILL_PROCESS },
  { "SCMP_ACT_KILL_THREAD", DJ_SCMP_ACT_KILL_THREAD }, { "SCMP_ACT_TRAP", DJ_SCMP_ACT_TRAP },
  { "SCMP_ACT_ERRNO", DJ_SCMP_ACT_ERRNO }, { "SCMP_ACT_TRACE", DJ_SCMP_ACT_TRACE },
  { "SCMP_ACT_ALLOW", DJ_SCMP_ACT_ALLOW }, { "SCMP_ACT_LOG", DJ_SCMP_ACT_LOG },
  { "SCMP_ACT_NOTIFY", DJ_SCMP_ACT_NOTIFY },
};

static const char *const scmp_archs[] = {
  "SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
  "SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
  "SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
  "SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64",
  "SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K", "SCMP_ARCH_SH", "SCMP_ARCH_SHEB",
};

static const char *const scmp_flags[] = {
  "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
  "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
};

static const struct { const char *name; enum dj_seccomp_op op; } scmp_ops[] = {
  { "SCMP_CMP_NE", DJ_SCMP_NE }, { "SCMP_CMP_LT", DJ_SCMP_LT }, { "SCMP_CMP_LE", DJ_SCMP_LE },
  { "SCMP_CMP_EQ", DJ_SCMP_EQ }, { "SCMP_CMP_GE", DJ_SCMP_GE }, { "SCMP_CMP_GT", DJ_SCMP_GT },
  { "SCMP_CMP_MASKED_EQ", DJ_SCMP_MASKED_EQ },
};

static int seccomp_action(json_t *obj, const char *key, const char *path, enum dj_seccomp_action *out, dj_err *err)
{
  char p[DJ_JPATH_MAX];
  const char *name;
  TRY(dj_json_req_string(obj, key, path, &name, err));
  spec_key_path(p, path, key);
  for (size_t i = 0; i < DJ_ARRAY_SIZE(scmp_actions); i++) {
    if (strcmp(scmp_actions[i].name, name) == 0) {
      if (scmp_actions[i].action == DJ_SCMP_ACT_NOTIFY)
        return spec_perr(err, p, "\"%s\" is not supported by donjon (no seccomp agent)", name);
      *out = scmp_actions[i].action;
      return 0;
    }
  }
  return spec_perr(err, p, "unknown action \"%s\"", name);
}

/* errnoRet only means something for ERRNO and TRACE; errno values stop at 4095. */
static int seccomp_errno(json_t *obj, const char *key, const char *path, enum dj_seccomp_action action,
                         uint32_t *out, bool *has, dj_err *err)
{
  char p[DJ_JPATH_MAX];
  int64_t v;
  if (TRY_R(dj_json_opt_int64(obj, key, path, 0, 4095, &v, err)) == 0)
    return 0;
  if (action != DJ_SCMP_ACT_ERRNO && action != DJ_SCMP_ACT_TRACE)
    return spec_perr(err, spec_key_path(p, path, key), "only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE");
  *out = (uint32_t) v;
  *has = true;
  return 0;
}

/* An array of strings each of which must be in names[]. */
static int seccomp_names(json_t *sc, const char *key, const char *const *names, size_t n_names,
                         const char *what, const char ***out, size_t *n, dj_err *err)
{
  char p[DJ_JPATH_MAX], ip[DJ_JPATH_MAX];
  json_t *arr = NULL;
  TRY(dj_json_opt_array(sc, key, "linux.seccomp", &arr, err));
  spec_key_path(p, "linux.seccomp", key);
  TRY(dj_json_string_vector(arr, p, out, n, err));
  for (size_t i = 0; i < *n; i++) {
    size_t j = 0;
    while (j < n_names && strcmp(names[j], (*out)[i]) != 0)
      j++;
    if (j == n_names)
      return spec_perr(err, spec_idx_path(ip, p, i), "unknown %s \"%s\"", what, (*out)[i]);
  }
  return 0;
}

static int parse_seccomp_args(json_t *rule, const char *path, struct dj_seccomp_rule *r, dj_err *err)
{
  char p[DJ_JPATH_MAX], ip[DJ_JPATH_MAX], op_path[DJ_JPATH_MAX];
  json_t *arr;
  if (TRY_R(spec_opt_object_array(rule, "args", path, &arr, err)) == 0)
    return 0;
  spec_key_path(p, path, "args");
  r->args = dj_xcalloc(json_array_size(arr), sizeof *r->args);
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *e = json_array_get(arr, i);
    struct dj_seccomp_arg *a = &r->args[i];
    int64_t v;
    const char *op;
    dj_jpath_index(ip, p, i);
    TRY(spec_req_i64(e, "index", ip, 0, 5, &v, err));
    a->index = (unsigned) v;
    TRY(spec_req_i64(e, "value", ip, 0, INT64_MAX, &v, err));
    a->value = (uint64_t) v;
    if (TRY_R(dj_json_opt_int64(e, "valueTwo", ip, 0, INT64_MAX, &v, err)) == 1)
      a->value_two = (uint64_t) v;
    TRY(dj_json_req_string(e, "op", ip, &op, err));
    for (size_t j = 0; j < DJ_ARRAY_SIZE(scmp_ops) && a->op == 0; j++)
      if (strcmp(scmp_ops[j].name, op) == 0)
        a->op = scmp_ops[j].op;
    if (a->op == 0)
      return spec_perr(err, spec_key_path(op_path, ip, "op"), "unknown operator \"%s\"", op);
    r->n_args = i + 1;
  }
  return 0;
}

static int parse_seccomp(struct dj_spec *s, json_t *lx, dj_err *err)
{
  const char *P = "linux.seccomp";
  char ip[DJ_JPATH_MAX], np[DJ_JPATH_MAX], nip[DJ_JPATH_MAX];
  json_t *sc, *rules = NULL;
  if (TRY_R(dj_json_opt_object(lx, "seccomp", "linux", &sc, err)) == 0)
    return 0;
  struct dj_seccomp *x = s->seccomp = dj_xcalloc(1, sizeof *s->seccomp);
  TRY(seccomp_action(sc, "defaultAction", P, &x->default_action, err));
  TRY(seccomp_errno(sc, "defaultErrnoRet", P, x->default_action, &x->default_errno_ret,
                    &x->has_default_errno_ret, err));
  TRY(seccomp_names(sc, "architectures", scmp_archs, DJ_ARRAY_SIZE(scmp_archs), "architecture",
                    &x->architectures, &x->n_architectures, err));
  TRY(seccomp_names(sc, "flags", scmp_flags, DJ_ARRAY_SIZE(scmp_flags), "flag", &x->flags, &x->n_flags, err));
  TRY(spec_refuse_unsupported(sc, "listenerPath", P, err));
  TRY(spec_refuse_unsupported(sc, "listenerMetadata", P, err));
  TRY(spec_opt_object_array(sc, "syscalls", P, &rules, err));
  x->rules = dj_xcalloc(json_array_size(rules), sizeof *x->rules);
  for (size_t i = 0; i < json_array_size(rules); i++) {
    json_t *e = json_array_get(rules, i), *names;
    struct dj_seccomp_rule *r = &x->rules[i];
    x->n_rules = i + 1;
    dj_jpath_index(ip, "linux.seccomp.syscalls", i);
    TRY(dj_json_req_array(e, "names", ip, &names, err));
    spec_key_path(np, ip, "names");
    TRY(dj_json_string_vector(names, np, &r->names, &r->n_names, err));
    if (r->n_names == 0)
      return spec_perr(err, np, "must name at least one syscall");
    for (size_t j = 0; j < r->n_names; j++)
      if (r->names[j][0] == '\0')
        return spec_perr(err, spec_idx_path(nip, np, j), "empty syscall name");
    TRY(seccomp_action(e, "action", ip, &r->action, err));
    TRY(seccomp_errno(e, "errnoRet", ip, r->action, &r->errno_ret, &r->has_errno_ret, err));
    TRY(parse_seccomp_args(e, ip, r, err));
  }
  return 0;
}

/* ---- linux: the rest ---- */

static int parse_time_offsets(struct dj_spec *s, json_t *lx, dj_err *err)
{
  char p[DJ_JPATH_MAX];
  const char *clock;
  json_t *to, *v;
  if (TRY_R(dj_json_opt_object(lx, "timeOffsets", "linux", &to, err)) == 0)
    return 0;
  if (!(s->ns_flags & CLONE_NEWTIME))
    return spec_perr(err, "linux.timeOffsets", "given, but no new time namespace is created");
  json_object_foreach(to, clock, v) {
    int64_t *secs, *nsecs;
    spec_key_path(p, "linux.timeOffsets", clock);
    if (strcmp(clock, "monotonic") == 0) {
      secs = &s->time_offset_monotonic_s;
      nsecs = &s->time_offset_monotonic_ns;
    } else if (strcmp(clock, "boottime") == 0) {
      secs = &s->time_offset_boottime_s;
      nsecs = &s->time_offset_boottime_ns;
    } else {
      return spec_perr(err, p, "unknown clock (monotonic or boottime)");
    }
    if (!json_is_object(v))
      return spec_perr(err, p, "expected an object, got %s", dj_json_type_name(v));
    TRY(dj_json_opt_int64(v, "secs", p, INT64_MIN, INT64_MAX, secs, err));
    TRY(dj_json_opt_int64(v, "nanosecs", p, 0, 999999999, nsecs, err));
  }
  s->has_time_offsets = true;
  return 0;
}

static int parse_personality(struct dj_spec *s, json_t *lx, dj_err *err)
{
  const char *domain;
  json_t *pers;
  if (TRY_R(dj_json_opt_object(lx, "personality", "linux", &pers, err)) == 0)
    return 0;
  TRY(dj_json_req_string(pers, "domain", "linux.personality", &domain, err));
  if (strcmp(domain, "LINUX") == 0)
    s->personality = PER_LINUX;
  else if (strcmp(domain, "LINUX32") == 0)
    s->personality = PER_LINUX32;
  else
    return spec_perr(err, "linux.personality.domain", "unknown domain \"%s\" (LINUX or LINUX32)", domain);
  TRY(spec_refuse_unsupported(pers, "flags", "linux.personality", err));
  s->has_personality = true;
  return 0;
}

static int parse_sysctl(struct dj_spec *s, json_t *lx, dj_err *err)
{
  char p[DJ_JPATH_MAX];
  const char *k;
  json_t *obj, *v;
  if (TRY_R(spec_opt_string_map(lx, "sysctl", "linux", &obj, err)) == 0)
    return 0;
  s->sysctl = dj_xcalloc(json_object_size(obj), sizeof *s->sysctl);
  json_object_foreach(obj, k, v) {
    /* keys become paths under /proc/sys: nothing that could leave it */
    bool ok = *k != '\0' && *k != '.' && k[strlen(k) - 1] != '.' && strstr(k, "..") == NULL;
    for (const char *c = k; ok && *c; c++)
      ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
           *c == '_' || *c == '-' || *c == '.';
    if (!ok)
      return spec_perr(err, spec_key_path(p, "linux.sysctl", k), "not a sysctl name");
    s->sysctl[s->n_sysctl].key = k;
    s->sysctl[s->n_sysctl++].value = json_string_value(v);
  }
  return 0;
}

int dj_spec_parse_linux(struct dj_spec *s, json_t *root, dj_err *err)
{
  static const char *const unsupported[] = { "intelRdt", "memoryPolicy", "netDevices" };
  static const char *const propagations[] = { "shared", "slave", "private", "unbindable" };
  static const unsigned long prop_flags[] = { MS_SHARED, MS_SLAVE, MS_PRIVATE, MS_UNBINDABLE };
  json_t *lx;
  const char *prop;
  if (TRY_R(dj_json_opt_object(root, "linux", "", &lx, err)) == 0)
    lx = NULL; /* no linux section: nothing new, nothing joined */
  TRY(parse_namespaces(s, lx, err));
  TRY(parse_id_maps(lx, "uidMappings", &s->uid_mappings, &s->n_uid_mappings, err));
  TRY(parse_id_maps(lx, "gidMappings", &s->gid_mappings, &s->n_gid_mappings, err));
  bool has_userns = false;
  for (size_t i = 0; i < s->n_namespaces; i++)
    has_userns |= s->namespaces[i].type == CLONE_NEWUSER;
  if (s->ns_flags & CLONE_NEWUSER) {
    if (s->n_uid_mappings == 0)
      return spec_perr(err, "linux.uidMappings", "required when a new user namespace is created");
    if (s->n_gid_mappings == 0)
      return spec_perr(err, "linux.gidMappings", "required when a new user namespace is created");
  } else if (!has_userns && (s->n_uid_mappings > 0 || s->n_gid_mappings > 0)) {
    return spec_perr(err, s->n_uid_mappings > 0 ? "linux.uidMappings" : "linux.gidMappings",
                "given, but there is no user namespace");
  }
  TRY(parse_devices(s, lx, err));
  TRY(parse_resources(s, lx, err));
  TRY(dj_json_opt_string(lx, "cgroupsPath", "linux", &s->cgroups_path, err));
  if (TRY_R(dj_json_opt_string(lx, "rootfsPropagation", "linux", &prop, err)) == 1) {
    bool rec = prop[0] == 'r';
    for (size_t i = 0; i < DJ_ARRAY_SIZE(propagations) && s->rootfs_propagation == 0; i++)
      if (strcmp(prop + rec, propagations[i]) == 0)
        s->rootfs_propagation = prop_flags[i] | (rec ? MS_REC : 0);
    if (s->rootfs_propagation == 0)
      return spec_perr(err, "linux.rootfsPropagation", "unknown propagation \"%s\"", prop);
  }
  TRY(spec_opt_path_vector(lx, "maskedPaths", "linux", &s->masked_paths, &s->n_masked_paths, err));
  TRY(spec_opt_path_vector(lx, "readonlyPaths", "linux", &s->readonly_paths, &s->n_readonly_paths, err));
  TRY(parse_sysctl(s, lx, err));
  TRY(parse_seccomp(s, lx, err));
  TRY(parse_time_offsets(s, lx, err));
  TRY(parse_personality(s, lx, err));
  TRY(dj_json_opt_string(lx, "mountLabel", "linux", &s->mount_label, err));
  for (size_t i = 0; i < DJ_ARRAY_SIZE(unsupported); i++)
    TRY(spec_refuse_unsupported(lx, unsupported[i], "linux", err));
  return 0;
}


const char *const *spec_linux_names(enum dj_spec_names kind)
{
  static const char *actions[DJ_ARRAY_SIZE(scmp_actions) + 1], *ops[DJ_ARRAY_SIZE(scmp_ops) + 1];
  static const char *archs[DJ_ARRAY_SIZE(scmp_archs) + 1], *flags[DJ_ARRAY_SIZE(scmp_flags) + 1];
  if (actions[0] == NULL) {
    size_t k = 0;
    for (size_t i = 0; i < DJ_ARRAY_SIZE(scmp_actions); i++)
      if (scmp_actions[i].action != DJ_SCMP_ACT_NOTIFY) /* refused: no listenerPath support */
        actions[k++] = scmp_actions[i].name;
    for (size_t i = 0; i < DJ_ARRAY_SIZE(scmp_ops); i++)
      ops[i] = scmp_ops[i].name;
    for (size_t i = 0; i < DJ_ARRAY_SIZE(scmp_archs); i++)
      archs[i] = scmp_archs[i];
    for (size_t i = 0; i < DJ_ARRAY_SIZE(scmp_flags); i++)
      flags[i] = scmp_flags[i];
  }
  switch (kind) {
  case DJ_NAMES_SECCOMP_ACTIONS: return actions;
  case DJ_NAMES_SECCOMP_OPS: return ops;
  case DJ_NAMES_SECCOMP_ARCHS: return archs;
  case DJ_NAMES_SECCOMP_FLAGS: return flags;
  default: return NULL;
  }
}
