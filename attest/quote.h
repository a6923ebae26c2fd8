/* The checking side of a quote (DESIGN.md §5, checks 3-8) and of an AK's public area. No TPM is
 * needed: tss2-mu unmarshals, OpenSSL verifies. Each failed check has its own code (codes.h). */
#ifndef DJ_ATTEST_QUOTE_H
#define DJ_ATTEST_QUOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "attest/pcr.h"
#include "common/err.h"

/* Which AK kinds are allowed; zero-initialised means the defaults (RSA-2048 RSASSA and ECC P-256
 * ECDSA, SHA-256/384 scheme hashes, SHA-256/384 nameAlg). */
struct dj_ak_allowed {
  bool set;          /* false: use the defaults and ignore the rest */
  bool rsa2048, rsa3072, ecc_p256, ecc_p384;
};

/* Check an AK public area: attributes fixedTPM, fixedParent, sensitiveDataOrigin, restricted,
 * sign and not decrypt (DJ_ATTEST_E_AK_ATTRIBUTES); an allowed type, size, scheme and nameAlg
 * (DJ_ATTEST_E_AK_ALGORITHM); and, when name is not NULL, that name is the nameAlg digest of the
 * public area (DJ_ATTEST_E_AK_NAME). */
int dj_ak_check(const TPM2B_PUBLIC *ak, const TPM2B_NAME *name, const struct dj_ak_allowed *allowed, dj_err *err);

/* What the TPM says about its clock, as facts for check 8 and for policy. */
struct dj_tpm_counters {
  uint64_t clock;          /* ms the TPM has been powered, saved across resets */
  uint32_t reset_count;    /* TPM Resets (boots) since the last TPM2_Clear */
  uint32_t restart_count;  /* TPM Restarts/Resumes since the last TPM Reset */
  bool safe;               /* clock not lost since last written to NV */
};

struct dj_quote_expect {
  const uint8_t *extra_data;            /* the binding hash (check 5) */
  size_t extra_len;
  const TPML_PCR_SELECTION *selection;  /* exactly what was asked for (check 6) */
  const struct dj_pcr_values *pcrs;     /* the supplied values, selection order (check 7) */
  const struct dj_tpm_counters *last;   /* last quote accepted from this TPM, or NULL (check 8) */
  uint64_t clock_tolerance_ms;          /* how far back the clock may appear to go within a boot */
};

/* Claims a quote carries, for the policy module (plain data, no TPM types needed to read them). */
struct dj_quote_claims {
  struct dj_tpm_counters counters;
  uint64_t firmware_version;            /* TPM vendor-defined firmware version (check 9) */
  uint8_t qualified_signer[sizeof(TPMU_NAME) + 2];
  size_t qualified_signer_len;
  uint8_t pcr_digest[TPM2_SHA512_DIGEST_SIZE];
  size_t pcr_digest_len;
};

/* Checks 3-8 on a marshalled TPMS_ATTEST (msg) and TPMT_SIGNATURE (sig) under an AK that passed
 * dj_ak_check: 3 signature with the AK's scheme, 4 magic and type, 5 extraData (constant time),
 * 6 selection, 7 pcrDigest over the supplied values with the scheme's hash, 8 counters against
 * last. The signature is checked before msg is parsed. claims (may be NULL) is filled on success. */
int dj_quote_verify(const uint8_t *msg, size_t msg_len, const uint8_t *sig, size_t sig_len, const TPM2B_PUBLIC *ak,
                    const struct dj_quote_expect *expect, struct dj_quote_claims *claims, dj_err *err);

/* An AK prepared once for many verifications (the verifier's hot path): its OpenSSL key and a
 * verification context set to its scheme. Not for concurrent use from several threads. */
struct dj_ak_key {
  TPM2B_PUBLIC pub;
  TPMI_ALG_SIG_SCHEME scheme;
  TPMI_ALG_HASH hash;
  struct evp_pkey_st *pkey;
  struct evp_pkey_ctx_st *vctx;
};
int dj_ak_key_init(struct dj_ak_key *key, const TPM2B_PUBLIC *ak, dj_err *err);
void dj_ak_key_free(struct dj_ak_key *key);
/* dj_quote_verify with a prepared AK. */
int dj_quote_verify_key(const uint8_t *msg, size_t msg_len, const uint8_t *sig, size_t sig_len, struct dj_ak_key *ak,
                        const struct dj_quote_expect *expect, struct dj_quote_claims *claims, dj_err *err);

/* Check 3 alone: sig (unmarshalled) over data under the AK's scheme. */
int dj_signature_verify(const uint8_t *data, size_t len, const TPMT_SIGNATURE *sig, const TPM2B_PUBLIC *ak, dj_err *err);

/* Check 8 alone. */
int dj_counters_check(const struct dj_tpm_counters *now, const struct dj_tpm_counters *last, uint64_t tolerance_ms,
                      dj_err *err);

#endif
