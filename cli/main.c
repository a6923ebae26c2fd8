/* donjon: the OCI runtime. Commands that need TPM, TLS or archive libraries run in donjon-agent
 * (cli/agent.c), which donjon execs; see cli/cli.h for why. */
#include "cli/cli.h"

static const struct dj_cli_command commands[] = {
  { "run", dj_cmd_run, "create and run a container from an OCI bundle", false },
  { "spec", dj_cmd_spec, "write a config.json (default or confidential profile)", false },
  { "features", dj_cmd_features, "print what this runtime implements (runtime-spec features JSON)", false },
  /* donjon-agent's commands: { "NAME", NULL, "SUMMARY", true } */
  { "image", NULL, "encrypted OCI images: inspect, encrypt, decrypt, unpack, bundle", true },
  { "tpm", NULL, "TPM evidence: info, quote, check-quote, extend", true },
};

int main(int argc, char **argv)
{
  return dj_cli_main(argc, argv, commands, sizeof commands / sizeof commands[0]);
}
