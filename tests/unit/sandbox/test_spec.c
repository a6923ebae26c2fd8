/* config.json parsing: valid documents, and invalid ones with the exact error text. */
#include <criterion/criterion.h>

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/util.h"
#include "sandbox/spec.h"

/* JSON with ' for " so the documents stay readable here. */
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

/* What `runc spec` writes (runc 1.1.5), with ociVersion 1.2.0. */
static const char *const runc_spec =
  "{'ociVersion': '1.2.0',"
  " 'process': {'terminal': true, 'user': {'uid': 0, 'gid': 0}, 'args': ['sh'],"
  "  'env': ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'TERM=xterm'],"
  "  'cwd': '/',"
  "  'capabilities': {'bounding': ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'],"
  "   'effective': ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'],"
  "   'permitted': ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE'],"
  "   'ambient': ['CAP_AUDIT_WRITE', 'CAP_KILL', 'CAP_NET_BIND_SERVICE']},"
  "  'rlimits': [{'type': 'RLIMIT_NOFILE', 'hard': 1024, 'soft': 1024}],"
  "  'noNewPrivileges': true},"
  " 'root': {'path': 'rootfs', 'readonly': true},"
  " 'hostname': 'runc',"
  " 'mounts': ["
  "  {'destination': '/proc', 'type': 'proc', 'source': 'proc'},"
  "  {'destination': '/dev', 'type': 'tmpfs', 'source': 'tmpfs', 'options': ['nosuid', 'strictatime', 'mode=755', 'size=65536k']},"
  "  {'destination': '/dev/pts', 'type': 'devpts', 'source': 'devpts', 'options': ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5']},"
  "  {'destination': '/dev/shm', 'type': 'tmpfs', 'source': 'shm', 'options': ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k']},"
  "  {'destination': '/dev/mqueue', 'type': 'mqueue', 'source': 'mqueue', 'options': ['nosuid', 'noexec', 'nodev']},"
  "  {'destination': '/sys', 'type': 'sysfs', 'source': 'sysfs', 'options': ['nosuid', 'noexec', 'nodev', 'ro']},"
  "  {'destination': '/sys/fs/cgroup', 'type': 'cgroup', 'source': 'cgroup', 'options': ['nosuid', 'noexec', 'nodev', 'relatime', 'ro']}],"
  " 'linux': {'resources': {'devices': [{'allow': false, 'access': 'rwm'}]},"
  "  'namespaces': [{'type': 'pid'}, {'type': 'network'}, {'type': 'ipc'}, {'type': 'uts'}, {'type': 'mount'}],"
  "  'maskedPaths': ['/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats',"
  "   '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/sys/firmware', '/proc/scsi'],"
  "  'readonlyPaths': ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']}}";

/* Set doc.<dotted path> to value (parents must exist; "-" deletes). */
static void put(json_t *doc, const char *path, const char *value)
{
  char *p = dj_xstrdup(path), *save = NULL, *key = strtok_r(p, ".", &save), *next;
  json_t *obj = doc;
  while ((next = strtok_r(NULL, ".", &save)) != NULL) {
    char *br = strchr(key, '[');
    if (br != NULL) { /* key[i] */
      *br = '\0';
      obj = json_array_get(json_object_get(obj, key), strtoul(br + 1, NULL, 10));
    } else {
      obj = json_object_get(obj, key);
    }
    cr_assert_not_null(obj, "no parent for %s", path);
    key = next;
  }
  if (strcmp(value, "-") == 0)
    json_object_del(obj, key);
  else
    json_object_set_new(obj, key, j(value));
  free(p);
}

static json_t *base(void)
{
  return j(runc_spec);
}

static struct dj_spec *parse_ok(json_t *doc)
{
  struct dj_spec *s = NULL;
  dj_err err = { 0 };
  int r = dj_spec_parse(doc, &s, &err);
  cr_assert_eq(r, 0, "parse failed: %s", err.msg);
  json_decref(doc);
  return s;
}

/* base() with doc.path = value must fail with exactly msg. */
static void refused(const char *path, const char *value, const char *msg)
{
  json_t *doc = base();
  struct dj_spec *s = NULL;
  dj_err err = { 0 };
  put(doc, path, value);
  cr_assert_eq(dj_spec_parse(doc, &s, &err), -1, "%s = %s was accepted", path, value);
  cr_expect_str_eq(err.msg, msg, "%s = %s", path, value);
  cr_assert_null(s);
  json_decref(doc);
}

Test(spec, runc_spec_output)
{
  _cleanup_spec_ struct dj_spec *s = parse_ok(base());
  cr_assert_str_eq(s->oci_version, "1.2.0");
  cr_assert_str_eq(s->root_path, "rootfs");
  cr_assert(s->root_readonly);
  cr_assert_str_eq(s->hostname, "runc");
  cr_assert(s->process.terminal);
  cr_assert_eq(s->process.n_args, 1);
  cr_assert_str_eq(s->process.args[0], "sh");
  cr_assert_null(s->process.args[1]);
  cr_assert_eq(s->process.n_env, 2);
  cr_assert_str_eq(s->process.cwd, "/");
  uint64_t three = (1ull << CAP_AUDIT_WRITE) | (1ull << CAP_KILL) | (1ull << CAP_NET_BIND_SERVICE);
  cr_assert(s->process.caps.present);
  cr_assert_eq(s->process.caps.bounding, three);
  cr_assert_eq(s->process.caps.ambient, three);
  cr_assert_eq(s->process.caps.inheritable, 0);
  cr_assert_eq(s->process.n_rlimits, 1);
  cr_assert_eq(s->process.rlimits[0].resource, RLIMIT_NOFILE);
  cr_assert_eq(s->process.rlimits[0].soft, 1024);
  cr_assert(s->process.no_new_privileges);
  cr_assert_eq(s->n_mounts, 7);
  cr_assert_str_eq(s->mounts[1].destination, "/dev");
  cr_assert_eq(s->mounts[1].flags, MS_NOSUID | MS_STRICTATIME);
  cr_assert_str_eq(s->mounts[1].data, "mode=755,size=65536k");
  cr_assert_null(s->mounts[0].data);
  cr_assert_eq(s->mounts[5].flags, MS_NOSUID | MS_NOEXEC | MS_NODEV | MS_RDONLY);
  cr_assert_eq(s->ns_flags, CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWNS);
  cr_assert_eq(s->n_namespaces, 5);
  cr_assert(s->resources.present);
  cr_assert_eq(s->resources.n_devices, 1);
  cr_assert_not(s->resources.devices[0].allow);
  cr_assert_eq(s->resources.devices[0].type, 'a');
  cr_assert_eq(s->resources.devices[0].major, -1);
  cr_assert_str_eq(s->resources.devices[0].access, "rwm");
  cr_assert_eq(s->resources.memory_limit, DJ_UNSET_I64);
  cr_assert_eq(s->resources.pids_limit, DJ_UNSET_I64);
  cr_assert_eq(s->n_masked_paths, 10);
  cr_assert_eq(s->n_readonly_paths, 5);
  cr_assert_null(s->seccomp);
  cr_assert_null(s->cgroups_path);
  cr_assert_eq(s->rootfs_propagation, 0);
}

Test(spec, full_document)
{
  json_t *doc = base();
  put(doc, "process.user", "{'uid': 1000, 'gid': 1000, 'umask': 18, 'additionalGids': [5, 20]}");
  put(doc, "process.consoleSize", "{'height': 40, 'width': 120}");
  put(doc, "process.oomScoreAdj", "-1000");
  put(doc, "process.apparmorProfile", "'docker-default'");
  put(doc, "process.ioPriority", "{}"); /* present but empty: nothing asked */
  put(doc, "domainname", "'example.org'");
  put(doc, "annotations", "{'org.donjon.profile': 'confidential'}");
  put(doc, "hooks", "{'prestart': []}");
  put(doc, "mounts", "[{'destination': '/data', 'source': '/srv/data', 'options': ['rbind', 'rro', 'nosuid', 'rslave', 'x-unknown=1']},"
                     " {'destination': '/b', 'type': 'bind', 'source': 'b', 'options': ['rw', 'suid', 'dev', 'exec']},"
                     " {'destination': '/t', 'type': 'tmpfs', 'options': ['ro', 'rw', 'noatime', 'lazytime', 'nosymfollow', 'size=1m', 'mode=1777']}]");
  put(doc, "linux.namespaces", "[{'type': 'user'}, {'type': 'pid'}, {'type': 'mount'}, {'type': 'uts'},"
                               " {'type': 'network', 'path': '/var/run/netns/x'}, {'type': 'time'}, {'type': 'cgroup'}, {'type': 'ipc', 'path': ''}]");
  put(doc, "linux.uidMappings", "[{'containerID': 0, 'hostID': 100000, 'size': 65536}]");
  put(doc, "linux.gidMappings", "[{'containerID': 0, 'hostID': 100000, 'size': 65536}]");
  put(doc, "linux.devices", "[{'type': 'c', 'path': '/dev/fuse', 'major': 10, 'minor': 229, 'fileMode': 438, 'uid': 0, 'gid': 0},"
                            " {'type': 'p', 'path': '/dev/fifo'}]");
  put(doc, "linux.resources", "{'memory': {'limit': 1048576, 'swap': 1048576, 'reservation': -1, 'swappiness': 0, 'disableOOMKiller': false},"
                              " 'cpu': {'shares': 1024, 'quota': 50000, 'period': 100000, 'cpus': '0-3,5', 'mems': '0'},"
                              " 'pids': {'limit': 100}, 'blockIO': {'weight': 500, 'weightDevice': []},"
                              " 'devices': [{'allow': false}, {'allow': true, 'type': 'c', 'major': 1, 'minor': 3, 'access': 'wr'}],"
                              " 'unified': {'memory.high': '1000000'}, 'hugepageLimits': []}");
  put(doc, "linux.cgroupsPath", "'/donjon/test'");
  put(doc, "linux.rootfsPropagation", "'rslave'");
  put(doc, "linux.sysctl", "{'net.ipv4.ip_forward': '1', 'kernel.shm_rmid_forced': '1'}");
  put(doc, "linux.seccomp", "{'defaultAction': 'SCMP_ACT_ERRNO', 'defaultErrnoRet': 38,"
                            " 'architectures': ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'], 'flags': ['SECCOMP_FILTER_FLAG_LOG'],"
                            " 'syscalls': [{'names': ['read', 'write'], 'action': 'SCMP_ACT_ALLOW'},"
                            "  {'names': ['ioctl'], 'action': 'SCMP_ACT_ERRNO', 'errnoRet': 1,"
                            "   'args': [{'index': 1, 'value': 21522, 'op': 'SCMP_CMP_MASKED_EQ', 'valueTwo': 4294967295}]}]}");
  put(doc, "linux.timeOffsets", "{'monotonic': {'secs': 100, 'nanosecs': 5}, 'boottime': {'secs': -3}}");
  put(doc, "linux.personality", "{'domain': 'LINUX32'}");
  put(doc, "linux.mountLabel", "'system_u:object_r:container_file_t:s0'");
  put(doc, "linux.unknownFutureThing", "{'x': 1}"); /* unknown properties are ignored */
  put(doc, "somethingElse", "42");

  _cleanup_spec_ struct dj_spec *s = parse_ok(doc);
  const struct dj_process *p = &s->process;
  cr_assert_eq(p->uid, 1000);
  cr_assert(p->has_umask);
  cr_assert_eq(p->umask, 022);
  cr_assert_eq(p->n_additional_gids, 2);
  cr_assert_eq(p->additional_gids[1], 20);
  cr_assert(p->has_console_size);
  cr_assert_eq(p->console_width, 120);
  cr_assert(p->has_oom_score_adj);
  cr_assert_eq(p->oom_score_adj, -1000);
  cr_assert_str_eq(p->apparmor_profile, "docker-default");
  cr_assert_str_eq(s->domainname, "example.org");
  cr_assert_str_eq(json_string_value(json_object_get(s->annotations, "org.donjon.profile")), "confidential");
  cr_assert(json_is_array(json_object_get(s->hooks, "prestart")));

  const struct dj_mount *m = &s->mounts[0];
  cr_assert_null(m->type);
  cr_assert(m->bind);
  cr_assert(m->recursive); /* rbind */
  cr_assert_eq(m->flags, MS_BIND | MS_REC | MS_RDONLY | MS_NOSUID);
  cr_assert_eq(m->rec_flags, MS_RDONLY);
  cr_assert_eq(m->propagation, MS_SLAVE | MS_REC);
  cr_assert_str_eq(m->data, "x-unknown=1");
  m = &s->mounts[1];
  cr_assert(m->bind);
  cr_assert_not(m->recursive);
  cr_assert_eq(m->flags, MS_BIND);
  cr_assert_eq(m->clear_flags, MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC);
  m = &s->mounts[2];
  cr_assert_not(m->bind);
  cr_assert_eq(m->flags, MS_NOATIME | MS_LAZYTIME | MS_NOSYMFOLLOW);
  cr_assert_eq(m->clear_flags, MS_RDONLY); /* "ro" then "rw": the last one wins */
  cr_assert_str_eq(m->data, "size=1m,mode=1777");

  cr_assert_eq(s->ns_flags, CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWTIME |
                            CLONE_NEWCGROUP | CLONE_NEWIPC);
  cr_assert_str_eq(s->namespaces[4].path, "/var/run/netns/x");
  cr_assert_null(s->namespaces[7].path);
  cr_assert_eq(s->uid_mappings[0].host_id, 100000);
  cr_assert_eq(s->n_gid_mappings, 1);
  cr_assert_eq(s->devices[0].type, 'c');
  cr_assert_eq(s->devices[0].minor, 229);
  cr_assert(s->devices[0].has_file_mode && s->devices[0].file_mode == 0666);
  cr_assert_eq(s->devices[1].type, 'p');

  const struct dj_resources *r = &s->resources;
  cr_assert_eq(r->memory_limit, 1048576);
  cr_assert_eq(r->memory_reservation, -1);
  cr_assert_eq(r->memory_swappiness, 0);
  cr_assert(r->has_disable_oom_killer);
  cr_assert(r->has_cpu_shares && r->cpu_shares == 1024);
  cr_assert_eq(r->cpu_quota, 50000);
  cr_assert_str_eq(r->cpuset_cpus, "0-3,5");
  cr_assert_eq(r->pids_limit, 100);
  cr_assert(r->has_blkio_weight && r->blkio_weight == 500);
  cr_assert_eq(r->n_devices, 2);
  cr_assert_str_eq(r->devices[0].access, "");
  cr_assert_str_eq(r->devices[1].access, "wr");
  cr_assert_eq(r->devices[1].major, 1);
  cr_assert_str_eq(json_string_value(json_object_get(r->unified, "memory.high")), "1000000");

  cr_assert_str_eq(s->cgroups_path, "/donjon/test");
  cr_assert_eq(s->rootfs_propagation, MS_SLAVE | MS_REC);
  cr_assert_eq(s->n_sysctl, 2);
  const struct dj_seccomp *sc = s->seccomp;
  cr_assert_eq(sc->default_action, DJ_SCMP_ACT_ERRNO);
  cr_assert(sc->has_default_errno_ret && sc->default_errno_ret == 38);
  cr_assert_eq(sc->n_architectures, 2);
  cr_assert_str_eq(sc->flags[0], "SECCOMP_FILTER_FLAG_LOG");
  cr_assert_eq(sc->n_rules, 2);
  cr_assert_eq(sc->rules[0].n_names, 2);
  cr_assert_null(sc->rules[0].names[2]);
  cr_assert_not(sc->rules[0].has_errno_ret);
  cr_assert_eq(sc->rules[1].errno_ret, 1);
  cr_assert_eq(sc->rules[1].n_args, 1);
  cr_assert_eq(sc->rules[1].args[0].op, DJ_SCMP_MASKED_EQ);
  cr_assert_eq(sc->rules[1].args[0].value_two, 4294967295u);
  cr_assert(s->has_time_offsets);
  cr_assert_eq(s->time_offset_monotonic_s, 100);
  cr_assert_eq(s->time_offset_monotonic_ns, 5);
  cr_assert_eq(s->time_offset_boottime_s, -3);
  cr_assert(s->has_personality && s->personality == PER_LINUX32);
  cr_assert_not_null(s->mount_label);
}

Test(spec, minimal_document)
{
  _cleanup_spec_ struct dj_spec *s = parse_ok(j("{'ociVersion': '1.0.2-dev', 'root': {'path': '/r'},"
    " 'process': {'user': {'uid': 0, 'gid': 0}, 'args': ['true'], 'cwd': '/'}}"));
  cr_assert_not(s->process.caps.present);
  cr_assert_eq(s->ns_flags, 0);
  cr_assert_not(s->resources.present);
  cr_assert_eq(s->n_mounts, 0);
  cr_assert_null(s->process.env[0]);
}

Test(spec, top_level)
{
  refused("ociVersion", "-", "ociVersion: missing");
  refused("ociVersion", "'2.0.0'", "ociVersion: version \"2.0.0\" is not supported (donjon implements runtime-spec 1.x)");
  refused("ociVersion", "'11.0'", "ociVersion: version \"11.0\" is not supported (donjon implements runtime-spec 1.x)");
  refused("ociVersion", "'one'", "ociVersion: \"one\" is not a version like \"1.2.0\"");
  refused("ociVersion", "1", "ociVersion: expected a string, got integer");
  refused("root", "-", "root: missing");
  refused("root.path", "''", "root.path: empty");
  refused("root.readonly", "'yes'", "root.readonly: expected a boolean, got string");
  refused("process", "-", "process: missing");
  refused("annotations", "{'a': 1}", "annotations.a: expected a string, got integer");
  refused("hooks", "[]", "hooks: expected an object, got array");
  refused("hostname", "'" "0123456789012345678901234567890123456789012345678901234567890123456789" "'",
          "hostname: longer than 64 bytes");
}

Test(spec, hostname_needs_new_uts)
{
  refused("linux.namespaces", "[{'type': 'pid'}]", "hostname: setting it needs a new uts namespace");
  refused("linux.namespaces", "[{'type': 'uts', 'path': '/proc/1/ns/uts'}]", "hostname: setting it needs a new uts namespace");
  json_t *doc = base();
  put(doc, "hostname", "-");
  put(doc, "domainname", "'d'");
  put(doc, "linux.namespaces", "[]");
  struct dj_spec *s = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_spec_parse(doc, &s, &err), -1);
  cr_assert_str_eq(err.msg, "domainname: setting it needs a new uts namespace");
  json_decref(doc);
  doc = base();
  put(doc, "hostname", "''"); /* empty: nothing to set, as runc */
  put(doc, "linux.namespaces", "[]");
  dj_spec_free(parse_ok(doc));
}

Test(spec, process)
{
  refused("process.args", "[]", "process.args: must have at least one entry (the program to run)");
  refused("process.args", "-", "process.args: missing");
  refused("process.args", "['sh', 1]", "process.args[1]: expected a string, got integer");
  refused("process.env", "['A=1', 'NOEQUALS']", "process.env[1]: \"NOEQUALS\" is not of the form NAME=VALUE");
  refused("process.env", "['=x']", "process.env[0]: \"=x\" is not of the form NAME=VALUE");
  refused("process.cwd", "'relative/dir'", "process.cwd: must be an absolute path");
  refused("process.cwd", "-", "process.cwd: missing");
  refused("process.user", "-", "process.user: missing");
  refused("process.user", "{'uid': 0}", "process.user.gid: missing");
  refused("process.user", "{'uid': -1, 'gid': 0}", "process.user.uid: -1 is out of range [0, 4294967295]");
  refused("process.user", "{'uid': 0, 'gid': 0, 'umask': 512}", "process.user.umask: 512 is out of range [0, 511]");
  refused("process.user", "{'uid': 0, 'gid': 0, 'additionalGids': [1, 'wheel']}",
          "process.user.additionalGids[1]: expected a gid (an integer 0..4294967295)");
  refused("process.terminal", "1", "process.terminal: expected a boolean, got integer");
  refused("process.consoleSize", "{'height': 10}", "process.consoleSize.width: missing");
  refused("process.consoleSize", "{'height': 70000, 'width': 1}", "process.consoleSize.height: 70000 is out of range [0, 65535]");
  refused("process.oomScoreAdj", "1001", "process.oomScoreAdj: 1001 is out of range [-1000, 1000]");
  refused("process.oomScoreAdj", "-1001", "process.oomScoreAdj: -1001 is out of range [-1000, 1000]");
  refused("process.noNewPrivileges", "'true'", "process.noNewPrivileges: expected a boolean, got string");
  refused("process.selinuxLabel", "7", "process.selinuxLabel: expected a string, got integer");
  refused("process.ioPriority", "{'class': 'IOPRIO_CLASS_RT', 'priority': 1}", "process.ioPriority: not supported by donjon");
  refused("process.scheduler", "{'policy': 'SCHED_FIFO'}", "process.scheduler: not supported by donjon");
  refused("process.execCPUAffinity", "{'initial': '0'}", "process.execCPUAffinity: not supported by donjon");
}

Test(spec, capabilities)
{
  refused("process.capabilities.bounding", "['CAP_KILL', 'CAP_FOO']",
          "process.capabilities.bounding[1]: unknown capability \"CAP_FOO\"");
  refused("process.capabilities.ambient", "['cap_kill']", "process.capabilities.ambient[0]: unknown capability \"cap_kill\"");
  refused("process.capabilities.inheritable", "[21]", "process.capabilities.inheritable[0]: expected a string, got integer");
  refused("process.capabilities.effective", "'CAP_KILL'", "process.capabilities.effective: expected an array, got string");
  refused("process.capabilities", "[]", "process.capabilities: expected an object, got array");

  json_t *doc = base();
  put(doc, "process.capabilities", "{'permitted': ['CAP_CHECKPOINT_RESTORE', 'CAP_CHOWN', 'CAP_SYS_ADMIN']}");
  _cleanup_spec_ struct dj_spec *s = parse_ok(doc);
  cr_assert_eq(s->process.caps.permitted, (1ull << 40) | 1ull | (1ull << 21));
  cr_assert_eq(s->process.caps.bounding, 0);
}

Test(spec, capability_table_matches_libcap)
{
  cap_value_t last = cap_max_bits() - 1; /* what this libcap knows */
  cr_assert_geq(last, 40);
  for (cap_value_t c = 0; c <= last; c++) {
    char *name = cap_to_name(c);
    char upper[64];
    size_t i = 0;
    for (; name[i] && i < sizeof upper - 1; i++)
      upper[i] = (char) (name[i] >= 'a' && name[i] <= 'z' ? name[i] - 32 : name[i]);
    upper[i] = '\0';
    cap_free(name);
    cr_expect_str_eq(dj_cap_name(c), upper, "capability %d", c);
    cr_expect_eq(dj_cap_from_name(upper), c);
  }
  cr_assert_null(dj_cap_name(last + 1));
  cr_assert_null(dj_cap_name(-1));
  cr_assert_eq(dj_cap_from_name("CAP_NOPE"), -1);
}

Test(spec, name_tables)
{
  cr_assert_eq(dj_rlimit_from_name("RLIMIT_NOFILE"), RLIMIT_NOFILE);
  cr_assert_eq(dj_rlimit_from_name("RLIMIT_RTTIME"), RLIMIT_RTTIME);
  cr_assert_eq(dj_rlimit_from_name("RLIMIT_BOGUS"), -1);
  cr_assert_eq(dj_namespace_from_name("time"), CLONE_NEWTIME);
  cr_assert_eq(dj_namespace_from_name("network"), CLONE_NEWNET);
  cr_assert_eq(dj_namespace_from_name("net"), -1);
  cr_assert_str_eq(dj_namespace_name(CLONE_NEWNS), "mount");
  cr_assert_str_eq(dj_namespace_name(CLONE_NEWCGROUP), "cgroup");
  cr_assert_null(dj_namespace_name(0));
}

Test(spec, rlimits)
{
  refused("process.rlimits", "[{'type': 'RLIMIT_NOFILE', 'soft': 1, 'hard': 1}, {'type': 'RLIMIT_BOGUS', 'soft': 1, 'hard': 1}]",
          "process.rlimits[1].type: unknown rlimit \"RLIMIT_BOGUS\"");
  refused("process.rlimits", "[{'type': 'RLIMIT_NOFILE', 'soft': 1, 'hard': 1}, {'type': 'RLIMIT_NOFILE', 'soft': 1, 'hard': 1}]",
          "process.rlimits[1].type: duplicate rlimit \"RLIMIT_NOFILE\"");
  refused("process.rlimits", "[{'type': 'RLIMIT_CORE', 'soft': 2048, 'hard': 1024}]",
          "process.rlimits[0]: soft limit 2048 is above hard limit 1024");
  refused("process.rlimits", "[{'type': 'RLIMIT_CORE', 'soft': 1}]", "process.rlimits[0].hard: missing");
  refused("process.rlimits", "[{'type': 'RLIMIT_CORE', 'soft': -1, 'hard': 1}]",
          "process.rlimits[0].soft: -1 is out of range [0, 9223372036854775807]");
  refused("process.rlimits", "[{'soft': 1, 'hard': 1}]", "process.rlimits[0].type: missing");
  refused("process.rlimits", "['RLIMIT_CORE']", "process.rlimits[0]: expected an object, got string");
}

Test(spec, mounts)
{
  refused("mounts", "[{'destination': '/a'}, {'destination': 'relative'}]", "mounts[1].destination: must be an absolute path");
  refused("mounts", "[{'type': 'tmpfs'}]", "mounts[0].destination: missing");
  refused("mounts", "[{'destination': '/a', 'options': ['ro', 3]}]", "mounts[0].options[1]: expected a string, got integer");
  refused("mounts", "[{'destination': '/a', 'options': ['']}]", "mounts[0].options[0]: empty option");
  refused("mounts", "[{'destination': '/a', 'source': '/b', 'options': ['bind', 'idmap']}]",
          "mounts[0].options[1]: \"idmap\" (id-mapped mounts) is not supported by donjon");
  refused("mounts", "[{'destination': '/a', 'source': '/b', 'options': ['ridmap']}]",
          "mounts[0].options[0]: \"ridmap\" (id-mapped mounts) is not supported by donjon");
  refused("mounts", "[{'destination': '/a', 'source': '/b', 'uidMappings': [{'containerID': 0, 'hostID': 1, 'size': 1}]}]",
          "mounts[0].uidMappings: not supported by donjon");
  refused("mounts", "[{'destination': '/a', 'type': 'bind'}]", "mounts[0].source: missing (a bind mount needs a source)");
  refused("mounts", "[{'destination': '/a', 'options': ['rbind']}]", "mounts[0].source: missing (a bind mount needs a source)");
  refused("mounts", "{}", "mounts: expected an array, got object");
}

/* Every option of the list, one by one, lands where it should. */
Test(spec, mount_option_table)
{
  static const struct { const char *opt; unsigned long set, clear, rec_set, rec_clear, prop; bool bind, rec; } t[] = {
    { "ro", MS_RDONLY, 0, 0, 0, 0, false, false }, { "rw", 0, MS_RDONLY, 0, 0, 0, false, false },
    { "nosuid", MS_NOSUID, 0, 0, 0, 0, false, false }, { "suid", 0, MS_NOSUID, 0, 0, 0, false, false },
    { "nodev", MS_NODEV, 0, 0, 0, 0, false, false }, { "dev", 0, MS_NODEV, 0, 0, 0, false, false },
    { "noexec", MS_NOEXEC, 0, 0, 0, 0, false, false }, { "exec", 0, MS_NOEXEC, 0, 0, 0, false, false },
    { "sync", MS_SYNCHRONOUS, 0, 0, 0, 0, false, false }, { "async", 0, MS_SYNCHRONOUS, 0, 0, 0, false, false },
    { "dirsync", MS_DIRSYNC, 0, 0, 0, 0, false, false }, { "remount", MS_REMOUNT, 0, 0, 0, 0, false, false },
    { "mand", MS_MANDLOCK, 0, 0, 0, 0, false, false }, { "nomand", 0, MS_MANDLOCK, 0, 0, 0, false, false },
    { "atime", 0, MS_NOATIME, 0, 0, 0, false, false }, { "noatime", MS_NOATIME, 0, 0, 0, 0, false, false },
    { "diratime", 0, MS_NODIRATIME, 0, 0, 0, false, false }, { "nodiratime", MS_NODIRATIME, 0, 0, 0, 0, false, false },
    { "relatime", MS_RELATIME, 0, 0, 0, 0, false, false }, { "norelatime", 0, MS_RELATIME, 0, 0, 0, false, false },
    { "strictatime", MS_STRICTATIME, 0, 0, 0, 0, false, false }, { "nostrictatime", 0, MS_STRICTATIME, 0, 0, 0, false, false },
    { "nosymfollow", MS_NOSYMFOLLOW, 0, 0, 0, 0, false, false }, { "symfollow", 0, MS_NOSYMFOLLOW, 0, 0, 0, false, false },
    { "lazytime", MS_LAZYTIME, 0, 0, 0, 0, false, false }, { "nolazytime", 0, MS_LAZYTIME, 0, 0, 0, false, false },
    { "bind", MS_BIND, 0, 0, 0, 0, true, false }, { "rbind", MS_BIND | MS_REC, 0, 0, 0, 0, true, true },
    { "private", 0, 0, 0, 0, MS_PRIVATE, false, false }, { "rprivate", 0, 0, 0, 0, MS_PRIVATE | MS_REC, false, false },
    { "shared", 0, 0, 0, 0, MS_SHARED, false, false }, { "rshared", 0, 0, 0, 0, MS_SHARED | MS_REC, false, false },
    { "slave", 0, 0, 0, 0, MS_SLAVE, false, false }, { "rslave", 0, 0, 0, 0, MS_SLAVE | MS_REC, false, false },
    { "unbindable", 0, 0, 0, 0, MS_UNBINDABLE, false, false },
    { "runbindable", 0, 0, 0, 0, MS_UNBINDABLE | MS_REC, false, false },
    { "rro", MS_RDONLY, 0, MS_RDONLY, 0, 0, false, false }, { "rrw", 0, MS_RDONLY, 0, MS_RDONLY, 0, false, false },
    { "rnosuid", MS_NOSUID, 0, MS_NOSUID, 0, 0, false, false }, { "rsuid", 0, MS_NOSUID, 0, MS_NOSUID, 0, false, false },
    { "rnodev", MS_NODEV, 0, MS_NODEV, 0, 0, false, false }, { "rdev", 0, MS_NODEV, 0, MS_NODEV, 0, false, false },
    { "rnoexec", MS_NOEXEC, 0, MS_NOEXEC, 0, 0, false, false }, { "rexec", 0, MS_NOEXEC, 0, MS_NOEXEC, 0, false, false },
    { "rnoatime", MS_NOATIME, 0, MS_NOATIME, 0, 0, false, false }, { "ratime", 0, MS_NOATIME, 0, MS_NOATIME, 0, false, false },
    { "rnodiratime", MS_NODIRATIME, 0, MS_NODIRATIME, 0, 0, false, false },
    { "rdiratime", 0, MS_NODIRATIME, 0, MS_NODIRATIME, 0, false, false },
    { "rrelatime", MS_RELATIME, 0, MS_RELATIME, 0, 0, false, false },
    { "rnorelatime", 0, MS_RELATIME, 0, MS_RELATIME, 0, false, false },
    { "rstrictatime", MS_STRICTATIME, 0, MS_STRICTATIME, 0, 0, false, false },
    { "rnostrictatime", 0, MS_STRICTATIME, 0, MS_STRICTATIME, 0, false, false },
    { "rnosymfollow", MS_NOSYMFOLLOW, 0, MS_NOSYMFOLLOW, 0, 0, false, false },
    { "rsymfollow", 0, MS_NOSYMFOLLOW, 0, MS_NOSYMFOLLOW, 0, false, false },
    { "defaults", 0, 0, 0, 0, 0, false, false },
  };
  for (size_t i = 0; i < DJ_ARRAY_SIZE(t); i++) {
    json_t *doc = base();
    char m[256];
    snprintf(m, sizeof m, "[{'destination': '/m', 'source': '/s', 'options': ['%s']}]", t[i].opt);
    put(doc, "mounts", m);
    _cleanup_spec_ struct dj_spec *s = parse_ok(doc);
    const struct dj_mount *mt = &s->mounts[0];
    cr_expect_eq(mt->flags, t[i].set, "%s: flags %#lx", t[i].opt, mt->flags);
    cr_expect_eq(mt->clear_flags, t[i].clear, "%s: clear_flags %#lx", t[i].opt, mt->clear_flags);
    cr_expect_eq(mt->rec_flags, t[i].rec_set, "%s: rec_flags", t[i].opt);
    cr_expect_eq(mt->rec_clear_flags, t[i].rec_clear, "%s: rec_clear_flags", t[i].opt);
    cr_expect_eq(mt->propagation, t[i].prop, "%s: propagation", t[i].opt);
    cr_expect_eq(mt->bind, t[i].bind, "%s: bind", t[i].opt);
    cr_expect_eq(mt->recursive, t[i].rec, "%s: recursive", t[i].opt);
    cr_expect_null(mt->data, "%s: data", t[i].opt);
  }
}

Test(spec, namespaces)
{
  refused("linux.namespaces", "[{'type': 'pid'}, {'type': 'uts'}, {'type': 'pid'}]",
          "linux.namespaces[2].type: duplicate namespace \"pid\"");
  refused("linux.namespaces", "[{'type': 'uts'}, {'type': 'pid', 'path': '/proc/1/ns/pid'}, {'type': 'pid'}]",
          "linux.namespaces[2].type: duplicate namespace \"pid\"");
  refused("linux.namespaces", "[{'type': 'uts'}, {'type': 'net'}]", "linux.namespaces[1].type: unknown namespace \"net\"");
  refused("linux.namespaces", "[{'type': 'uts'}, {'type': 'ipc', 'path': 'proc/1/ns/ipc'}]",
          "linux.namespaces[1].path: must be an absolute path");
  refused("linux.namespaces", "[{'path': '/x'}]", "linux.namespaces[0].type: missing");
}

Test(spec, id_mappings)
{
  const char *ns = "[{'type': 'uts'}, {'type': 'user'}]";
  json_t *doc;
  struct dj_spec *s = NULL;
  dj_err err = { 0 };
  static const struct { const char *uid, *gid, *msg; } cases[] = {
    { NULL, "[{'containerID': 0, 'hostID': 1000, 'size': 1}]", "linux.uidMappings: required when a new user namespace is created" },
    { "[{'containerID': 0, 'hostID': 1000, 'size': 1}]", NULL, "linux.gidMappings: required when a new user namespace is created" },
    { "[{'containerID': 0, 'hostID': 1000, 'size': 0}]", NULL, "linux.uidMappings[0]: size must be greater than 0" },
    { "[{'containerID': 0, 'hostID': 4294967295, 'size': 2}]", NULL, "linux.uidMappings[0]: range overflows 32-bit ids" },
    { "[{'containerID': 4294967290, 'hostID': 0, 'size': 100}]", NULL, "linux.uidMappings[0]: range overflows 32-bit ids" },
    { "[{'containerID': 0, 'hostID': 1000, 'size': 10}, {'containerID': 5, 'hostID': 5000, 'size': 1}]", NULL,
      "linux.uidMappings[1]: container range overlaps linux.uidMappings[0]" },
    { "[{'containerID': 0, 'hostID': 1000, 'size': 1}]", "[{'containerID': 0, 'hostID': -5, 'size': 1}]",
      "linux.gidMappings[0].hostID: -5 is out of range [0, 4294967295]" },
    { "[{'hostID': 1000, 'size': 1}]", NULL, "linux.uidMappings[0].containerID: missing" },
  };
  for (size_t i = 0; i < DJ_ARRAY_SIZE(cases); i++) {
    doc = base();
    put(doc, "linux.namespaces", ns);
    if (cases[i].uid)
      put(doc, "linux.uidMappings", cases[i].uid);
    if (cases[i].gid)
      put(doc, "linux.gidMappings", cases[i].gid);
    cr_assert_eq(dj_spec_parse(doc, &s, &err), -1, "case %zu accepted", i);
    cr_expect_str_eq(err.msg, cases[i].msg);
    json_decref(doc);
  }
  /* 341 lines: over the kernel's limit */
  doc = base();
  put(doc, "linux.namespaces", ns);
  json_t *lines = json_array();
  for (int i = 0; i < 341; i++)
    json_array_append_new(lines, json_pack("{s:i, s:i, s:i}", "containerID", i, "hostID", 100000 + i, "size", 1));
  json_object_set_new(json_object_get(doc, "linux"), "uidMappings", lines);
  cr_assert_eq(dj_spec_parse(doc, &s, &err), -1);
  cr_expect_str_eq(err.msg, "linux.uidMappings: 341 lines, the kernel takes at most 340");
  json_array_remove(lines, 0);
  put(doc, "linux.gidMappings", "[{'containerID': 0, 'hostID': 1000, 'size': 1}]");
  s = parse_ok(doc); /* 340 is fine */
  cr_assert_eq(s->n_uid_mappings, 340);
  dj_spec_free(s);
  /* mappings without any user namespace mean nothing: refused */
  refused("linux.uidMappings", "[{'containerID': 0, 'hostID': 1000, 'size': 1}]",
          "linux.uidMappings: given, but there is no user namespace");
  /* joining a user namespace: mappings may describe it (containerd does so for pods) */
  doc = base();
  put(doc, "linux.namespaces", "[{'type': 'uts'}, {'type': 'user', 'path': '/proc/1/ns/user'}]");
  put(doc, "linux.uidMappings", "[{'containerID': 0, 'hostID': 1000, 'size': 1}]");
  s = parse_ok(doc);
  cr_assert_eq(s->ns_flags, CLONE_NEWUTS);
  dj_spec_free(s);
}

Test(spec, devices)
{
  refused("linux.devices", "[{'type': 'x', 'path': '/dev/x', 'major': 1, 'minor': 1}]",
          "linux.devices[0].type: unknown device type \"x\" (c, b, u or p)");
  refused("linux.devices", "[{'type': 'cc', 'path': '/dev/x'}]", "linux.devices[0].type: unknown device type \"cc\" (c, b, u or p)");
  refused("linux.devices", "[{'type': 'c', 'path': 'dev/x', 'major': 1, 'minor': 1}]", "linux.devices[0].path: must be an absolute path");
  refused("linux.devices", "[{'type': 'c', 'path': '/dev/x', 'minor': 1}]", "linux.devices[0].major: missing");
  refused("linux.devices", "[{'type': 'u', 'path': '/dev/x', 'major': 1}]", "linux.devices[0].minor: missing");
  refused("linux.devices", "[{'type': 'b', 'path': '/dev/x', 'major': 8, 'minor': 0, 'fileMode': 65535}]",
          "linux.devices[0].fileMode: 65535 is out of range [0, 4095]");
  refused("linux.devices", "[{'type': 'p'}]", "linux.devices[0].path: missing");
}

Test(spec, resources)
{
  refused("linux.resources.memory", "{'limit': 2000, 'swap': 1000}",
          "linux.resources.memory.swap: 1000 is below memory.limit 2000 (swap counts memory plus swap)");
  refused("linux.resources.memory", "{'limit': -2}", "linux.resources.memory.limit: -2 is out of range [-1, 9223372036854775807]");
  refused("linux.resources.memory", "{'swappiness': 101}", "linux.resources.memory.swappiness: 101 is out of range [0, 100]");
  refused("linux.resources.memory", "{'kernelTCP': 1000}", "linux.resources.memory.kernelTCP: not supported by donjon");
  refused("linux.resources.cpu", "{'cpus': '0-3,,5'}", "linux.resources.cpu.cpus: \"0-3,,5\" is not a list like \"0-3,5\"");
  refused("linux.resources.cpu", "{'mems': '0-'}", "linux.resources.cpu.mems: \"0-\" is not a list like \"0-3,5\"");
  refused("linux.resources.cpu", "{'quota': -5}", "linux.resources.cpu.quota: -5 is out of range [-1, 9223372036854775807]");
  refused("linux.resources.cpu", "{'idle': 1}", "linux.resources.cpu.idle: not supported by donjon");
  refused("linux.resources.pids", "{'limit': -2}", "linux.resources.pids.limit: -2 is out of range [-1, 9223372036854775807]");
  refused("linux.resources.blockIO", "{'weight': 5}", "linux.resources.blockIO.weight: 5 is out of range [10, 1000]");
  refused("linux.resources.blockIO", "{'weight': 1001}", "linux.resources.blockIO.weight: 1001 is out of range [10, 1000]");
  refused("linux.resources.blockIO", "{'throttleReadBpsDevice': [{'major': 8, 'minor': 0, 'rate': 1}]}",
          "linux.resources.blockIO.throttleReadBpsDevice: not supported by donjon");
  refused("linux.resources.blockIO", "{'weightDevice': [{'major': 8, 'minor': 0, 'weight': 10}]}",
          "linux.resources.blockIO.weightDevice: not supported by donjon");
  refused("linux.resources.hugepageLimits", "[{'pageSize': '2MB', 'limit': 1}]", "linux.resources.hugepageLimits: not supported by donjon");
  refused("linux.resources.network", "{'classID': 1}", "linux.resources.network: not supported by donjon");
  refused("linux.resources.rdma", "{'mlx5_1': {'hcaHandles': 3}}", "linux.resources.rdma: not supported by donjon");
  refused("linux.resources.devices", "[{'access': 'rwm'}]", "linux.resources.devices[0].allow: missing");
  refused("linux.resources.devices", "[{'allow': true, 'access': 'rwx'}]",
          "linux.resources.devices[0].access: \"rwx\" is not a combination of r, w and m");
  refused("linux.resources.devices", "[{'allow': true, 'access': 'rr'}]",
          "linux.resources.devices[0].access: \"rr\" is not a combination of r, w and m");
  refused("linux.resources.devices", "[{'allow': true, 'type': 'p'}]", "linux.resources.devices[0].type: unknown device type \"p\" (a, c or b)");
  refused("linux.resources.devices", "[{'allow': true, 'major': -2}]", "linux.resources.devices[0].major: -2 is out of range [-1, 4294967295]");
  refused("linux.resources.unified", "{'memory.max': 5}", "linux.resources.unified.memory.max: expected a string, got integer");
  refused("linux.resources.unified", "{'../../release_agent': 'x'}", "linux.resources.unified.../../release_agent: not a cgroup file name");
  refused("linux.resources.unified", "{'.hidden': 'x'}", "linux.resources.unified..hidden: not a cgroup file name");
  /* unlimited swap with a limit is fine, so is swap alone */
  json_t *doc = base();
  put(doc, "linux.resources.memory", "{'limit': 2000, 'swap': -1}");
  dj_spec_free(parse_ok(doc));
}

Test(spec, linux_misc)
{
  refused("linux.rootfsPropagation", "'rprivatex'", "linux.rootfsPropagation: unknown propagation \"rprivatex\"");
  refused("linux.rootfsPropagation", "'r'", "linux.rootfsPropagation: unknown propagation \"r\"");
  refused("linux.maskedPaths", "['/proc/kcore', 'proc/keys']", "linux.maskedPaths[1]: must be an absolute path");
  refused("linux.readonlyPaths", "['/proc/sys', 5]", "linux.readonlyPaths[1]: expected a string, got integer");
  refused("linux.sysctl", "{'net.ipv4.ip_forward': 1}", "linux.sysctl.net.ipv4.ip_forward: expected a string, got integer");
  refused("linux.sysctl", "{'../../sysrq-trigger': 'b'}", "linux.sysctl.../../sysrq-trigger: not a sysctl name");
  refused("linux.sysctl", "{'kernel/core_pattern': '|x'}", "linux.sysctl.kernel/core_pattern: not a sysctl name");
  refused("linux.cgroupsPath", "5", "linux.cgroupsPath: expected a string, got integer");
  refused("linux.timeOffsets", "{'monotonic': {'secs': 1}}", "linux.timeOffsets: given, but no new time namespace is created");
  refused("linux.personality", "{'domain': 'BSD'}", "linux.personality.domain: unknown domain \"BSD\" (LINUX or LINUX32)");
  refused("linux.personality", "{'domain': 'LINUX', 'flags': ['ADDR_NO_RANDOMIZE']}", "linux.personality.flags: not supported by donjon");
  refused("linux.intelRdt", "{'closID': 'x'}", "linux.intelRdt: not supported by donjon");
  refused("linux.netDevices", "{'eth1': {}}", "linux.netDevices: not supported by donjon");
  refused("linux.memoryPolicy", "{'mode': 'MPOL_BIND'}", "linux.memoryPolicy: not supported by donjon");
  refused("linux", "[]", "linux: expected an object, got array");

  json_t *doc = base();
  put(doc, "linux.namespaces", "[{'type': 'uts'}, {'type': 'time'}]");
  put(doc, "linux.timeOffsets", "{'realtime': {'secs': 1}}");
  struct dj_spec *s = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_spec_parse(doc, &s, &err), -1);
  cr_assert_str_eq(err.msg, "linux.timeOffsets.realtime: unknown clock (monotonic or boottime)");
  put(doc, "linux.timeOffsets", "{'boottime': {'nanosecs': 1000000000}}");
  cr_assert_eq(dj_spec_parse(doc, &s, &err), -1);
  cr_assert_str_eq(err.msg, "linux.timeOffsets.boottime.nanosecs: 1000000000 is out of range [0, 999999999]");
  json_decref(doc);
}

Test(spec, seccomp)
{
  const char *P = "linux.seccomp";
  refused(P, "{'syscalls': []}", "linux.seccomp.defaultAction: missing");
  refused(P, "{'defaultAction': 'SCMP_ACT_EXPLODE'}", "linux.seccomp.defaultAction: unknown action \"SCMP_ACT_EXPLODE\"");
  refused(P, "{'defaultAction': 'SCMP_ACT_NOTIFY'}",
          "linux.seccomp.defaultAction: \"SCMP_ACT_NOTIFY\" is not supported by donjon (no seccomp agent)");
  refused(P, "{'defaultAction': 'SCMP_ACT_ALLOW', 'defaultErrnoRet': 1}",
          "linux.seccomp.defaultErrnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE");
  refused(P, "{'defaultAction': 'SCMP_ACT_ERRNO', 'defaultErrnoRet': 4096}",
          "linux.seccomp.defaultErrnoRet: 4096 is out of range [0, 4095]");
  refused(P, "{'defaultAction': 'SCMP_ACT_ALLOW', 'architectures': ['SCMP_ARCH_X86_64', 'SCMP_ARCH_VAX']}",
          "linux.seccomp.architectures[1]: unknown architecture \"SCMP_ARCH_VAX\"");
  refused(P, "{'defaultAction': 'SCMP_ACT_ALLOW', 'flags': ['SECCOMP_FILTER_FLAG_BOGUS']}",
          "linux.seccomp.flags[0]: unknown flag \"SECCOMP_FILTER_FLAG_BOGUS\"");
  refused(P, "{'defaultAction': 'SCMP_ACT_ALLOW', 'listenerPath': '/run/agent.sock'}",
          "linux.seccomp.listenerPath: not supported by donjon");
  const char *rules_prefix = "{'defaultAction': 'SCMP_ACT_ALLOW', 'syscalls': [{'names': ['a'], 'action': 'SCMP_ACT_ALLOW'},"
                             "{'names': ['b'], 'action': 'SCMP_ACT_ALLOW'}, {'names': ['c'], 'action': 'SCMP_ACT_ALLOW'}, ";
  static const struct { const char *rule, *msg; } cases[] = {
    { "{'names': ['mount'], 'action': 'SCMP_ACT_EXPLODE'}", "linux.seccomp.syscalls[3].action: unknown action \"SCMP_ACT_EXPLODE\"" },
    { "{'names': ['mount'], 'action': 'SCMP_ACT_NOTIFY'}",
      "linux.seccomp.syscalls[3].action: \"SCMP_ACT_NOTIFY\" is not supported by donjon (no seccomp agent)" },
    { "{'names': ['mount']}", "linux.seccomp.syscalls[3].action: missing" },
    { "{'names': [], 'action': 'SCMP_ACT_ERRNO'}", "linux.seccomp.syscalls[3].names: must name at least one syscall" },
    { "{'names': ['read', ''], 'action': 'SCMP_ACT_ERRNO'}", "linux.seccomp.syscalls[3].names[1]: empty syscall name" },
    { "{'action': 'SCMP_ACT_ERRNO'}", "linux.seccomp.syscalls[3].names: missing" },
    { "{'names': ['read'], 'action': 'SCMP_ACT_KILL', 'errnoRet': 1}",
      "linux.seccomp.syscalls[3].errnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE" },
    { "{'names': ['read'], 'action': 'SCMP_ACT_ERRNO', 'args': [{'index': 6, 'value': 1, 'op': 'SCMP_CMP_EQ'}]}",
      "linux.seccomp.syscalls[3].args[0].index: 6 is out of range [0, 5]" },
    { "{'names': ['read'], 'action': 'SCMP_ACT_ERRNO', 'args': [{'index': 0, 'value': 1, 'op': 'SCMP_CMP_LIKE'}]}",
      "linux.seccomp.syscalls[3].args[0].op: unknown operator \"SCMP_CMP_LIKE\"" },
    { "{'names': ['read'], 'action': 'SCMP_ACT_ERRNO', 'args': [{'index': 0, 'op': 'SCMP_CMP_EQ'}]}",
      "linux.seccomp.syscalls[3].args[0].value: missing" },
    { "{'names': ['read'], 'action': 'SCMP_ACT_ERRNO', 'args': [{'index': 0, 'value': -1, 'op': 'SCMP_CMP_EQ'}]}",
      "linux.seccomp.syscalls[3].args[0].value: -1 is out of range [0, 9223372036854775807]" },
    { "{'names': ['read'], 'action': 'SCMP_ACT_ERRNO', 'args': [{'value': 1, 'op': 'SCMP_CMP_EQ'}]}",
      "linux.seccomp.syscalls[3].args[0].index: missing" },
  };
  for (size_t i = 0; i < DJ_ARRAY_SIZE(cases); i++) {
    char *doc = dj_xasprintf("%s%s]}", rules_prefix, cases[i].rule);
    refused(P, doc, cases[i].msg);
    free(doc);
  }
  /* every action but NOTIFY, every operator */
  json_t *d = base();
  put(d, P, "{'defaultAction': 'SCMP_ACT_KILL_PROCESS', 'syscalls': ["
            "{'names': ['a'], 'action': 'SCMP_ACT_KILL'}, {'names': ['a'], 'action': 'SCMP_ACT_KILL_THREAD'},"
            "{'names': ['a'], 'action': 'SCMP_ACT_TRAP'}, {'names': ['a'], 'action': 'SCMP_ACT_TRACE', 'errnoRet': 3},"
            "{'names': ['a'], 'action': 'SCMP_ACT_LOG'}, {'names': ['a'], 'action': 'SCMP_ACT_ALLOW', 'args': ["
            " {'index': 0, 'value': 1, 'op': 'SCMP_CMP_NE'}, {'index': 1, 'value': 1, 'op': 'SCMP_CMP_LT'},"
            " {'index': 2, 'value': 1, 'op': 'SCMP_CMP_LE'}, {'index': 3, 'value': 1, 'op': 'SCMP_CMP_EQ'},"
            " {'index': 4, 'value': 1, 'op': 'SCMP_CMP_GE'}, {'index': 5, 'value': 1, 'op': 'SCMP_CMP_GT'}]}]}");
  _cleanup_spec_ struct dj_spec *s = parse_ok(d);
  cr_assert_eq(s->seccomp->default_action, DJ_SCMP_ACT_KILL_PROCESS);
  cr_assert_eq(s->seccomp->rules[0].action, DJ_SCMP_ACT_KILL);
  cr_assert_eq(s->seccomp->rules[1].action, DJ_SCMP_ACT_KILL_THREAD);
  cr_assert_eq(s->seccomp->rules[2].action, DJ_SCMP_ACT_TRAP);
  cr_assert_eq(s->seccomp->rules[3].action, DJ_SCMP_ACT_TRACE);
  cr_assert_eq(s->seccomp->rules[4].action, DJ_SCMP_ACT_LOG);
  cr_assert_eq(s->seccomp->rules[5].n_args, 6);
  cr_assert_eq(s->seccomp->rules[5].args[0].op, DJ_SCMP_NE);
  cr_assert_eq(s->seccomp->rules[5].args[5].op, DJ_SCMP_GT);
  cr_assert_eq(s->seccomp->n_architectures, 0);
  cr_assert_not_null(s->seccomp->architectures);
}

/* The spec keeps the document alive: strings stay valid after the caller drops its reference. */
Test(spec, strings_borrowed_from_kept_document)
{
  json_t *doc = base();
  struct dj_spec *s = parse_ok(doc); /* parse_ok dropped the caller's reference */
  cr_assert_str_eq(s->process.args[0], "sh");
  cr_assert_eq(s->doc->refcount, 1);
  dj_spec_free(s);
  dj_spec_free(NULL);
}

static char bundle[64];

static void write_config(const char *text)
{
  char path[128];
  snprintf(path, sizeof path, "%s/config.json", bundle);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fputs(text, f);
  fclose(f);
}

static void make_bundle(void)
{
  strcpy(bundle, "/tmp/dj-test-spec-XXXXXX");
  cr_assert_not_null(mkdtemp(bundle));
}

static void remove_bundle(void)
{
  char path[128];
  snprintf(path, sizeof path, "%s/config.json", bundle);
  unlink(path);
  rmdir(bundle);
}

Test(spec_load, errors_are_prefixed, .init = make_bundle, .fini = remove_bundle)
{
  struct dj_spec *s = NULL;
  dj_err err = { 0 };
  char want[256];
  cr_assert_eq(dj_spec_load(bundle, &s, &err), -1);
  snprintf(want, sizeof want, "config.json: open %s/config.json: No such file or directory", bundle);
  cr_assert_str_eq(err.msg, want);

  write_config("{\"ociVersion\": \"1.2.0\",");
  cr_assert_eq(dj_spec_load(bundle, &s, &err), -1);
  cr_assert(strncmp(err.msg, "config.json: invalid JSON at line 1", 35) == 0, "%s", err.msg);

  write_config("{\"a\": 1, \"a\": 2}");
  cr_assert_eq(dj_spec_load(bundle, &s, &err), -1);
  cr_assert(strncmp(err.msg, "config.json: invalid JSON", 25) == 0, "%s", err.msg);

  write_config("{\"ociVersion\": \"1.2.0\", \"root\": {\"path\": \"rootfs\"}, \"process\": {\"user\": {\"uid\": 0, \"gid\": 0},"
               " \"args\": [\"sh\"], \"cwd\": \"/\", \"rlimits\": [{\"type\": \"RLIMIT_BOGUS\", \"soft\": 1, \"hard\": 1}]}}");
  cr_assert_eq(dj_spec_load(bundle, &s, &err), -1);
  cr_assert_str_eq(err.msg, "config.json: process.rlimits[0].type: unknown rlimit \"RLIMIT_BOGUS\"");

  write_config("{\"ociVersion\": \"1.2.0\", \"root\": {\"path\": \"rootfs\"}, \"process\": {\"user\": {\"uid\": 0, \"gid\": 0},"
               " \"args\": [\"sh\"], \"cwd\": \"/\"}}");
  cr_assert_eq(dj_spec_load(bundle, &s, &err), 0, "%s", err.msg);
  cr_assert_str_eq(s->root_path, "rootfs");
  dj_spec_free(s);
}

Test(spec_load, size_bound, .init = make_bundle, .fini = remove_bundle)
{
  char path[128];
  snprintf(path, sizeof path, "%s/config.json", bundle);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  cr_assert_geq(fd, 0);
  cr_assert_eq(ftruncate(fd, DJ_SPEC_MAX_SIZE + 1), 0); /* zeros: never parsed */
  close(fd);
  struct dj_spec *s = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_spec_load(bundle, &s, &err), -1);
  char want[128];
  snprintf(want, sizeof want, "config.json: larger than %u bytes", DJ_SPEC_MAX_SIZE);
  cr_assert_str_eq(err.msg, want);
}
