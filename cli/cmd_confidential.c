/* donjon create of a confidential pod (config.json annotated org.donjon.image=IMAGE-REF), in
 * donjon-agent: the runtime hands the whole command line over (cli/cmd_run.c); this attests,
 * decrypts the image into a private tmpfs and execs `donjon create` on that bundle
 * (launch/launch.h, docs/launch.md). Not listed in donjon-agent's help: orchestrators reach it
 * through `donjon create`. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/util.h"
#include "launch/launch.h"

int dj_cmd_confidential_create(struct dj_cli *cli, int argc, char **argv)
{
  static const struct option opts[] = {
    { "bundle", required_argument, NULL, 'b' },        { "pid-file", required_argument, NULL, 'p' },
    { "preserve-fds", required_argument, NULL, 'f' },  { "no-pivot", no_argument, NULL, 'n' },
    { "no-new-keyring", no_argument, NULL, 'k' },      { "console-socket", required_argument, NULL, 'c' },
    { 0 },
  };
  const char *bundle = ".";
  int c;
  while ((c = getopt_long(argc, argv, "+b:", opts, NULL)) != -1) {
    if (c == 'b')
      bundle = optarg;
    else if (c == '?')
      return dj_cli_usage("create", "unknown option");
  }
  if (optind != argc - 1)
    return dj_cli_usage("create", "expects exactly one container ID");
  struct dj_launch_create_opts o = { .argc = cli->argc, .argv = cli->argv, .cmd_index = -1 };
  for (int i = 1; i < cli->argc && o.cmd_index < 0; i++)
    if (cli->argv[i] == argv[0])
      o.cmd_index = i;
  dj_err err = { 0 };
  char bundle_abs[PATH_MAX];
  if (o.cmd_index < 0)
    return dj_cli_usage("create", "cannot find the command in the command line");
  if (realpath(bundle, bundle_abs) == NULL) {
    dj_error(&err, errno, "bundle %s", bundle);
    return dj_cli_fail(&err);
  }
  o.bundle = bundle_abs;
  o.launch.profile = "confidential";
  dj_node_defaults(&o.launch.node);
  if (dj_node_config_load(NULL, &o.launch.vc, &o.launch.node, &o.launch.allow_swap, &err) < 0)
    return dj_cli_fail(&err);
  if (o.launch.vc.url == NULL) {
    dj_error(&err, 0, "create %s: a confidential pod needs the verifier: \"verifier\" in %s (or $DONJON_NODE_CONFIG), "
             "or DONJON_VERIFIER", argv[optind], DJ_NODE_CONFIG_DEFAULT);
    return dj_cli_fail(&err);
  }
  if (!cli->debug)
    setenv("TSS2_LOG", "all+NONE", 0);
  dj_launch_create(&o, &err);
  dj_err_wrap(&err, "create %s", argv[optind]);
  return dj_cli_fail(&err);
}
