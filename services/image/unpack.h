/* One image layer: from its (possibly compressed) tar stream to a directory
 * ready to be an overlayfs lower dir.
 *
 * Two passes, so that the stored layer blob is the uncompressed tar whose
 * sha256 is the diff_id (save reproduces it byte for byte):
 *   1. unpack_decompress(): gzip, zstd, bzip2, xz or plain in, the plain tar
 *      out (to the blob file), hashed and counted against the load's budget,
 *      stopped at once over it;
 *   2. unpack_tar(): that tar materialised under a directory fd, every path
 *      checked (no '..', no absolute names, no parent that is a symlink,
 *      hardlinks only to entries already extracted in this layer, ids in
 *      0..65535), whiteouts converted to overlay's form, device nodes skipped.
 * Errors name the layer and the entry. After a failure of unpack_tar the
 * directory is empty again. */
#pragma once
#include <stdint.h>
#include <stddef.h>
#include "error.h"

/* The decompression budget of one load (outer archive and every layer). */
typedef struct {
  uint64_t limit;          /* image-max-uncompressed-bytes */
  uint64_t used;           /* bytes decompressed so far */
  const char *config_path; /* where the limit was set (NULL: the default) */
} unpack_budget_t;

#define UNPACK_DIGEST_LEN 71 /* "sha256:" + 64 hex */

/* Adds n to the budget; over the limit: EFBIG "<what>: uncompressed size
 * exceeds image-max-uncompressed-bytes (N bytes, set in FILE)". */
int unpack_budget_take(unpack_budget_t *b, uint64_t n, const char *what, berth_error_t *err);

/* Called now and then with the bytes read from the input so far. */
typedef void (*unpack_progress_fn)(void *userdata, uint64_t bytes_in);

/* Pass 1. Reads in_fd to its end (a file or a pipe) and writes the
 * uncompressed tar to out_fd. diff_id receives "sha256:<hex>". Only bytes a
 * decompressor produced count against the budget (a plain tar is copied
 * as is: its size is the client's upload, not an expansion). */
int unpack_decompress(int in_fd, int out_fd, const char *layer, unpack_budget_t *b, unpack_progress_fn progress,
                      void *progress_userdata, char diff_id[UNPACK_DIGEST_LEN + 1], uint64_t *size,
                      berth_error_t *err);

typedef struct {
  char **items; /* "<layer>: <entry>: device node not created" */
  size_t n;
} unpack_skipped_t;

void unpack_skipped_free(unpack_skipped_t *s);

/* Pass 2. tar_fd: a seekable uncompressed tar (read from offset 0). dir_fd:
 * an empty directory. Skipped entries are appended to *skipped (may be
 * NULL). content_size (may be NULL): the bytes of the regular files created
 * (hardlinks counted once), Docker's layer Size. */
int unpack_tar(int tar_fd, int dir_fd, const char *layer, unpack_skipped_t *skipped, uint64_t *content_size,
               berth_error_t *err);

/* Helpers shared with load.c and save.c. */
struct archive;
/* Enables only libarchive's built-in decompressors (gzip, zstd, bzip2, xz):
 * never one that would exec an external program. */
int unpack_support_filters(struct archive *a, berth_error_t *err);
/* openat2 beneath dirfd with no symlinks, no magic links, no mount crossing. */
int unpack_openat2(int dirfd, const char *path, int flags);
int unpack_write_all(int fd, const void *buf, size_t len);
void unpack_hex(const unsigned char *d, size_t n, char *out);

/* Removes everything inside dir_fd (not the directory itself), never
 * following symlinks. */
int unpack_empty_dir(int dir_fd, berth_error_t *err);
/* Removes dir_fd/name, a file or a whole tree, never following symlinks. */
int unpack_remove_at(int dir_fd, const char *name, berth_error_t *err);
