/* The verifier's enrolment checks (DESIGN.md §5) in one place: the EK certificate's path, EKU and
 * TPM SAN (when the TPM has a certificate), the EK public area and its match with the certificate,
 * the AK's attributes and algorithm, and a fresh credential challenge under the EK for the AK's
 * name as computed from its public area: only the TPM holding that key under that EK can activate
 * it, which is what binds the name. The answer is checked with dj_credential_check (makecred.h). */
#ifndef DJ_ATTEST_ENROLL_H
#define DJ_ATTEST_ENROLL_H

#include <stdbool.h>
#include <time.h>

#include "attest/ekcert.h"
#include "attest/quote.h"

struct dj_enroll_request {
  const uint8_t *ek_cert;     /* DER, or NULL when the TPM has none */
  size_t ek_cert_len;
  TPM2B_PUBLIC ek;            /* as the node re-created it */
  TPM2B_PUBLIC ak;
};

struct dj_enroll_claims {
  bool ek_cert_present;       /* false: no EK certificate in NV; policy decides */
  struct dj_ek_claims ek;     /* filled when ek_cert_present */
  TPM2B_NAME ak_name;
};

/* Keep the secret out of logs and wipe it (dj_wipe) once the answer is checked. */
struct dj_enroll_challenge {
  uint8_t secret[32];
  TPM2B_ID_OBJECT blob;
  TPM2B_ENCRYPTED_SECRET seed;
};

/* Every check, in order; the first failure's code is in err->code. */
int dj_enroll_check(const struct dj_enroll_request *req, const struct dj_ek_trust *trust,
                    const struct dj_ak_allowed *allowed, time_t at, struct dj_enroll_claims *claims,
                    struct dj_enroll_challenge *challenge, dj_err *err);

/* An EK public area: fixedTPM, fixedParent, sensitiveDataOrigin, restricted, decrypt, not sign,
 * RSA-2048 or NIST P-256/P-384, AES-128/256-CFB (DJ_ATTEST_E_EK_PUBLIC otherwise). */
int dj_ek_public_check(const TPM2B_PUBLIC *ek, dj_err *err);

#endif
