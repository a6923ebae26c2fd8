#include "attest/evidence.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "attest/codes.h"
#include "attest/mlog.h"
#include "attest/tpmstruct.h"
#include "common/json.h"
#include "common/util.h"

/* base64url without padding, through OpenSSL's base64 and an alphabet swap. */
static char *b64url(const uint8_t *data, size_t len)
{
  char *out = dj_xmalloc(4 * ((len + 2) / 3) + 1);
  int n = EVP_EncodeBlock((unsigned char *) out, data, (int) len);
  while (n > 0 && out[n - 1] == '=')
    n--;
  out[n] = '\0';
  for (int i = 0; i < n; i++)
    out[i] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
  return out;
}

static int unb64url(const char *s, uint8_t *out, size_t max, size_t *len)
{
  size_t n = strlen(s);
  if (n % 4 == 1 || n > 4 * ((max + 2) / 3))
    return -1;
  char *buf = dj_xmalloc(n + 4);
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '+' || c == '/' || c == '=')
      goto bad; /* only the url alphabet, and no padding */
    buf[i] = c == '-' ? '+' : c == '_' ? '/' : c;
  }
  size_t pad = (4 - n % 4) % 4;
  memset(buf + n, '=', pad);
  uint8_t *tmp = dj_xmalloc((n + pad) / 4 * 3 + 1);
  int r = EVP_DecodeBlock(tmp, (unsigned char *) buf, (int) (n + pad));
  free(buf);
  if (r < 0 || (size_t) r < pad || (size_t) r - pad > max) {
    free(tmp);
    return -1;
  }
  *len = (size_t) r - pad;
  memcpy(out, tmp, *len);
  free(tmp);
  return 0;
bad:
  free(buf);
  return -1;
}

json_t *dj_evidence_to_json(const struct dj_evidence *ev)
{
  uint8_t pub[DJ_TPM_STRUCT_MAX];
  size_t pub_len = 0;
  dj_err err = { 0 };
  if (dj_tpm_marshal_public(&ev->ak, pub, &pub_len, &err) < 0)
    return NULL;
  json_t *pcrs = json_array();
  for (size_t i = 0; i < ev->pcrs.count; i++) {
    const struct dj_pcr_value *v = &ev->pcrs.v[i];
    char *hex = OPENSSL_buf2hexstr(v->digest, v->size);
    if (hex == NULL) {
      json_decref(pcrs);
      return NULL;
    }
    size_t k = 0; /* OpenSSL writes "AB:CD:..": lowercase hex without separators */
    for (size_t m = 0; hex[m]; m++)
      if (hex[m] != ':')
        hex[k++] = (char) (hex[m] >= 'A' && hex[m] <= 'F' ? hex[m] + 32 : hex[m]);
    hex[k] = '\0';
    const char *bank = dj_tpm_hash_name(v->bank);
    json_array_append_new(pcrs, json_pack("{s:s, s:i, s:s}", "bank", bank ? bank : "?", "index", v->index, "digest", hex));
    OPENSSL_free(hex);
  }
  _cleanup_free_ char *a = b64url(pub, pub_len), *q = b64url(ev->msg, ev->msg_len), *s = b64url(ev->sig, ev->sig_len);
  return json_pack("{s:s, s:s, s:s, s:o, s:s%}", "ak_public", a, "quote", q, "signature", s, "pcrs", pcrs, "log",
                   ev->log ? ev->log : "", ev->log ? ev->log_len : (size_t) 0);
}

static int get_b64(json_t *j, const char *key, uint8_t *out, size_t max, size_t *len, dj_err *err)
{
  const char *s;
  if (dj_json_req_string(j, key, "evidence", &s, err) < 0)
    return -1;
  if (unb64url(s, out, max, len) < 0)
    return dj_error(err, 0, "evidence.%s: not base64url of at most %zu bytes", key, max);
  return 0;
}

static int pcr_from_json(json_t *item, const char *path, struct dj_pcr_value *v, dj_err *err)
{
  const char *key;
  json_t *val;
  if (!json_is_object(item))
    return dj_error(err, 0, "%s: expected an object, got %s", path, dj_json_type_name(item));
  json_object_foreach(item, key, val) {
    if (strcmp(key, "bank") != 0 && strcmp(key, "index") != 0 && strcmp(key, "digest") != 0)
      return dj_error(err, 0, "%s.%s: unknown member", path, key);
  }
  const char *bank, *hex;
  int64_t index = -1;
  if (dj_json_req_string(item, "bank", path, &bank, err) < 0 || dj_json_req_string(item, "digest", path, &hex, err) < 0)
    return -1;
  int r = dj_json_opt_int64(item, "index", path, 0, DJ_PCR_COUNT - 1, &index, err);
  if (r <= 0)
    return r < 0 ? -1 : dj_error(err, 0, "%s.index: missing", path);
  v->bank = dj_tpm_hash_from_name(bank);
  const EVP_MD *md = dj_tpm_md(v->bank);
  if (md == NULL)
    return dj_error(err, 0, "%s.bank: unknown bank \"%s\"", path, bank);
  size_t size = (size_t) EVP_MD_get_size(md);
  if (strlen(hex) != 2 * size || OPENSSL_hexstr2buf_ex(v->digest, sizeof v->digest, NULL, hex, '\0') != 1)
    return dj_error(err, 0, "%s.digest: not %zu bytes of hex", path, size);
  v->index = (uint8_t) index;
  v->size = (uint16_t) size;
  return 0;
}

int dj_evidence_from_json(json_t *j, struct dj_evidence *ev, dj_err *err)
{
  memset(ev, 0, sizeof *ev);
  if (!json_is_object(j))
    return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "evidence: expected an object");
  const char *key;
  json_t *val;
  json_object_foreach(j, key, val) {
    if (strcmp(key, "ak_public") != 0 && strcmp(key, "quote") != 0 && strcmp(key, "signature") != 0 &&
        strcmp(key, "pcrs") != 0 && strcmp(key, "log") != 0)
      return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "evidence.%s: unknown member", key);
  }
  uint8_t pub[DJ_TPM_STRUCT_MAX];
  size_t pub_len = 0;
  json_t *pcrs;
  const char *log;
  int r = get_b64(j, "ak_public", pub, sizeof pub, &pub_len, err);
  if (r == 0)
    r = dj_tpm_unmarshal_public(pub, pub_len, &ev->ak, err);
  if (r == 0)
    r = get_b64(j, "quote", ev->msg, sizeof ev->msg, &ev->msg_len, err);
  if (r == 0)
    r = get_b64(j, "signature", ev->sig, sizeof ev->sig, &ev->sig_len, err);
  if (r == 0)
    r = dj_json_req_array(j, "pcrs", "evidence", &pcrs, err) < 0 ? -1 : 0; /* 1 means present */
  if (r == 0 && json_array_size(pcrs) > DJ_PCR_VALUES_MAX)
    r = dj_error(err, 0, "evidence.pcrs: more than %d values", DJ_PCR_VALUES_MAX);
  for (size_t i = 0; r == 0 && i < json_array_size(pcrs); i++) {
    char path[DJ_JPATH_MAX];
    dj_jpath_index(path, "evidence.pcrs", i);
    r = pcr_from_json(json_array_get(pcrs, i), path, &ev->pcrs.v[ev->pcrs.count++], err);
  }
  if (r == 0)
    r = dj_json_req_string(j, "log", "evidence", &log, err) < 0 ? -1 : 0;
  if (r == 0 && json_string_length(json_object_get(j, "log")) > DJ_MLOG_MAX_BYTES)
    r = dj_error(err, 0, "evidence.log: more than %u bytes", DJ_MLOG_MAX_BYTES);
  if (r < 0) {
    err->code = DJ_ATTEST_E_MALFORMED;
    return -1;
  }
  ev->log_len = json_string_length(json_object_get(j, "log"));
  ev->log = dj_xmalloc(ev->log_len + 1);
  memcpy(ev->log, log, ev->log_len);
  ev->log[ev->log_len] = '\0';
  return 0;
}
