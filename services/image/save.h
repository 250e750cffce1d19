/* Image export (`docker save`): a docker-archive that Docker (>= 20.10) and
 * Podman load: manifest.json + repositories + an OCI layout (oci-layout,
 * index.json, blobs/sha256/<hex> for configs and uncompressed layer tars),
 * deterministic (sorted, fixed mtimes, uid/gid 0).
 *
 * Two steps so that imaged can reply Ok/Error before writing anything:
 * resolve every name (on the loop or a worker), then write (in a worker). */
#pragma once
#include <stddef.h>
#include "error.h"
#include "store.h"

typedef struct save_plan save_plan_t;

/* names: names, ids or unique id prefixes (as ImageSaveRequest.names).
 * ENOENT "No such image: x" for a name that resolves to nothing. */
int image_save_resolve(store_t *st, char *const *names, size_t n_names, save_plan_t **out, berth_error_t *err);
/* Writes the tar to out_fd (not closed here). */
int image_save_write(store_t *st, const save_plan_t *plan, int out_fd, berth_error_t *err);
void save_plan_free(save_plan_t *plan);
