#include "cli/cli.h"

int dj_cmd_run(struct dj_cli *cli, int argc, char **argv)
{
  dj_err err = { 0 };
  dj_error(&err, 0, "run: being written");
  return dj_cli_fail(&err);
}
