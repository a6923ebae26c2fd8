/* Software stand-ins for a TPM in unit tests: keys, AK public areas as tpm2_createak makes them,
 * signed TPMS_ATTEST quotes, and a small X.509 CA to make EK certificates. */
#ifndef DJ_TEST_ATTEST_HELPERS_H
#define DJ_TEST_ATTEST_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <tss2/tss2_tpm2_types.h>

#include "attest/pcr.h"

/* "rsa2048", "rsa3072", "p256", "p384" */
EVP_PKEY *th_key(const char *kind);
/* The AK public area of key with tpm2_createak's attributes and scheme (hash SHA-256). */
void th_ak_public(EVP_PKEY *key, TPM2B_PUBLIC *out);
/* An EK public area (TCG default template style) for key; sym AES-128-CFB, or AES-256 for P-384. */
void th_ek_public(EVP_PKEY *key, TPM2B_PUBLIC *out);
/* Sign data the way a TPM does with the AK's scheme. */
void th_sign(EVP_PKEY *key, const TPM2B_PUBLIC *ak, const uint8_t *data, size_t len, TPMT_SIGNATURE *sig);

/* A quote and everything around it, to be changed one thing at a time. */
struct th_quote {
  EVP_PKEY *key;
  TPM2B_PUBLIC ak;
  TPML_PCR_SELECTION sel;
  struct dj_pcr_values pcrs;
  uint8_t extra[32];
  TPMS_ATTEST att;
  uint8_t msg[4096];
  size_t msg_len;
  uint8_t sig[4096];
  size_t sig_len;
};
/* Build a valid quote over "sha256:0,1,2,3,4,5,6,7,23" with random PCR values. */
void th_quote_new(struct th_quote *q, const char *kind);
/* Recompute pcrDigest from q->pcrs (if recompute), marshal att and sign it. */
void th_quote_seal(struct th_quote *q, bool recompute_digest);
void th_quote_free(struct th_quote *q);

/* X.509: a CA (self-signed when issuer is NULL) and an EK certificate. */
struct th_cert_opts {
  long not_before_days;      /* relative to now (default -1) */
  long not_after_days;       /* default 365 */
  bool no_eku;
  bool no_san;
  bool extra_critical;       /* add an unknown critical extension */
};
X509 *th_ca(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key);
X509 *th_ek_cert(EVP_PKEY *ek_key, X509 *issuer, EVP_PKEY *issuer_key, const struct th_cert_opts *opts);
/* DER of a certificate in a malloc'd buffer. */
uint8_t *th_der(X509 *cert, size_t *len);
/* Write certificates as PEM into a fresh temp file; returns its path (static buffer per slot). */
const char *th_pem_file(X509 *const *certs, size_t n, int slot);

#endif
