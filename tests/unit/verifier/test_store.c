/* The SQLite store: migrations to the current schema (from nothing and from schema 1; a newer
 * schema refused), nonces consumed exactly once, one-use enrolment challenges, rollback leaving
 * nothing, and sealed secrets that open only with their master key and their context. */
#include <criterion/criterion.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "verifier/seal.h"
#include "verifier/store.h"

static char dir[64], db[128];
static struct dj_store *st;

static void setup(void)
{
  snprintf(dir, sizeof dir, "/tmp/dj-store-XXXXXX");
  cr_assert_not_null(mkdtemp(dir));
  snprintf(db, sizeof db, "%s/db.sqlite", dir);
  dj_err err = { 0 };
  cr_assert_eq(dj_store_sqlite_open(db, false, &st, &err), 0, "%s", err.msg);
}

static void teardown(void)
{
  if (st)
    st->ops->close(st);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  if (system(cmd) != 0) {
  }
}

TestSuite(store, .init = setup, .fini = teardown);

Test(store, migrated_and_a_newer_schema_refused)
{
  sqlite3 *h;
  cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
  sqlite3_stmt *q;
  sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &q, NULL);
  cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
  cr_assert_eq(sqlite3_column_int(q, 0), dj_store_sqlite_schema_version());
  sqlite3_finalize(q);
  sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &q, NULL);
  cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
  cr_assert_str_eq((const char *) sqlite3_column_text(q, 0), "wal");
  sqlite3_finalize(q);
  st->ops->close(st);
  st = NULL;
  cr_assert_eq(sqlite3_exec(h, "PRAGMA user_version = 99", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(h);
  dj_err err = { 0 };
  cr_assert_eq(dj_store_sqlite_open(db, false, &st, &err), -1);
  cr_assert_not_null(strstr(err.msg, "schema version 99 is newer"), "%s", err.msg);
}

/* A database of schema 1 (the nonces in a rowid table with a second index) is migrated to 2 on
 * open: nodes, keys and the audit chain kept, nonces (short-lived) dropped with their table. */
Test(store, migrated_from_schema_1)
{
  dj_err err = { 0 };
  struct dj_vnode n = { .id = "n1", .name = "rack-1", .status = DJ_NODE_APPROVED, .ek_public = { 1, 2 },
                        .ek_public_len = 2, .site = "FR-PAR-1" };
  struct dj_vnonce nonce = { .issued_ms = 1, .expires_ms = INT64_MAX / 2 };
  memset(nonce.nonce, 9, 32);
  strcpy(nonce.node_id, "n1");
  cr_assert_eq(st->ops->begin(st, &err), 0);
  cr_assert_eq(st->ops->node_put(st, &n, &err), 0, "%s", err.msg);
  cr_assert_eq(st->ops->nonce_put(st, &nonce, &err), 0, "%s", err.msg);
  json_t *body = json_pack("{s:s}", "node", "n1");
  cr_assert_eq(st->ops->audit_append(st, "approve", body, 5, NULL, &err), 0, "%s", err.msg);
  json_decref(body);
  cr_assert_eq(st->ops->commit(st, &err), 0);
  st->ops->close(st);
  st = NULL;
  /* back to schema 1 as the first verifier release left it */
  sqlite3 *h;
  cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
  cr_assert_eq(sqlite3_exec(h, "DROP TABLE nonces;"
                               "CREATE TABLE nonces (nonce BLOB PRIMARY KEY, node_id TEXT NOT NULL, issued_ms INTEGER"
                               " NOT NULL, expires_ms INTEGER NOT NULL, instance TEXT NOT NULL, mono_ms INTEGER NOT NULL,"
                               " used INTEGER NOT NULL);"
                               "CREATE INDEX nonces_node ON nonces (node_id, expires_ms);"
                               "INSERT INTO nonces VALUES (zeroblob(32), 'n1', 1, 9, '', 0, 0);"
                               "PRAGMA user_version = 1;", NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(h));
  sqlite3_close(h);

  cr_assert_eq(dj_store_sqlite_open(db, false, &st, &err), 0, "%s", err.msg);
  cr_assert_eq(sqlite3_open(db, &h), SQLITE_OK);
  sqlite3_stmt *q;
  sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &q, NULL);
  cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
  cr_assert_eq(sqlite3_column_int(q, 0), 2);
  sqlite3_finalize(q);
  sqlite3_prepare_v2(h, "SELECT sql FROM sqlite_master WHERE name = 'nonces'", -1, &q, NULL);
  cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
  cr_assert_not_null(strstr((const char *) sqlite3_column_text(q, 0), "WITHOUT ROWID"), "%s", sqlite3_column_text(q, 0));
  sqlite3_finalize(q);
  sqlite3_prepare_v2(h, "SELECT count(*) FROM nonces", -1, &q, NULL);
  cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
  cr_assert_eq(sqlite3_column_int(q, 0), 0, "schema 1's nonces survived the migration");
  sqlite3_finalize(q);
  sqlite3_close(h);
  struct dj_vnode got;
  cr_assert_eq(st->ops->node_get(st, "n1", &got, &err), 1, "%s", err.msg);
  cr_assert_str_eq(got.site, "FR-PAR-1");
  int64_t head = 0;
  uint8_t hash[32];
  cr_assert_eq(st->ops->audit_head(st, &head, hash, &err), 0);
  cr_assert_eq(head, 1);
  /* and the migrated table works */
  cr_assert_eq(st->ops->begin(st, &err), 0);
  cr_assert_eq(st->ops->nonce_put(st, &nonce, &err), 0, "%s", err.msg);
  enum dj_nonce_state state;
  struct dj_vnonce out;
  cr_assert_eq(st->ops->nonce_consume(st, nonce.nonce, &state, &out, &err), 0, "%s", err.msg);
  cr_assert_eq(state, DJ_NONCE_FRESH);
  cr_assert_eq(st->ops->commit(st, &err), 0);
}

Test(store, a_nonce_is_consumed_once)
{
  dj_err err = { 0 };
  struct dj_vnonce n = { .issued_ms = 1, .expires_ms = 2 };
  memset(n.nonce, 7, 32);
  strcpy(n.node_id, "node");
  cr_assert_eq(st->ops->begin(st, &err), 0);
  cr_assert_eq(st->ops->nonce_put(st, &n, &err), 0, "%s", err.msg);
  cr_assert_eq(st->ops->commit(st, &err), 0);
  enum dj_nonce_state s;
  struct dj_vnonce got;
  for (int i = 0; i < 3; i++) {
    cr_assert_eq(st->ops->begin(st, &err), 0);
    cr_assert_eq(st->ops->nonce_consume(st, n.nonce, &s, &got, &err), 0, "%s", err.msg);
    cr_assert_eq(st->ops->commit(st, &err), 0);
    cr_assert_eq(s, i == 0 ? DJ_NONCE_FRESH : DJ_NONCE_USED);
    cr_assert_str_eq(got.node_id, "node");
  }
  uint8_t other[32] = { 1 };
  cr_assert_eq(st->ops->begin(st, &err), 0);
  cr_assert_eq(st->ops->nonce_consume(st, other, &s, &got, &err), 0);
  st->ops->rollback(st);
  cr_assert_eq(s, DJ_NONCE_UNKNOWN);
}

Test(store, a_rolled_back_request_leaves_nothing)
{
  dj_err err = { 0 };
  cr_assert_eq(st->ops->begin(st, &err), 0);
  json_t *body = json_pack("{s:s}", "x", "y");
  cr_assert_eq(st->ops->audit_append(st, "attest", body, 1, NULL, &err), 0);
  json_decref(body);
  struct dj_venroll e = { .id = "c1", .node_id = "n", .ak_public_len = 1, .sealed_secret_len = 1 };
  cr_assert_eq(st->ops->enroll_put(st, &e, &err), 0, "%s", err.msg);
  st->ops->rollback(st);
  int64_t seq;
  uint8_t h[32];
  cr_assert_eq(st->ops->audit_head(st, &seq, h, &err), 0);
  cr_assert_eq(seq, 0);
  struct dj_venroll got;
  cr_assert_eq(st->ops->begin(st, &err), 0);
  cr_assert_eq(st->ops->enroll_take(st, "c1", &got, &err), 0);
  st->ops->rollback(st);
}

Test(store, an_enrolment_challenge_is_taken_once)
{
  dj_err err = { 0 };
  struct dj_venroll e = { .id = "c1", .node_id = "n", .ak_public_len = 1, .sealed_secret_len = 1, .expires_ms = 9 };
  cr_assert_eq(st->ops->begin(st, &err), 0);
  cr_assert_eq(st->ops->enroll_put(st, &e, &err), 0, "%s", err.msg);
  cr_assert_eq(st->ops->commit(st, &err), 0);
  struct dj_venroll got;
  cr_assert_eq(st->ops->begin(st, &err), 0);
  cr_assert_eq(st->ops->enroll_take(st, "c1", &got, &err), 1);
  cr_assert_eq(got.expires_ms, 9);
  cr_assert_eq(st->ops->enroll_take(st, "c1", &got, &err), 0);
  cr_assert_eq(st->ops->commit(st, &err), 0);
}

Test(store, sealed_secrets_open_only_with_their_key_and_context)
{
  char path[160], path2[160];
  snprintf(path, sizeof path, "%s/master.key", dir);
  snprintf(path2, sizeof path2, "%s/other.key", dir);
  struct dj_master_key mk, other;
  dj_err err = { 0 };
  cr_assert_eq(dj_master_key_load(path, true, &mk, &err), 0, "%s", err.msg);
  cr_assert_eq(dj_master_key_load(path2, true, &other, &err), 0, "%s", err.msg);
  struct stat sb;
  cr_assert_eq(stat(path, &sb), 0);
  cr_assert_eq(sb.st_mode & 0777, 0600);
  uint8_t sealed[64 + DJ_SEAL_OVERHEAD], out[64];
  size_t n = 0, m = 0;
  cr_assert_eq(dj_seal(&mk, "key:acme:db:secret", (const uint8_t *) "hunter2", 7, sealed, &n, &err), 0);
  cr_assert_null(memmem(sealed, n, "hunter2", 7), "plaintext in the sealed value");
  cr_assert_eq(dj_unseal(&mk, "key:acme:db:secret", sealed, n, out, &m, &err), 0, "%s", err.msg);
  cr_assert_eq(m, 7);
  cr_assert_eq(memcmp(out, "hunter2", 7), 0);
  cr_assert_eq(dj_unseal(&mk, "key:beta:db:secret", sealed, n, out, &m, &err), -1, "moved to another tenant");
  cr_assert_eq(dj_unseal(&other, "key:acme:db:secret", sealed, n, out, &m, &err), -1, "another master key");
  sealed[15] ^= 1;
  cr_assert_eq(dj_unseal(&mk, "key:acme:db:secret", sealed, n, out, &m, &err), -1, "a changed byte");
  dj_master_key_free(&mk);
  dj_master_key_free(&other);
  chmod(path, 0640);
  cr_assert_eq(dj_master_key_load(path, false, &mk, &err), -1);
  cr_assert_not_null(strstr(err.msg, "0600"), "%s", err.msg);
}

/* Two stores of one database (two workers) share its writer: each one's transactions are seen by
 * the other, and the WAL their commits grow is copied into the database by the checkpointer
 * thread, with no checkpoint asked for here. */
Test(store, stores_of_one_database_share_the_writer_and_its_checkpoints)
{
  dj_err err = { 0 };
  struct dj_store *other = NULL;
  cr_assert_eq(dj_store_sqlite_open(db, false, &other, &err), 0, "%s", err.msg);
  struct stat before;
  cr_assert_eq(stat(db, &before), 0);
  char pad[3000];
  memset(pad, 'x', sizeof pad - 1);
  pad[sizeof pad - 1] = '\0';
  for (int i = 0; i < 1200; i++) { /* about a page each: past the checkpoint threshold */
    struct dj_store *s = i % 2 ? other : st;
    cr_assert_eq(s->ops->begin(s, &err), 0, "%s", err.msg);
    json_t *body = json_pack("{s:s}", "pad", pad);
    int64_t seq = 0;
    cr_assert_eq(s->ops->audit_append(s, "attest", body, 1, &seq, &err), 0, "%s", err.msg);
    json_decref(body);
    cr_assert_eq(s->ops->commit(s, &err), 0, "%s", err.msg);
    cr_assert_eq(seq, i + 1, "one chain across both stores");
  }
  int64_t head = 0;
  uint8_t hash[32];
  cr_assert_eq(other->ops->audit_head(other, &head, hash, &err), 0);
  cr_assert_eq(head, 1200);
  struct stat after = before;
  for (int i = 0; i < 500 && after.st_size < before.st_size + 1000 * 4096; i++) { /* up to 5 s */
    usleep(10000);
    cr_assert_eq(stat(db, &after), 0);
  }
  cr_assert_geq(after.st_size, before.st_size + 1000 * 4096, "the checkpointer copied the WAL: %lld bytes",
                (long long) after.st_size);
  other->ops->close(other);
}

/* Under a steady stream of commits the WAL does not grow without bound: past 64 MB the checkpointer
 * copies it to its end and the next transaction starts it again from its beginning. */
Test(store, the_wal_stays_bounded_under_steady_commits)
{
  dj_err err = { 0 };
  char wal[160], pad[3000];
  snprintf(wal, sizeof wal, "%s-wal", db);
  memset(pad, 'x', sizeof pad - 1);
  pad[sizeof pad - 1] = '\0';
  off_t most = 0;
  for (int i = 0; i < 20000; i++) { /* two WAL pages each: 160 MB of WAL without restarts */
    cr_assert_eq(st->ops->begin(st, &err), 0, "%s", err.msg);
    json_t *body = json_pack("{s:s}", "pad", pad);
    cr_assert_eq(st->ops->audit_append(st, "attest", body, 1, NULL, &err), 0, "%s", err.msg);
    json_decref(body);
    cr_assert_eq(st->ops->commit(st, &err), 0, "%s", err.msg);
    struct stat sb;
    if (stat(wal, &sb) == 0 && sb.st_size > most)
      most = sb.st_size;
  }
  cr_assert_lt(most, 100 << 20, "the WAL grew to %lld bytes", (long long) most);
}
