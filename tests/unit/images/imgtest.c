#include "imgtest.h"

#include <archive.h>
#include <archive_entry.h>
#include <criterion/criterion.h>
#include <dirent.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

static la_ssize_t mem_write(struct archive *a, void *data, const void *buf, size_t n)
{
  struct tbuf *b = data;
  b->p = realloc(b->p, b->n + n);
  memcpy(b->p + b->n, buf, n);
  b->n += n;
  return (la_ssize_t) n;
}

struct tbuf tt_tar(const struct tentry *e, size_t n)
{
  struct tbuf b = { 0 };
  struct archive *a = archive_write_new();
  archive_write_set_format_pax(a);
  archive_write_set_bytes_in_last_block(a, 1);
  cr_assert_eq(archive_write_open(a, &b, NULL, mem_write, NULL), ARCHIVE_OK);
  for (size_t i = 0; i < n; i++) {
    struct archive_entry *ae = archive_entry_new();
    archive_entry_set_pathname(ae, e[i].name);
    archive_entry_set_uid(ae, e[i].uid);
    archive_entry_set_gid(ae, e[i].gid);
    archive_entry_set_mtime(ae, 1000000000, 0);
    unsigned mode = e[i].mode;
    size_t dlen = e[i].data ? strlen(e[i].data) : 0;
    switch (e[i].type) {
    case 'f':
      archive_entry_set_filetype(ae, AE_IFREG);
      archive_entry_set_perm(ae, mode ? mode & 07777 : 0644);
      if (e[i].size > 0 && e[i].data == NULL) {
        archive_entry_set_size(ae, e[i].size);
        archive_entry_sparse_add_entry(ae, e[i].size - 4096, 4096); /* a hole, then 4 KiB */
      } else {
        archive_entry_set_size(ae, (la_int64_t) dlen);
      }
      break;
    case 'd':
      archive_entry_set_filetype(ae, AE_IFDIR);
      archive_entry_set_perm(ae, mode ? mode & 07777 : 0755);
      break;
    case 'l':
      archive_entry_set_filetype(ae, AE_IFLNK);
      archive_entry_set_perm(ae, 0777);
      archive_entry_set_symlink(ae, e[i].target);
      break;
    case 'h':
      archive_entry_set_filetype(ae, AE_IFREG);
      archive_entry_set_perm(ae, mode ? mode & 07777 : 0644);
      archive_entry_set_hardlink(ae, e[i].target);
      archive_entry_set_size(ae, 0);
      break;
    case 'c':
    case 'b':
      archive_entry_set_filetype(ae, e[i].type == 'c' ? AE_IFCHR : AE_IFBLK);
      archive_entry_set_perm(ae, mode ? mode & 07777 : 0666);
      archive_entry_set_rdev(ae, makedev(1, 3));
      break;
    case 'p':
      archive_entry_set_filetype(ae, AE_IFIFO);
      archive_entry_set_perm(ae, mode ? mode & 07777 : 0644);
      break;
    }
    if (e[i].xattr) {
      char *x = strdup(e[i].xattr);
      char *eq = strchr(x, '=');
      *eq = '\0';
      archive_entry_xattr_add_entry(ae, x, eq + 1, strlen(eq + 1));
      free(x);
    }
    cr_assert_eq(archive_write_header(a, ae), ARCHIVE_OK, "%s", archive_error_string(a));
    if (e[i].type == 'f' && dlen)
      cr_assert_eq(archive_write_data(a, e[i].data, dlen), (la_ssize_t) dlen);
    if (e[i].type == 'f' && e[i].size > 0 && e[i].data == NULL) {
      char tail[4096];
      memset(tail, 's', sizeof tail);
      cr_assert_eq(archive_write_data(a, tail, sizeof tail), (la_ssize_t) sizeof tail);
    }
    archive_entry_free(ae);
  }
  archive_write_close(a);
  archive_write_free(a);
  return b;
}

struct tbuf tt_gzip(struct tbuf in)
{
  z_stream z = { 0 };
  cr_assert_eq(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
  struct tbuf out = { .p = malloc(deflateBound(&z, in.n) + 64) };
  z.next_in = in.p;
  z.avail_in = (uInt) in.n;
  z.next_out = out.p;
  z.avail_out = (uInt) deflateBound(&z, in.n) + 64;
  cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.n = z.total_out;
  deflateEnd(&z);
  return out;
}

void tt_digest(const void *p, size_t n, char out[72])
{
  unsigned char md[32];
  EVP_Digest(p, n, md, NULL, EVP_sha256(), NULL);
  int o = sprintf(out, "sha256:");
  for (int i = 0; i < 32; i++)
    o += sprintf(out + o, "%02x", md[i]);
}

void tt_write(const char *path, const void *p, size_t n)
{
  FILE *f = fopen(path, "wb");
  cr_assert_not_null(f, "%s", path);
  cr_assert_eq(fwrite(p, 1, n, f), n);
  fclose(f);
}

char *tt_read(const char *path, size_t *n)
{
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *p = malloc((size_t) len + 1);
  cr_assert_eq(fread(p, 1, (size_t) len, f), (size_t) len);
  p[len] = '\0';
  fclose(f);
  if (n)
    *n = (size_t) len;
  return p;
}

static void put_blob(const char *layout, const void *p, size_t n, char digest[72])
{
  tt_digest(p, n, digest);
  char path[4096];
  snprintf(path, sizeof path, "%s/blobs/sha256/%s", layout, digest + 7);
  tt_write(path, p, n);
}

static void put_json_blob(const char *layout, json_t *j, char digest[72], size_t *size)
{
  char *s = json_dumps(j, JSON_COMPACT);
  *size = strlen(s);
  put_blob(layout, s, *size, digest);
  free(s);
}

static void write_index(const char *layout, const char *mdigest, size_t msize)
{
  json_t *index = json_pack("{s:i, s:[{s:s, s:s, s:I, s:{s:s}}]}", "schemaVersion", 2, "manifests", "mediaType",
                            "application/vnd.oci.image.manifest.v1+json", "digest", mdigest, "size",
                            (json_int_t) msize, "annotations", "org.opencontainers.image.ref.name", "latest");
  char path[4096];
  snprintf(path, sizeof path, "%s/index.json", layout);
  char *s = json_dumps(index, JSON_COMPACT);
  tt_write(path, s, strlen(s));
  free(s);
  json_decref(index);
}

struct tbuf tt_zstd(struct tbuf in)
{
  struct tbuf out = { .p = malloc(ZSTD_compressBound(in.n)) };
  out.n = ZSTD_compress(out.p, ZSTD_compressBound(in.n), in.p, in.n, 3);
  cr_assert(!ZSTD_isError(out.n));
  return out;
}

char *tt_layout(const char *parent, const char *name, struct tbuf *tars, size_t n, bool gzip)
{
  return tt_layout_comp(parent, name, tars, n, gzip ? 1 : 0);
}

char *tt_layout_comp(const char *parent, const char *name, struct tbuf *tars, size_t n, int comp)
{
  static const char *types[] = { "application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip",
                                 "application/vnd.oci.image.layer.v1.tar+zstd" };
  char *dir = NULL;
  cr_assert_gt(asprintf(&dir, "%s/%s", parent, name), 0);
  char path[4096];
  mkdir(dir, 0755);
  snprintf(path, sizeof path, "%s/blobs", dir);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/blobs/sha256", dir);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/oci-layout", dir);
  tt_write(path, "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
  json_t *diff_ids = json_array(), *layers = json_array();
  for (size_t i = 0; i < n; i++) {
    char d[72];
    tt_digest(tars[i].p, tars[i].n, d);
    json_array_append_new(diff_ids, json_string(d));
    struct tbuf blob = comp == 1 ? tt_gzip(tars[i]) : comp == 2 ? tt_zstd(tars[i]) : tars[i];
    put_blob(dir, blob.p, blob.n, d);
    json_array_append_new(layers, json_pack("{s:s, s:s, s:I}", "mediaType", types[comp], "digest", d, "size",
                                            (json_int_t) blob.n));
    if (comp != 0)
      free(blob.p);
  }
  json_t *config = json_pack("{s:s, s:s, s:{s:[s], s:[s, s], s:s}, s:{s:s, s:o}}", "architecture", "amd64", "os",
                             "linux", "config", "Env", "PATH=/bin", "Cmd", "/bin/sh", "-c", "WorkingDir", "/",
                             "rootfs", "type", "layers", "diff_ids", diff_ids);
  char cd[72], md[72];
  size_t cs, ms;
  put_json_blob(dir, config, cd, &cs);
  json_t *manifest = json_pack("{s:i, s:s, s:{s:s, s:s, s:I}, s:o}", "schemaVersion", 2, "mediaType",
                               "application/vnd.oci.image.manifest.v1+json", "config", "mediaType",
                               "application/vnd.oci.image.config.v1+json", "digest", cd, "size", (json_int_t) cs,
                               "layers", layers);
  put_json_blob(dir, manifest, md, &ms);
  write_index(dir, md, ms);
  json_decref(config);
  json_decref(manifest);
  return dir;
}

char *tt_tmpdir(void)
{
  char *d = strdup("/tmp/dj-images-test-XXXXXX");
  cr_assert_not_null(mkdtemp(d));
  return d;
}

void tt_rmrf(const char *path)
{
  char *cmd = NULL;
  cr_assert_gt(asprintf(&cmd, "rm -rf '%s'", path), 0);
  cr_assert_eq(system(cmd), 0);
  free(cmd);
}

int tt_count(const char *dir)
{
  DIR *d = opendir(dir);
  if (d == NULL)
    return -1;
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
      n++;
  closedir(d);
  return n;
}

static json_t *load_manifest(const char *layout, char mpath[4096])
{
  char path[4096];
  snprintf(path, sizeof path, "%s/index.json", layout);
  json_t *index = json_load_file(path, 0, NULL);
  const char *md = json_string_value(json_object_get(json_array_get(json_object_get(index, "manifests"), 0), "digest"));
  snprintf(mpath, 4096, "%s/blobs/sha256/%s", layout, md + 7);
  json_decref(index);
  return json_load_file(mpath, 0, NULL);
}

static void store_manifest(const char *layout, json_t *m)
{
  char md[72];
  size_t ms;
  put_json_blob(layout, m, md, &ms);
  write_index(layout, md, ms);
}

void tt_rewrite_layer(const char *layout, size_t i, void (*mutate)(uint8_t *p, size_t *n, void *arg), void *arg)
{
  char mpath[4096], path[4096];
  json_t *m = load_manifest(layout, mpath);
  json_t *l = json_array_get(json_object_get(m, "layers"), i);
  snprintf(path, sizeof path, "%s/blobs/sha256/%s", layout, json_string_value(json_object_get(l, "digest")) + 7);
  size_t n;
  uint8_t *p = (uint8_t *) tt_read(path, &n);
  mutate(p, &n, arg);
  char d[72];
  put_blob(layout, p, n, d);
  json_object_set_new(l, "digest", json_string(d));
  json_object_set_new(l, "size", json_integer((json_int_t) n));
  store_manifest(layout, m);
  free(p);
  json_decref(m);
}

void tt_rewrite_diff_id(const char *layout, size_t i, const char *diff_id)
{
  char mpath[4096], path[4096];
  json_t *m = load_manifest(layout, mpath);
  json_t *c = json_object_get(m, "config");
  snprintf(path, sizeof path, "%s/blobs/sha256/%s", layout, json_string_value(json_object_get(c, "digest")) + 7);
  json_t *config = json_load_file(path, 0, NULL);
  json_array_set_new(json_object_get(json_object_get(config, "rootfs"), "diff_ids"), i, json_string(diff_id));
  char d[72];
  size_t s;
  put_json_blob(layout, config, d, &s);
  json_object_set_new(c, "digest", json_string(d));
  json_object_set_new(c, "size", json_integer((json_int_t) s));
  store_manifest(layout, m);
  json_decref(config);
  json_decref(m);
}

void tt_rewrite_manifest(const char *layout, void (*f)(json_t *m, void *arg), void *arg)
{
  char mpath[4096];
  json_t *m = load_manifest(layout, mpath);
  f(m, arg);
  store_manifest(layout, m);
  json_decref(m);
}
