#include "harness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int counter;

const char *donjon_path(void)
{
  const char *p = getenv("DONJON");
  cr_assert_not_null(p, "DONJON is not set (run through meson test)");
  return p;
}

bool has(const char *text, const char *needle)
{
  return strstr(text, needle) != NULL;
}

__attribute__((format(printf, 1, 2))) static void sh(const char *fmt, ...)
{
  char cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int rc = system(cmd);
  cr_assert_eq(rc, 0, "command failed (%d): %s", rc, cmd);
}

static void make_rootfs(const char *rootfs)
{
  const char *probe = getenv("DJPROBE");
  cr_assert_not_null(probe, "DJPROBE is not set");
  sh("set -e; r='%s'; mkdir -p \"$r\"/bin \"$r\"/proc \"$r\"/sys \"$r\"/dev \"$r\"/tmp \"$r\"/etc \"$r\"/root "
     "\"$r\"/run \"$r\"/var \"$r\"/home/user; cp /bin/busybox \"$r\"/bin/busybox; cp '%s' \"$r\"/bin/djprobe; "
     "for a in $(/bin/busybox --list); do [ \"$a\" = busybox ] || ln -s busybox \"$r\"/bin/$a; done; "
     "ln -s bin \"$r\"/sbin; ln -s ../run \"$r\"/var/run; "
     "printf 'root:x:0:0:root:/root:/bin/sh\\nuser:x:1000:1000::/home/user:/bin/sh\\nnobody:x:65534:65534::/:/bin/false\\n' "
     "> \"$r\"/etc/passwd; printf 'root:x:0:\\nuser:x:1000:\\nnogroup:x:65534:\\n' > \"$r\"/etc/group; "
     "chown 1000:1000 \"$r\"/home/user",
     rootfs, probe);
}

void bundle_new(struct bundle *b, const char *profile)
{
  memset(b, 0, sizeof *b);
  snprintf(b->dir, sizeof b->dir, "/tmp/dj-it-XXXXXX");
  cr_assert_not_null(mkdtemp(b->dir));
  chmod(b->dir, 0755);
  snprintf(b->rootfs, sizeof b->rootfs, "%s/rootfs", b->dir);
  snprintf(b->state, sizeof b->state, "%s/state", b->dir);
  snprintf(b->id, sizeof b->id, "it-%d-%d", (int) getpid(), counter++);
  snprintf(b->cgpath, sizeof b->cgpath, "/donjon-it/%s", b->id);
  make_rootfs(b->rootfs);

  struct result *r = malloc(sizeof *r);
  const char *argv[] = { "spec", "--profile", profile, "--bundle", b->dir, NULL };
  donjon_cmd(argv, r, -1);
  cr_assert_eq(r->status, 0, "donjon spec failed: %s", r->err);
  free(r);
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/config.json", b->dir);
  json_error_t je;
  b->config = json_load_file(path, 0, &je);
  cr_assert_not_null(b->config, "config.json: %s", je.text);
  bundle_set(b, "process.terminal", json_false());
  bundle_set(b, "linux.cgroupsPath", json_string(b->cgpath));
}

static json_t *walk(json_t *root, const char *path, bool create, char *last, size_t last_size)
{
  char buf[512];
  snprintf(buf, sizeof buf, "%s", path);
  json_t *cur = root;
  char *save = NULL;
  char *tok = strtok_r(buf, ".", &save);
  while (tok != NULL) {
    char *next = strtok_r(NULL, ".", &save);
    if (next == NULL) {
      snprintf(last, last_size, "%s", tok);
      return cur;
    }
    json_t *child = json_object_get(cur, tok);
    if (child == NULL) {
      if (!create)
        return NULL;
      child = json_object();
      json_object_set_new(cur, tok, child);
    }
    cur = child;
    tok = next;
  }
  return NULL;
}

void bundle_set(struct bundle *b, const char *path, json_t *value)
{
  char last[128];
  json_t *parent = walk(b->config, path, true, last, sizeof last);
  cr_assert_not_null(parent, "bad path %s", path);
  if (value == NULL)
    json_object_del(parent, last);
  else
    json_object_set_new(parent, last, value);
}

json_t *bundle_get(struct bundle *b, const char *path)
{
  char last[128];
  json_t *parent = walk(b->config, path, false, last, sizeof last);
  return parent ? json_object_get(parent, last) : NULL;
}

void bundle_args(struct bundle *b, const char *const *argv)
{
  json_t *a = json_array();
  for (; *argv != NULL; argv++)
    json_array_append_new(a, json_string(*argv));
  bundle_set(b, "process.args", a);
}

void bundle_sh(struct bundle *b, const char *script)
{
  const char *argv[] = { "sh", "-c", script, NULL };
  bundle_args(b, argv);
}

void bundle_write_config(struct bundle *b)
{
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/config.json", b->dir);
  cr_assert_eq(json_dump_file(b->config, path, JSON_INDENT(2)), 0);
}

static void drain(int fds[2], struct result *r, pid_t pid)
{
  size_t n[2] = { 0, 0 };
  char *buf[2] = { r->out, r->err };
  time_t deadline = time(NULL) + 120;
  bool open_[2] = { true, true };
  while (open_[0] || open_[1]) {
    struct pollfd p[2] = { { open_[0] ? fds[0] : -1, POLLIN, 0 }, { open_[1] ? fds[1] : -1, POLLIN, 0 } };
    int rc = poll(p, 2, 1000);
    if (time(NULL) > deadline) {
      kill(pid, SIGKILL);
      cr_log_error("donjon timed out; killed");
      break;
    }
    if (rc <= 0)
      continue;
    for (int i = 0; i < 2; i++) {
      if (!(p[i].revents & (POLLIN | POLLHUP)))
        continue;
      size_t room = sizeof r->out - 1 - n[i];
      char scratch[4096];
      ssize_t k = read(fds[i], room ? buf[i] + n[i] : scratch, room ? room : sizeof scratch);
      if (k <= 0)
        open_[i] = false;
      else if (room)
        n[i] += (size_t) k;
    }
  }
  r->out[n[0]] = '\0';
  r->err[n[1]] = '\0';
}

/* redirs: shell redirections ("3</etc/hostname") applied to donjon's own fds, so that tests
 * never disturb the test runner's descriptors; NULL for none. */
static pid_t spawn(const char *const *argv, int stdin_fd, int fds[2], const char *redirs)
{
  int out[2], errp[2];
  cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
  cr_assert_eq(pipe2(errp, O_CLOEXEC), 0);
  size_t n = 0;
  while (argv[n] != NULL)
    n++;
  const char **full = calloc(n + 6, sizeof *full);
  size_t k = 0;
  char script[512];
  if (redirs != NULL) {
    snprintf(script, sizeof script, "exec %s \"$@\"", redirs);
    full[k++] = "/bin/sh";
    full[k++] = "-c";
    full[k++] = script;
    full[k++] = "sh";
  }
  full[k++] = donjon_path();
  memcpy(full + k, argv, n * sizeof *full);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(errp[1], 2);
    if (stdin_fd >= 0)
      dup2(stdin_fd, 0);
    else {
      int nul = open("/dev/null", O_RDONLY);
      dup2(nul, 0);
    }
    execv(full[0], (char *const *) full);
    _exit(126);
  }
  free(full);
  close(out[1]);
  close(errp[1]);
  fds[0] = out[0];
  fds[1] = errp[0];
  return pid;
}

void bundle_wait(pid_t pid, int fds[2], struct result *r)
{
  drain(fds, r, pid);
  close(fds[0]);
  close(fds[1]);
  int st;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static size_t run_argv(struct bundle *b, const char **argv, const char *const *extra)
{
  const char *head[] = { "--root", b->state, "run", "--bundle", b->dir };
  size_t n = 0;
  for (; n < 5; n++)
    argv[n] = head[n];
  for (; extra != NULL && *extra != NULL && n < 30; extra++)
    argv[n++] = *extra;
  argv[n++] = b->id;
  argv[n] = NULL;
  return n;
}

pid_t bundle_start(struct bundle *b, const char *const *extra, int fds[2])
{
  bundle_write_config(b);
  const char *argv[32];
  run_argv(b, argv, extra);
  return spawn(argv, -1, fds, NULL);
}

pid_t read_pid_file(const char *path)
{
  for (int i = 0; i < 3000; i++) {
    FILE *f = fopen(path, "r");
    int pid = -1;
    if (f != NULL) {
      int ok = fscanf(f, "%d", &pid);
      fclose(f);
      if (ok == 1 && pid > 0)
        return pid;
    }
    usleep(10000);
  }
  return -1;
}

void donjon_cmd(const char *const *argv, struct result *r, int stdin_fd)
{
  int fds[2];
  pid_t pid = spawn(argv, stdin_fd, fds, NULL);
  bundle_wait(pid, fds, r);
}

void bundle_run_redirected(struct bundle *b, struct result *r, const char *redirs, const char *const *extra)
{
  bundle_write_config(b);
  const char *argv[32];
  run_argv(b, argv, extra);
  int fds[2];
  pid_t pid = spawn(argv, -1, fds, redirs);
  bundle_wait(pid, fds, r);
}

void bundle_run(struct bundle *b, struct result *r, const char *const *extra)
{
  bundle_write_config(b);
  const char *argv[32];
  run_argv(b, argv, extra);
  donjon_cmd(argv, r, -1);
}

void bundle_assert_clean(struct bundle *b)
{
  char path[PATH_MAX * 2];
  struct stat st;
  snprintf(path, sizeof path, "%s/%s", b->state, b->id);
  cr_expect_neq(stat(path, &st), 0, "state directory %s left behind", path);
  DIR *d = opendir("/sys/fs/cgroup");
  struct dirent *e;
  while (d != NULL && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    snprintf(path, sizeof path, "/sys/fs/cgroup/%s%s", e->d_name, b->cgpath);
    cr_expect_neq(stat(path, &st), 0, "cgroup %s left behind", path);
  }
  if (d != NULL)
    closedir(d);
  snprintf(path, sizeof path, "/sys/fs/cgroup%s", b->cgpath);
  cr_expect_neq(stat(path, &st), 0, "cgroup %s left behind", path);
  FILE *f = fopen("/proc/self/mountinfo", "r");
  char line[4096];
  while (f != NULL && fgets(line, sizeof line, f) != NULL)
    cr_expect(!has(line, b->dir), "mount left behind: %s", line);
  if (f != NULL)
    fclose(f);
}

void bundle_free(struct bundle *b)
{
  json_decref(b->config);
  char cmd[PATH_MAX + 32];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", b->dir);
  if (b->dir[0] != '\0' && system(cmd) != 0)
    cr_log_warn("could not remove %s", b->dir);
}
