/* Interop with skopeo 1.9 both ways, for RSA, EC P-256 and EC P-384 keys: images skopeo encrypted
 * are decrypted, unpacked, bundled (and run) by donjon; images donjon encrypted are decrypted by
 * skopeo to layers with the original's descriptors. The test image is built by mkimage.sh from
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
  /* bundle: a config.json from the image config */
  cr_assert_eq(sh("'%s' image bundle --key %s.pem oci:senc-%s:v1 bundle-%s", agent, key, key, key), 0);
  cr_assert_eq(sh("grep -q 'hello from donjon' bundle-%s/config.json && test -x bundle-%s/rootfs/bin/busybox", key,
                  key), 0);
}

Test(skopeo, skopeo_rsa_to_donjon) { skopeo_encrypted_to_donjon("rsa"); }
Test(skopeo, skopeo_p256_to_donjon) { skopeo_encrypted_to_donjon("p256"); }
Test(skopeo, skopeo_p384_to_donjon) { skopeo_encrypted_to_donjon("p384"); }

static void donjon_encrypted_to_skopeo(const char *recipients, const char *key, const char *name)
{
  cr_assert_eq(sh("'%s' image encrypt %s oci:plain:latest oci:denc-%s:v1", agent, recipients, name), 0);
  cr_assert_eq(sh("skopeo copy --decryption-key %s.pem oci:denc-%s:v1 oci:sdec-%s:v1", key, name, name), 0);
  char a[256];
  snprintf(a, sizeof a, "oci:sdec-%s:v1", name);
  assert_same_layers("oci:plain:latest", a);
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

/* The bundle (confidential profile: user namespace, remapped ownership) runs under donjon. */
Test(skopeo, skopeo_encrypted_bundle_runs)
{
  const char *donjon = getenv("DONJON");
  if (donjon == NULL || access(donjon, X_OK) != 0)
    cr_skip_test("the donjon runtime binary is not built");
  cr_assert_eq(sh("skopeo copy --encryption-key jwe:p256.pub oci:plain:latest oci:run:v1"), 0);
  cr_assert_eq(sh("'%s' image bundle --key p256.pem --profile confidential oci:run:v1 runbundle", agent), 0);
  cr_assert_eq(sh("test \"$(stat -c %%u runbundle/rootfs/bin/busybox)\" = 100000"),
               0, "the confidential profile's user namespace owns the rootfs");
  char *o = out("'%s' --root '%s/state' run --bundle runbundle dj-images-run-$$", donjon, dir);
  cr_assert(strstr(o, "hello from donjon") != NULL, "output: %s", o);
  free(o);
}
