/* Tar entry handling: the input is a layer's tar (plain, or gzip or zstd by its magic), unpacked into a
 * fresh directory with the safe unpacker (small bounds), which is then emptied. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/util.h"
#include "images/tree.h"
#include "images/unpack.h"

static char dir[] = "/tmp/dj-fuzz-tar-XXXXXX";

static void remove_dir(void)
{
  dj_remove_tree(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static int dirfd = -1;
  if (dirfd < 0) {
    if (mkdtemp(dir) == NULL)
      abort();
    atexit(remove_dir);
    dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  }
  int fd = memfd_create("fuzz-tar", MFD_CLOEXEC);
  if (fd < 0 || dj_write_all(fd, data, size) < 0 || lseek(fd, 0, SEEK_SET) < 0)
    abort();
  struct dj_unpack_opts o;
  dj_unpack_opts_default(&o);
  o.max_layer_size = 8u << 20;
  o.max_file_size = 1u << 20;
  o.max_total_size = 4u << 20;
  o.max_entries = 1000;
  o.chown = false;
  dj_err err = { 0 };
  enum dj_compression comp = DJ_COMP_NONE; /* chosen by the input's magic, as a layer's media type would */
  if (size > 2 && data[0] == 0x1f && data[1] == 0x8b)
    comp = DJ_COMP_GZIP;
  else if (size > 4 && data[0] == 0x28 && data[1] == 0xb5 && data[2] == 0x2f && data[3] == 0xfd)
    comp = DJ_COMP_ZSTD;
  dj_unpack_tar_fd(fd, comp, &o, dirfd, &err);
  dj_empty_dir(dirfd);
  close(fd);
  return 0;
}
