/* sandbox/hooks.c without containers: the check of the hooks object (errors with their JSON
 * paths), and running hooks: state on stdin, args and env, exit status and stderr in the error,
 * the timeout, no fd of ours, the warning kinds going on past a failure. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "sandbox/hooks.h"

static json_t *parse(const char *text)
{
  json_error_t je;
  json_t *j = json_loads(text, 0, &je);
  cr_assert_not_null(j, "%s: %s", text, je.text);
  return j;
}

static void expect_check_error(const char *text, const char *want)
{
  _cleanup_json_ json_t *h = parse(text);
  dj_err err = { 0 };
  cr_expect_eq(dj_hooks_check(h, &err), -1, "accepted: %s", text);
  cr_expect(strstr(err.msg, want) != NULL, "error \"%s\" does not contain \"%s\"", err.msg, want);
}

Test(hooks_check, valid_and_invalid)
{
  _cleanup_json_ json_t *ok = parse("{\"prestart\":[{\"path\":\"/bin/true\",\"args\":[\"true\"],\"env\":[\"A=b\"],"
                                    "\"timeout\":5}],\"poststop\":[],\"somethingNew\":1}");
  dj_err err = { 0 };
  cr_expect_eq(dj_hooks_check(ok, &err), 0, "%s", err.msg);
  cr_expect_eq(dj_hooks_check(NULL, &err), 0);
  cr_expect(dj_hooks_have(ok, DJ_HOOK_PRESTART) && !dj_hooks_have(ok, DJ_HOOK_POSTSTOP));
  expect_check_error("{\"prestart\":{}}", "hooks.prestart");
  expect_check_error("{\"prestart\":[1]}", "hooks.prestart[0]: expected an object");
  expect_check_error("{\"createRuntime\":[{}]}", "hooks.createRuntime[0].path");
  expect_check_error("{\"poststart\":[{\"path\":\"bin/true\"}]}", "hooks.poststart[0].path: \"bin/true\" is not an absolute path");
  expect_check_error("{\"poststop\":[{\"path\":\"/bin/true\",\"args\":[1]}]}", "hooks.poststop[0].args[0]: expected a string");
  expect_check_error("{\"startContainer\":[{\"path\":\"/bin/true\",\"env\":[\"NOEQ\"]}]}", "hooks.startContainer[0].env[0]");
  expect_check_error("{\"createContainer\":[{\"path\":\"/bin/true\",\"timeout\":0}]}", "hooks.createContainer[0].timeout");
}

static char dir[] = "/tmp/dj-hooks-XXXXXX";

static void setup(void)
{
  strcpy(dir, "/tmp/dj-hooks-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    cr_log_warn("could not remove %s", dir);
}

static json_t *sh_hooks(const char *kind, const char *script, int timeout)
{
  json_t *h = json_pack("{s:s, s:[s, s, s], s:[s]}", "path", "/bin/sh", "args", "sh", "-c", script, "env", "X=from-env");
  if (timeout > 0)
    json_object_set_new(h, "timeout", json_integer(timeout));
  return json_pack("{s:[o]}", kind, h);
}

static char *slurp(const char *name)
{
  static char buf[4096];
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  if (f)
    fclose(f);
  buf[n] = '\0';
  return buf;
}

TestSuite(hooks_run, .init = setup, .fini = teardown);

Test(hooks_run, state_on_stdin_args_env_no_fds)
{
  char script[512];
  snprintf(script, sizeof script, "cat > %s/state; echo \"$0 $X\" > %s/env; ls /proc/self/fd > %s/fds", dir, dir, dir);
  _cleanup_json_ json_t *h = sh_hooks("prestart", script, 0);
  int leak = open("/dev/null", O_RDONLY); /* not close-on-exec: the hook must not get it anyway */
  dj_err err = { 0 };
  cr_assert_eq(dj_hooks_run(h, DJ_HOOK_PRESTART, "{\"id\":\"c1\"}", &err), 0, "%s", err.msg);
  close(leak);
  cr_expect_str_eq(slurp("state"), "{\"id\":\"c1\"}");
  cr_expect_str_eq(slurp("env"), "sh from-env\n");
  cr_expect_str_eq(slurp("fds"), "0\n1\n2\n3\n", "the hook got fds of ours (3 is ls's own)");
}

Test(hooks_run, failure_names_the_hook_status_and_stderr)
{
  _cleanup_json_ json_t *h = sh_hooks("createRuntime", "echo it broke >&2; exit 7", 0);
  dj_err err = { 0 };
  cr_expect_eq(dj_hooks_run(h, DJ_HOOK_CREATE_RUNTIME, "{}", &err), -1);
  cr_expect_eq(err.code, DJ_HOOK_FAILED);
  cr_expect(strstr(err.msg, "hooks.createRuntime[0]") && strstr(err.msg, "exited with status 7") &&
              strstr(err.msg, "it broke"), "%s", err.msg);
  _cleanup_json_ json_t *k = sh_hooks("prestart", "kill -9 $$", 0);
  cr_expect_eq(dj_hooks_run(k, DJ_HOOK_PRESTART, "{}", &err), -1);
  cr_expect(strstr(err.msg, "killed by signal 9") != NULL, "%s", err.msg);
  /* a missing program */
  _cleanup_json_ json_t *m = parse("{\"prestart\":[{\"path\":\"/no/such/hook\"}]}");
  cr_expect_eq(dj_hooks_run(m, DJ_HOOK_PRESTART, "{}", &err), -1);
  cr_expect(strstr(err.msg, "/no/such/hook") != NULL && strstr(err.msg, "127") != NULL, "%s", err.msg);
}

Test(hooks_run, timeout_kills)
{
  _cleanup_json_ json_t *h = sh_hooks("poststart", "exec sleep 100", 1);
  dj_err err = { 0 };
  time_t t0 = time(NULL);
  cr_expect_eq(dj_hooks_run(h, DJ_HOOK_POSTSTART, "{}", &err), -1);
  cr_expect_lt(time(NULL) - t0, 30);
  cr_expect(strstr(err.msg, "timeout of 1 s") != NULL, "%s", err.msg);
}

Test(hooks_run, stops_at_the_first_failure_but_warnings_go_on)
{
  char s1[256], s2[256];
  snprintf(s1, sizeof s1, "echo one >> %s/log; exit 1", dir);
  snprintf(s2, sizeof s2, "echo two >> %s/log", dir);
  _cleanup_json_ json_t *h = json_pack("{s:[{s:s, s:[s, s, s]}, {s:s, s:[s, s, s]}]}", "poststop", "path", "/bin/sh",
                                       "args", "sh", "-c", s1, "path", "/bin/sh", "args", "sh", "-c", s2);
  dj_err err = { 0 };
  cr_expect_eq(dj_hooks_run(h, DJ_HOOK_POSTSTOP, "{}", &err), -1);
  cr_expect_str_eq(slurp("log"), "one\n");
  dj_hooks_run_warn(h, DJ_HOOK_POSTSTOP, "{}");
  cr_expect_str_eq(slurp("log"), "one\none\ntwo\n");
}
