/* One OCI lifecycle cycle, as a shim or conmon drives it: `RUNTIME create`, `RUNTIME start`, wait
 * for the container's process to exit (we are the subreaper, so the init is our child once create
 * returns), `RUNTIME delete`. Prints the wall time of each cycle in milliseconds.
 * usage: cycle RUNS BUNDLE ROOT RUNTIME [RUNTIME ARGS...] */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char **rt;
static int n_rt;

static int runtime(const char *root, const char *a0, const char *a1, const char *a2, const char *a3)
{
  const char *argv[64];
  int n = 0;
  for (int i = 0; i < n_rt; i++)
    argv[n++] = rt[i];
  const char *rest[] = { "--root", root, a0, a1, a2, a3 };
  for (size_t i = 0; i < sizeof rest / sizeof rest[0] && rest[i] != NULL; i++)
    argv[n++] = rest[i];
  argv[n] = NULL;
  pid_t pid = fork();
  if (pid == 0) {
    int nul = open("/dev/null", O_RDWR);
    dup2(nul, 0);
    dup2(nul, 1);
    execvp(argv[0], (char *const *) argv);
    _exit(127);
  }
  int ws;
  if (pid < 0 || waitpid(pid, &ws, 0) != pid || !WIFEXITED(ws) || WEXITSTATUS(ws) != 0) {
    fprintf(stderr, "cycle: %s %s failed\n", argv[0], a0);
    exit(1);
  }
  return 0;
}

int main(int argc, char **argv)
{
  if (argc < 5) {
    fprintf(stderr, "usage: cycle RUNS BUNDLE ROOT RUNTIME [ARGS...]\n");
    return 2;
  }
  int runs = atoi(argv[1]);
  const char *bundle = argv[2], *root = argv[3];
  rt = argv + 4;
  n_rt = argc - 4;
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  for (int i = 0; i < runs; i++) {
    char id[32];
    snprintf(id, sizeof id, "cycle-%d", i);
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    runtime(root, "create", "--bundle", bundle, id);
    runtime(root, "start", id, NULL, NULL);
    int ws;
    if (wait(&ws) < 0) { /* the init, adopted by us */
      perror("cycle: wait for the container's init");
      return 1;
    }
    runtime(root, "delete", id, NULL, NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.3f\n", (double) (b.tv_sec - a.tv_sec) * 1e3 + (double) (b.tv_nsec - a.tv_nsec) / 1e6);
  }
  return 0;
}
