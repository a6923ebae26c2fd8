/* donjon exec: a process that joins a running container.
 *
 *   donjon (host)                     joiner                  exec'd process (container)
 *   lock, load state + saved config
 *   pidfd of the init (start time checked)
 *   build the seccomp filter
 *   non-dumpable; fork ─────────────► setns(pidfd, every ns
 *                                       that differs from ours)
 *                                     clone(CLONE_PARENT) ───► wait for GO
 *   ◄──────────────── its pid ──────── exit
 *   move it into the container's cgroups, oom_score_adj
 *   GO ───────────────────────────────────────────────────► setsid; pty from the container's devpts
 *                                                           cwd (inside the root), rlimits, bounding
 *                                                           set, user, close_range CLOEXEC, caps,
 *                                                           no_new_privs, seccomp, execve
 *   EOF (exec'd) or an error ◄──────────────────────────────
 *   pid file; unlock; --detach: return; else relay signals and the pty, return its status
 *
 * donjon is made non-dumpable before the fork, so the joiner and the process are non-dumpable from
 * their first instruction until execve: their mm belongs to the host's user namespace, and nothing
 * in the container, root included, can ptrace them or open their /proc files while they hold
 * donjon's fds and privileges (CVE-2016-9962). No directory of the host is open in them. */
#include "sandbox/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "sandbox/cgroup.h"
#include "sandbox/console.h"
#include "sandbox/process.h"
#include "sandbox/reexec.h"
#include "sandbox/rootfs.h"
#include "sandbox/seccomp.h"
#include "sandbox/state.h"
#include "sandbox/supervise.h"

enum { MSG_GO = 1, MSG_PTY, MSG_ERR };
struct msg {
  int type;
  dj_err err;
};

struct exec_run {
  const struct dj_exec_opts *o;
  struct dj_spec *spec;      /* the container's config, with the process replaced */
  scmp_filter_ctx seccomp;
  struct dj_live live;
  int lock_fd;
  int sync[2];
  int console_sock;          /* --console-socket, connected; -1: relay the pty ourselves */
  int ns_flags;              /* the init's namespaces that differ from ours */
  sigset_t saved_mask;
  pid_t pid;
};

int dj_container_process(const char *root, const char *id, json_t **out, dj_err *err)
{
  _cleanup_json_ json_t *doc = NULL;
  if (dj_state_load_config(root, id, &doc, err) < 0)
    return -1;
  json_t *p = json_object_get(doc, "process");
  if (!json_is_object(p))
    return dj_error(err, 0, "container \"%s\": its config has no process", id);
  *out = json_deep_copy(p);
  return 0;
}

/* ---- the exec'd process, inside the container ---- */

static void msg_send(int fd, int type, const dj_err *e)
{
  struct msg m = { .type = type };
  if (e != NULL)
    m.err = *e;
  send(fd, &m, sizeof m, MSG_NOSIGNAL);
}

static int terminal_setup(struct exec_run *x, dj_err *err)
{
  _cleanup_close_ int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    return dj_error(err, errno, "terminal: open /");
  int master = -1, slave = -1;
  /* The pty comes from the container's own devpts, as runc makes it. */
  if (dj_console_open_in_root(&x->spec->process, root, &master, &slave, err) < 0)
    return -1;
  _cleanup_close_ int m = master, s = slave;
  if (x->console_sock >= 0) {
    if (dj_console_send(x->console_sock, m, err) < 0)
      return -1;
  } else {
    struct msg pm = { .type = MSG_PTY };
    if (dj_fd_send(x->sync[1], m, &pm, sizeof pm, err) < 0)
      return dj_err_wrap(err, "terminal: hand the pty to donjon");
  }
  return dj_console_attach(s, err);
}

static int exec_setup(struct exec_run *x, dj_err *err)
{
  const struct dj_process *p = &x->spec->process;
  if (setsid() < 0)
    return dj_error(err, errno, "setsid");
  if (p->terminal && terminal_setup(x, err) < 0)
    return -1;
  if (x->console_sock >= 0)
    close(x->console_sock);
  if (dj_cwd_enter(p->cwd, err) < 0 || dj_rlimits_apply(p, err) < 0)
    return -1;
  if (x->spec->has_personality && personality(x->spec->personality) < 0)
    return dj_error(err, errno, "personality %#lx", x->spec->personality);
  _cleanup_close_ int lsm_procfd = -1; /* opened while still root, as in the init */
  if (dj_lsm_wanted(p) && (lsm_procfd = dj_procfs_open(err)) < 0)
    return dj_err_wrap(err, "LSM label");
  if (dj_caps_drop_bounding(&p->caps, err) < 0 || dj_user_apply(p, err) < 0)
    return -1;
  if (dj_fds_cloexec_from(3 + x->o->preserve_fds, err) < 0)
    return -1;
  for (int sig = 1; sig < NSIG; sig++)
    signal(sig, SIG_DFL);
  sigprocmask(SIG_SETMASK, &x->saved_mask, NULL);
  if (lsm_procfd >= 0 && dj_lsm_label_exec(p, lsm_procfd, dj_procfs_write, err) < 0)
    return -1;
  return dj_process_confine(p, x->seccomp, err);
}

static __attribute__((noreturn)) void exec_main(struct exec_run *x)
{
  dj_err err = { 0 };
  struct msg m;
  if (dj_read_all(x->sync[1], &m, sizeof m) != (ssize_t) sizeof m || m.type != MSG_GO)
    _exit(127); /* donjon gave up on us; it reports why */
  if (exec_setup(x, &err) == 0)
    dj_process_exec(&x->spec->process, NULL, &err);
  msg_send(x->sync[1], MSG_ERR, &err);
  _exit(127);
}

/* ---- donjon's side ---- */

/* The init's namespaces that are not ours: those are joined (all at once, through the pidfd). */
static int namespaces_to_join(pid_t pid, int *flags, dj_err *err)
{
  static const struct { const char *name; int flag; } ns[] = {
    { "user", CLONE_NEWUSER }, { "mnt", CLONE_NEWNS },   { "pid", CLONE_NEWPID },       { "net", CLONE_NEWNET },
    { "ipc", CLONE_NEWIPC },   { "uts", CLONE_NEWUTS },  { "cgroup", CLONE_NEWCGROUP }, { "time", CLONE_NEWTIME },
  };
  *flags = 0;
  for (size_t i = 0; i < DJ_ARRAY_SIZE(ns); i++) {
    char theirs[64], ours[64];
    snprintf(theirs, sizeof theirs, "/proc/%d/ns/%s", (int) pid, ns[i].name);
    snprintf(ours, sizeof ours, "/proc/self/ns/%s", ns[i].name);
    struct stat a, b;
    if (stat(ours, &b) < 0)
      continue; /* a namespace type this kernel lacks */
    if (stat(theirs, &a) < 0)
      return dj_error(err, errno, "namespaces of the container's init: %s", theirs);
    if (a.st_ino != b.st_ino || a.st_dev != b.st_dev)
      *flags |= ns[i].flag;
  }
  return 0;
}

static pid_t spawn_joined(struct exec_run *x, dj_err *err)
{
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0)
    return dj_error(err, errno, "pipe");
  pid_t joiner = fork();
  if (joiner < 0) {
    close(p[0]);
    close(p[1]);
    return dj_error(err, errno, "fork");
  }
  if (joiner == 0) {
    close(p[0]);
    close(x->sync[0]);
    close(x->lock_fd);
    struct { pid_t pid; int err; } r = { -1, 0 };
    /* Every namespace at once: the kernel joins the user namespace first, and a pidfd cannot name
     * another process than the init that was checked. */
    if (setns(x->live.pidfd, x->ns_flags) < 0) {
      r.err = errno;
    } else {
      /* As the init's sibling's child of donjon, in the container's pid namespace. */
      r.pid = (pid_t) syscall(SYS_clone, CLONE_PARENT | SIGCHLD, NULL, NULL, NULL, 0);
      if (r.pid == 0) {
        close(p[1]);
        exec_main(x);
      }
      r.err = r.pid < 0 ? errno : 0;
    }
    _exit(dj_write_all(p[1], &r, sizeof r) < 0);
  }
  close(p[1]);
  struct { pid_t pid; int err; } r = { -1, EPIPE };
  ssize_t n = dj_read_all(p[0], &r, sizeof r);
  close(p[0]);
  waitpid(joiner, NULL, 0);
  if (n != (ssize_t) sizeof r || r.pid <= 0)
    return dj_error(err, r.err, "join the container's namespaces (%#x) and fork the process", x->ns_flags);
  return r.pid;
}

static int release(struct exec_run *x, dj_err *err)
{
  if (x->live.cg != NULL && dj_cgroup_enter(x->live.cg, x->pid, err) < 0)
    return dj_err_wrap(err, "place the process in the container's cgroups");
  if (x->spec->process.has_oom_score_adj) {
    _cleanup_close_ int procfd = dj_procfs_open(err);
    char rel[64], val[16];
    snprintf(rel, sizeof rel, "%d/oom_score_adj", (int) x->pid);
    snprintf(val, sizeof val, "%d", x->spec->process.oom_score_adj);
    if (procfd < 0 || dj_procfs_write(procfd, rel, val, err) < 0)
      return dj_err_wrap(err, "process.oomScoreAdj");
  }
  msg_send(x->sync[0], MSG_GO, NULL);
  return 0;
}

/* Until the process has exec'd (its end closes) or failed; a pty it hands over on the way. */
static int wait_exec(struct exec_run *x, int *pty, dj_err *err)
{
  for (;;) {
    struct msg m;
    int fd = -1;
    ssize_t n = dj_fd_recv(x->sync[0], &m, sizeof m, &fd, err);
    if (n == 0)
      return 0;
    if (n == (ssize_t) sizeof m && m.type == MSG_PTY && fd >= 0 && *pty < 0) {
      *pty = fd;
      continue;
    }
    if (fd >= 0)
      close(fd);
    if (n == (ssize_t) sizeof m && m.type == MSG_ERR) {
      *err = m.err;
      err->msg[sizeof err->msg - 1] = '\0';
      return -1;
    }
    return dj_error(err, n < 0 ? err->errnum : EPROTO, "the process died while joining the container");
  }
}

static int exec_prepare(struct exec_run *x, dj_err *err)
{
  const struct dj_exec_opts *o = x->o;
  /* as run does: never enter a container from a binary it could overwrite (CVE-2019-5736) */
  if (dj_reexec_check(err) < 0)
    return -1;
  x->lock_fd = dj_state_lock(o->state_root, o->id, err);
  if (x->lock_fd < 0 || dj_live_load(o->state_root, o->id, &x->live, err) < 0)
    return -1;
  if (strcmp(x->live.status, "created") != 0 && strcmp(x->live.status, "running") != 0)
    return dj_error(err, 0, "container \"%s\" is %s: only a created or running container can run exec", o->id,
                    x->live.status);
  _cleanup_json_ json_t *doc = NULL;
  if (dj_state_load_config(o->state_root, o->id, &doc, err) < 0)
    return -1;
  json_object_set(doc, "process", o->process);
  if (dj_spec_parse(doc, &x->spec, err) < 0)
    return dj_err_wrap(err, "the process");
  const struct dj_process *p = &x->spec->process;
  if (p->terminal && o->detach && o->console_socket == NULL)
    return dj_error(err, 0, "process.terminal with --detach needs --console-socket (who else would hold the pty?)");
  if (dj_lsm_check(x->spec, err) < 0 || dj_rlimits_check(p, err) < 0)
    return -1;
  if (x->spec->seccomp != NULL) {
    char **unknown = NULL;
    if (dj_seccomp_build(x->spec->seccomp, &x->seccomp, &unknown, err) < 0 ||
        dj_seccomp_check_runtime_steps(x->spec->seccomp, !p->no_new_privileges, err) < 0) {
      dj_strvfreep(&unknown);
      return dj_err_wrap(err, "linux.seccomp");
    }
    dj_strvfreep(&unknown);
  }
  if (p->terminal && o->console_socket != NULL) {
    x->console_sock = dj_console_socket_connect(o->console_socket, err);
    if (x->console_sock < 0)
      return -1;
  }
  if (namespaces_to_join(x->live.pid, &x->ns_flags, err) < 0)
    return -1;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, x->sync) < 0)
    return dj_error(err, errno, "socketpair");
  return 0;
}

static void exec_cleanup(struct exec_run *x)
{
  if (x->pid > 0) {
    kill(x->pid, SIGKILL);
    waitpid(x->pid, NULL, 0);
  }
  for (int i = 0; i < 2; i++)
    if (x->sync[i] >= 0)
      close(x->sync[i]);
  if (x->console_sock >= 0)
    close(x->console_sock);
  if (x->lock_fd >= 0)
    close(x->lock_fd);
  if (x->seccomp != NULL)
    seccomp_release(x->seccomp);
  dj_live_free(&x->live);
  dj_spec_free(x->spec);
  sigprocmask(SIG_SETMASK, &x->saved_mask, NULL);
}

int dj_container_exec(const struct dj_exec_opts *o, int *exit_status, dj_err *err)
{
  struct exec_run x = { .o = o, .lock_fd = -1, .sync = { -1, -1 }, .console_sock = -1,
                        .live = { .pidfd = -1 } };
  int pty = -1, rc = -1;
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &x.saved_mask);
  *exit_status = 0;
  if (exec_prepare(&x, err) < 0)
    goto out;
  /* From here until execve nothing of ours may be ptraced or read through /proc (inherited). */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
    dj_error(err, errno, "prctl PR_SET_DUMPABLE");
    goto out;
  }
  x.pid = spawn_joined(&x, err);
  if (x.pid < 0) {
    x.pid = 0;
    goto out;
  }
  close(x.sync[1]);
  x.sync[1] = -1;
  if (release(&x, err) < 0 || wait_exec(&x, &pty, err) < 0)
    goto out;
  if (o->pid_file != NULL) {
    char buf[32];
    int len = snprintf(buf, sizeof buf, "%d", (int) x.pid);
    if (dj_write_file_atomic(o->pid_file, buf, (size_t) len, 0644, err) < 0) {
      dj_err_wrap(err, "--pid-file");
      goto out;
    }
  }
  /* Running: other commands on the container may go on (kill, delete) while we wait. */
  close(x.lock_fd);
  x.lock_fd = -1;
  if (o->detach) {
    x.pid = 0; /* the caller's subreaper inherits it */
    rc = 0;
    goto out;
  }
  rc = dj_supervise(x.pid, pty, exit_status, err);
  pty = -1;
  if (rc == 0)
    x.pid = 0;
out:
  if (pty >= 0)
    close(pty);
  exec_cleanup(&x);
  return rc;
}
