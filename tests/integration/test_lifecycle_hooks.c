/* OCI hooks on real containers: the six kinds, where and when each runs, the state each gets on
 * stdin, env and args, timeouts, and the spec's failure semantics. Every hook appends a line to
 * B.dir/hooklog/log, bind-mounted at /hooklog in the container (startContainer runs inside it). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lifecycle.h"

TestSuite(hooks, .init = lc_setup, .fini = lc_teardown, .timeout = 180);

static char logpath[PATH_MAX];

/* A hook running `sh -c SCRIPT`; the script sees the state on stdin and LOG in its env. */
static json_t *hook(const char *script, const char *log, int timeout)
{
  json_t *h = json_pack("{s:s, s:[s, s, s], s:[s, s]}", "path", "/bin/sh", "args", "sh", "-c", script, "env",
                        "PATH=/bin:/usr/bin", "LOG=");
  char env[PATH_MAX + 8];
  snprintf(env, sizeof env, "LOG=%s", log);
  json_array_set_new(json_object_get(h, "env"), 1, json_string(env));
  if (timeout > 0)
    json_object_set_new(h, "timeout", json_integer(timeout));
  return h;
}

/* Every kind logs "KIND STATE" (its stdin), startContainer from inside the container. */
static void all_hooks(void)
{
  char dir[PATH_MAX - 16];
  snprintf(dir, sizeof dir, "%s/hooklog", B.dir);
  cr_assert_eq(mkdir(dir, 0777), 0);
  snprintf(logpath, sizeof logpath, "%s/log", dir);
  json_array_append_new(bundle_get(&B, "mounts"), json_pack("{s:s, s:s, s:s, s:[s, s]}", "destination", "/hooklog",
                                                            "type", "bind", "source", dir, "options", "rbind", "rw"));
  static const char *const kinds[] = { "prestart", "createRuntime", "createContainer", "startContainer", "poststart",
                                       "poststop" };
  json_t *hooks = json_object();
  for (size_t i = 0; i < 6; i++) {
    char script[256];
    snprintf(script, sizeof script, "read -r s; echo \"%s $HOOKVAR $s\" >> \"$LOG\"", kinds[i]);
    json_t *h = hook(script, i == 3 ? "/hooklog/log" : logpath, 0);
    json_array_append_new(json_object_get(h, "env"), json_string("HOOKVAR=v"));
    json_object_set_new(hooks, kinds[i], json_pack("[o]", h));
  }
  bundle_set(&B, "hooks", hooks);
}

static char *read_log(void)
{
  static char buf[1 << 16];
  FILE *f = fopen(logpath, "r");
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  if (f)
    fclose(f);
  buf[n] = '\0';
  return buf;
}

/* line of kind in the log: "KIND v {state}"; checks the state's status and id */
static const char *expect_line(const char *log, const char *kind, const char *status)
{
  char want[128];
  snprintf(want, sizeof want, "%s v {", kind);
  const char *l = strstr(log, want);
  cr_expect_not_null(l, "no %s hook ran:\n%s", kind, log);
  if (l == NULL)
    return NULL;
  const char *eol = strchr(l, '\n');
  char line[4096];
  snprintf(line, sizeof line, "%.*s", (int) (eol ? eol - l : (long) strlen(l)), l);
  char st[64], id[128];
  snprintf(st, sizeof st, "\"status\":\"%s\"", status);
  snprintf(id, sizeof id, "\"id\":\"%s\"", B.id);
  cr_expect(has(line, st) && has(line, id), "%s hook's state: %s (want %s)", kind, line, st);
  return l;
}

Test(hooks, all_six_in_order_with_their_states)
{
  all_hooks();
  create_started(&B, "sleep 1000");
  pid_t pid = pid_of(&B);
  cr_assert_eq(dj(&B, B.id, "kill", NULL, "KILL"), 0);
  wait_init(pid);
  cr_assert_eq(dj(&B, B.id, "delete", NULL, NULL), 0, "delete: %s", R.err);
  char *log = read_log();
  const char *a = expect_line(log, "prestart", "creating"), *b = expect_line(log, "createRuntime", "creating"),
             *c = expect_line(log, "createContainer", "creating"), *d = expect_line(log, "startContainer", "created"),
             *e = expect_line(log, "poststart", "running"), *f = expect_line(log, "poststop", "stopped");
  cr_expect(a && b && c && d && e && f && a < b && b < c && c < d && d < e && e < f, "out of order:\n%s", log);
  char pidtext[32];
  snprintf(pidtext, sizeof pidtext, "\"pid\":%d", (int) pid);
  cr_expect(a != NULL && has(a, pidtext), "prestart's state does not carry the init's pid %d:\n%s", (int) pid, log);
}

Test(hooks, run_runs_them_too)
{
  all_hooks();
  bundle_sh(&B, "exit 0");
  bundle_run(&B, &R, NULL);
  cr_expect_eq(R.status, 0, "%s", R.err);
  char *log = read_log();
  expect_line(log, "prestart", "creating");
  expect_line(log, "startContainer", "created");
  expect_line(log, "poststart", "running");
  expect_line(log, "poststop", "stopped");
}

Test(hooks, failed_prestart_fails_create_then_poststop)
{
  all_hooks();
  json_t *hooks = bundle_get(&B, "hooks");
  json_array_insert_new(json_object_get(hooks, "prestart"), 0, hook("echo boom >&2; exit 3", logpath, 0));
  bundle_sh(&B, "exit 0");
  int rc = create(&B, NULL);
  cr_expect_eq(rc, 1, "create with a failing prestart hook exited with %d: %s", rc, R.err);
  cr_expect(has(R.err, "hooks.prestart[0]") && has(R.err, "exited with status 3") && has(R.err, "boom"),
            "the error does not name the hook, its status and its output: %s", R.err);
  reap_all();
  bundle_assert_clean(&B);
  char *log = read_log();
  cr_expect(!has(log, "createContainer"), "hooks after the failed one ran:\n%s", log);
  cr_expect(has(log, "poststop"), "poststop hooks did not run after the failure:\n%s", log);
}

Test(hooks, timeout_kills_the_hook)
{
  all_hooks();
  json_object_set_new(bundle_get(&B, "hooks"), "createRuntime", json_pack("[o]", hook("sleep 100", logpath, 1)));
  bundle_sh(&B, "exit 0");
  time_t t0 = time(NULL);
  cr_expect_eq(create(&B, NULL), 1, "create with a hung hook succeeded");
  cr_expect_lt(time(NULL) - t0, 60, "the timeout did not stop the hook");
  cr_expect(has(R.err, "hooks.createRuntime[0]") && has(R.err, "timeout of 1 s"), "%s", R.err);
  reap_all();
  bundle_assert_clean(&B);
}

Test(hooks, failed_create_container_fails_create)
{
  all_hooks();
  json_object_set_new(bundle_get(&B, "hooks"), "createContainer", json_pack("[o]", hook("exit 9", logpath, 0)));
  bundle_sh(&B, "exit 0");
  cr_expect_eq(create(&B, NULL), 1);
  cr_expect(has(R.err, "hooks.createContainer[0]") && has(R.err, "status 9"), "%s", R.err);
  reap_all();
  bundle_assert_clean(&B);
}

Test(hooks, failed_start_container_fails_start_and_stops)
{
  all_hooks();
  json_object_set_new(bundle_get(&B, "hooks"), "startContainer",
                      json_pack("[o]", hook("echo nope >&2; exit 4", "/hooklog/log", 0)));
  bundle_sh(&B, "echo RAN >> /hooklog/log; sleep 1000");
  cr_assert_eq(create(&B, NULL), 0, "create: %s", R.err);
  pid_t pid = pid_of(&B);
  cr_expect_eq(dj(&B, B.id, "start", NULL, NULL), 1, "start with a failing startContainer hook succeeded");
  cr_expect(has(R.err, "hooks.startContainer[0]") && has(R.err, "nope"), "%s", R.err);
  wait_init(pid);
  cr_expect_str_eq(status_of(&B), "stopped");
  cr_expect_eq(dj(&B, B.id, "delete", NULL, NULL), 0, "%s", R.err);
  char *log = read_log();
  cr_expect(!has(log, "RAN"), "the process ran after its startContainer hook failed:\n%s", log);
  cr_expect(has(log, "poststop"), "%s", log);
}

Test(hooks, failed_poststart_is_a_warning)
{
  all_hooks();
  json_object_set_new(bundle_get(&B, "hooks"), "poststart", json_pack("[o]", hook("exit 1", logpath, 0)));
  create_started(&B, "sleep 1000");
  cr_expect(has(R.err, "hooks.poststart[0]"), "no warning for the failed poststart hook: %s", R.err);
  cr_expect_str_eq(status_of(&B), "running");
}

Test(hooks, invalid_hooks_refused)
{
  bundle_sh(&B, "exit 0");
  bundle_set(&B, "hooks", json_pack("{s:[{s:s}]}", "prestart", "path", "relative/hook"));
  cr_expect_eq(create(&B, NULL), 1);
  cr_expect(has(R.err, "hooks.prestart[0].path") && has(R.err, "absolute"), "%s", R.err);
  bundle_set(&B, "hooks", json_pack("{s:[{s:s, s:i}]}", "poststop", "path", "/bin/true", "timeout", 0));
  cr_expect_eq(create(&B, NULL), 1);
  cr_expect(has(R.err, "hooks.poststop[0].timeout"), "%s", R.err);
  bundle_set(&B, "hooks", json_pack("{s:[{s:s, s:[s]}]}", "poststart", "path", "/bin/true", "env", "NOEQUALS"));
  cr_expect_eq(create(&B, NULL), 1);
  cr_expect(has(R.err, "hooks.poststart[0].env[0]"), "%s", R.err);
  bundle_assert_clean(&B);
}

/* runtime.md: a failed createRuntime or createContainer hook is an error, the container is
 * stopped and destroyed, and the poststop hooks run (step 12, then 13); later hooks do not. */
Test(hooks, failed_create_runtime_or_container_then_poststop)
{
  all_hooks();
  bundle_sh(&B, "exit 0");
  static const char *const kinds[] = { "createRuntime", "createContainer" }, *const later[] = { "createContainer",
                                                                                                 "startContainer" };
  for (size_t i = 0; i < 2; i++) {
    json_t *list = json_object_get(bundle_get(&B, "hooks"), kinds[i]);
    json_array_insert_new(list, 0, hook("exit 5", logpath, 0));
    fclose(fopen(logpath, "w"));
    cr_expect_eq(create(&B, NULL), 1, "create with a failing %s hook succeeded", kinds[i]);
    char want[64];
    snprintf(want, sizeof want, "hooks.%s[0]", kinds[i]);
    cr_expect(has(R.err, want) && has(R.err, "status 5"), "%s", R.err);
    reap_all();
    bundle_assert_clean(&B);
    char *log = read_log();
    cr_expect(!has(log, later[i]), "hooks after the failed %s one ran:\n%s", kinds[i], log);
    expect_line(log, "poststop", "stopped");
    json_array_remove(list, 0);
  }
}

/* A failed poststop hook is a warning: the ones after it run, delete succeeds and removes
 * everything (runtime.md step 13). */
Test(hooks, failed_poststop_is_a_warning)
{
  all_hooks();
  json_array_insert_new(json_object_get(bundle_get(&B, "hooks"), "poststop"), 0,
                        hook("echo gone wrong >&2; exit 6", logpath, 0));
  create_started(&B, "sleep 1000");
  pid_t pid = pid_of(&B);
  cr_assert_eq(dj(&B, B.id, "kill", NULL, "KILL"), 0, "%s", R.err);
  wait_init(pid);
  cr_expect_eq(dj(&B, B.id, "delete", NULL, NULL), 0, "delete failed with a failing poststop hook: %s", R.err);
  cr_expect(has(R.err, "hooks.poststop[0]") && has(R.err, "status 6") && has(R.err, "gone wrong"),
            "no warning naming the failed poststop hook: %s", R.err);
  expect_line(read_log(), "poststop", "stopped");
  bundle_assert_clean(&B);
  /* run: the process's exit status, not the hook's */
  bundle_sh(&B, "exit 3");
  bundle_run(&B, &R, NULL);
  cr_expect_eq(R.status, 3, "run with a failing poststop hook: %s", R.err);
  cr_expect(has(R.err, "hooks.poststop[0]"), "%s", R.err);
}
