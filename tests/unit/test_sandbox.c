/* The per-service seccomp filters, tested on real processes: each case forks
 * a child that installs one service's filter and then tries one thing; the
 * parent judges by the child's exit status (exit code = what the call
 * returned, SIGSYS = killed by the filter). Children leave with _exit so the
 * sanitizer runtimes' exit hooks (LeakSanitizer's ptrace) never run under the filter. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <linux/openat2.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include "service.h"

#define RC_OK 0
#define RC_EPERM 1
#define RC_OTHER 2
#define RC_SETUP 3

static int test_no;
static int failures;
static pid_t victim; /* a process for ptrace to aim at */
static char tmpdir[] = "/tmp/berth-sandbox-XXXXXX";

static void report(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(int ok, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("%s %d - ", ok ? "ok" : "not ok", ++test_no);
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  fflush(stdout);
  if (!ok)
    failures++;
}

/* The child's verdict on one call's result. */
static int verdict(long r) {
  if (r >= 0)
    return RC_OK;
  return errno == EPERM ? RC_EPERM : RC_OTHER;
}

typedef int (*probe_fn)(void);

static int run_child(Berth__Ipc__Peer peer, probe_fn fn) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    berth_error_t err = NULL;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
      _exit(RC_SETUP);
    if (berth_sandbox_apply(peer, &err) < 0) {
      berth_error_print(&err, stderr, "berth_sandbox_apply");
      _exit(RC_SETUP);
    }
    _exit(fn());
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR)
      return -1;
  return status;
}

static const char *describe(int status, char *buf, size_t len) {
  if (WIFEXITED(status))
    snprintf(buf, len, "exit %d", WEXITSTATUS(status));
  else if (WIFSIGNALED(status))
    snprintf(buf, len, "signal %s", strsignal(WTERMSIG(status)));
  else
    snprintf(buf, len, "status 0x%x", status);
  return buf;
}

/* ---- probes ---- */

static int probe_ordinary(void) {
  char buf[256];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0 || read(fd, buf, sizeof buf) <= 0 || close(fd) < 0)
    return 10;
  void *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED || munmap(p, 1 << 20) < 0)
    return 11;
  struct timespec ts;
  if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0 || getpid() <= 0)
    return 12;
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0)
    return 13;
  close(ep);
  int sv[2];
  if (pipe2(sv, O_CLOEXEC) < 0 || write(sv[1], "x", 1) != 1 || read(sv[0], buf, 1) != 1)
    return 14;
  char *heap = malloc(1 << 22); /* large: mmap-backed */
  if (heap == NULL)
    return 15;
  memset(heap, 1, 1 << 22);
  free(heap);
  struct timespec nap = { 0, 1000 };
  if (nanosleep(&nap, NULL) < 0)
    return 16;
  return RC_OK;
}

static void *thread_main(void *arg) {
  return arg;
}
/* pthread_create: clone3 answers ENOSYS, glibc falls back to clone. */
static int probe_thread(void) {
  pthread_t t;
  void *res = NULL;
  if (pthread_create(&t, NULL, thread_main, (void *)42) != 0 || pthread_join(t, &res) != 0)
    return 20;
  return res == (void *)42 ? RC_OK : 21;
}

static int probe_mount(void) {
  return verdict(mount("none", "/mnt", "tmpfs", 0, NULL));
}
static int probe_unshare(void) {
  return verdict(unshare(CLONE_NEWNS));
}
static int probe_clone_newuser(void) {
  long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (r == 0)
    _exit(0);
  return verdict(r);
}
static int probe_setns(void) {
  return verdict(setns(-1, 0));
}
static int probe_ptrace(void) {
  return verdict(ptrace(PTRACE_ATTACH, victim, 0, 0));
}
static int probe_keyctl(void) {
  return verdict(syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
}
static int probe_execve(void) {
  char *argv[] = { "/bin/true", NULL };
  char *envp[] = { NULL };
  return verdict(execve("/bin/true", argv, envp));
}
static int probe_bpf(void) {
  return verdict(syscall(SYS_bpf, 0, 0, 0));
}
static int probe_write_open(void) {
  char path[sizeof tmpdir + 16];
  snprintf(path, sizeof path, "%s/f%d", tmpdir, (int)getpid());
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    close(fd);
    unlink(path);
  }
  return verdict(fd);
}
static int probe_inet_socket(void) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0)
    close(fd);
  return verdict(fd);
}
/* apid's channel to a container's monitor: an AF_UNIX SEQPACKET socketpair. */
static int probe_unix_socketpair(void) {
  int sv[2];
  int r = socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
  if (r == 0) {
    close(sv[0]);
    close(sv[1]);
  }
  return verdict(r);
}
static int probe_netlink_socket(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, 0 /* NETLINK_ROUTE */);
  if (fd >= 0)
    close(fd);
  return verdict(fd);
}
static int probe_packet_socket(void) {
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd >= 0)
    close(fd);
  return verdict(fd);
}
static int probe_mknod(void) {
  char path[sizeof tmpdir + 16];
  snprintf(path, sizeof path, "%s/n%d", tmpdir, (int)getpid());
  int r = mknodat(AT_FDCWD, path, S_IFCHR | 0600, makedev(1, 3));
  if (r == 0)
    unlink(path);
  return verdict(r);
}
/* mknodat in tmpdir with this mode and device; removes what it made. */
static int try_mknod(bool legacy, mode_t mode, dev_t dev) {
  char path[sizeof tmpdir + 16];
  snprintf(path, sizeof path, "%s/m%d", tmpdir, (int)getpid());
  long r = legacy ? syscall(SYS_mknod, path, mode, dev) : mknodat(AT_FDCWD, path, mode, dev);
  if (r == 0)
    unlink(path);
  return verdict(r);
}
/* overlayfs's whiteout: a character device 0/0 */
static int probe_whiteout(void) {
  return try_mknod(false, S_IFCHR | 0000, makedev(0, 0));
}
static int probe_whiteout_legacy(void) {
  return try_mknod(true, S_IFCHR | 0000, makedev(0, 0));
}
static int probe_mknod_legacy_device(void) {
  return try_mknod(true, S_IFCHR | 0600, makedev(1, 3));
}
static int probe_blockdev_zero(void) {
  return try_mknod(false, S_IFBLK | 0600, makedev(0, 0));
}
static int probe_blockdev(void) {
  return try_mknod(false, S_IFBLK | 0600, makedev(7, 0));
}
static int probe_fifo(void) {
  return try_mknod(false, S_IFIFO | 0600, 0);
}
static int probe_mknod_socket(void) {
  return try_mknod(false, S_IFSOCK | 0600, 0);
}

/* A sealed memfd, as imaged's Document replies are. */
static int probe_memfd_seal(void) {
  int fd = memfd_create("doc", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0)
    return verdict(fd);
  if (write(fd, "{}", 2) != 2 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
    return verdict(-1);
  close(fd);
  return RC_OK;
}

/* Reading a memfd made before the filter (the one a Document reply brings). */
static int memfd_in = -1;
static int probe_memfd_read(void) {
  char buf[8];
  struct stat st;
  if (fstat(memfd_in, &st) < 0 || pread(memfd_in, buf, 2, 0) != 2 || fcntl(memfd_in, F_GET_SEALS) < 0)
    return verdict(-1);
  void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, memfd_in, 0);
  if (p == MAP_FAILED)
    return verdict(-1);
  int ok = memcmp(p, "{}", 2) == 0;
  munmap(p, (size_t)st.st_size);
  return ok ? RC_OK : RC_OTHER;
}

/* What SQLite (WAL) and the blob store do to a file, from a worker thread. */
static void *store_calls(void *arg) {
  char path[sizeof tmpdir + 16], dst[sizeof tmpdir + 16];
  snprintf(path, sizeof path, "%s/db%d", tmpdir, (int)getpid());
  snprintf(dst, sizeof dst, "%s/dbr%d", tmpdir, (int)getpid());
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  long r = fd;
  struct flock lk = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1 };
  char buf[4096] = { 0 };
  if (r >= 0)
    r = fcntl(fd, F_SETLK, &lk);
  if (r >= 0)
    r = pwrite(fd, buf, sizeof buf, 0) == (ssize_t)sizeof buf && pread(fd, buf, sizeof buf, 0) == (ssize_t)sizeof buf ? 0 : -1;
  if (r >= 0)
    r = ftruncate(fd, 8192);
  if (r >= 0)
    r = fallocate(fd, 0, 0, 16384);
  void *m = r >= 0 ? mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) : MAP_FAILED;
  if (r >= 0 && m == MAP_FAILED)
    r = -1;
  if (m != MAP_FAILED)
    munmap(m, 8192);
  if (r >= 0)
    r = fsync(fd) < 0 || fdatasync(fd) < 0 ? -1 : 0;
  if (r >= 0)
    r = syscall(SYS_renameat2, AT_FDCWD, path, AT_FDCWD, dst, RENAME_NOREPLACE);
  if (r >= 0)
    r = unlinkat(AT_FDCWD, dst, 0);
  if (fd >= 0)
    close(fd);
  *(int *)arg = verdict(r);
  return NULL;
}
static int probe_store_calls(void) {
  pthread_t t;
  int rc = RC_OTHER;
  if (pthread_create(&t, NULL, store_calls, &rc) != 0 || pthread_join(t, NULL) != 0)
    return 20;
  return rc;
}

/* Opening below a dir fd the way the unpacker does. */
static int probe_openat2(void) {
  int dir = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0)
    return verdict(dir);
  struct open_how how = { .flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC,
                          .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
  long fd = syscall(SYS_openat2, dir, ".", &how, sizeof how);
  close(dir);
  if (fd >= 0)
    close((int)fd);
  return verdict(fd);
}

/* An opaque directory: user.overlay.opaque = "y" on a dir fd. */
static int probe_opaque_xattr(void) {
  char path[sizeof tmpdir + 16];
  snprintf(path, sizeof path, "%s/o%d", tmpdir, (int)getpid());
  if (mkdir(path, 0755) < 0)
    return verdict(-1);
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  long r = fd < 0 ? -1 : fsetxattr(fd, "user.overlay.opaque", "y", 1, 0);
  char v[4];
  if (r >= 0)
    r = fgetxattr(fd, "user.overlay.opaque", v, sizeof v) == 1 && v[0] == 'y' ? 0 : -1;
  int saved = errno;
  if (fd >= 0)
    close(fd);
  rmdir(path);
  errno = saved;
  return verdict(r);
}

static int probe_kill_other(void) {
  return verdict(kill(victim, 0));
}
static int probe_abort(void) {
  abort();
}

/* ---- expectations ---- */

enum expect { WORKS, REFUSED, KILLED, SIGNAL_ABRT };

static void expect(Berth__Ipc__Peer peer, const char *what, probe_fn fn, enum expect want) {
  int st = run_child(peer, fn);
  char buf[64];
  int ok;
  switch (want) {
  case WORKS:
    ok = st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == RC_OK;
    break;
  case REFUSED:
    ok = st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == RC_EPERM;
    break;
  case KILLED:
    ok = st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS;
    break;
  default:
    ok = st >= 0 && WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT;
    break;
  }
  static const char *const words[] = { "works", "is refused (EPERM)", "kills the process (SIGSYS)",
                                       "raises SIGABRT on itself" };
  report(ok, "%s: %s %s (%s)", berth_peer_name(peer), what, words[want], describe(st, buf, sizeof buf));
}

int main(void) {
  if (geteuid() != 0) {
    printf("1..0 # SKIP needs root (ptrace/mount probes must be refused by the filter, not by permissions)\n");
    return 0;
  }
  if (mkdtemp(tmpdir) == NULL) {
    printf("1..0 # SKIP mkdtemp: %s\n", strerror(errno));
    return 0;
  }
  victim = fork();
  if (victim == 0) {
    pause();
    _exit(0);
  }

  static const Berth__Ipc__Peer peers[] = { BERTH__IPC__PEER__PEER_API, BERTH__IPC__PEER__PEER_IMAGE,
                                            BERTH__IPC__PEER__PEER_NET };
  memfd_in = memfd_create("doc-in", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (memfd_in < 0 || write(memfd_in, "{}", 2) != 2 || fcntl(memfd_in, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
    printf("Bail out! memfd fixture: %s\n", strerror(errno));
    return 1;
  }
  printf("1..%d\n", 3 * 29 + 1);
  for (size_t i = 0; i < 3; i++) {
    Berth__Ipc__Peer p = peers[i];
    expect(p, "ordinary calls (read /proc, mmap, epoll, pipe, malloc)", probe_ordinary, WORKS);
    expect(p, "a thread (pthread_create)", probe_thread, WORKS);
    expect(p, "mount", probe_mount, KILLED);
    expect(p, "unshare(CLONE_NEWNS)", probe_unshare, KILLED);
    expect(p, "clone(CLONE_NEWUSER)", probe_clone_newuser, KILLED);
    expect(p, "setns", probe_setns, KILLED);
    expect(p, "ptrace(PTRACE_ATTACH) of another process", probe_ptrace, KILLED);
    expect(p, "keyctl", probe_keyctl, KILLED);
    expect(p, "execve", probe_execve, KILLED);
    expect(p, "bpf", probe_bpf, KILLED);
    expect(p, "mknodat of a device", probe_mknod, REFUSED);
    expect(p, "kill() of another process", probe_kill_other, REFUSED);
    expect(p, "abort()", probe_abort, SIGNAL_ABRT);
    /* apid writes its container database (test_ctr_store runs the real registry under this filter). */
    expect(p, "open for writing", probe_write_open, p != BERTH__IPC__PEER__PEER_NET ? WORKS : REFUSED);
    expect(p, "socketpair(AF_UNIX, SOCK_SEQPACKET)", probe_unix_socketpair,
           p == BERTH__IPC__PEER__PEER_API ? WORKS : REFUSED);
    expect(p, "socket(AF_NETLINK)", probe_netlink_socket, p == BERTH__IPC__PEER__PEER_NET ? WORKS : REFUSED);
    expect(p, "socket(AF_INET)", probe_inet_socket, p == BERTH__IPC__PEER__PEER_NET ? WORKS : REFUSED);
    bool image = p == BERTH__IPC__PEER__PEER_IMAGE;
    expect(p, "mknodat of a whiteout (char device 0/0)", probe_whiteout, image ? WORKS : REFUSED);
    expect(p, "mknod (legacy) of a whiteout", probe_whiteout_legacy, image ? WORKS : REFUSED);
    expect(p, "mknod (legacy) of char device 1:3", probe_mknod_legacy_device, REFUSED);
    expect(p, "mknodat of a block device 0/0", probe_blockdev_zero, REFUSED);
    expect(p, "mknodat of a block device 7:0", probe_blockdev, REFUSED);
    expect(p, "mknodat of a socket node", probe_mknod_socket, REFUSED);
    expect(p, "mknodat of a fifo", probe_fifo, image ? WORKS : REFUSED);
    expect(p, "memfd_create + F_ADD_SEALS", probe_memfd_seal, image ? WORKS : REFUSED);
    expect(p, "reading and mapping a sealed memfd it was given", probe_memfd_read, WORKS);
    expect(p, "SQLite-style file calls from a thread (locks, pwrite, fallocate, shared map, fsync, renameat2)",
           probe_store_calls, image ? WORKS : REFUSED);
    expect(p, "openat2 with RESOLVE_BENEATH", probe_openat2, image ? WORKS : REFUSED);
    expect(p, "fsetxattr user.overlay.opaque on a directory", probe_opaque_xattr, image ? WORKS : REFUSED);
  }
  expect(BERTH__IPC__PEER__PEER_NET, "socket(AF_PACKET)", probe_packet_socket, REFUSED);

  kill(victim, SIGKILL);
  waitpid(victim, NULL, 0);
  rmdir(tmpdir);
  return failures ? 1 : 0;
}
