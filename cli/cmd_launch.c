/* donjon launch: the confidential launch (launch/launch.h, docs/launch.md). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "common/util.h"
#include "launch/launch.h"

static void usage(FILE *f)
{
  fprintf(f,
          "Usage: donjon launch [--verifier URL] [--ca CERT] [--tpm TCTI] [--key ID ...] [--profile confidential]\n"
          "                     [--reattest SECONDS] [--allow-swap] [--id ID] IMAGE-REF [-- ARGS...]\n"
          "\n"
          "Run an encrypted OCI image in the confidential jail, after the verifier has checked this node's\n"
          "TPM evidence for exactly this workload and released its keys:\n"
          "  1. the image, its config and ARGS make the container's config.json; the workload digest\n"
          "     names them (manifest, config, profile);\n"
          "  2. the workload PCR is extended with that digest and the event logged;\n"
          "  3. one challenge; a quote bound to it, to an ephemeral key and to the workload; one /v1/attest\n"
          "     with the key ids and every encrypted layer's recipient;\n"
          "  4. in a private tmpfs no other process on the host can see, the layers are decrypted (HMAC\n"
          "     checked first) and unpacked, the released secrets written under " DJ_LAUNCH_SECRETS_DIR ";\n"
          "  5. the container runs (donjon create/start); its exit status is this command's.\n"
          "Any failure names its step and, for a denial, the verifier's reasons. Nothing is left behind.\n"
          "\n"
          "  IMAGE-REF          oci:DIR[:TAG] or oci-archive:FILE[:TAG]\n"
          "  --verifier URL     https://HOST:PORT (default: $DONJON_VERIFIER, or \"verifier\" in the node's\n"
          "                     settings, " DJ_NODE_CONFIG_DEFAULT " or $DONJON_NODE_CONFIG; docs/launch.md)\n"
          "  --ca CERT          CA of the verifier's certificate (default $DONJON_VERIFIER_CA)\n"
          "  --key ID           a key of the tenant's: a secret, delivered as the file\n"
          "                     " DJ_LAUNCH_SECRETS_DIR "/ID, or the key (KEK) the image's layers are\n"
          "                     encrypted to, which never leaves the verifier (repeat for several)\n"
          "  --profile NAME     the jail: confidential (the only one a launch runs)\n"
          "  --reattest SECONDS attest again every SECONDS; a denial or no answer stops the workload\n"
          "  --allow-swap       launch even when unencrypted swap is on (decrypted pages could reach a disk)\n"
          "  --id ID            the container's id (default launch-RANDOM)\n"
          "  --tpm TCTI         the TPM (default $DONJON_TPM, else device:/dev/tpmrm0)\n"
          "  --state-dir DIR    the node's AK blobs and measurement logs (default " DJ_NODE_DEFAULT_STATE_DIR ")\n"
          "  --ek KIND --ak KIND  as enrolled (donjon node enroll --help)\n"
          "  --verbose          announce each step as it begins, and print the time each took\n");
}

static void step_begins(void *ctx, enum dj_launch_step s)
{
  fprintf(stderr, "donjon launch: %s\n", dj_launch_step_name(s));
}

int dj_cmd_launch(struct dj_cli *cli, int argc, char **argv)
{
  enum { O_URL = 256, O_CA, O_TPM, O_STATE, O_EK, O_AK, O_KEY, O_PROFILE, O_REATTEST, O_SWAP, O_ID, O_VERBOSE };
  static const struct option opts[] = {
    { "verifier", required_argument, NULL, O_URL }, { "ca", required_argument, NULL, O_CA },
    { "tpm", required_argument, NULL, O_TPM },      { "state-dir", required_argument, NULL, O_STATE },
    { "ek", required_argument, NULL, O_EK },        { "ak", required_argument, NULL, O_AK },
    { "key", required_argument, NULL, O_KEY },      { "profile", required_argument, NULL, O_PROFILE },
    { "reattest", required_argument, NULL, O_REATTEST }, { "allow-swap", no_argument, NULL, O_SWAP },
    { "id", required_argument, NULL, O_ID },        { "verbose", no_argument, NULL, O_VERBOSE },
    { "help", no_argument, NULL, 'h' },             { 0 },
  };
  struct dj_launch_opts o = { .profile = "confidential", .state_root = cli->root };
  dj_node_defaults(&o.node);
  dj_err err = { 0 };
  /* The node's settings (verifier, TPM...), then the flags. */
  if (dj_node_config_load(NULL, &o.vc, &o.node, &o.allow_swap, &err) < 0)
    return dj_cli_fail(&err);
  int c;
  while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
    uint64_t v;
    switch (c) {
    case O_URL: o.vc.url = optarg; break;
    case O_CA: o.vc.ca = optarg; break;
    case O_TPM: o.node.tcti = optarg; break;
    case O_STATE: o.node.state_dir = optarg; break;
    case O_EK:
      if (dj_ek_kind_parse(optarg, &o.node.ek_kind) < 0)
        return dj_cli_usage("launch", "--ek: unknown EK kind \"%s\"", optarg);
      break;
    case O_AK:
      if (strcmp(optarg, "rsa2048") == 0)
        o.node.ak_kind = DJ_AK_RSA2048;
      else if (strcmp(optarg, "ecc-p256") == 0)
        o.node.ak_kind = DJ_AK_ECC_P256;
      else
        return dj_cli_usage("launch", "--ak: unknown AK kind \"%s\" (rsa2048 or ecc-p256)", optarg);
      break;
    case O_KEY:
      if (o.n_keys == DJ_LAUNCH_MAX_KEYS)
        return dj_cli_usage("launch", "--key: at most %d keys", DJ_LAUNCH_MAX_KEYS);
      o.keys[o.n_keys++] = optarg;
      break;
    case O_PROFILE: o.profile = optarg; break;
    case O_REATTEST:
      if (dj_parse_u64(optarg, &v) < 0 || v == 0 || v > 86400)
        return dj_cli_usage("launch", "--reattest: \"%s\" is not a number of seconds (1-86400)", optarg);
      o.reattest_s = (unsigned) v;
      break;
    case O_SWAP: o.allow_swap = true; break;
    case O_ID: o.id = optarg; break;
    case O_VERBOSE: o.on_step = step_begins; break;
    case 'h': usage(stdout); return 0;
    default: return dj_cli_usage("launch", "unknown option");
    }
  }
  if (optind >= argc)
    return dj_cli_usage("launch", "expects an IMAGE-REF");
  o.image = argv[optind++];
  if (optind < argc && strcmp(argv[optind], "--") == 0)
    optind++;
  o.args = argv + optind;
  o.n_args = (size_t) (argc - optind);
  if (o.vc.url == NULL)
    return dj_cli_usage("launch", "--verifier URL (or DONJON_VERIFIER) is needed");
  if (!cli->debug)
    setenv("TSS2_LOG", "all+NONE", 0); /* tpm2-tss logs to stderr by itself; our errors say what failed */
  struct dj_launch_result r;
  int rc = dj_launch(&o, &r, &err);
  if (o.on_step != NULL) {
    fprintf(stderr, "donjon launch: times (ms):");
    for (int s = 0; s < DJ_STEP_COUNT; s++)
      fprintf(stderr, " %s %.1f", dj_launch_step_name((enum dj_launch_step) s), r.ms[s]);
    fprintf(stderr, "\n");
  }
  dj_launch_result_free(&r);
  if (rc < 0)
    return dj_cli_fail(&err);
  return r.exit_status;
}
