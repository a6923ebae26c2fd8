#include "sandbox/console.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <linux/magic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/safepath.h"
#include "common/util.h"

static int pty_finish(const struct dj_process *p, int fd, int *master, int *slave, dj_err *err)
{
  _cleanup_close_ int m = fd;
  if (unlockpt(m) < 0)
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

int dj_console_open(const struct dj_process *p, int *master, int *slave, dj_err *err)
{
  int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (m < 0)
    return dj_error(err, errno, "terminal: open /dev/ptmx");
  return pty_finish(p, m, master, slave, err);
}

int dj_console_open_in_root(const struct dj_process *p, int rootfd, int *master, int *slave, dj_err *err)
{
  /* /dev/ptmx is donjon's symlink to pts/ptmx (or a bind of it): followed, but only inside the root. */
  int m = dj_openat2(rootfd, "/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC, 0, DJ_RESOLVE_ROOT_FLAGS);
  if (m < 0)
    return dj_error(err, errno, "terminal: open the container's /dev/ptmx");
  struct statfs sfs;
  struct stat st;
  if (fstatfs(m, &sfs) < 0 || fstat(m, &st) < 0 || sfs.f_type != DEVPTS_SUPER_MAGIC || !S_ISCHR(st.st_mode) ||
      major(st.st_rdev) != 5 || minor(st.st_rdev) != 2) {
    close(m);
    return dj_error(err, 0, "terminal: the container's /dev/ptmx is not a devpts ptmx");
  }
  if (pty_finish(p, m, master, slave, err) < 0)
    return -1;
  /* the process's own terminal, as runc gives it (ids of the namespace we are in) */
  if (fchown(*slave, p->uid, p->gid) < 0) {
    int e = errno;
    close(*master);
    close(*slave);
    return dj_error(err, e, "terminal: chown the pty to %u:%u", (unsigned) p->uid, (unsigned) p->gid);
  }
  return 0;
}

int dj_console_socket_connect(const char *path, dj_err *err)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen(path) >= sizeof sa.sun_path)
    return dj_error(err, ENAMETOOLONG, "--console-socket %s", path);
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return dj_error(err, errno, "--console-socket: socket");
  if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
    close(fd);
    return dj_error(err, errno, "--console-socket: connect %s", path);
  }
  return fd;
}

int dj_fd_send(int sock, int fd, const void *data, size_t len, dj_err *err)
{
  struct iovec iov = { .iov_base = (void *) data, .iov_len = len };
  union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
  memset(&u, 0, sizeof u);
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  while (sendmsg(sock, &msg, MSG_NOSIGNAL) < 0)
    if (errno != EINTR)
      return dj_error(err, errno, "sendmsg SCM_RIGHTS");
  return 0;
}

ssize_t dj_fd_recv(int sock, void *data, size_t len, int *fd, dj_err *err)
{
  struct iovec iov = { .iov_base = data, .iov_len = len };
  union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
  memset(&u, 0, sizeof u);
  struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
  ssize_t n;
  *fd = -1;
  while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0)
    if (errno != EINTR)
      return dj_error(err, errno, "recvmsg");
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (c != NULL && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
    memcpy(fd, CMSG_DATA(c), sizeof *fd);
  return n;
}

int dj_console_send(int sock, int master, dj_err *err)
{
  /* The data is the terminal's name, as runc sends it; the receiver wants the fd. */
  static const char name[] = "/dev/ptmx";
  if (dj_fd_send(sock, master, name, sizeof name - 1, err) < 0)
    return dj_err_wrap(err, "terminal: send the pty master over the console socket");
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
