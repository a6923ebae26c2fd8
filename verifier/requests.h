/* The request bodies of the verifier's API (docs/protocol.md §7), parsed strictly: unknown members,
 * wrong types, bad encodings and sizes are errors naming the JSON path. Parsing checks form only;
 * the handlers check meaning. Strings are borrowed from the JSON document. Shared by the service,
 * the client library and the fuzz harnesses (fuzz/fuzz_verifier_*.c). */
#ifndef DJ_VERIFIER_REQUESTS_H
#define DJ_VERIFIER_REQUESTS_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_tpm2_types.h>

#include "attest/node.h"
#include "common/err.h"
#include "verifier/store.h"

#define DJ_VMAX_KEYS 64
#define DJ_VMAX_LAYERS 256
#define DJ_VMAX_INVENTORY 10000

/* Lowercase hex of n bytes into out (2n + 1 bytes). */
void dj_vhex(const uint8_t *b, size_t n, char *out);
/* A node's id: SHA-256 (hex) of its EK's SubjectPublicKeyInfo DER. */
int dj_vnode_id(const TPMT_PUBLIC *ek, char out[65], dj_err *err);

/* Refuse members not in allowed (NULL-terminated). */
int dj_vjson_members(json_t *obj, const char *path, const char *const *allowed, dj_err *err);
/* A required string of 1..max bytes, printable ASCII (ids, names, sites). */
int dj_vjson_name(json_t *obj, const char *key, const char *path, size_t max, const char **out, dj_err *err);
/* A required base64url member decoded into buf (at most max bytes). */
int dj_vjson_b64(json_t *obj, const char *key, const char *path, uint8_t *buf, size_t max, size_t *len, dj_err *err);

/* The enrolment challenge a node receives (POST /v1/nodes' answer): its id and the credential for
 * ActivateCredential, each base64url of exactly one marshalled structure. */
int dj_vcredential_parse(json_t *ch, const char **id, TPM2B_ID_OBJECT *blob, TPM2B_ENCRYPTED_SECRET *seed,
                         dj_err *err);

struct dj_venroll_req {
  const char *name;
  uint8_t ek_cert[DJ_VCERT_MAX];
  size_t ek_cert_len;                 /* 0: none */
  TPM2B_PUBLIC ek, ak;
};
int dj_venroll_req_parse(json_t *j, struct dj_venroll_req *out, dj_err *err);

struct dj_vactivate_req {
  const char *challenge_id;
  uint8_t secret[64];
  size_t secret_len;
};
int dj_vactivate_req_parse(json_t *j, struct dj_vactivate_req *out, dj_err *err);

struct dj_vapprove_req {
  const char *site, *jurisdiction, *hw_class;
  bool rotation;                      /* approve the node's new AK instead */
};
int dj_vapprove_req_parse(json_t *j, struct dj_vapprove_req *out, dj_err *err);

int dj_vrevoke_req_parse(json_t *j, const char **reason, dj_err *err);

/* entries: malloc'd array. */
int dj_vinventory_req_parse(json_t *j, struct dj_vinventory **entries, size_t *n, dj_err *err);

int dj_vchallenge_req_parse(json_t *j, const char **node_id, dj_err *err);

struct dj_vkey_req {
  const char *kind;                   /* DJ_KEY_SECRET or DJ_KEY_KEK */
  uint8_t value[4096];                /* secret */
  size_t value_len;
  const char *private_key;            /* kek: PEM */
};
/* The caller wipes out->value. */
int dj_vkey_req_parse(json_t *j, struct dj_vkey_req *out, dj_err *err);

struct dj_vlayer_req {
  const char *digest;                 /* of the encrypted layer, as in the manifest */
  const char *recipient;              /* one base64 JWE of its keys.jwe annotation */
};

struct dj_vattest_req {
  const char *node_id;
  uint8_t nonce[32];
  struct dj_evidence ev;              /* free with dj_vattest_req_free */
  EVP_PKEY *ephemeral;                /* the JWK the answer is encrypted to */
  uint8_t thumbprint[32];
  const char *manifest, *profile;     /* the workload (DESIGN.md §3) */
  json_t *config;                     /* the final OCI config.json */
  char config_digest[72];
  uint8_t workload_digest[32];
  const char *keys[DJ_VMAX_KEYS];
  size_t n_keys;
  uint8_t *image_manifest;            /* the manifest's exact bytes (malloc'd), when layers are asked */
  size_t image_manifest_len;
  struct dj_vlayer_req layers[DJ_VMAX_LAYERS];
  size_t n_layers;
};
int dj_vattest_req_parse(json_t *j, struct dj_vattest_req *out, dj_err *err);
void dj_vattest_req_free(struct dj_vattest_req *r);

/* The digest of a config.json as the workload digest names it: "sha256:" + hex SHA-256 of its
 * canonical JSON; then the workload digest of DESIGN.md §3. The launch computes the same. */
int dj_vconfig_digest(json_t *config, char out[72], dj_err *err);
int dj_vworkload_digest(const char *manifest, const char *profile, json_t *config, char config_digest[72],
                        uint8_t digest[32], dj_err *err);

#endif
