/* `donjon run` with the default profile (what `runc spec` writes): every item of the jail issue
 * checked from inside a real container on this machine's kernel and cgroups. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/capability.h>
#include <linux/keyctl.h>
#include <unistd.h>

#include "harness.h"

static struct bundle B;
static struct result R;

static void setup(void)
{
  bundle_new(&B, "default");
}

static void teardown(void)
{
  bundle_assert_clean(&B);
  bundle_free(&B);
}

TestSuite(jail, .init = setup, .fini = teardown, .timeout = 180);

static void run_sh(const char *script)
{
  bundle_sh(&B, script);
  bundle_run(&B, &R, NULL);
}

#define assert_ok() cr_assert_eq(R.status, 0, "exit %d\nstdout: %s\nstderr: %s", R.status, R.out, R.err)
#define assert_out(s) cr_assert(has(R.out, s), "expected \"%s\" in stdout:\n%s\nstderr: %s", s, R.out, R.err)
#define assert_err(s) cr_assert(has(R.err, s), "expected \"%s\" in stderr:\n%s", s, R.err)

static json_t *ns_list(const char *const *names)
{
  json_t *a = json_array();
  for (; *names != NULL; names++)
    json_array_append_new(a, json_pack("{s:s}", "type", *names));
  return a;
}

/* ---- exit codes, stdio, signals ---- */

Test(jail, exit_code_passes_through)
{
  run_sh("echo hello; echo oops >&2; exit 42");
  cr_assert_eq(R.status, 42);
  cr_assert_str_eq(R.out, "hello\n");
  cr_assert_str_eq(R.err, "oops\n");
}

Test(jail, killed_by_signal_is_128_plus_n)
{
  /* Without a pid namespace the shell is not an init, so it can kill itself. */
  const char *ns[] = { "network", "ipc", "uts", "mount", NULL };
  bundle_set(&B, "linux.namespaces", ns_list(ns));
  run_sh("kill -KILL $$");
  cr_assert_eq(R.status, 128 + SIGKILL, "exit %d: %s", R.status, R.err);
}

Test(jail, signals_are_forwarded_to_the_init)
{
  char pidfile[PATH_MAX + 16];
  snprintf(pidfile, sizeof pidfile, "%s/pid", B.dir);
  bundle_sh(&B, "trap 'echo got-term; exit 3' TERM; echo ready; while :; do sleep 0.05; done");
  const char *extra[] = { "--pid-file", pidfile, NULL };
  int fds[2];
  pid_t pid = bundle_start(&B, extra, fds);
  cr_assert_gt(read_pid_file(pidfile), 0, "no pid file");
  usleep(200000); /* let the trap be installed (the pid file is written after exec) */
  kill(pid, SIGTERM);
  bundle_wait(pid, fds, &R);
  cr_assert_eq(R.status, 3, "exit %d: %s", R.status, R.err);
  assert_out("got-term");
}

Test(jail, pid_file_holds_the_init_pid)
{
  char pidfile[PATH_MAX + 16];
  snprintf(pidfile, sizeof pidfile, "%s/pid", B.dir);
  bundle_sh(&B, "sleep 0.3");
  const char *extra[] = { "--pid-file", pidfile, NULL };
  int fds[2];
  pid_t pid = bundle_start(&B, extra, fds);
  pid_t init = read_pid_file(pidfile);
  cr_assert_gt(init, 0);
  char path[64], exe[PATH_MAX] = "";
  snprintf(path, sizeof path, "/proc/%d/exe", (int) init);
  cr_assert_gt(readlink(path, exe, sizeof exe - 1), 0);
  cr_assert(has(exe, "busybox"), "init runs %s", exe);
  bundle_wait(pid, fds, &R);
  assert_ok();
}

/* ---- namespaces ---- */

Test(jail, pid_namespace_makes_the_process_pid_1_in_a_new_session)
{
  /* setsid without a terminal: the workload cannot push input into a terminal it inherited. */
  run_sh("echo pid=$$; echo sid=$(cut -d' ' -f6 /proc/1/stat)");
  assert_ok();
  assert_out("pid=1\nsid=1\n");
}

Test(jail, uts_namespace_sets_hostname_and_domainname)
{
  bundle_set(&B, "hostname", json_string("keep"));
  bundle_set(&B, "domainname", json_string("fr.example"));
  run_sh("hostname; cat /proc/sys/kernel/domainname");
  assert_ok();
  cr_assert_str_eq(R.out, "keep\nfr.example\n");
}

Test(jail, network_namespace_has_only_lo_and_it_is_up)
{
  run_sh("ls /sys/class/net; ip link show lo");
  assert_ok();
  cr_assert(has(R.out, "lo\n"), "%s", R.out);
  cr_assert(!has(R.out, "eth"), "%s", R.out);
  assert_out("UP");
}

static void host_ns(const char *type, char *buf, size_t n)
{
  char path[64];
  snprintf(path, sizeof path, "/proc/self/ns/%s", type);
  ssize_t k = readlink(path, buf, n - 1);
  cr_assert_gt(k, 0);
  buf[k] = '\0';
}

Test(jail, ipc_mount_cgroup_namespaces_differ_from_the_host)
{
  const char *names[] = { "pid", "network", "ipc", "uts", "mount", "cgroup", NULL };
  bundle_set(&B, "linux.namespaces", ns_list(names));
  run_sh("readlink /proc/self/ns/ipc /proc/self/ns/mnt /proc/self/ns/cgroup; cat /proc/self/cgroup");
  assert_ok();
  const char *types[] = { "ipc", "mnt", "cgroup" };
  for (size_t i = 0; i < 3; i++) {
    char h[128];
    host_ns(types[i], h, sizeof h);
    cr_assert(!has(R.out, h), "%s namespace is the host's: %s", types[i], h);
  }
  /* Inside its cgroup namespace the container's cgroup is the root. */
  assert_out("0::/\n");
  assert_out("memory:/\n");
}

Test(jail, user_namespace_maps_ids)
{
  const char *names[] = { "pid", "network", "ipc", "uts", "mount", "user", NULL };
  bundle_set(&B, "linux.namespaces", ns_list(names));
  bundle_set(&B, "linux.uidMappings", json_pack("[{s:i,s:i,s:i}]", "containerID", 0, "hostID", 200000, "size", 65536));
  bundle_set(&B, "linux.gidMappings", json_pack("[{s:i,s:i,s:i}]", "containerID", 0, "hostID", 200000, "size", 65536));
  /* sysfs needs a network namespace owned by the user namespace: it has one here. */
  run_sh("cat /proc/self/uid_map /proc/self/gid_map; id -u");
  assert_ok();
  assert_out("0     200000      65536");
  assert_out("\n0\n");
}

static void add_bind(const char *dest, const char *src, json_t *opts)
{
  json_array_append_new(bundle_get(&B, "mounts"),
                        json_pack("{s:s,s:s,s:s,s:o}", "destination", dest, "type", "bind", "source", src, "options", opts));
}

/* As an orchestrator lays them out (podman's userdata, containerd's bundles): the root and a bind
 * source under 0700 directories of host root, which the namespace's root (host id 200000) cannot
 * cross. donjon opens them before the init leaves the host's credentials, as runc does. */
Test(jail, user_namespace_reaches_a_root_and_binds_in_0700_directories)
{
  const char *names[] = { "pid", "network", "ipc", "uts", "mount", "user", NULL };
  bundle_set(&B, "linux.namespaces", ns_list(names));
  bundle_set(&B, "linux.uidMappings", json_pack("[{s:i,s:i,s:i}]", "containerID", 0, "hostID", 200000, "size", 65536));
  bundle_set(&B, "linux.gidMappings", json_pack("[{s:i,s:i,s:i}]", "containerID", 0, "hostID", 200000, "size", 65536));
  char cmd[4096], src[512];
  snprintf(src, sizeof src, "%s/private/userdata/hostname", B.dir);
  snprintf(cmd, sizeof cmd, "mkdir -p %s/private/userdata && echo from-the-orchestrator > %s && chmod 700 %s/private %s/private/userdata",
           B.dir, src, B.dir, B.dir);
  cr_assert_eq(system(cmd), 0);
  add_bind("/etc/group", src, json_pack("[s,s]", "bind", "ro")); /* a mount point the image has */
  chmod(B.dir, 0700);
  run_sh("cat /etc/group; id -u");
  chmod(B.dir, 0755);
  assert_ok();
  assert_out("from-the-orchestrator\n0\n");
}

Test(jail, time_namespace_offsets_boottime)
{
  const char *names[] = { "pid", "network", "ipc", "uts", "mount", "time", NULL };
  bundle_set(&B, "linux.namespaces", ns_list(names));
  bundle_set(&B, "linux.timeOffsets", json_pack("{s:{s:i,s:i}}", "boottime", "secs", 864000, "nanosecs", 0));
  run_sh("cut -d. -f1 /proc/uptime");
  assert_ok();
  long up = atol(R.out);
  cr_assert_geq(up, 864000, "uptime %ld does not include the offset", up);
}

Test(jail, joins_an_existing_namespace_by_path)
{
  char name[64], cmd[256];
  snprintf(name, sizeof name, "djit%d", (int) getpid());
  snprintf(cmd, sizeof cmd, "ip netns add %s && ip -n %s addr add 10.123.45.67/32 dev lo", name, name);
  cr_assert_eq(system(cmd), 0);
  json_t *ns = ns_list((const char *[]){ "pid", "ipc", "uts", "mount", NULL });
  char path[128];
  snprintf(path, sizeof path, "/var/run/netns/%s", name);
  json_array_append_new(ns, json_pack("{s:s,s:s}", "type", "network", "path", path));
  bundle_set(&B, "linux.namespaces", ns);
  run_sh("ip addr show lo");
  snprintf(cmd, sizeof cmd, "ip netns del %s", name);
  cr_expect_eq(system(cmd), 0);
  assert_ok();
  assert_out("10.123.45.67");
}

/* pid and time namespaces apply to children: a process unshares one, then its child lives in it
 * and holds it. offsets: written to timens_offsets first (NULL: none). */
struct ns_holder {
  pid_t parent, child;
  char path[64];
};

static void ns_hold(struct ns_holder *h, int flag, const char *name, const char *offsets)
{
  int p[2];
  cr_assert_eq(pipe(p), 0);
  h->parent = fork();
  cr_assert_geq(h->parent, 0);
  if (h->parent == 0) {
    close(p[0]);
    if (unshare(flag) < 0)
      _exit(1);
    if (offsets != NULL) {
      int fd = open("/proc/self/timens_offsets", O_WRONLY | O_CLOEXEC);
      if (fd < 0 || write(fd, offsets, strlen(offsets)) < 0)
        _exit(2);
      close(fd);
    }
    pid_t c = fork();
    if (c == 0) {
      pause();
      _exit(0);
    }
    (void) !write(p[1], &c, sizeof c);
    pause();
    _exit(0);
  }
  close(p[1]);
  cr_assert_eq(read(p[0], &h->child, sizeof h->child), (ssize_t) sizeof h->child);
  close(p[0]);
  snprintf(h->path, sizeof h->path, "/proc/%d/ns/%s", (int) h->child, name);
}

static void ns_release(struct ns_holder *h)
{
  kill(h->child, SIGKILL);
  kill(h->parent, SIGKILL);
  waitpid(h->parent, NULL, 0);
}

static void ns_link(const char *path, char *buf, size_t n)
{
  ssize_t k = readlink(path, buf, n - 1);
  cr_assert_gt(k, 0, "%s", path);
  buf[k] = '\0';
}

Test(jail, joins_a_pid_namespace_by_path)
{
  struct ns_holder h;
  ns_hold(&h, CLONE_NEWPID, "pid", NULL);
  char theirs[64];
  ns_link(h.path, theirs, sizeof theirs);
  json_t *ns = ns_list((const char *[]){ "network", "ipc", "uts", "mount", NULL });
  json_array_append_new(ns, json_pack("{s:s,s:s}", "type", "pid", "path", h.path));
  bundle_set(&B, "linux.namespaces", ns);
  run_sh("readlink /proc/self/ns/pid; echo pid=$$; cat /proc/1/comm");
  ns_release(&h);
  assert_ok();
  char want[80];
  snprintf(want, sizeof want, "%s\n", theirs);
  assert_out(want);
  /* pid 1 there is the holder's child: this test binary (comm cut at 15 characters) */
  assert_out("pid=2\ntest_integratio");
}

Test(jail, joins_a_time_namespace_by_path)
{
  struct ns_holder h;
  ns_hold(&h, CLONE_NEWTIME, "time", "boottime 864000 0\n");
  char theirs[64];
  ns_link(h.path, theirs, sizeof theirs);
  json_t *ns = ns_list((const char *[]){ "pid", "network", "ipc", "uts", "mount", NULL });
  json_array_append_new(ns, json_pack("{s:s,s:s}", "type", "time", "path", h.path));
  bundle_set(&B, "linux.namespaces", ns);
  run_sh("readlink /proc/self/ns/time; cut -d. -f1 /proc/uptime");
  ns_release(&h);
  assert_ok();
  char want[80];
  snprintf(want, sizeof want, "%s\n", theirs);
  assert_out(want);
  long up = atol(strchr(R.out, '\n') + 1);
  cr_assert_geq(up, 864000, "uptime %ld does not include the holder's offset:\n%s", up, R.out);
}

Test(jail, joins_a_user_namespace_by_path_and_makes_the_others_inside_it)
{
  /* A user namespace held by another process (root mapped to host uid 300000), as a pod's
   * sandbox would hold it; the container's new namespaces must belong to it. */
  int ready[2];
  cr_assert_eq(pipe(ready), 0);
  pid_t holder = fork();
  cr_assert_geq(holder, 0);
  if (holder == 0) {
    close(ready[0]);
    if (unshare(CLONE_NEWUSER) < 0)
      _exit(1);
    (void) !write(ready[1], "x", 1);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char c;
  cr_assert_eq(read(ready[0], &c, 1), 1);
  close(ready[0]);
  char path[64], map[64];
  const char *files[] = { "uid_map", "gid_map" };
  for (size_t i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "/proc/%d/%s", (int) holder, files[i]);
    FILE *m = fopen(path, "w");
    cr_assert_not_null(m);
    snprintf(map, sizeof map, "0 300000 65536\n");
    fputs(map, m);
    cr_assert_eq(fclose(m), 0);
  }
  snprintf(path, sizeof path, "/proc/%d/ns/user", (int) holder);
  json_t *ns = ns_list((const char *[]){ "pid", "network", "ipc", "uts", "mount", NULL });
  json_array_append_new(ns, json_pack("{s:s,s:s}", "type", "user", "path", path));
  bundle_set(&B, "linux.namespaces", ns);
  run_sh("cat /proc/self/uid_map; grep -c ' /proc ' /proc/self/mountinfo; echo pid=$$");
  kill(holder, SIGKILL);
  waitpid(holder, NULL, 0);
  assert_ok();
  assert_out("300000");
  assert_out("pid=1\n");
}

/* donjon with argv, cap dropped from its bounding set (-1: none), started; its stderr on *errfd. */
static pid_t donjon_start_without_cap(int cap, const char *const *argv, int *errfd)
{
  int p[2];
  cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    dup2(p[1], 2);
    int nul = open("/dev/null", O_RDWR);
    dup2(nul, 0);
    dup2(nul, 1);
    if (cap >= 0 && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
      _exit(125);
    const char *full[16] = { donjon_path() };
    for (size_t i = 0; argv[i] != NULL && i < 14; i++)
      full[i + 1] = argv[i];
    execv(full[0], (char *const *) full);
    _exit(126);
  }
  close(p[1]);
  *errfd = p[0];
  return pid;
}

/* Its exit status (128+N if killed by signal N), stderr into err. */
static int donjon_wait(pid_t pid, int errfd, char *err, size_t size)
{
  size_t n = 0;
  ssize_t k;
  while (n < size - 1 && (k = read(errfd, err + n, size - 1 - n)) > 0)
    n += (size_t) k;
  err[n] = '\0';
  close(errfd);
  int st;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int donjon_without_cap(int cap, const char *const *argv, char *err, size_t size)
{
  int errfd;
  pid_t pid = donjon_start_without_cap(cap, argv, &errfd);
  return donjon_wait(pid, errfd, err, size);
}

/* From a child that holds our capabilities less CAP_SYS_PTRACE: 0 if it could attach to pid
 * (PTRACE_SEIZE; its exit detaches), else the errno. */
static int ptrace_without_cap_sys_ptrace(pid_t pid)
{
  pid_t c = fork();
  cr_assert_geq(c, 0);
  if (c == 0) {
    struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &hdr, data) < 0)
      _exit(200);
    data[CAP_SYS_PTRACE / 32].effective &= ~(1u << (CAP_SYS_PTRACE % 32));
    data[CAP_SYS_PTRACE / 32].permitted &= ~(1u << (CAP_SYS_PTRACE % 32));
    if (syscall(SYS_capset, &hdr, data) < 0)
      _exit(201);
    _exit(ptrace(PTRACE_SEIZE, pid, 0, 0) == 0 ? 0 : errno);
  }
  int st;
  cr_assert_eq(waitpid(c, &st, 0), c);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) < 200, "status %#x", st);
  return WEXITSTATUS(st);
}

static bool yama_restricts_ptrace(void)
{
  FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
  int scope = 0;
  if (f != NULL) {
    if (fscanf(f, "%d", &scope) != 1)
      scope = 0;
    fclose(f);
  }
  return scope > 0;
}

Test(jail, the_init_is_not_dumpable_while_it_sets_up)
{
  /* Nothing may ptrace the init or read its memory before execve. donjon runs without
   * CAP_SYS_PTRACE and so does the tracer, with the same uid and capabilities: only the init's
   * being non-dumpable stops the attach. A createRuntime hook holds the init in its setup while
   * we try; the control, once the process is exec'd (dumpable again), attaches. */
  char sync[PATH_MAX], pidfile[PATH_MAX + 16], go_on[PATH_MAX + 16], stop[PATH_MAX + 16];
  snprintf(sync, sizeof sync, "%s/sync", B.dir);
  snprintf(pidfile, sizeof pidfile, "%s/init-pid", sync);
  snprintf(go_on, sizeof go_on, "%s/go-on", sync);
  snprintf(stop, sizeof stop, "%s/stop", sync);
  cr_assert_eq(mkdir(sync, 0755), 0);
  char script[5 * PATH_MAX];
  snprintf(script, sizeof script, "sed -n 's/.*\"pid\": *\\([0-9]*\\).*/\\1/p' > %s.tmp && mv %s.tmp %s; "
                                  "i=0; while [ ! -e %s ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done",
           pidfile, pidfile, pidfile, go_on);
  bundle_set(&B, "hooks", json_pack("{s:[{s:s,s:[s,s,s]}]}", "createRuntime", "path", "/bin/sh", "args", "sh", "-c",
                                    script));
  add_bind("/tmp", sync, json_pack("[s]", "bind"));
  bundle_sh(&B, "i=0; while [ ! -e /tmp/stop ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done");
  bundle_write_config(&B);
  const char *argv[] = { "--root", B.state, "run", "--bundle", B.dir, B.id, NULL };
  int errfd;
  pid_t donjon = donjon_start_without_cap(CAP_SYS_PTRACE, argv, &errfd);
  pid_t init = read_pid_file(pidfile);
  cr_assert_gt(init, 0, "the createRuntime hook did not run");
  int during = ptrace_without_cap_sys_ptrace(init);
  FILE *f = fopen(go_on, "we");
  cr_assert_not_null(f);
  fclose(f);
  /* the control: the process has exec'd once /proc/<init>/comm is the shell's */
  char comm_path[64], comm[32] = "";
  snprintf(comm_path, sizeof comm_path, "/proc/%d/comm", (int) init);
  for (int i = 0; i < 3000 && strcmp(comm, "sh\n") != 0; i++) {
    FILE *c = fopen(comm_path, "re");
    if (c == NULL || fgets(comm, sizeof comm, c) == NULL)
      comm[0] = '\0';
    if (c != NULL)
      fclose(c);
    usleep(10000);
  }
  int after = ptrace_without_cap_sys_ptrace(init);
  f = fopen(stop, "we");
  cr_assert_not_null(f);
  fclose(f);
  static char err[4096];
  int rc = donjon_wait(donjon, errfd, err, sizeof err);
  cr_assert_eq(rc, 0, "exit %d: %s", rc, err);
  cr_expect_eq(during, EPERM, "attach to the init during its setup: %s", during ? strerror(during) : "attached");
  cr_expect_str_eq(comm, "sh\n");
  if (!yama_restricts_ptrace()) /* Yama would refuse a non-ancestor: no control then */
    cr_expect_eq(after, 0, "the control: attach to the exec'd process: %s", strerror(after));
}

/* ---- mounts ---- */

Test(jail, proc_sysfs_tmpfs_and_a_minimal_dev)
{
  run_sh("grep -c ' /proc proc ' /proc/self/mounts; touch /sys/kernel/x 2>&1; ls /dev; "
         "stat -c '%n %t:%T' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty");
  assert_ok();
  assert_out("1\n");
  assert_out("Read-only file system");
  const char *devs[] = { "null", "zero", "full", "random", "urandom", "tty", "ptmx", "pts", "shm", "mqueue" };
  for (size_t i = 0; i < sizeof devs / sizeof *devs; i++)
    cr_assert(has(R.out, devs[i]), "/dev/%s missing:\n%s", devs[i], R.out);
  assert_out("/dev/null 1:3");
  assert_out("/dev/urandom 1:9");
  assert_out("/dev/tty 5:0");
}

Test(jail, root_readonly_and_tmpfs_writable)
{
  bundle_set(&B, "root.readonly", json_true());
  json_array_append_new(bundle_get(&B, "mounts"),
                        json_pack("{s:s,s:s,s:s,s:[s,s,s]}", "destination", "/tmp", "type", "tmpfs", "source",
                                  "tmpfs", "options", "nosuid", "nodev", "size=1m"));
  run_sh("touch /x 2>&1; echo data > /tmp/f && cat /tmp/f; grep ' /tmp ' /proc/self/mountinfo");
  assert_ok();
  assert_out("Read-only file system");
  assert_out("data\n");
  assert_out("nosuid,nodev");
  assert_out("size=1024k");
}


Test(jail, bind_mounts_with_options)
{
  char src[512], sub[512], cmd[4096];
  snprintf(src, sizeof src, "%s/data", B.dir);
  snprintf(sub, sizeof sub, "%s/data/sub", B.dir);
  snprintf(cmd, sizeof cmd, "mkdir -p %s && echo bound > %s/file && cp /bin/busybox %s/bb && mount -t tmpfs tmpfs %s && echo inner > %s/f",
           sub, src, src, sub, sub);
  cr_assert_eq(system(cmd), 0);
  add_bind("/mnt/ro", src, json_pack("[s,s]", "rbind", "ro"));
  add_bind("/mnt/flags", src, json_pack("[s,s,s,s]", "bind", "nosuid", "nodev", "noexec"));
  add_bind("/mnt/norec", src, json_pack("[s]", "bind"));
  run_sh("cat /mnt/ro/file; echo x > /mnt/ro/new; cat /mnt/ro/sub/f; "
         "grep ' /mnt/flags ' /proc/self/mountinfo; /mnt/flags/bb true 2>&1 || echo noexec-held; "
         "cat /mnt/norec/sub/f 2>&1 || echo not-recursive");
  snprintf(cmd, sizeof cmd, "umount %s", sub);
  cr_expect_eq(system(cmd), 0);
  assert_ok();
  assert_out("bound\n");
  assert_err("/mnt/ro/new: Read-only file system");
  assert_out("inner\n");
  assert_out("nosuid,nodev,noexec");
  assert_out("noexec-held");
  assert_out("not-recursive");
}

Test(jail, bind_mount_destination_symlink_stays_inside_the_root)
{
  /* An image whose /escape points at the host's /etc: the mount must land inside the root. */
  char link[512], src[512], cmd[4096];
  snprintf(link, sizeof link, "%s/escape", B.rootfs);
  cr_assert_eq(symlink("/../../../../etc", link), 0);
  snprintf(src, sizeof src, "%s/data", B.dir);
  snprintf(cmd, sizeof cmd, "mkdir -p %s && echo marker > %s/marker", src, src);
  cr_assert_eq(system(cmd), 0);
  add_bind("/escape/djmount", src, json_pack("[s]", "bind"));
  struct stat before;
  cr_assert_neq(stat("/etc/djmount", &before), 0);
  run_sh("cat /etc/djmount/marker");
  assert_ok();
  assert_out("marker\n");
  struct stat st;
  cr_assert_neq(stat("/etc/djmount", &st), 0, "a directory was made in the host's /etc");
}

Test(jail, masked_and_readonly_paths)
{
  /* runc's default masks; this kernel has /proc/keys and /proc/timer_list (no kcore, no sysrq). */
  run_sh("stat -c '%n %t:%T %s' /proc/keys /proc/timer_list; ls -A /proc/acpi | wc -l; "
         "echo 1 > /proc/sys/kernel/ns_last_pid; echo x > /proc/fs/djx; true");
  assert_ok();
  assert_out("/proc/keys 1:3 0\n");
  assert_out("/proc/timer_list 1:3 0\n");
  assert_out("0\n");
  cr_assert(has(R.err, "/proc/sys/kernel/ns_last_pid: Read-only file system"), "%s", R.err);
}

Test(jail, linux_devices_are_created)
{
  bundle_set(&B, "linux.devices", json_pack("[{s:s,s:s,s:i,s:i,s:i,s:i,s:i}]", "path", "/dev/fuse", "type", "c",
                                            "major", 10, "minor", 229, "fileMode", 0640, "uid", 0, "gid", 0));
  run_sh("stat -c '%F %t:%T %a' /dev/fuse");
  assert_ok();
  assert_out("character special file a:e5 640");
}

Test(jail, sysctl_is_applied_in_the_container_namespaces)
{
  bundle_set(&B, "linux.sysctl", json_pack("{s:s}", "net.ipv4.ip_forward", "1"));
  run_sh("cat /proc/sys/net/ipv4/ip_forward");
  assert_ok();
  cr_assert_str_eq(R.out, "1\n");
  FILE *f = fopen("/proc/sys/net/ipv4/ip_forward", "r");
  int host = -1;
  cr_assert_eq(fscanf(f, "%d", &host), 1);
  fclose(f);
  (void) host; /* the host's value is whatever it was; the container's own namespace got 1 */
}

/* ---- process ---- */

Test(jail, env_cwd_user_groups_umask)
{
  bundle_set(&B, "process.env", json_pack("[s,s]", "PATH=/bin", "DJ_FOO=bar"));
  bundle_set(&B, "process.cwd", json_string("/home/user"));
  bundle_set(&B, "process.user", json_pack("{s:i,s:i,s:[i,i],s:i}", "uid", 1000, "gid", 1000, "additionalGids", 5, 6,
                                           "umask", 027));
  run_sh("echo $DJ_FOO; pwd; id; umask");
  assert_ok();
  assert_out("bar\n/home/user\n");
  assert_out("uid=1000(user) gid=1000(user) groups=5,6");
  assert_out("0027");
}

Test(jail, capabilities_are_exactly_the_configured_sets)
{
  run_sh("grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status");
  assert_ok();
  /* runc's default: AUDIT_WRITE(29) KILL(5) NET_BIND_SERVICE(10) */
  assert_out("CapPrm:\t0000000020000420");
  assert_out("CapEff:\t0000000020000420");
  assert_out("CapBnd:\t0000000020000420");
}

Test(jail, ambient_capabilities_survive_the_switch_to_a_user)
{
  const char *sets[] = { "bounding", "effective", "permitted", "inheritable", "ambient" };
  for (size_t i = 0; i < 5; i++) {
    char path[64];
    snprintf(path, sizeof path, "process.capabilities.%s", sets[i]);
    bundle_set(&B, path, json_pack("[s,s]", "CAP_NET_BIND_SERVICE", "CAP_KILL"));
  }
  bundle_set(&B, "process.user", json_pack("{s:i,s:i}", "uid", 1000, "gid", 1000));
  run_sh("id -u; grep -E '^Cap(Eff|Amb)' /proc/self/status");
  assert_ok();
  assert_out("1000\n");
  assert_out("CapEff:\t0000000000000420");
  assert_out("CapAmb:\t0000000000000420");
}

Test(jail, no_new_privileges_follows_the_config)
{
  bundle_set(&B, "process.noNewPrivileges", json_true());
  run_sh("grep NoNewPrivs /proc/self/status");
  assert_ok();
  assert_out("NoNewPrivs:\t1");
  bundle_set(&B, "process.noNewPrivileges", json_false());
  run_sh("grep NoNewPrivs /proc/self/status");
  assert_ok();
  assert_out("NoNewPrivs:\t0");
}

Test(jail, rlimits_are_set)
{
  bundle_set(&B, "process.rlimits", json_pack("[{s:s,s:i,s:i},{s:s,s:i,s:i}]", "type", "RLIMIT_NOFILE", "hard", 2048,
                                              "soft", 512, "type", "RLIMIT_NPROC", "hard", 300, "soft", 200));
  run_sh("ulimit -n; ulimit -Hn; ulimit -u");
  assert_ok();
  cr_assert_str_eq(R.out, "512\n2048\n200\n");
}

static bool have_cap(int cap)
{
  FILE *f = fopen("/proc/self/status", "re");
  cr_assert_not_null(f);
  char line[256];
  unsigned long long eff = 0;
  while (fgets(line, sizeof line, f) != NULL)
    if (sscanf(line, "CapEff: %llx", &eff) == 1)
      break;
  fclose(f);
  return (eff >> cap) & 1;
}

static unsigned long long read_ull(const char *path)
{
  FILE *f = fopen(path, "re");
  cr_assert_not_null(f, "%s", path);
  unsigned long long v = 0;
  cr_assert_eq(fscanf(f, "%llu", &v), 1, "%s", path);
  fclose(f);
  return v;
}

Test(jail, rlimit_above_the_host_hard_limit_is_a_clear_error)
{
  /* fs.nr_open + 1: above what setrlimit grants even with CAP_SYS_RESOURCE. Without the
   * capability the limit in the way is our own hard limit (<= fs.nr_open), with it fs.nr_open. */
  unsigned long long most = read_ull("/proc/sys/fs/nr_open");
  struct rlimit host;
  cr_assert_eq(getrlimit(RLIMIT_NOFILE, &host), 0);
  unsigned long long in_the_way = have_cap(CAP_SYS_RESOURCE) ? most : (unsigned long long) host.rlim_max;
  bundle_set(&B, "process.rlimits", json_pack("[{s:s,s:I,s:I}]", "type", "RLIMIT_NOFILE", "hard",
                                              (json_int_t) most + 1, "soft", (json_int_t) most + 1));
  run_sh("echo should-not-run");
  cr_assert_neq(R.status, 0);
  cr_assert(!has(R.out, "should-not-run"), "%s", R.out);
  char asked[64], lim[64];
  snprintf(asked, sizeof asked, "asked soft %llu hard %llu", most + 1, most + 1);
  snprintf(lim, sizeof lim, "hard limit %llu", in_the_way);
  assert_err("process.rlimits[0]: RLIMIT_NOFILE");
  assert_err(asked);
  assert_err(lim);
}

Test(jail, oom_score_adj_is_set)
{
  bundle_set(&B, "process.oomScoreAdj", json_integer(500));
  run_sh("cat /proc/self/oom_score_adj");
  assert_ok();
  cr_assert_str_eq(R.out, "500\n");
}

/* Is the LSM active on this host? The file donjon itself reads. */
static bool lsm_active(const char *name)
{
  char buf[512] = "";
  FILE *f = fopen("/sys/kernel/security/lsm", "re");
  if (f != NULL) {
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
  }
  for (char *s = strtok(buf, ",\n"); s != NULL; s = strtok(NULL, ",\n"))
    if (strcmp(s, name) == 0)
      return true;
  return false;
}

/* Never accepted and left unenforced: refused without the LSM; with it, applied, so a profile or
 * label the host does not know fails the run (the kernel refuses the exec attribute). */
Test(jail, apparmor_and_selinux_are_refused_without_the_lsm)
{
  bundle_set(&B, "process.apparmorProfile", json_string("donjon-no-such-profile"));
  run_sh("echo should-not-run");
  cr_assert_neq(R.status, 0);
  cr_assert(!has(R.out, "should-not-run"), "%s", R.out);
  assert_err("process.apparmorProfile");
  assert_err("donjon-no-such-profile");
  if (!lsm_active("apparmor"))
    assert_err("AppArmor is not enabled");
  bundle_set(&B, "process.apparmorProfile", NULL);
  bundle_set(&B, "process.selinuxLabel", json_string("system_u:system_r:donjon_no_such_t:s0"));
  run_sh("echo should-not-run");
  cr_assert_neq(R.status, 0);
  cr_assert(!has(R.out, "should-not-run"), "%s", R.out);
  assert_err("process.selinuxLabel");
  assert_err("donjon_no_such_t");
  if (!lsm_active("selinux"))
    assert_err("SELinux is not enabled");
  bundle_set(&B, "process.selinuxLabel", NULL);
  bundle_set(&B, "linux.mountLabel", json_string("system_u:object_r:container_file_t:s0"));
  run_sh("echo should-not-run");
  cr_assert_neq(R.status, 0);
  cr_assert(!has(R.out, "should-not-run"), "%s", R.out);
  assert_err("donjon does not label mounts");
}

Test(jail, a_new_session_keyring_per_container)
{
  long host = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
  cr_assert_gt(host, 0);
  bundle_args(&B, (const char *[]){ "djprobe", "session-keyring", NULL });
  bundle_run(&B, &R, NULL);
  assert_ok();
  long inside = 0;
  cr_assert_eq(sscanf(R.out, "session-keyring: %ld", &inside), 1, "%s", R.out);
  cr_expect_neq(inside, host, "the container shares the caller's session keyring");
  static struct result second;
  bundle_run(&B, &second, NULL);
  long inside2 = 0;
  cr_assert_eq(sscanf(second.out, "session-keyring: %ld", &inside2), 1, "%s", second.out);
  cr_expect_neq(inside2, inside, "two containers share a session keyring");
  /* --no-new-keyring keeps the caller's */
  const char *extra[] = { "--no-new-keyring", NULL };
  bundle_run(&B, &second, extra);
  cr_assert_eq(sscanf(second.out, "session-keyring: %ld", &inside2), 1, "%s", second.out);
  cr_expect_eq(inside2, host);
}

Test(jail, no_pivot_runs_in_the_root_with_the_old_root_gone)
{
  run_sh("grep -c . /proc/self/mountinfo; grep -E ' /(work|home|boot|etc/hostname) ' /proc/self/mountinfo || "
         "echo no-host-mounts; ls /");
  assert_ok();
  assert_out("no-host-mounts");
  const char *extra[] = { "--no-pivot", NULL };
  bundle_sh(&B, "grep -E ' /(work|home|boot) ' /proc/self/mountinfo || echo no-host-mounts; cat /etc/passwd | head -1");
  bundle_run(&B, &R, extra);
  assert_ok();
  assert_out("no-host-mounts");
  assert_out("root:x:0:0");
}

Test(jail, terminal_is_a_pty_relayed_to_donjon)
{
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  cr_assert_geq(master, 0);
  grantpt(master);
  unlockpt(master);
  int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
  cr_assert_geq(slave, 0);
  bundle_set(&B, "process.terminal", json_true());
  bundle_sh(&B, "test -t 0 && test -t 1 && echo is-a-tty; stat -c '%F %t' /dev/console; exit 7");
  bundle_write_config(&B);
  const char *argv[] = { "--root", B.state, "run", "--bundle", B.dir, B.id, NULL };
  donjon_cmd(argv, &R, slave);
  close(slave);
  close(master);
  cr_assert_eq(R.status, 7, "exit %d: %s", R.status, R.err);
  assert_out("is-a-tty");
  assert_out("character special file 88"); /* pty slaves: major 136 = 0x88 */
}

Test(jail, host_fds_do_not_reach_the_workload)
{
  /* donjon inherits fd 9 (not close-on-exec); nothing but --preserve-fds may reach the workload. */
  bundle_sh(&B, "[ -e /proc/self/fd/9 ] && echo leaked || echo not-leaked; ls /proc/self/fd");
  bundle_run_redirected(&B, &R, "9</etc/hostname", NULL);
  assert_ok();
  assert_out("not-leaked");
}

Test(jail, preserve_fds_passes_fd_3)
{
  char path[512];
  snprintf(path, sizeof path, "%s/passed", B.dir);
  FILE *f = fopen(path, "w");
  fputs("passed-content\n", f);
  fclose(f);
  char redirs[600];
  snprintf(redirs, sizeof redirs, "3<%s 4</etc/hostname", path);
  bundle_sh(&B, "cat <&3; [ -e /proc/self/fd/4 ] && echo fd4-leaked || echo fd4-closed");
  const char *extra[] = { "--preserve-fds", "1", NULL };
  bundle_run_redirected(&B, &R, redirs, extra);
  assert_ok();
  assert_out("passed-content\n");
  assert_out("fd4-closed");
}

Test(jail, socket_activation_fds_come_first_and_are_announced)
{
  /* LISTEN_PID is donjon's own pid (exec keeps the shell's), as systemd would set it. */
  char path[512], redirs[1200];
  snprintf(path, sizeof path, "%s/listen", B.dir);
  FILE *f = fopen(path, "w");
  fputs("listen-fd\n", f);
  fclose(f);
  snprintf(redirs, sizeof redirs, "3<%s 4</etc/hostname env LISTEN_FDS=1 LISTEN_PID=$$", path);
  bundle_sh(&B, "cat <&3; echo LISTEN_FDS=$LISTEN_FDS LISTEN_PID=$LISTEN_PID; [ -e /proc/self/fd/4 ] && echo fd4-passed");
  const char *extra[] = { "--preserve-fds", "1", NULL };
  bundle_run_redirected(&B, &R, redirs, extra);
  assert_ok();
  assert_out("listen-fd\n");
  assert_out("LISTEN_FDS=1 LISTEN_PID=1\n");
  assert_out("fd4-passed"); /* --preserve-fds counts after the activation fds */
}

Test(jail, cwd_through_a_leaked_fd_is_refused)
{
  /* CVE-2024-21626: a cwd of /proc/self/fd/N naming one of donjon's own directory fds. */
  bundle_set(&B, "process.cwd", json_string("/proc/self/fd/7"));
  bundle_sh(&B, "pwd; ls");
  bundle_run_redirected(&B, &R, "7</sys/fs/cgroup", NULL);
  cr_assert_neq(R.status, 0, "ran with cwd %s", R.out);
  assert_err("process.cwd");
}

Test(jail, donjon_runs_from_a_read_only_copy_of_itself)
{
  /* CVE-2019-5736: a process that got hold of /proc/<donjon>/exe reopens it for writing once
   * donjon has exited (while it runs the kernel says ETXTBSY anyway). It must get EROFS. */
  char pidfile[512];
  snprintf(pidfile, sizeof pidfile, "%s/pid", B.dir);
  bundle_sh(&B, "sleep 0.5");
  const char *extra[] = { "--pid-file", pidfile, NULL };
  int fds[2];
  pid_t pid = bundle_start(&B, extra, fds);
  cr_assert_gt(read_pid_file(pidfile), 0);
  char exe[64];
  snprintf(exe, sizeof exe, "/proc/%d/exe", (int) pid);
  int held = open(exe, O_PATH | O_CLOEXEC);
  cr_assert_geq(held, 0);
  struct statvfs sv;
  cr_assert_eq(fstatvfs(held, &sv), 0);
  cr_expect(sv.f_flag & ST_RDONLY, "donjon's binary is on a writable mount");
  bundle_wait(pid, fds, &R);
  assert_ok();
  char reopen[64];
  snprintf(reopen, sizeof reopen, "/proc/self/fd/%d", held);
  int wfd = open(reopen, O_WRONLY | O_CLOEXEC);
  int e = errno;
  cr_expect_lt(wfd, 0, "donjon's binary was opened for writing");
  cr_expect_eq(e, EROFS, "reopen for writing: %s", strerror(e));
  close(held);
}

Test(jail, exec_refuses_to_enter_from_a_binary_it_could_overwrite)
{
  char pidfile[PATH_MAX + 16];
  snprintf(pidfile, sizeof pidfile, "%s/pid", B.dir);
  bundle_sh(&B, "sleep 30");
  const char *extra[] = { "--pid-file", pidfile, NULL };
  int fds[2];
  pid_t pid = bundle_start(&B, extra, fds);
  cr_assert_gt(read_pid_file(pidfile), 0);
  static char err[4096];
  /* an abbreviated global option (getopt_long's "--log-f" is --log-format): still re-executed */
  const char *abbreviated[] = { "--root", B.state, "--log-f", "json", "exec", B.id, "true", NULL };
  int rc = donjon_without_cap(-1, abbreviated, err, sizeof err);
  cr_expect_eq(rc, 0, "exit %d: %s", rc, err);
  /* without CAP_SYS_ADMIN open_tree fails, no read-only copy is made: exec fails closed, as run does */
  const char *plain[] = { "--root", B.state, "exec", B.id, "true", NULL };
  rc = donjon_without_cap(CAP_SYS_ADMIN, plain, err, sizeof err);
  cr_expect_neq(rc, 0);
  cr_expect(has(err, "refusing to enter a container from a binary it could overwrite"), "%s", err);
  const char *kill_argv[] = { "--root", B.state, "kill", B.id, "KILL", NULL };
  static struct result killed;
  donjon_cmd(kill_argv, &killed, -1);
  bundle_wait(pid, fds, &R);
  cr_expect_eq(R.status, 128 + SIGKILL, "exit %d: %s", R.status, R.err);
}

/* ---- seccomp ---- */

Test(jail, seccomp_profile_is_loaded_and_denies)
{
  json_error_t je;
  json_t *sc = json_loads("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_X86_64\"],"
                          " \"syscalls\": [{\"names\": [\"mkdir\", \"mkdirat\"], \"action\": \"SCMP_ACT_ERRNO\","
                          " \"errnoRet\": 1}, {\"names\": [\"acct\"], \"action\": \"SCMP_ACT_KILL_PROCESS\"}]}",
                          0, &je);
  cr_assert_not_null(sc, "%s", je.text);
  bundle_set(&B, "linux.seccomp", sc);
  json_array_append_new(bundle_get(&B, "mounts"),
                        json_pack("{s:s,s:s,s:s}", "destination", "/tmp", "type", "tmpfs", "source", "tmpfs"));
  run_sh("grep Seccomp: /proc/self/status; mkdir /tmp/x; echo survived; djprobe acct; echo after $?");
  assert_ok();
  assert_out("Seccomp:\t2");
  assert_err("mkdir: can't create directory '/tmp/x': Operation not permitted");
  assert_out("survived");
  assert_out("after 159"); /* SCMP_ACT_KILL_PROCESS: killed by SIGSYS */
}

Test(jail, a_syscall_unknown_to_libseccomp_is_reported_not_dropped_silently)
{
  bundle_set(&B, "linux.seccomp",
             json_pack("{s:s,s:[{s:[s,s],s:s,s:i}]}", "defaultAction", "SCMP_ACT_ALLOW", "syscalls", "names",
                       "donjon_made_up_syscall", "mkdir", "action", "SCMP_ACT_ERRNO", "errnoRet", 1));
  json_array_append_new(bundle_get(&B, "mounts"),
                        json_pack("{s:s,s:s,s:s}", "destination", "/tmp", "type", "tmpfs", "source", "tmpfs"));
  run_sh("mkdir /tmp/x 2>/dev/null || echo mkdir-denied");
  assert_ok();
  assert_err("linux.seccomp: syscall \"donjon_made_up_syscall\" is unknown to this libseccomp; its rule is not applied");
  assert_out("mkdir-denied"); /* the rest of the rule holds */
}

Test(jail, a_seccomp_profile_that_denies_execve_is_refused_up_front)
{
  bundle_set(&B, "linux.seccomp", json_pack("{s:s,s:[{s:[s],s:s}]}", "defaultAction", "SCMP_ACT_ALLOW", "syscalls",
                                            "names", "execve", "action", "SCMP_ACT_ERRNO"));
  run_sh("echo should-not-run");
  cr_assert_neq(R.status, 0);
  cr_assert(!has(R.out, "should-not-run"), "%s", R.out);
  assert_err("linux.seccomp");
  assert_err("execve");
}

/* ---- cgroups ---- */

Test(jail, memory_limit_oom_kills_the_container_not_the_host)
{
  /* The shell (pid 1) outlives its child: it reports how the child ended and what the kernel's
   * OOM killer counted in the container's memory cgroup, then ends with the child's status. */
  bundle_set(&B, "linux.resources.memory", json_pack("{s:i,s:i}", "limit", 32 << 20, "swap", 32 << 20));
  bundle_sh(&B, "djprobe alloc-mb 200; s=$?; echo child=$s; grep oom_kill /sys/fs/cgroup/memory/memory.oom_control; "
                "exit $s");
  int fds[2];
  pid_t pid = bundle_start(&B, NULL, fds);
  siginfo_t si = { 0 };
  cr_assert_eq(waitid(P_PID, (id_t) pid, &si, WEXITED | WNOWAIT), 0);
  bundle_wait(pid, fds, &R);
  /* donjon itself was not killed: it exited with the container's 128+SIGKILL */
  cr_assert_eq(si.si_code, CLD_EXITED, "donjon ended by signal %d: %s", si.si_status, R.err);
  cr_assert_eq(si.si_status, 128 + SIGKILL, "exit %d: %s %s", si.si_status, R.out, R.err);
  assert_out("child=137\n");
  assert_out("oom_kill 1\n"); /* the kernel's OOM killer did it, in the container's cgroup */
}

Test(jail, pids_limit_stops_forks)
{
  bundle_set(&B, "linux.resources.pids", json_pack("{s:i}", "limit", 10));
  bundle_args(&B, (const char *[]){ "djprobe", "fork-many", "30", NULL });
  bundle_run(&B, &R, NULL);
  cr_assert_eq(R.status, 1, "exit %d: %s %s", R.status, R.out, R.err);
  assert_out("fork-many: EAGAIN");
}

Test(jail, device_rules_stop_a_container_holding_cap_mknod)
{
  /* containerd's default config grants CAP_MKNOD; only the device allowlist stops this. */
  const char *sets[] = { "process.capabilities.bounding", "process.capabilities.effective",
                         "process.capabilities.permitted" };
  for (size_t i = 0; i < 3; i++)
    bundle_set(&B, sets[i], json_pack("[s,s,s]", "CAP_MKNOD", "CAP_DAC_OVERRIDE", "CAP_CHOWN"));
  json_array_append_new(bundle_get(&B, "mounts"),
                        json_pack("{s:s,s:s,s:s}", "destination", "/tmp", "type", "tmpfs", "source", "tmpfs"));
  /* A loop device: a host root process can open a fresh node of it (checked here), and a
   * container with CAP_MKNOD could, through /dev/loop-control, attach any file to it. */
  cr_assert_eq(system("rm -f /tmp/dj-loop-probe && mknod /tmp/dj-loop-probe b 7 0 && head -c 1 /tmp/dj-loop-probe "
                      ">/dev/null; s=$?; rm -f /tmp/dj-loop-probe; exit $s"), 0, "the host cannot open loop0 itself");
  run_sh("mknod /tmp/disk b 7 0 && echo made; head -c 1 /tmp/disk >/dev/null && echo opened; "
         "head -c 1 /dev/null && echo null-ok");
  cr_assert(!has(R.out, "opened"), "the container opened a host block device:\n%s", R.out);
  cr_assert(!has(R.out, "made"), "mknod of a block device was allowed:\n%s", R.out);
  assert_err("mknod: /tmp/disk: Operation not permitted"); /* CAP_MKNOD is held: the cgroup refused */
  assert_out("null-ok");
}

/* ---- failures leave nothing behind ---- */

Test(jail, invalid_config_is_refused_with_its_json_path)
{
  bundle_set(&B, "linux.seccomp",
             json_pack("{s:s,s:[{s:[s],s:s}]}", "defaultAction", "SCMP_ACT_ALLOW", "syscalls", "names", "mkdir",
                       "action", "SCMP_ACT_EXPLODE"));
  run_sh("true");
  cr_assert_neq(R.status, 0);
  assert_err("config.json");
  assert_err("linux.seccomp.syscalls[0].action");
  assert_err("SCMP_ACT_EXPLODE");
}

Test(jail, failed_setup_removes_cgroups_state_and_mounts)
{
  char src[PATH_MAX + 16];
  snprintf(src, sizeof src, "%s/does-not-exist", B.dir);
  add_bind("/mnt/x", src, json_pack("[s]", "bind"));
  bundle_set(&B, "linux.resources.pids", json_pack("{s:i}", "limit", 10));
  run_sh("true");
  cr_assert_neq(R.status, 0);
  assert_err("does-not-exist");
  /* teardown asserts nothing is left */
}

Test(jail, an_id_in_use_is_refused)
{
  char pidfile[PATH_MAX + 16];
  snprintf(pidfile, sizeof pidfile, "%s/pid", B.dir);
  bundle_sh(&B, "sleep 1");
  const char *extra[] = { "--pid-file", pidfile, NULL };
  int fds[2];
  pid_t pid = bundle_start(&B, extra, fds);
  cr_assert_gt(read_pid_file(pidfile), 0);
  static struct result second;
  bundle_run(&B, &second, NULL);
  cr_expect_neq(second.status, 0);
  cr_expect(has(second.err, "already exists"), "%s", second.err);
  bundle_wait(pid, fds, &R);
  assert_ok();
}
