#include "attest/tpmstruct.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>

#include "attest/codes.h"
#include "common/util.h"

const char *dj_tpm_rc_str(TSS2_RC rc)
{
  return Tss2_RC_Decode(rc);
}

#define UNMARSHAL_WHOLE(what, fn, buf, len, out, err)                                                \
  do {                                                                                               \
    if ((len) > DJ_TPM_STRUCT_MAX)                                                                   \
      return dj_error_code(err, DJ_ATTEST_E_MALFORMED, what ": %zu bytes, more than %d", (size_t) (len), \
                           DJ_TPM_STRUCT_MAX);                                                       \
    size_t off_ = 0;                                                                                 \
    memset((out), 0, sizeof *(out));                                                                \
    TSS2_RC rc_ = fn((buf), (len), &off_, (out));                                                    \
    if (rc_ != TSS2_RC_SUCCESS)                                                                      \
      return dj_error_code(err, DJ_ATTEST_E_MALFORMED, what ": does not unmarshal: %s", dj_tpm_rc_str(rc_)); \
    if (off_ != (len))                                                                               \
      return dj_error_code(err, DJ_ATTEST_E_MALFORMED, what ": %zu trailing bytes", (size_t) (len) - off_); \
    return 0;                                                                                        \
  } while (0)

int dj_tpm_unmarshal_attest(const uint8_t *buf, size_t len, TPMS_ATTEST *out, dj_err *err)
{
  UNMARSHAL_WHOLE("TPMS_ATTEST", Tss2_MU_TPMS_ATTEST_Unmarshal, buf, len, out, err);
}

int dj_tpm_unmarshal_signature(const uint8_t *buf, size_t len, TPMT_SIGNATURE *out, dj_err *err)
{
  UNMARSHAL_WHOLE("TPMT_SIGNATURE", Tss2_MU_TPMT_SIGNATURE_Unmarshal, buf, len, out, err);
}

int dj_tpm_unmarshal_public(const uint8_t *buf, size_t len, TPM2B_PUBLIC *out, dj_err *err)
{
  UNMARSHAL_WHOLE("TPM2B_PUBLIC", Tss2_MU_TPM2B_PUBLIC_Unmarshal, buf, len, out, err);
}

static int unmarshal_tpmt_public(const uint8_t *buf, size_t len, TPMT_PUBLIC *out, dj_err *err)
{
  UNMARSHAL_WHOLE("TPMT_PUBLIC", Tss2_MU_TPMT_PUBLIC_Unmarshal, buf, len, out, err);
}

int dj_tpm_unmarshal_ek_template(const uint8_t *buf, size_t len, const TPMT_PUBLIC *dflt, TPMT_PUBLIC *out, dj_err *err)
{
  if (unmarshal_tpmt_public(buf, len, out, err) < 0)
    return -1;
  /* a template of another key type or size would make another EK than the one asked for */
  if (out->type != dflt->type ||
      (out->type == TPM2_ALG_RSA && out->parameters.rsaDetail.keyBits != dflt->parameters.rsaDetail.keyBits) ||
      (out->type == TPM2_ALG_ECC && out->parameters.eccDetail.curveID != dflt->parameters.eccDetail.curveID))
    return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "TPMT_PUBLIC: key type 0x%04x is not the EK's (0x%04x)",
                         (unsigned) out->type, (unsigned) dflt->type);
  return 0;
}

#define MARSHAL(what, fn, in, buf, len, err)                                                         \
  do {                                                                                               \
    size_t off_ = 0;                                                                                 \
    TSS2_RC rc_ = fn((in), (buf), DJ_TPM_STRUCT_MAX, &off_);                                         \
    if (rc_ != TSS2_RC_SUCCESS)                                                                      \
      return dj_error_code(err, DJ_ATTEST_E_MALFORMED, what ": does not marshal: %s", dj_tpm_rc_str(rc_)); \
    *(len) = off_;                                                                                   \
    return 0;                                                                                        \
  } while (0)

int dj_tpm_marshal_public(const TPM2B_PUBLIC *pub, uint8_t *buf, size_t *len, dj_err *err)
{
  MARSHAL("TPM2B_PUBLIC", Tss2_MU_TPM2B_PUBLIC_Marshal, pub, buf, len, err);
}

int dj_tpm_marshal_attest(const TPMS_ATTEST *att, uint8_t *buf, size_t *len, dj_err *err)
{
  MARSHAL("TPMS_ATTEST", Tss2_MU_TPMS_ATTEST_Marshal, att, buf, len, err);
}

int dj_tpm_marshal_signature(const TPMT_SIGNATURE *sig, uint8_t *buf, size_t *len, dj_err *err)
{
  MARSHAL("TPMT_SIGNATURE", Tss2_MU_TPMT_SIGNATURE_Marshal, sig, buf, len, err);
}

static const struct {
  TPMI_ALG_HASH alg;
  const char *name;
} hashes[] = {
  { TPM2_ALG_SHA1, "sha1" },
  { TPM2_ALG_SHA256, "sha256" },
  { TPM2_ALG_SHA384, "sha384" },
  { TPM2_ALG_SHA512, "sha512" },
};

const char *dj_tpm_hash_name(TPMI_ALG_HASH alg)
{
  for (size_t i = 0; i < DJ_ARRAY_SIZE(hashes); i++)
    if (hashes[i].alg == alg)
      return hashes[i].name;
  return NULL;
}

TPMI_ALG_HASH dj_tpm_hash_from_name(const char *name)
{
  for (size_t i = 0; i < DJ_ARRAY_SIZE(hashes); i++)
    if (strcmp(hashes[i].name, name) == 0)
      return hashes[i].alg;
  return TPM2_ALG_ERROR;
}

const EVP_MD *dj_tpm_md(TPMI_ALG_HASH alg)
{
  switch (alg) {
  case TPM2_ALG_SHA1: return EVP_sha1();
  case TPM2_ALG_SHA256: return EVP_sha256();
  case TPM2_ALG_SHA384: return EVP_sha384();
  case TPM2_ALG_SHA512: return EVP_sha512();
  default: return NULL;
  }
}

static const struct {
  TPMI_ECC_CURVE curve;
  const char *group;
  size_t size;
} curves[] = {
  { TPM2_ECC_NIST_P256, "P-256", 32 },
  { TPM2_ECC_NIST_P384, "P-384", 48 },
  { TPM2_ECC_NIST_P521, "P-521", 66 },
};

static void evp_pkey_ctx_freep(EVP_PKEY_CTX **p)
{
  EVP_PKEY_CTX_free(*p);
}
static void bld_freep(OSSL_PARAM_BLD **p)
{
  OSSL_PARAM_BLD_free(*p);
}
static void params_freep(OSSL_PARAM **p)
{
  OSSL_PARAM_free(*p);
}
static void bn_freep(BIGNUM **p)
{
  BN_free(*p);
}

int dj_tpm_public_to_evp(const TPMT_PUBLIC *pub, EVP_PKEY **out, dj_err *err)
{
  __attribute__((cleanup(bld_freep))) OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
  __attribute__((cleanup(params_freep))) OSSL_PARAM *params = NULL;
  __attribute__((cleanup(bn_freep))) BIGNUM *n = NULL, *e = NULL;
  uint8_t point[1 + 2 * 66]; /* the builder keeps a pointer to it until OSSL_PARAM_BLD_to_param */
  const char *type;
  if (bld == NULL)
    return dj_error(err, 0, "public key: out of memory");
  if (pub->type == TPM2_ALG_RSA) {
    const TPM2B_PUBLIC_KEY_RSA *mod = &pub->unique.rsa;
    if (mod->size == 0 || mod->size * 8 != pub->parameters.rsaDetail.keyBits)
      return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "RSA public key: modulus of %u bytes for %u bits",
                           mod->size, pub->parameters.rsaDetail.keyBits);
    uint32_t exp = pub->parameters.rsaDetail.exponent ? pub->parameters.rsaDetail.exponent : 65537;
    n = BN_bin2bn(mod->buffer, mod->size, NULL);
    e = BN_new();
    if (n == NULL || e == NULL || !BN_set_word(e, exp) || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
      return dj_error(err, 0, "RSA public key: out of memory");
    type = "RSA";
  } else if (pub->type == TPM2_ALG_ECC) {
    size_t i;
    for (i = 0; i < DJ_ARRAY_SIZE(curves); i++)
      if (curves[i].curve == pub->parameters.eccDetail.curveID)
        break;
    if (i == DJ_ARRAY_SIZE(curves))
      return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "ECC public key: unsupported curve 0x%04x",
                           pub->parameters.eccDetail.curveID);
    size_t sz = curves[i].size;
    const TPMS_ECC_POINT *pt = &pub->unique.ecc;
    if (pt->x.size == 0 || pt->x.size > sz || pt->y.size == 0 || pt->y.size > sz)
      return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "ECC public key: coordinates of %u and %u bytes on %s",
                           pt->x.size, pt->y.size, curves[i].group);
    memset(point, 0, sizeof point);
    point[0] = 0x04;
    memcpy(point + 1 + sz - pt->x.size, pt->x.buffer, pt->x.size);
    memcpy(point + 1 + 2 * sz - pt->y.size, pt->y.buffer, pt->y.size);
    if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, curves[i].group, 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * sz))
      return dj_error(err, 0, "ECC public key: out of memory");
    type = "EC";
  } else {
    return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "public key: unsupported type 0x%04x", pub->type);
  }
  params = OSSL_PARAM_BLD_to_param(bld);
  __attribute__((cleanup(evp_pkey_ctx_freep))) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
  EVP_PKEY *key = NULL;
  if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
      EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) <= 0)
    return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "%s public key: not a valid key", type);
  if (pub->type == TPM2_ALG_ECC) {
    /* fromdata does not check that the point is on the curve: do it before trusting it. */
    __attribute__((cleanup(evp_pkey_ctx_freep))) EVP_PKEY_CTX *chk = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    if (chk == NULL || EVP_PKEY_public_check(chk) <= 0) {
      EVP_PKEY_free(key);
      return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "ECC public key: point not on the curve");
    }
  }
  *out = key;
  return 0;
}

int dj_tpm_public_from_evp(EVP_PKEY *key, TPMT_PUBLIC *pub, dj_err *err)
{
  if (EVP_PKEY_is_a(key, "RSA")) {
    __attribute__((cleanup(bn_freep))) BIGNUM *n = NULL, *e = NULL;
    if (!EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) || !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e))
      return dj_error(err, 0, "RSA key: no modulus or exponent");
    int bytes = BN_num_bytes(n);
    if (bytes <= 0 || (size_t) bytes > sizeof pub->unique.rsa.buffer || BN_num_bits(e) > 32)
      return dj_error(err, 0, "RSA key: modulus of %d bytes is not supported", bytes);
    pub->type = TPM2_ALG_RSA;
    pub->parameters.rsaDetail.keyBits = (TPMI_RSA_KEY_BITS) (bytes * 8);
    uint32_t exp = (uint32_t) BN_get_word(e);
    pub->parameters.rsaDetail.exponent = exp == 65537 ? 0 : exp;
    pub->unique.rsa.size = (uint16_t) bytes;
    BN_bn2binpad(n, pub->unique.rsa.buffer, bytes);
    return 0;
  }
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[32];
    if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, NULL))
      return dj_error(err, 0, "EC key: no group");
    size_t i;
    for (i = 0; i < DJ_ARRAY_SIZE(curves); i++)
      if (strcasecmp(curves[i].group, group) == 0 ||
          (curves[i].curve == TPM2_ECC_NIST_P256 && strcmp(group, "prime256v1") == 0) ||
          (curves[i].curve == TPM2_ECC_NIST_P384 && strcmp(group, "secp384r1") == 0) ||
          (curves[i].curve == TPM2_ECC_NIST_P521 && strcmp(group, "secp521r1") == 0))
        break;
    if (i == DJ_ARRAY_SIZE(curves))
      return dj_error(err, 0, "EC key: curve %s is not supported", group);
    uint8_t point[1 + 2 * 66];
    size_t plen = 0;
    if (!EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, point, sizeof point, &plen) ||
        plen != 1 + 2 * curves[i].size || point[0] != 0x04)
      return dj_error(err, 0, "EC key: cannot encode the public point");
    size_t sz = curves[i].size;
    pub->type = TPM2_ALG_ECC;
    pub->parameters.eccDetail.curveID = curves[i].curve;
    pub->unique.ecc.x.size = (uint16_t) sz;
    pub->unique.ecc.y.size = (uint16_t) sz;
    memcpy(pub->unique.ecc.x.buffer, point + 1, sz);
    memcpy(pub->unique.ecc.y.buffer, point + 1 + sz, sz);
    return 0;
  }
  return dj_error(err, 0, "key: neither RSA nor EC");
}

int dj_tpm_public_name(const TPMT_PUBLIC *pub, TPM2B_NAME *name, dj_err *err)
{
  const EVP_MD *md = dj_tpm_md(pub->nameAlg);
  if (md == NULL)
    return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "name: unsupported nameAlg 0x%04x", pub->nameAlg);
  uint8_t buf[DJ_TPM_STRUCT_MAX];
  size_t off = 0;
  TSS2_RC rc = Tss2_MU_TPMT_PUBLIC_Marshal(pub, buf, sizeof buf, &off);
  if (rc != TSS2_RC_SUCCESS)
    return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "name: TPMT_PUBLIC does not marshal: %s", dj_tpm_rc_str(rc));
  unsigned int dlen = 0;
  name->name[0] = (uint8_t) (pub->nameAlg >> 8);
  name->name[1] = (uint8_t) pub->nameAlg;
  if (!EVP_Digest(buf, off, name->name + 2, &dlen, md, NULL))
    return dj_error(err, 0, "name: digest failed");
  name->size = (uint16_t) (2 + dlen);
  return 0;
}
