/* The node's launch settings, so that an orchestrator (which passes only the runtime's own
 * arguments) and `donjon launch` find the same verifier and TPM: /etc/donjon/node.json, or the file
 * $DONJON_NODE_CONFIG names; then DONJON_VERIFIER, DONJON_VERIFIER_CA and DONJON_TPM override it.
 *
 *   {"verifier": "https://verifier.example:8443", "ca": "/etc/donjon/verifier-ca.pem",
 *    "tpm": "device:/dev/tpmrm0", "state_dir": "/var/lib/donjon/attest", "ek": "rsa2048",
 *    "ak": "ecc-p256", "pcr": 23, "ek_handle": 2164326401, "allow_swap": false}
 *
 * ek_handle: where the RSA EK is kept persistent (0x81010001 by default; 0: re-create it each time).
 *
 * Strict: an unknown member is an error naming the file and the member. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/json.h"
#include "common/util.h"
#include "launch/launch.h"

#define NODE_CONFIG_MAX (64u << 10)

static int check_members(json_t *doc, const char *file, dj_err *err)
{
  static const char *const known[] = { "verifier", "ca", "tpm", "state_dir", "ek", "ak", "pcr", "ek_handle",
                                       "allow_swap", NULL };
  const char *key;
  json_t *v;
  json_object_foreach(doc, key, v) {
    bool ok = false;
    for (size_t i = 0; known[i] && !ok; i++)
      ok = strcmp(known[i], key) == 0;
    if (!ok)
      return dj_error(err, 0, "%s: unknown member \"%s\"", file, key);
  }
  return 0;
}

int dj_node_config_load(const char *file, struct dj_vclient_opts *vc, struct dj_node *node, bool *allow_swap,
                        dj_err *err)
{
  static json_t *doc; /* its strings are the settings', for the life of the process */
  bool given = file != NULL || getenv("DONJON_NODE_CONFIG") != NULL;
  if (file == NULL)
    file = getenv("DONJON_NODE_CONFIG") ? getenv("DONJON_NODE_CONFIG") : DJ_NODE_CONFIG_DEFAULT;
  if (given || access(file, F_OK) == 0) {
    json_decref(doc);
    doc = NULL;
    if (dj_json_load_file(file, NODE_CONFIG_MAX, &doc, err) < 0)
      return -1;
    if (!json_is_object(doc))
      return dj_error(err, 0, "%s: expected an object", file);
    const char *ek = NULL, *ak = NULL;
    uint64_t pcr = node->workload_pcr, ek_handle = node->ek_handle;
    if (check_members(doc, file, err) < 0 || dj_json_opt_string(doc, "verifier", file, &vc->url, err) < 0 ||
        dj_json_opt_string(doc, "ca", file, &vc->ca, err) < 0 ||
        dj_json_opt_string(doc, "tpm", file, &node->tcti, err) < 0 ||
        dj_json_opt_string(doc, "state_dir", file, &node->state_dir, err) < 0 ||
        dj_json_opt_string(doc, "ek", file, &ek, err) < 0 || dj_json_opt_string(doc, "ak", file, &ak, err) < 0 ||
        dj_json_opt_uint64(doc, "pcr", file, 23, &pcr, err) < 0 ||
        dj_json_opt_uint64(doc, "ek_handle", file, 0x81ffffffu, &ek_handle, err) < 0 ||
        dj_json_opt_bool(doc, "allow_swap", file, allow_swap, err) < 0)
      return -1;
    node->workload_pcr = (unsigned) pcr;
    if (ek_handle != 0 && ek_handle < 0x81000000u)
      return dj_error(err, 0, "%s: ek_handle: %#llx is not a persistent handle (0x81000000-0x81ffffff, or 0)", file,
                      (unsigned long long) ek_handle);
    node->ek_handle = (uint32_t) ek_handle;
    if (ek != NULL && dj_ek_kind_parse(ek, &node->ek_kind) < 0)
      return dj_error(err, 0, "%s: ek: unknown EK kind \"%s\" (rsa2048, ecc-p256, ecc-p384)", file, ek);
    if (ak != NULL && strcmp(ak, "rsa2048") == 0)
      node->ak_kind = DJ_AK_RSA2048;
    else if (ak != NULL && strcmp(ak, "ecc-p256") == 0)
      node->ak_kind = DJ_AK_ECC_P256;
    else if (ak != NULL)
      return dj_error(err, 0, "%s: ak: unknown AK kind \"%s\" (rsa2048, ecc-p256)", file, ak);
  }
  if (getenv("DONJON_VERIFIER"))
    vc->url = getenv("DONJON_VERIFIER");
  if (getenv("DONJON_VERIFIER_CA"))
    vc->ca = getenv("DONJON_VERIFIER_CA");
  if (getenv("DONJON_TPM"))
    node->tcti = getenv("DONJON_TPM");
  return 0;
}
