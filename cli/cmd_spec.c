#include "cli/cli.h"

int dj_cmd_spec(struct dj_cli *cli, int argc, char **argv)
{
  dj_err err = { 0 };
  dj_error(&err, 0, "spec: being written");
  return dj_cli_fail(&err);
}
