/* Store lookups: names to image ids, an image's layers and tags, blob reads. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cleanup.h"
#include "db.h"
#include "refs.h"
#include "txn-impl.h"

static bool all_hex(const char *s) {
  if (*s == '\0')
    return false;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
      return false;
  return true;
}

/* Looks up one text column of the first row (out NULL-able). 1 found, 0 not, <0 error. */
static int query_text(sqlite3 *db, const char *sql, const char *a, const char *b, char out[BERTH_DIGEST_SIZE],
                      berth_error_t *err) {
  sqlite3_stmt *q = NULL;
  if (db_prepare(db, sql, &q, err) < 0)
    return -1;
  sqlite3_bind_text(q, 1, a, -1, SQLITE_STATIC);
  if (b != NULL)
    sqlite3_bind_text(q, 2, b, -1, SQLITE_STATIC);
  int rc = sqlite3_step(q), r = 0;
  if (rc == SQLITE_ROW) {
    const char *v = (const char *)sqlite3_column_text(q, 0);
    snprintf(out, BERTH_DIGEST_SIZE, "%s", v ? v : "");
    r = 1;
  } else if (rc != SQLITE_DONE)
    r = db_fail(db, err, "lookup");
  sqlite3_finalize(q);
  return r;
}

/* Docker's "No such image: X" names the reference in familiar form with its default tag. */
static int no_such_image(const char *name, const berth_ref_t *ref, berth_error_t *err) {
  cleanup_free char *fam = ref && ref->path ? berth_ref_familiar(ref) : NULL;
  return berth_error_make(err, ENOENT, "No such image: %s", fam ? fam : name);
}

static int resolve_locked(berth_store_t *st, const char *name, char id[BERTH_DIGEST_SIZE], berth_error_t *err) {
  char full[BERTH_DIGEST_SIZE + 8];
  if (name == NULL || *name == '\0')
    return berth_error_make(err, EINVAL, "invalid reference format: no image name given");
  /* a full id: never a reference */
  const char *hex = strncmp(name, "sha256:", 7) == 0 ? name + 7 : name;
  if (strlen(hex) == 64 && all_hex(hex)) {
    snprintf(full, sizeof(full), "sha256:%s", hex);
    int r = query_text(st->db, "SELECT id FROM images WHERE id=?1", full, NULL, id, err);
    if (r == 0)
      return berth_error_make(err, ENOENT, "No such image: %s", full);
    return r < 0 ? -1 : 0;
  }
  berth_ref_t ref = { 0 };
  berth_error_t perr = NULL;
  int parsed = berth_ref_parse(name, &ref, &perr);
  if (parsed == 0) {
    cleanup_free char *repo = berth_ref_repo(&ref);
    int r = repo == NULL ? berth_error_make(err, ENOMEM, "out of memory")
            : ref.digest ? query_text(st->db, "SELECT image_id FROM repo_digests WHERE repo=?1 AND digest=?2", repo,
                                      ref.digest, id, err)
                         : query_text(st->db, "SELECT image_id FROM tags WHERE repo=?1 AND tag=?2", repo, ref.tag, id,
                                      err);
    if (r != 0) {
      berth_ref_clear(&ref);
      berth_error_release(&perr);
      return r < 0 ? -1 : 0;
    }
  }
  /* a unique id prefix, with or without "sha256:" */
  if (all_hex(hex) && strlen(hex) < 64) {
    char lo[BERTH_DIGEST_SIZE + 8], hi[BERTH_DIGEST_SIZE + 8];
    snprintf(lo, sizeof(lo), "sha256:%s", hex);
    snprintf(hi, sizeof(hi), "sha256:%s~", hex); /* '~' sorts after every hex digit */
    int64_t n = 0;
    sqlite3_stmt *q = NULL;
    int r = db_prepare(st->db, "SELECT count(*), min(id) FROM images WHERE id >= ?1 AND id < ?2", &q, err);
    if (r == 0) {
      sqlite3_bind_text(q, 1, lo, -1, SQLITE_STATIC);
      sqlite3_bind_text(q, 2, hi, -1, SQLITE_STATIC);
      if (sqlite3_step(q) == SQLITE_ROW) {
        n = sqlite3_column_int64(q, 0);
        const char *v = (const char *)sqlite3_column_text(q, 1);
        if (n == 1)
          snprintf(id, BERTH_DIGEST_SIZE, "%s", v ? v : "");
      } else
        r = db_fail(st->db, err, "lookup");
      sqlite3_finalize(q);
    }
    if (r < 0 || n == 1) {
      berth_ref_clear(&ref);
      berth_error_release(&perr);
      return r < 0 ? -1 : 0;
    }
    if (n > 1) {
      berth_ref_clear(&ref);
      berth_error_release(&perr);
      return berth_error_make(err, EINVAL,
                              "image id prefix '%s' is ambiguous: it matches %lld images (give more digits)", hex,
                              (long long)n);
    }
  }
  if (parsed < 0) {
    /* not a reference and not an id: the reference error says why */
    if (err != NULL) {
      *err = perr;
      return -1 - (perr ? perr->status : EINVAL);
    }
    berth_error_release(&perr);
    return -1 - EINVAL;
  }
  int r = no_such_image(name, &ref, err);
  berth_ref_clear(&ref);
  return r;
}

int berth_store_resolve(berth_store_t *st, const char *name, char id_out[BERTH_DIGEST_SIZE], berth_error_t *err) {
  pthread_mutex_lock(&st->lock);
  int r = resolve_locked(st, name, id_out, err);
  pthread_mutex_unlock(&st->lock);
  return r;
}

void berth_store_image_free(berth_store_image_t *img) {
  if (img == NULL)
    return;
  if (img->config_fd >= 0)
    close(img->config_fd);
  for (size_t i = 0; img->layer_fds && i < img->n_layers; i++)
    if (img->layer_fds[i] >= 0)
      close(img->layer_fds[i]);
  free(img->layer_fds);
  for (size_t i = 0; i < img->n_tags; i++)
    free(img->repo_tags[i]);
  free(img->repo_tags);
  free(img->diff_ids);
  free(img->chain_ids);
  free(img);
}

static int strcmp_ptr(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int open_blob_locked(berth_store_t *st, const char *digest, berth_error_t *err) {
  if (!berth_digest_valid(digest))
    return berth_error_make(err, EINVAL, "invalid digest '%s'", digest);
  int fd = openat(st->blobs_fd, digest + 7, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  /* put by a load that has not committed yet (its own config, a layer used twice) */
  for (berth_store_txn_t *t = st->txns; fd < 0 && errno == ENOENT && t; t = t->next) {
    const char *staged = txn_pending_blob(t, digest);
    if (staged && *staged)
      fd = openat(st->tmp_fd, staged, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (fd < 0)
    return errno == ENOENT ? berth_error_make(err, ENOENT, "blob %s is not in the store", digest)
                           : berth_error_errno(err, "opening blob %s", digest);
  return fd;
}

static int fill_image(berth_store_t *st, berth_store_image_t *img, bool open_blobs, berth_error_t *err) {
  sqlite3_stmt *q = NULL;
  if (db_prepare(st->db,
                 "SELECT l.chain_id, l.diff_id FROM image_layers il JOIN layers l ON l.chain_id = il.chain_id "
                 "WHERE il.image_id=?1 ORDER BY il.idx",
                 &q, err) < 0)
    return -1;
  sqlite3_bind_text(q, 1, img->id, -1, SQLITE_STATIC);
  size_t cap = 0;
  int rc;
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    if (img->n_layers == cap) {
      cap = cap ? cap * 2 : 8;
      void *a = realloc(img->chain_ids, cap * sizeof(*img->chain_ids));
      if (a)
        img->chain_ids = a;
      void *b = realloc(img->diff_ids, cap * sizeof(*img->diff_ids));
      if (b)
        img->diff_ids = b;
      if (!a || !b) {
        sqlite3_finalize(q);
        return berth_error_make(err, ENOMEM, "out of memory");
      }
    }
    snprintf(img->chain_ids[img->n_layers], BERTH_DIGEST_SIZE, "%s", (const char *)sqlite3_column_text(q, 0));
    snprintf(img->diff_ids[img->n_layers], BERTH_DIGEST_SIZE, "%s", (const char *)sqlite3_column_text(q, 1));
    img->n_layers++;
  }
  sqlite3_finalize(q);
  if (rc != SQLITE_DONE)
    return db_fail(st->db, err, "reading an image's layers");

  if (db_prepare(st->db, "SELECT repo, tag FROM tags WHERE image_id=?1", &q, err) < 0)
    return -1;
  sqlite3_bind_text(q, 1, img->id, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
    cleanup_free char *fam = berth_ref_familiarise_repo((const char *)sqlite3_column_text(q, 0));
    char *s = NULL;
    char **v = realloc(img->repo_tags, (img->n_tags + 2) * sizeof(*v));
    if (v)
      img->repo_tags = v;
    if (fam == NULL || v == NULL || asprintf(&s, "%s:%s", fam, (const char *)sqlite3_column_text(q, 1)) < 0) {
      sqlite3_finalize(q);
      return berth_error_make(err, ENOMEM, "out of memory");
    }
    img->repo_tags[img->n_tags++] = s;
    img->repo_tags[img->n_tags] = NULL;
  }
  sqlite3_finalize(q);
  if (rc != SQLITE_DONE)
    return db_fail(st->db, err, "reading an image's tags");
  if (img->n_tags > 1)
    qsort(img->repo_tags, img->n_tags, sizeof(char *), strcmp_ptr);

  if (!open_blobs)
    return 0;
  img->layer_fds = malloc((img->n_layers ? img->n_layers : 1) * sizeof(int));
  if (img->layer_fds == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  for (size_t i = 0; i < img->n_layers; i++)
    img->layer_fds[i] = -1;
  if ((img->config_fd = open_blob_locked(st, img->id, err)) < 0)
    return -1;
  for (size_t i = 0; i < img->n_layers; i++)
    if ((img->layer_fds[i] = open_blob_locked(st, img->diff_ids[i], err)) < 0)
      return -1;
  return 0;
}

int berth_store_image_get(berth_store_t *st, const char *id, bool open_blobs, berth_store_image_t **out,
                          berth_error_t *err) {
  if (!berth_digest_valid(id))
    return berth_error_make(err, EINVAL, "invalid image id '%s'", id);
  berth_store_image_t *img = calloc(1, sizeof(*img));
  if (img == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  img->config_fd = -1;
  snprintf(img->id, sizeof(img->id), "%s", id);
  char found[BERTH_DIGEST_SIZE];
  pthread_mutex_lock(&st->lock);
  int r = query_text(st->db, "SELECT id FROM images WHERE id=?1", id, NULL, found, err);
  if (r == 0)
    r = berth_error_make(err, ENOENT, "No such image: %s", id);
  else if (r > 0)
    r = fill_image(st, img, open_blobs, err);
  pthread_mutex_unlock(&st->lock);
  if (r < 0) {
    berth_store_image_free(img);
    return -1;
  }
  *out = img;
  return 0;
}

int berth_store_blob_open(berth_store_t *st, const char *digest, berth_error_t *err) {
  pthread_mutex_lock(&st->lock);
  int fd = open_blob_locked(st, digest, err);
  pthread_mutex_unlock(&st->lock);
  return fd;
}

int berth_store_blob_read(berth_store_t *st, const char *digest, size_t max, char **out, size_t *len,
                          berth_error_t *err) {
  cleanup_close int fd = berth_store_blob_open(st, digest, err);
  if (fd < 0)
    return -1;
  struct stat sb;
  if (fstat(fd, &sb) < 0)
    return berth_error_errno(err, "blob %s", digest);
  if ((uint64_t)sb.st_size > max)
    return berth_error_make(err, EFBIG, "blob %s is %lld bytes, more than the %zu allowed here", digest,
                            (long long)sb.st_size, max);
  size_t n = (size_t)sb.st_size, got = 0;
  char *buf = malloc(n + 1);
  if (buf == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  while (got < n) {
    ssize_t k = pread(fd, buf + got, n - got, (off_t)got);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0) {
      free(buf);
      return k < 0 ? berth_error_errno(err, "reading blob %s", digest)
                   : berth_error_make(err, EIO, "blob %s: short read", digest);
    }
    got += (size_t)k;
  }
  buf[n] = '\0';
  *out = buf;
  if (len)
    *len = n;
  return 0;
}
