/* The API's request parsers and the configuration are strict: unknown members, wrong types, bad
 * encodings and sizes are refused with the JSON path; the workload digest is the canonical one. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_mu.h>
#include <unistd.h>

#include "attest/mlog.h"
#include "common/json.h"
#include "images/b64.h"
#include "verifier/config.h"
#include "verifier/requests.h"

static json_t *doc(const char *text)
{
  json_t *j = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_json_load_buf(text, strlen(text), &j, &err), 0, "%s", err.msg);
  return j;
}

#define NODE "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

Test(requests, challenge)
{
  dj_err err = { 0 };
  const char *id;
  json_t *j = doc("{\"node_id\": \"" NODE "\"}");
  cr_assert_eq(dj_vchallenge_req_parse(j, &id, &err), 0, "%s", err.msg);
  cr_assert_str_eq(id, NODE);
  json_decref(j);
  static const char *const bad[][2] = {
    { "{}", "node_id: missing" },
    { "{\"node_id\": 1}", "node_id: expected a string, got integer" },
    { "{\"node_id\": \"ABC\"}", "node_id: expected 64 lower-case hex digits" },
    { "{\"node_id\": \"" NODE "\", \"x\": 1}", "x: unknown member" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    j = doc(bad[i][0]);
    cr_assert_eq(dj_vchallenge_req_parse(j, &id, &err), -1, "%s", bad[i][0]);
    cr_assert_str_eq(err.msg, bad[i][1]);
    json_decref(j);
  }
}

Test(requests, keys_inventory_approve)
{
  dj_err err = { 0 };
  struct dj_vkey_req k;
  json_t *j = doc("{\"kind\": \"secret\", \"value\": \"aGk\"}");
  cr_assert_eq(dj_vkey_req_parse(j, &k, &err), 0, "%s", err.msg);
  cr_assert_eq(k.value_len, 2);
  json_decref(j);
  j = doc("{\"kind\": \"secret\", \"value\": \"aGk=\"}");
  cr_assert_eq(dj_vkey_req_parse(j, &k, &err), -1);
  cr_assert_str_eq(err.msg, "value: not base64url (no padding) of at most 4096 bytes");
  json_decref(j);
  j = doc("{\"kind\": \"kek\", \"value\": \"aGk\"}");
  cr_assert_eq(dj_vkey_req_parse(j, &k, &err), -1);
  cr_assert_str_eq(err.msg, "value: only for kind \"secret\"");
  json_decref(j);
  j = doc("{\"kind\": \"RSA1_5\"}");
  cr_assert_eq(dj_vkey_req_parse(j, &k, &err), -1);
  json_decref(j);

  struct dj_vinventory *e;
  size_t n;
  j = doc("{\"entries\": [{\"ek_digest\": \"sha256:" NODE "\", \"site\": \"S\", \"jurisdiction\": \"FR\","
          " \"hardware_class\": \"c\"}]}");
  cr_assert_eq(dj_vinventory_req_parse(j, &e, &n, &err), 0, "%s", err.msg);
  cr_assert_eq(n, 1);
  cr_assert_str_eq(e[0].ek_digest, NODE);
  free(e);
  json_decref(j);
  j = doc("{\"entries\": [{\"ek_digest\": \"" NODE "\", \"site\": \"S\", \"jurisdiction\": \"FR\","
          " \"hardware_class\": \"c\"}]}");
  cr_assert_eq(dj_vinventory_req_parse(j, &e, &n, &err), -1);
  cr_assert_not_null(strstr(err.msg, "entries[0].ek_digest"), "%s", err.msg);
  json_decref(j);

  struct dj_vapprove_req a;
  j = doc("{\"rotation\": true, \"site\": \"S\"}");
  cr_assert_eq(dj_vapprove_req_parse(j, &a, &err), -1);
  json_decref(j);
  j = doc("{\"site\": \"S\", \"jurisdiction\": \"FR\"}");
  cr_assert_eq(dj_vapprove_req_parse(j, &a, &err), -1);
  cr_assert_str_eq(err.msg, "hardware_class: missing");
  json_decref(j);
}

Test(requests, attest_form)
{
  dj_err err = { 0 };
  struct dj_vattest_req r;
  json_t *j = doc("{\"node_id\": \"" NODE "\", \"nonce\": \"AAAA\"}");
  cr_assert_eq(dj_vattest_req_parse(j, &r, &err), -1);
  cr_assert_str_eq(err.msg, "nonce: 3 bytes, expected 32");
  json_decref(j);
  j = doc("{\"node_id\": \"" NODE "\", \"nonce\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\","
          " \"evidence\": {\"quote\": 1}}");
  cr_assert_eq(dj_vattest_req_parse(j, &r, &err), -1);
  cr_assert_not_null(strstr(err.msg, "evidence"), "%s", err.msg);
  json_decref(j);
}

Test(requests, workload_digest_is_canonical)
{
  dj_err err = { 0 };
  json_t *a = doc("{\"process\": {\"args\": [\"/bin/app\"]}, \"root\": {\"path\": \"rootfs\"}}");
  json_t *b = doc("{\"root\": {\"path\": \"rootfs\"},   \"process\": {\"args\": [\"/bin/app\"]}}");
  char ca[72], cb[72];
  uint8_t da[32], db[32], want[32];
  cr_assert_eq(dj_vworkload_digest("sha256:aa", "confidential", a, ca, da, &err), 0);
  cr_assert_eq(dj_vworkload_digest("sha256:aa", "confidential", b, cb, db, &err), 0);
  cr_assert_str_eq(ca, cb);
  cr_assert_eq(memcmp(da, db, 32), 0);
  cr_assert_eq(dj_workload_digest("sha256:aa", ca, "confidential", want, &err), 0);
  cr_assert_eq(memcmp(da, want, 32), 0);
  /* sha256 of {"process":{"args":["/bin/app"]},"root":{"path":"rootfs"}} */
  json_decref(a);
  json_decref(b);
}

Test(requests, config_is_strict)
{
  char path[] = "/tmp/dj-vconfig-XXXXXX";
  int fd = mkstemp(path);
  const char *text = "{\"listen\": \"127.0.0.1:8443\", \"tls\": {\"certificate\": \"/c\", \"key\": \"/k\", "
                     "\"client_ca\": \"/ca\"}, \"database\": \"/db\", \"master_key\": \"/m\", \"audit_key\": \"/a\", "
                     "\"limits\": {\"max_bodyy\": 5}}";
  cr_assert_eq(write(fd, text, strlen(text)), (ssize_t) strlen(text));
  close(fd);
  struct dj_vconfig cfg;
  dj_err err = { 0 };
  cr_assert_eq(dj_vconfig_load(path, &cfg, &err), -1);
  cr_assert_not_null(strstr(err.msg, "limits.max_bodyy: unknown member"), "%s", err.msg);
  fd = open(path, O_WRONLY | O_TRUNC);
  text = "{\"listen\": \"127.0.0.1:8443\", \"tls\": {\"certificate\": \"/c\", \"key\": \"/k\", \"client_ca\": \"/ca\"},"
         " \"database\": \"/db\", \"master_key\": \"/m\", \"audit_key\": \"/a\", \"pcr_selection\": \"sha256:0,1\"}";
  cr_assert_eq(write(fd, text, strlen(text)), (ssize_t) strlen(text));
  close(fd);
  cr_assert_eq(dj_vconfig_load(path, &cfg, &err), -1);
  cr_assert_not_null(strstr(err.msg, "does not select the workload PCR"), "%s", err.msg);
  unlink(path);
}

/* The credential a node receives: exactly one structure in each member, nothing after it. */
static char *b64_of_struct(const uint8_t *b, size_t n, bool extra)
{
  uint8_t buf[1024];
  memcpy(buf, b, n);
  buf[n] = 0xAA;
  return dj_b64url_encode(buf, n + (extra ? 1 : 0));
}

Test(requests, credential)
{
  TPM2B_ID_OBJECT blob = { .size = 4, .credential = { 1, 2, 3, 4 } };
  TPM2B_ENCRYPTED_SECRET seed = { .size = 3, .secret = { 5, 6, 7 } };
  uint8_t mb[sizeof blob], ms[sizeof seed];
  size_t nb = 0, ns = 0;
  cr_assert_eq(Tss2_MU_TPM2B_ID_OBJECT_Marshal(&blob, mb, sizeof mb, &nb), 0);
  cr_assert_eq(Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(&seed, ms, sizeof ms, &ns), 0);
  for (int trailing = 0; trailing < 3; trailing++) {
    char *b = b64_of_struct(mb, nb, trailing == 1), *s = b64_of_struct(ms, ns, trailing == 2);
    json_t *ch = json_pack("{s:s, s:s, s:s}", "id", "c0ffee", "credential_blob", b, "encrypted_secret", s);
    const char *id = NULL;
    TPM2B_ID_OBJECT gb;
    TPM2B_ENCRYPTED_SECRET gs;
    dj_err err = { 0 };
    int r = dj_vcredential_parse(ch, &id, &gb, &gs, &err);
    if (trailing == 0) {
      cr_assert_eq(r, 0, "%s", err.msg);
      cr_assert_str_eq(id, "c0ffee");
      cr_assert_eq(gb.size, 4);
      cr_assert_eq(memcmp(gb.credential, blob.credential, 4), 0);
      cr_assert_eq(gs.size, 3);
    } else {
      cr_assert_lt(r, 0);
      cr_assert_not_null(strstr(err.msg, trailing == 1 ? "challenge.credential_blob: not one TPM2B_ID_OBJECT"
                                                        : "challenge.encrypted_secret: not one"),
                         "%s", err.msg);
    }
    json_decref(ch);
    free(b);
    free(s);
  }
  dj_err err = { 0 };
  const char *id;
  TPM2B_ID_OBJECT gb;
  TPM2B_ENCRYPTED_SECRET gs;
  json_t *ch = json_pack("{s:s}", "id", "x");
  cr_assert_lt(dj_vcredential_parse(ch, &id, &gb, &gs, &err), 0);
  cr_assert_not_null(strstr(err.msg, "credential_blob"), "%s", err.msg);
  json_decref(ch);
}
