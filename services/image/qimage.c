/* Reading one image (rows + config) for the queries. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"
#include "db.h"
#include "query-impl.h"
#include "refs.h"

#define CONFIG_MAX (16u << 20)

void qimage_clear(qimage_t *q) {
  free(q->created);
  for (size_t i = 0; i < q->n_tags; i++)
    free(q->tags[i]);
  free(q->tags);
  for (size_t i = 0; i < q->n_digests; i++)
    free(q->digests[i]);
  free(q->digests);
  free(q->chains);
  free(q->diffs);
  free(q->layer_sizes);
  json_object_put(q->config);
  memset(q, 0, sizeof(*q));
}

int qimage_ids(berth_store_t *st, char (**ids)[BERTH_DIGEST_SIZE], size_t *n, berth_error_t *err) {
  sqlite3_stmt *q = NULL;
  *ids = NULL;
  *n = 0;
  pthread_mutex_lock(&st->lock);
  int r = db_prepare(st->db, "SELECT id FROM images ORDER BY created_unix, id", &q, err);
  size_t cap = 0;
  int rc = SQLITE_DONE;
  while (r == 0 && (rc = sqlite3_step(q)) == SQLITE_ROW) {
    if (*n == cap) {
      cap = cap ? cap * 2 : 16;
      void *v = realloc(*ids, cap * sizeof(**ids));
      if (v == NULL) {
        r = berth_error_make(err, ENOMEM, "out of memory");
        break;
      }
      *ids = v;
    }
    snprintf((*ids)[(*n)++], BERTH_DIGEST_SIZE, "%s", (const char *)sqlite3_column_text(q, 0));
  }
  if (r == 0 && rc != SQLITE_DONE)
    r = db_fail(st->db, err, "listing images");
  sqlite3_finalize(q);
  pthread_mutex_unlock(&st->lock);
  if (r < 0) {
    free(*ids);
    *ids = NULL;
    *n = 0;
  }
  return r;
}

static int strcmp_ptr(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends "familiar-repo<sep>col1" for each row of a (repo, x) query. */
static int read_refs(berth_store_t *st, const char *sql, const char *id, char sep, char ***out, size_t *n,
                     berth_error_t *err) {
  sqlite3_stmt *q = NULL;
  if (db_prepare(st->db, sql, &q, err) < 0)
    return -1;
  sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
  int rc, r = 0;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    cleanup_free char *fam = berth_ref_familiarise_repo((const char *)sqlite3_column_text(q, 0));
    char *s = NULL;
    char **v = realloc(*out, (*n + 1) * sizeof(char *));
    if (v != NULL)
      *out = v;
    if (fam == NULL || v == NULL || asprintf(&s, "%s%c%s", fam, sep, (const char *)sqlite3_column_text(q, 1)) < 0) {
      r = berth_error_make(err, ENOMEM, "out of memory");
      break;
    }
    (*out)[(*n)++] = s;
  }
  if (r == 0 && rc != SQLITE_DONE)
    r = db_fail(st->db, err, "reading references");
  sqlite3_finalize(q);
  if (r == 0 && *n > 1)
    qsort(*out, *n, sizeof(char *), strcmp_ptr);
  return r;
}

static int load_rows(berth_store_t *st, const char *id, qimage_t *out, berth_error_t *err) {
  sqlite3_stmt *q = NULL;
  if (db_prepare(st->db, "SELECT created, created_unix, size, last_tag_ns FROM images WHERE id=?1", &q, err) < 0)
    return -1;
  sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q);
  if (rc != SQLITE_ROW) {
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? berth_error_make(err, ENOENT, "No such image: %s", id)
                             : db_fail(st->db, err, "reading an image");
  }
  snprintf(out->id, sizeof(out->id), "%s", id);
  out->created = strdup((const char *)sqlite3_column_text(q, 0));
  out->created_unix = sqlite3_column_int64(q, 1);
  out->size = (uint64_t)sqlite3_column_int64(q, 2);
  out->last_tag_ns = sqlite3_column_int64(q, 3);
  sqlite3_finalize(q);
  if (out->created == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");

  if (db_prepare(st->db,
                 "SELECT l.chain_id, l.diff_id, l.size FROM image_layers il JOIN layers l ON l.chain_id = il.chain_id "
                 "WHERE il.image_id=?1 ORDER BY il.idx",
                 &q, err) < 0)
    return -1;
  sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
  size_t cap = 0;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    if (out->n_layers == cap) {
      cap = cap ? cap * 2 : 8;
      void *a = realloc(out->chains, cap * sizeof(*out->chains));
      if (a)
        out->chains = a;
      void *b = realloc(out->diffs, cap * sizeof(*out->diffs));
      if (b)
        out->diffs = b;
      void *c = realloc(out->layer_sizes, cap * sizeof(*out->layer_sizes));
      if (c)
        out->layer_sizes = c;
      if (!a || !b || !c) {
        sqlite3_finalize(q);
        return berth_error_make(err, ENOMEM, "out of memory");
      }
    }
    snprintf(out->chains[out->n_layers], BERTH_DIGEST_SIZE, "%s", (const char *)sqlite3_column_text(q, 0));
    snprintf(out->diffs[out->n_layers], BERTH_DIGEST_SIZE, "%s", (const char *)sqlite3_column_text(q, 1));
    out->layer_sizes[out->n_layers] = (uint64_t)sqlite3_column_int64(q, 2);
    out->n_layers++;
  }
  sqlite3_finalize(q);
  if (rc != SQLITE_DONE)
    return db_fail(st->db, err, "reading an image's layers");
  if (read_refs(st, "SELECT repo, tag FROM tags WHERE image_id=?1", id, ':', &out->tags, &out->n_tags, err) < 0 ||
      read_refs(st, "SELECT repo, digest FROM repo_digests WHERE image_id=?1", id, '@', &out->digests,
                &out->n_digests, err) < 0)
    return -1;
  return 0;
}

int qimage_load(berth_store_t *st, const char *id, bool with_config, qimage_t *out, berth_error_t *err) {
  memset(out, 0, sizeof(*out));
  pthread_mutex_lock(&st->lock);
  int r = load_rows(st, id, out, err);
  pthread_mutex_unlock(&st->lock);
  if (r == 0 && with_config) {
    cleanup_free char *buf = NULL;
    size_t len = 0;
    if (berth_store_blob_read(st, id, CONFIG_MAX, &buf, &len, err) < 0)
      r = berth_error_wrap(err, "image %s: config", id);
    else {
      json_tokener *tok = json_tokener_new();
      out->config = tok ? json_tokener_parse_ex(tok, buf, (int)len) : NULL;
      json_tokener_free(tok);
      if (!json_object_is_type(out->config, json_type_object))
        r = berth_error_make(err, EBADMSG, "image %s: config is not a JSON object", id);
    }
  }
  if (r < 0)
    qimage_clear(out);
  return r;
}

json_object *qimage_labels(const qimage_t *q) {
  json_object *c, *l;
  if (q->config && json_object_object_get_ex(q->config, "config", &c) && json_object_object_get_ex(c, "Labels", &l) &&
      json_object_is_type(l, json_type_object))
    return l;
  return NULL;
}

int query_finish(json_object *obj, char **json, berth_error_t *err) {
  const char *s = json_object_to_json_string_ext(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  *json = s ? strdup(s) : NULL;
  json_object_put(obj);
  if (*json == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  return 0;
}
