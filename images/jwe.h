/* JSON Web Encryption (RFC 7516) for the algorithms ocicrypt and donjon's key release use, on
 * OpenSSL 3 primitives and jansson:
 *   key management: RSA-OAEP (SHA-1, skopeo's choice for RSA keys), RSA-OAEP-256, ECDH-ES+A256KW
 *                   (Concat KDF = OpenSSL SSKDF with SHA-256, AES-256 key wrap); RSA1_5 refused;
 *   content:        A256GCM.
 * Decryption reads the compact, flattened JSON and general JSON serializations (any number of
 * recipients); encryption writes what go-jose writes for ocicrypt: flattened JSON with the
 * recipient's header merged into the protected header for one recipient, general JSON for several.
 * Every RSA-OAEP failure ends as the same error as a bad tag (no padding oracle). Content keys
 * and key-agreement secrets are wiped; the caller wipes the plaintext it gets. */
#ifndef DJ_IMAGES_JWE_H
#define DJ_IMAGES_JWE_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define DJ_JWE_MAX_SIZE (1u << 20)  /* a JWE larger than this is refused */
#define DJ_JWE_MAX_RECIPIENTS 64

enum dj_jwe_alg {
  DJ_JWE_ALG_DEFAULT = 0,     /* RSA-OAEP for RSA keys, ECDH-ES+A256KW for EC keys (as skopeo) */
  DJ_JWE_RSA_OAEP,
  DJ_JWE_RSA_OAEP_256,
  DJ_JWE_ECDH_ES_A256KW,
};

/* The error code set when decryption failed for want of a matching key or because the message
 * was altered (the two are indistinguishable on purpose). */
#define DJ_JWE_ERR_DECRYPT 1

/* Decrypt a JWE with a private key (RSA or EC P-256/P-384/P-521), trying each recipient the key
 * can open. On success *pt (malloc'd, NUL-terminated past *pt_len) holds the plaintext. */
int dj_jwe_decrypt(const char *jwe, size_t len, EVP_PKEY *key, uint8_t **pt, size_t *pt_len,
                   dj_err *err);

/* Encrypt to n public keys; algs may be NULL (all DJ_JWE_ALG_DEFAULT). *out is a malloc'd
 * compact JSON document. */
int dj_jwe_encrypt(const uint8_t *pt, size_t len, EVP_PKEY *const *keys, const enum dj_jwe_alg *algs,
                   size_t n, char **out, dj_err *err);

/* The JWA Concat KDF (RFC 7518 4.6.2) with SHA-256: derive out_len bytes from the shared secret
 * z for algorithm alg_id with PartyUInfo apu and PartyVInfo apv. */
int dj_jwe_concat_kdf(const uint8_t *z, size_t z_len, const char *alg_id, const uint8_t *apu,
                      size_t apu_len, const uint8_t *apv, size_t apv_len, uint8_t *out, size_t out_len,
                      dj_err *err);

/* Public JWK ({"kty":"EC","crv","x","y"} or {"kty":"RSA","n","e"}) of a key, for the epk header and
 * thumbprints; NULL for an unsupported key. */
json_t *dj_jwk_public(EVP_PKEY *key, dj_err *err);
/* RFC 7638 JWK thumbprint (SHA-256) of a key's public part: what the binding hash of the
 * attestation protocol names the ephemeral key by. */
int dj_jwk_thumbprint(EVP_PKEY *key, uint8_t out[32], dj_err *err);
/* Import a public EC JWK; the point is checked to lie on its curve. */
int dj_jwk_ec_import(json_t *jwk, const char *path, EVP_PKEY **out, dj_err *err);
/* The same, and its thumbprint (dj_jwk_thumbprint's) from the coordinates decoded. */
int dj_jwk_ec_import_thumbprint(json_t *jwk, const char *path, EVP_PKEY **out, uint8_t thumbprint[32], dj_err *err);

#endif
