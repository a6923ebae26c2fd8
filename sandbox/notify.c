#include "sandbox/notify.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/json.h"
#include "common/util.h"

int dj_notify_prepare(struct dj_spec **spec, const char *root, const char *id, dj_err *err)
{
  char src[PATH_MAX];
  if ((size_t) snprintf(src, sizeof src, "%s/%s/notify", root, id) >= sizeof src)
    return dj_error(err, ENAMETOOLONG, "NOTIFY_SOCKET: state directory");
  _cleanup_json_ json_t *doc = json_deep_copy((*spec)->doc);
  json_t *mounts = json_object_get(doc, "mounts");
  if (!json_is_array(mounts)) {
    mounts = json_array();
    json_object_set_new(doc, "mounts", mounts);
  }
  json_array_append_new(mounts, json_pack("{s:s, s:s, s:s, s:[s, s, s, s, s]}", "destination", DJ_NOTIFY_DIR, "type",
                                          "bind", "source", src, "options", "bind", "nosuid", "noexec", "nodev",
                                          "ro"));
  json_t *proc = json_object_get(doc, "process");
  json_t *env = json_object_get(proc, "env");
  if (!json_is_array(env)) {
    env = json_array();
    json_object_set_new(proc, "env", env);
  }
  json_array_append_new(env, json_string("NOTIFY_SOCKET=" DJ_NOTIFY_SOCKET));
  struct dj_spec *next = NULL;
  if (dj_spec_parse(doc, &next, err) < 0)
    return dj_err_wrap(err, "NOTIFY_SOCKET");
  dj_spec_free(*spec);
  *spec = next;
  return 0;
}

int dj_notify_mkdir(const char *root, const char *id, dj_err *err)
{
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s/%s/notify", root, id);
  /* 0755: the container's user must reach the socket in it */
  if (mkdir(dir, 0755) < 0 || chmod(dir, 0755) < 0)
    return dj_error(err, errno, "NOTIFY_SOCKET: mkdir %s", dir);
  return 0;
}

static int unix_addr(const char *path, struct sockaddr_un *sa, socklen_t *len, dj_err *err)
{
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof sa->sun_path)
    return dj_error(err, ENAMETOOLONG, "NOTIFY_SOCKET \"%s\"", path);
  memcpy(sa->sun_path, path, n);
  if (path[0] == '@')
    sa->sun_path[0] = '\0'; /* abstract */
  *len = (socklen_t) (offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '@' ? 0 : 1));
  return 0;
}

int dj_notify_listen(const char *root, const char *id, dj_err *err)
{
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s/notify/notify.sock", root, id);
  struct sockaddr_un sa;
  socklen_t len;
  if (unix_addr(path, &sa, &len, err) < 0)
    return -1;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return dj_error(err, errno, "NOTIFY_SOCKET: socket");
  unlink(path);
  if (bind(fd, (struct sockaddr *) &sa, len) < 0 || chmod(path, 0777) < 0) {
    close(fd);
    return dj_error(err, errno, "NOTIFY_SOCKET: bind %s", path);
  }
  return fd;
}

int dj_notify_relay(int fd, int pidfd, pid_t pid, const char *host_socket, dj_err *err)
{
  char msg[4096];
  for (;;) {
    struct pollfd p[2] = { { fd, POLLIN, 0 }, { pidfd, POLLIN, 0 } };
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR)
        continue;
      return dj_error(err, errno, "NOTIFY_SOCKET: poll");
    }
    if (p[0].revents & POLLIN) {
      ssize_t n = recv(fd, msg, sizeof msg - 64, 0);
      if (n < 0)
        return dj_error(err, errno, "NOTIFY_SOCKET: recv");
      msg[n] = '\0';
      /* READY=1 as a line of its own */
      if (strncmp(msg, "READY=1", 7) == 0 || strstr(msg, "\nREADY=1") != NULL)
        break;
      continue;
    }
    if (p[1].revents & POLLIN)
      return dj_error(err, 0, "NOTIFY_SOCKET: the container's process exited before it sent READY=1");
  }
  /* Only READY=1 and our MAINPID go on: the container's other fields (a MAINPID of its choosing,
   * say) are untrusted and never reach the caller's service manager. */
  snprintf(msg, sizeof msg, "READY=1\nMAINPID=%d\n", (int) pid);
  struct sockaddr_un sa;
  socklen_t salen;
  if (unix_addr(host_socket, &sa, &salen, err) < 0)
    return -1;
  _cleanup_close_ int out = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (out < 0 || sendto(out, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *) &sa, salen) < 0)
    return dj_error(err, errno, "NOTIFY_SOCKET: send READY=1 to %s", host_socket);
  return 0;
}
