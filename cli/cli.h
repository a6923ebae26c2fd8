/* The donjon command line. Two executables share this code:
 *  - `donjon`: the OCI runtime commands (run, spec, and the lifecycle). Every container start
 *    loads it twice (the re-exec from a read-only copy), so it links only sandbox/ and common/,
 *    with jansson, libseccomp and libcap static (bench/README.md has the numbers);
 *  - `donjon-agent`: the node agent and tenant tools (tpm, image, and later attest, node, launch),
 *    which link tpm2-tss, OpenSSL, libarchive, libcurl. `donjon tpm ...` execs it with the same
 *    arguments, so users only ever type `donjon`.
 * Commands parse their arguments, call the libraries and print; the libraries never print. */
#ifndef DJ_CLI_H
#define DJ_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"
#include "common/log.h"

struct dj_cli {
  const char *root;          /* --root: state directory (default /run/donjon) */
  const char *log_file;      /* --log */
  enum dj_log_format log_format;
  bool debug;
  bool systemd_cgroup;
  bool rootless;
  int argc;                  /* the whole command line, global options included */
  char **argv;
};

struct dj_cli_command {
  const char *name;
  int (*run)(struct dj_cli *cli, int argc, char **argv); /* argv[0] is the command name */
  const char *summary;
  bool in_agent;             /* in donjon: run by donjon-agent (run is NULL here) */
};

/* Parse the global options, then run the named command of the table. agent: donjon-agent, whose
 * commands never enter a container themselves (its create and launch run donjon for that), so it
 * never re-executes from a sealed copy. */
int dj_cli_main(int argc, char **argv, const struct dj_cli_command *commands, size_t n_commands, bool agent);

/* Run donjon-agent (next to this binary, else in libexec) with argv; returns only on failure. */
int dj_cli_exec_agent(char **argv);
/* Report a failure: "donjon: MSG" on stderr (and the log, if one was asked for). Returns the
 * exit status to use (1). */
int dj_cli_fail(const dj_err *err);
/* Report a usage error for a command and return 2 (after printing "see donjon CMD --help"). */
int dj_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* donjon's commands (cli/main.c's table) */
int dj_cmd_run(struct dj_cli *cli, int argc, char **argv);
int dj_cmd_spec(struct dj_cli *cli, int argc, char **argv);
int dj_cmd_features(struct dj_cli *cli, int argc, char **argv);

/* donjon-agent's commands (cli/agent.c's table): add yours here */
int dj_cmd_image(struct dj_cli *cli, int argc, char **argv);
int dj_cmd_tpm(struct dj_cli *cli, int argc, char **argv);
int dj_cmd_node(struct dj_cli *cli, int argc, char **argv);
int dj_cmd_attest(struct dj_cli *cli, int argc, char **argv);
int dj_cmd_launch(struct dj_cli *cli, int argc, char **argv);
int dj_cmd_confidential_create(struct dj_cli *cli, int argc, char **argv);

#endif
