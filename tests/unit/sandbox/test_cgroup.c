/* cgroups on this machine's real hierarchies (runs as root). Every test uses paths named
 * /donjon-test-<pid>-<n>, never the machine's own cgroup (process_api), and removes what it made,
 * also when an assertion fails (the .fini of each test). */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/cgroup_internal.h"

/* ---- paths this test made, removed at the end whatever happened ---- */

#define MAX_PATHS 16
static char made[MAX_PATHS][256];
static size_t n_made;
static int counter;

static const char *test_path(const char *suffix)
{
  cr_assert_lt(n_made, MAX_PATHS);
  char *p = made[n_made++];
  snprintf(p, sizeof made[0], "/donjon-test-%d-%d%s", (int) getpid(), counter++, suffix ? suffix : "");
  return p;
}

static void kill_procs(const char *dir)
{
  char path[512];
  snprintf(path, sizeof path, "%s/freezer.state", dir);
  FILE *fz = fopen(path, "we"); /* frozen tasks die only once thawed */
  if (fz != NULL) {
    fputs("THAWED", fz);
    fclose(fz);
  }
  for (int round = 0; round < 100; round++) {
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    FILE *f = fopen(path, "re");
    if (f == NULL)
      return;
    long pid;
    bool any = false;
    while (fscanf(f, "%ld", &pid) == 1) {
      kill((pid_t) pid, SIGKILL);
      any = true;
    }
    fclose(f);
    if (!any)
      return;
    usleep(2000);
  }
}

/* rmdir mount/path and each of its parents up to the first component, deepest first. */
static void remove_tree(const char *mount, const char *path)
{
  char dir[512];
  snprintf(dir, sizeof dir, "%s%s", mount, path);
  size_t mlen = strlen(mount);
  while (strlen(dir) > mlen + 1) {
    if (strcmp(dir + mlen, "/donjon") == 0)
      break; /* shared with every container on the machine: never ours to remove */
    kill_procs(dir);
    for (int i = 0; i < 100 && rmdir(dir) < 0 && errno == EBUSY; i++)
      usleep(2000);
    char *slash = strrchr(dir, '/');
    if (slash == NULL || (size_t) (slash - dir) <= mlen)
      break;
    *slash = '\0';
  }
}

static void each_mount(void (*fn)(const char *mount, const char *path), const char *path)
{
  FILE *f = fopen("/proc/self/mountinfo", "re");
  cr_assert_not_null(f);
  char line[1024];
  while (fgets(line, sizeof line, f) != NULL) {
    char root[256], mnt[256], fstype[32];
    char *dash = strstr(line, " - ");
    if (dash == NULL || sscanf(line, "%*s %*s %*s %255s %255s", root, mnt) != 2 ||
        sscanf(dash + 3, "%31s", fstype) != 1)
      continue;
    if (strcmp(root, "/") == 0 && (strcmp(fstype, "cgroup") == 0 || strcmp(fstype, "cgroup2") == 0))
      fn(mnt, path);
  }
  fclose(f);
}

static void remove_nodes(void);

static void cleanup(void)
{
  remove_nodes();
  for (size_t i = 0; i < n_made; i++)
    each_mount(remove_tree, made[i]);
  n_made = 0;
}

static bool exists_anywhere_found;
static void check_exists(const char *mount, const char *path)
{
  char dir[512];
  struct stat st;
  snprintf(dir, sizeof dir, "%s%s", mount, path);
  if (stat(dir, &st) == 0)
    exists_anywhere_found = true;
}

static bool exists_anywhere(const char *path)
{
  exists_anywhere_found = false;
  each_mount(check_exists, path);
  return exists_anywhere_found;
}

/* ---- specs and children ---- */

static void spec_init(struct dj_spec *s, const char *cgroups_path)
{
  memset(s, 0, sizeof *s);
  struct dj_resources *r = &s->resources;
  r->memory_limit = r->memory_reservation = r->memory_swap = r->memory_kernel = DJ_UNSET_I64;
  r->memory_swappiness = r->pids_limit = r->cpu_quota = DJ_UNSET_I64;
  s->cgroups_path = cgroups_path;
}

struct child {
  pid_t pid;
  int go;       /* write a byte: the child runs fn */
  int result;   /* what fn wrote */
};

/* Fork a child that waits until it is placed, then runs fn(arg, result fd) and exits with its value. */
static struct child spawn(int (*fn)(void *arg, int out), void *arg)
{
  int go[2], res[2];
  cr_assert_eq(pipe2(go, O_CLOEXEC), 0);
  cr_assert_eq(pipe2(res, O_CLOEXEC), 0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    close(go[1]);
    close(res[0]);
    char c;
    if (read(go[0], &c, 1) != 1)
      _exit(100);
    _exit(fn(arg, res[1]));
  }
  close(go[0]);
  close(res[1]);
  return (struct child) { .pid = pid, .go = go[1], .result = res[0] };
}

static int run(struct child *c)
{
  cr_assert_eq(write(c->go, "g", 1), 1);
  close(c->go);
  int status;
  cr_assert_eq(waitpid(c->pid, &status, 0), c->pid);
  return status;
}

static int sleeper(void *arg, int out)
{
  (void) arg;
  (void) out;
  pause();
  return 0;
}

static void read_file(const char *dir, const char *file, char *buf, size_t size)
{
  dj_err err = { 0 };
  cr_assert_eq(dj_cgroup_read(dir, file, buf, size, &err), 0, "%s", err.msg);
}

static const struct dj_cgroup_dir *dir_with(const struct dj_cgroup *cg, const char *controller)
{
  for (size_t i = 0; i < cg->n_dirs; i++) {
    char buf[128];
    snprintf(buf, sizeof buf, ",%s,", cg->dirs[i].controllers);
    char want[64];
    snprintf(want, sizeof want, ",%s,", controller);
    if (!cg->dirs[i].v2 && strstr(buf, want) != NULL)
      return &cg->dirs[i];
  }
  cr_assert_fail("no v1 hierarchy with %s", controller);
  return NULL;
}

TestSuite(cgroup, .fini = cleanup);

Test(cgroup, detects_hybrid_from_mountinfo)
{
  enum dj_cgroup_mode mode = 0;
  dj_err err = { 0 };
  cr_assert_eq(dj_cgroup_detect(&mode, &err), 0, "%s", err.msg);
  cr_assert_eq(mode, DJ_CGROUP_HYBRID); /* this machine: v1 controllers and /sys/fs/cgroup/unified */
}

Test(cgroup, create_applies_resources)
{
  struct dj_spec s;
  spec_init(&s, test_path(NULL));
  struct dj_resources *r = &s.resources;
  r->memory_limit = 64 << 20;
  r->memory_swap = 96 << 20;
  r->memory_reservation = 32 << 20;
  r->memory_swappiness = 10;
  r->pids_limit = 20;
  r->cpu_shares = 512, r->has_cpu_shares = true;
  r->cpu_period = 50000, r->has_cpu_period = true;
  r->cpu_quota = 25000;
  r->cpuset_cpus = "0";
  r->cpuset_mems = "0";
  struct dj_cgroup *cg = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_cgroup_create(&s, "unused", &cg, &err), 0, "%s", err.msg);
  cr_assert_str_eq(dj_cgroup_path(cg), s.cgroups_path);
  char buf[4096];
  const char *mem = dir_with(cg, "memory")->dir;
  read_file(mem, "memory.limit_in_bytes", buf, sizeof buf);
  cr_expect_str_eq(buf, "67108864");
  read_file(mem, "memory.memsw.limit_in_bytes", buf, sizeof buf);
  cr_expect_str_eq(buf, "100663296");
  read_file(mem, "memory.soft_limit_in_bytes", buf, sizeof buf);
  cr_expect_str_eq(buf, "33554432");
  read_file(mem, "memory.swappiness", buf, sizeof buf);
  cr_expect_str_eq(buf, "10");
  read_file(dir_with(cg, "pids")->dir, "pids.max", buf, sizeof buf);
  cr_expect_str_eq(buf, "20");
  const char *cpu = dir_with(cg, "cpu")->dir;
  read_file(cpu, "cpu.shares", buf, sizeof buf);
  cr_expect_str_eq(buf, "512");
  read_file(cpu, "cpu.cfs_period_us", buf, sizeof buf);
  cr_expect_str_eq(buf, "50000");
  read_file(cpu, "cpu.cfs_quota_us", buf, sizeof buf);
  cr_expect_str_eq(buf, "25000");
  const char *cpuset = dir_with(cg, "cpuset")->dir;
  read_file(cpuset, "cpuset.cpus", buf, sizeof buf);
  cr_expect_str_eq(buf, "0");
  read_file(cpuset, "cpuset.mems", buf, sizeof buf);
  cr_expect_str_eq(buf, "0");
  /* devices: "a" denied first, so no blanket rule is left; /dev/null stays allowed */
  read_file(dir_with(cg, "devices")->dir, "devices.list", buf, sizeof buf);
  cr_expect_null(strstr(buf, "a *:* rwm"), "devices.list: %s", buf);
  cr_expect_not_null(strstr(buf, "c 1:3 rw"), "devices.list: %s", buf);
  cr_assert_eq(dj_cgroup_destroy(cg, &err), 0, "%s", err.msg);
}

/* The blkio weight where the kernel's I/O scheduler has one (CFQ's file or BFQ's); where it has
 * none (no CFQ or BFQ, as on some VM kernels) create fails saying so, and leaves no cgroup. */
Test(cgroup, blkio_weight_applied_or_refused_with_the_reason)
{
  struct dj_spec s;
  spec_init(&s, test_path(NULL));
  s.resources.blkio_weight = 500, s.resources.has_blkio_weight = true;
  /* what the kernel offers, at the blkio root (the test's cgroup goes right under it) */
  bool weight = dj_cgroup_has("/sys/fs/cgroup/blkio", "blkio.weight") ||
                dj_cgroup_has("/sys/fs/cgroup/blkio", "blkio.bfq.weight");
  struct dj_cgroup *cg = NULL;
  dj_err err = { 0 };
  int r = dj_cgroup_create(&s, "unused", &cg, &err);
  if (weight) {
    cr_assert_eq(r, 0, "%s", err.msg);
    char buf[256];
    const char *blkio = dir_with(cg, "blkio")->dir;
    read_file(blkio, dj_cgroup_has(blkio, "blkio.weight") ? "blkio.weight" : "blkio.bfq.weight", buf, sizeof buf);
    cr_expect_not_null(strstr(buf, "500"), "%s", buf);
    cr_assert_eq(dj_cgroup_destroy(cg, &err), 0, "%s", err.msg);
  } else {
    cr_assert_lt(r, 0, "a weight the kernel cannot set was accepted");
    cr_expect_not_null(strstr(err.msg, "blockIO.weight 500"), "%s", err.msg);
    cr_expect_not_null(strstr(err.msg, "no CFQ or BFQ"), "%s", err.msg);
    cr_expect_not(exists_anywhere(s.cgroups_path), "the failed create left %s", s.cgroups_path);
  }
}

Test(cgroup, memory_raised_with_swap)
{
  /* limit and memsw raised together beyond the old memsw must not fail with EINVAL */
  struct dj_spec s;
  spec_init(&s, test_path(NULL));
  s.resources.memory_limit = 512 << 20;
  s.resources.memory_swap = 512 << 20;
  struct dj_cgroup *cg = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_cgroup_create(&s, "x", &cg, &err), 0, "%s", err.msg);
  char buf[64];
  read_file(dir_with(cg, "memory")->dir, "memory.memsw.limit_in_bytes", buf, sizeof buf);
  cr_expect_str_eq(buf, "536870912");
  cr_assert_eq(dj_cgroup_destroy(cg, &err), 0, "%s", err.msg);
}

static bool in_cgroup(pid_t pid, const char *line_prefix, const char *path)
{
  char file[64], line[512], want[512];
  snprintf(file, sizeof file, "/proc/%d/cgroup", (int) pid);
  snprintf(want, sizeof want, "%s%s\n", line_prefix, path);
  FILE *f = fopen(file, "re");
  cr_assert_not_null(f);
  bool found = false;
  while (fgets(line, sizeof line, f) != NULL) {
    char *colon = strchr(line, ':'); /* "N:controllers:path": compare from the controllers on */
    if (colon != NULL && strcmp(colon + 1, want) == 0)
      found = true;
  }
  fclose(f);
  return found;
}

Test(cgroup, enter_places_the_child_in_every_hierarchy)
{
  struct dj_spec s;
  spec_init(&s, test_path(NULL));
  struct dj_cgroup *cg = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_cgroup_create(&s, "x", &cg, &err), 0, "%s", err.msg);
  struct child c = spawn(sleeper, NULL);
  cr_assert_eq(dj_cgroup_enter(cg, c.pid, &err), 0, "%s", err.msg);
  size_t v1 = 0;
  for (size_t i = 0; i < cg->n_dirs; i++) {
    char prefix[160];
    snprintf(prefix, sizeof prefix, "%s:", cg->dirs[i].controllers);
    cr_expect(in_cgroup(c.pid, prefix, s.cgroups_path), "pid %d not in %s", (int) c.pid, cg->dirs[i].dir);
    v1 += !cg->dirs[i].v2;
  }
  cr_expect_geq(v1, 8); /* memory pids cpu cpuacct cpuset devices freezer blkio name=systemd */
  cr_expect(in_cgroup(c.pid, ":", s.cgroups_path), "not in the unified tree");
  pid_t *pids = NULL;
  size_t n = 0;
  cr_assert_eq(dj_cgroup_pids(cg, &pids, &n, &err), 0, "%s", err.msg);
  cr_expect_eq(n, 1);
  cr_expect_eq(n > 0 ? pids[0] : 0, c.pid);
  free(pids);
  /* destroy kills what is still inside and removes every directory it made */
  cr_assert_eq(dj_cgroup_destroy(cg, &err), 0, "%s", err.msg);
  int status;
  cr_assert_eq(waitpid(c.pid, &status, 0), c.pid);
  cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  cr_expect_not(exists_anywhere(s.cgroups_path), "%s left behind", s.cgroups_path);
}

static int hog(void *arg, int out)
{
  (void) out;
  size_t total = (size_t) (uintptr_t) arg;
  char *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return 2;
  for (size_t off = 0; off < total; off += 4096)
    p[off] = 1;
  return 0; /* reached only if the limit did not hold */
}

Test(cgroup, memory_limit_oom_kills_the_child_only)
{
  struct dj_spec s;
  spec_init(&s, test_path(NULL));
  s.resources.memory_limit = 32 << 20;
  s.resources.memory_swap = 32 << 20; /* no swap to escape into */
  struct dj_cgroup *cg = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_cgroup_create(&s, "x", &cg, &err), 0, "%s", err.msg);
  struct child c = spawn(hog, (void *) (uintptr_t) (256u << 20));
  cr_assert_eq(dj_cgroup_enter(cg, c.pid, &err), 0, "%s", err.msg);
  int status = run(&c);
  cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %#x", status);
  char buf[256];
  read_file(dir_with(cg, "memory")->dir, "memory.oom_control", buf, sizeof buf);
  cr_expect_not_null(strstr(buf, "oom_kill 1"), "%s", buf); /* the kernel's OOM killer did it */
  cr_assert_eq(dj_cgroup_destroy(cg, &err), 0, "%s", err.msg);
  /* the same allocation outside the cgroup works: the limit was the container's, not ours */
  struct child free_child = spawn(hog, (void *) (uintptr_t) (64u << 20));
  status = run(&free_child);
  cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
}

static int forker(void *arg, int out)
{
  (void) arg;
  int made_ok = 0;
  for (int i = 0; i < 20; i++) {
    pid_t p = fork();
    if (p == 0) {
      pause();
      _exit(0);
    }
    if (p < 0) {
      int e = errno;
      if (write(out, &e, sizeof e) != sizeof e)
        return 99;
      break;
    }
    made_ok++;
  }
  return made_ok; /* destroy kills the children left */
}

Test(cgroup, pids_limit_stops_forks)
{
  struct dj_spec s;
  spec_init(&s, test_path(NULL));
  s.resources.pids_limit = 5;
  struct dj_cgroup *cg = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_cgroup_create(&s, "x", &cg, &err), 0, "%s", err.msg);
  struct child c = spawn(forker, NULL);
  cr_assert_eq(dj_cgroup_enter(cg, c.pid, &err), 0, "%s", err.msg);
  int status = run(&c);
  cr_assert(WIFEXITED(status));
  cr_expect_eq(WEXITSTATUS(status), 4); /* itself and four children */
  int e = 0;
  cr_expect_eq(read(c.result, &e, sizeof e), (ssize_t) sizeof e);
  cr_expect_eq(e, EAGAIN);
  cr_assert_eq(dj_cgroup_destroy(cg, &err), 0, "%s", err.msg); /* kills the four sleepers */
  cr_expect_not(exists_anywhere(s.cgroups_path));
}

/* ---- devices ---- */

struct open_case {
  const char *path;
  int flags;
};

static int try_opens(void *arg, int out)
{
  const struct open_case *cases = arg;
  for (size_t i = 0; cases[i].path != NULL; i++) {
    int fd = open(cases[i].path, cases[i].flags | O_CLOEXEC);
    int e = fd < 0 ? errno : 0;
    if (fd >= 0)
      close(fd);
    if (write(out, &e, sizeof e) != sizeof e)
      return 99;
  }
  return 0;
}

/* Run the opens in a child placed by place(pid); results[i] is 0 or the errno. */
static void opens_in(void (*place)(pid_t pid, void *ctx), void *ctx, const struct open_case *cases, int *results)
{
  struct child c = spawn(try_opens, (void *) cases);
  place(c.pid, ctx);
  int status = run(&c);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
  for (size_t i = 0; cases[i].path != NULL; i++)
    cr_assert_eq(read(c.result, &results[i], sizeof results[i]), (ssize_t) sizeof results[i]);
  close(c.result);
}

static void place_cg(pid_t pid, void *ctx)
{
  dj_err err = { 0 };
  cr_assert_eq(dj_cgroup_enter(ctx, pid, &err), 0, "%s", err.msg);
}

/* Private nodes for /dev/kmsg (c 1:11) and /dev/mem (c 1:1): not among the defaults every
 * container gets, and present whatever this machine's /dev holds. */
static char kmsg_node[128], mem_node[128];
static void make_node(char *path, size_t size, const char *name, int minor)
{
  snprintf(path, size, "/tmp/donjon-test-%s-%d", name, (int) getpid());
  unlink(path);
  cr_assert_eq(mknod(path, S_IFCHR | 0600, makedev(1, minor)), 0, "mknod: %s", strerror(errno));
}
static void make_kmsg_node(void)
{
  make_node(kmsg_node, sizeof kmsg_node, "kmsg", 11);
  make_node(mem_node, sizeof mem_node, "mem", 1);
}
static void remove_nodes(void)
{
  if (kmsg_node[0] != '\0')
    unlink(kmsg_node);
  if (mem_node[0] != '\0')
    unlink(mem_node);
}

Test(cgroup, v1_device_rules_deny_and_allow)
{
  make_kmsg_node();
  struct dj_device_rule rules[] = {
    { .allow = false, .type = 'a', .major = -1, .minor = -1, .access = "rwm" },
    { .allow = true, .type = 'c', .major = 1, .minor = 11, .access = "r" },
  };
  struct dj_spec s;
  spec_init(&s, test_path(NULL));
  s.resources.devices = rules;
  s.resources.n_devices = 2;
  struct dj_cgroup *cg = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_cgroup_create(&s, "x", &cg, &err), 0, "%s", err.msg);
  struct open_case cases[] = {
    { kmsg_node, O_RDONLY }, { kmsg_node, O_WRONLY }, { "/dev/null", O_RDWR }, { "/dev/full", O_RDONLY },
    { mem_node, O_RDONLY }, { NULL, 0 },
  };
  int res[5];
  opens_in(place_cg, cg, cases, res);
  cr_expect_eq(res[0], 0, "kmsg read: %s", strerror(res[0]));     /* allowed "r" */
  cr_expect_eq(res[1], EPERM, "kmsg write: %s", strerror(res[1])); /* not in "r" */
  cr_expect_eq(res[2], 0, "null: %s", strerror(res[2]));           /* a default */
  cr_expect_eq(res[3], 0, "full: %s", strerror(res[3]));           /* a default */
  cr_expect_eq(res[4], EPERM, "mem: %s", strerror(res[4]));        /* denied by "a" */
  cr_assert_eq(dj_cgroup_destroy(cg, &err), 0, "%s", err.msg);
  remove_nodes();
}

Test(cgroup, v1_later_deny_wins)
{
  make_kmsg_node();
  struct dj_device_rule rules[] = {
    { .allow = true, .type = 'c', .major = 1, .minor = 11, .access = "rw" },
    { .allow = false, .type = 'c', .major = 1, .minor = 11, .access = "w" },
  };
  struct dj_spec s;
  spec_init(&s, test_path(NULL));
  s.resources.devices = rules;
  s.resources.n_devices = 2;
  struct dj_cgroup *cg = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_cgroup_create(&s, "x", &cg, &err), 0, "%s", err.msg);
  struct open_case cases[] = { { kmsg_node, O_RDONLY }, { kmsg_node, O_RDWR }, { NULL, 0 } };
  int res[2];
  opens_in(place_cg, cg, cases, res);
  cr_expect_eq(res[0], 0, "%s", strerror(res[0]));
  cr_expect_eq(res[1], EPERM, "%s", strerror(res[1]));
  cr_assert_eq(dj_cgroup_destroy(cg, &err), 0, "%s", err.msg);
  remove_nodes();
}

/* The eBPF program on a directory of the unified tree, where BPF device programs work even
 * though the devices controller is on v1. */
static char *unified_dir(void)
{
  const char *p = test_path(NULL);
  char *dir = NULL;
  cr_assert_gt(asprintf(&dir, "/sys/fs/cgroup/unified%s", p), 0);
  cr_assert_eq(mkdir(dir, 0755), 0, "mkdir %s: %s", dir, strerror(errno));
  return dir;
}

static void place_unified(pid_t pid, void *ctx)
{
  char val[32];
  snprintf(val, sizeof val, "%d", (int) pid);
  dj_err err = { 0 };
  cr_assert_eq(dj_cgroup_write(ctx, "cgroup.procs", val, &err), 0, "%s", err.msg);
}

static void bpf_opens(const struct dj_device_rule *rules, size_t n, const struct open_case *cases, int *res)
{
  char *dir = unified_dir();
  dj_err err = { 0 };
  cr_assert_eq(dj_cgroup_bpf_devices(dir, rules, n, &err), 0, "%s", err.msg);
  opens_in(place_unified, dir, cases, res);
  cr_assert_eq(rmdir(dir), 0, "rmdir %s: %s", dir, strerror(errno));
  free(dir);
}

Test(cgroup, bpf_program_allows_and_denies)
{
  struct dj_device_rule rules[] = {
    { .allow = true, .type = 'c', .major = 1, .minor = 5, .access = "r" },   /* zero: read only */
    { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "rwm" }, /* null */
    { .allow = false, .type = 'c', .major = 1, .minor = 3, .access = "w" },  /* ... but not written */
  };
  struct open_case cases[] = {
    { "/dev/zero", O_RDONLY }, { "/dev/zero", O_WRONLY }, { "/dev/null", O_RDONLY },
    { "/dev/null", O_RDWR },   { "/dev/null", O_WRONLY }, { "/dev/full", O_RDONLY }, { NULL, 0 },
  };
  int res[6];
  bpf_opens(rules, 3, cases, res);
  cr_expect_eq(res[0], 0, "zero r: %s", strerror(res[0]));
  cr_expect_eq(res[1], EPERM, "zero w: %s", strerror(res[1]));
  cr_expect_eq(res[2], 0, "null r: %s", strerror(res[2]));
  cr_expect_eq(res[3], EPERM, "null rw: %s", strerror(res[3])); /* the deny names one access asked */
  cr_expect_eq(res[4], EPERM, "null w: %s", strerror(res[4]));
  cr_expect_eq(res[5], EPERM, "full: %s", strerror(res[5]));    /* no rule: denied */
}

Test(cgroup, bpf_last_rule_wins_around_a_catch_all)
{
  struct dj_device_rule deny_then_all[] = {
    { .allow = false, .type = 'c', .major = 1, .minor = 3, .access = "rwm" },
    { .allow = true, .type = 'a', .major = -1, .minor = -1, .access = "rwm" },
  };
  struct dj_device_rule all_then_deny[] = {
    { .allow = true, .type = 'a', .major = -1, .minor = -1, .access = "rwm" },
    { .allow = false, .type = 'c', .major = 1, .minor = 3, .access = "rwm" },
  };
  struct open_case cases[] = { { "/dev/null", O_RDONLY }, { "/dev/zero", O_RDONLY }, { NULL, 0 } };
  int res[2];
  bpf_opens(deny_then_all, 2, cases, res); /* the catch-all is last: everything opens */
  cr_expect_eq(res[0], 0, "%s", strerror(res[0]));
  cr_expect_eq(res[1], 0, "%s", strerror(res[1]));
  bpf_opens(all_then_deny, 2, cases, res);
  cr_expect_eq(res[0], EPERM, "%s", strerror(res[0]));
  cr_expect_eq(res[1], 0, "%s", strerror(res[1]));
}

Test(cgroup, bpf_block_and_wildcards)
{
  struct dj_device_rule rules[] = {
    { .allow = true, .type = 'b', .major = 1, .minor = -1, .access = "rwm" }, /* block 1:*: not char 1:* */
    { .allow = true, .type = 'c', .major = 1, .minor = -1, .access = "r" },
  };
  struct open_case cases[] = { { "/dev/urandom", O_RDONLY }, { "/dev/urandom", O_WRONLY },
                               { "/dev/tty", O_RDONLY }, { NULL, 0 } };
  int res[3];
  bpf_opens(rules, 2, cases, res);
  cr_expect_eq(res[0], 0, "%s", strerror(res[0]));
  cr_expect_eq(res[1], EPERM, "%s", strerror(res[1]));
  cr_expect_neq(res[2], 0); /* 5:0 is not 1:*: EPERM (or ENXIO were it allowed without a tty) */
  cr_expect_eq(res[2], EPERM, "%s", strerror(res[2]));
}

/* ---- levels, failures, paths ---- */

Test(cgroup, cpuset_copied_into_every_new_level)
{
  const char *path = test_path("/a/b");
  struct dj_spec s;
  spec_init(&s, path);
  struct dj_cgroup *cg = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_cgroup_create(&s, "x", &cg, &err), 0, "%s", err.msg);
  const char *leaf = dir_with(cg, "cpuset")->dir;
  char root_cpus[256], root_mems[256], buf[256], level[512];
  const char *mount_end = strstr(leaf, path);
  cr_assert_not_null(mount_end);
  char mount[256];
  snprintf(mount, sizeof mount, "%.*s", (int) (mount_end - leaf), leaf);
  read_file(mount, "cpuset.cpus", root_cpus, sizeof root_cpus);
  read_file(mount, "cpuset.mems", root_mems, sizeof root_mems);
  /* every level donjon made: /donjon-test-P-N, .../a, .../a/b */
  snprintf(level, sizeof level, "%s", leaf);
  for (int i = 0; i < 3; i++) {
    read_file(level, "cpuset.cpus", buf, sizeof buf);
    cr_expect_str_eq(buf, root_cpus, "%s", level);
    read_file(level, "cpuset.mems", buf, sizeof buf);
    cr_expect_str_eq(buf, root_mems, "%s", level);
    *strrchr(level, '/') = '\0';
  }
  /* and a process can join it */
  struct child c = spawn(sleeper, NULL);
  cr_expect_eq(dj_cgroup_enter(cg, c.pid, &err), 0, "%s", err.msg);
  cr_assert_eq(dj_cgroup_destroy(cg, &err), 0, "%s", err.msg);
  waitpid(c.pid, NULL, 0);
  /* the leaf is gone; the parents donjon made stay (docs/cgroups.md), .fini removes them */
  cr_expect_not(exists_anywhere(path));
  char parent[256];
  snprintf(parent, sizeof parent, "%.*s", (int) (strstr(path, "/a/b") - path), path);
  cr_expect(exists_anywhere(parent));
}

Test(cgroup, invalid_value_names_the_file_and_leaves_nothing)
{
  struct dj_spec s;
  spec_init(&s, test_path(NULL));
  s.resources.memory_limit = 64 << 20;
  s.resources.pids_limit = 10;
  s.resources.cpuset_cpus = "99";
  struct dj_cgroup *cg = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_cgroup_create(&s, "x", &cg, &err), -1);
  cr_expect_null(cg);
  cr_expect_not_null(strstr(err.msg, "cpuset.cpus=99"), "%s", err.msg);
  cr_expect_eq(err.errnum, ERANGE, "%s", err.msg); /* the kernel's verdict on a cpu that is not there */
  cr_expect_not(exists_anywhere(s.cgroups_path), "%s left behind", s.cgroups_path);
}

Test(cgroup, dotdot_refused_before_anything_is_made)
{
  const char *base = test_path(NULL);
  const char *escape = test_path(NULL); /* where a ".." would lead: registered for .fini too */
  char path[256];
  snprintf(path, sizeof path, "%s/..%s", base, escape);
  struct dj_spec s;
  spec_init(&s, path);
  struct dj_cgroup *cg = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_cgroup_create(&s, "x", &cg, &err), -1);
  cr_expect_not_null(strstr(err.msg, "\"..\""), "%s", err.msg);
  cr_expect_not(exists_anywhere(base));
  cr_expect_not(exists_anywhere(escape));
  spec_init(&s, "..");
  cr_assert_eq(dj_cgroup_create(&s, "x", &cg, &err), -1);
  spec_init(&s, "/");
  cr_assert_eq(dj_cgroup_create(&s, "x", &cg, &err), -1); /* the root cgroup is never a container's */
}

Test(cgroup, relative_and_absent_paths)
{
  const char *abs = test_path(NULL);
  struct dj_spec s;
  spec_init(&s, abs + 1); /* relative: from the hierarchy roots, like the absolute one */
  struct dj_cgroup *cg = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_cgroup_create(&s, "x", &cg, &err), 0, "%s", err.msg);
  cr_expect_str_eq(dj_cgroup_path(cg), abs);
  cr_expect(exists_anywhere(abs));
  cr_assert_eq(dj_cgroup_destroy(cg, &err), 0, "%s", err.msg);
  char id[64];
  snprintf(id, sizeof id, "donjon-test-%d-%d", (int) getpid(), counter++);
  char *def = NULL;
  cr_assert_gt(asprintf(&def, "/donjon/%s", id), 0);
  cr_assert_lt(n_made, MAX_PATHS);
  snprintf(made[n_made++], sizeof made[0], "%s", def); /* .fini removes it (and /donjon if empty) */
  spec_init(&s, NULL);
  cr_assert_eq(dj_cgroup_create(&s, id, &cg, &err), 0, "%s", err.msg);
  cr_expect_str_eq(dj_cgroup_path(cg), def);
  cr_assert_eq(dj_cgroup_destroy(cg, &err), 0, "%s", err.msg);
  cr_expect_not(exists_anywhere(def));
  free(def);
}

/* freezer.state passes through FREEZING; wait (bounded) for the state itself, never for a time. */
static bool reaches_state(const char *dir, const char *want)
{
  char buf[64];
  for (int i = 0; i < 5000; i++) {
    read_file(dir, "freezer.state", buf, sizeof buf);
    if (strcmp(buf, want) == 0)
      return true;
    usleep(1000);
  }
  return false;
}

static int counter_child(void *arg, int out)
{
  (void) arg;
  for (unsigned long n = 0;; n++) /* tells the parent it runs, then spins */
    if (n % (1u << 20) == 0 && write(out, "x", 1) != 1)
      return 1;
}

Test(cgroup, freeze_and_thaw)
{
  struct dj_spec s;
  spec_init(&s, test_path(NULL));
  struct dj_cgroup *cg = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_cgroup_create(&s, "x", &cg, &err), 0, "%s", err.msg);
  struct child c = spawn(counter_child, NULL);
  cr_assert_eq(dj_cgroup_enter(cg, c.pid, &err), 0, "%s", err.msg);
  cr_assert_eq(write(c.go, "g", 1), 1);
  char x;
  cr_assert_eq(read(c.result, &x, 1), 1);
  const char *fz = dir_with(cg, "freezer")->dir;
  cr_assert_eq(dj_cgroup_freeze(cg, true, &err), 0, "%s", err.msg);
  cr_expect(reaches_state(fz, "FROZEN"));
  cr_assert_eq(dj_cgroup_freeze(cg, false, &err), 0, "%s", err.msg);
  cr_expect(reaches_state(fz, "THAWED"));
  cr_assert_eq(read(c.result, &x, 1), 1); /* it runs again */
  /* destroy kills a frozen-then-thawed container's processes too */
  cr_assert_eq(dj_cgroup_destroy(cg, &err), 0, "%s", err.msg);
  int status;
  cr_assert_eq(waitpid(c.pid, &status, 0), c.pid);
  cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  cr_expect_not(exists_anywhere(s.cgroups_path));
}

Test(cgroup, destroy_of_a_frozen_container)
{
  /* `delete --force` of a paused container: frozen tasks only die once thawed */
  struct dj_spec s;
  spec_init(&s, test_path(NULL));
  struct dj_cgroup *cg = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_cgroup_create(&s, "x", &cg, &err), 0, "%s", err.msg);
  struct child c = spawn(sleeper, NULL);
  cr_assert_eq(dj_cgroup_enter(cg, c.pid, &err), 0, "%s", err.msg);
  cr_assert_eq(dj_cgroup_freeze(cg, true, &err), 0, "%s", err.msg);
  char fz[512];
  snprintf(fz, sizeof fz, "%s", dir_with(cg, "freezer")->dir);
  cr_expect(reaches_state(fz, "FROZEN"));
  cr_expect_eq(dj_cgroup_destroy(cg, &err), 0, "%s", err.msg);
  if (access(fz, F_OK) == 0) /* destroy failed: thaw, or the killed child never ends */
    kill_procs(fz);
  int status;
  cr_assert_eq(waitpid(c.pid, &status, 0), c.pid);
  cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  cr_expect_not(exists_anywhere(s.cgroups_path));
}

Test(cgroup, bpf_long_program_and_bad_rules)
{
  /* 600 rules: a program this long must load (a verifier log requested up front would overflow) */
  size_t n = 600;
  struct dj_device_rule *rules = calloc(n, sizeof *rules);
  cr_assert_not_null(rules);
  for (size_t i = 0; i < n; i++)
    rules[i] = (struct dj_device_rule) { .allow = i % 2 == 0, .type = 'c', .major = 200 + (int64_t) i,
                                         .minor = (int64_t) i, .access = "rw" };
  rules[n - 1] = (struct dj_device_rule) { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "r" };
  struct open_case cases[] = { { "/dev/null", O_RDONLY }, { "/dev/null", O_WRONLY }, { NULL, 0 } };
  int res[2];
  bpf_opens(rules, n, cases, res);
  cr_expect_eq(res[0], 0, "%s", strerror(res[0]));
  cr_expect_eq(res[1], EPERM, "%s", strerror(res[1]));
  free(rules);
  /* rules the program cannot express are refused with their index, before any load */
  char *dir = unified_dir();
  struct dj_device_rule bad_type[] = { { .allow = true, .type = 'x', .major = 1, .minor = 3, .access = "r" } };
  struct dj_device_rule bad_access[] = { { .allow = true, .type = 'c', .major = 1, .minor = 3, .access = "rx" } };
  dj_err err = { 0 };
  cr_expect_eq(dj_cgroup_bpf_devices(dir, bad_type, 1, &err), -1);
  cr_expect_not_null(strstr(err.msg, "device rule 0"), "%s", err.msg);
  cr_expect_eq(dj_cgroup_bpf_devices(dir, bad_access, 1, &err), -1);
  cr_expect_not_null(strstr(err.msg, "\"rx\""), "%s", err.msg);
  cr_assert_eq(rmdir(dir), 0);
  free(dir);
}

Test(cgroup, kernel_refusals_name_file_and_value)
{
  struct dj_cgroup *cg = NULL;
  dj_err err = { 0 };
  struct dj_spec s;
  /* memory+swap below memory: the kernel refuses memsw */
  spec_init(&s, test_path(NULL));
  s.resources.memory_limit = 32 << 20;
  s.resources.memory_swap = 16 << 20;
  cr_assert_eq(dj_cgroup_create(&s, "x", &cg, &err), -1);
  cr_expect_not_null(strstr(err.msg, "memory.memsw.limit_in_bytes=16777216"), "%s", err.msg);
  cr_expect_eq(err.errnum, EINVAL, "%s", err.msg);
  cr_expect_not(exists_anywhere(s.cgroups_path));
  /* a cpu quota below the kernel's 1 ms minimum */
  spec_init(&s, test_path(NULL));
  s.resources.cpu_quota = 10;
  cr_assert_eq(dj_cgroup_create(&s, "x", &cg, &err), -1);
  cr_expect_not_null(strstr(err.msg, "cpu.cfs_quota_us=10"), "%s", err.msg);
  cr_expect_not(exists_anywhere(s.cgroups_path));
}
