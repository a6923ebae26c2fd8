/* One container's life in the foreground (`donjon run`), or set up to wait for `start` (create).
 *
 * The parent (donjon) validates, creates the cgroups, clones the init with the new namespaces,
 * writes its id maps and places it in the cgroups, then relays signals (and the terminal) until
 * the init exits. The init sets up hostname, keyring, network, root filesystem, limits, identity,
 * capabilities and seccomp, and execs the process. Every setup failure of the init is sent back
 * over a socket and reported by the parent, which then removes everything that was made. */
#ifndef DJ_CONTAINER_H
#define DJ_CONTAINER_H

#include <stdbool.h>

#include "common/err.h"
#include "sandbox/spec.h"

struct dj_run_opts {
  const char *id;
  const char *bundle;      /* absolute path of the bundle directory */
  const char *state_root;  /* --root; the container's state lives in state_root/id */
  const char *pid_file;    /* NULL: none */
  const char *notify_socket;  /* create: the caller's NOTIFY_SOCKET (the spec already carries the
                               * mount of dj_notify_prepare), relayed by start; NULL: none */
  const char *console_socket; /* process.terminal: the pty is made in the container and its master
                               * sent there (SCM_RIGHTS); NULL: run relays a host pty itself */
  int listen_fds;          /* socket activation: fds 3 .. 3+L-1, announced as LISTEN_FDS=L, LISTEN_PID=1 */
  int preserve_fds;        /* then fds 3+L .. 3+L+N-1 are passed on too */
  bool no_pivot;
  bool no_new_keyring;
};

/* Check a container id: [A-Za-z0-9][A-Za-z0-9_.+-]*, at most 1024 bytes. */
int dj_container_id_check(const char *id, dj_err *err);

/* Run the container in the foreground. *exit_status is the process's exit code, or 128+N when it
 * was killed by signal N. Returns -1 (err filled, nothing left behind) when it could not run. */
int dj_container_run(const struct dj_spec *spec, const struct dj_run_opts *opts, int *exit_status,
                     dj_err *err);

/* Everything run does up to the exec; the init then waits on state_root/id/exec.fifo until
 * `start` (sandbox/state.h) opens it. Returns once state.json says "created" and the pid file is
 * written; the init stays, to be reparented to the caller's subreaper. On failure nothing is
 * left behind. */
int dj_container_create(const struct dj_spec *spec, const struct dj_run_opts *opts, dj_err *err);

#endif
