/* donjon run|create [--bundle DIR] [--pid-file FILE] [--console-socket S] [--preserve-fds N] [--no-pivot]
 *                    [--no-new-keyring] ID
 *
 * The orchestrator plugin (docs/launch.md): a config annotated org.donjon.profile=confidential gets
 * the confidential profile on top (tighten only); one annotated org.donjon.image=IMAGE-REF is a
 * confidential pod: create hands it to donjon-agent, which attests, decrypts the image into a
 * private tmpfs and runs create again on that bundle with --confidential-bundle naming the
 * orchestrator's own (recorded as the container's bundle). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cmd_lifecycle.h"
#include "common/json.h"
#include "common/util.h"
#include "sandbox/container.h"
#include "sandbox/notify.h"
#include "sandbox/profile.h"
#include "sandbox/spec.h"

static void run_usage(FILE *out, bool create)
{
  fprintf(out, "Usage: donjon %s [OPTIONS] ID\n\n%s\n\n", create ? "create" : "run",
          create ? "Create a container from an OCI bundle: set up, its init waiting for 'donjon start ID'.\n"
                   "donjon exits once the container is created; the init is left to the caller's subreaper."
                 : "Create and run a container from an OCI bundle in the foreground; donjon exits with the\n"
                   "process's exit code (128+N when it was killed by signal N).");
  fprintf(out,
          "  -b, --bundle DIR       the bundle directory holding config.json (default: .)\n"
          "      --pid-file FILE    write the container's init pid to FILE\n"
          "      --preserve-fds N   pass fds 3 .. 3+N-1 on to the container\n"
          "      --console-socket S with process.terminal: the pty is made in the container and its\n"
          "                         master sent to the unix socket S (SCM_RIGHTS), as runc does\n"
          "      --no-pivot         MS_MOVE + chroot instead of pivot_root (for ramfs roots)\n"
          "      --no-new-keyring   keep the caller's session keyring instead of a new one\n"
          "  -h, --help             print this help\n");
}

static int run_or_create(struct dj_cli *cli, int argc, char **argv, bool create)
{
  const char *cmd = create ? "create" : "run";
  enum { OPT_PID_FILE = 256, OPT_PRESERVE, OPT_NO_PIVOT, OPT_NO_KEYRING, OPT_CONSOLE, OPT_CONFIDENTIAL };
  static const struct option opts[] = {
    { "bundle", required_argument, NULL, 'b' },
    { "pid-file", required_argument, NULL, OPT_PID_FILE },
    { "preserve-fds", required_argument, NULL, OPT_PRESERVE },
    { "no-pivot", no_argument, NULL, OPT_NO_PIVOT },
    { "no-new-keyring", no_argument, NULL, OPT_NO_KEYRING },
    { "console-socket", required_argument, NULL, OPT_CONSOLE },
    { "confidential-bundle", required_argument, NULL, OPT_CONFIDENTIAL },
    { "help", no_argument, NULL, 'h' },
    { 0 },
  };
  const char *bundle = ".", *orchestrator_bundle = NULL;
  struct dj_run_opts ro = { .state_root = cli->root };
  int c;
  while ((c = getopt_long(argc, argv, "+b:h", opts, NULL)) != -1) {
    switch (c) {
    case 'b': bundle = optarg; break;
    case OPT_PID_FILE: ro.pid_file = optarg; break;
    case OPT_PRESERVE: {
      uint64_t n;
      if (dj_parse_u64(optarg, &n) < 0 || n > 1000)
        return dj_cli_usage(cmd, "--preserve-fds: \"%s\" is not a number from 0 to 1000", optarg);
      ro.preserve_fds = (int) n;
      break;
    }
    case OPT_NO_PIVOT: ro.no_pivot = true; break;
    case OPT_NO_KEYRING: ro.no_new_keyring = true; break;
    case OPT_CONSOLE: ro.console_socket = optarg; break;
    case OPT_CONFIDENTIAL: orchestrator_bundle = optarg; break;
    case 'h': run_usage(stdout, create); return 0;
    default: return dj_cli_usage(cmd, "unknown option");
    }
  }
  if (optind != argc - 1)
    return dj_cli_usage(cmd, "expects exactly one container ID");
  ro.id = argv[optind];

  dj_err err = { 0 };
  char bundle_abs[PATH_MAX];
  if (realpath(bundle, bundle_abs) == NULL) {
    dj_error(&err, errno, "bundle %s", bundle);
    return dj_cli_fail(&err);
  }
  ro.bundle = bundle_abs;
  /* Socket activation meant for us (LISTEN_PID is our pid) is passed on as runc does: those fds
   * first, announced to the process as LISTEN_FDS=N and LISTEN_PID=1. */
  const char *listen = getenv("LISTEN_FDS"), *listen_pid = getenv("LISTEN_PID");
  uint64_t nlisten = 0, lpid = 0;
  if (listen != NULL && listen_pid != NULL && dj_parse_u64(listen, &nlisten) == 0 && nlisten <= 1000 &&
      dj_parse_u64(listen_pid, &lpid) == 0 && lpid == (uint64_t) getpid())
    ro.listen_fds = (int) nlisten;

  _cleanup_json_ json_t *doc = NULL;
  if (dj_spec_load_doc(bundle_abs, &doc, &err) < 0)
    return dj_cli_fail(&err);
  json_t *annotations = json_object_get(doc, "annotations");
  /* Kubernetes passes a pod's annotations to its sandbox (pause) container too: that one keeps
   * the orchestrator's root (and gets the profile when the pod carries org.donjon.profile). */
  const char *cri_type = json_string_value(json_object_get(annotations, "io.kubernetes.cri.container-type"));
  bool sandbox = cri_type != NULL && strcmp(cri_type, "sandbox") == 0;
  if (json_object_get(annotations, DJ_LAUNCH_IMAGE_ANNOTATION) != NULL && orchestrator_bundle == NULL && !sandbox) {
    if (!create) {
      dj_error(&err, 0, "config.json: annotations.%s: a confidential image is run by 'donjon create' (an "
                        "orchestrator) or 'donjon launch', not by run", DJ_LAUNCH_IMAGE_ANNOTATION);
      return dj_cli_fail(&err);
    }
    return dj_cli_exec_agent(cli->argv); /* attest, decrypt, then create again (cli/cmd_confidential.c) */
  }
  if (orchestrator_bundle != NULL) {
    if (!create)
      return dj_cli_usage(cmd, "--confidential-bundle is create's");
    if (realpath(orchestrator_bundle, bundle_abs) == NULL) {
      dj_error(&err, errno, "--confidential-bundle %s", orchestrator_bundle);
      return dj_cli_fail(&err);
    }
  }
  const char *profile = json_string_value(json_object_get(annotations, DJ_PROFILE_ANNOTATION));
  if (profile != NULL && strcmp(profile, "confidential") != 0) {
    dj_error(&err, 0, "config.json: annotations.%s: unknown profile \"%s\" (confidential)", DJ_PROFILE_ANNOTATION,
             profile);
    return dj_cli_fail(&err);
  }
  if (profile != NULL && dj_profile_apply_confidential(doc, &err) < 0) { /* it rewrites the annotation */
    dj_err_wrap(&err, "config.json: annotations.%s=confidential", DJ_PROFILE_ANNOTATION);
    return dj_cli_fail(&err);
  }
  _cleanup_spec_ struct dj_spec *spec = NULL;
  if (dj_spec_parse(doc, &spec, &err) < 0) {
    dj_err_wrap(&err, "config.json");
    return dj_cli_fail(&err);
  }
  dj_log_debug("%s %s: bundle %s, config parsed%s", cmd, ro.id, ro.bundle,
               profile != NULL ? " (confidential profile applied)" : "");
  if (create) {
    /* sd_notify through the container, as runc does (sandbox/notify.h) */
    const char *notify = getenv("NOTIFY_SOCKET");
    if (notify != NULL && *notify != '\0') {
      ro.notify_socket = notify;
      if (dj_notify_prepare(&spec, ro.state_root, ro.id, &err) < 0)
        return dj_cli_fail(&err);
    }
    if (dj_container_create(spec, &ro, &err) < 0) {
      dj_err_wrap(&err, "create %s", ro.id);
      return dj_cli_fail(&err);
    }
    dj_log_debug("create %s: created, its init waits for start", ro.id);
    return 0;
  }
  int status = 0;
  if (dj_container_run(spec, &ro, &status, &err) < 0) {
    dj_err_wrap(&err, "run %s", ro.id);
    return dj_cli_fail(&err);
  }
  dj_log_debug("run %s: the process exited with status %d", ro.id, status);
  return status;
}

int dj_cmd_run(struct dj_cli *cli, int argc, char **argv)
{
  return run_or_create(cli, argc, argv, false);
}

int dj_cmd_create(struct dj_cli *cli, int argc, char **argv)
{
  return run_or_create(cli, argc, argv, true);
}
