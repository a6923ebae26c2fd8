/* Safe unpacking of image layers into a directory. libarchive only parses the tar stream;
 * donjon creates every entry itself with *at calls on a parent directory opened by openat2
 * inside DIR (RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS), never through a symlink as the final
 * component: "../" is refused, absolute names are taken relative to DIR, links are resolved in
 * DIR, whiteouts and opaque directories (same-layer rule) applied, an entry replaces a non-dir
 * (never merges), device nodes refused, setuid/setgid dropped, xattrs filtered (user.* only;
 * security.capability with keep_setid), ownership remapped, sizes, entries and depth bounded.
 * A failed unpack removes everything it wrote and names the entry and the reason. */
#ifndef DJ_IMAGES_UNPACK_H
#define DJ_IMAGES_UNPACK_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "images/layout.h"

struct dj_idmap {
  uint32_t container, host, size; /* size 0: identity */
};

/* The host id of a container id (what names it, e.g. "uid", in the error): an id outside the map is
 * refused, not passed through. */
int dj_idmap_apply(const struct dj_idmap *m, int64_t id, const char *what, uint32_t *out, dj_err *err);

struct dj_unpack_opts {
  bool allow_devices;       /* create device nodes instead of refusing them */
  bool keep_setid;          /* keep setuid/setgid bits and security.capability */
  bool chown;               /* set ownership (default: when running as root) */
  struct dj_idmap uid_map, gid_map;
  uint64_t max_layer_size;  /* bytes of one layer's tar */
  uint64_t max_file_size;   /* apparent size of one file */
  uint64_t max_total_size;  /* apparent bytes of all files */
  uint64_t max_entries;     /* entries of all layers */
  unsigned max_depth;       /* components of a path */
};

void dj_unpack_opts_default(struct dj_unpack_opts *o);

/* Unpack an opened image into the empty directory dirfd (the launcher's call). */
int dj_image_unpack_fd(struct dj_image *img, EVP_PKEY *key, const struct dj_unpack_opts *o, int dirfd, dj_err *err);
/* The same with the layers' secrets from keys (images/layerstream.h): a KEK, or the private
 * options the verifier released (the confidential launch). */
struct dj_layer_keys;
int dj_image_unpack_keys(struct dj_image *img, const struct dj_layer_keys *keys, const struct dj_unpack_opts *o,
                         int dirfd, dj_err *err);
/* Unpack one tar stream (compressed as comp, not encrypted) read from fd into the directory dirfd,
 * with the same rules; no digest is checked (the caller's stream is trusted to be what it is). */
int dj_unpack_tar_fd(int fd, enum dj_compression comp, const struct dj_unpack_opts *o, int dirfd, dj_err *err);
/* Unpack ref into dir, which must not exist or be empty (created if missing). */
int dj_image_unpack(const char *ref, EVP_PKEY *key, const struct dj_unpack_opts *o, const char *dir, dj_err *err);
/* An OCI bundle: dir/rootfs unpacked, dir/config.json = base (a profile's config.json, e.g.
 * dj_profile_default() or dj_profile_confidential() of sandbox/profile.h) with the image config's
 * Entrypoint, Cmd, Env, WorkingDir and User applied. When base maps users (linux.uidMappings), the
 * rootfs ownership is remapped to match unless o already maps. */
int dj_image_bundle(const char *ref, EVP_PKEY *key, const struct dj_unpack_opts *o, json_t *base,
                    const char *dir, dj_err *err);
/* Map ownership as config.json's first linux.uidMappings/gidMappings do (unless o maps already). */
void dj_unpack_opts_map_like(struct dj_unpack_opts *o, json_t *config);
/* Give the root directory rootfd to the container's mapped root (when o maps container root). */
int dj_unpack_root_chown(int rootfd, const struct dj_unpack_opts *o, dj_err *err);
/* Apply the image config (its "config" object) to a config.json document; rootfd (or -1) is the
 * unpacked rootfs, for user names in etc/passwd and etc/group. */
int dj_bundle_config_apply(json_t *config, json_t *image_config, int rootfd, dj_err *err);

#endif
