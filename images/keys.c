#include "images/keys.h"

#include <openssl/bio.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <errno.h>
#include <string.h>

#include "common/util.h"

static int key_load(const char *path, int selection, EVP_PKEY **out, dj_err *err)
{
  BIO *bio = BIO_new_file(path, "rb");
  if (bio == NULL) {
    ERR_clear_error();
    return dj_error(err, errno ? errno : ENOENT, "%s", path);
  }
  EVP_PKEY *key = NULL;
  OSSL_DECODER_CTX *dctx = OSSL_DECODER_CTX_new_for_pkey(&key, NULL, NULL, NULL, selection, NULL, NULL);
  int ok = dctx != NULL && OSSL_DECODER_from_bio(dctx, bio) > 0 && key != NULL;
  OSSL_DECODER_CTX_free(dctx);
  BIO_free(bio);
  ERR_clear_error();
  if (!ok)
    return -1;
  *out = key;
  return 0;
}

int dj_key_load_private(const char *path, EVP_PKEY **out, dj_err *err)
{
  errno = 0;
  if (key_load(path, EVP_PKEY_KEYPAIR, out, err) == 0)
    return 0;
  if (err->msg[0] == '\0')
    dj_error(err, 0, "%s: not a private key in PEM or DER (PKCS#8, PKCS#1 or SEC1)", path);
  return -1;
}

int dj_key_load_public(const char *path, EVP_PKEY **out, dj_err *err)
{
  errno = 0;
  if (key_load(path, EVP_PKEY_PUBLIC_KEY, out, err) == 0)
    return 0;
  if (err->msg[0] != '\0')
    return -1;
  if (key_load(path, EVP_PKEY_KEYPAIR, out, err) == 0)
    return 0;
  if (err->msg[0] == '\0')
    dj_error(err, 0, "%s: not a public key in PEM or DER (SubjectPublicKeyInfo)", path);
  return -1;
}
