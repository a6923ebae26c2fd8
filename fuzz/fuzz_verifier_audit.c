/* What `audit verify` reads from the service (or a database): records in any order, with any
 * text and hash, and checkpoints with any signature; it must never crash, only say why. */
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "verifier/audit.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static EVP_PKEY *key;
  if (key == NULL)
    key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
  struct dj_audit_verifier v;
  dj_audit_verifier_init(&v, key);
  /* input: [1 byte kind][8 bytes seq][32 bytes hash][text up to NUL or end] repeated */
  size_t off = 0;
  while (off + 41 <= size) {
    uint8_t kind = data[off];
    int64_t seq = 0;
    memcpy(&seq, data + off + 1, 8);
    const uint8_t *hash = data + off + 9;
    off += 41;
    const uint8_t *end = memchr(data + off, 0, size - off);
    size_t len = end ? (size_t) (end - (data + off)) : size - off;
    char text[4096];
    len = len < sizeof text - 1 ? len : sizeof text - 1;
    memcpy(text, data + off, len);
    text[len] = '\0';
    off += len + 1;
    if (kind & 1) {
      struct dj_vcheckpoint c = { .seq = seq };
      memcpy(c.hash, hash, 32);
      memcpy(c.sig, text, len < 64 ? len : 64);
      dj_audit_verifier_checkpoint(&v, &c);
    } else {
      dj_audit_verifier_record(&v, seq, text, hash);
    }
  }
  dj_audit_verifier_finish(&v);
  dj_audit_verifier_free(&v);
  return 0;
}
