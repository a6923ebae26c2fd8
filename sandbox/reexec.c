#include "sandbox/reexec.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/mount.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"

extern char **environ;

/* The commands that put a process inside a container. */
static const char *const entering[] = { "run", "create", "exec", "launch" };

/* donjon's global options as cli/cli.c gives them to getopt_long: 1 takes a value, 2 an optional one. */
static const struct { const char *name; int arg; } globals[] = {
  { "root", 1 }, { "log", 1 }, { "log-format", 1 }, { "debug", 0 }, { "systemd-cgroup", 0 },
  { "rootless", 2 }, { "criu", 1 }, { "version", 0 }, { "help", 0 },
};

/* How getopt_long reads "--NAME": an exact name, else a unique prefix ("--log-f" is --log-format).
 * -1: no such option, or an ambiguous prefix. */
static int global_arg(const char *name, size_t len)
{
  int found = -1;
  for (size_t k = 0; k < DJ_ARRAY_SIZE(globals); k++) {
    if (strncmp(globals[k].name, name, len) != 0)
      continue;
    if (globals[k].name[len] == '\0')
      return globals[k].arg;
    if (found != -1 && found != globals[k].arg)
      return -1;
    found = globals[k].arg;
  }
  return found;
}

bool dj_reexec_needed(int argc, char **argv)
{
  /* The first non-option argument is the command, as getopt_long ("+") finds it. When the
   * options cannot be read, say yes: a needless re-exec costs little, a missing one a jail. */
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      a = i + 1 < argc ? argv[i + 1] : "";
    } else if (strncmp(a, "--", 2) == 0) {
      size_t len = strcspn(a + 2, "=");
      int arg = global_arg(a + 2, len);
      if (arg < 0)
        return true;
      if (arg == 1 && a[2 + len] != '=')
        i++;
      continue;
    } else if (a[0] == '-' && a[1] != '\0') {
      continue; /* -v, -h: no value */
    }
    for (size_t k = 0; k < DJ_ARRAY_SIZE(entering); k++)
      if (strcmp(a, entering[k]) == 0)
        return true;
    return false;
  }
  return false;
}

bool dj_reexec_is_sealed(void)
{
  _cleanup_close_ int fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  struct statvfs sv;
  if (fd < 0 || fstatvfs(fd, &sv) < 0)
    return false;
  return (sv.f_flag & ST_RDONLY) != 0;
}

void dj_reexec_maybe(int argc, char **argv)
{
  if (!dj_reexec_needed(argc, argv) || dj_reexec_is_sealed())
    return;
  /* A detached clone of the mount holding only our binary, made read-only, then exec'd by fd:
   * /proc/<pid>/exe of every donjon process that enters a container points at it. */
  int tree = (int) syscall(SYS_open_tree, AT_FDCWD, "/proc/self/exe", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  if (tree < 0)
    return; /* dj_reexec_check() refuses to go on */
  struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV };
  if (syscall(SYS_mount_setattr, tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0) {
    close(tree);
    return;
  }
  syscall(SYS_execveat, tree, "", argv, environ, AT_EMPTY_PATH);
  close(tree);
}

int dj_reexec_check(dj_err *err)
{
  if (!dj_reexec_is_sealed())
    return dj_error(err, 0, "cannot run from a read-only copy of the donjon binary (needs open_tree and "
                            "mount_setattr, Linux 5.12); refusing to enter a container from a binary it "
                            "could overwrite");
  return 0;
}
