/* The content-addressed image store of berth-imaged (DATA_ROOT/image):
 *
 *   blobs/sha256/<hex>          configs and UNCOMPRESSED layer tars (sha256 = diff_id)
 *   layers/<chain hex>/diff/    unpacked layers, ready as overlayfs lower dirs
 *   tmp/                        staging; wiped by berth_store_open
 *   store.db                    SQLite (WAL): blobs, layers, images, image_layers, tags
 *
 * Crash safety: files are renamed into place BEFORE the SQLite transaction
 * that references them commits; berth_store_open removes every blob and
 * layer dir the DB does not reference and wipes tmp/. A kill -9 anywhere
 * therefore leaves neither a listed partial image nor a counted orphan.
 *
 * Every load goes through one transaction object (berth_store_txn_t): blobs
 * and layers are verified and staged in tmp/ as the archive is read, images
 * are queued, and berth_store_txn_commit moves what the images use into
 * blobs/ and layers/ (fsync'd) and then records all of it in ONE SQLite
 * transaction. Until the commit nothing outside tmp/ changes, so a refused
 * archive leaves the live store exactly as it was; berth_store_txn_free
 * drops whatever the txn staged or placed that nothing committed references.
 *
 * Thread-safety: a berth_store_t may be used from any number of threads at
 * once (the loop thread and worker threads running loads and saves), except
 * berth_store_open/berth_store_close. A store mutex serialises every SQLite
 * access and every file removal; hashing, copying and fsync run outside it.
 * A berth_store_txn_t or berth_staged_t belongs to one thread at a time.
 * While a txn is open, the blobs and layers it put or found (berth_store_txn_*
 * returning "exists") are pinned: a concurrent remove/prune deletes their
 * rows but keeps their files, and the txn's commit records them again.
 *
 * Digests are written "sha256:<64 lowercase hex>" everywhere in this API. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"

typedef struct berth_store berth_store_t;
typedef struct berth_store_txn berth_store_txn_t;
typedef struct berth_store store_t; /* short alias (load.h/save.h use it) */

#define BERTH_DIGEST_LEN 71 /* strlen("sha256:") + 64 */
#define BERTH_DIGEST_SIZE 72

/* ---- sha256 (OpenSSL EVP underneath) ---- */
typedef struct berth_sha256 berth_sha256_t;
berth_sha256_t *berth_sha256_new(void);                                    /* NULL on ENOMEM */
void berth_sha256_update(berth_sha256_t *h, const void *buf, size_t len);
void berth_sha256_final(berth_sha256_t *h, char out[BERTH_DIGEST_SIZE]);  /* "sha256:<hex>"; frees h */
void berth_sha256_free(berth_sha256_t *h);                                /* without a result; NULL ok */
void berth_sha256_buf(const void *buf, size_t len, char out[BERTH_DIGEST_SIZE]);
/* Is s "sha256:<64 lowercase hex>"? */
bool berth_digest_valid(const char *s);
/* OCI chain id: chain(L1) = diff(L1); chain(Ln) = sha256(chain(Ln-1) + " " + diff(Ln)).
 * parent NULL for the base layer. */
void berth_chain_id(const char *parent_chain, const char *diff_id, char out[BERTH_DIGEST_SIZE]);

/* ---- open / close ---- */

/* Takes ownership of dirfd (DATA_ROOT/image, an O_DIRECTORY fd; closed on
 * failure too). Creates blobs/sha256, layers, tmp as needed, opens or creates
 * store.db (WAL), then garbage-collects: tmp/ wiped, unreferenced blob files
 * and layer dirs removed (logged). */
int berth_store_open(int dirfd, berth_store_t **out, berth_error_t *err);
void berth_store_close(berth_store_t *st); /* NULL ok; no txn may be open */

/* ---- staging (files and dirs in tmp/, random names) ---- */
typedef struct {
  int fd;        /* O_RDWR regular file, or O_DIRECTORY of the layer's future diff/ */
  char name[64]; /* entry in tmp/ (for a dir: the parent of diff/) */
  bool is_dir;
} berth_staged_t;

#define BERTH_STAGED_INIT { .fd = -1, .name = "", .is_dir = false }

/* A new empty file tmp/<random> opened O_RDWR|O_CLOEXEC (mode 0600). */
int berth_store_stage_file(berth_store_t *st, berth_staged_t *out, berth_error_t *err);
/* A new dir tmp/<random>/diff (mode 0755); out->fd is the diff/ dir
 * (O_DIRECTORY|O_PATH is NOT used: a real directory fd for openat2 and friends). */
int berth_store_stage_dir(berth_store_t *st, berth_staged_t *out, berth_error_t *err);
/* Removes the staged entry (recursively for a dir) and closes its fd.
 * Safe on an already discarded/consumed one (fd == -1, name ""). */
void berth_store_staged_discard(berth_store_t *st, berth_staged_t *s);

/* ---- one load = one transaction ---- */
int berth_store_txn_begin(berth_store_t *st, berth_store_txn_t **out, berth_error_t *err);

/* Puts a staged FILE into the txn as blob sha256:<hex>. The file is re-read
 * from offset 0 and hashed; if expected_digest is not NULL it must match (else
 * EBADMSG "blob sha256:..: digest mismatch (content is sha256:..)" and nothing
 * changes). If actual_out is not NULL it receives the content's digest.
 * Then fsync; the file stays in tmp/ until the commit renames it to
 * blobs/sha256/<hex> (an existing identical blob is kept and the staged copy
 * dropped: no duplicate). berth_store_blob_open/read find it meanwhile.
 * Always consumes *file (discarded on failure). */
int berth_store_txn_put_blob(berth_store_txn_t *t, berth_staged_t *file, const char *expected_digest,
                             char actual_out[BERTH_DIGEST_SIZE], berth_error_t *err);
/* The same for a file whose digest the caller computed while writing it
 * (avoids re-reading a large layer tar): `digest` is trusted as the
 * content's sha256; the caller must have verified it against the manifest. */
int berth_store_txn_put_blob_hashed(berth_store_txn_t *t, berth_staged_t *file, const char *digest,
                                    berth_error_t *err);
/* Is the blob already in the store (committed, or put by this txn)? 1/0, <0 on error.
 * A 1 pins it for this txn. */
int berth_store_txn_have_blob(berth_store_txn_t *t, const char *digest, berth_error_t *err);

/* Layers go base first: for each layer of an image, either have_layer says 1
 * (and the layer is pinned, with its diff_id blob) or add_layer adds it; a
 * layer's parent must already be known to the txn that way. */
/* Is the layer with this chain id present (committed, or added by this txn)?
 * 1 yes (pinned for this txn: no need to unpack it again), 0 no, <0 error. */
int berth_store_txn_have_layer(berth_store_txn_t *t, const char *chain_id, berth_error_t *err);
/* Takes a staged DIR (from berth_store_stage_dir, unpacked by the caller and
 * its fd still open or closed, either is fine) into the txn; the commit
 * renames it to layers/<chain hex>. `size`
 * is the unpacked size in bytes (Docker's layer Size). parent_chain is NULL
 * for a base layer. If the layer appeared meanwhile (another load), the
 * staged copy is discarded and the existing one used. Always consumes *dir. */
int berth_store_txn_add_layer(berth_store_txn_t *t, berth_staged_t *dir, const char *chain_id, const char *diff_id,
                              const char *parent_chain, uint64_t size, berth_error_t *err);

typedef struct {
  const char *config_digest;     /* image id = "sha256:<hex>" of the config blob (put or present) */
  const char *const *diff_ids;   /* base first; each layer must be added/present under its chain id */
  size_t n_layers;
  const char *const *repo_tags;  /* as written in the archive ("busybox:latest", "docker.io/x/y:1");
                                    normalised here; invalid -> EINVAL, nothing queued */
  size_t n_tags;
} berth_store_image_spec_t;
/* Queues an image for the commit (checks: config blob present, every chain
 * layer present, tags valid). The config JSON is read from the blob here
 * (Created, Architecture, ... are taken from it later, at query time). */
int berth_store_txn_add_image(berth_store_txn_t *t, const berth_store_image_spec_t *spec, berth_error_t *err);

/* syncfs; staged blobs and layers that the queued images use renamed into
 * place and their directories fsync'd; then ONE SQLite transaction recording
 * every blob, layer, image and tag of the txn. A tag that pointed at another image moves (that image may
 * become dangling); for each such move a Docker-style line is available from
 * berth_store_txn_notes ("The image busybox:latest already exists, renaming
 * the old one with ID sha256:... to empty string"). On failure nothing is
 * recorded (free then removes the files). */
int berth_store_txn_commit(berth_store_txn_t *t, berth_error_t *err);
/* Lines gathered by the commit; valid until berth_store_txn_free. */
const char *const *berth_store_txn_notes(berth_store_txn_t *t, size_t *n);
/* Frees the txn; if it was not committed, removes every blob file and layer
 * dir it put into place that the DB does not reference. NULL ok. */
void berth_store_txn_free(berth_store_txn_t *t);

/* ---- lookups (save, resolve) ---- */

/* A name as users give it: "sha256:<hex>", "<64 hex>", a unique id prefix
 * (>= 1 hex digit; ambiguous -> EINVAL "...matches more than one image"),
 * or a reference ("busybox", "busybox:1", "docker.io/library/busybox:latest",
 * "busybox@sha256:..."). ENOENT "No such image: NAME" when nothing matches.
 * A reference wins over an id prefix when both match (as in Docker). */
int berth_store_resolve(berth_store_t *st, const char *name, char id_out[BERTH_DIGEST_SIZE], berth_error_t *err);

typedef struct {
  char id[BERTH_DIGEST_SIZE];    /* "sha256:<hex>" = config digest */
  size_t n_layers;
  char (*diff_ids)[BERTH_DIGEST_SIZE];  /* base first */
  char (*chain_ids)[BERTH_DIGEST_SIZE];
  char **repo_tags;              /* familiar form "busybox:latest", sorted; NULL-terminated */
  size_t n_tags;
  /* Opened under the store lock (O_RDONLY|O_CLOEXEC) when berth_store_image_get
   * is asked to: an open fd keeps the content even if a concurrent remove
   * deletes the file. -1 when not opened. */
  int config_fd;
  int *layer_fds;                /* n_layers entries: the uncompressed tar of each diff_id */
} berth_store_image_t;

/* Looks up an image by exact id ("sha256:<hex>"). open_blobs: also open the
 * config and layer blob fds (for save). ENOENT when absent. */
int berth_store_image_get(berth_store_t *st, const char *id, bool open_blobs, berth_store_image_t **out,
                          berth_error_t *err);
void berth_store_image_free(berth_store_image_t *img); /* closes any fds; NULL ok */

/* Opens blobs/sha256/<hex> read-only (or the staged copy of a blob an open
 * txn put and has not committed yet). ENOENT if absent. */
int berth_store_blob_open(berth_store_t *st, const char *digest, berth_error_t *err);
/* Reads a (small) blob into a malloc'd NUL-terminated buffer; refuses over max bytes (EFBIG). */
int berth_store_blob_read(berth_store_t *st, const char *digest, size_t max, char **out, size_t *len,
                          berth_error_t *err);

/* The store's root dir fd (owned by the store). */
int berth_store_dirfd(berth_store_t *st);
