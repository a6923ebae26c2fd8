/* The verifier's store: enrolled nodes, enrolment challenges, the inventory, nonces, tenant keys
 * (sealed), policies, the audit chain and its checkpoints. Behind an ops table so that another
 * backend (PostgreSQL, for several verifier replicas) implements the same calls; store_sqlite.c is
 * the SQLite (WAL) one. Every request runs its writes between begin and commit: one transaction. */
#ifndef DJ_VERIFIER_STORE_H
#define DJ_VERIFIER_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define DJ_VPUB_MAX 1024     /* a marshalled TPM2B_PUBLIC */
#define DJ_VCERT_MAX 4096    /* an EK certificate (DER) */
#define DJ_VNAME_MAX 128     /* node names, key ids, tenants, sites... */
#define DJ_VSEALED_MAX 8192  /* a sealed secret: a key of at most 4 KiB with its nonce and tag */

/* Node status. A node is usable for release only when approved (and its AK is its approved AK). */
#define DJ_NODE_ACTIVATING "activating" /* enrolled, credential not activated yet */
#define DJ_NODE_PENDING "pending"       /* activated, waiting for an operator or the inventory */
#define DJ_NODE_APPROVED "approved"
#define DJ_NODE_REVOKED "revoked"

struct dj_vnode {
  char id[65];                       /* SHA-256 (hex) of the EK's SubjectPublicKeyInfo: the identity */
  char name[DJ_VNAME_MAX];           /* what the node calls itself: a label, never an identity */
  char status[16];
  uint8_t ek_public[DJ_VPUB_MAX];
  size_t ek_public_len;
  uint8_t ek_cert[DJ_VCERT_MAX];
  size_t ek_cert_len;                /* 0: the TPM has no EK certificate */
  char ek_manufacturer[64], ek_model[64], ek_version[64], ek_key_type[16];
  uint8_t ak_public[DJ_VPUB_MAX];    /* the AK (activated); empty while the first one is not */
  size_t ak_public_len;
  uint8_t new_ak[DJ_VPUB_MAX];       /* a new AK for this EK: activation, then operator approval */
  size_t new_ak_len;
  bool new_ak_activated;
  char site[DJ_VNAME_MAX], jurisdiction[DJ_VNAME_MAX], hw_class[DJ_VNAME_MAX];
  bool in_inventory;
  bool has_counters;                 /* last accepted quote's clock and counters (check 8) */
  uint32_t reset_count, restart_count;
  uint64_t clock;
  char reason[256];                  /* why it was revoked */
  int64_t created_ms, updated_ms;
};

struct dj_venroll {
  char id[33];                       /* random, hex */
  char node_id[65];
  uint8_t ak_public[DJ_VPUB_MAX];
  size_t ak_public_len;
  uint8_t sealed_secret[256];
  size_t sealed_secret_len;
  int64_t expires_ms;
};

struct dj_vinventory {
  char ek_digest[65];
  char name[DJ_VNAME_MAX], site[DJ_VNAME_MAX], jurisdiction[DJ_VNAME_MAX], hw_class[DJ_VNAME_MAX];
};

struct dj_vnonce {
  uint8_t nonce[32];
  char node_id[65];
  int64_t issued_ms, expires_ms;     /* wall clock */
  char instance[33];                 /* the verifier process that issued it */
  int64_t mono_ms;                   /* that process's monotonic clock at issue */
};

/* What consuming a nonce found (the nonce is marked used whatever the answer). */
enum dj_nonce_state { DJ_NONCE_FRESH = 0, DJ_NONCE_UNKNOWN, DJ_NONCE_USED };

#define DJ_KEY_SECRET "secret"       /* released as is to an allowed workload */
#define DJ_KEY_KEK "kek"             /* a private key image recipients were encrypted to; never released */

struct dj_vkey {
  char id[DJ_VNAME_MAX];
  char tenant[DJ_VNAME_MAX];
  char kind[8];
  uint8_t sealed[DJ_VSEALED_MAX];
  size_t sealed_len;
  char public_pem[1024];             /* kek: the public key, for the tenant to encrypt images to */
  int64_t created_ms;
};

struct dj_vaudit {
  int64_t seq;
  char *record;                      /* canonical JSON {"body","seq","time","type"} (malloc'd) */
  uint8_t hash[32];
};

struct dj_vcheckpoint {
  int64_t seq;
  int64_t time_ms;
  uint8_t hash[32];
  uint8_t sig[64];                   /* Ed25519 over dj_audit_checkpoint_message() */
};

struct dj_store;

struct dj_store_ops {
  void (*close)(struct dj_store *st);
  /* One transaction per request: begin takes the write lock at once. */
  int (*begin)(struct dj_store *st, dj_err *err);
  int (*commit)(struct dj_store *st, dj_err *err);
  void (*rollback)(struct dj_store *st);
  /* Reads outside a transaction between read_begin and read_end see one snapshot (and cost one
   * read lock); read_end does nothing when none is open. */
  int (*read_begin)(struct dj_store *st, dj_err *err);
  void (*read_end)(struct dj_store *st);

  /* 1 found, 0 not found, -1 error. */
  int (*node_get)(struct dj_store *st, const char *id, struct dj_vnode *out, dj_err *err);
  int (*node_put)(struct dj_store *st, const struct dj_vnode *n, dj_err *err);
  /* Calls cb for each node in id order. */
  int (*node_list)(struct dj_store *st, int (*cb)(const struct dj_vnode *n, void *ctx), void *ctx, dj_err *err);

  int (*enroll_put)(struct dj_store *st, const struct dj_venroll *e, dj_err *err);
  /* Take (read and delete) a challenge: single use. 1 found, 0 not. */
  int (*enroll_take)(struct dj_store *st, const char *id, struct dj_venroll *out, dj_err *err);

  int (*inventory_put)(struct dj_store *st, const struct dj_vinventory *e, dj_err *err);
  int (*inventory_get)(struct dj_store *st, const char *ek_digest, struct dj_vinventory *out, dj_err *err);

  int (*nonce_put)(struct dj_store *st, const struct dj_vnonce *n, dj_err *err);
  /* What the nonce is now, without consuming it (a read, outside any transaction). */
  int (*nonce_get)(struct dj_store *st, const uint8_t nonce[32], enum dj_nonce_state *state, struct dj_vnonce *out,
                   dj_err *err);
  /* Mark the nonce used and return what it was. */
  int (*nonce_consume)(struct dj_store *st, const uint8_t nonce[32], enum dj_nonce_state *state,
                       struct dj_vnonce *out, dj_err *err);
  /* Outstanding (unused, unexpired) nonces of a node, counted up to limit. */
  int (*nonce_outstanding)(struct dj_store *st, const char *node_id, int64_t now_ms, int64_t limit, int64_t *count,
                           dj_err *err);
  /* Delete nonces expired before now_ms (used or not). */
  int (*nonce_purge)(struct dj_store *st, int64_t now_ms, dj_err *err);

  int (*key_put)(struct dj_store *st, const struct dj_vkey *k, dj_err *err);
  int (*key_get)(struct dj_store *st, const char *id, struct dj_vkey *out, dj_err *err);
  int (*key_list)(struct dj_store *st, const char *tenant, int (*cb)(const struct dj_vkey *k, void *ctx), void *ctx,
                  dj_err *err);

  int (*policy_put)(struct dj_store *st, const char *name, const char *doc, dj_err *err);
  /* *doc malloc'd; 0 when absent. */
  int (*policy_get)(struct dj_store *st, const char *name, char **doc, dj_err *err);

  /* Append a record to the audit chain inside the current transaction: seq = head + 1, hash chained
   * to the head. *seq (may be NULL) gets its number. */
  int (*audit_append)(struct dj_store *st, const char *type, json_t *body, int64_t time_ms, int64_t *seq,
                      dj_err *err);
  /* The same with the body's canonical text (dj_json_canonical), for a caller that needs it too. */
  int (*audit_append_text)(struct dj_store *st, const char *type, const char *body, int64_t time_ms, int64_t *seq,
                           dj_err *err);
  int (*audit_head)(struct dj_store *st, int64_t *seq, uint8_t hash[32], dj_err *err);
  /* Records with seq >= from, at most limit, in seq order, to cb (the record is borrowed). */
  int (*audit_list)(struct dj_store *st, int64_t from, int64_t limit,
                    int (*cb)(const struct dj_vaudit *r, void *ctx), void *ctx, dj_err *err);
  int (*checkpoint_put)(struct dj_store *st, const struct dj_vcheckpoint *c, dj_err *err);
  int (*checkpoint_list)(struct dj_store *st, int (*cb)(const struct dj_vcheckpoint *c, void *ctx), void *ctx,
                         dj_err *err);
};

struct dj_store {
  const struct dj_store_ops *ops;
};

/* Open (creating and migrating) a SQLite store in WAL mode. synchronous_full: fsync every commit
 * (survives power loss; NORMAL survives a killed process, which is what kill -9 tests). */
int dj_store_sqlite_open(const char *path, bool synchronous_full, struct dj_store **out, dj_err *err);
/* Open an existing store read-only: no creation, no migration, no write (an auditor's copy, or
 * the database of a running verifier). Fails on a missing file and on a schema that is missing
 * or newer than this build's. */
int dj_store_sqlite_open_readonly(const char *path, struct dj_store **out, dj_err *err);
/* The schema version this build migrates to. */
int dj_store_sqlite_schema_version(void);

#endif
