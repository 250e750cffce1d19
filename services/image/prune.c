/* tag, prune and resolve (Docker's rules; remove.c has ImageDelete). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cleanup.h"
#include "db.h"
#include "filters.h"
#include "query-impl.h"
#include "query.h"
#include "refs.h"

int image_tag(berth_store_t *st, const char *source, const char *repo, const char *tag, berth_error_t *err) {
  berth_ref_t ref;
  if (repo == NULL || *repo == '\0')
    return berth_error_make(err, EINVAL, "repository name must have at least one component");
  if (berth_ref_parse_repo(repo, &ref, err) < 0)
    return -1;
  int r = 0;
  if (ref.digest != NULL)
    r = berth_error_make(err, EINVAL, "refusing to create a tag with a digest reference");
  else if (tag != NULL && *tag != '\0') {
    if (!berth_ref_tag_valid(tag))
      r = berth_error_make(err, EINVAL, "invalid tag format");
    else {
      free(ref.tag);
      if ((ref.tag = strdup(tag)) == NULL)
        r = berth_error_make(err, ENOMEM, "out of memory");
    }
  } else if (ref.tag == NULL && (ref.tag = strdup("latest")) == NULL)
    r = berth_error_make(err, ENOMEM, "out of memory");
  cleanup_free char *full = r == 0 ? berth_ref_repo(&ref) : NULL;
  cleanup_free char *fam = r == 0 ? berth_ref_familiar_repo(&ref) : NULL;
  if (r == 0 && (full == NULL || fam == NULL))
    r = berth_error_make(err, ENOMEM, "out of memory");
  if (r == 0 && strcmp(fam, "sha256") == 0)
    r = berth_error_make(err, EINVAL, "refusing to create an ambiguous tag using digest algorithm as name");
  char id[BERTH_DIGEST_SIZE];
  if (r == 0)
    r = berth_store_resolve(st, source, id, err);
  if (r == 0) {
    pthread_mutex_lock(&st->lock);
    sqlite3_stmt *q = NULL;
    r = db_begin(st->db, err);
    if (r == 0 && (r = db_prepare(st->db, "INSERT OR REPLACE INTO tags(repo, tag, image_id) VALUES(?1,?2,?3)", &q,
                                  err)) == 0) {
      sqlite3_bind_text(q, 1, full, -1, SQLITE_STATIC);
      sqlite3_bind_text(q, 2, ref.tag, -1, SQLITE_STATIC);
      sqlite3_bind_text(q, 3, id, -1, SQLITE_STATIC);
      if (sqlite3_step(q) != SQLITE_DONE)
        r = db_fail(st->db, err, "tagging");
      sqlite3_finalize(q);
    }
    if (r == 0 && (r = db_prepare(st->db, "UPDATE images SET last_tag_ns=?2 WHERE id=?1", &q, err)) == 0) {
      sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
      sqlite3_bind_int64(q, 2, store_now_ns());
      if (sqlite3_step(q) != SQLITE_DONE)
        r = db_fail(st->db, err, "tagging");
      sqlite3_finalize(q);
    }
    if (r == 0)
      r = db_commit(st->db, err);
    else
      db_rollback(st->db);
    pthread_mutex_unlock(&st->lock);
  }
  berth_ref_clear(&ref);
  return r < 0 ? -1 : 0;
}

/* chain id -> size of every layer, before anything is deleted (for SpaceReclaimed). */
typedef struct {
  digest_set_t chains;
  uint64_t *sizes;
} layer_sizes_t;

static int snapshot_sizes(berth_store_t *st, layer_sizes_t *out, berth_error_t *err) {
  sqlite3_stmt *q = NULL;
  memset(out, 0, sizeof(*out));
  pthread_mutex_lock(&st->lock);
  int r = db_prepare(st->db, "SELECT chain_id, size FROM layers", &q, err), rc = SQLITE_DONE;
  while (r == 0 && (rc = sqlite3_step(q)) == SQLITE_ROW) {
    uint64_t *v = realloc(out->sizes, (out->chains.n + 1) * sizeof(*v));
    if (v == NULL || dset_add(&out->chains, (const char *)sqlite3_column_text(q, 0)) < 0) {
      if (v)
        out->sizes = v;
      r = berth_error_make(err, ENOMEM, "out of memory");
      break;
    }
    out->sizes = v;
    v[out->chains.n - 1] = (uint64_t)sqlite3_column_int64(q, 1);
  }
  if (r == 0 && rc != SQLITE_DONE)
    r = db_fail(st->db, err, "reading layer sizes");
  sqlite3_finalize(q);
  pthread_mutex_unlock(&st->lock);
  return r;
}

static uint64_t size_of(const layer_sizes_t *s, const char *chain) {
  for (size_t i = 0; i < s->chains.n; i++)
    if (strcmp(s->chains.v[i], chain) == 0)
      return s->sizes[i];
  return 0;
}

/* Runs one ImageDelete; failures (conflicts, races) skip the image as Docker does. */
static void prune_one(berth_store_t *st, const char *name, json_object *records) {
  berth_error_t e = NULL;
  if (image_remove_records(st, name, false, records, &e) < 0)
    berth_error_release(&e);
}

int image_prune(berth_store_t *st, const char *filters_json, char **json, berth_error_t *err) {
  static const char *const allowed[] = { "dangling", "until", "label", "label!", NULL };
  filters_t f;
  int dangling;
  int64_t until = 0;
  bool has_until = false;
  if (filters_parse(filters_json, allowed, &f, err) < 0)
    return -1;
  const filter_t *u = filters_get(&f, "until");
  if (filters_bool(&f, "dangling", &dangling, err) < 0)
    goto fail;
  if (u != NULL && u->n > 1) {
    berth_error_make(err, EINVAL, "more than one until filter specified");
    goto fail;
  }
  if (u != NULL && u->n == 1) {
    if (filters_time(u->values[0], (int64_t)time(NULL), &until, err) < 0)
      goto fail;
    has_until = true;
  }
  bool dangling_only = dangling != 0;
  layer_sizes_t sizes;
  if (snapshot_sizes(st, &sizes, err) < 0)
    goto fail;
  char (*ids)[BERTH_DIGEST_SIZE] = NULL;
  size_t n = 0;
  if (qimage_ids(st, &ids, &n, err) < 0) {
    dset_free(&sizes.chains);
    free(sizes.sizes);
    goto fail;
  }
  json_object *records = json_object_new_array();
  for (size_t i = 0; i < n; i++) {
    qimage_t q;
    berth_error_t e = NULL;
    if (qimage_load(st, ids[i], true, &q, &e) < 0) {
      berth_error_release(&e);
      continue;
    }
    bool skip = (dangling_only && q.n_tags > 0) || (has_until && q.created_unix > until) ||
                !filters_match_labels(&f, qimage_labels(&q)) || image_in_use(st, q.id, NULL) != IMAGE_UNUSED;
    if (!skip && q.n_tags + q.n_digests > 0) {
      /* delete through every reference (Docker: ImageDelete(ref.String())) */
      for (size_t k = 0; k < q.n_tags; k++) {
        cleanup_free char *full = NULL;
        berth_ref_t ref;
        if (berth_ref_parse(q.tags[k], &ref, NULL) == 0) {
          full = berth_ref_string(&ref);
          berth_ref_clear(&ref);
        }
        if (full)
          prune_one(st, full, records);
      }
      for (size_t k = 0; k < q.n_digests; k++)
        prune_one(st, q.digests[k], records);
    } else if (!skip)
      prune_one(st, q.id + 7, records);
    qimage_clear(&q);
  }
  free(ids);
  uint64_t reclaimed = 0;
  for (size_t i = 0; i < json_object_array_length(records); i++) {
    json_object *d = NULL;
    if (json_object_object_get_ex(json_object_array_get_idx(records, i), "Deleted", &d))
      reclaimed += size_of(&sizes, json_object_get_string(d));
  }
  dset_free(&sizes.chains);
  free(sizes.sizes);
  filters_free(&f);
  json_object *o = json_object_new_object();
  if (json_object_array_length(records) > 0)
    json_object_object_add(o, "ImagesDeleted", records);
  else {
    json_object_put(records);
    json_object_object_add(o, "ImagesDeleted", NULL);
  }
  json_object_object_add(o, "SpaceReclaimed", json_object_new_int64((int64_t)reclaimed));
  return query_finish(o, json, err);
fail:
  filters_free(&f);
  return -1;
}

int image_resolve(berth_store_t *st, const char *name, char id[BERTH_DIGEST_SIZE],
                  char (**chain_ids)[BERTH_DIGEST_SIZE], size_t *n, berth_error_t *err) {
  berth_store_image_t *img = NULL;
  if (berth_store_resolve(st, name, id, err) < 0 || berth_store_image_get(st, id, false, &img, err) < 0)
    return -1;
  *chain_ids = img->chain_ids;
  *n = img->n_layers;
  img->chain_ids = NULL;
  berth_store_image_free(img);
  return 0;
}
