/* Layer unpacking (services/image/unpack*.c) against real archives written
 * here with libarchive: the normal entry kinds, whiteouts, compression
 * filters, and every hostile case (each refused with a message naming the
 * entry, the target directory left empty).
 *
 * The layers are unpacked in a child that is root of a new user namespace
 * mapped like berth-imaged's (0 -> 1879048192, 65536 ids): device nodes
 * cannot be created there, 0/0 whiteouts can, and the parent then checks on
 * the host that a setuid-root file is owned by the unprivileged range. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "tap.h"
#include "unpack.h"

#define NS_BASE 1879048192u
#define LAYER "sha256:1111111111111111111111111111111111111111111111111111111111111111"

/* ---- building tars in memory ---- */

typedef struct {
  const char *path;
  mode_t type; /* AE_IFREG, ...; 0 = hardlink */
  mode_t perm;
  const char *data;
  const char *link; /* symlink or hardlink target */
  int64_t uid, gid;
  dev_t rdev;
  const char *xattr_name, *xattr_value;
  size_t xattr_len; /* 0: strlen(xattr_value) */
  size_t zeros; /* data of this many zero bytes instead of data */
} ent_t;

typedef struct {
  unsigned char *p;
  size_t len, cap;
} buf_t;

static la_ssize_t buf_write(struct archive *a, void *ud, const void *data, size_t n) {
  buf_t *b = ud;
  if (b->len + n > b->cap) {
    size_t cap = (b->len + n) * 2;
    b->p = realloc(b->p, cap);
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
  return (la_ssize_t)n;
}

enum { F_NONE, F_GZIP, F_ZSTD, F_BZIP2, F_XZ };

static buf_t make_tar(const ent_t *ents, size_t n, int filter) {
  buf_t b = { 0 };
  struct archive *w = archive_write_new();
  archive_write_set_format_pax_restricted(w);
  if (filter == F_GZIP)
    archive_write_add_filter_gzip(w);
  else if (filter == F_ZSTD)
    archive_write_add_filter_zstd(w);
  else if (filter == F_BZIP2)
    archive_write_add_filter_bzip2(w);
  else if (filter == F_XZ)
    archive_write_add_filter_xz(w);
  archive_write_set_bytes_in_last_block(w, 1);
  archive_write_open2(w, &b, NULL, buf_write, NULL, NULL);
  for (size_t i = 0; i < n; i++) {
    const ent_t *x = &ents[i];
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, x->path);
    archive_entry_set_uid(e, x->uid);
    archive_entry_set_gid(e, x->gid);
    archive_entry_set_mtime(e, 1000000000 + (time_t)i, 0);
    size_t size = x->zeros ? x->zeros : x->data ? strlen(x->data) : 0;
    if (x->type == 0) {
      archive_entry_set_filetype(e, AE_IFREG);
      archive_entry_set_perm(e, 0644);
      archive_entry_set_hardlink(e, x->link);
      size = 0;
    } else {
      archive_entry_set_filetype(e, x->type);
      archive_entry_set_perm(e, x->perm ? x->perm : (x->type == AE_IFDIR ? 0755 : 0644));
      if (x->type == AE_IFLNK)
        archive_entry_set_symlink(e, x->link);
      if (x->type == AE_IFCHR || x->type == AE_IFBLK)
        archive_entry_set_rdev(e, x->rdev);
      if (x->type != AE_IFREG)
        size = 0;
    }
    archive_entry_set_size(e, (la_int64_t)size);
    if (x->xattr_name)
      archive_entry_xattr_add_entry(e, x->xattr_name, x->xattr_value,
                                    x->xattr_len ? x->xattr_len : strlen(x->xattr_value));
    archive_write_header(w, e);
    if (size && x->zeros) {
      void *z = calloc(1, x->zeros);
      archive_write_data(w, z, x->zeros);
      free(z);
    } else if (size) {
      archive_write_data(w, x->data, size);
    }
    archive_entry_free(e);
  }
  archive_write_close(w);
  archive_write_free(w);
  return b;
}

static int memfd_with(const void *p, size_t n) {
  int fd = memfd_create("layer", MFD_CLOEXEC);
  if (unpack_write_all(fd, p, n) < 0)
    abort();
  lseek(fd, 0, SEEK_SET);
  return fd;
}

static void sha256_hex(const void *p, size_t n, char out[UNPACK_DIGEST_LEN + 1]) {
  unsigned char d[32];
  unsigned dl;
  EVP_Digest(p, n, d, &dl, EVP_sha256(), NULL);
  memcpy(out, "sha256:", 7);
  unpack_hex(d, 32, out + 7);
}

/* ---- running one layer ---- */

static int work_fd; /* the test's directory */
static const char *work_path;
static int counter;

typedef struct {
  int rc;
  int status;
  char msg[1024];
  int dir;  /* the layer dir (open) */
  char name[32];
  int blob; /* the uncompressed tar written by pass 1 */
  char diff_id[UNPACK_DIGEST_LEN + 1];
  uint64_t size, content_size;
  unpack_skipped_t skipped;
} run_t;

static void run_free(run_t *r) {
  if (r->dir >= 0)
    close(r->dir);
  if (r->blob >= 0)
    close(r->blob);
  unpack_skipped_free(&r->skipped);
}

static run_t run_buf(const buf_t *b, uint64_t limit) {
  run_t r = { .dir = -1, .blob = -1 };
  snprintf(r.name, sizeof r.name, "layer%d", ++counter);
  if (mkdirat(work_fd, r.name, 0755) < 0)
    abort();
  r.dir = openat(work_fd, r.name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  r.blob = memfd_create("blob", MFD_CLOEXEC);
  int in = memfd_with(b->p, b->len);
  unpack_budget_t budget = { .limit = limit, .config_path = "/etc/berth/test.json" };
  berth_error_t err = NULL;
  r.rc = unpack_decompress(in, r.blob, LAYER, &budget, NULL, NULL, r.diff_id, &r.size, &err);
  if (r.rc == 0)
    r.rc = unpack_tar(r.blob, r.dir, LAYER, &r.skipped, &r.content_size, &err);
  close(in);
  if (r.rc < 0) {
    r.status = err ? err->status : -1;
    snprintf(r.msg, sizeof r.msg, "%s", err && err->msg ? err->msg : "(no message)");
    berth_error_release(&err);
  }
  return r;
}

static run_t run(const ent_t *ents, size_t n, int filter) {
  buf_t b = make_tar(ents, n, filter);
  run_t r = run_buf(&b, UINT64_MAX / 2);
  free(b.p);
  return r;
}

static bool dir_empty(int dir) {
  struct stat st;
  int fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = fdopendir(fd);
  bool empty = true;
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
      empty = false;
  closedir(d);
  (void)st;
  return empty;
}

static bool has(const char *hay, const char *needle) {
  return strstr(hay, needle) != NULL;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* A hostile layer: refused with status, the message naming the entry and
 * containing `why`, and the layer dir left empty. */
static void hostile(const char *label, const ent_t *ents, size_t n, int status, const char *entry, const char *why) {
  run_t r = run(ents, n, F_NONE);
  char quoted[512];
  snprintf(quoted, sizeof quoted, "entry \"%s\"", entry);
  tap_ok(r.rc < 0 && r.status == status && has(r.msg, quoted) && has(r.msg, why) && has(r.msg, LAYER),
         "%s: refused (%s)", label, r.msg);
  tap_ok(dir_empty(r.dir), "%s: layer dir left empty", label);
  run_free(&r);
}

/* ---- the cases ---- */

static const ent_t basic[] = {
  { .path = "./", .type = AE_IFDIR, .perm = 0755 },
  { .path = "bin/", .type = AE_IFDIR },
  { .path = "bin/sh", .type = AE_IFREG, .perm = 04755, .data = "#!busybox\n" },
  { .path = "bin/link", .type = AE_IFLNK, .link = "/bin/sh" },
  { .path = "bin/hard", .type = 0, .link = "bin/sh" },
  { .path = "home/u/", .type = AE_IFDIR, .perm = 0700, .uid = 1000, .gid = 1000 },
  { .path = "home/u/f", .type = AE_IFREG, .perm = 02640, .uid = 1000, .gid = 1000, .data = "x",
    .xattr_name = "user.test", .xattr_value = "v" },
  { .path = "home/u/t", .type = AE_IFREG, .data = "t", .xattr_name = "trusted.overlay.opaque", .xattr_value = "y" },
  { .path = "home/u/o", .type = AE_IFREG, .data = "o", .xattr_name = "user.overlay.redirect", .xattr_value = "/etc" },
  { .path = "run/fifo", .type = AE_IFIFO, .perm = 0620 },
  { .path = "etc/deep/file", .type = AE_IFREG, .data = "implicit parents" },
  { .path = "dev/null", .type = AE_IFCHR, .perm = 0666, .rdev = 0x103 },
  { .path = "dev/sda", .type = AE_IFBLK, .perm = 0660, .rdev = 0x800 },
  { .path = "dev/hl", .type = 0, .link = "dev/null" },
  { .path = ".wh.gone", .type = AE_IFREG },
  { .path = "opq/", .type = AE_IFDIR },
  { .path = "opq/.wh..wh..opq", .type = AE_IFREG },
  { .path = "opq/kept", .type = AE_IFREG, .data = "k" },
  { .path = "repl", .type = AE_IFREG, .data = "first" },
  { .path = "home/\xc3\xbc-utf8", .type = AE_IFREG, .data = "u" },
  /* file capability cap_net_raw+ep, struct vfs_cap_data revision 2 */
  { .path = "bin/ping", .type = AE_IFREG, .perm = 0755, .data = "ping",
    .xattr_name = "security.capability",
    .xattr_value = "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
    .xattr_len = 20 },
  { .path = "repl/", .type = AE_IFDIR },
};

static void test_basic(const char *keep_as) {
  buf_t b = make_tar(basic, N(basic), F_NONE);
  run_t r = run_buf(&b, UINT64_MAX / 2);
  tap_ok(r.rc == 0, "basic layer unpacks (%s)", r.rc ? r.msg : "ok");
  char want[UNPACK_DIGEST_LEN + 1];
  sha256_hex(b.p, b.len, want);
  tap_ok(strcmp(r.diff_id, want) == 0 && r.size == b.len, "diff_id is the sha256 of the uncompressed tar");
  tap_ok(r.content_size == 10 + 1 + 1 + 1 + 16 + 5 + 1 + 1 + 4, "content size counts regular files once (%llu)",
         (unsigned long long)r.content_size);
  unsigned char *blob = malloc(b.len + 1);
  ssize_t got = pread(r.blob, blob, b.len + 1, 0);
  tap_ok(got == (ssize_t)b.len && memcmp(blob, b.p, b.len) == 0, "the blob is the uncompressed tar byte for byte");
  free(blob);

  struct stat st, st2;
  tap_ok(fstatat(r.dir, "bin/sh", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
             (st.st_mode & 07777) == 04755 && st.st_uid == 0 && st.st_mtime == 1000000002,
         "setuid file: mode 4755, owner 0 (in the namespace), mtime kept");
  char lk[64] = "";
  tap_ok(readlinkat(r.dir, "bin/link", lk, sizeof lk - 1) == 7 && strcmp(lk, "/bin/sh") == 0,
         "absolute symlink kept as data");
  tap_ok(fstatat(r.dir, "bin/hard", &st2, AT_SYMLINK_NOFOLLOW) == 0 && st2.st_ino == st.st_ino,
         "hardlink shares the inode");
  tap_ok(fstatat(r.dir, "bin", &st, 0) == 0 && st.st_mtime == 1000000001, "directory mtime set after its children");
  tap_ok(fstatat(r.dir, "home/u/f", &st, 0) == 0 && st.st_uid == 1000 && st.st_gid == 1000 &&
             (st.st_mode & 07777) == 02640,
         "owner 1000:1000 and setgid mode kept");
  char v[16] = "";
  int fd = openat(r.dir, "home/u/f", O_RDONLY | O_CLOEXEC);
  tap_ok(fgetxattr(fd, "user.test", v, sizeof v) == 1 && v[0] == 'v', "user.* xattr kept");
  close(fd);
  fd = openat(r.dir, "home/u/t", O_RDONLY | O_CLOEXEC);
  tap_ok(fgetxattr(fd, "trusted.overlay.opaque", v, sizeof v) < 0, "trusted.* xattr dropped");
  close(fd);
  fd = openat(r.dir, "home/u/o", O_RDONLY | O_CLOEXEC);
  tap_ok(fgetxattr(fd, "user.overlay.redirect", v, sizeof v) < 0, "user.overlay.* from the tar dropped");
  close(fd);
  tap_ok(fstatat(r.dir, "run/fifo", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISFIFO(st.st_mode) &&
             (st.st_mode & 0777) == 0620,
         "fifo created with its mode");
  tap_ok(fstatat(r.dir, "etc/deep/file", &st, 0) == 0 && fstatat(r.dir, "etc/deep", &st2, 0) == 0 &&
             (st2.st_mode & 0777) == 0755 && st2.st_uid == 0,
         "missing parents created 0755 root");
  tap_ok(fstatat(r.dir, "dev/null", &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT &&
             fstatat(r.dir, "dev/sda", &st, AT_SYMLINK_NOFOLLOW) < 0 && fstatat(r.dir, "dev/hl", &st, 0) < 0,
         "device nodes (and a hardlink to one) not created");
  tap_ok(r.skipped.n == 3 && has(r.skipped.items[0], LAYER ": dev/null: device node not created") &&
             has(r.skipped.items[1], "dev/sda") && has(r.skipped.items[2], "dev/hl"),
         "skipped entries reported with layer and path (%zu: %s)", r.skipped.n,
         r.skipped.n ? r.skipped.items[0] : "");
  tap_ok(fstatat(r.dir, "gone", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0) &&
             fstatat(r.dir, ".wh.gone", &st, AT_SYMLINK_NOFOLLOW) < 0,
         ".wh.gone became a 0/0 character device 'gone'");
  fd = openat(r.dir, "opq", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  memset(v, 0, sizeof v);
  tap_ok(fgetxattr(fd, "user.overlay.opaque", v, sizeof v) == 1 && v[0] == 'y' &&
             fstatat(fd, ".wh..wh..opq", &st, 0) < 0 && fstatat(fd, "kept", &st, 0) == 0,
         ".wh..wh..opq became user.overlay.opaque=y");
  close(fd);
  tap_ok(fstatat(r.dir, "repl", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode), "a later entry replaces an earlier one");
  tap_ok(fstatat(r.dir, "home/\xc3\xbc-utf8", &st, 0) == 0, "a UTF-8 name is created byte for byte");
  unsigned char cap[32];
  fd = openat(r.dir, "bin/ping", O_RDONLY | O_CLOEXEC);
  ssize_t cl = fgetxattr(fd, "security.capability", cap, sizeof cap);
  tap_ok(cl >= 20 && (cap[4] | cap[5] << 8 | cap[6] << 16 | (unsigned)cap[7] << 24) == (1u << 13),
         "security.capability kept (cap_net_raw; %zd bytes)", cl);
  close(fd);
  if (keep_as)
    renameat(work_fd, r.name, work_fd, keep_as);

  const char *fname[] = { "", "gzip", "zstd", "bzip2", "xz" };
  for (int f = F_GZIP; f <= F_XZ; f++) {
    run_t c = run(basic, N(basic), f);
    tap_ok(c.rc == 0 && strcmp(c.diff_id, r.diff_id) == 0, "%s layer: same diff_id as plain (%s)", fname[f],
           c.rc ? c.msg : c.diff_id);
    run_free(&c);
  }
  run_free(&r);
  free(b.p);
}

static void test_empty_layer(void) {
  run_t r = run(NULL, 0, F_NONE);
  tap_ok(r.rc == 0 && strcmp(r.diff_id, "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef") == 0 &&
             dir_empty(r.dir),
         "empty layer: the well-known empty diff_id (%s)", r.rc ? r.msg : r.diff_id);
  run_free(&r);
}

static void test_hostile(void) {
  mkdirat(work_fd, "sentinel", 0755);
  char sentinel_abs[PATH_MAX];
  snprintf(sentinel_abs, sizeof sentinel_abs, "%s/sentinel", work_path);
  {
    ent_t e[] = { { .path = "ok", .type = AE_IFREG, .data = "x" }, { .path = "../evil", .type = AE_IFREG, .data = "x" } };
    hostile("'..' entry", e, N(e), EPERM, "../evil", "'..'");
  }
  {
    ent_t e[] = { { .path = "a/b/", .type = AE_IFDIR }, { .path = "a/b/../../../x", .type = AE_IFREG } };
    hostile("'..' in the middle", e, N(e), EPERM, "a/b/../../../x", "'..'");
  }
  {
    ent_t e[] = { { .path = "/etc/passwd", .type = AE_IFREG, .data = "root::0:0::/:/bin/sh\n" } };
    hostile("absolute path", e, N(e), EPERM, "/etc/passwd", "absolute path");
  }
  {
    ent_t e[] = { { .path = "link", .type = AE_IFLNK, .link = sentinel_abs },
                  { .path = "link/evil", .type = AE_IFREG, .data = "x" } };
    hostile("file written through a symlink", e, N(e), EPERM, "link/evil", "symlink");
    tap_ok(dir_empty(openat(work_fd, "sentinel", O_RDONLY | O_DIRECTORY | O_CLOEXEC)),
           "nothing written where the symlink points");
  }
  {
    ent_t e[] = { { .path = "d/", .type = AE_IFDIR }, { .path = "d/l", .type = AE_IFLNK, .link = "../.." },
                  { .path = "d/l/x", .type = AE_IFREG, .data = "x" } };
    hostile("file written through a relative symlink", e, N(e), EPERM, "d/l/x", "symlink");
  }
  {
    ent_t e[] = { { .path = "h", .type = 0, .link = "../../etc/shadow" } };
    hostile("hardlink outside the layer ('..')", e, N(e), EPERM, "h", "hardlink target has a '..'");
  }
  {
    ent_t e[] = { { .path = "h", .type = 0, .link = "/etc/shadow" } };
    hostile("hardlink outside the layer (absolute)", e, N(e), EPERM, "h", "hardlink target is an absolute path");
  }
  {
    ent_t e[] = { { .path = "s", .type = AE_IFLNK, .link = "/etc" }, { .path = "h", .type = 0, .link = "s/shadow" } };
    hostile("hardlink through a symlink", e, N(e), EPERM, "h", "symlink");
  }
  {
    ent_t e[] = { { .path = "h", .type = 0, .link = "later" }, { .path = "later", .type = AE_IFREG, .data = "x" } };
    hostile("hardlink to an entry not yet extracted", e, N(e), EPERM, "h", "not (yet) extracted");
  }
  {
    ent_t e[] = { { .path = "big", .type = AE_IFREG, .uid = 70000, .data = "x" } };
    hostile("uid over 65535", e, N(e), EPERM, "big", "outside 0..65535");
  }
  {
    ent_t e[] = { { .path = "bigg", .type = AE_IFREG, .gid = 65536, .data = "x" } };
    hostile("gid over 65535", e, N(e), EPERM, "bigg", "outside 0..65535");
  }
  {
    char longname[300];
    memset(longname, 'n', 299);
    longname[299] = '\0';
    ent_t e[] = { { .path = longname, .type = AE_IFREG } };
    char shown[300]; /* messages cut long names: 252 characters and "..." */
    snprintf(shown, sizeof shown, "%.252s...", longname);
    hostile("component over NAME_MAX", e, N(e), ENAMETOOLONG, shown, "NAME_MAX");
  }
  {
    ent_t e[] = { { .path = "f", .type = AE_IFREG, .data = "x" }, { .path = "f/x", .type = AE_IFREG } };
    hostile("file under a file", e, N(e), EPERM, "f/x", "not a directory");
  }
  {
    /* 1500 nested directories, then a hostile entry: the cleanup must cope. */
    static char deep[3200];
    size_t o = 0;
    for (int i = 0; i < 1500; i++) {
      deep[o++] = 'a';
      deep[o++] = '/';
    }
    strcpy(deep + o, "f");
    ent_t e[] = { { .path = deep, .type = AE_IFREG, .data = "x" }, { .path = "../x", .type = AE_IFREG } };
    hostile("1500 levels deep, then '..'", e, N(e), EPERM, "../x", "'..'");
  }
}

static void test_bomb_and_truncation(void) {
  ent_t e[] = { { .path = "zeros", .type = AE_IFREG, .zeros = 8 << 20 } };
  buf_t b = make_tar(e, 1, F_GZIP);
  run_t r = run_buf(&b, 1 << 20);
  struct stat st;
  fstat(r.blob, &st);
  tap_ok(r.rc < 0 && r.status == EFBIG && has(r.msg, "layer " LAYER ": uncompressed size exceeds image-max-uncompressed-bytes (1048576 bytes, set in /etc/berth/test.json)"),
         "decompression bomb (%zu bytes gzip, 8 MiB) over a 1 MiB limit refused (%s)", b.len, r.msg);
  tap_ok(st.st_size <= (1 << 20), "stopped at the limit (%lld bytes written)", (long long)st.st_size);
  tap_ok(dir_empty(r.dir), "nothing unpacked");
  run_free(&r);
  free(b.p);
  b = make_tar(e, 1, F_NONE);
  r = run_buf(&b, 1 << 20);
  tap_ok(r.rc == 0, "a plain (uncompressed) layer is not an expansion: not counted (%s)", r.rc ? r.msg : "ok");
  run_free(&r);
  free(b.p);

  /* Incompressible content so that half the gzip stream is a real cut. */
  size_t n = 256 << 10;
  char *data = malloc(n + 1);
  uint32_t x = 12345;
  for (size_t i = 0; i < n; i++) {
    x = x * 1103515245 + 12345;
    data[i] = (char)('A' + (x >> 16) % 26);
  }
  data[n] = '\0';
  ent_t t[] = { { .path = "rand", .type = AE_IFREG, .data = data } };
  b = make_tar(t, 1, F_GZIP);
  b.len /= 2;
  r = run_buf(&b, UINT64_MAX / 2);
  tap_ok(r.rc < 0 && r.status == EBADMSG && has(r.msg, LAYER) && has(r.msg, "truncated"),
         "truncated gzip stream refused (%s)", r.msg);
  tap_ok(dir_empty(r.dir), "truncated: nothing unpacked");
  run_free(&r);
  free(b.p);
  b = make_tar(t, 1, F_NONE);
  b.len = 2000;
  r = run_buf(&b, UINT64_MAX / 2);
  tap_ok(r.rc < 0 && r.status == EBADMSG && has(r.msg, "rand"), "truncated plain tar refused (%s)", r.msg);
  tap_ok(dir_empty(r.dir), "truncated tar: the dir left empty");
  run_free(&r);
  free(b.p);
  free(data);
}

static void test_devices_in_ns(bool in_ns) {
  int r = mknodat(work_fd, "realnull", S_IFCHR | 0666, makedev(1, 3));
  int e = errno;
  if (in_ns)
    tap_ok(r < 0 && e == EPERM, "a real device node cannot be created in the namespace (EPERM)");
  else
    unlinkat(work_fd, "realnull", 0);
  r = mknodat(work_fd, "wh", S_IFCHR, makedev(0, 0));
  tap_ok(r == 0, "a 0/0 whiteout device can be created");
  unlinkat(work_fd, "wh", 0);
}

static void run_all(bool in_ns) {
  test_devices_in_ns(in_ns);
  test_basic("kept");
  test_empty_layer();
  test_hostile();
  test_bomb_and_truncation();
}

/* ---- the user namespace ---- */

static int write_file(const char *path, const char *s) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  int r = unpack_write_all(fd, s, strlen(s));
  close(fd);
  return r;
}

int main(void) {
  if (geteuid() != 0)
    return tap_skip_all("needs root (to map a user namespace like berth-imaged's)");
  char dir[] = "/tmp/berth-test-unpack-XXXXXX";
  if (mkdtemp(dir) == NULL)
    return tap_skip_all("mkdtemp failed");
  chmod(dir, 0755);
  int go[2], done[2];
  if (pipe2(go, O_CLOEXEC) < 0 || pipe2(done, O_CLOEXEC) < 0)
    abort();
  if (chown(dir, NS_BASE, NS_BASE) < 0)
    abort();
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(go[1]);
    close(done[0]);
    bool in_ns = unshare(CLONE_NEWUSER) == 0;
    char c = 0;
    if (unpack_write_all(done[1], in_ns ? "u" : "n", 1) < 0 || read(go[0], &c, 1) != 1)
      _exit(99);
    if (in_ns && (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0))
      _exit(98);
    if (!in_ns) {
      tap_diag("no user namespace here (%s): running as plain root", strerror(errno));
      if (chown(dir, 0, 0) < 0)
        _exit(97);
    }
    work_path = dir;
    work_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    run_all(in_ns);
    int counts[2] = { tap_count, tap_failures };
    if (unpack_write_all(done[1], counts, sizeof counts) < 0)
      _exit(96);
    _exit(0);
  }
  close(go[0]);
  close(done[1]);
  char mode = 0;
  if (read(done[0], &mode, 1) != 1)
    abort();
  bool in_ns = mode == 'u';
  if (in_ns) {
    char path[64], map[64];
    snprintf(map, sizeof map, "0 %u 65536\n", NS_BASE);
    snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
    if (write_file(path, map) < 0)
      abort();
    snprintf(path, sizeof path, "/proc/%d/gid_map", (int)pid);
    if (write_file(path, map) < 0)
      abort();
  }
  if (unpack_write_all(go[1], "g", 1) < 0)
    abort();
  int counts[2] = { 0, 0 };
  ssize_t n = read(done[0], counts, sizeof counts);
  int status;
  waitpid(pid, &status, 0);
  tap_count = counts[0];
  tap_failures = counts[1];
  if (n != sizeof counts)
    tap_ok(0, "the unpacking child finished (status %d)", status);

  /* Back on the host: what the namespace's root created is not host root's. */
  int wd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  struct stat st;
  if (in_ns) {
    tap_ok(fstatat(wd, "kept/bin/sh", &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_uid == NS_BASE && st.st_gid == NS_BASE &&
               (st.st_mode & S_ISUID),
           "on the host the setuid file belongs to %u (the unprivileged range), not root", NS_BASE);
    tap_ok(fstatat(wd, "kept/home/u/f", &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_uid == NS_BASE + 1000,
           "uid 1000 in the layer is %u on the host", NS_BASE + 1000);
    /* The kernel stored the file capability namespaced (revision 3, rootid =
     * the namespace's root): it grants nothing to host root. */
    unsigned char cap[32] = { 0 };
    int fd = openat(wd, "kept/bin/ping", O_RDONLY | O_CLOEXEC);
    ssize_t cl = fgetxattr(fd, "security.capability", cap, sizeof cap);
    close(fd);
    unsigned rootid = cap[20] | cap[21] << 8 | cap[22] << 16 | (unsigned)cap[23] << 24;
    tap_ok(cl == 24 && cap[3] == 3 && rootid == NS_BASE,
           "on the host the file capability is namespaced (v3, rootid %u)", rootid);
  }
  berth_error_t err = NULL;
  int tmp = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (unpack_remove_at(tmp, dir + 5, &err) < 0)
    berth_error_print(&err, stderr, "cleanup");
  close(tmp);
  close(wd);
  return tap_done();
}
