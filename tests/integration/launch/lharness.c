/* The confidential launch tests' world: a real verifier on 127.0.0.1 (tests/integration/verifier's
 * harness), one swtpm node enrolled and approved in FR-PAR-1, a tenant "acme" whose KEK (held by
 * the verifier only) encrypts an image of busybox and /bin/app, and a secret acme-db. */
#include "lharness.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "images/b64.h"

struct lh LH;

#define DJ_SECRETS "/run/secrets/donjon"

const char *lh_donjon(void)
{
  const char *b = getenv("DONJON");
  cr_assert_not_null(b, "DONJON is not set");
  return b;
}

void lh_sh(const char *fmt, ...)
{
  char cmd[8192];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int rc = system(cmd);
  cr_assert_eq(rc, 0, "command failed (%d): %s", rc, cmd);
}

/* The tenant's LH.image: busybox, /bin/app printing the LH.marker and the secret, exiting with $1. The
 * plaintext exists only in /dev/shm while it is built, and is removed once encrypted. */
static void make_image(size_t big_mb)
{
  const char *src = getenv("DJ_SOURCE_ROOT");
  char shm[PATH_MAX + 64];
  snprintf(shm, sizeof shm, "/dev/shm/dj-launch-%d", (int) getpid());
  lh_sh("rm -rf %s && mkdir -p %s/r/bin %s/r/proc %s/r/sys %s/r/dev %s/r/tmp %s/r/run %s/r/etc && cp /bin/busybox "
      "%s/r/bin/ && for a in sh cat echo sleep ls; do ln -s busybox %s/r/bin/$a; done",
      shm, shm, shm, shm, shm, shm, shm, shm, shm, shm);
  char app[PATH_MAX + 80];
  snprintf(app, sizeof app, "%s/r/bin/app", shm);
  FILE *af = fopen(app, "w");
  cr_assert_not_null(af, "%s", app);
  /* the secret's mode, owner and mount options, as the workload sees them */
  fprintf(af, "#!/bin/sh\n"
             "echo \"workload: $(cat /marker)\"\n"
             "echo \"secret: $(cat " DJ_SECRETS "/acme-db)\"\n"
             "echo \"secret file: $(busybox stat -c '%%a %%u' " DJ_SECRETS "/acme-db) uid $(busybox id -u)\"\n"
             "echo \"secret mount: $(busybox awk '$5 == \"" DJ_SECRETS "\" { print $6 }' /proc/self/mountinfo)\"\n"
             "[ \"$1\" = sleep ] && exec sleep 300\n"
             "exit ${1:-0}\n");
  fclose(af);
  chmod(app, 0755);
  lh_sh("printf '%%s\\n' '%s' > %s/r/marker", LH.marker, shm);
  if (big_mb)
    lh_sh("head -c %zuM /dev/urandom > %s/r/big", big_mb, shm);
  /* An uncompressed layer, so that the decrypted blob itself carries the LH.marker in clear. */
  lh_sh("cd %s && TMPDIR=/dev/shm CMD='[\"/bin/app\"]' sh %s/tests/integration/images/mkimage.sh %s/r %s/plain latest none",
      shm, src, shm, shm);
  snprintf(LH.image, sizeof LH.image, "oci:%s/enc:latest", LH.work);
  /* two recipients, the tenant's own key first: the launch sends both, the verifier's KEK opens one */
  lh_sh("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 2>/dev/null | openssl pkey -pubout -out %s/own.pub.pem",
        LH.work);
  lh_sh("%s image encrypt --recipient jwe:%s/own.pub.pem --recipient jwe:%s/kek.pub.pem oci:%s/plain:latest %s >/dev/null",
        lh_donjon(), LH.work, LH.work, shm, LH.image);
  lh_sh("rm -rf %s", shm);
  lh_sh("%s image inspect --json %s | jq -r .manifest.digest > %s/manifest.txt", lh_donjon(), LH.image, LH.work);
  char path[PATH_MAX + 32];
  snprintf(path, sizeof path, "%s/manifest.txt", LH.work);
  FILE *f = fopen(path, "r");
  cr_assert_not_null(f);
  cr_assert_not_null(fgets(LH.manifest, sizeof LH.manifest, f));
  LH.manifest[strcspn(LH.manifest, "\n")] = '\0';
  fclose(f);
}

void lh_tenant_policy(const char *manifest, const char *env)
{
  json_t *args = json_pack("[[s], [s,s], [s,s]]", "/bin/app", "/bin/app", "7", "/bin/app", "sleep");
  json_t *cfg = env ? json_pack("{s:o, s:[s], s:[s]}", "args", args, "env", env, "mounts", "/*")
                    : json_pack("{s:o, s:[s,s,s], s:[s]}", "args", args, "env", "PATH=*", "TERM=*", "HOME=*", "mounts", "/*");
  json_t *rule = json_pack("{s:[s], s:[s], s:[s], s:i, s:[{s:s, s:s, s:o}]}", "jurisdictions", "FR", "sites",
                           "FR-PAR-*", "hardware_classes", "std-1", "max_evidence_age", 60, "workloads", "manifest",
                           manifest ? manifest : LH.manifest, "profile", "confidential", "config", cfg);
  json_t *doc = json_pack("{s:s, s:s, s:{s:O, s:O}}", "kind", "tenant", "tenant", "acme", "keys", "acme-db", rule,
                          "acme-kek", rule);
  json_t *resp = NULL;
  long st = vh_call(&LH.v, "acme", "PUT", "/v1/policy/tenants/acme", doc, &resp);
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
  cr_assert_eq(vh_call(&LH.v, "acme", "PUT", "/v1/keys/acme-kek", kb, NULL), 201);
  json_decref(kb);
  BIO_free(bio);
  char *b = dj_b64url_encode((const uint8_t *) "postgres master key", 19);
  json_t *sb = json_pack("{s:s, s:s}", "kind", "secret", "value", b);
  cr_assert_eq(vh_call(&LH.v, "acme", "PUT", "/v1/keys/acme-db", sb, NULL), 201);
  json_decref(sb);
  free(b);
}

void lh_setup(size_t big_mb, const char *env)
{
  snprintf(LH.work, sizeof LH.work, "/tmp/dj-launch-XXXXXX");
  cr_assert_not_null(mkdtemp(LH.work));
  chmod(LH.work, 0755);
  snprintf(LH.state_root, sizeof LH.state_root, "%s/run", LH.work);
  uint8_t rnd[16];
  RAND_bytes(rnd, sizeof rnd);
  snprintf(LH.marker, sizeof LH.marker, "DJ-PLAINTEXT-");
  for (int i = 0; i < 16; i++)
    snprintf(LH.marker + strlen(LH.marker), 3, "%02x", rnd[i]);
  vh_create(&LH.v, "\"nonce_lifetime_ms\": 20000,");
  vh_start(&LH.v);
  vnode_create(&LH.node, DJ_AK_ECC_P256);
  struct vnode *nodes[] = { &LH.node };
  vh_operator_policy(&LH.v, nodes, 1);
  cr_assert_str_eq(vnode_enroll(&LH.v, &LH.node), "pending");
  vnode_approve(&LH.v, &LH.node, "FR-PAR-1", "FR", "std-1");
  EVP_PKEY *kek = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
  char pub[PATH_MAX + 32];
  snprintf(pub, sizeof pub, "%s/kek.pub.pem", LH.work);
  FILE *f = fopen(pub, "w");
  PEM_write_PUBKEY(f, kek);
  fclose(f);
  make_image(big_mb);
  lh_tenant_policy(NULL, env);
  upload_keys(kek);
  EVP_PKEY_free(kek);
}

void lh_teardown(void)
{
  /* a test that failed halfway may have left a container running */
  for (size_t i = 0; i < LH.n_ids; i++) {
    char cmd[PATH_MAX + 256];
    snprintf(cmd, sizeof cmd, "%s --root %s delete --force %s >/dev/null 2>&1", lh_donjon(), LH.state_root, LH.ids[i]);
    if (system(cmd) != 0)
      fprintf(stderr, "teardown: delete --force %s failed\n", LH.ids[i]);
  }
  LH.n_ids = 0;
  /* a test may have stopped them (SIGSTOP): a stopped swtpm would not end on SIGTERM */
  if (LH.node.sw.pid > 0)
    kill(LH.node.sw.pid, SIGCONT);
  if (LH.v.pid > 0)
    kill(LH.v.pid, SIGCONT);
  vnode_destroy(&LH.node);
  vh_destroy(&LH.v);
  if (LH.work[0])
    lh_sh("rm -rf --one-file-system %s", LH.work);
}


/* No launch tmpfs is visible in the host's mount namespace. */
void lh_no_host_mounts(void)
{
  FILE *m = fopen("/proc/self/mountinfo", "r");
  char line[4096];
  while (fgets(line, sizeof line, m))
    cr_assert(strstr(line, "donjon-launch") == NULL, "a launch mount is visible on the host: %s", line);
  fclose(m);
}

const char *lh_id(const char *id)
{
  cr_assert_lt(LH.n_ids, sizeof LH.ids / sizeof LH.ids[0]);
  snprintf(LH.ids[LH.n_ids++], sizeof LH.ids[0], "%s", id);
  return id;
}

void lh_no_cgroup(const char *path)
{
  DIR *d = opendir("/sys/fs/cgroup");
  cr_assert_not_null(d);
  struct dirent *e;
  int roots = 0;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char p[PATH_MAX + 300];
    snprintf(p, sizeof p, "/sys/fs/cgroup/%s/cgroup.procs", e->d_name);
    if (access(p, F_OK) != 0)
      continue; /* not a hierarchy root */
    roots++;
    snprintf(p, sizeof p, "/sys/fs/cgroup/%s%s", e->d_name, path);
    cr_assert(access(p, F_OK) != 0, "a cgroup is left: %s", p);
  }
  closedir(d);
  cr_assert_gt(roots, 0, "no cgroup hierarchy found under /sys/fs/cgroup");
}

/* The cgroups of the launches (default path /donjon/ID): none named launch-* or an lh_id. */
static void no_launch_cgroups(void)
{
  DIR *d = opendir("/sys/fs/cgroup");
  struct dirent *e;
  while (d && (e = readdir(d)) != NULL) {
    char p[PATH_MAX];
    snprintf(p, sizeof p, "/sys/fs/cgroup/%s/donjon", e->d_name);
    DIR *c = e->d_name[0] == '.' ? NULL : opendir(p);
    struct dirent *g;
    while (c && (g = readdir(c)) != NULL)
      cr_assert(strncmp(g->d_name, "launch-", 7) != 0, "a launch's cgroup is left: %s/%s", p, g->d_name);
    if (c)
      closedir(c);
  }
  if (d)
    closedir(d);
  for (size_t i = 0; i < LH.n_ids; i++) {
    char p[128];
    snprintf(p, sizeof p, "/donjon/%s", LH.ids[i]);
    lh_no_cgroup(p);
  }
}

/* Nothing of a launch is left: no container state, no cgroup, an empty mount point on the host. */
void lh_nothing_left(void)
{
  no_launch_cgroups();
  DIR *d = opendir(LH.state_root);
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
      cr_assert(e->d_name[0] == '.', "state left behind: %s/%s", LH.state_root, e->d_name);
    closedir(d);
  }
  d = opendir("/run/donjon-launch");
  if (d) {
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
      cr_assert(e->d_name[0] == '.', "/run/donjon-launch is not empty on the host: %s", e->d_name);
    closedir(d);
  }
  lh_no_host_mounts();
}


/* Scan every disk-backed filesystem for files written since stamp that hold the LH.marker. */
void lh_no_marker_on_disk(const char *stamp)
{
  FILE *m = fopen("/proc/self/mounts", "r");
  char dev[512], dir[512], type[64];
  int found = 0, scanned = 0;
  while (fscanf(m, "%511s %511s %63s %*s %*d %*d", dev, dir, type) == 3) {
    if (strcmp(type, "ext4") && strcmp(type, "ext3") && strcmp(type, "xfs") && strcmp(type, "btrfs") &&
        strcmp(type, "f2fs") && strcmp(type, "vfat"))
      continue;
    scanned++;
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "find %s -xdev -type f -cnewer %s -size -2G -print0 2>/dev/null | xargs -0 -r grep -l -F -s -- '%s'", dir,
             stamp, LH.marker);
    FILE *p = popen(cmd, "r");
    char line[4096];
    while (fgets(line, sizeof line, p)) {
      fprintf(stderr, "plaintext marker found on disk: %s", line);
      found++;
    }
    pclose(p);
  }
  fclose(m);
  cr_assert_gt(scanned, 0, "no disk-backed filesystem was scanned (/proc/self/mounts lists none)");
  cr_assert_eq(found, 0, "the plaintext reached a disk");
}

