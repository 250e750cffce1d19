/* berth-monitor's start-up checks (argv and the inherited fds, both exactly
 * as the executor must pass them), the OOM counter and the exit record. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "monitor.h"

#define USAGE "usage: berth-monitor --id ID --pid PID --log-max-size N --log-max-files N [--cgroup-v1] [--tty] [--stdin-once]"
#define DEFAULT_LOG_MAX_SIZE (10ULL << 20)
#define DEFAULT_LOG_MAX_FILES 3U

int64_t monitor_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Strict unsigned decimal: digits only, no leading zero, within [min, max]. */
static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out) {
  if (s == NULL || *s == '\0' || (s[0] == '0' && s[1] != '\0'))
    return -1;
  uint64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
      return -1;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  if (v < min || v > max)
    return -1;
  *out = v;
  return 0;
}

static int valid_id(const char *s) {
  size_t n = strlen(s);
  if (n != 64)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  return 1;
}

int monitor_parse_args(int argc, char **argv, monitor_args_t *a, berth_error_t *err) {
  memset(a, 0, sizeof *a);
  bool have_size = false, have_files = false;
  uint64_t v;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    const char *val = i + 1 < argc ? argv[i + 1] : NULL;
    bool takes = strcmp(o, "--id") == 0 || strcmp(o, "--pid") == 0 || strcmp(o, "--log-max-size") == 0 ||
                 strcmp(o, "--log-max-files") == 0;
    if (takes && val == NULL)
      return berth_error_make(err, EINVAL, "%s needs a value; " USAGE, o);
    if (strcmp(o, "--id") == 0) {
      if (a->id[0] || !valid_id(val))
        return berth_error_make(err, EINVAL, "--id: expected one container id of 64 lowercase hex digits; " USAGE);
      memcpy(a->id, val, 65);
    } else if (strcmp(o, "--pid") == 0) {
      if (a->pid || parse_u64(val, 2, 4194304, &v) < 0)
        return berth_error_make(err, EINVAL, "--pid '%s': expected one process id (2..4194304); " USAGE, val);
      a->pid = (pid_t)v;
    } else if (strcmp(o, "--log-max-size") == 0) {
      if (have_size || parse_u64(val, 0, 1ULL << 50, &v) < 0)
        return berth_error_make(err, EINVAL, "--log-max-size '%s': expected bytes (0 = default 10 MiB); " USAGE, val);
      a->log_max_size = v ? v : DEFAULT_LOG_MAX_SIZE;
      have_size = true;
    } else if (strcmp(o, "--log-max-files") == 0) {
      if (have_files || parse_u64(val, 0, 1000, &v) < 0)
        return berth_error_make(err, EINVAL, "--log-max-files '%s': expected 0..1000 (0 = default 3); " USAGE, val);
      a->log_max_files = v ? (unsigned)v : DEFAULT_LOG_MAX_FILES;
      have_files = true;
    } else if (strcmp(o, "--cgroup-v1") == 0 && !a->cgroup_v1) {
      a->cgroup_v1 = true;
    } else if (strcmp(o, "--tty") == 0 && !a->tty) {
      a->tty = true;
    } else if (strcmp(o, "--stdin-once") == 0 && !a->stdin_once) {
      a->stdin_once = true;
    } else {
      return berth_error_make(err, EINVAL, "unexpected or repeated argument '%s'; " USAGE, o);
    }
    if (takes)
      i++;
  }
  if (!a->id[0] || !a->pid || !have_size || !have_files)
    return berth_error_make(err, EINVAL, "missing --id, --pid, --log-max-size or --log-max-files; " USAGE);
  return 0;
}

static int is_devnull(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3);
}

static int is_pty_master(int fd) {
  unsigned n;
  return ioctl(fd, TIOCGPTN, &n) == 0;
}

static int is_pipe(int fd, int accmode) {
  struct stat st;
  int fl = fcntl(fd, F_GETFL);
  return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode) && fl >= 0 && (fl & O_ACCMODE) == accmode;
}

static int same_file(int a, int b) {
  struct stat x, y;
  return fstat(a, &x) == 0 && fstat(b, &y) == 0 && x.st_dev == y.st_dev && x.st_ino == y.st_ino;
}

static int is_seqpacket(int fd, int listening) {
  int type = 0, domain = 0, acc = -1;
  socklen_t l1 = sizeof type, l2 = sizeof domain, l3 = sizeof acc;
  return getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l1) == 0 && type == SOCK_SEQPACKET &&
         getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l2) == 0 && domain == AF_UNIX &&
         getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l3) == 0 && acc == listening;
}

static int is_dir(int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The lowest open fd above FD_LAST, -1 if none, -2 on error. */
static int first_extra_fd(void) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL)
    return -2;
  int found = -1, self = dirfd(d);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    uint64_t fd;
    if (parse_u64(e->d_name, 0, INT32_MAX, &fd) < 0 || (int)fd == self || fd <= FD_LAST)
      continue;
    if (found < 0 || (int)fd < found)
      found = (int)fd;
  }
  closedir(d);
  return found;
}

int monitor_check_fds(monitor_args_t *a, berth_error_t *err) {
  const char *hint = "berth-monitor is started by berth-execd with fds 0-9 as documented in docs/containers.md";
  if (!is_devnull(0))
    return berth_error_make(err, EBADF, "fd 0 is not /dev/null; %s", hint);
  for (int fd = 1; fd <= 2; fd++)
    if (fcntl(fd, F_GETFD) < 0)
      return berth_error_make(err, EBADF, "fd %d (diagnostics) is not open; %s", fd, hint);
  if (!is_seqpacket(FD_CHANNEL0, 0))
    return berth_error_make(err, EBADF, "fd 3 is not a connected AF_UNIX SOCK_SEQPACKET socket; %s", hint);
  if (!is_seqpacket(FD_LISTEN, 1))
    return berth_error_make(err, EBADF, "fd 4 is not a listening AF_UNIX SOCK_SEQPACKET socket; %s", hint);
  if (a->tty) {
    if (!is_pty_master(FD_STDOUT))
      return berth_error_make(err, EBADF, "fd 5 is not a pty master (--tty); %s", hint);
    if (!is_devnull(FD_STDERR))
      return berth_error_make(err, EBADF, "fd 6 is not /dev/null (--tty); %s", hint);
    a->stdin_open = !is_devnull(FD_STDIN);
    if (a->stdin_open && !same_file(FD_STDIN, FD_STDOUT))
      return berth_error_make(err, EBADF, "fd 7 is neither /dev/null nor the pty master of fd 5 (--tty); %s", hint);
  } else {
    if (!is_pipe(FD_STDOUT, O_RDONLY))
      return berth_error_make(err, EBADF, "fd 5 is not the read end of a pipe (container stdout); %s", hint);
    if (!is_pipe(FD_STDERR, O_RDONLY))
      return berth_error_make(err, EBADF, "fd 6 is not the read end of a pipe (container stderr); %s", hint);
    a->stdin_open = !is_devnull(FD_STDIN);
    if (a->stdin_open && !is_pipe(FD_STDIN, O_WRONLY))
      return berth_error_make(err, EBADF, "fd 7 is neither /dev/null nor the write end of a pipe (container stdin); %s",
                              hint);
  }
  if (!is_dir(FD_MONDIR))
    return berth_error_make(err, EBADF, "fd 8 is not a directory (mon/); %s", hint);
  if (!is_dir(FD_CGROUP))
    return berth_error_make(err, EBADF, "fd 9 is not a directory (memory cgroup); %s", hint);
  /* Nothing else may be open: the container must not be reachable through
   * a stray fd of ours, nor we through one of its. */
  int extra = first_extra_fd();
  if (extra == -2)
    return berth_error_errno(err, "listing /proc/self/fd");
  if (extra >= 0)
    return berth_error_make(err, EBADF, "fd %d is open: berth-monitor takes exactly fds 0-9; %s", extra, hint);
  for (int fd = 0; fd <= FD_LAST; fd++)
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
      return berth_error_errno(err, "fcntl fd %d", fd);
  for (int fd = FD_CHANNEL0; fd <= FD_STDIN; fd++) {
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
      return berth_error_errno(err, "making fd %d non-blocking", fd);
  }
  return 0;
}

/* "oom_kill N" in memory.events (v2) or memory.oom_control (v1). */
int monitor_oom_count(bool v1, uint64_t *count, berth_error_t *err) {
  const char *name = v1 ? "memory.oom_control" : "memory.events";
  int fd = openat(FD_CGROUP, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return berth_error_errno(err, "open %s in the memory cgroup (fd 9)", name);
  char buf[4096];
  size_t len = 0;
  for (;;) {
    ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    len += (size_t)n;
    if (len == sizeof buf - 1)
      break;
  }
  close(fd);
  buf[len] = '\0';
  for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
    if (strncmp(line, "oom_kill ", 9) != 0)
      continue;
    char *end = strchr(line, '\n');
    if (end)
      *end = '\0';
    if (parse_u64(line + 9, 0, UINT64_MAX, count) < 0)
      return berth_error_make(err, EINVAL, "%s: bad oom_kill line '%s'", name, line);
    return 0;
  }
  return berth_error_make(err, ENOENT, "%s has no oom_kill line (kernel too old for OOM reporting?)", name);
}

int monitor_write_exit(int exit_code, bool oom, int64_t finished_ns, berth_error_t *err) {
  char buf[96];
  int n = snprintf(buf, sizeof buf, "%d %d %lld\n", exit_code, oom ? 1 : 0, (long long)finished_ns);
  int fd = openat(FD_MONDIR, "exit.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0)
    return berth_error_errno(err, "open mon/exit.tmp");
  /* rename makes it atomic for readers; no fsync: after a power loss the
   * container is gone anyway and a missing record reads as exit -1 */
  if (write(fd, buf, (size_t)n) != n) {
    int e = errno ? errno : EIO;
    close(fd);
    unlinkat(FD_MONDIR, "exit.tmp", 0);
    errno = e;
    return berth_error_errno(err, "write mon/exit.tmp");
  }
  close(fd);
  if (renameat(FD_MONDIR, "exit.tmp", FD_MONDIR, "exit") < 0)
    return berth_error_errno(err, "rename mon/exit.tmp to mon/exit");
  return 0;
}
