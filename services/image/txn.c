/* Load transactions: blobs and layers are put into place as an archive is
 * read (pinned while the txn is open), images queued, then everything is
 * recorded in one SQLite transaction; an uncommitted txn removes what it put. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cleanup.h"
#include "db.h"
#include "log.h"
#include "refs.h"
#include "store-impl.h"
#include "txn-impl.h"

bool store_blob_pinned(berth_store_t *st, const char *digest) {
  for (berth_store_txn_t *t = st->txns; t; t = t->next)
    if (dset_has(&t->blobs, digest))
      return true;
  return false;
}

bool store_layer_pinned(berth_store_t *st, const char *chain_id) {
  for (berth_store_txn_t *t = st->txns; t; t = t->next)
    for (size_t i = 0; i < t->n_layers; i++)
      if (strcmp(t->layers[i].chain, chain_id) == 0)
        return true;
  return false;
}

int berth_store_txn_begin(berth_store_t *st, berth_store_txn_t **out, berth_error_t *err) {
  berth_store_txn_t *t = calloc(1, sizeof(*t));
  if (t == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  t->st = st;
  pthread_mutex_lock(&st->lock);
  t->next = st->txns;
  st->txns = t;
  pthread_mutex_unlock(&st->lock);
  *out = t;
  return 0;
}

static txn_layer_t *find_layer(berth_store_txn_t *t, const char *chain) {
  for (size_t i = 0; i < t->n_layers; i++)
    if (strcmp(t->layers[i].chain, chain) == 0)
      return &t->layers[i];
  return NULL;
}

/* ---- blobs ---- */

static int hash_fd(int fd, char out[BERTH_DIGEST_SIZE], berth_error_t *err) {
  berth_sha256_t *h = berth_sha256_new();
  cleanup_free char *buf = malloc(1 << 20);
  if (h == NULL || buf == NULL) {
    berth_sha256_free(h);
    return berth_error_make(err, ENOMEM, "out of memory");
  }
  off_t off = 0;
  for (;;) {
    ssize_t n = pread(fd, buf, 1 << 20, off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      berth_sha256_free(h);
      return berth_error_errno(err, "reading a staged blob");
    }
    if (n == 0)
      break;
    berth_sha256_update(h, buf, (size_t)n);
    off += n;
  }
  berth_sha256_final(h, out);
  return 0;
}

const char *txn_pending_blob(berth_store_txn_t *t, const char *digest) {
  for (size_t i = 0; i < t->n_pending; i++)
    if (strcmp(t->pending[i].digest, digest) == 0)
      return t->pending[i].staged;
  return NULL;
}

/* Keeps a verified, synced staged file in tmp/ until the commit moves it
 * into blobs/sha256/<hex> (so that a load refused later never touches the
 * live store), or drops it when the blob is there already; pins the digest. */
static int place_blob(berth_store_txn_t *t, berth_staged_t *file, const char *digest, berth_error_t *err) {
  berth_store_t *st = t->st;
  if (fsync(file->fd) < 0) {
    int r = berth_error_errno(err, "image store: fsync of blob %s", digest);
    berth_store_staged_discard(st, file);
    return r;
  }
  pthread_mutex_lock(&st->lock);
  struct stat sb;
  bool have = txn_pending_blob(t, digest) != NULL ||
              (fstatat(st->blobs_fd, digest + 7, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode));
  int r = dset_add(&t->blobs, digest);
  txn_blob_t *v = NULL;
  if (r == 0 && !have && (v = realloc(t->pending, (t->n_pending + 1) * sizeof(*v))) != NULL) {
    t->pending = v;
    snprintf(v[t->n_pending].digest, BERTH_DIGEST_SIZE, "%s", digest);
    snprintf(v[t->n_pending].staged, sizeof(v->staged), "%s", file->name);
    t->n_pending++;
  }
  pthread_mutex_unlock(&st->lock);
  if (r < 0 || (!have && v == NULL)) {
    berth_store_staged_discard(st, file);
    return berth_error_make(err, ENOMEM, "out of memory");
  }
  if (have) {
    berth_store_staged_discard(st, file); /* already stored: no duplicate */
    return 0;
  }
  file->name[0] = '\0'; /* the txn owns it now */
  close(file->fd);
  file->fd = -1;
  return 0;
}

int berth_store_txn_put_blob(berth_store_txn_t *t, berth_staged_t *file, const char *expected,
                             char actual_out[BERTH_DIGEST_SIZE], berth_error_t *err) {
  char actual[BERTH_DIGEST_SIZE];
  if (file->fd < 0 || file->is_dir) {
    berth_store_staged_discard(t->st, file);
    return berth_error_make(err, EINVAL, "image store: not a staged file");
  }
  if (expected != NULL && !berth_digest_valid(expected)) {
    berth_store_staged_discard(t->st, file);
    return berth_error_make(err, EBADMSG, "invalid digest '%s' (only sha256:<64 hex> is supported)", expected);
  }
  if (hash_fd(file->fd, actual, err) < 0) {
    berth_store_staged_discard(t->st, file);
    return -1;
  }
  if (actual_out != NULL)
    memcpy(actual_out, actual, BERTH_DIGEST_SIZE);
  if (expected != NULL && strcmp(expected, actual) != 0) {
    berth_store_staged_discard(t->st, file);
    return berth_error_make(err, EBADMSG, "blob %s: digest mismatch (content is %s)", expected, actual);
  }
  return place_blob(t, file, actual, err);
}

int berth_store_txn_put_blob_hashed(berth_store_txn_t *t, berth_staged_t *file, const char *digest,
                                    berth_error_t *err) {
  if (file->fd < 0 || file->is_dir || !berth_digest_valid(digest)) {
    berth_store_staged_discard(t->st, file);
    return berth_error_make(err, EINVAL, "image store: bad staged blob or digest");
  }
  return place_blob(t, file, digest, err);
}

int berth_store_txn_have_blob(berth_store_txn_t *t, const char *digest, berth_error_t *err) {
  if (!berth_digest_valid(digest))
    return berth_error_make(err, EINVAL, "invalid digest '%s'", digest);
  berth_store_t *st = t->st;
  pthread_mutex_lock(&st->lock);
  int r = 0;
  struct stat sb;
  if (dset_has(&t->blobs, digest))
    r = 1;
  else if (fstatat(st->blobs_fd, digest + 7, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode))
    r = dset_add(&t->blobs, digest) < 0 ? berth_error_make(err, ENOMEM, "out of memory") : 1;
  pthread_mutex_unlock(&st->lock);
  return r;
}

/* ---- layers ---- */

static int add_layer_entry(berth_store_txn_t *t, const char *chain, const char *diff, const char *parent,
                           uint64_t size) {
  if (t->n_layers == t->cap_layers) {
    size_t cap = t->cap_layers ? t->cap_layers * 2 : 16;
    txn_layer_t *v = realloc(t->layers, cap * sizeof(*v));
    if (v == NULL)
      return -ENOMEM;
    t->layers = v;
    t->cap_layers = cap;
  }
  txn_layer_t *l = &t->layers[t->n_layers++];
  memset(l, 0, sizeof(*l));
  snprintf(l->chain, sizeof(l->chain), "%s", chain);
  snprintf(l->diff, sizeof(l->diff), "%s", diff);
  if (parent)
    snprintf(l->parent, sizeof(l->parent), "%s", parent);
  l->size = size;
  /* the layer's tar is kept as a blob for save: pin it along */
  return dset_add(&t->blobs, diff);
}

int berth_store_txn_have_layer(berth_store_txn_t *t, const char *chain_id, berth_error_t *err) {
  if (!berth_digest_valid(chain_id))
    return berth_error_make(err, EINVAL, "invalid chain id '%s'", chain_id);
  berth_store_t *st = t->st;
  pthread_mutex_lock(&st->lock);
  int r = 0;
  if (find_layer(t, chain_id) != NULL) {
    r = 1;
    goto out;
  }
  sqlite3_stmt *q = NULL;
  if (db_prepare(st->db, "SELECT diff_id, parent, size FROM layers WHERE chain_id=?1", &q, err) < 0) {
    r = -1;
    goto out;
  }
  sqlite3_bind_text(q, 1, chain_id, -1, SQLITE_TRANSIENT);
  int rc = sqlite3_step(q);
  struct stat sb;
  if (rc == SQLITE_ROW && (fstatat(st->layers_fd, chain_id + 7, &sb, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(sb.st_mode))) {
    /* recorded but gone from disk: say no, so the load unpacks it again */
    log_err("image store: layer %s is recorded but its directory is missing; unpacking it again", chain_id);
    rc = SQLITE_DONE;
  }
  if (rc == SQLITE_ROW) {
    const char *diff = (const char *)sqlite3_column_text(q, 0);
    const char *parent = (const char *)sqlite3_column_text(q, 1);
    if (add_layer_entry(t, chain_id, diff ? diff : "", parent, (uint64_t)sqlite3_column_int64(q, 2)) < 0)
      r = berth_error_make(err, ENOMEM, "out of memory");
    else
      r = 1;
  } else if (rc != SQLITE_DONE)
    r = db_fail(st->db, err, "looking up a layer");
  sqlite3_finalize(q);
out:
  pthread_mutex_unlock(&st->lock);
  return r;
}

int berth_store_txn_add_layer(berth_store_txn_t *t, berth_staged_t *dir, const char *chain_id, const char *diff_id,
                              const char *parent_chain, uint64_t size, berth_error_t *err) {
  berth_store_t *st = t->st;
  char want[BERTH_DIGEST_SIZE];
  if (dir->is_dir == false || dir->name[0] == '\0' || !berth_digest_valid(chain_id) ||
      !berth_digest_valid(diff_id) || (parent_chain && !berth_digest_valid(parent_chain))) {
    berth_store_staged_discard(st, dir);
    return berth_error_make(err, EINVAL, "image store: bad staged layer or digest");
  }
  berth_chain_id(parent_chain, diff_id, want);
  if (strcmp(want, chain_id) != 0) {
    berth_store_staged_discard(st, dir);
    return berth_error_make(err, EINVAL, "layer %s: chain id %s does not follow from its parent and diff id",
                            diff_id, chain_id);
  }
  if (parent_chain != NULL && find_layer(t, parent_chain) == NULL) {
    berth_store_staged_discard(st, dir);
    return berth_error_make(err, EINVAL, "layer %s: parent layer %s is not part of this load", chain_id,
                            parent_chain);
  }
  if (dir->fd >= 0)
    close(dir->fd);
  dir->fd = -1;
  pthread_mutex_lock(&st->lock);
  int r = 0;
  struct stat sb;
  if (find_layer(t, chain_id) != NULL)
    goto drop; /* added twice by the same load */
  if (add_layer_entry(t, chain_id, diff_id, parent_chain, size) < 0) {
    r = berth_error_make(err, ENOMEM, "out of memory");
    goto drop;
  }
  if (fstatat(st->layers_fd, chain_id + 7, &sb, AT_SYMLINK_NOFOLLOW) == 0)
    goto drop; /* another load put the same layer in place meanwhile: use that one */
  /* stays in tmp/ until the commit moves it to layers/<hex> */
  snprintf(t->layers[t->n_layers - 1].staged, sizeof(t->layers->staged), "%s", dir->name);
  dir->name[0] = '\0';
  pthread_mutex_unlock(&st->lock);
  return 0;
drop:
  pthread_mutex_unlock(&st->lock);
  berth_store_staged_discard(st, dir);
  return r;
}

/* ---- commit / free: txn-commit.c ---- */
