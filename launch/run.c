/* Steps 5-7: the runtime driven as a containerd shim drives it (create, start, wait as the init's
 * subreaper, delete), so the launch adds no second way of making a jail. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "launch/launch_internal.h"

#define KILL_GRACE_S 10 /* after a forwarded SIGINT/SIGTERM, SIGKILL if the workload is still there */

const char *dj_runtime_binary(const char *given)
{
  static char path[PATH_MAX + 32];
  if (given != NULL)
    return given;
  const char *env = getenv("DONJON");
  if (env != NULL && *env)
    return env;
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash != NULL) {
      *slash = '\0';
      snprintf(path, sizeof path, "%s/donjon", self);
      if (access(path, X_OK) == 0)
        return path;
      /* installed: donjon-agent in libexec/donjon, donjon in bin */
      snprintf(path, sizeof path, "%s/../../bin/donjon", self);
      if (access(path, X_OK) == 0)
        return path;
    }
  }
  return "donjon";
}

int dj_runtime_call(const struct dj_runtime *rt, const char *const *args, dj_err *err)
{
  const char *argv[32];
  size_t n = 0;
  argv[n++] = "donjon";
  if (rt->root != NULL) {
    argv[n++] = "--root";
    argv[n++] = rt->root;
  }
  for (size_t i = 0; args[i] != NULL && n < DJ_ARRAY_SIZE(argv) - 1; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  pid_t pid = fork();
  if (pid < 0)
    return dj_error(err, errno, "fork");
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL); /* the launch blocks signals for its signalfd */
    /* Its own process group: a Ctrl-C at the terminal reaches the launch, which decides (a runtime
     * killed halfway through create would leave its state for the launch to clean up). */
    setpgid(0, 0);
    execvp(rt->donjon, (char *const *) argv);
    fprintf(stderr, "donjon launch: exec %s: %s\n", rt->donjon, strerror(errno));
    _exit(127);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return dj_error(err, errno, "waitpid");
  if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
    return dj_error(err, 0, "could not run %s", rt->donjon);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int arm(int tfd, unsigned s)
{
  struct itimerspec t = { .it_value = { .tv_sec = s } };
  return timerfd_settime(tfd, 0, &t, NULL);
}

int dj_runtime_supervise(const struct dj_runtime *rt, pid_t init, int sigfd, const struct dj_reattest *ra,
                         struct dj_launch_result *r, dj_err *err)
{
  _cleanup_close_ int attest_t = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  _cleanup_close_ int kill_t = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
  if (attest_t < 0 || kill_t < 0)
    return dj_error(err, errno, "timerfd_create");
  if (ra != NULL && ra->every_s > 0 && arm(attest_t, ra->every_s) < 0)
    return dj_error(err, errno, "timerfd_settime");
  int forwarded = 0, failed = 0;
  for (;;) {
    /* The init is our child once `donjon create` has exited: reap whatever ended. */
    int status;
    pid_t p;
    while ((p = waitpid(-1, &status, WNOHANG)) > 0)
      if (p == init) {
        r->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        return failed ? -1 : 0;
      }
    if (p < 0 && errno == ECHILD)
      return dj_error(err, 0, "the container's init %d is not this launch's child", (int) init);
    struct pollfd pf[3] = { { sigfd, POLLIN, 0 }, { attest_t, POLLIN, 0 }, { kill_t, POLLIN, 0 } };
    if (poll(pf, 3, -1) < 0) {
      if (errno == EINTR)
        continue;
      return dj_error(err, errno, "poll");
    }
    if (pf[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sigfd, &si, sizeof si) == (ssize_t) sizeof si && si.ssi_signo != SIGCHLD) {
        /* PID 1 of a pid namespace ignores what it has no handler for: a second signal, or the
         * grace period, ends it with SIGKILL. */
        kill(init, forwarded++ ? SIGKILL : (int) si.ssi_signo);
        arm(kill_t, KILL_GRACE_S);
      }
    }
    uint64_t ticks;
    if ((pf[2].revents & POLLIN) && read(kill_t, &ticks, sizeof ticks) == (ssize_t) sizeof ticks)
      kill(init, SIGKILL);
    if ((pf[1].revents & POLLIN) && read(attest_t, &ticks, sizeof ticks) == (ssize_t) sizeof ticks) {
      bool allowed = false;
      char *reasons = NULL;
      dj_err e = { 0 };
      int rc = ra->attest(ra->ctx, &allowed, &reasons, &e);
      if (rc == 0 && allowed) {
        arm(attest_t, ra->every_s);
      } else if (rc < 0 && e.errnum == EINTR) {
        arm(attest_t, 1); /* a signal abandoned the request: the poll forwards it, then again */
      } else if (!failed) {
        /* Fail closed: without a fresh allow from the verifier the workload does not go on. */
        if (rc < 0) {
          *err = e;
          dj_err_wrap(err, "re-attest (the workload is stopped: no answer from the verifier)");
        } else {
          r->denied = true;
          r->reasons = reasons;
          reasons = NULL;
          dj_error(err, 0, "re-attest: denied by the verifier (the workload is stopped): %s",
                   r->reasons ? r->reasons : "no reason given");
        }
        failed = 1;
        r->failed_step = DJ_STEP_RUN;
        kill(init, SIGKILL);
      }
      free(reasons);
    }
  }
}
