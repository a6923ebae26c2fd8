#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/safepath.h"
#include "common/util.h"

static char root[PATH_MAX];
static int rootfd = -1;

static void setup(void)
{
  snprintf(root, sizeof root, "/tmp/dj-safepath-XXXXXX");
  cr_assert_not_null(mkdtemp(root));
  rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  cr_assert_geq(rootfd, 0);
}

static void teardown(void)
{
  close(rootfd);
  char cmd[PATH_MAX + 16];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  cr_assert_eq(system(cmd), 0);
}

TestSuite(safepath, .init = setup, .fini = teardown);

Test(safepath, absolute_symlink_stays_inside_the_root)
{
  /* etc -> / on the host would be the host's /etc; inside the root it is the root itself. */
  cr_assert_eq(symlinkat("/", rootfd, "escape"), 0);
  dj_err err = { 0 };
  int fd = dj_mkdirs_in_root(rootfd, "/escape/var/run", 0755, &err);
  cr_assert_geq(fd, 0, "%s", err.msg);
  close(fd);
  struct stat st;
  cr_assert_eq(fstatat(rootfd, "var/run", &st, 0), 0, "the directory was made inside the root");
}

Test(safepath, dotdot_is_clamped_to_the_root)
{
  dj_err err = { 0 };
  cr_assert_eq(mkdirat(rootfd, "tmp", 0755), 0);
  cr_assert_eq(symlinkat("../../../../../tmp", rootfd, "up"), 0);
  int fd = dj_mkfile_in_root(rootfd, "/up/dj-safepath-probe", 0644, &err);
  cr_assert_geq(fd, 0, "%s", err.msg);
  close(fd);
  struct stat st;
  cr_assert_eq(fstatat(rootfd, "tmp/dj-safepath-probe", &st, 0), 0);
  cr_assert_neq(stat("/tmp/dj-safepath-probe", &st), 0, "nothing written outside the root");
}

Test(safepath, magic_links_are_refused)
{
  dj_err err = { 0 };
  cr_assert_eq(symlinkat("/proc/self/root/etc", rootfd, "magic"), 0);
  /* The link text is resolved inside the root, where /proc/self is not a magic link... */
  int fd = dj_open_in_root(rootfd, "/magic", O_PATH, 0, &err);
  cr_assert_lt(fd, 0);
  /* ...and a magic link met through a real procfs is refused outright. */
  int procfd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  fd = dj_open_in_root(procfd, "self/root/etc", O_PATH, 0, &err);
  cr_assert_lt(fd, 0);
  cr_assert_eq(err.errnum, ELOOP, "%s", err.msg);
  close(procfd);
}

Test(safepath, file_targets_refuse_directories)
{
  dj_err err = { 0 };
  cr_assert_eq(mkdirat(rootfd, "d", 0755), 0);
  cr_assert_lt(dj_mkfile_in_root(rootfd, "/d", 0644, &err), 0);
  char parent[PATH_MAX];
  cr_assert_str_eq(dj_path_split("/a/b/c", parent, sizeof parent), "c");
  cr_assert_str_eq(parent, "/a/b/");
  cr_assert_null(dj_path_split("/a/..", parent, sizeof parent));
  cr_assert_null(dj_path_split("/", parent, sizeof parent));
}

Test(safepath, dangling_symlinks_get_their_target_made_inside_the_root)
{
  /* Debian's /var/run -> /run in an image without /run, and an absolute link to the host's /etc. */
  dj_err err = { 0 };
  cr_assert_eq(mkdirat(rootfd, "var", 0755), 0);
  cr_assert_eq(symlinkat("../run", rootfd, "var/run"), 0);
  cr_assert_eq(symlinkat("/etc/dj-safepath-made", rootfd, "abs"), 0);
  int fd = dj_mkdirs_in_root(rootfd, "/var/run/x", 0755, &err);
  cr_assert_geq(fd, 0, "%s", err.msg);
  close(fd);
  fd = dj_mkdirs_in_root(rootfd, "/abs/y", 0755, &err);
  cr_assert_geq(fd, 0, "%s", err.msg);
  close(fd);
  struct stat st;
  cr_assert_eq(fstatat(rootfd, "run/x", &st, 0), 0);
  cr_assert_eq(fstatat(rootfd, "etc/dj-safepath-made/y", &st, 0), 0);
  cr_assert_neq(stat("/etc/dj-safepath-made", &st), 0, "nothing made in the host's /etc");
  /* A loop of links is an error, not a hang. */
  cr_assert_eq(symlinkat("loop2", rootfd, "loop1"), 0);
  cr_assert_eq(symlinkat("loop1", rootfd, "loop2"), 0);
  cr_assert_lt(dj_mkdirs_in_root(rootfd, "/loop1/z", 0755, &err), 0);
}
