/* Test keys from a pool shared by the tests of one run (tests/unit/keypool.h). */
#include "keypool.h"

#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/pem.h>

static EVP_PKEY *key_generate(const char *kind)
{
  EVP_PKEY *k = NULL;
  if (strcmp(kind, "rsa2048") == 0)
    k = EVP_RSA_gen(2048);
  else if (strcmp(kind, "rsa3072") == 0)
    k = EVP_RSA_gen(3072);
  else if (strcmp(kind, "p256") == 0)
    k = EVP_EC_gen("P-256");
  else if (strcmp(kind, "p384") == 0)
    k = EVP_EC_gen("P-384");
  else if (strcmp(kind, "p521") == 0)
    k = EVP_EC_gen("P-521");
  cr_assert_not_null(k, "key %s", kind);
  return k;
}

/* Every test runs in a process of its own and RSA key generation dominated the suites' time: the
 * runner makes a key pool directory (inherited through the environment) and removes it at the
 * end; the n-th key of a kind a test asks for is the pool's n-th, made by the first test that
 * needed it. Distinct calls in one test still get distinct keys. */
#define POOL_ENV "DJ_TEST_KEY_POOL"

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
  (void) set;
  char dir[] = "/tmp/dj-test-keys-XXXXXX";
  if (mkdtemp(dir) != NULL)
    setenv(POOL_ENV, dir, 1);
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
  (void) stats;
  const char *dir = getenv(POOL_ENV);
  if (dir == NULL || strncmp(dir, "/tmp/dj-test-keys-", 18) != 0)
    return;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    fprintf(stderr, "cannot remove %s\n", dir);
}

EVP_PKEY *tk_key(const char *kind)
{
  static struct {
    char kind[16];
    int n;
  } used[8];
  int i = 0;
  while (i < 8 && used[i].kind[0] && strcmp(used[i].kind, kind) != 0)
    i++;
  cr_assert_lt(i, 8);
  snprintf(used[i].kind, sizeof used[i].kind, "%s", kind);
  const char *dir = getenv(POOL_ENV);
  if (dir == NULL)
    return key_generate(kind);
  char path[256], tmp[300];
  snprintf(path, sizeof path, "%s/%s-%d.pem", dir, kind, used[i].n++);
  FILE *f = fopen(path, "r");
  if (f != NULL) {
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    cr_assert_not_null(k, "%s", path);
    return k;
  }
  EVP_PKEY *k = key_generate(kind);
  snprintf(tmp, sizeof tmp, "%s.%d", path, (int) getpid());
  f = fopen(tmp, "w");
  if (f != NULL && PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1 && fclose(f) == 0)
    rename(tmp, path); /* whole or not at all: another test may read it at once */
  else if (f != NULL)
    fclose(f);
  return k;
}
