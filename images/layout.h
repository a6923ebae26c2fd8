/* Reading OCI image layouts: oci:DIR[:TAG] and oci-archive:FILE[:TAG] references, oci-layout,
 * index.json (nested indexes, selection by org.opencontainers.image.ref.name), the manifest and
 * the config. Every blob is checked against its digest and size before it is used: JSON blobs are
 * read once into memory and checked there, layer blobs are copied once into a private memfd while
 * hashed (dj_image_blob_stage), so a blob that changes under us is never used unchecked.
 * Descriptors with external urls are refused. */
#ifndef DJ_IMAGES_LAYOUT_H
#define DJ_IMAGES_LAYOUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"

#define DJ_DIGEST_MAX 72                     /* "sha256:" + 64 hex + NUL */
#define DJ_IMAGE_JSON_MAX (4u << 20)         /* index, manifest and config blobs */
#define DJ_IMAGE_MAX_LAYERS 256
#define DJ_IMAGE_MAX_INDEX_DEPTH 4
#define DJ_IMAGE_MAX_NESTED_INDEXES 64   /* nested index blobs read to find a tag */

#define DJ_MT_INDEX "application/vnd.oci.image.index.v1+json"
#define DJ_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define DJ_MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define DJ_MT_LAYER "application/vnd.oci.image.layer.v1.tar"
#define DJ_ANNOT_REF_NAME "org.opencontainers.image.ref.name"

enum dj_compression { DJ_COMP_NONE, DJ_COMP_GZIP, DJ_COMP_ZSTD };

struct dj_descriptor {
  char *media_type;
  char digest[DJ_DIGEST_MAX];
  uint64_t size;
  json_t *annotations;   /* owned reference, NULL if none */
  json_t *raw;           /* the descriptor object as read (owned reference) */
  /* for layers */
  enum dj_compression compression;
  bool encrypted;
};

struct dj_image {
  int dirfd;                     /* the layout directory */
  char *tmpdir;                  /* oci-archive: where it was extracted (removed by dj_image_free) */
  char *ref_name;                /* the tag asked for, or NULL */
  struct dj_descriptor manifest_desc;
  json_t *manifest;
  struct dj_descriptor config_desc;
  json_t *config;
  size_t n_layers;
  struct dj_descriptor *layers;
  char **diff_ids;               /* config rootfs.diff_ids, n_layers of them */
};

/* Split "oci:DIR[:TAG]" / "oci-archive:FILE[:TAG]" (the path ends at the first ':', as in skopeo). */
int dj_image_ref_parse(const char *ref, bool *archive, char **path, char **tag, dj_err *err);

/* Open an image reference and read its manifest and config, all checked. */
int dj_image_open(const char *ref, struct dj_image **out, dj_err *err);
void dj_image_free(struct dj_image *img);

/* Read a small blob of the layout into memory, checked against the descriptor. */
int dj_image_blob_read(int dirfd, const struct dj_descriptor *d, size_t max, uint8_t **out, dj_err *err);
/* Copy a blob once into a sealed memfd while hashing it; fails (and closes) on a digest or size
 * mismatch. Returns the memfd at offset 0. */
int dj_image_blob_stage(int dirfd, const struct dj_descriptor *d, dj_err *err);

/* Parse one descriptor (refusing urls); path names it in errors. */
int dj_descriptor_parse(json_t *j, const char *path, struct dj_descriptor *d, dj_err *err);
void dj_descriptor_clear(struct dj_descriptor *d);
/* Layer media type: tar, tar+gzip, tar+zstd, each optionally +encrypted. */
int dj_layer_media_type_parse(const char *mt, enum dj_compression *comp, bool *encrypted);
const char *dj_layer_media_type(enum dj_compression comp, bool encrypted);
/* "sha256:<64 lowercase hex>" */
bool dj_digest_valid(const char *digest);
/* Parse manifest JSON into img's manifest, config descriptor and layers (no I/O). */
int dj_manifest_parse(json_t *manifest, struct dj_image *img, dj_err *err);
/* Parse the config JSON's rootfs.diff_ids against img->n_layers (no I/O). */
int dj_config_parse(json_t *config, struct dj_image *img, dj_err *err);
/* Select a manifest descriptor from an index object, descending nested indexes through dirfd
 * (dirfd -1: nested indexes are an error). tag may be NULL. */
int dj_index_select(int dirfd, json_t *index, const char *tag, struct dj_descriptor *out, dj_err *err);

#endif
