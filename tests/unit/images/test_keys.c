/* Key files: PKCS#8, PKCS#1 and SEC1 private keys, SubjectPublicKeyInfo public keys. */
#include <criterion/criterion.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "images/keys.h"
#include "imgtest.h"

static char *dir;
static void setup(void) { dir = tt_tmpdir(); }
static void teardown(void)
{
  tt_rmrf(dir);
  free(dir);
}
TestSuite(keys, .init = setup, .fini = teardown);

enum form { PKCS8, TRADITIONAL, PUBLIC };

static char *write_key(EVP_PKEY *k, enum form f, const char *name)
{
  char *p = NULL;
  cr_assert_gt(asprintf(&p, "%s/%s", dir, name), 0);
  BIO *b = BIO_new_file(p, "w");
  int ok = f == PKCS8         ? PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL)
           : f == TRADITIONAL ? PEM_write_bio_PrivateKey_traditional(b, k, NULL, NULL, 0, NULL, NULL)
                              : PEM_write_bio_PUBKEY(b, k);
  cr_assert_eq(ok, 1);
  BIO_free(b);
  return p;
}

Test(keys, private_and_public_forms)
{
  EVP_PKEY *keys[2] = { EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048), EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256") };
  for (int i = 0; i < 2; i++) {
    char *p8 = write_key(keys[i], PKCS8, "p8.pem"), *tr = write_key(keys[i], TRADITIONAL, "tr.pem");
    char *pub = write_key(keys[i], PUBLIC, "pub.pem");
    EVP_PKEY *k = NULL;
    dj_err err = { 0 };
    cr_assert_eq(dj_key_load_private(p8, &k, &err), 0, "%s", err.msg);
    cr_assert_eq(EVP_PKEY_eq(k, keys[i]), 1);
    EVP_PKEY_free(k);
    cr_assert_eq(dj_key_load_private(tr, &k, &err), 0, "%s", err.msg);
    cr_assert_eq(EVP_PKEY_eq(k, keys[i]), 1);
    EVP_PKEY_free(k);
    cr_assert_eq(dj_key_load_public(pub, &k, &err), 0, "%s", err.msg);
    cr_assert_eq(EVP_PKEY_eq(k, keys[i]), 1);
    EVP_PKEY_free(k);
    /* A public key is not a private key. */
    dj_err e2 = { 0 };
    cr_assert_eq(dj_key_load_private(pub, &k, &e2), -1);
    cr_assert(strstr(e2.msg, "not a private key") != NULL, "%s", e2.msg);
    free(p8);
    free(tr);
    free(pub);
    EVP_PKEY_free(keys[i]);
  }
}

Test(keys, missing_and_garbage_files)
{
  EVP_PKEY *k = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_key_load_private("/nonexistent/key.pem", &k, &err), -1);
  cr_assert(strstr(err.msg, "/nonexistent/key.pem") != NULL, "%s", err.msg);
  char *p = NULL;
  cr_assert_gt(asprintf(&p, "%s/garbage", dir), 0);
  tt_write(p, "not a key\n", 10);
  dj_err e2 = { 0 };
  cr_assert_eq(dj_key_load_public(p, &k, &e2), -1);
  cr_assert(strstr(e2.msg, "not a public key") != NULL, "%s", e2.msg);
  free(p);
}
