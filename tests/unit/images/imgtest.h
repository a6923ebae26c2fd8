/* Test helpers for images/: tar layers written with libarchive's writer, gzip with zlib, and
 * OCI layouts assembled with sha256 (OpenSSL) in a temporary directory. */
#ifndef DJ_TESTS_IMGTEST_H
#define DJ_TESTS_IMGTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct tentry {
  char type;              /* 'f' file, 'd' dir, 'l' symlink, 'h' hardlink, 'c' char dev, 'b' block dev, 'p' fifo */
  const char *name;
  const char *target;     /* symlink or hardlink target */
  unsigned mode;          /* permission bits (0: 0644 / 0755; TT_MODE0: none at all) */
  const char *data;       /* file content */
  int64_t size;           /* declared size when > 0 and no data (sparse: a hole of that size) */
  int uid, gid;
  const char *xattr;      /* "name=value" */
};

#define TT_MODE0 010000u  /* outside 07777: a mode of 0000 */

struct tbuf {
  uint8_t *p;
  size_t n;
};

struct tbuf tt_tar(const struct tentry *e, size_t n);
struct tbuf tt_gzip(struct tbuf in);
/* Write an OCI layout with the given layers (media type by compression: 0 tar, 1 gzip) and diff_ids
 * computed from the uncompressed tars, tagged "latest". Returns the layout directory (malloc'd). */
char *tt_layout(const char *parent, const char *name, struct tbuf *tars, size_t n, bool gzip);
/* Same with comp 0 (tar), 1 (gzip) or 2 (zstd). */
char *tt_layout_comp(const char *parent, const char *name, struct tbuf *tars, size_t n, int comp);
struct tbuf tt_zstd(struct tbuf in);
/* A fresh directory under /tmp (malloc'd). */
char *tt_tmpdir(void);
void tt_rmrf(const char *path);
/* Number of entries in a directory (-1 if missing). */
int tt_count(const char *dir);
/* sha256:hex of a buffer. */
void tt_digest(const void *p, size_t n, char out[72]);
/* Replace the blob of layer i (re-digesting the manifest and index, as an attacker controlling the
 * registry would). mutate gets the blob to change in place (its length may shrink). */
void tt_rewrite_layer(const char *layout, size_t i, void (*mutate)(uint8_t *p, size_t *n, void *arg), void *arg);
/* Replace the config's diff_ids[i] (re-digesting config, manifest and index). */
void tt_rewrite_diff_id(const char *layout, size_t i, const char *diff_id);
/* Change the manifest with f (re-digesting it and the index). */
struct json_t;
void tt_rewrite_manifest(const char *layout, void (*f)(struct json_t *m, void *arg), void *arg);
/* Read a file fully (malloc'd, NUL-terminated). */
char *tt_read(const char *path, size_t *n);
void tt_write(const char *path, const void *p, size_t n);

#endif
