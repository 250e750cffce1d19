/* tag, remove, prune and resolve, with Docker's rules (daemon/images,
 * classic store): untag first, delete an image once nothing references it,
 * refuse (unless forced) to drop an image several repositories name. Each
 * operation is one SQLite transaction; files go after the commit. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"
#include "db.h"
#include "filters.h"
#include "query-impl.h"
#include "query.h"
#include "refs.h"

/* Per thread: each worker thread serves one request at a time. */
static __thread const image_use_t *tls_uses;
static __thread size_t tls_nuses;

void image_uses_set(const image_use_t *uses, size_t n) {
  tls_uses = uses;
  tls_nuses = uses ? n : 0;
}

int image_in_use(berth_store_t *st, const char *id, const char **container) {
  (void)st;
  int use = IMAGE_UNUSED;
  for (size_t i = 0; i < tls_nuses; i++) {
    const image_use_t *u = &tls_uses[i];
    if (u->image_id == NULL || strcmp(u->image_id, id) != 0)
      continue;
    int this = u->running ? IMAGE_USED_RUNNING : IMAGE_USED_STOPPED;
    if (this > use) {
      use = this;
      if (container)
        *container = u->container_id ? u->container_id : "";
    }
  }
  return use;
}

/* Docker's imageDeleteConflict for a container using the image: hard
 * (even force cannot) for a running one, soft for a stopped one. */
static int use_conflict(const char *id, int use, const char *ctr, berth_error_t *err) {
  bool hard = use == IMAGE_USED_RUNNING;
  return berth_error_make(err, hard ? EBUSY : EEXIST,
                          "conflict: unable to delete %.12s (%s) - image is being used by %s container %.12s", id + 7,
                          hard ? "cannot be forced" : "must be forced", hard ? "running" : "stopped", ctr);
}

/* ---- shared by remove and prune: caller holds the lock, inside a db txn ---- */

int store_drop_unreferenced(berth_store_t *st, digest_set_t *removed_layers, digest_set_t *removed_blobs,
                            berth_error_t *err) {
  /* Deepest first (a layer's parent after it), as Docker lists them. */
  for (;;) {
    char chain[BERTH_DIGEST_SIZE];
    sqlite3_stmt *q = NULL;
    if (db_prepare(st->db,
                   "SELECT chain_id FROM layers WHERE chain_id NOT IN (SELECT chain_id FROM image_layers) "
                   "AND chain_id NOT IN (SELECT parent FROM layers WHERE parent IS NOT NULL) LIMIT 1",
                   &q, err) < 0)
      return -1;
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW)
      snprintf(chain, sizeof(chain), "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    if (rc == SQLITE_DONE)
      break;
    if (rc != SQLITE_ROW)
      return db_fail(st->db, err, "finding unused layers");
    if (db_run(st->db, "DELETE FROM layers WHERE chain_id=?1", chain, NULL, err) < 0)
      return -1;
    if (removed_layers && dset_add(removed_layers, chain) < 0)
      return berth_error_make(err, ENOMEM, "out of memory");
  }
  /* a layer row kept only as a parent of nothing used: handled above once its child went */
  sqlite3_stmt *q = NULL;
  if (db_prepare(st->db,
                 "SELECT digest FROM blobs WHERE digest NOT IN (SELECT id FROM images) "
                 "AND digest NOT IN (SELECT diff_id FROM layers)",
                 &q, err) < 0)
    return -1;
  int rc, r = 0;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW)
    if (removed_blobs && dset_add(removed_blobs, (const char *)sqlite3_column_text(q, 0)) < 0)
      r = berth_error_make(err, ENOMEM, "out of memory");
  sqlite3_finalize(q);
  if (r == 0 && rc != SQLITE_DONE)
    r = db_fail(st->db, err, "finding unused blobs");
  for (size_t i = 0; r == 0 && removed_blobs && i < removed_blobs->n; i++)
    r = db_run(st->db, "DELETE FROM blobs WHERE digest=?1", removed_blobs->v[i], NULL, err);
  return r;
}

/* ---- references of one image ---- */

typedef struct {
  char *repo;  /* full */
  char *tag;   /* or NULL */
  char *digest;
  char *familiar;
} iref_t;

static void irefs_free(iref_t *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    free(v[i].repo);
    free(v[i].tag);
    free(v[i].digest);
    free(v[i].familiar);
  }
  free(v);
}

static int iref_cmp(const void *a, const void *b) {
  return strcmp(((const iref_t *)a)->familiar, ((const iref_t *)b)->familiar);
}

/* Every tag and digest reference of id, sorted by familiar string (Docker's order). */
static int read_irefs(berth_store_t *st, const char *id, iref_t **out, size_t *n, berth_error_t *err) {
  sqlite3_stmt *q = NULL;
  *out = NULL;
  *n = 0;
  if (db_prepare(st->db,
                 "SELECT repo, tag, NULL FROM tags WHERE image_id=?1 UNION ALL "
                 "SELECT repo, NULL, digest FROM repo_digests WHERE image_id=?1",
                 &q, err) < 0)
    return -1;
  sqlite3_bind_text(q, 1, id, -1, SQLITE_STATIC);
  int rc, r = 0;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    iref_t *v = realloc(*out, (*n + 1) * sizeof(*v));
    if (v == NULL) {
      r = berth_error_make(err, ENOMEM, "out of memory");
      break;
    }
    *out = v;
    iref_t *x = &v[(*n)++];
    memset(x, 0, sizeof(*x));
    const char *repo = (const char *)sqlite3_column_text(q, 0), *tag = (const char *)sqlite3_column_text(q, 1),
               *dg = (const char *)sqlite3_column_text(q, 2);
    x->repo = strdup(repo);
    x->tag = tag ? strdup(tag) : NULL;
    x->digest = dg ? strdup(dg) : NULL;
    cleanup_free char *fam = berth_ref_familiarise_repo(repo);
    if (fam == NULL || asprintf(&x->familiar, "%s%s%s", fam, tag ? ":" : "@", tag ? tag : dg) < 0)
      x->familiar = NULL;
    if (x->repo == NULL || x->familiar == NULL) {
      r = berth_error_make(err, ENOMEM, "out of memory");
      break;
    }
  }
  if (r == 0 && rc != SQLITE_DONE)
    r = db_fail(st->db, err, "reading references");
  sqlite3_finalize(q);
  if (r < 0) {
    irefs_free(*out, *n);
    *out = NULL;
    *n = 0;
    return -1;
  }
  if (*n > 1)
    qsort(*out, *n, sizeof(**out), iref_cmp);
  return 0;
}

static int drop_iref(berth_store_t *st, const iref_t *x, json_object *records, berth_error_t *err) {
  int r = x->tag ? db_run(st->db, "DELETE FROM tags WHERE repo=?1 AND tag=?2", x->repo, x->tag, err)
                 : db_run(st->db, "DELETE FROM repo_digests WHERE repo=?1 AND digest=?2", x->repo, x->digest, err);
  if (r == 0) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "Untagged", json_object_new_string(x->familiar));
    json_object_array_add(records, o);
  }
  return r;
}

/* Docker's isSingleReference: at most one tag, and every digest ref in that tag's repository. */
static bool single_reference(const iref_t *v, size_t n) {
  if (n <= 1)
    return n == 1;
  const iref_t *tagged = NULL;
  for (size_t i = 0; i < n; i++)
    if (v[i].tag) {
      if (tagged)
        return false;
      tagged = &v[i];
    }
  const iref_t *single = tagged ? tagged : &v[0];
  for (size_t i = 0; i < n; i++)
    if (!v[i].tag && strcmp(v[i].repo, single->repo) != 0)
      return false;
  return true;
}

static bool is_id_prefix(const char *id, const char *name) {
  size_t n = strlen(name);
  return n > 0 && (strncmp(id, name, n) == 0 || (n <= 64 && strncmp(id + 7, name, n) == 0));
}

static json_object *deleted(const char *what) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "Deleted", json_object_new_string(what));
  return o;
}

/* Deletes image id (its refs first) inside the open db txn; collects files to remove. */
static int delete_image(berth_store_t *st, const char *id, json_object *records, digest_set_t *layers,
                        digest_set_t *blobs, berth_error_t *err) {
  iref_t *refs = NULL;
  size_t n = 0;
  if (read_irefs(st, id, &refs, &n, err) < 0)
    return -1;
  for (size_t i = 0; i < n; i++)
    if (drop_iref(st, &refs[i], records, err) < 0) {
      irefs_free(refs, n);
      return -1;
    }
  irefs_free(refs, n);
  size_t before = layers->n;
  if (db_run(st->db, "DELETE FROM images WHERE id=?1", id, NULL, err) < 0 ||
      store_drop_unreferenced(st, layers, blobs, err) < 0)
    return -1;
  json_object_array_add(records, deleted(id));
  for (size_t i = before; i < layers->n; i++)
    json_object_array_add(records, deleted(layers->v[i]));
  return 0;
}

static int conflict(const char *id, bool hard, const char *msg, berth_error_t *err) {
  return berth_error_make(err, hard ? EBUSY : EEXIST, "conflict: unable to delete %.12s (%s) - %s", id + 7,
                          hard ? "cannot be forced" : "must be forced", msg);
}

/* ImageDelete: called with the lock held and a db txn open. */
static int remove_locked(berth_store_t *st, const char *name, const char *id, bool force, json_object *records,
                         digest_set_t *layers, digest_set_t *blobs, berth_error_t *err) {
  iref_t *refs = NULL;
  size_t n = 0;
  bool quiet = false;
  int r = read_irefs(st, id, &refs, &n, err);
  if (r < 0)
    return -1;
  if (!is_id_prefix(id, name)) {
    /* a reference: untag it; delete the image only if that was its last reference */
    berth_ref_t ref;
    if (berth_ref_parse(name, &ref, err) < 0)
      goto fail;
    cleanup_free char *repo = berth_ref_repo(&ref);
    const iref_t *hit = NULL;
    for (size_t i = 0; repo && i < n; i++)
      if (strcmp(refs[i].repo, repo) == 0 &&
          ((ref.digest && refs[i].digest && strcmp(refs[i].digest, ref.digest) == 0) ||
           (!ref.digest && refs[i].tag && ref.tag && strcmp(refs[i].tag, ref.tag) == 0)))
        hit = &refs[i];
    bool was_tag = ref.digest == NULL;
    berth_ref_clear(&ref);
    if (hit == NULL) { /* resolved some other way (an id-like name): treat as the id */
      goto by_id;
    }
    const char *ctr = NULL;
    if (!force && single_reference(refs, n) && image_in_use(st, id, &ctr) != IMAGE_UNUSED) {
      /* untagging would leave a container's image dangling: Docker wants force */
      r = berth_error_make(err, EEXIST,
                           "conflict: unable to remove repository reference \"%s\" (must force) - container %.12s is "
                           "using its referenced image %.12s",
                           name, ctr, id + 7);
      goto fail;
    }
    if (drop_iref(st, hit, records, err) < 0)
      goto fail;
    size_t left = 0;
    bool repo_tag_left = false;
    for (size_t i = 0; i < n; i++)
      if (&refs[i] != hit) {
        left++;
        if (refs[i].tag && strcmp(refs[i].repo, hit->repo) == 0)
          repo_tag_left = true;
      }
    if (was_tag && !repo_tag_left)
      for (size_t i = 0; i < n; i++)
        if (&refs[i] != hit && refs[i].digest && strcmp(refs[i].repo, hit->repo) == 0) {
          if (drop_iref(st, &refs[i], records, err) < 0)
            goto fail;
          left--;
        }
    irefs_free(refs, n);
    if (left > 0)
      return 0;
    quiet = true;
    goto helper;
  }
by_id:
  if (single_reference(refs, n)) {
    const char *ctr = NULL;
    int use = image_in_use(st, id, &ctr);
    if (use == IMAGE_USED_RUNNING || (use == IMAGE_USED_STOPPED && !force)) {
      irefs_free(refs, n);
      return use_conflict(id, use, ctr, err);
    }
    for (size_t i = 0; i < n; i++)
      if (drop_iref(st, &refs[i], records, err) < 0)
        goto fail;
  }
  irefs_free(refs, n);
helper:
  /* imageDeleteHelper: references left need force; a container using it is a conflict */
  refs = NULL;
  if (read_irefs(st, id, &refs, &n, err) < 0)
    return -1;
  irefs_free(refs, n);
  const char *ctr = NULL;
  int use = image_in_use(st, id, &ctr);
  if (use == IMAGE_USED_RUNNING || (use == IMAGE_USED_STOPPED && !force))
    return quiet ? 0 : use_conflict(id, use, ctr, err);
  if (use == IMAGE_USED_STOPPED)
    return 0; /* forced: untagged only. Unlike Docker the image stays, since a
               * container's root filesystem is made of its layers. */
  if (n > 0 && !force)
    return quiet ? 0 : conflict(id, false, "image is referenced in multiple repositories", err);
  return delete_image(st, id, records, layers, blobs, err);
fail:
  irefs_free(refs, n);
  return -1;
}

int image_remove_records(berth_store_t *st, const char *name, bool force, json_object *records,
                         berth_error_t *err) {
  char id[BERTH_DIGEST_SIZE];
  digest_set_t layers = { 0 }, blobs = { 0 };
  if (berth_store_resolve(st, name, id, err) < 0)
    return -1;
  pthread_mutex_lock(&st->lock);
  size_t mark = json_object_array_length(records);
  int r = db_begin(st->db, err);
  if (r == 0)
    r = remove_locked(st, name, id, force, records, &layers, &blobs, err);
  if (r == 0)
    r = db_commit(st->db, err);
  else
    db_rollback(st->db);
  if (r == 0)
    store_delete_files(st, &layers, &blobs);
  else
    while (json_object_array_length(records) > mark)
      json_object_array_del_idx(records, json_object_array_length(records) - 1, 1);
  pthread_mutex_unlock(&st->lock);
  dset_free(&layers);
  dset_free(&blobs);
  return r;
}

int image_remove(berth_store_t *st, const char *name, bool force, bool noprune, char **json, berth_error_t *err) {
  (void)noprune; /* only prunes parent images, which loaded images do not have */
  json_object *records = json_object_new_array();
  if (image_remove_records(st, name, force, records, err) < 0) {
    json_object_put(records);
    return -1;
  }
  return query_finish(records, json, err);
}
