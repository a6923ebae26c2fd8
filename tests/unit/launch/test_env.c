/* The launch's own hardening: the swap check, core dumps, dumpability and locked memory. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "launch/launch.h"

static char dir[64];

static void setup(void)
{
  snprintf(dir, sizeof dir, "/tmp/dj-launch-env-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
}

static void teardown(void)
{
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(swap, .init = setup, .fini = teardown);

static void write_file(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f, "%s", path);
  fputs(text, f);
  fclose(f);
}

/* A /proc/swaps naming one area, and a fake /sys in which block device 253:7 is a dm device with uuid. */
static int check(const char *area, const char *uuid, dj_err *err)
{
  char swaps[128], sysdir[128], p[256], text[512];
  snprintf(swaps, sizeof swaps, "%s/swaps", dir);
  snprintf(sysdir, sizeof sysdir, "%s/sys", dir);
  snprintf(text, sizeof text, "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n%s%s", area ? area : "",
           area ? "                               partition\t8388604\t\t0\t\t-2\n" : "");
  write_file(swaps, text);
  snprintf(p, sizeof p, "mkdir -p %s/dev/block/253:7/dm", sysdir);
  cr_assert_eq(system(p), 0);
  snprintf(p, sizeof p, "%s/dev/block/253:7/dm/uuid", sysdir);
  unlink(p);
  if (uuid)
    write_file(p, uuid);
  return dj_launch_swap_check(swaps, sysdir, err);
}

static char *blockdev(void)
{
  static char path[128];
  snprintf(path, sizeof path, "%s/dm-7", dir);
  if (access(path, F_OK) != 0)
    cr_assert_eq(mknod(path, S_IFBLK | 0600, makedev(253, 7)), 0, "mknod: %m");
  return path;
}

Test(swap, no_swap_is_fine)
{
  dj_err err = { 0 };
  cr_assert_eq(check(NULL, NULL, &err), 0, "%s", err.msg);
}

Test(swap, a_swap_file_is_refused_with_its_name)
{
  char file[128];
  snprintf(file, sizeof file, "%s/swapfile", dir);
  write_file(file, "");
  dj_err err = { 0 };
  cr_assert_eq(check(file, NULL, &err), -1);
  cr_assert(strstr(err.msg, file) && strstr(err.msg, "not encrypted") && strstr(err.msg, "--allow-swap"), "%s",
            err.msg);
}

Test(swap, a_plain_block_device_is_refused)
{
  dj_err err = { 0 };
  cr_assert_eq(check(blockdev(), NULL, &err), -1);
  cr_assert(strstr(err.msg, "not encrypted"), "%s", err.msg);
}

Test(swap, a_dm_device_that_is_not_crypt_is_refused)
{
  dj_err err = { 0 };
  cr_assert_eq(check(blockdev(), "LVM-abcdef\n", &err), -1);
}

Test(swap, dm_crypt_is_accepted)
{
  dj_err err = { 0 };
  cr_assert_eq(check(blockdev(), "CRYPT-LUKS2-0123456789abcdef-swap\n", &err), 0, "%s", err.msg);
}

Test(swap, zram_is_memory)
{
  dj_err err = { 0 };
  cr_assert_eq(check("/dev/zram0", NULL, &err), 0, "%s", err.msg);
}

Test(swap, this_host_is_checked_for_real)
{
  dj_err err = { 0 };
  int r = dj_launch_swap_check("/proc/swaps", "/sys", &err);
  FILE *f = fopen("/proc/swaps", "r");
  char line[512];
  int lines = 0;
  while (fgets(line, sizeof line, f))
    lines++;
  fclose(f);
  if (lines <= 1)
    cr_assert_eq(r, 0, "no swap here, yet: %s", err.msg);
}

/* This process's locked memory (VmLck), or -1. */
static long vmlck_kb(void)
{
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long lck = -1;
  while (f && fgets(line, sizeof line, f))
    if (sscanf(line, "VmLck: %ld kB", &lck) == 1)
      break;
  if (f)
    fclose(f);
  return lck;
}

/* In a child: after dj_launch_harden, no core dumps, not dumpable, memory locked. */
Test(harden, no_core_not_dumpable_memory_locked)
{
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    dj_err err = { 0 };
    if (dj_launch_harden(true, &err) < 0)
      _exit(10);
    struct rlimit rl;
    if (getrlimit(RLIMIT_CORE, &rl) < 0 || rl.rlim_cur != 0 || rl.rlim_max != 0)
      _exit(11);
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0)
      _exit(12);
    /* MCL_FUTURE: a new mapping is locked too */
    char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    memset(p, 1, 1 << 20);
    _exit(vmlck_kb() >= 1024 ? 0 : 13);
  }
  int st;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  cr_assert(WIFEXITED(st), "killed");
  cr_assert_eq(WEXITSTATUS(st), 0, "check %d failed", WEXITSTATUS(st));
}

/* mlockall is not inherited across fork: a child holding keys or plaintext locks again, and dies
 * with its parent. */
Test(harden, a_child_locks_its_memory_again_and_dies_with_the_launch)
{
  munlockall();
  pid_t parent = getpid();
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    dj_err err = { 0 };
    if (dj_launch_child_harden(parent, false, &err) < 0)
      _exit(10);
    int sig = 0;
    if (prctl(PR_GET_PDEATHSIG, &sig, 0, 0, 0) < 0 || sig != SIGKILL)
      _exit(11);
    _exit(vmlck_kb() > 0 ? 0 : 12);
  }
  int st;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "check %d failed", WEXITSTATUS(st));
}
