#include "attest/node.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <openssl/x509.h>

#include "attest/codes.h"
#include "attest/ekcert.h"
#include "attest/mlog.h"
#include "attest/tpmstruct.h"
#include "common/json.h"
#include "common/util.h"

void dj_node_defaults(struct dj_node *node)
{
  *node = (struct dj_node){
    .ek_kind = DJ_EK_RSA2048,
    .ak_kind = DJ_AK_RSA2048,
    .ak_handle = DJ_TPM_DEFAULT_AK_HANDLE,
    .ek_handle = DJ_TPM_DEFAULT_EK_HANDLE,
    .workload_pcr = DJ_NODE_DEFAULT_PCR,
  };
}

static const char *state_dir(const struct dj_node *node)
{
  return node->state_dir ? node->state_dir : DJ_NODE_DEFAULT_STATE_DIR;
}

static void ak_path_of(const struct dj_node *node, enum dj_ek_kind ek, enum dj_ak_kind ak, char *out, size_t size)
{
  snprintf(out, size, "%s/ak-%s-%s.blob", state_dir(node), dj_ek_kind_name(ek),
           ak == DJ_AK_RSA2048 ? "rsa2048" : "ecc-p256");
}

static void ak_path(const struct dj_node *node, char *out, size_t size)
{
  ak_path_of(node, node->ek_kind, node->ak_kind, out, size);
}

bool dj_node_ak_known(const struct dj_node *node, const TPM2B_NAME *name)
{
  for (int ek = 0; ek < DJ_EK_KIND_COUNT; ek++)
    for (int k = DJ_AK_RSA2048; k <= DJ_AK_ECC_P256; k++) {
      char path[PATH_MAX];
      struct dj_ak_blobs ak;
      TPM2B_NAME n;
      dj_err e = { 0 };
      ak_path_of(node, (enum dj_ek_kind) ek, (enum dj_ak_kind) k, path, sizeof path);
      if (access(path, F_OK) == 0 && dj_ak_blobs_load(path, &ak, &e) == 0 &&
          dj_tpm_public_name(&ak.pub.publicArea, &n, &e) == 0 && n.size == name->size &&
          memcmp(n.name, name->name, n.size) == 0)
        return true;
    }
  return false;
}

void dj_node_log_path(const struct dj_node *node, const struct dj_tpm_counters *c, char *out, size_t size)
{
  /* One log per boot (resetCount): a Resume or Restart that clears the workload PCR (PCR 23 on
   * PC Client TPMs) is recorded by the next extend as a reset event in the same log. */
  snprintf(out, size, "%s/mlog-%u.jsonl", state_dir(node), c->reset_count);
}

/* The node lock: taken before the TPM is opened, released after it is closed. */
static int node_lock(const struct dj_node *node, dj_err *err)
{
  const char *dir = state_dir(node);
  if (mkdir(dir, 0700) < 0 && errno != EEXIST)
    return dj_error(err, errno, "%s", dir);
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/lock", dir);
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return dj_error(err, errno, "%s", path);
  while (flock(fd, LOCK_EX) < 0) {
    if (errno != EINTR) {
      int e = errno;
      close(fd);
      return dj_error(err, e, "%s: flock", path);
    }
  }
  return fd;
}

/* A TPM session of the node: opened TPM, re-created EK, loaded AK. */
struct node_tpm {
  struct dj_tpm tpm;
  ESYS_TR ek, ak;
  bool ek_persistent;          /* ek is the persistent copy: closed, not flushed */
  bool ak_persistent;          /* ak is the AK kept at ak_handle: closed, not flushed */
  bool ak_handle_free;         /* nothing at ak_handle: the loaded AK is made persistent there again */
  TPM2B_PUBLIC ek_pub;
};

static void node_tpm_close(struct node_tpm *t)
{
  if (t->tpm.esys != NULL) {
    if (t->ak_persistent && t->ak != ESYS_TR_NONE)
      Esys_TR_Close(t->tpm.esys, &t->ak);
    dj_tpm_flush(&t->tpm, &t->ak);
    if (t->ek_persistent && t->ek != ESYS_TR_NONE)
      Esys_TR_Close(t->tpm.esys, &t->ek);
    dj_tpm_flush(&t->tpm, &t->ek);
  }
  dj_tpm_close(&t->tpm);
}

/* The EK's public area as recorded when it was first used (checked then against the EK
 * certificate in NV): every later use compares with it before salting a session to that EK. */
struct ek_record {
  char path[PATH_MAX];
  uint8_t pub[DJ_TPM_STRUCT_MAX];
  size_t len;                  /* 0: none recorded yet */
};

static int ek_record_read(const struct dj_node *node, struct ek_record *rec, dj_err *err)
{
  snprintf(rec->path, sizeof rec->path, "%s/ek-%s.pub", state_dir(node), dj_ek_kind_name(node->ek_kind));
  rec->len = 0;
  _cleanup_close_ int fd = open(rec->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return errno == ENOENT ? 0 : dj_error(err, errno, "%s", rec->path);
  ssize_t n = dj_read_all(fd, rec->pub, sizeof rec->pub);
  if (n <= 0)
    return dj_error_code(err, DJ_ATTEST_E_MALFORMED, "%s: %s", rec->path, n < 0 ? strerror(errno) : "empty");
  rec->len = (size_t) n;
  return 0;
}

static bool ek_record_matches(const struct ek_record *rec, const TPM2B_PUBLIC *pub)
{
  uint8_t buf[DJ_TPM_STRUCT_MAX];
  size_t len = 0;
  dj_err e = { 0 };
  return dj_tpm_marshal_public(pub, buf, &len, &e) == 0 && len == rec->len && memcmp(buf, rec->pub, len) == 0;
}

/* The EK just obtained (re-created or persistent) is the one recorded; with no record yet, its key
 * is the EK certificate's (when NV has one: a TPM without is trusted on first use, and the
 * verifier's enrolment decides) and it is recorded. A bus interposer that hands out another key to
 * learn the session salt is refused here, before any session is salted. */
static int ek_record_check(const struct dj_node *node, struct node_tpm *t, struct ek_record *rec, dj_err *err)
{
  if (rec->len > 0) {
    if (ek_record_matches(rec, &t->ek_pub))
      return 0;
    return dj_error_code(err, DJ_ATTEST_E_EK_KEY_MISMATCH,
                         "EK: the TPM gave a public area other than the one recorded in %s: not salting a "
                         "session to it (substituted EK?)",
                         rec->path);
  }
  uint8_t der[DJ_EK_CERT_MAX];
  size_t len = 0;
  dj_err e = { 0 };
  if (dj_tpm_ek_cert_read(&t->tpm, node->ek_kind, der, &len, &e) == 0) {
    const unsigned char *p = der;
    X509 *cert = d2i_X509(NULL, &p, (long) len);
    int r = cert != NULL ? dj_ekcert_match_public(cert, &t->ek_pub.publicArea, err)
                         : dj_error_code(err, DJ_ATTEST_E_MALFORMED, "EK certificate: not DER");
    X509_free(cert);
    if (r < 0)
      return dj_err_wrap(err, "EK %s (NV 0x%08x)", dj_ek_kind_name(node->ek_kind), dj_ek_cert_index(node->ek_kind));
  } else if (e.code != DJ_ATTEST_E_EK_NO_CERT) {
    *err = e;
    return -1;
  }
  if (dj_tpm_marshal_public(&t->ek_pub, rec->pub, &rec->len, err) < 0 ||
      dj_write_file_atomic(rec->path, rec->pub, rec->len, 0600, err) < 0)
    return dj_err_wrap(err, "EK record");
  return 0;
}

/* The persistent RSA EK: its public area is the recorded one, or (none recorded yet) the AK loads
 * under it, which only the real EK can do (ak: the blobs, loaded into t->ak). */
static bool ek_from_handle(const struct dj_node *node, struct node_tpm *t, const struct dj_ak_blobs *ak,
                           const struct ek_record *rec)
{
  dj_err e = { 0 };
  if (node->ek_handle == 0 || node->ek_kind != DJ_EK_RSA2048 ||
      dj_tpm_ek_persistent(&t->tpm, node->ek_kind, node->ek_handle, &t->ek, &t->ek_pub, &e) != 1)
    return false;
  t->ek_persistent = true;
  if (rec->len > 0 ? ek_record_matches(rec, &t->ek_pub)
                   : ak != NULL && t->ak == ESYS_TR_NONE &&
                       dj_tpm_ak_load(&t->tpm, &t->ek_pub.publicArea, t->ek, ak, &t->ak, &e) == 0)
    return true;
  Esys_TR_Close(t->tpm.esys, &t->ek); /* not our EK after all: re-create it */
  t->ek = ESYS_TR_NONE;
  t->ek_persistent = false;
  return false;
}

/* The AK kept at ak_handle, when it is the blobs' key (same name: same public area): used as it
 * is, with no Load (the ReadPublic this costs replaces a Load and a flush). When the handle is
 * empty (TPM2_Clear, an evict) the AK loaded from the blobs is made persistent there again; an
 * object of another name there is left alone. */
static void ak_from_handle(const struct dj_node *node, struct node_tpm *t, const struct dj_ak_blobs *ak)
{
  ESYS_TR h = ESYS_TR_NONE;
  if (node->ak_handle == 0)
    return;
  if (Esys_TR_FromTPMPublic(t->tpm.esys, node->ak_handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &h) !=
      TSS2_RC_SUCCESS) {
    t->ak_handle_free = true;
    return;
  }
  TPM2B_NAME want, *got = NULL;
  dj_err e = { 0 };
  bool same = dj_tpm_public_name(&ak->pub.publicArea, &want, &e) == 0 &&
              Esys_TR_GetName(t->tpm.esys, h, &got) == TSS2_RC_SUCCESS && got->size == want.size &&
              memcmp(got->name, want.name, want.size) == 0;
  Esys_Free(got);
  if (!same) {
    Esys_TR_Close(t->tpm.esys, &h);
    return;
  }
  t->ak = h;
  t->ak_persistent = true;
}

static int node_tpm_open(const struct dj_node *node, struct node_tpm *t, const struct dj_ak_blobs *ak, dj_err *err)
{
  memset(t, 0, sizeof *t);
  t->ek = t->ak = ESYS_TR_NONE;
  struct ek_record rec;
  if (ek_record_read(node, &rec, err) < 0 || dj_tpm_open(dj_tpm_tcti_choose(node->tcti), &t->tpm, err) < 0)
    return -1;
  if (ak != NULL)
    ak_from_handle(node, t, ak);
  if (!ek_from_handle(node, t, ak, &rec)) {
    bool created = dj_tpm_ek_create(&t->tpm, node->ek_kind, &t->ek, &t->ek_pub, err) == 0;
    if (!created || ek_record_check(node, t, &rec, err) < 0) {
      node_tpm_close(t);
      return -1;
    }
    /* Checked, it is kept for the next time where the handle is free and the owner lets us (best
     * effort: the re-created EK is as good, only slower; a taken handle refuses, evicting nothing). */
    if (node->ek_handle != 0 && node->ek_kind == DJ_EK_RSA2048) {
      ESYS_TR there = ESYS_TR_NONE;
      dj_err e = { 0 };
      if (Esys_TR_FromTPMPublic(t->tpm.esys, node->ek_handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &there) ==
          TSS2_RC_SUCCESS)
        Esys_TR_Close(t->tpm.esys, &there); /* another object: left alone, not asked every time */
      else
        dj_tpm_persist(&t->tpm, t->ek, node->ek_handle, &e);
    }
  } else if (ek_record_check(node, t, &rec, err) < 0) {
    node_tpm_close(t);
    return -1;
  }
  if (ak != NULL && t->ak == ESYS_TR_NONE &&
      dj_tpm_ak_load(&t->tpm, &t->ek_pub.publicArea, t->ek, ak, &t->ak, err) < 0) {
    node_tpm_close(t);
    return -1;
  }
  if (ak != NULL && t->ak_handle_free) { /* best effort, as for the EK; whatever is there stays */
    dj_err e = { 0 };
    dj_tpm_persist(&t->tpm, t->ak, node->ak_handle, &e);
  }
  return 0;
}

static int ak_ensure_locked(const struct dj_node *node, struct dj_ak_blobs *ak, bool *created, dj_err *err)
{
  char path[PATH_MAX];
  ak_path(node, path, sizeof path);
  *created = false;
  if (access(path, F_OK) == 0)
    return dj_ak_blobs_load(path, ak, err);
  struct node_tpm t;
  if (node_tpm_open(node, &t, NULL, err) < 0)
    return -1;
  /* The blobs are saved before the persistent copy is made: they are the source of truth. */
  int r = dj_tpm_ak_create(&t.tpm, &t.ek_pub.publicArea, t.ek, node->ak_kind, ak, err);
  if (r == 0)
    r = dj_ak_blobs_save(path, ak, err);
  if (r == 0 && node->ak_handle != 0) {
    r = dj_tpm_ak_load(&t.tpm, &t.ek_pub.publicArea, t.ek, ak, &t.ak, err);
    if (r == 0)
      r = dj_tpm_ak_persist(&t.tpm, t.ak, node->ak_handle, err);
    if (r < 0)
      unlink(path); /* nothing half-done: the next call creates the AK again */
  }
  node_tpm_close(&t);
  if (r < 0)
    return -1;
  *created = true;
  return 0;
}

int dj_node_ak_ensure(const struct dj_node *node, struct dj_ak_blobs *ak, bool *created, dj_err *err)
{
  _cleanup_close_ int lock = node_lock(node, err);
  if (lock < 0)
    return -1;
  return ak_ensure_locked(node, ak, created, err);
}

void dj_evidence_free(struct dj_evidence *ev)
{
  free(ev->log);
  ev->log = NULL;
}

/* Read a whole (bounded) file; a missing file reads as empty. */
static int read_log(const char *path, char **out, size_t *len, dj_err *err)
{
  *out = NULL;
  *len = 0;
  _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno != ENOENT)
      return dj_error(err, errno, "%s", path);
    *out = dj_xstrdup("");
    return 0;
  }
  struct stat st;
  if (fstat(fd, &st) < 0)
    return dj_error(err, errno, "%s", path);
  if ((size_t) st.st_size > DJ_MLOG_MAX_BYTES)
    return dj_error_code(err, DJ_ATTEST_E_LOG_FORMAT, "%s: larger than %u bytes", path, DJ_MLOG_MAX_BYTES);
  char *buf = dj_xmalloc((size_t) st.st_size + 1);
  ssize_t n = dj_read_all(fd, buf, (size_t) st.st_size);
  if (n < 0) {
    free(buf);
    return dj_error(err, errno, "%s", path);
  }
  buf[n] = '\0';
  *out = buf;
  *len = (size_t) n;
  return 0;
}

int dj_node_quote(const struct dj_node *node, const TPML_PCR_SELECTION *sel, const uint8_t *extra, size_t extra_len,
                  struct dj_evidence *ev, dj_err *err)
{
  memset(ev, 0, sizeof *ev);
  _cleanup_close_ int lock = node_lock(node, err);
  if (lock < 0)
    return -1;
  struct dj_ak_blobs ak;
  bool created;
  if (ak_ensure_locked(node, &ak, &created, err) < 0)
    return dj_err_wrap(err, "quote");
  ev->ak = ak.pub;
  struct node_tpm t;
  if (node_tpm_open(node, &t, &ak, err) < 0)
    return dj_err_wrap(err, "quote");
  ESYS_TR session = ESYS_TR_NONE;
  struct dj_tpm_counters c;
  char path[PATH_MAX];
  int r = dj_tpm_clock(&t.tpm, &c, err);
  if (r == 0) {
    dj_node_log_path(node, &c, path, sizeof path);
    r = read_log(path, &ev->log, &ev->log_len, err);
  }
  if (r == 0)
    r = dj_tpm_pcr_read(&t.tpm, sel, &ev->pcrs, err);
  if (r == 0)
    r = dj_tpm_salted_session(&t.tpm, t.ek, &session, err);
  if (r == 0)
    r = dj_tpm_quote(&t.tpm, t.ak, session, sel, extra, extra_len, ev->msg, &ev->msg_len, ev->sig, &ev->sig_len, err);
  dj_tpm_flush(&t.tpm, &session);
  node_tpm_close(&t);
  if (r < 0) {
    dj_evidence_free(ev);
    return dj_err_wrap(err, "quote");
  }
  return 0;
}

static int append_line(const char *path, const char *line, off_t *old_size, dj_err *err)
{
  _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0)
    return dj_error(err, errno, "%s", path);
  struct stat st;
  if (fstat(fd, &st) < 0)
    return dj_error(err, errno, "%s", path);
  *old_size = st.st_size;
  if (dj_write_all(fd, line, strlen(line)) < 0 || fsync(fd) < 0) {
    int e = errno;
    if (ftruncate(fd, *old_size) < 0) { /* best effort: the event must not stay half-written */
    }
    return dj_error(err, e, "%s: append", path);
  }
  return 0;
}

int dj_node_extend(const struct dj_node *node, const json_t *event, uint64_t *seq, dj_err *err)
{
  if (!json_is_object(event))
    return dj_error(err, 0, "extend: the event must be a JSON object");
  _cleanup_close_ int lock = node_lock(node, err);
  if (lock < 0)
    return -1;
  struct dj_tpm tpm;
  if (dj_tpm_open(dj_tpm_tcti_choose(node->tcti), &tpm, err) < 0)
    return dj_err_wrap(err, "extend");
  struct dj_tpm_counters c;
  char path[PATH_MAX];
  _cleanup_free_ char *log = NULL;
  size_t log_len = 0;
  struct dj_mlog m = { 0 };
  struct dj_pcr_values cur = { 0 };
  TPML_PCR_SELECTION sel = { .count = 1 };
  sel.pcrSelections[0] = (TPMS_PCR_SELECTION){ .hash = TPM2_ALG_SHA256, .sizeofSelect = 3 };
  sel.pcrSelections[0].pcrSelect[node->workload_pcr / 8] = (uint8_t) (1u << (node->workload_pcr % 8));
  int r = dj_tpm_clock(&tpm, &c, err);
  if (r == 0) {
    dj_node_log_path(node, &c, path, sizeof path);
    r = read_log(path, &log, &log_len, err);
  }
  if (r == 0)
    r = dj_mlog_parse(log, log_len, &m, err);
  if (r == 0)
    r = dj_tpm_pcr_read(&tpm, &sel, &cur, err);
  uint64_t next = m.count;
  if (r == 0 && dj_mlog_check(&m, &cur.v[0], err) < 0) {
    static const uint8_t zero[TPM2_SHA256_DIGEST_SIZE] = { 0 };
    if (memcmp(cur.v[0].digest, zero, sizeof zero) == 0) { /* reset from locality 0: record it */
      _cleanup_free_ char *reset = dj_mlog_line(next, node->workload_pcr, NULL);
      off_t old;
      r = append_line(path, reset, &old, err);
      next++;
    } else {
      r = dj_error_code(err, DJ_ATTEST_E_LOG_REPLAY,
                        "PCR %u holds a value the log %s does not replay to: extended outside donjon", node->workload_pcr,
                        path);
    }
  }
  dj_mlog_free(&m);
  if (r == 0) {
    _cleanup_free_ char *line = dj_mlog_line(next, node->workload_pcr, event);
    _cleanup_free_ char *canon = dj_json_canonical(event);
    off_t old = 0;
    r = line && canon ? append_line(path, line, &old, err) : dj_error(err, 0, "extend: event does not serialise");
    if (r == 0) {
      r = dj_tpm_extend(&tpm, node->workload_pcr, canon, strlen(canon), err);
      if (r < 0 && truncate(path, old) < 0) { /* the log must not hold an event the PCR lacks */
      }
    }
  }
  dj_tpm_close(&tpm);
  if (r < 0)
    return dj_err_wrap(err, "extend");
  if (seq != NULL)
    *seq = next;
  return 0;
}

int dj_node_activate(const struct dj_node *node, const TPM2B_ID_OBJECT *blob, const TPM2B_ENCRYPTED_SECRET *seed,
                     TPM2B_DIGEST *secret, dj_err *err)
{
  _cleanup_close_ int lock = node_lock(node, err);
  if (lock < 0)
    return -1;
  struct dj_ak_blobs ak;
  bool created;
  if (ak_ensure_locked(node, &ak, &created, err) < 0)
    return dj_err_wrap(err, "activate");
  struct node_tpm t;
  if (node_tpm_open(node, &t, &ak, err) < 0)
    return dj_err_wrap(err, "activate");
  int r = dj_tpm_activate(&t.tpm, &t.ek_pub.publicArea, t.ek, t.ak, blob, seed, secret, err);
  node_tpm_close(&t);
  return r < 0 ? dj_err_wrap(err, "activate") : 0;
}
