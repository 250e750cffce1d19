/* The transaction object (store.h's berth_store_txn_t), shared by txn.c and txn-commit.c. */
#pragma once
#include "store-impl.h"

typedef struct {
  char chain[BERTH_DIGEST_SIZE];
  char diff[BERTH_DIGEST_SIZE];
  char parent[BERTH_DIGEST_SIZE]; /* "" for a base layer */
  uint64_t size;
  char staged[64]; /* tmp/<name> awaiting the commit; "" when in place already */
} txn_layer_t;

/* A verified blob still in tmp/: it moves into blobs/sha256 at the commit. */
typedef struct {
  char digest[BERTH_DIGEST_SIZE];
  char staged[64];
} txn_blob_t;

typedef struct {
  char id[BERTH_DIGEST_SIZE];
  char (*chains)[BERTH_DIGEST_SIZE];
  size_t n_layers;
  char **repos; /* full repository names, parallel to tags */
  char **tags;
  size_t n_tags;
  char *created;      /* the config's "created", as written */
  int64_t created_unix;
  uint64_t size;
} txn_image_t;

struct berth_store_txn {
  berth_store_t *st;
  berth_store_txn_t *next; /* st->txns list, under st->lock */
  digest_set_t blobs;      /* pinned: put by or found by this txn */
  txn_blob_t *pending;     /* put by this txn, still in tmp/ (a subset of blobs) */
  size_t n_pending;
  txn_layer_t *layers;     /* pinned: added or found */
  size_t n_layers, cap_layers;
  txn_image_t *images;
  size_t n_images;
  char **notes;
  size_t n_notes;
  bool committed;
};

/* The staged tmp/ name of a blob this txn put and has not placed yet, or NULL. */
const char *txn_pending_blob(berth_store_txn_t *t, const char *digest);

/* "2023-07-18T23:19:33.655005962Z" / "...+02:00" -> seconds; 0 if unparsable. */
int64_t txn_parse_time(const char *s);
