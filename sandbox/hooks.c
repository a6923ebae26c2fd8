#include "sandbox/hooks.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"
#include "common/util.h"

static const char *const kind_names[] = { "prestart",       "createRuntime", "createContainer",
                                          "startContainer", "poststart",     "poststop" };

static int check_strings(json_t *hook, const char *key, const char *path, bool env, dj_err *err)
{
  json_t *arr = NULL;
  if (dj_json_opt_array(hook, key, path, &arr, err) < 0)
    return -1;
  char kp[DJ_JPATH_MAX], ip[DJ_JPATH_MAX];
  dj_jpath_key(kp, path, key);
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *e = json_array_get(arr, i);
    dj_jpath_index(ip, kp, i);
    if (!json_is_string(e))
      return dj_error(err, 0, "%s: expected a string, got %s", ip, dj_json_type_name(e));
    const char *s = json_string_value(e);
    if (env && (strchr(s, '=') == NULL || s[0] == '='))
      return dj_error(err, 0, "%s: \"%s\" is not NAME=VALUE", ip, s);
  }
  return 0;
}

int dj_hooks_check(const json_t *hooks, dj_err *err)
{
  if (hooks == NULL)
    return 0;
  for (size_t k = 0; k < DJ_ARRAY_SIZE(kind_names); k++) {
    json_t *list = NULL;
    char kp[DJ_JPATH_MAX], hp[DJ_JPATH_MAX];
    if (dj_json_opt_array((json_t *) hooks, kind_names[k], "hooks", &list, err) < 0)
      return -1;
    dj_jpath_key(kp, "hooks", kind_names[k]);
    for (size_t i = 0; i < json_array_size(list); i++) {
      json_t *h = json_array_get(list, i);
      dj_jpath_index(hp, kp, i);
      const char *path;
      int64_t timeout;
      if (!json_is_object(h))
        return dj_error(err, 0, "%s: expected an object, got %s", hp, dj_json_type_name(h));
      if (dj_json_req_string(h, "path", hp, &path, err) < 0)
        return -1;
      if (path[0] != '/')
        return dj_error(err, 0, "%s.path: \"%s\" is not an absolute path", hp, path);
      if (check_strings(h, "args", hp, false, err) < 0 || check_strings(h, "env", hp, true, err) < 0 ||
          dj_json_opt_int64(h, "timeout", hp, 1, 24 * 3600, &timeout, err) < 0)
        return -1;
    }
  }
  return 0;
}

bool dj_hooks_have(const json_t *hooks, enum dj_hook_kind kind)
{
  return json_array_size(json_object_get(hooks, kind_names[kind])) > 0;
}

static const char **string_vector(json_t *arr, const char *first)
{
  size_t n = json_array_size(arr);
  const char **v = dj_xcalloc(n + 2, sizeof *v);
  size_t k = 0;
  if (first != NULL)
    v[k++] = first;
  for (size_t i = 0; i < n; i++)
    v[k++] = json_string_value(json_array_get(arr, i));
  return v;
}

static __attribute__((noreturn)) void hook_child(const char *path, const char **argv, const char **envp, int in,
                                                 int out)
{
  dup2(in, STDIN_FILENO);
  dup2(out, STDOUT_FILENO);
  dup2(out, STDERR_FILENO);
  /* nothing of ours but the state on stdin; default signals (donjon blocks them all) */
  syscall(SYS_close_range, 3U, ~0U, 0U);
  sigset_t none;
  sigemptyset(&none);
  for (int sig = 1; sig < NSIG; sig++)
    signal(sig, SIG_DFL);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(path, (char *const *) argv, (char *const *) envp);
  dprintf(STDERR_FILENO, "exec %s: %s", path, strerror(errno));
  _exit(127);
}

static long long now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One hook: its output kept (the first 512 bytes) for the error message. */
static int hook_run(json_t *h, const char *what, const char *state, dj_err *err)
{
  const char *path = json_string_value(json_object_get(h, "path"));
  json_t *args = json_object_get(h, "args");
  /* args[0] is argv[0], as in execve; without args the path itself */
  _cleanup_free_ const char **argv = json_array_size(args) > 0 ? string_vector(args, NULL) : string_vector(NULL, path);
  _cleanup_free_ const char **envp = string_vector(json_object_get(h, "env"), NULL);
  json_int_t timeout = json_integer_value(json_object_get(h, "timeout"));
  int in[2], out[2];
  dj_log_debug("%s: running %s", what, path);
  if (pipe2(in, O_CLOEXEC) < 0)
    return dj_error(err, errno, "%s: pipe", what);
  if (pipe2(out, O_CLOEXEC) < 0) {
    close(in[0]);
    close(in[1]);
    return dj_error(err, errno, "%s: pipe", what);
  }
  pid_t pid = fork();
  if (pid == 0)
    hook_child(path, argv, envp, in[0], out[1]);
  close(in[0]);
  close(out[1]);
  if (pid < 0) {
    close(in[1]);
    close(out[0]);
    return dj_error(err, errno, "%s: fork", what);
  }
  /* The state fits a pipe's buffer; a hook that does not read it (or has already exited) just
   * does not get it: SIGPIPE blocked meanwhile, and the pending one taken back. */
  sigset_t pipe_set, saved;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigprocmask(SIG_BLOCK, &pipe_set, &saved);
  bool was_pending = false;
  sigset_t pending;
  if (sigpending(&pending) == 0)
    was_pending = sigismember(&pending, SIGPIPE);
  fcntl(in[1], F_SETFL, O_NONBLOCK);
  if (write(in[1], state, strlen(state)) < 0 && errno == EPIPE && !was_pending)
    sigtimedwait(&pipe_set, NULL, &(struct timespec){ 0, 0 });
  sigprocmask(SIG_SETMASK, &saved, NULL);
  close(in[1]);
  _cleanup_close_ int pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
  char output[512] = "";
  size_t n_out = 0;
  bool timed_out = false;
  long long deadline = timeout > 0 ? now_ms() + timeout * 1000 : -1;
  bool out_open = true;
  for (;;) {
    struct pollfd p[2] = { { pidfd, POLLIN, 0 }, { out_open ? out[0] : -1, POLLIN, 0 } };
    long long left = deadline < 0 ? -1 : deadline - now_ms();
    if (deadline >= 0 && left <= 0) {
      timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    if (poll(p, 2, left < 0 ? -1 : (int) left) < 0 && errno != EINTR)
      break;
    if (p[1].revents & (POLLIN | POLLHUP)) {
      char buf[512];
      ssize_t k = read(out[0], buf, sizeof buf);
      if (k <= 0)
        out_open = false;
      for (ssize_t i = 0; i < k && n_out < sizeof output - 1; i++)
        output[n_out++] = buf[i];
    }
    if ((p[0].revents & POLLIN) && !out_open)
      break;
    if ((p[0].revents & POLLIN) && !(p[1].revents & POLLIN))
      break; /* exited; a child of the hook may keep the pipe open: do not wait for it */
  }
  close(out[0]);
  int ws = 0;
  waitpid(pid, &ws, 0);
  output[n_out] = '\0';
  while (n_out > 0 && (output[n_out - 1] == '\n' || output[n_out - 1] == ' '))
    output[--n_out] = '\0';
  if (timed_out)
    return dj_error(err, ETIMEDOUT, "%s: %s did not finish within its timeout of %lld s", what, path,
                    (long long) timeout);
  if (WIFEXITED(ws) && WEXITSTATUS(ws) == 0) {
    dj_log_debug("%s: %s exited with status 0", what, path);
    return 0;
  }
  char status[64];
  if (WIFEXITED(ws))
    snprintf(status, sizeof status, "exited with status %d", WEXITSTATUS(ws));
  else
    snprintf(status, sizeof status, "was killed by signal %d", WTERMSIG(ws));
  return dj_error(err, 0, "%s: %s %s%s%s", what, path, status, n_out ? ": " : "", output);
}

int dj_hooks_run(const json_t *hooks, enum dj_hook_kind kind, const char *state, dj_err *err)
{
  json_t *list = json_object_get(hooks, kind_names[kind]);
  for (size_t i = 0; i < json_array_size(list); i++) {
    char what[64];
    snprintf(what, sizeof what, "hooks.%s[%zu]", kind_names[kind], i);
    if (hook_run(json_array_get(list, i), what, state, err) < 0) {
      err->code = DJ_HOOK_FAILED;
      return -1;
    }
  }
  return 0;
}

void dj_hooks_run_warn(const json_t *hooks, enum dj_hook_kind kind, const char *state)
{
  json_t *list = json_object_get(hooks, kind_names[kind]);
  for (size_t i = 0; i < json_array_size(list); i++) {
    char what[64];
    dj_err e = { 0 };
    snprintf(what, sizeof what, "hooks.%s[%zu]", kind_names[kind], i);
    if (hook_run(json_array_get(list, i), what, state, &e) < 0)
      dj_log_warn("%s (the spec goes on after a failed %s hook)", e.msg, kind_names[kind]);
  }
}
