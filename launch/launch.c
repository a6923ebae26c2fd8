/* The confidential launch's steps in order (launch/launch.h); every failure names its step. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/util.h"
#include "images/layout.h"
#include "images/ocicrypt.h"
#include "launch/launch_internal.h"
#include "sandbox/profile.h"

static const char *const step_names[DJ_STEP_COUNT] = {
  [DJ_STEP_PREPARE] = "prepare", [DJ_STEP_MEASURE] = "measure", [DJ_STEP_CHALLENGE] = "challenge",
  [DJ_STEP_QUOTE] = "quote",     [DJ_STEP_ATTEST] = "attest",   [DJ_STEP_UNPACK] = "unpack",
  [DJ_STEP_START] = "start",     [DJ_STEP_RUN] = "run",
};

const char *dj_launch_step_name(enum dj_launch_step s)
{
  return s < DJ_STEP_COUNT ? step_names[s] : "?";
}

void dj_launch_result_free(struct dj_launch_result *r)
{
  free(r->reasons);
  r->reasons = NULL;
}

static double now_ms(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double) t.tv_sec * 1e3 + (double) t.tv_nsec / 1e6;
}

/* Everything one launch holds, so that one function releases it on every path. */
struct launch {
  const struct dj_launch_opts *o;
  struct dj_launch_result *r;
  struct dj_workload w;
  struct dj_vclient *vc;
  uint8_t *manifest_bytes;
  size_t manifest_len;
  struct dj_vlayer layers[64];
  size_t n_layers;
  struct dj_vattest_args args;
  int sigfd;
  bool tmpfs, created;
  double t;                        /* when the current step began */
  struct dj_runtime rt;
  char id[80];
  char node_id[65];
};

/* The measurement event of DESIGN.md §3: what this launch is about to ask a key for. */
static int measure(struct launch *l, dj_err *err)
{
  char hex[65];
  for (int i = 0; i < 32; i++)
    snprintf(hex + 2 * i, 3, "%02x", l->w.digest[i]);
  char wl[80];
  snprintf(wl, sizeof wl, "sha256:%s", hex);
  _cleanup_json_ json_t *ev = json_pack("{s:s, s:s, s:s}", "workload", wl, "manifest", l->w.manifest, "profile",
                                        l->w.profile);
  uint64_t seq = 0;
  if (dj_node_extend(&l->o->node, ev, &seq, err) < 0)
    return -1;
  /* the node id (the EK's, when enrolment left no file): this step is the last to need the TPM
   * before the quote, the challenge step is the verifier's alone */
  if (dj_vclient_node_id(&l->o->node, l->node_id, err) < 0)
    return -1;
  l->args.node_id = l->node_id;
  return 0;
}

/* The attestation request: the key ids, and every encrypted layer's recipients (the whole
 * keys.jwe value: the verifier finds the one its KEK opens, each checked to be in the manifest). */
static int attest_args(struct launch *l, dj_err *err)
{
  struct dj_image *img = l->w.img;
  for (size_t i = 0; i < img->n_layers; i++) {
    const struct dj_descriptor *d = &img->layers[i];
    if (!d->encrypted)
      continue;
    const char *jwe = json_string_value(json_object_get(d->annotations, DJ_ANNOT_KEYS_JWE));
    if (jwe == NULL) {
      char kinds[256];
      dj_ocicrypt_recipient_kinds(d->annotations, kinds, sizeof kinds);
      return dj_error(err, 0, "layer %zu (%s) has no JWE recipient (recipients: %s): the verifier cannot unwrap it",
                      i, d->digest, kinds[0] ? kinds : "none");
    }
    if (l->n_layers == DJ_ARRAY_SIZE(l->layers))
      return dj_error(err, 0, "more than %zu encrypted layers", DJ_ARRAY_SIZE(l->layers));
    l->layers[l->n_layers++] = (struct dj_vlayer){ .digest = d->digest, .recipient = jwe };
  }
  if (l->n_layers > 0 &&
      dj_image_blob_read(img->dirfd, &img->manifest_desc, 4u << 20, &l->manifest_bytes, err) < 0)
    return -1;
  l->manifest_len = img->manifest_desc.size;
  l->args = (struct dj_vattest_args){
    .keys = l->o->keys, .n_keys = l->o->n_keys, .manifest = l->w.manifest, .profile = l->w.profile,
    .config = l->w.config, .image_manifest = l->manifest_bytes, .image_manifest_len = l->manifest_len,
    .layers = l->layers, .n_layers = l->n_layers,
  };
  return 0;
}

static void step(struct launch *l, enum dj_launch_step s);
static int interrupted(struct launch *l, dj_err *err);

/* The client's phases are the launch's steps 3: each is timed, announced and named on failure. */
static void on_phase(void *ctx, enum dj_vattest_phase p)
{
  struct launch *l = ctx;
  enum dj_launch_step s = p == DJ_VPHASE_CHALLENGE ? DJ_STEP_CHALLENGE : p == DJ_VPHASE_QUOTE ? DJ_STEP_QUOTE
                                                                                              : DJ_STEP_ATTEST;
  if (l->r->failed_step != s)
    step(l, s);
}

/* A request to the verifier is abandoned as soon as one of the launch's signals is pending (it
 * stays pending: the signalfd reads it next). */
static const int stop_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT }; /* forwarded to the workload */

static int signal_pending(void *ctx)
{
  (void) ctx;
  sigset_t set;
  if (sigpending(&set) < 0)
    return 0;
  for (size_t i = 0; i < DJ_ARRAY_SIZE(stop_signals); i++)
    if (sigismember(&set, stop_signals[i]) == 1)
      return 1;
  return 0;
}

/* Challenge, quote, attest. The launch's own (with_layers) is split into its steps; a
 * re-attestation adds to their times. On failure res holds nothing (what was released is wiped). */
static int attest_once(struct launch *l, struct dj_vattest_result *res, bool with_layers, dj_err *err)
{
  struct dj_vattest_args a = l->args;
  if (with_layers) {
    a.on_phase = on_phase;
    a.phase_ctx = l;
  } else {
    a.layers = NULL;
    a.n_layers = 0;
    a.image_manifest = NULL;
    a.image_manifest_len = 0;
  }
  if (dj_vclient_attest(l->vc, &l->o->node, &a, res, err) < 0) {
    dj_vattest_result_free(res); /* some layers' keys may have been decrypted before one failed */
    return -1;
  }
  if (!with_layers) {
    l->r->ms[DJ_STEP_CHALLENGE] += res->ms_challenge;
    l->r->ms[DJ_STEP_QUOTE] += res->ms_quote;
    l->r->ms[DJ_STEP_ATTEST] += res->ms_attest;
  }
  return 0;
}

/* The re-attestation of step 6: the same workload, keys asked again (nothing is unwrapped). */
static int reattest(void *ctx, bool *allowed, char **reasons, dj_err *err)
{
  struct launch *l = ctx;
  struct dj_vattest_result res = { 0 };
  int r = attest_once(l, &res, false, err);
  if (r < 0 && signal_pending(l)) /* left pending: the supervisor forwards it, then asks again */
    dj_error(err, EINTR, "re-attest: abandoned for a signal");
  if (r == 0) {
    *allowed = res.allowed;
    if (!res.allowed)
      *reasons = dj_vclient_reasons(res.answer);
  }
  dj_vattest_result_free(&res);
  return r;
}

static int read_pid(const char *path, pid_t *pid, dj_err *err)
{
  char buf[32] = "";
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : read(fd, buf, sizeof buf - 1);
  uint64_t v;
  if (n <= 0 || (buf[n] = '\0', buf[strcspn(buf, "\n")] = '\0', dj_parse_u64(buf, &v) < 0) || v == 0 || v > INT32_MAX)
    return dj_error(err, n < 0 ? errno : 0, "%s: no pid", path);
  *pid = (pid_t) v;
  return 0;
}

/* Step 5: create in our namespace, let the tmpfs go from it, start. */
static int start(struct launch *l, pid_t *init, dj_err *err)
{
  const char *pid_file = DJ_LAUNCH_MOUNTPOINT "/init.pid";
  const char *create[] = { "create", "--bundle", DJ_LAUNCH_MOUNTPOINT, "--pid-file", pid_file, l->id, NULL };
  l->created = true; /* from here `delete --force` cleans up, whatever create left (or nothing) */
  int st = dj_runtime_call(&l->rt, create, err);
  if (st != 0)
    return st < 0 ? -1 : dj_error(err, 0, "donjon create %s failed (exit status %d; its message is above)", l->id, st);
  if (read_pid(pid_file, init, err) < 0)
    return -1;
  /* From here the plaintext root lives in the container's mount namespace only. */
  dj_launch_tmpfs_release();
  l->tmpfs = false;
  const char *startv[] = { "start", l->id, NULL };
  st = dj_runtime_call(&l->rt, startv, err);
  if (st != 0)
    return st < 0 ? -1 : dj_error(err, 0, "donjon start %s failed (exit status %d)", l->id, st);
  return 0;
}

/* A signal that arrived while a step ran stops the launch before the next one. */
static int interrupted(struct launch *l, dj_err *err)
{
  struct signalfd_siginfo si;
  while (read(l->sigfd, &si, sizeof si) == (ssize_t) sizeof si)
    if (si.ssi_signo != SIGCHLD)
      return dj_error(err, EINTR, "interrupted by SIG%s", sigabbrev_np((int) si.ssi_signo));
  return 0;
}

static void launch_release(struct launch *l)
{
  if (l->created) {
    const char *del[] = { "delete", "--force", l->id, NULL };
    dj_err e = { 0 };
    dj_runtime_call(&l->rt, del, &e);
  }
  if (l->tmpfs)
    dj_launch_tmpfs_release();
  dj_vclient_close(l->vc);
  free(l->manifest_bytes);
  dj_workload_free(&l->w);
  if (l->sigfd >= 0)
    close(l->sigfd);
}

static void step(struct launch *l, enum dj_launch_step s)
{
  double t = now_ms();
  l->r->ms[l->r->failed_step] += t - l->t;
  l->t = t;
  l->r->failed_step = s;
  if (l->o->on_step != NULL)
    l->o->on_step(l->o->step_ctx, s);
}

/* Steps 1-4, shared by the launch and the orchestrator plugin: base is the orchestrator's config
 * (NULL: made from the image). The bundle is left in the private tmpfs. */
static int confidential_prepare(struct launch *l, json_t *base, dj_err *err)
{
  const struct dj_launch_opts *o = l->o;
  struct dj_launch_result *r = l->r;
  l->t = now_ms();
  r->failed_step = DJ_STEP_PREPARE;
  if (o->on_step != NULL)
    o->on_step(o->step_ctx, DJ_STEP_PREPARE);
  if (dj_launch_harden(o->allow_swap, err) < 0 ||
      dj_workload_build(o->image, o->profile, base, o->args, o->n_args, &l->w, err) < 0 || attest_args(l, err) < 0)
    return -1;
  step(l, DJ_STEP_MEASURE);
  if (interrupted(l, err) < 0 || measure(l, err) < 0)
    return -1;
  step(l, DJ_STEP_CHALLENGE);
  struct dj_vattest_result res = { 0 };
  struct dj_vclient_opts vo = o->vc;
  vo.cancel = signal_pending;
  if (interrupted(l, err) < 0 || dj_vclient_open(&vo, &l->vc, err) < 0)
    return -1;
  if (attest_once(l, &res, true, err) < 0) {
    dj_err e = { 0 };
    if (interrupted(l, &e) < 0)
      *err = e; /* a Ctrl-C abandoned the request: say so, not "interrupted" by curl */
    return -1;
  }
  if (!res.allowed) {
    r->denied = true;
    r->reasons = dj_vclient_reasons(res.answer);
    dj_vattest_result_free(&res);
    return dj_error(err, 0, "denied by the verifier: %s", r->reasons ? r->reasons : "no reason given");
  }
  step(l, DJ_STEP_UNPACK);
  int signo = 0, rc = interrupted(l, err);
  if (rc == 0)
    rc = dj_launch_private_tmpfs(err);
  if (rc == 0) {
    l->tmpfs = true;
    rc = dj_launch_bundle_make(&l->w, &res, o->n_keys > 0, o->allow_swap, l->sigfd, &signo, err);
  }
  dj_vattest_result_free(&res); /* the released keys and layer keys are wiped here */
  return rc;
}

static int run_steps(struct launch *l, dj_err *err)
{
  if (confidential_prepare(l, NULL, err) < 0)
    return -1;
  step(l, DJ_STEP_START);
  pid_t init = 0;
  if (interrupted(l, err) < 0 || start(l, &init, err) < 0)
    return -1;
  step(l, DJ_STEP_RUN);
  const struct dj_reattest ra = { .every_s = l->o->reattest_s, .attest = reattest, .ctx = l };
  int rc = dj_runtime_supervise(&l->rt, init, l->sigfd, &ra, l->r, err);
  l->r->ms[DJ_STEP_RUN] += now_ms() - l->t;
  return rc;
}

/* "WHAT: STEP: message", once: the client's messages may begin with their step already
 * ("challenge: HTTP 403 ..."). */
static void wrap_step(dj_err *err, const char *what, enum dj_launch_step s)
{
  const char *name = dj_launch_step_name(s);
  size_t n = strlen(name);
  if (strncmp(err->msg, name, n) == 0 && err->msg[n] == ':')
    dj_err_wrap(err, "%s", what);
  else
    dj_err_wrap(err, "%s: %s", what, name);
}

/* Signals are read from a signalfd, so that every step can end cleanly. */
static int signals_block(struct launch *l, dj_err *err)
{
  sigset_t set;
  sigemptyset(&set);
  for (size_t i = 0; i < DJ_ARRAY_SIZE(stop_signals); i++)
    sigaddset(&set, stop_signals[i]);
  sigaddset(&set, SIGCHLD);
  if (sigprocmask(SIG_BLOCK, &set, NULL) < 0 || (l->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
    return dj_error(err, errno, "signals");
  return 0;
}

int dj_launch(const struct dj_launch_opts *o, struct dj_launch_result *r, dj_err *err)
{
  memset(r, 0, sizeof *r);
  struct launch l = { .o = o, .r = r, .sigfd = -1 };
  if (o->id != NULL)
    snprintf(l.id, sizeof l.id, "%s", o->id);
  else {
    uint8_t rnd[8];
    if (getentropy(rnd, sizeof rnd) < 0)
      return dj_error(err, errno, "getentropy");
    snprintf(l.id, sizeof l.id, "launch-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
             rnd[5], rnd[6], rnd[7]);
  }
  l.rt = (struct dj_runtime){ .donjon = dj_runtime_binary(o->donjon), .root = o->state_root, .id = l.id };
  /* The container's init becomes our child when `donjon create` exits. */
  if (signals_block(&l, err) < 0)
    return dj_err_wrap(err, "launch");
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
    close(l.sigfd);
    return dj_error(err, errno, "launch: prctl PR_SET_CHILD_SUBREAPER");
  }
  int rc = run_steps(&l, err);
  if (rc < 0)
    wrap_step(err, "launch", r->failed_step);
  launch_release(&l);
  return rc;
}

/* ---- the orchestrator plugin ------------------------------------------------------------------ */

/* Is argv[i] the bundle option (-b DIR, -bDIR, --bundle DIR, --bundle=DIR)? *skip: how many words. */
static bool bundle_arg(char **argv, int i, int argc, int *skip)
{
  const char *a = argv[i];
  if (strcmp(a, "-b") == 0 || strcmp(a, "--bundle") == 0) {
    *skip = i + 1 < argc ? 2 : 1;
    return true;
  }
  *skip = 1;
  return strncmp(a, "--bundle=", 9) == 0 || (strncmp(a, "-b", 2) == 0 && a[2] != '\0' && a[1] != '-');
}

static int keys_from(const char *list, struct dj_launch_opts *o, char *buf, size_t size, dj_err *err)
{
  snprintf(buf, size, "%s", list ? list : "");
  char *save = NULL;
  for (char *k = strtok_r(buf, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
    while (*k == ' ')
      k++;
    if (*k == '\0')
      continue;
    if (o->n_keys == DJ_LAUNCH_MAX_KEYS)
      return dj_error(err, 0, "annotations.%s: more than %d keys", DJ_LAUNCH_KEYS_ANNOTATION, DJ_LAUNCH_MAX_KEYS);
    o->keys[o->n_keys++] = k;
  }
  return 0;
}

int dj_launch_create(struct dj_launch_create_opts *c, dj_err *err)
{
  struct dj_launch_result r = { 0 };
  struct launch l = { .o = &c->launch, .r = &r, .sigfd = -1 };
  char keybuf[4096];
  _cleanup_json_ json_t *base = NULL;
  _cleanup_free_ char *file = dj_xasprintf("%s/config.json", c->bundle);
  if (dj_json_load_file(file, 4u << 20, &base, err) < 0)
    return dj_err_wrap(err, "confidential create");
  json_t *ann = json_object_get(base, "annotations");
  const char *image = json_string_value(json_object_get(ann, DJ_LAUNCH_IMAGE_ANNOTATION));
  const char *colon = image ? strchr(image, ':') : NULL;
  if (image == NULL || colon == NULL || colon[1] != '/')
    return dj_error(err, 0, "confidential create: config.json: annotations.%s: expected oci:/ABSOLUTE/DIR[:TAG] or "
                    "oci-archive:/ABSOLUTE/FILE[:TAG], got \"%s\"", DJ_LAUNCH_IMAGE_ANNOTATION, image ? image : "");
  c->launch.image = image;
  if (keys_from(json_string_value(json_object_get(ann, DJ_LAUNCH_KEYS_ANNOTATION)), &c->launch, keybuf,
                sizeof keybuf, err) < 0 ||
      signals_block(&l, err) < 0)
    return dj_err_wrap(err, "confidential create");
  int rc = confidential_prepare(&l, base, err);
  if (rc < 0) {
    wrap_step(err, "confidential create", r.failed_step);
    launch_release(&l);
    dj_launch_result_free(&r);
    return -1;
  }
  /* The runtime's own command line, on the prepared bundle, recording the orchestrator's. */
  char **argv = dj_xcalloc((size_t) c->argc + 8, sizeof *argv);
  int n = 0;
  for (int i = 0; i <= c->cmd_index; i++)
    argv[n++] = c->argv[i];
  argv[n++] = "--confidential-bundle";
  argv[n++] = (char *) c->bundle;
  argv[n++] = "--bundle";
  argv[n++] = DJ_LAUNCH_MOUNTPOINT;
  for (int i = c->cmd_index + 1, skip; i < c->argc; i += skip)
    if (!bundle_arg(c->argv, i, c->argc, &skip))
      argv[n++] = c->argv[i];
  argv[n] = NULL;
  const char *donjon = dj_runtime_binary(c->launch.donjon);
  dj_workload_free(&l.w);
  dj_vclient_close(l.vc);
  l.vc = NULL;
  close(l.sigfd);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execv(donjon, argv);
  dj_error(err, errno, "confidential create: exec %s", donjon);
  free(argv);
  dj_launch_tmpfs_release();
  return -1;
}
