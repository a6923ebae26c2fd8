/* The profiles `donjon spec` writes, and the confidential profile applied to a given config. */
#include <criterion/criterion.h>

#include <sched.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/json.h"
#include "common/util.h"
#include "sandbox/profile.h"
#include "sandbox/seccomp.h"
#include "sandbox/spec.h"

static json_t *j(const char *text)
{
  char *t = dj_xstrdup(text);
  for (char *c = t; *c; c++)
    if (*c == '\'')
      *c = '"';
  json_error_t jerr;
  json_t *v = json_loads(t, JSON_DECODE_ANY, &jerr);
  cr_assert_not_null(v, "bad test JSON: %s: %s", jerr.text, t);
  free(t);
  return v;
}

static struct dj_spec *parse_ok(json_t *doc)
{
  struct dj_spec *s = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_spec_parse(doc, &s, &err), 0, "parse failed: %s", err.msg);
  return s;
}

/* `runc spec` of runc 1.1.5, as printed on this machine (ociVersion and hostname aside). */
static const char *const runc_mounts_common =
  "{'destination': '/proc', 'type': 'proc', 'source': 'proc'},"
  "{'destination': '/dev', 'type': 'tmpfs', 'source': 'tmpfs', 'options': ['nosuid', 'strictatime', 'mode=755', 'size=65536k']},";
static const char *const runc_tail =
  "{'destination': '/dev/shm', 'type': 'tmpfs', 'source': 'shm', 'options': ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k']},"
  "{'destination': '/dev/mqueue', 'type': 'mqueue', 'source': 'mqueue', 'options': ['nosuid', 'noexec', 'nodev']},";
static const char *const runc_process =
  "'process': {'terminal': true, 'user': {'uid': 0, 'gid': 0}, 'args': ['sh'],"
  " 'env': ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'], 'cwd': '/',"
  " 'capabilities': {'bounding': ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'],"
  "  'effective': ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'],"
  "  'permitted': ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'],"
  "  'ambient': ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE']},"
  " 'rlimits': [{'type': 'RLIMIT_NOFILE', 'hard': 1024, 'soft': 1024}], 'noNewPrivileges': true},"
  "'root': {'path': 'rootfs', 'readonly': true}, 'hostname': 'donjon',";
static const char *const runc_paths =
  "'maskedPaths': ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',"
  " '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi'],"
  "'readonlyPaths': ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']";

Test(profile, default_is_runc_spec)
{
  char *text = dj_xasprintf(
    "{'ociVersion': '1.2.0', %s 'mounts': [%s"
    "{'destination': '/dev/pts', 'type': 'devpts', 'source': 'devpts', 'options': ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']},"
    "%s"
    "{'destination': '/sys', 'type': 'sysfs', 'source': 'sysfs', 'options': ['nosuid', 'noexec', 'nodev', 'ro']},"
    "{'destination': '/sys/fs/cgroup', 'type': 'cgroup', 'source': 'cgroup', 'options': ['nosuid', 'noexec', 'nodev', 'relatime', 'ro']}],"
    "'linux': {'resources': {'devices': [{'allow': false, 'access': 'rwm'}]},"
    " 'namespaces': [{'type': 'pid'}, {'type': 'network'}, {'type': 'ipc'}, {'type': 'uts'}, {'type': 'mount'}], %s}}",
    runc_process, runc_mounts_common, runc_tail, runc_paths);
  json_t *want = j(text), *got = dj_profile_default(false);
  free(text);
  char *g = json_dumps(got, JSON_INDENT(1));
  cr_assert(json_equal(want, got), "got %s", g);
  free(g);
  _cleanup_spec_ struct dj_spec *s = parse_ok(got);
  cr_assert_eq(s->ns_flags, CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS);
  json_decref(want);
  json_decref(got);
}

Test(profile, default_rootless_is_runc_spec_rootless)
{
  char *text = dj_xasprintf(
    "{'ociVersion': '1.2.0', %s 'mounts': [%s"
    "{'destination': '/dev/pts', 'type': 'devpts', 'source': 'devpts', 'options': ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620']},"
    "%s"
    "{'destination': '/sys', 'type': 'none', 'source': '/sys', 'options': ['rbind', 'nosuid', 'noexec', 'nodev', 'ro']},"
    "{'destination': '/sys/fs/cgroup', 'type': 'cgroup', 'source': 'cgroup', 'options': ['nosuid', 'noexec', 'nodev', 'relatime', 'ro']}],"
    "'linux': {'uidMappings': [{'containerID': 0, 'hostID': %u, 'size': 1}], 'gidMappings': [{'containerID': 0, 'hostID': %u, 'size': 1}],"
    " 'namespaces': [{'type': 'pid'}, {'type': 'ipc'}, {'type': 'uts'}, {'type': 'mount'}, {'type': 'user'}], %s}}",
    runc_process, runc_mounts_common, runc_tail, geteuid(), getegid(), runc_paths);
  json_t *want = j(text), *got = dj_profile_default(true);
  free(text);
  char *g = json_dumps(got, JSON_INDENT(1));
  cr_assert(json_equal(want, got), "got %s", g);
  free(g);
  _cleanup_spec_ struct dj_spec *s = parse_ok(got);
  cr_assert(s->ns_flags & CLONE_NEWUSER);
  cr_assert(s->mounts[5].bind && s->mounts[5].recursive);
  json_decref(want);
  json_decref(got);
}

static bool has_path(const char **v, size_t n, const char *p)
{
  for (size_t i = 0; i < n; i++)
    if (strcmp(v[i], p) == 0)
      return true;
  return false;
}

static const struct dj_mount *find_mount(const struct dj_spec *s, const char *dest)
{
  for (size_t i = 0; i < s->n_mounts; i++)
    if (strcmp(s->mounts[i].destination, dest) == 0)
      return &s->mounts[i];
  return NULL;
}

/* Every property the confidential profile promises, checked on the parsed result. */
static void check_confidential(const struct dj_spec *s)
{
  /* each namespace new, or joined by path (a pod's; never the host's: apply refuses that) */
  int want_ns = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP;
  int have = 0;
  for (size_t i = 0; i < s->n_namespaces; i++)
    have |= s->namespaces[i].type;
  cr_assert_eq(have & want_ns, want_ns, "namespaces %#x", have);
  cr_assert(s->ns_flags & CLONE_NEWUSER);
  /* container root maps to an unprivileged host range, never host root */
  cr_assert_geq(s->n_uid_mappings, 1);
  for (size_t i = 0; i < s->n_uid_mappings; i++)
    cr_assert_neq(s->uid_mappings[i].host_id, 0);
  for (size_t i = 0; i < s->n_gid_mappings; i++)
    cr_assert_neq(s->gid_mappings[i].host_id, 0);
  const struct dj_caps *c = &s->process.caps;
  cr_assert(c->present);
  cr_assert_eq(c->bounding | c->effective | c->inheritable | c->permitted | c->ambient, 0);
  cr_assert(s->process.no_new_privileges);
  cr_assert(s->root_readonly);
  const struct dj_mount *m = find_mount(s, "/tmp");
  cr_assert_not_null(m);
  cr_assert_str_eq(m->type, "tmpfs");
  cr_assert_eq(m->flags & (MS_NOSUID | MS_NODEV), MS_NOSUID | MS_NODEV);
  cr_assert_not_null(strstr(m->data, "size="));
  m = find_mount(s, "/sys");
  cr_assert(m == NULL || (m->flags & MS_RDONLY));
  for (size_t i = 0; i < s->n_mounts; i++) {
    m = &s->mounts[i];
    cr_assert(m->flags & MS_NOSUID, "%s is not nosuid", m->destination);
    if (m->type == NULL || strcmp(m->type, "devpts") != 0)
      cr_assert(m->flags & MS_NODEV, "%s is not nodev", m->destination);
    cr_assert(m->source == NULL || strncmp(m->source, "/dev/tpm", 8) != 0);
  }
  static const char *const masked[] = { "/proc/kcore", "/proc/keys", "/proc/sysrq-trigger", "/proc/timer_list",
    "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/acpi", "/sys/firmware", "/proc/kmsg" };
  for (size_t i = 0; i < DJ_ARRAY_SIZE(masked); i++)
    cr_assert(has_path(s->masked_paths, s->n_masked_paths, masked[i]), "%s not masked", masked[i]);
  static const char *const ro[] = { "/proc/sys", "/proc/bus", "/proc/fs", "/proc/irq" };
  for (size_t i = 0; i < DJ_ARRAY_SIZE(ro); i++)
    cr_assert(has_path(s->readonly_paths, s->n_readonly_paths, ro[i]), "%s not read-only", ro[i]);
  /* no device node beyond the runtime's defaults: in particular no TPM */
  for (size_t i = 0; i < s->n_devices; i++)
    cr_assert(s->devices[i].major == 1 || s->devices[i].major == 5 || s->devices[i].major == 136,
              "device %s", s->devices[i].path);
  /* device cgroup: deny all first, then only the allowlist, never b or a wildcard allow */
  const struct dj_resources *r = &s->resources;
  cr_assert_geq(r->n_devices, 2);
  cr_assert_not(r->devices[0].allow);
  cr_assert_eq(r->devices[0].type, 'a');
  cr_assert(r->devices[0].access[0] == '\0' || strlen(r->devices[0].access) == 3);
  static const int allowed[][2] = { { 1, 3 }, { 1, 5 }, { 1, 7 }, { 1, 8 }, { 1, 9 }, { 5, 0 }, { 5, 2 }, { 136, -1 } };
  cr_assert_eq(r->n_devices, 1 + DJ_ARRAY_SIZE(allowed));
  for (size_t i = 1; i < r->n_devices; i++) {
    cr_assert(r->devices[i].allow);
    cr_assert_eq(r->devices[i].type, 'c');
    cr_assert_eq(r->devices[i].major, allowed[i - 1][0]);
    cr_assert_eq(r->devices[i].minor, allowed[i - 1][1]);
    cr_assert_null(strchr(r->devices[i].access, 'm'));
  }
  cr_assert_gt(r->memory_limit, 0);
  cr_assert_leq(r->memory_limit, DJ_PROFILE_MEMORY_LIMIT);
  cr_assert_eq(r->memory_swap, r->memory_limit, "extra swap allowed");
  cr_assert_gt(r->pids_limit, 0);
  cr_assert_leq(r->pids_limit, DJ_PROFILE_PIDS_LIMIT);
  bool core = false, nofile = false;
  for (size_t i = 0; i < s->process.n_rlimits; i++) {
    const struct dj_rlimit *rl = &s->process.rlimits[i];
    if (rl->resource == RLIMIT_CORE)
      core = rl->hard == 0 && rl->soft == 0;
    if (rl->resource == RLIMIT_NOFILE)
      nofile = rl->hard <= DJ_PROFILE_NOFILE;
  }
  cr_assert(core && nofile);
  /* the filter is exactly the confidential one */
  cr_assert_not_null(s->seccomp);
  json_t *want = dj_seccomp_confidential_profile();
  cr_assert(json_equal(want, json_object_get(json_object_get(s->doc, "linux"), "seccomp")));
  json_decref(want);
  cr_assert_str_eq(json_string_value(json_object_get(s->annotations, DJ_PROFILE_ANNOTATION)), "confidential");
}

Test(profile, confidential)
{
  json_t *doc = dj_profile_confidential();
  cr_assert_not_null(doc);
  _cleanup_spec_ struct dj_spec *s = parse_ok(doc);
  json_decref(doc);
  check_confidential(s);
  /* the profile's own mounts: proc, read-only sysfs, a minimal /dev */
  cr_assert_str_eq(find_mount(s, "/proc")->type, "proc");
  const struct dj_mount *m = find_mount(s, "/sys");
  cr_assert_str_eq(m->type, "sysfs");
  cr_assert(m->flags & MS_RDONLY);
  cr_assert_str_eq(find_mount(s, "/dev")->type, "tmpfs");
  cr_assert_str_eq(find_mount(s, "/dev/pts")->type, "devpts");
  cr_assert_not_null(strstr(find_mount(s, "/dev/pts")->data, "newinstance"));
  cr_assert_str_eq(find_mount(s, "/dev/shm")->type, "tmpfs");
  cr_assert_str_eq(find_mount(s, "/dev/mqueue")->type, "mqueue");
  cr_assert_eq(s->uid_mappings[0].container_id, 0);
  cr_assert_eq(s->uid_mappings[0].host_id, DJ_PROFILE_HOST_ID_BASE);
  cr_assert_eq(s->uid_mappings[0].size, DJ_PROFILE_ID_RANGE);
  cr_assert_eq(s->n_devices, 0);
  cr_assert_null(s->namespaces[3].path);
  cr_assert_eq(s->resources.memory_limit, DJ_PROFILE_MEMORY_LIMIT);
  cr_assert_eq(s->resources.pids_limit, DJ_PROFILE_PIDS_LIMIT);
  cr_assert_eq(s->process.uid, 0); /* container root, which is host uid 100000 with no capability */
}

/* The profile is a fixed point: applying it to itself changes nothing. */
Test(profile, apply_to_confidential_changes_nothing)
{
  json_t *doc = dj_profile_confidential(), *copy = json_deep_copy(doc);
  dj_err err = { 0 };
  cr_assert_eq(dj_profile_apply_confidential(copy, &err), 0, "%s", err.msg);
  char *g = json_dumps(copy, JSON_INDENT(1));
  cr_assert(json_equal(doc, copy), "changed: %s", g);
  free(g);
  json_decref(doc);
  json_decref(copy);
}

/* What an orchestrator might send for a privileged-ish container. */
static const char *const permissive =
  "{'ociVersion': '1.1.0', 'root': {'path': '/var/lib/c/rootfs', 'readonly': false}, 'hostname': 'web',"
  " 'process': {'user': {'uid': 0, 'gid': 0}, 'args': ['/bin/server'], 'cwd': '/', 'noNewPrivileges': false,"
  "  'oomScoreAdj': -999,"
  "  'capabilities': {'bounding': ['CAP_SYS_ADMIN', 'CAP_MKNOD', 'CAP_NET_ADMIN'], 'effective': ['CAP_SYS_ADMIN'],"
  "   'inheritable': ['CAP_SYS_ADMIN'], 'permitted': ['CAP_SYS_ADMIN'], 'ambient': ['CAP_SYS_ADMIN']},"
  "  'rlimits': [{'type': 'RLIMIT_NOFILE', 'soft': 1048576, 'hard': 1048576}, {'type': 'RLIMIT_CORE', 'soft': 1000, 'hard': 9223372036854775807}]},"
  " 'mounts': [{'destination': '/proc', 'type': 'proc', 'source': 'proc'},"
  "  {'destination': '/dev', 'type': 'tmpfs', 'source': 'tmpfs', 'options': ['mode=755', 'dev', 'suid']},"
  "  {'destination': '/dev/pts', 'type': 'devpts', 'source': 'devpts', 'options': ['newinstance', 'ptmxmode=0666']},"
  "  {'destination': '/sys', 'type': 'sysfs', 'source': 'sysfs', 'options': ['rw']},"
  "  {'destination': '/sys/fs/cgroup', 'type': 'cgroup2', 'source': 'cgroup', 'options': ['rw']},"
  "  {'destination': '/data', 'type': 'bind', 'source': '/srv/data', 'options': ['rbind', 'rw', 'rsuid', 'rdev']},"
  "  {'destination': '/etc/hosts', 'source': '/var/lib/c/hosts', 'options': ['bind', 'suid']},"
  "  {'destination': '/sys/kernel/x', 'source': '/sys/kernel/x', 'options': ['bind', 'ro', 'rw']}],"
  " 'linux': {'namespaces': [{'type': 'pid'}, {'type': 'network', 'path': '/run/netns/pod-1234'}, {'type': 'mount'}, {'type': 'uts'}],"
  "  'devices': [{'type': 'c', 'path': '/dev/tpm0', 'major': 10, 'minor': 224}, {'type': 'c', 'path': '/dev/tpmrm0', 'major': 253, 'minor': 65536},"
  "   {'type': 'c', 'path': '/dev/null', 'major': 1, 'minor': 3}, {'type': 'b', 'path': '/dev/sda', 'major': 8, 'minor': 0},"
  "   {'type': 'c', 'path': '/dev/pts/9', 'major': 136, 'minor': 9}],"
  "  'resources': {'devices': [{'allow': true, 'access': 'rwm'}], 'memory': {'limit': 8589934592, 'swap': -1},"
  "   'pids': {'limit': -1}, 'cpu': {'shares': 2048}},"
  "  'maskedPaths': ['/proc/custom'], 'readonlyPaths': [],"
  "  'seccomp': {'defaultAction': 'SCMP_ACT_ALLOW'}}}";

static bool has_opt(const struct dj_spec *s, size_t mount, const char *opt)
{
  json_t *opts = json_object_get(json_array_get(json_object_get(s->doc, "mounts"), mount), "options");
  size_t i;
  json_t *v;
  json_array_foreach(opts, i, v) {
    if (strcmp(json_string_value(v), opt) == 0)
      return true;
  }
  return false;
}

Test(profile, apply_tightens_a_permissive_config)
{
  json_t *doc = j(permissive);
  dj_err err = { 0 };
  cr_assert_eq(dj_profile_apply_confidential(doc, &err), 0, "%s", err.msg);
  _cleanup_spec_ struct dj_spec *s = parse_ok(doc);
  json_decref(doc);
  check_confidential(s);
  /* what it tightened */
  cr_assert_eq(s->resources.memory_limit, DJ_PROFILE_MEMORY_LIMIT);
  cr_assert_eq(s->resources.pids_limit, DJ_PROFILE_PIDS_LIMIT);
  cr_assert_eq(s->process.oom_score_adj, 0);
  cr_assert_eq(s->process.rlimits[0].soft, DJ_PROFILE_NOFILE);
  cr_assert_eq(s->process.rlimits[1].hard, 0);
  cr_assert_eq(s->uid_mappings[0].host_id, DJ_PROFILE_HOST_ID_BASE);
  cr_assert_eq(s->n_devices, 2); /* /dev/null and the pty; the TPMs and the disk are gone */
  cr_assert_str_eq(s->devices[0].path, "/dev/null");
  cr_assert_str_eq(s->devices[1].path, "/dev/pts/9");
  cr_assert(s->mounts[4].flags & MS_RDONLY, "cgroup mount left writable");
  cr_assert(s->mounts[7].flags & MS_RDONLY, "a bind under /sys left writable by a later \"rw\"");
  cr_assert_not(s->mounts[3].clear_flags & MS_RDONLY);
  const struct dj_mount *data = &s->mounts[5];
  cr_assert_eq(data->rec_flags & (MS_NOSUID | MS_NODEV), MS_NOSUID | MS_NODEV, "rbind submounts keep suid/dev");
  cr_assert_eq(data->rec_clear_flags, 0);
  cr_assert_not(has_opt(s, 5, "rsuid"));
  cr_assert_not(has_opt(s, 1, "dev"));
  cr_assert(has_opt(s, 2, "nosuid"));
  cr_assert_not(has_opt(s, 2, "nodev"));
  /* what it kept */
  cr_assert_str_eq(s->process.args[0], "/bin/server");
  cr_assert_str_eq(s->hostname, "web");
  cr_assert_str_eq(s->root_path, "/var/lib/c/rootfs");
  cr_assert_str_eq(s->namespaces[1].path, "/run/netns/pod-1234"); /* the pod's own network namespace */
  cr_assert_not(s->ns_flags & CLONE_NEWNET);
  cr_assert(has_path(s->masked_paths, s->n_masked_paths, "/proc/custom"));
  cr_assert_eq(s->resources.cpu_shares, 2048);
  cr_assert_str_eq(s->mounts[5].source, "/srv/data");
}

Test(profile, apply_keeps_tighter_values)
{
  json_t *doc = j(permissive);
  json_t *res = json_object_get(json_object_get(doc, "linux"), "resources");
  json_object_set_new(res, "memory", j("{'limit': 104857600}"));
  json_object_set_new(res, "pids", j("{'limit': 10}"));
  json_object_set_new(json_object_get(doc, "process"), "rlimits",
                      j("[{'type': 'RLIMIT_NOFILE', 'soft': 64, 'hard': 256}, {'type': 'RLIMIT_CORE', 'soft': 0, 'hard': 0}]"));
  json_object_set_new(json_object_get(doc, "process"), "oomScoreAdj", json_integer(500));
  dj_err err = { 0 };
  cr_assert_eq(dj_profile_apply_confidential(doc, &err), 0, "%s", err.msg);
  _cleanup_spec_ struct dj_spec *s = parse_ok(doc);
  json_decref(doc);
  cr_assert_eq(s->resources.memory_limit, 104857600);
  cr_assert_eq(s->resources.memory_swap, 104857600);
  cr_assert_eq(s->resources.pids_limit, 10);
  cr_assert_eq(s->process.rlimits[0].soft, 64);
  cr_assert_eq(s->process.rlimits[0].hard, 256);
  cr_assert_eq(s->process.oom_score_adj, 500);
}

Test(profile, apply_fills_a_bare_config)
{
  json_t *doc = j("{'ociVersion': '1.2.0', 'root': {'path': 'rootfs'},"
                  " 'process': {'user': {'uid': 1000, 'gid': 1000}, 'args': ['true'], 'cwd': '/'}}");
  dj_err err = { 0 };
  cr_assert_eq(dj_profile_apply_confidential(doc, &err), 0, "%s", err.msg);
  _cleanup_spec_ struct dj_spec *s = parse_ok(doc);
  json_decref(doc);
  check_confidential(s); /* every rlimit, path, rule and mapping of the profile was added */
  cr_assert_eq(s->ns_flags, CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS |
                            CLONE_NEWIPC | CLONE_NEWCGROUP);
  cr_assert(s->process.caps.present);
  cr_assert_eq(s->process.caps.bounding, 0);
  cr_assert(s->root_readonly);
  cr_assert_eq(s->resources.memory_limit, DJ_PROFILE_MEMORY_LIMIT);
  cr_assert_not_null(s->seccomp);
}

static void apply_refused(const char *path_key, const char *value, const char *msg)
{
  json_t *doc = j(permissive);
  json_t *lx = json_object_get(doc, "linux");
  if (strcmp(path_key, "mounts") == 0)
    json_array_append_new(json_object_get(doc, "mounts"), j(value));
  else
    json_object_set_new(lx, path_key, j(value));
  dj_err err = { 0 };
  cr_assert_eq(dj_profile_apply_confidential(doc, &err), -1, "%s accepted", value);
  cr_assert_str_eq(err.msg, msg);
  json_decref(doc);
}

Test(profile, apply_refuses_what_cannot_be_tightened)
{
  apply_refused("namespaces", "[{'type': 'network', 'path': '/proc/self/ns/net'}]",
                "linux.namespaces[0].path: /proc/self/ns/net is the host's network namespace, which the confidential profile forbids");
  apply_refused("namespaces", "[{'type': 'pid'}, {'type': 'user', 'path': '/proc/self/ns/user'}]",
                "linux.namespaces[1].path: /proc/self/ns/user is the host's user namespace, which the confidential profile forbids");
  apply_refused("uidMappings", "[{'containerID': 1, 'hostID': 100000, 'size': 10}, {'containerID': 0, 'hostID': 0, 'size': 1}]",
                "linux.uidMappings[1]: maps to host id 0 (root), which the confidential profile forbids");
  apply_refused("gidMappings", "[{'containerID': 0, 'hostID': 0, 'size': 65536}]",
                "linux.gidMappings[0]: maps to host id 0 (root), which the confidential profile forbids");
  apply_refused("mounts", "{'destination': '/dev', 'type': 'bind', 'source': '/dev'}",
                "mounts[8].source: binds the host's /dev, which the confidential profile forbids");
  apply_refused("mounts", "{'destination': '/dev/tpm0', 'source': '/dev/tpm0', 'options': ['bind']}",
                "mounts[8].source: binds the host's /dev/tpm0, which the confidential profile forbids");
  apply_refused("mounts", "{'destination': '/hostdev', 'source': '/dev/tpmrm0', 'options': ['rbind', 'ro']}",
                "mounts[8].source: binds the host's /dev/tpmrm0, which the confidential profile forbids");
  apply_refused("namespaces", "{}", "linux.namespaces: expected an array, got object");
  dj_err err = { 0 };
  json_t *arr = json_array();
  cr_assert_eq(dj_profile_apply_confidential(arr, &err), -1);
  cr_assert_str_eq(err.msg, "expected a JSON object");
  json_decref(arr);
}
