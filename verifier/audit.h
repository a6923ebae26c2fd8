/* The audit log: a hash chain of records, and checkpoints of its head signed with an Ed25519 key
 * kept outside the database (docs/protocol.md §8).
 *   record_n = canonical JSON {"body", "seq": n, "time", "type"}
 *   hash_n   = SHA-256("donjon/audit/v1" || hash_{n-1} || record_n), hash_0 = 32 zero bytes
 *   checkpoint = Ed25519("donjon/audit-checkpoint/v1" || seq (8 bytes BE) || time_ms (8 BE) || hash_seq)
 * Verification (here, so the server, the offline tool and the auditor's client run the same code)
 * finds an edited record (its hash), a dropped or reordered one (seq and chain), a dropped tail (a
 * checkpoint past the end) and a rewritten chain (a checkpoint whose hash is not the chain's). */
#ifndef DJ_VERIFIER_AUDIT_H
#define DJ_VERIFIER_AUDIT_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "verifier/store.h"

#define DJ_AUDIT_LABEL "donjon/audit/v1"
#define DJ_AUDIT_CP_LABEL "donjon/audit-checkpoint/v1"

/* Canonical record text (malloc'd), or NULL. */
char *dj_audit_record(int64_t seq, int64_t time_ms, const char *type, json_t *body);
/* The same from the body's canonical text (dj_json_canonical), which it encloses unchanged: the
 * record's members sort as body, seq, time, type. */
char *dj_audit_record_text(int64_t seq, int64_t time_ms, const char *type, const char *body);
void dj_audit_hash(const uint8_t prev[32], const char *record, size_t len, uint8_t out[32]);

/* The Ed25519 checkpoint key: a PEM private key file of mode 0600 (refused otherwise); created
 * with that mode when create is true and the file does not exist. */
int dj_audit_key_load(const char *path, bool create, EVP_PKEY **out, dj_err *err);
/* The public half as PEM (malloc'd). */
char *dj_audit_key_public_pem(EVP_PKEY *key);
int dj_audit_checkpoint_sign(EVP_PKEY *key, struct dj_vcheckpoint *c, dj_err *err);
bool dj_audit_checkpoint_valid(EVP_PKEY *pub, const struct dj_vcheckpoint *c);

/* Sign the head of st when it moved past the last checkpoint (in its own transaction). */
int dj_audit_checkpoint_now(struct dj_store *st, EVP_PKEY *key, int64_t now_ms, int64_t *last_signed, dj_err *err);

/* Streaming verification: give the checkpoints first, then every record in seq order, then finish. */
struct dj_audit_verifier {
  EVP_PKEY *pub;                 /* borrowed */
  struct dj_vcheckpoint *cps;
  size_t n_cps, cap_cps, next_cp;
  int64_t next_seq;
  uint8_t prev[32];
  int64_t records;
  bool failed;
  char why[512];
  /* an earlier checkpoint the auditor kept (0: none): must still be there, with the same hash */
  int64_t known_seq;
  uint8_t known_hash[32];
};
void dj_audit_verifier_init(struct dj_audit_verifier *v, EVP_PKEY *pub);
void dj_audit_verifier_free(struct dj_audit_verifier *v);
/* Each returns -1 (and v->why) at the first defect found. */
int dj_audit_verifier_checkpoint(struct dj_audit_verifier *v, const struct dj_vcheckpoint *c);
int dj_audit_verifier_record(struct dj_audit_verifier *v, int64_t seq, const char *record, const uint8_t hash[32]);
int dj_audit_verifier_finish(struct dj_audit_verifier *v);

#endif
