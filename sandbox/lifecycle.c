/* The commands after create (start, state, kill, delete, list), each under the container's
 * lock, working from the state directory and what the kernel says of the init. */
#include "sandbox/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"
#include "sandbox/cgroup.h"
#include "sandbox/hooks.h"
#include "sandbox/notify.h"

/* The OCI members only, with the live status (pid 0 once stopped, as runc shows it). */
static json_t *live_public(const struct dj_live *l)
{
  json_t *out = json_deep_copy(l->st);
  json_object_del(out, "donjon");
  json_object_set_new(out, "status", json_string(l->status));
  if (strcmp(l->status, "stopped") == 0)
    json_object_set_new(out, "pid", json_integer(0));
  return out;
}

/* poststart and poststop hooks of the saved config, with the container's state: failures are
 * warnings, as the spec says. */
static void run_hooks_warn(const char *root, const char *id, const struct dj_live *l, enum dj_hook_kind kind)
{
  _cleanup_json_ json_t *doc = NULL;
  dj_err ignored = { 0 };
  if (dj_state_load_config(root, id, &doc, &ignored) < 0 || !dj_hooks_have(json_object_get(doc, "hooks"), kind))
    return;
  _cleanup_json_ json_t *pub = live_public(l);
  json_object_set_new(pub, "status", json_string(kind == DJ_HOOK_POSTSTART ? "running" : "stopped"));
  _cleanup_free_ char *state = json_dumps(pub, JSON_COMPACT);
  dj_hooks_run_warn(json_object_get(doc, "hooks"), kind, state);
}

/* The container's lock, then its state (the lock's fd, or -1). */
static int lock_and_load(const char *root, const char *id, struct dj_live *l, dj_err *err)
{
  int lock = dj_state_lock(root, id, err);
  if (lock < 0)
    return -1;
  if (dj_live_load(root, id, l, err) < 0) {
    close(lock);
    return -1;
  }
  return lock;
}

int dj_container_state(const char *root, const char *id, json_t **out, dj_err *err)
{
  struct dj_live l;
  if (dj_live_load(root, id, &l, err) < 0)
    return -1;
  *out = live_public(&l);
  dj_live_free(&l);
  return 0;
}

int dj_container_start(const char *root, const char *id, dj_err *err)
{
  struct dj_live l;
  _cleanup_close_ int lock = lock_and_load(root, id, &l, err);
  if (lock < 0)
    return -1;
  int rc = -1;
  char path[PATH_MAX];
  _cleanup_close_ int fifo = -1, notify_fd = -1;
  if (strcmp(l.status, "created") != 0) {
    dj_error(err, 0, "container \"%s\" is %s: only a created container can be started", id, l.status);
    goto out;
  }
  const char *notify = json_string_value(json_object_get(json_object_get(l.st, "donjon"), "notifySocket"));
  if (notify != NULL && (notify_fd = dj_notify_listen(root, id, err)) < 0)
    goto out;
  snprintf(path, sizeof path, "%s/%s/exec.fifo", root, id);
  dj_log_debug("start %s: waiting for the init (pid %d) on %s", id, (int) l.pid, path);
  /* O_NONBLOCK: an init that died must not leave us waiting for a writer. */
  fifo = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOFOLLOW);
  if (fifo < 0) {
    dj_error(err, errno, "start %s: open %s", id, path);
    goto out;
  }
  for (;;) {
    char msg[DJ_ERR_MSG_MAX + 1];
    ssize_t n = read(fifo, msg, sizeof msg - 1);
    if (n >= 1 && msg[0] == 'E') {
      /* a startContainer hook failed in the init, or the kernel refused its LSM label: the init
       * now exits (the container stops) */
      msg[n] = '\0';
      dj_error(err, 0, "start %s: %s", id, msg + 1);
      err->code = DJ_HOOK_FAILED;
      goto out;
    }
    if (n >= 1)
      break;
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      dj_error(err, errno, "start %s: read %s", id, path);
      goto out;
    }
    /* Nothing yet: wait for the init's byte or its exit (pidfd readable). */
    struct pollfd p[2] = { { fifo, POLLIN, 0 }, { l.pidfd, POLLIN, 0 } };
    if (poll(p, 2, -1) < 0 && errno != EINTR) {
      dj_error(err, errno, "start %s: poll", id);
      goto out;
    }
    if ((p[1].revents & POLLIN) && !(p[0].revents & POLLIN)) {
      dj_error(err, 0, "start %s: the container's init exited before it could start the process", id);
      goto out;
    }
    if ((p[0].revents & POLLHUP) && !(p[0].revents & POLLIN)) {
      dj_error(err, 0, "start %s: the container's init closed the exec fifo without starting", id);
      goto out;
    }
  }
  unlink(path);
  dj_log_debug("start %s: the init goes on to exec the process", id);
  json_object_set_new(l.st, "status", json_string("running"));
  rc = dj_state_save(root, id, l.st, err);
  if (rc == 0)
    run_hooks_warn(root, id, &l, DJ_HOOK_POSTSTART);
  if (rc == 0 && notify_fd >= 0) {
    /* the process may take its time to be ready: other commands need not wait for it */
    close(lock);
    lock = -1;
    rc = dj_notify_relay(notify_fd, l.pidfd, l.pid, notify, err);
  }
out:
  dj_live_free(&l);
  return rc;
}

static int signal_cgroup(struct dj_live *l, int sig, dj_err *err)
{
  if (l->cg == NULL)
    return dj_error(err, 0, "--all: no cgroup is recorded for this container");
  _cleanup_free_ pid_t *pids = NULL;
  size_t n = 0;
  if (dj_cgroup_pids(l->cg, &pids, &n, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    if (kill(pids[i], sig) < 0 && errno != ESRCH)
      return dj_error(err, errno, "kill %d", (int) pids[i]);
  return 0;
}

int dj_container_kill(const char *root, const char *id, int sig, bool all, dj_err *err)
{
  struct dj_live l;
  _cleanup_close_ int lock = lock_and_load(root, id, &l, err);
  if (lock < 0)
    return -1;
  int rc = 0;
  dj_log_debug("kill %s: signal %d to %s (status %s, init pid %d)", id, sig,
               all ? "every process of its cgroup" : "the init", l.status, (int) l.pid);
  /* --all reaches what is left in the cgroup even once the init is gone (exec'd processes of a
   * stopped container), as runc does: containerd's shim relies on it */
  if (all && strcmp(l.status, "stopped") == 0 && l.cg != NULL)
    rc = signal_cgroup(&l, sig, err);
  else if (strcmp(l.status, "stopped") == 0 || strcmp(l.status, "creating") == 0)
    rc = dj_error(err, 0, "container \"%s\" is %s: only a created or running container can be signalled", id,
                  l.status);
  else if (all)
    rc = signal_cgroup(&l, sig, err);
  else if (syscall(SYS_pidfd_send_signal, l.pidfd, sig, NULL, 0) < 0)
    rc = dj_error(err, errno, "signal %d to the init (pid %d) of \"%s\"", sig, (int) l.pid, id);
  dj_live_free(&l);
  return rc;
}

/* SIGKILL the init and wait for it to exit (not to be reaped: that is its parent's job). */
static int kill_init(struct dj_live *l, const char *id, dj_err *err)
{
  if (syscall(SYS_pidfd_send_signal, l->pidfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
    return dj_error(err, errno, "kill the init (pid %d) of \"%s\"", (int) l->pid, id);
  /* a frozen (paused) init dies only once thawed */
  if (strcmp(l->status, "paused") == 0 && dj_cgroup_freeze(l->cg, false, err) < 0)
    return dj_err_wrap(err, "thaw the paused container \"%s\" to kill it", id);
  struct pollfd p = { l->pidfd, POLLIN, 0 };
  while (poll(&p, 1, 10000) < 0)
    if (errno != EINTR)
      return dj_error(err, errno, "wait for the init of \"%s\" to exit", id);
  if (!(p.revents & POLLIN))
    return dj_error(err, ETIMEDOUT, "the init (pid %d) of \"%s\" did not exit after SIGKILL", (int) l->pid, id);
  return 0;
}

int dj_container_delete(const char *root, const char *id, bool force, dj_err *err)
{
  _cleanup_close_ int lock = dj_state_lock(root, id, err);
  if (lock < 0) {
    if (force && err->errnum == ENOENT) {
      dj_state_remove(root, id); /* a create that died before its lock existed */
      return 0;
    }
    return -1;
  }
  struct dj_live l;
  if (dj_live_load(root, id, &l, err) < 0) {
    if (force && err->errnum == ENOENT) {
      dj_state_remove(root, id); /* a create that died before writing state.json */
      return 0;
    }
    return -1;
  }
  int rc = -1;
  if (strcmp(l.status, "stopped") != 0) {
    /* a created container's process never ran: runc and crun kill its init and delete it, and
     * containerd's shim relies on that (createdState.Delete calls delete without --force) */
    if (!force && strcmp(l.status, "created") != 0) {
      dj_error(err, 0, "container \"%s\" is %s: stop it first (kill) or use delete --force", id, l.status);
      goto out;
    }
    dj_log_debug("delete %s: SIGKILL to the %s container's init (pid %d)", id, l.status, (int) l.pid);
    if (kill_init(&l, id, err) < 0)
      goto out;
  }
  if (l.cg != NULL) {
    dj_log_debug("delete %s: removing its cgroups", id);
    /* destroy kills what is left in the cgroups, then frees them */
    struct dj_cgroup *cg = l.cg;
    l.cg = NULL;
    if (dj_cgroup_destroy(cg, err) < 0) {
      dj_err_wrap(err, "delete %s", id);
      goto out;
    }
  }
  run_hooks_warn(root, id, &l, DJ_HOOK_POSTSTOP);
  dj_state_remove(root, id);
  dj_log_debug("delete %s: state removed", id);
  rc = 0;
out:
  dj_live_free(&l);
  return rc;
}

int dj_container_list(const char *root, json_t **out, dj_err *err)
{
  json_t *list = json_array();
  DIR *d = opendir(root);
  if (d == NULL) {
    if (errno == ENOENT) {
      *out = list;
      return 0;
    }
    json_decref(list);
    return dj_error(err, errno, "state directory %s", root);
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    json_t *st = NULL;
    /* A container being created or deleted meanwhile is simply not listed. */
    if (dj_container_state(root, e->d_name, &st, NULL) == 0)
      json_array_append_new(list, st);
  }
  closedir(d);
  *out = list;
  return 0;
}

int dj_container_pause(const char *root, const char *id, bool pause, dj_err *err)
{
  struct dj_live l;
  _cleanup_close_ int lock = lock_and_load(root, id, &l, err);
  if (lock < 0)
    return -1;
  int rc = -1;
  const char *want = pause ? "running" : "paused";
  if (strcmp(l.status, want) != 0 && !(pause && strcmp(l.status, "created") == 0))
    dj_error(err, 0, "container \"%s\" is %s: only a %s container can be %s", id, l.status,
             pause ? "created or running" : "paused", pause ? "paused" : "resumed");
  else if (l.cg == NULL)
    dj_error(err, 0, "container \"%s\": no cgroup is recorded, nothing to freeze", id);
  else
    rc = dj_cgroup_freeze(l.cg, pause, err);
  dj_live_free(&l);
  return rc;
}

int dj_container_pids(const char *root, const char *id, pid_t **pids, size_t *n, dj_err *err)
{
  struct dj_live l;
  if (dj_live_load(root, id, &l, err) < 0)
    return -1;
  int rc = -1;
  if (strcmp(l.status, "stopped") == 0) {
    *pids = NULL;
    *n = 0;
    rc = 0;
  } else if (l.cg == NULL) {
    dj_error(err, 0, "container \"%s\": no cgroup is recorded", id);
  } else {
    rc = dj_cgroup_pids(l.cg, pids, n, err);
  }
  dj_live_free(&l);
  return rc;
}

int dj_container_update(const char *root, const char *id, json_t *resources, dj_err *err)
{
  struct dj_live l;
  _cleanup_close_ int lock = lock_and_load(root, id, &l, err);
  if (lock < 0)
    return -1;
  int rc = -1;
  _cleanup_json_ json_t *doc = NULL;
  _cleanup_spec_ struct dj_spec *spec = NULL;
  if (strcmp(l.status, "stopped") == 0 || strcmp(l.status, "creating") == 0) {
    dj_error(err, 0, "container \"%s\" is %s: only a created, running or paused container can be updated", id,
             l.status);
    goto out;
  }
  if (l.cg == NULL) {
    dj_error(err, 0, "container \"%s\": no cgroup is recorded", id);
    goto out;
  }
  /* The saved config with linux.resources replaced by what is asked: the same parser checks it.
   * Device rules are not updated (they are set once, at create). */
  if (dj_state_load_config(root, id, &doc, err) < 0)
    goto out;
  json_t *linux_ = json_object_get(doc, "linux");
  if (!json_is_object(linux_)) {
    linux_ = json_object();
    json_object_set_new(doc, "linux", linux_);
  }
  json_t *res = json_deep_copy(resources);
  if (json_object_get(res, "devices") != NULL) {
    json_decref(res);
    dj_error(err, 0, "linux.resources.devices: device rules cannot be updated (they are set at create)");
    goto out;
  }
  json_object_set_new(linux_, "resources", res);
  if (dj_spec_parse(doc, &spec, err) < 0) {
    dj_err_wrap(err, "resources");
    goto out;
  }
  rc = dj_cgroup_update(l.cg, spec, err);
out:
  dj_live_free(&l);
  return rc;
}
