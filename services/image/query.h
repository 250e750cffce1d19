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

/* Which containers use which images, as berth-apid sent with the request
 * (valid for the calling thread until the next call; NULL, 0 clears). */
typedef struct {
  const char *image_id;     /* "sha256:<hex>" */
  const char *container_id;
  bool running;
} image_use_t;
void image_uses_set(const image_use_t *uses, size_t n);
/* Is an image used by a container? IMAGE_UNUSED, IMAGE_USED_STOPPED or
 * IMAGE_USED_RUNNING (a running user wins), from the uses of this request;
 * *container (may be NULL) gets the id of one such container. */
enum { IMAGE_UNUSED = 0, IMAGE_USED_STOPPED = 1, IMAGE_USED_RUNNING = 2 };
int image_in_use(berth_store_t *st, const char *id, const char **container);
