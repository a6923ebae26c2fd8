/* The seccomp section of the confidential profile (linux.seccomp as OCI JSON).
 *
 * An allowlist: syscalls not named here fail with ENOSYS (defaultErrnoRet 38) so libc falls back
 * to older calls. The denials that matter are explicit EPERM rules, so a workload gets a clear
 * "Operation not permitted" and the list below documents each one (docs/seccomp.md says why).
 * Only the native architecture is listed: i386 (int 0x80) and x32 syscalls hit the filter's
 * bad-architecture action and kill the process.
 *
 * libseccomp 2.5 lets an unconditional rule win over every conditional rule of the same syscall,
 * whatever their actions, so a syscall with an exception (ioctl but not TIOCSTI) is written as a
 * conditional ALLOW of the complement plus a conditional EPERM of the exception. Conditions with
 * the same argument index are OR'ed (runc's rule, which dj_seccomp_build follows). */
#include <errno.h>
#include <jansson.h>
#include <sched.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/socket.h>

#include "common/util.h"
#include "sandbox/seccomp.h"

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef TIOCLINUX
#define TIOCLINUX 0x541C
#endif
#ifndef AF_VSOCK
#define AF_VSOCK 40
#endif

/* Namespace flags clone(2) accepts (CLONE_NEWTIME shares CSIGNAL's bits there: clone3/unshare only). */
#define DJ_CLONE_NS_FLAGS                                                                            \
  ((uint64_t) (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |          \
               CLONE_NEWPID | CLONE_NEWNET))

/* What ordinary programs need: a busybox shell, file I/O, threads, pipes, sockets, signals, time. */
static const char *const allowed[] = {
  /* file I/O */
  "read", "write", "readv", "writev", "pread64", "pwrite64", "preadv", "pwritev", "preadv2",
  "pwritev2", "open", "openat", "openat2", "creat", "close", "close_range", "lseek", "stat", "fstat",
  "lstat", "newfstatat", "statx", "statfs", "fstatfs", "access", "faccessat", "faccessat2",
  "readlink", "readlinkat", "getdents", "getdents64", "getcwd", "chdir", "fchdir", "mkdir", "mkdirat",
  "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2", "link", "linkat", "symlink",
  "symlinkat", "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat", "truncate",
  "ftruncate", "fsync", "fdatasync", "sync", "syncfs", "sync_file_range", "fallocate", "fadvise64",
  "readahead", "utime", "utimes", "utimensat", "futimesat", "umask", "dup", "dup2", "dup3", "fcntl",
  "flock", "sendfile", "copy_file_range", "splice", "tee", "vmsplice", "getxattr", "lgetxattr",
  "fgetxattr", "listxattr", "llistxattr", "flistxattr", "setxattr", "lsetxattr", "fsetxattr",
  "removexattr", "lremovexattr", "fremovexattr", "io_setup", "io_destroy", "io_submit",
  "io_getevents", "io_pgetevents", "io_cancel",
  /* pipes, polling, event fds */
  "pipe", "pipe2", "select", "pselect6", "poll", "ppoll", "epoll_create", "epoll_create1",
  "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2", "signalfd",
  "signalfd4", "timerfd_create", "timerfd_settime", "timerfd_gettime", "inotify_init",
  "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
  /* memory */
  "brk", "mmap", "munmap", "mprotect", "mremap", "madvise", "msync", "mincore", "mlock", "mlock2",
  "munlock", "mlockall", "munlockall", "memfd_create", "membarrier", "pkey_alloc", "pkey_free",
  "pkey_mprotect", "map_shadow_stack",
  /* processes and threads (clone: below) */
  "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid", "set_tid_address",
  "set_robust_list", "get_robust_list", "futex", "futex_waitv", "rseq", "restart_syscall",
  "arch_prctl", "prctl", "getpid", "getppid", "gettid", "getpgid", "getpgrp", "getsid", "setsid",
  "setpgid", "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid", "getgroups",
  "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid",
  "setfsgid", "capget", "capset", "getrlimit", "setrlimit", "prlimit64", "getrusage", "getpriority",
  "setpriority", "sched_yield", "sched_getaffinity", "sched_setaffinity", "sched_getparam",
  "sched_setparam", "sched_getscheduler", "sched_setscheduler", "sched_get_priority_max",
  "sched_get_priority_min", "sched_rr_get_interval", "sched_getattr", "sched_setattr",
  "ioprio_get", "ioprio_set", "getcpu", "uname", "sysinfo", "getrandom", "pidfd_open",
  "pidfd_send_signal", "seccomp", "landlock_create_ruleset", "landlock_add_rule",
  "landlock_restrict_self", /* further filters and Landlock can only restrict */
  /* signals */
  "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait",
  "rt_sigqueueinfo", "rt_tgsigqueueinfo", "rt_sigsuspend", "sigaltstack", "kill", "tkill",
  "tgkill", "pause", "alarm",
  /* time, reading only (and sleeping) */
  "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time", "times",
  "getitimer", "setitimer", "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun",
  "timer_delete",
  /* sockets (socket itself: below) and System V / POSIX IPC of the container's own namespace */
  "socketpair", "bind", "connect", "listen", "accept", "accept4", "getsockname", "getpeername",
  "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "setsockopt",
  "getsockopt", "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semtimedop", "semctl",
  "shmget", "shmat", "shmdt", "shmctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive",
  "mq_notify", "mq_getsetattr",
};

/* Explicit EPERM: each one a way out of the jail or into the kernel or host (docs/seccomp.md). */
static const char *const denied[] = {
  "mount", "umount2", "pivot_root", "chroot", "unshare", "setns",                /* mounts, namespaces */
  "fsopen", "fsconfig", "fsmount", "fspick", "open_tree", "move_mount", "mount_setattr",
  "keyctl", "add_key", "request_key",                                            /* kernel keyrings */
  "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",   /* kernel attack surface */
  "io_uring_register", "lookup_dcookie", "uselib", "nfsservctl", "vhangup",
  "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",      /* other processes */
  "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", /* the kernel */
  "reboot", "swapon", "swapoff", "syslog", "acct", "quotactl", "quotactl_fd",
  "iopl", "ioperm", "modify_ldt",                                                /* hardware, x86 */
  "create_module", "get_kernel_syms", "query_module", "_sysctl", "sysfs", "ustat", /* obsolete */
  "fanotify_init", "migrate_pages", "move_pages",               /* whole-fs watch, others' memory */
  "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",                  /* the clock */
  "open_by_handle_at", "name_to_handle_at",                                      /* fs handles */
};

static json_t *rule(const char *const *names, size_t n, const char *action, int errno_ret, json_t *args)
{
  json_t *jnames = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(jnames, json_string(names[i]));
  json_t *r = json_pack("{s:o, s:s}", "names", jnames, "action", action);
  if (errno_ret > 0)
    json_object_set_new(r, "errnoRet", json_integer(errno_ret));
  if (args != NULL)
    json_object_set_new(r, "args", args);
  return r;
}

static json_t *cond(unsigned index, uint64_t value, uint64_t value_two, const char *op)
{
  json_t *c = json_pack("{s:I, s:I, s:s}", "index", (json_int_t) index, "value", (json_int_t) value,
                        "op", op);
  if (value_two != 0)
    json_object_set_new(c, "valueTwo", json_integer((json_int_t) value_two));
  return c;
}

/* Conditions on one argument, OR'ed, matching every 32-bit value but a and b: x differs from a or
 * b at a bit where they agree, or, where they differ, x matches neither (a 1-then-0 transition in
 * x^a read cyclically over those bits). Masks stay within 32 bits: the high half is ignored. */
static json_t *all_but_two(unsigned index, uint32_t a, uint32_t b)
{
  json_t *args = json_array();
  uint32_t diff = a ^ b;
  for (unsigned i = 0; i < 32; i++)
    if (!(diff & (1u << i)))
      json_array_append_new(args, cond(index, 1u << i, ~a & (1u << i), "SCMP_CMP_MASKED_EQ"));
  unsigned bits[32], nb = 0;
  for (unsigned i = 0; i < 32; i++)
    if (diff & (1u << i))
      bits[nb++] = i;
  for (unsigned k = 0; nb >= 2 && k < nb; k++) {
    uint32_t bi = 1u << bits[k], bn = 1u << bits[(k + 1) % nb];
    json_array_append_new(args, cond(index, bi | bn, (~a & bi) | (a & bn), "SCMP_CMP_MASKED_EQ"));
  }
  return args;
}

static void add(json_t *syscalls, const char *name, const char *action, int errno_ret, json_t *args)
{
  const char *names[] = {name};
  json_array_append_new(syscalls, rule(names, 1, action, errno_ret, args));
}

/* mknod's mode (argument mode_index) allowed for FIFOs, sockets and regular files, EPERM for
 * character and block devices; other types fail in the kernel anyway. */
static void add_mknod(json_t *syscalls, const char *name, unsigned mode_index)
{
  json_t *ok = json_array();
  const uint64_t types[] = {0, S_IFREG, S_IFIFO, S_IFSOCK};
  for (size_t i = 0; i < DJ_ARRAY_SIZE(types); i++)
    json_array_append_new(ok, cond(mode_index, S_IFMT, types[i], "SCMP_CMP_MASKED_EQ"));
  add(syscalls, name, "SCMP_ACT_ALLOW", 0, ok);
  json_t *dev = json_array();
  json_array_append_new(dev, cond(mode_index, S_IFMT, S_IFCHR, "SCMP_CMP_MASKED_EQ"));
  json_array_append_new(dev, cond(mode_index, S_IFMT, S_IFBLK, "SCMP_CMP_MASKED_EQ"));
  add(syscalls, name, "SCMP_ACT_ERRNO", EPERM, dev);
}

static void add_special(json_t *syscalls)
{
  /* clone without namespace flags; with any of them EPERM (one condition per flag, OR'ed) */
  json_t *ns = json_array();
  for (unsigned i = 0; i < 64; i++)
    if (DJ_CLONE_NS_FLAGS & (UINT64_C(1) << i))
      json_array_append_new(ns, cond(0, UINT64_C(1) << i, UINT64_C(1) << i, "SCMP_CMP_MASKED_EQ"));
  add(syscalls, "clone", "SCMP_ACT_ALLOW", 0,
      json_pack("[o]", cond(0, DJ_CLONE_NS_FLAGS, 0, "SCMP_CMP_MASKED_EQ")));
  add(syscalls, "clone", "SCMP_ACT_ERRNO", EPERM, ns);
  /* clone3's flags hide behind a pointer: ENOSYS makes libc fall back to clone */
  add(syscalls, "clone3", "SCMP_ACT_ERRNO", ENOSYS, NULL);

  /* ioctl: everything but TIOCSTI and TIOCLINUX (EQ becomes a 32-bit masked compare in the build) */
  add(syscalls, "ioctl", "SCMP_ACT_ALLOW", 0, all_but_two(1, TIOCSTI, TIOCLINUX));
  add(syscalls, "ioctl", "SCMP_ACT_ERRNO", EPERM,
      json_pack("[o,o]", cond(1, TIOCSTI, 0, "SCMP_CMP_EQ"), cond(1, TIOCLINUX, 0, "SCMP_CMP_EQ")));

  /* personality: PER_LINUX and the 0xffffffff query only */
  add(syscalls, "personality", "SCMP_ACT_ALLOW", 0,
      json_pack("[o,o]", cond(0, 0, 0, "SCMP_CMP_EQ"), cond(0, 0xffffffffu, 0, "SCMP_CMP_EQ")));
  add(syscalls, "personality", "SCMP_ACT_ERRNO", EPERM, all_but_two(0, 0, 0xffffffffu));

  /* sockets, but not AF_VSOCK: it is not network-namespaced and reaches the host */
  add(syscalls, "socket", "SCMP_ACT_ALLOW", 0, json_pack("[o]", cond(0, AF_VSOCK, 0, "SCMP_CMP_NE")));
  add(syscalls, "socket", "SCMP_ACT_ERRNO", EPERM,
      json_pack("[o]", cond(0, AF_VSOCK, 0, "SCMP_CMP_EQ")));

  add_mknod(syscalls, "mknod", 1);
  add_mknod(syscalls, "mknodat", 2);
}

json_t *dj_seccomp_confidential_profile(void)
{
  json_t *syscalls = json_array();
  json_array_append_new(syscalls, rule((const char *const *) allowed, DJ_ARRAY_SIZE(allowed),
                                       "SCMP_ACT_ALLOW", 0, NULL));
  add_special(syscalls);
  json_array_append_new(syscalls, rule((const char *const *) denied, DJ_ARRAY_SIZE(denied),
                                       "SCMP_ACT_ERRNO", EPERM, NULL));
#if defined(__x86_64__)
  const char *arch = "SCMP_ARCH_X86_64";
#elif defined(__aarch64__)
  const char *arch = "SCMP_ARCH_AARCH64";
#else
#error "the confidential profile names the native architecture: add it here"
#endif
  return json_pack("{s:s, s:i, s:[s], s:o}", "defaultAction", "SCMP_ACT_ERRNO", "defaultErrnoRet",
                   ENOSYS, "architectures", arch, "syscalls", syscalls);
}
