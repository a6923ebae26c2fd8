/* The one error convention of donjon (after crun's libcrun_error_t).
 *
 * A function that can fail returns a negative value and fills a dj_err: the errno (0 when the
 * failure is not a system error) and a message. Callers add context from the outside in with
 * dj_err_wrap(), so a message reads "create: mount /proc: Operation not permitted".
 * Libraries never print; the CLI prints err.msg once. */
#ifndef DJ_ERR_H
#define DJ_ERR_H

#include <stdarg.h>
#include <stddef.h>

#define DJ_ERR_MSG_MAX 1024

typedef struct dj_err {
  int errnum;                 /* errno of the failure, 0 if not a system error */
  int code;                   /* module-specific code (e.g. which quote check failed), 0 if none */
  char msg[DJ_ERR_MSG_MAX];
} dj_err;

/* Fill err with "fmt...: strerror(errnum)" (errnum 0: no suffix). Returns -1. */
int dj_error(dj_err *err, int errnum, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Same, with a module-specific code. Returns -1. */
int dj_error_code(dj_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Prefix the existing message with "fmt...: ". Returns -1. */
int dj_err_wrap(dj_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Forget a failure (e.g. after a handled fallback). */
void dj_err_clear(dj_err *err);

#endif
