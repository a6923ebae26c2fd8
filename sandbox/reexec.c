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

bool dj_reexec_needed(const char *command)
{
  for (size_t k = 0; command && k < DJ_ARRAY_SIZE(entering); k++)
    if (strcmp(command, entering[k]) == 0)
      return true;
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

void dj_reexec_maybe(const char *command, char **argv)
{
  if (!dj_reexec_needed(command) || dj_reexec_is_sealed())
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
