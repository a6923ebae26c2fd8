/* The confidential launch (DESIGN.md §3, docs/launch.md): an encrypted OCI image runs in the
 * confidential jail only after the verifier has checked this node's evidence for exactly this
 * workload and released its keys, and its plaintext exists only in memory that no process outside
 * the launch and its container can see.
 *
 *   1. resolve the image; build the container's config.json from the image config, the profile
 *      and the arguments; compute the workload digest;
 *   2. extend the workload PCR with the measurement event (and log it);
 *   3. one challenge, an ephemeral key, a quote bound to both and to the workload digest, one
 *      /v1/attest with the key ids and every encrypted layer's recipient blob;
 *   4. in a private mount namespace, a tmpfs; the layers decrypted (HMAC first) and unpacked into
 *      it, the released secrets as files beside them; keys wiped;
 *   5. `donjon create` on that bundle (the tmpfs leaves the launch's own mount namespace once the
 *      container holds it), `start`, wait; 6. re-attest every N seconds; 7. clean up on every path.
 *
 * The runtime stays the lean `donjon` binary (cli/cli.h): the launch runs it, it does not link it. */
#ifndef DJ_LAUNCH_H
#define DJ_LAUNCH_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "attest/node.h"
#include "common/err.h"
#include "verifier/client.h"

#define DJ_LAUNCH_MAX_KEYS 64
/* Where the launch mounts its tmpfs, in its own mount namespace only (an empty directory on the
 * host, made once and never used there). */
#define DJ_LAUNCH_MOUNTPOINT "/run/donjon-launch"
/* Where the released secrets appear in the container. */
#define DJ_LAUNCH_SECRETS_DIR "/run/secrets/donjon"

/* The steps, for messages ("launch: attest: ...") and the benchmark's split. */
enum dj_launch_step {
  DJ_STEP_PREPARE = 0, /* image, config, workload digest */
  DJ_STEP_MEASURE,     /* extend + log */
  DJ_STEP_CHALLENGE,
  DJ_STEP_QUOTE,
  DJ_STEP_ATTEST,
  DJ_STEP_UNPACK,      /* decrypt + unpack + secrets */
  DJ_STEP_START,       /* create + start */
  DJ_STEP_RUN,         /* the workload, re-attestation */
  DJ_STEP_COUNT
};
const char *dj_launch_step_name(enum dj_launch_step s);

struct dj_launch_opts {
  struct dj_vclient_opts vc;       /* the verifier */
  struct dj_node node;             /* the TPM and the node's state */
  const char *image;               /* IMAGE-REF: oci:DIR[:TAG] or oci-archive:FILE[:TAG] */
  const char *profile;             /* "confidential" (the only one a launch accepts) */
  const char *keys[DJ_LAUNCH_MAX_KEYS]; /* secrets to deliver under DJ_LAUNCH_SECRETS_DIR */
  size_t n_keys;
  char **args;                     /* the process's arguments instead of the image's (NULL: its own) */
  size_t n_args;
  unsigned reattest_s;             /* 0: attest once */
  bool allow_swap;                 /* launch even with unencrypted swap on */
  const char *id;                  /* container id (NULL: "launch-" + random) */
  const char *donjon;              /* the runtime binary (NULL: next to this one, or $DONJON) */
  const char *state_root;          /* the runtime's --root (NULL: its default) */
  void (*on_step)(void *ctx, enum dj_launch_step s); /* told as each step begins (or NULL) */
  void *step_ctx;
};

struct dj_launch_result {
  int exit_status;                 /* the workload's (128+N when killed by signal N) */
  bool denied;                     /* the verifier denied (at launch or at a re-attestation) */
  char *reasons;                   /* the verifier's reasons when denied (malloc'd) */
  enum dj_launch_step failed_step; /* when dj_launch returns -1 */
  double ms[DJ_STEP_COUNT];        /* time spent in each step */
};
void dj_launch_result_free(struct dj_launch_result *r);

/* The whole launch in the foreground. Returns 0 when the workload ran (its status in r), -1 when a
 * step failed or the verifier denied (err says which step and why; nothing is left behind). */
int dj_launch(const struct dj_launch_opts *o, struct dj_launch_result *r, dj_err *err);

/* The orchestrator plugin: `donjon create` of a bundle annotated org.donjon.image=IMAGE-REF runs
 * steps 1-4 with the orchestrator's config (the confidential profile applied on top) and then
 * execs `donjon create` on the prepared bundle, with the orchestrator's own arguments. Returns
 * only on failure. */
struct dj_launch_create_opts {
  struct dj_launch_opts launch;    /* vc, node, allow_swap, donjon (image and keys: the annotations) */
  const char *bundle;              /* the orchestrator's bundle (absolute) */
  int argc;                        /* the runtime's whole command line, global options included: */
  char **argv;                     /*   passed on, with the prepared bundle */
  int cmd_index;                   /* argv[cmd_index] is "create" */
};
int dj_launch_create(struct dj_launch_create_opts *o, dj_err *err);

/* The node's settings for both (launch/nodeconf.c): DJ_NODE_CONFIG_DEFAULT or file (or
 * $DONJON_NODE_CONFIG), then DONJON_VERIFIER, DONJON_VERIFIER_CA, DONJON_TPM. A missing default
 * file is not an error. */
#define DJ_NODE_CONFIG_DEFAULT "/etc/donjon/node.json"
int dj_node_config_load(const char *file, struct dj_vclient_opts *vc, struct dj_node *node, bool *allow_swap,
                        dj_err *err);

/* ---- pieces, exposed for the tests ------------------------------------------------------------ */

/* Refuse when a swap area that is not encrypted (dm-crypt) or in memory (zram) is on. swaps is
 * /proc/swaps, sys is /sys (parameters for the tests). */
int dj_launch_swap_check(const char *swaps, const char *sys, dj_err *err);
/* No core dumps, not dumpable, memory locked (current and future). The swap areas are read from
 * /proc/swaps, and from the file $DONJON_TEST_PROC_SWAPS names too (the tests' fake swap). */
int dj_launch_harden(bool allow_swap, dj_err *err);
/* In a child of the launch (parent: the launch's pid) that holds keys or plaintext: memory locked
 * again (mlockall is not inherited across fork), and SIGKILL when the launch dies. */
int dj_launch_child_harden(pid_t parent, bool allow_swap, dj_err *err);

/* The workload of a launch: the image, the container's config.json and the digest that names them. */
struct dj_workload {
  struct dj_image *img;
  json_t *config;                  /* root.path "rootfs"; what the verifier sees and the digest covers */
  char manifest[80];               /* sha256:... */
  const char *profile;
  uint8_t digest[32];
};
void dj_workload_free(struct dj_workload *w);
/* Build it from the image config, the confidential profile and args (launch), or from a given
 * config with the profile applied on top (base, the orchestrator plugin). */
int dj_workload_build(const char *image, const char *profile, json_t *base, char **args, size_t n_args,
                      struct dj_workload *w, dj_err *err);

#endif
