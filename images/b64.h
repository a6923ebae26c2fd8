/* Base64 (RFC 4648) in the two alphabets ocicrypt and JOSE use, through OpenSSL's codec:
 * standard with padding (Go's []byte in JSON, the ocicrypt annotations) and base64url without
 * padding (JOSE). Decoders are strict: a foreign character or a bad length is an error. */
#ifndef DJ_IMAGES_B64_H
#define DJ_IMAGES_B64_H

#include <stddef.h>
#include <stdint.h>

/* Return a malloc'd NUL-terminated encoding. */
char *dj_b64_encode(const uint8_t *in, size_t n);
char *dj_b64url_encode(const uint8_t *in, size_t n);

/* Decode into a malloc'd buffer (NUL-terminated for convenience, not counted in *out_len).
 * Return 0, or -1 when the input is not valid in that alphabet. */
int dj_b64_decode(const char *in, size_t n, uint8_t **out, size_t *out_len);
int dj_b64url_decode(const char *in, size_t n, uint8_t **out, size_t *out_len);

#endif
