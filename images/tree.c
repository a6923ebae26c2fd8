#include "images/tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Recursion by open directory fds and *at calls: no path is resolved twice. */
void dj_empty_dir(int dirfd)
{
  int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return;
  DIR *d = fdopendir(fd);
  if (d == NULL) {
    close(fd);
    return;
  }
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    if (unlinkat(fd, e->d_name, 0) == 0)
      continue;
    if (errno != EISDIR && errno != EPERM)
      continue;
    int sub = openat(fd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (sub >= 0) {
      fchmod(sub, 0700); /* a read-only directory from an image must still be emptied */
      dj_empty_dir(sub);
      close(sub);
    }
    unlinkat(fd, e->d_name, AT_REMOVEDIR);
  }
  closedir(d);
}

void dj_remove_tree(const char *path)
{
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    unlink(path);
    return;
  }
  dj_empty_dir(fd);
  close(fd);
  rmdir(path);
}
