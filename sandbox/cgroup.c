/* cgroups: finding the hierarchies, resolving cgroupsPath, creating, entering, destroying.
 * The backend of each directory (v1 controller hierarchy or the v2 unified tree) is an ops
 * table; the host's mode says which directories a container gets:
 *   v2:     /sys/fs/cgroup/PATH
 *   v1:     MOUNT/PATH for every v1 hierarchy (memory, cpu,cpuacct, ..., name=systemd)
 *   hybrid: the v1 ones, and the process also placed in the unified tree (where hugetlb and the
 *           v2 freezer live), as runc and crun do.
 * docs/cgroups.md says what an absent or relative cgroupsPath means and what is removed. */
#include "sandbox/cgroup_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/safepath.h"
#include "common/util.h"

struct cgroup_ops {
  /* primary: this directory enforces the resources (not the unified one of a hybrid host);
   * update: `donjon update` of a running container (devices left as they are) */
  int (*apply)(const struct dj_cgroup_dir *d, const struct dj_spec *spec, bool primary, bool update, dj_err *err);
  /* a level we are about to make (v2: enable the controllers in its parent) / just made (v1:
   * copy cpuset.cpus and cpuset.mems from its parent) */
  int (*before_mkdir)(const char *parent, dj_err *err);
  int (*after_mkdir)(const char *parent, const char *dir, const char *controllers, dj_err *err);
  const char *freeze_file, *frozen, *thawed;
};

static int v1_apply(const struct dj_cgroup_dir *d, const struct dj_spec *spec, bool primary, bool update, dj_err *err)
{
  return dj_cgroup_v1_apply(d, spec, update, err);
}

static const struct cgroup_ops v1_ops = { v1_apply, NULL, dj_cgroup_v1_prepare_level, "freezer.state", "FROZEN",
                                          "THAWED" };
static const struct cgroup_ops v2_ops = { dj_cgroup_v2_apply, dj_cgroup_v2_enable_controllers, NULL, "cgroup.freeze",
                                          "1", "0" };

static const struct cgroup_ops *ops_of(const struct dj_cgroup_dir *d)
{
  return d->v2 ? &v2_ops : &v1_ops;
}

/* ---- the host's hierarchies ---- */

struct hierarchy {
  char mount[PATH_MAX];
  char controllers[128];
  bool v2;
};

static struct hierarchy hierarchies[DJ_CGROUP_MAX_DIRS];
static size_t n_hierarchies;
static enum dj_cgroup_mode host_mode;

static void unescape_mountinfo(char *s)
{
  char *w = s;
  for (char *r = s; *r; r++) {
    if (r[0] == '\\' && r[1] >= '0' && r[1] <= '7' && r[2] >= '0' && r[2] <= '7' && r[3] >= '0' && r[3] <= '7') {
      *w++ = (char) (((r[1] - '0') << 6) | ((r[2] - '0') << 3) | (r[3] - '0'));
      r += 3;
    } else {
      *w++ = *r;
    }
  }
  *w = '\0';
}

/* The controllers named in a v1 mount's super options ("rw,memory" -> "memory"). */
static void v1_controllers(const char *opts, char *out, size_t size)
{
  out[0] = '\0';
  char buf[512];
  snprintf(buf, sizeof buf, "%s", opts);
  char *save = NULL;
  for (char *o = strtok_r(buf, ",", &save); o != NULL; o = strtok_r(NULL, ",", &save)) {
    if (strcmp(o, "rw") == 0 || strcmp(o, "ro") == 0 || strncmp(o, "release_agent=", 14) == 0 ||
        strcmp(o, "clone_children") == 0 || strcmp(o, "noprefix") == 0 || strcmp(o, "xattr") == 0 ||
        strcmp(o, "nsdelegate") == 0)
      continue;
    size_t len = strlen(out);
    snprintf(out + len, size - len, "%s%s", len ? "," : "", o);
  }
}

int dj_cgroup_detect(enum dj_cgroup_mode *mode, dj_err *err)
{
  if (host_mode != 0) {
    *mode = host_mode;
    return 0;
  }
  FILE *f = fopen("/proc/self/mountinfo", "re");
  if (f == NULL)
    return dj_error(err, errno, "cgroup: open /proc/self/mountinfo");
  char *line = NULL;
  size_t cap = 0;
  size_t n = 0;
  bool have_v1 = false, have_v2 = false;
  while (getline(&line, &cap, f) > 0 && n < DJ_CGROUP_MAX_DIRS) {
    /* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTS */
    char root[PATH_MAX], mnt[PATH_MAX], fstype[64], superopts[512];
    char *dash = strstr(line, " - ");
    if (dash == NULL || sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2 ||
        sscanf(dash + 3, "%63s %*s %511s", fstype, superopts) != 2)
      continue;
    if (strcmp(root, "/") != 0)
      continue; /* a bind of a sub-cgroup (inside a cgroup namespace): not a hierarchy root */
    bool v2 = strcmp(fstype, "cgroup2") == 0;
    if (!v2 && strcmp(fstype, "cgroup") != 0)
      continue;
    struct hierarchy *h = &hierarchies[n];
    unescape_mountinfo(mnt);
    snprintf(h->mount, sizeof h->mount, "%s", mnt);
    h->v2 = v2;
    if (v2)
      h->controllers[0] = '\0';
    else
      v1_controllers(superopts, h->controllers, sizeof h->controllers);
    bool dup = false;
    for (size_t i = 0; i < n; i++)
      if (hierarchies[i].v2 == v2 && strcmp(hierarchies[i].controllers, h->controllers) == 0)
        dup = true;
    if (dup)
      continue;
    /* A named hierarchy alone (name=systemd) controls nothing: it does not make a host v1. */
    have_v1 |= !v2 && strncmp(h->controllers, "name=", 5) != 0;
    have_v2 |= v2;
    n++;
  }
  free(line);
  fclose(f);
  if (!have_v1 && !have_v2)
    return dj_error(err, 0, "cgroup: no cgroup controller is mounted");
  n_hierarchies = n;
  host_mode = have_v1 && have_v2 ? DJ_CGROUP_HYBRID : have_v1 ? DJ_CGROUP_V1 : DJ_CGROUP_V2;
  *mode = host_mode;
  return 0;
}

/* ---- paths ---- */

/* cgroupsPath "/a/b" and "a/b" both mean /a/b below each hierarchy root; absent: /donjon/ID.
 * ".." is refused (it would leave the root), as are empty components. */
static int resolve_path(const char *cgroups_path, const char *id, char **out, dj_err *err)
{
  if (cgroups_path == NULL || *cgroups_path == '\0') {
    *out = dj_xasprintf("/donjon/%s", id);
    return 0;
  }
  if (strchr(cgroups_path, ':') != NULL)
    return dj_error(err, 0, "linux.cgroupsPath \"%s\": the systemd form slice:prefix:name needs "
                            "--systemd-cgroup, which this host cannot use", cgroups_path);
  char buf[PATH_MAX];
  size_t len = 0;
  const char *cursor = cgroups_path, *p;
  size_t clen;
  while ((p = dj_path_next(&cursor, &clen)) != NULL) {
    if ((clen == 2 && p[0] == '.' && p[1] == '.'))
      return dj_error(err, 0, "linux.cgroupsPath \"%s\": \"..\" is not allowed", cgroups_path);
    if (!(clen == 1 && p[0] == '.')) {
      if (len + clen + 2 >= sizeof buf)
        return dj_error(err, ENAMETOOLONG, "linux.cgroupsPath");
      buf[len++] = '/';
      memcpy(buf + len, p, clen);
      len += clen;
    }
  }
  if (len == 0)
    return dj_error(err, 0, "linux.cgroupsPath \"%s\": the root cgroup cannot be a container's", cgroups_path);
  buf[len] = '\0';
  *out = dj_xstrdup(buf);
  return 0;
}

/* ---- small file helpers ---- */

int dj_cgroup_write(const char *dir, const char *file, const char *value, dj_err *err)
{
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return dj_error(err, errno, "cgroup: open %s", path);
  size_t n = strlen(value);
  ssize_t w = write(fd, value, n);
  if (w < 0 || (size_t) w != n)
    return dj_error(err, w < 0 ? errno : EIO, "cgroup: write %s=%s", path, value);
  return 0;
}

int dj_cgroup_read(const char *dir, const char *file, char *buf, size_t size, dj_err *err)
{
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return dj_error(err, errno, "cgroup: open %s", path);
  ssize_t n = read(fd, buf, size - 1);
  if (n < 0)
    return dj_error(err, errno, "cgroup: read %s", path);
  buf[n] = '\0';
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
    buf[--n] = '\0';
  return 0;
}

bool dj_cgroup_has(const char *dir, const char *file)
{
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  return access(path, F_OK) == 0;
}

/* ---- create / enter / destroy ---- */

/* mkdir every level of path below mount; each level we make is prepared (cpuset copied on v1,
 * controllers enabled on v2). *created: whether the leaf was ours. */
static int make_dirs(const char *mount, const char *path, const struct cgroup_ops *ops, const char *controllers,
                     bool enable, bool *created, dj_err *err)
{
  char dir[PATH_MAX], parent[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", mount);
  *created = false;
  for (const char *p = path; *p != '\0';) {
    const char *e = strchrnul(p + 1, '/');
    snprintf(parent, sizeof parent, "%s", dir);
    size_t len = strlen(dir);
    snprintf(dir + len, sizeof dir - len, "%.*s", (int) (e - p), p);
    bool leaf = *e == '\0';
    if (enable && ops->before_mkdir != NULL && ops->before_mkdir(parent, err) < 0)
      return -1;
    if (mkdir(dir, 0755) == 0) {
      if (ops->after_mkdir != NULL && ops->after_mkdir(parent, dir, controllers, err) < 0) {
        rmdir(dir);
        return -1;
      }
      *created = leaf;
    } else if (errno != EEXIST) {
      return dj_error(err, errno, "cgroup: mkdir %s", dir);
    }
    p = e;
  }
  return 0;
}

static bool procs_empty(const char *dir)
{
  char buf[16];
  return dj_cgroup_read(dir, "cgroup.procs", buf, sizeof buf, NULL) < 0 || buf[0] == '\0';
}

static void kill_listed(const char *dir)
{
  char buf[65536];
  if (dj_cgroup_read(dir, "cgroup.procs", buf, sizeof buf, NULL) < 0)
    return;
  for (char *s = strtok(buf, "\n"); s != NULL; s = strtok(NULL, "\n"))
    kill((pid_t) atoi(s), SIGKILL);
}

static int wait_freezer(const char *dir, const char *file, const char *want)
{
  for (int i = 0; i < 1000; i++) {
    char state[64];
    if (dj_cgroup_read(dir, file, state, sizeof state, NULL) < 0)
      return -1;
    if (strstr(state, want) != NULL)
      return 0;
    nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
  }
  return -1;
}

/* Kill what is left: freeze (v1) so a fork loop cannot outrun the kills, SIGKILL everything
 * (cgroup.kill where the kernel has it), then thaw, since v1-frozen tasks only die once thawed
 * (a paused container being deleted). */
static void cgroup_kill_all(struct dj_cgroup *cg, const struct dj_cgroup_dir *d)
{
  if (procs_empty(d->dir))
    return;
  const struct dj_cgroup_dir *fr = NULL;
  for (size_t i = 0; i < cg->n_dirs; i++)
    if (!cg->dirs[i].v2 && strstr(cg->dirs[i].controllers, "freezer") != NULL)
      fr = &cg->dirs[i];
  if (fr != NULL && dj_cgroup_write(fr->dir, "freezer.state", "FROZEN", NULL) == 0)
    wait_freezer(fr->dir, "freezer.state", "FROZEN");
  bool has_kill = d->v2 && dj_cgroup_has(d->dir, "cgroup.kill");
  for (int round = 0; round < 100 && !procs_empty(d->dir); round++) {
    if (has_kill)
      dj_cgroup_write(d->dir, "cgroup.kill", "1", NULL);
    else
      kill_listed(d->dir);
    if (fr != NULL)
      dj_cgroup_write(fr->dir, "freezer.state", "THAWED", NULL);
    nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
  }
}

/* rmdir, waiting for the last processes to be reaped (EBUSY) for up to a second. */
static int remove_dir(const char *dir, dj_err *err)
{
  for (int i = 0; i < 1000; i++) {
    if (rmdir(dir) == 0 || errno == ENOENT)
      return 0;
    if (errno != EBUSY)
      break;
    nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
  }
  if (errno == EBUSY && !procs_empty(dir))
    return dj_error(err, EBUSY, "cgroup: rmdir %s: processes remain in it after SIGKILL", dir);
  return dj_error(err, errno, "cgroup: rmdir %s", dir);
}

void dj_cgroup_free(struct dj_cgroup *cg)
{
  if (cg == NULL)
    return;
  for (size_t i = 0; i < cg->n_dirs; i++) {
    free(cg->dirs[i].dir);
    free(cg->dirs[i].controllers);
  }
  free(cg->path);
  free(cg);
}

int dj_cgroup_destroy(struct dj_cgroup *cg, dj_err *err)
{
  if (cg == NULL)
    return 0;
  int rc = 0;
  for (size_t i = cg->n_dirs; i-- > 0;) {
    struct dj_cgroup_dir *d = &cg->dirs[i];
    if (!d->created)
      continue;
    if (rmdir(d->dir) == 0 || errno == ENOENT)
      continue; /* the common case: the init was reaped and took everything with it */
    cgroup_kill_all(cg, d);
    if (remove_dir(d->dir, err) < 0)
      rc = -1;
  }
  dj_cgroup_free(cg);
  return rc;
}

int dj_cgroup_create(const struct dj_spec *spec, const char *id, struct dj_cgroup **out, dj_err *err)
{
  enum dj_cgroup_mode mode;
  if (dj_cgroup_detect(&mode, err) < 0)
    return -1;
  struct dj_cgroup *cg = dj_xcalloc(1, sizeof *cg);
  cg->mode = mode;
  if (resolve_path(spec->cgroups_path, id, &cg->path, err) < 0) {
    dj_cgroup_free(cg);
    return -1;
  }
  if (mode == DJ_CGROUP_V1 && spec->resources.unified != NULL && json_object_size(spec->resources.unified) > 0) {
    dj_cgroup_free(cg);
    return dj_error(err, 0, "linux.resources.unified: this host has no cgroup v2 tree");
  }
  for (size_t i = 0; i < n_hierarchies; i++) {
    const struct hierarchy *h = &hierarchies[i];
    struct dj_cgroup_dir *d = &cg->dirs[cg->n_dirs];
    d->v2 = h->v2;
    d->controllers = dj_xstrdup(h->controllers);
    d->dir = dj_xasprintf("%s%s", h->mount, cg->path);
    cg->n_dirs++;
    const struct cgroup_ops *ops = ops_of(d);
    /* On a hybrid host the unified directory only holds the process: the v1 hierarchies enforce
     * the resources (and the devices), and the host's unified root is left as it is. */
    bool primary = mode == DJ_CGROUP_V2;
    if (make_dirs(h->mount, cg->path, ops, h->controllers, primary, &d->created, err) < 0 ||
        ops->apply(d, spec, primary, false, err) < 0) {
      dj_cgroup_destroy(cg, NULL);
      return -1;
    }
  }
  *out = cg;
  return 0;
}

int dj_cgroup_update(struct dj_cgroup *cg, const struct dj_spec *spec, dj_err *err)
{
  for (size_t i = 0; i < cg->n_dirs; i++) {
    const struct dj_cgroup_dir *d = &cg->dirs[i];
    if (ops_of(d)->apply(d, spec, cg->mode == DJ_CGROUP_V2 || !d->v2, true, err) < 0)
      return -1;
  }
  return 0;
}

int dj_cgroup_enter(struct dj_cgroup *cg, pid_t pid, dj_err *err)
{
  char buf[32];
  snprintf(buf, sizeof buf, "%d", (int) pid);
  for (size_t i = 0; i < cg->n_dirs; i++)
    if (dj_cgroup_write(cg->dirs[i].dir, "cgroup.procs", buf, err) < 0)
      return -1;
  return 0;
}

const char *dj_cgroup_path(const struct dj_cgroup *cg)
{
  return cg->path;
}

int dj_cgroup_freeze(struct dj_cgroup *cg, bool frozen, dj_err *err)
{
  /* v1's freezer where the controller is on v1 (hybrid too), else cgroup.freeze; returns once the
   * kernel says the state is reached (FREEZING is not frozen). */
  for (size_t i = 0; i < cg->n_dirs; i++) {
    const struct dj_cgroup_dir *d = &cg->dirs[i];
    const struct cgroup_ops *ops = ops_of(d);
    if ((!d->v2 && strstr(d->controllers, "freezer") == NULL) || (d->v2 && cg->mode != DJ_CGROUP_V2))
      continue;
    if (dj_cgroup_write(d->dir, ops->freeze_file, frozen ? ops->frozen : ops->thawed, err) < 0)
      return -1;
    int rc = d->v2 ? wait_freezer(d->dir, "cgroup.events", frozen ? "frozen 1" : "frozen 0")
                   : wait_freezer(d->dir, "freezer.state", frozen ? "FROZEN" : "THAWED");
    if (rc < 0)
      return dj_error(err, ETIMEDOUT, "cgroup: %s did not become %s", d->dir, frozen ? "frozen" : "thawed");
    return 0;
  }
  return dj_error(err, ENOTSUP, "cgroup: no freezer for %s", cg->path);
}

int dj_cgroup_pids(struct dj_cgroup *cg, pid_t **pids, size_t *n, dj_err *err)
{
  char buf[65536];
  if (cg->n_dirs == 0 || dj_cgroup_read(cg->dirs[0].dir, "cgroup.procs", buf, sizeof buf, err) < 0)
    return -1;
  size_t cap = 16, k = 0;
  pid_t *v = dj_xmalloc(cap * sizeof *v);
  for (char *s = strtok(buf, "\n"); s != NULL; s = strtok(NULL, "\n")) {
    if (k == cap)
      v = dj_xrealloc(v, (cap *= 2) * sizeof *v);
    v[k++] = (pid_t) atoi(s);
  }
  *pids = v;
  *n = k;
  return 0;
}

/* ---- device rules ---- */

/* What every container's /dev needs, added after the config's rules as runc does (so a config
 * cannot deny /dev/null). "m" too: donjon makes these nodes itself, inside the container's
 * cgroup. Unlike runc, no blanket "c *:* m" / "b *:* m": mknod of any other device stays denied
 * unless the config allows it (the confidential profile does not). */
static const struct dj_device_rule default_rules[] = {
  { true, 'c', 1, 3, "rwm" },  /* null */
  { true, 'c', 1, 5, "rwm" },  /* zero */
  { true, 'c', 1, 7, "rwm" },  /* full */
  { true, 'c', 1, 8, "rwm" },  /* random */
  { true, 'c', 1, 9, "rwm" },  /* urandom */
  { true, 'c', 5, 0, "rwm" },  /* tty */
  { true, 'c', 5, 1, "rwm" },  /* console */
  { true, 'c', 5, 2, "rwm" },  /* ptmx */
  { true, 'c', 136, -1, "rwm" }, /* pts */
};

int dj_cgroup_device_rules(const struct dj_spec *spec, struct dj_device_rule **out, size_t *n)
{
  const struct dj_resources *res = &spec->resources;
  size_t total = res->n_devices + spec->n_devices + DJ_ARRAY_SIZE(default_rules);
  struct dj_device_rule *r = dj_xcalloc(total, sizeof *r);
  size_t k = 0;
  for (size_t i = 0; i < res->n_devices; i++)
    r[k++] = res->devices[i];
  for (size_t i = 0; i < spec->n_devices; i++) {
    const struct dj_device *d = &spec->devices[i];
    if (d->type == 'p')
      continue;
    r[k] = (struct dj_device_rule){ true, d->type == 'b' ? 'b' : 'c', d->major, d->minor, "rwm" };
    k++;
  }
  for (size_t i = 0; i < DJ_ARRAY_SIZE(default_rules); i++)
    r[k++] = default_rules[i];
  *out = r;
  *n = k;
  return 0;
}

/* ---- saved in state.json, for the commands after create ---- */

json_t *dj_cgroup_save(const struct dj_cgroup *cg)
{
  json_t *dirs = json_array();
  for (size_t i = 0; i < cg->n_dirs; i++) {
    const struct dj_cgroup_dir *d = &cg->dirs[i];
    json_array_append_new(dirs, json_pack("{s:s, s:s, s:b, s:b}", "dir", d->dir, "controllers", d->controllers,
                                          "v2", d->v2, "created", d->created));
  }
  return json_pack("{s:s, s:i, s:o}", "path", cg->path, "mode", (int) cg->mode, "dirs", dirs);
}

int dj_cgroup_load(const json_t *saved, struct dj_cgroup **out, dj_err *err)
{
  enum dj_cgroup_mode mode;
  if (dj_cgroup_detect(&mode, err) < 0)
    return -1;
  const char *path = json_string_value(json_object_get(saved, "path"));
  const json_t *dirs = json_object_get(saved, "dirs");
  if (path == NULL || path[0] != '/' || strstr(path, "/..") != NULL || !json_is_array(dirs) ||
      json_array_size(dirs) > DJ_CGROUP_MAX_DIRS)
    return dj_error(err, 0, "state.json: donjon.cgroup: path and dirs required");
  struct dj_cgroup *cg = dj_xcalloc(1, sizeof *cg);
  cg->mode = mode;
  cg->path = dj_xstrdup(path);
  for (size_t i = 0; i < json_array_size(dirs); i++) {
    const json_t *e = json_array_get(dirs, i);
    const char *dir = json_string_value(json_object_get(e, "dir"));
    const char *controllers = json_string_value(json_object_get(e, "controllers"));
    bool v2 = json_is_true(json_object_get(e, "v2"));
    bool known = false;
    for (size_t k = 0; dir != NULL && controllers != NULL && k < n_hierarchies && !known; k++) {
      const struct hierarchy *h = &hierarchies[k];
      size_t ml = strlen(h->mount);
      known = h->v2 == v2 && strcmp(h->controllers, controllers) == 0 && strncmp(dir, h->mount, ml) == 0 &&
              strcmp(dir + ml, path) == 0;
    }
    if (!known) {
      dj_cgroup_free(cg);
      return dj_error(err, 0, "state.json: donjon.cgroup.dirs[%zu]: \"%s\" is not %s in a cgroup hierarchy of "
                              "this host", i, dir != NULL ? dir : "", path);
    }
    struct dj_cgroup_dir *d = &cg->dirs[cg->n_dirs++];
    d->dir = dj_xstrdup(dir);
    d->controllers = dj_xstrdup(controllers);
    d->v2 = v2;
    d->created = json_is_true(json_object_get(e, "created"));
  }
  *out = cg;
  return 0;
}

int dj_cgroup_is_frozen(const struct dj_cgroup *cg, bool *frozen, dj_err *err)
{
  *frozen = false;
  for (size_t i = 0; i < cg->n_dirs; i++) {
    const struct dj_cgroup_dir *d = &cg->dirs[i];
    if ((!d->v2 && strstr(d->controllers, "freezer") == NULL) || (d->v2 && cg->mode != DJ_CGROUP_V2))
      continue;
    char buf[256];
    if (dj_cgroup_read(d->dir, d->v2 ? "cgroup.events" : "freezer.state", buf, sizeof buf, err) < 0)
      return -1;
    *frozen = d->v2 ? strstr(buf, "frozen 1") != NULL : strcmp(buf, "FROZEN") == 0;
    return 0;
  }
  return 0;
}
