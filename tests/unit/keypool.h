/* Test keys: "rsa2048", "rsa3072", "p256", "p384", "p521". Each criterion test runs in a process of
 * its own, and generating RSA keys was most of some suites' time: the n-th key of a kind that a
 * test asks for is the n-th of a pool the runner keeps for the run (made by the first test that
 * needs it, removed at the end). Distinct calls in one test get distinct keys. */
#ifndef DJ_TESTS_KEYPOOL_H
#define DJ_TESTS_KEYPOOL_H

#include <openssl/evp.h>

EVP_PKEY *tk_key(const char *kind);

#endif
