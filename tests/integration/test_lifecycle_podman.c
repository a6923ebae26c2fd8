/* podman 4.3 (with conmon) drives donjon as its OCI runtime: `podman --runtime <donjon>`.
 * Everything of podman's lives in a temporary directory (storage, run root, tmpdir, events); donjon
 * keeps its default --root (/run/donjon): podman 4.3 does not pass --runtime-flag on to the cleanup
 * it runs when a container exits, so a --root given that way is lost there. The containers' ids
 * are podman's random ones, and the checks look for the bundles under the directory only;
 * there is no registry, so containers run from a busybox root filesystem (--rootfs). podman has no
 * daemon; conmon, one per container, exits with it. podman asks for RLIMIT_NOFILE and RLIMIT_NPROC
 * of 1048576, above this machine's hard limits: donjon refuses that (the spec says the limits MUST
 * be what is asked), so the tests pass --ulimit nofile=1024:1024 --ulimit nproc=1024:1024, as
 * docs/orchestrators.md tells users to. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "lifecycle.h"

static char T[64];
static struct result PR;

#define ULIMITS "--ulimit nofile=1024:1024 --ulimit nproc=1024:1024"

/* podman with every path in T and donjon as the runtime; output in PR */
#define podman(fmt, ...)                                                                                       \
  shell(&PR, T, "podman --root %s/storage --runroot %s/run --tmpdir %s/tmp --storage-driver vfs "             \
                "--cgroup-manager cgroupfs --events-backend file --runtime '%s' " fmt, T, T, T, donjon_path(),       \
                __VA_ARGS__)

static void setup(void)
{
  snprintf(T, sizeof T, "/tmp/dj-podman-XXXXXX");
  cr_assert_not_null(mkdtemp(T));
  char rootfs[128];
  snprintf(rootfs, sizeof rootfs, "%s/rootfs", T);
  busybox_rootfs(rootfs);
  cr_assert_eq(system("command -v podman >/dev/null && command -v conmon >/dev/null"), 0,
               "podman and conmon are needed (scripts/install-deps)");
}

/* podman's cleanup (conmon's exit command: `podman container cleanup`, which calls delete) runs
 * after the container exits, asynchronously: wait for every process naming T to be gone. */
static void settle(void)
{
  cr_expect_eq(wait_processes_gone(T, 0, 30000), 0, "podman or conmon processes still running for %s", T);
}

/* No cgroup left of any container podman made in this test (the create events of its events
 * file in T name them all, --rm ones included). */
static void expect_no_cgroup_left(void)
{
  podman("events --stream=false --filter event=create --format '{{.ID}}'%s", "");
  cr_expect_eq(PR.status, 0, "podman events: %s", PR.err);
  static char ids[sizeof PR.out];
  snprintf(ids, sizeof ids, "%s", PR.out);
  cr_expect_neq(ids[0], '\0', "no container was created: nothing for the cgroup check to look at");
  char *save = NULL;
  for (char *id = strtok_r(ids, "\n", &save); id != NULL; id = strtok_r(NULL, "\n", &save)) {
    shell(&PR, T, "ls -d /sys/fs/cgroup/*/libpod_parent/libpod-%s* 2>/dev/null", id);
    cr_expect_str_eq(PR.out, "", "cgroups left: %s", PR.out);
  }
}

static void teardown(void)
{
  settle();
  podman("rm -af -t 0%s", "");
  settle();
  expect_no_cgroup_left();
  podman("ps -aq%s", "");
  cr_expect_str_eq(PR.out, "", "podman containers left: %s", PR.out);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "grep -q '%s' /proc/self/mountinfo", T);
  cr_expect_neq(system(cmd), 0, "mounts left under %s", T);
  snprintf(cmd, sizeof cmd, "'%s' list --format json", donjon_path());
  shell(&PR, T, "%s", cmd);
  cr_expect(!has(PR.out, T), "donjon containers left: %s", PR.out);
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", T);
  if (system(cmd) != 0)
    cr_log_warn("could not remove %s", T);
}

TestSuite(podman, .init = setup, .fini = teardown, .timeout = 240);

Test(podman, run_rm)
{
  podman("run --rm --network none " ULIMITS " --rootfs %s/rootfs sh -c 'echo hello from donjon; exit 3'", T);
  cr_expect_eq(PR.status, 3, "exit status not passed through: %d\n%s", PR.status, PR.err);
  cr_expect(has(PR.out, "hello from donjon"), "stdout: %s\nstderr: %s", PR.out, PR.err);
  podman("run --rm --network none --user 1000:1000 " ULIMITS " --rootfs %s/rootfs id -u", T);
  cr_expect_eq(PR.status, 0, "run --user: %s", PR.err);
  cr_expect_str_eq(PR.out, "1000\n", "%s", PR.err);
}

Test(podman, rlimits_above_the_host_are_named)
{
  struct rlimit rl;
  cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
  if (rl.rlim_max >= 1048576)
    cr_skip_test("this host allows RLIMIT_NOFILE 1048576");
  podman("run --rm --network none --rootfs %s/rootfs true", T);
  cr_expect_neq(PR.status, 0, "podman's 1048576 limits were accepted above the host's hard limit");
  char host[32];
  snprintf(host, sizeof host, "hard limit %llu", (unsigned long long) rl.rlim_max);
  cr_expect(has(PR.err, "RLIMIT_NOFILE") && has(PR.err, "1048576") && has(PR.err, host),
            "the error does not name the limit, the value asked and the host's limit: %s", PR.err);
}

Test(podman, detached_exec_stop_rm_with_limits)
{
  podman("run -d --network none " ULIMITS " --memory 64m --pids-limit 33 --rootfs %s/rootfs sleep 1000", T);
  cr_assert_eq(PR.status, 0, "run -d: %s", PR.err);
  char id[80];
  snprintf(id, sizeof id, "%.64s", PR.out);
  podman("exec %s sh -c 'echo in-exec; cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes'",
         id);
  cr_expect_eq(PR.status, 0, "exec: %s", PR.err);
  cr_expect(has(PR.out, "in-exec\n33\n67108864"), "exec output (limits as seen inside): %s", PR.out);
  podman("exec %s sh -c 'exit 5'", id);
  cr_expect_eq(PR.status, 5, "exec's exit status: %s", PR.err);
  /* podman's seccomp profile keeps no_new_privs off: a user other than root needs the filter
   * loaded with CAP_SYS_ADMIN raised (docs/sandbox.md) */
  podman("exec --user 1000 %s sh -c 'id -u; grep Seccomp: /proc/self/status'", id);
  cr_expect_eq(PR.status, 0, "exec --user: %s", PR.err);
  cr_expect(has(PR.out, "1000\nSeccomp:\t2"), "%s", PR.out);
  /* exec -t: conmon hands donjon a console socket */
  podman("exec -t %s sh -c 'tty; echo exec-tty-ok'", id);
  cr_expect_eq(PR.status, 0, "exec -t: %s", PR.err);
  cr_expect(has(PR.out, "/dev/pts/") && has(PR.out, "exec-tty-ok"), "%s", PR.out);
  podman("ps --format '{{.ID}} {{.Status}}'%s", "");
  cr_expect(has(PR.out, "Up"), "%s", PR.out);
  podman("stop -t 1 %s", id);
  cr_expect_eq(PR.status, 0, "stop: %s", PR.err);
  podman("rm %s", id);
  cr_expect_eq(PR.status, 0, "rm: %s", PR.err);
}

Test(podman, tty)
{
  podman("run --rm -t --network none " ULIMITS " --rootfs %s/rootfs sh -c 'tty; echo tty-ok'", T);
  cr_expect_eq(PR.status, 0, "run -t: %s", PR.err);
  cr_expect(has(PR.out, "/dev/pts/0") && has(PR.out, "tty-ok"), "stdout: %s\nstderr: %s", PR.out, PR.err);
}

/* An init that fails after start says why on the process's stderr, which conmon passes on. */
Test(podman, missing_binary_named_on_stderr)
{
  podman("run --rm --network none " ULIMITS " --rootfs %s/rootfs /nonexistent-binary", T);
  cr_expect_eq(PR.status, 127, "exit status %d: %s", PR.status, PR.err);
  cr_expect(has(PR.err, "donjon: ") && has(PR.err, ": exec /nonexistent-binary: "),
            "the error does not reach podman's stderr:\nstdout: %s\nstderr: %s", PR.out, PR.err);
}
