#include "verifier/requests.h"

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <tss2/tss2_mu.h>

#include "attest/evidence.h"
#include "attest/mlog.h"
#include "attest/tpmstruct.h"
#include "common/json.h"
#include "common/util.h"
#include "images/b64.h"
#include "images/jwe.h"

void dj_vhex(const uint8_t *b, size_t n, char *out)
{
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[b[i] >> 4];
    out[2 * i + 1] = digits[b[i] & 15];
  }
  out[2 * n] = '\0';
}

int dj_vnode_id(const TPMT_PUBLIC *ek, char out[65], dj_err *err)
{
  EVP_PKEY *key = NULL;
  if (dj_tpm_public_to_evp(ek, &key, err) < 0)
    return -1;
  unsigned char *der = NULL;
  int n = i2d_PUBKEY(key, &der);
  EVP_PKEY_free(key);
  if (n <= 0)
    return dj_error(err, 0, "EK: cannot encode its public key");
  uint8_t d[32];
  SHA256(der, (size_t) n, d);
  OPENSSL_free(der);
  dj_vhex(d, 32, out);
  return 0;
}

int dj_vjson_members(json_t *obj, const char *path, const char *const *allowed, dj_err *err)
{
  const char *key;
  json_t *v;
  json_object_foreach(obj, key, v) {
    bool ok = false;
    for (const char *const *a = allowed; *a && !ok; a++)
      ok = strcmp(*a, key) == 0;
    if (!ok) {
      char p[DJ_JPATH_MAX];
      dj_jpath_key(p, path, key);
      return dj_error(err, 0, "%s: unknown member", p);
    }
  }
  return 0;
}

int dj_vjson_name(json_t *obj, const char *key, const char *path, size_t max, const char **out, dj_err *err)
{
  if (dj_json_req_string(obj, key, path, out, err) < 0)
    return -1;
  size_t n = json_string_length(json_object_get(obj, key));
  bool ok = n > 0 && n <= max;
  for (size_t i = 0; ok && i < n; i++)
    ok = (*out)[i] >= 0x20 && (*out)[i] < 0x7f;
  if (!ok) {
    char p[DJ_JPATH_MAX];
    dj_jpath_key(p, path, key);
    return dj_error(err, 0, "%s: expected 1 to %zu printable ASCII characters", p, max);
  }
  return 0;
}

int dj_vjson_b64(json_t *obj, const char *key, const char *path, uint8_t *buf, size_t max, size_t *len, dj_err *err)
{
  const char *s;
  if (dj_json_req_string(obj, key, path, &s, err) < 0)
    return -1;
  uint8_t *raw = NULL;
  size_t n = 0;
  char p[DJ_JPATH_MAX];
  dj_jpath_key(p, path, key);
  if (strlen(s) > 4 * (max / 3 + 1) || dj_b64url_decode(s, strlen(s), &raw, &n) < 0 || n > max) {
    if (raw)
      dj_wipe(raw, n);
    free(raw);
    return dj_error(err, 0, "%s: not base64url (no padding) of at most %zu bytes", p, max);
  }
  memcpy(buf, raw, n);
  dj_wipe(raw, n);
  free(raw);
  *len = n;
  return 0;
}

static int b64_public(json_t *j, const char *key, const char *path, TPM2B_PUBLIC *out, dj_err *err)
{
  uint8_t buf[DJ_VPUB_MAX];
  size_t n = 0;
  if (dj_vjson_b64(j, key, path, buf, sizeof buf, &n, err) < 0)
    return -1;
  if (dj_tpm_unmarshal_public(buf, n, out, err) < 0)
    return dj_err_wrap(err, "%s.%s", path[0] ? path : "request", key);
  return 0;
}

int dj_vcredential_parse(json_t *ch, const char **id, TPM2B_ID_OBJECT *blob, TPM2B_ENCRYPTED_SECRET *seed,
                         dj_err *err)
{
  uint8_t b[sizeof *blob], e[sizeof *seed];
  size_t bl = 0, el = 0, off1 = 0, off2 = 0;
  if (dj_vjson_name(ch, "id", "challenge", DJ_VNAME_MAX - 1, id, err) < 0 ||
      dj_vjson_b64(ch, "credential_blob", "challenge", b, sizeof b, &bl, err) < 0 ||
      dj_vjson_b64(ch, "encrypted_secret", "challenge", e, sizeof e, &el, err) < 0)
    return -1;
  if (Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(b, bl, &off1, blob) != TSS2_RC_SUCCESS || off1 != bl)
    return dj_error(err, 0, "challenge.credential_blob: not one TPM2B_ID_OBJECT");
  if (Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(e, el, &off2, seed) != TSS2_RC_SUCCESS || off2 != el)
    return dj_error(err, 0, "challenge.encrypted_secret: not one TPM2B_ENCRYPTED_SECRET");
  return 0;
}

int dj_venroll_req_parse(json_t *j, struct dj_venroll_req *out, dj_err *err)
{
  static const char *const m[] = { "name", "ek_certificate", "ek_public", "ak_public", NULL };
  memset(out, 0, sizeof *out);
  if (dj_vjson_members(j, "", m, err) < 0 || dj_vjson_name(j, "name", "", DJ_VNAME_MAX - 1, &out->name, err) < 0 ||
      b64_public(j, "ek_public", "", &out->ek, err) < 0 || b64_public(j, "ak_public", "", &out->ak, err) < 0)
    return -1;
  if (json_object_get(j, "ek_certificate") && !json_is_null(json_object_get(j, "ek_certificate")) &&
      dj_vjson_b64(j, "ek_certificate", "", out->ek_cert, sizeof out->ek_cert, &out->ek_cert_len, err) < 0)
    return -1;
  return 0;
}

int dj_vactivate_req_parse(json_t *j, struct dj_vactivate_req *out, dj_err *err)
{
  static const char *const m[] = { "challenge_id", "secret", NULL };
  memset(out, 0, sizeof *out);
  if (dj_vjson_members(j, "", m, err) < 0 || dj_vjson_name(j, "challenge_id", "", 32, &out->challenge_id, err) < 0 ||
      dj_vjson_b64(j, "secret", "", out->secret, sizeof out->secret, &out->secret_len, err) < 0)
    return -1;
  return 0;
}

int dj_vapprove_req_parse(json_t *j, struct dj_vapprove_req *out, dj_err *err)
{
  static const char *const m[] = { "site", "jurisdiction", "hardware_class", "rotation", NULL };
  memset(out, 0, sizeof *out);
  if (dj_vjson_members(j, "", m, err) < 0 || dj_json_opt_bool(j, "rotation", "", &out->rotation, err) < 0)
    return -1;
  if (out->rotation)
    return json_object_size(j) == 1 ? 0 : dj_error(err, 0, "rotation: approves the new AK only; no other member");
  if (dj_vjson_name(j, "site", "", DJ_VNAME_MAX - 1, &out->site, err) < 0 ||
      dj_vjson_name(j, "jurisdiction", "", DJ_VNAME_MAX - 1, &out->jurisdiction, err) < 0 ||
      dj_vjson_name(j, "hardware_class", "", DJ_VNAME_MAX - 1, &out->hw_class, err) < 0)
    return -1;
  return 0;
}

int dj_vrevoke_req_parse(json_t *j, const char **reason, dj_err *err)
{
  static const char *const m[] = { "reason", NULL };
  return dj_vjson_members(j, "", m, err) < 0 || dj_vjson_name(j, "reason", "", 255, reason, err) < 0 ? -1 : 0;
}

static bool is_hex64(const char *s)
{
  if (strlen(s) != 64)
    return false;
  for (const char *p = s; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
      return false;
  return true;
}

int dj_vinventory_req_parse(json_t *j, struct dj_vinventory **entries, size_t *n, dj_err *err)
{
  static const char *const m[] = { "entries", NULL };
  static const char *const em[] = { "ek_digest", "name", "site", "jurisdiction", "hardware_class", NULL };
  json_t *arr;
  *entries = NULL;
  *n = 0;
  if (dj_vjson_members(j, "", m, err) < 0 || dj_json_req_array(j, "entries", "", &arr, err) < 0)
    return -1;
  if (json_array_size(arr) == 0 || json_array_size(arr) > DJ_VMAX_INVENTORY)
    return dj_error(err, 0, "entries: 1 to %d entries", DJ_VMAX_INVENTORY);
  struct dj_vinventory *v = dj_xcalloc(json_array_size(arr), sizeof *v);
  size_t i;
  json_t *e;
  json_array_foreach(arr, i, e) {
    char p[DJ_JPATH_MAX];
    dj_jpath_index(p, "entries", i);
    const char *d, *name = "", *site, *jur, *cls;
    if (!json_is_object(e)) {
      free(v);
      return dj_error(err, 0, "%s: expected an object", p);
    }
    if (dj_vjson_members(e, p, em, err) < 0 || dj_vjson_name(e, "ek_digest", p, 71, &d, err) < 0 ||
        (json_object_get(e, "name") && dj_vjson_name(e, "name", p, DJ_VNAME_MAX - 1, &name, err) < 0) ||
        dj_vjson_name(e, "site", p, DJ_VNAME_MAX - 1, &site, err) < 0 ||
        dj_vjson_name(e, "jurisdiction", p, DJ_VNAME_MAX - 1, &jur, err) < 0 ||
        dj_vjson_name(e, "hardware_class", p, DJ_VNAME_MAX - 1, &cls, err) < 0) {
      free(v);
      return -1;
    }
    if (strncmp(d, "sha256:", 7) != 0 || !is_hex64(d + 7)) {
      free(v);
      return dj_error(err, 0, "%s.ek_digest: expected sha256:<64 lower-case hex> of the EK's SubjectPublicKeyInfo", p);
    }
    snprintf(v[i].ek_digest, sizeof v[i].ek_digest, "%s", d + 7);
    snprintf(v[i].name, sizeof v[i].name, "%s", name);
    snprintf(v[i].site, sizeof v[i].site, "%s", site);
    snprintf(v[i].jurisdiction, sizeof v[i].jurisdiction, "%s", jur);
    snprintf(v[i].hw_class, sizeof v[i].hw_class, "%s", cls);
  }
  *entries = v;
  *n = json_array_size(arr);
  return 0;
}

static int node_id_member(json_t *j, const char **node_id, dj_err *err)
{
  if (dj_vjson_name(j, "node_id", "", 64, node_id, err) < 0)
    return -1;
  return is_hex64(*node_id) ? 0 : dj_error(err, 0, "node_id: expected 64 lower-case hex digits");
}

int dj_vchallenge_req_parse(json_t *j, const char **node_id, dj_err *err)
{
  static const char *const m[] = { "node_id", NULL };
  return dj_vjson_members(j, "", m, err) < 0 ? -1 : node_id_member(j, node_id, err);
}

int dj_vkey_req_parse(json_t *j, struct dj_vkey_req *out, dj_err *err)
{
  static const char *const m[] = { "kind", "value", "private_key", NULL };
  memset(out, 0, sizeof *out);
  if (dj_vjson_members(j, "", m, err) < 0 || dj_json_req_string(j, "kind", "", &out->kind, err) < 0)
    return -1;
  if (strcmp(out->kind, DJ_KEY_SECRET) == 0) {
    if (json_object_get(j, "private_key"))
      return dj_error(err, 0, "private_key: only for kind \"kek\"");
    if (dj_vjson_b64(j, "value", "", out->value, sizeof out->value, &out->value_len, err) < 0)
      return -1;
    return out->value_len ? 0 : dj_error(err, 0, "value: must not be empty");
  }
  if (strcmp(out->kind, DJ_KEY_KEK) == 0) {
    if (json_object_get(j, "value"))
      return dj_error(err, 0, "value: only for kind \"secret\"");
    if (dj_json_req_string(j, "private_key", "", &out->private_key, err) < 0)
      return -1;
    return json_string_length(json_object_get(j, "private_key")) <= 8192 ? 0
                                                                          : dj_error(err, 0, "private_key: too large");
  }
  return dj_error(err, 0, "kind: \"%s\" is not \"secret\" or \"kek\"", out->kind);
}

int dj_vconfig_digest(json_t *config, char out[72], dj_err *err)
{
  _cleanup_free_ char *s = dj_json_canonical(config);
  if (s == NULL)
    return dj_error(err, 0, "workload.config: cannot serialise");
  uint8_t d[32];
  SHA256((const uint8_t *) s, strlen(s), d);
  strcpy(out, "sha256:");
  dj_vhex(d, 32, out + 7);
  return 0;
}

int dj_vworkload_digest(const char *manifest, const char *profile, json_t *config, char config_digest[72],
                        uint8_t digest[32], dj_err *err)
{
  if (dj_vconfig_digest(config, config_digest, err) < 0)
    return -1;
  return dj_workload_digest(manifest, config_digest, profile, digest, err);
}

static int parse_workload(json_t *w, struct dj_vattest_req *out, dj_err *err)
{
  static const char *const m[] = { "manifest", "profile", "config", NULL };
  if (dj_vjson_members(w, "workload", m, err) < 0 ||
      dj_vjson_name(w, "manifest", "workload", 71, &out->manifest, err) < 0 ||
      dj_vjson_name(w, "profile", "workload", 64, &out->profile, err) < 0 ||
      dj_json_req_object(w, "config", "workload", &out->config, err) < 0)
    return -1;
  if (strncmp(out->manifest, "sha256:", 7) != 0 || !is_hex64(out->manifest + 7))
    return dj_error(err, 0, "workload.manifest: expected sha256:<64 lower-case hex>");
  return dj_vworkload_digest(out->manifest, out->profile, out->config, out->config_digest, out->workload_digest, err);
}

static int parse_keys(json_t *j, struct dj_vattest_req *out, dj_err *err)
{
  json_t *arr = NULL;
  if (dj_json_opt_array(j, "keys", "", &arr, err) < 0)
    return -1;
  if (json_array_size(arr) > DJ_VMAX_KEYS)
    return dj_error(err, 0, "keys: more than %d", DJ_VMAX_KEYS);
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *e = json_array_get(arr, i);
    size_t n = json_string_length(e);
    if (!json_is_string(e) || n == 0 || n >= DJ_VNAME_MAX || strlen(json_string_value(e)) != n)
      return dj_error(err, 0, "keys[%zu]: expected a key id (1 to %d characters)", i, DJ_VNAME_MAX - 1);
    for (size_t k = 0; k < out->n_keys; k++)
      if (strcmp(out->keys[k], json_string_value(e)) == 0)
        return dj_error(err, 0, "keys[%zu]: \"%s\" asked twice", i, json_string_value(e));
    out->keys[out->n_keys++] = json_string_value(e);
  }
  return 0;
}

static int parse_layers(json_t *j, struct dj_vattest_req *out, dj_err *err)
{
  static const char *const m[] = { "digest", "recipient", NULL };
  json_t *image = NULL, *arr = NULL;
  if (dj_json_opt_object(j, "image", "", &image, err) < 0 || dj_json_opt_array(j, "layers", "", &arr, err) < 0)
    return -1;
  if (json_array_size(arr) > DJ_VMAX_LAYERS)
    return dj_error(err, 0, "layers: more than %d", DJ_VMAX_LAYERS);
  if ((arr && json_array_size(arr) > 0) != (image != NULL))
    return dj_error(err, 0, "image: needed with layers, and only with them");
  if (image) {
    static const char *const im[] = { "manifest", NULL };
    const char *b64;
    if (dj_vjson_members(image, "image", im, err) < 0 || dj_json_req_string(image, "manifest", "image", &b64, err) < 0)
      return -1;
    if (dj_b64url_decode(b64, strlen(b64), &out->image_manifest, &out->image_manifest_len) < 0 ||
        out->image_manifest_len > (4u << 20))
      return dj_error(err, 0, "image.manifest: not base64url of at most 4 MiB");
  }
  for (size_t i = 0; i < json_array_size(arr); i++) {
    json_t *e = json_array_get(arr, i);
    char p[DJ_JPATH_MAX];
    dj_jpath_index(p, "layers", i);
    if (!json_is_object(e))
      return dj_error(err, 0, "%s: expected an object", p);
    struct dj_vlayer_req *l = &out->layers[out->n_layers];
    if (dj_vjson_members(e, p, m, err) < 0 || dj_vjson_name(e, "digest", p, 71, &l->digest, err) < 0 ||
        dj_vjson_name(e, "recipient", p, 1u << 20, &l->recipient, err) < 0)
      return -1;
    out->n_layers++;
  }
  return 0;
}

int dj_vattest_req_parse(json_t *j, struct dj_vattest_req *out, dj_err *err)
{
  static const char *const m[] = { "node_id", "nonce", "evidence", "ephemeral_key", "workload", "keys", "image",
                                   "layers", NULL };
  memset(out, 0, sizeof *out);
  json_t *ev, *jwk, *w;
  size_t nlen = 0;
  int r = -1;
  if (dj_vjson_members(j, "", m, err) < 0 || node_id_member(j, &out->node_id, err) < 0 ||
      dj_vjson_b64(j, "nonce", "", out->nonce, sizeof out->nonce, &nlen, err) < 0)
    goto out;
  if (nlen != 32) {
    dj_error(err, 0, "nonce: %zu bytes, expected 32", nlen);
    goto out;
  }
  if (dj_json_req_object(j, "evidence", "", &ev, err) < 0)
    goto out;
  if (dj_evidence_from_json(ev, &out->ev, err) < 0) {
    dj_err_wrap(err, "evidence");
    goto out;
  }
  if (dj_json_req_object(j, "ephemeral_key", "", &jwk, err) < 0 ||
      dj_jwk_ec_import_thumbprint(jwk, "ephemeral_key", &out->ephemeral, out->thumbprint, err) < 0)
    goto out;
  if (dj_json_req_object(j, "workload", "", &w, err) < 0 || parse_workload(w, out, err) < 0 ||
      parse_keys(j, out, err) < 0 || parse_layers(j, out, err) < 0)
    goto out;
  r = 0;
out:
  if (r < 0)
    dj_vattest_req_free(out);
  return r;
}

void dj_vattest_req_free(struct dj_vattest_req *r)
{
  dj_evidence_free(&r->ev);
  EVP_PKEY_free(r->ephemeral);
  free(r->image_manifest);
  r->ephemeral = NULL;
  r->image_manifest = NULL;
}
