/* Tenant keys at rest and in use: a KEK that is an EC key opens image recipients wrapped with
 * ECDH-ES+A256KW (the RSA-OAEP case is test_flow's), and the database file (with its WAL, while the
 * verifier runs and after it stopped) never holds a released secret, the KEK's private key or a
 * layer's private options in plaintext, in any of the encodings the API uses. */
#include <criterion/criterion.h>
#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "images/b64.h"
#include "images/jwe.h"
#include "vharness.h"

static struct vh v;
static struct vnode n;

static void setup(void)
{
  vh_create(&v, NULL);
  vh_start(&v);
  vnode_create(&n, DJ_AK_ECC_P256);
}

static void teardown(void)
{
  vh_destroy(&v);
  vnode_destroy(&n);
}

TestSuite(keys, .init = setup, .fini = teardown, .timeout = 300);

/* The whole file, or an empty buffer when it does not exist (the WAL after a clean stop). */
static uint8_t *slurp(const char *path, size_t *len)
{
  *len = 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return dj_xmalloc(1);
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = dj_xmalloc((size_t) size + 1);
  *len = fread(b, 1, (size_t) size, f);
  fclose(f);
  return b;
}

/* Neither the database nor its WAL contains what (len bytes), nor its hex, base64 or base64url. */
static void never_in_database(const uint8_t *what, size_t len, const char *name)
{
  char *hex = dj_xmalloc(2 * len + 1);
  for (size_t i = 0; i < len; i++)
    snprintf(hex + 2 * i, 3, "%02x", what[i]);
  char *b64 = dj_b64_encode(what, len), *b64url = dj_b64url_encode(what, len);
  const char *files[] = { "", "-wal" };
  for (size_t f = 0; f < 2; f++) {
    char path[PATH_MAX + 40];
    snprintf(path, sizeof path, "%s%s", v.db, files[f]);
    size_t dl = 0;
    uint8_t *d = slurp(path, &dl);
    cr_assert_null(memmem(d, dl, what, len), "%s in plaintext in %s", name, path);
    cr_assert_null(memmem(d, dl, hex, 2 * len), "%s in hex in %s", name, path);
    /* the first 40 characters of an encoding: its tail depends on padding */
    cr_assert_null(memmem(d, dl, b64, strlen(b64) < 40 ? strlen(b64) : 40), "%s in base64 in %s", name, path);
    cr_assert_null(memmem(d, dl, b64url, strlen(b64url) < 40 ? strlen(b64url) : 40), "%s in base64url in %s", name,
                   path);
    free(d);
  }
  free(hex);
  free(b64);
  free(b64url);
}

/* The scan reads what the verifier wrote: the tenant policy's text is there. */
static bool in_database(const char *text)
{
  bool found = false;
  const char *files[] = { "", "-wal" };
  for (size_t f = 0; f < 2 && !found; f++) {
    char path[PATH_MAX + 40];
    snprintf(path, sizeof path, "%s%s", v.db, files[f]);
    size_t dl = 0;
    uint8_t *d = slurp(path, &dl);
    found = memmem(d, dl, text, strlen(text)) != NULL;
    free(d);
  }
  return found;
}

Test(keys, ec_kek_opens_its_recipients_and_nothing_is_kept_in_plaintext)
{
  struct vnode *one[] = { &n };
  vh_operator_policy(&v, one, 1);
  EVP_PKEY *kek = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
  char *privopts, *recipient, digest[72];
  const char *tag = "5555555555555555555555555555555555555555555555555555555555555555";
  char *manifest = vh_layer_manifest(kek, DJ_JWE_ECDH_ES_A256KW, tag, false, &privopts, &recipient, digest);
  cr_assert_null(strstr(recipient, "RSA"), "not an ECDH-ES recipient");

  /* the tenant: a policy for that image, a secret and the EC KEK */
  json_t *wl = json_pack("[{s:s, s:s, s:{s:[[s,s]], s:[s], s:[s]}}]", "manifest", digest, "profile", "confidential",
                         "config", "args", "/bin/app", "--serve", "env", "PATH=*", "mounts", "/tmp");
  json_t *rule = json_pack("{s:[s], s:[s], s:[s], s:i, s:o}", "jurisdictions", "FR", "sites", "FR-*",
                           "hardware_classes", "std-1", "max_evidence_age", 60, "workloads", wl);
  json_t *doc = json_pack("{s:s, s:s, s:{s:O, s:O}}", "kind", "tenant", "tenant", "acme", "keys", "acme-db", rule,
                          "acme-kek", rule);
  cr_assert_eq(vh_call(&v, "acme", "PUT", "/v1/policy/tenants/acme", doc, NULL), 200);
  json_decref(doc);
  json_decref(rule);
  uint8_t secret[48];
  RAND_bytes(secret, sizeof secret);
  char *sv = dj_b64url_encode(secret, sizeof secret);
  json_t *kb = json_pack("{s:s, s:s}", "kind", "secret", "value", sv);
  cr_assert_eq(vh_call(&v, "acme", "PUT", "/v1/keys/acme-db", kb, NULL), 201);
  json_decref(kb);
  free(sv);
  BIO *bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, kek, NULL, NULL, 0, NULL, NULL);
  char *pem = NULL;
  long pem_len = BIO_get_mem_data(bio, &pem);
  kb = json_pack("{s:s, s:s%}", "kind", "kek", "private_key", pem, (size_t) pem_len);
  json_t *resp = NULL;
  cr_assert_eq(vh_call(&v, "acme", "PUT", "/v1/keys/acme-kek", kb, &resp), 201);
  cr_assert_not_null(strstr(json_string_value(json_object_get(resp, "public_key")), "BEGIN PUBLIC KEY"));
  json_decref(resp);
  json_decref(kb);
  vnode_enroll(&v, &n);
  vnode_approve(&v, &n, "FR-PAR-1", "FR", "std-1");

  /* the launch: the secret and the layer's private options, each a JWE to the launch's key */
  json_t *cfg = vh_config("--serve");
  const char *keys[] = { "acme-db", "acme-kek" };
  char layer_digest[80];
  snprintf(layer_digest, sizeof layer_digest, "sha256:%s", tag);
  struct dj_vlayer layer = { .digest = layer_digest, .recipient = recipient };
  struct dj_vattest_args args = { .keys = keys, .n_keys = 2, .manifest = digest, .profile = "confidential",
                                  .config = cfg, .image_manifest = (const uint8_t *) manifest,
                                  .image_manifest_len = strlen(manifest), .layers = &layer, .n_layers = 1 };
  struct vh_attest at = { .args = &args };
  struct dj_vattest_result res;
  cr_assert_eq(vh_attest(&v, &n, &at, &res), 200, "%s", vh_code(&res));
  cr_assert_eq(res.n_keys, 1, "the KEK itself is never released");
  cr_assert_eq(res.keys[0].len, sizeof secret);
  cr_assert_eq(memcmp(res.keys[0].data, secret, sizeof secret), 0);
  cr_assert_eq(res.n_layers, 1);
  cr_assert_eq(res.layers[0].len, strlen(privopts));
  cr_assert_eq(memcmp(res.layers[0].data, privopts, strlen(privopts)), 0, "the EC KEK did not open its recipient");
  json_t *layers = json_object_get(res.answer, "layers");
  cr_assert_str_eq(json_string_value(json_object_get(json_array_get(layers, 0), "key")), "acme-kek");
  dj_vattest_result_free(&res);

  /* at rest: the secret, the KEK's private scalar and PEM, the layer key; running, then stopped */
  BIGNUM *d = NULL;
  cr_assert_eq(EVP_PKEY_get_bn_param(kek, OSSL_PKEY_PARAM_PRIV_KEY, &d), 1);
  uint8_t scalar[48];
  cr_assert_eq(BN_bn2binpad(d, scalar, sizeof scalar), (int) sizeof scalar);
  BN_free(d);
  const char *body = strchr(pem, '\n') + 1; /* the PEM's first base64 line */
  json_t *po = json_loads(privopts, 0, NULL);
  const char *symkey = json_string_value(json_object_get(po, "symkey"));
  for (int pass = 0; pass < 2; pass++) {
    cr_assert(in_database(digest), "the scan does not see the database's contents");
    never_in_database(secret, sizeof secret, "the secret");
    never_in_database(scalar, sizeof scalar, "the KEK's private key");
    never_in_database((const uint8_t *) body, 64, "the KEK's PEM");
    never_in_database((const uint8_t *) symkey, strlen(symkey), "the layer's key");
    if (pass == 0)
      vh_stop(&v); /* a clean stop copies the WAL into the database */
  }
  json_decref(po);
  BIO_free(bio);
  json_decref(cfg);
  free(manifest);
  free(privopts);
  free(recipient);
  EVP_PKEY_free(kek);
}
