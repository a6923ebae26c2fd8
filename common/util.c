#include "common/util.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <string.h>
#include <sys/stat.h>

void dj_freep(void *p)
{
  free(*(void **) p);
}

void dj_closep(int *fd)
{
  if (*fd >= 0) {
    int saved = errno;
    close(*fd);
    errno = saved;
  }
}

void dj_fclosep(void *f)
{
  FILE **fp = f;
  if (*fp != NULL)
    fclose(*fp);
}

void dj_strvfreep(char ***v)
{
  if (*v == NULL)
    return;
  for (char **s = *v; *s != NULL; s++)
    free(*s);
  free(*v);
}

static void *oom(void)
{
  fputs("donjon: out of memory\n", stderr);
  abort();
}

void *dj_xmalloc(size_t n)
{
  void *p = malloc(n ? n : 1);
  return p ? p : oom();
}

void *dj_xcalloc(size_t n, size_t size)
{
  void *p = calloc(n ? n : 1, size ? size : 1);
  return p ? p : oom();
}

void *dj_xrealloc(void *p, size_t n)
{
  void *r = realloc(p, n ? n : 1);
  return r ? r : oom();
}

char *dj_xstrdup(const char *s)
{
  char *r = strdup(s);
  return r ? r : oom();
}

char *dj_xasprintf(const char *fmt, ...)
{
  va_list ap;
  char *r = NULL;
  va_start(ap, fmt);
  int n = vasprintf(&r, fmt, ap);
  va_end(ap);
  return n < 0 ? oom() : r;
}

void dj_wipe(void *p, size_t n)
{
  if (p != NULL && n > 0)
    explicit_bzero(p, n);
}

int dj_write_all(int fd, const void *buf, size_t n)
{
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += w;
    n -= (size_t) w;
  }
  return 0;
}

ssize_t dj_read_all(int fd, void *buf, size_t n)
{
  char *p = buf;
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, p + got, n - got);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    if (r == 0)
      break;
    got += (size_t) r;
  }
  return (ssize_t) got;
}

int dj_parse_u64(const char *s, uint64_t *out)
{
  if (s == NULL || *s == '\0' || *s == '-' || *s == '+') {
    errno = EINVAL;
    return -1;
  }
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0)
    return -1;
  if (*end != '\0') {
    errno = EINVAL;
    return -1;
  }
  *out = v;
  return 0;
}

int dj_parse_i64(const char *s, int64_t *out)
{
  if (s == NULL || *s == '\0') {
    errno = EINVAL;
    return -1;
  }
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno != 0)
    return -1;
  if (*end != '\0') {
    errno = EINVAL;
    return -1;
  }
  *out = v;
  return 0;
}

int dj_write_file_atomic(const char *path, const void *data, size_t n, mode_t mode, dj_err *err)
{
  char tmp[PATH_MAX];
  if ((size_t) snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= sizeof tmp)
    return dj_error(err, ENAMETOOLONG, "%s", path);
  int fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0)
    return dj_error(err, errno, "%s: create a temporary file", path);
  if (fchmod(fd, mode) < 0 || dj_write_all(fd, data, n) < 0) {
    int e = errno;
    close(fd);
    unlink(tmp);
    return dj_error(err, e, "%s: write", tmp);
  }
  if (close(fd) < 0 || rename(tmp, path) < 0) {
    int e = errno;
    unlink(tmp);
    return dj_error(err, e, "%s: rename into place", path);
  }
  return 0;
}
