/* containerd 1.6 and its runc v2 shim drive donjon (`ctr run --runc-binary <donjon>`): the shim
 * calls create, start, state, exec, kill and delete as go-runc does, with --log-format json. Each
 * test starts its own containerd on a unix socket in a temporary directory (no CRI plugin, its own
 * root and state) and stops it by pid; containers run from a busybox root filesystem (--rootfs),
 * in a namespace of their own. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lifecycle.h"

static char T[64], NS[64];
static pid_t daemon_pid;
static struct result CR;

#define ctr(fmt, ...)                                                                                      \
  shell(&CR, T, "ctr --address %s/containerd.sock --namespace %s " fmt, T, NS, __VA_ARGS__)
#define RUNC "--runc-binary '%s' --runc-root %s/runc"

static void setup(void)
{
  snprintf(T, sizeof T, "/tmp/dj-ctrd-XXXXXX");
  cr_assert_not_null(mkdtemp(T));
  snprintf(NS, sizeof NS, "dj-it-%d", (int) getpid());
  char path[128];
  snprintf(path, sizeof path, "%s/rootfs", T);
  busybox_rootfs(path);
  snprintf(path, sizeof path, "%s/config.toml", T);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f);
  fprintf(f, "version = 2\nroot = \"%s/root\"\nstate = \"%s/state\"\n"
             "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
             "[grpc]\n  address = \"%s/containerd.sock\"\n[ttrpc]\n  address = \"%s/containerd.sock.ttrpc\"\n",
          T, T, T, T);
  fclose(f);
  cr_assert_eq(system("command -v containerd >/dev/null && command -v ctr >/dev/null && "
                      "command -v containerd-shim-runc-v2 >/dev/null"), 0,
               "containerd, ctr and its runc v2 shim are needed (scripts/install-deps)");
  daemon_pid = fork();
  cr_assert_geq(daemon_pid, 0);
  if (daemon_pid == 0) {
    char log[128];
    snprintf(log, sizeof log, "%s/containerd.log", T);
    FILE *lf = freopen(log, "w", stderr);
    (void) lf;
    execlp("containerd", "containerd", "--config", path, (char *) NULL);
    _exit(127);
  }
  /* ready when ctr can talk to it (bounded) */
  for (int i = 0; i < 300; i++) {
    if (ctr("version%s", "") == 0)
      return;
    usleep(20000);
  }
  cr_assert_fail("containerd did not answer on %s/containerd.sock", T);
}

static void teardown(void)
{
  if (daemon_pid > 0) {
    kill(daemon_pid, SIGTERM);
    waitpid(daemon_pid, NULL, 0);
  }
  /* the shims exit once their tasks are deleted */
  cr_expect_eq(wait_processes_gone(T, 0, 10000), 0, "processes (shims) left for %s", T);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "'%s' --root %s/runc/%s list --format json", donjon_path(), T, NS);
  shell(&CR, T, "%s", cmd);
  cr_expect(CR.out[0] == '\0' || has(CR.out, "[]"), "donjon containers left: %s", CR.out);
  snprintf(cmd, sizeof cmd, "grep -q '%s' /proc/self/mountinfo", T);
  cr_expect_neq(system(cmd), 0, "mounts left under %s", T);
  snprintf(cmd, sizeof cmd, "find /sys/fs/cgroup/*/%s -mindepth 1 -type d 2>/dev/null", NS);
  shell(&CR, "/tmp", "%s", cmd);
  cr_expect_str_eq(CR.out, "", "cgroups left: %s", CR.out);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'; for d in /sys/fs/cgroup/*/%s; do rmdir \"$d\" 2>/dev/null; done; true", T,
           NS);
  if (system(cmd) != 0)
    cr_log_warn("could not remove %s", T);
}

TestSuite(containerd, .init = setup, .fini = teardown, .timeout = 240);

Test(containerd, run_rm)
{
  ctr("run --rm " RUNC " --rootfs %s/rootfs c1 sh -c 'echo hello from donjon; exit 4'", donjon_path(), T, T);
  cr_expect_eq(CR.status, 4, "exit status not passed through: %d\n%s", CR.status, CR.err);
  cr_expect(has(CR.out, "hello from donjon"), "stdout: %s\nstderr: %s", CR.out, CR.err);
}

Test(containerd, detached_exec_kill_delete_with_memory_limit)
{
  ctr("run -d " RUNC " --memory-limit 67108864 --rootfs %s/rootfs c2 sleep 1000", donjon_path(), T, T);
  cr_assert_eq(CR.status, 0, "run -d: %s", CR.err);
  char path[256], buf[64] = "";
  snprintf(path, sizeof path, "/sys/fs/cgroup/memory/%s/c2/memory.limit_in_bytes", NS);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f, "no memory cgroup %s", path);
  cr_expect_not_null(fgets(buf, sizeof buf, f));
  fclose(f);
  cr_expect_str_eq(buf, "67108864\n", "%s", path);
  ctr("task exec --exec-id e1 c2 sh -c 'echo in-exec; cat /proc/self/cgroup; exit 6'%s", "");
  cr_expect_eq(CR.status, 6, "task exec: %d %s", CR.status, CR.err);
  char want[96];
  snprintf(want, sizeof want, "memory:/%s/c2", NS);
  cr_expect(has(CR.out, "in-exec") && has(CR.out, want), "the exec'd process is not in the container's cgroups: %s",
            CR.out);
  ctr("task ls%s", "");
  cr_expect(has(CR.out, "RUNNING"), "%s", CR.out);
  ctr("task kill -s SIGKILL c2%s", "");
  cr_expect_eq(CR.status, 0, "task kill: %s", CR.err);
  bool stopped = false;
  for (int i = 0; i < 500 && !stopped; i++) {
    ctr("task ls%s", "");
    stopped = has(CR.out, "STOPPED");
    if (!stopped)
      usleep(10000);
  }
  cr_expect(stopped, "the task did not stop: %s", CR.out);
  ctr("task delete c2%s", "");
  cr_expect_eq(CR.status, 0, "task delete: %s", CR.err);
  ctr("container delete c2%s", "");
  cr_expect_eq(CR.status, 0, "container delete: %s", CR.err);
  struct stat st;
  cr_expect_neq(stat(path, &st), 0, "the memory cgroup is left after delete");
}

Test(containerd, tty)
{
  /* ctr wants a terminal of its own: script gives it one */
  char cmd[1024];
  snprintf(cmd, sizeof cmd,
           "script -qec \"ctr --address %s/containerd.sock --namespace %s run --rm -t " RUNC
           " --rootfs %s/rootfs c3 sh -c 'tty; echo tty-ok'\" /dev/null",
           T, NS, donjon_path(), T, T);
  shell(&CR, T, "%s", cmd);
  cr_expect_eq(CR.status, 0, "run -t: %s %s", CR.out, CR.err);
  cr_expect(has(CR.out, "/dev/pts/0") && has(CR.out, "tty-ok"), "stdout: %s\nstderr: %s", CR.out, CR.err);
}
