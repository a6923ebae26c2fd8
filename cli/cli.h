/* The donjon command: main.c parses global flags and dispatches to one cmd_*.c per subcommand.
 * Commands parse their arguments, call the libraries and print; the libraries never print. */
#ifndef DJ_CLI_H
#define DJ_CLI_H

#include <stdbool.h>

#include "common/err.h"
#include "common/log.h"

struct dj_cli {
  const char *root;          /* --root: state directory (default /run/donjon) */
  const char *log_file;      /* --log */
  enum dj_log_format log_format;
  bool debug;
  bool systemd_cgroup;
  bool rootless;
};

struct dj_cli_command {
  const char *name;
  int (*run)(struct dj_cli *cli, int argc, char **argv); /* argv[0] is the command name */
  const char *summary;
};

/* Report a failure: "donjon: MSG" on stderr (and the log, if one was asked for). Returns the
 * exit status to use (1). */
int dj_cli_fail(const dj_err *err);
/* Report a usage error for a command and return 2 (after printing "see donjon CMD --help"). */
int dj_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int dj_cmd_run(struct dj_cli *cli, int argc, char **argv);
int dj_cmd_spec(struct dj_cli *cli, int argc, char **argv);

#endif
