/* berth-monitor's own seccomp allow-list (libseccomp). The monitor only
 * shuffles bytes between fds it was given, writes files in mon/ (fd 8),
 * reads the OOM counter below fd 9, accepts on fd 4 and reaps its child.
 * Default: EPERM (an unforeseen call fails instead of leaving the container
 * unobserved); calls that only a compromised monitor would make kill it. */
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>
#include "monitor.h"

#if defined(__SANITIZE_ADDRESS__) || defined(BERTH_SANITIZER)
#define MON_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
#define MON_SANITIZER 1
#endif
#endif

static const char *const kill_list[] = {
  "execve", "execveat", "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd",
  "mount", "umount2", "pivot_root", "chroot", "mount_setattr", "move_mount", "open_tree", "fsopen",
  "fsconfig", "fsmount", "fspick", "unshare", "setns", "keyctl", "add_key", "request_key", "bpf",
  "perf_event_open", "userfaultfd", "init_module", "finit_module", "delete_module", "kexec_load",
  "kexec_file_load", "open_by_handle_at", "reboot", "swapon", "swapoff", "iopl", "ioperm", "acct",
  "socket", "socketpair", "connect", "bind", "listen", "setuid", "setgid", "setreuid", "setregid",
  "setresuid", "setresgid", "setgroups", "capset", "pidfd_send_signal",
  NULL,
};

static const char *const allow_list[] = {
  "read", "write", "readv", "writev", "close", "fstat", "newfstatat", "statx", "lseek", "fcntl",
  "poll", "ppoll", "recvmsg", "recvfrom", "sendmsg", "sendto", "getsockopt", "setsockopt", "shutdown",
  "waitid", "wait4", "fsync", "fdatasync",
  "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "futex", "set_robust_list", "rseq",
  "clock_gettime", "clock_getres", "gettimeofday", "time", "clock_nanosleep", "nanosleep",
  "getpid", "gettid", "getuid", "geteuid", "getrandom",
  "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "restart_syscall", "exit", "exit_group",
  NULL,
};

/* Sanitizer runtimes: reports read /proc/self/maps, set limits, use an
 * alternate signal stack. */
static const char *const sanitizer_list[] = {
  "getrlimit", "prlimit64", "setrlimit", "sigaltstack", "readlink", "readlinkat", "sched_getaffinity",
  "sched_yield", "getppid", "uname", "getdents64", NULL,
};

static int add(scmp_filter_ctx ctx, uint32_t action, const char *name, unsigned n, const struct scmp_arg_cmp *cmp,
               berth_error_t *err) {
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR)
    return 0; /* not on this architecture */
  int r = seccomp_rule_add_array(ctx, action, nr, n, cmp);
  if (r < 0)
    return berth_error_make(err, -r, "seccomp rule for %s: %s", name, strerror(-r));
  return 0;
}

static int add_list(scmp_filter_ctx ctx, uint32_t action, const char *const *names, berth_error_t *err) {
  for (; *names; names++)
    if (add(ctx, action, *names, 0, NULL, err) < 0)
      return -1;
  return 0;
}

static int add_eq(scmp_filter_ctx ctx, const char *name, unsigned arg, scmp_datum_t v, berth_error_t *err) {
  struct scmp_arg_cmp c = { arg, SCMP_CMP_EQ, v, 0 };
  return add(ctx, SCMP_ACT_ALLOW, name, 1, &c, err);
}

static int build(scmp_filter_ctx ctx, berth_error_t *err) {
  if (add_list(ctx, SCMP_ACT_KILL_PROCESS, kill_list, err) < 0 || add_list(ctx, SCMP_ACT_ALLOW, allow_list, err) < 0)
    return -1;
  /* Files: anything in mon/; read-only below the cgroup dir. */
  struct scmp_arg_cmp ro[] = { { 0, SCMP_CMP_EQ, FD_CGROUP, 0 },
                               { 2, SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND, O_RDONLY } };
  if (add_eq(ctx, "openat", 0, FD_MONDIR, err) < 0 || add(ctx, SCMP_ACT_ALLOW, "openat", 2, ro, err) < 0)
    return -1;
  struct scmp_arg_cmp ren[] = { { 0, SCMP_CMP_EQ, FD_MONDIR, 0 }, { 2, SCMP_CMP_EQ, FD_MONDIR, 0 } };
  if (add(ctx, SCMP_ACT_ALLOW, "renameat", 2, ren, err) < 0 || add(ctx, SCMP_ACT_ALLOW, "renameat2", 2, ren, err) < 0 ||
      add_eq(ctx, "unlinkat", 0, FD_MONDIR, err) < 0)
    return -1;
  /* Channels only from the listening socket. */
  if (add_eq(ctx, "accept4", 0, FD_LISTEN, err) < 0 || add_eq(ctx, "accept", 0, FD_LISTEN, err) < 0)
    return -1;
  /* ioctl: window size on the pty, isatty() in stdio. */
  static const unsigned long io[] = { TIOCSWINSZ, TCGETS, FIONREAD };
  for (size_t i = 0; i < sizeof io / sizeof io[0]; i++)
    if (add_eq(ctx, "ioctl", 1, io[i], err) < 0)
      return -1;
  /* Signals only to ourselves (abort). */
  if (add_eq(ctx, "kill", 0, (scmp_datum_t)getpid(), err) < 0 || add_eq(ctx, "tgkill", 0, (scmp_datum_t)getpid(), err) < 0)
    return -1;
#ifdef MON_SANITIZER
  struct scmp_arg_cmp any_ro = { 2, SCMP_CMP_MASKED_EQ, O_ACCMODE | O_CREAT | O_TRUNC | O_APPEND, O_RDONLY };
  if (add_list(ctx, SCMP_ACT_ALLOW, sanitizer_list, err) < 0 || add(ctx, SCMP_ACT_ALLOW, "openat", 1, &any_ro, err) < 0 ||
      add_eq(ctx, "ioctl", 1, TIOCGWINSZ, err) < 0)
    return -1;
#else
  (void)sanitizer_list;
#endif
  return 0;
}

int monitor_seccomp(berth_error_t *err) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
  if (ctx == NULL)
    return berth_error_make(err, ENOMEM, "seccomp_init failed");
  int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
  if (r < 0) {
    seccomp_release(ctx);
    return berth_error_make(err, -r, "seccomp attributes: %s", strerror(-r));
  }
  if (build(ctx, err) < 0) {
    seccomp_release(ctx);
    return berth_error_wrap(err, "building the monitor's seccomp filter");
  }
  r = seccomp_load(ctx);
  seccomp_release(ctx);
  if (r < 0)
    return berth_error_make(err, -r, "loading the monitor's seccomp filter: %s", strerror(-r));
  return 0;
}
