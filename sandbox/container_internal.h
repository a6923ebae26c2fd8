/* Shared by sandbox/container.c (donjon's side: namespaces, cgroups, the sync protocol, state)
 * and sandbox/init.c (the container's init: what it sets up before it execs the process). Not
 * for other modules. */
#ifndef DJ_CONTAINER_INTERNAL_H
#define DJ_CONTAINER_INTERNAL_H

#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include "sandbox/cgroup.h"
#include "sandbox/container.h"
#include "sandbox/seccomp.h"

/* What travels on the sync socket between donjon and the container's init. */
/* GO: id maps written, the init may start; JOINED: it is in its cgroups (donjon makes and fills
 * them while the init sets up what does not depend on them); ERR: the init failed; READY (create
 * only): set up, now waiting on the exec fifo for `start`. */
/* HOOKS: the init is set up up to pivot_root, donjon may run prestart and createRuntime hooks,
 * then answers HOOKS_DONE. With createContainer or startContainer hooks, the container's state
 * (JSON text) follows JOINED as a datagram of its own. */
enum sync_type { SYNC_GO = 1, SYNC_JOINED, SYNC_ERR, SYNC_READY, SYNC_HOOKS, SYNC_HOOKS_DONE };
#define SYNC_STATE_MAX 65536
struct sync_msg {
  int type;
  dj_err err;
};

/* Everything one run holds, so that one function can undo it on any path. */
struct run {
  const struct dj_spec *spec;
  const struct dj_run_opts *opts;
  struct dj_cgroup *cgroup;
  scmp_filter_ctx seccomp;
  int sync[2];           /* [0] donjon's end, [1] the init's */
  int ns_fds[8];         /* namespaces joined by path, in the order of setns() */
  int ns_types[8];
  size_t n_ns_fds;
  int pty_master, pty_slave;
  int console_sock;      /* --console-socket, connected: the init sends it the pty master */
  bool state_made;
  bool joined;           /* (in the init) JOINED was received */
  bool started;          /* (in the init, create) `start` opened the exec fifo: donjon is gone */
  bool init_hooks;       /* createContainer or startContainer hooks: the init needs the state */
  bool spawned;          /* the init was cloned (so poststop hooks have something to follow) */
  char *hook_state;      /* (in the init) the state those hooks get on stdin */
  pid_t pid;
  sigset_t saved_mask;
  bool create;           /* create: the init waits on the exec fifo, donjon leaves it running */
  int lock_fd;           /* the container's lock (run: until the process runs) */
  int fifo_fd;           /* create: O_PATH of the exec fifo, reopened by the init through proc_fd */
  int proc_fd;           /* create: the host's /proc (O_PATH), where self/fd/N is the init's */
};

/* One datagram on the sync socket; MSG_NOSIGNAL (an init that died must not raise SIGPIPE). */
int dj_sync_send(int fd, int type, const dj_err *e);
/* The fd of a user namespace joined by path, or -1. */
int dj_joined_userns_fd(const struct run *r);
/* The init, right after the clone: waits for GO, sets up, execs (or reports and exits 127). */
__attribute__((noreturn)) void dj_init_main(struct run *r);

#endif
