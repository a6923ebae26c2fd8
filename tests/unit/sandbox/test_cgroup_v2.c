/* The cgroup v2 backend. Its resource writes run on a temporary directory with the controller
 * files made empty beforehand (this host's controllers are on v1, so no real v2 directory has
 * memory.max or cpu.weight); each file then holds exactly what was written. Freeze, thaw, the
 * paused status and cgroup.kill run for real in /sys/fs/cgroup/unified, a true v2 hierarchy
 * (only hugetlb, but cgroup.freeze, cgroup.events and cgroup.kill are there), in a directory of
 * our own removed at the end. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/cgroup_internal.h"

static char tmp[64];

static void make_files(const char *const *names)
{
  for (; *names != NULL; names++) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmp, *names);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
    close(fd);
  }
}

static const char *const v2_files[] = { "memory.max", "memory.swap.max", "memory.low", "pids.max", "cpu.weight",
                                        "cpu.max", "cpuset.cpus", "cpuset.mems", "io.weight", "hugetlb.2MB.max",
                                        NULL };

static void setup(void)
{
  snprintf(tmp, sizeof tmp, "/tmp/dj-cgroup-v2-XXXXXX");
  cr_assert_not_null(mkdtemp(tmp));
  make_files(v2_files);
}

static void teardown(void)
{
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
  cr_expect_eq(system(cmd), 0);
}

static const char *file(const char *name)
{
  static char buf[256];
  dj_err err = { 0 };
  cr_assert_eq(dj_cgroup_read(tmp, name, buf, sizeof buf, &err), 0, "%s", err.msg);
  return buf;
}

static void spec_init(struct dj_spec *s)
{
  memset(s, 0, sizeof *s);
  struct dj_resources *r = &s->resources;
  r->memory_limit = r->memory_reservation = r->memory_swap = r->memory_kernel = DJ_UNSET_I64;
  r->memory_swappiness = r->pids_limit = r->cpu_quota = DJ_UNSET_I64;
}

/* update: the device program is left out (it needs a real cgroup: test_cgroup.c's bpf tests). */
static int apply(const struct dj_spec *s, dj_err *err)
{
  struct dj_cgroup_dir d = { .dir = tmp, .controllers = "", .v2 = true };
  return dj_cgroup_v2_apply(&d, s, true, true, err);
}

TestSuite(v2_apply, .init = setup, .fini = teardown);

Test(v2_apply, every_resource_and_its_conversion)
{
  struct dj_spec s;
  spec_init(&s);
  struct dj_resources *r = &s.resources;
  r->memory_limit = 64 << 20;
  r->memory_swap = 96 << 20;
  r->memory_reservation = 16 << 20;
  r->pids_limit = 20;
  r->cpu_shares = 512, r->has_cpu_shares = true;
  r->cpu_period = 50000, r->has_cpu_period = true;
  r->cpu_quota = 25000;
  r->cpuset_cpus = "0-1";
  r->cpuset_mems = "0";
  r->blkio_weight = 500, r->has_blkio_weight = true;
  dj_err err = { 0 };
  cr_assert_eq(apply(&s, &err), 0, "%s", err.msg);
  cr_expect_str_eq(file("memory.max"), "67108864");
  cr_expect_str_eq(file("memory.swap.max"), "33554432"); /* v1's memory+swap 96M less memory 64M */
  cr_expect_str_eq(file("memory.low"), "16777216");
  cr_expect_str_eq(file("pids.max"), "20");
  cr_expect_str_eq(file("cpu.weight"), "20");            /* 1 + (512-2)*9999/262142 */
  cr_expect_str_eq(file("cpu.max"), "25000 50000");
  cr_expect_str_eq(file("cpuset.cpus"), "0-1");
  cr_expect_str_eq(file("cpuset.mems"), "0");
  cr_expect_str_eq(file("io.weight"), "4950");           /* 1 + (500-10)*9999/990 */
}

Test(v2_apply, bfq_takes_the_v1_weight_as_it_is)
{
  make_files((const char *[]){ "io.bfq.weight", NULL });
  struct dj_spec s;
  spec_init(&s);
  s.resources.blkio_weight = 500, s.resources.has_blkio_weight = true;
  dj_err err = { 0 };
  cr_assert_eq(apply(&s, &err), 0, "%s", err.msg);
  cr_expect_str_eq(file("io.bfq.weight"), "500");
  cr_expect_str_eq(file("io.weight"), "");
}

Test(v2_apply, weight_ends_of_the_ranges)
{
  static const struct { uint64_t shares; const char *weight; } cpu[] = {
    { 2, "1" }, { 1024, "39" }, { 262144, "10000" }, { 1, "1" }, { 1000000, "10000" }, /* clamped as v1 does */
  };
  for (size_t i = 0; i < sizeof cpu / sizeof *cpu; i++) {
    struct dj_spec s;
    spec_init(&s);
    s.resources.cpu_shares = cpu[i].shares, s.resources.has_cpu_shares = true;
    dj_err err = { 0 };
    make_files((const char *[]){ "cpu.weight", NULL });
    cr_assert_eq(apply(&s, &err), 0, "%s", err.msg);
    cr_expect_str_eq(file("cpu.weight"), cpu[i].weight, "shares %" PRIu64, cpu[i].shares);
  }
  static const struct { uint16_t w; const char *io; } io[] = { { 10, "1" }, { 1000, "10000" } };
  for (size_t i = 0; i < sizeof io / sizeof *io; i++) {
    struct dj_spec s;
    spec_init(&s);
    s.resources.blkio_weight = io[i].w, s.resources.has_blkio_weight = true;
    dj_err err = { 0 };
    make_files((const char *[]){ "io.weight", NULL });
    cr_assert_eq(apply(&s, &err), 0, "%s", err.msg);
    cr_expect_str_eq(file("io.weight"), io[i].io, "blkio weight %u", io[i].w);
  }
}

Test(v2_apply, unlimited_is_max)
{
  struct dj_spec s;
  spec_init(&s);
  s.resources.memory_limit = -1;
  s.resources.memory_swap = -1;
  s.resources.pids_limit = 0;
  s.resources.cpu_quota = -1;
  s.resources.cpu_period = 100000, s.resources.has_cpu_period = true;
  dj_err err = { 0 };
  cr_assert_eq(apply(&s, &err), 0, "%s", err.msg);
  cr_expect_str_eq(file("memory.max"), "max");
  cr_expect_str_eq(file("memory.swap.max"), "max");
  cr_expect_str_eq(file("pids.max"), "max");
  cr_expect_str_eq(file("cpu.max"), "max 100000");
}

Test(v2_apply, what_is_not_asked_is_not_written)
{
  struct dj_spec s;
  spec_init(&s);
  s.resources.pids_limit = 7;
  dj_err err = { 0 };
  cr_assert_eq(apply(&s, &err), 0, "%s", err.msg);
  cr_expect_str_eq(file("pids.max"), "7");
  for (const char *const *f = v2_files; *f != NULL; f++)
    if (strcmp(*f, "pids.max") != 0)
      cr_expect_str_eq(file(*f), "", "%s was written", *f);
}

Test(v2_apply, swap_that_v2_cannot_express_is_refused)
{
  struct dj_spec s;
  spec_init(&s);
  s.resources.memory_limit = 64 << 20;
  s.resources.memory_swap = 32 << 20; /* memory+swap below memory */
  dj_err err = { 0 };
  cr_assert_eq(apply(&s, &err), -1);
  cr_expect_str_eq(err.msg, "linux.resources.memory.swap: 33554432 is below memory.limit 67108864 (swap is memory+swap)");
  cr_expect_str_eq(file("memory.swap.max"), "");
  spec_init(&s);
  s.resources.memory_swap = 32 << 20; /* a swap limit without a memory limit */
  cr_assert_eq(apply(&s, &err), -1);
  cr_expect_str_eq(err.msg, "linux.resources.memory.swap: 33554432 needs a memory limit");
  spec_init(&s);
  s.resources.memory_limit = 64 << 20;
  s.resources.memory_swap = 64 << 20; /* no swap at all: 0 */
  char path[128];
  snprintf(path, sizeof path, "%s/memory.swap.max", tmp);
  cr_assert_eq(apply(&s, &err), 0, "%s", err.msg);
  cr_expect_str_eq(file("memory.swap.max"), "0");
  cr_assert_eq(unlink(path), 0); /* a kernel without swap accounting */
  cr_assert_eq(apply(&s, &err), -1);
  cr_expect_str_eq(err.msg, "linux.resources.memory.swap: this kernel has no memory.swap.max");
}

Test(v2_apply, unified_keys_are_written_and_cgroup_files_refused)
{
  struct dj_spec s;
  spec_init(&s);
  s.resources.unified = json_pack("{s:s}", "hugetlb.2MB.max", "4194304");
  dj_err err = { 0 };
  struct dj_cgroup_dir d = { .dir = tmp, .controllers = "", .v2 = true };
  /* not primary (a hybrid host's unified directory): only the unified keys */
  s.resources.pids_limit = 3;
  cr_assert_eq(dj_cgroup_v2_apply(&d, &s, false, true, &err), 0, "%s", err.msg);
  cr_expect_str_eq(file("hugetlb.2MB.max"), "4194304");
  cr_expect_str_eq(file("pids.max"), "");
  json_decref(s.resources.unified);
  const char *bad[] = { "cgroup.procs", "../memory.max", ".hidden" };
  for (size_t i = 0; i < 3; i++) {
    s.resources.unified = json_pack("{s:s}", bad[i], "1");
    cr_expect_eq(dj_cgroup_v2_apply(&d, &s, false, true, &err), -1, "%s accepted", bad[i]);
    cr_expect(strstr(err.msg, "not a controller file") != NULL, "%s", err.msg);
    json_decref(s.resources.unified);
  }
}

/* ---- enable_controllers: cgroup.subtree_control as a FIFO, so that every write is seen ---- */

struct seen {
  char writes[8][64]; /* each write, in order */
  int n;
};

static void enable(const char *available, const char *enabled, struct seen *w)
{
  char path[128];
  snprintf(path, sizeof path, "%s/cgroup.controllers", tmp);
  FILE *f = fopen(path, "we");
  cr_assert_not_null(f);
  fputs(available, f);
  fclose(f);
  snprintf(path, sizeof path, "%s/cgroup.subtree_control", tmp);
  unlink(path);
  cr_assert_eq(mkfifo(path, 0600), 0);
  /* Held open both ways: the code's opens never block, and what it reads first is what we put in. */
  int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  cr_assert_geq(fd, 0);
  cr_assert_eq(write(fd, enabled, strlen(enabled)), (ssize_t) strlen(enabled));
  dj_err err = { 0 };
  cr_assert_eq(dj_cgroup_v2_enable_controllers(tmp, &err), 0, "%s", err.msg);
  char buf[512] = { 0 };
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  w->n = 0;
  if (n <= 0)
    return; /* nothing written */
  /* each write is one "+name" */
  for (char *p = buf; *p == '+' && w->n < 8;) {
    size_t len = strcspn(p + 1, "+");
    snprintf(w->writes[w->n++], sizeof w->writes[0], "%.*s", (int) len + 1, p);
    p += len + 1;
  }
}

Test(v2_apply, enable_controllers_adds_each_missing_one)
{
  struct seen p;
  enable("cpuset cpu io memory pids\n", "cpu memory\n", &p);
  cr_assert_eq(p.n, 3);
  cr_expect_str_eq(p.writes[0], "+cpuset");
  cr_expect_str_eq(p.writes[1], "+io");
  cr_expect_str_eq(p.writes[2], "+pids");
}

Test(v2_apply, enable_controllers_with_all_enabled_writes_nothing)
{
  struct seen p;
  enable("cpu memory pids\n", "pids cpu memory\n", &p);
  cr_expect_eq(p.n, 0);
  enable("hugetlb\n", "\n", &p); /* a word is not a prefix: "cpu" does not hide "cpuset" */
  cr_assert_eq(p.n, 1);
  cr_expect_str_eq(p.writes[0], "+hugetlb");
}

/* ---- freeze, thaw, paused, kill: a real v2 directory ---- */

static char unified[128];

static void unified_cleanup(void)
{
  if (unified[0] == '\0' || access(unified, F_OK) != 0)
    return;
  dj_cgroup_write(unified, "cgroup.kill", "1", NULL);
  for (int i = 0; i < 1000 && rmdir(unified) < 0 && errno == EBUSY; i++)
    usleep(1000);
}

TestSuite(v2_freezer, .fini = unified_cleanup);

static struct dj_cgroup *unified_cgroup(void)
{
  snprintf(unified, sizeof unified, "/sys/fs/cgroup/unified/donjon-test-v2-%d", (int) getpid());
  cr_assert_eq(mkdir(unified, 0755), 0, "mkdir %s: %s", unified, strerror(errno));
  struct dj_cgroup *cg = calloc(1, sizeof *cg);
  cr_assert_not_null(cg);
  cg->mode = DJ_CGROUP_V2; /* as on a v2 host: cgroup.freeze is the freezer */
  cg->path = strdup(unified + strlen("/sys/fs/cgroup/unified"));
  cg->dirs[0] = (struct dj_cgroup_dir){ .dir = strdup(unified), .controllers = strdup(""), .v2 = true, .created = true };
  cg->n_dirs = 1;
  return cg;
}

static char proc_state(pid_t pid)
{
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
  FILE *f = fopen(path, "re");
  cr_assert_not_null(f);
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *close_paren = strrchr(buf, ')');
  cr_assert_not_null(close_paren);
  return close_paren[2];
}

/* Bounded: for the scheduler to run the thawed spinner again, never a time assertion. */
static bool becomes_running(pid_t pid)
{
  for (int i = 0; i < 5000; i++) {
    if (proc_state(pid) == 'R')
      return true;
    usleep(1000);
  }
  return false;
}

Test(v2_freezer, freeze_thaw_paused_and_kill)
{
  struct dj_cgroup *cg = unified_cgroup();
  int ready[2];
  cr_assert_eq(pipe2(ready, O_CLOEXEC), 0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    (void) !write(ready[1], "x", 1);
    for (volatile unsigned long n = 0;; n++) /* never sleeps: 'R' unless frozen */
      ;
  }
  close(ready[1]);
  char c;
  cr_assert_eq(read(ready[0], &c, 1), 1);
  close(ready[0]);
  dj_err err = { 0 };
  cr_assert_eq(dj_cgroup_enter(cg, pid, &err), 0, "%s", err.msg);
  bool frozen = true;
  cr_assert_eq(dj_cgroup_is_frozen(cg, &frozen, &err), 0, "%s", err.msg);
  cr_expect_not(frozen);

  cr_assert_eq(dj_cgroup_freeze(cg, true, &err), 0, "%s", err.msg);
  char events[256];
  cr_assert_eq(dj_cgroup_read(unified, "cgroup.events", events, sizeof events, &err), 0, "%s", err.msg);
  cr_expect(strstr(events, "frozen 1") != NULL, "%s", events);
  cr_expect_eq(proc_state(pid), 'S', "a frozen spinner is not sleeping");
  cr_assert_eq(dj_cgroup_is_frozen(cg, &frozen, &err), 0, "%s", err.msg);
  cr_expect(frozen, "not reported paused");

  cr_assert_eq(dj_cgroup_freeze(cg, false, &err), 0, "%s", err.msg);
  cr_assert_eq(dj_cgroup_read(unified, "cgroup.events", events, sizeof events, &err), 0, "%s", err.msg);
  cr_expect(strstr(events, "frozen 0") != NULL, "%s", events);
  cr_expect(becomes_running(pid), "the thawed spinner does not run");
  cr_assert_eq(dj_cgroup_is_frozen(cg, &frozen, &err), 0, "%s", err.msg);
  cr_expect_not(frozen);

  /* destroy of a frozen container: cgroup.kill ends it (v2 frozen tasks die when killed) */
  cr_assert_eq(dj_cgroup_freeze(cg, true, &err), 0, "%s", err.msg);
  cr_assert_eq(dj_cgroup_destroy(cg, &err), 0, "%s", err.msg);
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "status %#x", status);
  cr_expect_neq(access(unified, F_OK), 0, "%s left behind", unified);
}
