/* config.json from the image config: Entrypoint + Cmd, Env merged over the profile's, WorkingDir,
 * User (numeric or looked up in the rootfs). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/unpack.h"
#include "imgtest.h"

static json_t *base(void)
{
  return json_pack("{s:{s:[s, s], s:[s], s:s}, s:{s:s, s:b}}", "process", "env", "PATH=/usr/bin", "TERM=xterm", "args",
                   "sh", "cwd", "/", "root", "path", "rootfs", "readonly", 1);
}

Test(bundle, entrypoint_cmd_env_workdir)
{
  json_t *c = base();
  json_t *ic = json_pack("{s:{s:[s], s:[s, s], s:[s, s], s:s}}", "config", "Entrypoint", "/bin/app", "Cmd", "--flag",
                         "x", "Env", "PATH=/bin", "A=b", "WorkingDir", "/srv");
  dj_err err = { 0 };
  cr_assert_eq(dj_bundle_config_apply(c, ic, -1, &err), 0, "%s", err.msg);
  json_t *p = json_object_get(c, "process");
  char *args = json_dumps(json_object_get(p, "args"), JSON_COMPACT);
  char *env = json_dumps(json_object_get(p, "env"), JSON_COMPACT);
  cr_assert_str_eq(args, "[\"/bin/app\",\"--flag\",\"x\"]");
  cr_assert_str_eq(env, "[\"TERM=xterm\",\"PATH=/bin\",\"A=b\"]");
  cr_assert_str_eq(json_string_value(json_object_get(p, "cwd")), "/srv");
  cr_assert(json_is_true(json_object_get(json_object_get(c, "root"), "readonly")), "the profile's root is kept");
  free(args);
  free(env);
  json_decref(c);
  json_decref(ic);
}

Test(bundle, nothing_to_run_is_an_error)
{
  json_t *c = base(), *ic = json_pack("{s:{s:[s]}}", "config", "Env", "A=b");
  dj_err err = { 0 };
  cr_assert_eq(dj_bundle_config_apply(c, ic, -1, &err), -1);
  cr_assert(strstr(err.msg, "nothing to run") != NULL, "%s", err.msg);
  json_decref(c);
  json_decref(ic);
}

Test(bundle, bad_env_entry)
{
  json_t *c = base(), *ic = json_pack("{s:{s:[s], s:[s]}}", "config", "Cmd", "sh", "Env", "NOEQUALS");
  dj_err err = { 0 };
  cr_assert_eq(dj_bundle_config_apply(c, ic, -1, &err), -1);
  cr_assert(strstr(err.msg, "Env[0]") != NULL, "%s", err.msg);
  json_decref(c);
  json_decref(ic);
}

Test(bundle, user_numeric_and_by_name)
{
  char *dir = tt_tmpdir();
  char p[4200];
  snprintf(p, sizeof p, "%s/etc", dir);
  mkdir(p, 0755);
  snprintf(p, sizeof p, "%s/etc/passwd", dir);
  tt_write(p, "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n", 60);
  snprintf(p, sizeof p, "%s/etc/group", dir);
  tt_write(p, "root:x:0:\nstaff:x:50:\n", 22);
  int rootfd = open(dir, O_RDONLY | O_DIRECTORY);
  const char *users[] = { "1234:5678", "app", "app:staff" };
  int uids[] = { 1234, 1000, 1000 }, gids[] = { 5678, 1001, 50 };
  for (int i = 0; i < 3; i++) {
    json_t *c = base(), *ic = json_pack("{s:{s:[s], s:s}}", "config", "Cmd", "sh", "User", users[i]);
    dj_err err = { 0 };
    cr_assert_eq(dj_bundle_config_apply(c, ic, rootfd, &err), 0, "%s: %s", users[i], err.msg);
    json_t *u = json_object_get(json_object_get(c, "process"), "user");
    cr_assert_eq(json_integer_value(json_object_get(u, "uid")), uids[i], "%s", users[i]);
    cr_assert_eq(json_integer_value(json_object_get(u, "gid")), gids[i], "%s", users[i]);
    json_decref(c);
    json_decref(ic);
  }
  json_t *c = base(), *ic = json_pack("{s:{s:[s], s:s}}", "config", "Cmd", "sh", "User", "nobody");
  dj_err err = { 0 };
  cr_assert_eq(dj_bundle_config_apply(c, ic, rootfd, &err), -1);
  cr_assert(strstr(err.msg, "\"nobody\" not found") != NULL, "%s", err.msg);
  json_decref(c);
  json_decref(ic);
  close(rootfd);
  tt_rmrf(dir);
  free(dir);
}
