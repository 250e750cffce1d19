/* Internals shared by store.c, txn.c, remove.c and query.c (not for other users). */
#pragma once
#include <pthread.h>
#include <sqlite3.h>
#include "store.h"

struct berth_store {
  int dirfd;     /* DATA_ROOT/image */
  int blobs_fd;  /* blobs/sha256 */
  int layers_fd; /* layers */
  int tmp_fd;    /* tmp */
  char *root;    /* path of DATA_ROOT/image as this process sees it (GraphDriver data) */
  sqlite3 *db;
  pthread_mutex_t lock;      /* every db access, every file removal, the txn list */
  berth_store_txn_t *txns;   /* open transactions (their pins), under lock */
};

/* A set of digests (small; linear search is fine for image-sized sets). */
typedef struct {
  char (*v)[BERTH_DIGEST_SIZE];
  size_t n, cap;
} digest_set_t;

bool dset_has(const digest_set_t *s, const char *d);
int dset_add(digest_set_t *s, const char *d); /* 0, or -ENOMEM; no duplicates */
void dset_free(digest_set_t *s);

/* Is this blob / layer pinned by an open txn? (caller holds st->lock) */
bool store_blob_pinned(berth_store_t *st, const char *digest);
bool store_layer_pinned(berth_store_t *st, const char *chain_id);

/* Removes blobs/sha256/<hex> or layers/<hex> (recursively). Caller holds
 * the lock. Logs and returns < 0 on failure (start-up GC retries). */
int store_unlink_blob(berth_store_t *st, const char *digest);
int store_remove_layer_dir(berth_store_t *st, const char *chain_id);
/* Removes an entry of dirfd recursively without following symlinks. */
int store_rm_rf_at(int dirfd, const char *name);

/* After image rows were deleted inside an open SQLite transaction: deletes
 * the layer rows no image uses any more (appending their chain ids, top
 * first, to removed_layers if not NULL) and the blob rows nothing references
 * (into removed_blobs). Caller holds the lock. */
int store_drop_unreferenced(berth_store_t *st, digest_set_t *removed_layers, digest_set_t *removed_blobs,
                            berth_error_t *err);
/* After the commit: deletes the files of those rows unless an open txn pins them. */
void store_delete_files(berth_store_t *st, const digest_set_t *layers, const digest_set_t *blobs);

/* now, in ns since the epoch (CLOCK_REALTIME) */
int64_t store_now_ns(void);
