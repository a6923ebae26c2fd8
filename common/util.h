/* Small helpers used everywhere: cleanup attributes (instead of goto ladders), checked
 * allocation, secret wiping. */
#ifndef DJ_UTIL_H
#define DJ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/err.h"

#define DJ_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

void dj_freep(void *p);
void dj_closep(int *fd);
void dj_fclosep(void *f);
void dj_strvfreep(char ***v);

#define _cleanup_free_ __attribute__((cleanup(dj_freep)))
#define _cleanup_close_ __attribute__((cleanup(dj_closep)))
#define _cleanup_fclose_ __attribute__((cleanup(dj_fclosep)))
#define _cleanup_strv_ __attribute__((cleanup(dj_strvfreep)))

/* Move ownership out of a cleanup variable. */
static inline void *dj_steal_ptr(void *pp)
{
  void **p = (void **) pp;
  void *r = *p;
  *p = NULL;
  return r;
}
static inline int dj_steal_fd(int *fd)
{
  int r = *fd;
  *fd = -1;
  return r;
}

/* Allocation that aborts on exhaustion: there is no sane recovery from it in a runtime. */
void *dj_xmalloc(size_t n);
void *dj_xcalloc(size_t n, size_t size);
void *dj_xrealloc(void *p, size_t n);
char *dj_xstrdup(const char *s);
char *dj_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Wipe a secret so the compiler cannot drop the stores. */
void dj_wipe(void *p, size_t n);

/* write()/read() the whole buffer, retrying on EINTR and short transfers. */
int dj_write_all(int fd, const void *buf, size_t n);
ssize_t dj_read_all(int fd, void *buf, size_t n);

/* Parse a whole decimal string into an unsigned/signed 64-bit value; -1 with errno on error. */
int dj_parse_u64(const char *s, uint64_t *out);
int dj_parse_i64(const char *s, int64_t *out);

/* Write a whole file atomically: a temporary file in the same directory, then rename(2). */
int dj_write_file_atomic(const char *path, const void *data, size_t n, mode_t mode, dj_err *err);

#endif
