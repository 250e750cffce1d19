/* Layer pass 2: an uncompressed tar materialised under a directory fd.
 *
 * Every entry is checked before anything is created: the name must be
 * relative with no '..' component (refused, not rewritten); each parent is
 * opened with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) from the layer
 * root, so a symlink planted by an earlier entry is never written through;
 * hardlinks must name an entry already extracted in this layer; uids and gids
 * must be in 0..65535 (the range imaged's user namespace maps). Device nodes
 * are skipped and reported (imaged cannot create them, and must not).
 * `.wh.NAME` becomes a 0/0 character device NAME and `.wh..wh..opq` the
 * xattr user.overlay.opaque=y: overlayfs' form, mounted with userxattr. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "cleanup.h"
#include "unpack.h"

#define MAX_ID 65535
#define MAX_SKIPPED_REPORTED 100

typedef struct {
  char *path;
  struct timespec ts[2];
} dir_time_t;

typedef struct {
  int root;
  const char *layer;
  const char *entry; /* printable name of the entry at hand */
  unpack_skipped_t *skipped;
  size_t n_skipped_total;
  char **skipped_paths; /* so that hardlinks to them are skipped as well */
  size_t n_skipped_paths;
  dir_time_t *dirs; /* directory times are set last: children change them */
  size_t n_dirs, cap_dirs;
  char *cached_parent; /* the last parent opened, kept open */
  int cached_fd;
  uint64_t content_size;
  berth_error_t *err;
} ctx_t;

static int refuse(ctx_t *c, int status, const char *fmt, const char *arg) {
  char reason[512];
  snprintf(reason, sizeof reason, fmt, arg);
  return berth_error_make(c->err, status, "layer %s: entry \"%s\": %s", c->layer, c->entry, reason);
}

static int fail_errno(ctx_t *c, const char *what) {
  int saved = errno;
  return berth_error_make(c->err, saved, "layer %s: entry \"%s\": %s: %s", c->layer, c->entry, what, strerror(saved));
}

/* A copy fit for a message: control characters as '?', long names cut. */
static void printable(const char *s, char *out, size_t n) {
  size_t i = 0;
  for (; s[i] && i + 4 < n; i++)
    out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '"' ? '?' : s[i];
  if (s[i]) {
    strcpy(out + (i > n - 4 ? n - 4 : i), "...");
    return;
  }
  out[i] = '\0';
}

/* "./a//b/" -> "a/b" ("" for the root). Refuses absolute names and '..'. */
static int normalise(ctx_t *c, const char *in, char *out, const char *role) {
  if (strlen(in) >= PATH_MAX)
    return refuse(c, ENAMETOOLONG, "%s longer than PATH_MAX", role);
  if (in[0] == '/')
    return refuse(c, EPERM, "%s is an absolute path (refused: it would escape the layer)", role);
  size_t o = 0;
  const char *p = in;
  while (*p) {
    const char *end = strchrnul(p, '/');
    size_t len = (size_t)(end - p);
    if (len == 2 && p[0] == '.' && p[1] == '.')
      return refuse(c, EPERM, "%s has a '..' component (refused: it would escape the layer)", role);
    if (len > NAME_MAX)
      return refuse(c, ENAMETOOLONG, "%s has a component longer than NAME_MAX", role);
    if (len > 0 && !(len == 1 && p[0] == '.')) {
      if (o > 0)
        out[o++] = '/';
      memcpy(out + o, p, len);
      o += len;
    }
    p = *end ? end + 1 : end;
  }
  out[o] = '\0';
  return 0;
}

static int parent_error(ctx_t *c, const char *role) {
  if (errno == ELOOP)
    return refuse(c, EPERM, "a parent of the %s is a symlink (refused: writing through a symlink)", role);
  if (errno == EXDEV)
    return refuse(c, EPERM, "the %s resolves outside the layer", role);
  if (errno == ENOTDIR)
    return refuse(c, EPERM, "a parent of the %s is not a directory", role);
  return fail_errno(c, "opening its parent directory");
}

/* Opens parent (relative to the root) as a directory, creating missing
 * components 0755 root:root when create is set. Returns an owned fd. */
static int open_dir(ctx_t *c, const char *parent, bool create, const char *role) {
  if (parent[0] == '\0') {
    int fd = fcntl(c->root, F_DUPFD_CLOEXEC, 0);
    return fd < 0 ? fail_errno(c, "dup") : fd;
  }
  int fd = unpack_openat2(c->root, parent, O_RDONLY | O_DIRECTORY);
  if (fd >= 0 || errno != ENOENT || !create)
    return fd >= 0 ? fd : parent_error(c, role);
  /* Some components are missing: walk and create them one by one. */
  int cur = fcntl(c->root, F_DUPFD_CLOEXEC, 0);
  if (cur < 0)
    return fail_errno(c, "dup");
  char comp[NAME_MAX + 1];
  const char *p = parent;
  while (*p) {
    const char *end = strchrnul(p, '/');
    size_t len = (size_t)(end - p);
    memcpy(comp, p, len);
    comp[len] = '\0';
    int next = unpack_openat2(cur, comp, O_RDONLY | O_DIRECTORY);
    if (next < 0 && errno == ENOENT) {
      if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST) {
        int r = fail_errno(c, "creating a parent directory");
        close(cur);
        return r;
      }
      next = unpack_openat2(cur, comp, O_RDONLY | O_DIRECTORY);
    }
    if (next < 0) {
      int saved = errno;
      close(cur);
      errno = saved;
      return parent_error(c, role);
    }
    close(cur);
    cur = next;
    p = *end ? end + 1 : end;
  }
  return cur;
}

static void drop_cache(ctx_t *c) {
  if (c->cached_fd >= 0)
    close(c->cached_fd);
  c->cached_fd = -1;
  free(c->cached_parent);
  c->cached_parent = NULL;
}

/* A borrowed fd for the entry's parent (cached: tars list siblings together). */
static int parent_fd(ctx_t *c, const char *parent) {
  if (c->cached_parent && strcmp(c->cached_parent, parent) == 0)
    return c->cached_fd;
  drop_cache(c);
  int fd = open_dir(c, parent, true, "entry");
  if (fd < 0)
    return -1;
  c->cached_parent = strdup(parent);
  if (c->cached_parent == NULL) {
    close(fd);
    return berth_error_make(c->err, ENOMEM, "out of memory");
  }
  c->cached_fd = fd;
  return fd;
}

/* Removes what a previous entry put at pfd/name (tar: later entries win).
 * keep_dir: an existing directory stays (directory entries merge). */
static int clear_slot(ctx_t *c, int pfd, const char *name, bool keep_dir, bool *is_dir) {
  struct stat st;
  *is_dir = false;
  if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : fail_errno(c, "stat");
  if (S_ISDIR(st.st_mode)) {
    if (keep_dir) {
      *is_dir = true;
      return 0;
    }
    drop_cache(c); /* the cached parent may lie inside the removed tree */
  }
  berth_error_t e = NULL;
  if (unpack_remove_at(pfd, name, &e) < 0) {
    errno = e && e->status ? e->status : EIO;
    berth_error_release(&e);
    return fail_errno(c, "replacing an earlier entry");
  }
  return 0;
}

static bool keep_xattr(const char *name) {
  if (strcmp(name, "security.capability") == 0)
    return true;
  /* user.overlay.* would steer overlayfs (mounted with userxattr): only the
   * whiteout conversion below may set it. trusted.* and the rest cannot be
   * set inside imaged's namespace and are dropped. */
  return strncmp(name, "user.", 5) == 0 && strncmp(name, "user.overlay.", 13) != 0;
}

static int set_xattrs(ctx_t *c, int fd, struct archive_entry *e) {
  if (archive_entry_xattr_reset(e) == 0)
    return 0;
  const char *name;
  const void *value;
  size_t size;
  while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
    if (!keep_xattr(name))
      continue;
    if (fsetxattr(fd, name, value, size, 0) < 0) {
      char what[300];
      snprintf(what, sizeof what, "setting xattr %s", name);
      return fail_errno(c, what);
    }
  }
  return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2]) {
  ts[1].tv_sec = archive_entry_mtime(e);
  ts[1].tv_nsec = archive_entry_mtime_nsec(e);
  if (!archive_entry_mtime_is_set(e))
    ts[1].tv_nsec = UTIME_OMIT;
  if (archive_entry_atime_is_set(e)) {
    ts[0].tv_sec = archive_entry_atime(e);
    ts[0].tv_nsec = archive_entry_atime_nsec(e);
  } else {
    ts[0] = ts[1];
  }
}

/* Owner, then mode (chown clears setuid/setgid), then xattrs (chown clears
 * security.capability). */
static int set_owner_mode(ctx_t *c, int fd, struct archive_entry *e) {
  if (fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0)
    return fail_errno(c, "chown");
  if (fchmod(fd, archive_entry_perm(e) & 07777) < 0)
    return fail_errno(c, "chmod");
  return set_xattrs(c, fd, e);
}

static int remember_dir_time(ctx_t *c, const char *path, struct archive_entry *e) {
  if (c->n_dirs == c->cap_dirs) {
    size_t cap = c->cap_dirs ? c->cap_dirs * 2 : 64;
    dir_time_t *d = realloc(c->dirs, cap * sizeof *d);
    if (d == NULL)
      return berth_error_make(c->err, ENOMEM, "out of memory");
    c->dirs = d;
    c->cap_dirs = cap;
  }
  dir_time_t *d = &c->dirs[c->n_dirs];
  entry_times(e, d->ts);
  d->path = strdup(path);
  if (d->path == NULL)
    return berth_error_make(c->err, ENOMEM, "out of memory");
  c->n_dirs++;
  return 0;
}

static int report_skip(ctx_t *c, const char *path, const char *why) {
  c->n_skipped_total++;
  char **sp = realloc(c->skipped_paths, (c->n_skipped_paths + 1) * sizeof *sp);
  if (sp == NULL || (sp[c->n_skipped_paths] = strdup(path)) == NULL) {
    if (sp)
      c->skipped_paths = sp;
    return berth_error_make(c->err, ENOMEM, "out of memory");
  }
  c->skipped_paths = sp;
  c->n_skipped_paths++;
  if (c->skipped == NULL || c->n_skipped_total > MAX_SKIPPED_REPORTED)
    return 0; /* the total is reported once at the end */
  char *item = NULL;
  char **items = realloc(c->skipped->items, (c->skipped->n + 1) * sizeof *items);
  if (items == NULL || asprintf(&item, "%s: %s: %s", c->layer, c->entry, why) < 0) {
    if (items)
      c->skipped->items = items;
    return berth_error_make(c->err, ENOMEM, "out of memory");
  }
  c->skipped->items = items;
  c->skipped->items[c->skipped->n++] = item;
  return 0;
}

static bool was_skipped(ctx_t *c, const char *path) {
  for (size_t i = 0; i < c->n_skipped_paths; i++)
    if (strcmp(c->skipped_paths[i], path) == 0)
      return true;
  return false;
}

static int do_whiteout(ctx_t *c, int pfd, const char *name, struct archive_entry *e) {
  if (strcmp(name, ".wh..wh..opq") == 0) {
    if (fsetxattr(pfd, "user.overlay.opaque", "y", 1, 0) < 0)
      return fail_errno(c, "marking the directory opaque (user.overlay.opaque)");
    return 0;
  }
  if (strncmp(name, ".wh..wh.", 8) == 0)
    return 0; /* aufs bookkeeping (.wh..wh.plnk, ...): not content */
  const char *target = name + 4;
  if (target[0] == '\0' || strcmp(target, ".") == 0 || strcmp(target, "..") == 0)
    return refuse(c, EPERM, "%s", "whiteout of an invalid name");
  bool is_dir;
  if (clear_slot(c, pfd, target, false, &is_dir) < 0)
    return -1;
  if (mknodat(pfd, target, S_IFCHR | 0, makedev(0, 0)) < 0)
    return fail_errno(c, "creating the whiteout (a 0/0 character device)");
  if (fchownat(pfd, target, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0)
    return fail_errno(c, "chown of the whiteout");
  return 0;
}

static int write_data(ctx_t *c, struct archive *a, int fd, struct archive_entry *e) {
  int64_t end = 0;
  for (;;) {
    const void *buf;
    size_t len;
    la_int64_t off;
    int r = archive_read_data_block(a, &buf, &len, &off);
    if (r == ARCHIVE_EOF)
      break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
      return berth_error_make(c->err, EBADMSG, "layer %s: entry \"%s\": reading its data: %s", c->layer, c->entry,
                              archive_error_string(a));
    const char *p = buf;
    while (len > 0) {
      ssize_t n = pwrite(fd, p, len, off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return fail_errno(c, "writing");
      p += n;
      off += n;
      len -= (size_t)n;
    }
    if (off > end)
      end = off;
  }
  if (archive_entry_size_is_set(e) && archive_entry_size(e) > end && ftruncate(fd, archive_entry_size(e)) < 0)
    return fail_errno(c, "extending a sparse file");
  return 0;
}

static int do_hardlink(ctx_t *c, int pfd, const char *path, const char *name, const char *raw_target) {
  char target[PATH_MAX];
  if (normalise(c, raw_target, target, "hardlink target") < 0)
    return -1;
  if (target[0] == '\0')
    return refuse(c, EPERM, "%s", "hardlink to the layer root");
  if (strcmp(target, path) == 0)
    return refuse(c, EPERM, "%s", "hardlink to itself");
  if (was_skipped(c, target))
    return report_skip(c, path, "hardlink to a skipped entry not created");
  char *slash = strrchr(target, '/');
  const char *tname = slash ? slash + 1 : target;
  if (slash)
    *slash = '\0';
  cleanup_close int tpfd = open_dir(c, slash ? target : "", false, "hardlink target");
  if (tpfd < 0) {
    if (c->err && *c->err && (*c->err)->status == ENOENT)
      return refuse(c, EPERM, "hardlink target %s is not (yet) extracted in this layer", raw_target);
    return -1;
  }
  struct stat st;
  if (fstatat(tpfd, tname, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return refuse(c, EPERM, "hardlink target %s is not (yet) extracted in this layer", raw_target);
  if (S_ISDIR(st.st_mode))
    return refuse(c, EPERM, "hardlink target %s is a directory", raw_target);
  bool is_dir;
  if (clear_slot(c, pfd, name, false, &is_dir) < 0)
    return -1;
  if (linkat(tpfd, tname, pfd, name, 0) < 0)
    return fail_errno(c, "creating the hardlink");
  return 0;
}

static int extract(ctx_t *c, struct archive *a, struct archive_entry *e) {
  char path[PATH_MAX];
  if (normalise(c, archive_entry_pathname(e), path, "name") < 0)
    return -1;
  la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
  if (uid < 0 || uid > MAX_ID || gid < 0 || gid > MAX_ID) {
    char ids[64];
    snprintf(ids, sizeof ids, "%lld:%lld", (long long)uid, (long long)gid);
    return refuse(c, EPERM, "owner %s is outside 0..65535 (the ids imaged maps)", ids);
  }
  mode_t type = archive_entry_filetype(e);
  const char *hardlink = archive_entry_hardlink(e);
  struct timespec ts[2];
  entry_times(e, ts);

  if (path[0] == '\0') { /* "./": the layer root itself */
    if (hardlink || type != AE_IFDIR)
      return refuse(c, EPERM, "%s", "the layer root is not a directory");
    if (set_owner_mode(c, c->root, e) < 0)
      return -1;
    return remember_dir_time(c, "", e);
  }
  char parent[PATH_MAX];
  strcpy(parent, path);
  char *slash = strrchr(parent, '/');
  const char *name;
  if (slash) {
    *slash = '\0';
    name = slash + 1;
  } else {
    name = path;
    parent[0] = '\0';
  }
  if (strncmp(name, ".wh.", 4) != 0 && hardlink == NULL && (type == AE_IFCHR || type == AE_IFBLK))
    return report_skip(c, path, "device node not created");
  if (strncmp(name, ".wh.", 4) != 0 && hardlink == NULL && type == AE_IFSOCK)
    return report_skip(c, path, "socket not created");
  int pfd = parent_fd(c, parent);
  if (pfd < 0)
    return -1;
  if (strncmp(name, ".wh.", 4) == 0)
    return do_whiteout(c, pfd, name, e);
  if (hardlink)
    return do_hardlink(c, pfd, path, name, hardlink);

  bool is_dir = false;
  switch (type) {
  case AE_IFDIR: {
    if (clear_slot(c, pfd, name, true, &is_dir) < 0)
      return -1;
    if (!is_dir && mkdirat(pfd, name, 0700) < 0)
      return fail_errno(c, "mkdir");
    cleanup_close int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
      return fail_errno(c, "opening the new directory");
    if (set_owner_mode(c, fd, e) < 0)
      return -1;
    return remember_dir_time(c, path, e);
  }
  case AE_IFREG: {
    if (clear_slot(c, pfd, name, false, &is_dir) < 0)
      return -1;
    cleanup_close int fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
      return fail_errno(c, "creating the file");
    if (write_data(c, a, fd, e) < 0 || set_owner_mode(c, fd, e) < 0)
      return -1;
    if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0)
      c->content_size += (uint64_t)archive_entry_size(e);
    if (futimens(fd, ts) < 0)
      return fail_errno(c, "setting times");
    return 0;
  }
  case AE_IFLNK: {
    const char *target = archive_entry_symlink(e);
    if (target == NULL || target[0] == '\0')
      return refuse(c, EBADMSG, "%s", "symlink without a target");
    if (clear_slot(c, pfd, name, false, &is_dir) < 0)
      return -1;
    /* The target is only data: it resolves inside the container's root. */
    if (symlinkat(target, pfd, name) < 0)
      return fail_errno(c, "creating the symlink");
    if (fchownat(pfd, name, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW) < 0)
      return fail_errno(c, "chown of the symlink");
    if (utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
      return fail_errno(c, "setting the symlink's times");
    return 0;
  }
  case AE_IFIFO: {
    if (clear_slot(c, pfd, name, false, &is_dir) < 0)
      return -1;
    if (mknodat(pfd, name, S_IFIFO | 0600, 0) < 0)
      return fail_errno(c, "creating the fifo");
    /* Opening a fifo would block: set its attributes by name (nothing else
     * writes in this private staging directory). */
    if (fchownat(pfd, name, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW) < 0)
      return fail_errno(c, "chown of the fifo");
    if (fchmodat(pfd, name, archive_entry_perm(e) & 07777, 0) < 0)
      return fail_errno(c, "chmod of the fifo");
    if (utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
      return fail_errno(c, "setting the fifo's times");
    return 0;
  }
  default:
    return refuse(c, EBADMSG, "%s", "unknown entry type");
  }
}

static int apply_dir_times(ctx_t *c) {
  for (size_t i = c->n_dirs; i-- > 0;) {
    dir_time_t *d = &c->dirs[i];
    int fd = d->path[0] ? unpack_openat2(c->root, d->path, O_RDONLY | O_DIRECTORY) : fcntl(c->root, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
      continue; /* replaced by a later entry */
    int r = futimens(fd, d->ts);
    int saved = errno;
    close(fd);
    if (r < 0) {
      errno = saved;
      c->entry = d->path;
      return fail_errno(c, "setting directory times");
    }
  }
  return 0;
}

int unpack_tar(int tar_fd, int dir_fd, const char *layer, unpack_skipped_t *skipped, uint64_t *content_size,
               berth_error_t *err) {
  ctx_t c = { .root = dir_fd, .layer = layer, .entry = "", .skipped = skipped, .cached_fd = -1, .err = err };
  size_t skipped_before = skipped ? skipped->n : 0;
  int ret = -1;
  char shown[256];
  struct archive *a = archive_read_new();
  if (a == NULL) {
    berth_error_make(err, ENOMEM, "out of memory");
    goto out;
  }
  archive_read_support_format_tar(a);
  archive_read_support_format_empty(a);
  if (lseek(tar_fd, 0, SEEK_SET) < 0) {
    berth_error_errno(err, "layer %s: rewinding the uncompressed tar", layer);
    goto out;
  }
  if (archive_read_open_fd(a, tar_fd, 1 << 16) != ARCHIVE_OK) {
    berth_error_make(err, EBADMSG, "layer %s: not a tar archive: %s", layer, archive_error_string(a));
    goto out;
  }
  for (;;) {
    struct archive_entry *e;
    int r = archive_read_next_header(a, &e);
    if (r == ARCHIVE_EOF)
      break;
    /* ARCHIVE_WARN: e.g. a UTF-8 name not convertible to the C locale; the
     * raw bytes are what we create, as Docker does. */
    if ((r != ARCHIVE_OK && r != ARCHIVE_WARN) || archive_entry_pathname(e) == NULL) {
      berth_error_make(err, EBADMSG, "layer %s: malformed tar after entry \"%s\": %s", layer, c.entry,
                       archive_error_string(a) ? archive_error_string(a) : "entry without a name");
      goto out;
    }
    printable(archive_entry_pathname(e), shown, sizeof shown);
    c.entry = shown;
    if (extract(&c, a, e) < 0)
      goto out;
  }
  if (apply_dir_times(&c) < 0)
    goto out;
  if (skipped && c.n_skipped_total > MAX_SKIPPED_REPORTED) {
    char *item = NULL;
    char **items = realloc(skipped->items, (skipped->n + 1) * sizeof *items);
    if (items)
      skipped->items = items;
    if (items == NULL || asprintf(&item, "%s: %zu more entries skipped (devices or sockets)", layer,
                                  c.n_skipped_total - MAX_SKIPPED_REPORTED) < 0) {
      berth_error_make(err, ENOMEM, "out of memory");
      goto out;
    }
    skipped->items[skipped->n++] = item;
  }
  if (content_size)
    *content_size = c.content_size;
  ret = 0;
out:
  if (a)
    archive_read_free(a);
  drop_cache(&c);
  for (size_t i = 0; i < c.n_dirs; i++)
    free(c.dirs[i].path);
  free(c.dirs);
  for (size_t i = 0; i < c.n_skipped_paths; i++)
    free(c.skipped_paths[i]);
  free(c.skipped_paths);
  if (ret < 0) {
    berth_error_t e2 = NULL;
    if (unpack_empty_dir(dir_fd, &e2) < 0)
      berth_error_release(&e2); /* tmp/ is wiped at the next start anyway */
    while (skipped && skipped->n > skipped_before)
      free(skipped->items[--skipped->n]);
  }
  return ret;
}
