/* The image operations other than load and save, with Docker's JSON shapes.
 * Each fills *json with a malloc'd NUL-terminated document (the caller
 * frees it) or returns < 0 with *err (errno per berth.proto: ENOENT,
 * EINVAL, EEXIST for conflicts, ...). Thread-safe (the store serialises). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include "store.h"

/* GET /images/json: filters_json is Docker's map form ({"dangling":{"true":true}}
 * or {"dangling":["true"]}); NULL or "" for none. Keys: dangling, label,
 * before, since, reference. */
int image_query_list(berth_store_t *st, const char *filters_json, bool all, char **json, berth_error_t *err);
/* GET /images/{name}/json */
int image_query_inspect(berth_store_t *st, const char *name, char **json, berth_error_t *err);
/* GET /images/{name}/history */
int image_query_history(berth_store_t *st, const char *name, char **json, berth_error_t *err);

/* POST /images/{name}/tag?repo=..&tag=.. (tag "" = latest; repo may carry a tag
 * when tag is ""). Moves the tag if it pointed elsewhere. */
int image_tag(berth_store_t *st, const char *source, const char *repo, const char *tag, berth_error_t *err);
/* DELETE /images/{name}: [{"Untagged":..},{"Deleted":..}] with Docker's
 * conflict rules. */
int image_remove(berth_store_t *st, const char *name, bool force, bool noprune, char **json, berth_error_t *err);
/* POST /images/prune: {"ImagesDeleted":[..]|null,"SpaceReclaimed":N}. Filters:
 * dangling (default true; false = every unused image), until, label, label!. */
int image_prune(berth_store_t *st, const char *filters_json, char **json, berth_error_t *err);

/* ImageResolve: id and chain ids base first (malloc'd array of n). */
int image_resolve(berth_store_t *st, const char *name, char id[BERTH_DIGEST_SIZE],
                  char (**chain_ids)[BERTH_DIGEST_SIZE], size_t *n, berth_error_t *err);

/* Is an image used by a container? Always 0 until containers exist; the
 * conflict rules of remove/prune ask here. */
int image_in_use(berth_store_t *st, const char *id);
