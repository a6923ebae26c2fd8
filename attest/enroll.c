#include "attest/enroll.h"

#include <string.h>

#include <openssl/rand.h>

#include "attest/codes.h"
#include "attest/makecred.h"
#include "attest/tpmstruct.h"
#include "common/util.h"

#define EK_REQUIRED_ATTRS                                                                              \
  (TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_RESTRICTED | \
   TPMA_OBJECT_DECRYPT)

int dj_ek_public_check(const TPM2B_PUBLIC *ek, dj_err *err)
{
  const TPMT_PUBLIC *p = &ek->publicArea;
  if ((p->objectAttributes & EK_REQUIRED_ATTRS) != EK_REQUIRED_ATTRS || (p->objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT))
    return dj_error_code(err, DJ_ATTEST_E_EK_PUBLIC,
                         "EK attributes 0x%08x: not a restricted decryption key fixed to its TPM", p->objectAttributes);
  bool key_ok = (p->type == TPM2_ALG_RSA && p->parameters.rsaDetail.keyBits == 2048) ||
                (p->type == TPM2_ALG_ECC && (p->parameters.eccDetail.curveID == TPM2_ECC_NIST_P256 ||
                                             p->parameters.eccDetail.curveID == TPM2_ECC_NIST_P384));
  const TPMT_SYM_DEF_OBJECT *sym = &p->parameters.asymDetail.symmetric;
  if (!key_ok || sym->algorithm != TPM2_ALG_AES || sym->mode.aes != TPM2_ALG_CFB ||
      (sym->keyBits.aes != 128 && sym->keyBits.aes != 256) || dj_tpm_md(p->nameAlg) == NULL)
    return dj_error_code(err, DJ_ATTEST_E_EK_PUBLIC, "EK: type 0x%04x, symmetric 0x%04x/%u: not an EK kind donjon uses",
                         p->type, sym->algorithm, sym->keyBits.aes);
  return 0;
}

int dj_enroll_check(const struct dj_enroll_request *req, const struct dj_ek_trust *trust,
                    const struct dj_ak_allowed *allowed, time_t at, struct dj_enroll_claims *claims,
                    struct dj_enroll_challenge *challenge, dj_err *err)
{
  memset(claims, 0, sizeof *claims);
  memset(challenge, 0, sizeof *challenge);
  if (dj_ek_public_check(&req->ek, err) < 0)
    return dj_err_wrap(err, "enrolment");
  if (req->ek_cert != NULL) {
    X509 *cert = NULL;
    if (dj_ekcert_verify(req->ek_cert, req->ek_cert_len, trust, at, &cert, &claims->ek, err) < 0)
      return dj_err_wrap(err, "enrolment");
    int r = dj_ekcert_match_public(cert, &req->ek.publicArea, err);
    X509_free(cert);
    if (r < 0)
      return dj_err_wrap(err, "enrolment");
    claims->ek_cert_present = true;
  }
  /* The name is computed from the public area, never taken from the node: the credential is made
   * for it, and ActivateCredential succeeds only in the TPM that holds the key of that name. */
  if (dj_ak_check(&req->ak, NULL, allowed, err) < 0 ||
      dj_tpm_public_name(&req->ak.publicArea, &claims->ak_name, err) < 0)
    return dj_err_wrap(err, "enrolment");
  if (RAND_bytes(challenge->secret, sizeof challenge->secret) != 1)
    return dj_error(err, 0, "enrolment: no random bytes");
  if (dj_make_credential(&req->ek.publicArea, &claims->ak_name, challenge->secret, sizeof challenge->secret,
                         &challenge->blob, &challenge->seed, err) < 0) {
    dj_wipe(challenge->secret, sizeof challenge->secret);
    return dj_err_wrap(err, "enrolment");
  }
  return 0;
}
