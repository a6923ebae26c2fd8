/* Reading layouts: references, tags (absent, ambiguous, nested indexes), blob checks, urls,
 * media types, oci-archive. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/layout.h"
#include "images/oci_archive.h"
#include "imgtest.h"

static char *parent, *layout;
static char ref[4200];

static void setup(void)
{
  parent = tt_tmpdir();
  struct tentry e[] = { { 'f', "a", .data = "a" } };
  struct tbuf t = tt_tar(e, 1);
  layout = tt_layout(parent, "img", &t, 1, true);
  snprintf(ref, sizeof ref, "oci:%s:latest", layout);
  free(t.p);
}

static void teardown(void)
{
  tt_rmrf(parent);
  free(parent);
  free(layout);
}

TestSuite(layout, .init = setup, .fini = teardown);

static void expect_open_fails(const char *r, const char *needle)
{
  struct dj_image *img = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_image_open(r, &img, &err), -1, "opened %s", r);
  cr_assert_null(img);
  cr_assert(strstr(err.msg, needle) != NULL, "\"%s\" not in \"%s\"", needle, err.msg);
}

Test(layout, reference_parsing)
{
  bool archive;
  char *path, *tag;
  dj_err err = { 0 };
  cr_assert_eq(dj_image_ref_parse("oci:/a/b:v1", &archive, &path, &tag, &err), 0);
  cr_assert(!archive);
  cr_assert_str_eq(path, "/a/b");
  cr_assert_str_eq(tag, "v1");
  free(path);
  free(tag);
  cr_assert_eq(dj_image_ref_parse("oci-archive:x.tar", &archive, &path, &tag, &err), 0);
  cr_assert(archive);
  cr_assert_null(tag);
  free(path);
  cr_assert_eq(dj_image_ref_parse("docker://busybox", &archive, &path, &tag, &err), -1);
  cr_assert(strstr(err.msg, "oci:DIR") != NULL);
  cr_assert_eq(dj_image_ref_parse("oci:", &archive, &path, &tag, &err), -1);
  cr_assert_eq(dj_image_ref_parse("oci:x:", &archive, &path, &tag, &err), -1);
}

Test(layout, opens_by_tag_and_alone)
{
  struct dj_image *img = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_image_open(ref, &img, &err), 0, "%s", err.msg);
  cr_assert_eq(img->n_layers, 1);
  cr_assert_eq(img->layers[0].compression, DJ_COMP_GZIP);
  cr_assert(!img->layers[0].encrypted);
  dj_image_free(img);
  char untagged[4200];
  snprintf(untagged, sizeof untagged, "oci:%s", layout);
  cr_assert_eq(dj_image_open(untagged, &img, &err), 0, "%s", err.msg);
  dj_image_free(img);
}

Test(layout, absent_tag)
{
  char r[4200];
  snprintf(r, sizeof r, "oci:%s:v9", layout);
  expect_open_fails(r, "no manifest is tagged \"v9\"");
}

static void write_index(const char *json)
{
  char p[4300];
  snprintf(p, sizeof p, "%s/index.json", layout);
  tt_write(p, json, strlen(json));
}

static json_t *index_doc(void)
{
  char p[4300];
  snprintf(p, sizeof p, "%s/index.json", layout);
  return json_load_file(p, 0, NULL);
}

static void store_index(json_t *idx)
{
  char *s = json_dumps(idx, JSON_COMPACT);
  write_index(s);
  free(s);
}

Test(layout, ambiguous_tag)
{
  json_t *idx = index_doc();
  json_t *m = json_object_get(idx, "manifests");
  json_array_append_new(m, json_deep_copy(json_array_get(m, 0)));
  store_index(idx);
  json_decref(idx);
  expect_open_fails(ref, "ambiguous");
  char untagged[4200];
  snprintf(untagged, sizeof untagged, "oci:%s", layout);
  expect_open_fails(untagged, "name one with :TAG");
}

/* index.json -> (untagged) nested index blob -> manifest tagged "inner". */
Test(layout, nested_index)
{
  json_t *idx = index_doc();
  json_t *entry = json_array_get(json_object_get(idx, "manifests"), 0);
  json_object_set_new(json_object_get(entry, "annotations"), "org.opencontainers.image.ref.name",
                      json_string("inner"));
  char *nested = json_dumps(idx, JSON_COMPACT);
  char d[72];
  tt_digest(nested, strlen(nested), d);
  char p[4400];
  snprintf(p, sizeof p, "%s/blobs/sha256/%s", layout, d + 7);
  tt_write(p, nested, strlen(nested));
  json_t *top = json_pack("{s:i, s:[{s:s, s:s, s:I}]}", "schemaVersion", 2, "manifests", "mediaType",
                          "application/vnd.oci.image.index.v1+json", "digest", d, "size", (json_int_t) strlen(nested));
  store_index(top);
  char r[4200];
  snprintf(r, sizeof r, "oci:%s:inner", layout);
  struct dj_image *img = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_image_open(r, &img, &err), 0, "%s", err.msg);
  dj_image_free(img);
  free(nested);
  json_decref(top);
  json_decref(idx);
}

Test(layout, external_urls_refused)
{
  json_t *idx = index_doc();
  json_t *entry = json_array_get(json_object_get(idx, "manifests"), 0);
  json_object_set_new(entry, "urls", json_pack("[s]", "https://example.com/blob"));
  store_index(idx);
  json_decref(idx);
  expect_open_fails(ref, "urls: external blob urls are refused");
}

Test(layout, blob_digest_and_size_checked)
{
  json_t *idx = index_doc();
  json_t *entry = json_array_get(json_object_get(idx, "manifests"), 0);
  const char *d = json_string_value(json_object_get(entry, "digest"));
  char p[4400];
  snprintf(p, sizeof p, "%s/blobs/sha256/%s", layout, d + 7);
  size_t n;
  char *m = tt_read(p, &n);
  json_object_set_new(entry, "size", json_integer((json_int_t) n + 1));
  store_index(idx);
  expect_open_fails(ref, "the descriptor says");
  json_object_set_new(entry, "size", json_integer((json_int_t) n));
  store_index(idx);
  m[5] = m[5] == ' ' ? '\t' : ' '; /* same size, other bytes */
  tt_write(p, m, n);
  expect_open_fails(ref, "content digest");
  free(m);
  json_decref(idx);
}

Test(layout, symlinked_blob_refused)
{
  json_t *idx = index_doc();
  const char *d = json_string_value(json_object_get(json_array_get(json_object_get(idx, "manifests"), 0), "digest"));
  char p[4400], q[4400];
  snprintf(p, sizeof p, "%s/blobs/sha256/%s", layout, d + 7);
  snprintf(q, sizeof q, "%s/moved", parent);
  cr_assert_eq(rename(p, q), 0);
  cr_assert_eq(symlink(q, p), 0);
  json_decref(idx);
  expect_open_fails(ref, "blob sha256:");
}

Test(layout, bad_documents)
{
  write_index("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
              "\"digest\":\"sha256:XYZ\",\"size\":1,"
              "\"annotations\":{\"org.opencontainers.image.ref.name\":\"latest\"}}]}");
  expect_open_fails(ref, "index.json.manifests[0].digest");
  write_index("{\"schemaVersion\":3,\"manifests\":[]}");
  expect_open_fails(ref, "schemaVersion");
  write_index("{\"schemaVersion\":2,\"manifests\":[],\"manifests\":[]}");
  expect_open_fails(ref, "index.json");
  char p[4300];
  snprintf(p, sizeof p, "%s/oci-layout", layout);
  tt_write(p, "{\"imageLayoutVersion\":\"2.0.0\"}", 30);
  expect_open_fails(ref, "imageLayoutVersion");
}

Test(layout, layer_media_types)
{
  enum dj_compression c;
  bool enc;
  cr_assert_eq(dj_layer_media_type_parse("application/vnd.oci.image.layer.v1.tar", &c, &enc), 0);
  cr_assert(c == DJ_COMP_NONE && !enc);
  cr_assert_eq(dj_layer_media_type_parse("application/vnd.oci.image.layer.v1.tar+zstd+encrypted", &c, &enc), 0);
  cr_assert(c == DJ_COMP_ZSTD && enc);
  cr_assert_eq(dj_layer_media_type_parse("application/vnd.oci.image.layer.v1.tar+gzip+encrypted", &c, &enc), 0);
  cr_assert(c == DJ_COMP_GZIP && enc);
  cr_assert_eq(dj_layer_media_type_parse("application/vnd.oci.image.layer.v1.tar+bzip2", &c, &enc), -1);
  cr_assert_eq(dj_layer_media_type_parse("application/vnd.docker.image.rootfs.diff.tar.gzip", &c, &enc), -1);
  cr_assert_eq(dj_layer_media_type_parse("application/vnd.oci.image.layer.v1.tar+encrypted+gzip", &c, &enc), -1);
  cr_assert_str_eq(dj_layer_media_type(DJ_COMP_ZSTD, true), "application/vnd.oci.image.layer.v1.tar+zstd+encrypted");
}

Test(layout, oci_archive_round_trip_and_hostile_members)
{
  char tarfile[4300], r[4400];
  snprintf(tarfile, sizeof tarfile, "%s/img.tar", parent);
  dj_err err = { 0 };
  cr_assert_eq(dj_oci_archive_write(layout, tarfile, &err), 0, "%s", err.msg);
  snprintf(r, sizeof r, "oci-archive:%s:latest", tarfile);
  struct dj_image *img = NULL;
  cr_assert_eq(dj_image_open(r, &img, &err), 0, "%s", err.msg);
  char *tmp = strdup(img->tmpdir);
  dj_image_free(img);
  cr_assert_neq(access(tmp, F_OK), 0, "the extraction directory is removed");
  free(tmp);
  /* An archive whose index.json is a symlink is refused. */
  struct tentry e[] = { { 'f', "oci-layout", .data = "{\"imageLayoutVersion\":\"1.0.0\"}" },
                        { 'l', "index.json", "/etc/passwd" } };
  struct tbuf t = tt_tar(e, 2);
  tt_write(tarfile, t.p, t.n);
  free(t.p);
  expect_open_fails(r, "not a regular file");
}

/* 1000 entries naming the same nested index: the search is bounded, not 1000 reads (or 1000^4). */
Test(layout, nested_index_fan_out_is_bounded)
{
  json_t *idx = index_doc();
  json_t *entry = json_array_get(json_object_get(idx, "manifests"), 0);
  json_object_del(entry, "annotations");
  char *nested = json_dumps(idx, JSON_COMPACT);
  char d[72];
  tt_digest(nested, strlen(nested), d);
  char p[4400];
  snprintf(p, sizeof p, "%s/blobs/sha256/%s", layout, d + 7);
  tt_write(p, nested, strlen(nested));
  json_t *top = json_pack("{s:i, s:[]}", "schemaVersion", 2, "manifests");
  for (int i = 0; i < 1000; i++)
    json_array_append_new(json_object_get(top, "manifests"),
                          json_pack("{s:s, s:s, s:I}", "mediaType", "application/vnd.oci.image.index.v1+json", "digest",
                                    d, "size", (json_int_t) strlen(nested)));
  store_index(top);
  expect_open_fails(ref, "more than 64 nested indexes");
  free(nested);
  json_decref(top);
  json_decref(idx);
}

/* Write a JSON document as a blob of the layout; its descriptor (mediaType mt) in *desc. */
static json_t *put_blob(json_t *doc, const char *mt)
{
  char *text = json_dumps(doc, JSON_COMPACT);
  char d[72], p[4400];
  tt_digest(text, strlen(text), d);
  snprintf(p, sizeof p, "%s/blobs/sha256/%s", layout, d + 7);
  tt_write(p, text, strlen(text));
  json_t *desc = json_pack("{s:s, s:s, s:I}", "mediaType", mt, "digest", d, "size", (json_int_t) strlen(text));
  free(text);
  return desc;
}

static json_t *manifest_desc(void)
{
  json_t *idx = index_doc();
  json_t *m = json_deep_copy(json_array_get(json_object_get(idx, "manifests"), 0));
  json_object_del(m, "annotations");
  json_decref(idx);
  return m;
}

/* A tag on an image index (as skopeo copies a multi-arch image): its manifest for this host. */
Test(layout, tagged_index_resolves_to_the_host_platform)
{
  json_t *amd = manifest_desc(), *arm = manifest_desc();
  json_object_set_new(amd, "platform", json_pack("{s:s, s:s}", "os", "linux", "architecture", "amd64"));
  json_object_set_new(arm, "platform", json_pack("{s:s, s:s}", "os", "linux", "architecture", "arm64"));
  /* the arm64 entry names a blob that is not there: only the chosen entry is read */
  json_object_set_new(arm, "digest", json_string("sha256:1111111111111111111111111111111111111111111111111111111111111111"));
  json_t *nested = json_pack("{s:i, s:[O, O]}", "schemaVersion", 2, "manifests", arm, amd);
  json_t *d = put_blob(nested, "application/vnd.oci.image.index.v1+json");
  json_object_set_new(d, "annotations", json_pack("{s:s}", "org.opencontainers.image.ref.name", "multi"));
  json_t *top = json_pack("{s:i, s:[O]}", "schemaVersion", 2, "manifests", d);
  store_index(top);
  char r[4200];
  snprintf(r, sizeof r, "oci:%s:multi", layout);
  struct dj_image *img = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_image_open(r, &img, &err), 0, "%s", err.msg);
  cr_assert_str_eq(img->manifest_desc.digest, json_string_value(json_object_get(amd, "digest")));
  dj_image_free(img);
  /* one thing changed: two entries for this host, no way to choose */
  json_object_set_new(arm, "platform", json_pack("{s:s, s:s}", "os", "linux", "architecture", "amd64"));
  json_decref(nested);
  nested = json_pack("{s:i, s:[O, O]}", "schemaVersion", 2, "manifests", arm, amd);
  json_decref(d);
  d = put_blob(nested, "application/vnd.oci.image.index.v1+json");
  json_object_set_new(d, "annotations", json_pack("{s:s}", "org.opencontainers.image.ref.name", "multi"));
  json_decref(top);
  top = json_pack("{s:i, s:[O]}", "schemaVersion", 2, "manifests", d);
  store_index(top);
  expect_open_fails(r, "2 of its 2 manifests fit this host");
  json_decref(top);
  json_decref(d);
  json_decref(nested);
  json_decref(amd);
  json_decref(arm);
}

/* Indexes nested in indexes: followed to a bounded depth. */
Test(layout, index_nesting_is_bounded)
{
  json_t *inner = manifest_desc();
  json_object_set_new(inner, "annotations", json_pack("{s:s}", "org.opencontainers.image.ref.name", "deep"));
  for (int level = 0; level < 6; level++) {
    json_t *idx = json_pack("{s:i, s:[o]}", "schemaVersion", 2, "manifests", inner);
    inner = put_blob(idx, "application/vnd.oci.image.index.v1+json");
    json_decref(idx);
    if (level == 1) { /* index.json -> index -> index -> tagged manifest: found */
      json_t *top = json_pack("{s:i, s:[O]}", "schemaVersion", 2, "manifests", inner);
      store_index(top);
      json_decref(top);
      char r[4200];
      snprintf(r, sizeof r, "oci:%s:deep", layout);
      struct dj_image *img = NULL;
      dj_err err = { 0 };
      cr_assert_eq(dj_image_open(r, &img, &err), 0, "%s", err.msg);
      dj_image_free(img);
    }
  }
  json_t *top = json_pack("{s:i, s:[o]}", "schemaVersion", 2, "manifests", inner);
  store_index(top);
  json_decref(top);
  char r[4200];
  snprintf(r, sizeof r, "oci:%s:deep", layout);
  expect_open_fails(r, "nested more than");
}

/* The config blob is checked like every other blob; an archive opens without a tag too. */
Test(layout, config_blob_checked_and_untagged_archive)
{
  struct dj_image *img = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_image_open(ref, &img, &err), 0, "%s", err.msg);
  char p[4400];
  snprintf(p, sizeof p, "%s/blobs/sha256/%s", layout, img->config_desc.digest + 7);
  dj_image_free(img);
  char tarfile[4300], r[4400];
  snprintf(tarfile, sizeof tarfile, "%s/img.tar", parent);
  cr_assert_eq(dj_oci_archive_write(layout, tarfile, &err), 0, "%s", err.msg);
  snprintf(r, sizeof r, "oci-archive:%s", tarfile);
  cr_assert_eq(dj_image_open(r, &img, &err), 0, "%s", err.msg);
  dj_image_free(img);
  size_t n;
  char *c = tt_read(p, &n);
  c[1] = c[1] == ' ' ? '\t' : ' ';
  tt_write(p, c, n);
  free(c);
  expect_open_fails(ref, "content digest");
}

/* An oci-archive that expands far beyond its size (a sparse member, or compression) is stopped
 * there, and leaves nothing in $TMPDIR. */
Test(layout, oci_archive_bomb_is_bounded)
{
  int64_t big = 40ll << 20; /* over the 16 MiB floor and 32 times the archive's size */
  char name[100];
  snprintf(name, sizeof name, "blobs/sha256/%064d", 0);
  struct tentry e[] = { { 'f', "oci-layout", .data = "{\"imageLayoutVersion\":\"1.0.0\"}" }, { 'f', name, .size = big } };
  struct tbuf t = tt_tar(e, 2), gz = tt_gzip(t);
  char tmp[4300];
  snprintf(tmp, sizeof tmp, "%s/tmp", parent);
  cr_assert_eq(mkdir(tmp, 0700), 0);
  setenv("TMPDIR", tmp, 1);
  struct tbuf *forms[2] = { &t, &gz };
  for (int i = 0; i < 2; i++) {
    char tarfile[4300], r[4400];
    snprintf(tarfile, sizeof tarfile, "%s/bomb%d.tar", parent, i);
    tt_write(tarfile, forms[i]->p, forms[i]->n);
    snprintf(r, sizeof r, "oci-archive:%s", tarfile);
    expect_open_fails(r, "decompression bomb");
    cr_assert_eq(tt_count(tmp), 0, "the extraction directory was left in %s", tmp);
  }
  free(t.p);
  free(gz.p);
}
