#include "images/b64.h"

#include <openssl/evp.h>
#include <string.h>

#include "common/util.h"

char *dj_b64_encode(const uint8_t *in, size_t n)
{
  char *out = dj_xmalloc(4 * ((n + 2) / 3) + 1);
  int len = EVP_EncodeBlock((unsigned char *) out, in, (int) n);
  out[len] = '\0';
  return out;
}

char *dj_b64url_encode(const uint8_t *in, size_t n)
{
  char *out = dj_b64_encode(in, n);
  size_t len = strlen(out);
  while (len > 0 && out[len - 1] == '=')
    out[--len] = '\0';
  for (char *p = out; *p; p++) {
    if (*p == '+')
      *p = '-';
    else if (*p == '/')
      *p = '_';
  }
  return out;
}

static int b64_std_char(char c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

/* Decode standard base64 of a length multiple of 4 whose padding count is pad. */
static int b64_decode_padded(const char *in, size_t n, size_t pad, uint8_t **out, size_t *out_len)
{
  if (n > (size_t) INT32_MAX)
    return -1;
  uint8_t *buf = dj_xmalloc(n / 4 * 3 + 1);
  int len = n == 0 ? 0 : EVP_DecodeBlock(buf, (const unsigned char *) in, (int) n);
  if (len < 0 || (size_t) len < pad) {
    free(buf);
    return -1;
  }
  *out_len = (size_t) len - pad;
  buf[*out_len] = '\0';
  *out = buf;
  return 0;
}

int dj_b64_decode(const char *in, size_t n, uint8_t **out, size_t *out_len)
{
  if (n % 4 != 0)
    return -1;
  size_t pad = 0;
  while (pad < 2 && pad < n && in[n - 1 - pad] == '=')
    pad++;
  for (size_t i = 0; i < n - pad; i++)
    if (!b64_std_char(in[i]))
      return -1;
  return b64_decode_padded(in, n, pad, out, out_len);
}

int dj_b64url_decode(const char *in, size_t n, uint8_t **out, size_t *out_len)
{
  if (n % 4 == 1 || n > SIZE_MAX / 2)
    return -1;
  size_t pad = (4 - n % 4) % 4;
  _cleanup_free_ char *std = dj_xmalloc(n + pad + 1);
  for (size_t i = 0; i < n; i++) {
    char c = in[i];
    if (c == '-')
      c = '+';
    else if (c == '_')
      c = '/';
    else if (c == '+' || c == '/' || !b64_std_char(c))
      return -1;
    std[i] = c;
  }
  memset(std + n, '=', pad);
  int r = b64_decode_padded(std, n + pad, pad, out, out_len);
  dj_wipe(std, n + pad); /* it may have held key material */
  return r;
}
