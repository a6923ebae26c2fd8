#include "common/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

static int log_fd = 2;
static enum dj_log_format log_format = DJ_LOG_TEXT;
static enum dj_log_level log_level = DJ_LOG_WARNING;

static const char *const level_names[] = { "error", "warning", "info", "debug" };

void dj_log_setup(int fd, enum dj_log_format format, enum dj_log_level level)
{
  if (fd >= 0)
    log_fd = fd;
  log_format = format;
  log_level = level;
}

int dj_log_format_parse(const char *s, enum dj_log_format *out)
{
  if (strcmp(s, "text") == 0)
    *out = DJ_LOG_TEXT;
  else if (strcmp(s, "json") == 0)
    *out = DJ_LOG_JSON;
  else
    return -1;
  return 0;
}

enum dj_log_level dj_log_get_level(void)
{
  return log_level;
}

int dj_log_get_fd(void)
{
  return log_fd;
}

enum dj_log_format dj_log_get_format(void)
{
  return log_format;
}

static void format_time(char *buf, size_t n)
{
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t k = strftime(buf, n, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + k, n - k, ".%09ldZ", ts.tv_nsec);
}

void dj_log(enum dj_log_level level, const char *fmt, ...)
{
  if (level > log_level)
    return;
  char msg[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  char when[64];
  format_time(when, sizeof when);

  if (log_format == DJ_LOG_JSON) {
    json_t *o = json_pack("{s:s, s:s, s:s}", "level", level_names[level], "msg", msg, "time", when);
    char *line = o ? json_dumps(o, JSON_COMPACT) : NULL;
    if (line != NULL) {
      struct iovec iov[2] = { { line, strlen(line) }, { (void *) "\n", 1 } };
      (void) !writev(log_fd, iov, 2);
    }
    free(line);
    json_decref(o);
    return;
  }
  char line[4300];
  int n = snprintf(line, sizeof line, "%s %s: %s\n", when, level_names[level], msg);
  if (n > 0)
    (void) !write(log_fd, line, (size_t) n < sizeof line ? (size_t) n : sizeof line - 1);
}
