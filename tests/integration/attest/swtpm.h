/* A throw-away swtpm for tests: fresh state from swtpm_setup with EK and platform certificates
 * signed by a local CA made in the test's own temp dir (never /var/lib/swtpm-localca), served on
 * 127.0.0.1, stopped by PID. */
#ifndef DJ_TEST_SWTPM_H
#define DJ_TEST_SWTPM_H

#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>

struct swtpm {
  char dir[PATH_MAX];        /* temp dir: state/, ca/, configs, donjon state in node/ */
  char state[PATH_MAX + 16];
  char node_dir[PATH_MAX + 16];
  char root_ca[PATH_MAX + 64];     /* the local CA's root certificate */
  char issuer_ca[PATH_MAX + 64];   /* its intermediate, which signs EK certificates */
  char tcti[128];
  int port;
  pid_t pid;
};

/* Make a temp dir and a manufactured TPM state in it (RSA-2048 and P-384 EKs with certificates). */
void swtpm_create(struct swtpm *s);
/* Start swtpm on the state (fresh ports each time) and wait until it accepts connections. */
void swtpm_start(struct swtpm *s);
/* SIGTERM by PID and reap. */
void swtpm_stop(struct swtpm *s);
/* Power-cycle the TPM through its control channel (resetCount increases). */
void swtpm_power_cycle(struct swtpm *s);
/* TPM2_Shutdown(STATE), a power cycle, then TPM2_Startup(STATE) (a Resume: PCRs kept) or
 * TPM2_Startup(CLEAR) (a Restart: PCRs cleared); restartCount increases, resetCount does not. */
void swtpm_hibernate(struct swtpm *s, bool restart);
/* Stop and remove the temp dir. */
void swtpm_destroy(struct swtpm *s);

/* A free loopback port P with P+1 free too (server and control port, as the swtpm TCTI expects). */
int swtpm_free_port_pair(void);

/* Run a command (argv NULL-terminated) with TPM2TOOLS_TCTI set to s; returns the exit status. */
int swtpm_run(struct swtpm *s, const char *const *argv);

#endif
