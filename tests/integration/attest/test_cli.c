/* donjon tpm against swtpm, and tpm2-tools 5.4 interop both ways: tpm2_checkquote accepts
 * donjon's quote directory, donjon accepts tpm2_quote's. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "swtpm.h"

static struct swtpm sw;
static char out[1 << 16];

static void setup(void)
{
  swtpm_create(&sw);
  swtpm_start(&sw);
}

static void teardown(void)
{
  swtpm_destroy(&sw);
}

TestSuite(cli, .init = setup, .fini = teardown, .timeout = 300);

/* Run a shell command line with the TPM set for donjon and tpm2-tools; stdout+stderr in out. */
__attribute__((format(printf, 1, 2))) static int sh(const char *fmt, ...)
{
  char cmd[8192], full[20000];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  const char *agent = getenv("DONJON_AGENT");
  cr_assert_not_null(agent, "DONJON_AGENT is not set");
  snprintf(full, sizeof full, "cd %s && export DONJON_TPM='%s' TPM2TOOLS_TCTI='%s' A='%s' S='%s/node' && { %s; } 2>&1", sw.dir, sw.tcti,
           sw.tcti, agent, sw.dir, cmd);
  FILE *p = popen(full, "r");
  cr_assert_not_null(p);
  size_t n = fread(out, 1, sizeof out - 1, p);
  out[n] = '\0';
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

Test(cli, info_lists_the_ek_certificates)
{
  cr_assert_eq(sh("$A tpm info --json"), 0, "%s", out);
  json_error_t e;
  json_t *j = json_loads(out, 0, &e);
  cr_assert_not_null(j, "%s: %s", e.text, out);
  cr_assert_eq(json_array_size(json_object_get(j, "ek_certificates")), 2, "%s", out);
  cr_assert_str_eq(json_string_value(json_object_get(j, "manufacturer")), "IBM");
  for (size_t i = 0; i < 2; i++)
    cr_assert(json_is_true(json_object_get(json_array_get(json_object_get(j, "ek_certificates"), i), "ek_matches")),
              "%s", out);
  json_decref(j);
}

Test(cli, donjon_quote_checked_by_tpm2_checkquote_and_donjon)
{
  cr_assert_eq(sh("$A tpm extend --state-dir $S --event '{\"workload\":\"sha256:aa\"}'"), 0, "%s", out);
  cr_assert_eq(sh("$A tpm quote --state-dir $S --nonce 00112233 --pcrs sha256:0,1,2,3,4,5,6,7,8,9,23 --out q"), 0, "%s",
               out);
  cr_assert_eq(sh("tpm2_checkquote -u q/ak.pub.pem -m q/quote.msg -s q/quote.sig -f q/quote.pcrs -g sha256 "
                  "-q 00112233"),
               0, "tpm2_checkquote refused donjon's quote: %s", out);
  cr_assert_eq(sh("$A tpm check-quote --ak q/ak.pub.pem --nonce 00112233 --dir q"), 0, "%s", out);
  cr_assert(strstr(out, "quote OK") != NULL, "%s", out);
  cr_assert_eq(sh("test \"$(wc -l < q/mlog.jsonl)\" = 1"), 0, "the measurement log comes with the quote");
  cr_assert_eq(sh("grep -q '\"quote\":' q/evidence.json"), 0, "the evidence as JSON comes with the quote");
  /* one thing changed each time, and the failed check is named */
  cr_assert_eq(sh("$A tpm check-quote --ak q/ak.pub.pem --nonce 00112234 --dir q"), 1, "%s", out);
  cr_assert(strstr(out, "extra-data") != NULL, "%s", out);
  cr_assert_eq(sh("$A tpm check-quote --ak q/ak.pub.pem --nonce 00112233 --dir q --pcrs sha256:0,1,2,3,4,5,6,7,8,9"), 1);
  cr_assert(strstr(out, "pcr-selection") != NULL, "%s", out);
  cr_assert_eq(sh("printf '\\001' | dd of=q/quote.sig bs=1 seek=100 conv=notrunc status=none && "
                  "$A tpm check-quote --ak q/ak.pub.pem --nonce 00112233 --dir q"),
               1, "%s", out);
  cr_assert(strstr(out, "signature") != NULL, "%s", out);
}

Test(cli, check_quote_replays_the_log)
{
  cr_assert_eq(sh("$A tpm extend --state-dir $S --event '{\"workload\":\"sha256:aa\"}'"), 0, "%s", out);
  cr_assert_eq(sh("$A tpm extend --state-dir $S --event '{\"workload\":\"sha256:bb\"}'"), 0, "%s", out);
  cr_assert_eq(sh("$A tpm quote --state-dir $S --nonce 01 --pcrs sha256:0,23 --out q"), 0, "%s", out);
  cr_assert_eq(sh("$A tpm check-quote --ak q/ak.pub.pem --nonce 01 --dir q"), 0, "%s", out);
  /* one thing changed: the log without its last event */
  cr_assert_eq(sh("sed -i '$d' q/mlog.jsonl && $A tpm check-quote --ak q/ak.pub.pem --nonce 01 --dir q"), 1, "%s", out);
  cr_assert(strstr(out, "log-replay") != NULL, "%s", out);
}

Test(cli, ecc_ak_quote_checked_by_tpm2_checkquote)
{
  cr_assert_eq(sh("$A tpm quote --state-dir $S --ak ecc-p256 --nonce aabb --pcrs sha256:0,23 --out q"), 0, "%s", out);
  cr_assert_eq(sh("tpm2_checkquote -u q/ak.pub.pem -m q/quote.msg -s q/quote.sig -f q/quote.pcrs -g sha256 -q aabb"), 0,
               "%s", out);
  cr_assert_eq(sh("$A tpm check-quote --ak q/ak.pub.pem --nonce aabb --dir q"), 0, "%s", out);
}

Test(cli, tpm2_quote_checked_by_donjon)
{
  /* donjon provisions the AK at its persistent handle; tpm2-tools quotes with it */
  cr_assert_eq(sh("$A tpm quote --state-dir $S --nonce 00 --pcrs sha256:0 --out q0"), 0, "%s", out);
  cr_assert_eq(sh("tpm2_readpublic -c 0x81010002 -f pem -o ak.pem >/dev/null && mkdir -p t && "
                  "tpm2_quote -c 0x81010002 -l sha256:0,1,2,3,4,5,6,7,8,9,10,23 -q 0102030405 -m t/quote.msg "
                  "-s t/quote.sig -o t/quote.pcrs -g sha256 >/dev/null"),
               0, "%s", out);
  cr_assert_eq(sh("$A tpm check-quote --ak ak.pem --nonce 0102030405 --dir t"), 0, "donjon refused tpm2_quote's: %s",
               out);
  cr_assert_eq(sh("$A tpm check-quote --ak q0/ak.pub.pem --nonce 0102030405 --dir t"), 0, "%s", out);
  cr_assert_eq(sh("$A tpm check-quote --ak ak.pem --nonce 0102030406 --dir t"), 1, "%s", out);
  cr_assert(strstr(out, "extra-data") != NULL, "%s", out);
  cr_assert_eq(sh("truncate -s -1 t/quote.pcrs && $A tpm check-quote --ak ak.pem --nonce 0102030405 --dir t"), 1);
  cr_assert(strstr(out, "malformed") != NULL, "%s", out);
}

Test(cli, tpm2_quote_with_an_ecc_ak_checked_by_donjon)
{
  /* donjon provisions a P-256 AK at its persistent handle; tpm2-tools quotes with it (ECDSA-SHA256) */
  cr_assert_eq(sh("$A tpm quote --state-dir $S --ak ecc-p256 --nonce 00 --pcrs sha256:0 --out q0"), 0, "%s", out);
  cr_assert_eq(sh("tpm2_readpublic -c 0x81010002 -f pem -o ak.pem >/dev/null && mkdir -p t && "
                  "tpm2_quote -c 0x81010002 -l sha256:0,1,2,3,4,5,6,7,8,9,10,23 -q 0a0b0c0d -m t/quote.msg "
                  "-s t/quote.sig -o t/quote.pcrs -g sha256 >/dev/null"),
               0, "%s", out);
  cr_assert_eq(sh("openssl pkey -pubin -in ak.pem -noout -text | grep -q 'NIST CURVE: P-256'"), 0,
               "the persistent AK is the P-256 one");
  cr_assert_eq(sh("$A tpm check-quote --ak ak.pem --nonce 0a0b0c0d --dir t"), 0, "donjon refused tpm2_quote's: %s",
               out);
  cr_assert(strstr(out, "quote OK") != NULL, "%s", out);
  cr_assert_eq(sh("$A tpm check-quote --ak q0/ak.pub.pem --nonce 0a0b0c0d --dir t"), 0, "%s", out);
  /* one thing changed each time, and the failed check is named */
  cr_assert_eq(sh("$A tpm check-quote --ak ak.pem --nonce 0a0b0c0e --dir t"), 1, "%s", out);
  cr_assert(strstr(out, "extra-data") != NULL, "%s", out);
  cr_assert_eq(sh("printf '\\001' | dd of=t/quote.sig bs=1 seek=20 conv=notrunc status=none && "
                  "$A tpm check-quote --ak ak.pem --nonce 0a0b0c0d --dir t"),
               1, "%s", out);
  cr_assert(strstr(out, "signature") != NULL, "%s", out);
}

static const char *jstr(json_t *o, const char *k)
{
  const char *v = json_string_value(json_object_get(o, k));
  cr_assert_not_null(v, "\"%s\" is not a string", k);
  return v;
}

static json_t *info_json(const char *extra)
{
  cr_assert_eq(sh("$A tpm info --json %s", extra), 0, "%s", out);
  json_error_t e;
  json_t *j = json_loads(out, 0, &e);
  cr_assert_not_null(j, "%s: %s", e.text, out);
  return j;
}

/* The AK's persistent handle is restored from the blobs when it was evicted (as TPM2_Clear does):
 * the next quote is made with the same AK, and tpm2-tools finds it at its handle again. */
Test(cli, an_evicted_ak_handle_is_restored_by_the_next_quote)
{
  cr_assert_eq(sh("$A tpm quote --state-dir $S --nonce 00 --pcrs sha256:0 --out q1"), 0, "%s", out);
  cr_assert_eq(sh("tpm2_evictcontrol -C o -c 0x81010002 >/dev/null && ! tpm2_readpublic -c 0x81010002 >/dev/null 2>&1"), 0,
               "%s", out);
  cr_assert_eq(sh("$A tpm quote --state-dir $S --nonce 01 --pcrs sha256:0 --out q2"), 0, "%s", out);
  cr_assert_eq(sh("cmp q1/ak.pub.pem q2/ak.pub.pem"), 0, "the same AK quoted, from its blobs");
  cr_assert_eq(sh("$A tpm check-quote --ak q1/ak.pub.pem --nonce 01 --dir q2"), 0, "%s", out);
  cr_assert_eq(sh("tpm2_readpublic -c 0x81010002 -f pem -o back.pem >/dev/null && openssl pkey -pubin -in back.pem "
                  "-outform DER -out a.der && openssl pkey -pubin -in q2/ak.pub.pem -outform DER -out b.der && "
                  "cmp a.der b.der"),
               0, "the AK is persistent at 0x81010002 again: %s", out);
  json_t *j = info_json("--state-dir $S");
  cr_assert_str_eq(jstr(j, "ak_handle"), "0x81010002");
  json_decref(j);
}

/* Every field of `tpm info --json`, the AK handle once provisioned at a configured handle, and no
 * handle at all with --ak-handle 0; afterwards the TPM holds no transient object or session. */
Test(cli, info_fields_and_the_configurable_ak_handle)
{
  json_t *j = info_json("");
  cr_assert_str_eq(jstr(j, "manufacturer"), "IBM");
  cr_assert_neq(jstr(j, "vendor")[0], '\0');
  unsigned a, b, c, d;
  char tail;
  cr_assert_eq(sscanf(jstr(j, "firmware_version"), "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail), 4, "%s", out);
  json_t *banks = json_object_get(j, "pcr_banks");
  cr_assert_eq(json_array_size(banks), 1, "swtpm_setup allocated the sha256 bank only: %s", out);
  cr_assert_str_eq(json_string_value(json_array_get(banks, 0)), "sha256");
  json_t *certs = json_object_get(j, "ek_certificates");
  cr_assert_eq(json_array_size(certs), 2, "%s", out);
  const char *kinds[] = { "rsa2048", "ecc-p384" }, *nv[] = { "0x01c00002", "0x01c00016" },
             *types[] = { "RSA-2048", "ECC-P384" };
  for (size_t i = 0; i < 2; i++) {
    json_t *cert = json_array_get(certs, i);
    cr_assert_str_eq(jstr(cert, "kind"), kinds[i]);
    cr_assert_str_eq(jstr(cert, "nv_index"), nv[i]);
    cr_assert_str_eq(jstr(cert, "key_type"), types[i]);
    cr_assert_str_eq(jstr(cert, "issuer"), "/CN=swtpm-localca");
    cr_assert_str_eq(jstr(cert, "subject"), "/CN=unknown");
    cr_assert_str_eq(jstr(cert, "manufacturer"), "id:00001014");
    cr_assert_str_eq(jstr(cert, "model"), "swtpm");
    cr_assert_neq(jstr(cert, "version")[0], '\0');
    cr_assert(json_is_true(json_object_get(cert, "ek_matches")), "%s", out);
  }
  /* ek_digest: SHA-256 of the certificate's public key (DER SubjectPublicKeyInfo), as openssl sees it */
  char ekd[80];
  snprintf(ekd, sizeof ekd, "%s", jstr(json_array_get(certs, 0), "ek_digest"));
  cr_assert_eq(sh("tpm2_nvread -C o -o ek.der 0x01c00002 >/dev/null 2>&1 && openssl x509 -inform DER -in ek.der -pubkey "
                  "-noout | openssl pkey -pubin -outform DER | sha256sum | cut -c1-64"),
               0, "%s", out);
  out[strcspn(out, "\n")] = '\0';
  cr_assert_str_eq(ekd + strlen("sha256:"), out);
  cr_assert_eq(strncmp(ekd, "sha256:", 7), 0, "%s", ekd);
  cr_assert(jstr(json_array_get(certs, 1), "ek_digest")[0] != '\0');
  cr_assert(json_is_null(json_object_get(j, "ak_handle")), "no AK yet: %s", out);
  json_decref(j);

  cr_assert_eq(sh("$A tpm quote --state-dir $S --ak-handle 0x81010005 --nonce 00 --pcrs sha256:0 --out q"), 0, "%s", out);
  j = info_json("--state-dir $S --ak-handle 0x81010005");
  cr_assert_str_eq(jstr(j, "ak_handle"), "0x81010005");
  cr_assert(json_is_false(json_object_get(j, "ak_handle_other")), "%s", out);
  json_decref(j);
  j = info_json("--state-dir $S");
  cr_assert(json_is_null(json_object_get(j, "ak_handle")), "nothing at the default handle: %s", out);
  cr_assert(json_is_false(json_object_get(j, "ak_handle_other")), "%s", out);
  json_decref(j);
  /* one thing changed: the state directory holds no blobs of the key at the handle */
  j = info_json("--state-dir $S/empty --ak-handle 0x81010005");
  cr_assert(json_is_null(json_object_get(j, "ak_handle")), "another state's AK is not reported as donjon's: %s", out);
  cr_assert(json_is_true(json_object_get(j, "ak_handle_other")), "%s", out);
  json_decref(j);
  /* one thing changed: a primary key of the owner, not an AK, at the handle */
  cr_assert_eq(sh("tpm2_createprimary -C o -c p.ctx >/dev/null && tpm2_evictcontrol -C o -c p.ctx 0x81010006 >/dev/null "
                  "&& tpm2_flushcontext -t"),
               0, "%s", out);
  j = info_json("--state-dir $S --ak-handle 0x81010006");
  cr_assert(json_is_null(json_object_get(j, "ak_handle")), "%s", out);
  cr_assert(json_is_true(json_object_get(j, "ak_handle_other")), "%s", out);
  json_decref(j);
  cr_assert_eq(sh("$A tpm info --state-dir $S --ak-handle 0x81010006"), 0, "%s", out);
  cr_assert(strstr(out, "AK handle: none (0x81010006 holds another object)") != NULL, "%s", out);
  cr_assert_eq(sh("tpm2_evictcontrol -C o -c 0x81010006 >/dev/null"), 0, "%s", out);
  cr_assert_eq(sh("tpm2_readpublic -c 0x81010005 -f pem -o ak5.pem >/dev/null && openssl pkey -pubin -in ak5.pem "
                  "-outform DER -out a.der && openssl pkey -pubin -in q/ak.pub.pem -outform DER -out b.der && "
                  "cmp a.der b.der"),
               0, "the persistent AK is the one that quoted: %s", out);
  /* --ak-handle 0: an AK of another kind, made persistent nowhere */
  cr_assert_eq(sh("tpm2_getcap handles-persistent > before"), 0);
  cr_assert_eq(sh("$A tpm quote --state-dir $S/h0 --ak ecc-p256 --ak-handle 0 --nonce 00 --pcrs sha256:0 --out q0"), 0,
               "%s", out);
  cr_assert_eq(sh("tpm2_getcap handles-persistent > after && cmp before after"), 0, "a handle was made: %s", out);
  cr_assert_eq(sh("$A tpm info >/dev/null && test -z \"$(tpm2_getcap handles-transient)\" && "
                  "test -z \"$(tpm2_getcap handles-loaded-session)\" && test -z \"$(tpm2_getcap handles-saved-session)\""),
               0, "the TPM still holds objects or sessions: %s", out);
}

/* Two donjon processes quoting at once (the first provisions the AK): both succeed, each quote
 * checks with its own nonce. The node lock serialises them; swtpm serves one connection at a time. */
Test(cli, two_donjon_processes_quoting_at_once)
{
  cr_assert_eq(sh("$A tpm quote --state-dir $S --nonce 0101 --pcrs sha256:0,1,2,3,4,5,6,7,23 --out q1 & p1=$!; "
                  "$A tpm quote --state-dir $S --nonce 0202 --pcrs sha256:0,1,2,3,4,5,6,7,23 --out q2 & p2=$!; "
                  "wait $p1 && wait $p2"),
               0, "%s", out);
  cr_assert_eq(sh("$A tpm check-quote --ak q1/ak.pub.pem --nonce 0101 --dir q1 && "
                  "$A tpm check-quote --ak q2/ak.pub.pem --nonce 0202 --dir q2 && cmp q1/ak.pub.pem q2/ak.pub.pem"),
               0, "%s", out);
}

/* The TPM is chosen by --tpm, else DONJON_TPM, else device:/dev/tpmrm0. */
Test(cli, tpm_chosen_by_flag_then_environment_then_default)
{
  cr_assert_eq(sh("T=$DONJON_TPM; DONJON_TPM=swtpm:host=127.0.0.1,port=1 $A tpm info --tpm \"$T\" --json"), 0,
               "--tpm wins over DONJON_TPM: %s", out);
  cr_assert_neq(sh("DONJON_TPM=swtpm:host=127.0.0.1,port=1 $A tpm info"), 0);
  cr_assert(strstr(out, "swtpm:host=127.0.0.1,port=1") != NULL, "the error names DONJON_TPM's TCTI: %s", out);
  cr_assert_neq(sh("unset DONJON_TPM; $A tpm info"), 0);
  cr_assert(strstr(out, "device:/dev/tpmrm0") != NULL, "the error names the default TCTI: %s", out);
}
