#include "images/tree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int dj_remove_at(int dirfd, const char *name)
{
  if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
    return 0;
  if (errno != EISDIR && errno != EPERM)
    return -1;
  /* NOFOLLOW: a symlink swapped in is removed, not followed (ELOOP). A mode-0000 directory from
   * an image cannot be opened without root: made 0700 by name first (only on EACCES, so nothing
   * but a directory we could not open is touched), and a read-only one cannot be emptied. */
  const int flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
  int sub = openat(dirfd, name, flags);
  if (sub < 0 && errno == EACCES && fchmodat(dirfd, name, 0700, AT_SYMLINK_NOFOLLOW) == 0)
    sub = openat(dirfd, name, flags);
  if (sub < 0 && (errno == ELOOP || errno == ENOTDIR))
    return unlinkat(dirfd, name, 0); /* not a directory by now */
  if (sub >= 0) {
    fchmod(sub, 0700);
    dj_empty_dir(sub);
    close(sub);
  }
  return unlinkat(dirfd, name, AT_REMOVEDIR);
}

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
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
      dj_remove_at(fd, e->d_name);
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
