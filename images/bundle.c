#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/safepath.h"
#include "common/util.h"
#include "images/tree.h"
#include "images/unpack.h"

/* Look name up in the rootfs's etc/passwd or etc/group (field 3 is the id). */
static int id_lookup(int rootfd, const char *file, const char *name, uint32_t *id, uint32_t *gid)
{
  if (rootfd < 0)
    return -1;
  int fd = dj_openat2(rootfd, file, O_RDONLY | O_CLOEXEC | O_NONBLOCK, 0, DJ_RESOLVE_ROOT_FLAGS);
  if (fd < 0)
    return -1;
  FILE *f = fdopen(fd, "r");
  if (f == NULL) {
    close(fd);
    return -1;
  }
  char line[1024];
  int r = -1;
  while (r < 0 && fgets(line, sizeof line, f) != NULL) {
    char *save = NULL, *fields[4] = { 0 };
    char *t = strtok_r(line, ":", &save);
    for (int i = 0; i < 4 && t; i++, t = strtok_r(NULL, ":\n", &save))
      fields[i] = t;
    uint64_t v, g;
    if (fields[0] && fields[2] && strcmp(fields[0], name) == 0 && dj_parse_u64(fields[2], &v) == 0 && v <= UINT32_MAX) {
      *id = (uint32_t) v;
      if (gid && fields[3] && dj_parse_u64(fields[3], &g) == 0 && g <= UINT32_MAX)
        *gid = (uint32_t) g;
      r = 0;
    }
  }
  fclose(f);
  return r;
}

static int user_apply(json_t *process, const char *user, int rootfd, dj_err *err)
{
  _cleanup_free_ char *u = dj_xstrdup(user);
  char *group = strchr(u, ':');
  if (group)
    *group++ = '\0';
  uint32_t uid = 0, gid = 0;
  uint64_t v;
  if (*u == '\0')
    uid = 0;
  else if (dj_parse_u64(u, &v) == 0 && v <= UINT32_MAX) {
    uid = (uint32_t) v; /* a numeric user without a group runs with gid 0, as runc's images do */
  } else if (id_lookup(rootfd, "etc/passwd", u, &uid, &gid) < 0)
    return dj_error(err, 0, "config.User: user \"%s\" not found in the image's /etc/passwd", u);
  if (group && *group) {
    if (dj_parse_u64(group, &v) == 0 && v <= UINT32_MAX)
      gid = (uint32_t) v;
    else if (id_lookup(rootfd, "etc/group", group, &gid, NULL) < 0)
      return dj_error(err, 0, "config.User: group \"%s\" not found in the image's /etc/group", group);
  }
  json_object_set_new(process, "user", json_pack("{s:I, s:I}", "uid", (json_int_t) uid, "gid", (json_int_t) gid));
  return 0;
}

int dj_bundle_config_apply(json_t *config, json_t *image_config, int rootfd, dj_err *err)
{
  json_t *ic = NULL, *entry = NULL, *cmd = NULL, *env = NULL;
  const char *wd = NULL, *user = NULL;
  if (dj_json_opt_object(image_config, "config", "image config", &ic, err) < 0)
    return -1;
  json_t *process = json_object_get(config, "process");
  if (!json_is_object(process)) {
    process = json_object();
    json_object_set_new(config, "process", process);
  }
  if (ic != NULL &&
      (dj_json_opt_array(ic, "Entrypoint", "image config.config", &entry, err) < 0 ||
       dj_json_opt_array(ic, "Cmd", "image config.config", &cmd, err) < 0 ||
       dj_json_opt_array(ic, "Env", "image config.config", &env, err) < 0 ||
       dj_json_opt_string(ic, "WorkingDir", "image config.config", &wd, err) < 0 ||
       dj_json_opt_string(ic, "User", "image config.config", &user, err) < 0))
    return -1;
  json_t *args = json_array();
  json_t *parts[2] = { entry, cmd };
  for (int p = 0; p < 2; p++)
    for (size_t i = 0; i < json_array_size(parts[p]); i++) {
      json_t *s = json_array_get(parts[p], i);
      if (!json_is_string(s)) {
        json_decref(args);
        return dj_error(err, 0, "image config.config.%s[%zu]: expected a string", p ? "Cmd" : "Entrypoint", i);
      }
      json_array_append(args, s);
    }
  if (json_array_size(args) == 0) {
    json_decref(args);
    return dj_error(err, 0, "image config: neither Entrypoint nor Cmd: nothing to run");
  }
  json_object_set_new(process, "args", args);
  /* Image variables override the profile's of the same name. */
  json_t *penv = json_object_get(process, "env");
  json_t *newenv = json_array();
  for (size_t i = 0; i < json_array_size(penv); i++) {
    const char *pv = json_string_value(json_array_get(penv, i));
    if (pv == NULL)
      continue;
    size_t klen = strcspn(pv, "=");
    bool overridden = false;
    for (size_t j = 0; j < json_array_size(env); j++) {
      const char *iv = json_string_value(json_array_get(env, j));
      if (iv && strncmp(iv, pv, klen) == 0 && iv[klen] == '=')
        overridden = true;
    }
    if (!overridden)
      json_array_append_new(newenv, json_string(pv));
  }
  for (size_t j = 0; j < json_array_size(env); j++) {
    json_t *v = json_array_get(env, j);
    if (!json_is_string(v) || strchr(json_string_value(v), '=') == NULL) {
      json_decref(newenv);
      return dj_error(err, 0, "image config.config.Env[%zu]: expected \"NAME=VALUE\"", j);
    }
    json_array_append(newenv, v);
  }
  json_object_set_new(process, "env", newenv);
  json_object_set_new(process, "cwd", json_string(wd && *wd == '/' ? wd : "/"));
  if (user && *user && user_apply(process, user, rootfd, err) < 0)
    return -1;
  json_t *root = json_object_get(config, "root");
  if (!json_is_object(root)) {
    root = json_object();
    json_object_set_new(config, "root", root);
  }
  json_object_set_new(root, "path", json_string("rootfs"));
  /* No terminal: the bundle is run non-interactively unless its user changes it. */
  json_object_set_new(process, "terminal", json_false());
  return 0;
}

static void idmap_from(json_t *mappings, struct dj_idmap *m)
{
  json_t *first = json_array_get(mappings, 0);
  json_int_t c = json_integer_value(json_object_get(first, "containerID"));
  json_int_t h = json_integer_value(json_object_get(first, "hostID"));
  json_int_t s = json_integer_value(json_object_get(first, "size"));
  if (first && c >= 0 && h >= 0 && s > 0 && c <= UINT32_MAX && h <= UINT32_MAX && s <= UINT32_MAX) {
    m->container = (uint32_t) c;
    m->host = (uint32_t) h;
    m->size = (uint32_t) s;
  }
}

void dj_unpack_opts_map_like(struct dj_unpack_opts *o, json_t *config)
{
  json_t *linux_ = json_object_get(config, "linux");
  if (o->uid_map.size == 0)
    idmap_from(json_object_get(linux_, "uidMappings"), &o->uid_map);
  if (o->gid_map.size == 0)
    idmap_from(json_object_get(linux_, "gidMappings"), &o->gid_map);
}

int dj_unpack_root_chown(int rootfd, const struct dj_unpack_opts *o, dj_err *err)
{
  /* In a user namespace the container's root must own "/" (to create mount points there). */
  if (o->chown && o->uid_map.size > 0 && o->uid_map.container == 0 &&
      fchown(rootfd, o->uid_map.host, o->gid_map.size > 0 && o->gid_map.container == 0 ? o->gid_map.host : 0) < 0)
    return dj_error(err, errno, "chown the root to the mapped root");
  return 0;
}

int dj_image_bundle(const char *ref, EVP_PKEY *key, const struct dj_unpack_opts *o, json_t *base, const char *dir,
                    dj_err *err)
{
  bool created = mkdir(dir, 0755) == 0;
  if (!created && errno != EEXIST)
    return dj_error(err, errno, "bundle: %s", dir);
  _cleanup_close_ int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dirfd < 0)
    return dj_error(err, errno, "bundle: %s", dir);
  if (mkdirat(dirfd, "rootfs", 0755) < 0)
    return dj_error(err, errno, "bundle: %s/rootfs", dir);
  int r = -1;
  struct dj_image *img = NULL;
  _cleanup_json_ json_t *config = NULL;
  _cleanup_free_ char *s = NULL, *path = NULL;
  _cleanup_close_ int rootfd = openat(dirfd, "rootfs", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  struct dj_unpack_opts uo = *o;
  dj_unpack_opts_map_like(&uo, base);
  if (rootfd < 0) {
    dj_error(err, errno, "%s/rootfs", dir);
    goto out;
  }
  if (dj_unpack_root_chown(rootfd, &uo, err) < 0) {
    dj_err_wrap(err, "%s/rootfs", dir);
    goto out;
  }
  if (dj_image_open(ref, &img, err) < 0 || dj_image_unpack_fd(img, key, &uo, rootfd, err) < 0)
    goto out;
  config = json_deep_copy(base);
  if (dj_bundle_config_apply(config, img->config, rootfd, err) < 0)
    goto out;
  s = json_dumps(config, JSON_INDENT(2));
  path = dj_xasprintf("%s/config.json", dir);
  if (dj_write_file_atomic(path, s, strlen(s), 0644, err) < 0)
    goto out;
  r = 0;
out:
  dj_image_free(img);
  if (r < 0) {
    if (rootfd >= 0)
      dj_empty_dir(rootfd);
    unlinkat(dirfd, "rootfs", AT_REMOVEDIR);
    if (created)
      rmdir(dir);
    return dj_err_wrap(err, "bundle %s", ref);
  }
  return 0;
}
