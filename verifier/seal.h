/* Secrets at rest: AES-256-GCM under a 32-byte master key read from a 0600 file outside the
 * database (docs/verifier.md says how to keep it on separate media). The associated data names
 * what a sealed value is (e.g. "key:acme-db:secret"), so a sealed value moved to another row does
 * not open. The master key lives in locked memory and is wiped on exit. */
#ifndef DJ_VERIFIER_SEAL_H
#define DJ_VERIFIER_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define DJ_SEAL_OVERHEAD (1 + 12 + 16)

struct dj_master_key {
  uint8_t *key;                /* 32 bytes, mlock'd */
};

/* Load the key file (exactly 32 bytes, mode 0600, a regular file); create it when create is true
 * and it does not exist. */
int dj_master_key_load(const char *path, bool create, struct dj_master_key *mk, dj_err *err);
void dj_master_key_free(struct dj_master_key *mk);

/* out must hold len + DJ_SEAL_OVERHEAD bytes. */
int dj_seal(const struct dj_master_key *mk, const char *aad, const uint8_t *pt, size_t len, uint8_t *out,
            size_t *out_len, dj_err *err);
/* out must hold len - DJ_SEAL_OVERHEAD bytes; fails on any change to the sealed bytes or aad. */
int dj_unseal(const struct dj_master_key *mk, const char *aad, const uint8_t *in, size_t len, uint8_t *out,
              size_t *out_len, dj_err *err);

#endif
