/* Helpers of the lifecycle tests (test_lifecycle*.c): donjon commands on one bundle, create with
 * its output in files, the OCI state read back. The test process is the subreaper, as a shim or
 * conmon is: created inits become its children once donjon exits. */
#ifndef DJ_TEST_LIFECYCLE_H
#define DJ_TEST_LIFECYCLE_H

#include "harness.h"

extern struct bundle B;   /* each test's bundle (default profile), made by lc_setup */
extern struct result R;   /* the last command's result */

void lc_setup(void);      /* subreaper, B */
void lc_teardown(void);   /* delete --force B, reap, assert nothing is left, free B */
void reap_all(void);

/* donjon --root b->state A0 [A1] [ID] [A2] (ID unless id is NULL); returns its status. */
int dj(struct bundle *b, const char *id, const char *a0, const char *a1, const char *a2);
/* donjon --root b->state ARGV... with stdin from stdin_fd (-1: /dev/null). */
int djv(struct bundle *b, const char *const *argv, int stdin_fd);
/* donjon create, stdout and stderr to files (the init inherits them); R.err holds stderr.
 * extra: more create options (NULL-terminated, may be NULL). */
int create(struct bundle *b, const char *pid_file);
int create_with(struct bundle *b, const char *const *extra);
/* global: options before the command (--debug, --log F...), NULL-terminated, may be NULL. */
int create_opts(struct bundle *b, const char *const *global, const char *const *extra);
json_t *state_of(struct bundle *b);
const char *status_of(struct bundle *b);
pid_t pid_of(struct bundle *b);
/* Wait for the init (our child as subreaper) to exit; its wait status. */
int wait_init(pid_t pid);
void create_started(struct bundle *b, const char *script);

/* --console-socket: listen on B.dir/console.sock (path returned), accept one connection and take
 * the pty master sent on it, read a pty until the other side closes. */
int console_listen(char *path, size_t size);
int console_take(int listen_fd);
void read_pty(int master, char *out, size_t size);

/* sh -c CMD in dir (its output files live there), stdin /dev/null; output and status in r. */
int shell(struct result *r, const char *dir, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A busybox-static root filesystem in dir. */
void busybox_rootfs(const char *dir);

/* Wait (on pidfds, up to timeout_ms) until no process but skip has needle in its command line
 * (conmon, podman's exit commands, containerd's shims); returns how many are left. */
size_t wait_processes_gone(const char *needle, pid_t skip, int timeout_ms);

#endif
