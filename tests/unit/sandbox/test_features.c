/* `donjon features` must say exactly what the code accepts: every name it lists goes through the
 * parser (and, for seccomp, through dj_seccomp_build) in a real config, what it reports disabled
 * is refused, and it holds only runtime-spec 1.2.0's members. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/json.h"
#include "sandbox/features.h"
#include "sandbox/hooks.h"
#include "sandbox/process.h"
#include "sandbox/seccomp.h"
#include "sandbox/spec.h"

static json_t *base_config(void)
{
  return json_pack("{s:s, s:{s:s}, s:{s:[s], s:s, s:{s:i, s:i}}, s:{s:[{s:s}]}}", "ociVersion", "1.2.0", "root",
                   "path", "rootfs", "process", "args", "sh", "cwd", "/", "user", "uid", 0, "gid", 0, "linux",
                   "namespaces", "type", "mount");
}

static void assert_parses(json_t *config, const char *what)
{
  struct dj_spec *spec = NULL;
  dj_err err = { 0 };
  int rc = dj_spec_parse(config, &spec, &err);
  cr_assert_eq(rc, 0, "%s: %s", what, err.msg);
  if (spec->seccomp != NULL) {
    scmp_filter_ctx ctx = NULL;
    char **unknown = NULL;
    cr_assert_eq(dj_seccomp_build(spec->seccomp, &ctx, &unknown, &err), 0, "%s: %s", what, err.msg);
    seccomp_release(ctx);
    free(unknown);
  }
  dj_spec_free(spec);
}

Test(features, every_listed_mount_option_is_accepted)
{
  _cleanup_json_ json_t *f = dj_features();
  json_t *opts = json_object_get(f, "mountOptions");
  cr_assert_gt(json_array_size(opts), 40u);
  size_t i;
  json_t *o;
  json_array_foreach(opts, i, o) {
    _cleanup_json_ json_t *c = base_config();
    json_object_set_new(c, "mounts", json_pack("[{s:s, s:s, s:s, s:[s]}]", "destination", "/mnt", "type", "bind",
                                               "source", "/tmp", "options", json_string_value(o)));
    assert_parses(c, json_string_value(o));
  }
}

Test(features, every_listed_namespace_and_capability_is_accepted)
{
  _cleanup_json_ json_t *f = dj_features();
  json_t *linux = json_object_get(f, "linux");
  size_t i;
  json_t *o;
  json_array_foreach(json_object_get(linux, "namespaces"), i, o)
    cr_assert_neq(dj_namespace_from_name(json_string_value(o)), -1, "%s", json_string_value(o));
  json_array_foreach(json_object_get(linux, "capabilities"), i, o)
    cr_assert_geq(dj_cap_from_name(json_string_value(o)), 0, "%s", json_string_value(o));
  cr_assert_eq(json_array_size(json_object_get(linux, "capabilities")), 41u, "libcap 2.66 knows 41");
}

Test(features, every_listed_seccomp_name_builds_a_filter)
{
  _cleanup_json_ json_t *f = dj_features();
  json_t *sc = json_object_get(json_object_get(f, "linux"), "seccomp");
  size_t i;
  json_t *o;
  json_array_foreach(json_object_get(sc, "actions"), i, o) {
    _cleanup_json_ json_t *c = base_config();
    json_object_set_new(json_object_get(c, "linux"), "seccomp",
                        json_pack("{s:s, s:[{s:[s], s:s}]}", "defaultAction", "SCMP_ACT_ALLOW", "syscalls", "names",
                                  "getcwd", "action", json_string_value(o)));
    assert_parses(c, json_string_value(o));
  }
  json_array_foreach(json_object_get(sc, "operators"), i, o) {
    _cleanup_json_ json_t *c = base_config();
    json_object_set_new(json_object_get(c, "linux"), "seccomp",
                        json_pack("{s:s, s:[{s:[s], s:s, s:[{s:i, s:i, s:s}]}]}", "defaultAction", "SCMP_ACT_ALLOW",
                                  "syscalls", "names", "getcwd", "action", "SCMP_ACT_ERRNO", "args", "index", 1,
                                  "value", 0, "op", json_string_value(o)));
    assert_parses(c, json_string_value(o));
  }
  json_array_foreach(json_object_get(sc, "archs"), i, o) {
    _cleanup_json_ json_t *c = base_config();
    json_object_set_new(json_object_get(c, "linux"), "seccomp",
                        json_pack("{s:s, s:[s]}", "defaultAction", "SCMP_ACT_ALLOW", "architectures",
                                  json_string_value(o)));
    assert_parses(c, json_string_value(o));
  }
  json_array_foreach(json_object_get(sc, "supportedFlags"), i, o) {
    _cleanup_json_ json_t *c = base_config();
    json_object_set_new(json_object_get(c, "linux"), "seccomp",
                        json_pack("{s:s, s:[s]}", "defaultAction", "SCMP_ACT_ALLOW", "flags", json_string_value(o)));
    assert_parses(c, json_string_value(o));
  }
  /* every hook kind listed is one the lifecycle runs: it passes the check and is found */
  static const enum dj_hook_kind kinds[] = { DJ_HOOK_PRESTART, DJ_HOOK_CREATE_RUNTIME, DJ_HOOK_CREATE_CONTAINER,
                                             DJ_HOOK_START_CONTAINER, DJ_HOOK_POSTSTART, DJ_HOOK_POSTSTOP };
  cr_assert_eq(json_array_size(json_object_get(f, "hooks")), 6u);
  json_array_foreach(json_object_get(f, "hooks"), i, o) {
    _cleanup_json_ json_t *hooks = json_pack("{s:[{s:s}]}", json_string_value(o), "path", "/bin/true");
    dj_err err = { 0 };
    cr_expect_eq(dj_hooks_check(hooks, &err), 0, "%s: %s", json_string_value(o), err.msg);
    cr_expect(dj_hooks_have(hooks, kinds[i]), "features lists hook %s, which the lifecycle does not run",
              json_string_value(o));
  }
}

static void assert_refused(json_t *config, const char *what, const char *path)
{
  struct dj_spec *spec = NULL;
  dj_err err = { 0 };
  int rc = dj_spec_parse(config, &spec, &err);
  dj_spec_free(spec);
  cr_expect_eq(rc, -1, "features says %s is not supported, and the parser accepts it", what);
  cr_expect(strstr(err.msg, path) != NULL, "%s: the error does not name %s: %s", what, path, err.msg);
}

static bool listed(json_t *arr, const char *name)
{
  size_t i;
  json_t *o;
  json_array_foreach(arr, i, o)
    if (strcmp(json_string_value(o), name) == 0)
      return true;
  return false;
}

/* What the document says donjon does not do, the code refuses: nothing is accepted and ignored. */
Test(features, what_is_reported_disabled_is_refused)
{
  _cleanup_json_ json_t *f = dj_features();
  json_t *linux = json_object_get(f, "linux"), *cg = json_object_get(linux, "cgroup");
  /* no systemd driver: the command line refuses --systemd-cgroup (tests/integration/test_lifecycle.c) */
  cr_expect(json_is_false(json_object_get(cg, "systemd")) && json_is_false(json_object_get(cg, "systemdUser")));
  cr_assert(json_is_false(json_object_get(cg, "rdma")));
  _cleanup_json_ json_t *c = base_config();
  json_object_set_new(json_object_get(c, "linux"), "resources",
                      json_pack("{s:{s:{s:i}}}", "rdma", "mlx5_1", "hcaHandles", 3));
  assert_refused(c, "rdma", "linux.resources.rdma");

  cr_assert(json_is_false(json_object_get(json_object_get(linux, "intelRdt"), "enabled")));
  json_decref(c);
  c = base_config();
  json_object_set_new(json_object_get(c, "linux"), "intelRdt", json_pack("{s:s}", "closID", "guaranteed"));
  assert_refused(c, "intelRdt", "linux.intelRdt");

  json_t *idmap = json_object_get(json_object_get(linux, "mountExtensions"), "idmap");
  cr_assert(json_is_false(json_object_get(idmap, "enabled")));
  json_decref(c);
  c = base_config();
  json_object_set_new(c, "mounts", json_pack("[{s:s, s:s, s:s, s:[s], s:[{s:i, s:i, s:i}]}]", "destination", "/mnt",
                                             "type", "bind", "source", "/tmp", "options", "bind", "uidMappings",
                                             "containerID", 0, "hostID", 100000, "size", 65536));
  assert_refused(c, "an id-mapped mount", "mounts[0].uidMappings");
  static const char *const idmap_opts[] = { "idmap", "ridmap" };
  for (size_t i = 0; i < 2; i++) {
    cr_expect(!listed(json_object_get(f, "mountOptions"), idmap_opts[i]), "mountOptions lists %s", idmap_opts[i]);
    json_decref(c);
    c = base_config();
    json_object_set_new(c, "mounts", json_pack("[{s:s, s:s, s:s, s:[s, s]}]", "destination", "/mnt", "type", "bind",
                                               "source", "/tmp", "options", "bind", idmap_opts[i]));
    assert_refused(c, idmap_opts[i], "mounts[0].options");
  }

  /* runtime-spec 1.3's netDevices is not in this 1.2.0 document, and the parser refuses it */
  cr_expect_null(json_object_get(linux, "netDevices"));
  json_decref(c);
  c = base_config();
  json_object_set_new(json_object_get(c, "linux"), "netDevices", json_pack("{s:{}}", "eth1"));
  assert_refused(c, "netDevices", "linux.netDevices");

  /* a seccomp flag known but not supported here does not build */
  json_t *sc = json_object_get(linux, "seccomp");
  size_t i;
  json_t *o;
  json_array_foreach(json_object_get(sc, "knownFlags"), i, o) {
    if (listed(json_object_get(sc, "supportedFlags"), json_string_value(o)))
      continue;
    const char *flags[] = { json_string_value(o), NULL };
    struct dj_seccomp s = { .default_action = DJ_SCMP_ACT_ALLOW, .flags = flags, .n_flags = 1,
                            .architectures = (const char *[]){ NULL } };
    scmp_filter_ctx ctx = NULL;
    char **unknown = NULL;
    dj_err err = { 0 };
    cr_expect_eq(dj_seccomp_build(&s, &ctx, &unknown, &err), -1, "%s is not a supported flag, and it builds",
                 json_string_value(o));
    if (ctx != NULL)
      seccomp_release(ctx);
    free(unknown);
  }
}

/* AppArmor and SELinux are reported enabled: a process that asks for a profile or label gets it
 * written by the init and exec (sandbox/process.h; tests/unit/sandbox/test_process.c checks the
 * writes). linux.mountLabel is not done, and refused on any host. */
Test(features, lsm_labels_reported_enabled_are_applied)
{
  _cleanup_json_ json_t *f = dj_features();
  json_t *linux = json_object_get(f, "linux");
  cr_assert(json_is_true(json_object_get(json_object_get(linux, "apparmor"), "enabled")));
  cr_assert(json_is_true(json_object_get(json_object_get(linux, "selinux"), "enabled")));
  struct dj_process a = { .apparmor_profile = "donjon-tenant" }, s = { .selinux_label = "system_u:system_r:t:s0" };
  cr_expect(dj_lsm_wanted(&a), "an apparmorProfile would not be applied");
  cr_expect(dj_lsm_wanted(&s), "a selinuxLabel would not be applied");
  struct dj_spec spec = { .mount_label = "system_u:object_r:f:s0" };
  dj_err err = { 0 };
  cr_expect_eq(dj_lsm_check(&spec, &err), -1, "linux.mountLabel was accepted");
  cr_expect(strstr(err.msg, "linux.mountLabel") != NULL, "%s", err.msg);
}

/* ociVersionMax is 1.2.0: the document holds only members that version defines (features.md). */
Test(features, only_runtime_spec_1_2_members)
{
  _cleanup_json_ json_t *f = dj_features();
  static const char *const top[] = { "ociVersionMin", "ociVersionMax", "hooks", "mountOptions", "linux", "annotations",
                                     "potentiallyUnsafeConfigAnnotations" },
                           *const lx[] = { "namespaces", "capabilities", "cgroup", "seccomp", "apparmor", "selinux",
                                           "intelRdt", "mountExtensions" };
  cr_expect_str_eq(json_string_value(json_object_get(f, "ociVersionMax")), "1.2.0");
  const char *key;
  json_t *v;
  json_object_foreach(f, key, v) {
    bool known = false;
    for (size_t i = 0; i < sizeof top / sizeof *top; i++)
      known = known || strcmp(key, top[i]) == 0;
    cr_expect(known, "\"%s\" is not a member of runtime-spec 1.2.0's features document", key);
  }
  json_object_foreach(json_object_get(f, "linux"), key, v) {
    bool known = false;
    for (size_t i = 0; i < sizeof lx / sizeof *lx; i++)
      known = known || strcmp(key, lx[i]) == 0;
    cr_expect(known, "linux.\"%s\" is not a member of runtime-spec 1.2.0's features document", key);
  }
  /* [] (none), not absent (unknown): no annotation of donjon's loosens the jail */
  json_t *unsafe = json_object_get(f, "potentiallyUnsafeConfigAnnotations");
  cr_expect(json_is_array(unsafe) && json_array_size(unsafe) == 0, "potentiallyUnsafeConfigAnnotations");
}
