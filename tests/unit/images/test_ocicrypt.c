/* ocicrypt: round trips, and every tampering a clear error with nothing extracted. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images/b64.h"
#include "images/convert.h"
#include "images/jwe.h"
#include "images/layerstream.h"
#include "images/layout.h"
#include "images/ocicrypt.h"
#include "images/unpack.h"
#include "imgtest.h"
#include "../keypool.h"

static char *parent;
static EVP_PKEY *rsa, *ec;
static char plain_ref[4200], enc_ref[4400], enc_dir[4096], root[4200];

/* comp: 0 tar, 1 tar+gzip, 2 tar+zstd */
static void build_comp(int comp)
{
  struct tentry e[] = { { 'd', "bin" }, { 'f', "bin/hello", .data = "#!/bin/sh\necho hello\n", .mode = 0755 },
                        { 'f', "data", .data = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" } };
  struct tbuf t = tt_tar(e, 3);
  char *layout = tt_layout_comp(parent, "plain", &t, 1, comp);
  snprintf(plain_ref, sizeof plain_ref, "oci:%s:latest", layout);
  snprintf(enc_dir, sizeof enc_dir, "%s/enc", parent);
  snprintf(enc_ref, sizeof enc_ref, "oci:%s:latest", enc_dir);
  snprintf(root, sizeof root, "%s/root", parent);
  EVP_PKEY *keys[2] = { rsa, ec };
  dj_err err = { 0 };
  cr_assert_eq(dj_image_encrypt(plain_ref, enc_ref, keys, 2, &err), 0, "%s", err.msg);
  free(layout);
  free(t.p);
}

static void build(bool gzip)
{
  build_comp(gzip ? 1 : 0);
}

static void setup(void)
{
  parent = tt_tmpdir();
  rsa = tk_key("rsa2048");
  ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
  build(true);
}

static void teardown(void)
{
  tt_rmrf(parent);
  free(parent);
  EVP_PKEY_free(rsa);
  EVP_PKEY_free(ec);
}

TestSuite(ocicrypt, .init = setup, .fini = teardown);

static int unpack(EVP_PKEY *key, dj_err *err)
{
  struct dj_unpack_opts o;
  dj_unpack_opts_default(&o);
  return dj_image_unpack(enc_ref, key, &o, root, err);
}

static void expect_unpack_fails(EVP_PKEY *key, const char *needle)
{
  dj_err err = { 0 };
  cr_assert_eq(unpack(key, &err), -1, "unpack succeeded");
  cr_assert(strstr(err.msg, needle) != NULL, "\"%s\" not in \"%s\"", needle, err.msg);
  cr_assert_eq(tt_count(root), -1, "something was extracted");
}

Test(ocicrypt, encrypted_image_unpacks_with_either_key)
{
  EVP_PKEY *keys[2] = { rsa, ec };
  for (int i = 0; i < 2; i++) {
    dj_err err = { 0 };
    cr_assert_eq(unpack(keys[i], &err), 0, "%s", err.msg);
    char p[4300];
    snprintf(p, sizeof p, "%s/bin/hello", root);
    char *c = tt_read(p, NULL);
    cr_assert_str_eq(c, "#!/bin/sh\necho hello\n");
    free(c);
    tt_rmrf(root);
  }
}

Test(ocicrypt, layout_says_encrypted_and_jwe)
{
  struct dj_image *img = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_image_open(enc_ref, &img, &err), 0, "%s", err.msg);
  cr_assert(img->layers[0].encrypted);
  cr_assert_str_eq(img->layers[0].media_type, "application/vnd.oci.image.layer.v1.tar+gzip+encrypted");
  char kinds[128];
  dj_ocicrypt_recipient_kinds(img->layers[0].annotations, kinds, sizeof kinds);
  cr_assert_str_eq(kinds, "jwe");
  dj_image_free(img);
}

/* Decrypting gives back the original descriptors (media type, digest, size). */
Test(ocicrypt, decrypt_restores_the_original_layer)
{
  char dec_ref[4300];
  snprintf(dec_ref, sizeof dec_ref, "oci:%s/dec:x", parent);
  dj_err err = { 0 };
  cr_assert_eq(dj_image_decrypt(enc_ref, dec_ref, ec, &err), 0, "%s", err.msg);
  struct dj_image *a = NULL, *b = NULL;
  cr_assert_eq(dj_image_open(plain_ref, &a, &err), 0, "%s", err.msg);
  cr_assert_eq(dj_image_open(dec_ref, &b, &err), 0, "%s", err.msg);
  cr_assert_str_eq(a->layers[0].digest, b->layers[0].digest);
  cr_assert_eq(a->layers[0].size, b->layers[0].size);
  cr_assert_str_eq(a->layers[0].media_type, b->layers[0].media_type);
  cr_assert_null(b->layers[0].annotations);
  cr_assert_str_eq(a->config_desc.digest, b->config_desc.digest);
  dj_image_free(a);
  dj_image_free(b);
}

static void flip_middle(uint8_t *p, size_t *n, void *arg)
{
  p[*n / 2] ^= 0x20;
}

static void truncate_tail(uint8_t *p, size_t *n, void *arg)
{
  *n -= 16;
}

Test(ocicrypt, tampered_ciphertext)
{
  tt_rewrite_layer(enc_dir, 0, flip_middle, NULL);
  expect_unpack_fails(rsa, "HMAC mismatch");
}

/* An uncompressed layer whose flipped byte lands in file data would otherwise extract cleanly:
 * only the HMAC, checked before decryption, stops it before anything is written. */
Test(ocicrypt, hmac_is_checked_before_any_plaintext_is_used)
{
  tt_rmrf(parent);
  free(parent);
  parent = tt_tmpdir();
  build(false);
  tt_rewrite_layer(enc_dir, 0, flip_middle, NULL);
  expect_unpack_fails(ec, "HMAC mismatch");
}

Test(ocicrypt, truncated_blob)
{
  tt_rewrite_layer(enc_dir, 0, truncate_tail, NULL);
  expect_unpack_fails(rsa, "HMAC mismatch");
}

/* The blob itself changed without the descriptor: caught by the digest check. */
Test(ocicrypt, blob_changed_behind_the_descriptor)
{
  struct dj_image *img = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_image_open(enc_ref, &img, &err), 0, "%s", err.msg);
  char p[4400];
  snprintf(p, sizeof p, "%s/blobs/sha256/%s", enc_dir, img->layers[0].digest + 7);
  dj_image_free(img);
  int fd = open(p, O_WRONLY);
  cr_assert_geq(fd, 0);
  cr_assert_eq(pwrite(fd, "X", 1, 10), 1);
  close(fd);
  expect_unpack_fails(rsa, "content digest");
}

static void set_pubopts_hmac(json_t *m, void *arg)
{
  json_t *ann = json_object_get(json_array_get(json_object_get(m, "layers"), 0), "annotations");
  uint8_t h[32];
  memset(h, 7, sizeof h);
  char *hb = dj_b64_encode(h, sizeof h);
  char *pub = NULL;
  cr_assert_gt(asprintf(&pub, "{\"cipher\":\"AES_256_CTR_HMAC_SHA256\",\"hmac\":\"%s\",\"cipheroptions\":{}}", hb), 0);
  char *pb = dj_b64_encode((uint8_t *) pub, strlen(pub));
  json_object_set_new(ann, DJ_ANNOT_PUBOPTS, json_string(pb));
  free(hb);
  free(pub);
  free(pb);
}

Test(ocicrypt, tampered_hmac)
{
  tt_rewrite_manifest(enc_dir, set_pubopts_hmac, NULL);
  expect_unpack_fails(rsa, "HMAC mismatch");
}

Test(ocicrypt, wrong_key)
{
  EVP_PKEY *other = tk_key("rsa2048"); /* the pool's second: not rsa */
  expect_unpack_fails(other, "cannot decrypt");
  EVP_PKEY_free(other);
}

static void drop_jwe(json_t *m, void *arg)
{
  json_t *ann = json_object_get(json_array_get(json_object_get(m, "layers"), 0), "annotations");
  json_object_del(ann, DJ_ANNOT_KEYS_JWE);
  json_object_set_new(ann, "org.opencontainers.image.enc.keys.provider.kbs", json_string("e30="));
}

Test(ocicrypt, missing_recipient)
{
  tt_rewrite_manifest(enc_dir, drop_jwe, NULL);
  expect_unpack_fails(rsa, "no JWE recipient (recipients: provider:kbs)");
}

Test(ocicrypt, no_key_given)
{
  expect_unpack_fails(NULL, "no key was given");
}

Test(ocicrypt, wrong_diff_id)
{
  tt_rewrite_diff_id(enc_dir, 0, "sha256:0000000000000000000000000000000000000000000000000000000000000000");
  expect_unpack_fails(rsa, "diff_ids[0]");
}

/* What was checked is what is decrypted: the staging copy can no longer change. */
Test(ocicrypt, staged_blob_is_sealed)
{
  struct dj_image *img = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_image_open(enc_ref, &img, &err), 0, "%s", err.msg);
  int fd = dj_image_blob_stage(img->dirfd, &img->layers[0], &err);
  cr_assert_geq(fd, 0, "%s", err.msg);
  int seals = fcntl(fd, F_GET_SEALS);
  cr_assert((seals & F_SEAL_WRITE) && (seals & F_SEAL_SHRINK) && (seals & F_SEAL_GROW), "seals %#x", seals);
  cr_assert_lt(pwrite(fd, "x", 1, 0), 0);
  close(fd);
  dj_image_free(img);
}

Test(ocicrypt, private_options_are_strict)
{
  struct dj_layer_secret s;
  dj_err err = { 0 };
  const char *no_digest = "{\"symkey\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"cipheroptions\":{\"nonce\":\"AAAAAAAAAAAAAAAAAAAAAA==\"}}";
  cr_assert_eq(dj_ocicrypt_privopts_parse((const uint8_t *) no_digest, strlen(no_digest), &s, &err), -1);
  cr_assert(strstr(err.msg, "privopts.digest") != NULL, "%s", err.msg);
  const char *short_nonce = "{\"symkey\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\",\"digest\":\"sha256:"
                            "0000000000000000000000000000000000000000000000000000000000000000\","
                            "\"cipheroptions\":{\"nonce\":\"AAAA\"}}";
  cr_assert_eq(dj_ocicrypt_privopts_parse((const uint8_t *) short_nonce, strlen(short_nonce), &s, &err), -1);
  cr_assert(strstr(err.msg, "nonce: 3 bytes, expected 16") != NULL, "%s", err.msg);
  const char *gcm = "{\"cipher\":\"AES_128_GCM\",\"hmac\":\"\"}";
  char *other = dj_b64_encode((const uint8_t *) gcm, strlen(gcm));
  cr_assert_eq(dj_ocicrypt_pubopts_parse(other, &s, &err), -1);
  cr_assert(strstr(err.msg, "AES_128_GCM") != NULL, "%s", err.msg);
  free(other);
}

/* keys.jwe holds comma-separated blobs: one for another key first, then ours. */
static void prepend_foreign_jwe(json_t *m, void *arg)
{
  json_t *ann = json_object_get(json_array_get(json_object_get(m, "layers"), 0), "annotations");
  EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  const char *pt = "{\"symkey\":\"x\"}";
  char *jwe = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_jwe_encrypt((const uint8_t *) pt, strlen(pt), &other, NULL, 1, &jwe, &err), 0, "%s", err.msg);
  char *b = dj_b64_encode((const uint8_t *) jwe, strlen(jwe));
  char *v = NULL;
  cr_assert_gt(asprintf(&v, "%s,%s", b, json_string_value(json_object_get(ann, DJ_ANNOT_KEYS_JWE))), 0);
  json_object_set_new(ann, DJ_ANNOT_KEYS_JWE, json_string(v));
  free(v);
  free(b);
  free(jwe);
  EVP_PKEY_free(other);
}

Test(ocicrypt, comma_separated_wrapped_keys)
{
  tt_rewrite_manifest(enc_dir, prepend_foreign_jwe, NULL);
  dj_err err = { 0 };
  cr_assert_eq(unpack(ec, &err), 0, "%s", err.msg);
}

/* A decrypt that fails leaves no destination layout behind. */
Test(ocicrypt, failed_decrypt_leaves_nothing)
{
  tt_rewrite_layer(enc_dir, 0, flip_middle, NULL);
  char dst[4300], dst_ref[4400];
  snprintf(dst, sizeof dst, "%s/dec", parent);
  snprintf(dst_ref, sizeof dst_ref, "oci:%s:x", dst);
  dj_err err = { 0 };
  cr_assert_eq(dj_image_decrypt(enc_ref, dst_ref, rsa, &err), -1);
  cr_assert(strstr(err.msg, "HMAC mismatch") != NULL, "%s", err.msg);
  cr_assert_eq(tt_count(dst), -1, "a failed decrypt left %s", dst);
}

/* A recipient rewrites the private options with another digest (the HMAC still matches): the
 * digest of the decrypted blob is checked against them. */
static void rewrite_privopts_digest(json_t *m, void *arg)
{
  json_t *ann = json_object_get(json_array_get(json_object_get(m, "layers"), 0), "annotations");
  const char *b = json_string_value(json_object_get(ann, DJ_ANNOT_KEYS_JWE));
  uint8_t *jwe;
  size_t n;
  cr_assert_eq(dj_b64_decode(b, strlen(b), &jwe, &n), 0);
  uint8_t *pt;
  size_t pn;
  dj_err err = { 0 };
  cr_assert_eq(dj_jwe_decrypt((char *) jwe, n, ec, &pt, &pn, &err), 0, "%s", err.msg);
  json_t *po = json_loadb((char *) pt, pn, 0, NULL);
  json_object_set_new(po, "digest", json_string("sha256:1111111111111111111111111111111111111111111111111111111111111111"));
  char *s = json_dumps(po, JSON_COMPACT);
  char *out = NULL;
  cr_assert_eq(dj_jwe_encrypt((uint8_t *) s, strlen(s), &ec, NULL, 1, &out, &err), 0, "%s", err.msg);
  char *ob = dj_b64_encode((uint8_t *) out, strlen(out));
  json_object_set_new(ann, DJ_ANNOT_KEYS_JWE, json_string(ob));
  free(ob);
  free(out);
  free(s);
  json_decref(po);
  free(pt);
  free(jwe);
}

Test(ocicrypt, private_options_digest_is_checked)
{
  tt_rewrite_manifest(enc_dir, rewrite_privopts_digest, NULL);
  expect_unpack_fails(ec, "its private options say");
}

/* Writing into an existing layout keeps its other tags and replaces the same tag. */
Test(ocicrypt, existing_layout_keeps_other_tags)
{
  char ref2[4400], ref3[4400];
  snprintf(ref2, sizeof ref2, "oci:%s:second", enc_dir);
  snprintf(ref3, sizeof ref3, "oci:%s:latest", enc_dir);
  EVP_PKEY *keys[1] = { ec };
  dj_err err = { 0 };
  cr_assert_eq(dj_image_encrypt(plain_ref, ref2, keys, 1, &err), 0, "%s", err.msg);
  cr_assert_eq(dj_image_encrypt(plain_ref, ref3, keys, 1, &err), 0, "%s", err.msg);
  char p[4200];
  snprintf(p, sizeof p, "%s/index.json", enc_dir);
  json_t *idx = json_load_file(p, 0, NULL);
  cr_assert_eq(json_array_size(json_object_get(idx, "manifests")), 2);
  json_decref(idx);
  struct dj_image *img = NULL;
  cr_assert_eq(dj_image_open(ref2, &img, &err), 0, "%s", err.msg);
  dj_image_free(img);
  cr_assert_eq(dj_image_open(ref3, &img, &err), 0, "%s", err.msg);
  dj_image_free(img);
  /* the "latest" written last is the EC-only one: RSA no longer opens it */
  expect_unpack_fails(rsa, "no recipient for a RSA key");
}

/* Every layer media type, encrypted and back: tar, tar+gzip, tar+zstd. */
Test(ocicrypt, every_media_type_encrypts_unpacks_and_decrypts)
{
  static const char *const types[] = { "application/vnd.oci.image.layer.v1.tar",
                                       "application/vnd.oci.image.layer.v1.tar+gzip",
                                       "application/vnd.oci.image.layer.v1.tar+zstd" };
  for (int comp = 0; comp < 3; comp++) {
    tt_rmrf(parent);
    free(parent);
    parent = tt_tmpdir();
    build_comp(comp);
    struct dj_image *img = NULL;
    dj_err err = { 0 };
    cr_assert_eq(dj_image_open(enc_ref, &img, &err), 0, "%s", err.msg);
    char want[128];
    snprintf(want, sizeof want, "%s+encrypted", types[comp]);
    cr_assert_str_eq(img->layers[0].media_type, want);
    dj_image_free(img);
    cr_assert_eq(unpack(ec, &err), 0, "%s: %s", want, err.msg);
    char p[4300];
    snprintf(p, sizeof p, "%s/bin/hello", root);
    char *c = tt_read(p, NULL);
    cr_assert_str_eq(c, "#!/bin/sh\necho hello\n");
    free(c);
    char dec_ref[4300];
    snprintf(dec_ref, sizeof dec_ref, "oci:%s/dec:x", parent);
    cr_assert_eq(dj_image_decrypt(enc_ref, dec_ref, rsa, &err), 0, "%s: %s", want, err.msg);
    struct dj_image *a = NULL, *b = NULL;
    cr_assert_eq(dj_image_open(plain_ref, &a, &err), 0, "%s", err.msg);
    cr_assert_eq(dj_image_open(dec_ref, &b, &err), 0, "%s", err.msg);
    cr_assert_str_eq(b->layers[0].media_type, types[comp]);
    cr_assert_str_eq(a->layers[0].digest, b->layers[0].digest);
    cr_assert_eq(a->layers[0].size, b->layers[0].size);
    dj_image_free(a);
    dj_image_free(b);
  }
}

/* No plaintext before the HMAC: opening the layer's stream (which hands out the first decrypted
 * byte) fails on a tampered ciphertext, so neither zlib nor libarchive ever sees a byte of it. */
Test(ocicrypt, the_layer_stream_is_refused_before_any_byte_on_a_bad_hmac)
{
  tt_rewrite_layer(enc_dir, 0, flip_middle, NULL);
  struct dj_image *img = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_image_open(enc_ref, &img, &err), 0, "%s", err.msg);
  struct dj_layer_reader *r = NULL;
  cr_assert_eq(dj_layer_reader_open(img, 0, rsa, 1u << 30, -1, &r, &err), -1, "the stream opened");
  cr_assert_null(r);
  cr_assert(strstr(err.msg, "HMAC mismatch") != NULL, "%s", err.msg);
  dj_image_free(img);
}

/* No time-of-check/time-of-use gap: once the layer is staged and its HMAC checked, changing the
 * blob in the layout changes nothing of what is decrypted. */
Test(ocicrypt, a_blob_changed_after_the_check_is_not_what_is_decrypted)
{
  struct dj_image *img = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_image_open(enc_ref, &img, &err), 0, "%s", err.msg);
  struct dj_layer_reader *r = NULL;
  cr_assert_eq(dj_layer_reader_open(img, 0, rsa, 1u << 30, -1, &r, &err), 0, "%s", err.msg);
  char p[4400];
  snprintf(p, sizeof p, "%s/blobs/sha256/%s", enc_dir, img->layers[0].digest + 7);
  size_t n = 0;
  uint8_t *blob = (uint8_t *) tt_read(p, &n);
  for (size_t i = 0; i < n; i++)
    blob[i] ^= 0x5a;
  tt_write(p, blob, n); /* the same size, every byte changed */
  free(blob);
  char plain[DJ_DIGEST_MAX];
  cr_assert_eq(dj_layer_reader_finish(r, plain, &err), 0, "the changed blob reached the decryptor: %s", err.msg);
  cr_assert_str_eq(plain, r->secret.digest);
  dj_layer_reader_free(r);
  dj_image_free(img);
}

/* inspect names every kind of recipient; other kinds than jwe are kept when an image is copied. */
static void add_other_recipients(json_t *m, void *arg)
{
  json_t *ann = json_object_get(json_array_get(json_object_get(m, "layers"), 0), "annotations");
  json_object_set_new(ann, "org.opencontainers.image.enc.keys.provider.kbs", json_string("e30="));
  json_object_set_new(ann, "org.opencontainers.image.enc.keys.pkcs7", json_string("MA=="));
  json_object_set_new(ann, "org.opencontainers.image.enc.keys.pgp", json_string("AA=="));
}

Test(ocicrypt, recipient_kinds_are_listed_and_kept)
{
  tt_rewrite_manifest(enc_dir, add_other_recipients, NULL);
  struct dj_image *img = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_image_open(enc_ref, &img, &err), 0, "%s", err.msg);
  char kinds[256];
  dj_ocicrypt_recipient_kinds(img->layers[0].annotations, kinds, sizeof kinds);
  dj_image_free(img);
  const char *want[] = { "jwe", "provider:kbs", "pkcs7", "pgp" };
  for (size_t i = 0; i < 4; i++)
    cr_assert(strstr(kinds, want[i]) != NULL, "%s not in \"%s\"", want[i], kinds);
  /* copied (encrypt leaves an encrypted layer as it is): every recipient annotation survives */
  char copy_ref[4400];
  snprintf(copy_ref, sizeof copy_ref, "oci:%s/copy:y", parent);
  EVP_PKEY *keys[1] = { ec };
  cr_assert_eq(dj_image_encrypt(enc_ref, copy_ref, keys, 1, &err), 0, "%s", err.msg);
  cr_assert_eq(dj_image_open(copy_ref, &img, &err), 0, "%s", err.msg);
  char again[256];
  dj_ocicrypt_recipient_kinds(img->layers[0].annotations, again, sizeof again);
  cr_assert_str_eq(again, kinds);
  dj_image_free(img);
  /* and the jwe recipient still opens it */
  cr_assert_eq(unpack(rsa, &err), 0, "%s", err.msg);
}

/* ---- layer secrets released by the verifier (the confidential launch's path) ------------------- */

struct released {
  EVP_PKEY *key;       /* opens the layer's first JWE: what the verifier would do with its KEK */
  const char *json;    /* or: these private options verbatim */
  int calls;
};

static int released_cb(void *ctx, const struct dj_descriptor *d, size_t index, uint8_t **json, size_t *len,
                       dj_err *err)
{
  struct released *r = ctx;
  r->calls++;
  if (r->json != NULL) {
    *json = (uint8_t *) strdup(r->json);
    *len = strlen(r->json);
    return 0;
  }
  if (r->key == NULL)
    return dj_error(err, 0, "layer %zu: the verifier released nothing for it", index);
  const char *jwe = json_string_value(json_object_get(d->annotations, DJ_ANNOT_KEYS_JWE));
  const char *comma = strchrnul(jwe, ',');
  uint8_t *blob = NULL;
  size_t n = 0;
  cr_assert_eq(dj_b64_decode(jwe, (size_t) (comma - jwe), &blob, &n), 0);
  int rc = dj_jwe_decrypt((const char *) blob, n, r->key, json, len, err);
  free(blob);
  return rc;
}

static int unpack_released(struct released *r, dj_err *err)
{
  struct dj_image *img = NULL;
  if (dj_image_open(enc_ref, &img, err) < 0)
    return -1;
  cr_assert_eq(mkdir(root, 0755), 0);
  int dirfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct dj_unpack_opts o;
  dj_unpack_opts_default(&o);
  const struct dj_layer_keys keys = { .released = released_cb, .ctx = r };
  int rc = dj_image_unpack_keys(img, &keys, &o, dirfd, err);
  close(dirfd);
  dj_image_free(img);
  return rc;
}

Test(ocicrypt, released_private_options_unpack)
{
  struct released r = { .key = rsa };
  dj_err err = { 0 };
  cr_assert_eq(unpack_released(&r, &err), 0, "%s", err.msg);
  cr_assert_eq(r.calls, 1);
  char p[4300];
  snprintf(p, sizeof p, "%s/bin/hello", root);
  char *c = tt_read(p, NULL);
  cr_assert_str_eq(c, "#!/bin/sh\necho hello\n");
  free(c);
}

/* Private options with another key still meet the layer's own HMAC: nothing is extracted. */
Test(ocicrypt, released_private_options_with_another_key_fail_the_hmac)
{
  uint8_t *json = NULL;
  size_t len = 0;
  struct released good = { .key = rsa };
  dj_err err = { 0 };
  struct dj_image *img = NULL;
  cr_assert_eq(dj_image_open(enc_ref, &img, &err), 0, "%s", err.msg);
  cr_assert_eq(released_cb(&good, &img->layers[0], 0, &json, &len, &err), 0, "%s", err.msg);
  dj_image_free(img);
  json_t *po = json_loadb((const char *) json, len, 0, NULL);
  free(json);
  cr_assert_not_null(po);
  json_object_set_new(po, "symkey", json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
  char *text = json_dumps(po, JSON_COMPACT);
  json_decref(po);
  struct released r = { .json = text };
  cr_assert_eq(unpack_released(&r, &err), -1, "unpacked with another key");
  cr_assert(strstr(err.msg, "HMAC") != NULL, "%s", err.msg);
  cr_assert_eq(tt_count(root), 0, "something was extracted");
  free(text);
}

Test(ocicrypt, released_nothing_is_a_clear_error)
{
  struct released r = { 0 };
  dj_err err = { 0 };
  cr_assert_eq(unpack_released(&r, &err), -1);
  cr_assert(strstr(err.msg, "the verifier released nothing") != NULL, "%s", err.msg);
  cr_assert_eq(tt_count(root), 0, "something was extracted");
}

Test(ocicrypt, released_private_options_must_parse)
{
  struct released r = { .json = "{\"symkey\": 1}" };
  dj_err err = { 0 };
  cr_assert_eq(unpack_released(&r, &err), -1);
  cr_assert(strstr(err.msg, "released private options") != NULL, "%s", err.msg);
  cr_assert_eq(tt_count(root), 0, "something was extracted");
}
