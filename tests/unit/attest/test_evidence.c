/* The evidence JSON codec: round trip and strict refusals with the JSON path named. */
#include <criterion/criterion.h>
#include <string.h>

#include "attest/codes.h"
#include "attest/evidence.h"
#include "common/util.h"
#include "helpers.h"

static struct th_quote q;
static struct dj_evidence ev;

static void setup(void)
{
  th_quote_new(&q, "p256");
  memset(&ev, 0, sizeof ev);
  ev.ak = q.ak;
  memcpy(ev.msg, q.msg, q.msg_len);
  ev.msg_len = q.msg_len;
  memcpy(ev.sig, q.sig, q.sig_len);
  ev.sig_len = q.sig_len;
  ev.pcrs = q.pcrs;
  ev.log = dj_xstrdup("{\"event\":{\"a\":1},\"pcr\":23,\"seq\":0,\"type\":\"measurement\"}\n");
  ev.log_len = strlen(ev.log);
}

static void teardown(void)
{
  dj_evidence_free(&ev);
  th_quote_free(&q);
}

TestSuite(evidence, .init = setup, .fini = teardown);

Test(evidence, round_trip_then_verifies)
{
  json_t *j = dj_evidence_to_json(&ev);
  cr_assert_not_null(j);
  char *text = json_dumps(j, 0);
  cr_assert(strchr(text, '=') == NULL && strchr(text, '+') == NULL, "base64url without padding: %s", text);
  free(text);
  struct dj_evidence back;
  dj_err err = { 0 };
  cr_assert_eq(dj_evidence_from_json(j, &back, &err), 0, "%s", err.msg);
  cr_assert_eq(back.msg_len, ev.msg_len);
  cr_assert_eq(memcmp(back.msg, ev.msg, ev.msg_len), 0);
  cr_assert_eq(memcmp(back.sig, ev.sig, ev.sig_len), 0);
  cr_assert_eq(back.pcrs.count, ev.pcrs.count);
  cr_assert_eq(memcmp(back.pcrs.v, ev.pcrs.v, ev.pcrs.count * sizeof ev.pcrs.v[0]), 0);
  cr_assert_str_eq(back.log, ev.log);
  struct dj_quote_expect ex = { .extra_data = q.extra, .extra_len = 32, .selection = &q.sel, .pcrs = &back.pcrs };
  cr_assert_eq(dj_quote_verify(back.msg, back.msg_len, back.sig, back.sig_len, &back.ak, &ex, NULL, &err), 0, "%s",
               err.msg);
  dj_evidence_free(&back);
  json_decref(j);
}

static void expect_refused(json_t *j, const char *needle)
{
  struct dj_evidence back;
  dj_err err = { 0 };
  cr_assert_eq(dj_evidence_from_json(j, &back, &err), -1, "accepted, expected \"%s\"", needle);
  cr_assert_eq(err.code, DJ_ATTEST_E_MALFORMED);
  cr_assert(strstr(err.msg, needle) != NULL, "\"%s\" lacks \"%s\"", err.msg, needle);
  json_decref(j);
}

Test(evidence, refusals)
{
  json_t *j = dj_evidence_to_json(&ev);
  json_object_set_new(j, "extra", json_true());
  expect_refused(j, "evidence.extra: unknown member");

  j = dj_evidence_to_json(&ev);
  json_object_set_new(j, "quote", json_string("AAAA="));
  expect_refused(j, "evidence.quote: not base64url");

  j = dj_evidence_to_json(&ev);
  json_object_set_new(j, "signature", json_string("ab+/"));
  expect_refused(j, "evidence.signature: not base64url");

  j = dj_evidence_to_json(&ev);
  json_object_del(j, "log");
  expect_refused(j, "evidence.log: missing");

  j = dj_evidence_to_json(&ev);
  json_object_set_new(json_array_get(json_object_get(j, "pcrs"), 2), "digest", json_string("00"));
  expect_refused(j, "evidence.pcrs[2].digest: not 32 bytes of hex");

  j = dj_evidence_to_json(&ev);
  json_object_set_new(json_array_get(json_object_get(j, "pcrs"), 0), "index", json_integer(24));
  expect_refused(j, "evidence.pcrs[0].index");

  j = dj_evidence_to_json(&ev);
  json_object_set_new(json_array_get(json_object_get(j, "pcrs"), 0), "bank", json_string("md5"));
  expect_refused(j, "evidence.pcrs[0].bank: unknown bank");

  j = dj_evidence_to_json(&ev);
  json_object_set_new(j, "ak_public", json_string("AAAA"));
  expect_refused(j, "TPM2B_PUBLIC");
}
