/* The measurement log: format, replay to a PCR, resets, defects; the binding hash and the
 * workload digest of DESIGN.md §3. */
#include <criterion/criterion.h>
#include <string.h>

#include <openssl/sha.h>

#include "attest/codes.h"
#include "attest/mlog.h"
#include "common/util.h"

static char *make_log(size_t n, bool reset_at_1)
{
  char *log = dj_xstrdup("");
  for (size_t i = 0; i < n; i++) {
    json_t *ev = json_pack("{s:s, s:I}", "workload", "sha256:abcd", "n", (json_int_t) i);
    char *line = dj_mlog_line(i, 23, reset_at_1 && i == 1 ? NULL : ev);
    json_decref(ev);
    char *t = dj_xasprintf("%s%s", log, line);
    free(log);
    free(line);
    log = t;
  }
  return log;
}

/* PCR value after extending by the SHA-256 of each canonical event, written out here. */
static void expected_pcr(size_t n, size_t skip_upto, uint8_t out[32])
{
  memset(out, 0, 32);
  for (size_t i = skip_upto; i < n; i++) {
    char ev[128];
    snprintf(ev, sizeof ev, "{\"n\":%zu,\"workload\":\"sha256:abcd\"}", i);
    uint8_t buf[64];
    memcpy(buf, out, 32);
    SHA256((const uint8_t *) ev, strlen(ev), buf + 32);
    SHA256(buf, 64, out);
  }
}

Test(mlog, replays_to_the_pcr)
{
  _cleanup_free_ char *log = make_log(3, false);
  struct dj_mlog m;
  dj_err err = { 0 };
  cr_assert_eq(dj_mlog_parse(log, strlen(log), &m, &err), 0, "%s", err.msg);
  cr_assert_eq(m.count, 3);
  struct dj_pcr_value q = { .bank = TPM2_ALG_SHA256, .index = 23, .size = 32 };
  expected_pcr(3, 0, q.digest);
  cr_assert_eq(dj_mlog_check(&m, &q, &err), 0, "%s", err.msg);
  q.digest[0] ^= 1;
  cr_assert_eq(dj_mlog_check(&m, &q, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_LOG_REPLAY);
  dj_mlog_free(&m);
}

Test(mlog, a_log_missing_an_event_does_not_replay)
{
  _cleanup_free_ char *log = make_log(3, false);
  char *second = strchr(log, '\n') + 1;
  *second = '\0'; /* keep only event 0 */
  struct dj_mlog m;
  dj_err err = { 0 };
  cr_assert_eq(dj_mlog_parse(log, strlen(log), &m, &err), 0, "%s", err.msg);
  struct dj_pcr_value q = { .bank = TPM2_ALG_SHA256, .index = 23, .size = 32 };
  expected_pcr(3, 0, q.digest);
  cr_assert_eq(dj_mlog_check(&m, &q, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_LOG_REPLAY, "%s", err.msg);
  dj_mlog_free(&m);
}

Test(mlog, reset_restarts_from_zero)
{
  _cleanup_free_ char *log = make_log(4, true);
  struct dj_mlog m;
  dj_err err = { 0 };
  cr_assert_eq(dj_mlog_parse(log, strlen(log), &m, &err), 0, "%s", err.msg);
  cr_assert(m.e[1].reset);
  struct dj_pcr_value q = { .bank = TPM2_ALG_SHA256, .index = 23, .size = 32 };
  expected_pcr(4, 2, q.digest);
  cr_assert_eq(dj_mlog_check(&m, &q, &err), 0, "%s", err.msg);
  dj_mlog_free(&m);
}

Test(mlog, other_pcrs_do_not_count)
{
  const char *log = "{\"event\":{\"a\":1},\"pcr\":16,\"seq\":0,\"type\":\"measurement\"}\n";
  struct dj_mlog m;
  dj_err err = { 0 };
  cr_assert_eq(dj_mlog_parse(log, strlen(log), &m, &err), 0, "%s", err.msg);
  struct dj_pcr_value q = { .bank = TPM2_ALG_SHA256, .index = 23, .size = 32 };
  cr_assert_eq(dj_mlog_check(&m, &q, &err), 0, "%s", err.msg);
  dj_mlog_free(&m);
}

static void expect_format_error(const char *log, const char *needle)
{
  struct dj_mlog m;
  dj_err err = { 0 };
  cr_assert_eq(dj_mlog_parse(log, strlen(log), &m, &err), -1, "accepted: %s", log);
  cr_assert_eq(err.code, DJ_ATTEST_E_LOG_FORMAT, "%s", err.msg);
  cr_assert(strstr(err.msg, needle) != NULL, "\"%s\" lacks \"%s\"", err.msg, needle);
}

Test(mlog, defects)
{
  expect_format_error("{\"pcr\":23,\"seq\":0,\"type\":\"measurement\",\"event\":{}}", "not complete");
  expect_format_error("{\"pcr\":23,\"seq\":1,\"type\":\"reset\"}\n", "seq 1, expected 0");
  expect_format_error("{\"pcr\":23,\"seq\":0,\"type\":\"reset\"}\n{\"pcr\":23,\"seq\":0,\"type\":\"reset\"}\n",
                      "line 2: seq 0, expected 1");
  expect_format_error("{\"pcr\":24,\"seq\":0,\"type\":\"reset\"}\n", "line 1.pcr");
  expect_format_error("{\"seq\":0,\"type\":\"reset\"}\n", "line 1.pcr: missing");
  expect_format_error("{\"pcr\":23,\"seq\":0,\"type\":\"boom\"}\n", "unknown type");
  expect_format_error("{\"pcr\":23,\"seq\":0,\"type\":\"measurement\"}\n", "line 1.event: missing");
  expect_format_error("{\"pcr\":23,\"seq\":0,\"type\":\"reset\",\"x\":1}\n", "line 1.x: unknown member");
  expect_format_error("{\"pcr\":23,\"seq\":0,\"type\":\"reset\",\"event\":{}}\n", "carries no event");
  expect_format_error("[1]\n", "line 1");
  expect_format_error("not json\n", "line 1");
}

Test(mlog, empty_log_replays_to_zero)
{
  struct dj_mlog m;
  dj_err err = { 0 };
  cr_assert_eq(dj_mlog_parse("", 0, &m, &err), 0);
  struct dj_pcr_value q = { .bank = TPM2_ALG_SHA256, .index = 23, .size = 32 };
  cr_assert_eq(dj_mlog_check(&m, &q, &err), 0, "%s", err.msg);
}

Test(binding, hash_of_fixed_fields)
{
  uint8_t nonce[32], thumb[32], wl[32], got[32], want[32], buf[16 + 96];
  for (int i = 0; i < 32; i++) {
    nonce[i] = (uint8_t) i;
    thumb[i] = (uint8_t) (0x40 + i);
    wl[i] = (uint8_t) (0x80 + i);
  }
  dj_binding_hash(nonce, thumb, wl, got);
  memcpy(buf, "donjon/attest/v1", 16);
  memcpy(buf + 16, nonce, 32);
  memcpy(buf + 48, thumb, 32);
  memcpy(buf + 80, wl, 32);
  SHA256(buf, sizeof buf, want);
  cr_assert_arr_eq(got, want, 32);
  nonce[31] ^= 1;
  dj_binding_hash(nonce, thumb, wl, got);
  cr_assert_arr_neq(got, want, 32);
}

Test(binding, workload_digest_is_canonical_json)
{
  uint8_t got[32], want[32];
  dj_err err = { 0 };
  cr_assert_eq(dj_workload_digest("sha256:aa", "sha256:bb", "confidential", got, &err), 0);
  const char *canon = "{\"config\":\"sha256:bb\",\"manifest\":\"sha256:aa\",\"profile\":\"confidential\"}";
  SHA256((const uint8_t *) canon, strlen(canon), want);
  cr_assert_arr_eq(got, want, 32);
}
