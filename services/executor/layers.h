/* The executor's view of berth-imaged's store (DATA_ROOT/image): it creates
 * the directory for imaged, and resolves layers in it by chain id only.
 * imaged owns everything inside and is not trusted: the executor never
 * takes a path from it, and opens layers without following symlinks or
 * leaving the store. No execd_t here, so unit tests link this file alone. */
#pragma once
#include <stddef.h>
#include <sys/types.h>
#include "error.h"

#define LAYERS_STORE_DIR "image"        /* below DATA_ROOT */
#define LAYERS_CHAIN_PREFIX "sha256:"
#define LAYERS_HEX_LEN 64

/* Creates DATA_ROOT/image (mode 0700, owned by uid:gid = imaged's namespace
 * root on the host), or checks an existing one: a real directory (a
 * symlink is refused, never followed) owned by uid:gid; its mode is reset
 * to 0700. DATA_ROOT itself must be searchable by others (imaged is not
 * root on the host). Returns an O_RDONLY|O_DIRECTORY fd of the store
 * (close-on-exec) or < 0 with a message saying what to fix. */
int layers_prepare_store(const char *data_root, uid_t uid, gid_t gid, berth_error_t *err);

/* "sha256:" followed by exactly 64 lowercase hex digits, nothing else. */
int layers_valid_chain_id(const char *chain_id);

/* An O_PATH|O_DIRECTORY fd of STORE/layers/<hex>/diff, resolved below
 * store_fd with openat2 (RESOLVE_BENEATH | NO_SYMLINKS | NO_MAGICLINKS |
 * NO_XDEV): what a container's overlay gets as a lower dir. Errors: EINVAL
 * for a malformed id, ENOENT naming the chain id when the layer is not
 * there, or the openat2 errno (ELOOP for a symlink, EXDEV for a mount). */
int layers_open_diff(int store_fd, const char *chain_id, berth_error_t *err);

/* layers_open_diff for every id (closing each fd); the first failure. */
int layers_check(int store_fd, char *const *chain_ids, size_t n, berth_error_t *err);
