/* The one node lock covers extend+append and log snapshot+PCR read+quote: processes extending and
 * quoting at the same time never produce a quote whose log snapshot does not replay to its quoted
 * PCR 23. One quoter only, so that TPM object slots are never what fails (extends load no object). */
#include <criterion/criterion.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "attest/codes.h"
#include "attest/mlog.h"
#include "attest/node.h"
#include "attest/pcr.h"
#include "attest/quote.h"
#include "swtpm.h"

#define ROUNDS 25

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

TestSuite(lock, .init = setup, .fini = teardown, .timeout = 300);

static int extender(int id)
{
  dj_err e = { 0 };
  for (int k = 0; k < ROUNDS; k++) {
    char workload[64];
    snprintf(workload, sizeof workload, "sha256:%02x%02x", id, k);
    json_t *ev = json_pack("{s:s}", "workload", workload);
    uint64_t seq;
    int r = dj_node_extend(&node, ev, &seq, &e);
    json_decref(ev);
    if (r < 0) {
      fprintf(stderr, "extender %d, round %d: %s\n", id, k, e.msg);
      return 1;
    }
  }
  return 0;
}

/* Each quote: the quote covers the PCR values read, and the log snapshot replays to PCR 23. */
static int quoter(void)
{
  dj_err e = { 0 };
  TPML_PCR_SELECTION sel;
  if (dj_pcr_selection_parse("sha256:23", &sel, &e) < 0)
    return 1;
  for (int k = 0; k < ROUNDS; k++) {
    uint8_t extra[32];
    RAND_bytes(extra, sizeof extra);
    struct dj_evidence ev;
    if (dj_node_quote(&node, &sel, extra, sizeof extra, &ev, &e) < 0) {
      fprintf(stderr, "quoter, round %d: %s\n", k, e.msg);
      return 1;
    }
    struct dj_quote_expect ex = { .extra_data = extra, .extra_len = sizeof extra, .selection = &sel, .pcrs = &ev.pcrs };
    struct dj_mlog m = { 0 };
    const struct dj_pcr_value *p23 = dj_pcr_values_find(&ev.pcrs, TPM2_ALG_SHA256, 23);
    int r = dj_quote_verify(ev.msg, ev.msg_len, ev.sig, ev.sig_len, &ev.ak, &ex, NULL, &e);
    if (r == 0)
      r = dj_mlog_parse(ev.log, ev.log_len, &m, &e);
    if (r == 0)
      r = p23 != NULL ? dj_mlog_check(&m, p23, &e) : -1;
    if (r < 0)
      fprintf(stderr, "quoter, round %d (log of %zu events): %s\n", k, m.count, e.msg);
    dj_mlog_free(&m);
    dj_evidence_free(&ev);
    if (r < 0)
      return 2;
  }
  return 0;
}

Test(lock, concurrent_extends_and_quotes_every_quote_replays)
{
  dj_err err = { 0 };
  struct dj_ak_blobs ak;
  bool created;
  cr_assert_eq(dj_node_ak_ensure(&node, &ak, &created, &err), 0, "%s", err.msg);
  pid_t pids[3];
  for (int i = 0; i < 3; i++) {
    pids[i] = fork();
    cr_assert_geq(pids[i], 0);
    if (pids[i] == 0)
      _exit(i == 0 ? quoter() : extender(i));
  }
  int codes[3];
  for (int i = 0; i < 3; i++) {
    int status;
    cr_assert_eq(waitpid(pids[i], &status, 0), pids[i]);
    codes[i] = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  }
  cr_assert_eq(codes[0], 0, "a quote's log snapshot did not replay to its quoted PCR 23 (or the quote failed): %d",
               codes[0]);
  cr_assert_eq(codes[1], 0, "extender 1 failed");
  cr_assert_eq(codes[2], 0, "extender 2 failed");
  /* afterwards the whole log replays to PCR 23: every extend was appended exactly once */
  TPML_PCR_SELECTION sel;
  cr_assert_eq(dj_pcr_selection_parse("sha256:23", &sel, &err), 0);
  uint8_t extra[32] = { 0 };
  struct dj_evidence ev;
  cr_assert_eq(dj_node_quote(&node, &sel, extra, sizeof extra, &ev, &err), 0, "%s", err.msg);
  struct dj_mlog m;
  cr_assert_eq(dj_mlog_parse(ev.log, ev.log_len, &m, &err), 0, "%s", err.msg);
  cr_assert_eq(m.count, 2 * ROUNDS);
  cr_assert_eq(dj_mlog_check(&m, dj_pcr_values_find(&ev.pcrs, TPM2_ALG_SHA256, 23), &err), 0, "%s", err.msg);
  dj_mlog_free(&m);
  dj_evidence_free(&ev);
}
