/* Software TPM2_MakeCredential (TPM 2.0 Part 1 §24, Part 3 §12.6): wraps a secret to an EK so that
 * only the TPM holding that EK, and only for an object of the given name (the AK), can recover it
 * with TPM2_ActivateCredential. RSA EKs: RSA-OAEP seed; ECC EKs: ECDH seed (KDFe); then KDFa,
 * AES-CFB and an HMAC, with the EK's own nameAlg and symmetric algorithm. */
#ifndef DJ_ATTEST_MAKECRED_H
#define DJ_ATTEST_MAKECRED_H

#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "common/err.h"

/* secret_len must be 1..digest size of the EK's nameAlg. */
int dj_make_credential(const TPMT_PUBLIC *ek, const TPM2B_NAME *name, const uint8_t *secret, size_t secret_len,
                       TPM2B_ID_OBJECT *blob, TPM2B_ENCRYPTED_SECRET *enc_seed, dj_err *err);

/* Constant-time compare of the secret the node returned with the one that was wrapped
 * (DJ_ATTEST_E_CREDENTIAL when they differ). */
int dj_credential_check(const uint8_t *expected, size_t expected_len, const uint8_t *got, size_t got_len, dj_err *err);

/* KDFa of Part 1 §11.4.10.2 (SP 800-108 counter mode, HMAC), through OpenSSL's KBKDF. label
 * without its NUL (the separator byte adds it). */
int dj_kdfa(TPMI_ALG_HASH alg, const uint8_t *key, size_t key_len, const char *label, const uint8_t *ctx_u,
            size_t ctx_u_len, const uint8_t *ctx_v, size_t ctx_v_len, uint8_t *out, size_t out_len, dj_err *err);

#endif
