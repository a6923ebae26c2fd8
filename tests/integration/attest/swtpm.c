#include "swtpm.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void write_file(const char *path, const char *text)
{
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f, "%s: %s", path, strerror(errno));
  fputs(text, f);
  fclose(f);
}

static int run_argv(const char *const *argv, const char *tcti, bool quiet)
{
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    if (tcti != NULL)
      setenv("TPM2TOOLS_TCTI", tcti, 1);
    if (quiet) {
      int fd = open("/dev/null", O_WRONLY);
      dup2(fd, 1);
      dup2(fd, 2);
    }
    execvp(argv[0], (char *const *) argv);
    _exit(127);
  }
  int status;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int swtpm_run(struct swtpm *s, const char *const *argv)
{
  return run_argv(argv, s->tcti, false);
}

void swtpm_create(struct swtpm *s)
{
  memset(s, 0, sizeof *s);
  snprintf(s->dir, sizeof s->dir, "/tmp/dj-swtpm-XXXXXX");
  cr_assert_not_null(mkdtemp(s->dir));
  char ca[PATH_MAX + 16], conf[PATH_MAX + 64], text[8 * PATH_MAX];
  snprintf(s->state, sizeof s->state, "%s/state", s->dir);
  snprintf(ca, sizeof ca, "%s/ca", s->dir);
  snprintf(s->node_dir, sizeof s->node_dir, "%s/node", s->dir);
  snprintf(s->root_ca, sizeof s->root_ca, "%s/swtpm-localca-rootca-cert.pem", ca);
  snprintf(s->issuer_ca, sizeof s->issuer_ca, "%s/issuercert.pem", ca);
  cr_assert_eq(mkdir(s->state, 0700), 0);
  cr_assert_eq(mkdir(ca, 0700), 0);
  snprintf(conf, sizeof conf, "%s/localca.conf", s->dir);
  snprintf(text, sizeof text,
           "statedir = %s\nsigningkey = %s/signkey.pem\nissuercert = %s/issuercert.pem\ncertserial = %s/certserial\n", ca,
           ca, ca, ca);
  write_file(conf, text);
  snprintf(conf, sizeof conf, "%s/localca.options", s->dir);
  write_file(conf, "--platform-manufacturer donjon\n--platform-version 2.1\n--platform-model test\n");
  snprintf(conf, sizeof conf, "%s/swtpm_setup.conf", s->dir);
  snprintf(text, sizeof text,
           "create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = %s/localca.conf\n"
           "create_certs_tool_options = %s/localca.options\nactive_pcr_banks = sha256\n",
           s->dir, s->dir);
  write_file(conf, text);
  const char *argv[] = { "swtpm_setup", "--tpm2", "--tpmstate", s->state, "--create-ek-cert",
                         "--create-platform-cert", "--config", conf, "--overwrite", NULL };
  cr_assert_eq(run_argv(argv, NULL, true), 0, "swtpm_setup failed");
  /* swtpm_setup leaves its EKs persistent at 0x81010001/0x81010016: donjon re-creates its own. */
}

int swtpm_free_port_pair(void)
{
  for (int attempt = 0; attempt < 50; attempt++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof a;
    bind(fd, (struct sockaddr *) &a, sizeof a);
    getsockname(fd, (struct sockaddr *) &a, &len);
    close(fd);
    int port = ntohs(a.sin_port);
    if (port >= 65535)
      continue;
    fd = socket(AF_INET, SOCK_STREAM, 0); /* the control port is the next one: is it free too? */
    a.sin_port = htons((uint16_t) (port + 1));
    int ok = bind(fd, (struct sockaddr *) &a, sizeof a) == 0;
    close(fd);
    if (ok)
      return port;
  }
  cr_assert_fail("no free port pair");
  return -1;
}

static bool port_open(int port)
{
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port),
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
  bool ok = connect(fd, (struct sockaddr *) &a, sizeof a) == 0;
  close(fd);
  return ok;
}

void swtpm_start(struct swtpm *s)
{
  s->port = swtpm_free_port_pair();
  snprintf(s->tcti, sizeof s->tcti, "swtpm:host=127.0.0.1,port=%d", s->port);
  char server[64], ctrl[64], state[PATH_MAX + 32];
  snprintf(server, sizeof server, "type=tcp,port=%d,bindaddr=127.0.0.1", s->port);
  snprintf(ctrl, sizeof ctrl, "type=tcp,port=%d,bindaddr=127.0.0.1", s->port + 1);
  snprintf(state, sizeof state, "dir=%s", s->state);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGTERM); /* a crashed test leaves no swtpm behind */
    int fd = open("/dev/null", O_RDWR);
    dup2(fd, 0);
    dup2(fd, 1);
    execlp("swtpm", "swtpm", "socket", "--tpm2", "--tpmstate", state, "--server", server, "--ctrl", ctrl, "--flags",
           "not-need-init,startup-clear", (char *) NULL);
    _exit(127);
  }
  s->pid = pid;
  for (int i = 0; i < 200; i++) { /* up to 10 s */
    if (port_open(s->port))
      return;
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) {
      s->pid = 0;
      cr_assert_fail("swtpm exited at start (status %d)", status);
    }
    struct timespec ts = { 0, 50 * 1000 * 1000 };
    nanosleep(&ts, NULL);
  }
  cr_assert_fail("swtpm did not listen on port %d", s->port);
}

void swtpm_stop(struct swtpm *s)
{
  if (s->pid <= 0)
    return;
  kill(s->pid, SIGTERM);
  int status;
  while (waitpid(s->pid, &status, 0) < 0 && errno == EINTR) {
  }
  s->pid = 0;
}

void swtpm_power_cycle(struct swtpm *s)
{
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", s->port + 1);
  const char *a2[] = { "swtpm_ioctl", "--tcp", addr, "-i", NULL };
  cr_assert_eq(run_argv(a2, NULL, true), 0, "swtpm_ioctl -i failed");
  /* after CMD_INIT the TPM needs TPM2_Startup(CLEAR) */
  const char *a3[] = { "tpm2_startup", "-c", NULL };
  cr_assert_eq(run_argv(a3, s->tcti, true), 0, "tpm2_startup failed");
}

void swtpm_destroy(struct swtpm *s)
{
  swtpm_stop(s);
  if (s->dir[0] != '\0') {
    const char *argv[] = { "rm", "-rf", "--one-file-system", s->dir, NULL };
    run_argv(argv, NULL, true);
  }
}

void swtpm_hibernate(struct swtpm *s, bool restart)
{
  char addr[64];
  snprintf(addr, sizeof addr, "127.0.0.1:%d", s->port + 1);
  const char *shutdown[] = { "tpm2_shutdown", NULL };
  cr_assert_eq(run_argv(shutdown, s->tcti, true), 0, "tpm2_shutdown failed");
  const char *init[] = { "swtpm_ioctl", "--tcp", addr, "-i", NULL };
  cr_assert_eq(run_argv(init, NULL, true), 0, "swtpm_ioctl -i failed");
  const char *startup_clear[] = { "tpm2_startup", "-c", NULL }, *startup_state[] = { "tpm2_startup", NULL };
  cr_assert_eq(run_argv(restart ? startup_clear : startup_state, s->tcti, true), 0, "tpm2_startup failed");
}
