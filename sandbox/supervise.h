/* A container process in the foreground (`run`, `exec` without --detach): signals sent to donjon
 * forwarded to it, its terminal relayed to donjon's own stdio, its exit status returned. */
#ifndef DJ_SUPERVISE_H
#define DJ_SUPERVISE_H

#include <sys/types.h>

#include "common/err.h"

/* The status donjon exits with: the process's exit code, or 128+N when killed by signal N. */
int dj_exit_code(int wait_status);

/* Wait for pid (our child) to exit, forwarding every signal donjon receives (they must be blocked
 * by the caller; SIGWINCH resizes the pty instead) and relaying pty_master (-1: none) to stdin and
 * stdout. *exit_status: see dj_exit_code. pty_master is closed. */
int dj_supervise(pid_t pid, int pty_master, int *exit_status, dj_err *err);

#endif
