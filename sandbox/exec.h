/* `donjon exec`: a new process in a running container, confined as its init is: every namespace
 * of the init joined (through its pidfd, so a reused pid can never be joined), its cgroups, its
 * seccomp filter, its capabilities and no_new_privs as the process asks, no host fd, and
 * non-dumpable from before it joins until execve, so nothing in the container can ptrace it or
 * read its memory while it still holds donjon's privileges (CVE-2016-9962). */
#ifndef DJ_EXEC_H
#define DJ_EXEC_H

#include <jansson.h>
#include <stdbool.h>

#include "common/err.h"

struct dj_exec_opts {
  const char *id;
  const char *state_root;
  json_t *process;         /* the runtime-spec process object to run (borrowed) */
  const char *console_socket; /* with process.terminal: send the pty master there (else relay it) */
  const char *pid_file;    /* NULL: none */
  bool detach;             /* return once the process runs (it goes to the caller's subreaper) */
  int preserve_fds;        /* fds 3 .. 3+N-1 passed on */
};

/* The container's own process object (a copy), the base `exec ARGS...` starts from. */
int dj_container_process(const char *root, const char *id, json_t **out, dj_err *err);

/* Run opts->process in the container. Without detach, *exit_status is its exit code (128+N when
 * killed by signal N); with detach, 0. Returns -1 (err filled) when it could not be started. */
int dj_container_exec(const struct dj_exec_opts *opts, int *exit_status, dj_err *err);

#endif
