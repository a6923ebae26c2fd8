/* sandbox/reexec.c: which commands re-execute from a read-only copy of donjon (the ones that
 * enter a container; the command is the one cli/cli.c's getopt_long found), and the check that
 * refuses to enter from a writable binary. */
#include <criterion/criterion.h>
#include <string.h>

#include "sandbox/reexec.h"

Test(reexec, commands_that_enter_a_container)
{
  static const char *const yes[] = { "run", "create", "exec", "launch" };
  for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
    cr_expect(dj_reexec_needed(yes[i]), "%s", yes[i]);
}

Test(reexec, commands_that_never_do)
{
  static const char *const no[] = { "state", "kill", "list", "spec", "delete", "ps", "features", "start", "pause",
                                    "resume", "update", "runs", "ru", "" };
  for (size_t i = 0; i < sizeof no / sizeof *no; i++)
    cr_expect_not(dj_reexec_needed(no[i]), "%s", no[i]);
  cr_expect_not(dj_reexec_needed(NULL));
}

Test(reexec, check_refuses_a_writable_binary)
{
  /* this test runs from the build directory, a writable mount */
  cr_assert_not(dj_reexec_is_sealed());
  dj_err err = { 0 };
  cr_assert_eq(dj_reexec_check(&err), -1);
  cr_expect(strstr(err.msg, "refusing to enter a container from a binary it could overwrite") != NULL, "%s",
            err.msg);
}
