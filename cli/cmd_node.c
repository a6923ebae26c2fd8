/* donjon node enroll: create or load the AK, enrol it with the verifier (EK certificate, EK and AK
 * public areas), answer the credential challenge with the TPM. Running it again is harmless. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cmd_node.h"
#include "common/util.h"

int dj_node_cli_parse(struct dj_cli *cli, int argc, char **argv, const char *cmd, void (*help)(FILE *f),
                      struct dj_node_cli *o)
{
  enum { O_URL = 256, O_CA, O_TPM, O_STATE, O_EK, O_AK, O_AKH, O_PCR, O_NAME, O_KEY, O_WORKLOAD, O_OUT, O_JSON };
  static const struct option opts[] = {
    { "verifier", required_argument, NULL, O_URL }, { "ca", required_argument, NULL, O_CA },
    { "tpm", required_argument, NULL, O_TPM },      { "state-dir", required_argument, NULL, O_STATE },
    { "ek", required_argument, NULL, O_EK },        { "ak", required_argument, NULL, O_AK },
    { "ak-handle", required_argument, NULL, O_AKH }, { "pcr", required_argument, NULL, O_PCR },
    { "name", required_argument, NULL, O_NAME },    { "key", required_argument, NULL, O_KEY },
    { "workload", required_argument, NULL, O_WORKLOAD }, { "out", required_argument, NULL, O_OUT },
    { "json", no_argument, NULL, O_JSON },          { "help", no_argument, NULL, 'h' },
    { 0 },
  };
  memset(o, 0, sizeof *o);
  dj_node_defaults(&o->node);
  o->vc.url = getenv("DONJON_VERIFIER");
  o->vc.ca = getenv("DONJON_VERIFIER_CA");
  int c;
  while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
    uint64_t v;
    switch (c) {
    case O_URL: o->vc.url = optarg; break;
    case O_CA: o->vc.ca = optarg; break;
    case O_TPM: o->node.tcti = optarg; break;
    case O_STATE: o->node.state_dir = optarg; break;
    case O_EK:
      if (dj_ek_kind_parse(optarg, &o->node.ek_kind) < 0)
        return dj_cli_usage(cmd, "--ek: unknown EK kind \"%s\"", optarg);
      break;
    case O_AK:
      if (strcmp(optarg, "rsa2048") == 0)
        o->node.ak_kind = DJ_AK_RSA2048;
      else if (strcmp(optarg, "ecc-p256") == 0)
        o->node.ak_kind = DJ_AK_ECC_P256;
      else
        return dj_cli_usage(cmd, "--ak: unknown AK kind \"%s\" (rsa2048 or ecc-p256)", optarg);
      break;
    case O_AKH: {
      char *end = NULL;
      errno = 0;
      unsigned long h = strtoul(optarg, &end, 0);
      if (errno || *end || (h != 0 && (h < 0x81000000ul || h > 0x81ffffffUL)))
        return dj_cli_usage(cmd, "--ak-handle: \"%s\" is not a persistent handle", optarg);
      o->node.ak_handle = (uint32_t) h;
      break;
    }
    case O_PCR:
      if (dj_parse_u64(optarg, &v) < 0 || v >= DJ_PCR_COUNT)
        return dj_cli_usage(cmd, "--pcr: \"%s\" is not a PCR index", optarg);
      o->node.workload_pcr = (unsigned) v;
      break;
    case O_NAME: o->name = optarg; break;
    case O_KEY:
      if (o->n_keys == DJ_NODE_MAX_KEYS)
        return dj_cli_usage(cmd, "--key: at most %d keys", DJ_NODE_MAX_KEYS);
      o->keys[o->n_keys++] = optarg;
      break;
    case O_WORKLOAD: o->workload = optarg; break;
    case O_OUT: o->out = optarg; break;
    case O_JSON: o->json = true; break;
    case 'h': help(stdout); return 0;
    default: return dj_cli_usage(cmd, "unknown option");
    }
  }
  if (optind != argc)
    return dj_cli_usage(cmd, "unexpected argument \"%s\"", argv[optind]);
  if (o->vc.url == NULL)
    return dj_cli_usage(cmd, "--verifier URL (or DONJON_VERIFIER) is needed");
  if (!cli->debug)
    setenv("TSS2_LOG", "all+NONE", 0); /* tpm2-tss logs to stderr by itself; our errors say what failed */
  return -1;
}

static void usage(FILE *f)
{
  fprintf(f, "Usage: donjon node enroll --verifier URL [--ca CERT] [--tpm TCTI] [--name NAME]\n"
             "\n"
             "Enrol this node's TPM with the verifier: create or load the AK, send the EK certificate,\n"
             "the EK and AK public areas, and answer the verifier's credential challenge with\n"
             "TPM2_ActivateCredential. The node is then pending until an operator approves it, or\n"
             "approved at once when its EK is in the operator's inventory. Running it again is harmless;\n"
             "a new AK for an enrolled EK is a rotation the operator approves.\n"
             "\n"
             "Options:\n"
             "  --verifier URL      https://HOST:PORT (default $DONJON_VERIFIER)\n"
             "  --ca CERT           CA of the verifier's TLS certificate (default $DONJON_VERIFIER_CA)\n"
             "  --name NAME         a label for the operator (default: the host name); never an identity\n"
             "  --tpm TCTI          TPM to use (default $DONJON_TPM, else device:/dev/tpmrm0)\n"
             "  --state-dir DIR     AK blobs, measurement logs, lock (default " DJ_NODE_DEFAULT_STATE_DIR ")\n"
             "  --ek KIND           rsa2048 (default), ecc-p256 or ecc-p384\n"
             "  --ak KIND           rsa2048 (default) or ecc-p256\n"
             "  --ak-handle HANDLE  persistent AK handle for tpm2-tools (default 0x81010002, 0: none)\n");
}

int dj_cmd_node(struct dj_cli *cli, int argc, char **argv)
{
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    usage(argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  if (strcmp(argv[1], "enroll") != 0)
    return dj_cli_usage("node", "unknown subcommand \"%s\"", argv[1]);
  struct dj_node_cli o;
  int r = dj_node_cli_parse(cli, argc - 1, argv + 1, "node enroll", usage, &o);
  if (r >= 0)
    return r;
  char host[256] = "node";
  gethostname(host, sizeof host - 1);
  dj_err err = { 0 };
  struct dj_vclient *c = NULL;
  struct dj_venrolled e;
  if (dj_vclient_open(&o.vc, &c, &err) < 0 || dj_vclient_enroll(c, &o.node, o.name ? o.name : host, &e, &err) < 0) {
    dj_vclient_close(c);
    return dj_cli_fail(&err);
  }
  dj_vclient_close(c);
  printf("node %s: %s%s%s\n", e.node_id, e.status, e.already ? " (already enrolled)" : "",
         e.rotation_pending ? ", new AK waiting for the operator's approval" : "");
  return 0;
}
