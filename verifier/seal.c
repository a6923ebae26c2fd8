#include "verifier/seal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

int dj_master_key_load(const char *path, bool create, struct dj_master_key *mk, dj_err *err)
{
  mk->key = NULL;
  uint8_t *key = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (key == MAP_FAILED)
    return dj_error(err, errno, "master key: mmap");
  mlock(key, 4096);                 /* best effort: never swapped out where the limit allows */
  madvise(key, 4096, MADV_DONTDUMP); /* never in a core dump */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0 && errno == ENOENT && create) {
    if (RAND_priv_bytes(key, 32) != 1) {
      munmap(key, 4096);
      return dj_error(err, 0, "master key: no random bytes");
    }
    int w = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (w < 0 || dj_write_all(w, key, 32) < 0 || fsync(w) < 0) {
      int e = errno;
      if (w >= 0)
        close(w), unlink(path);
      dj_wipe(key, 32);
      munmap(key, 4096);
      return dj_error(err, e, "master key %s: create", path);
    }
    close(w);
    mk->key = key;
    return 0;
  }
  if (fd < 0) {
    int e = errno;
    munmap(key, 4096);
    return dj_error(err, e, "master key %s", path);
  }
  struct stat st;
  ssize_t n = -1;
  const char *why = NULL;
  if (fstat(fd, &st) < 0)
    why = "fstat";
  else if (!S_ISREG(st.st_mode))
    why = "not a regular file";
  else if ((st.st_mode & 077) != 0)
    why = "readable or writable by group or others (it must be 0600)";
  else if (st.st_size != 32 || (n = dj_read_all(fd, key, 32)) != 32)
    why = "not exactly 32 bytes";
  close(fd);
  if (why != NULL) {
    dj_wipe(key, 32);
    munmap(key, 4096);
    return dj_error(err, 0, "master key %s: %s", path, why);
  }
  mk->key = key;
  return 0;
}

void dj_master_key_free(struct dj_master_key *mk)
{
  if (mk->key != NULL) {
    dj_wipe(mk->key, 32);
    munmap(mk->key, 4096);
  }
  mk->key = NULL;
}

static int gcm(bool enc, const uint8_t *key, const uint8_t *iv, const char *aad, const uint8_t *in, size_t len,
               uint8_t *out, uint8_t *tag)
{
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int n = 0, ok = ctx && EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, iv, enc) == 1 &&
                  EVP_CipherUpdate(ctx, NULL, &n, (const uint8_t *) aad, (int) strlen(aad)) == 1 &&
                  EVP_CipherUpdate(ctx, out, &n, in, (int) len) == 1;
  if (ok && !enc)
    ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, tag) == 1;
  if (ok)
    ok = EVP_CipherFinal_ex(ctx, out + n, &n) == 1;
  if (ok && enc)
    ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) == 1;
  EVP_CIPHER_CTX_free(ctx);
  return ok ? 0 : -1;
}

int dj_seal(const struct dj_master_key *mk, const char *aad, const uint8_t *pt, size_t len, uint8_t *out,
            size_t *out_len, dj_err *err)
{
  out[0] = 1; /* format version */
  if (RAND_bytes(out + 1, 12) != 1 || gcm(true, mk->key, out + 1, aad, pt, len, out + 13, out + 13 + len) < 0)
    return dj_error(err, 0, "seal: AES-256-GCM failed");
  *out_len = len + DJ_SEAL_OVERHEAD;
  return 0;
}

int dj_unseal(const struct dj_master_key *mk, const char *aad, const uint8_t *in, size_t len, uint8_t *out,
              size_t *out_len, dj_err *err)
{
  if (len < DJ_SEAL_OVERHEAD || in[0] != 1)
    return dj_error(err, 0, "unseal: not a sealed value");
  size_t n = len - DJ_SEAL_OVERHEAD;
  uint8_t tag[16];
  memcpy(tag, in + 13 + n, 16);
  if (gcm(false, mk->key, in + 1, aad, in + 13, n, out, tag) < 0) {
    dj_wipe(out, n);
    return dj_error(err, 0, "unseal: the sealed value or its context was changed, or another master key");
  }
  *out_len = n;
  return 0;
}
