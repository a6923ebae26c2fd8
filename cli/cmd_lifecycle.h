/* The OCI lifecycle commands after run: create (cli/cmd_run.c), start, state, kill, delete, list
 * (cli/cmd_lifecycle.c). See docs/lifecycle.md. */
#ifndef DJ_CMD_LIFECYCLE_H
#define DJ_CMD_LIFECYCLE_H

#include "cli/cli.h"

int dj_cmd_create(struct dj_cli *cli, int argc, char **argv);
int dj_cmd_start(struct dj_cli *cli, int argc, char **argv);
int dj_cmd_state(struct dj_cli *cli, int argc, char **argv);
int dj_cmd_kill(struct dj_cli *cli, int argc, char **argv);
int dj_cmd_delete(struct dj_cli *cli, int argc, char **argv);
int dj_cmd_list(struct dj_cli *cli, int argc, char **argv);
int dj_cmd_exec(struct dj_cli *cli, int argc, char **argv);      /* cli/cmd_exec.c */
/* cli/cmd_manage.c */
int dj_cmd_pause(struct dj_cli *cli, int argc, char **argv);
int dj_cmd_resume(struct dj_cli *cli, int argc, char **argv);
int dj_cmd_ps(struct dj_cli *cli, int argc, char **argv);
int dj_cmd_update(struct dj_cli *cli, int argc, char **argv);

/* "KILL", "SIGKILL", "kill", "9" -> 9; -1 if unknown. */
int dj_signal_parse(const char *s);

#endif
