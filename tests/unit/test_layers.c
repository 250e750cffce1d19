/* The executor's resolver for berth-imaged's store (services/executor/
 * layers.c): chain id syntax, openat2 resolution that refuses symlinks and
 * mount points planted anywhere on the way, missing layers, and the
 * creation and checks of DATA_ROOT/image. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "layers.h"
#include "tap.h"

#define HEX_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX_B "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
#define HEX_C "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_D "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
#define HEX_E "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"

static char top[] = "/tmp/berth-test-layers.XXXXXX";
static char store[256];
static int store_fd = -1;

static void sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sh(const char *fmt, ...) {
  char cmd[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  if (system(cmd) != 0)
    tap_diag("command failed: %s", cmd);
}

/* errno status of layers_open_diff (0 = opened a directory); msg gets the error. */
static int open_status(const char *id, char *msg, size_t len) {
  berth_error_t err = NULL;
  int fd = layers_open_diff(store_fd, id, &err);
  snprintf(msg, len, "%s", err && err->msg ? err->msg : "");
  int st = fd < 0 ? (err ? err->status : -1) : 0;
  if (fd >= 0) {
    struct stat s;
    int fl = fcntl(fd, F_GETFL);
    if (fstat(fd, &s) < 0 || !S_ISDIR(s.st_mode) || !(fl & O_PATH) || !(fcntl(fd, F_GETFD) & FD_CLOEXEC))
      st = -2;
    close(fd);
  }
  berth_error_release(&err);
  return st;
}

static void test_syntax(void) {
  static const char *const good[] = {"sha256:" HEX_A, "sha256:" HEX_B, "sha256:" HEX_C};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
    tap_ok(layers_valid_chain_id(good[i]), "valid chain id %.20s...", good[i]);
  static const struct {
    const char *id, *why;
  } bad[] = {
      {"sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef", "uppercase hex"},
      {"SHA256:" HEX_A, "uppercase algorithm"},
      {"sha256:" HEX_A "0", "65 hex digits"},
      {"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde", "63 hex digits (short)"},
      {"sha256:", "no digest"},
      {"", "empty"},
      {HEX_A, "no algorithm"},
      {"sha512:" HEX_A HEX_A, "another algorithm (sha512)"},
      {"sha384:" HEX_A, "another algorithm with 64 digits"},
      {"sha256:../../../../../../../../../../../../../../../../../../../../../../etc", "'../'"},
      {"sha256:" HEX_A "/x", "64 hex then '/x'"},
      {"sha256:" HEX_A "/../" HEX_B, "64 hex then '/../'"},
      {"sha256:../" HEX_A, "'../' then 64 hex"},
      {" sha256:" HEX_A, "a leading space"},
      {"sha256:" HEX_A "\n", "a trailing newline"},
      {"sha256:0123456789abcdef0123456789abcdeg0123456789abcdef0123456789abcdef", "a non-hex letter"},
      {"sha256:" HEX_A ":", "a trailing colon"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char msg[256];
    int st = open_status(bad[i].id, msg, sizeof msg);
    tap_ok(!layers_valid_chain_id(bad[i].id) && st == EINVAL, "malformed chain id refused with EINVAL: %s (%s)",
           bad[i].why, msg);
  }
  tap_ok(!layers_valid_chain_id(NULL), "NULL is not a chain id");
}

static void test_resolve(void) {
  char msg[512];
  sh("mkdir -p %s/layers/%s/diff %s/layers/%s/diff", store, HEX_A, store, HEX_B);
  tap_ok(open_status("sha256:" HEX_A, msg, sizeof msg) == 0,
         "an existing layer opens as an O_PATH, close-on-exec directory fd");

  int st = open_status("sha256:" HEX_C, msg, sizeof msg);
  tap_ok(st == ENOENT && strstr(msg, "sha256:" HEX_C), "a missing layer is ENOENT naming the chain id (%s)", msg);
  sh("mkdir -p %s/layers/%s", store, HEX_C);
  st = open_status("sha256:" HEX_C, msg, sizeof msg);
  tap_ok(st == ENOENT && strstr(msg, "sha256:" HEX_C), "a layer without its diff dir is ENOENT (%s)", msg);

  /* Symlinks planted by a compromised imaged: even ones pointing inside the store. */
  sh("mkdir -p %s/elsewhere/diff && ln -s ../elsewhere %s/layers/%s", store, store, HEX_D);
  st = open_status("sha256:" HEX_D, msg, sizeof msg);
  tap_ok(st == ELOOP, "a symlink at layers/<hex> is refused (%s)", msg);
  sh("mkdir -p %s/layers/%s && ln -s / %s/layers/%s/diff", store, HEX_E, store, HEX_E);
  st = open_status("sha256:" HEX_E, msg, sizeof msg);
  tap_ok(st == ELOOP, "a symlink at layers/<hex>/diff (to /) is refused (%s)", msg);
  sh("rm -rf %s/layers/%s && mkdir -p %s/layers/%s && ln -s %s/layers/%s/diff %s/layers/%s/diff", store, HEX_E, store,
     HEX_E, store, HEX_A, store, HEX_E);
  st = open_status("sha256:" HEX_E, msg, sizeof msg);
  tap_ok(st == ELOOP, "an absolute symlink at diff to another layer is refused (%s)", msg);
  sh("rm -rf %s/layers/%s && mkdir -p %s/layers/%s && touch %s/layers/%s/diff", store, HEX_E, store, HEX_E, store, HEX_E);
  st = open_status("sha256:" HEX_E, msg, sizeof msg);
  tap_ok(st == ENOTDIR, "a regular file at diff is refused (%s)", msg);

  char *ids_ok[] = {"sha256:" HEX_A, "sha256:" HEX_B};
  char *ids_bad[] = {"sha256:" HEX_A, "sha256:" HEX_D, "sha256:" HEX_B};
  berth_error_t err = NULL;
  tap_ok(layers_check(store_fd, ids_ok, 2, &err) == 0 && layers_check(store_fd, NULL, 0, &err) == 0,
         "layers_check: every layer present (and an empty chain) is fine");
  int r = layers_check(store_fd, ids_bad, 3, &err);
  tap_ok(r < 0 && err && err->status == ELOOP && strstr(err->msg, HEX_D), "layers_check stops at the bad layer (%s)",
         err ? err->msg : "");
  berth_error_release(&err);

  /* The whole layers dir replaced by a symlink to a look-alike tree. */
  sh("mv %s/layers %s/real-layers && mkdir -p %s/fake/layers/%s/diff && ln -s fake/layers %s/layers", store, store,
     top, HEX_A, store);
  st = open_status("sha256:" HEX_A, msg, sizeof msg);
  tap_ok(st == ELOOP, "a symlink at layers itself is refused (%s)", msg);
  sh("rm %s/layers && mv %s/real-layers %s/layers", store, store, store);
}

/* RESOLVE_NO_XDEV: a mount point on the way is refused. Needs a mount
 * namespace of its own (root); runs in a child. */
static void test_mount_point(void) {
  if (geteuid() != 0) {
    tap_ok(1, "# SKIP mount point refused (needs root)");
    return;
  }
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    char path[512];
    snprintf(path, sizeof path, "%s/layers/%s/diff", store, HEX_B);
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
        mount("tmpfs", path, "tmpfs", 0, "size=64k") < 0)
      _exit(99);
    /* The fd we had points into the old mount namespace: reopen. */
    close(store_fd);
    if ((store_fd = open(store, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
      _exit(99);
    char msg[256];
    int st = open_status("sha256:" HEX_B, msg, sizeof msg);
    if (st != EXDEV)
      tap_diag("got %d: %s", st, msg);
    _exit(st == EXDEV ? 0 : 1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 99)
    tap_ok(1, "# SKIP mount point refused (cannot mount tmpfs here)");
  else
    tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a mount point at diff is refused (EXDEV)");
}

static int prepare(const char *root, uid_t uid, gid_t gid, char *msg, size_t len) {
  berth_error_t err = NULL;
  int fd = layers_prepare_store(root, uid, gid, &err);
  snprintf(msg, len, "%s", err && err->msg ? err->msg : "");
  int st = fd < 0 ? (err ? err->status : -1) : 0;
  if (fd >= 0)
    close(fd);
  berth_error_release(&err);
  return st;
}

static void test_prepare(void) {
  if (geteuid() != 0) {
    tap_ok(1, "# SKIP DATA_ROOT/image creation (needs root to chown)");
    return;
  }
  const uid_t uid = 1879048192;
  const gid_t gid = 1879048193;
  char root[300], img[320], msg[512];
  struct stat st;
  snprintf(root, sizeof root, "%s/data", top);
  snprintf(img, sizeof img, "%s/image", root);
  mkdir(root, 0711);
  int r = prepare(root, uid, gid, msg, sizeof msg);
  tap_ok(r == 0 && lstat(img, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700 && st.st_uid == uid &&
             st.st_gid == gid,
         "DATA_ROOT/image is created 0700 and owned by imaged's namespace root (%s)", msg);
  chmod(img, 0755);
  r = prepare(root, uid, gid, msg, sizeof msg);
  tap_ok(r == 0 && stat(img, &st) == 0 && (st.st_mode & 07777) == 0700, "an existing one is kept, its mode reset to 0700");
  r = prepare(root, uid + 1, gid, msg, sizeof msg);
  tap_ok(r == EPERM && strstr(msg, img), "one owned by another id is refused, naming it (%s)", msg);
  r = prepare(root, uid, gid + 1, msg, sizeof msg);
  tap_ok(r == EPERM, "one owned by another group is refused");

  sh("mv %s %s.real && ln -s %s.real %s", img, img, img, img);
  r = prepare(root, uid, gid, msg, sizeof msg);
  tap_ok(r == ENOTDIR && lstat(img, &st) == 0 && S_ISLNK(st.st_mode), "a symlink at DATA_ROOT/image is refused, not followed (%s)", msg);
  sh("rm %s && touch %s", img, img);
  r = prepare(root, uid, gid, msg, sizeof msg);
  tap_ok(r == ENOTDIR, "a regular file at DATA_ROOT/image is refused (%s)", msg);
  sh("rm -f %s && rm -rf %s.real", img, img);

  chmod(root, 0700);
  r = prepare(root, uid, gid, msg, sizeof msg);
  tap_ok(r == EACCES && strstr(msg, root), "a data root others cannot search is refused (%s)", msg);
  chmod(root, 0711);
  chmod(top, 0700);
  r = prepare(root, uid, gid, msg, sizeof msg);
  tap_ok(r == EACCES && strstr(msg, top), "so is one below a directory others cannot search (%s)", msg);
  chmod(top, 0711);
}

int main(void) {
  if (mkdtemp(top) == NULL)
    return tap_skip_all("mkdtemp failed");
  chmod(top, 0711);
  snprintf(store, sizeof store, "%s/store", top);
  mkdir(store, 0700);
  store_fd = open(store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (store_fd < 0)
    return tap_skip_all("cannot open the test store");
  test_syntax();
  test_resolve();
  test_mount_point();
  test_prepare();
  close(store_fd);
  sh("rm -rf %s", top);
  return tap_done();
}
