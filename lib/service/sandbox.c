/* Per-service seccomp allow-lists (libseccomp, filter mode).
 *
 * Default action: EPERM, so a call we did not foresee fails cleanly instead
 * of killing a service that serves users. The calls no service may ever make
 * (new mounts, namespaces, exec, ptrace, keyrings, bpf, modules, ...) kill the
 * whole process instead: reaching one of them means the service is already
 * compromised, and the executor restarts it.
 *
 * Syscalls are named by string and resolved for the native architecture, so
 * names that do not exist there (e.g. "open" on aarch64) are skipped. Other
 * architectures (i386, x32 on x86_64) hit the bad-arch action: kill. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <seccomp.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include "service.h"

#ifndef SIOCBRADDBR
#define SIOCBRADDBR 0x89a0
#define SIOCBRDELBR 0x89a1
#define SIOCBRADDIF 0x89a2
#define SIOCBRDELIF 0x89a3
#endif

/* Sanitizer builds (-Db_sanitize=...): meson defines BERTH_SANITIZER; GCC
 * also defines __SANITIZE_ADDRESS__, clang answers __has_feature. */
#if defined(__SANITIZE_ADDRESS__)
#define BERTH_SANITIZER_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define BERTH_SANITIZER_BUILD 1
#endif
#endif
#if !defined(BERTH_SANITIZER_BUILD) && defined(BERTH_SANITIZER)
#define BERTH_SANITIZER_BUILD 1
#endif

/* Never allowed, in any service, in any build: kill the process. */
static const char *const kill_list[] = {
  "execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
  "mount", "umount", "umount2", "pivot_root", "chroot", "mount_setattr", "move_mount", "open_tree",
  "fsopen", "fsconfig", "fsmount", "fspick", "unshare", "setns",
  "keyctl", "add_key", "request_key", "bpf", "perf_event_open", "userfaultfd",
  "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
  "open_by_handle_at", "reboot", "swapon", "swapoff", "iopl", "ioperm", "acct",
  NULL,
};

/* What every service needs: sd-event on epoll, the IPC socketpairs, memory,
 * time, signals, reading its own /proc entries. */
static const char *const common_allow[] = {
  /* I/O on fds it already has */
  "read", "write", "readv", "writev", "pread64", "pwrite64", "close", "lseek", "fcntl", "dup", "dup3",
  "fstat", "newfstatat", "statx", "fstatfs", "statfs", "getdents64", "readlink", "readlinkat",
  "access", "faccessat", "faccessat2", "getcwd", "pipe2",
  /* sockets it was given (IPC edges are SOCK_SEQPACKET with SCM_RIGHTS) */
  "sendmsg", "recvmsg", "sendto", "recvfrom", "shutdown", "getsockopt", "setsockopt",
  "getsockname", "getpeername",
  /* event loop */
  "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "poll", "ppoll",
  "timerfd_create", "timerfd_settime", "timerfd_gettime", "signalfd4", "eventfd2",
  /* memory and threads */
  "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "futex", "set_robust_list",
  "get_robust_list", "rseq", "set_tid_address", "sched_yield", "sched_getaffinity",
  /* time, randomness, identity */
  "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday", "time",
  "getrandom", "uname", "sysinfo", "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid",
  "getegid", "getresuid", "getresgid", "getgroups", "capget", "umask", "getrusage",
  /* signals */
  "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigtimedwait",
  "rt_sigsuspend", "sigaltstack", "restart_syscall",
  "exit", "exit_group",
  NULL,
};

/* berth-apid: HTTP on the passed listening socket (libmicrohttpd with its
 * own epoll set and an eventfd to resume suspended connections: both in
 * common_allow). Archives stream through pipes (pipe2, F_SETPIPE_SZ via
 * fcntl: common); Document replies are memfds it only reads or maps. */
static const char *const api_allow[] = {
  "accept", "accept4", "listen", "sendfile", "splice",
  /* The container registry: SQLite in WAL mode at DATA_ROOT/api/containers.db
   * (creates the database, -wal and -shm files: open with write flags, see
   * add_open_rules; the -shm mapping and the fcntl locks are in common_allow;
   * synchronous=FULL fsyncs; the WAL is truncated on reset and unlinked when
   * the last connection closes). */
  "fsync", "fdatasync", "ftruncate", "fallocate", "unlink", NULL,
};

/* berth-imaged: the content store (SQLite in WAL mode: fcntl locks, pread/
 * pwrite, a shared mapping of the -shm file, fsync; worker threads: clone
 * without namespace flags) and layer unpacking relative to dir fds
 * (openat2 with RESOLVE_*, *at calls, ownership, modes, times, the
 * user.overlay.* xattrs and file capabilities). memfd_create for Document
 * replies (sealed with fcntl F_ADD_SEALS). Device nodes: see
 * add_mknod_rules. */
static const char *const image_allow[] = {
  "openat2", "mkdirat", "mkdir", "unlinkat", "unlink", "rmdir", "renameat", "renameat2", "rename",
  "fchownat", "fchown", "lchown", "fchmodat", "fchmod", "utimensat", "symlinkat", "symlink",
  "linkat", "link", "fsync", "fdatasync", "syncfs", "ftruncate", "fallocate", "fadvise64",
  "copy_file_range", "sendfile", "splice", "flock", "memfd_create",
  "fsetxattr", "lsetxattr", "fgetxattr", "lgetxattr", "getxattr", "flistxattr", "llistxattr",
  "listxattr", "fremovexattr", "lremovexattr", NULL,
};

/* berth-netd: netlink, bridges, veths (sockets filtered by family below). */
static const char *const net_allow[] = {
  "bind", "connect", "listen", "accept4", "sendmmsg", "recvmmsg", NULL,
};

static int add_list(scmp_filter_ctx ctx, uint32_t action, const char *const *names, berth_error_t *err) {
  for (; *names; names++) {
    int nr = seccomp_syscall_resolve_name(*names);
    if (nr == __NR_SCMP_ERROR)
      continue; /* not a syscall on this architecture */
    int r = seccomp_rule_add(ctx, action, nr, 0);
    if (r < 0)
      return berth_error_make(err, -r, "seccomp rule for %s: %s", *names, strerror(-r));
  }
  return 0;
}

static int add_rule(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n, const struct scmp_arg_cmp *cmp,
                    berth_error_t *err) {
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR)
    return 0;
  int r = seccomp_rule_add_array(ctx, action, nr, n, cmp);
  if (r < 0)
    return berth_error_make(err, -r, "seccomp rule for %s: %s", name, strerror(-r));
  return 0;
}

static int add_arg_eq(scmp_filter_ctx ctx, const char *name, unsigned arg, const unsigned long *values, size_t n,
                      berth_error_t *err) {
  for (size_t i = 0; i < n; i++) {
    struct scmp_arg_cmp cmp = { arg, SCMP_CMP_EQ, values[i], 0 };
    if (add_rule(ctx, SCMP_ACT_ALLOW, name, 1, &cmp, err) < 0)
      return -1;
  }
  return 0;
}

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* clone: threads and plain forks are fine; any namespace flag kills.
 * clone3 passes its flags in memory seccomp cannot read, so it answers
 * ENOSYS and glibc falls back to clone. */
static int add_clone_rules(scmp_filter_ctx ctx, berth_error_t *err) {
  static const unsigned long ns_flags[] = {
    CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
  };
  unsigned long mask = 0;
  for (size_t i = 0; i < ARRAY_LEN(ns_flags); i++) {
    mask |= ns_flags[i];
    struct scmp_arg_cmp cmp = { 0, SCMP_CMP_MASKED_EQ, ns_flags[i], ns_flags[i] };
    if (add_rule(ctx, SCMP_ACT_KILL_PROCESS, "clone", 1, &cmp, err) < 0)
      return -1;
  }
  struct scmp_arg_cmp ok = { 0, SCMP_CMP_MASKED_EQ, mask, 0 };
  if (add_rule(ctx, SCMP_ACT_ALLOW, "clone", 1, &ok, err) < 0)
    return -1;
  return add_rule(ctx, SCMP_ACT_ERRNO(ENOSYS), "clone3", 0, NULL, err);
}

/* open/openat: read-only unless the service writes files (imaged's store,
 * apid's container database). */
static int add_open_rules(scmp_filter_ctx ctx, bool may_write, berth_error_t *err) {
  if (may_write)
    return add_rule(ctx, SCMP_ACT_ALLOW, "openat", 0, NULL, err) < 0 ? -1
           : add_rule(ctx, SCMP_ACT_ALLOW, "open", 0, NULL, err);
  const unsigned long wmask = O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND;
  struct scmp_arg_cmp at = { 2, SCMP_CMP_MASKED_EQ, wmask, O_RDONLY };
  struct scmp_arg_cmp plain = { 1, SCMP_CMP_MASKED_EQ, wmask, O_RDONLY };
  if (add_rule(ctx, SCMP_ACT_ALLOW, "openat", 1, &at, err) < 0)
    return -1;
  return add_rule(ctx, SCMP_ACT_ALLOW, "open", 1, &plain, err);
}

/* mknod for imaged, by argument: a character device 0/0 (overlayfs's form
 * of a whiteout, which an unprivileged user namespace may create) and
 * fifos. Any other device (a real char device, any block device) or a
 * socket/regular file via mknod is refused (EPERM) here, whatever the
 * kernel would allow. mknodat(dirfd, path, mode, dev); mknod(path, mode, dev). */
static int add_mknod_rules(scmp_filter_ctx ctx, berth_error_t *err) {
  static const struct {
    const char *name;
    unsigned mode_arg;
  } calls[] = { { "mknodat", 2 }, { "mknod", 1 } };
  for (size_t i = 0; i < ARRAY_LEN(calls); i++) {
    struct scmp_arg_cmp chr[] = { { calls[i].mode_arg, SCMP_CMP_MASKED_EQ, S_IFMT, S_IFCHR },
                                  { calls[i].mode_arg + 1, SCMP_CMP_EQ, 0, 0 } };
    struct scmp_arg_cmp fifo[] = { { calls[i].mode_arg, SCMP_CMP_MASKED_EQ, S_IFMT, S_IFIFO },
                                   { calls[i].mode_arg + 1, SCMP_CMP_EQ, 0, 0 } };
    if (add_rule(ctx, SCMP_ACT_ALLOW, calls[i].name, 2, chr, err) < 0 ||
        add_rule(ctx, SCMP_ACT_ALLOW, calls[i].name, 2, fifo, err) < 0)
      return -1;
  }
  return 0;
}

/* Signals only to ourselves (abort() uses tgkill on its own pid). */
static int add_self_signal_rules(scmp_filter_ctx ctx, berth_error_t *err) {
  struct scmp_arg_cmp self = { 0, SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0 };
  if (add_rule(ctx, SCMP_ACT_ALLOW, "kill", 1, &self, err) < 0)
    return -1;
  return add_rule(ctx, SCMP_ACT_ALLOW, "tgkill", 1, &self, err);
}

static int add_prctl_rules(scmp_filter_ctx ctx, berth_error_t *err) {
  static const unsigned long opts[] = {
    PR_GET_NAME, PR_SET_NAME, PR_GET_NO_NEW_PRIVS, PR_SET_NO_NEW_PRIVS, PR_GET_SECCOMP, PR_CAPBSET_READ,
    PR_GET_DUMPABLE, PR_GET_KEEPCAPS, PR_SET_PDEATHSIG, PR_GET_PDEATHSIG, PR_GET_TIMERSLACK,
  };
  return add_arg_eq(ctx, "prctl", 0, opts, ARRAY_LEN(opts), err);
}

static int add_ioctl_rules(scmp_filter_ctx ctx, bool net, berth_error_t *err) {
  /* TCGETS: isatty() in stdio; never TIOCSTI or other terminal writes. */
  static const unsigned long common[] = { TCGETS, FIONREAD, FIONBIO, FIOCLEX, FIONCLEX };
  static const unsigned long netreq[] = {
    SIOCGIFINDEX, SIOCGIFNAME, SIOCGIFFLAGS, SIOCSIFFLAGS, SIOCGIFMTU, SIOCSIFMTU, SIOCGIFHWADDR,
    SIOCSIFHWADDR, SIOCBRADDBR, SIOCBRDELBR, SIOCBRADDIF, SIOCBRDELIF,
  };
  if (add_arg_eq(ctx, "ioctl", 1, common, ARRAY_LEN(common), err) < 0)
    return -1;
  return net ? add_arg_eq(ctx, "ioctl", 1, netreq, ARRAY_LEN(netreq), err) : 0;
}

static int add_net_socket_rules(scmp_filter_ctx ctx, berth_error_t *err) {
  static const unsigned long families[] = { AF_NETLINK, AF_UNIX, AF_INET, AF_INET6 };
  return add_arg_eq(ctx, "socket", 0, families, ARRAY_LEN(families), err);
}

/* The ASan/UBSan runtimes, measured with strace on services that report an
 * error under the filter: everything they call while running and reporting
 * (mmap, /proc/self/maps, readlink of /proc/self/exe, sigaltstack, TCGETS,
 * sched_getaffinity) is already allowed; they also set resource limits.
 * Never anything on the kill list: LeakSanitizer's ptrace stays forbidden
 * (daemons run with detect_leaks=0). stat/lstat stay refused on purpose:
 * clang's runtime probes for an external llvm-symbolizer with stat and would
 * then fork+exec it (killed); refused, it prints unsymbolized frames instead. */
static int add_sanitizer_rules(scmp_filter_ctx ctx, berth_error_t *err) {
#ifdef BERTH_SANITIZER_BUILD
  static const char *const san[] = { "getrlimit", "prlimit64", "setrlimit", NULL };
  return add_list(ctx, SCMP_ACT_ALLOW, san, err);
#else
  /* prlimit64 only to read our own limits (pid 0, new_limit == NULL). */
  struct scmp_arg_cmp get[] = { { 0, SCMP_CMP_EQ, 0, 0 }, { 2, SCMP_CMP_EQ, 0, 0 } };
  if (add_rule(ctx, SCMP_ACT_ALLOW, "prlimit64", 2, get, err) < 0)
    return -1;
  return add_rule(ctx, SCMP_ACT_ALLOW, "getrlimit", 0, NULL, err);
#endif
}

static int build_filter(scmp_filter_ctx ctx, Berth__Ipc__Peer self, berth_error_t *err) {
  bool api = self == BERTH__IPC__PEER__PEER_API;
  bool image = self == BERTH__IPC__PEER__PEER_IMAGE;
  bool net = self == BERTH__IPC__PEER__PEER_NET;

  if (add_list(ctx, SCMP_ACT_KILL_PROCESS, kill_list, err) < 0 || add_list(ctx, SCMP_ACT_ALLOW, common_allow, err) < 0 ||
      add_clone_rules(ctx, err) < 0 || add_open_rules(ctx, image || api, err) < 0 || add_self_signal_rules(ctx, err) < 0 ||
      add_prctl_rules(ctx, err) < 0 || add_ioctl_rules(ctx, net, err) < 0 || add_sanitizer_rules(ctx, err) < 0)
    return -1;
  if (api && add_list(ctx, SCMP_ACT_ALLOW, api_allow, err) < 0)
    return -1;
  /* apid: the AF_UNIX socketpair whose one end ContainerStart hands to the monitor. */
  static const unsigned long unix_only[] = { AF_UNIX };
  if (api && add_arg_eq(ctx, "socketpair", 0, unix_only, ARRAY_LEN(unix_only), err) < 0)
    return -1;
  if (image && (add_list(ctx, SCMP_ACT_ALLOW, image_allow, err) < 0 || add_mknod_rules(ctx, err) < 0))
    return -1;
  if (net && (add_list(ctx, SCMP_ACT_ALLOW, net_allow, err) < 0 || add_net_socket_rules(ctx, err) < 0))
    return -1;
  return 0;
}

int berth_sandbox_apply(Berth__Ipc__Peer self, berth_error_t *err) {
  if (self != BERTH__IPC__PEER__PEER_API && self != BERTH__IPC__PEER__PEER_IMAGE && self != BERTH__IPC__PEER__PEER_NET)
    return berth_error_make(err, EINVAL, "no seccomp profile for peer %d", (int)self);

  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  if (ctx == NULL)
    return berth_error_make(err, ENOMEM, "seccomp_init failed");
  int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (r == 0)
    r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
  if (r < 0) {
    seccomp_release(ctx);
    return berth_error_make(err, -r, "seccomp attributes: %s", strerror(-r));
  }
  if (build_filter(ctx, self, err) < 0) {
    seccomp_release(ctx);
    return berth_error_wrap(err, "building the %s seccomp filter", berth_peer_name(self));
  }
  r = seccomp_load(ctx);
  seccomp_release(ctx);
  if (r < 0)
    return berth_error_make(err, -r, "loading the %s seccomp filter: %s", berth_peer_name(self), strerror(-r));
  return 0;
}
