/* The AK: created under the EK as tpm2_createak makes it, kept as blobs on disk (0600), loaded
 * under the re-created EK after any reboot, and made persistent for tpm2-tools (tpm.h). */
#include "attest/tpm.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include <tss2/tss2_mu.h>

#include "attest/codes.h"
#include "attest/tpmstruct.h"
#include "common/util.h"

#define TPM_FAIL(err, what, rc) \
  dj_error_code(err, DJ_ATTEST_E_TPM, "%s: %s (0x%x)", what, dj_tpm_rc_str(rc), (unsigned) (rc))

void dj_ak_template(enum dj_ak_kind kind, TPM2B_PUBLIC *tmpl)
{
  memset(tmpl, 0, sizeof *tmpl);
  TPMT_PUBLIC *p = &tmpl->publicArea;
  p->nameAlg = TPM2_ALG_SHA256;
  p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                        TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
  if (kind == DJ_AK_RSA2048) {
    p->type = TPM2_ALG_RSA;
    p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
    p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_RSASSA;
    p->parameters.rsaDetail.scheme.details.rsassa.hashAlg = TPM2_ALG_SHA256;
    p->parameters.rsaDetail.keyBits = 2048;
  } else {
    p->type = TPM2_ALG_ECC;
    p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
    p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
    p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  }
}

int dj_tpm_ak_create(struct dj_tpm *tpm, const TPMT_PUBLIC *ek_pub, ESYS_TR ek, enum dj_ak_kind kind,
                     struct dj_ak_blobs *out, dj_err *err)
{
  TPM2B_PUBLIC tmpl;
  dj_ak_template(kind, &tmpl);
  TPM2B_SENSITIVE_CREATE sens = { 0 };
  TPM2B_DATA outside = { 0 };
  TPML_PCR_SELECTION pcrs = { 0 };
  TPM2B_PRIVATE *priv = NULL;
  TPM2B_PUBLIC *pub = NULL;
  ESYS_TR session = ESYS_TR_NONE;
  if (dj_tpm_ek_session(tpm, ek_pub, &session, err) < 0)
    return dj_err_wrap(err, "AK");
  TSS2_RC rc = Esys_Create(tpm->esys, ek, session, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs, &priv,
                           &pub, NULL, NULL, NULL);
  dj_tpm_flush(tpm, &session);
  if (rc != TSS2_RC_SUCCESS)
    return TPM_FAIL(err, "AK: Create under the EK", rc);
  out->pub = *pub;
  out->priv = *priv;
  Esys_Free(pub);
  Esys_Free(priv);
  return 0;
}

int dj_tpm_ak_load(struct dj_tpm *tpm, const TPMT_PUBLIC *ek_pub, ESYS_TR ek, const struct dj_ak_blobs *blobs,
                   ESYS_TR *ak, dj_err *err)
{
  ESYS_TR session = ESYS_TR_NONE;
  *ak = ESYS_TR_NONE;
  if (dj_tpm_ek_session(tpm, ek_pub, &session, err) < 0)
    return dj_err_wrap(err, "AK");
  TSS2_RC rc = Esys_Load(tpm->esys, ek, session, ESYS_TR_NONE, ESYS_TR_NONE, &blobs->priv, &blobs->pub, ak);
  dj_tpm_flush(tpm, &session);
  if (rc != TSS2_RC_SUCCESS)
    return TPM_FAIL(err, "AK: Load under the EK (made under another EK, or the TPM was cleared?)", rc);
  return 0;
}

int dj_tpm_ak_persist(struct dj_tpm *tpm, ESYS_TR ak, uint32_t handle, dj_err *err)
{
  ESYS_TR old = ESYS_TR_NONE, out = ESYS_TR_NONE;
  TSS2_RC rc = Esys_TR_FromTPMPublic(tpm->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &old);
  if (rc == TSS2_RC_SUCCESS) {
    TPM2B_NAME *a = NULL, *b = NULL;
    bool same = Esys_TR_GetName(tpm->esys, old, &a) == TSS2_RC_SUCCESS &&
                Esys_TR_GetName(tpm->esys, ak, &b) == TSS2_RC_SUCCESS && a->size == b->size &&
                memcmp(a->name, b->name, a->size) == 0;
    Esys_Free(a);
    Esys_Free(b);
    if (same) {
      Esys_TR_Close(tpm->esys, &old);
      return 0;
    }
    rc = Esys_EvictControl(tpm->esys, ESYS_TR_RH_OWNER, old, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, handle, &out);
    if (rc != TSS2_RC_SUCCESS) {
      Esys_TR_Close(tpm->esys, &old);
      return TPM_FAIL(err, "AK: evict the previous key at the persistent handle", rc);
    }
  }
  rc = Esys_EvictControl(tpm->esys, ESYS_TR_RH_OWNER, ak, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, handle, &out);
  if (rc != TSS2_RC_SUCCESS)
    return dj_error_code(err, DJ_ATTEST_E_TPM, "AK: EvictControl to 0x%08x: %s", handle, dj_tpm_rc_str(rc));
  Esys_TR_Close(tpm->esys, &out);
  return 0;
}

int dj_ak_blobs_save(const char *path, const struct dj_ak_blobs *blobs, dj_err *err)
{
  uint8_t buf[2 * DJ_TPM_STRUCT_MAX];
  size_t off = 0;
  TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Marshal(&blobs->pub, buf, sizeof buf, &off);
  if (rc == TSS2_RC_SUCCESS)
    rc = Tss2_MU_TPM2B_PRIVATE_Marshal(&blobs->priv, buf, sizeof buf, &off);
  if (rc != TSS2_RC_SUCCESS)
    return dj_error(err, 0, "%s: AK blobs do not marshal: %s", path, dj_tpm_rc_str(rc));
  if (dj_write_file_atomic(path, buf, off, 0600, err) < 0)
    return dj_err_wrap(err, "AK blobs");
  return 0;
}

int dj_ak_blobs_load(const char *path, struct dj_ak_blobs *blobs, dj_err *err)
{
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return dj_error(err, errno, "%s", path);
  struct stat st;
  if (fstat(fd, &st) < 0)
    return dj_error(err, errno, "%s", path);
  if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0)
    return dj_error(err, 0, "%s: AK blobs must be a regular file of mode 0600", path);
  uint8_t buf[2 * DJ_TPM_STRUCT_MAX];
  ssize_t n = dj_read_all(fd, buf, sizeof buf);
  if (n < 0)
    return dj_error(err, errno, "%s", path);
  size_t off = 0;
  memset(blobs, 0, sizeof *blobs);
  TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, (size_t) n, &off, &blobs->pub);
  if (rc == TSS2_RC_SUCCESS)
    rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(buf, (size_t) n, &off, &blobs->priv);
  /* Exactly what dj_ak_blobs_save writes: a size that disagrees with its contents, or an empty
   * part, is not taken (tss2-mu alone accepts both). */
  uint8_t again[sizeof buf];
  size_t len = 0;
  if (rc == TSS2_RC_SUCCESS && off == (size_t) n && blobs->pub.size != 0 && blobs->priv.size != 0 &&
      Tss2_MU_TPM2B_PUBLIC_Marshal(&blobs->pub, again, sizeof again, &len) == TSS2_RC_SUCCESS &&
      Tss2_MU_TPM2B_PRIVATE_Marshal(&blobs->priv, again, sizeof again, &len) == TSS2_RC_SUCCESS && len == off &&
      memcmp(again, buf, len) == 0)
    return 0;
  return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "%s: not AK blobs", path);
}
