/* A layer blob as a stream of tar bytes: read from a staged (sealed) fd, decrypted with
 * AES-256-CTR when a secret is given (its HMAC must have been checked already), decompressed
 * (gzip with zlib, zstd with libzstd), with the digest of the compressed plaintext and the diff_id
 * (digest of the tar) computed on the way, and a bound on the tar size (decompression bombs). */
#ifndef DJ_IMAGES_LAYERSTREAM_H
#define DJ_IMAGES_LAYERSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/err.h"
#include "images/layout.h"
#include "images/ocicrypt.h"

struct dj_layer_stream;

/* tee_fd >= 0: the compressed plaintext is also written there (decrypting to a new layout). */
int dj_layer_stream_open(int fd, enum dj_compression comp, const struct dj_layer_secret *secret,
                         uint64_t max_tar_size, int tee_fd, struct dj_layer_stream **out, dj_err *err);
/* Read up to n tar bytes; 0 at the end. */
ssize_t dj_layer_stream_read(struct dj_layer_stream *s, void *buf, size_t n, dj_err *err);
/* Read to the end (discarding) and give both digests. */
int dj_layer_stream_finish(struct dj_layer_stream *s, char compressed_digest[DJ_DIGEST_MAX],
                           char diff_id[DJ_DIGEST_MAX], dj_err *err);
uint64_t dj_layer_stream_tar_size(const struct dj_layer_stream *s);
void dj_layer_stream_free(struct dj_layer_stream *s);



/* One layer of an image as a checked tar stream: the blob staged (digest and size checked),
 * for an encrypted layer the key unwrapped with key and the HMAC verified, all before the first
 * byte is returned; dj_layer_reader_finish checks the private options' digest and the config's
 * diff_id. */
struct dj_layer_reader {
  struct dj_layer_stream *stream;
  int fd;                       /* the sealed staging memfd */
  bool encrypted;
  struct dj_layer_secret secret;
  const struct dj_descriptor *desc;
  const char *diff_id;
  size_t index;
};
/* Where an encrypted layer's secret comes from: the private key (KEK) one of its JWE recipients
 * was encrypted to, or, in the confidential launch, a function that gives the private options the
 * verifier released for that layer (the JSON a recipient JWE holds). The HMAC still comes from the
 * layer's own pubopts annotation and is checked the same way. */
struct dj_layer_keys {
  EVP_PKEY *kek;
  /* Fill *json / *len with the layer's private options (malloc'd; wiped and freed by the caller). */
  int (*released)(void *ctx, const struct dj_descriptor *d, size_t index, uint8_t **json, size_t *len, dj_err *err);
  void *ctx;
};
int dj_layer_reader_open_keys(struct dj_image *img, size_t i, const struct dj_layer_keys *keys, uint64_t max_tar_size,
                              int tee_fd, struct dj_layer_reader **out, dj_err *err);
/* The same with a KEK (or NULL for an image without encrypted layers). */
int dj_layer_reader_open(struct dj_image *img, size_t i, EVP_PKEY *key, uint64_t max_tar_size, int tee_fd,
                         struct dj_layer_reader **out, dj_err *err);
/* Drain and check; plain_digest gets the digest of the decrypted (still compressed) blob. */
int dj_layer_reader_finish(struct dj_layer_reader *r, char plain_digest[DJ_DIGEST_MAX], dj_err *err);
void dj_layer_reader_free(struct dj_layer_reader *r);
#endif
