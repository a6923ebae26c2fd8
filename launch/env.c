/* What the launch process does to itself before it holds a key: no core dumps, not dumpable,
 * memory locked, and no unencrypted swap for anything to be paged out to. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/util.h"
#include "launch/launch.h"

/* Is the swap area at path memory (zram) or dm-crypt? Its device's dm uuid starts "CRYPT-". */
static bool swap_is_safe(const char *path, const char *sys)
{
  if (strncmp(path, "/dev/zram", 9) == 0)
    return true;
  struct stat st;
  if (stat(path, &st) < 0 || !S_ISBLK(st.st_mode))
    return false; /* a swap file, or a device we cannot name: its blocks are on a disk */
  char p[PATH_MAX], uuid[128] = "";
  snprintf(p, sizeof p, "%s/dev/block/%u:%u/dm/uuid", sys, major(st.st_rdev), minor(st.st_rdev));
  FILE *f = fopen(p, "re");
  if (f == NULL)
    return false;
  bool ok = fgets(uuid, sizeof uuid, f) != NULL && strncmp(uuid, "CRYPT-", 6) == 0;
  fclose(f);
  return ok;
}

int dj_launch_swap_check(const char *swaps, const char *sys, dj_err *err)
{
  FILE *f = fopen(swaps, "re");
  if (f == NULL)
    return dj_error(err, errno, "%s (to check that no plaintext can be paged out to a disk)", swaps);
  char line[PATH_MAX + 128];
  int r = 0;
  bool header = true;
  while (r == 0 && fgets(line, sizeof line, f) != NULL) {
    if (header) {
      header = false;
      continue;
    }
    char *save = NULL, *path = strtok_r(line, " \t\n", &save);
    /* /proc/swaps escapes spaces in names as \040; such a name cannot be a zram or dm device. */
    if (path != NULL && !swap_is_safe(path, sys))
      r = dj_error(err, 0,
                   "swap is on (%s) and is not encrypted: decrypted layers and keys could be paged out to a "
                   "disk; turn it off, encrypt it (dm-crypt), or pass --allow-swap",
                   path);
  }
  fclose(f);
  return r;
}

int dj_launch_harden(bool allow_swap, dj_err *err)
{
  /* A core dump of this process would hold keys and plaintext. */
  const struct rlimit none = { 0, 0 };
  if (setrlimit(RLIMIT_CORE, &none) < 0)
    return dj_error(err, errno, "setrlimit RLIMIT_CORE 0");
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
    return dj_error(err, errno, "prctl PR_SET_DUMPABLE 0");
  /* /proc/swaps always; DONJON_TEST_PROC_SWAPS names one more list to check (the tests' swap on a
   * host without any): it can make the check fail, never pass (docs/launch.md). */
  const char *extra = getenv("DONJON_TEST_PROC_SWAPS");
  if (!allow_swap && (dj_launch_swap_check("/proc/swaps", "/sys", err) < 0 ||
                      (extra && *extra && dj_launch_swap_check(extra, "/sys", err) < 0)))
    return -1;
  /* Everything this process maps, now and later, stays in memory: released keys, unwrapped layer
   * keys and the decryption buffers are never written to swap, encrypted or not. */
  if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0 && !allow_swap)
    return dj_error(err, errno, "mlockall (keys must stay in memory; --allow-swap launches without)");
  return 0;
}

int dj_launch_child_harden(pid_t parent, bool allow_swap, dj_err *err)
{
  /* The child dies with the launch: a SIGKILLed launch leaves no process decrypting. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
    return dj_error(err, errno, "prctl PR_SET_PDEATHSIG");
  if (getppid() != parent)
    return dj_error(err, 0, "the launch is gone");
  if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0 && !allow_swap)
    return dj_error(err, errno, "mlockall (keys must stay in memory; --allow-swap launches without)");
  return 0;
}
