/* attest/ against swtpm: EK certificates from NV, EK re-creation, AK provisioning and restart,
 * software MakeCredential vs the TPM's ActivateCredential for every EK kind, quotes checked by the
 * checking side, the measurement log, and concurrent quoting processes. */
#include <criterion/criterion.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attest/codes.h"
#include "attest/ekcert.h"
#include "attest/enroll.h"
#include "attest/makecred.h"
#include "attest/mlog.h"
#include "attest/node.h"
#include "attest/quote.h"
#include "attest/tpm.h"
#include "attest/tpmstruct.h"
#include "swtpm.h"

static struct swtpm sw;
static struct dj_node node;

static void setup(void)
{
  swtpm_create(&sw);
  swtpm_start(&sw);
  dj_node_defaults(&node);
  node.tcti = sw.tcti;
  node.state_dir = sw.node_dir;
}

static void teardown(void)
{
  swtpm_destroy(&sw);
}

TestSuite(tpm, .init = setup, .fini = teardown, .timeout = 300);

static void open_tpm(struct dj_tpm *tpm)
{
  dj_err err = { 0 };
  cr_assert_eq(dj_tpm_open(sw.tcti, tpm, &err), 0, "%s", err.msg);
}

static void trust_local_ca(struct dj_ek_trust *trust)
{
  dj_err err = { 0 };
  const char *roots[] = { sw.root_ca }, *inter[] = { sw.issuer_ca };
  cr_assert_eq(dj_ek_trust_load(trust, roots, 1, inter, 1, &err), 0, "%s", err.msg);
}

Test(tpm, ek_certificates_chain_and_match_the_recreated_eks)
{
  struct dj_tpm tpm;
  open_tpm(&tpm);
  struct dj_ek_trust trust;
  trust_local_ca(&trust);
  enum dj_ek_kind kinds[] = { DJ_EK_RSA2048, DJ_EK_ECC_P384 };
  for (int i = 0; i < 2; i++) {
    uint8_t der[DJ_EK_CERT_MAX];
    size_t len = 0;
    dj_err err = { 0 };
    cr_assert_eq(dj_tpm_ek_cert_read(&tpm, kinds[i], der, &len, &err), 0, "%s", err.msg);
    X509 *cert = NULL;
    struct dj_ek_claims c;
    cr_assert_eq(dj_ekcert_verify(der, len, &trust, 0, &cert, &c, &err), 0, "%s: %s", dj_ek_kind_name(kinds[i]), err.msg);
    cr_assert_str_eq(c.manufacturer, "id:00001014");
    cr_assert_str_eq(c.model, "swtpm");
    ESYS_TR ek;
    TPM2B_PUBLIC pub;
    cr_assert_eq(dj_tpm_ek_create(&tpm, kinds[i], &ek, &pub, &err), 0, "%s", err.msg);
    dj_tpm_flush(&tpm, &ek);
    cr_assert_eq(dj_ekcert_match_public(cert, &pub.publicArea, &err), 0, "%s: %s", dj_ek_kind_name(kinds[i]), err.msg);
    /* one thing changed: the other EK's key against this certificate */
    ESYS_TR other;
    TPM2B_PUBLIC opub;
    cr_assert_eq(dj_tpm_ek_create(&tpm, kinds[1 - i], &other, &opub, &err), 0, "%s", err.msg);
    dj_tpm_flush(&tpm, &other);
    cr_assert_eq(dj_ekcert_match_public(cert, &opub.publicArea, &err), -1);
    cr_assert_eq(err.code, DJ_ATTEST_E_EK_KEY_MISMATCH, "%s", err.msg);
    X509_free(cert);
  }
  dj_ek_trust_free(&trust);
  dj_tpm_close(&tpm);
}

Test(tpm, no_p256_ek_certificate_is_reported_as_such)
{
  struct dj_tpm tpm;
  open_tpm(&tpm);
  uint8_t der[DJ_EK_CERT_MAX];
  size_t len = 0;
  dj_err err = { 0 };
  cr_assert_eq(dj_tpm_ek_cert_read(&tpm, DJ_EK_ECC_P256, der, &len, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_EK_NO_CERT, "%s", err.msg);
  dj_tpm_close(&tpm);
}

Test(tpm, ek_certificate_checked_against_another_ca)
{
  struct dj_tpm tpm;
  open_tpm(&tpm);
  uint8_t der[DJ_EK_CERT_MAX];
  size_t len = 0;
  dj_err err = { 0 };
  cr_assert_eq(dj_tpm_ek_cert_read(&tpm, DJ_EK_RSA2048, der, &len, &err), 0, "%s", err.msg);
  dj_tpm_close(&tpm);
  /* another swtpm's local CA: same names, other keys */
  struct swtpm other;
  swtpm_create(&other);
  struct dj_ek_trust trust;
  const char *roots[] = { other.root_ca }, *inter[] = { other.issuer_ca };
  cr_assert_eq(dj_ek_trust_load(&trust, roots, 1, inter, 1, &err), 0, "%s", err.msg);
  cr_assert_eq(dj_ekcert_verify(der, len, &trust, 0, NULL, NULL, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_EK_CHAIN, "%s", err.msg);
  dj_ek_trust_free(&trust);
  swtpm_destroy(&other);
}

static void activate_with(enum dj_ek_kind ek_kind, enum dj_ak_kind ak_kind)
{
  node.ek_kind = ek_kind;
  node.ak_kind = ak_kind;
  dj_err err = { 0 };
  struct dj_ak_blobs ak;
  bool created;
  cr_assert_eq(dj_node_ak_ensure(&node, &ak, &created, &err), 0, "%s: %s", dj_ek_kind_name(ek_kind), err.msg);
  cr_assert(created);
  cr_assert_eq(dj_ak_check(&ak.pub, NULL, NULL, &err), 0, "%s", err.msg);
  struct dj_tpm tpm;
  open_tpm(&tpm);
  ESYS_TR ek;
  TPM2B_PUBLIC ekpub;
  cr_assert_eq(dj_tpm_ek_create(&tpm, ek_kind, &ek, &ekpub, &err), 0, "%s", err.msg);
  dj_tpm_flush(&tpm, &ek);
  dj_tpm_close(&tpm);
  TPM2B_NAME name;
  cr_assert_eq(dj_tpm_public_name(&ak.pub.publicArea, &name, &err), 0);
  uint8_t secret[32];
  RAND_bytes(secret, sizeof secret);
  TPM2B_ID_OBJECT blob;
  TPM2B_ENCRYPTED_SECRET seed;
  cr_assert_eq(dj_make_credential(&ekpub.publicArea, &name, secret, sizeof secret, &blob, &seed, &err), 0, "%s", err.msg);
  TPM2B_DIGEST got;
  cr_assert_eq(dj_node_activate(&node, &blob, &seed, &got, &err), 0, "%s: %s", dj_ek_kind_name(ek_kind), err.msg);
  cr_assert_eq(dj_credential_check(secret, sizeof secret, got.buffer, got.size, &err), 0, "%s", err.msg);
  /* one thing changed: a credential made for another AK's name (another AK of this TPM, under the
   * same EK) does not activate: activation is what binds the AK's name (docs/protocol.md §4.3) */
  struct dj_node other = node;
  char other_dir[PATH_MAX + 16];
  snprintf(other_dir, sizeof other_dir, "%s/other", sw.dir);
  other.state_dir = other_dir;
  other.ak_handle = 0;
  struct dj_ak_blobs ak2;
  cr_assert_eq(dj_node_ak_ensure(&other, &ak2, &created, &err), 0, "%s", err.msg);
  TPM2B_NAME name2;
  cr_assert_eq(dj_tpm_public_name(&ak2.pub.publicArea, &name2, &err), 0);
  cr_assert(name2.size != name.size || memcmp(name2.name, name.name, name.size) != 0);
  cr_assert_eq(dj_make_credential(&ekpub.publicArea, &name2, secret, sizeof secret, &blob, &seed, &err), 0);
  cr_assert_eq(dj_node_activate(&node, &blob, &seed, &got, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_CREDENTIAL, "%s", err.msg);
  /* and the node of that other AK activates it */
  cr_assert_eq(dj_node_activate(&other, &blob, &seed, &got, &err), 0, "%s", err.msg);
  cr_assert_eq(dj_credential_check(secret, sizeof secret, got.buffer, got.size, &err), 0, "%s", err.msg);
}

Test(tpm, make_credential_activates_rsa2048_ek)
{
  activate_with(DJ_EK_RSA2048, DJ_AK_RSA2048);
}

Test(tpm, make_credential_activates_p256_ek)
{
  activate_with(DJ_EK_ECC_P256, DJ_AK_ECC_P256);
}

Test(tpm, make_credential_activates_p384_ek)
{
  activate_with(DJ_EK_ECC_P384, DJ_AK_ECC_P256);
}

static void quote_and_check(const TPML_PCR_SELECTION *sel, const struct dj_tpm_counters *last,
                            struct dj_quote_claims *claims, struct dj_evidence *ev)
{
  uint8_t extra[32];
  RAND_bytes(extra, sizeof extra);
  dj_err err = { 0 };
  cr_assert_eq(dj_node_quote(&node, sel, extra, sizeof extra, ev, &err), 0, "%s", err.msg);
  cr_assert_eq(dj_ak_check(&ev->ak, NULL, NULL, &err), 0, "%s", err.msg);
  struct dj_quote_expect ex = { .extra_data = extra, .extra_len = sizeof extra, .selection = sel, .pcrs = &ev->pcrs,
                                .last = last, .clock_tolerance_ms = 1000 };
  cr_assert_eq(dj_quote_verify(ev->msg, ev->msg_len, ev->sig, ev->sig_len, &ev->ak, &ex, claims, &err), 0, "%s",
               err.msg);
}

static void quote_with(enum dj_ak_kind ak_kind)
{
  node.ak_kind = ak_kind;
  TPML_PCR_SELECTION sel;
  dj_err err = { 0 };
  cr_assert_eq(dj_pcr_selection_parse("sha256:0,1,2,3,4,5,6,7,8,9,10,11,12,23", &sel, &err), 0);
  json_t *ev1 = json_pack("{s:s}", "workload", "sha256:0000");
  json_t *ev2 = json_pack("{s:s}", "workload", "sha256:1111");
  uint64_t seq;
  cr_assert_eq(dj_node_extend(&node, ev1, &seq, &err), 0, "%s", err.msg);
  cr_assert_eq(seq, 0);
  cr_assert_eq(dj_node_extend(&node, ev2, &seq, &err), 0, "%s", err.msg);
  cr_assert_eq(seq, 1);
  json_decref(ev1);
  json_decref(ev2);
  struct dj_evidence ev;
  struct dj_quote_claims claims;
  quote_and_check(&sel, NULL, &claims, &ev);
  cr_assert_eq(ev.pcrs.count, 14, "more than 8 PCRs are read in several calls");
  struct dj_mlog m;
  cr_assert_eq(dj_mlog_parse(ev.log, ev.log_len, &m, &err), 0, "%s", err.msg);
  cr_assert_eq(m.count, 2);
  const struct dj_pcr_value *p23 = dj_pcr_values_find(&ev.pcrs, TPM2_ALG_SHA256, 23);
  cr_assert_eq(dj_mlog_check(&m, p23, &err), 0, "%s", err.msg);
  /* one thing changed: the log without its last event */
  m.count = 1;
  cr_assert_eq(dj_mlog_check(&m, p23, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_LOG_REPLAY);
  m.count = 2;
  dj_mlog_free(&m);
  /* one thing changed: a PCR value the TPM did not quote */
  ev.pcrs.v[3].digest[0] ^= 1;
  struct dj_quote_expect ex = { .extra_data = NULL, .extra_len = 0, .selection = &sel, .pcrs = &ev.pcrs };
  TPMS_ATTEST att;
  cr_assert_eq(dj_tpm_unmarshal_attest(ev.msg, ev.msg_len, &att, &err), 0);
  ex.extra_data = att.extraData.buffer;
  ex.extra_len = att.extraData.size;
  cr_assert_eq(dj_quote_verify(ev.msg, ev.msg_len, ev.sig, ev.sig_len, &ev.ak, &ex, NULL, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_PCR_DIGEST, "%s", err.msg);
  dj_evidence_free(&ev);
}

Test(tpm, quote_rsa_ak_checks_and_replays)
{
  quote_with(DJ_AK_RSA2048);
}

Test(tpm, quote_ecc_ak_checks_and_replays)
{
  quote_with(DJ_AK_ECC_P256);
}

Test(tpm, extend_outside_donjon_and_reset)
{
  dj_err err = { 0 };
  json_t *ev = json_pack("{s:s}", "workload", "sha256:2222");
  cr_assert_eq(dj_node_extend(&node, ev, NULL, &err), 0, "%s", err.msg);
  const char *outside[] = { "tpm2_pcrextend",
                            "23:sha256=0000000000000000000000000000000000000000000000000000000000000001", NULL };
  cr_assert_eq(swtpm_run(&sw, outside), 0);
  cr_assert_eq(dj_node_extend(&node, ev, NULL, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_LOG_REPLAY, "%s", err.msg);
  const char *reset[] = { "tpm2_pcrreset", "23", NULL };
  cr_assert_eq(swtpm_run(&sw, reset), 0);
  uint64_t seq;
  cr_assert_eq(dj_node_extend(&node, ev, &seq, &err), 0, "%s", err.msg);
  cr_assert_eq(seq, 2, "the reset is event 1, the measurement event 2");
  json_decref(ev);
  TPML_PCR_SELECTION sel;
  cr_assert_eq(dj_pcr_selection_parse("sha256:23", &sel, &err), 0);
  struct dj_evidence e;
  struct dj_quote_claims claims;
  quote_and_check(&sel, NULL, &claims, &e);
  struct dj_mlog m;
  cr_assert_eq(dj_mlog_parse(e.log, e.log_len, &m, &err), 0, "%s", err.msg);
  cr_assert(m.e[1].reset);
  cr_assert_eq(dj_mlog_check(&m, &e.pcrs.v[0], &err), 0, "%s", err.msg);
  dj_mlog_free(&m);
  dj_evidence_free(&e);
}

static int sh_tpm(const char *cmd);

/* The object persistent at 0x81010002 has the name of ak (tpm2_readpublic, outside donjon). */
static void assert_ak_at_handle(const TPM2B_PUBLIC *ak, const char *why)
{
  char cmd[PATH_MAX * 2], path[PATH_MAX + 16];
  snprintf(cmd, sizeof cmd, "cd %s && tpm2_readpublic -c 0x81010002 -n handle.name >/dev/null 2>&1", sw.dir);
  cr_assert_eq(sh_tpm(cmd), 0, "%s: nothing at 0x81010002", why);
  snprintf(path, sizeof path, "%s/handle.name", sw.dir);
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f);
  uint8_t got[sizeof(TPMU_NAME)];
  size_t n = fread(got, 1, sizeof got, f);
  fclose(f);
  TPM2B_NAME want;
  dj_err err = { 0 };
  cr_assert_eq(dj_tpm_public_name(&ak->publicArea, &want, &err), 0);
  cr_assert(n == want.size && memcmp(got, want.name, n) == 0, "%s: another object at 0x81010002", why);
}

Test(tpm, ak_survives_a_restart_and_counters_are_facts)
{
  TPML_PCR_SELECTION sel;
  dj_err err = { 0 };
  cr_assert_eq(dj_pcr_selection_parse("sha256:0,23", &sel, &err), 0);
  struct dj_evidence e1, e2, e3;
  struct dj_quote_claims c1, c2, c3;
  quote_and_check(&sel, NULL, &c1, &e1);
  swtpm_stop(&sw);
  swtpm_start(&sw); /* same state: the EK is re-created, the AK loaded from its blobs */
  node.tcti = sw.tcti;
  /* without its persistent copy (as after TPM2_Clear), so that only the blobs can give the AK */
  cr_assert_eq(sh_tpm("tpm2_evictcontrol -C o -c 0x81010002 >/dev/null 2>&1"), 0);
  struct dj_ak_blobs ak;
  bool created = true;
  cr_assert_eq(dj_node_ak_ensure(&node, &ak, &created, &err), 0, "%s", err.msg);
  cr_assert_not(created);
  char blob[PATH_MAX + 64];
  struct stat st;
  snprintf(blob, sizeof blob, "%s/ak-rsa2048-rsa2048.blob", sw.node_dir);
  cr_assert_eq(stat(blob, &st), 0, "%s", blob);
  cr_assert_eq(st.st_mode & 07777, 0600, "AK blobs are private to root");
  quote_and_check(&sel, &c1.counters, &c2, &e2);
  cr_assert_eq(memcmp(&e1.ak, &e2.ak, sizeof e1.ak), 0, "the same AK after the restart");
  assert_ak_at_handle(&e2.ak, "the quote made the AK persistent again");
  swtpm_power_cycle(&sw);
  quote_and_check(&sel, &c2.counters, &c3, &e3);
  cr_assert_gt(c3.counters.reset_count, c2.counters.reset_count);
  /* one thing changed: an older quote checked after a newer one (resetCount went backwards) */
  TPMS_ATTEST att;
  cr_assert_eq(dj_tpm_unmarshal_attest(e2.msg, e2.msg_len, &att, &err), 0);
  struct dj_quote_expect ex = { .extra_data = att.extraData.buffer, .extra_len = att.extraData.size,
                                .selection = &sel, .pcrs = &e2.pcrs, .last = &c3.counters };
  cr_assert_eq(dj_quote_verify(e2.msg, e2.msg_len, e2.sig, e2.sig_len, &e2.ak, &ex, NULL, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_RESET_COUNT, "%s", err.msg);
  dj_evidence_free(&e1);
  dj_evidence_free(&e2);
  dj_evidence_free(&e3);
}

Test(tpm, two_processes_quoting_at_once)
{
  dj_err err = { 0 };
  struct dj_ak_blobs ak;
  bool created;
  cr_assert_eq(dj_node_ak_ensure(&node, &ak, &created, &err), 0, "%s", err.msg);
  pid_t pids[2];
  for (int i = 0; i < 2; i++) {
    pids[i] = fork();
    cr_assert_geq(pids[i], 0);
    if (pids[i] == 0) {
      TPML_PCR_SELECTION sel;
      dj_err e = { 0 };
      uint8_t extra[32] = { (uint8_t) i };
      struct dj_evidence ev;
      int ok = 0;
      for (int k = 0; k < 5; k++) {
        ok = dj_pcr_selection_parse("sha256:0,1,2,3,4,5,6,7,23", &sel, &e) == 0 &&
             dj_node_quote(&node, &sel, extra, sizeof extra, &ev, &e) == 0;
        if (!ok)
          break;
        struct dj_quote_expect ex = { .extra_data = extra, .extra_len = 32, .selection = &sel, .pcrs = &ev.pcrs };
        ok = dj_quote_verify(ev.msg, ev.msg_len, ev.sig, ev.sig_len, &ev.ak, &ex, NULL, &e) == 0;
        dj_evidence_free(&ev);
        if (!ok)
          break;
      }
      if (!ok)
        fprintf(stderr, "child %d: %s\n", i, e.msg);
      _exit(ok ? 0 : 1);
    }
  }
  for (int i = 0; i < 2; i++) {
    int status;
    cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "quoting process %d failed", i);
  }
}

Test(tpm, ek_nonce_in_nv_changes_the_ek_and_it_no_longer_matches_its_certificate)
{
  /* A manufacturer nonce at 0x01c00003 is part of the RSA EK's template: with one written after
   * the certificate was made, the re-created EK differs from the certificate. */
  const char *define[] = { "tpm2_nvdefine", "-C", "p", "-s", "8", "-a", "ppwrite|ppread|ownerread|authread|platformcreate",
                           "0x01c00003", NULL };
  cr_assert_eq(swtpm_run(&sw, define), 0);
  char nonce_file[PATH_MAX + 16];
  snprintf(nonce_file, sizeof nonce_file, "%s/nonce", sw.dir);
  FILE *f = fopen(nonce_file, "w");
  fputs("donjon!!", f);
  fclose(f);
  const char *write[] = { "tpm2_nvwrite", "-C", "p", "-i", nonce_file, "0x01c00003", NULL };
  cr_assert_eq(swtpm_run(&sw, write), 0);
  struct dj_tpm tpm;
  open_tpm(&tpm);
  uint8_t der[DJ_EK_CERT_MAX];
  size_t len = 0;
  dj_err err = { 0 };
  cr_assert_eq(dj_tpm_ek_cert_read(&tpm, DJ_EK_RSA2048, der, &len, &err), 0, "%s", err.msg);
  const unsigned char *p = der;
  X509 *cert = d2i_X509(NULL, &p, (long) len);
  ESYS_TR ek;
  TPM2B_PUBLIC pub;
  cr_assert_eq(dj_tpm_ek_create(&tpm, DJ_EK_RSA2048, &ek, &pub, &err), 0, "%s", err.msg);
  dj_tpm_flush(&tpm, &ek);
  cr_assert_eq(dj_ekcert_match_public(cert, &pub.publicArea, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_EK_KEY_MISMATCH, "%s", err.msg);
  X509_free(cert);
  dj_tpm_close(&tpm);
}

static void extend_quote_replay(const char *workload, struct dj_quote_claims *claims, size_t *events, bool *has_reset)
{
  dj_err err = { 0 };
  json_t *ev = json_pack("{s:s}", "workload", workload);
  cr_assert_eq(dj_node_extend(&node, ev, NULL, &err), 0, "%s", err.msg);
  json_decref(ev);
  TPML_PCR_SELECTION sel;
  cr_assert_eq(dj_pcr_selection_parse("sha256:23", &sel, &err), 0);
  struct dj_evidence e;
  quote_and_check(&sel, NULL, claims, &e);
  struct dj_mlog m;
  cr_assert_eq(dj_mlog_parse(e.log, e.log_len, &m, &err), 0, "%s", err.msg);
  cr_assert_eq(dj_mlog_check(&m, &e.pcrs.v[0], &err), 0, "%s", err.msg);
  *events = m.count;
  *has_reset = false;
  for (size_t i = 0; i < m.count; i++)
    *has_reset |= m.e[i].reset;
  dj_mlog_free(&m);
  dj_evidence_free(&e);
}

Test(tpm, resume_and_restart_keep_one_log_and_record_the_cleared_pcr)
{
  /* PCR 23 is not preserved across a Resume or a Restart (PC Client profile): the boot's log goes
   * on (same resetCount) and records each clearing as a reset event. */
  struct dj_quote_claims c0, c1, c2;
  size_t n;
  bool reset;
  extend_quote_replay("sha256:01", &c0, &n, &reset);
  cr_assert_eq(n, 1);
  swtpm_hibernate(&sw, false);
  extend_quote_replay("sha256:02", &c1, &n, &reset);
  cr_assert_eq(c1.counters.reset_count, c0.counters.reset_count);
  cr_assert_gt(c1.counters.restart_count, c0.counters.restart_count);
  cr_assert_eq(n, 3, "measurement, reset, measurement: n=%zu", n);
  cr_assert(reset);
  swtpm_hibernate(&sw, true);
  extend_quote_replay("sha256:03", &c2, &n, &reset);
  cr_assert_eq(c2.counters.reset_count, c0.counters.reset_count);
  cr_assert_gt(c2.counters.restart_count, c1.counters.restart_count);
  cr_assert_eq(n, 5, "n=%zu", n);
}

Test(tpm, enrolment_end_to_end)
{
  /* The node sends its EK certificate, EK and AK; the verifier checks them and challenges the AK;
   * the node activates the credential; the verifier checks the answer. */
  struct dj_tpm tpm;
  open_tpm(&tpm);
  static uint8_t der[DJ_EK_CERT_MAX];
  struct dj_enroll_request req = { .ek_cert = der };
  dj_err err = { 0 };
  cr_assert_eq(dj_tpm_ek_cert_read(&tpm, DJ_EK_RSA2048, der, &req.ek_cert_len, &err), 0, "%s", err.msg);
  ESYS_TR ek;
  cr_assert_eq(dj_tpm_ek_create(&tpm, DJ_EK_RSA2048, &ek, &req.ek, &err), 0, "%s", err.msg);
  dj_tpm_flush(&tpm, &ek);
  dj_tpm_close(&tpm);
  struct dj_ak_blobs ak;
  bool created;
  cr_assert_eq(dj_node_ak_ensure(&node, &ak, &created, &err), 0, "%s", err.msg);
  req.ak = ak.pub;
  struct dj_ek_trust trust;
  trust_local_ca(&trust);
  struct dj_enroll_claims claims;
  struct dj_enroll_challenge ch;
  cr_assert_eq(dj_enroll_check(&req, &trust, NULL, 0, &claims, &ch, &err), 0, "%s", err.msg);
  cr_assert(claims.ek_cert_present);
  cr_assert_str_eq(claims.ek.model, "swtpm");
  TPM2B_DIGEST answer;
  cr_assert_eq(dj_node_activate(&node, &ch.blob, &ch.seed, &answer, &err), 0, "%s", err.msg);
  cr_assert_eq(dj_credential_check(ch.secret, sizeof ch.secret, answer.buffer, answer.size, &err), 0, "%s", err.msg);
  /* one thing changed: an answer to another challenge */
  answer.buffer[0] ^= 1;
  cr_assert_eq(dj_credential_check(ch.secret, sizeof ch.secret, answer.buffer, answer.size, &err), -1);
  cr_assert_eq(err.code, DJ_ATTEST_E_CREDENTIAL);
  dj_ek_trust_free(&trust);
}

/* How many handles of one type (transient objects, loaded or saved sessions) the TPM holds. */
static uint32_t tpm_handles(TPM2_HANDLE first)
{
  struct dj_tpm tpm;
  open_tpm(&tpm);
  TPMS_CAPABILITY_DATA *cap = NULL;
  cr_assert_eq(Esys_GetCapability(tpm.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, TPM2_CAP_HANDLES, first,
                                  TPM2_MAX_CAP_HANDLES, NULL, &cap),
               TSS2_RC_SUCCESS);
  uint32_t n = 0;
  for (uint32_t i = 0; i < cap->data.handles.count; i++)
    n += (cap->data.handles.handle[i] >> 24) == (first >> 24);
  Esys_Free(cap);
  dj_tpm_close(&tpm);
  return n;
}

static void assert_nothing_left(const char *after)
{
  cr_assert_eq(tpm_handles(TPM2_TRANSIENT_FIRST), 0, "%s left transient objects in the TPM", after);
  cr_assert_eq(tpm_handles(TPM2_LOADED_SESSION_FIRST), 0, "%s left loaded sessions in the TPM", after);
  cr_assert_eq(tpm_handles(TPM2_ACTIVE_SESSION_FIRST), 0, "%s left saved sessions in the TPM", after);
}

/* swtpm without a resource manager keeps whatever a client leaves (three object slots): every
 * flow flushes each transient object and session it made, for every EK and AK kind. */
Test(tpm, every_transient_object_and_session_is_flushed)
{
  enum dj_ek_kind eks[] = { DJ_EK_RSA2048, DJ_EK_ECC_P256, DJ_EK_ECC_P384 };
  enum dj_ak_kind aks[] = { DJ_AK_RSA2048, DJ_AK_ECC_P256, DJ_AK_ECC_P256 };
  TPML_PCR_SELECTION sel;
  dj_err err = { 0 };
  cr_assert_eq(dj_pcr_selection_parse("sha256:0,1,2,3,4,5,6,7,8,9,23", &sel, &err), 0);
  for (int i = 0; i < 3; i++) {
    node.ek_kind = eks[i];
    node.ak_kind = aks[i];
    struct dj_ak_blobs ak;
    bool created;
    cr_assert_eq(dj_node_ak_ensure(&node, &ak, &created, &err), 0, "%s", err.msg);
    assert_nothing_left("creating the AK");
    json_t *ev = json_pack("{s:i}", "round", i);
    cr_assert_eq(dj_node_extend(&node, ev, NULL, &err), 0, "%s", err.msg);
    json_decref(ev);
    assert_nothing_left("extend");
    uint8_t extra[32] = { (uint8_t) i };
    struct dj_evidence e;
    cr_assert_eq(dj_node_quote(&node, &sel, extra, sizeof extra, &e, &err), 0, "%s", err.msg);
    dj_evidence_free(&e);
    assert_nothing_left("quote");
    struct dj_tpm tpm;
    open_tpm(&tpm);
    ESYS_TR ek;
    TPM2B_PUBLIC ekpub;
    cr_assert_eq(dj_tpm_ek_create(&tpm, eks[i], &ek, &ekpub, &err), 0, "%s", err.msg);
    dj_tpm_flush(&tpm, &ek);
    dj_tpm_close(&tpm);
    TPM2B_NAME name;
    cr_assert_eq(dj_tpm_public_name(&ak.pub.publicArea, &name, &err), 0);
    uint8_t secret[32] = { 1, 2, 3 };
    TPM2B_ID_OBJECT blob;
    TPM2B_ENCRYPTED_SECRET seed;
    cr_assert_eq(dj_make_credential(&ekpub.publicArea, &name, secret, sizeof secret, &blob, &seed, &err), 0);
    TPM2B_DIGEST got;
    cr_assert_eq(dj_node_activate(&node, &blob, &seed, &got, &err), 0, "%s", err.msg);
    assert_nothing_left("activate");
    blob.credential[5] ^= 1; /* a failed activation flushes too */
    cr_assert_eq(dj_node_activate(&node, &blob, &seed, &got, &err), -1);
    assert_nothing_left("a failed activation");
  }
}

/* The RSA EK kept persistent at 0x81010001 (node.ek_handle): swtpm_setup leaves it there, the
 * node re-creates it when it is gone and keeps it there again, and an object at that handle that
 * is not this TPM's EK is never used (nor touched): the quote still works, through a fresh EK. */
static void quote_once(void)
{
  TPML_PCR_SELECTION sel;
  dj_err err = { 0 };
  cr_assert_eq(dj_pcr_selection_parse("sha256:0,23", &sel, &err), 0);
  struct dj_evidence ev;
  struct dj_quote_claims claims;
  quote_and_check(&sel, NULL, &claims, &ev);
  dj_evidence_free(&ev);
}

static int sh_tpm(const char *cmd)
{
  const char *argv[] = { "sh", "-c", cmd, NULL };
  return swtpm_run(&sw, argv);
}

/* An owner primary key of type alg put at handle (after evicting what was there): the next quote
 * works and leaves it there. */
static void foreign_object_is_left_alone(const char *handle, const char *alg)
{
  char cmd[PATH_MAX * 2];
  snprintf(cmd, sizeof cmd,
           "cd %s && tpm2_evictcontrol -C o -c %s >/dev/null 2>&1 && "
           "tpm2_createprimary -C o -G %s -c other.ctx >/dev/null 2>&1 && "
           "tpm2_evictcontrol -C o -c other.ctx %s >/dev/null 2>&1 && "
           "tpm2_readpublic -c %s -n other.name >/dev/null 2>&1 && tpm2_flushcontext -t",
           sw.dir, handle, alg, handle, handle);
  cr_assert_eq(sh_tpm(cmd), 0);
  quote_once();
  snprintf(cmd, sizeof cmd, "cd %s && tpm2_readpublic -c %s -n now.name >/dev/null 2>&1 && cmp other.name now.name",
           sw.dir, handle);
  cr_assert_eq(sh_tpm(cmd), 0, "the foreign object at %s is still there", handle);
}

Test(tpm, the_rsa_ek_is_kept_persistent_and_a_foreign_object_there_is_not_used)
{
  node.ak_kind = DJ_AK_ECC_P256;
  char cmd[PATH_MAX * 2];
  snprintf(cmd, sizeof cmd, "cd %s && tpm2_readpublic -c 0x81010001 -n ek.name >/dev/null 2>&1", sw.dir);
  cr_assert_eq(sh_tpm(cmd), 0, "swtpm_setup keeps the EK at 0x81010001");
  quote_once();
  /* gone (as after TPM2_Clear): re-created, and kept again */
  cr_assert_eq(sh_tpm("tpm2_evictcontrol -C o -c 0x81010001 >/dev/null 2>&1"), 0);
  quote_once();
  snprintf(cmd, sizeof cmd, "cd %s && tpm2_readpublic -c 0x81010001 -n ek2.name >/dev/null 2>&1 && cmp ek.name ek2.name",
           sw.dir);
  cr_assert_eq(sh_tpm(cmd), 0, "the node made the same EK persistent again");
  /* a foreign object at the EK's handle: not used, not evicted */
  foreign_object_is_left_alone("0x81010001", "rsa2048");
}

/* A foreign object at the AK's handle is neither used nor replaced by a quote: the AK comes from
 * its blobs, and the object is still there afterwards. */
Test(tpm, a_foreign_object_at_the_ak_handle_is_left_alone)
{
  quote_once();
  foreign_object_is_left_alone("0x81010002", "ecc256");
}

/* The event appended before the extend is removed when the extend fails (docs/protocol.md §2).
 * swtpm_ioctl -h runs an H-CRTM sequence (_TPM_Hash_Start/Data/End, locality 4), which leaves
 * PCRs 18-22 at zero; PCR 18 cannot be extended from locality 0 (TPM_RC_LOCALITY). So an extend
 * of PCR 18 passes the log's replay check, appends its event, and then fails in the TPM. */
Test(tpm, a_failed_extend_leaves_the_log_as_it_was)
{
  dj_err err = { 0 };
  json_t *ev = json_pack("{s:s}", "workload", "sha256:aa");
  cr_assert_eq(dj_node_extend(&node, ev, NULL, &err), 0, "%s", err.msg);
  TPML_PCR_SELECTION sel;
  cr_assert_eq(dj_pcr_selection_parse("sha256:18,23", &sel, &err), 0);
  struct dj_evidence before, after;
  struct dj_quote_claims claims;
  quote_and_check(&sel, NULL, &claims, &before);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "swtpm_ioctl --tcp 127.0.0.1:%d -h donjon", sw.port + 1);
  cr_assert_eq(sh_tpm(cmd), 0);
  node.workload_pcr = 18;
  cr_assert_eq(dj_node_extend(&node, ev, NULL, &err), -1, "PCR 18 extended from locality 0");
  cr_assert_eq(err.code, DJ_ATTEST_E_TPM, "%s", err.msg);
  cr_assert_not_null(strstr(err.msg, "PCR_Extend 18"), "the extend itself failed, after the append: %s", err.msg);
  node.workload_pcr = 23;
  quote_and_check(&sel, NULL, &claims, &after);
  cr_assert_eq(after.log_len, before.log_len, "the log grew by a failed extend's event:\n%s", after.log);
  cr_assert_eq(memcmp(after.log, before.log, before.log_len), 0);
  struct dj_mlog m;
  cr_assert_eq(dj_mlog_parse(after.log, after.log_len, &m, &err), 0, "%s", err.msg);
  cr_assert_eq(dj_mlog_check(&m, dj_pcr_values_find(&after.pcrs, TPM2_ALG_SHA256, 23), &err), 0, "%s", err.msg);
  dj_mlog_free(&m);
  static const uint8_t zero[32] = { 0 };
  cr_assert_eq(memcmp(dj_pcr_values_find(&after.pcrs, TPM2_ALG_SHA256, 18)->digest, zero, 32), 0);
  uint64_t seq;
  cr_assert_eq(dj_node_extend(&node, ev, &seq, &err), 0, "%s", err.msg);
  cr_assert_eq(seq, 1, "the failed extend's event took no place in the log");
  json_decref(ev);
  dj_evidence_free(&before);
  dj_evidence_free(&after);
}
