/* The SQLite store (WAL). Each dj_store has its own connection for reads outside a transaction;
 * every transaction of the process on one database runs on one shared writer connection, under
 * that writer's mutex (cheaper than SQLite's busy wait; SQLite's own lock covers other processes).
 * One writer keeps its page cache warm across transactions (a connection's cache is dropped
 * whenever another connection wrote), and its WAL is checkpointed by a thread of its own, so that
 * no request waits for the copy of the WAL into the database. Migrations are numbered; each runs in
 * its own transaction and bumps PRAGMA user_version. */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "common/util.h"
#include "verifier/audit.h"
#include "verifier/store.h"

static const char *const migrations[] = {
  /* 1: the first schema */
  "CREATE TABLE nodes (id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL,"
  " ek_public BLOB NOT NULL, ek_cert BLOB, ek_manufacturer TEXT NOT NULL, ek_model TEXT NOT NULL,"
  " ek_version TEXT NOT NULL, ek_key_type TEXT NOT NULL, ak_public BLOB, new_ak BLOB,"
  " new_ak_activated INTEGER NOT NULL, site TEXT NOT NULL, jurisdiction TEXT NOT NULL, hw_class TEXT NOT NULL,"
  " in_inventory INTEGER NOT NULL, has_counters INTEGER NOT NULL, reset_count INTEGER NOT NULL,"
  " restart_count INTEGER NOT NULL, clock INTEGER NOT NULL, reason TEXT NOT NULL,"
  " created_ms INTEGER NOT NULL, updated_ms INTEGER NOT NULL);"
  "CREATE TABLE enroll_challenges (id TEXT PRIMARY KEY, node_id TEXT NOT NULL, ak_public BLOB NOT NULL,"
  " sealed_secret BLOB NOT NULL, expires_ms INTEGER NOT NULL);"
  "CREATE TABLE inventory (ek_digest TEXT PRIMARY KEY, name TEXT NOT NULL, site TEXT NOT NULL,"
  " jurisdiction TEXT NOT NULL, hw_class TEXT NOT NULL);"
  "CREATE TABLE nonces (nonce BLOB PRIMARY KEY, node_id TEXT NOT NULL, issued_ms INTEGER NOT NULL,"
  " expires_ms INTEGER NOT NULL, instance TEXT NOT NULL, mono_ms INTEGER NOT NULL, used INTEGER NOT NULL);"
  "CREATE INDEX nonces_node ON nonces (node_id, expires_ms);"
  "CREATE TABLE keys (id TEXT PRIMARY KEY, tenant TEXT NOT NULL, kind TEXT NOT NULL, sealed BLOB NOT NULL,"
  " public_pem TEXT NOT NULL, created_ms INTEGER NOT NULL);"
  "CREATE TABLE policies (name TEXT PRIMARY KEY, doc TEXT NOT NULL);"
  "CREATE TABLE audit (seq INTEGER PRIMARY KEY, record TEXT NOT NULL, hash BLOB NOT NULL);"
  "CREATE TABLE checkpoints (seq INTEGER PRIMARY KEY, time_ms INTEGER NOT NULL, hash BLOB NOT NULL,"
  " sig BLOB NOT NULL);",
  /* 2: nonces in one b-tree keyed by the nonce (using one changes no index) */
  "DROP TABLE nonces;"
  "CREATE TABLE nonces (nonce BLOB PRIMARY KEY, node_id TEXT NOT NULL, issued_ms INTEGER NOT NULL,"
  " expires_ms INTEGER NOT NULL, instance TEXT NOT NULL, mono_ms INTEGER NOT NULL, used INTEGER NOT NULL) WITHOUT ROWID;"
  "CREATE INDEX nonces_node ON nonces (node_id, expires_ms);",
};

enum stmt_id {
  S_BEGIN, S_COMMIT, S_ROLLBACK, S_READ_BEGIN,
  S_NODE_GET, S_NODE_PUT, S_NODE_LIST,
  S_ENROLL_PUT, S_ENROLL_GET, S_ENROLL_DEL,
  S_INV_PUT, S_INV_GET,
  S_NONCE_PUT, S_NONCE_USE, S_NONCE_GET, S_NONCE_COUNT, S_NONCE_PURGE,
  S_KEY_PUT, S_KEY_GET, S_KEY_LIST,
  S_POLICY_PUT, S_POLICY_GET,
  S_AUDIT_HEAD, S_AUDIT_PUT, S_AUDIT_LIST,
  S_CP_PUT, S_CP_LIST,
  S_COUNT
};

#define NODE_COLS                                                                                          \
  "id, name, status, ek_public, ek_cert, ek_manufacturer, ek_model, ek_version, ek_key_type, ak_public, new_ak," \
  " new_ak_activated, site, jurisdiction, hw_class, in_inventory, has_counters, reset_count, restart_count, clock," \
  " reason, created_ms, updated_ms"

static const char *const sql[S_COUNT] = {
  [S_BEGIN] = "BEGIN IMMEDIATE",
  [S_COMMIT] = "COMMIT",
  [S_ROLLBACK] = "ROLLBACK",
  [S_READ_BEGIN] = "BEGIN", /* deferred: a read transaction on the reader's connection */
  [S_NODE_GET] = "SELECT " NODE_COLS " FROM nodes WHERE id = ?1",
  /* an upsert: a known node's row is updated in place (REPLACE deleted and inserted it under a new
   * rowid, rewriting its index entry too: three or four more pages in the WAL per attestation) */
  [S_NODE_PUT] = "INSERT INTO nodes (" NODE_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
                 " ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23) ON CONFLICT (id) DO UPDATE SET"
                 " name = ?2, status = ?3, ek_public = ?4, ek_cert = ?5, ek_manufacturer = ?6, ek_model = ?7,"
                 " ek_version = ?8, ek_key_type = ?9, ak_public = ?10, new_ak = ?11, new_ak_activated = ?12,"
                 " site = ?13, jurisdiction = ?14, hw_class = ?15, in_inventory = ?16, has_counters = ?17,"
                 " reset_count = ?18, restart_count = ?19, clock = ?20, reason = ?21, created_ms = ?22,"
                 " updated_ms = ?23",
  [S_NODE_LIST] = "SELECT " NODE_COLS " FROM nodes ORDER BY id",
  [S_ENROLL_PUT] = "INSERT INTO enroll_challenges (id, node_id, ak_public, sealed_secret, expires_ms)"
                   " VALUES (?1, ?2, ?3, ?4, ?5)",
  [S_ENROLL_GET] = "SELECT id, node_id, ak_public, sealed_secret, expires_ms FROM enroll_challenges WHERE id = ?1",
  [S_ENROLL_DEL] = "DELETE FROM enroll_challenges WHERE id = ?1",
  [S_INV_PUT] = "INSERT OR REPLACE INTO inventory (ek_digest, name, site, jurisdiction, hw_class)"
                " VALUES (?1, ?2, ?3, ?4, ?5)",
  [S_INV_GET] = "SELECT ek_digest, name, site, jurisdiction, hw_class FROM inventory WHERE ek_digest = ?1",
  [S_NONCE_PUT] = "INSERT INTO nonces (nonce, node_id, issued_ms, expires_ms, instance, mono_ms, used)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)",
  [S_NONCE_USE] = "UPDATE nonces SET used = 1 WHERE nonce = ?1 AND used = 0",
  [S_NONCE_GET] = "SELECT nonce, node_id, issued_ms, expires_ms, instance, mono_ms, used FROM nonces WHERE nonce = ?1",
  [S_NONCE_COUNT] = "SELECT count(*) FROM (SELECT 1 FROM nonces WHERE node_id = ?1 AND used = 0 AND expires_ms >= ?2"
                    " LIMIT ?3)",
  [S_NONCE_PURGE] = "DELETE FROM nonces WHERE expires_ms < ?1",
  [S_KEY_PUT] = "INSERT OR REPLACE INTO keys (id, tenant, kind, sealed, public_pem, created_ms)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
  [S_KEY_GET] = "SELECT id, tenant, kind, sealed, public_pem, created_ms FROM keys WHERE id = ?1",
  [S_KEY_LIST] = "SELECT id, tenant, kind, sealed, public_pem, created_ms FROM keys WHERE tenant = ?1 ORDER BY id",
  [S_POLICY_PUT] = "INSERT OR REPLACE INTO policies (name, doc) VALUES (?1, ?2)",
  [S_POLICY_GET] = "SELECT doc FROM policies WHERE name = ?1",
  [S_AUDIT_HEAD] = "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1",
  [S_AUDIT_PUT] = "INSERT INTO audit (seq, record, hash) VALUES (?1, ?2, ?3)",
  [S_AUDIT_LIST] = "SELECT seq, record, hash FROM audit WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
  [S_CP_PUT] = "INSERT OR REPLACE INTO checkpoints (seq, time_ms, hash, sig) VALUES (?1, ?2, ?3, ?4)",
  [S_CP_LIST] = "SELECT seq, time_ms, hash, sig FROM checkpoints ORDER BY seq",
};

/* A connection with its prepared statements. */
struct conn {
  sqlite3 *db;
  sqlite3_stmt *stmt[S_COUNT];
};

#define CHECKPOINT_PAGES 1000   /* WAL pages added between two checkpoints (4 MB) */
#define WAL_RESTART_PAGES 16384 /* a WAL this long (64 MB) is copied to its end, to start again */

/* The writer of one database file in this process, shared by its stores (reference counted). */
struct writer {
  struct writer *next;
  char *path;                        /* realpath */
  int refs;
  pthread_mutex_t lock;              /* one transaction at a time */
  struct conn c;
  int cp_mark;                       /* WAL pages at the last checkpoint request (under lock) */
  pthread_t cp_thread;               /* the checkpointer, on a connection of its own */
  bool cp_started;
  sqlite3 *cp_db;
  pthread_mutex_t cp_lock;
  pthread_cond_t cp_cond;
  bool cp_wanted, cp_stop;
};

static pthread_mutex_t writers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct writer *writers;

struct sqlite_store {
  struct dj_store base;
  struct conn rd;                    /* reads outside a transaction */
  struct writer *w;
  bool in_tx;
  bool in_read;                      /* a read transaction is open on rd */
};

static struct sqlite_store *impl(struct dj_store *st)
{
  return (struct sqlite_store *) st;
}

/* The connection statements run on: the writer's inside a transaction. */
static struct conn *cur(struct sqlite_store *s)
{
  return s->in_tx ? &s->w->c : &s->rd;
}

static int db_error(struct sqlite_store *s, dj_err *err, const char *what)
{
  return dj_error(err, 0, "store: %s: %s", what, sqlite3_errmsg(cur(s)->db));
}

/* The prepared statement, reset and unbound. */
static sqlite3_stmt *stmt(struct sqlite_store *s, enum stmt_id id, dj_err *err)
{
  struct conn *c = cur(s);
  if (c->stmt[id] == NULL && sqlite3_prepare_v3(c->db, sql[id], -1, SQLITE_PREPARE_PERSISTENT, &c->stmt[id], NULL) != SQLITE_OK) {
    db_error(s, err, sql[id]);
    return NULL;
  }
  sqlite3_reset(c->stmt[id]);
  sqlite3_clear_bindings(c->stmt[id]);
  return c->stmt[id];
}

/* Run a statement that returns no row. */
static int step_done(struct sqlite_store *s, sqlite3_stmt *q, const char *what, dj_err *err)
{
  int rc = sqlite3_step(q);
  sqlite3_reset(q);
  if (rc != SQLITE_DONE)
    return db_error(s, err, what);
  return 0;
}

static void col_text(sqlite3_stmt *q, int i, char *out, size_t size)
{
  const unsigned char *t = sqlite3_column_text(q, i);
  snprintf(out, size, "%s", t ? (const char *) t : "");
}

static void col_blob(sqlite3_stmt *q, int i, uint8_t *out, size_t size, size_t *len)
{
  const void *b = sqlite3_column_blob(q, i);
  size_t n = (size_t) sqlite3_column_bytes(q, i);
  *len = b && n <= size ? n : 0;
  if (*len)
    memcpy(out, b, n);
}

static void bind_text(sqlite3_stmt *q, int i, const char *s)
{
  sqlite3_bind_text(q, i, s, -1, SQLITE_TRANSIENT);
}

static void bind_blob(sqlite3_stmt *q, int i, const void *b, size_t n)
{
  if (n == 0)
    sqlite3_bind_null(q, i);
  else
    sqlite3_bind_blob(q, i, b, (int) n, SQLITE_TRANSIENT);
}

static void conn_close(struct conn *c)
{
  for (int i = 0; i < S_COUNT; i++)
    sqlite3_finalize(c->stmt[i]);
  sqlite3_close(c->db);
  memset(c, 0, sizeof *c);
}

static void writer_release(struct writer *w);

static void s_close(struct dj_store *st)
{
  struct sqlite_store *s = impl(st);
  if (s == NULL)
    return;
  if (s->in_tx)
    st->ops->rollback(st);
  conn_close(&s->rd);
  if (s->w)
    writer_release(s->w);
  free(s);
}

static int s_begin(struct dj_store *st, dj_err *err)
{
  struct sqlite_store *s = impl(st);
  pthread_mutex_lock(&s->w->lock);
  s->in_tx = true;
  sqlite3_stmt *q = stmt(s, S_BEGIN, err);
  if (q == NULL || step_done(s, q, "begin", err) < 0) {
    s->in_tx = false;
    pthread_mutex_unlock(&s->w->lock);
    return -1;
  }
  return 0;
}

static int s_commit(struct dj_store *st, dj_err *err)
{
  struct sqlite_store *s = impl(st);
  sqlite3_stmt *q = stmt(s, S_COMMIT, err);
  int r = q ? step_done(s, q, "commit", err) : -1;
  if (r < 0) {
    sqlite3_stmt *rb = stmt(s, S_ROLLBACK, NULL);
    if (rb)
      sqlite3_step(rb), sqlite3_reset(rb);
  }
  s->in_tx = false;
  pthread_mutex_unlock(&s->w->lock);
  return r;
}

static void s_rollback(struct dj_store *st)
{
  struct sqlite_store *s = impl(st);
  if (!s->in_tx)
    return;
  sqlite3_stmt *q = stmt(s, S_ROLLBACK, NULL);
  if (q)
    sqlite3_step(q), sqlite3_reset(q);
  s->in_tx = false;
  pthread_mutex_unlock(&s->w->lock);
}

/* Several reads outside a transaction in one snapshot: one lock of the WAL's read mark and one
 * look at its index, instead of one per statement. */
static int s_read_begin(struct dj_store *st, dj_err *err)
{
  struct sqlite_store *s = impl(st);
  if (s->in_tx || s->in_read)
    return 0;
  sqlite3_stmt *q = stmt(s, S_READ_BEGIN, err);
  if (q == NULL || step_done(s, q, "read begin", err) < 0)
    return -1;
  s->in_read = true;
  return 0;
}

static void s_read_end(struct dj_store *st)
{
  struct sqlite_store *s = impl(st);
  if (!s->in_read)
    return;
  sqlite3_stmt *q = stmt(s, S_COMMIT, NULL);
  if (q)
    sqlite3_step(q), sqlite3_reset(q);
  s->in_read = false;
}

static void node_row(sqlite3_stmt *q, struct dj_vnode *n)
{
  memset(n, 0, sizeof *n);
  col_text(q, 0, n->id, sizeof n->id);
  col_text(q, 1, n->name, sizeof n->name);
  col_text(q, 2, n->status, sizeof n->status);
  col_blob(q, 3, n->ek_public, sizeof n->ek_public, &n->ek_public_len);
  col_blob(q, 4, n->ek_cert, sizeof n->ek_cert, &n->ek_cert_len);
  col_text(q, 5, n->ek_manufacturer, sizeof n->ek_manufacturer);
  col_text(q, 6, n->ek_model, sizeof n->ek_model);
  col_text(q, 7, n->ek_version, sizeof n->ek_version);
  col_text(q, 8, n->ek_key_type, sizeof n->ek_key_type);
  col_blob(q, 9, n->ak_public, sizeof n->ak_public, &n->ak_public_len);
  col_blob(q, 10, n->new_ak, sizeof n->new_ak, &n->new_ak_len);
  n->new_ak_activated = sqlite3_column_int(q, 11) != 0;
  col_text(q, 12, n->site, sizeof n->site);
  col_text(q, 13, n->jurisdiction, sizeof n->jurisdiction);
  col_text(q, 14, n->hw_class, sizeof n->hw_class);
  n->in_inventory = sqlite3_column_int(q, 15) != 0;
  n->has_counters = sqlite3_column_int(q, 16) != 0;
  n->reset_count = (uint32_t) sqlite3_column_int64(q, 17);
  n->restart_count = (uint32_t) sqlite3_column_int64(q, 18);
  n->clock = (uint64_t) sqlite3_column_int64(q, 19);
  col_text(q, 20, n->reason, sizeof n->reason);
  n->created_ms = sqlite3_column_int64(q, 21);
  n->updated_ms = sqlite3_column_int64(q, 22);
}

static int s_node_get(struct dj_store *st, const char *id, struct dj_vnode *out, dj_err *err)
{
  struct sqlite_store *s = impl(st);
  sqlite3_stmt *q = stmt(s, S_NODE_GET, err);
  if (q == NULL)
    return -1;
  bind_text(q, 1, id);
  int rc = sqlite3_step(q);
  if (rc == SQLITE_ROW)
    node_row(q, out);
  sqlite3_reset(q);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return db_error(s, err, "node get");
  return rc == SQLITE_ROW;
}

static int s_node_put(struct dj_store *st, const struct dj_vnode *n, dj_err *err)
{
  struct sqlite_store *s = impl(st);
  sqlite3_stmt *q = stmt(s, S_NODE_PUT, err);
  if (q == NULL)
    return -1;
  bind_text(q, 1, n->id);
  bind_text(q, 2, n->name);
  bind_text(q, 3, n->status);
  sqlite3_bind_blob(q, 4, n->ek_public, (int) n->ek_public_len, SQLITE_TRANSIENT);
  bind_blob(q, 5, n->ek_cert, n->ek_cert_len);
  bind_text(q, 6, n->ek_manufacturer);
  bind_text(q, 7, n->ek_model);
  bind_text(q, 8, n->ek_version);
  bind_text(q, 9, n->ek_key_type);
  bind_blob(q, 10, n->ak_public, n->ak_public_len);
  bind_blob(q, 11, n->new_ak, n->new_ak_len);
  sqlite3_bind_int(q, 12, n->new_ak_activated);
  bind_text(q, 13, n->site);
  bind_text(q, 14, n->jurisdiction);
  bind_text(q, 15, n->hw_class);
  sqlite3_bind_int(q, 16, n->in_inventory);
  sqlite3_bind_int(q, 17, n->has_counters);
  sqlite3_bind_int64(q, 18, n->reset_count);
  sqlite3_bind_int64(q, 19, n->restart_count);
  sqlite3_bind_int64(q, 20, (sqlite3_int64) n->clock);
  bind_text(q, 21, n->reason);
  sqlite3_bind_int64(q, 22, n->created_ms);
  sqlite3_bind_int64(q, 23, n->updated_ms);
  return step_done(s, q, "node put", err);
}

static int s_node_list(struct dj_store *st, int (*cb)(const struct dj_vnode *, void *), void *ctx, dj_err *err)
{
  struct sqlite_store *s = impl(st);
  sqlite3_stmt *q = stmt(s, S_NODE_LIST, err);
  if (q == NULL)
    return -1;
  int rc;
  struct dj_vnode *n = dj_xmalloc(sizeof *n);
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    node_row(q, n);
    if (cb(n, ctx) < 0)
      break;
  }
  free(n);
  sqlite3_reset(q);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(s, err, "node list");
}

static int s_enroll_put(struct dj_store *st, const struct dj_venroll *e, dj_err *err)
{
  struct sqlite_store *s = impl(st);
  sqlite3_stmt *q = stmt(s, S_ENROLL_PUT, err);
  if (q == NULL)
    return -1;
  bind_text(q, 1, e->id);
  bind_text(q, 2, e->node_id);
  sqlite3_bind_blob(q, 3, e->ak_public, (int) e->ak_public_len, SQLITE_TRANSIENT);
  sqlite3_bind_blob(q, 4, e->sealed_secret, (int) e->sealed_secret_len, SQLITE_TRANSIENT);
  sqlite3_bind_int64(q, 5, e->expires_ms);
  return step_done(s, q, "enrolment challenge put", err);
}

static int s_enroll_take(struct dj_store *st, const char *id, struct dj_venroll *out, dj_err *err)
{
  struct sqlite_store *s = impl(st);
  sqlite3_stmt *q = stmt(s, S_ENROLL_GET, err);
  if (q == NULL)
    return -1;
  bind_text(q, 1, id);
  int rc = sqlite3_step(q);
  if (rc == SQLITE_ROW) {
    memset(out, 0, sizeof *out);
    col_text(q, 0, out->id, sizeof out->id);
    col_text(q, 1, out->node_id, sizeof out->node_id);
    col_blob(q, 2, out->ak_public, sizeof out->ak_public, &out->ak_public_len);
    col_blob(q, 3, out->sealed_secret, sizeof out->sealed_secret, &out->sealed_secret_len);
    out->expires_ms = sqlite3_column_int64(q, 4);
  }
  sqlite3_reset(q);
  if (rc != SQLITE_ROW)
    return rc == SQLITE_DONE ? 0 : db_error(s, err, "enrolment challenge get");
  q = stmt(s, S_ENROLL_DEL, err);
  if (q == NULL)
    return -1;
  bind_text(q, 1, id);
  return step_done(s, q, "enrolment challenge delete", err) < 0 ? -1 : 1;
}

static int s_inventory_put(struct dj_store *st, const struct dj_vinventory *e, dj_err *err)
{
  struct sqlite_store *s = impl(st);
  sqlite3_stmt *q = stmt(s, S_INV_PUT, err);
  if (q == NULL)
    return -1;
  bind_text(q, 1, e->ek_digest);
  bind_text(q, 2, e->name);
  bind_text(q, 3, e->site);
  bind_text(q, 4, e->jurisdiction);
  bind_text(q, 5, e->hw_class);
  return step_done(s, q, "inventory put", err);
}

static int s_inventory_get(struct dj_store *st, const char *ek_digest, struct dj_vinventory *out, dj_err *err)
{
  struct sqlite_store *s = impl(st);
  sqlite3_stmt *q = stmt(s, S_INV_GET, err);
  if (q == NULL)
    return -1;
  bind_text(q, 1, ek_digest);
  int rc = sqlite3_step(q);
  if (rc == SQLITE_ROW) {
    col_text(q, 0, out->ek_digest, sizeof out->ek_digest);
    col_text(q, 1, out->name, sizeof out->name);
    col_text(q, 2, out->site, sizeof out->site);
    col_text(q, 3, out->jurisdiction, sizeof out->jurisdiction);
    col_text(q, 4, out->hw_class, sizeof out->hw_class);
  }
  sqlite3_reset(q);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return db_error(s, err, "inventory get");
  return rc == SQLITE_ROW;
}

static int s_nonce_put(struct dj_store *st, const struct dj_vnonce *n, dj_err *err)
{
  struct sqlite_store *s = impl(st);
  sqlite3_stmt *q = stmt(s, S_NONCE_PUT, err);
  if (q == NULL)
    return -1;
  sqlite3_bind_blob(q, 1, n->nonce, 32, SQLITE_TRANSIENT);
  bind_text(q, 2, n->node_id);
  sqlite3_bind_int64(q, 3, n->issued_ms);
  sqlite3_bind_int64(q, 4, n->expires_ms);
  bind_text(q, 5, n->instance);
  sqlite3_bind_int64(q, 6, n->mono_ms);
  return step_done(s, q, "nonce put", err);
}

/* The nonce's row: 1 found (into out), 0 not, -1 error. */
static int nonce_read(struct sqlite_store *s, const uint8_t nonce[32], struct dj_vnonce *out, bool *used, dj_err *err)
{
  sqlite3_stmt *q = stmt(s, S_NONCE_GET, err);
  if (q == NULL)
    return -1;
  sqlite3_bind_blob(q, 1, nonce, 32, SQLITE_TRANSIENT);
  int rc = sqlite3_step(q);
  memset(out, 0, sizeof *out);
  if (rc == SQLITE_ROW) {
    size_t len;
    col_blob(q, 0, out->nonce, sizeof out->nonce, &len);
    col_text(q, 1, out->node_id, sizeof out->node_id);
    out->issued_ms = sqlite3_column_int64(q, 2);
    out->expires_ms = sqlite3_column_int64(q, 3);
    col_text(q, 4, out->instance, sizeof out->instance);
    out->mono_ms = sqlite3_column_int64(q, 5);
    *used = sqlite3_column_int(q, 6) != 0;
  }
  sqlite3_reset(q);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return db_error(s, err, "nonce get");
  return rc == SQLITE_ROW;
}

static int s_nonce_get(struct dj_store *st, const uint8_t nonce[32], enum dj_nonce_state *state, struct dj_vnonce *out,
                       dj_err *err)
{
  bool used = false;
  int found = nonce_read(impl(st), nonce, out, &used, err);
  if (found < 0)
    return -1;
  *state = !found ? DJ_NONCE_UNKNOWN : used ? DJ_NONCE_USED : DJ_NONCE_FRESH;
  return 0;
}

static int s_nonce_consume(struct dj_store *st, const uint8_t nonce[32], enum dj_nonce_state *state,
                           struct dj_vnonce *out, dj_err *err)
{
  struct sqlite_store *s = impl(st);
  sqlite3_stmt *q = stmt(s, S_NONCE_USE, err);
  if (q == NULL)
    return -1;
  sqlite3_bind_blob(q, 1, nonce, 32, SQLITE_TRANSIENT);
  if (step_done(s, q, "nonce use", err) < 0)
    return -1;
  bool fresh = sqlite3_changes(cur(s)->db) == 1, used; /* the one request that flipped it */
  int found = nonce_read(s, nonce, out, &used, err);
  if (found < 0)
    return -1;
  *state = !found ? DJ_NONCE_UNKNOWN : fresh ? DJ_NONCE_FRESH : DJ_NONCE_USED;
  return 0;
}

static int s_nonce_outstanding(struct dj_store *st, const char *node_id, int64_t now_ms, int64_t limit, int64_t *count,
                               dj_err *err)
{
  struct sqlite_store *s = impl(st);
  sqlite3_stmt *q = stmt(s, S_NONCE_COUNT, err);
  if (q == NULL)
    return -1;
  bind_text(q, 1, node_id);
  sqlite3_bind_int64(q, 2, now_ms);
  sqlite3_bind_int64(q, 3, limit);
  int rc = sqlite3_step(q);
  *count = rc == SQLITE_ROW ? sqlite3_column_int64(q, 0) : 0;
  sqlite3_reset(q);
  return rc == SQLITE_ROW ? 0 : db_error(s, err, "nonce count");
}

static int s_nonce_purge(struct dj_store *st, int64_t now_ms, dj_err *err)
{
  struct sqlite_store *s = impl(st);
  sqlite3_stmt *q = stmt(s, S_NONCE_PURGE, err);
  if (q == NULL)
    return -1;
  sqlite3_bind_int64(q, 1, now_ms);
  return step_done(s, q, "nonce purge", err);
}

static void key_row(sqlite3_stmt *q, struct dj_vkey *k)
{
  memset(k, 0, sizeof *k);
  col_text(q, 0, k->id, sizeof k->id);
  col_text(q, 1, k->tenant, sizeof k->tenant);
  col_text(q, 2, k->kind, sizeof k->kind);
  col_blob(q, 3, k->sealed, sizeof k->sealed, &k->sealed_len);
  col_text(q, 4, k->public_pem, sizeof k->public_pem);
  k->created_ms = sqlite3_column_int64(q, 5);
}

static int s_key_put(struct dj_store *st, const struct dj_vkey *k, dj_err *err)
{
  struct sqlite_store *s = impl(st);
  sqlite3_stmt *q = stmt(s, S_KEY_PUT, err);
  if (q == NULL)
    return -1;
  bind_text(q, 1, k->id);
  bind_text(q, 2, k->tenant);
  bind_text(q, 3, k->kind);
  sqlite3_bind_blob(q, 4, k->sealed, (int) k->sealed_len, SQLITE_TRANSIENT);
  bind_text(q, 5, k->public_pem);
  sqlite3_bind_int64(q, 6, k->created_ms);
  return step_done(s, q, "key put", err);
}

static int s_key_get(struct dj_store *st, const char *id, struct dj_vkey *out, dj_err *err)
{
  struct sqlite_store *s = impl(st);
  sqlite3_stmt *q = stmt(s, S_KEY_GET, err);
  if (q == NULL)
    return -1;
  bind_text(q, 1, id);
  int rc = sqlite3_step(q);
  if (rc == SQLITE_ROW)
    key_row(q, out);
  sqlite3_reset(q);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return db_error(s, err, "key get");
  return rc == SQLITE_ROW;
}

static int s_key_list(struct dj_store *st, const char *tenant, int (*cb)(const struct dj_vkey *, void *), void *ctx,
                      dj_err *err)
{
  struct sqlite_store *s = impl(st);
  sqlite3_stmt *q = stmt(s, S_KEY_LIST, err);
  if (q == NULL)
    return -1;
  bind_text(q, 1, tenant);
  int rc;
  struct dj_vkey *k = dj_xmalloc(sizeof *k);
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    key_row(q, k);
    int stop = cb(k, ctx) < 0;
    dj_wipe(k->sealed, sizeof k->sealed);
    if (stop)
      break;
  }
  free(k);
  sqlite3_reset(q);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(s, err, "key list");
}

static int s_policy_put(struct dj_store *st, const char *name, const char *doc, dj_err *err)
{
  struct sqlite_store *s = impl(st);
  sqlite3_stmt *q = stmt(s, S_POLICY_PUT, err);
  if (q == NULL)
    return -1;
  bind_text(q, 1, name);
  bind_text(q, 2, doc);
  return step_done(s, q, "policy put", err);
}

static int s_policy_get(struct dj_store *st, const char *name, char **doc, dj_err *err)
{
  struct sqlite_store *s = impl(st);
  sqlite3_stmt *q = stmt(s, S_POLICY_GET, err);
  if (q == NULL)
    return -1;
  bind_text(q, 1, name);
  int rc = sqlite3_step(q);
  *doc = NULL;
  if (rc == SQLITE_ROW)
    *doc = dj_xstrdup((const char *) sqlite3_column_text(q, 0));
  sqlite3_reset(q);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return db_error(s, err, "policy get");
  return rc == SQLITE_ROW;
}

static int s_audit_head(struct dj_store *st, int64_t *seq, uint8_t hash[32], dj_err *err)
{
  struct sqlite_store *s = impl(st);
  sqlite3_stmt *q = stmt(s, S_AUDIT_HEAD, err);
  if (q == NULL)
    return -1;
  int rc = sqlite3_step(q);
  *seq = 0;
  memset(hash, 0, 32);
  if (rc == SQLITE_ROW) {
    size_t len;
    *seq = sqlite3_column_int64(q, 0);
    col_blob(q, 1, hash, 32, &len);
  }
  sqlite3_reset(q);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(s, err, "audit head");
}

static int s_audit_append_text(struct dj_store *st, const char *type, const char *body, int64_t time_ms,
                               int64_t *seq_out, dj_err *err)
{
  struct sqlite_store *s = impl(st);
  int64_t seq;
  uint8_t prev[32], hash[32];
  if (!s->in_tx)
    return dj_error(err, 0, "store: audit append outside a transaction");
  if (s_audit_head(st, &seq, prev, err) < 0)
    return -1;
  seq++;
  _cleanup_free_ char *record = dj_audit_record_text(seq, time_ms, type, body);
  if (record == NULL)
    return dj_error(err, 0, "store: audit record does not serialise");
  dj_audit_hash(prev, record, strlen(record), hash);
  sqlite3_stmt *q = stmt(s, S_AUDIT_PUT, err);
  if (q == NULL)
    return -1;
  sqlite3_bind_int64(q, 1, seq);
  bind_text(q, 2, record);
  sqlite3_bind_blob(q, 3, hash, 32, SQLITE_TRANSIENT);
  if (step_done(s, q, "audit append", err) < 0)
    return -1;
  if (seq_out)
    *seq_out = seq;
  return 0;
}

static int s_audit_append(struct dj_store *st, const char *type, json_t *body, int64_t time_ms, int64_t *seq_out,
                          dj_err *err)
{
  _cleanup_free_ char *text = dj_json_canonical(body);
  if (text == NULL)
    return dj_error(err, 0, "store: audit record does not serialise");
  return s_audit_append_text(st, type, text, time_ms, seq_out, err);
}

static int s_audit_list(struct dj_store *st, int64_t from, int64_t limit, int (*cb)(const struct dj_vaudit *, void *),
                        void *ctx, dj_err *err)
{
  struct sqlite_store *s = impl(st);
  sqlite3_stmt *q = stmt(s, S_AUDIT_LIST, err);
  if (q == NULL)
    return -1;
  sqlite3_bind_int64(q, 1, from);
  sqlite3_bind_int64(q, 2, limit);
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    struct dj_vaudit r = { .seq = sqlite3_column_int64(q, 0), .record = (char *) sqlite3_column_text(q, 1) };
    size_t len;
    col_blob(q, 2, r.hash, 32, &len);
    if (len != 32)
      memset(r.hash, 0, 32); /* verify reports it */
    if (r.record == NULL || cb(&r, ctx) < 0)
      break;
  }
  sqlite3_reset(q);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(s, err, "audit list");
}

static int s_checkpoint_put(struct dj_store *st, const struct dj_vcheckpoint *c, dj_err *err)
{
  struct sqlite_store *s = impl(st);
  sqlite3_stmt *q = stmt(s, S_CP_PUT, err);
  if (q == NULL)
    return -1;
  sqlite3_bind_int64(q, 1, c->seq);
  sqlite3_bind_int64(q, 2, c->time_ms);
  sqlite3_bind_blob(q, 3, c->hash, 32, SQLITE_TRANSIENT);
  sqlite3_bind_blob(q, 4, c->sig, 64, SQLITE_TRANSIENT);
  return step_done(s, q, "checkpoint put", err);
}

static int s_checkpoint_list(struct dj_store *st, int (*cb)(const struct dj_vcheckpoint *, void *), void *ctx,
                             dj_err *err)
{
  struct sqlite_store *s = impl(st);
  sqlite3_stmt *q = stmt(s, S_CP_LIST, err);
  if (q == NULL)
    return -1;
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    struct dj_vcheckpoint c = { .seq = sqlite3_column_int64(q, 0), .time_ms = sqlite3_column_int64(q, 1) };
    size_t len;
    col_blob(q, 2, c.hash, 32, &len);
    col_blob(q, 3, c.sig, 64, &len);
    if (cb(&c, ctx) < 0)
      break;
  }
  sqlite3_reset(q);
  return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : db_error(s, err, "checkpoint list");
}

static const struct dj_store_ops sqlite_ops = {
  .close = s_close,
  .begin = s_begin,
  .commit = s_commit,
  .rollback = s_rollback,
  .read_begin = s_read_begin,
  .read_end = s_read_end,
  .node_get = s_node_get,
  .node_put = s_node_put,
  .node_list = s_node_list,
  .enroll_put = s_enroll_put,
  .enroll_take = s_enroll_take,
  .inventory_put = s_inventory_put,
  .inventory_get = s_inventory_get,
  .nonce_put = s_nonce_put,
  .nonce_get = s_nonce_get,
  .nonce_consume = s_nonce_consume,
  .nonce_outstanding = s_nonce_outstanding,
  .nonce_purge = s_nonce_purge,
  .key_put = s_key_put,
  .key_get = s_key_get,
  .key_list = s_key_list,
  .policy_put = s_policy_put,
  .policy_get = s_policy_get,
  .audit_append = s_audit_append,
  .audit_append_text = s_audit_append_text,
  .audit_head = s_audit_head,
  .audit_list = s_audit_list,
  .checkpoint_put = s_checkpoint_put,
  .checkpoint_list = s_checkpoint_list,
};

int dj_store_sqlite_schema_version(void)
{
  return (int) DJ_ARRAY_SIZE(migrations);
}

static int exec(sqlite3 *db, const char *text, dj_err *err)
{
  char *msg = NULL;
  if (sqlite3_exec(db, text, NULL, NULL, &msg) != SQLITE_OK) {
    dj_error(err, 0, "store: %.200s: %s", text, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
  }
  return 0;
}

static int migrate(sqlite3 *db, dj_err *err)
{
  int r = exec(db, "BEGIN IMMEDIATE", err);
  int version = 0;
  sqlite3_stmt *q = NULL;
  if (r == 0 && sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
    version = sqlite3_column_int(q, 0);
  sqlite3_finalize(q);
  if (r == 0 && version > dj_store_sqlite_schema_version())
    r = dj_error(err, 0, "store: schema version %d is newer than this verifier's %d", version,
                 dj_store_sqlite_schema_version());
  for (int v = version; r == 0 && v < dj_store_sqlite_schema_version(); v++) {
    char pragma[64];
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
    r = exec(db, migrations[v], err);
    if (r == 0)
      r = exec(db, pragma, err);
  }
  if (r == 0)
    r = exec(db, "COMMIT", err);
  else
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  return r;
}

static int conn_open(const char *path, bool synchronous_full, sqlite3 **out, dj_err *err)
{
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
    dj_error(err, 0, "store: %s", db ? sqlite3_errmsg(db) : "cannot open");
    sqlite3_close(db);
    return -1;
  }
  sqlite3_busy_timeout(db, 5000); /* another process (an offline audit verify) holding the lock */
  if (exec(db, "PRAGMA journal_mode = WAL", err) < 0 ||
      exec(db, synchronous_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL", err) < 0 ||
      exec(db, "PRAGMA foreign_keys = ON", err) < 0 || exec(db, "PRAGMA cache_size = -32768", err) < 0 ||
      /* a WAL that grew under load is cut back to this size once it restarts */
      exec(db, "PRAGMA journal_size_limit = 67108864", err) < 0) {
    sqlite3_close(db);
    return -1;
  }
  *out = db;
  return 0;
}

/* The checkpointer: copies the WAL into the database (PASSIVE: it waits for no reader or writer)
 * when the writer's commits have added CHECKPOINT_PAGES pages since the last time. */
static void *checkpointer(void *arg)
{
  struct writer *w = arg;
  pthread_mutex_lock(&w->cp_lock);
  while (!w->cp_stop) {
    if (!w->cp_wanted) {
      pthread_cond_wait(&w->cp_cond, &w->cp_lock);
      continue;
    }
    w->cp_wanted = false;
    pthread_mutex_unlock(&w->cp_lock);
    int log = 0, done = 0;
    sqlite3_wal_checkpoint_v2(w->cp_db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    /* Under a steady load the copy never reaches the WAL's end (commits go on meanwhile), and only
     * a WAL copied to its end is started again from its beginning by the next transaction: past
     * WAL_RESTART_PAGES, what was added meanwhile is copied with the writer held off (a few ms:
     * two fsyncs), so that the WAL stays bounded. */
    if (log >= WAL_RESTART_PAGES) {
      pthread_mutex_lock(&w->lock);
      sqlite3_wal_checkpoint_v2(w->cp_db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
      pthread_mutex_unlock(&w->lock);
    }
    pthread_mutex_lock(&w->cp_lock);
  }
  pthread_mutex_unlock(&w->cp_lock);
  return NULL;
}

/* After each commit of the writer (under its lock): the WAL's size in pages. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
  struct writer *w = arg;
  (void) db, (void) name;
  if (pages < w->cp_mark) /* the WAL restarted from its beginning */
    w->cp_mark = 0;
  if (pages >= w->cp_mark + CHECKPOINT_PAGES) {
    w->cp_mark = pages;
    pthread_mutex_lock(&w->cp_lock);
    w->cp_wanted = true;
    pthread_cond_signal(&w->cp_cond);
    pthread_mutex_unlock(&w->cp_lock);
  }
  return SQLITE_OK;
}

static void writer_free(struct writer *w)
{
  if (w->cp_started) {
    pthread_mutex_lock(&w->cp_lock);
    w->cp_stop = true;
    pthread_cond_signal(&w->cp_cond);
    pthread_mutex_unlock(&w->cp_lock);
    pthread_join(w->cp_thread, NULL);
  }
  sqlite3_close(w->cp_db);
  conn_close(&w->c);
  pthread_mutex_destroy(&w->lock);
  pthread_mutex_destroy(&w->cp_lock);
  pthread_cond_destroy(&w->cp_cond);
  free(w->path);
  free(w);
}

static void writer_release(struct writer *w)
{
  pthread_mutex_lock(&writers_lock);
  bool last = --w->refs == 0;
  if (last)
    for (struct writer **p = &writers; *p; p = &(*p)->next)
      if (*p == w) {
        *p = w->next;
        break;
      }
  pthread_mutex_unlock(&writers_lock);
  if (last)
    writer_free(w);
}

/* The writer of path's database, opened (and the schema migrated) by the first store. */
static struct writer *writer_get(const char *path, bool synchronous_full, dj_err *err)
{
  pthread_mutex_lock(&writers_lock);
  char *real = realpath(path, NULL);
  for (struct writer *w = writers; real && w; w = w->next)
    if (strcmp(w->path, real) == 0) {
      w->refs++;
      pthread_mutex_unlock(&writers_lock);
      free(real);
      return w;
    }
  free(real);
  struct writer *w = dj_xcalloc(1, sizeof *w);
  pthread_mutex_init(&w->lock, NULL);
  pthread_mutex_init(&w->cp_lock, NULL);
  pthread_cond_init(&w->cp_cond, NULL);
  w->refs = 1;
  int r = conn_open(path, synchronous_full, &w->c.db, err);
  if (r == 0)
    r = migrate(w->c.db, err);
  if (r == 0)
    r = conn_open(path, synchronous_full, &w->cp_db, err);
  if (r == 0 && (w->path = realpath(path, NULL)) == NULL)
    r = dj_error(err, errno, "store: realpath");
  if (r == 0 && pthread_create(&w->cp_thread, NULL, checkpointer, w) != 0)
    r = dj_error(err, 0, "store: cannot start the checkpoint thread");
  if (r < 0) {
    writer_free(w);
    pthread_mutex_unlock(&writers_lock);
    return NULL;
  }
  w->cp_started = true;
  sqlite3_wal_hook(w->c.db, wal_hook, w); /* instead of SQLite's checkpoints inside commits */
  w->next = writers;
  writers = w;
  pthread_mutex_unlock(&writers_lock);
  return w;
}

int dj_store_sqlite_open(const char *path, bool synchronous_full, struct dj_store **out, dj_err *err)
{
  struct sqlite_store *s = dj_xcalloc(1, sizeof *s);
  s->base.ops = &sqlite_ops;
  s->w = writer_get(path, synchronous_full, err);
  if (s->w == NULL || conn_open(path, synchronous_full, &s->rd.db, err) < 0) {
    dj_err_wrap(err, "%s", path);
    s_close(&s->base);
    return -1;
  }
  *out = &s->base;
  return 0;
}

/* A read-only store has no writer: a transaction is refused (and a write outside one by SQLite,
 * the connection being read-only). */
static int s_begin_readonly(struct dj_store *st, dj_err *err)
{
  (void) st;
  return dj_error(err, 0, "store: opened read-only");
}

static struct dj_store_ops readonly_ops;
static pthread_once_t readonly_once = PTHREAD_ONCE_INIT;

static void readonly_init(void)
{
  readonly_ops = sqlite_ops;
  readonly_ops.begin = s_begin_readonly;
}

int dj_store_sqlite_open_readonly(const char *path, struct dj_store **out, dj_err *err)
{
  struct sqlite_store *s = dj_xcalloc(1, sizeof *s);
  pthread_once(&readonly_once, readonly_init);
  s->base.ops = &readonly_ops;
  sqlite3_stmt *q = NULL;
  int version = -1, r = 0;
  /* no SQLITE_OPEN_CREATE: a mistyped path is an error, not an empty database */
  if (sqlite3_open_v2(path, &s->rd.db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
    r = dj_error(err, 0, "store: %s", s->rd.db ? sqlite3_errmsg(s->rd.db) : "cannot open");
  else if (sqlite3_prepare_v2(s->rd.db, "PRAGMA user_version", -1, &q, NULL) != SQLITE_OK || sqlite3_step(q) != SQLITE_ROW)
    r = dj_error(err, 0, "store: %s", sqlite3_errmsg(s->rd.db)); /* e.g. not a database */
  else
    version = sqlite3_column_int(q, 0);
  sqlite3_finalize(q);
  if (r == 0 && (version < 1 || version > dj_store_sqlite_schema_version()))
    r = dj_error(err, 0, "store: schema version %d is not one of this verifier's (1 to %d)", version,
                 dj_store_sqlite_schema_version());
  if (r < 0) {
    dj_err_wrap(err, "%s", path);
    s_close(&s->base);
    return -1;
  }
  sqlite3_busy_timeout(s->rd.db, 5000);
  *out = &s->base;
  return 0;
}
