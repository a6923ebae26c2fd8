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

#define TRY(x) do { if ((x) < 0) return -1; } while (0)
/* The value of an optional getter (0 absent, 1 present), returning -1 on its error. */
#define TRY_R(x) ({ int r_ = (x); if (r_ < 0) return -1; r_; })
#define MAX_ID_MAP_LINES 340 /* the kernel's limit for uid_map/gid_map */

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
__attribute__((format(printf, 3, 4))) static int perr(dj_err *err, const char *path, const char *fmt, ...)
{
  char msg[DJ_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return dj_error(err, 0, "%s: %s", path, msg);
}

static const char *key_path(char buf[DJ_JPATH_MAX], const char *parent, const char *key)
{
  dj_jpath_key(buf, parent, key);
  return buf;
}

static const char *idx_path(char buf[DJ_JPATH_MAX], const char *parent, size_t idx)
{
  dj_jpath_index(buf, parent, idx);
  return buf;
}

/* A property donjon knows but does not implement: refused when it asks for anything. */
static bool json_nonempty(const json_t *v)
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

static int refuse_unsupported(json_t *obj, const char *key, const char *path, dj_err *err)
{
  char p[DJ_JPATH_MAX];
  if (json_nonempty(json_object_get(obj, key)))
    return perr(err, key_path(p, path, key), "not supported by donjon");
  return 0;
}

static int check_abs(const char *path, const char *v, dj_err *err)
{
  return v[0] == '/' ? 0 : perr(err, path, "must be an absolute path");
}

static int opt_u32(json_t *o, const char *k, const char *path, uint32_t *out, bool *has, dj_err *err)
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

static int req_i64(json_t *o, const char *k, const char *path, int64_t min, int64_t max, int64_t *out, dj_err *err)
{
  char p[DJ_JPATH_MAX];
  int r = dj_json_opt_int64(o, k, path, min, max, out, err);
  return r == 0 ? perr(err, key_path(p, path, k), "missing") : r;
}

static int req_u32(json_t *o, const char *k, const char *path, uint32_t *out, dj_err *err)
{
  int64_t v;
  TRY(req_i64(o, k, path, 0, UINT32_MAX, &v, err));
  *out = (uint32_t) v;
  return 0;
}

/* Optional array at obj.key; each element must be an object. Returns 0 absent, 1 present. */
static int opt_object_array(json_t *obj, const char *key, const char *path, json_t **out, dj_err *err)
{
  char p[DJ_JPATH_MAX], ip[DJ_JPATH_MAX];
  int r = dj_json_opt_array(obj, key, path, out, err);
  if (r <= 0)
    return r;
  for (size_t i = 0; i < json_array_size(*out); i++) {
    json_t *e = json_array_get(*out, i);
    if (!json_is_object(e)) {
      dj_jpath_index(ip, key_path(p, path, key), i);
      return perr(err, ip, "expected an object, got %s", dj_json_type_name(e));
    }
  }
  return 1;
}

/* Optional array of absolute paths. */
static int opt_path_vector(json_t *obj, const char *key, const char *path, const char ***out, size_t *n,
                           dj_err *err)
{
  char p[DJ_JPATH_MAX], ip[DJ_JPATH_MAX];
  json_t *arr;
  int r = dj_json_opt_array(obj, key, path, &arr, err);
  if (r <= 0)
    return r;
  key_path(p, path, key);
  TRY(dj_json_string_vector(arr, p, out, n, err));
  for (size_t i = 0; i < *n; i++) {
    dj_jpath_index(ip, p, i);
    TRY(check_abs(ip, (*out)[i], err));
  }
  return 1;
}

/* An object whose members are all strings (annotations, sysctl, unified). */
static int opt_string_map(json_t *obj, const char *key, const char *path, json_t **out, dj_err *err)
{
  char p[DJ_JPATH_MAX], kp[DJ_JPATH_MAX];
  const char *k;
  json_t *v;
  int r = dj_json_opt_object(obj, key, path, out, err);
  if (r <= 0)
    return r;
  json_object_foreach(*out, k, v) {
    if (!json_is_string(v))
      return perr(err, key_path(kp, key_path(p, path, key), k), "expected a string, got %s",
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
    key_path(p, "process.capabilities", sets[s]);
    for (size_t i = 0; i < json_array_size(arr); i++) {
      json_t *e = json_array_get(arr, i);
      dj_jpath_index(ip, p, i);
      if (!json_is_string(e))
        return perr(err, ip, "expected a string, got %s", dj_json_type_name(e));
      int cap = dj_cap_from_name(json_string_value(e));
      if (cap < 0) /* the spec: a capability that cannot be granted MUST fail */
        return perr(err, ip, "unknown capability \"%s\"", json_string_value(e));
      *masks[s] |= UINT64_C(1) << cap;
    }
  }
  return 0;
}

static int parse_rlimits(json_t *proc, struct dj_process *pr, dj_err *err)
{
  char ip[DJ_JPATH_MAX], tp[DJ_JPATH_MAX];
  json_t *arr;
  int r = opt_object_array(proc, "rlimits", "process", &arr, err);
  if (r <= 0)
    return r;
  pr->rlimits = dj_xcalloc(json_array_size(arr), sizeof *pr->rlimits);
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *e = json_array_get(arr, i);
    struct dj_rlimit *rl = &pr->rlimits[i];
    int64_t soft, hard;
    dj_jpath_index(ip, "process.rlimits", i);
    TRY(dj_json_req_string(e, "type", ip, &rl->name, err));
    key_path(tp, ip, "type");
    if ((rl->resource = dj_rlimit_from_name(rl->name)) < 0)
      return perr(err, tp, "unknown rlimit \"%s\"", rl->name);
    for (size_t j = 0; j < i; j++)
      if (pr->rlimits[j].resource == rl->resource)
        return perr(err, tp, "duplicate rlimit \"%s\"", rl->name);
    TRY(req_i64(e, "soft", ip, 0, INT64_MAX, &soft, err));
    TRY(req_i64(e, "hard", ip, 0, INT64_MAX, &hard, err));
    if (soft > hard)
      return perr(err, ip, "soft limit %lld is above hard limit %lld", (long long) soft, (long long) hard);
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
  TRY(req_u32(user, "uid", "process.user", &v, err));
  pr->uid = v;
  TRY(req_u32(user, "gid", "process.user", &v, err));
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
      return perr(err, ip, "expected a gid (an integer 0..4294967295)");
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
    TRY(req_i64(cs, "height", "process.consoleSize", 0, UINT16_MAX, &h, err));
    TRY(req_i64(cs, "width", "process.consoleSize", 0, UINT16_MAX, &w, err));
    pr->console_height = (unsigned) h;
    pr->console_width = (unsigned) w;
    pr->has_console_size = true;
  }
  TRY(parse_user(proc, pr, err));
  TRY(dj_json_req_array(proc, "args", "process", &arr, err));
  TRY(dj_json_string_vector(arr, "process.args", &pr->args, &pr->n_args, err));
  if (pr->n_args == 0)
    return perr(err, "process.args", "must have at least one entry (the program to run)");
  arr = NULL;
  TRY(dj_json_opt_array(proc, "env", "process", &arr, err));
  TRY(dj_json_string_vector(arr, "process.env", &pr->env, &pr->n_env, err));
  for (size_t i = 0; i < pr->n_env; i++) {
    const char *eq = strchr(pr->env[i], '=');
    dj_jpath_index(ip, "process.env", i);
    if (eq == NULL || eq == pr->env[i])
      return perr(err, ip, "\"%s\" is not of the form NAME=VALUE", pr->env[i]);
  }
  TRY(dj_json_req_string(proc, "cwd", "process", &pr->cwd, err));
  TRY(check_abs("process.cwd", pr->cwd, err));
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
  TRY(refuse_unsupported(proc, "ioPriority", "process", err));
  TRY(refuse_unsupported(proc, "scheduler", "process", err));
  TRY(refuse_unsupported(proc, "execCPUAffinity", "process", err));
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
      return perr(err, ip, "expected a string, got %s", dj_json_type_name(e));
    const char *name = json_string_value(e);
    if (*name == '\0')
      return perr(err, ip, "empty option");
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
    case MOPT_IDMAP: return perr(err, ip, "\"%s\" (id-mapped mounts) is not supported by donjon", name);
    }
  }
  return 0;
}

static int parse_mounts(struct dj_spec *s, json_t *root, dj_err *err)
{
  char ip[DJ_JPATH_MAX], p[DJ_JPATH_MAX];
  json_t *arr;
  if (TRY_R(opt_object_array(root, "mounts", "", &arr, err)) == 0)
    return 0;
  s->mounts = dj_xcalloc(json_array_size(arr), sizeof *s->mounts);
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *e = json_array_get(arr, i), *opts = NULL;
    struct dj_mount *m = &s->mounts[i];
    s->n_mounts = i + 1; /* counted before filling: dj_spec_free frees data of a failed entry */
    dj_jpath_index(ip, "mounts", i);
    TRY(dj_json_req_string(e, "destination", ip, &m->destination, err));
    TRY(check_abs(key_path(p, ip, "destination"), m->destination, err));
    TRY(dj_json_opt_string(e, "type", ip, &m->type, err));
    TRY(dj_json_opt_string(e, "source", ip, &m->source, err));
    TRY(dj_json_opt_array(e, "options", ip, &opts, err));
    TRY(parse_mount_options(opts, key_path(p, ip, "options"), m, err));
    TRY(refuse_unsupported(e, "uidMappings", ip, err));
    TRY(refuse_unsupported(e, "gidMappings", ip, err));
    if (m->type != NULL && strcmp(m->type, "bind") == 0) {
      m->bind = true;
      m->flags |= MS_BIND;
    }
    if (m->bind && (m->source == NULL || *m->source == '\0'))
      return perr(err, key_path(p, ip, "source"), "missing (a bind mount needs a source)");
  }
  return 0;
}

/* ---- linux: namespaces, id mappings, devices ---- */

static int parse_namespaces(struct dj_spec *s, json_t *lx, dj_err *err)
{
  char ip[DJ_JPATH_MAX], p[DJ_JPATH_MAX];
  json_t *arr;
  if (TRY_R(opt_object_array(lx, "namespaces", "linux", &arr, err)) == 0)
    return 0;
  s->namespaces = dj_xcalloc(json_array_size(arr), sizeof *s->namespaces);
  int seen = 0;
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *e = json_array_get(arr, i);
    struct dj_namespace *ns = &s->namespaces[i];
    const char *type;
    dj_jpath_index(ip, "linux.namespaces", i);
    TRY(dj_json_req_string(e, "type", ip, &type, err));
    key_path(p, ip, "type");
    if ((ns->type = dj_namespace_from_name(type)) < 0)
      return perr(err, p, "unknown namespace \"%s\"", type);
    if (seen & ns->type)
      return perr(err, p, "duplicate namespace \"%s\"", type);
    seen |= ns->type;
    TRY(dj_json_opt_string(e, "path", ip, &ns->path, err));
    if (ns->path != NULL && *ns->path == '\0')
      ns->path = NULL; /* the spec: an empty path means a new namespace */
    if (ns->path != NULL)
      TRY(check_abs(key_path(p, ip, "path"), ns->path, err));
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
  if (TRY_R(opt_object_array(lx, key, "linux", &arr, err)) == 0)
    return 0;
  key_path(p, "linux", key);
  if (json_array_size(arr) > MAX_ID_MAP_LINES)
    return perr(err, p, "%zu lines, the kernel takes at most %d", json_array_size(arr), MAX_ID_MAP_LINES);
  *out = dj_xcalloc(json_array_size(arr), sizeof **out);
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *e = json_array_get(arr, i);
    struct dj_id_map *m = &(*out)[i];
    dj_jpath_index(ip, p, i);
    TRY(req_u32(e, "containerID", ip, &m->container_id, err));
    TRY(req_u32(e, "hostID", ip, &m->host_id, err));
    TRY(req_u32(e, "size", ip, &m->size, err));
    if (m->size == 0)
      return perr(err, ip, "size must be greater than 0");
    if ((uint64_t) m->container_id + m->size > UINT32_MAX || (uint64_t) m->host_id + m->size > UINT32_MAX)
      return perr(err, ip, "range overflows 32-bit ids");
    for (size_t j = 0; j < i; j++) {
      const struct dj_id_map *o = &(*out)[j];
      if (m->container_id < o->container_id + o->size && o->container_id < m->container_id + m->size)
        return perr(err, ip, "container range overlaps %s[%zu]", p, j);
    }
    *n = i + 1;
  }
  return 0;
}

static int parse_devices(struct dj_spec *s, json_t *lx, dj_err *err)
{
  char ip[DJ_JPATH_MAX], p[DJ_JPATH_MAX];
  json_t *arr;
  if (TRY_R(opt_object_array(lx, "devices", "linux", &arr, err)) == 0)
    return 0;
  s->devices = dj_xcalloc(json_array_size(arr), sizeof *s->devices);
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *e = json_array_get(arr, i);
    struct dj_device *d = &s->devices[i];
    const char *type;
    dj_jpath_index(ip, "linux.devices", i);
    TRY(dj_json_req_string(e, "type", ip, &type, err));
    if (strlen(type) != 1 || strchr("cbup", type[0]) == NULL)
      return perr(err, key_path(p, ip, "type"), "unknown device type \"%s\" (c, b, u or p)", type);
    d->type = type[0];
    TRY(dj_json_req_string(e, "path", ip, &d->path, err));
    TRY(check_abs(key_path(p, ip, "path"), d->path, err));
    if (d->type != 'p') {
      TRY(req_i64(e, "major", ip, 0, UINT32_MAX, &d->major, err));
      TRY(req_i64(e, "minor", ip, 0, UINT32_MAX, &d->minor, err));
    } else {
      d->major = d->minor = 0;
    }
    int64_t mode;
    if (TRY_R(dj_json_opt_int64(e, "fileMode", ip, 0, 07777, &mode, err)) == 1) {
      d->file_mode = (uint32_t) mode;
      d->has_file_mode = true;
    }
    TRY(opt_u32(e, "uid", ip, &d->uid, &d->has_uid, err));
    TRY(opt_u32(e, "gid", ip, &d->gid, &d->has_gid, err));
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
      return perr(err, path, "\"%s\" is not a list like \"0-3,5\"", v);
  }
  return *v == '\0' || digit ? 0 : perr(err, path, "\"%s\" is not a list like \"0-3,5\"", v);
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
  TRY(refuse_unsupported(mem, "kernelTCP", P, err));
  /* swap is memory+swap, as in runc: below the memory limit it means nothing sane */
  if (r->memory_swap != DJ_UNSET_I64 && r->memory_swap != -1 && r->memory_limit != DJ_UNSET_I64 &&
      r->memory_limit != -1 && r->memory_swap < r->memory_limit)
    return perr(err, "linux.resources.memory.swap", "%lld is below memory.limit %lld (swap counts memory plus swap)",
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
  TRY(refuse_unsupported(cpu, "idle", P, err));
  TRY(refuse_unsupported(cpu, "burst", P, err));
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
    TRY(refuse_unsupported(bio, unsupported[i], P, err));
  return 0;
}

static int parse_device_rules(struct dj_resources *r, json_t *res, dj_err *err)
{
  char ip[DJ_JPATH_MAX], p[DJ_JPATH_MAX];
  json_t *arr;
  if (TRY_R(opt_object_array(res, "devices", "linux.resources", &arr, err)) == 0)
    return 0;
  r->devices = dj_xcalloc(json_array_size(arr), sizeof *r->devices);
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *e = json_array_get(arr, i);
    struct dj_device_rule *d = &r->devices[i];
    const char *type = "a", *access = "";
    dj_jpath_index(ip, "linux.resources.devices", i);
    json_t *allow = json_object_get(e, "allow");
    if (allow == NULL || json_is_null(allow))
      return perr(err, key_path(p, ip, "allow"), "missing");
    TRY(dj_json_opt_bool(e, "allow", ip, &d->allow, err));
    TRY(dj_json_opt_string(e, "type", ip, &type, err));
    if (strcmp(type, "a") != 0 && strcmp(type, "c") != 0 && strcmp(type, "b") != 0)
      return perr(err, key_path(p, ip, "type"), "unknown device type \"%s\" (a, c or b)", type);
    d->type = type[0];
    d->major = d->minor = -1;
    TRY(dj_json_opt_int64(e, "major", ip, -1, UINT32_MAX, &d->major, err));
    TRY(dj_json_opt_int64(e, "minor", ip, -1, UINT32_MAX, &d->minor, err));
    TRY(dj_json_opt_string(e, "access", ip, &access, err));
    size_t n = 0;
    for (const char *c = access; *c; c++) { /* kept in the order given, each letter once */
      if (strchr("rwm", *c) == NULL || memchr(d->access, *c, n) != NULL)
        return perr(err, key_path(p, ip, "access"), "\"%s\" is not a combination of r, w and m", access);
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
    TRY(refuse_unsupported(res, unsupported[i], P, err));
  if (TRY_R(opt_string_map(res, "unified", P, &r->unified, err)) == 1) {
    const char *k;
    json_t *v;
    char p[DJ_JPATH_MAX];
    json_object_foreach(r->unified, k, v) { /* keys are file names in the container's cgroup */
      if (*k == '\0' || *k == '.' || strchr(k, '/') != NULL)
        return perr(err, key_path(p, "linux.resources.unified", k), "not a cgroup file name");
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
  key_path(p, path, key);
  for (size_t i = 0; i < DJ_ARRAY_SIZE(scmp_actions); i++) {
    if (strcmp(scmp_actions[i].name, name) == 0) {
      if (scmp_actions[i].action == DJ_SCMP_ACT_NOTIFY)
        return perr(err, p, "\"%s\" is not supported by donjon (no seccomp agent)", name);
      *out = scmp_actions[i].action;
      return 0;
    }
  }
  return perr(err, p, "unknown action \"%s\"", name);
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
    return perr(err, key_path(p, path, key), "only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE");
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
  key_path(p, "linux.seccomp", key);
  TRY(dj_json_string_vector(arr, p, out, n, err));
  for (size_t i = 0; i < *n; i++) {
    size_t j = 0;
    while (j < n_names && strcmp(names[j], (*out)[i]) != 0)
      j++;
    if (j == n_names)
      return perr(err, idx_path(ip, p, i), "unknown %s \"%s\"", what, (*out)[i]);
  }
  return 0;
}

static int parse_seccomp_args(json_t *rule, const char *path, struct dj_seccomp_rule *r, dj_err *err)
{
  char p[DJ_JPATH_MAX], ip[DJ_JPATH_MAX], op_path[DJ_JPATH_MAX];
  json_t *arr;
  if (TRY_R(opt_object_array(rule, "args", path, &arr, err)) == 0)
    return 0;
  key_path(p, path, "args");
  r->args = dj_xcalloc(json_array_size(arr), sizeof *r->args);
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *e = json_array_get(arr, i);
    struct dj_seccomp_arg *a = &r->args[i];
    int64_t v;
    const char *op;
    dj_jpath_index(ip, p, i);
    TRY(req_i64(e, "index", ip, 0, 5, &v, err));
    a->index = (unsigned) v;
    TRY(req_i64(e, "value", ip, 0, INT64_MAX, &v, err));
    a->value = (uint64_t) v;
    if (TRY_R(dj_json_opt_int64(e, "valueTwo", ip, 0, INT64_MAX, &v, err)) == 1)
      a->value_two = (uint64_t) v;
    TRY(dj_json_req_string(e, "op", ip, &op, err));
    for (size_t j = 0; j < DJ_ARRAY_SIZE(scmp_ops) && a->op == 0; j++)
      if (strcmp(scmp_ops[j].name, op) == 0)
        a->op = scmp_ops[j].op;
    if (a->op == 0)
      return perr(err, key_path(op_path, ip, "op"), "unknown operator \"%s\"", op);
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
  TRY(refuse_unsupported(sc, "listenerPath", P, err));
  TRY(refuse_unsupported(sc, "listenerMetadata", P, err));
  TRY(opt_object_array(sc, "syscalls", P, &rules, err));
  x->rules = dj_xcalloc(json_array_size(rules), sizeof *x->rules);
  for (size_t i = 0; i < json_array_size(rules); i++) {
    json_t *e = json_array_get(rules, i), *names;
    struct dj_seccomp_rule *r = &x->rules[i];
    x->n_rules = i + 1;
    dj_jpath_index(ip, "linux.seccomp.syscalls", i);
    TRY(dj_json_req_array(e, "names", ip, &names, err));
    key_path(np, ip, "names");
    TRY(dj_json_string_vector(names, np, &r->names, &r->n_names, err));
    if (r->n_names == 0)
      return perr(err, np, "must name at least one syscall");
    for (size_t j = 0; j < r->n_names; j++)
      if (r->names[j][0] == '\0')
        return perr(err, idx_path(nip, np, j), "empty syscall name");
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
    return perr(err, "linux.timeOffsets", "given, but no new time namespace is created");
  json_object_foreach(to, clock, v) {
    int64_t *secs, *nsecs;
    key_path(p, "linux.timeOffsets", clock);
    if (strcmp(clock, "monotonic") == 0) {
      secs = &s->time_offset_monotonic_s;
      nsecs = &s->time_offset_monotonic_ns;
    } else if (strcmp(clock, "boottime") == 0) {
      secs = &s->time_offset_boottime_s;
      nsecs = &s->time_offset_boottime_ns;
    } else {
      return perr(err, p, "unknown clock (monotonic or boottime)");
    }
    if (!json_is_object(v))
      return perr(err, p, "expected an object, got %s", dj_json_type_name(v));
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
    return perr(err, "linux.personality.domain", "unknown domain \"%s\" (LINUX or LINUX32)", domain);
  TRY(refuse_unsupported(pers, "flags", "linux.personality", err));
  s->has_personality = true;
  return 0;
}

static int parse_sysctl(struct dj_spec *s, json_t *lx, dj_err *err)
{
  char p[DJ_JPATH_MAX];
  const char *k;
  json_t *obj, *v;
  if (TRY_R(opt_string_map(lx, "sysctl", "linux", &obj, err)) == 0)
    return 0;
  s->sysctl = dj_xcalloc(json_object_size(obj), sizeof *s->sysctl);
  json_object_foreach(obj, k, v) {
    /* keys become paths under /proc/sys: nothing that could leave it */
    bool ok = *k != '\0' && *k != '.' && k[strlen(k) - 1] != '.' && strstr(k, "..") == NULL;
    for (const char *c = k; ok && *c; c++)
      ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
           *c == '_' || *c == '-' || *c == '.';
    if (!ok)
      return perr(err, key_path(p, "linux.sysctl", k), "not a sysctl name");
    s->sysctl[s->n_sysctl].key = k;
    s->sysctl[s->n_sysctl++].value = json_string_value(v);
  }
  return 0;
}

static int parse_linux(struct dj_spec *s, json_t *root, dj_err *err)
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
      return perr(err, "linux.uidMappings", "required when a new user namespace is created");
    if (s->n_gid_mappings == 0)
      return perr(err, "linux.gidMappings", "required when a new user namespace is created");
  } else if (!has_userns && (s->n_uid_mappings > 0 || s->n_gid_mappings > 0)) {
    return perr(err, s->n_uid_mappings > 0 ? "linux.uidMappings" : "linux.gidMappings",
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
      return perr(err, "linux.rootfsPropagation", "unknown propagation \"%s\"", prop);
  }
  TRY(opt_path_vector(lx, "maskedPaths", "linux", &s->masked_paths, &s->n_masked_paths, err));
  TRY(opt_path_vector(lx, "readonlyPaths", "linux", &s->readonly_paths, &s->n_readonly_paths, err));
  TRY(parse_sysctl(s, lx, err));
  TRY(parse_seccomp(s, lx, err));
  TRY(parse_time_offsets(s, lx, err));
  TRY(parse_personality(s, lx, err));
  TRY(dj_json_opt_string(lx, "mountLabel", "linux", &s->mount_label, err));
  for (size_t i = 0; i < DJ_ARRAY_SIZE(unsupported); i++)
    TRY(refuse_unsupported(lx, unsupported[i], "linux", err));
  return 0;
}

/* ---- the document ---- */

static int parse_version(struct dj_spec *s, json_t *doc, dj_err *err)
{
  TRY(dj_json_req_string(doc, "ociVersion", "", &s->oci_version, err));
  const char *v = s->oci_version;
  size_t digits = strspn(v, "0123456789");
  if (digits == 0 || v[digits] != '.')
    return perr(err, "ociVersion", "\"%s\" is not a version like \"1.2.0\"", v);
  if (digits != 1 || v[0] != '1')
    return perr(err, "ociVersion", "version \"%s\" is not supported (donjon implements runtime-spec 1.x)", v);
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
      return perr(err, keys[i], "setting it needs a new uts namespace");
    if (strlen(*vals[i]) > 64)
      return perr(err, keys[i], "longer than 64 bytes");
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
    return perr(err, "root.path", "empty");
  TRY(dj_json_opt_bool(root, "readonly", "root", &s->root_readonly, err));
  TRY(parse_process(s, doc, err));
  TRY(parse_mounts(s, doc, err));
  TRY(parse_linux(s, doc, err));
  TRY(parse_hostnames(s, doc, err));
  TRY(opt_string_map(doc, "annotations", "", &s->annotations, err));
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

int dj_spec_load(const char *bundle_dir, struct dj_spec **out, dj_err *err)
{
  _cleanup_free_ char *file = dj_xasprintf("%s/config.json", bundle_dir);
  _cleanup_json_ json_t *doc = NULL;
  _cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return dj_error(err, errno, "config.json: open %s", file);
  if (dj_json_load_fd(fd, DJ_SPEC_MAX_SIZE, &doc, err) < 0 || dj_spec_parse(doc, out, err) < 0)
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
