/* The profiles `donjon spec` writes, and the confidential profile applied to a given config. */
#include "sandbox/profile.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/util.h"
#include "sandbox/seccomp.h"

#define TRY(x) do { if ((x) < 0) return -1; } while (0)
#define TRY_R(x) ({ int r_ = (x); if (r_ < 0) return -1; r_; })
#define STRV(...) ((const char *const[]) { __VA_ARGS__, NULL })

static const char *const default_path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

static json_t *strings(const char *const *v)
{
  json_t *a = json_array();
  for (; *v != NULL; v++)
    json_array_append_new(a, json_string(*v));
  return a;
}

static json_t *mount_entry(const char *dest, const char *type, const char *src, const char *const *opts)
{
  json_t *m = json_pack("{s:s, s:s, s:s}", "destination", dest, "type", type, "source", src);
  if (opts != NULL)
    json_object_set_new(m, "options", strings(opts));
  return m;
}

static json_t *id_map(unsigned container_id, unsigned host_id, unsigned size)
{
  return json_pack("[{s:I, s:I, s:I}]", "containerID", (json_int_t) container_id, "hostID", (json_int_t) host_id,
                   "size", (json_int_t) size);
}

static json_t *namespaces(const char *const *types)
{
  json_t *a = json_array();
  for (; *types != NULL; types++)
    json_array_append_new(a, json_pack("{s:s}", "type", *types));
  return a;
}

/* ---- default: what `runc spec` writes ---- */

json_t *dj_profile_default(bool rootless)
{
  const char *const *caps = STRV("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE");
  json_t *process = json_pack(
    "{s:b, s:{s:i, s:i}, s:[s], s:[s, s], s:s, s:{s:o, s:o, s:o, s:o}, s:[{s:s, s:i, s:i}], s:b}",
    "terminal", 1, "user", "uid", 0, "gid", 0, "args", "sh", "env", default_path, "TERM=xterm", "cwd", "/",
    "capabilities", "bounding", strings(caps), "effective", strings(caps), "permitted", strings(caps),
    "ambient", strings(caps), "rlimits", "type", "RLIMIT_NOFILE", "hard", 1024, "soft", 1024,
    "noNewPrivileges", 1);

  json_t *mounts = json_array();
  json_array_append_new(mounts, mount_entry("/proc", "proc", "proc", NULL));
  json_array_append_new(mounts, mount_entry("/dev", "tmpfs", "tmpfs", STRV("nosuid", "strictatime", "mode=755", "size=65536k")));
  /* gid 5 (tty) is not mapped in a rootless user namespace */
  json_array_append_new(mounts, mount_entry("/dev/pts", "devpts", "devpts",
    rootless ? STRV("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620")
             : STRV("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5")));
  json_array_append_new(mounts, mount_entry("/dev/shm", "tmpfs", "shm", STRV("nosuid", "noexec", "nodev", "mode=1777", "size=65536k")));
  json_array_append_new(mounts, mount_entry("/dev/mqueue", "mqueue", "mqueue", STRV("nosuid", "noexec", "nodev")));
  /* without a network namespace of its own, sysfs cannot be mounted: bind the host's */
  json_array_append_new(mounts, rootless ? mount_entry("/sys", "none", "/sys", STRV("rbind", "nosuid", "noexec", "nodev", "ro"))
                                         : mount_entry("/sys", "sysfs", "sysfs", STRV("nosuid", "noexec", "nodev", "ro")));
  json_array_append_new(mounts, mount_entry("/sys/fs/cgroup", "cgroup", "cgroup", STRV("nosuid", "noexec", "nodev", "relatime", "ro")));

  json_t *lx = json_object();
  if (rootless) {
    json_object_set_new(lx, "uidMappings", id_map(0, (unsigned) geteuid(), 1));
    json_object_set_new(lx, "gidMappings", id_map(0, (unsigned) getegid(), 1));
    json_object_set_new(lx, "namespaces", namespaces(STRV("pid", "ipc", "uts", "mount", "user")));
  } else {
    json_object_set_new(lx, "resources", json_pack("{s:[{s:b, s:s}]}", "devices", "allow", 0, "access", "rwm"));
    json_object_set_new(lx, "namespaces", namespaces(STRV("pid", "network", "ipc", "uts", "mount")));
  }
  json_object_set_new(lx, "maskedPaths", strings(STRV("/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi")));
  json_object_set_new(lx, "readonlyPaths", strings(STRV("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")));

  return json_pack("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:o}", "ociVersion", "1.2.0", "process", process,
                   "root", "path", "rootfs", "readonly", 1, "hostname", "donjon", "mounts", mounts, "linux", lx);
}

/* ---- confidential ---- */

static const char *const conf_namespaces[] = { "user", "pid", "mount", "network", "uts", "ipc", "cgroup", NULL };
static const char *const conf_masked[] = {
  "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/key-users", "/proc/kmsg", "/proc/kallsyms",
  "/proc/kpagecount", "/proc/kpageflags", "/proc/kpagecgroup", "/proc/latency_stats", "/proc/timer_list",
  "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/proc/sysrq-trigger", "/sys/firmware",
  "/sys/devices/virtual/powercap", "/sys/class/tpm", "/sys/kernel/security", NULL,
};
static const char *const conf_readonly[] = { "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", NULL };

/* The devices the workload may open: null zero full random urandom tty ptmx, and its ptys. */
static const struct { int major, minor; } conf_devices[] = {
  { 1, 3 }, { 1, 5 }, { 1, 7 }, { 1, 8 }, { 1, 9 }, { 5, 0 }, { 5, 2 }, { 136, -1 },
};

static const struct { const char *type; int soft, hard; } conf_rlimits[] = {
  { "RLIMIT_NOFILE", DJ_PROFILE_NOFILE, DJ_PROFILE_NOFILE },
  { "RLIMIT_CORE", 0, 0 }, /* a core dump would write tenant memory to disk */
};

static json_t *conf_device_rules(void)
{
  json_t *rules = json_array();
  json_array_append_new(rules, json_pack("{s:b, s:s}", "allow", 0, "access", "rwm"));
  for (size_t i = 0; i < DJ_ARRAY_SIZE(conf_devices); i++)
    json_array_append_new(rules, json_pack("{s:b, s:s, s:I, s:I, s:s}", "allow", 1, "type", "c",
                                           "major", (json_int_t) conf_devices[i].major,
                                           "minor", (json_int_t) conf_devices[i].minor, "access", "rw"));
  return rules;
}

static json_t *tmp_mount(void)
{
  return mount_entry("/tmp", "tmpfs", "tmpfs", STRV("nosuid", "nodev", "mode=1777", "size=64m"));
}

static json_t *empty_caps(void)
{
  return json_pack("{s:[], s:[], s:[], s:[], s:[]}", "bounding", "effective", "inheritable", "permitted", "ambient");
}

json_t *dj_profile_confidential(void)
{
  json_t *rlimits = json_array();
  for (size_t i = 0; i < DJ_ARRAY_SIZE(conf_rlimits); i++)
    json_array_append_new(rlimits, json_pack("{s:s, s:i, s:i}", "type", conf_rlimits[i].type,
                                             "hard", conf_rlimits[i].hard, "soft", conf_rlimits[i].soft));
  json_t *process = json_pack("{s:b, s:{s:i, s:i}, s:[s], s:[s], s:s, s:o, s:o, s:b}",
    "terminal", 0, "user", "uid", 0, "gid", 0, "args", "sh", "env", default_path, "cwd", "/",
    "capabilities", empty_caps(), "rlimits", rlimits, "noNewPrivileges", 1);

  json_t *mounts = json_array();
  json_array_append_new(mounts, mount_entry("/proc", "proc", "proc", STRV("nosuid", "noexec", "nodev")));
  /* devices are bind-mounted in a user namespace, each its own mount: /dev itself can be nodev */
  json_array_append_new(mounts, mount_entry("/dev", "tmpfs", "tmpfs", STRV("nosuid", "noexec", "nodev", "strictatime", "mode=755", "size=65536k")));
  json_array_append_new(mounts, mount_entry("/dev/pts", "devpts", "devpts", STRV("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5")));
  json_array_append_new(mounts, mount_entry("/dev/shm", "tmpfs", "shm", STRV("nosuid", "noexec", "nodev", "mode=1777", "size=65536k")));
  json_array_append_new(mounts, mount_entry("/dev/mqueue", "mqueue", "mqueue", STRV("nosuid", "noexec", "nodev")));
  json_array_append_new(mounts, mount_entry("/sys", "sysfs", "sysfs", STRV("nosuid", "noexec", "nodev", "ro")));
  json_array_append_new(mounts, tmp_mount());

  json_t *seccomp = dj_seccomp_confidential_profile();
  if (seccomp == NULL) /* never a confidential profile without its filter */
    return NULL;
  json_t *lx = json_pack("{s:o, s:o, s:o, s:{s:{s:I, s:I}, s:{s:i}, s:o}, s:o, s:o, s:o}",
    "uidMappings", id_map(0, DJ_PROFILE_HOST_ID_BASE, DJ_PROFILE_ID_RANGE),
    "gidMappings", id_map(0, DJ_PROFILE_HOST_ID_BASE, DJ_PROFILE_ID_RANGE),
    "namespaces", namespaces(conf_namespaces),
    "resources", "memory", "limit", (json_int_t) DJ_PROFILE_MEMORY_LIMIT, "swap", (json_int_t) DJ_PROFILE_MEMORY_LIMIT,
    "pids", "limit", DJ_PROFILE_PIDS_LIMIT, "devices", conf_device_rules(),
    "maskedPaths", strings(conf_masked), "readonlyPaths", strings(conf_readonly),
    "seccomp", seccomp);

  return json_pack("{s:s, s:o, s:{s:s, s:b}, s:s, s:o, s:o, s:{s:s}}", "ociVersion", "1.2.0", "process", process,
                   "root", "path", "rootfs", "readonly", 1, "hostname", "donjon", "mounts", mounts, "linux", lx,
                   "annotations", DJ_PROFILE_ANNOTATION, "confidential");
}

/* ---- tightening a given config ---- */

/* parent.key as an object, created when absent or null. */
static int child_object(json_t *parent, const char *key, const char *path, json_t **out, dj_err *err)
{
  if (TRY_R(dj_json_opt_object(parent, key, path, out, err)) == 0) {
    *out = json_object();
    json_object_set_new(parent, key, *out);
  }
  return 0;
}

static int child_array(json_t *parent, const char *key, const char *path, json_t **out, dj_err *err)
{
  if (TRY_R(dj_json_opt_array(parent, key, path, out, err)) == 0) {
    *out = json_array();
    json_object_set_new(parent, key, *out);
  }
  return 0;
}

static bool has_string(json_t *arr, const char *s)
{
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) {
    if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
      return true;
  }
  return false;
}

static void add_strings(json_t *arr, const char *const *v)
{
  for (; *v != NULL; v++)
    if (!has_string(arr, *v))
      json_array_append_new(arr, json_string(*v));
}

static void remove_strings(json_t *arr, const char *const *v)
{
  for (size_t i = json_array_size(arr); i-- > 0;) {
    json_t *e = json_array_get(arr, i);
    for (const char *const *s = v; json_is_string(e) && *s != NULL; s++)
      if (strcmp(json_string_value(e), *s) == 0) {
        json_array_remove(arr, i);
        break;
      }
  }
}

/* Set obj.key to limit when absent, not an integer, unlimited (<= 0) or above it. */
static void lower_to(json_t *obj, const char *key, json_int_t limit)
{
  json_t *v = json_object_get(obj, key);
  if (!json_is_integer(v) || json_integer_value(v) <= 0 || json_integer_value(v) > limit)
    json_object_set_new(obj, key, json_integer(limit));
}

static int tighten_process(json_t *config, dj_err *err)
{
  char p[DJ_JPATH_MAX];
  json_t *proc, *rlimits;
  TRY(child_object(config, "process", "", &proc, err));
  json_object_set_new(proc, "capabilities", empty_caps());
  json_object_set_new(proc, "noNewPrivileges", json_true());
  json_t *adj = json_object_get(proc, "oomScoreAdj"); /* below 0 would shield it from the OOM killer */
  if (json_is_integer(adj) && json_integer_value(adj) < 0)
    json_object_set_new(proc, "oomScoreAdj", json_integer(0));
  TRY(child_array(proc, "rlimits", "process", &rlimits, err));
  for (size_t r = 0; r < DJ_ARRAY_SIZE(conf_rlimits); r++) {
    json_t *found = NULL, *e;
    size_t i;
    json_array_foreach(rlimits, i, e) {
      if (!json_is_object(e))
        return dj_error(err, 0, "%s: expected an object, got %s", (dj_jpath_index(p, "process.rlimits", i), p),
                        dj_json_type_name(e));
      const char *type = json_string_value(json_object_get(e, "type"));
      if (type != NULL && strcmp(type, conf_rlimits[r].type) == 0)
        found = e;
    }
    if (found == NULL) {
      found = json_object();
      json_object_set_new(found, "type", json_string(conf_rlimits[r].type));
      json_array_append_new(rlimits, found);
    }
    /* 0 is a real limit here (RLIMIT_CORE), so not lower_to() */
    const char *keys[] = { "soft", "hard" };
    int vals[] = { conf_rlimits[r].soft, conf_rlimits[r].hard };
    for (int k = 0; k < 2; k++) {
      json_t *v = json_object_get(found, keys[k]);
      if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > vals[k])
        json_object_set_new(found, keys[k], json_integer(vals[k]));
    }
  }
  return 0;
}

/* Is path the namespace donjon itself is in (the host's)? */
static bool is_own_namespace(const char *type, const char *path)
{
  static const struct { const char *type, *file; } files[] = {
    { "pid", "pid" }, { "network", "net" }, { "mount", "mnt" }, { "ipc", "ipc" }, { "uts", "uts" },
    { "user", "user" }, { "cgroup", "cgroup" }, { "time", "time" },
  };
  for (size_t i = 0; i < DJ_ARRAY_SIZE(files); i++) {
    if (strcmp(files[i].type, type) != 0)
      continue;
    char own[64];
    struct stat a, b;
    snprintf(own, sizeof own, "/proc/self/ns/%s", files[i].file);
    return stat(own, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
  }
  return false;
}

static int tighten_namespaces(json_t *lx, dj_err *err)
{
  char p[DJ_JPATH_MAX];
  json_t *nss, *e;
  size_t i;
  bool new_user = true;
  TRY(child_array(lx, "namespaces", "linux", &nss, err));
  json_array_foreach(nss, i, e) {
    dj_jpath_index(p, "linux.namespaces", i);
    if (!json_is_object(e))
      return dj_error(err, 0, "%s: expected an object, got %s", p, dj_json_type_name(e));
    const char *type = json_string_value(json_object_get(e, "type"));
    const char *path = json_string_value(json_object_get(e, "path"));
    if (type == NULL || path == NULL || *path == '\0')
      continue;
    if (is_own_namespace(type, path))
      return dj_error(err, 0, "%s.path: %s is the host's %s namespace, which the confidential profile forbids",
                      p, path, type);
    if (strcmp(type, "user") == 0)
      new_user = false;
  }
  for (const char *const *t = conf_namespaces; *t != NULL; t++) {
    bool present = false;
    json_array_foreach(nss, i, e) {
      const char *type = json_string_value(json_object_get(e, "type"));
      present |= type != NULL && strcmp(type, *t) == 0;
    }
    if (!present)
      json_array_append_new(nss, json_pack("{s:s}", "type", *t));
  }
  static const char *const map_keys[] = { "uidMappings", "gidMappings" };
  for (int k = 0; k < 2; k++) {
    json_t *maps = NULL;
    TRY(dj_json_opt_array(lx, map_keys[k], "linux", &maps, err));
    if (json_array_size(maps) == 0 && new_user)
      json_object_set_new(lx, map_keys[k], id_map(0, DJ_PROFILE_HOST_ID_BASE, DJ_PROFILE_ID_RANGE));
    json_array_foreach(maps, i, e) {
      json_t *host = json_object_get(e, "hostID");
      if (json_is_integer(host) && json_integer_value(host) == 0)
        return dj_error(err, 0, "linux.%s[%zu]: maps to host id 0 (root), which the confidential profile forbids",
                        map_keys[k], i);
    }
  }
  return 0;
}

static bool device_allowed(json_t *dev)
{
  const char *type = json_string_value(json_object_get(dev, "type"));
  json_t *major = json_object_get(dev, "major"), *minor = json_object_get(dev, "minor");
  if (type == NULL || strcmp(type, "c") != 0 || !json_is_integer(major) || !json_is_integer(minor))
    return false;
  for (size_t i = 0; i < DJ_ARRAY_SIZE(conf_devices); i++)
    if (json_integer_value(major) == conf_devices[i].major &&
        (conf_devices[i].minor == -1 || json_integer_value(minor) == conf_devices[i].minor))
      return true;
  return false;
}

static int tighten_linux(json_t *config, dj_err *err)
{
  json_t *lx, *res, *mem, *pids, *devices, *paths;
  TRY(child_object(config, "linux", "", &lx, err));
  TRY(tighten_namespaces(lx, err));
  json_t *seccomp = dj_seccomp_confidential_profile();
  if (seccomp == NULL) /* never leave the given filter (or none) in place */
    return dj_error(err, 0, "linux.seccomp: the confidential seccomp profile is not available");
  json_object_set_new(lx, "seccomp", seccomp);
  TRY(child_object(lx, "resources", "linux", &res, err));
  TRY(child_object(res, "memory", "linux.resources", &mem, err));
  lower_to(mem, "limit", DJ_PROFILE_MEMORY_LIMIT);
  json_object_set(mem, "swap", json_object_get(mem, "limit")); /* memory+swap = memory: no swap */
  TRY(child_object(res, "pids", "linux.resources", &pids, err));
  lower_to(pids, "limit", DJ_PROFILE_PIDS_LIMIT);
  json_object_set_new(res, "devices", conf_device_rules());
  devices = NULL;
  TRY(dj_json_opt_array(lx, "devices", "linux", &devices, err));
  for (size_t i = json_array_size(devices); i-- > 0;) /* the device cgroup would refuse them anyway */
    if (!device_allowed(json_array_get(devices, i)))
      json_array_remove(devices, i);
  TRY(child_array(lx, "maskedPaths", "linux", &paths, err));
  add_strings(paths, conf_masked);
  TRY(child_array(lx, "readonlyPaths", "linux", &paths, err));
  add_strings(paths, conf_readonly);
  return 0;
}

/* A bind source that would bring a host device node in: the whole /dev, or a TPM. */
static bool forbidden_bind_source(const char *src)
{
  char real[PATH_MAX];
  if (src[0] == '/' && realpath(src, real) != NULL)
    src = real;
  return strcmp(src, "/dev") == 0 || strcmp(src, "/dev/") == 0 || strncmp(src, "/dev/tpm", 8) == 0;
}

static int tighten_mount(json_t *m, const char *path, dj_err *err)
{
  json_t *opts;
  const char *type = json_string_value(json_object_get(m, "type"));
  const char *src = json_string_value(json_object_get(m, "source"));
  const char *dest = json_string_value(json_object_get(m, "destination"));
  TRY(child_array(m, "options", path, &opts, err));
  bool bind = (type != NULL && strcmp(type, "bind") == 0) || has_string(opts, "bind") || has_string(opts, "rbind");
  bool rbind = has_string(opts, "rbind");
  if (bind && src != NULL && forbidden_bind_source(src))
    return dj_error(err, 0, "%s.source: binds the host's %s, which the confidential profile forbids", path, src);
  remove_strings(opts, STRV("suid", "rsuid"));
  add_strings(opts, rbind ? STRV("nosuid", "rnosuid") : STRV("nosuid"));
  if (type == NULL || strcmp(type, "devpts") != 0) { /* a nodev devpts could not open its ptys */
    remove_strings(opts, STRV("dev", "rdev"));
    add_strings(opts, rbind ? STRV("nodev", "rnodev") : STRV("nodev"));
  }
  bool sys = dest != NULL && (strcmp(dest, "/sys") == 0 || strncmp(dest, "/sys/", 5) == 0);
  if (sys || (type != NULL && (strcmp(type, "sysfs") == 0 || strncmp(type, "cgroup", 6) == 0))) {
    remove_strings(opts, STRV("rw", "rrw"));
    add_strings(opts, rbind ? STRV("ro", "rro") : STRV("ro"));
  }
  return 0;
}

int dj_profile_apply_confidential(json_t *config, dj_err *err)
{
  char p[DJ_JPATH_MAX];
  json_t *root, *mounts = NULL, *annotations, *m;
  size_t i;
  if (!json_is_object(config))
    return dj_error(err, 0, "expected a JSON object");
  TRY(tighten_process(config, err));
  TRY(child_object(config, "root", "", &root, err));
  bool was_writable = !json_is_true(json_object_get(root, "readonly"));
  json_object_set_new(root, "readonly", json_true());
  TRY(tighten_linux(config, err));
  TRY(child_array(config, "mounts", "", &mounts, err));
  bool has_tmp = false;
  json_array_foreach(mounts, i, m) {
    dj_jpath_index(p, "mounts", i);
    if (!json_is_object(m))
      return dj_error(err, 0, "%s: expected an object, got %s", p, dj_json_type_name(m));
    TRY(tighten_mount(m, p, err));
    const char *dest = json_string_value(json_object_get(m, "destination"));
    has_tmp |= dest != NULL && strcmp(dest, "/tmp") == 0;
  }
  /* the root was writable, /tmp with it: keep /tmp writable, but only /tmp */
  if (was_writable && !has_tmp)
    json_array_append_new(mounts, tmp_mount());
  TRY(child_object(config, "annotations", "", &annotations, err));
  json_object_set_new(annotations, DJ_PROFILE_ANNOTATION, json_string("confidential"));
  return 0;
}
