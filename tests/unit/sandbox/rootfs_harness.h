/* The harness of test_rootfs.c: a busybox bundle in a temporary directory, a "container" run in a
 * forked child with its own mount and pid (and optionally user) namespaces, and the checks made
 * from inside it. Included by test_rootfs.c only (static helpers). */
#ifndef DJ_TEST_ROOTFS_HARNESS_H
#define DJ_TEST_ROOTFS_HARNESS_H

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/magic.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/rootfs.h"

#define USERNS_HOST_ID 100000u

static char bundle[PATH_MAX];
static char rootfs[PATH_MAX + 16];
static char msg[2048]; /* what a check inside the container found wrong */

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (errno != 0 && n > 0 && (size_t) n < sizeof msg)
    snprintf(msg + n, sizeof msg - (size_t) n, " (errno: %s)", strerror(errno));
  return -1;
}
#define EXPECT(cond, ...) \
  do { \
    errno = 0; \
    if (!(cond)) \
      return fail(__VA_ARGS__); \
  } while (0)

/* ---- the bundle ----------------------------------------------------------------------------- */

static void write_file(const char *path, const char *content)
{
  FILE *f = fopen(path, "we");
  cr_assert_not_null(f, "create %s: %s", path, strerror(errno));
  fputs(content, f);
  cr_assert_eq(fclose(f), 0);
}

static void bpath(char *out, size_t size, const char *rel)
{
  snprintf(out, size, "%s/%s", bundle, rel);
}

static void mkdir_b(const char *rel)
{
  char p[PATH_MAX * 2];
  bpath(p, sizeof p, rel);
  cr_assert_eq(mkdir(p, 0755), 0, "mkdir %s: %s", p, strerror(errno));
}

static void copy_busybox(const char *to)
{
  int in = open("/bin/busybox", O_RDONLY | O_CLOEXEC);
  cr_assert_geq(in, 0, "Debian's busybox-static is needed: %s", strerror(errno));
  int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
  cr_assert_geq(out, 0);
  char buf[65536];
  ssize_t n;
  while ((n = read(in, buf, sizeof buf)) > 0)
    cr_assert_eq(dj_write_all(out, buf, (size_t) n), 0);
  close(in);
  close(out);
}

static int chown_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st, (void) flag, (void) ftw;
  return lchown(path, USERNS_HOST_ID, USERNS_HOST_ID);
}

static void make_bundle(void)
{
  snprintf(bundle, sizeof bundle, "/tmp/dj-rootfs-XXXXXX");
  cr_assert_not_null(mkdtemp(bundle));
  snprintf(rootfs, sizeof rootfs, "%s/rootfs", bundle);
  static const char *const dirs[] = { "rootfs", "rootfs/bin", "rootfs/etc", "rootfs/proc", "rootfs/sys",
                                      "rootfs/dev", "rootfs/tmp", "rootfs/mnt", "rootfs/var", "rootfs/run", "src",
                                      "src/sub" };
  for (size_t i = 0; i < DJ_ARRAY_SIZE(dirs); i++)
    mkdir_b(dirs[i]);
  char p[PATH_MAX * 2];
  bpath(p, sizeof p, "rootfs/bin/busybox");
  copy_busybox(p);
  static const char *const applets[] = { "sh", "true", "cat", "ls" };
  for (size_t i = 0; i < DJ_ARRAY_SIZE(applets); i++) {
    bpath(p, sizeof p, "rootfs/bin/");
    strcat(p, applets[i]);
    cr_assert_eq(symlink("busybox", p), 0);
  }
  bpath(p, sizeof p, "rootfs/etc/marker");
  write_file(p, "image\n");
  bpath(p, sizeof p, "src/file");
  write_file(p, "from the bundle\n");
  bpath(p, sizeof p, "hostfile");
  write_file(p, "bound file\n");
  /* Debian's /var/run -> /run: followed, inside the root. */
  bpath(p, sizeof p, "rootfs/var/run");
  cr_assert_eq(symlink("/run", p), 0);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void) st, (void) flag, (void) ftw;
  return remove(path);
}

static void bundle_teardown(void)
{
  /* The container's mounts died with its mount namespace: only plain files remain here. */
  if (bundle[0] != '\0')
    cr_assert_eq(nftw(bundle, remove_one, 16, FTW_DEPTH | FTW_PHYS), 0, "remove %s", bundle);
}


/* ---- running a "container" ------------------------------------------------------------------ */

struct run {
  const struct dj_spec *spec;
  struct dj_rootfs_opts opts;
  int unshare_flags;          /* namespaces besides mount and pid */
  int (*before)(void);        /* in the child's mount namespace, before setup */
  int (*check)(void);         /* inside, after setup; 0: all good, else msg says why */
  bool expect_setup_failure;  /* the setup must fail; msg gets its error */
};

static void write_proc(pid_t pid, const char *file, const char *value)
{
  char p[64];
  snprintf(p, sizeof p, "/proc/%d/%s", (int) pid, file);
  int fd = open(p, O_WRONLY | O_CLOEXEC);
  cr_assert_geq(fd, 0, "open %s: %s", p, strerror(errno));
  cr_assert_eq(write(fd, value, strlen(value)), (ssize_t) strlen(value), "write %s: %s", p, strerror(errno));
  close(fd);
}

static void report(int fd, const char *prefix, const char *text)
{
  char buf[sizeof msg + 64];
  int n = snprintf(buf, sizeof buf, "%s%s", prefix, text);
  dj_write_all(fd, buf, (size_t) n);
}

static uint64_t ns_root_mount_id; /* the mount namespace's root mount, for listmount(2) */

static int console_from_before = -1; /* a pty a before() hook opened inside the child's namespace */

static __attribute__((noreturn)) void container_init(const struct run *r, int out)
{
  dj_err err = { 0 };
  struct dj_rootfs_opts opts = r->opts;
  if (console_from_before >= 0)
    opts.console_fd = console_from_before;
  if (dj_rootfs_setup(r->spec, &opts, &err) < 0) {
    report(out, r->expect_setup_failure ? "" : "setup failed: ", err.msg);
    _exit(r->expect_setup_failure ? 0 : 2);
  }
  if (r->expect_setup_failure) {
    report(out, "", "setup succeeded where it must fail");
    _exit(3);
  }
  msg[0] = '\0';
  int rc = r->check != NULL ? r->check() : 0;
  if (rc != 0)
    report(out, "check failed: ", msg);
  _exit(rc != 0 ? 1 : 0);
}

/* Runs r in a child; returns its exit status and fills msg with what it reported. */
static int run_container(const struct run *r)
{
  int out[2], go[2], ready[2];
  cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
  cr_assert_eq(pipe2(go, O_CLOEXEC), 0);
  cr_assert_eq(pipe2(ready, O_CLOEXEC), 0);
  pid_t child = fork();
  cr_assert_geq(child, 0);
  if (child == 0) {
    close(out[0]);
    char c = 0;
    if (r->opts.userns) {
      if (unshare(CLONE_NEWUSER) < 0)
        _exit(10);
      if (write(ready[1], "u", 1) != 1 || read(go[0], &c, 1) != 1)
        _exit(11);
      if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
        _exit(12);
    }
    if (unshare(CLONE_NEWNS | CLONE_NEWPID | r->unshare_flags) < 0) {
      report(out[1], "unshare: ", strerror(errno));
      _exit(13);
    }
    /* What the test itself mounts below stays in this namespace whatever the host's propagation. */
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
      _exit(17);
    struct statx sx;
    if (statx(AT_FDCWD, "/", 0, 0x4000 /* STATX_MNT_ID_UNIQUE */, &sx) == 0)
      ns_root_mount_id = sx.stx_mnt_id;
    if (r->before != NULL && r->before() < 0) {
      report(out[1], "before: ", msg);
      _exit(14);
    }
    pid_t init = fork(); /* pid 1 of the new pid namespace, so proc mounts show it */
    if (init < 0)
      _exit(15);
    if (init == 0)
      container_init(r, out[1]);
    int st;
    if (waitpid(init, &st, 0) < 0)
      _exit(16);
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
  }
  close(out[1]);
  if (r->opts.userns) {
    char c;
    cr_assert_eq(read(ready[0], &c, 1), 1, "the child could not make its user namespace");
    char map[64];
    snprintf(map, sizeof map, "0 %u 65536\n", USERNS_HOST_ID);
    write_proc(child, "setgroups", "deny");
    write_proc(child, "uid_map", map);
    write_proc(child, "gid_map", map);
    cr_assert_eq(write(go[1], "g", 1), 1);
  }
  close(go[1]);
  size_t len = 0;
  ssize_t n;
  while (len < sizeof msg - 1 && (n = read(out[0], msg + len, sizeof msg - 1 - len)) > 0)
    len += (size_t) n;
  msg[len] = '\0';
  close(out[0]);
  close(go[0]);
  close(ready[0]);
  close(ready[1]);
  int st;
  cr_assert_eq(waitpid(child, &st, 0), child);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

#define RUN_OK(r) \
  do { \
    int rc_ = run_container(r); \
    cr_assert_eq(rc_, 0, "container exit %d: %s", rc_, msg); \
  } while (0)

/* ---- helpers used inside the container -------------------------------------------------------- */

/* The topmost mount at mountpoint: its per-mount options, fstype and optional fields. */
static bool mountinfo(const char *mountpoint, char *opts, char *fstype, char *optional)
{
  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (f == NULL)
    return false;
  char line[4096];
  bool found = false;
  while (fgets(line, sizeof line, f) != NULL) {
    char mp[1024], o[512], fs[64];
    int off = 0;
    if (sscanf(line, "%*s %*s %*s %*s %1023s %511s %n", mp, o, &off) != 2 || strcmp(mp, mountpoint) != 0)
      continue;
    char *sep = strstr(line, " - ");
    if (sep == NULL || sscanf(sep + 3, "%63s", fs) != 1)
      continue;
    found = true;
    if (opts != NULL)
      strcpy(opts, o);
    if (fstype != NULL)
      strcpy(fstype, fs);
    if (optional != NULL) {
      size_t n = sep > line + off ? (size_t) (sep - (line + off)) : 0;
      memcpy(optional, line + off, n);
      optional[n] = '\0';
    }
  }
  fclose(f);
  return found;
}

static int count_mounts(void)
{
  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (f == NULL)
    return -1;
  int n = 0, c;
  while ((c = fgetc(f)) != EOF)
    n += c == '\n';
  fclose(f);
  return n;
}

static bool is_chr(const char *path, unsigned maj, unsigned min)
{
  struct stat st;
  return stat(path, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(maj, min);
}

static bool fs_is(const char *path, long magic)
{
  struct statfs sfs;
  return statfs(path, &sfs) == 0 && sfs.f_type == magic;
}

static bool vfs_flags(const char *path, unsigned long flags)
{
  struct statvfs sv;
  return statvfs(path, &sv) == 0 && (sv.f_flag & flags) == flags;
}

static bool read_is(const char *path, const char *expect)
{
  char buf[256] = "";
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  return n >= 0 && strcmp(buf, expect) == 0;
}

static int write_errno(const char *path)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) {
    close(fd);
    return 0;
  }
  return errno;
}

#endif
