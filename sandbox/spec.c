/* config.json (runtime-spec 1.2) -> struct dj_spec: every known property checked, errors named by
 * their JSON path. Strings are borrowed from spec->doc; only the vectors are allocated here. */
#include "sandbox/spec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/resource.h>

#include "common/json.h"
#include "common/util.h"
#include "sandbox/spec_internal.h"


/* ---- name tables ---- */

/* Every capability libcap 2.66 knows, indexed by number (checked against libcap by the tests). */
static const char *const cap_names[] = {
  "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
  "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
  "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
  "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
  "CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
  "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
  "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
  "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
};

int dj_cap_from_name(const char *name)
{
  for (size_t i = 0; i < DJ_ARRAY_SIZE(cap_names); i++)
    if (strcmp(cap_names[i], name) == 0)
      return (int) i;
  return -1;
}

const char *dj_cap_name(int cap)
{
  return cap >= 0 && (size_t) cap < DJ_ARRAY_SIZE(cap_names) ? cap_names[cap] : NULL;
}

static const struct { const char *name; int value; } rlimit_names[] = {
  { "RLIMIT_AS", RLIMIT_AS }, { "RLIMIT_CORE", RLIMIT_CORE }, { "RLIMIT_CPU", RLIMIT_CPU },
  { "RLIMIT_DATA", RLIMIT_DATA }, { "RLIMIT_FSIZE", RLIMIT_FSIZE }, { "RLIMIT_LOCKS", RLIMIT_LOCKS },
  { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK }, { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
  { "RLIMIT_NICE", RLIMIT_NICE }, { "RLIMIT_NOFILE", RLIMIT_NOFILE }, { "RLIMIT_NPROC", RLIMIT_NPROC },
  { "RLIMIT_RSS", RLIMIT_RSS }, { "RLIMIT_RTPRIO", RLIMIT_RTPRIO }, { "RLIMIT_RTTIME", RLIMIT_RTTIME },
  { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING }, { "RLIMIT_STACK", RLIMIT_STACK },
};

int dj_rlimit_from_name(const char *name)
{
  for (size_t i = 0; i < DJ_ARRAY_SIZE(rlimit_names); i++)
    if (strcmp(rlimit_names[i].name, name) == 0)
      return rlimit_names[i].value;
  return -1;
}

static const struct { const char *name; int flag; } ns_names[] = {
  { "pid", CLONE_NEWPID }, { "network", CLONE_NEWNET }, { "mount", CLONE_NEWNS },
  { "ipc", CLONE_NEWIPC }, { "uts", CLONE_NEWUTS }, { "user", CLONE_NEWUSER },
  { "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },
};

int dj_namespace_from_name(const char *name)
{
  for (size_t i = 0; i < DJ_ARRAY_SIZE(ns_names); i++)
    if (strcmp(ns_names[i].name, name) == 0)
      return ns_names[i].flag;
  return -1;
}

const char *dj_namespace_name(int clone_flag)
{
  for (size_t i = 0; i < DJ_ARRAY_SIZE(ns_names); i++)
    if (ns_names[i].flag == clone_flag)
      return ns_names[i].name;
  return NULL;
}

/* ---- helpers ---- */

/* "PATH: reason" */
int spec_perr(dj_err *err, const char *path, const char *fmt, ...)
{
  char msg[DJ_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return dj_error(err, 0, "%s: %s", path, msg);
}

const char *spec_key_path(char buf[DJ_JPATH_MAX], const char *parent, const char *key)
{
  dj_jpath_key(buf, parent, key);
  return buf;
}

const char *spec_idx_path(char buf[DJ_JPATH_MAX], const char *parent, size_t idx)
{
  dj_jpath_index(buf, parent, idx);
  return buf;
}

/* A property donjon knows but does not implement: refused when it asks for anything. */
bool spec_json_nonempty(const json_t *v)
{
  if (v == NULL || json_is_null(v) || json_is_false(v))
    return false;
  if (json_is_object(v))
    return json_object_size(v) > 0;
  if (json_is_array(v))
    return json_array_size(v) > 0;
  if (json_is_string(v))
    return json_string_length(v) > 0;
  return !(json_is_integer(v) && json_integer_value(v) == 0);
}

int spec_refuse_unsupported(json_t *obj, const char *key, const char *path, dj_err *err)
{
  char p[DJ_JPATH_MAX];
  if (spec_json_nonempty(json_object_get(obj, key)))
    return spec_perr(err, spec_key_path(p, path, key), "not supported by donjon");
  return 0;
}

int spec_check_abs(const char *path, const char *v, dj_err *err)
{
  return v[0] == '/' ? 0 : spec_perr(err, path, "must be an absolute path");
}

int spec_opt_u32(json_t *o, const char *k, const char *path, uint32_t *out, bool *has, dj_err *err)
{
  int64_t v;
  int r = dj_json_opt_int64(o, k, path, 0, UINT32_MAX, &v, err);
  if (r == 1) {
    *out = (uint32_t) v;
    if (has != NULL)
      *has = true;
  }
  return r;
}

int spec_req_i64(json_t *o, const char *k, const char *path, int64_t min, int64_t max, int64_t *out, dj_err *err)
{
  char p[DJ_JPATH_MAX];
  int r = dj_json_opt_int64(o, k, path, min, max, out, err);
  return r == 0 ? spec_perr(err, spec_key_path(p, path, k), "missing") : r;
}

int spec_req_u32(json_t *o, const char *k, const char *path, uint32_t *out, dj_err *err)
{
  int64_t v;
  TRY(spec_req_i64(o, k, path, 0, UINT32_MAX, &v, err));
  *out = (uint32_t) v;
  return 0;
}

/* Optional array at obj.key; each element must be an object. Returns 0 absent, 1 present. */
int spec_opt_object_array(json_t *obj, const char *key, const char *path, json_t **out, dj_err *err)
{
  char p[DJ_JPATH_MAX], ip[DJ_JPATH_MAX];
  int r = dj_json_opt_array(obj, key, path, out, err);
  if (r <= 0)
    return r;
  for (size_t i = 0; i < json_array_size(*out); i++) {
    json_t *e = json_array_get(*out, i);
    if (!json_is_object(e)) {
      dj_jpath_index(ip, spec_key_path(p, path, key), i);
      return spec_perr(err, ip, "expected an object, got %s", dj_json_type_name(e));
    }
  }
  return 1;
}

/* Optional array of absolute paths. */
int spec_opt_path_vector(json_t *obj, const char *key, const char *path, const char ***out, size_t *n,
                           dj_err *err)
{
  char p[DJ_JPATH_MAX], ip[DJ_JPATH_MAX];
  json_t *arr;
  int r = dj_json_opt_array(obj, key, path, &arr, err);
  if (r <= 0)
    return r;
  spec_key_path(p, path, key);
  TRY(dj_json_string_vector(arr, p, out, n, err));
  for (size_t i = 0; i < *n; i++) {
    dj_jpath_index(ip, p, i);
    TRY(spec_check_abs(ip, (*out)[i], err));
  }
  return 1;
}

/* An object whose members are all strings (annotations, sysctl, unified). */
int spec_opt_string_map(json_t *obj, const char *key, const char *path, json_t **out, dj_err *err)
{
  char p[DJ_JPATH_MAX], kp[DJ_JPATH_MAX];
  const char *k;
  json_t *v;
  int r = dj_json_opt_object(obj, key, path, out, err);
  if (r <= 0)
    return r;
  json_object_foreach(*out, k, v) {
    if (!json_is_string(v))
      return spec_perr(err, spec_key_path(kp, spec_key_path(p, path, key), k), "expected a string, got %s",
                  dj_json_type_name(v));
  }
  return 1;
}

/* ---- process ---- */

static int parse_caps(json_t *proc, struct dj_caps *caps, dj_err *err)
{
  static const char *const sets[] = { "bounding", "effective", "inheritable", "permitted", "ambient" };
  uint64_t *masks[] = { &caps->bounding, &caps->effective, &caps->inheritable, &caps->permitted, &caps->ambient };
  char p[DJ_JPATH_MAX], ip[DJ_JPATH_MAX];
  json_t *obj = NULL;
  TRY(dj_json_opt_object(proc, "capabilities", "process", &obj, err));
  if (obj == NULL)
    return 0;
  caps->present = true;
  for (size_t s = 0; s < DJ_ARRAY_SIZE(sets); s++) {
    json_t *arr = NULL;
    TRY(dj_json_opt_array(obj, sets[s], "process.capabilities", &arr, err));
    spec_key_path(p, "process.capabilities", sets[s]);
    for (size_t i = 0; i < json_array_size(arr); i++) {
      json_t *e = json_array_get(arr, i);
      dj_jpath_index(ip, p, i);
      if (!json_is_string(e))
        return spec_perr(err, ip, "expected a string, got %s", dj_json_type_name(e));
      int cap = dj_cap_from_name(json_string_value(e));
      if (cap < 0) /* the spec: a capability that cannot be granted MUST fail */
        return spec_perr(err, ip, "unknown capability \"%s\"", json_string_value(e));
      *masks[s] |= UINT64_C(1) << cap;
    }
  }
  return 0;
}

static int parse_rlimits(json_t *proc, struct dj_process *pr, dj_err *err)
{
  char ip[DJ_JPATH_MAX], tp[DJ_JPATH_MAX];
  json_t *arr;
  int r = spec_opt_object_array(proc, "rlimits", "process", &arr, err);
  if (r <= 0)
    return r;
  pr->rlimits = dj_xcalloc(json_array_size(arr), sizeof *pr->rlimits);
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *e = json_array_get(arr, i);
    struct dj_rlimit *rl = &pr->rlimits[i];
    int64_t soft, hard;
    dj_jpath_index(ip, "process.rlimits", i);
    TRY(dj_json_req_string(e, "type", ip, &rl->name, err));
    spec_key_path(tp, ip, "type");
    if ((rl->resource = dj_rlimit_from_name(rl->name)) < 0)
      return spec_perr(err, tp, "unknown rlimit \"%s\"", rl->name);
    for (size_t j = 0; j < i; j++)
      if (pr->rlimits[j].resource == rl->resource)
        return spec_perr(err, tp, "duplicate rlimit \"%s\"", rl->name);
    TRY(spec_req_i64(e, "soft", ip, 0, INT64_MAX, &soft, err));
    TRY(spec_req_i64(e, "hard", ip, 0, INT64_MAX, &hard, err));
    if (soft > hard)
      return spec_perr(err, ip, "soft limit %lld is above hard limit %lld", (long long) soft, (long long) hard);
    rl->soft = (uint64_t) soft;
    rl->hard = (uint64_t) hard;
    pr->n_rlimits = i + 1;
  }
  return 0;
}

static int parse_user(json_t *proc, struct dj_process *pr, dj_err *err)
{
  char ip[DJ_JPATH_MAX];
  json_t *user, *gids = NULL;
  uint32_t v;
  TRY(dj_json_req_object(proc, "user", "process", &user, err));
  TRY(spec_req_u32(user, "uid", "process.user", &v, err));
  pr->uid = v;
  TRY(spec_req_u32(user, "gid", "process.user", &v, err));
  pr->gid = v;
  int64_t umask;
  if (TRY_R(dj_json_opt_int64(user, "umask", "process.user", 0, 0777, &umask, err)) == 1) {
    pr->umask = (mode_t) umask;
    pr->has_umask = true;
  }
  TRY(dj_json_opt_array(user, "additionalGids", "process.user", &gids, err));
  pr->additional_gids = dj_xcalloc(json_array_size(gids), sizeof *pr->additional_gids);
  for (size_t i = 0; i < json_array_size(gids); i++) {
    json_t *g = json_array_get(gids, i);
    dj_jpath_index(ip, "process.user.additionalGids", i);
    if (!json_is_integer(g) || json_integer_value(g) < 0 || json_integer_value(g) > UINT32_MAX)
      return spec_perr(err, ip, "expected a gid (an integer 0..4294967295)");
    pr->additional_gids[pr->n_additional_gids++] = (gid_t) json_integer_value(g);
  }
  return 0;
}

static int parse_process(struct dj_spec *s, json_t *root, dj_err *err)
{
  struct dj_process *pr = &s->process;
  char ip[DJ_JPATH_MAX];
  json_t *proc, *arr, *cs = NULL;
  TRY(dj_json_req_object(root, "process", "", &proc, err));
  TRY(dj_json_opt_bool(proc, "terminal", "process", &pr->terminal, err));
  TRY(dj_json_opt_object(proc, "consoleSize", "process", &cs, err));
  if (cs != NULL) {
    int64_t h, w; /* struct winsize holds unsigned shorts */
    TRY(spec_req_i64(cs, "height", "process.consoleSize", 0, UINT16_MAX, &h, err));
    TRY(spec_req_i64(cs, "width", "process.consoleSize", 0, UINT16_MAX, &w, err));
    pr->console_height = (unsigned) h;
    pr->console_width = (unsigned) w;
    pr->has_console_size = true;
  }
  TRY(parse_user(proc, pr, err));
  TRY(dj_json_req_array(proc, "args", "process", &arr, err));
  TRY(dj_json_string_vector(arr, "process.args", &pr->args, &pr->n_args, err));
  if (pr->n_args == 0)
    return spec_perr(err, "process.args", "must have at least one entry (the program to run)");
  arr = NULL;
  TRY(dj_json_opt_array(proc, "env", "process", &arr, err));
  TRY(dj_json_string_vector(arr, "process.env", &pr->env, &pr->n_env, err));
  for (size_t i = 0; i < pr->n_env; i++) {
    const char *eq = strchr(pr->env[i], '=');
    dj_jpath_index(ip, "process.env", i);
    if (eq == NULL || eq == pr->env[i])
      return spec_perr(err, ip, "\"%s\" is not of the form NAME=VALUE", pr->env[i]);
  }
  TRY(dj_json_req_string(proc, "cwd", "process", &pr->cwd, err));
  TRY(spec_check_abs("process.cwd", pr->cwd, err));
  TRY(parse_caps(proc, &pr->caps, err));
  TRY(parse_rlimits(proc, pr, err));
  TRY(dj_json_opt_bool(proc, "noNewPrivileges", "process", &pr->no_new_privileges, err));
  TRY(dj_json_opt_string(proc, "apparmorProfile", "process", &pr->apparmor_profile, err));
  TRY(dj_json_opt_string(proc, "selinuxLabel", "process", &pr->selinux_label, err));
  int64_t adj;
  if (TRY_R(dj_json_opt_int64(proc, "oomScoreAdj", "process", -1000, 1000, &adj, err)) == 1) {
    pr->oom_score_adj = (int) adj;
    pr->has_oom_score_adj = true;
  }
  TRY(spec_refuse_unsupported(proc, "ioPriority", "process", err));
  TRY(spec_refuse_unsupported(proc, "scheduler", "process", err));
  TRY(spec_refuse_unsupported(proc, "execCPUAffinity", "process", err));
  return 0;
}

/* ---- mounts ---- */

enum mopt_kind { MOPT_SET, MOPT_CLEAR, MOPT_PROP, MOPT_BIND, MOPT_IDMAP, MOPT_NONE };

/* mount(8)'s flag options and the OCI list; rec: the recursive ("r"-prefixed) attribute form. */
static const struct mount_opt {
  const char *name;
  enum mopt_kind kind;
  unsigned long flag;
  bool rec;
} mount_opts[] = {
  { "defaults", MOPT_NONE, 0, false },
  { "ro", MOPT_SET, MS_RDONLY, false }, { "rw", MOPT_CLEAR, MS_RDONLY, false },
  { "nosuid", MOPT_SET, MS_NOSUID, false }, { "suid", MOPT_CLEAR, MS_NOSUID, false },
  { "nodev", MOPT_SET, MS_NODEV, false }, { "dev", MOPT_CLEAR, MS_NODEV, false },
  { "noexec", MOPT_SET, MS_NOEXEC, false }, { "exec", MOPT_CLEAR, MS_NOEXEC, false },
  { "sync", MOPT_SET, MS_SYNCHRONOUS, false }, { "async", MOPT_CLEAR, MS_SYNCHRONOUS, false },
  { "dirsync", MOPT_SET, MS_DIRSYNC, false }, { "remount", MOPT_SET, MS_REMOUNT, false },
  { "mand", MOPT_SET, MS_MANDLOCK, false }, { "nomand", MOPT_CLEAR, MS_MANDLOCK, false },
  { "atime", MOPT_CLEAR, MS_NOATIME, false }, { "noatime", MOPT_SET, MS_NOATIME, false },
  { "diratime", MOPT_CLEAR, MS_NODIRATIME, false }, { "nodiratime", MOPT_SET, MS_NODIRATIME, false },
  { "relatime", MOPT_SET, MS_RELATIME, false }, { "norelatime", MOPT_CLEAR, MS_RELATIME, false },
  { "strictatime", MOPT_SET, MS_STRICTATIME, false }, { "nostrictatime", MOPT_CLEAR, MS_STRICTATIME, false },
  { "nosymfollow", MOPT_SET, MS_NOSYMFOLLOW, false }, { "symfollow", MOPT_CLEAR, MS_NOSYMFOLLOW, false },
  { "lazytime", MOPT_SET, MS_LAZYTIME, false }, { "nolazytime", MOPT_CLEAR, MS_LAZYTIME, false },
  { "iversion", MOPT_SET, MS_I_VERSION, false }, { "noiversion", MOPT_CLEAR, MS_I_VERSION, false },
  { "silent", MOPT_SET, MS_SILENT, false }, { "loud", MOPT_CLEAR, MS_SILENT, false },
  { "bind", MOPT_BIND, MS_BIND, false }, { "rbind", MOPT_BIND, MS_BIND, true },
  { "private", MOPT_PROP, MS_PRIVATE, false }, { "rprivate", MOPT_PROP, MS_PRIVATE, true },
  { "shared", MOPT_PROP, MS_SHARED, false }, { "rshared", MOPT_PROP, MS_SHARED, true },
  { "slave", MOPT_PROP, MS_SLAVE, false }, { "rslave", MOPT_PROP, MS_SLAVE, true },
  { "unbindable", MOPT_PROP, MS_UNBINDABLE, false }, { "runbindable", MOPT_PROP, MS_UNBINDABLE, true },
  { "rro", MOPT_SET, MS_RDONLY, true }, { "rrw", MOPT_CLEAR, MS_RDONLY, true },
  { "rnosuid", MOPT_SET, MS_NOSUID, true }, { "rsuid", MOPT_CLEAR, MS_NOSUID, true },
  { "rnodev", MOPT_SET, MS_NODEV, true }, { "rdev", MOPT_CLEAR, MS_NODEV, true },
  { "rnoexec", MOPT_SET, MS_NOEXEC, true }, { "rexec", MOPT_CLEAR, MS_NOEXEC, true },
  { "rnodiratime", MOPT_SET, MS_NODIRATIME, true }, { "rdiratime", MOPT_CLEAR, MS_NODIRATIME, true },
  { "rrelatime", MOPT_SET, MS_RELATIME, true }, { "rnorelatime", MOPT_CLEAR, MS_RELATIME, true },
  { "rnoatime", MOPT_SET, MS_NOATIME, true }, { "ratime", MOPT_CLEAR, MS_NOATIME, true },
  { "rstrictatime", MOPT_SET, MS_STRICTATIME, true }, { "rnostrictatime", MOPT_CLEAR, MS_STRICTATIME, true },
  { "rnosymfollow", MOPT_SET, MS_NOSYMFOLLOW, true }, { "rsymfollow", MOPT_CLEAR, MS_NOSYMFOLLOW, true },
  { "idmap", MOPT_IDMAP, 0, false }, { "ridmap", MOPT_IDMAP, 0, true },
};

static const struct mount_opt *mount_opt_find(const char *name)
{
  for (size_t i = 0; i < DJ_ARRAY_SIZE(mount_opts); i++)
    if (strcmp(mount_opts[i].name, name) == 0)
      return &mount_opts[i];
  return NULL;
}

static void flag_set(unsigned long *set, unsigned long *clear, unsigned long f)
{
  *set |= f;
  *clear &= ~f;
}

static int parse_mount_options(json_t *opts, const char *path, struct dj_mount *m, dj_err *err)
{
  char ip[DJ_JPATH_MAX];
  size_t data_len = 0;
  for (size_t i = 0; i < json_array_size(opts); i++) {
    json_t *e = json_array_get(opts, i);
    dj_jpath_index(ip, path, i);
    if (!json_is_string(e))
      return spec_perr(err, ip, "expected a string, got %s", dj_json_type_name(e));
    const char *name = json_string_value(e);
    if (*name == '\0')
      return spec_perr(err, ip, "empty option");
    const struct mount_opt *o = mount_opt_find(name);
    if (o == NULL) { /* a filesystem option: passed to mount(2) as data */
      size_t len = strlen(name);
      m->data = dj_xrealloc(m->data, data_len + len + 2);
      if (data_len > 0)
        m->data[data_len++] = ',';
      memcpy(m->data + data_len, name, len + 1);
      data_len += len;
      continue;
    }
    switch (o->kind) {
    case MOPT_NONE: break;
    case MOPT_SET:
      flag_set(&m->flags, &m->clear_flags, o->flag);
      if (o->rec)
        flag_set(&m->rec_flags, &m->rec_clear_flags, o->flag);
      break;
    case MOPT_CLEAR:
      flag_set(&m->clear_flags, &m->flags, o->flag);
      if (o->rec)
        flag_set(&m->rec_clear_flags, &m->rec_flags, o->flag);
      break;
    case MOPT_PROP: m->propagation = o->flag | (o->rec ? MS_REC : 0); break;
    case MOPT_BIND:
      m->bind = true;
      m->recursive |= o->rec;
      m->flags |= MS_BIND | (o->rec ? MS_REC : 0);
      break;
    case MOPT_IDMAP: return spec_perr(err, ip, "\"%s\" (id-mapped mounts) is not supported by donjon", name);
    }
  }
  return 0;
}

static int parse_mounts(struct dj_spec *s, json_t *root, dj_err *err)
{
  char ip[DJ_JPATH_MAX], p[DJ_JPATH_MAX];
  json_t *arr;
  if (TRY_R(spec_opt_object_array(root, "mounts", "", &arr, err)) == 0)
    return 0;
  s->mounts = dj_xcalloc(json_array_size(arr), sizeof *s->mounts);
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *e = json_array_get(arr, i), *opts = NULL;
    struct dj_mount *m = &s->mounts[i];
    s->n_mounts = i + 1; /* counted before filling: dj_spec_free frees data of a failed entry */
    dj_jpath_index(ip, "mounts", i);
    TRY(dj_json_req_string(e, "destination", ip, &m->destination, err));
    TRY(spec_check_abs(spec_key_path(p, ip, "destination"), m->destination, err));
    TRY(dj_json_opt_string(e, "type", ip, &m->type, err));
    TRY(dj_json_opt_string(e, "source", ip, &m->source, err));
    TRY(dj_json_opt_array(e, "options", ip, &opts, err));
    TRY(parse_mount_options(opts, spec_key_path(p, ip, "options"), m, err));
    TRY(spec_refuse_unsupported(e, "uidMappings", ip, err));
    TRY(spec_refuse_unsupported(e, "gidMappings", ip, err));
    if (m->type != NULL && strcmp(m->type, "bind") == 0) {
      m->bind = true;
      m->flags |= MS_BIND;
    }
    if (m->bind && (m->source == NULL || *m->source == '\0'))
      return spec_perr(err, spec_key_path(p, ip, "source"), "missing (a bind mount needs a source)");
  }
  return 0;
}

/* ---- the document ---- */

static int parse_version(struct dj_spec *s, json_t *doc, dj_err *err)
{
  TRY(dj_json_req_string(doc, "ociVersion", "", &s->oci_version, err));
  const char *v = s->oci_version;
  size_t digits = strspn(v, "0123456789");
  if (digits == 0 || v[digits] != '.')
    return spec_perr(err, "ociVersion", "\"%s\" is not a version like \"1.2.0\"", v);
  if (digits != 1 || v[0] != '1')
    return spec_perr(err, "ociVersion", "version \"%s\" is not supported (donjon implements runtime-spec 1.x)", v);
  return 0;
}

static int parse_hostnames(struct dj_spec *s, json_t *doc, dj_err *err)
{
  static const char *const keys[] = { "hostname", "domainname" };
  const char **vals[] = { &s->hostname, &s->domainname };
  for (size_t i = 0; i < 2; i++) {
    TRY(dj_json_opt_string(doc, keys[i], "", vals[i], err));
    if (*vals[i] != NULL && **vals[i] == '\0')
      *vals[i] = NULL; /* empty: leave it alone, as runc */
    if (*vals[i] == NULL)
      continue;
    if (!(s->ns_flags & CLONE_NEWUTS)) /* would rename the host, or a namespace not ours */
      return spec_perr(err, keys[i], "setting it needs a new uts namespace");
    if (strlen(*vals[i]) > 64)
      return spec_perr(err, keys[i], "longer than 64 bytes");
  }
  return 0;
}

static int parse_document(struct dj_spec *s, json_t *doc, dj_err *err)
{
  json_t *root;
  TRY(parse_version(s, doc, err));
  TRY(dj_json_req_object(doc, "root", "", &root, err));
  TRY(dj_json_req_string(root, "path", "root", &s->root_path, err));
  if (*s->root_path == '\0')
    return spec_perr(err, "root.path", "empty");
  TRY(dj_json_opt_bool(root, "readonly", "root", &s->root_readonly, err));
  TRY(parse_process(s, doc, err));
  TRY(parse_mounts(s, doc, err));
  TRY(dj_spec_parse_linux(s, doc, err));
  TRY(parse_hostnames(s, doc, err));
  TRY(spec_opt_string_map(doc, "annotations", "", &s->annotations, err));
  TRY(dj_json_opt_object(doc, "hooks", "", &s->hooks, err));
  return 0;
}

int dj_spec_parse(json_t *doc, struct dj_spec **out, dj_err *err)
{
  if (!json_is_object(doc))
    return dj_error(err, 0, "expected a JSON object");
  struct dj_spec *s = dj_xcalloc(1, sizeof *s);
  struct dj_resources *r = &s->resources;
  r->memory_limit = r->memory_reservation = r->memory_swap = r->memory_kernel = DJ_UNSET_I64;
  r->memory_swappiness = r->pids_limit = r->cpu_quota = DJ_UNSET_I64;
  s->doc = json_incref(doc);
  if (parse_document(s, doc, err) < 0) {
    dj_spec_free(s);
    return -1;
  }
  *out = s;
  return 0;
}

int dj_spec_load_doc(const char *bundle_dir, json_t **doc, dj_err *err)
{
  _cleanup_free_ char *file = dj_xasprintf("%s/config.json", bundle_dir);
  _cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return dj_error(err, errno, "config.json: open %s", file);
  if (dj_json_load_fd(fd, DJ_SPEC_MAX_SIZE, doc, err) < 0)
    return dj_err_wrap(err, "config.json");
  return 0;
}

int dj_spec_load(const char *bundle_dir, struct dj_spec **out, dj_err *err)
{
  _cleanup_json_ json_t *doc = NULL;
  if (dj_spec_load_doc(bundle_dir, &doc, err) < 0)
    return -1;
  if (dj_spec_parse(doc, out, err) < 0)
    return dj_err_wrap(err, "config.json");
  return 0;
}

void dj_spec_free(struct dj_spec *s)
{
  if (s == NULL)
    return;
  free(s->process.args);
  free(s->process.env);
  free(s->process.additional_gids);
  free(s->process.rlimits);
  for (size_t i = 0; i < s->n_mounts; i++)
    free(s->mounts[i].data);
  free(s->mounts);
  free(s->namespaces);
  free(s->uid_mappings);
  free(s->gid_mappings);
  free(s->devices);
  free(s->resources.devices);
  free(s->masked_paths);
  free(s->readonly_paths);
  free(s->sysctl);
  if (s->seccomp != NULL) {
    for (size_t i = 0; i < s->seccomp->n_rules; i++) {
      free(s->seccomp->rules[i].names);
      free(s->seccomp->rules[i].args);
    }
    free(s->seccomp->rules);
    free(s->seccomp->architectures);
    free(s->seccomp->flags);
    free(s->seccomp);
  }
  json_decref(s->doc);
  free(s);
}

void dj_spec_freep(struct dj_spec **s)
{
  dj_spec_free(*s);
  *s = NULL;
}

const char *const *dj_spec_names(enum dj_spec_names kind)
{
  static const char *mount_names[DJ_ARRAY_SIZE(mount_opts) + 1];
  if (kind != DJ_NAMES_MOUNT_OPTIONS)
    return spec_linux_names(kind);
  if (mount_names[0] == NULL) {
    size_t k = 0;
    for (size_t i = 0; i < DJ_ARRAY_SIZE(mount_opts); i++)
      if (mount_opts[i].kind != MOPT_IDMAP) /* refused: "not supported" */
        mount_names[k++] = mount_opts[i].name;
  }
  return mount_names;
}
