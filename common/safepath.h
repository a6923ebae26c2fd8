/* Paths inside a root (a container rootfs, an unpack directory) are resolved with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): symlinks are followed as if the root were "/",
 * so no ".." or absolute link leads outside, and no /proc magic link is crossed. */
#ifndef DJ_SAFEPATH_H
#define DJ_SAFEPATH_H

#include <linux/openat2.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"

#define DJ_RESOLVE_ROOT_FLAGS (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)

/* The raw syscall (glibc 2.36 has no wrapper). */
int dj_openat2(int dirfd, const char *path, int flags, mode_t mode, uint64_t resolve);

/* Open path inside rootfd. Returns the fd or -1 with err naming the path. */
int dj_open_in_root(int rootfd, const char *path, int flags, mode_t mode, dj_err *err);

/* Create every missing directory of path inside rootfd and return an O_PATH directory fd of it. */
int dj_mkdirs_in_root(int rootfd, const char *path, mode_t mode, dj_err *err);

/* Make sure path exists inside rootfd as a regular file (creating it and its parents, as a
 * bind-mount target for a file) and return an O_PATH fd of it. An existing directory is an error. */
int dj_mkfile_in_root(int rootfd, const char *path, mode_t mode, dj_err *err);

/* The next component of a '/'-separated path, skipping empty ones: returns its start and sets
 * *len, advancing *cursor past it; NULL at the end. for (c = dj_path_next(&p, &n); c; ...) */
const char *dj_path_next(const char **cursor, size_t *len);

/* Split "a/b/c" into parent "a/b" and base "c" (in a caller buffer of PATH_MAX). Returns the base or
 * NULL if path has no final component ("/", "", "..", "a/.."). */
const char *dj_path_split(const char *path, char *parent, size_t parent_size);

#endif
