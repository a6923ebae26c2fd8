/* EK certificates: full path validation to configured roots with OpenSSL (dates, signatures,
 * intermediates, critical extensions), the EK extended key usage, the TCG directoryName SAN
 * (manufacturer/model/version), and the match between the certificate and the TPM's EK. No
 * verify callback: an unhandled critical extension stays an error. */
#ifndef DJ_ATTEST_EKCERT_H
#define DJ_ATTEST_EKCERT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>
#include <tss2/tss2_tpm2_types.h>

#include "common/err.h"

#define DJ_EK_CERT_MAX 4096
#define DJ_OID_EK_EKU "2.23.133.8.1"
#define DJ_OID_TPM_MANUFACTURER "2.23.133.2.1"
#define DJ_OID_TPM_MODEL "2.23.133.2.2"
#define DJ_OID_TPM_VERSION "2.23.133.2.3"

struct dj_ek_trust {
  X509_STORE *roots;                 /* trust anchors (policy: hardware.ek_roots) */
  STACK_OF(X509) *intermediates;     /* untrusted CA certificates that may complete a path */
};

/* Claims for the policy module, as plain strings. */
struct dj_ek_claims {
  char manufacturer[64];             /* TPMManufacturer, e.g. "id:53544D20" */
  char model[64];                    /* TPMModel */
  char version[64];                  /* TPMVersion, e.g. "id:00010002" */
  char subject[256];                 /* one-line subject (often empty for EK certificates) */
  char issuer[256];
  char key_type[16];                 /* "RSA-2048", "ECC-P256", "ECC-P384" */
};

/* Load PEM files (each may hold several certificates) into a trust set. */
int dj_ek_trust_load(struct dj_ek_trust *trust, const char *const *root_files, size_t n_roots,
                     const char *const *intermediate_files, size_t n_intermediates, dj_err *err);
void dj_ek_trust_free(struct dj_ek_trust *trust);

/* Parse a DER EK certificate (exactly len bytes) and check it: path to a root at time at (0: now)
 * (DJ_ATTEST_E_EK_CHAIN), EK EKU (DJ_ATTEST_E_EK_EKU), TPM SAN (DJ_ATTEST_E_EK_SAN). On success
 * *cert_out (may be NULL) owns the certificate and claims (may be NULL) is filled. */
int dj_ekcert_verify(const uint8_t *der, size_t len, const struct dj_ek_trust *trust, time_t at, X509 **cert_out,
                     struct dj_ek_claims *claims, dj_err *err);

/* The TCG SAN and key type of a certificate, without path validation (for `donjon tpm info`). */
int dj_ekcert_claims(X509 *cert, struct dj_ek_claims *claims, dj_err *err);

/* The EK's public key equals the certificate's (DJ_ATTEST_E_EK_KEY_MISMATCH otherwise). */
int dj_ekcert_match_public(X509 *cert, const TPMT_PUBLIC *ek, dj_err *err);

#endif
