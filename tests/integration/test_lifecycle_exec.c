/* donjon exec, ps, pause/resume and update on real containers. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lifecycle.h"

TestSuite(exec, .init = lc_setup, .fini = lc_teardown, .timeout = 180);

/* donjon exec ID ARGS... (argv NULL-terminated, after "exec"), stdin /dev/null. */
static int dexec(const char *const *opts_then_id_and_args)
{
  const char *argv[40] = { "exec" };
  size_t n = 1;
  for (const char *const *a = opts_then_id_and_args; *a != NULL && n < 39; a++)
    argv[n++] = *a;
  argv[n] = NULL;
  return djv(&B, argv, -1);
}

/* A shell command line around donjon ("$D" and "$S" are set), output in R. */
#define dsh(fmt, ...) shell(&R, B.dir, "D='%s'; S='--root %s'; " fmt, donjon_path(), B.state, __VA_ARGS__)

Test(exec, joins_namespaces_and_cgroup)
{
  create_started(&B, "sleep 1000");
  const char *script =
    "for n in mnt pid net ipc uts cgroup; do [ \"$(readlink /proc/1/ns/$n)\" = \"$(readlink /proc/self/ns/$n)\" ] "
    "|| echo DIFF $n; done; [ \"$(cat /proc/1/cgroup)\" = \"$(cat /proc/self/cgroup)\" ] || echo DIFFCG; "
    "hostname; uname -m; echo done";
  const char *a[] = { B.id, "sh", "-c", script, NULL };
  cr_assert_eq(dexec(a), 0, "exec: %s", R.err);
  cr_expect(has(R.out, "done") && !has(R.out, "DIFF"), "%s", R.out);
  cr_expect(has(R.out, "x86_64"), "%s", R.out);
  cr_expect(has(R.out, "donjon"), "not in the container's uts namespace: %s", R.out);
  const char *b[] = { B.id, "sh", "-c", "exit 7", NULL };
  cr_expect_eq(dexec(b), 7, "exit status not passed through");
  const char *c[] = { B.id, "sh", "-c", "kill -9 $$", NULL };
  cr_expect_eq(dexec(c), 128 + 9, "death by signal not 128+N");
  const char *d[] = { B.id, "/no/such/binary", NULL };
  cr_expect_neq(dexec(d), 0);
  cr_expect(has(R.err, "/no/such/binary"), "%s", R.err);
  /* nothing of the execs is left in the container */
  char want[64];
  snprintf(want, sizeof want, "[%d]", (int) pid_of(&B));
  const char *ps[] = { "ps", "--format", "json", B.id, NULL };
  cr_assert_eq(djv(&B, ps, -1), 0, "%s", R.err);
  cr_expect(has(R.out, want), "ps: %s, want %s", R.out, want);
}

Test(exec, gets_the_containers_personality)
{
  bundle_set(&B, "linux.personality", json_pack("{s:s}", "domain", "LINUX32"));
  create_started(&B, "sleep 1000");
  const char *a[] = { B.id, "uname", "-m", NULL };
  cr_assert_eq(dexec(a), 0, "exec: %s", R.err);
  cr_expect(has(R.out, "i686") || has(R.out, "i386"), "not the container's LINUX32 personality: %s", R.out);
}

Test(exec, confidential_profile_confinement)
{
  bundle_free(&B);
  bundle_new(&B, "confidential");
  create_started(&B, "sleep 1000");
  const char *script = "grep -E '^(Seccomp|NoNewPrivs|CapEff|CapBnd|CapPrm):' /proc/self/status; cat /proc/self/uid_map; "
                       "[ \"$(readlink /proc/1/ns/user)\" = \"$(readlink /proc/self/ns/user)\" ] && echo SAMEUSERNS; "
                       "mount -t tmpfs none /tmp 2>/dev/null && echo MOUNTED; echo done";
  const char *a[] = { B.id, "sh", "-c", script, NULL };
  cr_assert_eq(dexec(a), 0, "exec: %s", R.err);
  cr_expect(has(R.out, "Seccomp:\t2"), "no seccomp filter: %s", R.out);
  cr_expect(has(R.out, "NoNewPrivs:\t1"), "%s", R.out);
  cr_expect(has(R.out, "CapEff:\t0000000000000000") && has(R.out, "CapBnd:\t0000000000000000"), "%s", R.out);
  cr_expect(has(R.out, "100000"), "not in the container's user namespace mapping: %s", R.out);
  cr_expect(has(R.out, "SAMEUSERNS") && !has(R.out, "MOUNTED") && has(R.out, "done"), "%s", R.out);
}

Test(exec, flags_shape_the_process)
{
  bundle_set(&B, "process.noNewPrivileges", json_false());
  create_started(&B, "sleep 1000");
  const char *a[] = { "--env", "FOO=bar", "--cwd", "/tmp", "--user", "1000:1000", B.id, "sh", "-c",
                      "echo foo=$FOO; pwd; id -u; id -g; grep -E '^(NoNewPrivs|CapEff):' /proc/self/status", NULL };
  cr_assert_eq(dexec(a), 0, "exec: %s", R.err);
  cr_expect(has(R.out, "foo=bar") && has(R.out, "/tmp\n1000\n1000"), "%s", R.out);
  cr_expect(has(R.out, "NoNewPrivs:\t0"), "%s", R.out);
  const char *b[] = { "--no-new-privs", "--cap", "CAP_SYS_ADMIN", B.id, "sh", "-c",
                      "grep -E '^(NoNewPrivs|CapEff):' /proc/self/status", NULL };
  cr_assert_eq(dexec(b), 0, "exec: %s", R.err);
  cr_expect(has(R.out, "NoNewPrivs:\t1"), "%s", R.out);
  /* runc spec's caps are 0x20000420; CAP_SYS_ADMIN is bit 21 */
  cr_expect(has(R.out, "CapEff:\t0000000020200420"), "%s", R.out);
  const char *c[] = { "--cap", "CAP_NOPE", B.id, "true", NULL };
  cr_expect_eq(dexec(c), 2);
  const char *d[] = { "--user", "nobody", B.id, "true", NULL };
  cr_expect_eq(dexec(d), 2);
  /* an LSM this host does not have is refused, never ignored */
  const char *e[] = { "--apparmor", "some-profile", B.id, "true", NULL };
  cr_expect_eq(dexec(e), 1);
  cr_expect(has(R.err, "AppArmor is not enabled"), "%s", R.err);
}

Test(exec, process_file)
{
  create_started(&B, "sleep 1000");
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/process.json", B.dir);
  FILE *f = fopen(path, "w");
  fprintf(f, "{\"args\":[\"sh\",\"-c\",\"echo $X; pwd\"],\"env\":[\"X=from-file\",\"PATH=/bin\"],\"cwd\":\"/dev\","
             "\"user\":{\"uid\":0,\"gid\":0}}");
  fclose(f);
  const char *a[] = { "--process", path, B.id, NULL };
  cr_assert_eq(dexec(a), 0, "exec: %s", R.err);
  cr_expect(has(R.out, "from-file\n/dev"), "%s", R.out);
  f = fopen(path, "w");
  fprintf(f, "{\"args\":[\"true\"],\"user\":{\"uid\":0,\"gid\":0}}");
  fclose(f);
  cr_expect_eq(dexec(a), 1);
  cr_expect(has(R.err, "process.cwd"), "the error does not name the missing field: %s", R.err);
  const char *b[] = { "--process", path, B.id, "true", NULL };
  cr_expect_eq(dexec(b), 2, "--process with a COMMAND was accepted");
}

Test(exec, holds_no_host_fd)
{
  create_started(&B, "sleep 1000");
  /* fd 5 open in donjon must not reach the process; --preserve-fds 1 passes fd 3 */
  dsh("exec 5</etc/hostname 3</etc/passwd; \"$D\" $S exec %s sh -c 'ls /proc/self/fd'", B.id);
  cr_expect_eq(R.status, 0, "%s", R.err);
  cr_expect_str_eq(R.out, "0\n1\n2\n3\n", "fds beyond stdio reached the process (3 is ls's own)");
  dsh("exec 5</etc/hostname 3</etc/passwd; \"$D\" $S exec --preserve-fds 1 %s sh -c 'head -c 5 <&3; ls /proc/self/fd'",
      B.id);
  cr_expect_eq(R.status, 0, "%s", R.err);
  cr_expect(has(R.out, "root:") && !has(R.out, "5\n"), "%s", R.out);
}

Test(exec, detach_pid_file)
{
  create_started(&B, "sleep 1000");
  char pidfile[PATH_MAX];
  snprintf(pidfile, sizeof pidfile, "%s/exec.pid", B.dir);
  /* through files: the detached process keeps donjon's stdout and stderr */
  cr_assert_eq(dsh("\"$D\" $S exec --detach --pid-file '%s' %s sleep 1000", pidfile, B.id), 0, "exec -d: %s", R.err);
  pid_t p = read_pid_file(pidfile);
  cr_assert_gt(p, 0);
  const char *ps[] = { "ps", "--format", "json", B.id, NULL };
  cr_assert_eq(djv(&B, ps, -1), 0, "%s", R.err);
  char want[32];
  snprintf(want, sizeof want, "%d", (int) p);
  cr_expect(has(R.out, want), "the exec'd process is not in the container's cgroup: %s", R.out);
  cr_assert_eq(dj(&B, B.id, "ps", NULL, NULL), 0);
  cr_expect(has(R.out, "PID") && has(R.out, "sleep 1000"), "%s", R.out);
  kill(p, SIGKILL);
  int ws;
  cr_expect_eq(waitpid(p, &ws, 0), p, "the detached process is not the subreaper's child");
}

/* Without a pid namespace of its own, an exec'd process outlives the init; kill --all of the
 * stopped container still reaches it, as containerd's shim expects of runc. */
Test(exec, kill_all_reaches_what_outlives_the_init)
{
  json_t *ns = bundle_get(&B, "linux.namespaces");
  for (size_t i = 0; i < json_array_size(ns); i++)
    if (strcmp(json_string_value(json_object_get(json_array_get(ns, i), "type")), "pid") == 0)
      json_array_remove(ns, i--);
  create_started(&B, "sleep 1000");
  char pidfile[PATH_MAX];
  snprintf(pidfile, sizeof pidfile, "%s/exec.pid", B.dir);
  cr_assert_eq(dsh("\"$D\" $S exec --detach --pid-file '%s' %s sleep 1000", pidfile, B.id), 0, "exec -d: %s", R.err);
  pid_t p = read_pid_file(pidfile);
  cr_assert_gt(p, 0);
  pid_t init = pid_of(&B);
  cr_assert_eq(kill(init, SIGKILL), 0);
  wait_init(init);
  cr_expect_str_eq(status_of(&B), "stopped");
  cr_expect_neq(dj(&B, B.id, "kill", NULL, "KILL"), 0, "kill of a stopped container succeeded");
  cr_expect_eq(dj(&B, B.id, "kill", "--all", "KILL"), 0, "kill --all of a stopped container: %s", R.err);
  int ws;
  cr_assert_eq(waitpid(p, &ws, 0), p);
  cr_expect(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL, "kill --all did not reach it (%#x)", ws);
}

Test(exec, tty_over_console_socket)
{
  create_started(&B, "sleep 1000");
  char sock[PATH_MAX], path[PATH_MAX];
  int ls = console_listen(sock, sizeof sock);
  snprintf(path, sizeof path, "%s/process.json", B.dir);
  FILE *f = fopen(path, "w");
  fprintf(f, "{\"terminal\":true,\"consoleSize\":{\"height\":31,\"width\":101},\"args\":[\"sh\",\"-c\","
             "\"tty; stty size; read x; echo got=$x\"],\"cwd\":\"/\",\"user\":{\"uid\":0,\"gid\":0}}");
  fclose(f);
  const char *a[] = { "--process", path, "--console-socket", sock, "--detach", B.id, NULL };
  cr_assert_eq(dexec(a), 0, "exec: %s", R.err);
  int master = console_take(ls);
  close(ls);
  cr_assert_eq(write(master, "hello\n", 6), 6);
  char out[4096];
  read_pty(master, out, sizeof out);
  close(master);
  cr_expect(has(out, "/dev/pts/0"), "not a pty of the container's devpts: %s", out);
  cr_expect(has(out, "31 101"), "consoleSize not applied: %s", out);
  cr_expect(has(out, "got=hello"), "input did not reach the process: %s", out);
  reap_all();
  const char *b[] = { "--tty", "--detach", B.id, "true", NULL };
  cr_expect_eq(dexec(b), 1, "a detached tty without a console socket was accepted");
  cr_expect(has(R.err, "console-socket"), "%s", R.err);
}

Test(exec, refused_unless_created_or_running)
{
  create_started(&B, "sleep 1000");
  cr_assert_eq(dj(&B, B.id, "pause", NULL, NULL), 0, "pause: %s", R.err);
  const char *a[] = { B.id, "true", NULL };
  cr_expect_eq(dexec(a), 1);
  cr_expect(has(R.err, "paused"), "%s", R.err);
  cr_assert_eq(dj(&B, B.id, "resume", NULL, NULL), 0, "resume: %s", R.err);
  pid_t pid = pid_of(&B);
  cr_assert_eq(dj(&B, B.id, "kill", NULL, "KILL"), 0);
  wait_init(pid);
  cr_expect_eq(dexec(a), 1);
  cr_expect(has(R.err, "stopped"), "%s", R.err);
  const char *b[] = { "no-such-container", "true", NULL };
  cr_expect_eq(dexec(b), 1);
  cr_expect(has(R.err, "does not exist"), "%s", R.err);
}

Test(exec, into_created_container)
{
  bundle_sh(&B, "exit 0");
  cr_assert_eq(create(&B, NULL), 0, "create: %s", R.err);
  const char *a[] = { B.id, "sh", "-c", "echo in-created", NULL };
  cr_expect_eq(dexec(a), 0, "%s", R.err);
  cr_expect(has(R.out, "in-created"), "%s", R.out);
}

/* the test helper (tests/integration/lcwatch.c) into B's root filesystem, as /bin/lcwatch */
static void copy_lcwatch(void)
{
  const char *w = getenv("LCWATCH");
  cr_assert_not_null(w, "LCWATCH is not set");
  char cmd[PATH_MAX * 2];
  snprintf(cmd, sizeof cmd, "cp '%s' '%s/bin/lcwatch'", w, B.rootfs);
  cr_assert_eq(system(cmd), 0);
}

/* CVE-2016-9962: a root process in the container (no CAP_SYS_PTRACE, runc's default caps) reads
 * /proc/PID/exe of every process, as fast as it can, while 40 execs join. Each joining process is
 * non-dumpable until its execve, so none can be read; without PR_SET_DUMPABLE 0 this finds them. */
Test(exec, not_inspectable_while_joining)
{
  copy_lcwatch();
  const char *args[] = { "/bin/lcwatch", NULL };
  bundle_args(&B, args);
  cr_assert_eq(create(&B, NULL), 0, "create: %s", R.err);
  cr_assert_eq(dj(&B, B.id, "start", NULL, NULL), 0, "start: %s", R.err);
  for (int i = 0; i < 40; i++) {
    const char *a[] = { B.id, "true", NULL };
    cr_assert_eq(dexec(a), 0, "exec %d: %s", i, R.err);
  }
  const char *stop[] = { B.id, "sh", "-c", "touch /dev/shm/stop; while [ ! -s /dev/shm/watch ]; do sleep 0.05; done; "
                                          "cat /dev/shm/watch", NULL };
  cr_assert_eq(dexec(stop), 0, "%s", R.err);
  cr_expect(has(R.out, "leaks 0 "), "a joining process could be inspected from inside: %s", R.out);
}

Test(exec, pause_resume)
{
  create_started(&B, "sleep 1000");
  cr_expect_neq(dj(&B, B.id, "resume", NULL, NULL), 0, "resume of a running container succeeded");
  cr_assert_eq(dj(&B, B.id, "pause", NULL, NULL), 0, "pause: %s", R.err);
  cr_expect_str_eq(status_of(&B), "paused");
  char path[PATH_MAX], buf[32] = "";
  snprintf(path, sizeof path, "/sys/fs/cgroup/freezer%s/freezer.state", B.cgpath);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f);
  cr_expect_not_null(fgets(buf, sizeof buf, f));
  fclose(f);
  cr_expect(has(buf, "FROZEN"), "%s", buf);
  cr_expect_neq(dj(&B, B.id, "pause", NULL, NULL), 0, "pause of a paused container succeeded");
  cr_assert_eq(dj(&B, B.id, "resume", NULL, NULL), 0, "resume: %s", R.err);
  cr_expect_str_eq(status_of(&B), "running");
  /* delete --force of a paused container: its frozen init only dies once thawed */
  cr_assert_eq(dj(&B, B.id, "pause", NULL, NULL), 0, "pause: %s", R.err);
  pid_t pid = pid_of(&B);
  cr_expect_eq(dj(&B, B.id, "delete", "--force", NULL), 0, "delete --force of a paused container: %s", R.err);
  int ws = wait_init(pid);
  cr_expect(WIFSIGNALED(ws) && WTERMSIG(ws) == SIGKILL, "status %#x", ws);
  bundle_assert_clean(&B);
}

static void expect_cgroup(const char *controller, const char *file, const char *want)
{
  char path[PATH_MAX], buf[64] = "";
  snprintf(path, sizeof path, "/sys/fs/cgroup/%s%s/%s", controller, B.cgpath, file);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f, "%s", path);
  if (fgets(buf, sizeof buf, f) == NULL)
    buf[0] = '\0';
  fclose(f);
  buf[strcspn(buf, "\n")] = '\0';
  cr_expect_str_eq(buf, want, "%s", path);
}

Test(exec, update_flags_and_resources)
{
  bundle_set(&B, "linux.resources.memory", json_pack("{s:I, s:I}", "limit", (json_int_t) 64 << 20, "swap",
                                                     (json_int_t) 64 << 20));
  create_started(&B, "sleep 1000");
  const char *a[] = { "update", "--memory", "128m", "--memory-swap", "256m", "--pids-limit", "77", "--cpu-shares", "300",
                      B.id, NULL };
  cr_assert_eq(djv(&B, a, -1), 0, "update: %s", R.err);
  expect_cgroup("memory", "memory.limit_in_bytes", "134217728");
  expect_cgroup("memory", "memory.memsw.limit_in_bytes", "268435456");
  expect_cgroup("pids", "pids.max", "77");
  expect_cgroup("cpu", "cpu.shares", "300");
  /* --resources - : the linux.resources JSON on stdin, as go-runc passes it; lowering both */
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/res.json", B.dir);
  FILE *f = fopen(path, "w");
  fprintf(f, "{\"memory\":{\"limit\":33554432,\"swap\":33554432},\"pids\":{\"limit\":20}}");
  fclose(f);
  int in = open(path, O_RDONLY);
  const char *b[] = { "update", "--resources", "-", B.id, NULL };
  cr_assert_eq(djv(&B, b, in), 0, "update -r -: %s", R.err);
  close(in);
  expect_cgroup("memory", "memory.limit_in_bytes", "33554432");
  expect_cgroup("memory", "memory.memsw.limit_in_bytes", "33554432");
  expect_cgroup("pids", "pids.max", "20");
  /* bad values are refused with their path, and change nothing */
  f = fopen(path, "w");
  fprintf(f, "{\"pids\":{\"limit\":\"many\"}}");
  fclose(f);
  const char *c[] = { "update", "--resources", path, B.id, NULL };
  cr_expect_eq(djv(&B, c, -1), 1);
  cr_expect(has(R.err, "linux.resources.pids.limit"), "%s", R.err);
  f = fopen(path, "w");
  fprintf(f, "{\"devices\":[{\"allow\":true,\"access\":\"rwm\"}]}");
  fclose(f);
  cr_expect_eq(djv(&B, c, -1), 1, "a device rule update was accepted");
  cr_expect(has(R.err, "devices"), "%s", R.err);
  expect_cgroup("pids", "pids.max", "20");
  const char *d[] = { "update", "--memory", "lots", B.id, NULL };
  cr_expect_eq(djv(&B, d, -1), 2);
}

Test(exec, update_cpu_flags_and_resources_file)
{
  create_started(&B, "sleep 1000");
  const char *a[] = { "update", "--cpu-period", "100000", "--cpu-quota", "50000", "--cpuset-cpus", "0",
                      "--cpuset-mems", "0", B.id, NULL };
  cr_assert_eq(djv(&B, a, -1), 0, "update: %s", R.err);
  expect_cgroup("cpu", "cpu.cfs_period_us", "100000");
  expect_cgroup("cpu", "cpu.cfs_quota_us", "50000");
  expect_cgroup("cpuset", "cpuset.cpus", "0");
  expect_cgroup("cpuset", "cpuset.mems", "0");
  /* --resources FILE (not stdin), and a flag given with it wins over the file's value */
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/res.json", B.dir);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fprintf(f, "{\"cpu\":{\"period\":60000,\"quota\":30000},\"pids\":{\"limit\":42}}");
  fclose(f);
  const char *b[] = { "update", "--resources", path, B.id, NULL };
  cr_assert_eq(djv(&B, b, -1), 0, "update --resources FILE: %s", R.err);
  expect_cgroup("cpu", "cpu.cfs_period_us", "60000");
  expect_cgroup("cpu", "cpu.cfs_quota_us", "30000");
  expect_cgroup("pids", "pids.max", "42");
  const char *c[] = { "update", "-r", path, "--pids-limit", "43", "--cpu-quota", "-1", B.id, NULL };
  cr_assert_eq(djv(&B, c, -1), 0, "update -r FILE with flags: %s", R.err);
  expect_cgroup("pids", "pids.max", "43");
  expect_cgroup("cpu", "cpu.cfs_quota_us", "-1");
  expect_cgroup("cpu", "cpu.cfs_period_us", "60000");
  const char *d[] = { "update", "--resources", "/nonexistent-donjon-res.json", B.id, NULL };
  cr_expect_eq(djv(&B, d, -1), 1);
  cr_expect(has(R.err, "--resources /nonexistent-donjon-res.json"), "%s", R.err);
}

/* kill with realtime signals by name, as runc takes them: RTMIN+N and RTMAX-N */
Test(exec, kill_realtime_signals)
{
  char script[128];
  snprintf(script, sizeof script, "trap 'exit 7' %d; trap 'exit 8' %d; while :; do sleep 0.1; done", SIGRTMIN + 3,
           SIGRTMAX - 2);
  static const char *const names[] = { "RTMIN+3", "SIGRTMAX-2" };
  for (int i = 0; i < 2; i++) {
    create_started(&B, script);
    pid_t pid = pid_of(&B);
    cr_assert_eq(dj(&B, B.id, "kill", NULL, names[i]), 0, "kill %s: %s", names[i], R.err);
    int ws = wait_init(pid);
    cr_expect(WIFEXITED(ws) && WEXITSTATUS(ws) == 7 + i, "%s did not reach the process (status %#x)", names[i], ws);
    cr_expect_eq(dj(&B, B.id, "delete", NULL, NULL), 0, "delete: %s", R.err);
  }
  create_started(&B, "sleep 1000");
  cr_expect_eq(dj(&B, B.id, "kill", NULL, "RTMIN+99"), 2, "a signal beyond RTMAX was accepted");
}

/* NOTIFY_SOCKET: start waits for the process's READY=1 and passes it on with the init's pid. */
Test(exec, notify_socket_relayed_by_start)
{
  copy_lcwatch();
  /* the caller's (systemd's, podman's) socket */
  char host[PATH_MAX];
  snprintf(host, sizeof host, "%s/host-notify.sock", B.dir);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  cr_assert_lt(strlen(host), sizeof sa.sun_path);
  memcpy(sa.sun_path, host, strlen(host) + 1);
  int hs = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  cr_assert_eq(bind(hs, (struct sockaddr *) &sa, sizeof sa), 0);
  bundle_sh(&B, "echo $NOTIFY_SOCKET > /dev/shm/where; while [ ! -e /dev/shm/go ]; do sleep 0.02; done; "
                "lcwatch notify \"$(printf 'STATUS=x\\nMAINPID=1\\nREADY=1')\"; sleep 1000");
  setenv("NOTIFY_SOCKET", host, 1);
  int rc = create(&B, NULL);
  unsetenv("NOTIFY_SOCKET");
  cr_assert_eq(rc, 0, "create: %s", R.err);
  pid_t init = pid_of(&B);
  pid_t st = fork();
  cr_assert_geq(st, 0);
  if (st == 0) {
    int nul = open("/dev/null", O_RDWR);
    dup2(nul, 0);
    dup2(nul, 1);
    execl(donjon_path(), donjon_path(), "--root", B.state, "start", B.id, (char *) NULL);
    _exit(126);
  }
  /* the process runs and says where it was told to notify; start still waits */
  const char *w1[] = { B.id, "sh", "-c", "while [ ! -s /dev/shm/where ]; do sleep 0.02; done; cat /dev/shm/where",
                       NULL };
  cr_assert_eq(dexec(w1), 0, "%s", R.err);
  cr_expect(has(R.out, "/run/notify/notify.sock"), "NOTIFY_SOCKET in the container: %s", R.out);
  int ws;
  cr_expect_eq(waitpid(st, &ws, WNOHANG), 0, "start returned before the container was ready");
  const char *go[] = { B.id, "touch", "/dev/shm/go", NULL };
  cr_assert_eq(dexec(go), 0, "%s", R.err);
  cr_assert_eq(waitpid(st, &ws, 0), st);
  cr_expect(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "start failed (%#x)", ws);
  char msg[256] = "";
  ssize_t n = recv(hs, msg, sizeof msg - 1, MSG_DONTWAIT);
  cr_assert_gt(n, 0, "nothing reached the caller's NOTIFY_SOCKET");
  msg[n] = '\0';
  char want[64];
  snprintf(want, sizeof want, "MAINPID=%d", (int) init);
  cr_expect(has(msg, "READY=1") && has(msg, want), "relayed: %s (want READY=1 and %s)", msg, want);
  /* the container's own fields, its MAINPID above all, do not reach the caller */
  cr_expect(!has(msg, "MAINPID=1\n") && !has(msg, "STATUS=x"), "the container's fields were relayed: %s", msg);
  close(hs);
}

/* A seccomp filter without no_new_privs for a process user other than root (podman's default
 * profile with --user): the filter needs CAP_SYS_ADMIN in effect, which the setresuid cleared. */
Test(exec, seccomp_without_no_new_privs_as_a_user)
{
  bundle_set(&B, "process.noNewPrivileges", json_false());
  bundle_set(&B, "process.user", json_pack("{s:i, s:i}", "uid", 1000, "gid", 1000));
  bundle_set(&B, "linux.seccomp", json_pack("{s:s, s:[{s:[s], s:s}]}", "defaultAction", "SCMP_ACT_ALLOW", "syscalls",
                                            "names", "mknodat", "action", "SCMP_ACT_ERRNO"));
  create_started(&B, "sleep 1000");
  const char *a[] = { B.id, "sh", "-c", "id -u; grep -E '^Seccomp:' /proc/1/status /proc/self/status", NULL };
  cr_assert_eq(dexec(a), 0, "exec: %s", R.err);
  cr_expect(has(R.out, "1000\n") && has(R.out, "/proc/1/status:Seccomp:\t2") && has(R.out, "/proc/self/status:Seccomp:\t2"),
            "%s", R.out);
}

/* exec --tty in the foreground: donjon relays the pty (from the container's devpts) to its own
 * terminal, which script(1) gives it. */
Test(exec, tty_relayed_in_the_foreground)
{
  create_started(&B, "sleep 1000");
  cr_assert_eq(dsh("script -qec \"'$D' $S exec --tty %s sh -c 'tty; exit 3'\" /dev/null", B.id), 3, "exec -t: %s %s",
               R.out, R.err);
  cr_expect(has(R.out, "/dev/pts/0"), "%s", R.out);
}

/* A container of `run` keeps the same state, so exec works on it too. */
Test(exec, into_a_container_of_run)
{
  char pidfile[PATH_MAX];
  snprintf(pidfile, sizeof pidfile, "%s/run.pid", B.dir);
  bundle_sh(&B, "sleep 1000");
  const char *extra[] = { "--pid-file", pidfile, NULL };
  int fds[2];
  pid_t runner = bundle_start(&B, extra, fds);
  pid_t init = read_pid_file(pidfile);
  cr_assert_gt(init, 0, "run did not start");
  const char *a[] = { B.id, "sh", "-c", "echo in-run", NULL };
  cr_expect_eq(dexec(a), 0, "%s", R.err);
  cr_expect(has(R.out, "in-run"), "%s", R.out);
  kill(init, SIGKILL);
  struct result rr;
  bundle_wait(runner, fds, &rr);
  cr_expect_eq(rr.status, 128 + SIGKILL, "%s", rr.err);
}
