/* djprobe: runs inside test containers (statically linked, copied into the rootfs) and tries one
 * thing the jail should allow or deny. Prints "NAME: ok" or "NAME: ERRNAME" and exits 0 when the
 * call succeeded, 1 when it failed with an errno, 2 on a usage error. A call killed by seccomp
 * never prints: the test sees the signal in the exit status. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/io_uring.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/sched.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/ptrace.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>

static long r_errno;

static long check(long r)
{
  r_errno = r < 0 ? errno : 0;
  return r;
}

static void *thread_fn(void *arg)
{
  return arg;
}

static long do_thread(void)
{
  pthread_t t;
  int e = pthread_create(&t, NULL, thread_fn, NULL);
  if (e != 0) {
    errno = e;
    return -1;
  }
  pthread_join(t, NULL);
  return 0;
}

static long do_clone_flags(unsigned long flags)
{
  long pid = syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0);
  if (pid == 0)
    _exit(0);
  if (pid > 0)
    waitpid((pid_t) pid, NULL, 0);
  return pid < 0 ? -1 : 0;
}

static long do_clone3(void)
{
  struct clone_args a = { .exit_signal = SIGCHLD };
  long pid = syscall(SYS_clone3, &a, sizeof a);
  if (pid == 0)
    _exit(0);
  if (pid > 0)
    waitpid((pid_t) pid, NULL, 0);
  return pid < 0 ? -1 : 0;
}

static long do_tiocsti(unsigned long extra)
{
  char c = 'x';
  int fd = open("/dev/tty", O_RDWR);
  if (fd < 0)
    fd = 0;
  return syscall(SYS_ioctl, fd, (unsigned long) TIOCSTI | extra, &c);
}

static long do_int80_getpid(void)
{
#if defined(__x86_64__)
  long ret;
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory"); /* i386 getpid */
  if (ret < 0) {
    errno = (int) -ret;
    return -1;
  }
  return 0;
#else
  errno = ENOSYS;
  return -1;
#endif
}

static long do_alloc_mb(long mb)
{
  for (long i = 0; i < mb; i++) {
    char *p = malloc(1 << 20);
    if (p == NULL)
      return -1;
    memset(p, 1, 1 << 20);
  }
  return 0;
}

static long do_socket_lo(void)
{
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0)
    return -1;
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0 };
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s, (struct sockaddr *) &a, sizeof a) < 0 || listen(s, 1) < 0)
    return -1;
  socklen_t l = sizeof a;
  getsockname(s, (struct sockaddr *) &a, &l);
  int c = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(c, (struct sockaddr *) &a, sizeof a) < 0)
    return -1;
  int d = accept(s, NULL, NULL);
  if (write(c, "hi", 2) != 2)
    return -1;
  char buf[2];
  if (read(d, buf, 2) != 2)
    return -1;
  return 0;
}

static long do_fork_many(long n)
{
  for (long i = 0; i < n; i++) {
    pid_t p = fork();
    if (p < 0)
      return -1;
    if (p == 0) {
      sleep(3);
      _exit(0);
    }
  }
  return 0;
}

static long do_ptrace_parent(void)
{
  return ptrace(PTRACE_ATTACH, getppid() > 1 ? getppid() : 1, NULL, NULL);
}

static long do_process_vm(void)
{
  char a[8] = "", b[8] = "";
  struct iovec l = { a, 8 }, r = { b, 8 };
  return syscall(SYS_process_vm_readv, getpid(), &l, 1, &r, 1, 0);
}

static long do_bpf(void)
{
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_type = BPF_MAP_TYPE_ARRAY;
  attr.key_size = 4;
  attr.value_size = 4;
  attr.max_entries = 1;
  return syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr);
}

static long do_perf(void)
{
  struct perf_event_attr pe;
  memset(&pe, 0, sizeof pe);
  pe.type = PERF_TYPE_SOFTWARE;
  pe.size = sizeof pe;
  pe.config = PERF_COUNT_SW_TASK_CLOCK;
  return syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0);
}

static long do_io_uring(void)
{
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  return syscall(SYS_io_uring_setup, 4, &p);
}

static long do_open_by_handle(void)
{
  struct { unsigned int bytes; int type; unsigned char h[128]; } fh = { .bytes = 128 };
  int mnt;
  return syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &fh, &mnt, 0);
}

static long do_settime(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return clock_settime(CLOCK_REALTIME, &ts);
}

static long do_settimeofday(void)
{
  struct timeval tv;
  gettimeofday(&tv, NULL);
  return settimeofday(&tv, NULL); /* to the time it already is: harmless if it ever passes */
}

static long do_fsopen(void)
{
  return syscall(SYS_fsopen, "tmpfs", 0);
}

static long do_open_tree(void)
{
  return syscall(SYS_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */);
}

static long do_x32_getpid(void)
{
  return syscall(0x40000000 | SYS_getpid);
}

static long do_unknown(void)
{
  return syscall(1000); /* no such syscall on any arch we build for */
}

static long do_mknod_char(void)
{
  return mknod("/tmp/djprobe-null", S_IFCHR | 0600, makedev(1, 3));
}

static long do_open_dev(const char *path)
{
  return open(path, O_RDWR);
}

static long do_setns_init(void)
{
  int fd = open("/proc/1/ns/mnt", O_RDONLY);
  if (fd < 0)
    return -1;
  return setns(fd, 0);
}

static long do_signal_self(void)
{
  signal(SIGUSR1, SIG_IGN);
  return kill(getpid(), SIGUSR1);
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: djprobe NAME [ARG]\n");
    return 2;
  }
  const char *n = argv[1];
  const char *arg = argc > 2 ? argv[2] : "";
  long r;
  if (!strcmp(n, "mount")) r = mount("none", "/tmp", "tmpfs", 0, NULL);
  else if (!strcmp(n, "umount")) r = umount2("/proc", MNT_DETACH);
  else if (!strcmp(n, "pivot_root")) r = syscall(SYS_pivot_root, "/tmp", "/tmp");
  else if (!strcmp(n, "chroot")) r = chroot("/tmp");
  else if (!strcmp(n, "unshare")) r = unshare(CLONE_NEWNS);
  else if (!strcmp(n, "unshare-user")) r = unshare(CLONE_NEWUSER);
  else if (!strcmp(n, "setns")) r = do_setns_init();
  else if (!strcmp(n, "clone-newns")) r = do_clone_flags(CLONE_NEWNS);
  else if (!strcmp(n, "clone-newuser")) r = do_clone_flags(CLONE_NEWUSER);
  else if (!strcmp(n, "clone3")) r = do_clone3();
  else if (!strcmp(n, "fork")) r = do_clone_flags(0);
  else if (!strcmp(n, "thread")) r = do_thread();
  else if (!strcmp(n, "fsopen")) r = do_fsopen();
  else if (!strcmp(n, "fsmount")) r = syscall(SYS_fsmount, -1, 0, 0);
  else if (!strcmp(n, "fspick")) r = syscall(SYS_fspick, AT_FDCWD, "/", 0);
  else if (!strcmp(n, "open_tree")) r = do_open_tree();
  else if (!strcmp(n, "move_mount")) r = syscall(SYS_move_mount, -1, "", AT_FDCWD, "/tmp", 0);
  else if (!strcmp(n, "mount_setattr")) r = syscall(SYS_mount_setattr, AT_FDCWD, "/tmp", 0, NULL, 0);
  else if (!strcmp(n, "keyctl")) r = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
  else if (!strcmp(n, "add_key")) r = syscall(SYS_add_key, "user", "dj", "x", 1, KEY_SPEC_SESSION_KEYRING);
  else if (!strcmp(n, "request_key")) r = syscall(SYS_request_key, "user", "dj", NULL, 0);
  else if (!strcmp(n, "bpf")) r = do_bpf();
  else if (!strcmp(n, "perf_event_open")) r = do_perf();
  else if (!strcmp(n, "ptrace")) r = do_ptrace_parent();
  else if (!strcmp(n, "process_vm_readv")) r = do_process_vm();
  else if (!strcmp(n, "init_module")) r = syscall(SYS_init_module, NULL, 0, "");
  else if (!strcmp(n, "finit_module")) r = syscall(SYS_finit_module, -1, "", 0);
  else if (!strcmp(n, "delete_module")) r = syscall(SYS_delete_module, "dj_none", 0);
  else if (!strcmp(n, "kexec_load")) r = syscall(SYS_kexec_load, 0, 0, NULL, 0);
  else if (!strcmp(n, "kexec_file_load")) r = syscall(SYS_kexec_file_load, -1, -1, 0, "", 0);
  else if (!strcmp(n, "reboot")) r = reboot(RB_DISABLE_CAD); /* harmless if it ever passes */
  else if (!strcmp(n, "swapon")) r = swapon("/tmp/none", 0);
  else if (!strcmp(n, "swapoff")) r = swapoff("/tmp/none");
  else if (!strcmp(n, "syslog")) r = syscall(SYS_syslog, 3 /* READ_ALL */, (char[64]){ 0 }, 64);
  else if (!strcmp(n, "settime")) r = do_settime();
  else if (!strcmp(n, "settimeofday")) r = do_settimeofday();
  else if (!strcmp(n, "adjtimex")) r = syscall(SYS_adjtimex, &(struct timex){ .modes = ADJ_OFFSET });
  else if (!strcmp(n, "clock_adjtime")) r = syscall(SYS_clock_adjtime, CLOCK_REALTIME, &(struct timex){ .modes = ADJ_OFFSET });
  else if (!strcmp(n, "open_by_handle_at")) r = syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, 0);
  else if (!strcmp(n, "name_to_handle_at")) r = do_open_by_handle();
  else if (!strcmp(n, "userfaultfd")) r = syscall(SYS_userfaultfd, 0);
  else if (!strcmp(n, "io_uring_setup")) r = do_io_uring();
  else if (!strcmp(n, "tiocsti")) r = do_tiocsti(0);
  else if (!strcmp(n, "tiocsti-high")) r = do_tiocsti(1UL << 32);
  else if (!strcmp(n, "tioclinux")) r = syscall(SYS_ioctl, 0, (unsigned long) TIOCLINUX, (char[2]){ 2, 0 });
  else if (!strcmp(n, "acct")) r = acct(NULL);
  else if (!strcmp(n, "quotactl")) r = syscall(SYS_quotactl, 0, "/", 0, NULL);
  else if (!strcmp(n, "personality32")) r = personality(PER_LINUX32);
  else if (!strcmp(n, "personality-query")) r = personality(0xffffffff);
  else if (!strcmp(n, "mknod-char")) r = do_mknod_char();
  else if (!strcmp(n, "mkfifo")) r = mkfifo("/tmp/djprobe-fifo", 0600);
  else if (!strcmp(n, "x32")) r = do_x32_getpid();
  else if (!strcmp(n, "int80")) r = do_int80_getpid();
  else if (!strcmp(n, "unknown-syscall")) r = do_unknown();
  else if (!strcmp(n, "open")) r = do_open_dev(arg);
  else if (!strcmp(n, "alloc-mb")) r = do_alloc_mb(atol(arg));
  else if (!strcmp(n, "fork-many")) r = do_fork_many(atol(arg));
  else if (!strcmp(n, "socket-lo")) r = do_socket_lo();
  else if (!strcmp(n, "signal")) r = do_signal_self();
  else if (!strcmp(n, "clock")) r = clock_gettime(CLOCK_MONOTONIC, &(struct timespec){ 0 });
  else if (!strcmp(n, "pipe")) r = pipe((int[2]){ 0 });
  else if (!strcmp(n, "getppid")) r = getppid();
  else if (!strcmp(n, "session-keyring")) {
    r = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
    if (r >= 0) {
      printf("session-keyring: %ld\n", r);
      return 0;
    }
  }
  else {
    fprintf(stderr, "djprobe: unknown probe %s\n", n);
    return 2;
  }
  check(r);
  if (r < 0) {
    printf("%s: %s\n", n, strerrorname_np((int) r_errno) ? strerrorname_np((int) r_errno) : "?");
    return 1;
  }
  printf("%s: ok\n", n);
  return 0;
}
