/* lcwatch: runs as a test container's init and watches, from inside, for a process of donjon
 * exec that can be inspected while it joins the container (CVE-2016-9962): it reads
 * /proc/PID/exe of every other process as fast as it can. A process being set up by donjon is
 * non-dumpable, so the read fails; once it has exec'd busybox the read succeeds and names
 * busybox. Anything else read is a leak. When /dev/shm/stop appears it writes
 * "leaks N denied M LAST" to /dev/shm/watch and waits to be killed.
 * `lcwatch notify MESSAGE` instead sends MESSAGE to $NOTIFY_SOCKET (sd_notify), for the
 * NOTIFY_SOCKET test. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int notify(const char *msg)
{
  const char *path = getenv("NOTIFY_SOCKET");
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (path == NULL || strlen(path) >= sizeof sa.sun_path)
    return 2;
  memcpy(sa.sun_path, path, strlen(path) + 1);
  int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
  if (fd < 0 || sendto(fd, msg, strlen(msg), 0, (struct sockaddr *) &sa, sizeof sa) < 0) {
    perror("lcwatch notify");
    return 1;
  }
  return 0;
}

int main(int argc, char **argv)
{
  if (argc == 3 && strcmp(argv[1], "notify") == 0)
    return notify(argv[2]);
  long leaks = 0, denied = 0;
  char last[512] = "-";
  pid_t self = getpid();
  while (access("/dev/shm/stop", F_OK) != 0) {
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d != NULL && (e = readdir(d)) != NULL) {
      int pid = atoi(e->d_name);
      if (pid <= 0 || pid == self)
        continue;
      char path[64], target[400];
      snprintf(path, sizeof path, "/proc/%d/exe", pid);
      ssize_t n = readlink(path, target, sizeof target - 1);
      if (n < 0) {
        denied += errno == EACCES || errno == EPERM;
        continue;
      }
      target[n] = '\0';
      if (strstr(target, "busybox") == NULL) {
        leaks++;
        snprintf(last, sizeof last, "%d:%s", pid, target);
      }
    }
    if (d != NULL)
      closedir(d);
  }
  FILE *f = fopen("/dev/shm/watch", "w");
  if (f != NULL) {
    fprintf(f, "leaks %ld denied %ld %s\n", leaks, denied, last);
    fclose(f);
  }
  for (;;)
    pause();
}
