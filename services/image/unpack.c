/* Layer pass 1 (decompression into the blob, diff_id, budget) and safe tree
 * removal. Pass 2 (materialising the tar) is in unpack_tar.c. */
#include "unpack.h"
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "cleanup.h"

int unpack_budget_take(unpack_budget_t *b, uint64_t n, const char *what, berth_error_t *err) {
  if (b == NULL)
    return 0;
  if (b->used > b->limit || n > b->limit - b->used) {
    b->used = b->limit + 1;
    if (b->config_path)
      return berth_error_make(err, EFBIG,
                              "%s: uncompressed size exceeds image-max-uncompressed-bytes (%" PRIu64
                              " bytes, set in %s)",
                              what, b->limit, b->config_path);
    return berth_error_make(err, EFBIG,
                            "%s: uncompressed size exceeds image-max-uncompressed-bytes (%" PRIu64
                            " bytes, the default; raise it in the config file)",
                            what, b->limit);
  }
  b->used += n;
  return 0;
}

int unpack_support_filters(struct archive *a, berth_error_t *err) {
  /* Only decompressors built into libarchive: one that falls back to an
   * external program (ARCHIVE_WARN) would try execve, which imaged's seccomp
   * filter punishes with death. */
  int (*const fns[])(struct archive *) = {
    archive_read_support_filter_gzip,
    archive_read_support_filter_zstd,
    archive_read_support_filter_bzip2,
    archive_read_support_filter_xz,
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
    if (fns[i](a) != ARCHIVE_OK)
      return berth_error_make(err, ENOSYS, "libarchive lacks a built-in decompressor (%s)", archive_error_string(a));
  return 0;
}

int unpack_write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

void unpack_hex(const unsigned char *d, size_t n, char *out) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = hex[d[i] >> 4];
    out[2 * i + 1] = hex[d[i] & 15];
  }
  out[2 * n] = '\0';
}

int unpack_decompress(int in_fd, int out_fd, const char *layer, unpack_budget_t *b, unpack_progress_fn progress,
                      void *progress_userdata, char diff_id[UNPACK_DIGEST_LEN + 1], uint64_t *size,
                      berth_error_t *err) {
  int ret = -1;
  uint64_t total = 0, reported = 0;
  cleanup_free char *what = NULL;
  if (asprintf(&what, "layer %s", layer) < 0)
    return berth_error_make(err, ENOMEM, "out of memory");
  struct archive *a = archive_read_new();
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  if (a == NULL || md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
    berth_error_make(err, ENOMEM, "%s: cannot set up decompression", what);
    goto out;
  }
  if (unpack_support_filters(a, err) < 0)
    goto out;
  archive_read_support_format_raw(a);
  archive_read_support_format_empty(a);
  struct archive_entry *e;
  int r = archive_read_open_fd(a, in_fd, 1 << 16);
  if (r == ARCHIVE_OK)
    r = archive_read_next_header(a, &e);
  if (r != ARCHIVE_EOF) {
    if (r != ARCHIVE_OK) {
      berth_error_make(err, EBADMSG, "%s: cannot decompress: %s", what, archive_error_string(a));
      goto out;
    }
    bool expands = archive_filter_count(a) > 1; /* a decompressor above "none" */
    for (;;) {
      const void *buf;
      size_t len;
      la_int64_t off;
      r = archive_read_data_block(a, &buf, &len, &off);
      if (r == ARCHIVE_EOF)
        break;
      if (r != ARCHIVE_OK) {
        berth_error_make(err, EBADMSG, "%s: cannot decompress: %s", what, archive_error_string(a));
        goto out;
      }
      if (expands && unpack_budget_take(b, len, what, err) < 0)
        goto out;
      if (EVP_DigestUpdate(md, buf, len) != 1) {
        berth_error_make(err, EIO, "%s: sha256 failed", what);
        goto out;
      }
      if (unpack_write_all(out_fd, buf, len) < 0) {
        berth_error_errno(err, "%s: writing the uncompressed layer", what);
        goto out;
      }
      total += len;
      if (progress && total - reported >= (1 << 20)) {
        reported = total;
        progress(progress_userdata, (uint64_t)archive_filter_bytes(a, -1));
      }
    }
  }
  unsigned char d[EVP_MAX_MD_SIZE];
  unsigned dlen = 0;
  if (EVP_DigestFinal_ex(md, d, &dlen) != 1 || dlen != 32) {
    berth_error_make(err, EIO, "%s: sha256 failed", what);
    goto out;
  }
  memcpy(diff_id, "sha256:", 7);
  unpack_hex(d, 32, diff_id + 7);
  if (size)
    *size = total;
  ret = 0;
out:
  if (a)
    archive_read_free(a);
  EVP_MD_CTX_free(md);
  return ret;
}

void unpack_skipped_free(unpack_skipped_t *s) {
  for (size_t i = 0; s && i < s->n; i++)
    free(s->items[i]);
  if (s) {
    free(s->items);
    s->items = NULL;
    s->n = 0;
  }
}

int unpack_openat2(int dirfd, const char *path, int flags) {
  struct open_how how = {
    .flags = (uint64_t)(flags | O_CLOEXEC),
    .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
  };
  int fd;
  do
    fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
  while (fd < 0 && errno == EINTR);
  return fd;
}

/* Unlinks every non-directory in fd; returns the name of one subdirectory
 * in sub (empty when there is none). */
static int sweep(int fd, char sub[NAME_MAX + 1]) {
  int dfd = dup(fd);
  if (dfd < 0)
    return -1;
  DIR *d = fdopendir(dfd);
  if (d == NULL) {
    close(dfd);
    return -1;
  }
  sub[0] = '\0';
  struct dirent *de;
  int ret = 0;
  errno = 0;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    if (unlinkat(fd, de->d_name, 0) == 0)
      continue;
    if (errno == EISDIR || errno == EPERM) { /* EPERM: unlink(2) of a directory on Linux */
      struct stat st;
      if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
        if (sub[0] == '\0')
          strcpy(sub, de->d_name);
        errno = 0;
        continue;
      }
    }
    if (errno != ENOENT) {
      ret = -1;
      break;
    }
    errno = 0;
  }
  if (ret == 0 && errno != 0)
    ret = -1;
  int saved = errno;
  closedir(d);
  errno = saved;
  return ret;
}

/* Depth first without holding one fd per level (a hostile layer may nest
 * 2000 directories deep): walk down by path from dir_fd, come back up by
 * trimming the path. */
static int remove_tree(int dir_fd, const char *name, berth_error_t *err) {
  char path[PATH_MAX + NAME_MAX + 2];
  size_t base = strlen(name);
  if (base >= sizeof path)
    return berth_error_make(err, ENAMETOOLONG, "removing %s: name too long", name);
  memcpy(path, name, base + 1);
  for (;;) {
    int fd = unpack_openat2(dir_fd, path, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
      return berth_error_errno(err, "removing %s", path);
    char sub[NAME_MAX + 1];
    int r = sweep(fd, sub);
    close(fd);
    if (r < 0)
      return berth_error_errno(err, "removing the contents of %s", path);
    size_t len = strlen(path);
    if (sub[0] != '\0') {
      size_t sl = strlen(sub);
      if (len + 1 + sl >= sizeof path)
        return berth_error_make(err, ENAMETOOLONG, "removing %s/%s: path too long", path, sub);
      path[len] = '/';
      memcpy(path + len + 1, sub, sl + 1);
      continue;
    }
    if (unlinkat(dir_fd, path, AT_REMOVEDIR) < 0 && errno != ENOENT)
      return berth_error_errno(err, "removing %s", path);
    if (len == base)
      return 0;
    char *slash = strrchr(path, '/');
    *slash = '\0';
  }
}

int unpack_remove_at(int dir_fd, const char *name, berth_error_t *err) {
  if (unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT)
    return 0;
  struct stat st;
  if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : berth_error_errno(err, "removing %s", name);
  if (!S_ISDIR(st.st_mode))
    return berth_error_errno(err, "removing %s", name);
  return remove_tree(dir_fd, name, err);
}

int unpack_empty_dir(int dir_fd, berth_error_t *err) {
  for (;;) {
    char sub[NAME_MAX + 1];
    if (sweep(dir_fd, sub) < 0)
      return berth_error_errno(err, "emptying a directory");
    if (sub[0] == '\0')
      return 0;
    if (remove_tree(dir_fd, sub, err) < 0)
      return -1;
  }
}
