/* The container registry (ctr.h): every record in memory, in creation order,
 * persisted in SQLite at DATA_ROOT/api/containers.db (WAL, synchronous=FULL).
 * Each change is one transaction; memory changes only after its commit, so
 * a failed write leaves both as they were. Run-state saves (ctr_save) commit
 * without an fsync (synchronous=NORMAL: still atomic, only the newest may be
 * lost on power loss): the executor's files are the truth for run state and
 * recovery reads them; the next FULL commit makes them durable too. Lookups scan the array: a few
 * thousand records cost microseconds. */
#include <errno.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ctr.h"
#include "log.h"

/* 1: the first schema; 2: manually_stopped (restart policies) */
#define SCHEMA_VERSION 2

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS containers("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  id TEXT NOT NULL UNIQUE,"
    "  name TEXT NOT NULL UNIQUE,"
    "  image TEXT NOT NULL,"
    "  image_id TEXT NOT NULL,"
    "  chain_ids TEXT NOT NULL,"
    "  config TEXT NOT NULL,"
    "  host_config TEXT NOT NULL,"
    "  created_ns INTEGER NOT NULL,"
    "  owner_uid INTEGER NOT NULL,"
    "  status INTEGER NOT NULL,"
    "  pid INTEGER NOT NULL,"
    "  exit_code INTEGER NOT NULL,"
    "  oom_killed INTEGER NOT NULL,"
    "  started_ns INTEGER NOT NULL,"
    "  finished_ns INTEGER NOT NULL,"
    "  restart_count INTEGER NOT NULL,"
    "  error TEXT NOT NULL,"
    "  uid_base INTEGER NOT NULL,"
    "  image_size INTEGER NOT NULL,"
    "  manually_stopped INTEGER NOT NULL DEFAULT 0);";
/* From version 1: the column a version-1 table lacks (its rows get 0: not stopped by hand). */
static const char migrate_v2[] = "ALTER TABLE containers ADD COLUMN manually_stopped INTEGER NOT NULL DEFAULT 0";

#define COLUMNS                                                                                             \
  "id, name, image, image_id, chain_ids, config, host_config, created_ns, owner_uid, status, pid, exit_code, " \
  "oom_killed, started_ns, finished_ns, restart_count, error, uid_base, image_size, manually_stopped"

typedef struct {
  char name[129];
  char id[65];
} reservation_t;

struct ctr_registry {
  sqlite3 *db;
  api_ctr_t **v;
  size_t n, cap;
  reservation_t *res;
  size_t nres;
};

static int db_fail(sqlite3 *db, berth_error_t *err, const char *what) {
  int code = db ? sqlite3_extended_errcode(db) & 0xff : SQLITE_ERROR;
  int status = code == SQLITE_FULL ? ENOSPC : code == SQLITE_NOMEM ? ENOMEM
               : code == SQLITE_BUSY || code == SQLITE_LOCKED ? EBUSY : code == SQLITE_CONSTRAINT ? EEXIST : EIO;
  return berth_error_make(err, status, "container database: %s: %s", what,
                          db ? sqlite3_errmsg(db) : sqlite3_errstr(code));
}

static int db_exec(sqlite3 *db, const char *sql, berth_error_t *err) {
  if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
    return db_fail(db, err, sql);
  return 0;
}

static void db_rollback(sqlite3 *db) {
  if (!sqlite3_get_autocommit(db))
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

void ctr_free(api_ctr_t *c) {
  if (c == NULL)
    return;
  json_object_put(c->chain_ids);
  json_object_put(c->config);
  json_object_put(c->host_config);
  ctr_restart_free(c->restart);
  free(c);
}

static bool valid_id(const char *id) {
  if (strlen(id) != 64)
    return false;
  for (const char *p = id; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
      return false;
  return true;
}

static const char *text_col(sqlite3_stmt *st, int i) {
  const unsigned char *t = sqlite3_column_text(st, i);
  return t ? (const char *)t : "";
}

static bool copy_col(char *dst, size_t size, sqlite3_stmt *st, int i) {
  const char *s = text_col(st, i);
  if (strlen(s) >= size)
    return false;
  memcpy(dst, s, strlen(s) + 1);
  return true;
}

static struct json_object *json_col(sqlite3_stmt *st, int i, json_type want) {
  struct json_object *o = json_tokener_parse(text_col(st, i));
  if (o && !json_object_is_type(o, want)) {
    json_object_put(o);
    o = NULL;
  }
  return o;
}

/* One row -> a record; NULL (and a log line) when the row is damaged. */
static api_ctr_t *row_to_ctr(sqlite3_stmt *st) {
  api_ctr_t *c = calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  bool ok = copy_col(c->id, sizeof c->id, st, 0) && valid_id(c->id) && copy_col(c->name, sizeof c->name, st, 1) &&
            ctr_valid_name(c->name) && copy_col(c->image, sizeof c->image, st, 2) &&
            copy_col(c->image_id, sizeof c->image_id, st, 3) && copy_col(c->error, sizeof c->error, st, 16);
  if (ok) {
    c->chain_ids = json_col(st, 4, json_type_array);
    c->config = json_col(st, 5, json_type_object);
    c->host_config = json_col(st, 6, json_type_object);
    ok = c->chain_ids && c->config && c->host_config;
  }
  int status = sqlite3_column_int(st, 9);
  if (!ok || status < CTR_CREATED || status > CTR_REMOVING) {
    log_err("container database: skipping the damaged record %.64s", text_col(st, 0));
    ctr_free(c);
    return NULL;
  }
  c->created_ns = sqlite3_column_int64(st, 7);
  c->owner_uid = (uid_t)sqlite3_column_int64(st, 8);
  c->status = (ctr_status_t)status;
  c->pid = (pid_t)sqlite3_column_int(st, 10);
  c->exit_code = sqlite3_column_int(st, 11);
  c->oom_killed = sqlite3_column_int(st, 12) != 0;
  c->started_ns = sqlite3_column_int64(st, 13);
  c->finished_ns = sqlite3_column_int64(st, 14);
  c->restart_count = (unsigned)sqlite3_column_int64(st, 15);
  c->uid_base = (uint32_t)sqlite3_column_int64(st, 17);
  c->image_size = sqlite3_column_int64(st, 18);
  c->manually_stopped = sqlite3_column_int(st, 19) != 0;
  return c;
}

static int push(ctr_registry_t *reg, api_ctr_t *c) {
  if (reg->n == reg->cap) {
    size_t cap = reg->cap ? reg->cap * 2 : 64;
    api_ctr_t **v = realloc(reg->v, cap * sizeof *v);
    if (v == NULL)
      return -1;
    reg->v = v;
    reg->cap = cap;
  }
  reg->v[reg->n++] = c;
  return 0;
}

static int load_all(ctr_registry_t *reg, berth_error_t *err) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(reg->db, "SELECT " COLUMNS " FROM containers ORDER BY seq", -1, &st, NULL) != SQLITE_OK)
    return db_fail(reg->db, err, "reading the records");
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    api_ctr_t *c = row_to_ctr(st);
    if (c && push(reg, c) < 0) {
      ctr_free(c);
      sqlite3_finalize(st);
      return berth_error_make(err, ENOMEM, "out of memory loading the container records");
    }
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE)
    return db_fail(reg->db, err, "reading the records");
  return 0;
}

/* Version 1 -> 2: adds manually_stopped to an existing table (inside the
 * caller's transaction). Looks at the columns rather than trusting the
 * version alone, so a half-migrated or re-labelled file opens too. */
static int migrate(sqlite3 *db, berth_error_t *err) {
  sqlite3_stmt *st = NULL;
  int cols = -1, has = 0;
  if (sqlite3_prepare_v2(db,
                         "SELECT COUNT(*), COALESCE(SUM(name = 'manually_stopped'), 0) FROM "
                         "pragma_table_info('containers')",
                         -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    cols = sqlite3_column_int(st, 0);
    has = sqlite3_column_int(st, 1);
  }
  sqlite3_finalize(st);
  if (cols < 0)
    return db_fail(db, err, "reading the columns for the schema migration");
  if (cols == 0 || has)
    return 0; /* no table yet (the schema makes it whole), or migrated */
  return db_exec(db, migrate_v2, err);
}

int ctr_registry_open(const char *data_root, ctr_registry_t **out, berth_error_t *err) {
  *out = NULL;
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s/api/containers.db", data_root) >= sizeof path)
    return berth_error_make(err, ENAMETOOLONG, "container database path under %s is too long", data_root);
  ctr_registry_t *reg = calloc(1, sizeof *reg);
  if (reg == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW;
  int64_t version = -1;
  sqlite3_stmt *st = NULL;
  if (sqlite3_open_v2(path, &reg->db, flags, NULL) != SQLITE_OK) {
    db_fail(reg->db, err, "open");
    goto fail;
  }
  sqlite3_extended_result_codes(reg->db, 1);
  sqlite3_busy_timeout(reg->db, 5000);
  if (db_exec(reg->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA temp_store=MEMORY;", err) < 0)
    goto fail;
  if (sqlite3_prepare_v2(reg->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    version = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  if (version < 0) {
    db_fail(reg->db, err, "reading the schema version");
    goto fail;
  }
  if (version > SCHEMA_VERSION) {
    berth_error_make(err, EPROTO, "containers.db has schema version %" PRId64 ", this berth-apid knows %d (downgrade?)",
                     version, SCHEMA_VERSION);
    goto fail;
  }
  char pragma[64];
  snprintf(pragma, sizeof pragma, "PRAGMA user_version=%d", SCHEMA_VERSION);
  if (db_exec(reg->db, "BEGIN IMMEDIATE", err) < 0 || (version < 2 && migrate(reg->db, err) < 0) ||
      db_exec(reg->db, schema, err) < 0 || db_exec(reg->db, pragma, err) < 0 || db_exec(reg->db, "COMMIT", err) < 0) {
    db_rollback(reg->db);
    goto fail;
  }
  if (load_all(reg, err) < 0)
    goto fail;
  *out = reg;
  return 0;
fail:
  berth_error_wrap(err, "%s", path);
  ctr_registry_free(reg);
  return -1;
}

void ctr_registry_free(ctr_registry_t *reg) {
  if (reg == NULL)
    return;
  for (size_t i = 0; i < reg->n; i++)
    ctr_free(reg->v[i]);
  free(reg->v);
  free(reg->res);
  sqlite3_close(reg->db);
  free(reg);
}

/* ---- lookup ---- */

static api_ctr_t *by_name(ctr_registry_t *reg, const char *name) {
  for (size_t i = 0; i < reg->n; i++)
    if (strcmp(reg->v[i]->name, name) == 0)
      return reg->v[i];
  return NULL;
}

api_ctr_t *ctr_lookup(ctr_registry_t *reg, const char *name_or_id, berth_error_t *err) {
  const char *s = name_or_id ? name_or_id : "";
  /* dockerd: full id, then name, then unique id prefix. */
  for (size_t i = 0; i < reg->n; i++)
    if (strcmp(reg->v[i]->id, s) == 0)
      return reg->v[i];
  api_ctr_t *c = by_name(reg, s[0] == '/' ? s + 1 : s);
  if (c)
    return c;
  size_t len = strlen(s);
  api_ctr_t *found = NULL;
  if (len > 0 && len < 64)
    for (size_t i = 0; i < reg->n; i++)
      if (strncmp(reg->v[i]->id, s, len) == 0) {
        if (found) {
          berth_error_make(err, EINVAL, "Multiple IDs found with provided prefix: %s", s);
          return NULL;
        }
        found = reg->v[i];
      }
  if (found == NULL)
    berth_error_make(err, ENOENT, "No such container: %s", s);
  return found;
}

api_ctr_t **ctr_all(ctr_registry_t *reg, size_t *n) {
  *n = reg->n;
  return reg->v;
}

/* ---- names ---- */

static int conflict(berth_error_t *err, const char *name, const char *id) {
  return berth_error_make(err, EEXIST,
                          "Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to "
                          "remove (or rename) that container to be able to reuse that name.",
                          name, id);
}

/* EEXIST when name belongs to another container than id (record or reservation). */
static int name_taken(ctr_registry_t *reg, const char *name, const char *id, berth_error_t *err) {
  api_ctr_t *c = by_name(reg, name);
  if (c && strcmp(c->id, id) != 0)
    return conflict(err, name, c->id);
  for (size_t i = 0; i < reg->nres; i++)
    if (strcmp(reg->res[i].name, name) == 0 && strcmp(reg->res[i].id, id) != 0)
      return conflict(err, name, reg->res[i].id);
  return 0;
}

bool ctr_name_in_use(ctr_registry_t *reg, const char *name) {
  return name_taken(reg, name, "", NULL) < 0;
}

int ctr_reserve_name(ctr_registry_t *reg, const char *name, const char *id, berth_error_t *err) {
  if (strlen(name) >= sizeof reg->res[0].name || strlen(id) >= sizeof reg->res[0].id)
    return berth_error_make(err, EINVAL, "Invalid container name (%s)", name);
  if (name_taken(reg, name, id, err) < 0)
    return -1;
  reservation_t *r = realloc(reg->res, (reg->nres + 1) * sizeof *r);
  if (r == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  reg->res = r;
  snprintf(r[reg->nres].name, sizeof r[0].name, "%s", name);
  snprintf(r[reg->nres].id, sizeof r[0].id, "%s", id);
  reg->nres++;
  return 0;
}

void ctr_release_name(ctr_registry_t *reg, const char *name) {
  for (size_t i = 0; i < reg->nres; i++)
    if (strcmp(reg->res[i].name, name) == 0) {
      reg->res[i] = reg->res[--reg->nres];
      return;
    }
}

/* ---- changes ---- */

static const char *json_text(struct json_object *o) {
  return o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : "null";
}

/* Binds the state fields at ?1.. in the order of the UPDATE below. */
static void bind_state(sqlite3_stmt *st, const api_ctr_t *c, int first) {
  sqlite3_bind_int(st, first, (int)c->status);
  sqlite3_bind_int(st, first + 1, (int)c->pid);
  sqlite3_bind_int(st, first + 2, c->exit_code);
  sqlite3_bind_int(st, first + 3, c->oom_killed);
  sqlite3_bind_int64(st, first + 4, c->started_ns);
  sqlite3_bind_int64(st, first + 5, c->finished_ns);
  sqlite3_bind_int64(st, first + 6, (sqlite3_int64)c->restart_count);
  sqlite3_bind_text(st, first + 7, c->error, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, first + 8, (sqlite3_int64)c->uid_base);
}

/* Runs one prepared statement in its own transaction; durable: fsync'd at
 * the commit. */
static int run_txn(ctr_registry_t *reg, sqlite3_stmt *st, const char *what, bool durable, berth_error_t *err) {
  if (db_exec(reg->db, durable ? "PRAGMA synchronous=FULL; BEGIN IMMEDIATE" : "PRAGMA synchronous=NORMAL; BEGIN IMMEDIATE",
              err) < 0) {
    sqlite3_finalize(st);
    return berth_error_wrap(err, "%s", what);
  }
  int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) {
    db_fail(reg->db, err, what);
    db_rollback(reg->db);
    return -1;
  }
  if (sqlite3_changes(reg->db) != 1) {
    db_rollback(reg->db);
    return berth_error_make(err, ENOENT, "container database: %s: the record is gone", what);
  }
  if (db_exec(reg->db, "COMMIT", err) < 0) {
    db_rollback(reg->db);
    return berth_error_wrap(err, "%s", what);
  }
  return 0;
}

int ctr_insert(ctr_registry_t *reg, api_ctr_t *c, berth_error_t *err) {
  if (!valid_id(c->id) || !ctr_valid_name(c->name))
    return berth_error_make(err, EINVAL, "container record with a malformed id or name");
  for (size_t i = 0; i < reg->n; i++)
    if (strcmp(reg->v[i]->id, c->id) == 0)
      return berth_error_make(err, EEXIST, "a container with id %s exists already", c->id);
  if (name_taken(reg, c->name, c->id, err) < 0)
    return -1;
  if (reg->n == reg->cap && push(reg, NULL) == 0)
    reg->n--; /* grow first: nothing can fail after the commit */
  if (reg->n == reg->cap)
    return berth_error_make(err, ENOMEM, "out of memory");
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(reg->db,
                         "INSERT INTO containers(" COLUMNS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, "
                         "?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
                         -1, &st, NULL) != SQLITE_OK)
    return db_fail(reg->db, err, "insert");
  sqlite3_bind_text(st, 1, c->id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, c->name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 3, c->image, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 4, c->image_id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 5, json_text(c->chain_ids), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 6, json_text(c->config), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 7, json_text(c->host_config), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 8, c->created_ns);
  sqlite3_bind_int64(st, 9, (sqlite3_int64)c->owner_uid);
  bind_state(st, c, 10);
  sqlite3_bind_int64(st, 19, c->image_size);
  sqlite3_bind_int(st, 20, c->manually_stopped);
  if (run_txn(reg, st, "insert", true, err) < 0)
    return -1;
  reg->v[reg->n++] = c;
  ctr_release_name(reg, c->name);
  return 0;
}

int ctr_save(ctr_registry_t *reg, api_ctr_t *c, berth_error_t *err) {
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(reg->db,
                         "UPDATE containers SET status=?1, pid=?2, exit_code=?3, oom_killed=?4, started_ns=?5, "
                         "finished_ns=?6, restart_count=?7, error=?8, uid_base=?9, name=?10, manually_stopped=?12 WHERE id=?11",
                         -1, &st, NULL) != SQLITE_OK)
    return db_fail(reg->db, err, "save");
  bind_state(st, c, 1);
  sqlite3_bind_text(st, 10, c->name, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 11, c->id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int(st, 12, c->manually_stopped);
  return run_txn(reg, st, "save", false, err);
}

int ctr_rename(ctr_registry_t *reg, api_ctr_t *c, const char *new_name, berth_error_t *err) {
  const char *n = new_name[0] == '/' ? new_name + 1 : new_name;
  if (!ctr_valid_name(n))
    return berth_error_make(err, EINVAL, "Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
                            new_name);
  if (name_taken(reg, n, c->id, err) < 0)
    return -1;
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(reg->db, "UPDATE containers SET name=?1 WHERE id=?2", -1, &st, NULL) != SQLITE_OK)
    return db_fail(reg->db, err, "rename");
  sqlite3_bind_text(st, 1, n, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, c->id, -1, SQLITE_TRANSIENT);
  if (run_txn(reg, st, "rename", true, err) < 0)
    return -1;
  snprintf(c->name, sizeof c->name, "%s", n);
  return 0;
}

int ctr_remove(ctr_registry_t *reg, api_ctr_t *c, berth_error_t *err) {
  size_t i = 0;
  while (i < reg->n && reg->v[i] != c)
    i++;
  if (i == reg->n)
    return berth_error_make(err, ENOENT, "No such container: %s", c->id);
  sqlite3_stmt *st = NULL;
  if (sqlite3_prepare_v2(reg->db, "DELETE FROM containers WHERE id=?1", -1, &st, NULL) != SQLITE_OK)
    return db_fail(reg->db, err, "remove");
  sqlite3_bind_text(st, 1, c->id, -1, SQLITE_TRANSIENT);
  if (run_txn(reg, st, "remove", true, err) < 0)
    return -1;
  memmove(reg->v + i, reg->v + i + 1, (reg->n - i - 1) * sizeof *reg->v);
  reg->n--;
  ctr_free(c);
  return 0;
}
