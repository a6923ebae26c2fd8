/* Integration test harness: bundles with a busybox-static rootfs (plus the djprobe binary), made
 * with `donjon spec`, run with the real `donjon run`, and checks that nothing is left behind. */
#ifndef DJ_TEST_HARNESS_H
#define DJ_TEST_HARNESS_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

struct bundle {
  char dir[256];          /* the bundle: config.json + rootfs/ */
  char rootfs[300];
  char state[300];        /* donjon --root */
  char id[64];
  char cgpath[128];       /* linux.cgroupsPath, absolute, unique */
  json_t *config;
};

struct result {
  int status;             /* donjon's exit code, or 128+N if donjon itself was killed by signal N */
  char out[1 << 16];
  char err[1 << 16];
};

/* A fresh bundle for a profile ("default" or "confidential"), terminal off, unique cgroupsPath. */
void bundle_new(struct bundle *b, const char *profile);
/* process.args = ["sh", "-c", script]. */
void bundle_sh(struct bundle *b, const char *script);
/* process.args = argv (NULL-terminated). */
void bundle_args(struct bundle *b, const char *const *argv);
/* Set a member given by a dotted path ("linux.resources.pids.limit"), creating objects on the way;
 * steals the reference to value (NULL: delete the member). */
void bundle_set(struct bundle *b, const char *path, json_t *value);
json_t *bundle_get(struct bundle *b, const char *path);
void bundle_write_config(struct bundle *b);

/* Run `donjon [global...] run --bundle DIR [extra...] ID`, capturing output; 120 s limit. */
void bundle_run(struct bundle *b, struct result *r, const char *const *extra);
/* Same, with shell redirections applied to donjon's fds first (e.g. "3</etc/hostname"). */
void bundle_run_redirected(struct bundle *b, struct result *r, const char *redirs, const char *const *extra);
/* Run a whole donjon command line (argv without the binary), capturing output. */
void donjon_cmd(const char *const *argv, struct result *r, int stdin_fd);

/* Start `donjon run` in the background (stdout/stderr to pipes); finish with bundle_wait. */
pid_t bundle_start(struct bundle *b, const char *const *extra, int fds[2]);
void bundle_wait(pid_t pid, int fds[2], struct result *r);
/* Read a pid file written by --pid-file, waiting for it up to 30 s; -1 if it never appears. */
pid_t read_pid_file(const char *path);

/* Nothing of the container is left: state dir, cgroups in every hierarchy, mounts. */
void bundle_assert_clean(struct bundle *b);
void bundle_free(struct bundle *b);

/* Does text contain needle? (for readable assertions) */
bool has(const char *text, const char *needle);
const char *donjon_path(void);

#endif
