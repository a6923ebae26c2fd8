/* The verifier's client library (libcurl over HTTPS, TLS 1.2+): the admin calls of
 * donjon-verifier, the node's enrolment (`donjon node enroll`) and attestation (`donjon attest`),
 * and what the confidential launch reuses: one challenge, an ephemeral P-256 key, a quote bound to
 * both and to the workload digest, one /v1/attest carrying the key ids and every encrypted layer's
 * recipient, and the released values decrypted in memory (docs/protocol.md §7). The steps are
 * also exposed one by one, so a benchmark can make its quotes ahead of time. */
#ifndef DJ_VERIFIER_CLIENT_H
#define DJ_VERIFIER_CLIENT_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attest/node.h"
#include "common/err.h"

struct dj_vclient_opts {
  const char *url;           /* https://HOST:PORT */
  const char *ca;            /* PEM file of the CA that signed the verifier's certificate (NULL: system) */
  const char *cert, *key;    /* client certificate and key (operator, tenant, auditor); NULL for nodes */
  long timeout_ms;           /* whole request (0: 30 s) */
  /* Checked while a request waits (libcurl's progress callback, at least once a second): non-zero
   * abandons it, the request failing with EINTR "interrupted" (a launch's Ctrl-C). NULL: never. */
  int (*cancel)(void *ctx);
  void *cancel_ctx;
};

struct dj_vclient;

int dj_vclient_open(const struct dj_vclient_opts *o, struct dj_vclient **out, dj_err *err);
void dj_vclient_close(struct dj_vclient *c);

/* One request on the client's kept-alive connection. body: JSON (NULL: none). *resp: the JSON
 * answer (NULL if not JSON; then *text, if text is not NULL, has it). Fails only when no HTTP answer
 * came; check *status. */
int dj_vclient_request(struct dj_vclient *c, const char *method, const char *path, json_t *body, long *status,
                       json_t **resp, char **text, dj_err *err);
/* Fill err from a refused answer: "WHAT: HTTP 403 node-revoked: message". Returns -1. */
int dj_vclient_refused(long status, json_t *resp, const char *what, dj_err *err);

/* ---- node side ------------------------------------------------------------------------------ */

/* The node id the verifier knows this node by: SHA-256 (hex) of the EK's SubjectPublicKeyInfo,
 * from <state dir>/verifier-node.json when enrolment wrote it, else computed from the EK. */
int dj_vclient_node_id(const struct dj_node *node, char out[65], dj_err *err);

struct dj_venrolled {
  char node_id[65];
  char status[16];           /* pending, approved, ... */
  bool rotation_pending;
  bool already;              /* nothing to do: this EK and AK were enrolled before */
};
/* Create or load the AK, enrol, activate the credential. Running it again is harmless. */
int dj_vclient_enroll(struct dj_vclient *c, const struct dj_node *node, const char *name, struct dj_venrolled *out,
                      dj_err *err);

struct dj_vchallenge {
  uint8_t nonce[32];
  TPML_PCR_SELECTION selection;
  int64_t expires_in_ms;
};
int dj_vclient_challenge(struct dj_vclient *c, const char *node_id, struct dj_vchallenge *out, dj_err *err);

struct dj_vlayer {
  const char *digest;        /* the encrypted layer's digest in the manifest */
  const char *recipient;     /* one base64 JWE of its org.opencontainers.image.enc.keys.jwe */
};

/* The phases of dj_vclient_attest, announced as each begins (a launch names the one that failed). */
enum dj_vattest_phase { DJ_VPHASE_CHALLENGE, DJ_VPHASE_QUOTE, DJ_VPHASE_ATTEST };

struct dj_vattest_args {
  void (*on_phase)(void *ctx, enum dj_vattest_phase p); /* or NULL */
  void *phase_ctx;
  const char *node_id;       /* NULL: dj_vclient_node_id */
  const char *const *keys;   /* key ids: secrets to release, KEKs for the layers */
  size_t n_keys;
  const char *manifest;      /* the workload: manifest digest, profile, final config.json */
  const char *profile;
  json_t *config;
  const uint8_t *image_manifest; /* the manifest's bytes, needed with layers */
  size_t image_manifest_len;
  const struct dj_vlayer *layers;
  size_t n_layers;
};

/* The binding hash a quote for these arguments must carry (DESIGN.md §3). */
int dj_vclient_binding(const struct dj_vattest_args *a, const uint8_t nonce[32], EVP_PKEY *ephemeral,
                       uint8_t binding[32], dj_err *err);
/* The /v1/attest body for a quote made with that binding. */
json_t *dj_vclient_attest_body(const struct dj_vattest_args *a, const char *node_id, const uint8_t nonce[32],
                               const struct dj_evidence *ev, EVP_PKEY *ephemeral, dj_err *err);

struct dj_vreleased {
  char *id;                  /* key id, or the layer's digest */
  uint8_t *data;             /* the secret, or the layer's private options JSON (ocicrypt) */
  size_t len;
};

struct dj_vattest_result {
  bool allowed;
  long status;
  json_t *answer;            /* the verifier's answer: decision, checks, every reason */
  struct dj_vreleased *keys, *layers;
  size_t n_keys, n_layers;
  double ms_challenge, ms_quote, ms_attest;
};
void dj_vattest_result_free(struct dj_vattest_result *r); /* wipes the released values */

/* Send a body and decrypt what was released with the ephemeral private key. */
int dj_vclient_attest_send(struct dj_vclient *c, json_t *body, EVP_PKEY *ephemeral, struct dj_vattest_result *out,
                           dj_err *err);
/* The whole exchange: challenge, ephemeral key, quote (node lock, then TPM), attest, decrypt. A
 * denial is not an error: out->allowed is false and out->answer says why. */
int dj_vclient_attest(struct dj_vclient *c, const struct dj_node *node, const struct dj_vattest_args *a,
                      struct dj_vattest_result *out, dj_err *err);

/* A one-line summary of a denial's reasons: "node-revoked: node ... is revoked; ..." (malloc'd). */
char *dj_vclient_reasons(json_t *answer);

#endif
