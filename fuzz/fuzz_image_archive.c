/* oci-archive: the input is an archive file, extracted to a private directory (only oci-layout,
 * index.json and blobs/sha256/<hex> regular files are written), which is then removed. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/util.h"
#include "images/oci_archive.h"
#include "images/tree.h"

static char file[] = "/dev/shm/dj-fuzz-archive-XXXXXX";

static void remove_file(void)
{
  unlink(file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static int fd = -1;
  if (fd < 0) {
    fd = mkstemp(file);
    if (fd < 0)
      abort();
    atexit(remove_file);
    setenv("TMPDIR", "/dev/shm", 1); /* memory-backed: the extraction directories come and go */
  }
  if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t) size)
    abort();
  char *dir = NULL;
  dj_err err = { 0 };
  if (dj_oci_archive_extract(file, &dir, &err) == 0) {
    dj_remove_tree(dir);
    free(dir);
  }
  return 0;
}
