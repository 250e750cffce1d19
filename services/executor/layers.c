/* berth-imaged's store as the executor sees it: created here, resolved by
 * chain id only (see layers.h). */
#include "layers.h"
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "cleanup.h"

/* imaged is not root on the host: it must be able to search DATA_ROOT and
 * every directory above it (the usual 0711/0755 ones are fine). */
static int check_searchable(const char *dir, berth_error_t *err) {
  char path[4096];
  size_t len = strlen(dir);
  if (len >= sizeof path)
    return berth_error_make(err, ENAMETOOLONG, "data root path too long");
  for (size_t i = 1; i <= len; i++) {
    if (i < len && dir[i] != '/')
      continue;
    memcpy(path, dir, i);
    path[i] = '\0';
    struct stat st;
    if (stat(path, &st) < 0)
      return berth_error_errno(err, "stat %s", path);
    if (!(st.st_mode & S_IXOTH))
      return berth_error_make(err, EACCES,
                              "%s is not searchable by others (mode %04o): berth-imaged, which is not root on the "
                              "host, could not reach its store; chmod o+x %s (0711 is enough)",
                              path, (unsigned)(st.st_mode & 07777), path);
  }
  return 0;
}

int layers_prepare_store(const char *data_root, uid_t uid, gid_t gid, berth_error_t *err) {
  if (check_searchable(data_root, err) < 0)
    return -1;
  cleanup_close int root = open(data_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0)
    return berth_error_errno(err, "open %s", data_root);
  bool created = mkdirat(root, LAYERS_STORE_DIR, 0700) == 0;
  if (!created && errno != EEXIST)
    return berth_error_errno(err, "mkdir %s/%s", data_root, LAYERS_STORE_DIR);
  /* O_NOFOLLOW: a symlink planted there is refused, not followed. */
  cleanup_close int fd = openat(root, LAYERS_STORE_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0 && (errno == ELOOP || errno == ENOTDIR))
    return berth_error_make(err, ENOTDIR, "%s/%s exists and is not a directory (a symlink or a file); move it aside",
                            data_root, LAYERS_STORE_DIR);
  if (fd < 0)
    return berth_error_errno(err, "open %s/%s", data_root, LAYERS_STORE_DIR);
  if (created && fchown(fd, uid, gid) < 0)
    return berth_error_errno(err, "chown %s/%s to %u:%u", data_root, LAYERS_STORE_DIR, (unsigned)uid, (unsigned)gid);
  struct stat st;
  if (fstat(fd, &st) < 0)
    return berth_error_errno(err, "stat %s/%s", data_root, LAYERS_STORE_DIR);
  if (st.st_uid != uid || st.st_gid != gid)
    return berth_error_make(err, EPERM,
                            "%s/%s is owned by %u:%u, not by berth-imaged's namespace root %u:%u (the first ids of "
                            "user berth's subordinate ranges); chown -R it, or move it aside to start a new store",
                            data_root, LAYERS_STORE_DIR, (unsigned)st.st_uid, (unsigned)st.st_gid, (unsigned)uid,
                            (unsigned)gid);
  if ((st.st_mode & 07777) != 0700 && fchmod(fd, 0700) < 0)
    return berth_error_errno(err, "chmod 0700 %s/%s", data_root, LAYERS_STORE_DIR);
  return berth_steal_fd(&fd);
}

int layers_valid_chain_id(const char *id) {
  size_t plen = strlen(LAYERS_CHAIN_PREFIX);
  if (id == NULL || strncmp(id, LAYERS_CHAIN_PREFIX, plen) != 0)
    return 0;
  const char *hex = id + plen;
  for (size_t i = 0; i < LAYERS_HEX_LEN; i++)
    if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
      return 0; /* also stops at the terminating NUL of a short id */
  return hex[LAYERS_HEX_LEN] == '\0';
}

int layers_open_diff(int store_fd, const char *chain_id, berth_error_t *err) {
  if (!layers_valid_chain_id(chain_id))
    return berth_error_make(err, EINVAL, "invalid layer chain id \"%.80s\": expected sha256: and 64 lowercase hex digits",
                            chain_id ? chain_id : "");
  char rel[sizeof "layers//diff" + LAYERS_HEX_LEN];
  snprintf(rel, sizeof rel, "layers/%s/diff", chain_id + strlen(LAYERS_CHAIN_PREFIX));
  struct open_how how = {
      .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
      .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
  };
  int fd = (int)syscall(SYS_openat2, store_fd, rel, &how, sizeof how);
  if (fd >= 0)
    return fd;
  if (errno == ENOENT)
    return berth_error_make(err, ENOENT, "layer %s is not in the image store", chain_id);
  return berth_error_errno(err, "layer %s: cannot open %s below the image store as a plain directory", chain_id, rel);
}

int layers_check(int store_fd, char *const *chain_ids, size_t n, berth_error_t *err) {
  for (size_t i = 0; i < n; i++) {
    int fd = layers_open_diff(store_fd, chain_ids[i], err);
    if (fd < 0)
      return -1;
    close(fd);
  }
  return 0;
}
