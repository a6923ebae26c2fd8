/* Between the launch's files; not an interface. */
#ifndef DJ_LAUNCH_INTERNAL_H
#define DJ_LAUNCH_INTERNAL_H

#include <signal.h>
#include <sys/types.h>

#include "launch/launch.h"

/* bundle.c: a private mount namespace with a tmpfs on DJ_LAUNCH_MOUNTPOINT; the bundle in it. */
int dj_launch_private_tmpfs(dj_err *err);
void dj_launch_tmpfs_release(void);
/* rootfs/ (unpacked by a child that a signal on sigfd stops, *signo set; hardened as the launch
 * is, dj_launch_child_harden), secrets/ (when asked), config.json. */
int dj_launch_bundle_make(struct dj_workload *w, const struct dj_vattest_result *res, bool secrets, bool allow_swap,
                          int sigfd, int *signo, dj_err *err);

/* run.c: the runtime, driven as an orchestrator drives it. */
struct dj_runtime {
  const char *donjon;              /* the binary */
  const char *root;                /* --root, or NULL */
  const char *id;
};
/* Find the donjon binary: given, $DONJON, next to this program, or in PATH. */
const char *dj_runtime_binary(const char *given);
/* Run `donjon [--root R] ARGS...` and wait; its exit status, or -1 (err) when it could not run. */
int dj_runtime_call(const struct dj_runtime *rt, const char *const *args, dj_err *err);

/* What the supervisor needs to re-attest. */
struct dj_reattest {
  unsigned every_s;
  int (*attest)(void *ctx, bool *allowed, char **reasons, dj_err *err);
  void *ctx;
};
/* Wait for the container's init (this process is its subreaper), forwarding SIGINT, SIGTERM,
 * SIGHUP and SIGQUIT to it (SIGKILL after a grace period, or on a second signal), re-attesting as
 * asked: a denial or a failed re-attestation stops the workload. */
int dj_runtime_supervise(const struct dj_runtime *rt, pid_t init, int sigfd, const struct dj_reattest *ra,
                         struct dj_launch_result *r, dj_err *err);

#endif
