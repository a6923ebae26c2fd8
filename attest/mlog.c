#include "attest/mlog.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "attest/codes.h"
#include "attest/tpmstruct.h"
#include "common/json.h"
#include "common/util.h"

void dj_mlog_free(struct dj_mlog *log)
{
  for (size_t i = 0; i < log->count; i++)
    free(log->e[i].event);
  free(log->e);
  log->e = NULL;
  log->count = 0;
}

static int parse_line(const char *line, size_t len, size_t lineno, struct dj_mlog_entry *out, dj_err *err)
{
  _cleanup_json_ json_t *j = NULL;
  char path[32];
  snprintf(path, sizeof path, "line %zu", lineno);
  if (dj_json_load_buf(line, len, &j, err) < 0)
    return dj_err_wrap(err, "%s", path);
  const char *key;
  json_t *val;
  json_object_foreach(j, key, val) {
    if (strcmp(key, "seq") != 0 && strcmp(key, "pcr") != 0 && strcmp(key, "type") != 0 && strcmp(key, "event") != 0)
      return dj_error(err, 0, "%s.%s: unknown member", path, key);
  }
  uint64_t seq = 0;
  int64_t pcr = 0;
  const char *type = NULL;
  json_t *event = NULL;
  int r = dj_json_opt_uint64(j, "seq", path, INT64_MAX, &seq, err);
  if (r <= 0)
    return r < 0 ? -1 : dj_error(err, 0, "%s.seq: missing", path);
  r = dj_json_opt_int64(j, "pcr", path, 0, DJ_PCR_COUNT - 1, &pcr, err);
  if (r <= 0)
    return r < 0 ? -1 : dj_error(err, 0, "%s.pcr: missing", path);
  if (dj_json_req_string(j, "type", path, &type, err) < 0 || dj_json_opt_object(j, "event", path, &event, err) < 0)
    return -1;
  out->seq = seq;
  out->pcr = (unsigned) pcr;
  if (strcmp(type, "reset") == 0) {
    if (event != NULL)
      return dj_error(err, 0, "%s.event: a reset carries no event", path);
    out->reset = true;
  } else if (strcmp(type, "measurement") == 0) {
    if (event == NULL)
      return dj_error(err, 0, "%s.event: missing", path);
    out->event = dj_json_canonical(event);
    if (out->event == NULL)
      return dj_error(err, 0, "%s.event: cannot serialise", path);
  } else {
    return dj_error(err, 0, "%s.type: unknown type \"%s\" (measurement or reset)", path, type);
  }
  return 0;
}

int dj_mlog_parse(const char *buf, size_t len, struct dj_mlog *out, dj_err *err)
{
  memset(out, 0, sizeof *out);
  if (len > DJ_MLOG_MAX_BYTES)
    return dj_error_code(err, DJ_ATTEST_E_LOG_FORMAT, "measurement log: %zu bytes, more than %u", len, DJ_MLOG_MAX_BYTES);
  if (len > 0 && buf[len - 1] != '\n')
    return dj_error_code(err, DJ_ATTEST_E_LOG_FORMAT, "measurement log: the last line is not complete");
  size_t pos = 0, lineno = 0, cap = 0;
  while (pos < len) {
    lineno++;
    const char *nl = memchr(buf + pos, '\n', len - pos);
    size_t llen = (size_t) (nl - (buf + pos));
    if (llen > DJ_MLOG_MAX_LINE || out->count >= DJ_MLOG_MAX_EVENTS) {
      dj_mlog_free(out);
      return dj_error_code(err, DJ_ATTEST_E_LOG_FORMAT, "measurement log: line %zu: too long or too many events",
                           lineno);
    }
    if (out->count == cap) {
      cap = cap ? cap * 2 : 16;
      out->e = dj_xrealloc(out->e, cap * sizeof *out->e);
    }
    struct dj_mlog_entry *e = &out->e[out->count];
    memset(e, 0, sizeof *e);
    if (parse_line(buf + pos, llen, lineno, e, err) < 0) {
      free(e->event);
      dj_mlog_free(out);
      err->code = DJ_ATTEST_E_LOG_FORMAT;
      return dj_err_wrap(err, "measurement log");
    }
    out->count++;
    if (e->seq != out->count - 1) {
      unsigned long long seq = (unsigned long long) e->seq;
      dj_mlog_free(out);
      return dj_error_code(err, DJ_ATTEST_E_LOG_FORMAT, "measurement log: line %zu: seq %llu, expected %zu", lineno,
                           seq, lineno - 1);
    }
    pos += llen + 1;
  }
  return 0;
}

int dj_mlog_event_digest(const char *canonical_event, TPMI_ALG_HASH bank, uint8_t *out, size_t *len, dj_err *err)
{
  const EVP_MD *md = dj_tpm_md(bank);
  unsigned int n = 0;
  if (md == NULL)
    return dj_error(err, 0, "measurement: unsupported bank 0x%04x", bank);
  if (!EVP_Digest(canonical_event, strlen(canonical_event), out, &n, md, NULL))
    return dj_error(err, 0, "measurement: digest failed");
  *len = n;
  return 0;
}

int dj_mlog_replay(const struct dj_mlog *log, unsigned pcr, TPMI_ALG_HASH bank, uint8_t *out, size_t *len, dj_err *err)
{
  const EVP_MD *md = dj_tpm_md(bank);
  if (md == NULL)
    return dj_error(err, 0, "replay: unsupported bank 0x%04x", bank);
  size_t size = (size_t) EVP_MD_get_size(md);
  uint8_t buf[2 * EVP_MAX_MD_SIZE];
  memset(out, 0, size);
  for (size_t i = 0; i < log->count; i++) {
    const struct dj_mlog_entry *e = &log->e[i];
    if (e->pcr != pcr)
      continue;
    if (e->reset) {
      memset(out, 0, size);
      continue;
    }
    size_t dlen;
    memcpy(buf, out, size);
    if (dj_mlog_event_digest(e->event, bank, buf + size, &dlen, err) < 0)
      return dj_err_wrap(err, "replay: event %zu", i);
    unsigned int n = 0; /* PCR_Extend: new = H(old || digest) */
    if (!EVP_Digest(buf, 2 * size, out, &n, md, NULL))
      return dj_error(err, 0, "replay: digest failed");
  }
  *len = size;
  return 0;
}

int dj_mlog_check(const struct dj_mlog *log, const struct dj_pcr_value *quoted, dj_err *err)
{
  uint8_t want[EVP_MAX_MD_SIZE];
  size_t len = 0;
  if (dj_mlog_replay(log, quoted->index, quoted->bank, want, &len, err) < 0)
    return -1;
  if (len != quoted->size || CRYPTO_memcmp(want, quoted->digest, len) != 0)
    return dj_error_code(err, DJ_ATTEST_E_LOG_REPLAY, "measurement log: %zu events do not replay to PCR %s:%u",
                         log->count, dj_tpm_hash_name(quoted->bank), quoted->index);
  return 0;
}

char *dj_mlog_line(uint64_t seq, unsigned pcr, const json_t *event)
{
  _cleanup_json_ json_t *j = json_pack("{s:I, s:i, s:s}", "seq", (json_int_t) seq, "pcr", (int) pcr, "type",
                                       event ? "measurement" : "reset");
  if (j == NULL)
    return NULL;
  if (event != NULL && json_object_set(j, "event", (json_t *) event) < 0)
    return NULL;
  char *s = dj_json_canonical(j);
  if (s == NULL)
    return NULL;
  char *line = dj_xasprintf("%s\n", s);
  free(s);
  return line;
}

void dj_binding_hash(const uint8_t nonce[32], const uint8_t key_thumbprint[32], const uint8_t workload[32],
                     uint8_t out[32])
{
  uint8_t buf[sizeof DJ_BINDING_LABEL - 1 + 96];
  memcpy(buf, DJ_BINDING_LABEL, sizeof DJ_BINDING_LABEL - 1);
  memcpy(buf + sizeof DJ_BINDING_LABEL - 1, nonce, 32);
  memcpy(buf + sizeof DJ_BINDING_LABEL - 1 + 32, key_thumbprint, 32);
  memcpy(buf + sizeof DJ_BINDING_LABEL - 1 + 64, workload, 32);
  SHA256(buf, sizeof buf, out);
}

int dj_workload_digest(const char *manifest, const char *config, const char *profile, uint8_t out[32], dj_err *err)
{
  _cleanup_json_ json_t *j = json_pack("{s:s, s:s, s:s}", "manifest", manifest, "config", config, "profile", profile);
  if (j == NULL)
    return dj_error(err, 0, "workload digest: manifest, config and profile must be UTF-8 strings");
  _cleanup_free_ char *s = dj_json_canonical(j);
  if (s == NULL)
    return dj_error(err, 0, "workload digest: cannot serialise");
  SHA256((const uint8_t *) s, strlen(s), out);
  return 0;
}
