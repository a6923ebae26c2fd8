/* The audit chain and its signed checkpoints: `audit verify` (here its verifier, over a real SQLite
 * store) passes on an intact log and names each tampering: an edited, dropped or reordered
 * record, a dropped tail, a rewritten chain, a forged or removed checkpoint; and the command
 * itself on a database file, which it opens read-only. */
#include <criterion/criterion.h>
#include <openssl/pem.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "verifier/audit.h"
#include "verifier/store.h"

static char dir[64], db[128], keyfile[128];
static struct dj_store *st;
static EVP_PKEY *key;

static void setup(void)
{
  snprintf(dir, sizeof dir, "/tmp/dj-audit-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(db, sizeof db, "%s/db.sqlite", dir);
  snprintf(keyfile, sizeof keyfile, "%s/audit.key", dir);
  dj_err err = { 0 };
  cr_assert_eq(dj_store_sqlite_open(db, false, &st, &err), 0, "%s", err.msg);
  cr_assert_eq(dj_audit_key_load(keyfile, true, &key, &err), 0, "%s", err.msg);
}

static void teardown(void)
{
  if (st)
    st->ops->close(st);
  EVP_PKEY_free(key);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) {
  }
}

TestSuite(audit, .init = setup, .fini = teardown);

/* Ten records, a checkpoint after the sixth and one after the tenth. */
static void fill(void)
{
  dj_err err = { 0 };
  int64_t last = 0;
  for (int i = 1; i <= 10; i++) {
    cr_assert_eq(st->ops->begin(st, &err), 0, "%s", err.msg);
    json_t *body = json_pack("{s:i, s:s}", "n", i, "decision", i % 2 ? "allow" : "deny");
    int64_t seq = 0;
    cr_assert_eq(st->ops->audit_append(st, "attest", body, 1000 + i, &seq, &err), 0, "%s", err.msg);
    json_decref(body);
    cr_assert_eq(seq, i);
    cr_assert_eq(st->ops->commit(st, &err), 0, "%s", err.msg);
    if (i == 6 || i == 10)
      cr_assert_eq(dj_audit_checkpoint_now(st, key, 5000 + i, &last, &err), 0, "%s", err.msg);
  }
  cr_assert_eq(last, 10);
}

static int on_cp(const struct dj_vcheckpoint *c, void *ctx)
{
  return dj_audit_verifier_checkpoint(ctx, c);
}

static int on_rec(const struct dj_vaudit *a, void *ctx)
{
  return dj_audit_verifier_record(ctx, a->seq, a->record, a->hash);
}

/* Verify the store: NULL when it passes, else why (static buffer). */
static const char *verify(int64_t known_seq, const uint8_t *known_hash)
{
  static char why[512];
  struct dj_audit_verifier v;
  dj_audit_verifier_init(&v, key);
  v.known_seq = known_seq;
  if (known_hash)
    memcpy(v.known_hash, known_hash, 32);
  dj_err err = { 0 };
  st->ops->checkpoint_list(st, on_cp, &v, &err);
  st->ops->audit_list(st, 1, INT64_MAX, on_rec, &v, &err);
  dj_audit_verifier_finish(&v);
  snprintf(why, sizeof why, "%s", v.why);
  bool failed = v.failed;
  dj_audit_verifier_free(&v);
  return failed ? why : NULL;
}

static void sql(const char *text)
{
  sqlite3 *h;
  cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
  char *msg = NULL;
  cr_assert_eq(sqlite3_exec(h, text, NULL, NULL, &msg), SQLITE_OK, "%s: %s", text, msg);
  sqlite3_close(h);
}

static void expect_failure(const char *needle)
{
  const char *why = verify(0, NULL);
  cr_assert_not_null(why, "tampering not detected (%s)", needle);
  cr_assert_not_null(strstr(why, needle), "%s", why);
}

Test(audit, an_intact_log_verifies)
{
  fill();
  cr_assert_null(verify(0, NULL));
}

Test(audit, an_edited_record)
{
  fill();
  sql("UPDATE audit SET record = replace(record, '\"deny\"', '\"allow\"') WHERE seq = 4");
  expect_failure("record 4: its hash is not the chain's");
}

Test(audit, a_dropped_record)
{
  fill();
  sql("DELETE FROM audit WHERE seq = 3");
  expect_failure("record 4: expected record 3");
}

Test(audit, reordered_records)
{
  fill();
  /* swap records 2 and 3 with their hashes: each row stays self-consistent */
  sql("UPDATE audit SET seq = -2 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 3;"
      "UPDATE audit SET seq = 3 WHERE seq = -2;");
  expect_failure("record 2: its text does not carry seq 2");
}

Test(audit, a_dropped_tail)
{
  fill();
  sql("DELETE FROM audit WHERE seq > 8");
  expect_failure("the log ends at record 8 but a checkpoint signs record 10 (a dropped tail)");
}

static void rehash_from(int64_t seq)
{
  /* recompute every hash from seq on, as someone with write access to the database would */
  sqlite3 *h;
  cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
  uint8_t prev[32] = { 0 };
  sqlite3_stmt *q;
  sqlite3_prepare_v2(h, "SELECT seq, record, hash FROM audit ORDER BY seq", -1, &q, NULL);
  struct { int64_t seq; char *rec; } rows[64];
  int n = 0;
  while (sqlite3_step(q) == SQLITE_ROW && n < 64) {
    rows[n].seq = sqlite3_column_int64(q, 0);
    rows[n].rec = strdup((const char *) sqlite3_column_text(q, 1));
    if (rows[n].seq < seq)
      memcpy(prev, sqlite3_column_blob(q, 2), 32);
    n++;
  }
  sqlite3_finalize(q);
  for (int i = 0; i < n; i++) {
    if (rows[i].seq < seq)
      continue;
    uint8_t hh[32];
    dj_audit_hash(prev, rows[i].rec, strlen(rows[i].rec), hh);
    sqlite3_prepare_v2(h, "UPDATE audit SET hash = ?1 WHERE seq = ?2", -1, &q, NULL);
    sqlite3_bind_blob(q, 1, hh, 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(q, 2, rows[i].seq);
    cr_assert_eq(sqlite3_step(q), SQLITE_DONE);
    sqlite3_finalize(q);
    memcpy(prev, hh, 32);
  }
  for (int i = 0; i < n; i++)
    free(rows[i].rec);
  sqlite3_close(h);
}

Test(audit, a_rewritten_chain)
{
  fill();
  sql("UPDATE audit SET record = replace(record, '\"deny\"', '\"allow\"') WHERE seq = 4");
  rehash_from(4);
  expect_failure("record 6: the chain differs from the signed checkpoint at this seq (a rewritten chain)");
}

Test(audit, a_rewritten_chain_with_its_checkpoints_removed)
{
  fill();
  int64_t known = 10;
  uint8_t known_hash[32];
  int64_t s;
  dj_err err = { 0 };
  cr_assert_eq(st->ops->audit_head(st, &s, known_hash, &err), 0);
  sql("UPDATE audit SET record = replace(record, '\"deny\"', '\"allow\"') WHERE seq = 4; DELETE FROM checkpoints");
  rehash_from(4);
  cr_assert_null(verify(0, NULL), "without checkpoints the chain alone cannot tell");
  /* but the auditor's kept checkpoint can */
  const char *why = verify(known, known_hash);
  cr_assert_not_null(why);
  cr_assert_not_null(strstr(why, "the checkpoint kept by the auditor"), "%s", why);
}

Test(audit, a_forged_checkpoint)
{
  fill();
  sql("UPDATE checkpoints SET seq = 7 WHERE seq = 6");
  expect_failure("checkpoint at seq 7: the signature does not verify");
}

Test(audit, the_key_file_must_be_private)
{
  char path[160];
  snprintf(path, sizeof path, "%s/open.key", dir);
  EVP_PKEY *k = NULL;
  dj_err err = { 0 };
  cr_assert_eq(dj_audit_key_load(path, true, &k, &err), 0, "%s", err.msg);
  EVP_PKEY_free(k);
  chmod(path, 0644);
  cr_assert_eq(dj_audit_key_load(path, false, &k, &err), -1);
  cr_assert_not_null(strstr(err.msg, "0600"), "%s", err.msg);
}

/* A record made around a body's canonical text (the attestation answer shares that text) is the
 * canonical JSON of the whole record, escapes and non-ASCII text included. */
Test(audit, a_record_from_its_body_text_is_the_canonical_record)
{
  const char *bodies[] = { "{\"z\":1,\"a\":[{\"y\":\"\\u00e9t\\u00e9 \\\"quoted\\\" \\\\ \\n\"},null,true]}",
                           "{\"decision\":\"allow\",\"checks\":[],\"source\":\"::1\"}", "{\"k\":{}}" };
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
    json_error_t je;
    json_t *body = json_loads(bodies[i], 0, &je);
    cr_assert_not_null(body, "%s", je.text);
    json_t *whole = json_pack("{s:O, s:I, s:I, s:s}", "body", body, "seq", (json_int_t) 42, "time",
                              (json_int_t) 1733250000123, "type", "attest");
    char *want = json_dumps(whole, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
    char *got = dj_audit_record_text(42, 1733250000123, "attest", text);
    cr_assert_str_eq(got, want);
    char *again = dj_audit_record(42, 1733250000123, "attest", body);
    cr_assert_str_eq(again, want);
    free(want);
    free(text);
    free(got);
    free(again);
    json_decref(whole);
    json_decref(body);
  }
  cr_assert_null(dj_audit_record_text(1, 1, "attest", "[1]"), "only an object is a body");
}

/* `donjon-verifier audit verify --database FILE`: the command itself, on the database file. */
static int cli_verify(const char *database, char *out, size_t size)
{
  char pub[160], cmd[1024];
  snprintf(pub, sizeof pub, "%s/audit.pub", dir);
  FILE *f = fopen(pub, "w");
  cr_assert_not_null(f);
  cr_assert_eq(PEM_write_PUBKEY(f, key), 1);
  fclose(f);
  snprintf(cmd, sizeof cmd, "'%s' audit verify --database '%s' --pubkey '%s' 2>&1", getenv("DONJON_VERIFIER_BIN"),
           database, pub);
  FILE *p = popen(cmd, "r");
  cr_assert_not_null(p);
  size_t n = fread(out, 1, size - 1, p);
  out[n] = 0;
  int status = pclose(p);
  cr_assert(WIFEXITED(status), "%s", out);
  return WEXITSTATUS(status);
}

static void cli_expect_failure(const char *needle)
{
  char out[2048];
  cr_assert_eq(cli_verify(db, out, sizeof out), 1, "tampering not detected (%s): %s", needle, out);
  cr_assert_not_null(strstr(out, needle), "%s", out);
  cr_assert_not_null(strstr(out, "FAILED"), "%s", out);
}

static char *file_bytes(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "%s", path);
  char *b = malloc(1 << 20);
  *len = fread(b, 1, 1 << 20, f);
  fclose(f);
  return b;
}

Test(audit, cli_passes_an_intact_log_and_writes_nothing)
{
  fill();
  char out[2048];
  /* while the store is open (its WAL in use), then closed */
  cr_assert_eq(cli_verify(db, out, sizeof out), 0, "%s", out);
  cr_assert_not_null(strstr(out, "audit log OK: 10 records, 2 signed checkpoints"), "%s", out);
  st->ops->close(st);
  st = NULL;
  size_t l1, l2;
  char *before = file_bytes(db, &l1);
  cr_assert_eq(cli_verify(db, out, sizeof out), 0, "%s", out);
  cr_assert_not_null(strstr(out, "audit log OK: 10 records"), "%s", out);
  char *after = file_bytes(db, &l2);
  cr_assert(l1 == l2 && memcmp(before, after, l1) == 0, "audit verify wrote to the database it audits");
  free(before);
  free(after);
}

Test(audit, cli_refuses_a_missing_file_or_a_database_without_the_schema)
{
  char out[2048], path[160];
  snprintf(path, sizeof path, "%s/mistyped.sqlite", dir);
  cr_assert_eq(cli_verify(path, out, sizeof out), 1, "%s", out);
  cr_assert_not_null(strstr(out, "mistyped.sqlite"), "%s", out);
  cr_assert_null(strstr(out, "audit log OK"), "%s", out);
  struct stat sb;
  cr_assert_eq(stat(path, &sb), -1, "audit verify created %s", path);
  /* a SQLite file that is not a verifier store (no schema version), and a newer schema */
  snprintf(path, sizeof path, "%s/other.sqlite", dir);
  sqlite3 *h;
  cr_assert_eq(sqlite3_open(path, &h), SQLITE_OK);
  cr_assert_eq(sqlite3_exec(h, "CREATE TABLE t (x)", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(h);
  cr_assert_eq(cli_verify(path, out, sizeof out), 1, "%s", out);
  cr_assert_not_null(strstr(out, "schema version 0 is not one of this verifier's"), "%s", out);
  sql("PRAGMA user_version = 99");
  cr_assert_eq(cli_verify(db, out, sizeof out), 1, "%s", out);
  cr_assert_not_null(strstr(out, "schema version 99"), "%s", out);
}

Test(audit, cli_finds_each_tampering)
{
  fill();
  sql("UPDATE audit SET record = replace(record, '\"deny\"', '\"allow\"') WHERE seq = 4");
  cli_expect_failure("record 4: its hash is not the chain's");
  rehash_from(4); /* the chain rewritten without the checkpoint key */
  cli_expect_failure("record 6: the chain differs from the signed checkpoint at this seq (a rewritten chain)");
}

Test(audit, cli_finds_a_dropped_record)
{
  fill();
  sql("DELETE FROM audit WHERE seq = 3");
  cli_expect_failure("record 4: expected record 3");
}

Test(audit, cli_finds_reordered_records)
{
  fill();
  sql("UPDATE audit SET seq = -2 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 3;"
      "UPDATE audit SET seq = 3 WHERE seq = -2;");
  cli_expect_failure("record 2: its text does not carry seq 2");
}

Test(audit, cli_finds_a_dropped_tail)
{
  fill();
  sql("DELETE FROM audit WHERE seq > 8");
  cli_expect_failure("(a dropped tail)");
}
