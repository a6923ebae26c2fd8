/* What anyone on the network can reach: challenges, enrolment and activation share a token bucket
 * per source address (another address is not limited by this one's); and TLS: 1.2 and 1.3 are
 * served, 1.0 and 1.1 refused by the protocol version, with the verifier and the clients on no
 * system OpenSSL configuration (Debian's raises the minimum too: the verifier's own setting is
 * what is tested). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vharness.h"

static struct vh v;
static char no_conf[PATH_MAX + 32];

static void setup(void)
{
  vh_create(&v, "\"limits\": {\"challenges_per_address\": 1, \"challenge_burst_per_address\": 3},");
  snprintf(no_conf, sizeof no_conf, "%s/openssl.cnf", v.dir);
  FILE *f = fopen(no_conf, "w");
  cr_assert_not_null(f);
  fclose(f);
  setenv("OPENSSL_CONF", no_conf, 1); /* for serve and for openssl s_client, both started from here */
  vh_start(&v);
}

static void teardown(void)
{
  vh_destroy(&v);
  unsetenv("OPENSSL_CONF");
}

TestSuite(limits, .init = setup, .fini = teardown, .timeout = 120);

static const char *code_of(json_t *resp)
{
  const char *c = json_string_value(json_object_get(json_object_get(resp, "error"), "code"));
  return c ? c : "";
}

/* Up to 12 requests at once: the first ones get their usual answer (ok_status), then 429. */
static void limited(const char *path, json_t *body, long ok_status)
{
  struct dj_vclient *c = vh_client(&v, NULL);
  int ok = 0, refused = 0;
  dj_err err = { 0 };
  for (int i = 0; i < 12 && refused == 0; i++) {
    long st = 0;
    json_t *resp = NULL;
    cr_assert_eq(dj_vclient_request(c, "POST", path, body, &st, &resp, NULL, &err), 0, "%s", err.msg);
    if (st == ok_status)
      ok++;
    else if (st == 429 && strcmp(code_of(resp), "rate-limited") == 0)
      refused++;
    else
      cr_assert_fail("%s: HTTP %ld %s", path, st, code_of(resp));
    json_decref(resp);
  }
  cr_assert_gt(refused, 0, "%s: 12 requests from one address, never limited", path);
  dj_vclient_close(c);
  json_decref(body);
}

/* curl from another loopback address: "STATUS BODY". */
static void curl_from(const char *addr, const char *path, const char *body, char *out, size_t size)
{
  char url[128];
  snprintf(url, sizeof url, "%s%s", v.url, path);
  const char *argv[] = { "curl", "-sS", "--interface", addr, "--cacert", v.ca, "-H", "Content-Type: application/json",
                         "--data-binary", body, "-w", " %{http_code}", url, NULL };
  int st = vh_run(argv, out, size);
  cr_assert_eq(st, 0, "curl: %s", out);
}

Test(limits, challenge_enrol_and_activate_share_a_bucket_per_source_address)
{
  char unknown[65], path[128];
  memset(unknown, 'f', 64);
  unknown[64] = '\0';
  limited("/v1/challenge", json_pack("{s:s}", "node_id", unknown), 404);
  /* the same bucket: the next enrolment and activation from this address are refused before
   * their body is even read (an EK check costs) */
  limited("/v1/nodes", json_object(), 400);
  snprintf(path, sizeof path, "/v1/nodes/%s/activate", unknown);
  limited(path, json_object(), 400);
  /* another source address has its own bucket */
  char out[4096], body[128];
  snprintf(body, sizeof body, "{\"node_id\": \"%s\"}", unknown);
  curl_from("127.0.0.2", "/v1/challenge", body, out, sizeof out);
  cr_assert_not_null(strstr(out, "node-unknown"), "127.0.0.2 was limited by 127.0.0.1's requests: %s", out);
  cr_assert_not_null(strstr(out, " 404"), "%s", out);
}

/* openssl s_client at one protocol version: its exit status, output in out. */
static int s_client(const char *version, char *out, size_t size)
{
  char connect[64];
  snprintf(connect, sizeof connect, "127.0.0.1:%d", v.port);
  const char *argv[] = { "sh", "-c", "openssl s_client -connect \"$1\" \"$2\" -CAfile \"$3\" -cipher 'DEFAULT@SECLEVEL=0'"
                         " </dev/null 2>&1", "sh", connect, version, v.ca, NULL };
  return vh_run(argv, out, size);
}

Test(limits, tls_1_2_and_1_3_served_1_0_and_1_1_refused)
{
  char out[16384];
  cr_assert_eq(s_client("-tls1_2", out, sizeof out), 0, "%s", out);
  cr_assert_not_null(strstr(out, "Protocol  : TLSv1.2"), "%s", out);
  cr_assert_not_null(strstr(out, "Verify return code: 0 (ok)"), "%s", out);
  cr_assert_eq(s_client("-tls1_3", out, sizeof out), 0, "%s", out);
  cr_assert_not_null(strstr(out, "TLSv1.3"), "%s", out);
  const char *old[] = { "-tls1_1", "-tls1" };
  for (size_t i = 0; i < 2; i++) {
    cr_assert_neq(s_client(old[i], out, sizeof out), 0, "%s accepted: %s", old[i], out);
    /* refused for its version (not for want of a cipher, which the verifier's list would also do) */
    cr_assert_not_null(strstr(out, "protocol version"), "%s: %s", old[i], out);
  }
  /* and a request over TLS 1.2 is answered */
  char url[128];
  snprintf(url, sizeof url, "%s/healthz", v.url);
  const char *curl[] = { "curl", "-sS", "--tlsv1.2", "--tls-max", "1.2", "--cacert", v.ca, url, NULL };
  cr_assert_eq(vh_run(curl, out, sizeof out), 0, "%s", out);
  cr_assert_not_null(strstr(out, "\"status\""), "%s", out);
}
