/* oci-archive: an OCI layout in a tar file. Reading extracts only the layout's own files
 * (oci-layout, index.json, blobs/sha256/<hex>) into a private temporary directory; writing tars
 * a layout directory. libarchive parses the tar; donjon decides what is written where. */
#ifndef DJ_IMAGES_ARCHIVE_H
#define DJ_IMAGES_ARCHIVE_H

#include <stdint.h>

#include "common/err.h"

#define DJ_OCI_ARCHIVE_MAX_ENTRIES 100000
/* A compressed archive may expand to at most this many times its size (at least the floor),
 * and never beyond the cap: a decompression bomb stops there instead of filling $TMPDIR. */
#define DJ_OCI_ARCHIVE_MAX_RATIO 32
#define DJ_OCI_ARCHIVE_MIN_BOUND (16ull << 20)
#define DJ_OCI_ARCHIVE_MAX_BYTES (64ull << 30)

/* Extract FILE into a new directory under $TMPDIR (default /var/tmp); *tmpdir is malloc'd and
 * the caller removes it (dj_remove_tree). Nothing is left behind on failure. */
int dj_oci_archive_extract(const char *file, char **tmpdir, dj_err *err);
/* Write the layout directory dir as a tar archive at file (replaced atomically). */
int dj_oci_archive_write(const char *dir, const char *file, dj_err *err);

#endif
