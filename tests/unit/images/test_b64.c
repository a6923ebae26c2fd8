#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "images/b64.h"

Test(b64, url_round_trip_and_alphabet)
{
  const uint8_t in[] = { 0xfb, 0xff, 0xfe, 0x00, 0x41 };
  char *s = dj_b64url_encode(in, sizeof in);
  cr_assert_str_eq(s, "-__-AEE");
  uint8_t *out;
  size_t n;
  cr_assert_eq(dj_b64url_decode(s, strlen(s), &out, &n), 0);
  cr_assert_eq(n, sizeof in);
  cr_assert_arr_eq(out, in, n);
  free(out);
  free(s);
}

Test(b64, strict_decoding)
{
  uint8_t *out;
  size_t n;
  cr_assert_eq(dj_b64url_decode("ab+c", 4, &out, &n), -1, "standard alphabet in base64url");
  cr_assert_eq(dj_b64url_decode("abcde", 5, &out, &n), -1, "impossible length");
  cr_assert_eq(dj_b64url_decode("ab=c", 4, &out, &n), -1, "padding in base64url");
  cr_assert_eq(dj_b64_decode("ab-c", 4, &out, &n), -1, "url alphabet in standard");
  cr_assert_eq(dj_b64_decode("abc", 3, &out, &n), -1, "missing padding");
  cr_assert_eq(dj_b64_decode("QUI=", 4, &out, &n), 0);
  cr_assert_eq(n, 2);
  cr_assert_str_eq((char *) out, "AB");
  free(out);
  cr_assert_eq(dj_b64_decode("", 0, &out, &n), 0);
  cr_assert_eq(n, 0);
  free(out);
}
