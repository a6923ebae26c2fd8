#include "common/err.h"

#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 3, 0))) static void err_vset(dj_err *err, int errnum, const char *fmt, va_list ap)
{
  int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  if (n < 0)
    n = 0;
  if (errnum != 0 && (size_t) n < sizeof err->msg)
    snprintf(err->msg + n, sizeof err->msg - (size_t) n, ": %s", strerror(errnum));
  err->errnum = errnum;
}

int dj_error(dj_err *err, int errnum, const char *fmt, ...)
{
  if (err == NULL)
    return -1;
  va_list ap;
  va_start(ap, fmt);
  err_vset(err, errnum, fmt, ap);
  va_end(ap);
  err->code = 0;
  return -1;
}

int dj_error_code(dj_err *err, int code, const char *fmt, ...)
{
  if (err == NULL)
    return -1;
  va_list ap;
  va_start(ap, fmt);
  err_vset(err, 0, fmt, ap);
  va_end(ap);
  err->code = code;
  return -1;
}

int dj_err_wrap(dj_err *err, const char *fmt, ...)
{
  if (err == NULL)
    return -1;
  char prefix[DJ_ERR_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  size_t plen = strlen(prefix);
  size_t size = sizeof err->msg;
  if (plen + 2 >= size) {
    memcpy(err->msg, prefix, size - 1);
    err->msg[size - 1] = '\0';
    return -1;
  }
  size_t olen = strnlen(err->msg, size - 1);
  if (olen > size - 1 - plen - 2)
    olen = size - 1 - plen - 2;
  memmove(err->msg + plen + 2, err->msg, olen);
  memcpy(err->msg, prefix, plen);
  memcpy(err->msg + plen, ": ", 2);
  err->msg[plen + 2 + olen] = '\0';
  return -1;
}

void dj_err_clear(dj_err *err)
{
  if (err == NULL)
    return;
  err->errnum = 0;
  err->code = 0;
  err->msg[0] = '\0';
}
