/* The container's init: from the clone to the execve of the process (docs/sandbox.md has the
 * order and why). It reports every failure to donjon on the sync socket. */
#include "sandbox/container_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/json.h"
#include "common/util.h"
#include "sandbox/console.h"
#include "sandbox/hooks.h"
#include "sandbox/process.h"
#include "sandbox/rootfs.h"

/* ---- the container's init ------------------------------------------------------------------- */

int dj_sync_send(int fd, int type, const dj_err *e)
{
  struct sync_msg m = { .type = type };
  if (e != NULL)
    m.err = *e;
  /* One datagram; MSG_NOSIGNAL: an init that already died must not raise SIGPIPE in donjon. */
  return send(fd, &m, sizeof m, MSG_NOSIGNAL) == (ssize_t) sizeof m ? 0 : -1;
}

/* In the init: wait until donjon has placed us in our cgroups, then make the cgroup namespace
 * (it must be rooted at our own cgroup). Called at the first step that needs it. */
static int wait_joined(void *arg, dj_err *err)
{
  struct run *r = arg;
  if (r->joined)
    return 0;
  struct sync_msg m;
  if (dj_read_all(r->sync[1], &m, sizeof m) != (ssize_t) sizeof m || m.type != SYNC_JOINED)
    return dj_error(err, EPIPE, "wait to be placed in the container's cgroups");
  r->joined = true;
  if (r->init_hooks) {
    r->hook_state = dj_xmalloc(SYNC_STATE_MAX);
    ssize_t n = recv(r->sync[1], r->hook_state, SYNC_STATE_MAX - 1, 0);
    if (n <= 0)
      return dj_error(err, EPIPE, "receive the container's state for its hooks");
    r->hook_state[n] = '\0';
  }
  if ((r->spec->ns_flags & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0)
    return dj_error(err, errno, "unshare the cgroup namespace");
  return 0;
}

/* In the init, just before pivot_root: donjon runs prestart and createRuntime hooks (runtime
 * namespace), then we run createContainer hooks (ours; the host's paths still resolve). */
static int hooks_before_pivot(void *arg, dj_err *err)
{
  struct run *r = arg;
  if (wait_joined(r, err) < 0)
    return -1;
  const json_t *hooks = r->spec->hooks;
  if (dj_hooks_have(hooks, DJ_HOOK_PRESTART) || dj_hooks_have(hooks, DJ_HOOK_CREATE_RUNTIME)) {
    struct sync_msg m;
    if (dj_sync_send(r->sync[1], SYNC_HOOKS, NULL) < 0 ||
        dj_read_all(r->sync[1], &m, sizeof m) != (ssize_t) sizeof m || m.type != SYNC_HOOKS_DONE)
      return dj_error(err, EPIPE, "wait for the prestart and createRuntime hooks");
  }
  return dj_hooks_run(hooks, DJ_HOOK_CREATE_CONTAINER, r->hook_state, err);
}

/* The state startContainer hooks get: status created. */
static int start_hooks(struct run *r, dj_err *err)
{
  if (!dj_hooks_have(r->spec->hooks, DJ_HOOK_START_CONTAINER))
    return 0;
  json_error_t je;
  _cleanup_json_ json_t *st = json_loads(r->hook_state, 0, &je);
  json_object_set_new(st, "status", json_string("created"));
  _cleanup_free_ char *text = json_dumps(st, JSON_COMPACT);
  return dj_hooks_run(r->spec->hooks, DJ_HOOK_START_CONTAINER, text != NULL ? text : r->hook_state, err);
}

static int join_namespaces(struct run *r, dj_err *err)
{
  for (size_t i = 0; i < r->n_ns_fds; i++) {
    /* pid and time apply to children: joined before the clone; user: joined by the process that
     * cloned us, so that our new namespaces belong to it. */
    if (r->ns_types[i] == CLONE_NEWPID || r->ns_types[i] == CLONE_NEWTIME || r->ns_types[i] == CLONE_NEWUSER)
      continue;
    if (setns(r->ns_fds[i], r->ns_types[i]) < 0)
      return dj_error(err, errno, "join the %s namespace", dj_namespace_name(r->ns_types[i]));
  }
  return 0;
}

int dj_joined_userns_fd(const struct run *r)
{
  for (size_t i = 0; i < r->n_ns_fds; i++)
    if (r->ns_types[i] == CLONE_NEWUSER)
      return r->ns_fds[i];
  return -1;
}

static int loopback_up(dj_err *err)
{
  _cleanup_close_ int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0)
    return dj_error(err, errno, "bring up lo: socket");
  struct ifreq ifr = { 0 };
  strcpy(ifr.ifr_name, "lo");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
    return dj_error(err, errno, "bring up lo: SIOCGIFFLAGS");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
    return dj_error(err, errno, "bring up lo: SIOCSIFFLAGS");
  return 0;
}

/* create: tell donjon we are ready, then block until `start` opens the exec fifo for reading
 * (as runc's exec.fifo). The fifo is reopened through the host's /proc: our root is the
 * container's now. */
static int wait_start(struct run *r, const struct dj_process *p, int lsm_procfd, dj_err *err)
{
  if (dj_sync_send(r->sync[1], SYNC_READY, NULL) < 0)
    return dj_error(err, errno, "report the container created");
  char rel[64];
  snprintf(rel, sizeof rel, "self/fd/%d", r->fifo_fd);
  _cleanup_close_ int fd = openat(r->proc_fd, rel, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return dj_error(err, errno, "open the exec fifo");
  /* start is reading now: a failed startContainer hook, or an LSM label the kernel refuses
   * (written after the hooks, which run unlabelled), is its error ("E" + the message) */
  if (start_hooks(r, err) < 0 ||
      (lsm_procfd >= 0 && dj_lsm_label_exec(p, lsm_procfd, dj_procfs_write, err) < 0)) {
    char line[DJ_ERR_MSG_MAX + 1];
    int len = snprintf(line, sizeof line, "E%s", err->msg);
    (void) !write(fd, line, (size_t) len < sizeof line ? (size_t) len : sizeof line - 1);
    r->started = true;
    return -1;
  }
  if (write(fd, "0", 1) != 1)
    return dj_error(err, errno, "write the exec fifo");
  close(r->fifo_fd);
  close(r->proc_fd);
  r->started = true;
  return 0;
}

/* In the init, once /dev is made: the pty from the container's devpts, its master sent to the
 * console socket; the slave becomes /dev/console, and our terminal after the pivot. */
static int make_console(void *arg, int rootfd, dj_err *err)
{
  struct run *r = arg;
  int master = -1;
  if (dj_console_open_in_root(&r->spec->process, rootfd, &master, &r->pty_slave, err) < 0)
    return -1;
  int rc = dj_console_send(r->console_sock, master, err);
  close(master);
  close(r->console_sock);
  r->console_sock = -1;
  return rc < 0 ? -1 : r->pty_slave;
}

struct sources {
  const struct dj_spec *spec;
  int *fds;
};

static void sources_closep(struct sources *s)
{
  dj_rootfs_sources_close(s->spec, s->fds);
}

static int init_setup(struct run *r, dj_err *err)
{
  const struct dj_spec *spec = r->spec;
  const struct dj_process *p = &spec->process;
  bool new_userns = (spec->ns_flags & CLONE_NEWUSER) != 0;

  if (join_namespaces(r, err) < 0)
    return -1;
  __attribute__((cleanup(sources_closep))) struct sources src = { spec, NULL };
  if (new_userns || dj_joined_userns_fd(r) >= 0) {
    /* Still with the host's credentials: what the namespace's root could not reach (sandbox/rootfs.h) */
    src.fds = dj_rootfs_sources_open(spec, r->opts->bundle, err);
    if (src.fds == NULL)
      return dj_err_wrap(err, "root filesystem");
    /* Become the namespace's root (if mapped) so that what we create is owned by it. */
    if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
      return dj_error(err, errno, "become root in the new user namespace (is container id 0 mapped?)");
  }
  if (setsid() < 0)
    return dj_error(err, errno, "setsid");
  if (r->pty_slave >= 0 && r->console_sock < 0 && dj_console_attach(r->pty_slave, err) < 0)
    return -1; /* a host pty (run in the foreground); one made in the container is attached below */
  if (!r->opts->no_new_keyring &&
      syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, NULL, 0, 0, 0) < 0 && errno != ENOSYS)
    return dj_error(err, errno, "create a session keyring");
  if (spec->hostname != NULL && sethostname(spec->hostname, strlen(spec->hostname)) < 0)
    return dj_error(err, errno, "sethostname \"%s\"", spec->hostname);
  if (spec->domainname != NULL && setdomainname(spec->domainname, strlen(spec->domainname)) < 0)
    return dj_error(err, errno, "setdomainname \"%s\"", spec->domainname);
  if ((spec->ns_flags & CLONE_NEWNET) && loopback_up(err) < 0)
    return -1;
  if (spec->n_sysctl > 0) {
    _cleanup_close_ int procfd = dj_procfs_open(err);
    if (procfd < 0 || dj_sysctl_apply(spec, procfd, err) < 0)
      return -1;
  }

  struct dj_rootfs_opts ro = { .bundle = r->opts->bundle, .no_pivot = r->opts->no_pivot,
                               .userns = new_userns || dj_joined_userns_fd(r) >= 0, .console_fd = r->pty_slave,
                               .before_cgroup_mount = wait_joined, .arg = r,
                               .make_console = r->console_sock >= 0 ? make_console : NULL,
                               .sources = src.fds,
                               .before_pivot = (dj_hooks_have(spec->hooks, DJ_HOOK_PRESTART) ||
                                                dj_hooks_have(spec->hooks, DJ_HOOK_CREATE_RUNTIME) ||
                                                dj_hooks_have(spec->hooks, DJ_HOOK_CREATE_CONTAINER))
                                                 ? hooks_before_pivot : NULL };
  if (dj_rootfs_setup(spec, &ro, err) < 0)
    return dj_err_wrap(err, "root filesystem");
  if (r->console_sock < 0 && r->pty_slave >= 0 && ro.make_console != NULL && dj_console_attach(r->pty_slave, err) < 0)
    return -1;
  /* At the latest here: limits, devices and accounting hold before anything of the workload runs. */
  if (wait_joined(r, err) < 0)
    return -1;
  if (dj_cwd_enter(p->cwd, err) < 0)
    return -1;
  if (dj_rlimits_apply(p, err) < 0)
    return -1;
  if (spec->has_personality && personality(spec->personality) < 0)
    return dj_error(err, errno, "personality %#lx", spec->personality);
  /* Opened while still root in our namespaces; the label itself is written last. */
  _cleanup_close_ int lsm_procfd = -1;
  if (dj_lsm_wanted(p) && (lsm_procfd = dj_procfs_open(err)) < 0)
    return dj_err_wrap(err, "LSM label");
  if (dj_caps_drop_bounding(&p->caps, err) < 0)
    return -1;
  if (dj_user_apply(p, err) < 0)
    return -1;
  if (r->pty_slave >= 0)
    close(r->pty_slave);
  /* Nothing of donjon's beyond the preserved fds reaches the workload; the sync socket is
   * close-on-exec, so it lives until execve and no further. */
  if (dj_fds_cloexec_from(3 + r->opts->listen_fds + r->opts->preserve_fds, err) < 0)
    return -1;
  /* Default signal dispositions and mask now, before a filter could refuse the syscalls. */
  for (int sig = 1; sig < NSIG; sig++)
    signal(sig, SIG_DFL);
  sigprocmask(SIG_SETMASK, &r->saved_mask, NULL);
  /* create: wait for `start` here, killable, before the filter and the last capability drops. */
  if (r->create ? wait_start(r, p, lsm_procfd, err) < 0 : start_hooks(r, err) < 0)
    return -1;
  if (!r->create && lsm_procfd >= 0 && dj_lsm_label_exec(p, lsm_procfd, dj_procfs_write, err) < 0)
    return -1;
  return dj_process_confine(p, r->seccomp, err);
}

void dj_init_main(struct run *r)
{
  dj_err err = { 0 };
  close(r->sync[0]);
  /* The lock's file description is shared with donjon: ours must not hold it after it exits. */
  if (r->lock_fd >= 0)
    close(r->lock_fd);
  /* Non-dumpable while setting up: nothing in the container may ptrace or read our memory. */
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  struct sync_msg m;
  ssize_t n = dj_read_all(r->sync[1], &m, sizeof m);
  if (n != (ssize_t) sizeof m || m.type != SYNC_GO)
    _exit(127); /* donjon gave up on us; it reports why */
  if (init_setup(r, &err) == 0) {
    char listen_fds[32];
    snprintf(listen_fds, sizeof listen_fds, "LISTEN_FDS=%d", r->opts->listen_fds);
    const char *activation[] = { listen_fds, "LISTEN_PID=1", NULL };
    dj_process_exec(&r->spec->process, r->opts->listen_fds > 0 ? activation : NULL, &err);
  }
  if (r->started) {
    /* Nobody reads the sync socket after create: the process's stderr is where the caller (the
     * shim, conmon) looks, as with runc. */
    char line[DJ_ERR_MSG_MAX + 32];
    int len = snprintf(line, sizeof line, "donjon: %s: %s\n", r->opts->id, err.msg);
    if (len > 0)
      dj_write_all(STDERR_FILENO, line, (size_t) len < sizeof line ? (size_t) len : sizeof line - 1);
  }
  dj_sync_send(r->sync[1], SYNC_ERR, &err);
  _exit(127);
}

