/* TPM context, NV, EK templates and sessions (tpm.h). */
#include "attest/tpm.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_tctildr.h>

#include "attest/codes.h"
#include "attest/tpmstruct.h"
#include "common/util.h"

#define TPM_FAIL(err, what, rc) \
  dj_error_code(err, DJ_ATTEST_E_TPM, "%s: %s (0x%x)", what, dj_tpm_rc_str(rc), (unsigned) (rc))

const char *dj_tpm_tcti_choose(const char *flag)
{
  if (flag != NULL && flag[0] != '\0')
    return flag;
  const char *env = getenv("DONJON_TPM");
  if (env != NULL && env[0] != '\0')
    return env;
  return DJ_TPM_DEFAULT_TCTI;
}

int dj_tpm_open(const char *tcti, struct dj_tpm *tpm, dj_err *err)
{
  memset(tpm, 0, sizeof *tpm);
  TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti, &tpm->tcti);
  if (rc != TSS2_RC_SUCCESS)
    return dj_error_code(err, DJ_ATTEST_E_TPM, "TPM \"%s\": cannot open: %s", tcti, dj_tpm_rc_str(rc));
  rc = Esys_Initialize(&tpm->esys, tpm->tcti, NULL);
  if (rc != TSS2_RC_SUCCESS) {
    Tss2_TctiLdr_Finalize(&tpm->tcti);
    return dj_error_code(err, DJ_ATTEST_E_TPM, "TPM \"%s\": %s", tcti, dj_tpm_rc_str(rc));
  }
  return 0;
}

void dj_tpm_close(struct dj_tpm *tpm)
{
  if (tpm->esys != NULL)
    Esys_Finalize(&tpm->esys);
  if (tpm->tcti != NULL)
    Tss2_TctiLdr_Finalize(&tpm->tcti);
}

void dj_tpm_flush(struct dj_tpm *tpm, ESYS_TR *handle)
{
  if (*handle != ESYS_TR_NONE && *handle != ESYS_TR_PASSWORD)
    Esys_FlushContext(tpm->esys, *handle);
  *handle = ESYS_TR_NONE;
}

static const char *const ek_names[] = { "rsa2048", "ecc-p256", "ecc-p384" };
static const uint32_t ek_indices[] = { 0x01c00002, 0x01c0000a, 0x01c00016 };

const char *dj_ek_kind_name(enum dj_ek_kind kind)
{
  return kind < DJ_EK_KIND_COUNT ? ek_names[kind] : "?";
}

int dj_ek_kind_parse(const char *s, enum dj_ek_kind *out)
{
  for (int i = 0; i < DJ_EK_KIND_COUNT; i++)
    if (strcmp(s, ek_names[i]) == 0) {
      *out = (enum dj_ek_kind) i;
      return 0;
    }
  return -1;
}

uint32_t dj_ek_cert_index(enum dj_ek_kind kind)
{
  return ek_indices[kind];
}

static int nv_buffer_max(struct dj_tpm *tpm)
{
  TPMS_CAPABILITY_DATA *cap = NULL;
  int max = 512;
  if (Esys_GetCapability(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES,
                         TPM2_PT_NV_BUFFER_MAX, 1, NULL, &cap) == TSS2_RC_SUCCESS &&
      cap->data.tpmProperties.count == 1 && cap->data.tpmProperties.tpmProperty[0].property == TPM2_PT_NV_BUFFER_MAX)
    max = (int) cap->data.tpmProperties.tpmProperty[0].value;
  Esys_Free(cap);
  return max > 0 && max <= TPM2_MAX_NV_BUFFER_SIZE ? max : 512;
}

int dj_tpm_nv_read(struct dj_tpm *tpm, uint32_t index, uint8_t *buf, size_t size, size_t *len, bool *present,
                   dj_err *err)
{
  ESYS_TR nv = ESYS_TR_NONE;
  *present = false;
  *len = 0;
  TSS2_RC rc = Esys_TR_FromTPMPublic(tpm->esys, index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv);
  if (rc != TSS2_RC_SUCCESS) {
    /* an undefined index is a format-one handle error from the TPM */
    bool undefined = (rc & 0x80) && (rc & 0x3f) == (TPM2_RC_HANDLE & 0x3f);
    return undefined ? 0 : TPM_FAIL(err, "NV index", rc);
  }
  TPM2B_NV_PUBLIC *pub = NULL;
  rc = Esys_NV_ReadPublic(tpm->esys, nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pub, NULL);
  if (rc != TSS2_RC_SUCCESS) {
    Esys_TR_Close(tpm->esys, &nv);
    return TPM_FAIL(err, "NV_ReadPublic", rc);
  }
  size_t total = pub->nvPublic.dataSize;
  TPMA_NV attrs = pub->nvPublic.attributes;
  Esys_Free(pub);
  if (total > size) {
    Esys_TR_Close(tpm->esys, &nv);
    return dj_error(err, 0, "NV index 0x%08x: %zu bytes, more than %zu", index, total, size);
  }
  /* The index's own (empty) auth first: the owner may have a password set. */
  ESYS_TR auth = (attrs & TPMA_NV_AUTHREAD) || !(attrs & TPMA_NV_OWNERREAD) ? nv : ESYS_TR_RH_OWNER;
  int chunk = nv_buffer_max(tpm);
  size_t off = 0;
  while (off < total) {
    uint16_t n = (uint16_t) (total - off < (size_t) chunk ? total - off : (size_t) chunk);
    TPM2B_MAX_NV_BUFFER *data = NULL;
    rc = Esys_NV_Read(tpm->esys, auth, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, n, (uint16_t) off, &data);
    if (rc != TSS2_RC_SUCCESS || data->size != n) {
      Esys_Free(data);
      Esys_TR_Close(tpm->esys, &nv);
      return rc != TSS2_RC_SUCCESS ? TPM_FAIL(err, "NV_Read", rc) : dj_error(err, 0, "NV_Read: short read");
    }
    memcpy(buf + off, data->buffer, n);
    Esys_Free(data);
    off += n;
  }
  Esys_TR_Close(tpm->esys, &nv);
  *len = total;
  *present = true;
  return 0;
}

int dj_tpm_ek_cert_read(struct dj_tpm *tpm, enum dj_ek_kind kind, uint8_t *der, size_t *len, dj_err *err)
{
  uint8_t buf[DJ_EK_CERT_MAX];
  size_t n = 0;
  bool present = false;
  if (dj_tpm_nv_read(tpm, ek_indices[kind], buf, sizeof buf, &n, &present, err) < 0)
    return dj_err_wrap(err, "EK certificate %s (NV 0x%08x)", ek_names[kind], ek_indices[kind]);
  if (!present)
    return dj_error_code(err, DJ_ATTEST_E_EK_NO_CERT, "EK certificate %s: NV index 0x%08x is not defined",
                         ek_names[kind], ek_indices[kind]);
  const unsigned char *p = buf; /* NV indices may be larger than the certificate: keep its own length */
  X509 *x = d2i_X509(NULL, &p, (long) n);
  if (x == NULL)
    return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "EK certificate %s (NV 0x%08x): not DER", ek_names[kind],
                         ek_indices[kind]);
  X509_free(x);
  *len = (size_t) (p - buf);
  memcpy(der, buf, *len);
  return 0;
}

/* TCG EK Credential Profile: PolicyA (PolicySecret(TPM_RH_ENDORSEMENT)) and PolicyB for SHA-384. */
static const uint8_t policy_a_sha256[32] = {
  0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
  0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
};
static const uint8_t policy_b_sha384[48] = {
  0xb2, 0x6e, 0x7d, 0x28, 0xd1, 0x1a, 0x50, 0xbc, 0x53, 0xd8, 0x82, 0xbc, 0xf5, 0xfd, 0x3a, 0x1a,
  0x07, 0x41, 0x48, 0xbb, 0x35, 0xd3, 0xb4, 0xe4, 0xcb, 0x1c, 0x0a, 0xd9, 0xbd, 0xe4, 0x19, 0xca,
  0xcb, 0x47, 0xba, 0x09, 0x69, 0x96, 0x46, 0x15, 0x0f, 0x9f, 0xc0, 0x00, 0xf3, 0xf8, 0x0e, 0x12,
};

void dj_ek_template(enum dj_ek_kind kind, TPM2B_PUBLIC *tmpl)
{
  memset(tmpl, 0, sizeof *tmpl);
  TPMT_PUBLIC *p = &tmpl->publicArea;
  p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                        TPMA_OBJECT_ADMINWITHPOLICY | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
  TPMT_SYM_DEF_OBJECT *sym = &p->parameters.asymDetail.symmetric;
  sym->algorithm = TPM2_ALG_AES;
  sym->mode.aes = TPM2_ALG_CFB;
  sym->keyBits.aes = 128;
  p->parameters.asymDetail.scheme.scheme = TPM2_ALG_NULL;
  p->nameAlg = TPM2_ALG_SHA256;
  p->authPolicy.size = sizeof policy_a_sha256;
  memcpy(p->authPolicy.buffer, policy_a_sha256, sizeof policy_a_sha256);
  switch (kind) {
  case DJ_EK_RSA2048: /* L-1: unique is 256 zero bytes */
    p->type = TPM2_ALG_RSA;
    p->parameters.rsaDetail.keyBits = 2048;
    p->unique.rsa.size = 256;
    break;
  case DJ_EK_ECC_P256: /* L-2: unique is two 32-byte zero coordinates */
    p->type = TPM2_ALG_ECC;
    p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    p->unique.ecc.x.size = 32;
    p->unique.ecc.y.size = 32;
    break;
  case DJ_EK_ECC_P384: /* the high-range template swtpm uses: userWithAuth, PolicyB, empty unique */
  default:
    p->type = TPM2_ALG_ECC;
    p->nameAlg = TPM2_ALG_SHA384;
    p->objectAttributes |= TPMA_OBJECT_USERWITHAUTH;
    sym->keyBits.aes = 256;
    p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P384;
    p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    p->authPolicy.size = sizeof policy_b_sha384;
    memcpy(p->authPolicy.buffer, policy_b_sha384, sizeof policy_b_sha384);
    break;
  }
}

/* The TCG template/nonce NV indices of the low-range EKs (EK Credential Profile 2.3 §2.2.1.4). */
static const uint32_t ek_template_nv[] = { 0x01c00004, 0x01c0000c, 0 };
static const uint32_t ek_nonce_nv[] = { 0x01c00003, 0x01c0000b, 0 };

/* A template the manufacturer left in NV replaces the default; a nonce, with either, fills the
 * unique field (padded with zeros to the key's size), as tpm2_createek -t and FAPI do. */
static int ek_template_from_nv(struct dj_tpm *tpm, enum dj_ek_kind kind, TPM2B_PUBLIC *tmpl, dj_err *err)
{
  uint8_t buf[DJ_TPM_STRUCT_MAX];
  size_t len = 0;
  bool present = false;
  if (ek_template_nv[kind] == 0)
    return 0;
  if (dj_tpm_nv_read(tpm, ek_template_nv[kind], buf, sizeof buf, &len, &present, err) < 0)
    return dj_err_wrap(err, "EK template (NV 0x%08x)", ek_template_nv[kind]);
  if (present) {
    TPMT_PUBLIC t;
    if (dj_tpm_unmarshal_ek_template(buf, len, &tmpl->publicArea, &t, err) < 0)
      return dj_err_wrap(err, "EK template (NV 0x%08x)", ek_template_nv[kind]);
    tmpl->publicArea = t;
  }
  if (dj_tpm_nv_read(tpm, ek_nonce_nv[kind], buf, sizeof buf, &len, &present, err) < 0)
    return dj_err_wrap(err, "EK nonce (NV 0x%08x)", ek_nonce_nv[kind]);
  if (!present || len == 0)
    return 0;
  TPMT_PUBLIC *p = &tmpl->publicArea;
  if (p->type == TPM2_ALG_RSA && len <= (size_t) p->parameters.rsaDetail.keyBits / 8) {
    p->unique.rsa.size = (uint16_t) (p->parameters.rsaDetail.keyBits / 8);
    memset(p->unique.rsa.buffer, 0, p->unique.rsa.size);
    memcpy(p->unique.rsa.buffer, buf, len);
  } else if (p->type == TPM2_ALG_ECC && len <= 32) { /* the low range's ECC EK is P-256 */
    p->unique.ecc.x.size = p->unique.ecc.y.size = 32;
    memset(p->unique.ecc.x.buffer, 0, 32);
    memset(p->unique.ecc.y.buffer, 0, 32);
    memcpy(p->unique.ecc.x.buffer, buf, len);
  } else {
    return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "EK nonce (NV 0x%08x): %zu bytes", ek_nonce_nv[kind], len);
  }
  return 0;
}

int dj_tpm_ek_create(struct dj_tpm *tpm, enum dj_ek_kind kind, ESYS_TR *ek, TPM2B_PUBLIC *pub, dj_err *err)
{
  TPM2B_PUBLIC tmpl;
  dj_ek_template(kind, &tmpl);
  if (ek_template_from_nv(tpm, kind, &tmpl, err) < 0)
    return -1;
  TPM2B_SENSITIVE_CREATE sens = { 0 };
  TPM2B_DATA outside = { 0 };
  TPML_PCR_SELECTION pcrs = { 0 };
  TPM2B_PUBLIC *out = NULL;
  *ek = ESYS_TR_NONE;
  TSS2_RC rc = Esys_CreatePrimary(tpm->esys, ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                                  &sens, &tmpl, &outside, &pcrs, ek, &out, NULL, NULL, NULL);
  if (rc != TSS2_RC_SUCCESS)
    return TPM_FAIL(err, "EK: CreatePrimary", rc);
  if (pub != NULL)
    *pub = *out;
  Esys_Free(out);
  return 0;
}

/* Two public areas equal but for the key (unique): the template is what identifies an EK. */
static bool same_but_key(const TPMT_PUBLIC *a, const TPMT_PUBLIC *b)
{
  TPMT_PUBLIC x = *a, y = *b;
  memset(&x.unique, 0, sizeof x.unique);
  memset(&y.unique, 0, sizeof y.unique);
  uint8_t bx[DJ_TPM_STRUCT_MAX], by[DJ_TPM_STRUCT_MAX];
  size_t nx = 0, ny = 0;
  return Tss2_MU_TPMT_PUBLIC_Marshal(&x, bx, sizeof bx, &nx) == TSS2_RC_SUCCESS &&
         Tss2_MU_TPMT_PUBLIC_Marshal(&y, by, sizeof by, &ny) == TSS2_RC_SUCCESS && nx == ny && memcmp(bx, by, nx) == 0;
}

int dj_tpm_ek_persistent(struct dj_tpm *tpm, enum dj_ek_kind kind, uint32_t handle, ESYS_TR *ek, TPM2B_PUBLIC *pub,
                         dj_err *err)
{
  *ek = ESYS_TR_NONE;
  if (Esys_TR_FromTPMPublic(tpm->esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ek) != TSS2_RC_SUCCESS) {
    *ek = ESYS_TR_NONE;
    return 0; /* nothing there */
  }
  TPM2B_PUBLIC tmpl, *out = NULL;
  dj_ek_template(kind, &tmpl);
  if (ek_template_from_nv(tpm, kind, &tmpl, err) < 0) {
    Esys_TR_Close(tpm->esys, ek);
    return -1;
  }
  bool ok = Esys_ReadPublic(tpm->esys, *ek, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &out, NULL, NULL) ==
              TSS2_RC_SUCCESS &&
            same_but_key(&out->publicArea, &tmpl.publicArea);
  if (ok && pub != NULL)
    *pub = *out;
  Esys_Free(out);
  if (!ok)
    Esys_TR_Close(tpm->esys, ek);
  return ok ? 1 : 0;
}

int dj_tpm_persist(struct dj_tpm *tpm, ESYS_TR obj, uint32_t handle, dj_err *err)
{
  ESYS_TR out = ESYS_TR_NONE;
  TSS2_RC rc = Esys_EvictControl(tpm->esys, ESYS_TR_RH_OWNER, obj, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, handle,
                                 &out);
  if (rc != TSS2_RC_SUCCESS)
    return dj_error_code(err, DJ_ATTEST_E_TPM, "EvictControl to 0x%08x: %s", handle, dj_tpm_rc_str(rc));
  Esys_TR_Close(tpm->esys, &out);
  return 0;
}

int dj_tpm_ek_session(struct dj_tpm *tpm, const TPMT_PUBLIC *ek, ESYS_TR *session, dj_err *err)
{
  bool policy_a = ek->nameAlg == TPM2_ALG_SHA256 && ek->authPolicy.size == sizeof policy_a_sha256 &&
                  memcmp(ek->authPolicy.buffer, policy_a_sha256, sizeof policy_a_sha256) == 0;
  if (!policy_a) {
    if (!(ek->objectAttributes & TPMA_OBJECT_USERWITHAUTH))
      return dj_error_code(err, DJ_ATTEST_E_EK_PUBLIC,
                           "EK: its authPolicy is not PolicySecret(endorsement) and it does not allow userWithAuth");
    *session = ESYS_TR_PASSWORD; /* the P-384 EK swtpm makes (PolicyB, userWithAuth), or such an NV template */
    return 0;
  }
  TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_NULL };
  TSS2_RC rc = Esys_StartAuthSession(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                     NULL, TPM2_SE_POLICY, &sym, TPM2_ALG_SHA256, session);
  if (rc != TSS2_RC_SUCCESS)
    return TPM_FAIL(err, "EK policy session", rc);
  rc = Esys_PolicySecret(tpm->esys, ESYS_TR_RH_ENDORSEMENT, *session, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                         NULL, NULL, NULL, 0, NULL, NULL);
  if (rc != TSS2_RC_SUCCESS) {
    dj_tpm_flush(tpm, session);
    return TPM_FAIL(err, "EK policy session: PolicySecret(endorsement)", rc);
  }
  return 0;
}

int dj_tpm_salted_session(struct dj_tpm *tpm, ESYS_TR ek, ESYS_TR *session, dj_err *err)
{
  TPMT_SYM_DEF sym = { .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB };
  TSS2_RC rc = Esys_StartAuthSession(tpm->esys, ek, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL,
                                     TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256, session);
  if (rc != TSS2_RC_SUCCESS)
    return TPM_FAIL(err, "salted session", rc);
  rc = Esys_TRSess_SetAttributes(tpm->esys, *session,
                                 TPMA_SESSION_CONTINUESESSION | TPMA_SESSION_DECRYPT | TPMA_SESSION_ENCRYPT, 0xff);
  if (rc != TSS2_RC_SUCCESS) {
    dj_tpm_flush(tpm, session);
    return TPM_FAIL(err, "salted session: attributes", rc);
  }
  return 0;
}

static uint32_t prop(const TPMS_CAPABILITY_DATA *cap, TPM2_PT pt)
{
  for (uint32_t i = 0; i < cap->data.tpmProperties.count; i++)
    if (cap->data.tpmProperties.tpmProperty[i].property == pt)
      return cap->data.tpmProperties.tpmProperty[i].value;
  return 0;
}

static void be_chars(uint32_t v, char *out)
{
  for (int i = 0; i < 4; i++) {
    char c = (char) (v >> (24 - 8 * i));
    out[i] = c >= 0x20 && c < 0x7f ? c : ' ';
  }
}

int dj_tpm_properties(struct dj_tpm *tpm, struct dj_tpm_props *out, dj_err *err)
{
  TPMS_CAPABILITY_DATA *cap = NULL;
  memset(out, 0, sizeof *out);
  TSS2_RC rc = Esys_GetCapability(tpm->esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_TPM_PROPERTIES,
                                  TPM2_PT_FIXED, TPM2_MAX_TPM_PROPERTIES, NULL, &cap);
  if (rc != TSS2_RC_SUCCESS)
    return TPM_FAIL(err, "GetCapability(properties)", rc);
  be_chars(prop(cap, TPM2_PT_MANUFACTURER), out->manufacturer);
  out->firmware1 = prop(cap, TPM2_PT_FIRMWARE_VERSION_1);
  out->firmware2 = prop(cap, TPM2_PT_FIRMWARE_VERSION_2);
  TPM2_PT vs[] = { TPM2_PT_VENDOR_STRING_1, TPM2_PT_VENDOR_STRING_2, TPM2_PT_VENDOR_STRING_3, TPM2_PT_VENDOR_STRING_4 };
  for (int i = 0; i < 4; i++)
    be_chars(prop(cap, vs[i]), out->vendor + 4 * i);
  for (int i = 15; i >= 0 && out->vendor[i] == ' '; i--)
    out->vendor[i] = '\0';
  Esys_Free(cap);
  return 0;
}
