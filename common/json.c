#include "common/json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

void dj_json_decrefp(json_t **j)
{
  json_decref(*j);
}

int dj_json_load_buf(const char *buf, size_t len, json_t **out, dj_err *err)
{
  json_error_t jerr;
  json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
  if (j == NULL)
    return dj_error(err, 0, "invalid JSON at line %d column %d: %s", jerr.line, jerr.column, jerr.text);
  if (!json_is_object(j)) {
    const char *t = dj_json_type_name(j);
    json_decref(j);
    return dj_error(err, 0, "expected a JSON object, got %s", t);
  }
  *out = j;
  return 0;
}

int dj_json_load_fd(int fd, size_t max_size, json_t **out, dj_err *err)
{
  size_t cap = 8192, len = 0;
  _cleanup_free_ char *buf = dj_xmalloc(cap);
  for (;;) {
    if (len == cap) {
      if (cap > max_size)
        return dj_error(err, 0, "larger than %zu bytes", max_size);
      cap *= 2;
      buf = dj_xrealloc(buf, cap);
    }
    ssize_t r = read(fd, buf + len, cap - len);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return dj_error(err, errno, "read");
    }
    if (r == 0)
      break;
    len += (size_t) r;
    if (len > max_size)
      return dj_error(err, 0, "larger than %zu bytes", max_size);
  }
  return dj_json_load_buf(buf, len, out, err);
}

int dj_json_load_file(const char *file, size_t max_size, json_t **out, dj_err *err)
{
  _cleanup_close_ int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return dj_error(err, errno, "%s: open", file);
  if (dj_json_load_fd(fd, max_size, out, err) < 0)
    return dj_err_wrap(err, "%s", file);
  return 0;
}

void dj_jpath_key(char out[DJ_JPATH_MAX], const char *parent, const char *key)
{
  if (parent == NULL || *parent == '\0')
    snprintf(out, DJ_JPATH_MAX, "%s", key);
  else
    snprintf(out, DJ_JPATH_MAX, "%s.%s", parent, key);
}

void dj_jpath_index(char out[DJ_JPATH_MAX], const char *parent, size_t idx)
{
  snprintf(out, DJ_JPATH_MAX, "%s[%zu]", parent ? parent : "", idx);
}

const char *dj_json_type_name(const json_t *j)
{
  switch (json_typeof(j)) {
  case JSON_OBJECT: return "object";
  case JSON_ARRAY: return "array";
  case JSON_STRING: return "string";
  case JSON_INTEGER: return "integer";
  case JSON_REAL: return "number";
  case JSON_TRUE:
  case JSON_FALSE: return "boolean";
  case JSON_NULL: return "null";
  }
  return "unknown";
}

/* Look up key; 0 if absent or null, 1 if present. */
static int member(json_t *obj, const char *key, json_t **v)
{
  *v = obj ? json_object_get(obj, key) : NULL;
  return *v != NULL && !json_is_null(*v);
}

static int type_error(const char *path, const char *key, const char *want, json_t *v, dj_err *err)
{
  char p[DJ_JPATH_MAX];
  dj_jpath_key(p, path, key);
  return dj_error(err, 0, "%s: expected %s, got %s", p, want, dj_json_type_name(v));
}

int dj_json_opt_string(json_t *obj, const char *key, const char *path, const char **out, dj_err *err)
{
  json_t *v;
  if (!member(obj, key, &v))
    return 0;
  if (!json_is_string(v))
    return type_error(path, key, "a string", v, err);
  *out = json_string_value(v);
  return 1;
}

int dj_json_opt_bool(json_t *obj, const char *key, const char *path, bool *out, dj_err *err)
{
  json_t *v;
  if (!member(obj, key, &v))
    return 0;
  if (!json_is_boolean(v))
    return type_error(path, key, "a boolean", v, err);
  *out = json_is_true(v);
  return 1;
}

int dj_json_opt_int64(json_t *obj, const char *key, const char *path, int64_t min, int64_t max,
                      int64_t *out, dj_err *err)
{
  json_t *v;
  if (!member(obj, key, &v))
    return 0;
  if (!json_is_integer(v))
    return type_error(path, key, "an integer", v, err);
  json_int_t x = json_integer_value(v);
  if (x < min || x > max) {
    char p[DJ_JPATH_MAX];
    dj_jpath_key(p, path, key);
    return dj_error(err, 0, "%s: %lld is out of range [%lld, %lld]", p, (long long) x, (long long) min,
                    (long long) max);
  }
  *out = x;
  return 1;
}

int dj_json_opt_uint64(json_t *obj, const char *key, const char *path, uint64_t max, uint64_t *out,
                       dj_err *err)
{
  int64_t v;
  int r = dj_json_opt_int64(obj, key, path, 0, max > INT64_MAX ? INT64_MAX : (int64_t) max, &v, err);
  if (r == 1)
    *out = (uint64_t) v;
  return r;
}

int dj_json_opt_object(json_t *obj, const char *key, const char *path, json_t **out, dj_err *err)
{
  json_t *v;
  if (!member(obj, key, &v))
    return 0;
  if (!json_is_object(v))
    return type_error(path, key, "an object", v, err);
  *out = v;
  return 1;
}

int dj_json_opt_array(json_t *obj, const char *key, const char *path, json_t **out, dj_err *err)
{
  json_t *v;
  if (!member(obj, key, &v))
    return 0;
  if (!json_is_array(v))
    return type_error(path, key, "an array", v, err);
  *out = v;
  return 1;
}

static int missing(const char *path, const char *key, dj_err *err)
{
  char p[DJ_JPATH_MAX];
  dj_jpath_key(p, path, key);
  return dj_error(err, 0, "%s: missing", p);
}

int dj_json_req_string(json_t *obj, const char *key, const char *path, const char **out, dj_err *err)
{
  int r = dj_json_opt_string(obj, key, path, out, err);
  return r == 0 ? missing(path, key, err) : r;
}

int dj_json_req_object(json_t *obj, const char *key, const char *path, json_t **out, dj_err *err)
{
  int r = dj_json_opt_object(obj, key, path, out, err);
  return r == 0 ? missing(path, key, err) : r;
}

int dj_json_req_array(json_t *obj, const char *key, const char *path, json_t **out, dj_err *err)
{
  int r = dj_json_opt_array(obj, key, path, out, err);
  return r == 0 ? missing(path, key, err) : r;
}

int dj_json_string_vector(json_t *arr, const char *path, const char ***out, size_t *n, dj_err *err)
{
  size_t len = json_array_size(arr);
  const char **v = dj_xcalloc(len + 1, sizeof *v);
  for (size_t i = 0; i < len; i++) {
    json_t *e = json_array_get(arr, i);
    if (!json_is_string(e)) {
      char p[DJ_JPATH_MAX];
      dj_jpath_index(p, path, i);
      free(v);
      return dj_error(err, 0, "%s: expected a string, got %s", p, dj_json_type_name(e));
    }
    v[i] = json_string_value(e);
  }
  *out = v;
  if (n != NULL)
    *n = len;
  return 0;
}

char *dj_json_canonical(const json_t *j)
{
  return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
}
