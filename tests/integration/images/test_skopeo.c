/* Interop with skopeo 1.9 both ways, for RSA, EC P-256 and EC P-384 keys and gzip and zstd layers:
 * images skopeo encrypted are decrypted, unpacked, bundled and run by donjon; images donjon
 * encrypted have the shape of skopeo's and are decrypted by skopeo to layers with the original's
 * descriptors. The test image is built by mkimage.sh from
 * busybox-static with tar, gzip and sha256sum. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *dir;
static const char *agent;

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
  char *cmd = NULL;
  va_list ap;
  va_start(ap, fmt);
  cr_assert_gt(vasprintf(&cmd, fmt, ap), 0);
  va_end(ap);
  char *full = NULL;
  cr_assert_gt(asprintf(&full, "cd '%s' && (%s) >>log 2>&1", dir, cmd), 0);
  int st = system(full);
  free(cmd);
  free(full);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static char *out(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *out(const char *fmt, ...)
{
  char *cmd = NULL, *full = NULL;
  va_list ap;
  va_start(ap, fmt);
  cr_assert_gt(vasprintf(&cmd, fmt, ap), 0);
  va_end(ap);
  cr_assert_gt(asprintf(&full, "cd '%s' && (%s) 2>>log", dir, cmd), 0);
  FILE *p = popen(full, "r");
  cr_assert_not_null(p);
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  size_t r;
  while ((r = fread(buf + n, 1, cap - n - 1, p)) > 0) {
    n += r;
    if (n + 1 == cap)
      buf = realloc(buf, cap *= 2);
  }
  buf[n] = '\0';
  pclose(p);
  free(cmd);
  free(full);
  return buf;
}

static void setup(void)
{
  agent = getenv("DONJON_AGENT");
  const char *mk = getenv("DJ_MKIMAGE");
  if (agent == NULL || mk == NULL)
    cr_skip_test("run through meson test (DONJON_AGENT, DJ_MKIMAGE)");
  if (system("command -v skopeo >/dev/null") != 0)
    cr_skip_test("skopeo is not installed");
  dir = strdup("/tmp/dj-skopeo-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  chmod(dir, 0755); /* the confidential profile's mapped root must reach its bundle */
  cr_assert_eq(sh("mkdir -p rootfs/bin && cp /bin/busybox rootfs/bin/busybox && ln -s busybox rootfs/bin/sh && "
                  "'%s' rootfs plain latest", mk), 0);
  /* PKCS#8 private keys (what skopeo reads) and SubjectPublicKeyInfo public keys. */
  cr_assert_eq(sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem && "
                  "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out p256.pem && "
                  "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out p384.pem && "
                  "for k in rsa p256 p384; do openssl pkey -in $k.pem -pubout -out $k.pub || exit 1; done"), 0);
}

static void teardown(void)
{
  if (dir != NULL) {
    char *cmd = NULL;
    if (asprintf(&cmd, "rm -rf '%s'", dir) > 0 && system(cmd) != 0)
      fprintf(stderr, "cannot remove %s\n", dir);
    free(cmd);
    free(dir);
  }
}

TestSuite(skopeo, .init = setup, .fini = teardown, .timeout = 600);

static json_t *inspect(const char *ref)
{
  char *s = out("'%s' image inspect --json %s", agent, ref);
  json_t *j = json_loads(s, 0, NULL);
  cr_assert_not_null(j, "inspect %s: %s", ref, s);
  free(s);
  return j;
}

/* Same layer descriptors (media type, digest, size) and config. */
static void assert_same_layers(const char *a, const char *b)
{
  json_t *ja = inspect(a), *jb = inspect(b);
  json_t *la = json_object_get(ja, "layers"), *lb = json_object_get(jb, "layers");
  cr_assert_eq(json_array_size(la), json_array_size(lb));
  for (size_t i = 0; i < json_array_size(la); i++) {
    json_t *x = json_array_get(la, i), *y = json_array_get(lb, i);
    const char *keys[] = { "mediaType", "digest", "size" };
    for (int k = 0; k < 3; k++)
      cr_assert(json_equal(json_object_get(x, keys[k]), json_object_get(y, keys[k])), "layer %zu %s differs", i,
                keys[k]);
  }
  cr_assert(json_equal(json_object_get(json_object_get(ja, "config"), "digest"),
                       json_object_get(json_object_get(jb, "config"), "digest")));
  json_decref(ja);
  json_decref(jb);
}

static void skopeo_encrypted_to_donjon(const char *key)
{
  cr_assert_eq(sh("skopeo copy --encryption-key jwe:%s.pub oci:plain:latest oci:senc-%s:v1", key, key), 0);
  char ref[256];
  snprintf(ref, sizeof ref, "oci:senc-%s:v1", key);
  json_t *j = inspect(ref);
  json_t *l0 = json_array_get(json_object_get(j, "layers"), 0);
  cr_assert(json_is_true(json_object_get(l0, "encrypted")));
  cr_assert_str_eq(json_string_value(json_array_get(json_object_get(l0, "recipients"), 0)), "jwe");
  json_decref(j);
  /* decrypt: the original layer back */
  cr_assert_eq(sh("'%s' image decrypt --key %s.pem oci:senc-%s:v1 oci:ddec-%s:v1", agent, key, key, key), 0);
  char dref[256];
  snprintf(dref, sizeof dref, "oci:ddec-%s:v1", key);
  assert_same_layers("oci:plain:latest", dref);
  /* unpack: busybox intact */
  cr_assert_eq(sh("'%s' image unpack --key %s.pem oci:senc-%s:v1 unpacked-%s", agent, key, key, key), 0);
  cr_assert_eq(sh("cmp /bin/busybox unpacked-%s/bin/busybox && test \"$(readlink unpacked-%s/bin/sh)\" = busybox", key,
                  key), 0);
  /* without the key: refused, nothing written */
  cr_assert_neq(sh("'%s' image unpack oci:senc-%s:v1 nokey-%s", agent, key, key), 0);
  cr_assert_neq(sh("test -e nokey-%s", key), 0);
  /* bundle: a config.json from the image config, runnable by donjon in the confidential jail (user
   * namespace: the rootfs is owned by the mapped root) */
  cr_assert_eq(sh("'%s' image bundle --key %s.pem --profile confidential oci:senc-%s:v1 bundle-%s", agent, key, key,
                  key), 0);
  cr_assert_eq(sh("grep -q 'hello from donjon' bundle-%s/config.json && test -x bundle-%s/rootfs/bin/busybox", key,
                  key), 0);
  cr_assert_eq(sh("test \"$(stat -c %%u bundle-%s/rootfs/bin/busybox)\" = 100000", key), 0,
               "the confidential profile's user namespace owns the rootfs");
  const char *donjon = getenv("DONJON");
  cr_assert(donjon != NULL && access(donjon, X_OK) == 0, "the donjon runtime binary is not built");
  char *o = out("'%s' --root '%s/state' run --bundle bundle-%s dj-images-run-%s-$$", donjon, dir, key, key);
  cr_assert(strstr(o, "hello from donjon") != NULL, "%s: output: %s", key, o);
  free(o);
}

Test(skopeo, skopeo_rsa_to_donjon) { skopeo_encrypted_to_donjon("rsa"); }
Test(skopeo, skopeo_p256_to_donjon) { skopeo_encrypted_to_donjon("p256"); }
Test(skopeo, skopeo_p384_to_donjon) { skopeo_encrypted_to_donjon("p384"); }

/* The manifest of layout dir's only (or tagged) image, read with jansson from the files. */
static json_t *manifest_of(const char *layout)
{
  char *path = NULL;
  cr_assert_gt(asprintf(&path, "%s/%s/index.json", dir, layout), 0);
  json_t *idx = json_load_file(path, 0, NULL);
  cr_assert_not_null(idx, "%s", path);
  free(path);
  const char *d = json_string_value(json_object_get(json_array_get(json_object_get(idx, "manifests"), 0), "digest"));
  cr_assert_not_null(d);
  cr_assert_gt(asprintf(&path, "%s/%s/blobs/sha256/%s", dir, layout, d + 7), 0);
  json_t *m = json_load_file(path, 0, NULL);
  cr_assert_not_null(m, "%s", path);
  free(path);
  json_decref(idx);
  return m;
}

/* Store m as the manifest of layout dir's image: written as Go would (sorted keys), re-digested,
 * and the index pointed at it. */
static void manifest_replace(const char *layout, json_t *m)
{
  char *path = NULL, *text = json_dumps(m, JSON_SORT_KEYS | JSON_COMPACT);
  cr_assert_gt(asprintf(&path, "%s/%s/manifest.new", dir, layout), 0);
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f, "%s", path);
  cr_assert_eq(fputs(text, f) >= 0 && fclose(f) == 0, 1);
  char *sum = out("cd %s && sha256sum manifest.new | cut -c1-64", layout);
  sum[strcspn(sum, "\n")] = '\0';
  cr_assert_eq(strlen(sum), 64, "sha256sum: %s", sum);
  cr_assert_eq(sh("cd %s && mv manifest.new blobs/sha256/%s", layout, sum), 0);
  free(path);
  cr_assert_gt(asprintf(&path, "%s/%s/index.json", dir, layout), 0);
  json_t *idx = json_load_file(path, 0, NULL);
  json_t *d0 = json_array_get(json_object_get(idx, "manifests"), 0);
  char digest[80];
  snprintf(digest, sizeof digest, "sha256:%s", sum);
  json_object_set_new(d0, "digest", json_string(digest));
  json_object_set_new(d0, "size", json_integer((json_int_t) strlen(text)));
  cr_assert_eq(json_dump_file(idx, path, JSON_COMPACT), 0);
  json_decref(idx);
  free(path);
  free(sum);
  free(text);
}

/* What `donjon image inspect` (text) should print for layout dir's image, from its files: the
 * index's manifest descriptor, the manifest's config and layer descriptors; recipients as given. */
static char *inspect_text_of(const char *layout, const char *recipients)
{
  char *path = NULL, *t = NULL;
  cr_assert_gt(asprintf(&path, "%s/%s/index.json", dir, layout), 0);
  json_t *idx = json_load_file(path, 0, NULL);
  json_t *md = json_array_get(json_object_get(idx, "manifests"), 0);
  json_t *m = manifest_of(layout), *c = json_object_get(m, "config");
  json_t *l0 = json_array_get(json_object_get(m, "layers"), 0);
  const char *mt = json_string_value(json_object_get(l0, "mediaType"));
  bool enc = strstr(mt, "+encrypted") != NULL;
  cr_assert_gt(asprintf(&t,
                        "manifest  %s  %lld bytes\n"
                        "config    %s  %lld bytes  linux/amd64\n"
                        "layer 0   %s  %lld bytes  %s\n    %s\n%s%s%s",
                        json_string_value(json_object_get(md, "digest")), json_integer_value(json_object_get(md, "size")),
                        json_string_value(json_object_get(c, "digest")), json_integer_value(json_object_get(c, "size")),
                        json_string_value(json_object_get(l0, "digest")), json_integer_value(json_object_get(l0, "size")),
                        enc ? "encrypted" : "plain", mt, enc ? "    recipients: " : "", enc ? recipients : "",
                        enc ? "\n" : ""), 0);
  json_decref(m);
  json_decref(idx);
  free(path);
  return t;
}

/* inspect through the command, as text and as JSON: a layer skopeo encrypted, with the recipients
 * a key provider, pkcs7 and pgp would add beside its jwe one, and a plain layer. Without the jwe
 * recipient an unpack is refused naming the kinds the layer has. */
Test(skopeo, inspect_lists_every_recipient_kind_in_text_and_json)
{
  cr_assert_eq(sh("skopeo copy --encryption-key jwe:rsa.pub oci:plain:latest oci:kinds:v1"), 0);
  json_t *m = manifest_of("kinds");
  json_t *ann = json_object_get(json_array_get(json_object_get(m, "layers"), 0), "annotations");
  json_object_set_new(ann, "org.opencontainers.image.enc.keys.provider.attestation-agent", json_string("eyJrIjoxfQ=="));
  json_object_set_new(ann, "org.opencontainers.image.enc.keys.pkcs7", json_string("MIIBpgYJKoZIhvcNAQcD"));
  json_object_set_new(ann, "org.opencontainers.image.enc.keys.pgp", json_string("hQEMA8z"));
  manifest_replace("kinds", m);

  const char *kinds[] = { "jwe", "pgp", "pkcs7", "provider:attestation-agent" }; /* the annotations' order */
  json_t *j = inspect("oci:kinds:v1");
  json_t *l0 = json_array_get(json_object_get(j, "layers"), 0), *rec = json_object_get(l0, "recipients");
  cr_assert(json_is_true(json_object_get(l0, "encrypted")));
  cr_assert_eq(json_array_size(rec), 4, "recipients: %s", json_dumps(rec, 0));
  for (size_t i = 0; i < 4; i++)
    cr_assert_str_eq(json_string_value(json_array_get(rec, i)), kinds[i]);
  json_decref(j);
  char *text = out("'%s' image inspect oci:kinds:v1", agent);
  char *want = inspect_text_of("kinds", "jwe, pgp, pkcs7, provider:attestation-agent");
  cr_assert_str_eq(text, want);
  free(text);
  free(want);

  j = inspect("oci:plain:latest");
  l0 = json_array_get(json_object_get(j, "layers"), 0);
  cr_assert(json_is_false(json_object_get(l0, "encrypted")));
  cr_assert_eq(json_array_size(json_object_get(l0, "recipients")), 0);
  json_decref(j);
  text = out("'%s' image inspect oci:plain:latest", agent);
  want = inspect_text_of("plain", NULL);
  cr_assert_str_eq(text, want);
  free(text);
  free(want);

  json_object_del(ann, "org.opencontainers.image.enc.keys.jwe");
  manifest_replace("kinds", m);
  json_decref(m);
  text = out("'%s' image unpack --key rsa.pem oci:kinds:v1 nojwe 2>&1; echo \"exit $?\"", agent);
  cr_assert(strstr(text, "no JWE recipient (recipients: pgp, pkcs7, provider:attestation-agent)") != NULL, "%s", text);
  cr_assert(strstr(text, "exit 1") != NULL, "%s", text);
  cr_assert_neq(sh("test -e nojwe"), 0, "the refused unpack left nojwe");
  free(text);
}

/* The members of a layer's pubopts document, and the layer's annotation names, as one sorted text. */
static char *encrypted_layer_shape(const char *layout)
{
  json_t *m = manifest_of(layout);
  json_t *l0 = json_array_get(json_object_get(m, "layers"), 0);
  json_t *ann = json_object_get(l0, "annotations");
  char *pub = out("echo '%s' | base64 -d", json_string_value(json_object_get(ann, "org.opencontainers.image.enc.pubopts")));
  json_t *po = json_loads(pub, 0, NULL);
  cr_assert_not_null(po, "pubopts: %s", pub);
  cr_assert_str_eq(json_string_value(json_object_get(po, "cipher")), "AES_256_CTR_HMAC_SHA256");
  json_t *shape = json_object();
  json_object_set(shape, "mediaType", json_object_get(l0, "mediaType"));
  const char *k;
  json_t *v;
  json_t *names = json_array(), *members = json_array();
  json_object_foreach(ann, k, v) json_array_append_new(names, json_string(k));
  json_object_foreach(po, k, v) json_array_append_new(members, json_string(k));
  json_object_set_new(shape, "annotations", names);
  json_object_set_new(shape, "pubopts", members);
  json_object_set(shape, "config", json_object_get(m, "config"));
  char *text = json_dumps(shape, JSON_SORT_KEYS | JSON_COMPACT);
  json_decref(shape);
  json_decref(po);
  json_decref(m);
  free(pub);
  return text;
}

static void donjon_encrypted_to_skopeo_from(const char *src, const char *recipients, const char *key, const char *name)
{
  cr_assert_eq(sh("'%s' image encrypt %s oci:%s:latest oci:denc-%s:v1", agent, recipients, src, name), 0);
  /* what skopeo writes: the same media type, annotations, pubopts members and the unchanged config */
  char *theirs = NULL;
  cr_assert_eq(sh("skopeo copy --encryption-key jwe:%s.pub oci:%s:latest oci:senc-shape-%s:v1", key, src, name), 0);
  char l1[128], l2[128];
  snprintf(l1, sizeof l1, "denc-%s", name);
  snprintf(l2, sizeof l2, "senc-shape-%s", name);
  char *ours = encrypted_layer_shape(l1);
  theirs = encrypted_layer_shape(l2);
  cr_assert_str_eq(ours, theirs, "donjon's encrypted layer differs from skopeo's in shape");
  free(ours);
  free(theirs);
  cr_assert_eq(sh("skopeo copy --decryption-key %s.pem oci:denc-%s:v1 oci:sdec-%s:v1", key, name, name), 0);
  char a[256], o[256];
  snprintf(a, sizeof a, "oci:sdec-%s:v1", name);
  snprintf(o, sizeof o, "oci:%s:latest", src);
  assert_same_layers(o, a);
}

static void donjon_encrypted_to_skopeo(const char *recipients, const char *key, const char *name)
{
  donjon_encrypted_to_skopeo_from("plain", recipients, key, name);
}

Test(skopeo, donjon_rsa_to_skopeo) { donjon_encrypted_to_skopeo("--recipient jwe:rsa.pub", "rsa", "rsa"); }
Test(skopeo, donjon_p256_to_skopeo) { donjon_encrypted_to_skopeo("--recipient jwe:p256.pub", "p256", "p256"); }
Test(skopeo, donjon_p384_to_skopeo) { donjon_encrypted_to_skopeo("--recipient jwe:p384.pub", "p384", "p384"); }

/* Several recipients: each key alone opens the layer, for skopeo too. */
Test(skopeo, donjon_three_recipients_to_skopeo)
{
  const char *r = "--recipient jwe:rsa.pub --recipient jwe:p256.pub --recipient jwe:p384.pub";
  donjon_encrypted_to_skopeo(r, "rsa", "multi");
  cr_assert_eq(sh("skopeo copy --decryption-key p384.pem oci:denc-multi:v1 oci:sdec-multi384:v1"), 0);
  assert_same_layers("oci:plain:latest", "oci:sdec-multi384:v1");
}

Test(skopeo, oci_archive_both_ways)
{
  cr_assert_eq(sh("'%s' image encrypt --recipient jwe:p256.pub oci:plain:latest oci-archive:denc.tar:v2", agent), 0);
  cr_assert_eq(sh("skopeo copy --decryption-key p256.pem oci-archive:denc.tar:v2 oci:sdec-arch:v1"), 0);
  assert_same_layers("oci:plain:latest", "oci:sdec-arch:v1");
  cr_assert_eq(sh("skopeo copy --encryption-key jwe:rsa.pub oci:plain:latest oci-archive:senc.tar:v3"), 0);
  cr_assert_eq(sh("'%s' image unpack --key rsa.pem oci-archive:senc.tar:v3 unpacked-arch && "
                  "cmp /bin/busybox unpacked-arch/bin/busybox", agent), 0);
}

Test(skopeo, absent_and_ambiguous_tags_are_clear_errors)
{
  char *s = out("'%s' image inspect oci:plain:nosuchtag 2>&1", agent);
  cr_assert(strstr(s, "no manifest is tagged \"nosuchtag\"") != NULL, "%s", s);
  free(s);
}

/* An id map whose range reaches 4294967295 ((uid_t) -1, no id) is refused by the command, before
 * anything is written: container uid 1 would map to host root through the wrap. */
Test(skopeo, id_maps_past_the_last_id_are_refused)
{
  const char *maps[] = { "--uid-map 0:4294967295:2", "--gid-map 0:4294967290:6", "--uid-map 4294967295:0:1" };
  for (size_t i = 0; i < sizeof maps / sizeof maps[0]; i++) {
    char *s = out("'%s' image unpack %s oci:plain:latest mapped 2>&1; echo \"exit $?\"", agent, maps[i]);
    cr_assert(strstr(s, "ranges below 4294967295") != NULL && strstr(s, "exit 2") != NULL, "%s: %s", maps[i], s);
    cr_assert_neq(sh("test -e mapped"), 0);
    free(s);
  }
}

/* zstd layers (skopeo --dest-compress-format zstd) both ways. */
Test(skopeo, zstd_layers_both_ways)
{
  cr_assert_eq(sh("skopeo copy --dest-compress --dest-compress-format zstd oci:plain:latest oci:zst:latest"), 0);
  json_t *j = inspect("oci:zst:latest");
  cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "layers"), 0), "mediaType")),
                   "application/vnd.oci.image.layer.v1.tar+zstd");
  json_decref(j);
  cr_assert_eq(sh("skopeo copy --encryption-key jwe:p384.pub oci:zst:latest oci:zsenc:v1"), 0);
  cr_assert_eq(sh("'%s' image decrypt --key p384.pem oci:zsenc:v1 oci:zddec:v1", agent), 0);
  assert_same_layers("oci:zst:latest", "oci:zddec:v1");
  cr_assert_eq(sh("'%s' image unpack --key p384.pem oci:zsenc:v1 zunpacked && cmp /bin/busybox zunpacked/bin/busybox",
                  agent), 0);
  donjon_encrypted_to_skopeo_from("zst", "--recipient jwe:rsa.pub", "rsa", "zrsa");
}
