/* TPM structures from untrusted bytes, through tss2-mu only: bounded, whole-buffer unmarshalling,
 * public areas as OpenSSL keys, and object names (nameAlg || H(TPMT_PUBLIC)).
 * tpm2-tss logs malformed input to stderr by itself: binaries set TSS2_LOG=all+NONE before the
 * first call (cli/cmd_tpm.c does), as a library cannot. */
#ifndef DJ_ATTEST_TPMSTRUCT_H
#define DJ_ATTEST_TPMSTRUCT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include "common/err.h"

/* No marshalled structure we accept is larger than this (a TPMS_ATTEST fits in 1 KiB). */
#define DJ_TPM_STRUCT_MAX 4096

/* Each fails with DJ_ATTEST_E_MALFORMED when the bytes do not unmarshal, when bytes are left over
 * or when len exceeds DJ_TPM_STRUCT_MAX. */
int dj_tpm_unmarshal_attest(const uint8_t *buf, size_t len, TPMS_ATTEST *out, dj_err *err);
int dj_tpm_unmarshal_signature(const uint8_t *buf, size_t len, TPMT_SIGNATURE *out, dj_err *err);
int dj_tpm_unmarshal_public(const uint8_t *buf, size_t len, TPM2B_PUBLIC *out, dj_err *err);

/* An EK template from NV: a whole TPMT_PUBLIC of the default template's type and key size or curve. */
int dj_tpm_unmarshal_ek_template(const uint8_t *buf, size_t len, const TPMT_PUBLIC *dflt, TPMT_PUBLIC *out, dj_err *err);

/* Marshal into a caller buffer of DJ_TPM_STRUCT_MAX bytes; *len is set. */
int dj_tpm_marshal_public(const TPM2B_PUBLIC *pub, uint8_t *buf, size_t *len, dj_err *err);
int dj_tpm_marshal_attest(const TPMS_ATTEST *att, uint8_t *buf, size_t *len, dj_err *err);
int dj_tpm_marshal_signature(const TPMT_SIGNATURE *sig, uint8_t *buf, size_t *len, dj_err *err);

/* The OpenSSL digest of a TPM hash algorithm (SHA-1/256/384/512), NULL for others. */
const EVP_MD *dj_tpm_md(TPMI_ALG_HASH alg);
/* "sha256" etc., or NULL. */
const char *dj_tpm_hash_name(TPMI_ALG_HASH alg);
TPMI_ALG_HASH dj_tpm_hash_from_name(const char *name); /* TPM2_ALG_ERROR if unknown */

/* The public key of an RSA or ECC (NIST P-256/384/521) public area. */
int dj_tpm_public_to_evp(const TPMT_PUBLIC *pub, EVP_PKEY **out, dj_err *err);
/* The reverse, for the key material only (type, unique, keyBits/curveId, exponent); the rest of
 * *pub (attributes, schemes, nameAlg) is left as the caller set it. */
int dj_tpm_public_from_evp(EVP_PKEY *key, TPMT_PUBLIC *pub, dj_err *err);

/* The object name: nameAlg (big-endian) || H_nameAlg(marshalled TPMT_PUBLIC). */
int dj_tpm_public_name(const TPMT_PUBLIC *pub, TPM2B_NAME *name, dj_err *err);

/* A tss2 return code as text (Tss2_RC_Decode). */
const char *dj_tpm_rc_str(TSS2_RC rc);

#endif
