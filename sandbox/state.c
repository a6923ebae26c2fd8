#include "sandbox/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/json.h"
#include "common/util.h"

int dj_state_create(const char *root, const char *id, dj_err *err)
{
  if (mkdir(root, 0700) < 0 && errno != EEXIST)
    return dj_error(err, errno, "state directory %s", root);
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

int dj_state_write(const char *root, const char *id, const struct dj_spec *spec, const char *bundle, pid_t pid,
                   const char *status, dj_err *err)
{
  _cleanup_json_ json_t *st = json_pack("{s:s, s:s, s:s, s:i, s:s}", "ociVersion", "1.2.0", "id", id, "status",
                                        status, "pid", (json_int_t) pid, "bundle", bundle);
  if (st == NULL)
    return dj_error(err, ENOMEM, "state.json");
  if (spec->annotations != NULL)
    json_object_set(st, "annotations", spec->annotations);
  _cleanup_free_ char *text = json_dumps(st, JSON_COMPACT);
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s/state.json", root, id);
  return dj_write_file_atomic(path, text, strlen(text), 0600, err);
}

void dj_state_remove(const char *root, const char *id)
{
  char dir[PATH_MAX];
  if ((size_t) snprintf(dir, sizeof dir, "%s/%s", root, id) >= sizeof dir)
    return;
  _cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd >= 0) {
    DIR *d = fdopendir(dup(dfd));
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL)
      if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
        unlinkat(dfd, e->d_name, 0);
    if (d != NULL)
      closedir(d);
  }
  rmdir(dir);
}
