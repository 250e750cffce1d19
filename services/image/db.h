/* SQLite under the image store (store.db, WAL): schema, helpers and the
 * statements that several parts of the store share.
 *
 * Tables (all digests "sha256:<hex>"):
 *   blobs(digest PK, size)                       a file blobs/sha256/<hex> that some row references
 *   layers(chain_id PK, diff_id, parent, size)   a dir layers/<hex> used by at least one image
 *   images(id PK, created, created_unix, size, loaded_ns, last_tag_ns)
 *   image_layers(image_id, idx, chain_id)        the ordered chain of each image (base idx 0)
 *   tags(repo, tag, image_id)                    repo in full form "docker.io/library/busybox"
 *   repo_digests(repo, digest, image_id)         "repo@sha256:..." references
 * A blob is referenced by images.id (the config) or layers.diff_id (the
 * uncompressed tar); a layer by image_layers. No refcount column: the counts
 * are derived, so they can never drift.
 *
 * Not thread-safe by itself: the store's mutex serialises every call. */
#pragma once
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include "error.h"

/* Opens (creating if needed) store.db in the directory dirfd, WAL mode,
 * foreign keys on, schema created or checked. */
int db_open(int dirfd, sqlite3 **out, berth_error_t *err);
void db_close(sqlite3 *db);

/* Fills *err with EIO "what: <sqlite message>" and returns < 0. */
int db_fail(sqlite3 *db, berth_error_t *err, const char *what);
int db_exec(sqlite3 *db, const char *sql, berth_error_t *err);
int db_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, berth_error_t *err);
/* BEGIN IMMEDIATE / COMMIT / ROLLBACK (rollback never fails visibly). */
int db_begin(sqlite3 *db, berth_error_t *err);
int db_commit(sqlite3 *db, berth_error_t *err);
void db_rollback(sqlite3 *db);

/* Runs sql with one text parameter ?1 (may be NULL) and returns the first
 * column of the first row as int64 in *out (0 without a row). 1 if a row
 * came, 0 if none, < 0 on error. */
int db_query_int(sqlite3 *db, const char *sql, const char *arg, int64_t *out, berth_error_t *err);
/* The same, with the text parameter bound twice (?1, ?2), no result; for
 * INSERT/DELETE. */
int db_run(sqlite3 *db, const char *sql, const char *a, const char *b, berth_error_t *err);

/* Calls fn(text of column 0, data) for each row of a one-parameter query
 * (arg may be NULL for none). fn returning < 0 stops with that value. */
int db_each_text(sqlite3 *db, const char *sql, const char *arg, int (*fn)(const char *v, void *data), void *data,
                 berth_error_t *err);
