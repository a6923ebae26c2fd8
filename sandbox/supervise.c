#include "sandbox/supervise.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "common/util.h"
#include "sandbox/console.h"

int dj_exit_code(int status)
{
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    return 128 + WTERMSIG(status);
  return 255;
}

/* What the workload wrote to its terminal just before exiting is still in the master. */
static void drain_pty(int master)
{
  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  char buf[16384];
  ssize_t n;
  while ((n = read(master, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0 && dj_write_all(STDOUT_FILENO, buf, (size_t) n) < 0)
      break;
}

int dj_supervise(pid_t pid, int pty_master, int *exit_status, dj_err *err)
{
  sigset_t all;
  sigfillset(&all);
  _cleanup_close_ int sfd = signalfd(-1, &all, SFD_CLOEXEC);
  if (sfd < 0) {
    if (pty_master >= 0)
      close(pty_master);
    return dj_error(err, errno, "signalfd");
  }
  struct termios saved;
  bool raw = pty_master >= 0 && dj_console_raw(STDIN_FILENO, &saved);
  bool stdin_open = pty_master >= 0;
  int rc = 0;
  for (;;) {
    int status;
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) {
      *exit_status = dj_exit_code(status);
      if (pty_master >= 0)
        drain_pty(pty_master);
      break;
    }
    struct pollfd pfd[3] = { { sfd, POLLIN, 0 }, { pty_master, POLLIN, 0 },
                             { stdin_open ? STDIN_FILENO : -1, POLLIN, 0 } };
    if (poll(pfd, 3, -1) < 0) {
      if (errno == EINTR)
        continue;
      rc = dj_error(err, errno, "poll");
      break;
    }
    if (pfd[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) == (ssize_t) sizeof si && si.ssi_signo != SIGCHLD) {
        if (si.ssi_signo == SIGWINCH && pty_master >= 0)
          dj_console_resize_from(STDIN_FILENO, pty_master);
        else
          kill(pid, (int) si.ssi_signo);
      }
    }
    char buf[16384];
    if (pty_master >= 0 && (pfd[1].revents & (POLLIN | POLLHUP))) {
      ssize_t n = read(pty_master, buf, sizeof buf);
      if (n > 0)
        dj_write_all(STDOUT_FILENO, buf, (size_t) n);
      else if (n <= 0 && errno != EINTR && errno != EAGAIN) {
        close(pty_master); /* EIO: every slave closed */
        pty_master = -1;
      }
    }
    if (stdin_open && (pfd[2].revents & (POLLIN | POLLHUP))) {
      ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
      if (n > 0 && pty_master >= 0)
        dj_write_all(pty_master, buf, (size_t) n);
      else if (n == 0)
        stdin_open = false;
    }
  }
  if (raw)
    dj_console_restore(STDIN_FILENO, &saved);
  if (pty_master >= 0)
    close(pty_master);
  return rc;
}
