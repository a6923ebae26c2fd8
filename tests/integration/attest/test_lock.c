/* The one node lock covers extend+append and log snapshot+PCR read+quote: processes extending and
 * quoting at the same time never produce a quote whose log snapshot does not replay to its quoted
 * PCR 23. One quoter only, so that TPM object slots are never what fails (extends load no object).
 * swtpm serialises its connections by itself, so that test would pass without the lock: the
 * lock's own tests hold it and see a quote or an extend wait for it (/proc/locks names the waiter). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
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

/* pid is blocked waiting for a flock on the inode ino: /proc/locks lists a blocked waiter as
 * "N: -> FLOCK  ADVISORY  WRITE PID MAJ:MIN:INO 0 EOF". */
static bool waits_for_flock(pid_t pid, ino_t ino)
{
  FILE *f = fopen("/proc/locks", "r");
  cr_assert_not_null(f, "/proc/locks");
  char line[256];
  bool found = false;
  while (!found && fgets(line, sizeof line, f) != NULL) {
    const char *arrow = strstr(line, "-> FLOCK");
    int id;
    unsigned maj, min;
    unsigned long inode;
    found = arrow != NULL && sscanf(arrow, "-> FLOCK %*s %*s %d %x:%x:%lu", &id, &maj, &min, &inode) == 4 &&
            id == pid && inode == (unsigned long) ino;
  }
  fclose(f);
  return found;
}

static int quote_once(void)
{
  dj_err e = { 0 };
  TPML_PCR_SELECTION sel;
  uint8_t extra[32] = { 7 };
  struct dj_evidence ev;
  if (dj_pcr_selection_parse("sha256:0,23", &sel, &e) < 0 || dj_node_quote(&node, &sel, extra, sizeof extra, &ev, &e) < 0) {
    fprintf(stderr, "quote: %s\n", e.msg);
    return -1;
  }
  dj_evidence_free(&ev);
  return 0;
}

static int extend_once(void)
{
  dj_err e = { 0 };
  json_t *ev = json_pack("{s:s}", "workload", "sha256:77");
  int r = dj_node_extend(&node, ev, NULL, &e);
  json_decref(ev);
  if (r < 0)
    fprintf(stderr, "extend: %s\n", e.msg);
  return r;
}

/* The test holds STATE_DIR/lock; a child runs op; the child must be seen waiting for that lock
 * (and must not have finished or written its result), then complete once the lock is released. */
static void op_waits_for_the_node_lock(int (*op)(void))
{
  dj_err err = { 0 };
  struct dj_ak_blobs ak;
  bool created;
  cr_assert_eq(dj_node_ak_ensure(&node, &ak, &created, &err), 0, "%s", err.msg);
  char path[sizeof sw.node_dir + 8];
  snprintf(path, sizeof path, "%s/lock", sw.node_dir);
  int lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  cr_assert_geq(lock, 0, "%s", path);
  struct stat st;
  cr_assert_eq(fstat(lock, &st), 0);
  cr_assert_eq(flock(lock, LOCK_EX), 0);
  int result[2];
  cr_assert_eq(pipe2(result, O_CLOEXEC), 0);
  pid_t pid = fork();
  cr_assert_geq(pid, 0);
  if (pid == 0) {
    close(lock);
    close(result[0]);
    char c = op() == 0 ? 'y' : 'n';
    _exit(write(result[1], &c, 1) == 1 ? 0 : 1);
  }
  close(result[1]);
  while (!waits_for_flock(pid, st.st_ino)) {
    int status;
    cr_assert_eq(waitpid(pid, &status, WNOHANG), 0, "the child finished while the test held the node lock");
    usleep(1000);
  }
  struct pollfd p = { .fd = result[0], .events = POLLIN };
  cr_assert_eq(poll(&p, 1, 0), 0, "the child gave its result while the test held the node lock");
  cr_assert_eq(flock(lock, LOCK_UN), 0);
  close(lock);
  char c = 0;
  cr_assert_eq(read(result[0], &c, 1), 1, "the child gave no result once the lock was released");
  close(result[0]);
  cr_assert_eq(c, 'y', "the child's operation failed once the lock was released");
  int status;
  cr_assert_eq(waitpid(pid, &status, 0), pid);
  cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

Test(lock, a_quote_waits_for_the_node_lock)
{
  op_waits_for_the_node_lock(quote_once);
}

Test(lock, an_extend_waits_for_the_node_lock)
{
  op_waits_for_the_node_lock(extend_once);
}
