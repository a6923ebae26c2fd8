/* donjon launch end to end: a real verifier on 127.0.0.1, a real swtpm node enrolled and approved,
 * an image encrypted to the tenant's KEK (held by the verifier only), the real runtime. Each
 * denial with its reasons, a tampered image, a killed verifier (before and during the run), Ctrl-C
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "images/b64.h"
#include "vharness.h"

static struct vh v;
static struct vnode node;
static char work[PATH_MAX], image[PATH_MAX + 64], state_root[PATH_MAX + 64], marker[80];
static char manifest_digest[80];

static const char *donjon_bin(void)
{
  const char *b = getenv("DONJON");
  cr_assert_not_null(b, "DONJON is not set");
  return b;
}

static void shf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void shf(const char *fmt, ...)
{
  char cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int rc = system(cmd);
  cr_assert_eq(rc, 0, "command failed (%d): %s", rc, cmd);
}

/* The tenant's image: busybox, /bin/app printing the marker and the secret, exiting with $1. The
 * plaintext exists only in /dev/shm while it is built, and is removed once encrypted. */
static void make_image(size_t big_mb)
{
  const char *src = getenv("DJ_SOURCE_ROOT");
  char shm[PATH_MAX + 64];
  snprintf(shm, sizeof shm, "/dev/shm/dj-launch-%d", (int) getpid());
  shf("rm -rf %s && mkdir -p %s/r/bin %s/r/proc %s/r/sys %s/r/dev %s/r/tmp %s/r/run %s/r/etc && cp /bin/busybox "
      "%s/r/bin/ && for a in sh cat echo sleep ls; do ln -s busybox %s/r/bin/$a; done",
      shm, shm, shm, shm, shm, shm, shm, shm, shm, shm);
  shf("printf '#!/bin/sh\\necho \"workload: $(cat /marker)\"\\necho \"secret: $(cat %s/acme-db)\"\\n"
      "[ \"$1\" = sleep ] && exec sleep 300\\nexit ${1:-0}\\n' > %s/r/bin/app && chmod 755 %s/r/bin/app",
      "/run/secrets/donjon", shm, shm);
  shf("printf '%%s\\n' '%s' > %s/r/marker", marker, shm);
  if (big_mb)
    shf("head -c %zuM /dev/urandom > %s/r/big", big_mb, shm);
  /* An uncompressed layer, so that the decrypted blob itself carries the marker in clear. */
  shf("cd %s && TMPDIR=/dev/shm CMD='[\"/bin/app\"]' sh %s/tests/integration/images/mkimage.sh %s/r %s/plain latest none",
      shm, src, shm, shm);
  snprintf(image, sizeof image, "oci:%s/enc:latest", work);
  shf("%s image encrypt --recipient jwe:%s/kek.pub.pem oci:%s/plain:latest %s >/dev/null", donjon_bin(), work, shm,
      image);
  shf("rm -rf %s", shm);
  shf("%s image inspect --json %s | jq -r .manifest.digest > %s/manifest.txt", donjon_bin(), image, work);
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/manifest.txt", work);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f);
  cr_assert_not_null(fgets(manifest_digest, sizeof manifest_digest, f));
  manifest_digest[strcspn(manifest_digest, "\n")] = '\0';
  fclose(f);
}

static void tenant_policy(void)
{
  json_t *args = json_pack("[[s], [s,s], [s,s]]", "/bin/app", "/bin/app", "7", "/bin/app", "sleep");
  json_t *cfg = json_pack("{s:o, s:[s,s,s], s:[s]}", "args", args, "env", "PATH=*", "TERM=*", "HOME=*", "mounts", "/*");
  json_t *rule = json_pack("{s:[s], s:[s], s:[s], s:i, s:[{s:s, s:s, s:o}]}", "jurisdictions", "FR", "sites",
                           "FR-PAR-*", "hardware_classes", "std-1", "max_evidence_age", 60, "workloads", "manifest",
                           manifest_digest, "profile", "confidential", "config", cfg);
  json_t *doc = json_pack("{s:s, s:s, s:{s:O, s:O}}", "kind", "tenant", "tenant", "acme", "keys", "acme-db", rule,
                          "acme-kek", rule);
  json_t *resp = NULL;
  long st = vh_call(&v, "acme", "PUT", "/v1/policy/tenants/acme", doc, &resp);
  char *s = json_dumps(resp, 0);
  cr_assert_eq(st, 200, "tenant policy: %ld %s", st, s);
  free(s);
  json_decref(resp);
  json_decref(doc);
  json_decref(rule);
}

static void upload_keys(EVP_PKEY *kek)
{
  BIO *bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, kek, NULL, NULL, 0, NULL, NULL);
  char *pem = NULL;
  long len = BIO_get_mem_data(bio, &pem);
  json_t *kb = json_pack("{s:s, s:s%}", "kind", "kek", "private_key", pem, (size_t) len);
  cr_assert_eq(vh_call(&v, "acme", "PUT", "/v1/keys/acme-kek", kb, NULL), 201);
  json_decref(kb);
  BIO_free(bio);
  char *b = dj_b64url_encode((const uint8_t *) "postgres master key", 19);
  json_t *sb = json_pack("{s:s, s:s}", "kind", "secret", "value", b);
  cr_assert_eq(vh_call(&v, "acme", "PUT", "/v1/keys/acme-db", sb, NULL), 201);
  json_decref(sb);
  free(b);
}

static void setup_with(size_t big_mb)
{
  snprintf(work, sizeof work, "/tmp/dj-launch-XXXXXX");
  cr_assert_not_null(mkdtemp(work));
  chmod(work, 0755);
  snprintf(state_root, sizeof state_root, "%s/run", work);
  uint8_t rnd[16];
  RAND_bytes(rnd, sizeof rnd);
  snprintf(marker, sizeof marker, "DJ-PLAINTEXT-");
  for (int i = 0; i < 16; i++)
    snprintf(marker + strlen(marker), 3, "%02x", rnd[i]);
  vh_create(&v, "\"nonce_lifetime_ms\": 20000,");
  vh_start(&v);
  vnode_create(&node, DJ_AK_ECC_P256);
  struct vnode *nodes[] = { &node };
  vh_operator_policy(&v, nodes, 1);
  cr_assert_str_eq(vnode_enroll(&v, &node), "pending");
  vnode_approve(&v, &node, "FR-PAR-1", "FR", "std-1");
  EVP_PKEY *kek = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  char pub[PATH_MAX + 32];
  snprintf(pub, sizeof pub, "%s/kek.pub.pem", work);
  FILE *f = fopen(pub, "w");
  PEM_write_PUBKEY(f, kek);
  fclose(f);
  make_image(big_mb);
  tenant_policy();
  upload_keys(kek);
  EVP_PKEY_free(kek);
}

static void setup(void)
{
  setup_with(0);
}

static void teardown(void)
{
  vnode_destroy(&node);
  vh_destroy(&v);
  if (work[0])
    shf("rm -rf --one-file-system %s", work);
}

TestSuite(launch, .init = setup, .fini = teardown, .timeout = 240);

/* ---- running donjon launch ------------------------------------------------------------------ */

struct run {
  pid_t pid;
  int out;      /* its stdout+stderr */
  char text[16384];
  size_t len;
  int status;
};

static void launch_start(struct run *r, const char *const *extra)
{
  const char *argv[48];
  size_t n = 0;
  char ak[16];
  snprintf(ak, sizeof ak, "ecc-p256");
  const char *base[] = { donjon_bin(), "--root", state_root, "launch", "--verbose", "--verifier", v.url, "--ca",
                         v.ca, "--tpm", node.sw.tcti, "--state-dir", node.node.state_dir, "--ak", ak, NULL };
  for (size_t i = 0; base[i]; i++)
    argv[n++] = base[i];
  for (size_t i = 0; extra && extra[i]; i++)
    argv[n++] = extra[i];
  argv[n] = NULL;
  int p[2];
  cr_assert_eq(pipe(p), 0);
  r->len = 0;
  r->pid = fork();
  cr_assert_geq(r->pid, 0);
  if (r->pid == 0) {
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

/* Nothing of a launch is left: no container state, no cgroup, an empty mount point on the host. */
static void nothing_left(void)
{
  DIR *d = opendir(state_root);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
      cr_assert(e->d_name[0] == '.', "state left behind: %s/%s", state_root, e->d_name);
    closedir(d);
  }
  d = opendir("/run/donjon-launch");
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
      cr_assert(e->d_name[0] == '.', "/run/donjon-launch is not empty on the host: %s", e->d_name);
    closedir(d);
  }
  FILE *m = fopen("/proc/self/mountinfo", "r");
  char line[4096];
  while (fgets(line, sizeof line, m))
    cr_assert(strstr(line, "donjon-launch") == NULL, "a launch mount is visible on the host: %s", line);
  fclose(m);
}

/* ---- the tests -------------------------------------------------------------------------------- */

Test(launch, runs_the_workload_with_its_secret_and_status)
{
  struct run r;
  const char *extra[] = { "--key", "acme-kek", "--key", "acme-db", image, "--", "/bin/app", "7", NULL };
  int st = launch(&r, extra);
  cr_assert_eq(st, 7, "status %d: %s", st, r.text);
  char want[128];
  snprintf(want, sizeof want, "workload: %s", marker);
  cr_assert(strstr(r.text, want), "%s", r.text);
  cr_assert(strstr(r.text, "secret: postgres master key"), "%s", r.text);
  cr_assert(strstr(r.text, "donjon launch: times (ms):"), "%s", r.text);
  nothing_left();
  /* the verifier's audit log has the allow */
  json_t *resp = NULL;
  cr_assert_eq(vh_call(&v, "auditor", "GET", "/v1/audit?limit=1000", NULL, &resp), 200);
  char *s = json_dumps(resp, 0);
  cr_assert(strstr(s, "allow"), "%s", s);
  free(s);
  json_decref(resp);
}

Test(launch, the_image_default_command_runs)
{
  struct run r;
  const char *extra[] = { "--key", "acme-kek", "--key", "acme-db", image, NULL };
  cr_assert_eq(launch(&r, extra), 0, "%s", r.text);
  cr_assert(strstr(r.text, "secret: postgres master key"), "%s", r.text);
}

Test(launch, other_arguments_are_another_workload_and_denied)
{
  struct run r;
  const char *extra[] = { "--key", "acme-kek", "--key", "acme-db", image, "--", "/bin/app", "8", NULL };
  cr_assert_eq(launch(&r, extra), 1, "%s", r.text);
  cr_assert(strstr(r.text, "launch: attest: denied by the verifier"), "%s", r.text);
  cr_assert(strstr(r.text, "arguments not allowed"), "%s", r.text);
  cr_assert(strstr(r.text, marker) == NULL, "the workload ran: %s", r.text);
  nothing_left();
}

Test(launch, a_revoked_node_is_denied)
{
  char path[128];
  snprintf(path, sizeof path, "/v1/nodes/%s/revoke", node.id);
  json_t *body = json_pack("{s:s}", "reason", "decommissioned");
  cr_assert_eq(vh_call(&v, "operator", "POST", path, body, NULL), 200);
  json_decref(body);
  struct run r;
  const char *extra[] = { "--key", "acme-kek", image, NULL };
  cr_assert_eq(launch(&r, extra), 1, "%s", r.text);
  cr_assert(strstr(r.text, "launch: attest: denied by the verifier"), "%s", r.text);
  cr_assert(strstr(r.text, "revoked"), "%s", r.text);
  nothing_left();
}

Test(launch, a_tampered_layer_is_refused_before_the_workload)
{
  /* flip one byte in the middle of the encrypted layer blob */
  shf("cd %s/enc/blobs/sha256 && f=$(ls -S | head -1) && size=$(stat -c %%s $f) && "
      "printf 'X' | dd of=$f bs=1 seek=$((size / 2)) conv=notrunc status=none",
      work);
  struct run r;
  const char *extra[] = { "--key", "acme-kek", "--key", "acme-db", image, NULL };
  cr_assert_eq(launch(&r, extra), 1, "%s", r.text);
  cr_assert(strstr(r.text, "launch: unpack:"), "%s", r.text);
  cr_assert(strstr(r.text, "digest"), "%s", r.text);
  cr_assert(strstr(r.text, marker) == NULL, "%s", r.text);
  nothing_left();
}

Test(launch, a_killed_verifier_fails_the_attest_step)
{
  vh_kill9(&v);
  struct run r;
  const char *extra[] = { "--key", "acme-kek", image, NULL };
  cr_assert_eq(launch(&r, extra), 1, "%s", r.text);
  cr_assert(strstr(r.text, "launch: attest:"), "%s", r.text);
  nothing_left();
}

Test(launch, reattestation_stops_the_workload_when_the_node_is_revoked)
{
  struct run r;
  const char *extra[] = { "--key", "acme-kek", "--reattest", "1", image, "--", "/bin/app", "sleep", NULL };
  launch_start(&r, extra);
  cr_assert(launch_until(&r, "workload: "), "%s", r.text);
  char path[128];
  snprintf(path, sizeof path, "/v1/nodes/%s/revoke", node.id);
  json_t *body = json_pack("{s:s}", "reason", "moved-out-of-France");
  cr_assert_eq(vh_call(&v, "operator", "POST", path, body, NULL), 200);
  json_decref(body);
  cr_assert_neq(launch_wait(&r), 0, "%s", r.text);
  cr_assert(strstr(r.text, "launch: run: re-attest: denied by the verifier"), "%s", r.text);
  cr_assert(strstr(r.text, "revoked"), "%s", r.text);
  nothing_left();
}

Test(launch, reattestation_stops_the_workload_when_the_verifier_dies)
{
  struct run r;
  const char *extra[] = { "--key", "acme-kek", "--reattest", "1", image, "--", "/bin/app", "sleep", NULL };
  launch_start(&r, extra);
  cr_assert(launch_until(&r, "workload: "), "%s", r.text);
  vh_kill9(&v);
  cr_assert_neq(launch_wait(&r), 0, "%s", r.text);
  cr_assert(strstr(r.text, "launch: run: re-attest"), "%s", r.text);
  cr_assert(strstr(r.text, "no answer from the verifier"), "%s", r.text);
  nothing_left();
}

Test(launch, sigint_stops_a_running_workload_and_cleans_up)
{
  struct run r;
  const char *extra[] = { "--key", "acme-kek", image, "--", "/bin/app", "sleep", NULL };
  launch_start(&r, extra);
  cr_assert(launch_until(&r, "workload: "), "%s", r.text);
  kill(r.pid, SIGINT);
  /* PID 1 of a pid namespace ignores a signal it has no handler for: a second one kills it */
  usleep(100 * 1000);
  kill(r.pid, SIGINT);
  int st = launch_wait(&r);
  cr_assert(st == 128 + SIGINT || st == 128 + SIGKILL, "%d: %s", st, r.text);
  nothing_left();
}

/* Scan every disk-backed filesystem for files written since stamp that hold the marker. */
static void no_marker_on_disk(const char *stamp)
{
  FILE *m = fopen("/proc/self/mounts", "r");
  char dev[512], dir[512], type[64];
  int found = 0;
  while (fscanf(m, "%511s %511s %63s %*s %*d %*d", dev, dir, type) == 3) {
    if (strcmp(type, "ext4") && strcmp(type, "ext3") && strcmp(type, "xfs") && strcmp(type, "btrfs") &&
        strcmp(type, "f2fs") && strcmp(type, "vfat"))
      continue;
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "find %s -xdev -type f -cnewer %s -size -2G -print0 2>/dev/null | xargs -0 -r grep -l -F -s -- '%s'", dir,
             stamp, marker);
    FILE *p = popen(cmd, "r");
    char line[4096];
    while (fgets(line, sizeof line, p)) {
      fprintf(stderr, "plaintext marker found on disk: %s", line);
      found++;
    }
    pclose(p);
  }
  fclose(m);
  cr_assert_eq(found, 0, "the plaintext reached a disk");
}

Test(launch, no_plaintext_byte_reaches_a_disk)
{
  char stamp[PATH_MAX + 16];
  snprintf(stamp, sizeof stamp, "%s/stamp", work);
  shf("touch %s", stamp);
  sleep(1); /* -cnewer compares change times, which an unpack cannot set back */
  struct run r;
  const char *extra[] = { "--key", "acme-kek", "--key", "acme-db", image, "--", "/bin/app", "sleep", NULL };
  launch_start(&r, extra);
  cr_assert(launch_until(&r, "workload: "), "%s", r.text);
  cr_assert(launch_until(&r, marker), "%s", r.text);
  no_marker_on_disk(stamp); /* while it runs */
  kill(r.pid, SIGTERM);
  usleep(100 * 1000);
  kill(r.pid, SIGTERM);
  launch_wait(&r);
  no_marker_on_disk(stamp); /* and after */
  nothing_left();
}

TestSuite(launch_big, .init = NULL, .fini = teardown, .timeout = 240);

Test(launch_big, sigint_during_the_unpack_leaves_nothing)
{
  setup_with(256);
  struct run r;
  const char *extra[] = { "--key", "acme-kek", image, NULL };
  launch_start(&r, extra);
  cr_assert(launch_until(&r, "donjon launch: unpack\n"), "%s", r.text);
  usleep(50 * 1000);
  kill(r.pid, SIGINT);
  cr_assert_eq(launch_wait(&r), 1, "%s", r.text);
  cr_assert(strstr(r.text, "launch: unpack: interrupted by signal"), "%s", r.text);
  cr_assert(strstr(r.text, marker) == NULL, "%s", r.text);
  nothing_left();
}
