/* `donjon features` must say exactly what the code accepts: every name it lists goes through the
 * parser (and, for seccomp, through dj_seccomp_build) in a real config. */
#include <criterion/criterion.h>
#include <string.h>

#include "common/json.h"
#include "sandbox/features.h"
#include "sandbox/hooks.h"
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
