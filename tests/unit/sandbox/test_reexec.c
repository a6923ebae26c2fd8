/* sandbox/reexec.c: which invocations re-execute from a read-only copy of donjon (the ones that
 * enter a container), read as getopt_long reads donjon's global options (cli/cli.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "sandbox/reexec.h"

static bool needed(const char *const *args)
{
  char *argv[32] = { "donjon" };
  int argc = 1;
  for (; args[argc - 1] != NULL; argc++)
    argv[argc] = (char *) args[argc - 1];
  argv[argc] = NULL;
  return dj_reexec_needed(argc, argv);
}

#define NEEDED(...) cr_expect(needed((const char *[]){ __VA_ARGS__, NULL }), "%s", #__VA_ARGS__)
#define NOT_NEEDED(...) cr_expect_not(needed((const char *[]){ __VA_ARGS__, NULL }), "%s", #__VA_ARGS__)

Test(reexec, commands_that_enter_a_container)
{
  NEEDED("run", "ctr");
  NEEDED("create", "--bundle", "b", "ctr");
  NEEDED("exec", "ctr", "sh");
  NEEDED("launch", "--image", "x");
}

Test(reexec, commands_that_never_do)
{
  NOT_NEEDED("state", "ctr");
  NOT_NEEDED("kill", "ctr", "KILL");
  NOT_NEEDED("list");
  NOT_NEEDED("spec", "--profile", "confidential");
  NOT_NEEDED("delete", "--force", "run");   /* "run" is the id here, not the command */
  NOT_NEEDED("ps", "exec");
  NOT_NEEDED("features");
  cr_expect_not(dj_reexec_needed(1, (char *[]){ "donjon", NULL }));
}

Test(reexec, global_options_with_a_value_skip_it)
{
  NEEDED("--root", "/run/x", "run", "ctr");
  NEEDED("--root=/run/x", "exec", "ctr", "true");
  NOT_NEEDED("--root", "run", "state", "ctr");  /* "run" is --root's value */
  NOT_NEEDED("--root=run", "state", "ctr");
  NEEDED("--log", "/tmp/l", "--log-format", "json", "create", "ctr");
  NOT_NEEDED("--log", "exec", "list");
  NOT_NEEDED("--criu", "run", "list");
  NEEDED("--debug", "--systemd-cgroup", "run", "ctr");
  NEEDED("--rootless", "run", "ctr");            /* optional value: only with "=" */
  NEEDED("--rootless=true", "run", "ctr");
  NEEDED("-v", "run", "ctr");
  NEEDED("--", "run", "ctr");
  NOT_NEEDED("--", "state", "ctr");
}

Test(reexec, abbreviated_options_are_read_as_getopt_long_reads_them)
{
  /* getopt_long takes a unique prefix: "--log-f json" is --log-format json */
  NEEDED("--log-f", "json", "exec", "ctr", "true");
  NOT_NEEDED("--log-f", "exec", "state", "ctr");
  NEEDED("--deb", "run", "ctr");
  NEEDED("--cr", "x", "run", "ctr");
  NOT_NEEDED("--cr", "run", "state", "ctr");
}

Test(reexec, options_it_cannot_read_mean_yes)
{
  /* an ambiguous prefix or an unknown option: re-exec (the command line fails anyway) */
  NEEDED("--ro", "x", "state", "ctr");
  NEEDED("--no-such-option", "state", "ctr");
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
