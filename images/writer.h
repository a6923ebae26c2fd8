/* Writing OCI image layouts (oci:DIR[:TAG], oci-archive:FILE[:TAG]) as skopeo does: blobs
 * under blobs/sha256 (written to a temporary name, renamed when complete), index.json with the
 * manifest tagged by org.opencontainers.image.ref.name (an entry of the same tag is replaced). */
#ifndef DJ_IMAGES_WRITER_H
#define DJ_IMAGES_WRITER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "images/layout.h"

struct dj_layout_writer;

int dj_layout_writer_open(const char *ref, struct dj_layout_writer **out, dj_err *err);
/* A new temporary blob file to write into. */
int dj_layout_writer_blob_begin(struct dj_layout_writer *w, int *fd, dj_err *err);
/* Give the temporary blob written through fd its name (the digest of what was written). */
int dj_layout_writer_blob_commit(struct dj_layout_writer *w, int fd, const char *digest, dj_err *err);
/* Drop a temporary blob (on failure). */
void dj_layout_writer_blob_abort(struct dj_layout_writer *w, int fd);
/* Store a blob from memory; fills digest. */
int dj_layout_writer_blob_buf(struct dj_layout_writer *w, const void *buf, size_t n, char digest[DJ_DIGEST_MAX],
                              dj_err *err);
/* Store the manifest, tag it in index.json and (oci-archive) write the archive. */
int dj_layout_writer_finish(struct dj_layout_writer *w, json_t *manifest, dj_err *err);
/* Free; a writer not finished removes the blobs it wrote to a new layout. */
void dj_layout_writer_free(struct dj_layout_writer *w);

#endif
