/* donjon-agent: the node agent and tenant tools, run by `donjon CMD` for the commands that link
 * tpm2-tss, OpenSSL, libarchive or libcurl (see cli/cli.h). Add each command here AND as
 * { "NAME", NULL, "SUMMARY", true } in cli/main.c's table. */
#include "cli/cli.h"

static const struct dj_cli_command commands[] = {
  { "spec", dj_cmd_spec, "write a config.json (default or confidential profile)", false },
  { "image", dj_cmd_image, "encrypted OCI images: inspect, encrypt, decrypt, unpack, bundle", false },
  { "tpm", dj_cmd_tpm, "TPM evidence: info, quote, check-quote, extend", false },
  { "node", dj_cmd_node, "enrol this node's TPM with the verifier (node enroll)", false },
  { "attest", dj_cmd_attest, "attest to the verifier and receive the keys it releases", false },
  { "create", dj_cmd_confidential_create, "create a confidential pod (donjon create of an org.donjon.image config)",
    false },
  { "launch", dj_cmd_launch, "run an encrypted image in the confidential jail once the verifier releases its keys",
    false },
};

int main(int argc, char **argv)
{
  return dj_cli_main(argc, argv, commands, sizeof commands / sizeof commands[0], true);
}
