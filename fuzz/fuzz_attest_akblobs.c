/* libFuzzer: the AK blobs file (TPM2B_PUBLIC || TPM2B_PRIVATE, attest/tpm_ak.c) as the node reads
 * it from its state directory; what loads saves and loads back to the same blobs. */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attest/tpm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[] = "/dev/shm/dj-fuzz-akblobs-XXXXXX";
static char path[sizeof dir + 16], again[sizeof dir + 16];

static void remove_files(void)
{
  unlink(path);
  unlink(again);
  rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static int fd = -1;
  if (fd < 0) {
    if (mkdtemp(dir) == NULL)
      abort();
    snprintf(path, sizeof path, "%s/ak.blob", dir);
    snprintf(again, sizeof again, "%s/again.blob", dir);
    fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
      abort();
    atexit(remove_files);
  }
  if (ftruncate(fd, 0) < 0 || (size > 0 && pwrite(fd, data, size, 0) != (ssize_t) size))
    abort();
  struct dj_ak_blobs blobs, back;
  dj_err err = { 0 };
  if (dj_ak_blobs_load(path, &blobs, &err) < 0)
    return 0;
  if (dj_ak_blobs_save(again, &blobs, &err) < 0 || dj_ak_blobs_load(again, &back, &err) < 0 ||
      memcmp(&blobs, &back, sizeof blobs) != 0)
    abort(); /* what loads must save and load back the same */
  return 0;
}
