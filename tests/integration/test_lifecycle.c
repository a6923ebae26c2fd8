/* The OCI lifecycle with real containers: create, start, state, kill, delete, list, and the
 * locks. The test process is the subreaper, as a shim or conmon is: created inits become its
 * children once donjon exits, and it reaps them. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lifecycle.h"

TestSuite(lifecycle, .init = lc_setup, .fini = lc_teardown, .timeout = 180);

static pid_t ppid_of(pid_t pid)
{
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f);
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  int ppid = -1;
  sscanf(strrchr(buf, ')') + 2, "%*c %d", &ppid);
  return ppid;
}

Test(lifecycle, create_start_exit)
{
  char pidfile[PATH_MAX];
  snprintf(pidfile, sizeof pidfile, "%s/init.pid", B.dir);
  bundle_sh(&B, "echo started > /dev/null; exit 3");
  cr_assert_eq(create(&B, pidfile), 0, "create: %s", R.err);
  cr_expect_str_eq(status_of(&B), "created");
  pid_t pid = pid_of(&B);
  cr_expect_eq(read_pid_file(pidfile), pid, "--pid-file and state.json disagree");
  cr_expect_eq(ppid_of(pid), getpid(), "the init is not the subreaper's child");
  json_t *st = state_of(&B);
  cr_expect_str_eq(json_string_value(json_object_get(st, "ociVersion")), "1.2.0");
  cr_expect_str_eq(json_string_value(json_object_get(st, "id")), B.id);
  cr_expect_str_eq(json_string_value(json_object_get(st, "bundle")), B.dir);
  cr_expect_null(json_object_get(st, "donjon"), "donjon's private members leak into the OCI state");
  json_decref(st);

  cr_assert_eq(dj(&B, B.id, "start", NULL, NULL), 0, "start: %s", R.err);
  int ws = wait_init(pid);
  cr_expect(WIFEXITED(ws) && WEXITSTATUS(ws) == 3, "the process did not run (status %#x)", ws);
  cr_expect_str_eq(status_of(&B), "stopped");
  cr_expect_neq(dj(&B, B.id, "start", NULL, NULL), 0, "a second start succeeded");
  cr_expect_eq(dj(&B, B.id, "delete", NULL, NULL), 0, "delete: %s", R.err);
}

Test(lifecycle, running_then_zombie_is_stopped)
{
  create_started(&B, "sleep 1000");
  pid_t pid = pid_of(&B);
  cr_expect_str_eq(status_of(&B), "running");
  cr_expect_neq(dj(&B, B.id, "start", NULL, NULL), 0, "start of a running container succeeded");
  cr_expect(has(R.err, "running"), "%s", R.err);
  kill(pid, SIGKILL);
  /* exited but not reaped: a zombie, which is stopped */
  siginfo_t si;
  cr_assert_eq(waitid(P_PID, (id_t) pid, &si, WEXITED | WNOWAIT), 0);
  cr_expect_str_eq(status_of(&B), "stopped");
  wait_init(pid);
  cr_expect_str_eq(status_of(&B), "stopped");
}

Test(lifecycle, kill_by_name_and_number)
{
  create_started(&B, "trap 'exit 10' USR1; trap 'exit 15' TERM; while :; do sleep 0.1; done");
  pid_t pid = pid_of(&B);
  cr_assert_eq(dj(&B, B.id, "kill", NULL, "10"), 0, "kill 10: %s", R.err);
  int ws = wait_init(pid);
  cr_expect(WIFEXITED(ws) && WEXITSTATUS(ws) == 10, "signal 10 (USR1) not delivered (status %#x)", ws);
  cr_expect_neq(dj(&B, B.id, "kill", NULL, "KILL"), 0, "kill of a stopped container succeeded");
  cr_expect_eq(dj(&B, B.id, "delete", NULL, NULL), 0, "delete: %s", R.err);

  create_started(&B, "trap 'exit 10' USR1; trap 'exit 15' TERM; while :; do sleep 0.1; done");
  pid = pid_of(&B);
  cr_assert_eq(dj(&B, B.id, "kill", NULL, NULL), 0, "kill (default TERM): %s", R.err);
  ws = wait_init(pid);
  cr_expect(WIFEXITED(ws) && WEXITSTATUS(ws) == 15, "default signal is not TERM (status %#x)", ws);
  cr_expect_eq(dj(&B, B.id, "delete", NULL, NULL), 0, "delete: %s", R.err);

  create_started(&B, "sleep 1000");
  pid = pid_of(&B);
  cr_expect_eq(dj(&B, B.id, "kill", NULL, "NOSUCHSIG"), 2, "an unknown signal name was accepted");
  cr_assert_eq(dj(&B, B.id, "kill", NULL, "SIGKILL"), 0, "kill SIGKILL: %s", R.err);
  ws = wait_init(pid);
  cr_expect(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL, "status %#x", ws);
}

Test(lifecycle, kill_all_signals_every_process)
{
  /* the init ignores TERM (pid 1 without a handler); its child does not */
  create_started(&B, "sleep 1000 & echo $! > /dev/null; wait; exit 42");
  pid_t pid = pid_of(&B);
  cr_assert_eq(dj(&B, B.id, "kill", "--all", "TERM"), 0, "kill --all: %s", R.err);
  int ws = wait_init(pid);
  cr_expect(WIFEXITED(ws) && WEXITSTATUS(ws) == 42, "the init's child was not signalled (status %#x)", ws);
}

Test(lifecycle, delete_running_refused_then_forced)
{
  create_started(&B, "sleep 1000");
  pid_t pid = pid_of(&B);
  cr_expect_eq(dj(&B, B.id, "delete", NULL, NULL), 1, "delete of a running container succeeded");
  cr_expect(has(R.err, "running") && has(R.err, B.id), "%s", R.err);
  cr_expect_str_eq(status_of(&B), "running");
  cr_expect_eq(dj(&B, B.id, "delete", "--force", NULL), 0, "delete --force: %s", R.err);
  int ws = wait_init(pid);
  cr_expect(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL, "status %#x", ws);
  bundle_assert_clean(&B);
  cr_expect_neq(dj(&B, B.id, "state", NULL, NULL), 0, "state of a deleted container succeeded");
}

Test(lifecycle, delete_created_kills_its_init)
{
  /* as runc and crun do, and containerd's shim expects (createdState.Delete: no --force) */
  bundle_sh(&B, "exit 0");
  cr_assert_eq(create(&B, NULL), 0, "create: %s", R.err);
  pid_t pid = pid_of(&B);
  cr_expect_eq(dj(&B, B.id, "delete", NULL, NULL), 0, "delete of a created container: %s", R.err);
  int ws = wait_init(pid);
  cr_expect(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL, "the init was not killed (status %#x)", ws);
  bundle_assert_clean(&B);
  cr_expect_neq(dj(&B, B.id, "state", NULL, NULL), 0, "state of a deleted container succeeded");
  cr_assert_eq(create(&B, NULL), 0, "create: %s", R.err);
  pid = pid_of(&B);
  cr_expect_eq(dj(&B, B.id, "delete", "--force", NULL), 0, "delete --force: %s", R.err);
  wait_init(pid);
  bundle_assert_clean(&B);
}

Test(lifecycle, delete_missing)
{
  cr_expect_eq(dj(&B, "no-such-container", "delete", "--force", NULL), 0, "delete --force of a missing id: %s",
               R.err);
  cr_expect_eq(dj(&B, "no-such-container", "delete", NULL, NULL), 1);
  cr_expect(has(R.err, "does not exist"), "%s", R.err);
  cr_expect_neq(dj(&B, "no-such-container", "state", NULL, NULL), 0);
}

Test(lifecycle, crashed_create_cleaned_by_force)
{
  /* what a donjon killed in the middle of create leaves: a state dir, no state.json */
  char path[PATH_MAX];
  mkdir(B.state, 0700);
  snprintf(path, sizeof path, "%s/%s", B.state, B.id);
  cr_assert_eq(mkdir(path, 0700), 0);
  snprintf(path, sizeof path, "%s/%s/lock", B.state, B.id);
  close(open(path, O_CREAT | O_WRONLY, 0600));
  cr_expect_neq(dj(&B, B.id, "delete", NULL, NULL), 0);
  cr_expect_eq(dj(&B, B.id, "delete", "--force", NULL), 0, "%s", R.err);
  bundle_assert_clean(&B);
}

/* Field 22 of /proc/PID/stat: the process's start time in clock ticks (0 when unreadable). */
static unsigned long long proc_start_time(pid_t pid)
{
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  if (f)
    fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')'); /* the command name may hold spaces and parentheses */
  for (int field = 2; p && field < 22; field++)
    p = strchr(p + 1, ' ');
  return p ? strtoull(p + 1, NULL, 10) : 0;
}

Test(lifecycle, reused_pid_is_not_the_init)
{
  create_started(&B, "sleep 1000");
  pid_t init = pid_of(&B);
  pid_t decoy = fork();
  cr_assert_geq(decoy, 0);
  if (decoy == 0) {
    execl("/bin/sleep", "sleep", "1000", (char *) NULL);
    _exit(127);
  }
  /* state.json now names a live process that is not the init (its start time differs) */
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s/state.json", B.state, B.id);
  json_error_t je;
  json_t *st = json_load_file(path, 0, &je);
  cr_assert_not_null(st);
  json_t *priv = json_object_get(st, "donjon");
  json_object_set_new(st, "pid", json_integer(decoy));
  /* a start time that cannot be the decoy's: the init's own, or init+1, may be (one clock tick apart) */
  unsigned long long decoy_start = proc_start_time(decoy);
  cr_assert_neq(decoy_start, 0);
  json_object_set_new(priv, "initStartTime", json_integer((json_int_t) decoy_start + 100000));
  cr_assert_eq(json_dump_file(st, path, 0), 0);
  json_decref(st);

  cr_expect_str_eq(status_of(&B), "stopped");
  cr_expect_neq(dj(&B, B.id, "kill", NULL, "KILL"), 0, "a reused pid was signalled");
  cr_expect_eq(dj(&B, B.id, "delete", NULL, NULL), 0, "delete: %s", R.err);
  cr_expect_eq(kill(decoy, 0), 0, "the decoy process was killed");
  int ws;
  cr_expect_eq(waitpid(decoy, &ws, WNOHANG), 0, "the decoy process exited");
  /* the real init was in the container's cgroup, which delete empties */
  ws = wait_init(init);
  cr_expect(WIFSIGNALED(ws), "status %#x", ws);
  kill(decoy, SIGKILL);
  waitpid(decoy, NULL, 0);
}

Test(lifecycle, list_formats)
{
  struct bundle b2;
  bundle_new(&b2, "default");
  snprintf(b2.state, sizeof b2.state, "%s", B.state);
  bundle_sh(&B, "exit 0");
  bundle_sh(&b2, "sleep 1000");
  cr_assert_eq(create(&B, NULL), 0, "create: %s", R.err);
  cr_assert_eq(create(&b2, NULL), 0, "create: %s", R.err);
  cr_assert_eq(dj(&b2, b2.id, "start", NULL, NULL), 0, "start: %s", R.err);

  cr_assert_eq(dj(&B, NULL, "list", "--format", "json"), 0, "list: %s", R.err);
  json_error_t je;
  json_t *list = json_loads(R.out, 0, &je);
  cr_assert(json_is_array(list), "list --format json: %s", R.out);
  cr_expect_eq(json_array_size(list), 2);
  size_t i;
  json_t *e;
  int seen = 0;
  json_array_foreach(list, i, e) {
    const char *id = json_string_value(json_object_get(e, "id"));
    const char *status = json_string_value(json_object_get(e, "status"));
    if (strcmp(id, B.id) == 0 && strcmp(status, "created") == 0)
      seen |= 1;
    if (strcmp(id, b2.id) == 0 && strcmp(status, "running") == 0)
      seen |= 2;
  }
  cr_expect_eq(seen, 3, "list: %s", R.out);
  json_decref(list);

  cr_assert_eq(dj(&B, NULL, "list", NULL, NULL), 0, "list: %s", R.err);
  cr_expect(has(R.out, "ID") && has(R.out, "STATUS") && has(R.out, B.id) && has(R.out, b2.id), "%s", R.out);
  cr_expect_eq(dj(&B, NULL, "list", "--format", "yaml"), 2);

  pid_t p1 = pid_of(&B), p2 = pid_of(&b2);
  cr_expect_eq(dj(&b2, b2.id, "delete", "--force", NULL), 0, "%s", R.err);
  cr_expect_eq(dj(&B, B.id, "delete", "--force", NULL), 0, "%s", R.err);
  wait_init(p1);
  wait_init(p2);
  bundle_assert_clean(&b2);
  bundle_free(&b2);
}

/* Is pid waiting for a flock (a "->" line of /proc/locks)? */
static bool blocked_on_lock(pid_t pid)
{
  FILE *f = fopen("/proc/locks", "r");
  char line[256], want[32];
  snprintf(want, sizeof want, " %d ", (int) pid);
  bool found = false;
  while (f != NULL && fgets(line, sizeof line, f) != NULL)
    if (has(line, "->") && has(line, want))
      found = true;
  if (f != NULL)
    fclose(f);
  return found;
}

Test(lifecycle, commands_are_serialised)
{
  create_started(&B, "sleep 1000");
  pid_t init = pid_of(&B);
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s/lock", B.state, B.id);
  int lock = open(path, O_RDWR | O_CLOEXEC); /* not inherited: delete would hold it itself */
  cr_assert_geq(lock, 0);
  cr_assert_eq(flock(lock, LOCK_EX), 0);
  /* delete --force in the background: it must wait for our lock */
  pid_t del = fork();
  cr_assert_geq(del, 0);
  if (del == 0) {
    int nul = open("/dev/null", O_RDWR);
    dup2(nul, 0);
    dup2(nul, 1);
    dup2(nul, 2);
    const char *full[] = { donjon_path(), "--root", B.state, "delete", "--force", B.id, NULL };
    execv(full[0], (char *const *) full);
    _exit(126);
  }
  bool blocked = false;
  for (int i = 0; i < 3000 && !blocked; i++) {
    blocked = blocked_on_lock(del);
    if (!blocked)
      usleep(10000);
  }
  cr_expect(blocked, "delete did not wait for the container's lock");
  cr_expect_eq(kill(init, 0), 0, "delete ran while another command held the lock");
  cr_expect_str_eq(status_of(&B), "running"); /* state does not lock */
  close(lock);
  int ws;
  cr_assert_eq(waitpid(del, &ws, 0), del);
  cr_expect(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "delete --force failed (%#x)", ws);
  wait_init(init);
  bundle_assert_clean(&B);
}

Test(lifecycle, concurrent_starts_one_wins)
{
  bundle_sh(&B, "sleep 1000");
  cr_assert_eq(create(&B, NULL), 0, "create: %s", R.err);
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "D='%s'; F='%s/starts'; for i in 1 2 3 4; do (\"$D\" --root '%s' start '%s' "
           "2>/dev/null && echo ok >> \"$F\") & done; wait; exit $(grep -c ok \"$F\")",
           donjon_path(), B.dir, B.state, B.id);
  int rc = system(cmd);
  cr_expect(WIFEXITED(rc) && WEXITSTATUS(rc) == 1, "%d of 4 concurrent starts succeeded",
            WIFEXITED(rc) ? WEXITSTATUS(rc) : -1);
  cr_expect_str_eq(status_of(&B), "running");
}

Test(lifecycle, failed_create_leaves_nothing)
{
  bundle_sh(&B, "exit 0");
  json_t *mounts = bundle_get(&B, "mounts");
  json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:[s]}", "destination", "/mnt", "type", "bind",
                                          "source", "/nonexistent-donjon-test", "options", "bind"));
  cr_expect_eq(create(&B, NULL), 1, "create with a bad mount succeeded");
  cr_expect(has(R.err, "/nonexistent-donjon-test"), "%s", R.err);
  reap_all();
  bundle_assert_clean(&B);
  cr_expect_neq(dj(&B, B.id, "state", NULL, NULL), 0);
}

Test(lifecycle, fifty_concurrent_leave_nothing)
{
  enum { N = 50 };
  struct bundle *bs = calloc(N, sizeof *bs);
  /* N bundles sharing B's (read-only) root filesystem: each its own directory, id, cgroup */
  bundle_sh(&B, "sleep 1000");
  bundle_set(&B, "root.path", json_string(B.rootfs));
  for (int i = 0; i < N; i++) {
    struct bundle *b = &bs[i];
    cr_assert_lt((size_t) snprintf(b->dir, sizeof b->dir, "%.200s/b%d", B.dir, i), sizeof b->dir);
    cr_assert_eq(mkdir(b->dir, 0755), 0);
    snprintf(b->state, sizeof b->state, "%s", B.state);
    cr_assert_lt((size_t) snprintf(b->id, sizeof b->id, "%.40s-%d", B.id, i), sizeof b->id);
    snprintf(b->cgpath, sizeof b->cgpath, "/donjon-it/%s", b->id);
    b->config = json_deep_copy(B.config);
    bundle_set(b, "linux.cgroupsPath", json_string(b->cgpath));
    bundle_write_config(b);
  }
  pid_t workers[N];
  for (int i = 0; i < N; i++) {
    char script[4096];
    snprintf(script, sizeof script,
             "D='%s'; R='%s'; I='%s'; \"$D\" --root \"$R\" create --bundle '%s' \"$I\" >/dev/null 2>&1 && "
             "\"$D\" --root \"$R\" start \"$I\" && \"$D\" --root \"$R\" kill \"$I\" KILL && "
             "\"$D\" --root \"$R\" delete --force \"$I\"",
             donjon_path(), bs[i].state, bs[i].id, bs[i].dir);
    workers[i] = fork();
    cr_assert_geq(workers[i], 0);
    if (workers[i] == 0) {
      execl("/bin/sh", "sh", "-c", script, (char *) NULL);
      _exit(127);
    }
  }
  for (int i = 0; i < N; i++) {
    int ws;
    cr_assert_eq(waitpid(workers[i], &ws, 0), workers[i]);
    cr_expect(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "worker %d failed (%#x)", i, ws);
  }
  /* every init was adopted by us and has exited: nothing but zombies to reap, then nothing */
  int reaped = 0;
  while (waitpid(-1, NULL, 0) > 0)
    reaped++;
  cr_expect_eq(errno, ECHILD);
  cr_expect_eq(reaped, N, "%d inits reaped, expected %d", reaped, N);
  for (int i = 0; i < N; i++) {
    bundle_assert_clean(&bs[i]);
    json_decref(bs[i].config); /* the directories go with B's */
  }
  free(bs);
  cr_expect_eq(dj(&B, NULL, "list", "--format", "json"), 0);
  cr_expect(has(R.out, "[]"), "containers left: %s", R.out);
}

static void freezer_write(const char *value)
{
  char path[PATH_MAX];
  snprintf(path, sizeof path, "/sys/fs/cgroup/freezer%s/freezer.state", B.cgpath);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f, "%s", path);
  fputs(value, f);
  cr_assert_eq(fclose(f), 0);
  char buf[32] = "";
  for (int i = 0; i < 3000 && strncmp(buf, value, strlen(value)) != 0; i++) {
    f = fopen(path, "r");
    cr_assert_not_null(f);
    if (fgets(buf, sizeof buf, f) == NULL)
      buf[0] = '\0';
    fclose(f);
    if (strncmp(buf, value, strlen(value)) != 0)
      usleep(1000);
  }
}

Test(lifecycle, frozen_is_paused)
{
  struct stat st;
  if (stat("/sys/fs/cgroup/freezer", &st) != 0)
    cr_skip_test("no v1 freezer hierarchy on this host");
  create_started(&B, "sleep 1000");
  freezer_write("FROZEN");
  cr_expect_str_eq(status_of(&B), "paused");
  freezer_write("THAWED");
  cr_expect_str_eq(status_of(&B), "running");
}

Test(lifecycle, crashed_create_with_live_init_cleaned_by_force)
{
  /* what a donjon killed after the init was placed leaves: state "creating", a live init */
  bundle_sh(&B, "exit 0");
  cr_assert_eq(create(&B, NULL), 0, "create: %s", R.err);
  pid_t init = pid_of(&B);
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s/state.json", B.state, B.id);
  json_error_t je;
  json_t *st = json_load_file(path, 0, &je);
  cr_assert_not_null(st);
  json_object_set_new(st, "status", json_string("creating"));
  cr_assert_eq(json_dump_file(st, path, 0), 0);
  json_decref(st);
  cr_expect_str_eq(status_of(&B), "creating");
  cr_expect_neq(dj(&B, B.id, "start", NULL, NULL), 0, "start of a creating container succeeded");
  cr_expect_neq(dj(&B, B.id, "delete", NULL, NULL), 0, "delete of a creating container succeeded");
  cr_expect_eq(dj(&B, B.id, "delete", "--force", NULL), 0, "delete --force: %s", R.err);
  int ws = wait_init(init);
  cr_expect(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL, "status %#x", ws);
  bundle_assert_clean(&B);
}

Test(lifecycle, create_terminal_over_console_socket)
{
  bundle_set(&B, "process.terminal", json_true());
  bundle_set(&B, "process.consoleSize", json_pack("{s:i, s:i}", "height", 24, "width", 80));
  bundle_sh(&B, "tty; stty size; [ /dev/console -ef /proc/self/fd/0 ] && echo console-is-tty; read x; echo got=$x; exit 5");
  cr_expect_eq(create(&B, NULL), 1, "create of a terminal without --console-socket succeeded");
  cr_expect(has(R.err, "--console-socket"), "%s", R.err);
  bundle_assert_clean(&B);
  char sock[PATH_MAX];
  int ls = console_listen(sock, sizeof sock);
  const char *extra[] = { "--console-socket", sock, NULL };
  cr_assert_eq(create_with(&B, extra), 0, "create: %s", R.err);
  int master = console_take(ls);
  close(ls);
  pid_t pid = pid_of(&B);
  cr_assert_eq(dj(&B, B.id, "start", NULL, NULL), 0, "start: %s", R.err);
  cr_assert_eq(write(master, "hi\n", 3), 3);
  char out[4096];
  read_pty(master, out, sizeof out);
  close(master);
  cr_expect(has(out, "/dev/pts/0"), "not a pty of the container's devpts: %s", out);
  cr_expect(has(out, "24 80"), "consoleSize not applied: %s", out);
  cr_expect(has(out, "console-is-tty"), "/dev/console is not the terminal: %s", out);
  cr_expect(has(out, "got=hi"), "input did not reach the process: %s", out);
  int ws = wait_init(pid);
  cr_expect(WIFEXITED(ws) && WEXITSTATUS(ws) == 5, "status %#x", ws);
}

Test(lifecycle, global_flags)
{
  /* podman calls --version first */
  const char *v[] = { "--version", NULL };
  donjon_cmd(v, &R, -1);
  cr_expect_eq(R.status, 0);
  cr_expect(strncmp(R.out, "donjon version ", 15) == 0 && has(R.out, "spec: 1.2.0"), "%s", R.out);
  /* --systemd-cgroup: a clear error, never a silent cgroupfs */
  const char *s[] = { "--root", B.state, "--systemd-cgroup", "list", NULL };
  donjon_cmd(s, &R, -1);
  cr_expect_eq(R.status, 1, "--systemd-cgroup was accepted");
  cr_expect(has(R.err, "--systemd-cgroup") && has(R.err, "cgroupfs"), "%s", R.err);
  const char *r1[] = { "--root", B.state, "--rootless=auto", "list", NULL };
  donjon_cmd(r1, &R, -1);
  cr_expect_eq(R.status, 0, "%s", R.err);
  const char *r2[] = { "--root", B.state, "--rootless=maybe", "list", NULL };
  donjon_cmd(r2, &R, -1);
  cr_expect_eq(R.status, 2);
  /* the containerd shim reads JSON log lines (level, msg, time) from --log */
  char log[PATH_MAX];
  snprintf(log, sizeof log, "%s/log.json", B.dir);
  const char *j[] = { "--root", B.state, "--log", log, "--log-format", "json", "kill", "no-such-container", NULL };
  donjon_cmd(j, &R, -1);
  cr_expect_eq(R.status, 1);
  FILE *f = fopen(log, "r");
  cr_assert_not_null(f, "no --log file");
  char line[2048] = "";
  cr_expect_not_null(fgets(line, sizeof line, f));
  fclose(f);
  json_error_t je;
  json_t *l = json_loads(line, 0, &je);
  cr_assert_not_null(l, "not a JSON line: %s", line);
  cr_expect_str_eq(json_string_value(json_object_get(l, "level")), "error");
  cr_expect(has(json_string_value(json_object_get(l, "msg")), "does not exist"), "%s", line);
  cr_expect_not_null(json_object_get(l, "time"));
  json_decref(l);
}

/* The lines of a --log file as "LEVEL MSG\n" each: JSON lines (asserted to carry the level, msg
 * and time go-runc reads) or text lines ("TIME LEVEL: MSG"). */
static char *log_lines(const char *path, bool json)
{
  static char out[1 << 16];
  out[0] = '\0';
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f, "no --log file %s", path);
  char line[8192];
  size_t n = 0;
  while (fgets(line, sizeof line, f) != NULL && n < sizeof out - 1) {
    const char *level = NULL, *msg = NULL;
    json_t *l = NULL;
    char tlevel[16] = "";
    if (json) {
      json_error_t je;
      l = json_loads(line, 0, &je);
      cr_assert_not_null(l, "not a JSON line: %s", line);
      level = json_string_value(json_object_get(l, "level"));
      msg = json_string_value(json_object_get(l, "msg"));
      const char *time = json_string_value(json_object_get(l, "time"));
      cr_expect(level != NULL && msg != NULL && time != NULL && time[4] == '-', "line without level, msg or time: %s",
                line);
    } else {
      /* 2026-12-06T09:52:04.123456789Z debug: MSG */
      char *sp = strchr(line, ' '), *colon = sp != NULL ? strstr(sp, ": ") : NULL;
      cr_expect(line[4] == '-' && sp != NULL && sp[-1] == 'Z' && colon != NULL, "not a text log line: %s", line);
      if (sp != NULL && colon != NULL) {
        snprintf(tlevel, sizeof tlevel, "%.*s", (int) (colon - sp - 1), sp + 1);
        level = tlevel;
        msg = colon + 2;
      }
    }
    n += (size_t) snprintf(out + n, sizeof out - n, "%s %s%s", level ? level : "?", msg ? msg : "?",
                           json ? "\n" : "");
    json_decref(l);
  }
  fclose(f);
  return out;
}

/* create, start, exec, kill, delete of B with these global options before each command */
static void lifecycle_with(const char *const *g, size_t ng)
{
  const char *argv[16];
  bundle_set(&B, "hooks", json_pack("{s:[{s:s}]}", "prestart", "path", "/bin/true"));
  bundle_sh(&B, "sleep 1000");
  cr_assert_eq(create_opts(&B, g, NULL), 0, "create: %s", R.err);
  pid_t pid = pid_of(&B);
  static const char *const steps[][4] = { { "start", NULL }, { "exec", "true", NULL }, { "kill", "KILL", NULL },
                                          { "delete", NULL } };
  for (size_t s = 0; s < 4; s++) {
    size_t k = 0;
    for (size_t i = 0; i < ng; i++)
      argv[k++] = g[i];
    argv[k++] = steps[s][0];
    argv[k++] = B.id;
    for (size_t i = 1; steps[s][i] != NULL; i++)
      argv[k++] = steps[s][i];
    argv[k] = NULL;
    if (s == 3)
      wait_init(pid);
    cr_assert_eq(djv(&B, argv, -1), 0, "%s: %s", steps[s][0], R.err);
  }
}

Test(lifecycle, debug_lines_in_the_json_log)
{
  char log[PATH_MAX], want[256];
  snprintf(log, sizeof log, "%s/debug.json", B.dir);
  const char *g[] = { "--debug", "--log", log, "--log-format", "json", NULL };
  lifecycle_with(g, 5);
  const char *text = log_lines(log, true);
  static const char *const steps[] = { "create", "start", "exec", "kill", "delete" };
  for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
    snprintf(want, sizeof want, "debug %s %s: ", steps[i], B.id);
    cr_expect(has(text, want), "no debug line for %s in the log:\n%s", steps[i], text);
  }
  cr_expect(has(text, "debug hooks.prestart[0]: running /bin/true"), "no debug line for the hook:\n%s", text);
  static const char *const sync[] = { "cloned", "; GO", "; JOINED", "(HOOKS)", "waits for start (READY)" };
  for (size_t i = 0; i < sizeof sync / sizeof *sync; i++)
    cr_expect(has(text, sync[i]), "no debug line for the setup step \"%s\":\n%s", sync[i], text);
  cr_expect(!has(text, "sleep 1000"), "the process's arguments reached the log:\n%s", text);

  /* the same without --debug: not one debug line */
  snprintf(log, sizeof log, "%s/quiet.json", B.dir);
  const char *q[] = { "--log", log, "--log-format", "json", NULL };
  lifecycle_with(q, 4);
  text = log_lines(log, true);
  cr_expect(!has(text, "debug"), "debug lines without --debug:\n%s", text);
}

Test(lifecycle, text_log_lines)
{
  /* --log alone: text, errors only */
  char log[PATH_MAX], want[256];
  snprintf(log, sizeof log, "%s/plain.log", B.dir);
  const char *e[] = { "--log", log, "kill", "no-such-container", NULL };
  cr_expect_eq(djv(&B, e, -1), 1);
  const char *text = log_lines(log, false);
  cr_expect(has(text, "error kill no-such-container: ") && has(text, "does not exist"), "%s", text);
  cr_expect(!has(text, "debug"), "%s", text);
  /* --log-format text --debug: the steps, one line each */
  snprintf(log, sizeof log, "%s/debug.log", B.dir);
  const char *g[] = { "--log-format", "text", "--debug", "--log", log, NULL };
  lifecycle_with(g, 5);
  text = log_lines(log, false);
  snprintf(want, sizeof want, "debug start %s: ", B.id);
  cr_expect(has(text, want), "%s", text);
  snprintf(want, sizeof want, "debug delete %s: state removed", B.id);
  cr_expect(has(text, want), "%s", text);
}

/* An init that fails after start (exec of a missing or non-executable file) says why on the
 * process's stderr, where conmon and the shim look, and exits 127. */
Test(lifecycle, exec_failure_on_the_process_stderr)
{
  static const char *const files[] = { "/nonexistent-binary", "/etc/passwd" };
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    const char *args[] = { files[i], NULL };
    bundle_args(&B, args);
    cr_assert_eq(create(&B, NULL), 0, "create: %s", R.err);
    pid_t pid = pid_of(&B);
    cr_expect_eq(dj(&B, B.id, "start", NULL, NULL), 0, "start: %s", R.err);
    int ws = wait_init(pid);
    cr_expect(WIFEXITED(ws) && WEXITSTATUS(ws) == 127, "status %#x", ws);
    char path[PATH_MAX], err[4096], want[256];
    snprintf(path, sizeof path, "%s/create.err", B.dir);
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(err, 1, sizeof err - 1, f) : 0;
    err[n] = '\0';
    if (f)
      fclose(f);
    snprintf(want, sizeof want, "donjon: %s: exec %s: ", B.id, files[i]);
    cr_expect(has(err, want), "the process's stderr does not say why it did not run (want \"%s\"): %s", want, err);
    cr_expect_eq(dj(&B, B.id, "delete", NULL, NULL), 0, "delete: %s", R.err);
  }
}

Test(lifecycle, rootless_and_systemd_cgroup_flags)
{
  /* --rootless as runc takes it (bare, or =true as go-runc passes it): accepted, changes nothing */
  bundle_sh(&B, "exit 4");
  const char *bare[] = { "--rootless", NULL };
  cr_assert_eq(create_opts(&B, bare, NULL), 0, "--rootless create: %s", R.err);
  pid_t pid = pid_of(&B);
  const char *start[] = { "--rootless=true", "start", B.id, NULL };
  cr_expect_eq(djv(&B, start, -1), 0, "--rootless=true start: %s", R.err);
  int ws = wait_init(pid);
  cr_expect(WIFEXITED(ws) && WEXITSTATUS(ws) == 4, "status %#x", ws);
  const char *del[] = { "--rootless=true", "delete", B.id, NULL };
  cr_expect_eq(djv(&B, del, -1), 0, "%s", R.err);
  /* --systemd-cgroup: refused with the reason (here: no systemd) and what to do instead */
  bool systemd = access("/run/systemd/system", F_OK) == 0;
  const char *s[] = { "--systemd-cgroup", "create", "--bundle", B.dir, B.id, NULL };
  cr_expect_eq(djv(&B, s, -1), 1, "--systemd-cgroup was accepted");
  cr_expect(has(R.err, systemd ? "--systemd-cgroup: donjon does not implement the systemd cgroup driver"
                               : "--systemd-cgroup: systemd is not running on this host") &&
                has(R.err, "cgroupfs driver"),
            "%s", R.err);
  bundle_assert_clean(&B);
}
