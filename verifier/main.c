/* donjon-verifier: the attestation verifier and key broker (docs/verifier.md, docs/protocol.md §7). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dj_verifier_cmd_policy(int argc, char **argv);
int dj_verifier_cmd_admin(int argc, char **argv);

static void usage(FILE *f)
{
  fprintf(f,
          "usage: donjon-verifier COMMAND ...\n"
          "\n"
          "service:\n"
          "  init --config FILE             create the master key, the audit key and the database when\n"
          "                                 missing; print the audit public key (give it to auditors)\n"
          "  serve --config FILE [--ready-fd N]\n"
          "                                 serve the HTTPS API (docs/verifier.md); N gets the port\n"
          "\n"
          "offline:\n"
          "  policy check FILE              every error of a policy document with its JSON path (exit 1),\n"
          "                                 or a summary of what it allows (exit 0)\n"
          "  audit verify --database FILE --pubkey PEM\n"
          "                                 verify the audit chain and its signed checkpoints in a database\n"
          "\n"
          "over the API (--verifier URL --ca PEM --cert PEM --key PEM, or DONJON_VERIFIER,\n"
          "DONJON_VERIFIER_CA, DONJON_VERIFIER_CERT, DONJON_VERIFIER_KEY):\n"
          "  node list                                       (operator)\n"
          "  node approve ID --site S --jurisdiction J --class C | --rotation   (operator)\n"
          "  node revoke ID --reason TEXT                    (operator)\n"
          "  inventory import FILE                           (operator) {\"entries\": [...]}\n"
          "  policy set FILE                                 (operator: operator policy; tenant: its own)\n"
          "  key put ID --secret-file FILE | --kek PEM       (tenant)\n"
          "  key list                                        (tenant)\n"
          "  audit show [--from N] [--limit N]               (auditor)\n"
          "  audit verify --pubkey PEM [--state FILE]        (auditor) the whole chain and its\n"
          "                                 checkpoints; --state keeps the last signed head seen, so a\n"
          "                                 later verify notices if it disappears\n");
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0) {
    printf("donjon-verifier %s\n", DJ_VERSION);
    return 0;
  }
  if (strcmp(argv[1], "policy") == 0 && argc > 2 && strcmp(argv[2], "check") == 0)
    return dj_verifier_cmd_policy(argc - 1, argv + 1);
  static const char *const admin[] = { "serve", "init", "node", "inventory", "key", "policy", "audit", NULL };
  for (const char *const *a = admin; *a; a++)
    if (strcmp(argv[1], *a) == 0)
      return dj_verifier_cmd_admin(argc - 1, argv + 1);
  fprintf(stderr, "donjon-verifier: unknown command \"%s\" (see --help)\n", argv[1]);
  return 2;
}
