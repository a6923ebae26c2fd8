/* dj_rootfs_setup and the procfs handle, for real: a busybox rootfs in a temporary bundle, set up
 * in a forked child with its own mount (and pid, and optionally user) namespace, checked from
 * inside after the pivot. Runs as root. */
#include "rootfs_harness.h"

#include <sys/syscall.h>

TestSuite(rootfs, .init = make_bundle, .fini = bundle_teardown);

/* ---- the specs ------------------------------------------------------------------------------ */

#define M(dest, typ, src, fl, dat) \
  { .destination = (dest), .type = (typ), .source = (src), .flags = (fl), .data = (char *) (dat) }

static struct dj_mount default_mounts[] = {
  M("/proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL),
  M("/dev", "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k"),
  M("/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620"),
  M("/dev/shm", "tmpfs", "shm", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k"),
  M("/dev/mqueue", "mqueue", "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL),
  M("/sys", "sysfs", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL),
  M("/tmp", "tmpfs", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777"),
};

/* This kernel has no /proc/kcore or /proc/sysrq-trigger: absent paths are skipped. */
static const char *masked[] = { "/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sysrq-trigger",
                                "/proc/acpi", "/sys/firmware", NULL };
static const char *readonly[] = { "/proc/sys", "/proc/bus", NULL };

static struct dj_device extra_device = { .path = "/dev/mydev", .type = 'c', .major = 1, .minor = 5,
                                         .file_mode = 0640, .has_file_mode = true, .uid = 7, .gid = 8,
                                         .has_uid = true, .has_gid = true };

static void default_spec(struct dj_spec *s)
{
  memset(s, 0, sizeof *s);
  s->root_path = "rootfs";
  s->root_readonly = true;
  s->mounts = default_mounts;
  s->n_mounts = DJ_ARRAY_SIZE(default_mounts);
  s->masked_paths = masked;
  s->n_masked_paths = DJ_ARRAY_SIZE(masked) - 1;
  s->readonly_paths = readonly;
  s->n_readonly_paths = DJ_ARRAY_SIZE(readonly) - 1;
  s->ns_flags = CLONE_NEWNS | CLONE_NEWPID;
}

static struct run default_run(const struct dj_spec *s)
{
  return (struct run){ .spec = s, .opts = { .bundle = bundle, .console_fd = -1 } };
}

/* ---- the tests ------------------------------------------------------------------------------ */

static int check_default(void)
{
  char cwd[PATH_MAX];
  EXPECT(getcwd(cwd, sizeof cwd) != NULL && strcmp(cwd, "/") == 0, "cwd is not /");
  EXPECT(read_is("/etc/marker", "image\n"), "/ is not the image");
  /* The host's mounts are gone: only ours are left (root, 7 config mounts, masks, read-only). */
  EXPECT(!mountinfo("/sys/fs/cgroup", NULL, NULL, NULL), "a host mount is still visible");
  int n = count_mounts();
  EXPECT(n > 0 && n <= 20, "%d mounts visible: host mounts leaked", n);
  EXPECT(vfs_flags("/", ST_RDONLY), "root.readonly: / is writable");
  EXPECT(write_errno("/newfile") == EROFS, "root.readonly: created /newfile");
  EXPECT(fs_is("/proc", PROC_SUPER_MAGIC), "/proc is not procfs");
  EXPECT(vfs_flags("/proc", ST_NOSUID | ST_NODEV | ST_NOEXEC), "/proc flags");
  EXPECT(getpid() == 1, "not pid 1 of the new pid namespace");
  EXPECT(fs_is("/sys", SYSFS_MAGIC) && vfs_flags("/sys", ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC),
         "/sys is not a read-only sysfs");
  EXPECT(fs_is("/tmp", TMPFS_MAGIC) && write_errno("/tmp/x") == 0, "/tmp is not a writable tmpfs");
  char opts[512], fstype[64];
  EXPECT(mountinfo("/dev/pts", NULL, fstype, NULL) && strcmp(fstype, "devpts") == 0, "/dev/pts");
  EXPECT(mountinfo("/dev/mqueue", NULL, fstype, NULL) && strcmp(fstype, "mqueue") == 0, "/dev/mqueue");
  EXPECT(mountinfo("/dev/shm", opts, NULL, NULL) && strstr(opts, "noexec") != NULL, "/dev/shm noexec");
  EXPECT(mountinfo("/dev", opts, NULL, NULL) && strstr(opts, "nosuid") && !strstr(opts, "relatime"),
         "/dev: strictatime nosuid: %s", opts);
  /* masked paths */
  EXPECT(is_chr("/proc/keys", 1, 3) && is_chr("/proc/timer_list", 1, 3), "/proc/keys, /proc/timer_list not masked");
  EXPECT(read_is("/proc/keys", ""), "/proc/keys readable");
  EXPECT(fs_is("/proc/acpi", TMPFS_MAGIC) && vfs_flags("/proc/acpi", ST_RDONLY), "/proc/acpi not masked");
  EXPECT(fs_is("/sys/firmware", TMPFS_MAGIC) && vfs_flags("/sys/firmware", ST_RDONLY),
         "/sys/firmware is not a read-only tmpfs");
  EXPECT(write_errno("/sys/firmware/x") == EROFS, "masked directory writable");
  /* read-only paths */
  EXPECT(vfs_flags("/proc/sys", ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC), "/proc/sys flags");
  EXPECT(write_errno("/proc/sys/kernel/domainname") == EROFS, "/proc/sys is writable");
  EXPECT(vfs_flags("/proc/bus", ST_RDONLY), "/proc/bus is writable");
  EXPECT(!vfs_flags("/proc", ST_RDONLY), "/proc itself became read-only");
  /* devices */
  static const struct { const char *p; unsigned maj, min; } devs[] = {
    { "/dev/null", 1, 3 }, { "/dev/zero", 1, 5 }, { "/dev/full", 1, 7 },
    { "/dev/random", 1, 8 }, { "/dev/urandom", 1, 9 }, { "/dev/tty", 5, 0 } };
  for (size_t i = 0; i < DJ_ARRAY_SIZE(devs); i++) {
    struct stat st;
    EXPECT(is_chr(devs[i].p, devs[i].maj, devs[i].min) && stat(devs[i].p, &st) == 0 &&
           (st.st_mode & 07777) == 0666, "%s", devs[i].p);
  }
  struct stat st;
  EXPECT(stat("/dev/mydev", &st) == 0 && S_ISCHR(st.st_mode) && (st.st_mode & 07777) == 0640 &&
         st.st_uid == 7 && st.st_gid == 8 && st.st_rdev == makedev(1, 5), "linux.devices /dev/mydev");
  char link[64] = "";
  EXPECT(readlink("/dev/ptmx", link, sizeof link - 1) > 0 && strcmp(link, "pts/ptmx") == 0, "/dev/ptmx");
  memset(link, 0, sizeof link);
  EXPECT(readlink("/dev/fd", link, sizeof link - 1) > 0 && strcmp(link, "/proc/self/fd") == 0, "/dev/fd");
  EXPECT(access("/dev/stdin", F_OK) == 0 && access("/dev/stderr", F_OK) == 0, "/dev/std*");
  EXPECT(access("/dev/core", F_OK) != 0, "/dev/core made unasked");
  /* the image works: exec its shell */
  pid_t p = fork();
  if (p == 0) {
    execl("/bin/sh", "sh", "-c", "test -e /proc/self/status && exit 7", (char *) NULL);
    _exit(99);
  }
  int ws;
  EXPECT(waitpid(p, &ws, 0) == p && WIFEXITED(ws) && WEXITSTATUS(ws) == 7, "busybox sh in the root");
  return 0;
}

Test(rootfs, default_container)
{
  struct dj_spec s;
  default_spec(&s);
  s.devices = &extra_device;
  s.n_devices = 1;
  struct run r = default_run(&s);
  r.check = check_default;
  RUN_OK(&r);
}

static int check_userns(void)
{
  EXPECT(getuid() == 0, "not root in the user namespace");
  EXPECT(vfs_flags("/", ST_RDONLY), "root.readonly");
  EXPECT(fs_is("/proc", PROC_SUPER_MAGIC), "/proc");
  /* no new network namespace: the host's /sys bound read-only */
  EXPECT(fs_is("/sys", SYSFS_MAGIC) && vfs_flags("/sys", ST_RDONLY), "/sys is not read-only sysfs");
  /* device nodes are the host's, bound (mknod is not allowed here) */
  EXPECT(is_chr("/dev/null", 1, 3) && is_chr("/dev/urandom", 1, 9), "/dev/null, /dev/urandom");
  EXPECT(mountinfo("/dev/null", NULL, NULL, NULL), "/dev/null is not a bind mount");
  int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
  EXPECT(fd >= 0 && write(fd, "x", 1) == 1, "write /dev/null");
  close(fd);
  EXPECT(is_chr("/proc/keys", 1, 3), "/proc/keys not masked");
  EXPECT(vfs_flags("/proc/sys", ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC), "/proc/sys is writable");
  EXPECT(fs_is("/sys/firmware", TMPFS_MAGIC), "/sys/firmware not masked");
  return 0;
}

Test(rootfs, user_namespace)
{
  cr_assert_eq(nftw(bundle, chown_one, 16, FTW_PHYS), 0);
  struct dj_spec s;
  default_spec(&s);
  s.ns_flags |= CLONE_NEWUSER | CLONE_NEWIPC; /* mqueue belongs to the ipc namespace's owner */
  struct run r = default_run(&s);
  r.unshare_flags = CLONE_NEWIPC;
  r.opts.userns = true;
  r.check = check_userns;
  RUN_OK(&r);
}

/* A mount made in the child before setup, under the bind source: shows whether a bind is recursive. */
static int mount_submount(void)
{
  char p[PATH_MAX * 2];
  bpath(p, sizeof p, "src/sub");
  if (mount("tmpfs", p, "tmpfs", 0, "size=1m") < 0)
    return fail("mount tmpfs on %s", p);
  return 0;
}

static int check_binds(void)
{
  EXPECT(read_is("/mnt/ro/file", "from the bundle\n"), "bind source content");
  EXPECT(vfs_flags("/mnt/ro", ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC), "ro,nosuid,nodev,noexec");
  EXPECT(write_errno("/mnt/ro/new") == EROFS, "ro bind is writable");
  EXPECT(write_errno("/mnt/rw/new") == 0 && !vfs_flags("/mnt/rw", ST_NOEXEC), "rw bind");
  EXPECT(!fs_is("/mnt/rw/sub", TMPFS_MAGIC), "a plain bind carried the submount");
  EXPECT(fs_is("/mnt/rbind/sub", TMPFS_MAGIC), "rbind lost the submount");
  EXPECT(vfs_flags("/mnt/rbind/sub", ST_RDONLY), "rbind,ro is not recursive");
  char opt[512];
  EXPECT(mountinfo("/mnt/shared", NULL, NULL, opt) && strstr(opt, "shared:") != NULL,
         "shared propagation: \"%s\"", opt);
  EXPECT(mountinfo("/mnt/private", NULL, NULL, opt) && strstr(opt, "shared:") == NULL &&
         strstr(opt, "master:") == NULL, "private propagation: \"%s\"", opt);
  EXPECT(read_is("/etc/bound", "bound file\n"), "file bind");
  EXPECT(read_is("/var/run/x/file", "from the bundle\n"), "bind through the image's /var/run symlink");
  EXPECT(read_is("/run/x/file", "from the bundle\n"), "/var/run -> /run not followed inside the root");
  return 0;
}

Test(rootfs, bind_mount_options)
{
  struct dj_mount binds[] = {
    { .destination = "/mnt/ro", .source = "src", .bind = true,
      .flags = MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC },
    { .destination = "/mnt/rw", .source = "src", .bind = true, .flags = MS_BIND },
    { .destination = "/mnt/rbind", .source = "src", .bind = true, .recursive = true,
      .flags = MS_BIND | MS_REC | MS_RDONLY },
    { .destination = "/mnt/shared", .source = "src", .bind = true, .flags = MS_BIND, .propagation = MS_SHARED },
    { .destination = "/mnt/private", .source = "src", .bind = true, .flags = MS_BIND, .propagation = MS_PRIVATE },
    { .destination = "/etc/bound", .source = "hostfile", .bind = true, .flags = MS_BIND },
    { .destination = "/var/run/x", .source = "src", .bind = true, .flags = MS_BIND },
    M("/proc", "proc", "proc", 0, NULL),
  };
  struct dj_spec s;
  memset(&s, 0, sizeof s);
  s.root_path = "rootfs";
  s.mounts = binds;
  s.n_mounts = DJ_ARRAY_SIZE(binds);
  struct run r = default_run(&s);
  r.before = mount_submount;
  r.check = check_binds;
  RUN_OK(&r);
}

static char probe_dir[64];

static int check_symlink_escape(void)
{
  EXPECT(fs_is("/etc", TMPFS_MAGIC), "the tmpfs for /evil did not land on the image's /etc");
  EXPECT(access("/etc/marker", F_OK) != 0, "the image's /etc is not covered");
  return 0;
}

Test(rootfs, symlink_destination_stays_inside)
{
  char p[PATH_MAX * 2];
  bpath(p, sizeof p, "rootfs/evil");
  cr_assert_eq(symlink("/../../../etc", p), 0);
  snprintf(probe_dir, sizeof probe_dir, "dj-rootfs-probe-%d", (int) getpid());
  char dest[128];
  snprintf(dest, sizeof dest, "/evil/%s", probe_dir);
  struct dj_mount mounts[] = {
    M(dest, "tmpfs", "tmpfs", 0, "size=1m"),  /* made first: mkdir through the link */
    M("/evil", "tmpfs", "tmpfs", 0, "size=1m"),
  };
  struct dj_spec s;
  memset(&s, 0, sizeof s);
  s.root_path = "rootfs";
  s.mounts = mounts;
  s.n_mounts = DJ_ARRAY_SIZE(mounts);
  struct run r = default_run(&s);
  r.check = check_symlink_escape;
  RUN_OK(&r);
  char host[160];
  snprintf(host, sizeof host, "/etc/%s", probe_dir);
  cr_assert_neq(access(host, F_OK), 0, "the host's /etc was written");
  bpath(p, sizeof p, "rootfs/etc/");
  strcat(p, probe_dir);
  cr_assert_eq(access(p, F_OK), 0, "made inside the root");
}

static int check_swapped_null(void)
{
  EXPECT(is_chr("/proc/keys", 1, 3), "/proc/keys is not the real /dev/null");
  EXPECT(is_chr("/etc/masked", 1, 3), "/etc/masked is not the real /dev/null");
  EXPECT(read_is("/etc/masked", ""), "masked file readable");
  int fd = open("/etc/masked", O_WRONLY | O_CLOEXEC);
  EXPECT(fd >= 0 && write(fd, "pwned", 5) == 5, "write the masked file");
  close(fd);
  EXPECT(read_is("/etc/victim", "secret\n"), "the symlink's target was written or mounted over");
  EXPECT(is_chr("/dev/null", 1, 3), "/dev/null was not replaced by the real device");
  char link[64] = "";
  EXPECT(readlink("/dev/ptmx", link, sizeof link - 1) > 0 && strcmp(link, "pts/ptmx") == 0,
         "the image's /dev/ptmx was kept: \"%s\"", link);
  struct stat st;
  EXPECT(stat("/etc/victim", &st) == 0 && S_ISREG(st.st_mode), "/etc/victim was mounted over");
  return 0;
}

Test(rootfs, swapped_dev_null_changes_nothing)
{
  char p[PATH_MAX * 2];
  bpath(p, sizeof p, "rootfs/etc/victim");
  write_file(p, "secret\n");
  bpath(p, sizeof p, "rootfs/etc/masked");
  write_file(p, "hidden\n");
  bpath(p, sizeof p, "rootfs/dev/null");
  cr_assert_eq(symlink("/etc/victim", p), 0);
  bpath(p, sizeof p, "rootfs/dev/ptmx");
  cr_assert_eq(symlink("/etc/victim", p), 0);
  struct dj_mount mounts[] = { M("/proc", "proc", "proc", 0, NULL) }; /* no /dev tmpfs: the image's /dev */
  const char *mask[] = { "/proc/keys", "/etc/masked" };
  struct dj_spec s;
  memset(&s, 0, sizeof s);
  s.root_path = "rootfs";
  s.mounts = mounts;
  s.n_mounts = 1;
  s.masked_paths = mask;
  s.n_masked_paths = 2;
  struct run r = default_run(&s);
  r.check = check_swapped_null;
  RUN_OK(&r);
}

/* How many mounts are still beneath the namespace's root mount, reachable from our root or not
 * (listmount(2), Linux 6.8+; as root it lists them all). */
static long mounts_in_namespace(void)
{
  struct { uint32_t size, spare; uint64_t mnt_id, param; } req = { .size = 24, .mnt_id = ns_root_mount_id };
  uint64_t ids[512];
  return syscall(458 /* SYS_listmount */, &req, ids, DJ_ARRAY_SIZE(ids), 0);
}

static int check_no_pivot(void)
{
  /* The root stack and /proc: the host's other mounts were detached, not merely hidden. */
  long n = mounts_in_namespace();
  EXPECT(n > 0 && n <= 4, "%ld mounts left in the namespace: the host's were not detached", n);
  char cwd[PATH_MAX];
  EXPECT(getcwd(cwd, sizeof cwd) != NULL && strcmp(cwd, "/") == 0, "cwd is not /");
  EXPECT(read_is("/etc/marker", "image\n"), "/ is not the image");
  EXPECT(access("/bin/busybox", X_OK) == 0, "busybox");
  EXPECT(vfs_flags("/", ST_RDONLY), "root.readonly");
  EXPECT(fs_is("/proc", PROC_SUPER_MAGIC), "/proc");
  return 0;
}

Test(rootfs, no_pivot)
{
  struct dj_mount mounts[] = { M("/proc", "proc", "proc", 0, NULL) };
  struct dj_spec s;
  memset(&s, 0, sizeof s);
  s.root_path = rootfs; /* absolute this time */
  s.root_readonly = true;
  s.mounts = mounts;
  s.n_mounts = 1;
  struct run r = default_run(&s);
  r.opts.no_pivot = true;
  r.check = check_no_pivot;
  RUN_OK(&r);
}

static int console_slave = -1;

static int check_console(void)
{
  struct stat a, b;
  EXPECT(fstat(console_slave, &a) == 0 && stat("/dev/console", &b) == 0, "stat /dev/console");
  EXPECT(S_ISCHR(b.st_mode) && a.st_rdev == b.st_rdev && a.st_ino == b.st_ino, "/dev/console is not the pty");
  return 0;
}

static void console_run(bool userns)
{
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  cr_assert_geq(master, 0);
  cr_assert_eq(grantpt(master), 0);
  cr_assert_eq(unlockpt(master), 0);
  console_slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  cr_assert_geq(console_slave, 0);
  struct dj_spec s;
  default_spec(&s);
  struct run r = default_run(&s);
  if (userns) {
    cr_assert_eq(nftw(bundle, chown_one, 16, FTW_PHYS), 0);
    s.ns_flags |= CLONE_NEWUSER | CLONE_NEWIPC;
    r.unshare_flags = CLONE_NEWIPC;
    r.opts.userns = true;
  }
  r.opts.console_fd = console_slave;
  r.check = check_console;
  RUN_OK(&r);
  close(console_slave);
  close(master);
}

Test(rootfs, console_is_the_pty)
{
  console_run(false);
}

Test(rootfs, console_is_the_pty_in_a_user_namespace)
{
  console_run(true);
}

Test(rootfs, console_must_be_a_pty)
{
  int fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  struct dj_spec s;
  default_spec(&s);
  struct run r = default_run(&s);
  r.opts.console_fd = fd;
  r.expect_setup_failure = true;
  int rc = run_container(&r);
  cr_assert_eq(rc, 0, "exit %d: %s", rc, msg);
  cr_assert(strstr(msg, "not a pty slave") != NULL, "%s", msg);
  close(fd);
}

static int check_cgroup(void)
{
  EXPECT(fs_is("/sys/fs/cgroup", TMPFS_MAGIC) || fs_is("/sys/fs/cgroup", CGROUP2_SUPER_MAGIC),
         "/sys/fs/cgroup is neither a tmpfs nor cgroup2");
  EXPECT(vfs_flags("/sys/fs/cgroup", ST_RDONLY), "/sys/fs/cgroup is writable");
  if (fs_is("/sys/fs/cgroup", TMPFS_MAGIC)) {
    EXPECT(fs_is("/sys/fs/cgroup/cpu", CGROUP_SUPER_MAGIC) && vfs_flags("/sys/fs/cgroup/cpu", ST_RDONLY),
           "/sys/fs/cgroup/cpu is not a read-only cgroup v1 mount");
    EXPECT(fs_is("/sys/fs/cgroup/unified", CGROUP2_SUPER_MAGIC), "/sys/fs/cgroup/unified");
    EXPECT(write_errno("/sys/fs/cgroup/cpu/x") == EROFS, "cgroup v1 hierarchy writable");
  }
  return 0;
}

Test(rootfs, cgroup_mount_in_a_cgroup_namespace)
{
  struct dj_mount mounts[] = {
    M("/proc", "proc", "proc", 0, NULL),
    M("/sys", "sysfs", "sysfs", MS_RDONLY, NULL),
    M("/sys/fs/cgroup", "cgroup", "cgroup", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL),
  };
  struct dj_spec s;
  memset(&s, 0, sizeof s);
  s.root_path = "rootfs";
  s.mounts = mounts;
  s.n_mounts = DJ_ARRAY_SIZE(mounts);
  s.ns_flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWCGROUP;
  struct run r = default_run(&s);
  r.unshare_flags = CLONE_NEWCGROUP;
  r.check = check_cgroup;
  RUN_OK(&r);
}

Test(rootfs, failures_name_the_step_and_path)
{
  struct dj_mount mounts[] = { M("/proc", "proc", "proc", 0, NULL), M("/x", "no-such-fs", "none", 0, NULL) };
  struct dj_spec s;
  memset(&s, 0, sizeof s);
  s.root_path = "rootfs";
  s.mounts = mounts;
  s.n_mounts = 2;
  struct run r = default_run(&s);
  r.expect_setup_failure = true;
  int rc = run_container(&r);
  cr_assert_eq(rc, 0, "exit %d: %s", rc, msg);
  cr_assert(strstr(msg, "mounts[1]: mount no-such-fs on /x: fsopen no-such-fs") != NULL, "%s", msg);

  struct dj_mount bind[] = { { .destination = "/mnt/b", .source = "missing", .bind = true, .flags = MS_BIND } };
  s.mounts = bind;
  s.n_mounts = 1;
  rc = run_container(&r);
  cr_assert_eq(rc, 0, "exit %d: %s", rc, msg);
  cr_assert(strstr(msg, "mount bind on /mnt/b: open the source") != NULL && strstr(msg, "/missing"), "%s", msg);

  struct dj_mount badopt[] = { M("/tmp", "tmpfs", "tmpfs", 0, "mode=notamode") };
  s.mounts = badopt;
  rc = run_container(&r);
  cr_assert_eq(rc, 0, "exit %d: %s", rc, msg);
  cr_assert(strstr(msg, "mount tmpfs on /tmp: option \"mode\"") != NULL, "%s", msg);
}

/* ---- the procfs handle and sysctl ------------------------------------------------------------- */

Test(procfs, handle_is_a_fresh_procfs)
{
  dj_err err = { 0 };
  int fd = dj_procfs_open(&err);
  cr_assert_geq(fd, 0, "%s", err.msg);
  struct statfs sfs;
  cr_assert_eq(fstatfs(fd, &sfs), 0);
  cr_assert_eq(sfs.f_type, PROC_SUPER_MAGIC);
  /* Writes cannot leave it: not by "..", not by a magic link. */
  cr_assert_lt(dj_procfs_write(fd, "../etc/hostname", "x", &err), 0);
  cr_assert_eq(err.errnum, EXDEV, "%s", err.msg);
  cr_assert_lt(dj_procfs_write(fd, "self/cwd/dj-procfs-probe", "x", &err), 0);
  cr_assert_eq(err.errnum, ELOOP, "%s", err.msg);
  cr_assert_lt(dj_procfs_write(fd, "/etc/hostname", "x", &err), 0);
  close(fd);
}

static int check_procfs_overmount(void)
{
  /* Something mounted over /proc/sys in our namespace must not catch writes through the handle. */
  if (mount("tmpfs", "/proc/sys", "tmpfs", 0, "size=1m") < 0)
    return fail("mount tmpfs over /proc/sys");
  dj_err err = { 0 };
  int fd = dj_procfs_open(&err);
  EXPECT(fd >= 0, "dj_procfs_open: %s", err.msg);
  struct dj_sysctl sc[] = { { "kernel.shmmax", "12345678" }, { "net.ipv4.ip_forward", "1" },
                            { "fs/mqueue/msg_max", "20" } };
  struct dj_spec s;
  memset(&s, 0, sizeof s);
  s.ns_flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC;
  s.sysctl = sc;
  s.n_sysctl = DJ_ARRAY_SIZE(sc);
  EXPECT(dj_sysctl_apply(&s, fd, &err) == 0, "dj_sysctl_apply: %s", err.msg);
  EXPECT(umount2("/proc/sys", MNT_DETACH) == 0, "umount /proc/sys");
  EXPECT(read_is("/proc/sys/kernel/shmmax", "12345678\n"), "kernel.shmmax was not set");
  EXPECT(read_is("/proc/sys/net/ipv4/ip_forward", "1\n"), "net.ipv4.ip_forward was not set");
  EXPECT(read_is("/proc/sys/fs/mqueue/msg_max", "20\n"), "fs.mqueue.msg_max was not set");
  close(fd);
  return 0;
}

static int procfs_in_namespaces(void)
{
  /* The check runs before any rootfs: this child's own mount namespace, proc for its pid ns. */
  if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    return fail("mount /proc");
  return check_procfs_overmount();
}

Test(procfs, sysctl_through_the_handle_in_new_namespaces)
{
  /* A pid-less variant of run_container: no rootfs, only namespaces. */
  int out[2];
  cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
  pid_t c = fork();
  if (c == 0) {
    if (unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC) < 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
      _exit(10);
    int rc = procfs_in_namespaces();
    if (rc != 0)
      report(out[1], "", msg);
    _exit(rc != 0);
  }
  close(out[1]);
  ssize_t n = read(out[0], msg, sizeof msg - 1);
  msg[n > 0 ? n : 0] = '\0';
  close(out[0]);
  int st;
  cr_assert_eq(waitpid(c, &st, 0), c);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d: %s", st, msg);
}

static int sysctl_error(const char *key, int ns_flags, char *out, size_t size)
{
  struct dj_sysctl sc = { key, "1" };
  struct dj_spec s;
  memset(&s, 0, sizeof s);
  s.ns_flags = ns_flags;
  s.sysctl = &sc;
  s.n_sysctl = 1;
  dj_err err = { 0 };
  /* -1: never opened; a refused key must fail before anything is written. */
  int rc = dj_sysctl_apply(&s, -1, &err);
  snprintf(out, size, "%s", err.msg);
  return rc;
}

Test(procfs, sysctl_refusals_name_the_key)
{
  char e[DJ_ERR_MSG_MAX];
  int all = CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;
  cr_assert_lt(sysctl_error("vm.swappiness", all, e, sizeof e), 0);
  cr_assert(strstr(e, "\"vm.swappiness\": not a namespaced sysctl") != NULL, "%s", e);
  cr_assert_lt(sysctl_error("net.ipv4.ip_forward", CLONE_NEWIPC, e, sizeof e), 0);
  cr_assert(strstr(e, "\"net.ipv4.ip_forward\": needs a new network namespace") != NULL, "%s", e);
  cr_assert_lt(sysctl_error("kernel.shmmax", CLONE_NEWNET, e, sizeof e), 0);
  cr_assert(strstr(e, "\"kernel.shmmax\": needs a new ipc namespace") != NULL, "%s", e);
  cr_assert_lt(sysctl_error("fs.mqueue.msg_max", CLONE_NEWNET, e, sizeof e), 0);
  cr_assert(strstr(e, "needs a new ipc namespace") != NULL, "%s", e);
  cr_assert_lt(sysctl_error("kernel.hostname", all, e, sizeof e), 0);
  cr_assert(strstr(e, "\"kernel.hostname\"") != NULL && strstr(e, "hostname/domainname"), "%s", e);
  cr_assert_lt(sysctl_error("net/../../kernel/core_pattern", all, e, sizeof e), 0);
  cr_assert(strstr(e, "not a sysctl name") != NULL, "%s", e);
  cr_assert_lt(sysctl_error("kernel.msgmaxx", all, e, sizeof e), 0);
  cr_assert(strstr(e, "not a namespaced sysctl") != NULL, "%s", e);
  cr_assert_lt(sysctl_error("net.ipv4.ip_forward", all, e, sizeof e), 0, "allowed: reaches the (bad) fd");
  cr_assert(strstr(e, "open /proc/sys/net/ipv4/ip_forward") != NULL, "%s", e);
}

/* ---- the checks on what donjon takes from the host ------------------------------------------ */

static int overmount_dev(const char *over, const char *with)
{
  if (mount(with, over, NULL, MS_BIND, NULL) < 0)
    return fail("bind %s over %s", with, over);
  return 0;
}

static int zero_over_null(void)
{
  return overmount_dev("/dev/null", "/dev/zero");
}

Test(rootfs, host_dev_null_must_be_1_3)
{
  struct dj_spec s;
  default_spec(&s);
  struct run r = default_run(&s);
  r.before = zero_over_null;
  r.expect_setup_failure = true;
  int rc = run_container(&r);
  cr_assert_eq(rc, 0, "exit %d: %s", rc, msg);
  cr_assert(strstr(msg, "maskedPaths: the host's /dev/null is not the character device 1:3") != NULL, "%s", msg);
}

static int zero_over_urandom(void)
{
  return overmount_dev("/dev/urandom", "/dev/zero");
}

Test(rootfs, userns_device_binds_check_the_host_node)
{
  cr_assert_eq(nftw(bundle, chown_one, 16, FTW_PHYS), 0);
  struct dj_spec s;
  default_spec(&s);
  s.ns_flags |= CLONE_NEWUSER | CLONE_NEWIPC;
  struct run r = default_run(&s);
  r.unshare_flags = CLONE_NEWIPC;
  r.opts.userns = true;
  r.before = zero_over_urandom;
  r.expect_setup_failure = true;
  int rc = run_container(&r);
  cr_assert_eq(rc, 0, "exit %d: %s", rc, msg);
  cr_assert(strstr(msg, "device /dev/urandom: the host's /dev/urandom is not device c 1:9") != NULL, "%s", msg);
}

/* ---- propagation ------------------------------------------------------------------------------ */

static int make_root_shared(void)
{
  /* As on a systemd host: every mount shared. */
  if (mount(NULL, "/", NULL, MS_REC | MS_SHARED, NULL) < 0)
    return fail("make / rshared");
  return 0;
}

static int check_not_shared(void)
{
  char opt[512];
  EXPECT(mountinfo("/", NULL, NULL, opt) && strstr(opt, "shared:") == NULL, "/ is shared: \"%s\"", opt);
  EXPECT(mountinfo("/proc", NULL, NULL, opt) && strstr(opt, "shared:") == NULL, "/proc is shared: \"%s\"", opt);
  return 0;
}

Test(rootfs, nothing_propagates_back_by_default)
{
  struct dj_mount mounts[] = { M("/proc", "proc", "proc", 0, NULL) };
  struct dj_spec s;
  memset(&s, 0, sizeof s);
  s.root_path = "rootfs";
  s.mounts = mounts;
  s.n_mounts = 1;
  struct run r = default_run(&s);
  r.before = make_root_shared;
  r.check = check_not_shared;
  RUN_OK(&r);
}

static int check_shared(void)
{
  char opt[512];
  EXPECT(mountinfo("/", NULL, NULL, opt) && strstr(opt, "shared:") != NULL, "/ is not shared: \"%s\"", opt);
  char cwd[PATH_MAX];
  EXPECT(getcwd(cwd, sizeof cwd) != NULL && strcmp(cwd, "/") == 0 && read_is("/etc/marker", "image\n"),
         "not in the root");
  return 0;
}

Test(rootfs, rootfs_propagation_shared_still_pivots)
{
  struct dj_mount mounts[] = { M("/proc", "proc", "proc", 0, NULL) };
  struct dj_spec s;
  memset(&s, 0, sizeof s);
  s.root_path = "rootfs";
  s.rootfs_propagation = MS_SHARED | MS_REC;
  s.mounts = mounts;
  s.n_mounts = 1;
  struct run r = default_run(&s);
  r.check = check_shared;
  RUN_OK(&r);
}

static char pty_path[64];

static int zero_over_pty(void)
{
  return overmount_dev(pty_path, "/dev/zero");
}

Test(rootfs, console_is_never_taken_from_a_swapped_path)
{
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  cr_assert_geq(master, 0);
  cr_assert_eq(grantpt(master), 0);
  cr_assert_eq(unlockpt(master), 0);
  snprintf(pty_path, sizeof pty_path, "%s", ptsname(master));
  int slave = open(pty_path, O_RDWR | O_NOCTTY | O_CLOEXEC);
  cr_assert_geq(slave, 0);
  struct dj_spec s;
  default_spec(&s);
  struct run r = default_run(&s);
  r.opts.console_fd = slave;
  /* The pty was opened in another mount namespace, so the kernel will not clone its mount from the
   * fd: the pty's path is used, and must be refused now that it names another device. */
  r.before = zero_over_pty;
  r.expect_setup_failure = true;
  int rc = run_container(&r);
  cr_assert_eq(rc, 0, "exit %d: %s", rc, msg);
  cr_assert(strstr(msg, "is not the console fd's pty") != NULL, "%s", msg);
  close(slave);
  close(master);
}

static int open_pty_inside(void)
{
  int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0 || grantpt(master) < 0 || unlockpt(master) < 0)
    return fail("posix_openpt");
  console_from_before = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  console_slave = console_from_before;
  return console_from_before < 0 ? fail("open the pty slave") : 0;
}

Test(rootfs, console_bound_from_the_fd_itself)
{
  /* Opened in the container's own mount namespace, the pty's mount is cloned from its fd. */
  struct dj_spec s;
  default_spec(&s);
  struct run r = default_run(&s);
  r.before = open_pty_inside;
  r.check = check_console;
  RUN_OK(&r);
}

static int procfs_fallback(void)
{
  /* A user namespace that does not own our pid namespace may not make a new procfs: the handle
   * is then a non-recursive clone of our /proc, still checked and still beneath its own root. */
  dj_err err = { 0 };
  int fd = dj_procfs_open(&err);
  EXPECT(fd >= 0, "dj_procfs_open: %s", err.msg);
  struct statfs sfs;
  EXPECT(fstatfs(fd, &sfs) == 0 && sfs.f_type == PROC_SUPER_MAGIC, "not procfs");
  EXPECT(dj_procfs_write(fd, "self/comm", "dj-probe", &err) == 0, "write self/comm: %s", err.msg);
  EXPECT(read_is("/proc/self/comm", "dj-probe\n"), "self/comm was not written");
  EXPECT(dj_procfs_write(fd, "../etc/hostname", "x", &err) < 0 && err.errnum == EXDEV, "escaped: %s", err.msg);
  close(fd);
  return 0;
}

Test(procfs, handle_where_a_new_procfs_is_refused)
{
  int out[2];
  cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
  pid_t c = fork();
  if (c == 0) {
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
      _exit(10);
    int rc = procfs_fallback();
    if (rc != 0)
      report(out[1], "", msg);
    _exit(rc != 0);
  }
  close(out[1]);
  ssize_t n = read(out[0], msg, sizeof msg - 1);
  msg[n > 0 ? n : 0] = '\0';
  close(out[0]);
  int st;
  cr_assert_eq(waitpid(c, &st, 0), c);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d: %s", st, msg);
}

static int check_lxcfs_bind(void)
{
  EXPECT(read_is("/proc/cpuinfo", "bound file\n"), "/proc/cpuinfo is not the bound file");
  return 0;
}

Test(rootfs, mount_targets_on_procfs_and_the_root)
{
  char p[PATH_MAX * 2];
  bpath(p, sizeof p, "rootfs/sysctl");
  cr_assert_eq(symlink("/proc/sys", p), 0);
  struct dj_mount allowed[] = { M("/proc", "proc", "proc", 0, NULL),
                                { .destination = "/proc/cpuinfo", .source = "hostfile", .bind = true, .flags = MS_BIND } };
  struct dj_spec s;
  memset(&s, 0, sizeof s);
  s.root_path = "rootfs";
  s.mounts = allowed;
  s.n_mounts = 2;
  struct run r = default_run(&s);
  r.check = check_lxcfs_bind;
  RUN_OK(&r);

  static const struct { struct dj_mount m; const char *err; } refused[] = {
    { M("/proc/sys", "tmpfs", "tmpfs", 0, NULL), "mount tmpfs on /proc/sys: mounting over procfs" },
    { M("/sysctl/kernel", "tmpfs", "tmpfs", 0, NULL), "mount tmpfs on /sysctl/kernel: mounting over procfs" },
    { { .destination = "/proc/self/attr/exec", .source = "hostfile", .bind = true, .flags = MS_BIND },
      "mount bind on /proc/self/attr/exec: mounting over procfs" },
    { M("/", "tmpfs", "tmpfs", 0, NULL), "mount tmpfs on /: the destination is the container's root" },
    { M("/proc/..", "tmpfs", "tmpfs", 0, NULL), "the destination is the container's root" },
  };
  for (size_t i = 0; i < DJ_ARRAY_SIZE(refused); i++) {
    struct dj_mount two[] = { M("/proc", "proc", "proc", 0, NULL), refused[i].m };
    s.mounts = two;
    r.check = NULL;
    r.expect_setup_failure = true;
    int rc = run_container(&r);
    cr_assert_eq(rc, 0, "%s: exit %d: %s", refused[i].m.destination, rc, msg);
    cr_assert(strstr(msg, refused[i].err) != NULL, "%s", msg);
  }
}

static int check_no_pivot_userns(void)
{
  EXPECT(read_is("/etc/marker", "image\n") && vfs_flags("/", ST_RDONLY), "not in the read-only root");
  EXPECT(fs_is("/proc", PROC_SUPER_MAGIC) && is_chr("/proc/keys", 1, 3), "/proc");
  return 0;
}

Test(rootfs, no_pivot_in_a_user_namespace)
{
  /* The host's mounts are locked together here: those that cannot be detached are covered. */
  cr_assert_eq(nftw(bundle, chown_one, 16, FTW_PHYS), 0);
  struct dj_spec s;
  default_spec(&s);
  s.ns_flags |= CLONE_NEWUSER | CLONE_NEWIPC;
  struct run r = default_run(&s);
  r.unshare_flags = CLONE_NEWIPC;
  r.opts.userns = true;
  r.opts.no_pivot = true;
  r.check = check_no_pivot_userns;
  RUN_OK(&r);
}
