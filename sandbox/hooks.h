/* OCI hooks (runtime-spec config.md "POSIX-platform Hooks"): each hook is {path, args, env,
 * timeout}, run with the container's state JSON on its stdin.
 *
 *   prestart, createRuntime   create, in donjon (the runtime namespace), after the namespaces and
 *                             mounts are made, before pivot_root; failure: create fails
 *   createContainer           create, in the init (the container's namespaces), before pivot_root;
 *                             failure: create fails
 *   startContainer            start (run: before the exec), in the init, after pivot_root, before
 *                             the process is exec'd; failure: start fails, the container stops
 *   poststart                 start, in donjon, once the process is exec'd; failure: a warning
 *   poststop                  delete (run: after the process exits), in donjon; failure: a warning
 *
 * After a failed prestart, createRuntime, createContainer or startContainer hook, what was made is
 * removed and the poststop hooks run (the spec's "continue the lifecycle at step 12"). */
#ifndef DJ_HOOKS_H
#define DJ_HOOKS_H

#include <jansson.h>
#include <stdbool.h>

#include "common/err.h"

enum dj_hook_kind {
  DJ_HOOK_PRESTART,
  DJ_HOOK_CREATE_RUNTIME,
  DJ_HOOK_CREATE_CONTAINER,
  DJ_HOOK_START_CONTAINER,
  DJ_HOOK_POSTSTART,
  DJ_HOOK_POSTSTOP,
};

/* dj_err.code of a hook's failure (the lifecycle then runs the poststop hooks). */
#define DJ_HOOK_FAILED 0x484b

/* Check config.json's hooks object (NULL: none): every hook has an absolute path, args and env
 * arrays of strings (env entries NAME=VALUE), a timeout > 0; errors name hooks.KIND[i].FIELD. */
int dj_hooks_check(const json_t *hooks, dj_err *err);
/* Does the object have at least one hook of kind? */
bool dj_hooks_have(const json_t *hooks, enum dj_hook_kind kind);
/* Run the hooks of kind in order, each with state (JSON text) on stdin and no other fd of ours;
 * stops at the first that fails (non-zero exit, killed, timed out), naming it and quoting what it
 * wrote to stderr. */
int dj_hooks_run(const json_t *hooks, enum dj_hook_kind kind, const char *state, dj_err *err);
/* The same for poststart and poststop: every hook runs; failures are logged as warnings. */
void dj_hooks_run_warn(const json_t *hooks, enum dj_hook_kind kind, const char *state);

#endif
