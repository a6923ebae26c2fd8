/* Confidential pods through real orchestrators: podman 4.3 (with conmon) and containerd 1.6 (with
 * ctr and its runc v2 shim) run donjon as their runtime, on an empty rootfs of their own, with the
 * annotations org.donjon.image (the encrypted image) and org.donjon.attest.keys. The runtime
 * attests, decrypts into its private tmpfs and runs the image: neither orchestrator ever holds a
 * decrypted byte (no file on any disk holds the plaintext's marker afterwards). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lharness.h"

static char T[PATH_MAX + 32], stamp[PATH_MAX + 32], nodeconf[PATH_MAX + 32];
static char annotations[2 * PATH_MAX], podman_annotations[2 * PATH_MAX];
static char out[65536];

static void setup(void)
{
  /* orchestrators add their own environment (HOSTNAME, container=podman...): the tenant allows any */
  lh_setup(0, "*");
  snprintf(T, sizeof T, "%s/orch", LH.work);
  snprintf(stamp, sizeof stamp, "%s/stamp", LH.work);
  snprintf(nodeconf, sizeof nodeconf, "%s/node.json", LH.work);
  lh_sh("mkdir -p %s/empty && touch %s", T, stamp);
  FILE *f = fopen(nodeconf, "w");
  fprintf(f, "{\"verifier\": \"%s\", \"ca\": \"%s\", \"tpm\": \"%s\", \"state_dir\": \"%s\", \"ak\": \"ecc-p256\"}\n",
          LH.v.url, LH.v.ca, LH.node.sw.tcti, LH.node.node.state_dir);
  fclose(f);
  snprintf(annotations, sizeof annotations,
           "--annotation org.donjon.image=%s --annotation org.donjon.attest.keys=acme-kek,acme-db", LH.image);
  /* podman splits --annotation values at commas unless quoted the CSV way (docs/orchestrators.md) */
  snprintf(podman_annotations, sizeof podman_annotations,
           "--annotation org.donjon.image=%s --annotation '\"org.donjon.attest.keys=acme-kek,acme-db\"'", LH.image);
  /* conmon starts the runtime with the environment containers.conf gives it, not podman's own */
  char conf[PATH_MAX + 64];
  snprintf(conf, sizeof conf, "%s/containers.conf", T);
  f = fopen(conf, "w");
  fprintf(f, "[engine]\nconmon_env_vars = [\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\", "
             "\"DONJON_NODE_CONFIG=%s\"]\n", nodeconf);
  fclose(f);
  sleep(1); /* ctime granularity: what the pods write is newer than the stamp */
}

TestSuite(orchestrators, .init = setup, .fini = lh_teardown, .timeout = 300);

/* A shell command with the node's settings in the environment (inherited by the runtimes the
 * orchestrators start); its output in out. */
__attribute__((format(printf, 1, 2))) static int sh(const char *fmt, ...)
{
  char cmd[16384], full[16384 + 3 * PATH_MAX + 256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  snprintf(full, sizeof full,
           "cd %s && export DONJON_NODE_CONFIG='%s' CONTAINERS_CONF='%s/containers.conf' && { %s; } 2>&1", T, nodeconf,
           T, cmd);
  FILE *p = popen(full, "r");
  size_t n = fread(out, 1, sizeof out - 1, p);
  out[n] = '\0';
  int st = pclose(p);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void ran_the_encrypted_image(void)
{
  char want[128];
  snprintf(want, sizeof want, "workload: %s", LH.marker);
  cr_assert(strstr(out, want), "%s", out);
  cr_assert(strstr(out, "secret: postgres master key"), "%s", out);
}

/* Is there a process whose command line holds pattern? pgrep run without a shell, whose own
 * command line would hold it too. */
static bool pgrep(const char *pattern)
{
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    execlp("pgrep", "pgrep", "-f", "--", pattern, (char *) NULL);
    _exit(127);
  }
  int st;
  cr_assert_eq(waitpid(pid, &st, 0), pid);
  cr_assert(WIFEXITED(st) && WEXITSTATUS(st) <= 1, "pgrep failed: %x", st);
  return WEXITSTATUS(st) == 0;
}

/* No process of the orchestrator's (conmon, shims, donjon, cleanup) is left, once they have had
 * 10 s to go; no mount under T. */
static void no_orchestrator_left(void)
{
  bool left = true;
  for (int i = 0; i < 100 && (left = pgrep(T)); i++)
    usleep(100 * 1000);
  cr_assert(!left, "a process naming %s is left (pgrep -f)", T);
  FILE *m = fopen("/proc/self/mountinfo", "r");
  char line[4096];
  while (fgets(line, sizeof line, m))
    cr_assert(strstr(line, T) == NULL, "a mount is left: %s", line);
  fclose(m);
  lh_no_host_mounts();
}

#define PODMAN                                                                                                  \
  "podman --root %s/storage --runroot %s/run --tmpdir %s/tmp --storage-driver vfs --cgroup-manager cgroupfs " \
  "--events-backend file --runtime '%s' "
#define ULIMITS "--ulimit nofile=1024:1024 --ulimit nproc=1024:1024"

Test(orchestrators, podman_runs_a_confidential_pod)
{
  int st = sh(PODMAN "run --rm --network none " ULIMITS " %s --rootfs %s/empty /bin/app 7", T, T, T, lh_donjon(),
              podman_annotations, T);
  cr_assert_eq(st, 7, "podman run: %d: %s", st, out);
  ran_the_encrypted_image();
  /* a denied pod: podman reports the verifier's reasons */
  st = sh(PODMAN "run --rm --network none " ULIMITS " %s --rootfs %s/empty /bin/app 9", T, T, T, lh_donjon(),
          podman_annotations, T);
  cr_assert_neq(st, 0, "%s", out);
  cr_assert(strstr(out, "denied by the verifier") && strstr(out, "arguments not allowed"), "%s", out);
  lh_no_marker_on_disk(stamp);
  no_orchestrator_left();
}

Test(orchestrators, containerd_runs_a_confidential_pod)
{
  char config[PATH_MAX + 64];
  snprintf(config, sizeof config, "%s/containerd.toml", T);
  FILE *f = fopen(config, "w");
  fprintf(f, "version = 2\nroot = \"%s/root\"\nstate = \"%s/state\"\n"
             "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n"
             "[grpc]\n  address = \"%s/containerd.sock\"\n[ttrpc]\n  address = \"%s/containerd.sock.ttrpc\"\n",
          T, T, T, T);
  fclose(f);
  pid_t d = fork();
  cr_assert_geq(d, 0);
  if (d == 0) {
    setenv("DONJON_NODE_CONFIG", nodeconf, 1); /* the shims and the runtime inherit it */
    char log[PATH_MAX + 64];
    snprintf(log, sizeof log, "%s/containerd.log", T);
    if (freopen(log, "w", stderr) == NULL)
      _exit(126);
    execlp("containerd", "containerd", "--config", config, (char *) NULL);
    _exit(127);
  }
  bool up = false;
  for (int i = 0; i < 300 && !up; i++) {
    up = sh("ctr --address %s/containerd.sock version", T) == 0;
    if (!up)
      usleep(20000);
  }
  cr_assert(up, "containerd did not answer: %s", out);
  int st = sh("ctr --address %s/containerd.sock --namespace dj-launch run --rm --runc-binary '%s' --runc-root %s/runc "
              "%s --rootfs %s/empty pod1 /bin/app 7",
              T, lh_donjon(), T, annotations, T);
  int st2 = 0;
  static char out1[sizeof out];
  memcpy(out1, out, sizeof out);
  if (st == 7)
    st2 = sh("ctr --address %s/containerd.sock --namespace dj-launch run --rm --runc-binary '%s' --runc-root %s/runc "
             "%s --rootfs %s/empty pod2 /bin/app 9",
             T, lh_donjon(), T, annotations, T);
  static char out2[sizeof out];
  memcpy(out2, out, sizeof out);
  kill(d, SIGTERM);
  waitpid(d, NULL, 0);
  cr_assert_eq(st, 7, "ctr run: %d: %s", st, out1);
  memcpy(out, out1, sizeof out);
  ran_the_encrypted_image();
  /* the denied pod: the shim passes the runtime's error on, the verifier's reasons in it */
  cr_assert_neq(st2, 0, "a denied pod ran: %s", out2);
  cr_assert(strstr(out2, "denied by the verifier") && strstr(out2, "arguments not allowed"), "%s", out2);
  cr_assert(strstr(out2, LH.marker) == NULL, "%s", out2);
  lh_no_marker_on_disk(stamp);
  no_orchestrator_left();
  lh_no_cgroup("/dj-launch/pod1");
  lh_no_cgroup("/dj-launch/pod2");
  char runc_ns[PATH_MAX + 64];
  snprintf(runc_ns, sizeof runc_ns, "%s/runc/dj-launch", T);
  DIR *dir = opendir(runc_ns);
  struct dirent *e;
  while (dir && (e = readdir(dir)) != NULL)
    cr_assert(e->d_name[0] == '.', "container state left: %s/%s", runc_ns, e->d_name);
  if (dir)
    closedir(dir);
}
