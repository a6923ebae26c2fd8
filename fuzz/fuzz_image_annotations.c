/* ocicrypt annotations and private options: the input is split at the first NUL into a private
 * options document and a pubopts annotation value; both are also tried as a layer's annotations. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "images/ocicrypt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const uint8_t *nul = memchr(data, 0, size);
  size_t first = nul ? (size_t) (nul - data) : size;
  struct dj_layer_secret s;
  dj_err err = { 0 };
  dj_ocicrypt_privopts_parse(data, first, &s, &err);
  if (nul != NULL) {
    char *pub = strndup((const char *) nul + 1, size - first - 1);
    dj_ocicrypt_pubopts_parse(pub, &s, &err);
    free(pub);
  }
  json_t *ann = NULL;
  if (dj_json_load_buf((const char *) data, first, &ann, &err) == 0) {
    char kinds[256];
    dj_ocicrypt_recipient_kinds(ann, kinds, sizeof kinds);
    /* A layer descriptor with these annotations, unwrapped with a fixed key: parsing only. */
    static EVP_PKEY *key;
    if (key == NULL)
      key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    struct dj_descriptor d = { .annotations = ann, .encrypted = true };
    strcpy(d.digest, "sha256:0000000000000000000000000000000000000000000000000000000000000000");
    dj_ocicrypt_unwrap(&d, key, &s, &err);
    json_decref(ann);
  }
  return 0;
}
