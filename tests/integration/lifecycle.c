#include "lifecycle.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

struct bundle B;
struct result R;

void lc_setup(void)
{
  cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0);
  bundle_new(&B, "default");
}

/* Reap what is left of our adopted inits (a test that failed half-way may leave one). */
void reap_all(void)
{
  while (waitpid(-1, NULL, WNOHANG) > 0)
    ;
}

void lc_teardown(void)
{
  const char *argv[] = { "--root", B.state, "delete", "--force", B.id, NULL };
  donjon_cmd(argv, &R, -1);
  reap_all();
  bundle_assert_clean(&B);
  bundle_free(&B);
}

int djv(struct bundle *b, const char *const *argv, int stdin_fd)
{
  const char *full[40] = { "--root", b->state };
  size_t n = 2;
  for (; *argv != NULL && n < 39; argv++)
    full[n++] = *argv;
  full[n] = NULL;
  donjon_cmd(full, &R, stdin_fd);
  return R.status;
}

/* donjon --root B.state CMD... ID (ID appended unless id is NULL). */
int dj(struct bundle *b, const char *id, const char *a0, const char *a1, const char *a2)
{
  const char *argv[8] = { "--root", b->state, a0 };
  size_t n = 3;
  if (a1 != NULL)
    argv[n++] = a1;
  if (id != NULL)
    argv[n++] = id;
  if (a2 != NULL)
    argv[n++] = a2;
  argv[n] = NULL;
  donjon_cmd(argv, &R, -1);
  return R.status;
}

/* donjon create: its stdout and stderr go to files (the init inherits them: a pipe would stay
 * open until the container exits). Returns donjon's exit status; R.err holds its stderr. */
int create(struct bundle *b, const char *pid_file)
{
  const char *extra[] = { "--pid-file", pid_file, NULL };
  return create_with(b, pid_file != NULL ? extra : NULL);
}

int create_with(struct bundle *b, const char *const *extra)
{
  return create_opts(b, NULL, extra);
}

int create_opts(struct bundle *b, const char *const *global, const char *const *extra)
{
  bundle_write_config(b);
  char errpath[PATH_MAX];
  snprintf(errpath, sizeof errpath, "%s/create.err", b->dir);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int nul = open("/dev/null", O_RDWR);
    dup2(nul, 0);
    dup2(nul, 1);
    dup2(fd, 2);
    const char *full[32] = { donjon_path(), "--root", b->state };
    size_t k = 3;
    for (; global != NULL && *global != NULL && k < 12; global++)
      full[k++] = *global;
    full[k++] = "create";
    full[k++] = "--bundle";
    full[k++] = b->dir;
    for (; extra != NULL && *extra != NULL && k < 28; extra++)
      full[k++] = *extra;
    full[k++] = b->id;
    full[k] = NULL;
    execv(full[0], (char *const *) full);
    _exit(126);
  }
  int st;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  FILE *f = fopen(errpath, "r");
  size_t n = f ? fread(R.err, 1, sizeof R.err - 1, f) : 0;
  R.err[n] = '\0';
  if (f)
    fclose(f);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

json_t *state_of(struct bundle *b)
{
  cr_assert_eq(dj(b, b->id, "state", NULL, NULL), 0, "state: %s", R.err);
  json_error_t je;
  json_t *j = json_loads(R.out, 0, &je);
  cr_assert_not_null(j, "state output is not JSON: %s", R.out);
  return j;
}

static char status_buf[32];
const char *status_of(struct bundle *b)
{
  json_t *j = state_of(b);
  snprintf(status_buf, sizeof status_buf, "%s", json_string_value(json_object_get(j, "status")));
  json_decref(j);
  return status_buf;
}

pid_t pid_of(struct bundle *b)
{
  json_t *j = state_of(b);
  pid_t pid = (pid_t) json_integer_value(json_object_get(j, "pid"));
  json_decref(j);
  return pid;
}

/* Wait (bounded, not timed) until the container's init has exited; returns its wait status. */
int wait_init(pid_t pid)
{
  int st = 0;
  cr_assert_eq(waitpid(pid, &st, 0), pid, "the init %d is not our child (subreaper)", (int) pid);
  return st;
}

void create_started(struct bundle *b, const char *script)
{
  bundle_sh(b, script);
  cr_assert_eq(create(b, NULL), 0, "create: %s", R.err);
  cr_assert_eq(dj(b, b->id, "start", NULL, NULL), 0, "start: %s", R.err);
}


int console_listen(char *path, size_t size)
{
  snprintf(path, size, "%s/console.sock", B.dir);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  cr_assert_lt(strlen(path), sizeof sa.sun_path);
  memcpy(sa.sun_path, path, strlen(path) + 1);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  cr_assert_geq(s, 0);
  cr_assert_eq(bind(s, (struct sockaddr *) &sa, sizeof sa), 0);
  cr_assert_eq(listen(s, 4), 0);
  return s;
}

/* accept one connection and take the pty master sent on it */
int console_take(int ls)
{
  int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
  cr_assert_geq(c, 0);
  char buf[64];
  struct iovec iov = { buf, sizeof buf };
  union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } u;
  struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b };
  cr_assert_gt(recvmsg(c, &m, MSG_CMSG_CLOEXEC), 0);
  struct cmsghdr *h = CMSG_FIRSTHDR(&m);
  cr_assert(h != NULL && h->cmsg_type == SCM_RIGHTS, "no fd on the console socket");
  int fd;
  memcpy(&fd, CMSG_DATA(h), sizeof fd);
  close(c);
  return fd;
}

/* everything the pty gives until the other side closes */
void read_pty(int master, char *out, size_t size)
{
  size_t n = 0;
  ssize_t k;
  while (n < size - 1 && (k = read(master, out + n, size - 1 - n)) > 0)
    n += (size_t) k;
  out[n] = '\0';
}


int shell(struct result *r, const char *dir, const char *fmt, ...)
{
  char body[8192], cmd[8192 + 2 * PATH_MAX + 64], out[PATH_MAX], errp[PATH_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(body, sizeof body, fmt, ap);
  va_end(ap);
  snprintf(out, sizeof out, "%s/sh.out", dir);
  snprintf(errp, sizeof errp, "%s/sh.err", dir);
  snprintf(cmd, sizeof cmd, "(%s) </dev/null >'%s' 2>'%s'", body, out, errp);
  int rc = system(cmd);
  FILE *f = fopen(out, "r");
  size_t k = f ? fread(r->out, 1, sizeof r->out - 1, f) : 0;
  r->out[k] = '\0';
  if (f)
    fclose(f);
  f = fopen(errp, "r");
  k = f ? fread(r->err, 1, sizeof r->err - 1, f) : 0;
  r->err[k] = '\0';
  if (f)
    fclose(f);
  r->status = WIFEXITED(rc) ? WEXITSTATUS(rc) : 128;
  return r->status;
}

void busybox_rootfs(const char *dir)
{
  char cmd[PATH_MAX * 4];
  snprintf(cmd, sizeof cmd, "set -e; r='%s'; mkdir -p \"$r\"/bin \"$r\"/proc \"$r\"/sys \"$r\"/dev \"$r\"/tmp \"$r\"/etc "
           "\"$r\"/run; cp /bin/busybox \"$r\"/bin/busybox; for a in $(/bin/busybox --list); do "
           "[ \"$a\" = busybox ] || ln -s busybox \"$r\"/bin/$a; done", dir);
  cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/* pids (other than ours and skip's) whose command line contains needle */
static size_t processes_naming(const char *needle, pid_t skip, pid_t *out, size_t max)
{
  size_t n = 0;
  DIR *d = opendir("/proc");
  struct dirent *e;
  while (d != NULL && (e = readdir(d)) != NULL && n < max) {
    int pid = atoi(e->d_name);
    if (pid <= 0 || pid == getpid() || pid == skip)
      continue;
    char p[64], buf[8192];
    snprintf(p, sizeof p, "/proc/%d/cmdline", pid);
    FILE *f = fopen(p, "r");
    size_t k = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f)
      fclose(f);
    for (size_t i = 0; i < k; i++)
      if (buf[i] == '\0')
        buf[i] = ' ';
    buf[k] = '\0';
    if (strstr(buf, needle) != NULL)
      out[n++] = pid;
  }
  if (d != NULL)
    closedir(d);
  return n;
}

size_t wait_processes_gone(const char *needle, pid_t skip, int timeout_ms)
{
  pid_t pids[256];
  size_t n;
  while ((n = processes_naming(needle, skip, pids, 256)) > 0 && timeout_ms > 0) {
    /* wait on the exit of the first one (a pidfd), not on a clock */
    int fd = (int) syscall(SYS_pidfd_open, pids[0], 0);
    if (fd < 0)
      continue;
    struct pollfd p = { fd, POLLIN, 0 };
    int slice = timeout_ms < 1000 ? timeout_ms : 1000;
    poll(&p, 1, slice);
    close(fd);
    timeout_ms -= slice;
  }
  return n;
}
