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
#include "attest/mlog.h"
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

static void launch_start_env(struct run *r, const char *const *extra, const char *env);

static void launch_start(struct run *r, const char *const *extra)
{
  launch_start_env(r, extra, NULL);
}

static void launch_start_env(struct run *r, const char *const *extra, const char *env)
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
  spawn(r, argv, env);
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

/* As launch_wait, but the launch must end within bound_s seconds (then it is killed and the test
 * fails). */
static int launch_wait_within(struct run *r, int bound_s)
{
  for (int waited_ms = 0;;) {
    struct pollfd p = { r->out, POLLIN, 0 };
    int n = poll(&p, 1, 100);
    if (n > 0) {
      if (r->len >= sizeof r->text - 1)
        break;
      ssize_t k = read(r->out, r->text + r->len, sizeof r->text - 1 - r->len);
      if (k <= 0)
        break;
      r->len += (size_t) k;
      r->text[r->len] = '\0';
    } else if ((waited_ms += 100) > bound_s * 1000) {
      kill(r->pid, SIGKILL);
      launch_wait(r);
      cr_assert_fail("the launch did not end within %d s: %s", bound_s, r->text);
    }
  }
  return launch_wait(r);
}

static int launch(struct run *r, const char *const *extra)
{
  launch_start(r, extra);
  return launch_wait(r);
}

static int donjon_cmd(char *out, size_t size, const char *cmd, const char *id);

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
  /* the secret: mode 0400, owned by the workload's user, on a read-only mount (SECURITY.md) */
  cr_assert(strstr(r.text, "secret file: 400 0 uid 0\n"), "%s", r.text);
  const char *mnt = strstr(r.text, "secret mount: ");
  cr_assert(mnt && strncmp(mnt + 14, "ro,", 3) == 0 && strstr(mnt, "nosuid") && strstr(mnt, "nodev") &&
              strstr(mnt, "noexec"), "%s", r.text);
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

Test(launch, a_killed_verifier_fails_the_challenge_step)
{
  vh_kill9(&LH.v);
  struct run r;
  const char *extra[] = { "--key", "acme-kek", LH.image, NULL };
  cr_assert_eq(launch(&r, extra), 1, "%s", r.text);
  cr_assert(strstr(r.text, "donjon: launch: challenge: POST "), "%s", r.text);
  lh_nothing_left();
}

/* A workload launched with --reattest 1 is stopped once change() makes the verifier deny, with
 * the verifier's reason. */
static void reattest_denied_after(void (*change)(void), const char *reason)
{
  struct run r;
  const char *extra[] = { "--key", "acme-kek", "--reattest", "1", LH.image, "--", "/bin/app", "sleep", NULL };
  launch_start(&r, extra);
  cr_assert(launch_until(&r, "workload: "), "%s", r.text);
  change();
  cr_assert_neq(launch_wait(&r), 0, "%s", r.text);
  cr_assert(strstr(r.text, "launch: run: re-attest: denied by the verifier"), "%s", r.text);
  cr_assert(strstr(r.text, reason), "%s", r.text);
  lh_nothing_left();
}

static void revoke_the_node(void)
{
  char path[128];
  snprintf(path, sizeof path, "/v1/nodes/%s/revoke", LH.node.id);
  json_t *body = json_pack("{s:s}", "reason", "moved-out-of-France");
  cr_assert_eq(vh_call(&LH.v, "operator", "POST", path, body, NULL), 200);
  json_decref(body);
}

Test(launch, reattestation_stops_the_workload_when_the_node_is_revoked)
{
  reattest_denied_after(revoke_the_node, "revoked");
}

/* the tenant now allows another image only */
static void allow_another_image_only(void)
{
  lh_tenant_policy("sha256:0000000000000000000000000000000000000000000000000000000000000000", NULL);
}

Test(launch, reattestation_stops_the_workload_when_the_policy_changes)
{
  reattest_denied_after(allow_another_image_only, "key acme-kek: ");
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

/* ---- the steps one by one: a process of the test stopped (SIGSTOP) holds a step back --------- */

/* Stop pid and wait until the kernel says it is stopped. */
static void stop(pid_t pid)
{
  cr_assert_eq(kill(pid, SIGSTOP), 0);
  char path[64], st[512];
  snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
  for (int i = 0; i < 1000; i++) {
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(st, 1, sizeof st - 1, f) : 0;
    if (f)
      fclose(f);
    st[n] = '\0';
    const char *p = strrchr(st, ')');
    if (p && p[1] == ' ' && p[2] == 'T')
      return;
    usleep(1000);
  }
  cr_assert_fail("%d did not stop", (int) pid);
}

/* A launch of the image whose challenge waits: the verifier is stopped until the test goes on. */
static void launch_held_at_the_challenge(struct run *r)
{
  stop(LH.v.pid);
  const char *extra[] = { "--key", "acme-kek", LH.image, NULL };
  launch_start(r, extra);
  cr_assert(launch_until(r, "donjon launch: challenge\n"), "%s", r->text);
}

/* The launch's measurement event is in the node's log, and the log replays to the TPM's PCR. */
Test(launch, the_measurement_is_logged_and_replays_to_the_workload_pcr)
{
  struct run r;
  const char *extra[] = { "--key", "acme-kek", LH.image, "--", "/bin/app", "7", NULL };
  cr_assert_eq(launch(&r, extra), 7, "%s", r.text);
  /* the workload digest the verifier checked, from its audit record */
  json_t *rec = vh_audit_record(&LH.v, vh_audit_head(&LH.v));
  const char *wd = json_string_value(json_object_get(json_object_get(rec, "body"), "workload"));
  cr_assert_not_null(wd, "%s", json_dumps(rec, 0));
  char want[80];
  snprintf(want, sizeof want, "%s%s", strncmp(wd, "sha256:", 7) ? "sha256:" : "", wd);
  char cmd[PATH_MAX * 2];
  snprintf(cmd, sizeof cmd, "cat %s/mlog-*.jsonl", LH.node.node.state_dir);
  FILE *p = popen(cmd, "r");
  static char log[1 << 20];
  size_t len = fread(log, 1, sizeof log, p);
  pclose(p);
  struct dj_mlog m;
  dj_err err = { 0 };
  cr_assert_eq(dj_mlog_parse(log, len, &m, &err), 0, "%s: %s", err.msg, log);
  bool found = false;
  for (size_t i = 0; i < m.count; i++) {
    json_t *ev = m.e[i].event ? json_loads(m.e[i].event, 0, NULL) : NULL;
    found |= m.e[i].pcr == 23 && strcmp(json_string_value(json_object_get(ev, "workload")) ?: "", want) == 0 &&
             strcmp(json_string_value(json_object_get(ev, "manifest")) ?: "", LH.manifest) == 0;
    json_decref(ev);
  }
  cr_assert(found, "no event for workload %s in the log: %s", want, log);
  uint8_t replay[64];
  size_t rlen = 0;
  cr_assert_eq(dj_mlog_replay(&m, 23, TPM2_ALG_SHA256, replay, &rlen, &err), 0, "%s", err.msg);
  dj_mlog_free(&m);
  char pcr_file[PATH_MAX + 16];
  snprintf(pcr_file, sizeof pcr_file, "%s/pcr23", LH.work);
  const char *argv[] = { "tpm2_pcrread", "sha256:23", "-o", pcr_file, NULL };
  cr_assert_eq(swtpm_run(&LH.node.sw, argv), 0);
  uint8_t pcr[64];
  FILE *f = fopen(pcr_file, "r");
  cr_assert_not_null(f);
  size_t plen = fread(pcr, 1, sizeof pcr, f);
  fclose(f);
  cr_assert_eq(plen, 32);
  cr_assert_eq(rlen, 32);
  cr_assert(memcmp(pcr, replay, 32) == 0, "PCR 23 is not the log's replay");
  json_decref(rec);
}

/* The verifier dies after the challenge, before /v1/attest: the quote is held back by the swtpm
 * stopped, so the order is certain. */
Test(launch, a_verifier_killed_between_challenge_and_attest_fails_the_attest_step)
{
  struct run r;
  launch_held_at_the_challenge(&r);
  stop(LH.node.sw.pid);
  kill(LH.v.pid, SIGCONT);
  cr_assert(launch_until(&r, "donjon launch: quote\n"), "%s", r.text);
  vh_kill9(&LH.v);
  kill(LH.node.sw.pid, SIGCONT);
  cr_assert_eq(launch_wait(&r), 1, "%s", r.text);
  cr_assert(strstr(r.text, "donjon launch: attest\n"), "%s", r.text);
  cr_assert(strstr(r.text, "donjon: launch: attest: POST "), "%s", r.text);
  cr_assert(strstr(r.text, LH.marker) == NULL, "%s", r.text);
  lh_nothing_left();
}

/* Ctrl-C while the verifier does not answer: the request is abandoned, not waited out (30 s). */
Test(launch, sigint_while_the_verifier_stalls_interrupts_the_request)
{
  struct run r;
  launch_held_at_the_challenge(&r);
  usleep(200 * 1000);
  kill(r.pid, SIGINT);
  /* well under libcurl's 30 s timeout, which ended the wait before requests could be cancelled */
  int st = launch_wait_within(&r, 20);
  kill(LH.v.pid, SIGCONT);
  cr_assert_eq(st, 1, "%s", r.text);
  cr_assert(strstr(r.text, "donjon: launch: challenge: interrupted by SIGINT"), "%s", r.text);
  lh_nothing_left();
}

/* The TPM goes away after the measurement: the quote step fails, and says so. */
Test(launch, a_tpm_gone_after_the_measurement_fails_the_quote_step)
{
  struct run r;
  launch_held_at_the_challenge(&r);
  kill(LH.node.sw.pid, SIGKILL);
  waitpid(LH.node.sw.pid, NULL, 0);
  LH.node.sw.pid = 0;
  kill(LH.v.pid, SIGCONT);
  cr_assert_eq(launch_wait(&r), 1, "%s", r.text);
  cr_assert(strstr(r.text, "donjon launch: measure\n") && strstr(r.text, "donjon launch: quote\n"), "%s", r.text);
  cr_assert(strstr(r.text, "donjon: launch: quote: "), "%s", r.text);
  cr_assert(strstr(r.text, "donjon launch: attest\n") == NULL, "%s", r.text);
  lh_nothing_left();
}

Test(launch, unencrypted_swap_is_refused_unless_allowed)
{
  char swaps[PATH_MAX + 16], env[PATH_MAX + 64];
  snprintf(swaps, sizeof swaps, "%s/swaps", LH.work);
  FILE *f = fopen(swaps, "w");
  fprintf(f, "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n%s/swapfile\tfile\t\t1048572\t\t0\t\t-2\n", LH.work);
  fclose(f);
  snprintf(env, sizeof env, "DONJON_TEST_PROC_SWAPS=%s", swaps);
  struct run r;
  const char *extra[] = { "--key", "acme-kek", LH.image, "--", "/bin/app", "7", NULL };
  launch_start_env(&r, extra, env);
  cr_assert_eq(launch_wait(&r), 1, "%s", r.text);
  cr_assert(strstr(r.text, "donjon: launch: prepare: swap is on ("), "%s", r.text);
  cr_assert(strstr(r.text, "/swapfile) and is not encrypted"), "%s", r.text);
  cr_assert(strstr(r.text, "donjon launch: challenge\n") == NULL, "the verifier was asked: %s", r.text);
  lh_nothing_left();
  const char *allow[] = { "--allow-swap", "--key", "acme-kek", LH.image, "--", "/bin/app", "7", NULL };
  launch_start_env(&r, allow, env);
  cr_assert_eq(launch_wait(&r), 7, "%s", r.text);
  cr_assert(strstr(r.text, LH.marker), "%s", r.text);
  lh_nothing_left();
}

/* The mount namespaces in which a launch's tmpfs is mounted, other than the host's. */
static size_t tmpfs_namespaces(char ns[][64], size_t max, char *who, size_t who_size)
{
  size_t used = 0;
  size_t n = 0;
  DIR *d = opendir("/proc");
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9')
      continue;
    char path[300], line[4096], link[64];
    snprintf(path, sizeof path, "/proc/%s/mountinfo", e->d_name);
    FILE *f = fopen(path, "r");
    bool has = false;
    while (f && fgets(line, sizeof line, f))
      has |= strstr(line, "donjon-launch") != NULL;
    if (f)
      fclose(f);
    snprintf(path, sizeof path, "/proc/%s/ns/mnt", e->d_name);
    ssize_t k = readlink(path, link, sizeof link - 1);
    if (!has || k <= 0)
      continue;
    link[k] = '\0';
    char comm[64] = "?";
    snprintf(path, sizeof path, "/proc/%s/comm", e->d_name);
    FILE *c = fopen(path, "r");
    if (c && fgets(comm, sizeof comm, c))
      comm[strcspn(comm, "\n")] = '\0';
    if (c)
      fclose(c);
    used += (size_t) snprintf(who + used, used < who_size ? who_size - used : 0, "%s(%s) %s; ", e->d_name, comm, link);
    if (used >= who_size)
      used = who_size - 1;
    bool seen = false;
    for (size_t i = 0; i < n; i++)
      seen |= strcmp(ns[i], link) == 0;
    if (!seen && n < max)
      snprintf(ns[n++], 64, "%s", link);
  }
  closedir(d);
  return n;
}

/* SIGKILL cannot be cleaned up after: what holds is that nothing is mounted on the host, the
 * tmpfs is in the container's mount namespace only, and the container (a child of the launch)
 * goes on until `donjon delete --force` (SECURITY.md). */
Test(launch, a_sigkilled_launch_leaves_the_tmpfs_to_the_container_only)
{
  struct run r;
  const char *extra[] = { "--id", lh_id("lh-killed"), "--key", "acme-kek", LH.image, "--", "/bin/app", "sleep", NULL };
  launch_start(&r, extra);
  cr_assert(launch_until(&r, "workload: "), "%s", r.text);
  kill(r.pid, SIGKILL);
  close(r.out); /* the workload, still running, holds the other end */
  cr_assert_eq(waitpid(r.pid, NULL, 0), r.pid);
  lh_no_host_mounts();
  char out[8192];
  cr_assert_eq(donjon_cmd(out, sizeof out, "state", "lh-killed"), 0, "%s", out);
  json_t *state = json_loads(out, 0, NULL);
  cr_assert_str_eq(json_string_value(json_object_get(state, "status")) ?: "", "running", "%s", out);
  pid_t init = (pid_t) json_integer_value(json_object_get(state, "pid"));
  json_decref(state);
  char ns[8][64], want[64], path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/mnt", (int) init);
  ssize_t k = readlink(path, want, sizeof want - 1);
  cr_assert_gt(k, 0);
  want[k] = '\0';
  char who[4096] = "";
  size_t n = tmpfs_namespaces(ns, 8, who, sizeof who);
  cr_assert_eq(n, 1, "the launch's tmpfs is in %zu mount namespaces: %s (init %d)", n, who, (int) init);
  cr_assert_str_eq(ns[0], want, "the tmpfs is not (only) in the container's mount namespace");
  cr_assert_eq(donjon_cmd(out, sizeof out, "delete --force", "lh-killed"), 0, "%s", out);
  lh_nothing_left();
}

TestSuite(launch_big, .init = NULL, .fini = lh_teardown, .timeout = 240);

/* Is pid's stack locked (VmFlags "lo" in smaps)? mlockall(MCL_CURRENT) locks every mapping; an
 * mlock of a few buffers (the layer reader's) does not lock the stack. */
static bool stack_locked(int pid)
{
  char path[64], line[512];
  snprintf(path, sizeof path, "/proc/%d/smaps", pid);
  FILE *f = fopen(path, "r");
  bool stack = false, locked = false;
  while (f && fgets(line, sizeof line, f)) {
    if (strstr(line, "[stack]"))
      stack = true;
    else if (stack && strncmp(line, "VmFlags:", 8) == 0) {
      locked = strstr(line, " lo") != NULL;
      break;
    }
  }
  if (f)
    fclose(f);
  return locked;
}

/* The unpacking child of a launch (its only child during the unpack), once it has locked its
 * memory: mlockall is not inherited, the child locks again (dj_launch_child_harden). */
static pid_t unpack_child_locked(pid_t launch)
{
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int) launch, (int) launch);
  int child = 0;
  for (int i = 0; i < 5000; i++) {
    FILE *f = fopen(path, "r");
    if (f == NULL || fscanf(f, "%d", &child) != 1)
      child = 0;
    if (f)
      fclose(f);
    if (child > 0 && stack_locked(child))
      return child;
    usleep(1000);
  }
  cr_assert_fail("no unpacking child with its memory locked (last child seen: %d)", child);
  return -1;
}

/* The world with an image of big_mb more, a stamp for the disk scan (in stamp), and a launch of
 * it in its unpack step; returns its unpacking child. */
static pid_t launch_in_the_unpack(struct run *r, size_t big_mb, char *stamp, size_t size)
{
  lh_setup(big_mb, NULL);
  snprintf(stamp, size, "%s/stamp", LH.work);
  lh_sh("touch %s", stamp);
  sleep(1); /* -cnewer compares change times */
  const char *extra[] = { "--key", "acme-kek", LH.image, NULL };
  launch_start(r, extra);
  cr_assert(launch_until(r, "donjon launch: unpack\n"), "%s", r->text);
  return unpack_child_locked(r->pid);
}

Test(launch_big, sigint_during_the_unpack_leaves_nothing)
{
  char stamp[PATH_MAX + 16];
  struct run r;
  launch_in_the_unpack(&r, 256, stamp, sizeof stamp);
  usleep(50 * 1000);
  kill(r.pid, SIGINT);
  cr_assert_eq(launch_wait(&r), 1, "%s", r.text);
  cr_assert(strstr(r.text, "launch: unpack: interrupted by signal"), "%s", r.text);
  cr_assert(strstr(r.text, LH.marker) == NULL, "%s", r.text);
  lh_nothing_left();
  lh_no_marker_on_disk(stamp);
}

/* SIGKILL during the unpack: the unpacking child dies with the launch, nothing is mounted. */
Test(launch_big, sigkill_during_the_unpack_leaves_nothing)
{
  char stamp[PATH_MAX + 16];
  struct run r;
  pid_t child = launch_in_the_unpack(&r, 128, stamp, sizeof stamp);
  kill(r.pid, SIGKILL);
  launch_wait(&r);
  bool gone = false;
  for (int i = 0; i < 1000 && !gone; i++) {
    char path[64], st[512] = "";
    snprintf(path, sizeof path, "/proc/%d/stat", (int) child);
    FILE *f = fopen(path, "r");
    if (f) {
      size_t n = fread(st, 1, sizeof st - 1, f);
      st[n] = '\0';
      fclose(f);
    }
    const char *p = strrchr(st, ')');
    gone = f == NULL || (p && p[1] == ' ' && p[2] == 'Z');
    if (!gone)
      usleep(10 * 1000);
  }
  cr_assert(gone, "the unpacking child %d outlived the launch", (int) child);
  lh_nothing_left();
  lh_no_marker_on_disk(stamp);
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
