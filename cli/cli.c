/* What donjon and donjon-agent share: global options, dispatch, error reporting. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "sandbox/reexec.h"

#ifndef DJ_LIBEXECDIR
#define DJ_LIBEXECDIR "/usr/local/libexec/donjon"
#endif

static void usage(FILE *out, const struct dj_cli_command *commands, size_t n)
{
  fprintf(out,
          "Usage: donjon [GLOBAL OPTIONS] COMMAND [ARGS]\n"
          "\n"
          "Confidential workloads for sovereign clouds: an OCI runtime with a hardened jail.\n"
          "\n"
          "Commands:\n");
  for (size_t i = 0; i < n; i++)
    fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(out,
          "\n"
          "Global options:\n"
          "  --root DIR             state directory (default /run/donjon)\n"
          "  --log FILE             write log lines to FILE\n"
          "  --log-format text|json format of log lines (json: level, msg, time)\n"
          "  --debug                log debug messages\n"
          "  --systemd-cgroup       manage cgroups through systemd: refused with the reason (no systemd\n"
          "                         driver in donjon), never mapped to cgroupfs silently\n"
          "  --rootless[=true|false|auto]  accepted as runc takes it; donjon runs as root\n"
          "  -v, --version          print the version\n"
          "  -h, --help             print this help\n"
          "\n"
          "Run 'donjon COMMAND --help' for a command's options.\n");
}

int dj_cli_fail(const dj_err *err)
{
  fprintf(stderr, "donjon: %s\n", err->msg);
  if (dj_log_get_fd() != 2)
    dj_log_error("%s", err->msg);
  return 1;
}

int dj_cli_usage(const char *cmd, const char *fmt, ...)
{
  va_list ap;
  fprintf(stderr, "donjon %s: ", cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nsee 'donjon %s --help'\n", cmd);
  return 2;
}

/* donjon-agent sits next to donjon (build tree, or an install in one directory), else in libexec. */
/* The directory of the donjon binary as started: after the re-exec from a detached read-only copy,
 * /proc/self/exe no longer names it, so it is kept in the environment across that exec. */
#define BINDIR_ENV "_DONJON_BINDIR"

static bool self_dir(char *out, size_t size)
{
  const char *kept = getenv(BINDIR_ENV);
  if (kept != NULL && *kept == '/') {
    snprintf(out, size, "%s", kept);
    return true;
  }
  ssize_t n = readlink("/proc/self/exe", out, size - 1);
  if (n <= 0)
    return false;
  out[n] = '\0';
  char *slash = strrchr(out, '/');
  if (slash == NULL)
    return false;
  *slash = '\0';
  return true;
}

int dj_cli_exec_agent(char **argv)
{
  char self[PATH_MAX], path[PATH_MAX + 32];
  if (self_dir(self, sizeof self)) {
    snprintf(path, sizeof path, "%s/donjon-agent", self);
    unsetenv(BINDIR_ENV);
    execv(path, argv);
  }
  execv(DJ_LIBEXECDIR "/donjon-agent", argv);
  fprintf(stderr, "donjon: %s: cannot run donjon-agent (next to donjon or in %s): %s\n", argv[0],
          DJ_LIBEXECDIR, strerror(errno));
  return 127;
}

int dj_cli_main(int argc, char **argv, const struct dj_cli_command *commands, size_t n_commands, bool agent)
{
  struct dj_cli cli = { .root = "/run/donjon", .log_format = DJ_LOG_TEXT, .argc = argc, .argv = argv };
  enum { OPT_ROOT = 256, OPT_LOG, OPT_LOG_FORMAT, OPT_DEBUG, OPT_SYSTEMD, OPT_ROOTLESS, OPT_CRIU };
  static const struct option opts[] = {
    { "root", required_argument, NULL, OPT_ROOT },
    { "log", required_argument, NULL, OPT_LOG },
    { "log-format", required_argument, NULL, OPT_LOG_FORMAT },
    { "debug", no_argument, NULL, OPT_DEBUG },
    { "systemd-cgroup", no_argument, NULL, OPT_SYSTEMD },
    { "rootless", optional_argument, NULL, OPT_ROOTLESS },
    { "criu", required_argument, NULL, OPT_CRIU },
    { "version", no_argument, NULL, 'v' },
    { "help", no_argument, NULL, 'h' },
    { 0 },
  };
  int c;
  /* '+': stop at the command name; its own options are the command's. */
  while ((c = getopt_long(argc, argv, "+vh", opts, NULL)) != -1) {
    switch (c) {
    case OPT_ROOT: cli.root = optarg; break;
    case OPT_LOG: cli.log_file = optarg; break;
    case OPT_LOG_FORMAT:
      if (dj_log_format_parse(optarg, &cli.log_format) < 0) {
        fprintf(stderr, "donjon: --log-format: unknown format \"%s\" (text or json)\n", optarg);
        return 2;
      }
      break;
    case OPT_DEBUG: cli.debug = true; break;
    case OPT_SYSTEMD: cli.systemd_cgroup = true; break;
    case OPT_ROOTLESS:
      /* runc's values; donjon runs as root (the root shell's user namespace), so it changes nothing */
      if (optarg != NULL && strcmp(optarg, "true") != 0 && strcmp(optarg, "false") != 0 && strcmp(optarg, "auto") != 0) {
        fprintf(stderr, "donjon: --rootless: \"%s\" is not true, false or auto\n", optarg);
        return 2;
      }
      cli.rootless = optarg == NULL || strcmp(optarg, "false") != 0;
      break;
    case OPT_CRIU: break; /* accepted and ignored, as crun does: no checkpoint support */
    case 'v':
      printf("donjon version %s\nspec: 1.2.0\n", DJ_VERSION);
      return 0;
    case 'h':
      usage(stdout, commands, n_commands);
      return 0;
    default:
      usage(stderr, commands, n_commands);
      return 2;
    }
  }
  if (optind >= argc) {
    usage(stderr, commands, n_commands);
    return 2;
  }
  int idx = optind;
  const char *name = argv[idx];
  const struct dj_cli_command *cmd = NULL;
  for (size_t i = 0; i < n_commands; i++)
    if (strcmp(commands[i].name, name) == 0)
      cmd = &commands[i];
  if (cmd == NULL) {
    fprintf(stderr, "donjon: unknown command \"%s\"; see 'donjon --help'\n", name);
    return 2;
  }
  if (cmd->run == NULL)
    return dj_cli_exec_agent(argv);
  /* A command that enters a container runs from a copy of donjon the container cannot write
   * (CVE-2019-5736); this execs again with the same arguments when needed. */
  if (!agent) {
    char dir[PATH_MAX];
    if (!dj_reexec_is_sealed() && dj_reexec_needed(name) && self_dir(dir, sizeof dir))
      setenv(BINDIR_ENV, dir, 1);
    dj_reexec_maybe(name, argv);
  }

  int log_fd = -1;
  if (cli.log_file != NULL) {
    log_fd = open(cli.log_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (log_fd < 0) {
      fprintf(stderr, "donjon: --log %s: %s\n", cli.log_file, strerror(errno));
      return 1;
    }
  }
  dj_log_setup(log_fd, cli.log_format, cli.debug ? DJ_LOG_DEBUG : DJ_LOG_WARNING);
  if (cli.systemd_cgroup) {
    /* Never a silent mapping to cgroupfs: that would hide a cgroup-driver mismatch. */
    dj_err err = { 0 };
    if (access("/run/systemd/system", F_OK) != 0)
      dj_error(&err, 0, "--systemd-cgroup: systemd is not running on this host (no /run/systemd/system); "
                        "configure the orchestrator's cgroupfs driver instead (docs/orchestrators.md)");
    else
      dj_error(&err, 0, "--systemd-cgroup: donjon does not implement the systemd cgroup driver (cgroups "
                        "through systemd's D-Bus API) yet; configure the cgroupfs driver (docs/orchestrators.md)");
    return dj_cli_fail(&err);
  }
  optind = 0; /* each command runs getopt from scratch on its own argv */
  return cmd->run(&cli, argc - idx, argv + idx);
}
