/* What `donjon node` and `donjon attest` share: the node (TPM, state directory, EK and AK kinds)
 * and the verifier connection options. */
#ifndef DJ_CLI_CMD_NODE_H
#define DJ_CLI_CMD_NODE_H

#include "attest/node.h"
#include "cli/cli.h"
#include "verifier/client.h"

#define DJ_NODE_MAX_KEYS 64

struct dj_node_cli {
  struct dj_node node;
  struct dj_vclient_opts vc;
  const char *name, *workload, *out;
  const char *keys[DJ_NODE_MAX_KEYS];
  size_t n_keys;
  bool json;
};

/* Parse the options of cmd (argv[0] is the command, or its subcommand); returns -1 to go on, or an
 * exit status (usage error, --help). help prints the command's usage. */
int dj_node_cli_parse(struct dj_cli *cli, int argc, char **argv, const char *cmd, void (*help)(FILE *f),
                      struct dj_node_cli *o);

#endif
