#include "images/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/safepath.h"
#include "common/util.h"
#include "images/layerstream.h"
#include "images/tree.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"

void dj_unpack_opts_default(struct dj_unpack_opts *o)
{
  memset(o, 0, sizeof *o);
  o->chown = geteuid() == 0;
  o->max_layer_size = 64ull << 30;
  o->max_file_size = 16ull << 30;
  o->max_total_size = 64ull << 30;
  o->max_entries = 1000000;
  o->max_depth = 128;
}

/* The paths created by the current layer, as 64-bit hashes (for the opaque-whiteout rule). A
 * collision can only keep a lower-layer file the image itself shipped. */
struct pathset {
  uint64_t *slots;
  size_t cap, n;
};

static uint64_t path_hash(const char *s, size_t n)
{
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++) {
    h ^= (uint8_t) s[i];
    h *= 1099511628211ull;
  }
  return h ? h : 1;
}

/* Insert a hash; false when it was already there. */
static bool pathset_insert(struct pathset *s, uint64_t h)
{
  if (2 * (s->n + 1) > s->cap) {
    struct pathset g = { .cap = s->cap ? 2 * s->cap : 1024 };
    g.slots = dj_xcalloc(g.cap, sizeof *g.slots);
    for (size_t i = 0; i < s->cap; i++)
      if (s->slots[i]) {
        size_t j = s->slots[i] & (g.cap - 1);
        while (g.slots[j])
          j = (j + 1) & (g.cap - 1);
        g.slots[j] = s->slots[i];
        g.n++;
      }
    free(s->slots);
    *s = g;
  }
  size_t j = h & (s->cap - 1);
  while (s->slots[j] && s->slots[j] != h)
    j = (j + 1) & (s->cap - 1);
  if (s->slots[j])
    return false;
  s->slots[j] = h;
  s->n++;
  return true;
}

/* A path and its ancestors: a directory this layer wrote into (even implicitly) is this layer's
 * too, so an opaque whiteout keeps it and descends into it. Every insertion adds all ancestors, so
 * an ancestor already present means the rest are. */
static void pathset_add(struct pathset *s, const char *p)
{
  size_t n = strlen(p);
  while (n > 0 && pathset_insert(s, path_hash(p, n))) {
    const char *slash = memrchr(p, '/', n);
    n = slash ? (size_t) (slash - p) : 0;
  }
}

static bool pathset_has(const struct pathset *s, const char *p)
{
  if (s->cap == 0)
    return false;
  uint64_t h = path_hash(p, strlen(p));
  for (size_t j = h & (s->cap - 1); s->slots[j]; j = (j + 1) & (s->cap - 1))
    if (s->slots[j] == h)
      return true;
  return false;
}

/* The depth below the root of the directories seen, by inode. An entry's name is bounded in
 * components, but through symlinks a short name can reach any depth: the bound is on where the
 * entry really lands. */
struct depth_slot {
  dev_t dev;
  ino_t ino;
  unsigned depth; /* the root itself is never stored */
  unsigned gen;   /* a slot of another generation is free */
};
struct depthmap {
  struct depth_slot *slots;
  size_t cap, n;
  unsigned gen;
};

static bool depth_live(const struct depthmap *m, const struct depth_slot *s)
{
  return s->depth != 0 && s->gen == m->gen;
}

static size_t depth_index(const struct depthmap *m, dev_t dev, ino_t ino)
{
  uint64_t h = ((uint64_t) ino * 0x9e3779b97f4a7c15ull) ^ (uint64_t) dev;
  size_t j = (size_t) (h >> 17) & (m->cap - 1);
  while (depth_live(m, &m->slots[j]) && (m->slots[j].dev != dev || m->slots[j].ino != ino))
    j = (j + 1) & (m->cap - 1);
  return j;
}

static void depth_put(struct depthmap *m, dev_t dev, ino_t ino, unsigned depth)
{
  if (2 * (m->n + 1) > m->cap) {
    struct depthmap g = { .cap = m->cap ? 2 * m->cap : 1024, .gen = m->gen };
    g.slots = dj_xcalloc(g.cap, sizeof *g.slots);
    for (size_t i = 0; i < m->cap; i++)
      if (depth_live(m, &m->slots[i])) {
        g.slots[depth_index(&g, m->slots[i].dev, m->slots[i].ino)] = m->slots[i];
        g.n++;
      }
    free(m->slots);
    *m = g;
  }
  struct depth_slot *s = &m->slots[depth_index(m, dev, ino)];
  if (!depth_live(m, s))
    m->n++;
  *s = (struct depth_slot){ .dev = dev, .ino = ino, .depth = depth, .gen = m->gen };
}

static unsigned depth_get(const struct depthmap *m, dev_t dev, ino_t ino)
{
  if (m->cap == 0)
    return 0;
  const struct depth_slot *s = &m->slots[depth_index(m, dev, ino)];
  return depth_live(m, s) ? s->depth : 0;
}

/* A removed directory frees its inode for reuse: forget every depth rather than track which (a new
 * generation, so that many removals cost nothing each). */
static void depth_clear(struct depthmap *m)
{
  m->gen++;
  m->n = 0;
}

struct unpack {
  int rootfd;
  dev_t root_dev;
  ino_t root_ino;
  const struct dj_unpack_opts *o;
  uint64_t entries, total;
  struct pathset layer_paths;
  struct depthmap depths;
};

static int unpack_init(struct unpack *u, int rootfd, const struct dj_unpack_opts *o, dj_err *err)
{
  memset(u, 0, sizeof *u);
  u->depths.gen = 1;
  u->rootfd = rootfd;
  u->o = o;
  struct stat st;
  if (fstat(rootfd, &st) < 0)
    return dj_error(err, errno, "unpack: stat the target directory");
  u->root_dev = st.st_dev;
  u->root_ino = st.st_ino;
  return 0;
}

static void unpack_release(struct unpack *u)
{
  free(u->layer_paths.slots);
  free(u->depths.slots);
}

/* How many directories below the root fd (a directory inside it) is: from the map, or by walking
 * ".." up to the root (at most max_depth steps) for a directory made implicitly. */
static int dir_depth(struct unpack *u, int fd, unsigned *out, dj_err *err)
{
  struct stat st;
  if (fstat(fd, &st) < 0)
    return dj_error(err, errno, "stat its directory");
  if (st.st_dev == u->root_dev && st.st_ino == u->root_ino) {
    *out = 0;
    return 0;
  }
  if ((*out = depth_get(&u->depths, st.st_dev, st.st_ino)) != 0)
    return 0;
  unsigned max = u->o->max_depth;
  _cleanup_free_ struct stat *chain = dj_xcalloc((size_t) max + 1, sizeof *chain);
  chain[0] = st;
  _cleanup_close_ int cur = -1;
  unsigned depth = 0, k;
  for (k = 1; depth == 0; k++) {
    if (k > max)
      return dj_error(err, 0, "more than %u directories deep (through symbolic links)", max);
    int up = openat(cur >= 0 ? cur : fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (up < 0)
      return dj_error(err, errno, "open its parent directory");
    if (cur >= 0)
      close(cur);
    cur = up;
    struct stat ps;
    if (fstat(up, &ps) < 0)
      return dj_error(err, errno, "stat its parent directory");
    if (ps.st_dev == u->root_dev && ps.st_ino == u->root_ino)
      depth = k;
    else if ((depth = depth_get(&u->depths, ps.st_dev, ps.st_ino)) != 0)
      depth += k;
    else
      chain[k] = ps;
  }
  for (unsigned i = 0; i + 1 < k; i++)
    depth_put(&u->depths, chain[i].st_dev, chain[i].st_ino, depth - i);
  *out = depth;
  return 0;
}

/* Normalise an entry name: no leading "/" or "./", no "." or empty components, "..": refused.
 * Writes "a/b/c" (or "" for the root itself) into out. */
static int name_normalise(const char *name, char *out, size_t out_size, unsigned max_depth, unsigned *depth,
                          dj_err *err)
{
  size_t o = 0;
  unsigned d = 0;
  const char *p = name;
  while (*p) {
    while (*p == '/')
      p++;
    if (!*p)
      break;
    const char *e = strchrnul(p, '/');
    size_t len = (size_t) (e - p);
    if (len == 2 && p[0] == '.' && p[1] == '.')
      return dj_error(err, 0, "has a \"..\" component (it would leave the root)");
    if (!(len == 1 && p[0] == '.')) {
      if (len > NAME_MAX)
        return dj_error(err, ENAMETOOLONG, "a component is longer than %d bytes", NAME_MAX);
      if (++d > max_depth)
        return dj_error(err, 0, "more than %u components deep", max_depth);
      if (o + len + 2 > out_size)
        return dj_error(err, ENAMETOOLONG, "longer than %zu bytes", out_size - 1);
      if (o)
        out[o++] = '/';
      memcpy(out + o, p, len);
      o += len;
    }
    p = e;
  }
  out[o] = '\0';
  *depth = d;
  return 0;
}

/* Open the parent directory of path inside the root, creating missing directories. */
static int parent_open(struct unpack *u, const char *path, char *base_out, dj_err *err)
{
  char parent[PATH_MAX];
  const char *slash = strrchr(path, '/');
  if (slash == NULL) {
    strcpy(parent, "/");
    strcpy(base_out, path);
  } else {
    memcpy(parent, path, (size_t) (slash - path));
    parent[slash - path] = '\0';
    strcpy(base_out, slash + 1);
  }
  int fd = dj_openat2(u->rootfd, parent, O_PATH | O_DIRECTORY | O_CLOEXEC, 0, DJ_RESOLVE_ROOT_FLAGS);
  if (fd >= 0)
    return fd;
  if (errno != ENOENT)
    return dj_error(err, errno, "open its directory");
  /* Parents a layer did not list are created as tar does; openat2 keeps them inside the root. */
  _cleanup_close_ int made = dj_mkdirs_in_root(u->rootfd, parent, 0755, err);
  if (made < 0)
    return -1;
  return dj_steal_fd(&made);
}

static int remove_at(struct unpack *u, int dirfd, const char *name)
{
  if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
    return 0;
  depth_clear(&u->depths); /* a directory: removing it frees inodes for reuse */
  return dj_remove_at(dirfd, name);
}

int dj_idmap_apply(const struct dj_idmap *m, int64_t id, const char *what, uint32_t *out, dj_err *err)
{
  /* (uint32_t) -1 is no id: chown would leave the unpacker's own owner in place. */
  if (id < 0 || id >= UINT32_MAX)
    return dj_error(err, 0, "%s %lld out of range", what, (long long) id);
  if (m->size == 0) {
    *out = (uint32_t) id;
    return 0;
  }
  if ((uint64_t) id < m->container || (uint64_t) id >= (uint64_t) m->container + m->size)
    return dj_error(err, 0, "%s %lld is outside the mapping %u:%u:%u", what, (long long) id, m->container, m->host,
                    m->size);
  uint64_t host = (uint64_t) m->host + ((uint64_t) id - m->container);
  if (host >= UINT32_MAX) /* a map past the host's ids must not wrap to root */
    return dj_error(err, 0, "%s %lld maps past the host's ids (mapping %u:%u:%u)", what, (long long) id,
                    m->container, m->host, m->size);
  *out = (uint32_t) host;
  return 0;
}

static bool xattr_allowed(const char *name, const struct dj_unpack_opts *o)
{
  if (strncmp(name, "user.", 5) == 0)
    return true;
  /* File capabilities are privilege, like setuid: kept only when setuid is. */
  return o->keep_setid && strcmp(name, "security.capability") == 0;
}

static int apply_xattrs(struct archive_entry *e, int fd, const struct dj_unpack_opts *o, dj_err *err)
{
  const char *name;
  const void *value;
  size_t size;
  archive_entry_xattr_reset(e);
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    if (!xattr_allowed(name, o))
      continue; /* trusted.*, security.*, system.*: filtered out */
    if (fsetxattr(fd, name, value, size, 0) < 0 && errno != ENOTSUP)
      return dj_error(err, errno, "set xattr %s", name);
  }
  return 0;
}

static int write_data(struct archive *a, int fd, int64_t size, dj_err *err)
{
  const void *buf;
  size_t len;
  la_int64_t off;
  int r;
  while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
    if (off < 0 || (uint64_t) off + len > (uint64_t) size)
      return dj_error(err, 0, "data beyond the entry's size");
    /* pwrite at the block's offset: holes of sparse entries stay holes. */
    const uint8_t *p = buf;
    while (len > 0) {
      ssize_t w = pwrite(fd, p, len, off);
      if (w < 0 && errno == EINTR)
        continue;
      if (w < 0)
        return dj_error(err, errno, "write");
      p += w;
      off += w;
      len -= (size_t) w;
    }
  }
  if (r != ARCHIVE_EOF)
    return dj_error(err, 0, "read data: %s", archive_error_string(a));
  if (ftruncate(fd, size) < 0)
    return dj_error(err, errno, "set size");
  return 0;
}

/* Empty the directory dfd (at path rel) of what lower layers put there: an entry this layer did not
 * write is removed whole; one it did (a directory it listed or wrote into) is kept and descended
 * into, since everything beneath an opaque directory from lower layers is hidden too. */
static int opaque_clear(struct unpack *u, int dfd, const char *rel, dj_err *err)
{
  int fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return dj_error(err, errno, "read directory");
  DIR *d = fdopendir(fd);
  if (d == NULL) {
    close(fd);
    return dj_error(err, errno, "read directory");
  }
  struct dirent *de;
  int r = 0;
  char child[PATH_MAX];
  while (r == 0 && (de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    /* A path too long to be an entry name cannot be one of this layer's entries. */
    bool fits = (size_t) snprintf(child, sizeof child, "%s%s%s", rel, *rel ? "/" : "", de->d_name) < sizeof child;
    if (!fits || !pathset_has(&u->layer_paths, child)) {
      if (remove_at(u, fd, de->d_name) < 0)
        r = dj_error(err, errno, "remove %s", fits ? child : de->d_name);
      continue;
    }
    int sub = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub >= 0) {
      r = opaque_clear(u, sub, child, err);
      close(sub);
    } else if (errno != ENOTDIR && errno != ELOOP) {
      r = dj_error(err, errno, "open %s", child);
    }
  }
  closedir(d);
  return r;
}

/* Apply an opaque whiteout to dir (this layer's entries stay, wherever they come in the tar). */
static int opaque_apply(struct unpack *u, const char *dir, dj_err *err)
{
  _cleanup_close_ int dfd =
    dj_openat2(u->rootfd, *dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0, DJ_RESOLVE_ROOT_FLAGS);
  if (dfd < 0)
    return errno == ENOENT ? 0 : dj_error(err, errno, "open directory");
  return opaque_clear(u, dfd, dir, err);
}

/* A whiteout hides NAME of the lower layers only: what this same layer wrote stays, wherever the
 * whiteout comes in the tar (OCI image spec); a directory of this layer still loses what lower
 * layers put inside. It creates nothing: a missing parent means there is nothing to hide. */
static int entry_whiteout(struct unpack *u, const char *path, dj_err *err)
{
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  char dir[PATH_MAX], vpath[PATH_MAX];
  snprintf(dir, sizeof dir, "%.*s", slash ? (int) (slash - path) : 0, path);
  if (strcmp(base, WH_OPAQUE) == 0)
    return opaque_apply(u, dir, err);
  const char *victim = base + strlen(WH_PREFIX);
  if (*victim == '\0' || strcmp(victim, ".") == 0 || strcmp(victim, "..") == 0)
    return dj_error(err, 0, "whiteout of \"%s\" is invalid", victim);
  memcpy(vpath, path, (size_t) (base - path)); /* path without ".wh.": shorter than PATH_MAX */
  strcpy(vpath + (base - path), victim);
  _cleanup_close_ int pfd =
    dj_openat2(u->rootfd, *dir ? dir : "/", O_PATH | O_DIRECTORY | O_CLOEXEC, 0, DJ_RESOLVE_ROOT_FLAGS);
  if (pfd < 0)
    return errno == ENOENT || errno == ENOTDIR ? 0 : dj_error(err, errno, "open its directory");
  if (!pathset_has(&u->layer_paths, vpath)) {
    if (remove_at(u, pfd, victim) < 0)
      return dj_error(err, errno, "remove whited-out %s", victim);
    return 0;
  }
  _cleanup_close_ int dfd = openat(pfd, victim, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0)
    return errno == ENOTDIR || errno == ELOOP || errno == ENOENT ? 0 : dj_error(err, errno, "open %s", vpath);
  return opaque_clear(u, dfd, vpath, err);
}

static int entry_unpack(struct unpack *u, struct archive *a, struct archive_entry *e, const char *path,
                        dj_err *err)
{
  const struct dj_unpack_opts *o = u->o;
  char base[NAME_MAX + 1];
  if (*path == '\0')
    return 0; /* the root itself ("./"): DIR keeps its own metadata */
  const char *slash = strrchr(path, '/');
  if (strncmp(slash ? slash + 1 : path, WH_PREFIX, strlen(WH_PREFIX)) == 0)
    return entry_whiteout(u, path, err);
  _cleanup_close_ int pfd = parent_open(u, path, base, err);
  if (pfd < 0)
    return -1;
  unsigned pdepth = 0;
  if (dir_depth(u, pfd, &pdepth, err) < 0)
    return -1;
  if (pdepth + 1 > o->max_depth)
    return dj_error(err, 0, "more than %u directories deep (through symbolic links)", o->max_depth);

  mode_t type = archive_entry_filetype(e);
  const char *hardlink = archive_entry_hardlink(e);
  mode_t perm = archive_entry_perm(e) & 07777;
  if (!o->keep_setid)
    perm &= (mode_t) ~(S_ISUID | S_ISGID); /* on directories too: one simple promise */
  uint32_t uid = 0, gid = 0;
  if (dj_idmap_apply(&o->uid_map, archive_entry_uid(e), "uid", &uid, err) < 0 ||
      dj_idmap_apply(&o->gid_map, archive_entry_gid(e), "gid", &gid, err) < 0)
    return -1;

  struct stat st;
  bool exists = fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;
  /* Replace, never merge: only a directory over a directory is kept. */
  if (exists && !(type == AE_IFDIR && hardlink == NULL && S_ISDIR(st.st_mode))) {
    if (remove_at(u, pfd, base) < 0)
      return dj_error(err, errno, "replace the existing entry");
    exists = false;
  }

  _cleanup_close_ int fd = -1;
  if (hardlink != NULL) {
    char target[PATH_MAX];
    unsigned depth;
    if (name_normalise(hardlink, target, sizeof target, o->max_depth, &depth, err) < 0)
      return dj_err_wrap(err, "hard link target \"%s\"", hardlink);
    /* The target is looked up inside the root, without following any symlink. */
    _cleanup_close_ int tfd = dj_openat2(u->rootfd, target, O_PATH | O_NOFOLLOW | O_CLOEXEC, 0,
                                         DJ_RESOLVE_ROOT_FLAGS | RESOLVE_NO_SYMLINKS);
    if (tfd < 0)
      return dj_error(err, errno, "hard link target \"%s\"", target);
    struct stat ts;
    if (fstat(tfd, &ts) < 0 || S_ISDIR(ts.st_mode))
      return dj_error(err, 0, "hard link target \"%s\" is a directory", target);
    if (linkat(tfd, "", pfd, base, AT_EMPTY_PATH) < 0) {
      /* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; unprivileged, link through the fd's magic link. */
      char proc[64];
      snprintf(proc, sizeof proc, "/proc/self/fd/%d", tfd);
      if (errno != ENOENT || linkat(AT_FDCWD, proc, pfd, base, AT_SYMLINK_FOLLOW) < 0)
        return dj_error(err, errno, "hard link to \"%s\"", target);
    }
    pathset_add(&u->layer_paths, path);
    return 0;
  }
  switch (type) {
  case AE_IFREG: {
    int64_t size = archive_entry_size(e);
    if (size < 0 || (uint64_t) size > o->max_file_size)
      return dj_error(err, 0, "file of %lld bytes, more than the %llu allowed", (long long) size,
                      (unsigned long long) o->max_file_size);
    u->total += (uint64_t) size;
    if (u->total > o->max_total_size)
      return dj_error(err, 0, "the image's files exceed %llu bytes", (unsigned long long) o->max_total_size);
    fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
      return dj_error(err, errno, "create");
    if (write_data(a, fd, size, err) < 0)
      return -1;
    break;
  }
  case AE_IFDIR:
    if (!exists && mkdirat(pfd, base, 0700) < 0)
      return dj_error(err, errno, "mkdir");
    fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
      return dj_error(err, errno, "open the directory");
    if (fstat(fd, &st) < 0)
      return dj_error(err, errno, "stat the directory");
    depth_put(&u->depths, st.st_dev, st.st_ino, pdepth + 1);
    break;
  case AE_IFLNK: {
    const char *target = archive_entry_symlink(e);
    if (target == NULL || *target == '\0')
      return dj_error(err, 0, "symlink without a target");
    /* Verbatim: it is resolved later inside the container's root, never by us. */
    if (symlinkat(target, pfd, base) < 0)
      return dj_error(err, errno, "symlink");
    if (o->chown && fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
      return dj_error(err, errno, "chown");
    pathset_add(&u->layer_paths, path);
    return 0;
  }
  case AE_IFCHR:
  case AE_IFBLK:
  case AE_IFIFO:
    if (type != AE_IFIFO && !o->allow_devices)
      return dj_error(err, 0, "device node %u:%u refused", (unsigned) archive_entry_rdevmajor(e),
                      (unsigned) archive_entry_rdevminor(e));
    if (mknodat(pfd, base, type | 0600, type == AE_IFIFO ? 0 : archive_entry_rdev(e)) < 0)
      return dj_error(err, errno, "mknod");
    fd = openat(pfd, base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
      return dj_error(err, errno, "open");
    break;
  default:
    return dj_error(err, 0, "entry type %#o is not supported", (unsigned) type);
  }
  pathset_add(&u->layer_paths, path);
  /* Through the fd we just created: nothing can have swapped the name for a link meanwhile. */
  char proc[64];
  snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
  bool is_opath = type != AE_IFREG && type != AE_IFDIR;
  if (o->chown && (is_opath ? fchownat(fd, "", uid, gid, AT_EMPTY_PATH) : fchown(fd, uid, gid)) < 0)
    return dj_error(err, errno, "chown %u:%u", uid, gid);
  if ((is_opath ? chmod(proc, perm) : fchmod(fd, perm)) < 0)
    return dj_error(err, errno, "chmod %04o", (unsigned) perm);
  if (!is_opath && apply_xattrs(e, fd, o, err) < 0)
    return -1;
  struct timespec ts[2] = { { .tv_sec = archive_entry_mtime(e), .tv_nsec = archive_entry_mtime_nsec(e) },
                            { .tv_sec = archive_entry_mtime(e), .tv_nsec = archive_entry_mtime_nsec(e) } };
  if (type == AE_IFREG)
    futimens(fd, ts);
  return 0;
}

struct read_ctx {
  struct dj_layer_stream *stream;
  uint8_t *buf;
  dj_err *err;
};

static la_ssize_t stream_read_cb(struct archive *a, void *data, const void **buf)
{
  struct read_ctx *ctx = data;
  ssize_t n = dj_layer_stream_read(ctx->stream, ctx->buf, 256u << 10, ctx->err);
  if (n < 0) {
    archive_set_error(a, EIO, "%s", ctx->err->msg);
    return -1;
  }
  *buf = ctx->buf;
  return n;
}

/* Every entry of the tar stream into the root; label names the layer in errors. */
static int tar_unpack(struct unpack *u, struct dj_layer_stream *stream, const char *label, dj_err *err)
{
  struct read_ctx ctx = { stream, dj_xmalloc(256u << 10), err };
  struct archive *a = archive_read_new();
  archive_read_support_format_tar(a);
  archive_read_support_filter_none(a);
  int ret = -1;
  free(u->layer_paths.slots);
  memset(&u->layer_paths, 0, sizeof u->layer_paths);
  if (archive_read_open(a, &ctx, NULL, stream_read_cb, NULL) != ARCHIVE_OK) {
    if (err->msg[0] == '\0')
      dj_error(err, 0, "%s: %s", label, archive_error_string(a));
    goto out;
  }
  for (;;) {
    struct archive_entry *e;
    int s = archive_read_next_header(a, &e);
    if (s == ARCHIVE_EOF)
      break;
    if (s < ARCHIVE_WARN) {
      dj_error(err, 0, "%s: tar: %s", label, archive_error_string(a));
      goto out;
    }
    const char *name = archive_entry_pathname(e);
    char path[PATH_MAX];
    unsigned depth;
    if (name == NULL) {
      dj_error(err, 0, "%s: an entry has no name", label);
      goto out;
    }
    if (++u->entries > u->o->max_entries) {
      dj_error(err, 0, "%s: more than %llu entries", label, (unsigned long long) u->o->max_entries);
      goto out;
    }
    if (name_normalise(name, path, sizeof path, u->o->max_depth, &depth, err) < 0 ||
        entry_unpack(u, a, e, path, err) < 0) {
      dj_err_wrap(err, "%s: entry \"%.200s\"", label, name);
      goto out;
    }
  }
  ret = 0;
out:
  archive_read_free(a);
  dj_wipe(ctx.buf, 256u << 10);
  free(ctx.buf);
  return ret;
}

static int layer_unpack(struct unpack *u, struct dj_image *img, size_t i, const struct dj_layer_keys *keys,
                        dj_err *err)
{
  struct dj_layer_reader *r = NULL;
  if (dj_layer_reader_open_keys(img, i, keys, u->o->max_layer_size, -1, &r, err) < 0)
    return -1;
  char label[DJ_DIGEST_MAX + 32];
  snprintf(label, sizeof label, "layer %zu (%s)", i, img->layers[i].digest);
  char plain[DJ_DIGEST_MAX];
  int ret = tar_unpack(u, r->stream, label, err);
  if (ret == 0)
    ret = dj_layer_reader_finish(r, plain, err);
  dj_layer_reader_free(r);
  return ret;
}

int dj_unpack_tar_fd(int fd, enum dj_compression comp, const struct dj_unpack_opts *o, int dirfd, dj_err *err)
{
  struct unpack u;
  struct dj_layer_stream *s = NULL;
  if (unpack_init(&u, dirfd, o, err) < 0 || dj_layer_stream_open(fd, comp, NULL, o->max_layer_size, -1, &s, err) < 0)
    return -1;
  int r = tar_unpack(&u, s, "tar", err);
  dj_layer_stream_free(s);
  unpack_release(&u);
  if (r < 0)
    dj_empty_dir(dirfd);
  return r;
}

int dj_image_unpack_fd(struct dj_image *img, EVP_PKEY *key, const struct dj_unpack_opts *o, int dirfd, dj_err *err)
{
  const struct dj_layer_keys keys = { .kek = key };
  return dj_image_unpack_keys(img, &keys, o, dirfd, err);
}

int dj_image_unpack_keys(struct dj_image *img, const struct dj_layer_keys *keys, const struct dj_unpack_opts *o,
                         int dirfd, dj_err *err)
{
  struct unpack u;
  int r = unpack_init(&u, dirfd, o, err);
  for (size_t i = 0; r == 0 && i < img->n_layers; i++)
    r = layer_unpack(&u, img, i, keys, err);
  unpack_release(&u);
  if (r < 0)
    dj_empty_dir(dirfd); /* nothing half-done is left behind */
  return r;
}

int dj_image_unpack(const char *ref, EVP_PKEY *key, const struct dj_unpack_opts *o, const char *dir, dj_err *err)
{
  bool created = mkdir(dir, 0755) == 0;
  if (!created && errno != EEXIST)
    return dj_error(err, errno, "unpack: %s", dir);
  _cleanup_close_ int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dirfd < 0)
    return dj_error(err, errno, "unpack: %s", dir);
  if (!created) {
    DIR *d = fdopendir(dup(dirfd));
    struct dirent *de;
    bool empty = true;
    while (d && (de = readdir(d)) != NULL)
      if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
        empty = false;
    if (d)
      closedir(d);
    if (!empty)
      return dj_error(err, ENOTEMPTY, "unpack: %s", dir);
  }
  struct dj_image *img = NULL;
  int r = dj_image_open(ref, &img, err);
  if (r == 0)
    r = dj_image_unpack_fd(img, key, o, dirfd, err);
  dj_image_free(img);
  if (r < 0) {
    if (created)
      rmdir(dir);
    return dj_err_wrap(err, "unpack %s", ref);
  }
  return 0;
}
