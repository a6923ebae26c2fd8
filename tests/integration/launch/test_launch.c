/* donjon launch end to end: a real verifier on 127.0.0.1, a real swtpm node enrolled and approved,
 * an LH.image encrypted to the tenant's KEK (held by the verifier only), the real runtime. Each
 * denial with its reasons, a tampered LH.image, a killed verifier (before and during the run), Ctrl-C
 * during the unpack, and no plaintext byte on any disk. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "images/b64.h"
#include "lharness.h"

static void setup(void)
{
  lh_setup(0, NULL);
}

TestSuite(launch, .init = setup, .fini = lh_teardown, .timeout = 240);

/* ---- running donjon launch ------------------------------------------------------------------ */

struct run {
  pid_t pid;
  int out;      /* its stdout+stderr */
  char text[16384];
  size_t len;
  int status;
};

/* Start argv with its stdout+stderr on a pipe (r->out); env: NAME=VALUE to add, or NULL. */
static void spawn(struct run *r, const char *const *argv, const char *env)
{
  int p[2];
  cr_assert_eq(pipe(p), 0);
  r->len = 0;
  r->pid = fork();
  cr_assert_geq(r->pid, 0);
  if (r->pid == 0) {
    if (env != NULL)
      putenv((char *) env);
    dup2(p[1], 1);
    dup2(p[1], 2);
    close(p[0]);
    close(p[1]);
    execv(argv[0], (char *const *) argv);
    _exit(127);
  }
  close(p[1]);
  r->out = p[0];
}

static void launch_start(struct run *r, const char *const *extra)
{
  const char *argv[48];
  size_t n = 0;
  char ak[16];
  snprintf(ak, sizeof ak, "ecc-p256");
  const char *base[] = { lh_donjon(), "--root", LH.state_root, "launch", "--verbose", "--verifier", LH.v.url, "--ca",
                         LH.v.ca, "--tpm", LH.node.sw.tcti, "--state-dir", LH.node.node.state_dir, "--ak", ak, NULL };
  for (size_t i = 0; base[i]; i++)
    argv[n++] = base[i];
  for (size_t i = 0; extra && extra[i]; i++)
    argv[n++] = extra[i];
  argv[n] = NULL;
  spawn(r, argv, NULL);
}

/* Read its output until needle appears (or it ends); true when it appeared. */
static bool launch_until(struct run *r, const char *needle)
{
  for (;;) {
    r->text[r->len] = '\0';
    if (needle && strstr(r->text, needle))
      return true;
    if (r->len >= sizeof r->text - 1)
      return false;
    ssize_t n = read(r->out, r->text + r->len, sizeof r->text - 1 - r->len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return false;
    r->len += (size_t) n;
  }
}

static int launch_wait(struct run *r)
{
  launch_until(r, NULL);
  close(r->out);
  int st;
  cr_assert_eq(waitpid(r->pid, &st, 0), r->pid);
  r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  return r->status;
}

static int launch(struct run *r, const char *const *extra)
{
  launch_start(r, extra);
  return launch_wait(r);
}

/* ---- the tests -------------------------------------------------------------------------------- */

Test(launch, runs_the_workload_with_its_secret_and_status)
{
  struct run r;
  const char *extra[] = { "--key", "acme-kek", "--key", "acme-db", LH.image, "--", "/bin/app", "7", NULL };
  int st = launch(&r, extra);
  cr_assert_eq(st, 7, "status %d: %s", st, r.text);
  char want[128];
  snprintf(want, sizeof want, "workload: %s", LH.marker);
  cr_assert(strstr(r.text, want), "%s", r.text);
  cr_assert(strstr(r.text, "secret: postgres master key"), "%s", r.text);
  cr_assert(strstr(r.text, "donjon launch: times (ms):"), "%s", r.text);
  lh_nothing_left();
  /* the verifier's audit log has the allow */
  json_t *resp = NULL;
  cr_assert_eq(vh_call(&LH.v, "auditor", "GET", "/v1/audit?limit=1000", NULL, &resp), 200);
  char *s = json_dumps(resp, 0);
  cr_assert(strstr(s, "allow"), "%s", s);
  free(s);
  json_decref(resp);
}

Test(launch, the_image_default_command_runs)
{
  struct run r;
  const char *extra[] = { "--key", "acme-kek", "--key", "acme-db", LH.image, NULL };
  cr_assert_eq(launch(&r, extra), 0, "%s", r.text);
  cr_assert(strstr(r.text, "secret: postgres master key"), "%s", r.text);
}

Test(launch, other_arguments_are_another_workload_and_denied)
{
  struct run r;
  const char *extra[] = { "--key", "acme-kek", "--key", "acme-db", LH.image, "--", "/bin/app", "8", NULL };
  cr_assert_eq(launch(&r, extra), 1, "%s", r.text);
  cr_assert(strstr(r.text, "launch: attest: denied by the verifier"), "%s", r.text);
  cr_assert(strstr(r.text, "arguments not allowed"), "%s", r.text);
  cr_assert(strstr(r.text, LH.marker) == NULL, "the workload ran: %s", r.text);
  lh_nothing_left();
}

Test(launch, a_revoked_node_is_denied)
{
  char path[128];
  snprintf(path, sizeof path, "/v1/nodes/%s/revoke", LH.node.id);
  json_t *body = json_pack("{s:s}", "reason", "decommissioned");
  cr_assert_eq(vh_call(&LH.v, "operator", "POST", path, body, NULL), 200);
  json_decref(body);
  struct run r;
  const char *extra[] = { "--key", "acme-kek", LH.image, NULL };
  cr_assert_eq(launch(&r, extra), 1, "%s", r.text);
  cr_assert(strstr(r.text, "launch: attest: denied by the verifier"), "%s", r.text);
  cr_assert(strstr(r.text, "revoked"), "%s", r.text);
  lh_nothing_left();
}

Test(launch, a_tampered_layer_is_refused_before_the_workload)
{
  /* flip one byte in the middle of the encrypted layer blob */
  lh_sh("cd %s/enc/blobs/sha256 && f=$(ls -S | head -1) && size=$(stat -c %%s $f) && "
      "printf 'X' | dd of=$f bs=1 seek=$((size / 2)) conv=notrunc status=none",
      LH.work);
  struct run r;
  const char *extra[] = { "--key", "acme-kek", "--key", "acme-db", LH.image, NULL };
  cr_assert_eq(launch(&r, extra), 1, "%s", r.text);
  cr_assert(strstr(r.text, "launch: unpack:"), "%s", r.text);
  cr_assert(strstr(r.text, "digest"), "%s", r.text);
  cr_assert(strstr(r.text, LH.marker) == NULL, "%s", r.text);
  lh_nothing_left();
}

Test(launch, a_killed_verifier_fails_the_attest_step)
{
  vh_kill9(&LH.v);
  struct run r;
  const char *extra[] = { "--key", "acme-kek", LH.image, NULL };
  cr_assert_eq(launch(&r, extra), 1, "%s", r.text);
  cr_assert(strstr(r.text, "launch: attest:"), "%s", r.text);
  lh_nothing_left();
}

Test(launch, reattestation_stops_the_workload_when_the_node_is_revoked)
{
  struct run r;
  const char *extra[] = { "--key", "acme-kek", "--reattest", "1", LH.image, "--", "/bin/app", "sleep", NULL };
  launch_start(&r, extra);
  cr_assert(launch_until(&r, "workload: "), "%s", r.text);
  char path[128];
  snprintf(path, sizeof path, "/v1/nodes/%s/revoke", LH.node.id);
  json_t *body = json_pack("{s:s}", "reason", "moved-out-of-France");
  cr_assert_eq(vh_call(&LH.v, "operator", "POST", path, body, NULL), 200);
  json_decref(body);
  cr_assert_neq(launch_wait(&r), 0, "%s", r.text);
  cr_assert(strstr(r.text, "launch: run: re-attest: denied by the verifier"), "%s", r.text);
  cr_assert(strstr(r.text, "revoked"), "%s", r.text);
  lh_nothing_left();
}

Test(launch, reattestation_stops_the_workload_when_the_verifier_dies)
{
  struct run r;
  const char *extra[] = { "--key", "acme-kek", "--reattest", "1", LH.image, "--", "/bin/app", "sleep", NULL };
  launch_start(&r, extra);
  cr_assert(launch_until(&r, "workload: "), "%s", r.text);
  vh_kill9(&LH.v);
  cr_assert_neq(launch_wait(&r), 0, "%s", r.text);
  cr_assert(strstr(r.text, "launch: run: re-attest"), "%s", r.text);
  cr_assert(strstr(r.text, "no answer from the verifier"), "%s", r.text);
  lh_nothing_left();
}

Test(launch, sigint_stops_a_running_workload_and_cleans_up)
{
  struct run r;
  const char *extra[] = { "--key", "acme-kek", LH.image, "--", "/bin/app", "sleep", NULL };
  launch_start(&r, extra);
  cr_assert(launch_until(&r, "workload: "), "%s", r.text);
  kill(r.pid, SIGINT);
  /* PID 1 of a pid namespace ignores a signal it has no handler for: a second one kills it */
  usleep(100 * 1000);
  kill(r.pid, SIGINT);
  int st = launch_wait(&r);
  cr_assert(st == 128 + SIGINT || st == 128 + SIGKILL, "%d: %s", st, r.text);
  lh_nothing_left();
}

Test(launch, no_plaintext_byte_reaches_a_disk)
{
  char stamp[PATH_MAX + 16];
  snprintf(stamp, sizeof stamp, "%s/stamp", LH.work);
  lh_sh("touch %s", stamp);
  sleep(1); /* -cnewer compares change times, which an unpack cannot set back */
  struct run r;
  const char *extra[] = { "--key", "acme-kek", "--key", "acme-db", LH.image, "--", "/bin/app", "sleep", NULL };
  launch_start(&r, extra);
  cr_assert(launch_until(&r, "workload: "), "%s", r.text);
  cr_assert(launch_until(&r, LH.marker), "%s", r.text);
  lh_no_marker_on_disk(stamp); /* while it runs */
  kill(r.pid, SIGTERM);
  usleep(100 * 1000);
  kill(r.pid, SIGTERM);
  launch_wait(&r);
  lh_no_marker_on_disk(stamp); /* and after */
  lh_nothing_left();
}

TestSuite(launch_big, .init = NULL, .fini = lh_teardown, .timeout = 240);

Test(launch_big, sigint_during_the_unpack_leaves_nothing)
{
  lh_setup(256, NULL);
  struct run r;
  const char *extra[] = { "--key", "acme-kek", LH.image, NULL };
  launch_start(&r, extra);
  cr_assert(launch_until(&r, "donjon launch: unpack\n"), "%s", r.text);
  usleep(50 * 1000);
  kill(r.pid, SIGINT);
  cr_assert_eq(launch_wait(&r), 1, "%s", r.text);
  cr_assert(strstr(r.text, "launch: unpack: interrupted by signal"), "%s", r.text);
  cr_assert(strstr(r.text, LH.marker) == NULL, "%s", r.text);
  lh_nothing_left();
}

/* ---- the orchestrator plugin: donjon create of an annotated bundle, as a shim calls it --------- */

static char pod[PATH_MAX + 32], nodeconf[PATH_MAX + 32];

/* An orchestrator's bundle: `donjon spec`'s config with an empty rootfs, the process given, and the
 * annotations that make it a confidential pod. */
static void pod_bundle(const char *args_json, const char *keys)
{
  snprintf(pod, sizeof pod, "%s/pod", LH.work);
  snprintf(nodeconf, sizeof nodeconf, "%s/node.json", LH.work);
  lh_sh("rm -rf %s && mkdir -p %s/rootfs && %s spec --bundle %s", pod, pod, lh_donjon(), pod);
  lh_sh("cd %s && jq --argjson a '%s' --arg img '%s' --arg keys '%s' '.process.args = $a | .process.terminal = false "
      "| .annotations = {\"org.donjon.image\": $img, \"org.donjon.attest.keys\": $keys}' config.json > c && mv c "
      "config.json",
      pod, args_json, LH.image, keys);
  FILE *f = fopen(nodeconf, "w");
  fprintf(f, "{\"verifier\": \"%s\", \"ca\": \"%s\", \"tpm\": \"%s\", \"state_dir\": \"%s\", \"ak\": \"ecc-p256\"}\n",
          LH.v.url, LH.v.ca, LH.node.sw.tcti, LH.node.node.state_dir);
  fclose(f);
}

/* Run `donjon create` as an orchestrator's shim does: stdio a pipe, the node's settings in a file. */
static int pod_create(struct run *r, const char *id)
{
  const char *argv[] = { lh_donjon(), "--root", LH.state_root, "create", "--bundle", pod, id, NULL };
  char env[PATH_MAX + 64];
  snprintf(env, sizeof env, "DONJON_NODE_CONFIG=%s", nodeconf);
  spawn(r, argv, env);
  int st;
  cr_assert_eq(waitpid(r->pid, &st, 0), r->pid);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int donjon_cmd(char *out, size_t size, const char *cmd, const char *id)
{
  char line[8192];
  snprintf(line, sizeof line, "%s --root %s %s %s 2>&1", lh_donjon(), LH.state_root, cmd, id);
  FILE *p = popen(line, "r");
  size_t n = fread(out, 1, size - 1, p);
  out[n] = '\0';
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

Test(launch, plugin_create_runs_the_encrypted_image_in_place_of_the_orchestrators_rootfs)
{
  cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0); /* as a shim: the init becomes ours */
  pod_bundle("[\"/bin/app\", \"7\"]", "acme-kek,acme-db");
  /* the tenant allows this pod's config (the orchestrator's, with the confidential profile on top) */
  struct run r;
  int st = pod_create(&r, "pod1");
  char out[16384];
  if (st != 0) {
    launch_until(&r, NULL);
    cr_assert_fail("create: %d: %s", st, r.text);
  }
  cr_assert_eq(donjon_cmd(out, sizeof out, "state", "pod1"), 0, "%s", out);
  json_t *state = json_loads(out, 0, NULL);
  cr_assert_not_null(state, "%s", out);
  cr_assert_str_eq(json_string_value(json_object_get(state, "status")), "created");
  cr_assert_str_eq(json_string_value(json_object_get(state, "bundle")), pod, "the orchestrator's bundle is the container's");
  cr_assert_str_eq(json_string_value(json_object_get(json_object_get(state, "annotations"), "org.donjon.profile")),
                   "confidential");
  pid_t init = (pid_t) json_integer_value(json_object_get(state, "pid"));
  json_decref(state);
  lh_no_host_mounts();
  cr_assert_eq(donjon_cmd(out, sizeof out, "start", "pod1"), 0, "%s", out);
  int ws;
  cr_assert_eq(waitpid(init, &ws, 0), init);
  cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 7, "status %x", ws);
  launch_until(&r, NULL);
  close(r.out);
  char want[128];
  snprintf(want, sizeof want, "workload: %s", LH.marker);
  cr_assert(strstr(r.text, want), "%s", r.text);
  cr_assert(strstr(r.text, "secret: postgres master key"), "%s", r.text);
  cr_assert_eq(donjon_cmd(out, sizeof out, "delete", "pod1"), 0, "%s", out);
  lh_nothing_left();
}

Test(launch, plugin_create_denied_fails_with_the_verifiers_reasons)
{
  pod_bundle("[\"/bin/app\", \"9\"]", "acme-kek");
  struct run r;
  int st = pod_create(&r, "pod2");
  launch_until(&r, NULL);
  close(r.out);
  cr_assert_eq(st, 1, "%d: %s", st, r.text);
  cr_assert(strstr(r.text, "create pod2: confidential create: attest: denied by the verifier"), "%s", r.text);
  cr_assert(strstr(r.text, "arguments not allowed"), "%s", r.text);
  lh_nothing_left();
}

Test(launch, plugin_refuses_a_relative_image_reference)
{
  pod_bundle("[\"/bin/app\"]", "acme-kek");
  lh_sh("cd %s && jq '.annotations[\"org.donjon.image\"] = \"oci:enc:latest\"' config.json > c && mv c config.json", pod);
  struct run r;
  int st = pod_create(&r, "pod3");
  launch_until(&r, NULL);
  close(r.out);
  cr_assert_eq(st, 1, "%d: %s", st, r.text);
  cr_assert(strstr(r.text, "annotations.org.donjon.image: expected oci:/ABSOLUTE"), "%s", r.text);
  lh_nothing_left();
}

/* containerd gives a pod's annotations to its sandbox (pause) container too: that one is not the
 * encrypted image (the verifier is never asked: here there is none to ask). */
Test(launch, plugin_leaves_the_pods_sandbox_container_alone)
{
  pod_bundle("[\"/pause\"]", "acme-kek");
  lh_sh("cd %s && jq '.annotations[\"io.kubernetes.cri.container-type\"] = \"sandbox\"' config.json > c && "
        "mv c config.json && printf '{\"verifier\": \"https://127.0.0.1:1\"}' > %s",
        pod, nodeconf);
  struct run r;
  int st = pod_create(&r, "pod4");
  if (st != 0)
    launch_until(&r, NULL); /* the init of a created container holds the pipe: read only a failure */
  close(r.out);
  cr_assert_eq(st, 0, "%d: %s", st, r.text);
  char out[4096];
  cr_assert_eq(donjon_cmd(out, sizeof out, "state", "pod4"), 0, "%s", out);
  cr_assert(strstr(out, "\"created\""), "%s", out);
  cr_assert_eq(donjon_cmd(out, sizeof out, "delete --force", "pod4"), 0, "%s", out);
  lh_nothing_left();
}

Test(launch, an_image_the_tenant_never_allowed_is_denied)
{
  /* the same program in another image, encrypted to the same KEK: another manifest */
  lh_sh("d=/dev/shm/dj-other-%d && rm -rf $d && mkdir -p $d/r/bin && cp /bin/busybox $d/r/bin/ && ln -s busybox $d/r/bin/sh "
        "&& printf '#!/bin/sh\\necho other\\n' > $d/r/bin/app && chmod 755 $d/r/bin/app && "
        "TMPDIR=/dev/shm CMD='[\"/bin/app\"]' sh %s/tests/integration/images/mkimage.sh $d/r $d/plain latest && "
        "%s image encrypt --recipient jwe:%s/kek.pub.pem oci:$d/plain:latest oci:%s/other:latest >/dev/null && rm -rf $d",
        (int) getpid(), getenv("DJ_SOURCE_ROOT"), lh_donjon(), LH.work, LH.work);
  char other[PATH_MAX + 32];
  snprintf(other, sizeof other, "oci:%s/other:latest", LH.work);
  struct run r;
  const char *extra[] = { "--key", "acme-kek", "--key", "acme-db", other, NULL };
  cr_assert_eq(launch(&r, extra), 1, "%s", r.text);
  cr_assert(strstr(r.text, "launch: attest: denied by the verifier"), "%s", r.text);
  cr_assert(strstr(r.text, "other image manifest"), "%s", r.text);
  cr_assert(strstr(r.text, "\nother\n") == NULL, "the image ran: %s", r.text);
  lh_nothing_left();
}
