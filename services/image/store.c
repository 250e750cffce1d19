/* The image store: open, start-up garbage collection, staging, file removal
 * and pins (see store.h for the layout and the crash-safety argument). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cleanup.h"
#include "db.h"
#include "log.h"
#include "store-impl.h"

int64_t store_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- digest sets ---- */

bool dset_has(const digest_set_t *s, const char *d) {
  for (size_t i = 0; i < s->n; i++)
    if (strcmp(s->v[i], d) == 0)
      return true;
  return false;
}

int dset_add(digest_set_t *s, const char *d) {
  if (dset_has(s, d))
    return 0;
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 16;
    void *v = realloc(s->v, cap * sizeof(*s->v));
    if (v == NULL)
      return -ENOMEM;
    s->v = v;
    s->cap = cap;
  }
  snprintf(s->v[s->n++], BERTH_DIGEST_SIZE, "%s", d);
  return 0;
}

void dset_free(digest_set_t *s) {
  free(s->v);
  memset(s, 0, sizeof(*s));
}

/* ---- recursive removal, with O(1) fds whatever the depth ---- */

/* path (relative to rootfd, in buf of size cap) is a directory: empties it
 * and removes it. Subdirectory names are collected and the directory closed
 * before descending, so a deep hostile tree cannot exhaust fds. */
static int rm_tree(int rootfd, char *path, size_t cap) {
  int fd = openat(rootfd, path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return errno == ENOENT ? 0 : -errno;
  DIR *d = fdopendir(fd);
  if (d == NULL) {
    int e = errno;
    close(fd);
    return -e;
  }
  char **subdirs = NULL;
  size_t n = 0, ncap = 0;
  int r = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
      continue;
    if (unlinkat(dirfd(d), de->d_name, 0) == 0 || errno == ENOENT)
      continue;
    if (errno != EISDIR && errno != EPERM) {
      r = -errno;
      continue;
    }
    if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) == 0)
      continue;
    if (n == ncap) {
      ncap = ncap ? ncap * 2 : 8;
      char **v = realloc(subdirs, ncap * sizeof(*v));
      if (v == NULL) {
        r = -ENOMEM;
        break;
      }
      subdirs = v;
    }
    if ((subdirs[n] = strdup(de->d_name)) == NULL) {
      r = -ENOMEM;
      break;
    }
    n++;
  }
  closedir(d);
  size_t len = strlen(path);
  for (size_t i = 0; i < n; i++) {
    size_t sl = strlen(subdirs[i]);
    if (r == 0 && len + 1 + sl + 1 <= cap) {
      path[len] = '/';
      memcpy(path + len + 1, subdirs[i], sl + 1);
      int q = rm_tree(rootfd, path, cap);
      if (q < 0)
        r = q;
      path[len] = '\0';
    } else if (r == 0)
      r = -ENAMETOOLONG;
    free(subdirs[i]);
  }
  free(subdirs);
  if (r == 0 && unlinkat(rootfd, path, AT_REMOVEDIR) < 0 && errno != ENOENT)
    r = -errno;
  return r;
}

int store_rm_rf_at(int dirfd, const char *name) {
  if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
    return 0;
  if (errno != EISDIR && errno != EPERM)
    return -errno;
  size_t cap = 3 * PATH_MAX;
  cleanup_free char *buf = malloc(cap);
  if (buf == NULL)
    return -ENOMEM;
  snprintf(buf, cap, "%s", name);
  return rm_tree(dirfd, buf, cap);
}

/* ---- pins and file removal ---- */

int store_unlink_blob(berth_store_t *st, const char *digest) {
  if (!berth_digest_valid(digest))
    return -EINVAL;
  if (unlinkat(st->blobs_fd, digest + 7, 0) < 0 && errno != ENOENT) {
    int e = errno;
    log_warn("image store: removing blob %s: %s (removed at the next start)", digest, strerror(e));
    return -e;
  }
  return 0;
}

int store_remove_layer_dir(berth_store_t *st, const char *chain_id) {
  if (!berth_digest_valid(chain_id))
    return -EINVAL;
  int r = store_rm_rf_at(st->layers_fd, chain_id + 7);
  if (r < 0)
    log_warn("image store: removing layer %s: %s (removed at the next start)", chain_id, strerror(-r));
  return r;
}

void store_delete_files(berth_store_t *st, const digest_set_t *layers, const digest_set_t *blobs) {
  for (size_t i = 0; layers && i < layers->n; i++)
    if (!store_layer_pinned(st, layers->v[i]))
      store_remove_layer_dir(st, layers->v[i]);
  for (size_t i = 0; blobs && i < blobs->n; i++)
    if (!store_blob_pinned(st, blobs->v[i]))
      store_unlink_blob(st, blobs->v[i]);
}

/* ---- start-up ---- */

static int open_subdir(int dirfd, const char *name, int *out, berth_error_t *err) {
  if (mkdirat(dirfd, name, 0700) < 0 && errno != EEXIST)
    return berth_error_errno(err, "image store: creating %s", name);
  int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return berth_error_errno(err, "image store: opening %s", name);
  *out = fd;
  return 0;
}

static bool is_hex64(const char *s) {
  if (strlen(s) != 64)
    return false;
  for (; *s; s++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
      return false;
  return true;
}

/* Removes every entry of dirfd for which keep() says no; returns the count. */
static int sweep(berth_store_t *st, int dfd, const char *what, bool (*keep)(berth_store_t *, const char *),
                 berth_error_t *err) {
  int fd = dup(dfd);
  if (fd < 0)
    return berth_error_errno(err, "image store: sweeping %s", what);
  DIR *d = fdopendir(fd);
  if (d == NULL) {
    close(fd);
    return berth_error_errno(err, "image store: sweeping %s", what);
  }
  rewinddir(d);
  /* Collect first: removing while readdir walks the same dir may skip entries. */
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *de;
  int r = 0;
  while ((de = readdir(d)) != NULL) {
    if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 || (keep && keep(st, de->d_name)))
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      char **v = realloc(names, cap * sizeof(*v));
      if (v == NULL) {
        r = -1;
        break;
      }
      names = v;
    }
    if ((names[n] = strdup(de->d_name)) == NULL) {
      r = -1;
      break;
    }
    n++;
  }
  closedir(d);
  int removed = 0;
  for (size_t i = 0; i < n; i++) {
    int q = store_rm_rf_at(dfd, names[i]);
    if (q < 0)
      log_warn("image store: removing %s/%s: %s", what, names[i], strerror(-q));
    else
      removed++;
    free(names[i]);
  }
  free(names);
  if (r < 0)
    return berth_error_make(err, ENOMEM, "out of memory");
  return removed;
}

static bool keep_blob(berth_store_t *st, const char *name) {
  char d[BERTH_DIGEST_SIZE];
  int64_t v;
  if (!is_hex64(name))
    return false;
  snprintf(d, sizeof(d), "sha256:%s", name);
  return db_query_int(st->db, "SELECT 1 FROM blobs WHERE digest=?1", d, &v, NULL) != 0; /* keep on error */
}

static bool keep_layer(berth_store_t *st, const char *name) {
  char d[BERTH_DIGEST_SIZE];
  int64_t v;
  if (!is_hex64(name))
    return false;
  snprintf(d, sizeof(d), "sha256:%s", name);
  return db_query_int(st->db, "SELECT 1 FROM layers WHERE chain_id=?1", d, &v, NULL) != 0;
}

/* Rows the files must match: report (never invent) what is missing. */
static int report_missing(const char *v, void *data) {
  berth_store_t *st = data;
  struct stat sb;
  if (fstatat(st->blobs_fd, v + 7, &sb, AT_SYMLINK_NOFOLLOW) < 0)
    log_err("image store: blob %s is recorded but its file is missing", v);
  return 0;
}

static int gc(berth_store_t *st, berth_error_t *err) {
  int tmp = sweep(st, st->tmp_fd, "tmp", NULL, err);
  if (tmp < 0)
    return -1;
  int blobs = sweep(st, st->blobs_fd, "blobs/sha256", keep_blob, err);
  if (blobs < 0)
    return -1;
  int layers = sweep(st, st->layers_fd, "layers", keep_layer, err);
  if (layers < 0)
    return -1;
  if (db_each_text(st->db, "SELECT digest FROM blobs", NULL, report_missing, st, err) < 0)
    return -1;
  if (tmp + blobs + layers > 0)
    log_info("image store: start-up clean-up removed %d staged entries, %d unreferenced blobs, %d unreferenced "
             "layer dirs",
             tmp, blobs, layers);
  return 0;
}

int berth_store_open(int dirfd, berth_store_t **out, berth_error_t *err) {
  berth_store_t *st = calloc(1, sizeof(*st));
  if (st == NULL) {
    close(dirfd);
    return berth_error_make(err, ENOMEM, "out of memory");
  }
  st->dirfd = dirfd;
  st->blobs_fd = st->layers_fd = st->tmp_fd = -1;
  pthread_mutex_init(&st->lock, NULL);
  int blobs_parent = -1;
  char link[64], path[PATH_MAX];
  snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
  ssize_t n = readlink(link, path, sizeof(path) - 1);
  if (n > 0) {
    path[n] = '\0';
    st->root = strdup(path);
  }
  if (open_subdir(dirfd, "blobs", &blobs_parent, err) < 0)
    goto fail;
  int r = open_subdir(blobs_parent, "sha256", &st->blobs_fd, err);
  close(blobs_parent);
  if (r < 0 || open_subdir(dirfd, "layers", &st->layers_fd, err) < 0 ||
      open_subdir(dirfd, "tmp", &st->tmp_fd, err) < 0)
    goto fail;
  if (db_open(dirfd, &st->db, err) < 0 || gc(st, err) < 0)
    goto fail;
  *out = st;
  return 0;
fail:
  berth_error_wrap(err, "opening the image store");
  berth_store_close(st);
  return -1;
}

void berth_store_close(berth_store_t *st) {
  if (st == NULL)
    return;
  if (st->txns != NULL)
    log_err("image store: closed with a transaction still open");
  db_close(st->db);
  for (int *fd = &st->dirfd; fd <= &st->tmp_fd; fd++)
    if (*fd >= 0)
      close(*fd);
  pthread_mutex_destroy(&st->lock);
  free(st->root);
  free(st);
}

int berth_store_dirfd(berth_store_t *st) {
  return st->dirfd;
}

/* ---- staging ---- */

static void random_name(char *out, size_t size, const char *prefix) {
  static unsigned counter;
  uint64_t v = 0;
  if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != sizeof(v))
    v = (uint64_t)store_now_ns() ^ ((uint64_t)getpid() << 32) ^ __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
  snprintf(out, size, "%s-%016llx", prefix, (unsigned long long)v);
}

int berth_store_stage_file(berth_store_t *st, berth_staged_t *out, berth_error_t *err) {
  for (int attempt = 0; attempt < 16; attempt++) {
    random_name(out->name, sizeof(out->name), "blob");
    int fd = openat(st->tmp_fd, out->name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
      out->fd = fd;
      out->is_dir = false;
      return 0;
    }
    if (errno != EEXIST)
      break;
  }
  out->name[0] = '\0';
  out->fd = -1;
  return berth_error_errno(err, "image store: creating a staging file in tmp/");
}

int berth_store_stage_dir(berth_store_t *st, berth_staged_t *out, berth_error_t *err) {
  for (int attempt = 0; attempt < 16; attempt++) {
    random_name(out->name, sizeof(out->name), "layer");
    if (mkdirat(st->tmp_fd, out->name, 0700) == 0)
      goto made;
    if (errno != EEXIST)
      break;
  }
  out->name[0] = '\0';
  out->fd = -1;
  return berth_error_errno(err, "image store: creating a staging directory in tmp/");
made:
  out->is_dir = true;
  char diff[sizeof(out->name) + 8];
  snprintf(diff, sizeof(diff), "%s/diff", out->name);
  if (mkdirat(st->tmp_fd, diff, 0755) < 0 ||
      (out->fd = openat(st->tmp_fd, diff, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
    int r = berth_error_errno(err, "image store: creating tmp/%s", diff);
    out->fd = -1;
    berth_store_staged_discard(st, out);
    return r;
  }
  return 0;
}

void berth_store_staged_discard(berth_store_t *st, berth_staged_t *s) {
  if (s->fd >= 0)
    close(s->fd);
  s->fd = -1;
  if (s->name[0] != '\0') {
    int r = store_rm_rf_at(st->tmp_fd, s->name);
    if (r < 0)
      log_warn("image store: removing tmp/%s: %s", s->name, strerror(-r));
  }
  s->name[0] = '\0';
}
