#include <criterion/criterion.h>
#include <errno.h>

#include "common/err.h"

Test(err, message_reads_from_the_outside_in)
{
  dj_err err = { 0 };
  cr_assert_eq(dj_error(&err, EPERM, "mount %s", "/proc"), -1);
  cr_assert_eq(err.errnum, EPERM);
  dj_err_wrap(&err, "create");
  cr_assert_str_eq(err.msg, "create: mount /proc: Operation not permitted");
}

Test(err, no_errno_no_suffix_and_codes)
{
  dj_err err = { 0 };
  dj_error_code(&err, 7, "quote: magic is %#x", 0x1234u);
  cr_assert_str_eq(err.msg, "quote: magic is 0x1234");
  cr_assert_eq(err.code, 7);
  cr_assert_eq(err.errnum, 0);
  dj_err_clear(&err);
  cr_assert_str_eq(err.msg, "");
}

Test(err, long_messages_are_truncated_not_overflowed)
{
  dj_err err = { 0 };
  char big[3000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  dj_error(&err, 0, "%s", big);
  dj_err_wrap(&err, "%s", big);
  cr_assert_eq(strlen(err.msg), DJ_ERR_MSG_MAX - 1);
}
