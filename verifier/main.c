/* donjon-verifier: for now only `policy check`; the service, enrollment, key broker and audit log
 * of issue 6 are a later task. */
#include <stdio.h>
#include <string.h>

int dj_verifier_cmd_policy(int argc, char **argv);

static void usage(FILE *f)
{
  fprintf(f,
          "usage: donjon-verifier COMMAND ...\n"
          "\n"
          "commands:\n"
          "  policy check FILE   check an operator or tenant policy document: every error with its\n"
          "                      JSON path (exit 1), or a summary of what it allows (exit 0)\n"
          "\n"
          "Not built yet (a later task of issue 6): serve, node, inventory, key, policy set, audit.\n");
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
  if (strcmp(argv[1], "policy") == 0)
    return dj_verifier_cmd_policy(argc - 1, argv + 1);
  fprintf(stderr, "donjon-verifier: unknown command \"%s\" (see --help)\n", argv[1]);
  return 2;
}
