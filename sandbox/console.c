#include "sandbox/console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

int dj_console_open(const struct dj_process *p, int *master, int *slave, dj_err *err)
{
  _cleanup_close_ int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0)
    return dj_error(err, errno, "terminal: open /dev/ptmx");
  if (grantpt(m) < 0 || unlockpt(m) < 0)
    return dj_error(err, errno, "terminal: unlock the pty");
  /* TIOCGPTPEER opens the slave through the master, never through a path someone could swap. */
  int s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (s < 0)
    return dj_error(err, errno, "terminal: open the pty slave");
  struct winsize ws = { 0 };
  if (p->has_console_size) {
    ws.ws_row = (unsigned short) p->console_height;
    ws.ws_col = (unsigned short) p->console_width;
    ioctl(m, TIOCSWINSZ, &ws);
  } else if (isatty(STDIN_FILENO) && ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) == 0) {
    ioctl(m, TIOCSWINSZ, &ws);
  }
  *master = dj_steal_fd(&m);
  *slave = s;
  return 0;
}

int dj_console_attach(int slave, dj_err *err)
{
  if (ioctl(slave, TIOCSCTTY, 0) < 0)
    return dj_error(err, errno, "terminal: make the pty the controlling terminal");
  for (int fd = 0; fd < 3; fd++)
    if (dup2(slave, fd) < 0)
      return dj_error(err, errno, "terminal: dup the pty to fd %d", fd);
  return 0;
}

void dj_console_resize_from(int from_fd, int master)
{
  struct winsize ws;
  if (ioctl(from_fd, TIOCGWINSZ, &ws) == 0)
    ioctl(master, TIOCSWINSZ, &ws);
}

bool dj_console_raw(int fd, struct termios *saved)
{
  if (!isatty(fd) || tcgetattr(fd, saved) < 0)
    return false;
  struct termios raw = *saved;
  cfmakeraw(&raw);
  raw.c_oflag |= OPOST; /* keep output post-processing so our own messages stay readable */
  return tcsetattr(fd, TCSANOW, &raw) == 0;
}

void dj_console_restore(int fd, const struct termios *saved)
{
  tcsetattr(fd, TCSANOW, saved);
}
