/* SQLite under the image store: schema and small helpers (see db.h). */
#include "db.h"
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define SCHEMA_VERSION 1

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS blobs("
    "  digest TEXT PRIMARY KEY NOT NULL,"
    "  size INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS layers("
    "  chain_id TEXT PRIMARY KEY NOT NULL,"
    "  diff_id TEXT NOT NULL,"
    "  parent TEXT,"
    "  size INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS layers_diff ON layers(diff_id);"
    "CREATE TABLE IF NOT EXISTS images("
    "  id TEXT PRIMARY KEY NOT NULL,"
    "  created TEXT NOT NULL,"
    "  created_unix INTEGER NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  loaded_ns INTEGER NOT NULL,"
    "  last_tag_ns INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS image_layers("
    "  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
    "  idx INTEGER NOT NULL,"
    "  chain_id TEXT NOT NULL REFERENCES layers(chain_id),"
    "  PRIMARY KEY(image_id, idx)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS image_layers_chain ON image_layers(chain_id);"
    "CREATE TABLE IF NOT EXISTS tags("
    "  repo TEXT NOT NULL,"
    "  tag TEXT NOT NULL,"
    "  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
    "  PRIMARY KEY(repo, tag)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS tags_image ON tags(image_id);"
    "CREATE TABLE IF NOT EXISTS repo_digests("
    "  repo TEXT NOT NULL,"
    "  digest TEXT NOT NULL,"
    "  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
    "  PRIMARY KEY(repo, digest)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS repo_digests_image ON repo_digests(image_id);";

int db_fail(sqlite3 *db, berth_error_t *err, const char *what) {
  int code = db ? sqlite3_extended_errcode(db) : SQLITE_ERROR;
  int status = EIO;
  if ((code & 0xff) == SQLITE_FULL)
    status = ENOSPC;
  else if ((code & 0xff) == SQLITE_NOMEM)
    status = ENOMEM;
  else if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED)
    status = EBUSY;
  return berth_error_make(err, status, "image store database: %s: %s", what,
                          db ? sqlite3_errmsg(db) : sqlite3_errstr(code));
}

int db_exec(sqlite3 *db, const char *sql, berth_error_t *err) {
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    int r = berth_error_make(err, EIO, "image store database: %s", msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return r;
  }
  return 0;
}

int db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, berth_error_t *err) {
  if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK)
    return db_fail(db, err, "prepare");
  return 0;
}

int db_begin(sqlite3 *db, berth_error_t *err) {
  return db_exec(db, "BEGIN IMMEDIATE", err);
}

int db_commit(sqlite3 *db, berth_error_t *err) {
  if (db_exec(db, "COMMIT", err) < 0) {
    db_rollback(db);
    return -1;
  }
  return 0;
}

void db_rollback(sqlite3 *db) {
  if (!sqlite3_get_autocommit(db))
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

int db_open(int dirfd, sqlite3 **out, berth_error_t *err) {
  /* SQLite opens by path: the directory fd's /proc link is that path
   * (SQLite resolves it and puts -wal/-shm next to the database). */
  char path[64];
  snprintf(path, sizeof(path), "/proc/self/fd/%d/store.db", dirfd);
  sqlite3 *db = NULL;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
  if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
    int r = db_fail(db, err, "open store.db");
    sqlite3_close(db);
    return r;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_extended_result_codes(db, 1);
  int64_t version = 0;
  char pragma[64];
  if (db_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;", err) < 0 ||
      db_query_int(db, "PRAGMA user_version", NULL, &version, err) < 0)
    goto fail;
  if (version > SCHEMA_VERSION) {
    berth_error_make(err, EPROTO, "store.db has schema version %lld, this berth-imaged knows %d (downgrade?)",
                     (long long)version, SCHEMA_VERSION);
    goto fail;
  }
  snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", SCHEMA_VERSION);
  if (db_begin(db, err) < 0 || db_exec(db, schema, err) < 0 || db_exec(db, pragma, err) < 0 ||
      db_commit(db, err) < 0) {
    db_rollback(db);
    goto fail;
  }
  *out = db;
  return 0;
fail:
  sqlite3_close(db);
  return -1;
}

void db_close(sqlite3 *db) {
  if (db != NULL)
    sqlite3_close(db);
}

static int bind_text(sqlite3 *db, sqlite3_stmt *st, int i, const char *v, berth_error_t *err) {
  if (sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT) != SQLITE_OK)
    return db_fail(db, err, "bind");
  return 0;
}

int db_query_int(sqlite3 *db, const char *sql, const char *arg, int64_t *out, berth_error_t *err) {
  sqlite3_stmt *st = NULL;
  *out = 0;
  if (db_prepare(db, sql, &st, err) < 0)
    return -1;
  if (arg != NULL && bind_text(db, st, 1, arg, err) < 0) {
    sqlite3_finalize(st);
    return -1;
  }
  int rc = sqlite3_step(st), r;
  if (rc == SQLITE_ROW) {
    *out = sqlite3_column_int64(st, 0);
    r = 1;
  } else if (rc == SQLITE_DONE)
    r = 0;
  else
    r = db_fail(db, err, "query");
  sqlite3_finalize(st);
  return r;
}

int db_run(sqlite3 *db, const char *sql, const char *a, const char *b, berth_error_t *err) {
  sqlite3_stmt *st = NULL;
  if (db_prepare(db, sql, &st, err) < 0)
    return -1;
  int r = 0;
  if ((a != NULL && bind_text(db, st, 1, a, err) < 0) || (b != NULL && bind_text(db, st, 2, b, err) < 0))
    r = -1;
  else if (sqlite3_step(st) != SQLITE_DONE)
    r = db_fail(db, err, "update");
  sqlite3_finalize(st);
  return r;
}

int db_each_text(sqlite3 *db, const char *sql, const char *arg, int (*fn)(const char *v, void *data), void *data,
                 berth_error_t *err) {
  sqlite3_stmt *st = NULL;
  if (db_prepare(db, sql, &st, err) < 0)
    return -1;
  if (arg != NULL && bind_text(db, st, 1, arg, err) < 0) {
    sqlite3_finalize(st);
    return -1;
  }
  int rc, r = 0;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    const char *v = (const char *)sqlite3_column_text(st, 0);
    r = fn(v ? v : "", data);
    if (r < 0)
      break;
  }
  if (r >= 0 && rc != SQLITE_DONE)
    r = db_fail(db, err, "query");
  sqlite3_finalize(st);
  return r;
}
