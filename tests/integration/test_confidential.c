/* The confidential profile (`donjon spec --profile confidential`): everything the tenant's workload
 * must not be able to do, tried from inside a real container, and what ordinary programs need,
 * shown to keep working. Denials with two layers (capabilities and seccomp) are also tested with
 * one layer removed, so that removing either layer from donjon makes a test fail. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static struct bundle B;
static struct result R;

static void setup(void)
{
  bundle_new(&B, "confidential");
}

static void teardown(void)
{
  bundle_assert_clean(&B);
  bundle_free(&B);
}

TestSuite(confidential, .init = setup, .fini = teardown, .timeout = 180);

/* Run every probe in one container; each prints "NAME: RESULT", killed ones "NAME: killed N". */
static void probe_all(const char *const *names)
{
  char script[8192] = "";
  size_t n = 0;
  for (; *names != NULL; names++)
    n += (size_t) snprintf(script + n, sizeof script - n,
                           "djprobe %s || { s=$?; [ $s -gt 128 ] && echo \"%s: killed $((s-128))\"; }; ", *names,
                           *names);
  snprintf(script + n, sizeof script - n, "true");
  bundle_sh(&B, script);
  bundle_run(&B, &R, NULL);
  cr_assert_eq(R.status, 0, "exit %d\nstdout: %s\nstderr: %s", R.status, R.out, R.err);
}

static void expect_line(const char *name, const char *result)
{
  char line[256];
  snprintf(line, sizeof line, "%s: %s\n", name, result);
  cr_expect(has(R.out, line), "expected \"%s: %s\", got:\n%s", name, result, R.out);
}

static const char *const eperm_by_seccomp[] = {
  "mount", "umount", "pivot_root", "chroot", "unshare", "unshare-user", "setns", "clone-newns", "clone-newuser",
  "fsopen", "fsmount", "fspick", "open_tree", "move_mount", "mount_setattr", "keyctl", "add_key", "request_key",
  "bpf", "perf_event_open", "ptrace", "process_vm_readv", "init_module", "finit_module", "delete_module",
  "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "syslog", "settime", "settimeofday",
  "clock_adjtime", "adjtimex", "open_by_handle_at", "name_to_handle_at", "userfaultfd", "io_uring_setup",
  "tiocsti", "tiocsti-high", "tioclinux", "acct", "quotactl", "personality32", "mknod-char", NULL,
};

Test(confidential, the_workload_cannot_do_any_of_the_denied_things)
{
  probe_all(eperm_by_seccomp);
  for (const char *const *n = eperm_by_seccomp; *n != NULL; n++)
    expect_line(*n, "EPERM");
}

Test(confidential, clone3_fails_with_enosys_so_libc_falls_back)
{
  probe_all((const char *[]){ "clone3", "thread", "fork", "unknown-syscall", NULL });
  expect_line("clone3", "ENOSYS");
  expect_line("thread", "ok");
  expect_line("fork", "ok");
  expect_line("unknown-syscall", "ENOSYS");
}

/* Whether this kernel runs i386 system calls (int 0x80 getpid, here, without any filter). */
static bool kernel_runs_i386(void)
{
#if defined(__x86_64__)
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory"); /* i386 getpid */
    _exit(ret == getpid() ? 0 : 1);
  }
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
#else
  return false;
#endif
}

Test(confidential, foreign_syscall_abis_are_killed)
{
  probe_all((const char *[]){ "int80", "x32", NULL });
  /* without ia32 emulation the kernel itself faults int 0x80 (SIGSEGV): the filter's layer for
   * i386 is then shown by the filter libseccomp builds (tests/unit/sandbox i386_syscall_killed) */
  expect_line("int80", kernel_runs_i386() ? "killed 31" : "killed 11");
  expect_line("x32", "killed 31");
}

Test(confidential, ordinary_programs_keep_working)
{
  probe_all((const char *[]){ "mkfifo", "personality-query", "socket-lo", "signal", "clock", "pipe", "thread", NULL });
  expect_line("mkfifo", "ok");
  expect_line("personality-query", "ok");
  expect_line("socket-lo", "ok");
  expect_line("signal", "ok");
  expect_line("clock", "ok");
  expect_line("pipe", "ok");
  bundle_sh(&B, "set -e; cd /tmp; seq 1 1000 > n; awk '{s+=$1} END {print s}' n; cat n | sort -rn | head -1; "
                "(sleep 0.1; echo bg) & wait; date +%Y >/dev/null; trap 'echo trapped' USR1; kill -USR1 $$; "
                "echo hello | sha256sum | cut -c1-8");
  bundle_run(&B, &R, NULL);
  cr_assert_eq(R.status, 0, "exit %d\n%s\n%s", R.status, R.out, R.err);
  cr_expect(has(R.out, "500500\n1000\nbg\ntrapped\n5891b5b5\n"), "%s", R.out);
}

Test(confidential, no_capabilities_and_no_new_privileges)
{
  bundle_sh(&B, "grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status");
  bundle_run(&B, &R, NULL);
  cr_assert_eq(R.status, 0, "%s", R.err);
  const char *sets[] = { "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb" };
  for (size_t i = 0; i < 5; i++) {
    char line[64];
    snprintf(line, sizeof line, "%s:\t0000000000000000", sets[i]);
    cr_expect(has(R.out, line), "%s not empty:\n%s", sets[i], R.out);
  }
  cr_expect(has(R.out, "NoNewPrivs:\t1"), "%s", R.out);
  cr_expect(has(R.out, "Seccomp:\t2"), "%s", R.out);
}

Test(confidential, root_is_read_only_and_tmp_is_a_tmpfs)
{
  bundle_sh(&B, "touch /x 2>&1; echo ok > /tmp/y && cat /tmp/y; grep ' /tmp ' /proc/self/mountinfo");
  bundle_run(&B, &R, NULL);
  cr_assert_eq(R.status, 0, "%s", R.err);
  cr_expect(has(R.out, "Read-only file system"), "%s", R.out);
  cr_expect(has(R.out, "ok\n"), "%s", R.out);
  cr_expect(has(R.out, "tmpfs"), "%s", R.out);
}

Test(confidential, masked_paths_and_read_only_proc_sys)
{
  /* The masked files this kernel has (it has no /proc/kcore nor /proc/sysrq-trigger). */
  const char *masked[] = { "/proc/kcore", "/proc/keys", "/proc/sysrq-trigger", "/proc/timer_list" };
  bundle_sh(&B, "for p in /proc/kcore /proc/keys /proc/sysrq-trigger /proc/timer_list; do "
                "[ -e $p ] && stat -c \"$p %t:%T %s\" $p; done; "
                "echo 1 > /proc/sys/vm/drop_caches; touch /sys/djx; true");
  bundle_run(&B, &R, NULL);
  cr_assert_eq(R.status, 0, "%s", R.err);
  size_t seen = 0;
  for (size_t i = 0; i < sizeof masked / sizeof *masked; i++) {
    if (access(masked[i], F_OK) != 0)
      continue;
    char line[128];
    snprintf(line, sizeof line, "%s 1:3 0\n", masked[i]);
    cr_expect(has(R.out, line), "%s not masked:\n%s", masked[i], R.out);
    seen++;
  }
  cr_assert_geq(seen, 2u, "too few masked files exist on this kernel to test");
  cr_expect(has(R.err, "/proc/sys/vm/drop_caches: Read-only file system"), "%s", R.err);
  cr_expect(has(R.err, "/sys/djx: Read-only file system"), "%s", R.err);
}

Test(confidential, no_tpm_device_reachable)
{
  bundle_sh(&B, "ls /dev/tpm* 2>&1; djprobe open /dev/tpmrm0; mknod /tmp/tpm c 10 224 2>&1; true");
  bundle_run(&B, &R, NULL);
  cr_assert_eq(R.status, 0, "%s", R.err);
  cr_expect(has(R.out, "No such file"), "%s", R.out);
  cr_expect(has(R.out, "open: ENOENT"), "%s", R.out);
  cr_expect(has(R.out, "Operation not permitted"), "%s", R.out);
}

Test(confidential, own_network_namespace_with_lo_only)
{
  bundle_sh(&B, "ls /sys/class/net");
  bundle_run(&B, &R, NULL);
  cr_assert_eq(R.status, 0, "%s", R.err);
  cr_assert_str_eq(R.out, "lo\n");
}

Test(confidential, container_root_is_not_host_root)
{
  bundle_sh(&B, "cat /proc/self/uid_map; id -u; sleep 0.3");
  bundle_run(&B, &R, NULL);
  cr_assert_eq(R.status, 0, "%s", R.err);
  cr_expect(has(R.out, "\n0\n"), "%s", R.out);
  unsigned host = 0, size = 0, inside = 1;
  cr_assert_eq(sscanf(R.out, "%u %u %u", &inside, &host, &size), 3, "%s", R.out);
  cr_expect_eq(inside, 0);
  cr_expect_geq(host, 65536u, "container root maps to host uid %u", host);
}

Test(confidential, pids_and_memory_limits_hold)
{
  bundle_args(&B, (const char *[]){ "djprobe", "fork-many", "2000", NULL });
  bundle_run(&B, &R, NULL);
  cr_expect_eq(R.status, 1, "exit %d: %s %s", R.status, R.out, R.err);
  cr_expect(has(R.out, "fork-many: EAGAIN"), "%s", R.out);
  bundle_args(&B, (const char *[]){ "djprobe", "alloc-mb", "4096", NULL });
  bundle_run(&B, &R, NULL);
  cr_expect_eq(R.status, 128 + SIGKILL, "exit %d: %s %s", R.status, R.out, R.err);
}

/* ---- each layer on its own ---- */

static json_t *all_caps(void)
{
  json_t *a = json_array();
  const char *names[] = { "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_SETUID", "CAP_SETGID", "CAP_SYS_ADMIN",
                          "CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_SYS_PTRACE", "CAP_NET_ADMIN", "CAP_SYS_TIME",
                          "CAP_SYS_BOOT", "CAP_SYS_MODULE", "CAP_SYSLOG", "CAP_SYS_RESOURCE", "CAP_BPF",
                          "CAP_PERFMON", "CAP_SYS_PACCT", "CAP_DAC_READ_SEARCH", NULL };
  for (const char *const *n = names; *n != NULL; n++)
    json_array_append_new(a, json_string(*n));
  return a;
}

/* The layer tests loosen the profile on purpose: without its annotation, which would tighten again. */
static void drop_profile_annotation(void)
{
  json_object_del(json_object_get(B.config, "annotations"), "org.donjon.profile");
}

/* org.donjon.profile=confidential is a commitment: a config that carries it but was loosened is
 * tightened back to the profile by the runtime. */
Test(confidential, an_annotated_config_that_was_loosened_is_tightened_again)
{
  bundle_set(&B, "linux.seccomp", NULL);
  bundle_set(&B, "process.capabilities.effective", all_caps());
  bundle_set(&B, "process.capabilities.permitted", all_caps());
  bundle_set(&B, "process.capabilities.bounding", all_caps());
  bundle_set(&B, "process.noNewPrivileges", json_false());
  bundle_sh(&B, "grep -E 'Seccomp:|CapEff|NoNewPrivs' /proc/self/status");
  bundle_run(&B, &R, NULL);
  cr_expect(has(R.out, "Seccomp:\t2"), "seccomp is not on: %s", R.out);
  cr_expect(has(R.out, "CapEff:\t0000000000000000"), "capabilities are left: %s", R.out);
  cr_expect(has(R.out, "NoNewPrivs:\t1"), "no_new_privs is off: %s", R.out);
}

Test(confidential, the_seccomp_layer_alone_denies_with_capabilities_present)
{
  drop_profile_annotation();
  const char *sets[] = { "bounding", "effective", "permitted" };
  for (size_t i = 0; i < 3; i++) {
    char path[64];
    snprintf(path, sizeof path, "process.capabilities.%s", sets[i]);
    bundle_set(&B, path, all_caps());
  }
  /* With CAP_SYS_ADMIN in its user namespace the kernel would allow these: only the filter stops them. */
  probe_all((const char *[]){ "mount", "unshare", "chroot", "clone-newns", "fsopen", "open_tree", "keyctl", "ptrace",
                              "mknod-char", "personality32", "tiocsti-high", NULL });
  const char *names[] = { "mount", "unshare", "chroot", "clone-newns", "fsopen", "open_tree", "keyctl", "ptrace",
                          "mknod-char", "personality32", "tiocsti-high" };
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    expect_line(names[i], "EPERM");
  bundle_sh(&B, "grep CapEff /proc/self/status");
  bundle_run(&B, &R, NULL);
  cr_expect(!has(R.out, "0000000000000000"), "capabilities were not granted: %s", R.out);
}

Test(confidential, the_capability_layer_alone_denies_with_seccomp_off)
{
  drop_profile_annotation();
  bundle_set(&B, "linux.seccomp", NULL);
  probe_all((const char *[]){ "mount", "unshare", "chroot", "clone-newns", "fsopen", "mknod-char", "settime",
                              "swapon", "acct", "reboot", NULL });
  const char *names[] = { "mount", "unshare", "chroot", "clone-newns", "fsopen", "mknod-char", "settime", "swapon",
                          "acct", "reboot" };
  for (size_t i = 0; i < sizeof names / sizeof *names; i++)
    expect_line(names[i], "EPERM");
  bundle_sh(&B, "grep Seccomp: /proc/self/status");
  bundle_run(&B, &R, NULL);
  cr_expect(has(R.out, "Seccomp:\t0"), "seccomp was not off: %s", R.out);
}
