#include "sandbox/container_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
#include "sandbox/hooks.h"
#include "sandbox/notify.h"
#include "sandbox/process.h"
#include "sandbox/reexec.h"
#include "sandbox/rootfs.h"
#include "sandbox/seccomp.h"
#include "sandbox/state.h"
#include "sandbox/supervise.h"

int dj_container_id_check(const char *id, dj_err *err)
{
  size_t n = strlen(id);
  if (n == 0 || n > 1024)
    return dj_error(err, 0, "container id must be 1 to 1024 characters");
  for (size_t i = 0; i < n; i++) {
    char c = id[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              (i > 0 && (c == '_' || c == '.' || c == '+' || c == '-'));
    if (!ok)
      return dj_error(err, 0, "container id \"%s\": invalid character at %zu (allowed: letters, digits, "
                              "and _ . + - after the first)", id, i);
  }
  return 0;
}

/* ---- donjon's side ---------------------------------------------------------------------------- */

static int open_namespaces(struct run *r, dj_err *err)
{
  /* The user namespace first, so joining the others is done as its root. */
  for (int pass = 0; pass < 2; pass++) {
    for (size_t i = 0; i < r->spec->n_namespaces; i++) {
      const struct dj_namespace *ns = &r->spec->namespaces[i];
      if (ns->path == NULL || ((ns->type == CLONE_NEWUSER) != (pass == 0)))
        continue;
      if (r->n_ns_fds == DJ_ARRAY_SIZE(r->ns_fds))
        return dj_error(err, 0, "linux.namespaces: too many");
      int fd = open(ns->path, O_RDONLY | O_CLOEXEC);
      if (fd < 0)
        return dj_error(err, errno, "linux.namespaces: %s namespace %s", dj_namespace_name(ns->type), ns->path);
      r->ns_fds[r->n_ns_fds] = fd;
      r->ns_types[r->n_ns_fds++] = ns->type;
    }
  }
  return 0;
}

static int write_id_map(int procfd, pid_t pid, const char *file, const struct dj_id_map *m, size_t n,
                        dj_err *err)
{
  char buf[340 * 40] = { 0 };
  size_t len = 0;
  for (size_t i = 0; i < n && len < sizeof buf - 40; i++)
    len += (size_t) snprintf(buf + len, sizeof buf - len, "%u %u %u\n", m[i].container_id, m[i].host_id,
                             m[i].size);
  char rel[64];
  snprintf(rel, sizeof rel, "%d/%s", (int) pid, file);
  return dj_procfs_write(procfd, rel, buf, err);
}

/* Namespaces that apply to children (pid, time) are entered or made by donjon itself. */
static int prepare_child_namespaces(struct run *r, dj_err *err)
{
  for (size_t i = 0; i < r->n_ns_fds; i++)
    if ((r->ns_types[i] == CLONE_NEWPID || r->ns_types[i] == CLONE_NEWTIME) &&
        setns(r->ns_fds[i], r->ns_types[i]) < 0)
      return dj_error(err, errno, "join the %s namespace", dj_namespace_name(r->ns_types[i]));
  if (r->spec->ns_flags & CLONE_NEWTIME) {
    if (unshare(CLONE_NEWTIME) < 0)
      return dj_error(err, errno, "unshare the time namespace");
    if (r->spec->has_time_offsets) {
      char buf[128];
      snprintf(buf, sizeof buf, "monotonic %lld %lld\nboottime %lld %lld\n",
               (long long) r->spec->time_offset_monotonic_s, (long long) r->spec->time_offset_monotonic_ns,
               (long long) r->spec->time_offset_boottime_s, (long long) r->spec->time_offset_boottime_ns);
      _cleanup_close_ int procfd = dj_procfs_open(err);
      if (procfd < 0 || dj_procfs_write(procfd, "self/timens_offsets", buf, err) < 0)
        return dj_err_wrap(err, "linux.timeOffsets");
    }
  }
  return 0;
}

static pid_t clone_init(struct run *r, dj_err *err)
{
  /* The cgroup namespace is made by the init once it is in its cgroups; time by us, above. */
  unsigned long flags = (unsigned long) (r->spec->ns_flags & ~(CLONE_NEWCGROUP | CLONE_NEWTIME));
  int userns = dj_joined_userns_fd(r);
  if (userns >= 0) {
    /* The new namespaces must belong to the joined user namespace: a short-lived process joins
     * it and clones the init as our child (CLONE_PARENT), then reports its pid. */
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
      return dj_error(err, errno, "pipe");
    pid_t stage = fork();
    if (stage < 0) {
      close(p[0]);
      close(p[1]);
      return dj_error(err, errno, "fork");
    }
    if (stage == 0) {
      close(p[0]);
      pid_t pid = -1;
      if (setns(userns, CLONE_NEWUSER) == 0) {
        pid = (pid_t) syscall(SYS_clone, flags | CLONE_PARENT | SIGCHLD, NULL, NULL, NULL, 0);
        if (pid == 0) {
          close(p[1]);
          dj_init_main(r);
        }
      }
      int e = pid < 0 ? errno : 0;
      struct { pid_t pid; int err; } msg = { pid, e };
      _exit(dj_write_all(p[1], &msg, sizeof msg) < 0);
    }
    close(p[1]);
    struct { pid_t pid; int err; } msg = { -1, EPIPE };
    ssize_t n = dj_read_all(p[0], &msg, sizeof msg);
    close(p[0]);
    waitpid(stage, NULL, 0);
    if (n != (ssize_t) sizeof msg || msg.pid <= 0)
      return dj_error(err, msg.err, "join the user namespace and clone the container's init (namespaces %#lx)", flags);
    return msg.pid;
  }
  pid_t pid = (pid_t) syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0);
  if (pid < 0)
    return dj_error(err, errno, "clone the container's init (namespaces %#lx)", flags);
  if (pid == 0)
    dj_init_main(r);
  return pid;
}

/* The init is ours: give it its id maps, oom score and cgroups, then let it go. */
static int release_init(struct run *r, dj_err *err)
{
  const struct dj_spec *spec = r->spec;
  _cleanup_close_ int procfd = -1;
  if ((spec->ns_flags & CLONE_NEWUSER) || spec->process.has_oom_score_adj) {
    procfd = dj_procfs_open(err);
    if (procfd < 0)
      return -1;
  }
  if (spec->ns_flags & CLONE_NEWUSER) {
    if (write_id_map(procfd, r->pid, "uid_map", spec->uid_mappings, spec->n_uid_mappings, err) < 0)
      return dj_err_wrap(err, "linux.uidMappings");
    if (write_id_map(procfd, r->pid, "gid_map", spec->gid_mappings, spec->n_gid_mappings, err) < 0)
      return dj_err_wrap(err, "linux.gidMappings");
  }
  if (spec->process.has_oom_score_adj) {
    char rel[64], val[16];
    snprintf(rel, sizeof rel, "%d/oom_score_adj", (int) r->pid);
    snprintf(val, sizeof val, "%d", spec->process.oom_score_adj);
    if (dj_procfs_write(procfd, rel, val, err) < 0)
      return dj_err_wrap(err, "process.oomScoreAdj");
  }
  dj_log_debug("%s: init pid %d cloned%s; GO", r->opts->id, (int) r->pid,
               spec->ns_flags & CLONE_NEWUSER ? ", id maps written" : "");
  if (dj_sync_send(r->sync[0], SYNC_GO, NULL) < 0)
    return dj_error(err, errno, "signal the container's init");
  return 0;
}

/* The OCI state hooks get on stdin (malloc'd JSON text). */
static char *hook_state(const struct run *r, const char *status)
{
  _cleanup_json_ json_t *st = dj_state_new(r->opts->id, r->spec, r->opts->bundle, r->pid, status);
  return st != NULL ? json_dumps(st, JSON_COMPACT) : NULL;
}

/* While the init sets up: its cgroups, made and applied, then the init moved into them (a v1
 * migration waits for an RCU grace period: the init's own work fills that time). */
static int place_init(struct run *r, dj_err *err)
{
  if (dj_cgroup_create(r->spec, r->opts->id, &r->cgroup, err) < 0 || dj_cgroup_enter(r->cgroup, r->pid, err) < 0)
    return -1;
  dj_log_debug("%s: cgroups %s made, the init placed in them; JOINED", r->opts->id, dj_cgroup_path(r->cgroup));
  /* An init that failed meanwhile has closed its end: wait_init_done() then reports its own error. */
  dj_sync_send(r->sync[0], SYNC_JOINED, NULL);
  if (r->init_hooks) {
    _cleanup_free_ char *state = hook_state(r, "creating");
    if (state == NULL || strlen(state) >= SYNC_STATE_MAX)
      return dj_error(err, E2BIG, "the container's state for its hooks (annotations too large?)");
    send(r->sync[0], state, strlen(state), MSG_NOSIGNAL);
  }
  return 0;
}

/* Until the init has exec'd (run: its end of the socket closes) or is waiting for `start`
 * (create: READY), or reported a failure; prestart and createRuntime hooks on the way. */
static int wait_init_done(struct run *r, dj_err *err)
{
  for (;;) {
    struct sync_msg m;
    ssize_t n = dj_read_all(r->sync[0], &m, sizeof m);
    if (n == 0 && !r->create) {
      dj_log_debug("%s: the init exec'd the process", r->opts->id);
      return 0;
    }
    if (n == (ssize_t) sizeof m && m.type == SYNC_READY && r->create) {
      dj_log_debug("%s: the init is set up and waits for start (READY)", r->opts->id);
      return 0;
    }
    if (n == (ssize_t) sizeof m && m.type == SYNC_ERR) {
      *err = m.err;
      err->msg[sizeof err->msg - 1] = '\0';
      return -1;
    }
    if (n != (ssize_t) sizeof m || m.type != SYNC_HOOKS)
      return dj_error(err, n < 0 ? errno : EPIPE, "the container's init died during setup");
    dj_log_debug("%s: the init asks for its prestart and createRuntime hooks (HOOKS)", r->opts->id);
    _cleanup_free_ char *state = hook_state(r, "creating");
    if (dj_hooks_run(r->spec->hooks, DJ_HOOK_PRESTART, state, err) < 0 ||
        dj_hooks_run(r->spec->hooks, DJ_HOOK_CREATE_RUNTIME, state, err) < 0)
      return -1;
    if (dj_sync_send(r->sync[0], SYNC_HOOKS_DONE, NULL) < 0)
      return dj_error(err, EPIPE, "the container's init died during setup");
  }
}

static int write_pid_file(const char *path, pid_t pid, dj_err *err)
{
  char buf[32];
  int len = snprintf(buf, sizeof buf, "%d", (int) pid);
  if (dj_write_file_atomic(path, buf, (size_t) len, 0644, err) < 0)
    return dj_err_wrap(err, "--pid-file");
  return 0;
}

/* After the container is gone: run's end, or a create whose hook failed ("continue the lifecycle
 * at step 12", the spec says). */
static void poststop(struct run *r, bool ran)
{
  if (!ran || !r->spawned || !dj_hooks_have(r->spec->hooks, DJ_HOOK_POSTSTOP))
    return;
  _cleanup_free_ char *state = hook_state(r, "stopped");
  dj_hooks_run_warn(r->spec->hooks, DJ_HOOK_POSTSTOP, state);
}

static void run_cleanup(struct run *r)
{
  dj_err ignored = { 0 };
  if (r->pid > 0) {
    kill(r->pid, SIGKILL);
    waitpid(r->pid, NULL, 0);
  }
  if (r->cgroup != NULL && dj_cgroup_destroy(r->cgroup, &ignored) < 0)
    dj_log_warn("cleanup: %s", ignored.msg);
  if (r->state_made)
    dj_state_remove(r->opts->state_root, r->opts->id);
  if (r->seccomp != NULL)
    seccomp_release(r->seccomp);
  for (size_t i = 0; i < r->n_ns_fds; i++)
    close(r->ns_fds[i]);
  for (int i = 0; i < 2; i++)
    if (r->sync[i] >= 0)
      close(r->sync[i]);
  if (r->pty_master >= 0)
    close(r->pty_master);
  if (r->pty_slave >= 0)
    close(r->pty_slave);
  if (r->console_sock >= 0)
    close(r->console_sock);
  if (r->fifo_fd >= 0)
    close(r->fifo_fd);
  if (r->proc_fd >= 0)
    close(r->proc_fd);
  if (r->lock_fd >= 0)
    close(r->lock_fd);
  sigprocmask(SIG_SETMASK, &r->saved_mask, NULL);
}

static int run_checks(struct run *r, dj_err *err)
{
  const struct dj_spec *spec = r->spec;
  if (dj_container_id_check(r->opts->id, err) < 0)
    return -1;
  if (dj_reexec_check(err) < 0)
    return -1;
  if (dj_lsm_check(spec, err) < 0 || dj_rlimits_check(&spec->process, err) < 0 || dj_hooks_check(spec->hooks, err) < 0)
    return -1;
  if (spec->seccomp != NULL) {
    char **unknown = NULL;
    if (dj_seccomp_build(spec->seccomp, &r->seccomp, &unknown, err) < 0)
      return dj_err_wrap(err, "linux.seccomp");
    /* The filter is loaded before execve (and, without no_new_privs, before the capability
     * drops): a profile that denies those steps would only fail half-way, so refuse it now. */
    if (dj_seccomp_check_runtime_steps(spec->seccomp, !spec->process.no_new_privileges, err) < 0)
      return dj_err_wrap(err, "linux.seccomp");
    for (char **u = unknown; u != NULL && *u != NULL; u++)
      dj_log_warn("linux.seccomp: syscall \"%s\" is unknown to this libseccomp; its rule is not applied", *u);
    dj_strvfreep(&unknown);
  }
  return 0;
}

/* create: the state directory (locked), the exec fifo and the handles the init needs to reopen it. */
static int create_state(struct run *r, dj_err *err)
{
  const struct dj_run_opts *opts = r->opts;
  r->lock_fd = dj_state_create_locked(opts->state_root, opts->id, err);
  if (r->lock_fd < 0)
    return -1;
  r->state_made = true;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s/exec.fifo", opts->state_root, opts->id);
  /* 0622: the init reopens it after switching to the process's user */
  if (mkfifo(path, 0600) < 0 || chmod(path, 0622) < 0)
    return dj_error(err, errno, "mkfifo %s", path);
  r->fifo_fd = open(path, O_PATH | O_CLOEXEC);
  if (r->fifo_fd < 0)
    return dj_error(err, errno, "open %s", path);
  r->proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (r->proc_fd < 0)
    return dj_error(err, errno, "open /proc");
  return 0;
}

/* What run and create share: everything up to the init's last steps; state.json written. */
static int container_setup(struct run *r, dj_err *err)
{
  const struct dj_spec *spec = r->spec;
  const struct dj_run_opts *opts = r->opts;
  sigset_t all;
  sigfillset(&all);
  /* Block signals now; the init unblocks them just before exec, donjon reads them from a signalfd. */
  sigprocmask(SIG_BLOCK, &all, &r->saved_mask);
  if (run_checks(r, err) < 0)
    return -1;
  if (spec->process.terminal && opts->console_socket != NULL) {
    r->console_sock = dj_console_socket_connect(opts->console_socket, err);
    if (r->console_sock < 0)
      return -1;
  } else if (spec->process.terminal && r->create) {
    return dj_error(err, 0, "process.terminal: create needs --console-socket to hand the terminal to its "
                            "caller (runc and crun refuse it too)");
  }
  if (r->create) {
    if (create_state(r, err) < 0 || (opts->notify_socket != NULL && dj_notify_mkdir(opts->state_root, opts->id, err) < 0))
      return -1;
  } else {
    /* locked, so that exec, kill or delete wait until the process runs */
    r->lock_fd = dj_state_create_locked(opts->state_root, opts->id, err);
    if (r->lock_fd < 0)
      return -1;
    r->state_made = true;
  }
  if (open_namespaces(r, err) < 0)
    return -1;
  if (spec->process.terminal && r->console_sock < 0 &&
      dj_console_open(&spec->process, &r->pty_master, &r->pty_slave, err) < 0)
    return -1;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, r->sync) < 0)
    return dj_error(err, errno, "socketpair");
  if (prepare_child_namespaces(r, err) < 0)
    return -1;
  r->init_hooks = dj_hooks_have(spec->hooks, DJ_HOOK_CREATE_CONTAINER) ||
                  dj_hooks_have(spec->hooks, DJ_HOOK_START_CONTAINER);
  r->pid = clone_init(r, err);
  if (r->pid < 0) {
    r->pid = 0;
    return -1;
  }
  r->spawned = true;
  close(r->sync[1]);
  r->sync[1] = -1;
  if (r->pty_slave >= 0) {
    close(r->pty_slave);
    r->pty_slave = -1;
  }
  if (release_init(r, err) < 0 || place_init(r, err) < 0)
    return -1;
  /* While the init finishes its setup: what state, kill, exec and delete need, even if this
   * donjon dies before the end. */
  char st_char;
  unsigned long long start_time = 0;
  if (dj_proc_stat(r->pid, &st_char, &start_time) < 0)
    return dj_error(err, ESRCH, "the container's init died during setup");
  _cleanup_json_ json_t *st = dj_state_new(opts->id, spec, opts->bundle, r->pid, r->create ? "creating" : "running");
  if (st == NULL)
    return dj_error(err, ENOMEM, "state.json");
  json_t *priv = dj_state_private(st);
  json_object_set_new(priv, "initStartTime", json_integer((json_int_t) start_time));
  json_object_set_new(priv, "cgroup", dj_cgroup_save(r->cgroup));
  if (opts->notify_socket != NULL)
    json_object_set_new(priv, "notifySocket", json_string(opts->notify_socket));
  if (dj_state_save_config(opts->state_root, opts->id, spec->doc, err) < 0 ||
      dj_state_save(opts->state_root, opts->id, st, err) < 0)
    return -1;
  if (!r->create)
    return 0;
  if (wait_init_done(r, err) < 0)
    return -1;
  json_object_set_new(st, "status", json_string("created"));
  if (dj_state_save(opts->state_root, opts->id, st, err) < 0)
    return -1;
  return 0;
}

int dj_container_run(const struct dj_spec *spec, const struct dj_run_opts *opts, int *exit_status, dj_err *err)
{
  struct run r = { .spec = spec, .opts = opts, .sync = { -1, -1 }, .pty_master = -1, .pty_slave = -1, .console_sock = -1,
                   .lock_fd = -1, .fifo_fd = -1, .proc_fd = -1 };
  int rc = -1;
  if (container_setup(&r, err) < 0)
    goto out;
  if (wait_init_done(&r, err) < 0)
    goto out;
  if (opts->pid_file != NULL && write_pid_file(opts->pid_file, r.pid, err) < 0)
    goto out;
  close(r.lock_fd); /* running: the other commands may work on it now */
  r.lock_fd = -1;
  if (dj_hooks_have(spec->hooks, DJ_HOOK_POSTSTART)) {
    _cleanup_free_ char *state = hook_state(&r, "running");
    dj_hooks_run_warn(spec->hooks, DJ_HOOK_POSTSTART, state);
  }
  rc = dj_supervise(r.pid, r.pty_master, exit_status, err);
  r.pty_master = -1; /* closed by dj_supervise */
  if (rc == 0)
    r.pid = 0;        /* reaped */
out:
  run_cleanup(&r);
  poststop(&r, rc == 0 || err->code == DJ_HOOK_FAILED);
  return rc;
}

int dj_container_create(const struct dj_spec *spec, const struct dj_run_opts *opts, dj_err *err)
{
  struct run r = { .spec = spec, .opts = opts, .sync = { -1, -1 }, .pty_master = -1, .pty_slave = -1, .console_sock = -1,
                   .create = true, .lock_fd = -1, .fifo_fd = -1, .proc_fd = -1 };
  int rc = -1;
  if (container_setup(&r, err) < 0)
    goto out;
  if (opts->pid_file != NULL && write_pid_file(opts->pid_file, r.pid, err) < 0)
    goto out;
  /* Created: the init, its cgroups and the state stay; the caller's subreaper inherits the init. */
  rc = 0;
  r.pid = 0;
  dj_cgroup_free(r.cgroup);
  r.cgroup = NULL;
  r.state_made = false;
out:
  run_cleanup(&r);
  poststop(&r, rc < 0 && err->code == DJ_HOOK_FAILED);
  return rc;
}
