#include "attest/makecred.h"

#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "attest/codes.h"
#include "attest/tpmstruct.h"
#include "common/util.h"

static void kdf_ctx_freep(EVP_KDF_CTX **p)
{
  EVP_KDF_CTX_free(*p);
}
static void pkey_freep(EVP_PKEY **p)
{
  EVP_PKEY_free(*p);
}
static void pkey_ctx_freep(EVP_PKEY_CTX **p)
{
  EVP_PKEY_CTX_free(*p);
}
static void cipher_ctx_freep(EVP_CIPHER_CTX **p)
{
  EVP_CIPHER_CTX_free(*p);
}

static EVP_KDF_CTX *kdf_new(const char *name)
{
  EVP_KDF *kdf = EVP_KDF_fetch(NULL, name, NULL);
  if (kdf == NULL)
    return NULL;
  EVP_KDF_CTX *ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  return ctx;
}

int dj_kdfa(TPMI_ALG_HASH alg, const uint8_t *key, size_t key_len, const char *label, const uint8_t *ctx_u,
            size_t ctx_u_len, const uint8_t *ctx_v, size_t ctx_v_len, uint8_t *out, size_t out_len, dj_err *err)
{
  const char *md = dj_tpm_hash_name(alg);
  if (md == NULL || ctx_u_len + ctx_v_len > 2 * sizeof(TPMU_NAME))
    return dj_error(err, 0, "KDFa: unsupported hash 0x%04x or context too long", alg);
  uint8_t context[2 * sizeof(TPMU_NAME)]; /* contextU || contextV */
  if (ctx_u_len)
    memcpy(context, ctx_u, ctx_u_len);
  if (ctx_v_len)
    memcpy(context + ctx_u_len, ctx_v, ctx_v_len);
  __attribute__((cleanup(kdf_ctx_freep))) EVP_KDF_CTX *ctx = kdf_new(OSSL_KDF_NAME_KBKDF);
  if (ctx == NULL)
    return dj_error(err, 0, "KDFa: OpenSSL has no KBKDF");
  OSSL_PARAM params[] = {
    OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MODE, (char *) "COUNTER", 0),
    OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_MAC, (char *) "HMAC", 0),
    OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *) md, 0),
    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *) key, key_len),
    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *) label, strlen(label)),
    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, context, ctx_u_len + ctx_v_len),
    OSSL_PARAM_construct_end(),
  };
  if (EVP_KDF_derive(ctx, out, out_len, params) <= 0)
    return dj_error(err, 0, "KDFa(%s, \"%s\"): derivation failed", md, label);
  return 0;
}

/* KDFe of Part 1 §11.4.10.3 (SP 800-56A single-step, hash): H(counter || Z || Use\0 || U || V). */
static int kdfe(TPMI_ALG_HASH alg, const uint8_t *z, size_t z_len, const char *use, const TPM2B_ECC_PARAMETER *u,
                const TPM2B_ECC_PARAMETER *v, uint8_t *out, size_t out_len, dj_err *err)
{
  uint8_t info[16 + 2 * sizeof u->buffer];
  size_t use_len = strlen(use) + 1;
  if (use_len > 16)
    return dj_error(err, 0, "KDFe: label too long");
  memcpy(info, use, use_len);
  memcpy(info + use_len, u->buffer, u->size);
  memcpy(info + use_len + u->size, v->buffer, v->size);
  __attribute__((cleanup(kdf_ctx_freep))) EVP_KDF_CTX *ctx = kdf_new(OSSL_KDF_NAME_SSKDF);
  if (ctx == NULL)
    return dj_error(err, 0, "KDFe: OpenSSL has no SSKDF");
  OSSL_PARAM params[] = {
    OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *) dj_tpm_hash_name(alg), 0),
    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *) z, z_len),
    OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, use_len + u->size + v->size),
    OSSL_PARAM_construct_end(),
  };
  if (EVP_KDF_derive(ctx, out, out_len, params) <= 0)
    return dj_error(err, 0, "KDFe: derivation failed");
  return 0;
}

/* RSA EK: a random seed, RSA-OAEP encrypted with the EK's nameAlg and the label "IDENTITY\0". */
static int seed_rsa(const TPMT_PUBLIC *ek, EVP_PKEY *key, uint8_t *seed, size_t seed_len, TPM2B_ENCRYPTED_SECRET *enc,
                    dj_err *err)
{
  static const char label[] = "IDENTITY"; /* sizeof includes the NUL, which the TPM hashes too */
  if (RAND_bytes(seed, (int) seed_len) != 1)
    return dj_error(err, 0, "MakeCredential: no random bytes");
  __attribute__((cleanup(pkey_ctx_freep))) EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
  void *l = OPENSSL_memdup(label, sizeof label);
  if (ctx == NULL || l == NULL || EVP_PKEY_encrypt_init(ctx) <= 0 ||
      EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) <= 0 ||
      EVP_PKEY_CTX_set_rsa_oaep_md(ctx, dj_tpm_md(ek->nameAlg)) <= 0 ||
      EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, dj_tpm_md(ek->nameAlg)) <= 0 ||
      EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, l, sizeof label) <= 0) {
    OPENSSL_free(l);
    return dj_error(err, 0, "MakeCredential: cannot set up RSA-OAEP");
  }
  size_t out_len = sizeof enc->secret;
  if (EVP_PKEY_encrypt(ctx, enc->secret, &out_len, seed, seed_len) <= 0)
    return dj_error(err, 0, "MakeCredential: RSA-OAEP encryption failed");
  enc->size = (uint16_t) out_len;
  return 0;
}

/* ECC EK: an ephemeral key on the EK's curve; seed = KDFe(Z, "IDENTITY", ephemeral x, EK x). */
static int seed_ecc(const TPMT_PUBLIC *ek, EVP_PKEY *key, uint8_t *seed, size_t seed_len, TPM2B_ENCRYPTED_SECRET *enc,
                    dj_err *err)
{
  __attribute__((cleanup(pkey_ctx_freep))) EVP_PKEY_CTX *gctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
  __attribute__((cleanup(pkey_freep))) EVP_PKEY *eph = NULL;
  if (gctx == NULL || EVP_PKEY_keygen_init(gctx) <= 0 || EVP_PKEY_keygen(gctx, &eph) <= 0)
    return dj_error(err, 0, "MakeCredential: cannot make an ephemeral ECC key");
  __attribute__((cleanup(pkey_ctx_freep))) EVP_PKEY_CTX *dctx = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL);
  uint8_t z[66];
  size_t z_len = sizeof z;
  if (dctx == NULL || EVP_PKEY_derive_init(dctx) <= 0 || EVP_PKEY_derive_set_peer(dctx, key) <= 0 ||
      EVP_PKEY_derive(dctx, z, &z_len) <= 0)
    return dj_error(err, 0, "MakeCredential: ECDH failed");
  TPMT_PUBLIC ephpub = { 0 };
  if (dj_tpm_public_from_evp(eph, &ephpub, err) < 0) {
    dj_wipe(z, sizeof z);
    return dj_err_wrap(err, "MakeCredential: ephemeral key");
  }
  int r = kdfe(ek->nameAlg, z, z_len, "IDENTITY", &ephpub.unique.ecc.x, &ek->unique.ecc.x, seed, seed_len, err);
  dj_wipe(z, sizeof z);
  if (r < 0)
    return dj_err_wrap(err, "MakeCredential");
  size_t off = 0;
  TSS2_RC rc = Tss2_MU_TPMS_ECC_POINT_Marshal(&ephpub.unique.ecc, enc->secret, sizeof enc->secret, &off);
  if (rc != TSS2_RC_SUCCESS)
    return dj_error(err, 0, "MakeCredential: ephemeral point does not marshal: %s", dj_tpm_rc_str(rc));
  enc->size = (uint16_t) off;
  return 0;
}

int dj_make_credential(const TPMT_PUBLIC *ek, const TPM2B_NAME *name, const uint8_t *secret, size_t secret_len,
                       TPM2B_ID_OBJECT *blob, TPM2B_ENCRYPTED_SECRET *enc_seed, dj_err *err)
{
  const EVP_MD *md = dj_tpm_md(ek->nameAlg);
  if (md == NULL)
    return dj_error(err, 0, "MakeCredential: EK nameAlg 0x%04x not supported", ek->nameAlg);
  size_t dsize = (size_t) EVP_MD_get_size(md);
  if (secret_len == 0 || secret_len > dsize)
    return dj_error(err, 0, "MakeCredential: secret of %zu bytes (1 to %zu)", secret_len, dsize);
  const TPMT_SYM_DEF_OBJECT *sym = &ek->parameters.asymDetail.symmetric;
  if (sym->algorithm != TPM2_ALG_AES || sym->mode.aes != TPM2_ALG_CFB ||
      (sym->keyBits.aes != 128 && sym->keyBits.aes != 256))
    return dj_error(err, 0, "MakeCredential: EK symmetric algorithm 0x%04x/%u/0x%04x is not AES-128/256-CFB",
                    sym->algorithm, sym->keyBits.aes, sym->mode.aes);
  __attribute__((cleanup(pkey_freep))) EVP_PKEY *key = NULL;
  if (dj_tpm_public_to_evp(ek, &key, err) < 0)
    return dj_err_wrap(err, "MakeCredential: EK");

  uint8_t seed[TPM2_SHA512_DIGEST_SIZE];
  int r = ek->type == TPM2_ALG_RSA ? seed_rsa(ek, key, seed, dsize, enc_seed, err)
                                   : seed_ecc(ek, key, seed, dsize, enc_seed, err);
  if (r < 0) {
    dj_wipe(seed, sizeof seed);
    return -1;
  }
  uint8_t sym_key[32], hmac_key[TPM2_SHA512_DIGEST_SIZE];
  size_t sym_len = sym->keyBits.aes / 8;
  if (dj_kdfa(ek->nameAlg, seed, dsize, "STORAGE", name->name, name->size, NULL, 0, sym_key, sym_len, err) < 0 ||
      dj_kdfa(ek->nameAlg, seed, dsize, "INTEGRITY", NULL, 0, NULL, 0, hmac_key, dsize, err) < 0) {
    dj_wipe(seed, sizeof seed);
    dj_wipe(sym_key, sizeof sym_key);
    return dj_err_wrap(err, "MakeCredential");
  }
  dj_wipe(seed, sizeof seed);

  /* encIdentity = AES-CFB(symKey, IV 0, marshalled TPM2B_DIGEST credential) */
  uint8_t plain[2 + TPM2_SHA512_DIGEST_SIZE];
  plain[0] = (uint8_t) (secret_len >> 8);
  plain[1] = (uint8_t) secret_len;
  memcpy(plain + 2, secret, secret_len);
  size_t plain_len = 2 + secret_len;
  uint8_t enc_identity[sizeof plain];
  uint8_t iv[16] = { 0 };
  int outl = 0, finl = 0;
  __attribute__((cleanup(cipher_ctx_freep))) EVP_CIPHER_CTX *cctx = EVP_CIPHER_CTX_new();
  const EVP_CIPHER *cipher = sym_len == 16 ? EVP_aes_128_cfb128() : EVP_aes_256_cfb128();
  r = cctx != NULL && EVP_EncryptInit_ex(cctx, cipher, NULL, sym_key, iv) == 1 &&
      EVP_EncryptUpdate(cctx, enc_identity, &outl, plain, (int) plain_len) == 1 &&
      EVP_EncryptFinal_ex(cctx, enc_identity + outl, &finl) == 1;
  dj_wipe(sym_key, sizeof sym_key);
  dj_wipe(plain, sizeof plain);
  if (!r || (size_t) (outl + finl) != plain_len) {
    dj_wipe(hmac_key, sizeof hmac_key);
    return dj_error(err, 0, "MakeCredential: AES-CFB encryption failed");
  }

  /* outerHMAC = HMAC(hmacKey, encIdentity || name); blob = TPM2B(outerHMAC) || encIdentity */
  uint8_t mac_in[sizeof enc_identity + sizeof name->name];
  memcpy(mac_in, enc_identity, plain_len);
  memcpy(mac_in + plain_len, name->name, name->size);
  uint8_t mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  uint8_t *m = HMAC(md, hmac_key, (int) dsize, mac_in, plain_len + name->size, mac, &mac_len);
  dj_wipe(hmac_key, sizeof hmac_key);
  if (m == NULL)
    return dj_error(err, 0, "MakeCredential: HMAC failed");
  blob->credential[0] = (uint8_t) (mac_len >> 8);
  blob->credential[1] = (uint8_t) mac_len;
  memcpy(blob->credential + 2, mac, mac_len);
  memcpy(blob->credential + 2 + mac_len, enc_identity, plain_len);
  blob->size = (uint16_t) (2 + mac_len + plain_len);
  return 0;
}

int dj_credential_check(const uint8_t *expected, size_t expected_len, const uint8_t *got, size_t got_len, dj_err *err)
{
  if (expected_len != got_len || CRYPTO_memcmp(expected, got, expected_len) != 0)
    return dj_error_code(err, DJ_ATTEST_E_CREDENTIAL, "credential activation: the secret returned is not the one sent");
  return 0;
}
