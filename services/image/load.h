/* Image import (`docker load`): reads one archive stream (docker-archive in
 * the legacy layout or the OCI-layout form Docker 25+ writes, or an
 * oci-archive; the stream itself may be gzip/zstd/bzip2/xz compressed),
 * spools its members into the store's tmp/, verifies every digest, unpacks
 * the layers the store does not have yet and commits everything through the
 * store API in one transaction. On any failure nothing new is left in the
 * store: no blob, no row, no directory.
 *
 * Runs in a worker thread (blocking I/O on the fds it is given). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"
#include "store.h"

/* From the config file (--config FILE, JSON like daemon.json). */
typedef struct {
  uint64_t max_uncompressed_bytes; /* "image-max-uncompressed-bytes", default 64 GiB */
  const char *config_path;         /* named in the error when the limit is hit */
} image_limits_t;

#define IMAGE_DEFAULT_MAX_UNCOMPRESSED_BYTES 68719476736ULL

typedef struct {
  char **loaded;    /* "busybox:latest" for each tag, "sha256:<hex>" for an untagged image */
  size_t n_loaded;
  char **skipped;   /* "<layer digest>: <entry path>: device node not created" */
  size_t n_skipped;
  char **image_ids; /* "sha256:<hex>" of every image in the archive */
  size_t n_image_ids;
} load_result_t;

void load_result_free(load_result_t *r);

/* archive_fd: the archive (read to EOF). progress_fd: Docker progress JSON
 * lines ({"stream":"Loaded image: x:y\n"}, and unless quiet {"status":
 * "Loading layer",...}); -1 for none. Neither fd is closed here.
 * Errors: EBADMSG (malformed archive, digest mismatch), ENOENT (missing blob),
 * EFBIG (over the size limit), EPERM (hostile entry), EINVAL (bad reference),
 * EIO/ENOSPC and others from the system. */
int image_load(store_t *st, int archive_fd, int progress_fd, bool quiet, const image_limits_t *lim,
               load_result_t *out, berth_error_t *err);
