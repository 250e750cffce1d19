/* One image as the queries see it (shared by query.c and remove.c). */
#pragma once
#include <json-c/json.h>
#include "store-impl.h"

typedef struct {
  char id[BERTH_DIGEST_SIZE];
  char *created;          /* the config's string */
  int64_t created_unix;
  uint64_t size;          /* sum of its layers' sizes */
  int64_t last_tag_ns;
  char **tags;            /* familiar "repo:tag", sorted */
  size_t n_tags;
  char **digests;         /* familiar "repo@sha256:..", sorted */
  size_t n_digests;
  size_t n_layers;
  char (*chains)[BERTH_DIGEST_SIZE];
  char (*diffs)[BERTH_DIGEST_SIZE];
  uint64_t *layer_sizes;
  json_object *config;    /* the parsed config blob (NULL unless asked for) */
} qimage_t;

/* Every image id, oldest first by creation. */
int qimage_ids(berth_store_t *st, char (**ids)[BERTH_DIGEST_SIZE], size_t *n, berth_error_t *err);
/* ENOENT when the image is gone. */
int qimage_load(berth_store_t *st, const char *id, bool with_config, qimage_t *out, berth_error_t *err);
void qimage_clear(qimage_t *q);
/* The "config" object's Labels (NULL when none). */
json_object *qimage_labels(const qimage_t *q);
/* Serialises and frees obj into *json. */
int query_finish(json_object *obj, char **json, berth_error_t *err);
/* One ImageDelete (Docker's rules) in its own transaction, appending
 * {"Untagged":..}/{"Deleted":..} to records (left as before on failure). */
int image_remove_records(berth_store_t *st, const char *name, bool force, json_object *records, berth_error_t *err);
