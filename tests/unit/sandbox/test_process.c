/* sandbox/process.c: the LSM labels a process is exec'd with and the rlimit checks.
 *
 * This host has no LSM (no AppArmor, no SELinux), so the label writer is run against a fake
 * procfs directory (thread-self/attr/...) made here: a stand-in only because the LSM cannot be
 * real on this machine. The real procfs path is checked too: the kernel's refusal comes back. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/process.h"
#include "sandbox/rootfs.h"

static char tmp[64];
static int tmpfd = -1;

static void setup(void)
{
  snprintf(tmp, sizeof tmp, "/tmp/dj-process-XXXXXX");
  cr_assert_not_null(mkdtemp(tmp));
  tmpfd = open(tmp, O_PATH | O_DIRECTORY | O_CLOEXEC);
  cr_assert_geq(tmpfd, 0);
}

static void teardown(void)
{
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
  cr_expect_eq(system(cmd), 0);
  close(tmpfd);
}

TestSuite(lsm, .init = setup, .fini = teardown);

/* The fake attribute files, empty, as procfs shows them. */
static void fake_attrs(bool apparmor_dir)
{
  char cmd[256];
  snprintf(cmd, sizeof cmd, "mkdir -p %s/thread-self/attr%s && touch %s/thread-self/attr/exec%s", tmp,
           apparmor_dir ? "/apparmor" : "", tmp, apparmor_dir ? " && touch $0/thread-self/attr/apparmor/exec" : "");
  char full[400];
  snprintf(full, sizeof full, "sh -c '%s' %s", cmd, tmp);
  cr_assert_eq(system(full), 0);
}

static const char *attr(const char *rel)
{
  static char buf[4096];
  char path[256];
  snprintf(path, sizeof path, "%s/%s", tmp, rel);
  FILE *f = fopen(path, "re");
  cr_assert_not_null(f, "%s", path);
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  return buf;
}

static int written;

/* dj_procfs_write's contract on a plain directory: one write beneath dirfd. */
static int plain_write(int dirfd, const char *rel, const char *value, dj_err *err)
{
  int fd = openat(dirfd, rel, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return dj_error(err, errno, "open %s", rel);
  ssize_t n = write(fd, value, strlen(value));
  close(fd);
  written++;
  return n == (ssize_t) strlen(value) ? 0 : dj_error(err, EIO, "write %s", rel);
}

static int refusing_write(int dirfd, const char *rel, const char *value, dj_err *err)
{
  (void) dirfd;
  (void) value;
  return dj_error(err, ENOENT, "write /proc/%s", rel); /* what the kernel says of an unknown profile */
}

Test(lsm, apparmor_profile_goes_to_its_own_directory)
{
  fake_attrs(true);
  struct dj_process p = { .apparmor_profile = "donjon-tenant" };
  dj_err err = { 0 };
  cr_assert(dj_lsm_wanted(&p));
  cr_assert_eq(dj_lsm_label_exec(&p, tmpfd, plain_write, &err), 0, "%s", err.msg);
  cr_expect_str_eq(attr("thread-self/attr/apparmor/exec"), "exec donjon-tenant");
  cr_expect_str_eq(attr("thread-self/attr/exec"), ""); /* may belong to another LSM since 5.8 */
}

Test(lsm, apparmor_profile_before_linux_5_8_goes_to_attr_exec)
{
  fake_attrs(false);
  struct dj_process p = { .apparmor_profile = "donjon-tenant" };
  dj_err err = { 0 };
  cr_assert_eq(dj_lsm_label_exec(&p, tmpfd, plain_write, &err), 0, "%s", err.msg);
  cr_expect_str_eq(attr("thread-self/attr/exec"), "exec donjon-tenant");
}

Test(lsm, selinux_label_goes_to_attr_exec)
{
  fake_attrs(true);
  struct dj_process p = { .selinux_label = "system_u:system_r:container_t:s0:c1,c2" };
  dj_err err = { 0 };
  cr_assert_eq(dj_lsm_label_exec(&p, tmpfd, plain_write, &err), 0, "%s", err.msg);
  cr_expect_str_eq(attr("thread-self/attr/exec"), "system_u:system_r:container_t:s0:c1,c2");
  cr_expect_str_eq(attr("thread-self/attr/apparmor/exec"), "");
}

Test(lsm, nothing_asked_writes_nothing)
{
  struct dj_process p = { .apparmor_profile = "", .selinux_label = NULL };
  dj_err err = { 0 };
  written = 0;
  cr_assert_not(dj_lsm_wanted(&p));
  cr_assert_eq(dj_lsm_label_exec(&p, -1, plain_write, &err), 0, "%s", err.msg);
  cr_expect_eq(written, 0);
}

Test(lsm, a_refused_write_is_an_error_naming_the_profile)
{
  fake_attrs(true);
  struct dj_process p = { .apparmor_profile = "no-such-profile" };
  dj_err err = { 0 };
  cr_assert_eq(dj_lsm_label_exec(&p, tmpfd, refusing_write, &err), -1);
  cr_expect_str_eq(err.msg, "process.apparmorProfile \"no-such-profile\": write /proc/thread-self/attr/apparmor/exec: No such file or directory");
  cr_expect_eq(err.errnum, ENOENT);
}

Test(lsm, the_procfs_writer_refuses_a_directory_that_is_not_procfs)
{
  /* What donjon passes: a container that swapped the attribute for a file of its own gets nothing. */
  fake_attrs(true);
  struct dj_process p = { .selinux_label = "system_u:system_r:container_t:s0" };
  dj_err err = { 0 };
  cr_assert_eq(dj_lsm_label_exec(&p, tmpfd, dj_procfs_write, &err), -1);
  cr_expect(strstr(err.msg, "not procfs") != NULL, "%s", err.msg);
  cr_expect_str_eq(attr("thread-self/attr/exec"), "");
}

Test(lsm, through_a_real_procfs_handle_the_kernel_answers)
{
  /* No LSM here takes attr/exec: the kernel's EINVAL comes back with the label and the file. */
  dj_err err = { 0 };
  int procfd = dj_procfs_open(&err);
  cr_assert_geq(procfd, 0, "%s", err.msg);
  struct dj_process p = { .selinux_label = "system_u:system_r:container_t:s0" };
  cr_assert_eq(dj_lsm_label_exec(&p, procfd, dj_procfs_write, &err), -1);
  cr_expect_str_eq(err.msg, "process.selinuxLabel \"system_u:system_r:container_t:s0\": write /proc/thread-self/attr/exec: Invalid argument");
  cr_expect_eq(err.errnum, EINVAL);
  close(procfd);
}

Test(lsm, mount_label_is_refused)
{
  struct dj_spec s = { .mount_label = "system_u:object_r:container_file_t:s0" };
  dj_err err = { 0 };
  cr_assert_eq(dj_lsm_check(&s, &err), -1);
  cr_expect(strstr(err.msg, "linux.mountLabel: \"system_u:object_r:container_file_t:s0\"") != NULL, "%s", err.msg);
  struct dj_spec none = { .mount_label = "" };
  cr_expect_eq(dj_lsm_check(&none, &err), 0, "%s", err.msg);
}

/* ---- rlimits ---- */

Test(rlimits, nofile_above_nr_open_is_refused_even_with_cap_sys_resource)
{
  /* In a user namespace of its own the child holds CAP_SYS_RESOURCE (there), as root on a
   * normal host does: the host's hard limit no longer stops it, fs.nr_open does. */
  FILE *f = fopen("/proc/sys/fs/nr_open", "re");
  cr_assert_not_null(f);
  unsigned long long most = 0;
  cr_assert_eq(fscanf(f, "%llu", &most), 1);
  fclose(f);
  int out[2];
  cr_assert_eq(pipe(out), 0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    close(out[0]);
    if (unshare(CLONE_NEWUSER) < 0)
      _exit(2);
    struct dj_rlimit lim = { .resource = RLIMIT_NOFILE, .name = "RLIMIT_NOFILE", .soft = most + 1, .hard = most + 1 };
    struct dj_process p = { .rlimits = &lim, .n_rlimits = 1 };
    dj_err err = { 0 };
    int rc = dj_rlimits_check(&p, &err);
    (void) !write(out[1], err.msg, strlen(err.msg));
    _exit(rc == -1 ? 0 : 1);
  }
  close(out[1]);
  char msg[1024] = { 0 };
  (void) !read(out[0], msg, sizeof msg - 1);
  close(out[0]);
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x: %s", status, msg);
  char want[256];
  snprintf(want, sizeof want, "process.rlimits[0]: RLIMIT_NOFILE: asked soft %llu hard %llu, above this host's "
                              "hard limit %llu (fs.nr_open", most + 1, most + 1, most);
  cr_expect(strstr(msg, want) != NULL, "%s", msg);
}
