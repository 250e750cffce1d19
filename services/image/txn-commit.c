/* Load transactions, second half: queue images, commit in one SQLite
 * transaction, and clean up whatever the txn pinned that nothing references. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cleanup.h"
#include "db.h"
#include "log.h"
#include "refs.h"
#include "txn-impl.h"

#define CONFIG_MAX (16u << 20)

int64_t txn_parse_time(const char *s) {
  struct tm tm = { 0 };
  int n = 0;
  if (s == NULL || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                          &tm.tm_min, &tm.tm_sec, &n) != 6)
    return 0;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  int64_t t = (int64_t)timegm(&tm);
  const char *p = s + n;
  if (*p == '.')
    for (p++; *p >= '0' && *p <= '9'; p++)
      ;
  int oh, om;
  if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2)
    t -= (*p == '+' ? 1 : -1) * (int64_t)(oh * 3600 + om * 60);
  return t;
}

static txn_layer_t *find_layer(berth_store_txn_t *t, const char *chain) {
  for (size_t i = 0; i < t->n_layers; i++)
    if (strcmp(t->layers[i].chain, chain) == 0)
      return &t->layers[i];
  return NULL;
}

static void image_clear(txn_image_t *im) {
  free(im->chains);
  for (size_t i = 0; i < im->n_tags; i++) {
    free(im->repos[i]);
    free(im->tags[i]);
  }
  free(im->repos);
  free(im->tags);
  free(im->created);
}

/* Checks the config against the layers it is loaded with; takes "created". */
static int read_config(berth_store_txn_t *t, const berth_store_image_spec_t *spec, txn_image_t *im,
                       berth_error_t *err) {
  cleanup_free char *buf = NULL;
  size_t len = 0;
  if (berth_store_blob_read(t->st, spec->config_digest, CONFIG_MAX, &buf, &len, err) < 0)
    return berth_error_wrap(err, "image config %s", spec->config_digest);
  json_tokener *tok = json_tokener_new();
  json_object *cfg = tok ? json_tokener_parse_ex(tok, buf, (int)len) : NULL;
  bool complete = tok && json_tokener_get_error(tok) == json_tokener_success;
  json_tokener_free(tok);
  int r = 0;
  json_object *rootfs, *diffs, *created;
  if (!complete || !json_object_is_type(cfg, json_type_object)) {
    r = berth_error_make(err, EBADMSG, "image config %s is not a JSON object", spec->config_digest);
    goto out;
  }
  if (!json_object_object_get_ex(cfg, "rootfs", &rootfs) ||
      !json_object_object_get_ex(rootfs, "diff_ids", &diffs) || !json_object_is_type(diffs, json_type_array)) {
    r = berth_error_make(err, EBADMSG, "image config %s has no rootfs.diff_ids", spec->config_digest);
    goto out;
  }
  if (json_object_array_length(diffs) != spec->n_layers) {
    r = berth_error_make(err, EBADMSG, "image config %s lists %zu layers but the archive gives %zu",
                         spec->config_digest, json_object_array_length(diffs), spec->n_layers);
    goto out;
  }
  for (size_t i = 0; i < spec->n_layers; i++) {
    const char *d = json_object_get_string(json_object_array_get_idx(diffs, i));
    if (d == NULL || strcmp(d, spec->diff_ids[i]) != 0) {
      r = berth_error_make(err, EBADMSG, "image config %s: layer %zu is %s in the config but %s in the archive",
                           spec->config_digest, i + 1, d ? d : "(none)", spec->diff_ids[i]);
      goto out;
    }
  }
  const char *c = json_object_object_get_ex(cfg, "created", &created) ? json_object_get_string(created) : NULL;
  im->created = strdup(c ? c : "0001-01-01T00:00:00Z");
  im->created_unix = c ? txn_parse_time(c) : 0;
  if (im->created == NULL)
    r = berth_error_make(err, ENOMEM, "out of memory");
out:
  json_object_put(cfg);
  return r;
}

int berth_store_txn_add_image(berth_store_txn_t *t, const berth_store_image_spec_t *spec, berth_error_t *err) {
  txn_image_t im = { 0 };
  int r = -1;
  if (t->committed)
    return berth_error_make(err, EINVAL, "image store: transaction already committed");
  if (!berth_digest_valid(spec->config_digest))
    return berth_error_make(err, EBADMSG, "invalid config digest '%s'", spec->config_digest);
  if (berth_store_txn_have_blob(t, spec->config_digest, err) <= 0) {
    if (err && *err == NULL)
      berth_error_make(err, ENOENT, "image config %s is not in the store", spec->config_digest);
    return -1;
  }
  snprintf(im.id, sizeof(im.id), "%s", spec->config_digest);
  im.chains = calloc(spec->n_layers ? spec->n_layers : 1, sizeof(*im.chains));
  im.repos = calloc(spec->n_tags ? spec->n_tags : 1, sizeof(char *));
  im.tags = calloc(spec->n_tags ? spec->n_tags : 1, sizeof(char *));
  if (im.chains == NULL || im.repos == NULL || im.tags == NULL) {
    berth_error_make(err, ENOMEM, "out of memory");
    goto fail;
  }
  const char *parent = NULL;
  for (size_t i = 0; i < spec->n_layers; i++) {
    if (!berth_digest_valid(spec->diff_ids[i])) {
      berth_error_make(err, EBADMSG, "invalid layer diff id '%s'", spec->diff_ids[i]);
      goto fail;
    }
    berth_chain_id(parent, spec->diff_ids[i], im.chains[i]);
    txn_layer_t *l = find_layer(t, im.chains[i]);
    if (l == NULL) {
      berth_error_make(err, ENOENT, "layer %s (chain %s) was neither loaded nor found in the store",
                       spec->diff_ids[i], im.chains[i]);
      goto fail;
    }
    im.size += l->size;
    parent = im.chains[i];
  }
  im.n_layers = spec->n_layers;
  for (size_t i = 0; i < spec->n_tags; i++) {
    berth_ref_t ref;
    if (berth_ref_parse(spec->repo_tags[i], &ref, err) < 0) {
      berth_error_wrap(err, "image %s: repository tag '%s'", im.id, spec->repo_tags[i]);
      goto fail;
    }
    if (ref.digest != NULL || ref.tag == NULL) {
      berth_ref_clear(&ref);
      berth_error_make(err, EINVAL, "image %s: repository tag '%s' must be a name with a tag", im.id,
                       spec->repo_tags[i]);
      goto fail;
    }
    im.repos[im.n_tags] = berth_ref_repo(&ref);
    im.tags[im.n_tags] = strdup(ref.tag);
    berth_ref_clear(&ref);
    if (im.repos[im.n_tags] == NULL || im.tags[im.n_tags] == NULL) {
      im.n_tags++;
      berth_error_make(err, ENOMEM, "out of memory");
      goto fail;
    }
    im.n_tags++;
  }
  if (read_config(t, spec, &im, err) < 0)
    goto fail;
  txn_image_t *v = realloc(t->images, (t->n_images + 1) * sizeof(*v));
  if (v == NULL) {
    berth_error_make(err, ENOMEM, "out of memory");
    goto fail;
  }
  t->images = v;
  t->images[t->n_images++] = im;
  return 0;
fail:
  image_clear(&im);
  return r;
}

static int add_note(berth_store_txn_t *t, char *line) {
  if (line == NULL)
    return -ENOMEM;
  char **v = realloc(t->notes, (t->n_notes + 2) * sizeof(*v));
  if (v == NULL) {
    free(line);
    return -ENOMEM;
  }
  t->notes = v;
  t->notes[t->n_notes++] = line;
  t->notes[t->n_notes] = NULL;
  return 0;
}

static int insert_blob(berth_store_t *st, const char *d, berth_error_t *err) {
  struct stat sb;
  if (fstatat(st->blobs_fd, d + 7, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(sb.st_mode))
    return berth_error_make(err, EIO, "image store: blob %s vanished before the commit", d);
  char size[32];
  snprintf(size, sizeof(size), "%lld", (long long)sb.st_size);
  return db_run(st->db, "INSERT OR IGNORE INTO blobs(digest, size) VALUES(?1, CAST(?2 AS INTEGER))", d, size, err);
}

static int record_image(berth_store_txn_t *t, const txn_image_t *im, berth_error_t *err) {
  berth_store_t *st = t->st;
  sqlite3_stmt *q = NULL;
  if (insert_blob(st, im->id, err) < 0)
    return -1;
  for (size_t i = 0; i < im->n_layers; i++) {
    txn_layer_t *l = find_layer(t, im->chains[i]);
    if (insert_blob(st, l->diff, err) < 0)
      return -1;
    if (db_prepare(st->db, "INSERT OR IGNORE INTO layers(chain_id, diff_id, parent, size) VALUES(?1,?2,?3,?4)", &q,
                   err) < 0)
      return -1;
    sqlite3_bind_text(q, 1, l->chain, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, l->diff, -1, SQLITE_STATIC);
    if (l->parent[0])
      sqlite3_bind_text(q, 3, l->parent, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, (sqlite3_int64)l->size);
    int rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
      return db_fail(st->db, err, "recording a layer");
  }
  if (db_prepare(st->db,
                 "INSERT OR IGNORE INTO images(id, created, created_unix, size, loaded_ns) VALUES(?1,?2,?3,?4,?5)", &q,
                 err) < 0)
    return -1;
  sqlite3_bind_text(q, 1, im->id, -1, SQLITE_STATIC);
  sqlite3_bind_text(q, 2, im->created, -1, SQLITE_STATIC);
  sqlite3_bind_int64(q, 3, im->created_unix);
  sqlite3_bind_int64(q, 4, (sqlite3_int64)im->size);
  sqlite3_bind_int64(q, 5, store_now_ns());
  int rc = sqlite3_step(q);
  sqlite3_finalize(q);
  if (rc != SQLITE_DONE)
    return db_fail(st->db, err, "recording an image");
  if (sqlite3_changes(st->db) == 1)
    for (size_t i = 0; i < im->n_layers; i++) {
      if (db_prepare(st->db, "INSERT INTO image_layers(image_id, idx, chain_id) VALUES(?1,?2,?3)", &q, err) < 0)
        return -1;
      sqlite3_bind_text(q, 1, im->id, -1, SQLITE_STATIC);
      sqlite3_bind_int64(q, 2, (sqlite3_int64)i);
      sqlite3_bind_text(q, 3, im->chains[i], -1, SQLITE_STATIC);
      rc = sqlite3_step(q);
      sqlite3_finalize(q);
      if (rc != SQLITE_DONE)
        return db_fail(st->db, err, "recording an image's layers");
    }
  for (size_t i = 0; i < im->n_tags; i++) {
    if (db_prepare(st->db, "SELECT image_id FROM tags WHERE repo=?1 AND tag=?2", &q, err) < 0)
      return -1;
    sqlite3_bind_text(q, 1, im->repos[i], -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, im->tags[i], -1, SQLITE_STATIC);
    if (sqlite3_step(q) == SQLITE_ROW) {
      const char *prev = (const char *)sqlite3_column_text(q, 0);
      if (prev && strcmp(prev, im->id) != 0) {
        cleanup_free char *fam = berth_ref_familiarise_repo(im->repos[i]);
        char *line = NULL;
        if (asprintf(&line, "The image %s:%s already exists, renaming the old one with ID %s to empty string",
                     fam ? fam : im->repos[i], im->tags[i], prev) < 0)
          line = NULL;
        add_note(t, line);
      }
    }
    sqlite3_finalize(q);
    if (db_prepare(st->db, "INSERT OR REPLACE INTO tags(repo, tag, image_id) VALUES(?1,?2,?3)", &q, err) < 0)
      return -1;
    sqlite3_bind_text(q, 1, im->repos[i], -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, im->tags[i], -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 3, im->id, -1, SQLITE_STATIC);
    rc = sqlite3_step(q);
    sqlite3_finalize(q);
    if (rc != SQLITE_DONE)
      return db_fail(st->db, err, "recording a tag");
  }
  return 0;
}

static bool image_uses_blob(const berth_store_txn_t *t, const char *d) {
  for (size_t i = 0; i < t->n_images; i++) {
    if (strcmp(t->images[i].id, d) == 0)
      return true;
    for (size_t k = 0; k < t->images[i].n_layers; k++) {
      const txn_layer_t *l = NULL;
      for (size_t j = 0; j < t->n_layers && l == NULL; j++)
        if (strcmp(t->layers[j].chain, t->images[i].chains[k]) == 0)
          l = &t->layers[j];
      if (l && strcmp(l->diff, d) == 0)
        return true;
    }
  }
  return false;
}

static bool image_uses_layer(const berth_store_txn_t *t, const char *chain) {
  for (size_t i = 0; i < t->n_images; i++)
    for (size_t k = 0; k < t->images[i].n_layers; k++)
      if (strcmp(t->images[i].chains[k], chain) == 0)
        return true;
  return false;
}

/* Moves the staged blobs and layers the queued images use into the live
 * store (an entry another load placed meanwhile wins; ours is dropped), and
 * makes the renames durable before any row names them. Caller holds the lock. */
static int place_pending(berth_store_txn_t *t, berth_error_t *err) {
  berth_store_t *st = t->st;
  for (size_t i = 0; i < t->n_pending; i++) {
    txn_blob_t *b = &t->pending[i];
    if (b->staged[0] == '\0' || !image_uses_blob(t, b->digest))
      continue;
    if (renameat2(st->tmp_fd, b->staged, st->blobs_fd, b->digest + 7, RENAME_NOREPLACE) < 0) {
      if (errno != EEXIST)
        return berth_error_errno(err, "image store: moving blob %s into place", b->digest);
      store_rm_rf_at(st->tmp_fd, b->staged);
    }
    b->staged[0] = '\0';
  }
  for (size_t i = 0; i < t->n_layers; i++) {
    txn_layer_t *l = &t->layers[i];
    if (l->staged[0] == '\0' || !image_uses_layer(t, l->chain))
      continue;
    if (renameat2(st->tmp_fd, l->staged, st->layers_fd, l->chain + 7, RENAME_NOREPLACE) < 0) {
      if (errno != EEXIST && errno != ENOTEMPTY)
        return berth_error_errno(err, "image store: moving layer %s into place", l->chain);
      store_rm_rf_at(st->tmp_fd, l->staged);
    }
    l->staged[0] = '\0';
  }
  if (fsync(st->blobs_fd) < 0 || fsync(st->layers_fd) < 0)
    return berth_error_errno(err, "image store: fsync of the store directories");
  return 0;
}

int berth_store_txn_commit(berth_store_txn_t *t, berth_error_t *err) {
  berth_store_t *st = t->st;
  if (t->committed)
    return berth_error_make(err, EINVAL, "image store: transaction already committed");
  /* The staged content reaches the disk before it is renamed into place,
   * and the renames before the rows that name them. */
  if (syncfs(st->tmp_fd) < 0)
    return berth_error_errno(err, "image store: syncfs");
  pthread_mutex_lock(&st->lock);
  int r = place_pending(t, err);
  if (r == 0)
    r = db_begin(st->db, err);
  else
    goto out;
  for (size_t i = 0; r == 0 && i < t->n_images; i++)
    r = record_image(t, &t->images[i], err);
  if (r == 0)
    r = db_commit(st->db, err);
  else
    db_rollback(st->db);
  if (r == 0)
    t->committed = true;
out:
  pthread_mutex_unlock(&st->lock);
  return r < 0 ? berth_error_wrap(err, "recording the loaded images") : 0;
}

const char *const *berth_store_txn_notes(berth_store_txn_t *t, size_t *n) {
  if (n)
    *n = t->n_notes;
  static const char *const none[] = { NULL };
  return t->notes ? (const char *const *)t->notes : none;
}

void berth_store_txn_free(berth_store_txn_t *t) {
  if (t == NULL)
    return;
  berth_store_t *st = t->st;
  pthread_mutex_lock(&st->lock);
  for (berth_store_txn_t **p = &st->txns; *p; p = &(*p)->next)
    if (*p == t) {
      *p = t->next;
      break;
    }
  /* Staged entries never placed: still ours, in tmp/. */
  for (size_t i = 0; i < t->n_pending; i++)
    if (t->pending[i].staged[0] != '\0')
      store_rm_rf_at(st->tmp_fd, t->pending[i].staged);
  for (size_t i = 0; i < t->n_layers; i++)
    if (t->layers[i].staged[0] != '\0') {
      store_rm_rf_at(st->tmp_fd, t->layers[i].staged);
      t->layers[i].staged[0] = '\0';
    }
  /* Whatever this txn pinned and no row references is ours to remove
   * (unless another open load pinned it too: it will decide). */
  int64_t v;
  for (size_t i = t->n_layers; i-- > 0;) {
    const char *c = t->layers[i].chain;
    if (db_query_int(st->db, "SELECT 1 FROM layers WHERE chain_id=?1", c, &v, NULL) == 0 &&
        !store_layer_pinned(st, c))
      store_remove_layer_dir(st, c);
  }
  for (size_t i = 0; i < t->blobs.n; i++) {
    const char *d = t->blobs.v[i];
    if (db_query_int(st->db, "SELECT 1 FROM blobs WHERE digest=?1", d, &v, NULL) == 0 && !store_blob_pinned(st, d))
      store_unlink_blob(st, d);
  }
  pthread_mutex_unlock(&st->lock);
  for (size_t i = 0; i < t->n_images; i++)
    image_clear(&t->images[i]);
  free(t->images);
  for (size_t i = 0; i < t->n_notes; i++)
    free(t->notes[i]);
  free(t->notes);
  free(t->layers);
  free(t->pending);
  dset_free(&t->blobs);
  free(t);
}
