/* A container's state directory and the commands that work from it (start, state, kill, delete,
 * list), each under the container's lock. */
#include "sandbox/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/util.h"
#include "sandbox/cgroup.h"

/* --root and its missing parents (containerd passes /run/containerd/runc/NAMESPACE), as runc does. */
static int root_make(const char *root, dj_err *err)
{
  if (mkdir(root, 0700) == 0 || errno == EEXIST)
    return 0;
  if (errno != ENOENT)
    return dj_error(err, errno, "state directory %s", root);
  char buf[PATH_MAX];
  if ((size_t) snprintf(buf, sizeof buf, "%s", root) >= sizeof buf)
    return dj_error(err, ENAMETOOLONG, "state directory %s", root);
  for (char *p = buf + 1; *p != '\0'; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(buf, 0711) < 0 && errno != EEXIST)
      return dj_error(err, errno, "state directory %s: mkdir %s", root, buf);
    *p = '/';
  }
  if (mkdir(root, 0700) < 0 && errno != EEXIST)
    return dj_error(err, errno, "state directory %s", root);
  return 0;
}

int dj_state_create(const char *root, const char *id, dj_err *err)
{
  if (root_make(root, err) < 0)
    return -1;
  char dir[PATH_MAX];
  if ((size_t) snprintf(dir, sizeof dir, "%s/%s", root, id) >= sizeof dir)
    return dj_error(err, ENAMETOOLONG, "state directory for %s", id);
  if (mkdir(dir, 0700) < 0) {
    if (errno == EEXIST)
      return dj_error(err, 0, "container \"%s\" already exists (state in %s)", id, dir);
    return dj_error(err, errno, "state directory %s", dir);
  }
  return 0;
}

/* errnum ENOENT without the strerror suffix: the message says it already. */
static int not_found(dj_err *err, const char *id)
{
  dj_error(err, 0, "container \"%s\" does not exist", id);
  if (err != NULL)
    err->errnum = ENOENT;
  return -1;
}

static int lock_fd(int fd, int op, const char *what, dj_err *err)
{
  while (flock(fd, op) < 0)
    if (errno != EINTR)
      return dj_error(err, errno, "lock %s", what);
  return 0;
}

/* The root's lock: held exclusively by create from mkdir to taking the container's own lock, so
 * that no other command finds a state directory whose lock is not yet held. */
static int root_lock(const char *root, int op, dj_err *err)
{
  if (op == LOCK_EX && root_make(root, err) < 0)
    return -1;
  int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return dj_error(err, errno, "state directory %s", root);
  if (lock_fd(fd, op, root, err) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

int dj_state_create_locked(const char *root, const char *id, dj_err *err)
{
  _cleanup_close_ int rfd = root_lock(root, LOCK_EX, err);
  if (rfd < 0 || dj_state_create(root, id, err) < 0)
    return -1;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s/lock", root, id);
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0 || lock_fd(fd, LOCK_EX, path, err) < 0) {
    if (fd < 0)
      dj_error(err, errno, "create %s", path);
    else
      close(fd);
    dj_state_remove(root, id);
    return -1;
  }
  return fd;
}

int dj_state_lock(const char *root, const char *id, dj_err *err)
{
  char path[PATH_MAX];
  if ((size_t) snprintf(path, sizeof path, "%s/%s/lock", root, id) >= sizeof path)
    return dj_error(err, ENAMETOOLONG, "state directory for %s", id);
  int fd;
  {
    _cleanup_close_ int rfd = root_lock(root, LOCK_SH, err);
    if (rfd < 0) {
      if (err != NULL && err->errnum == ENOENT)
        return not_found(err, id);
      return -1;
    }
    fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
      return errno == ENOENT ? not_found(err, id) : dj_error(err, errno, "lock %s", path);
  }
  struct stat st;
  if (lock_fd(fd, LOCK_EX, path, err) < 0 || fstat(fd, &st) < 0) {
    close(fd);
    return -1;
  }
  if (st.st_nlink == 0) {
    /* deleted while we waited for it */
    close(fd);
    return not_found(err, id);
  }
  return fd;
}

json_t *dj_state_new(const char *id, const struct dj_spec *spec, const char *bundle, pid_t pid, const char *status)
{
  char created[64];
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(created + n, sizeof created - n, ".%09ldZ", ts.tv_nsec);
  json_t *st = json_pack("{s:s, s:s, s:s, s:I, s:s, s:s}", "ociVersion", "1.2.0", "id", id, "status", status,
                         "pid", (json_int_t) pid, "bundle", bundle, "created", created);
  if (st != NULL && spec != NULL && spec->annotations != NULL)
    json_object_set(st, "annotations", spec->annotations);
  return st;
}

json_t *dj_state_private(json_t *st)
{
  json_t *p = json_object_get(st, "donjon");
  if (!json_is_object(p)) {
    p = json_object();
    json_object_set_new(st, "donjon", p);
  }
  return p;
}

/* root/id/file, compact JSON, replaced atomically */
static int save_json(const char *root, const char *id, const char *file, json_t *j, dj_err *err)
{
  _cleanup_free_ char *text = json_dumps(j, JSON_COMPACT);
  if (text == NULL)
    return dj_error(err, ENOMEM, "%s", file);
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s/%s", root, id, file);
  return dj_write_file_atomic(path, text, strlen(text), 0600, err);
}

int dj_state_save(const char *root, const char *id, json_t *st, dj_err *err)
{
  return save_json(root, id, "state.json", st, err);
}

int dj_state_write(const char *root, const char *id, const struct dj_spec *spec, const char *bundle, pid_t pid,
                   const char *status, dj_err *err)
{
  _cleanup_json_ json_t *st = dj_state_new(id, spec, bundle, pid, status);
  if (st == NULL)
    return dj_error(err, ENOMEM, "state.json");
  return dj_state_save(root, id, st, err);
}

int dj_state_load(const char *root, const char *id, json_t **out, dj_err *err)
{
  char path[PATH_MAX];
  if ((size_t) snprintf(path, sizeof path, "%s/%s/state.json", root, id) >= sizeof path)
    return dj_error(err, ENAMETOOLONG, "state directory for %s", id);
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return errno == ENOENT ? not_found(err, id) : dj_error(err, errno, "open %s", path);
  json_t *st = NULL;
  if (dj_json_load_fd(fd, 1 << 20, &st, err) < 0)
    return dj_err_wrap(err, "%s", path);
  if (!json_is_object(st) || !json_is_string(json_object_get(st, "status")) ||
      !json_is_integer(json_object_get(st, "pid"))) {
    json_decref(st);
    return dj_error(err, 0, "%s: not a donjon state (status and pid required)", path);
  }
  *out = st;
  return 0;
}

int dj_proc_stat(pid_t pid, char *state, unsigned long long *start_time)
{
  char path[64], buf[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  if (n <= 0)
    return -1;
  buf[n] = '\0';
  /* comm may hold spaces and ')': the fields start after the last ')' */
  char *p = strrchr(buf, ')');
  if (p == NULL || p[1] != ' ')
    return -1;
  p += 2;
  *state = *p;
  for (int field = 3; field < 22; field++) {
    p = strchr(p, ' ');
    if (p == NULL)
      return -1;
    p++;
  }
  *start_time = strtoull(p, NULL, 10);
  return 0;
}

int dj_state_save_config(const char *root, const char *id, json_t *doc, dj_err *err)
{
  return save_json(root, id, "config.json", doc, err);
}

int dj_state_load_config(const char *root, const char *id, json_t **doc, dj_err *err)
{
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s/config.json", root, id);
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", root, id);
    if (access(dir, F_OK) != 0)
      return not_found(err, id);
  }
  if (fd < 0)
    return dj_error(err, errno, "container \"%s\": its config (%s)", id, path);
  if (dj_json_load_fd(fd, DJ_SPEC_MAX_SIZE, doc, err) < 0)
    return dj_err_wrap(err, "%s", path);
  return 0;
}

/* Every entry of dirfd, and the directories among them one level down (notify/), never
 * following a link. */
static void remove_entries(int dfd, int depth)
{
  DIR *d = fdopendir(dup(dfd));
  struct dirent *e;
  while (d != NULL && (e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    if (unlinkat(dfd, e->d_name, 0) == 0 || errno != EISDIR || depth > 0)
      continue;
    int sub = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub >= 0) {
      remove_entries(sub, depth + 1);
      close(sub);
    }
    unlinkat(dfd, e->d_name, AT_REMOVEDIR);
  }
  if (d != NULL)
    closedir(d);
}

void dj_state_remove(const char *root, const char *id)
{
  char dir[PATH_MAX];
  if ((size_t) snprintf(dir, sizeof dir, "%s/%s", root, id) >= sizeof dir)
    return;
  _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd >= 0)
    remove_entries(dfd, 0);
  rmdir(dir);
}

/* ---- what the commands after create load ---- */

static int pidfd_open_(pid_t pid)
{
  return (int) syscall(SYS_pidfd_open, pid, 0);
}

void dj_live_free(struct dj_live *l)
{
  json_decref(l->st);
  if (l->pidfd >= 0)
    close(l->pidfd);
  dj_cgroup_free(l->cg);
}

int dj_live_load(const char *root, const char *id, struct dj_live *l, dj_err *err)
{
  *l = (struct dj_live){ .pidfd = -1, .status = "stopped" };
  if (dj_state_load(root, id, &l->st, err) < 0)
    return -1;
  json_t *priv = json_object_get(l->st, "donjon");
  json_t *cgj = json_object_get(priv, "cgroup");
  if (cgj != NULL && dj_cgroup_load(cgj, &l->cg, err) < 0) {
    dj_live_free(l);
    return dj_err_wrap(err, "container \"%s\"", id);
  }
  const char *stored = json_string_value(json_object_get(l->st, "status"));
  l->pid = (pid_t) json_integer_value(json_object_get(l->st, "pid"));
  if (l->pid <= 0)
    return 0;
  /* The pidfd first: if the start time then matches, it is the init's and stays so. */
  int pidfd = pidfd_open_(l->pid);
  char state;
  unsigned long long start;
  json_t *want = json_object_get(priv, "initStartTime");
  if (pidfd < 0 || dj_proc_stat(l->pid, &state, &start) < 0 || state == 'Z' || state == 'X' ||
      (want != NULL && (unsigned long long) json_integer_value(want) != start)) {
    if (pidfd >= 0)
      close(pidfd);
    return 0;
  }
  l->pidfd = pidfd;
  l->status = strcmp(stored, "creating") == 0 ? "creating" : strcmp(stored, "created") == 0 ? "created" : "running";
  bool frozen = false;
  if (l->cg != NULL && strcmp(l->status, "creating") != 0 && dj_cgroup_is_frozen(l->cg, &frozen, NULL) == 0 &&
      frozen)
    l->status = "paused";
  return 0;
}

