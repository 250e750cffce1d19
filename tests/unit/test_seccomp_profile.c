/* The seccomp profile compiler (services/api/seccomp_profile.c), judged by
 * what the programs it produces do: each behaviour case compiles a profile,
 * forks a child that loads the program (no_new_privs + seccomp(2)) and makes
 * one call; the child exits with the errno it saw (0: success) and the parent
 * compares. Malformed profiles must fail with EINVAL and name the JSON path.
 * The compiler is also run inside berth-apid's real sandbox, where it lives. */
#include <errno.h>
#include <linux/filter.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <seccomp.h>
#include "seccomp_profile.h"
#include "service.h"
#include "tap.h"

#define CAP(n) (1ull << (n))
/* Docker's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID
 * SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP. */
#define DOCKER_CAPS \
  (CAP(0) | CAP(1) | CAP(3) | CAP(4) | CAP(5) | CAP(6) | CAP(7) | CAP(8) | CAP(10) | CAP(13) | CAP(18) | CAP(27) | \
   CAP(29) | CAP(31))
#define CAP_SYS_ADMIN_BIT CAP(21)
#define SETUP_FAILED 250

static seccomp_target_t target;
static char *default_profile;
static size_t default_len;

typedef long (*call_fn)(long arg);

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  char *buf = malloc(SECCOMP_PROFILE_MAX + 2);
  *len = buf ? fread(buf, 1, SECCOMP_PROFILE_MAX + 1, f) : 0;
  if (buf)
    buf[*len] = '\0';
  fclose(f);
  return buf;
}

static int compile(const char *json, uint64_t caps, uint8_t **bpf, size_t *len, berth_error_t *err) {
  seccomp_target_t t = target;
  t.capabilities = caps;
  return seccomp_profile_compile(json, strlen(json), &t, bpf, len, err);
}

/* Loads the program in a child, runs fn(arg) there; returns the errno seen
 * (0 success), 1000 + signal when killed, SETUP_FAILED when loading failed. */
static int run_filtered(const uint8_t *bpf, size_t len, call_fn fn, long arg) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    struct sock_fprog prog = {.len = (unsigned short)(len / 8), .filter = (struct sock_filter *)(void *)bpf};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
      _exit(SETUP_FAILED);
    errno = 0;
    long r = fn(arg);
    /* exit_group itself: the sanitizers' _exit hook (LeakSanitizer) would
     * make calls the filter refuses and change the status. */
    syscall(SYS_exit_group, r < 0 ? (errno > 0 && errno < SETUP_FAILED ? errno : SETUP_FAILED - 1) : 0);
  }
  int status;
  if (pid < 0 || waitpid(pid, &status, 0) < 0)
    return -1;
  return WIFSIGNALED(status) ? 1000 + WTERMSIG(status) : WEXITSTATUS(status);
}

/* Compiles json for caps and runs fn(arg) under it. */
static int outcome(const char *json, uint64_t caps, call_fn fn, long arg) {
  uint8_t *bpf = NULL;
  size_t len = 0;
  berth_error_t err = NULL;
  if (compile(json, caps, &bpf, &len, &err) < 0) {
    tap_diag("compile failed: %s", err->msg);
    berth_error_release(&err);
    return -2;
  }
  int r = run_filtered(bpf, len, fn, arg);
  free(bpf);
  return r;
}

static long do_getpid(long a) {
  (void)a;
  return syscall(SYS_getpid);
}
static long do_getppid(long a) {
  (void)a;
  return syscall(SYS_getppid);
}
static long do_write(long a) {
  (void)a;
  int p[2];
  if (pipe(p) < 0)
    return -1;
  return write(p[1], "x", 1) == 1 ? 0 : -1;
}
static long do_mount(long a) {
  (void)a;
  return mount("none", "/tmp", "tmpfs", 0, NULL);
}
static long do_unshare(long a) {
  return unshare((int)a);
}
static long do_keyctl(long a) {
  (void)a;
  return syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3 /* session */, 0);
}
static long do_clone3(long a) {
  (void)a;
  struct clone_args args = {.exit_signal = SIGCHLD};
  long r = syscall(SYS_clone3, &args, 0 /* size 0: EINVAL when the call is let through */);
  if (r == 0)
    _exit(0);
  return r;
}
/* clone with the given flags (a fork-like clone; the child exits at once). */
static long do_clone(long flags) {
  long r = syscall(SYS_clone, flags | SIGCHLD, 0, NULL, NULL, 0);
  if (r == 0)
    _exit(0);
  return r < 0 ? r : 0;
}
static long do_personality(long persona) {
  return syscall(SYS_personality, persona);
}
static long do_getpgid(long pid) {
  return syscall(SYS_getpgid, pid);
}
#ifdef __x86_64__
/* getppid through the i386 syscall table (int 0x80: AUDIT_ARCH_I386). */
static long do_getppid_i386(long a) {
  (void)a;
  long r;
  __asm__ volatile("int $0x80" : "=a"(r) : "a"(64L) : "memory");
  if (r < 0 && r > -4096) {
    errno = (int)-r;
    return -1;
  }
  return r;
}
#endif

static void test_default_profile(void) {
  uint8_t *bpf = NULL;
  size_t len = 0;
  berth_error_t err = NULL;
  int r = seccomp_profile_compile(default_profile, default_len, &target, &bpf, &len, &err);
  if (!tap_ok(r == 0, "policy/seccomp-default.json compiles for Docker's default capabilities")) {
    tap_diag("%s", err ? err->msg : "?");
    berth_error_release(&err);
    return;
  }
  tap_ok(len % 8 == 0 && len / 8 > 0 && len / 8 <= SECCOMP_BPF_MAX_INSNS, "program of %zu instructions", len / 8);
  struct {
    const char *what;
    call_fn fn;
    long arg;
    int want;
  } cases[] = {
      {"getpid succeeds", do_getpid, 0, 0},
      {"write succeeds", do_write, 0, 0},
      {"fork (clone without namespace flags) succeeds", do_clone, 0, 0},
      {"personality(PER_LINUX) succeeds", do_personality, PER_LINUX, 0},
      {"personality query (0xffffffff) succeeds", do_personality, 0xffffffffL, 0},
      {"mount: EPERM", do_mount, 0, EPERM},
      {"unshare(CLONE_NEWNS): EPERM", do_unshare, CLONE_NEWNS, EPERM},
      {"unshare(CLONE_NEWUSER): EPERM", do_unshare, CLONE_NEWUSER, EPERM},
      {"keyctl: EPERM", do_keyctl, 0, EPERM},
      {"clone(CLONE_NEWUSER): EPERM", do_clone, CLONE_NEWUSER, EPERM},
      {"clone(CLONE_NEWNET): EPERM", do_clone, CLONE_NEWNET, EPERM},
      {"clone3: ENOSYS (the C library falls back to clone)", do_clone3, 0, ENOSYS},
      {"personality(ADDR_NO_RANDOMIZE): EPERM", do_personality, ADDR_NO_RANDOMIZE, EPERM},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    int got = run_filtered(bpf, len, cases[i].fn, cases[i].arg);
    tap_ok(got == cases[i].want, "default profile: %s (got %d)", cases[i].what, got);
  }
  free(bpf);

  /* The CAP_SYS_ADMIN entries apply only to a container that has it. */
  int got = outcome(default_profile, DOCKER_CAPS | CAP_SYS_ADMIN_BIT, do_unshare, CLONE_NEWUTS);
  tap_ok(got == 0, "default profile with CAP_SYS_ADMIN: unshare(CLONE_NEWUTS) allowed (got %d)", got);
  got = outcome(default_profile, DOCKER_CAPS, do_unshare, CLONE_NEWUTS);
  tap_ok(got == EPERM, "default profile without CAP_SYS_ADMIN: unshare(CLONE_NEWUTS) EPERM (got %d)", got);
  got = outcome(default_profile, DOCKER_CAPS | CAP_SYS_ADMIN_BIT, do_clone3, 0);
  tap_ok(got == EINVAL, "default profile with CAP_SYS_ADMIN: clone3 reaches the kernel (EINVAL, got %d)", got);
}

static void test_rules(void) {
  int got = outcome("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"getppid\"], "
                    "\"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 13}]}",
                    0, do_getppid, 0);
  tap_ok(got == EACCES, "errnoRet 13 honoured (got %d)", got);
  got = outcome("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"getppid\"], "
                "\"action\": \"SCMP_ACT_ERRNO\"}]}",
                0, do_getppid, 0);
  tap_ok(got == EPERM, "SCMP_ACT_ERRNO without errnoRet: EPERM (got %d)", got);
  got = outcome("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 95, \"syscalls\": [{\"names\": "
                "[\"exit\", \"exit_group\"], \"action\": \"SCMP_ACT_ALLOW\"}]}",
                0, do_getppid, 0);
  tap_ok(got == EOPNOTSUPP, "defaultErrnoRet 95 honoured (got %d)", got);
  got = outcome("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"name\": \"getppid\", "
                "\"action\": \"SCMP_ACT_KILL_PROCESS\"}]}",
                0, do_getppid, 0);
  tap_ok(got == 1000 + SIGSYS, "legacy \"name\", SCMP_ACT_KILL_PROCESS: killed by SIGSYS (got %d)", got);
  got = outcome("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"no_such_syscall\", "
                "\"getppid\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 5}]}",
                0, do_getppid, 0);
  tap_ok(got == EIO, "an unknown syscall name is skipped, the others apply (got %d)", got);

  /* Argument comparisons on getpgid(pid): 77 when matched. */
  static const char *const arg_rule =
      "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"getpgid\"], \"action\": "
      "\"SCMP_ACT_ERRNO\", \"errnoRet\": 77, \"args\": [%s]}]}";
  struct {
    const char *args;
    long pid;
    bool hit;
  } acases[] = {
      {"{\"index\": 0, \"value\": 123456, \"op\": \"SCMP_CMP_EQ\"}", 123456, true},
      {"{\"index\": 0, \"value\": 123456, \"op\": \"SCMP_CMP_EQ\"}", 0, false},
      {"{\"index\": 0, \"value\": 0, \"op\": \"SCMP_CMP_NE\"}", 0, false},
      {"{\"index\": 0, \"value\": 0, \"op\": \"SCMP_CMP_NE\"}", 999999, true},
      {"{\"index\": 0, \"value\": 65280, \"valueTwo\": 4608, \"op\": \"SCMP_CMP_MASKED_EQ\"}", 0x1234, true},
      {"{\"index\": 0, \"value\": 65280, \"valueTwo\": 4608, \"op\": \"SCMP_CMP_MASKED_EQ\"}", 0x1334, false},
      {"{\"index\": 0, \"value\": 999990, \"op\": \"SCMP_CMP_GT\"}", 999999, true},
      {"{\"index\": 0, \"value\": 999990, \"op\": \"SCMP_CMP_GE\"}", 999990, true},
      {"{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_LT\"}", 0, true},
      {"{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_LE\"}", 2, false},
      /* two conditions on one argument: either matches (one rule each, as runc) */
      {"{\"index\": 0, \"value\": 999990, \"op\": \"SCMP_CMP_GT\"}, {\"index\": 0, \"value\": 1, \"op\": "
       "\"SCMP_CMP_LT\"}",
       0, true},
      {"{\"index\": 0, \"value\": 999990, \"op\": \"SCMP_CMP_GT\"}, {\"index\": 0, \"value\": 1, \"op\": "
       "\"SCMP_CMP_LT\"}",
       500000, false},
      /* conditions on two arguments: both must match (arg 1 is garbage for getpgid) */
      {"{\"index\": 0, \"value\": 999999, \"op\": \"SCMP_CMP_EQ\"}, {\"index\": 1, \"value\": 7, \"op\": "
       "\"SCMP_CMP_EQ\"}",
       999999, false},
  };
  for (size_t i = 0; i < sizeof acases / sizeof *acases; i++) {
    char json[1024];
    snprintf(json, sizeof json, arg_rule, acases[i].args);
    got = outcome(json, 0, do_getpgid, acases[i].pid);
    tap_ok(acases[i].hit ? got == 77 : (got != 77 && got >= 0 && got < 256), "args [%s] on getpgid(%ld): %s (got %d)",
           acases[i].args, acases[i].pid, acases[i].hit ? "matched" : "not matched", got);
  }
  got = outcome("{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"exit_group\", \"exit\"], "
                "\"action\": \"SCMP_ACT_ALLOW\"}, {\"names\": [\"personality\"], \"action\": \"SCMP_ACT_ALLOW\", "
                "\"args\": [{\"index\": 0, \"value\": 8, \"op\": \"SCMP_CMP_EQ\"}]}]}",
                0, do_personality, 8);
  tap_ok(got == 0, "personality(8) allowed by an EQ 8 rule (got %d)", got);
}

/* Conditional entries: ERRNO 66 for getppid when the entry applies. */
static void test_conditions(void) {
  static const char *const fmt = "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"getppid\"], "
                                 "\"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 66, %s}]}";
  struct {
    const char *cond;
    uint64_t caps;
    bool applies;
  } cases[] = {
      {"\"includes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}", CAP_SYS_ADMIN_BIT, true},
      {"\"includes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}", DOCKER_CAPS, false},
      {"\"includes\": {\"caps\": [\"CAP_SYS_ADMIN\", \"CAP_CHOWN\"]}", CAP_SYS_ADMIN_BIT, false},
      {"\"includes\": {\"caps\": [\"CAP_SYS_ADMIN\", \"CAP_CHOWN\"]}", CAP_SYS_ADMIN_BIT | CAP(0), true},
      {"\"excludes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}", CAP_SYS_ADMIN_BIT, false},
      {"\"excludes\": {\"caps\": [\"CAP_SYS_ADMIN\", \"CAP_BPF\"]}", CAP(39), false},
      {"\"excludes\": {\"caps\": [\"CAP_SYS_ADMIN\"]}", DOCKER_CAPS, true},
      {"\"includes\": {\"minKernel\": \"3.0\"}", 0, true},
      {"\"includes\": {\"minKernel\": \"200.0\"}", 0, false},
      {"\"excludes\": {\"minKernel\": \"3.0\"}", 0, false},
      {"\"excludes\": {\"minKernel\": \"200.0\"}", 0, true},
      {"\"includes\": {\"minKernel\": \"\"}", 0, true},
#ifdef __x86_64__
      {"\"includes\": {\"arches\": [\"amd64\", \"x32\"]}", 0, true},
      {"\"includes\": {\"arches\": [\"s390x\"]}", 0, false},
      {"\"excludes\": {\"arches\": [\"amd64\"]}", 0, false},
      {"\"excludes\": {\"arches\": [\"arm64\"]}", 0, true},
#endif
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char json[1024];
    snprintf(json, sizeof json, fmt, cases[i].cond);
    int got = outcome(json, cases[i].caps, do_getppid, 0);
    tap_ok(got == (cases[i].applies ? 66 : 0), "%s with caps %#llx: %s (got %d)", cases[i].cond,
           (unsigned long long)cases[i].caps, cases[i].applies ? "applies" : "does not apply", got);
  }
#ifdef __x86_64__
  /* archMap: the native entry's sub-architectures are filtered too; an
   * architecture not in the filter is killed. */
  static const char *const arch_fmt =
      "{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"archMap\": [{\"architecture\": \"SCMP_ARCH_AARCH64\", "
      "\"subArchitectures\": [\"SCMP_ARCH_ARM\"]}, {\"architecture\": \"SCMP_ARCH_X86_64\", \"subArchitectures\": "
      "[%s]}], \"syscalls\": [{\"names\": [\"getppid\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 66}]}";
  char json[1024];
  snprintf(json, sizeof json, arch_fmt, "\"SCMP_ARCH_X86\"");
  int got = outcome(json, 0, do_getppid_i386, 0);
  tap_ok(got == 66, "archMap x86_64 -> x86: the i386 getppid (int 0x80) is filtered (got %d)", got);
  snprintf(json, sizeof json, arch_fmt, "");
  got = outcome(json, 0, do_getppid_i386, 0);
  tap_ok(got == 1000 + SIGSYS, "no x86 sub-architecture: an i386 syscall is killed (got %d)", got);
  got = outcome("{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_X86_64\", "
                "\"SCMP_ARCH_X86\"], \"syscalls\": [{\"names\": [\"getppid\"], \"action\": \"SCMP_ACT_ERRNO\", "
                "\"errnoRet\": 66}]}",
                0, do_getppid_i386, 0);
  tap_ok(got == 66, "\"architectures\" [X86_64, X86]: the i386 getppid is filtered (got %d)", got);
#endif
}

/* Calls that i386 reaches through socketcall(2) or ipc(2): libseccomp
 * refuses some argument rules on those (EEXIST), as it does for runc. */
static bool multiplexed(const char *name) {
  static const char *const words[] = {"sock", "send", "recv", "accept", "bind", "connect", "listen", "shutdown",
                                      "peername", "shm", "sem", "msg", NULL};
  for (const char *const *w = words; *w; w++)
    if (strstr(name, *w))
      return true;
  return false;
}

static void test_malformed(void) {
  struct {
    const char *json, *want;
  } cases[] = {
      {"not json", "seccomp profile: not valid JSON"},
      {"{\"defaultAction\": ", "the text ends inside a value"},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\"} x", "not valid JSON at offset 36"},
      {"[1]", "the top level: expected an object, got array"},
      {"null", "the top level: expected an object, got null"},
      {"{}", "defaultAction: missing"},
      {"{\"defaultAction\": 5}", "defaultAction: expected a string, got int"},
      {"{\"defaultAction\": \"SCMP_ACT_FOO\"}", "defaultAction: unknown action \"SCMP_ACT_FOO\""},
      {"{\"defaultAction\": \"SCMP_ACT_NOTIFY\"}", "defaultAction: SCMP_ACT_NOTIFY is not supported"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": \"1\"}",
       "defaultErrnoRet: expected an unsigned integer, got string"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"defaultErrnoRet\": 70000}", "defaultErrnoRet: 70000 is out of range"},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"defaultErrnoRet\": 1}",
       "defaultErrnoRet: only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE"},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"defaultAktion\": 1}", "the top level: unknown field \"defaultAktion\""},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_NOPE\"]}",
       "architectures[0]: unknown architecture \"SCMP_ARCH_NOPE\""},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": \"SCMP_ARCH_X86\"}",
       "architectures: expected an array, got string"},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"archMap\": [{\"architecture\": \"SCMP_ARCH_X86_64\", "
       "\"subArchitectures\": [\"SCMP_ARCH_X86\", \"x32\"]}]}",
       "archMap[0].subArchitectures[1]: unknown architecture \"x32\""},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"archMap\": [{\"architecture\": \"SCMP_ARCH_FOO\"}]}",
       "archMap[0].architecture: unknown architecture"},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"archMap\": [{\"subArchitectures\": []}]}",
       "archMap[0]: missing \"architecture\""},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"archMap\": [], \"architectures\": [\"SCMP_ARCH_X86\"], "
       "\"archMap\": [{\"architecture\": \"SCMP_ARCH_X86_64\"}]}",
       "both \"architectures\" and \"archMap\""},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": {}}", "syscalls: expected an array, got object"},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"]}]}",
       "syscalls[0]: missing \"action\""},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{}, {\"names\": [\"read\"], \"action\": "
       "\"SCMP_ACT_BAR\"}]}",
       "syscalls[0]: missing \"action\""},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
       "\"SCMP_ACT_BAR\"}]}",
       "syscalls[0].action: unknown action \"SCMP_ACT_BAR\""},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": \"read\", \"action\": "
       "\"SCMP_ACT_ALLOW\"}]}",
       "syscalls[0].names: expected an array, got string"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\", 1], \"action\": "
       "\"SCMP_ACT_ALLOW\"}]}",
       "syscalls[0].names[1]: expected a string, got int"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\", \"\"], \"action\": "
       "\"SCMP_ACT_ALLOW\"}]}",
       "syscalls[0].names[1]: empty syscall name"},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"name\": \"read\", \"names\": [\"write\"], "
       "\"action\": \"SCMP_ACT_ALLOW\"}]}",
       "syscalls[0]: both \"name\" and \"names\""},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"nmes\": [\"read\"], \"action\": "
       "\"SCMP_ACT_ALLOW\"}]}",
       "syscalls[0]: unknown field \"nmes\""},
      {"{\"defaultAction\": \"SCMP_ACT_ERRNO\", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
       "\"SCMP_ACT_ALLOW\", \"errnoRet\": 1}]}",
       "syscalls[0].errnoRet: only valid with SCMP_ACT_ERRNO"},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
       "\"SCMP_ACT_ERRNO\", \"errnoRet\": -1}]}",
       "syscalls[0].errnoRet: must not be negative"},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
       "\"SCMP_ACT_ERRNO\", \"errnoRet\": 1.5}]}",
       "syscalls[0].errnoRet: expected an unsigned integer, got double"},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
       "\"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 0, \"value\": 1, \"op\": \"SCMP_CMP_ABOUT\"}]}]}",
       "syscalls[0].args[0].op: unknown operator \"SCMP_CMP_ABOUT\""},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
       "\"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 0, \"value\": 1}, {\"index\": 6, \"value\": 1, \"op\": "
       "\"SCMP_CMP_EQ\"}]}]}",
       "syscalls[0].args[0]: missing \"op\""},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
       "\"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 6, \"value\": 1, \"op\": \"SCMP_CMP_EQ\"}]}]}",
       "syscalls[0].args[0].index: 6 is out of range (0 to 5)"},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
       "\"SCMP_ACT_ERRNO\", \"args\": [{\"index\": 0, \"value\": \"1\", \"op\": \"SCMP_CMP_EQ\"}]}]}",
       "syscalls[0].args[0].value: expected an unsigned integer, got string"},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
       "\"SCMP_ACT_ERRNO\", \"args\": {}}]}",
       "syscalls[0].args: expected an array, got object"},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
       "\"SCMP_ACT_ERRNO\", \"includes\": {\"caps\": [\"CAP_SYS_WIZARD\"]}}]}",
       "syscalls[0].includes.caps[0]: unknown capability \"CAP_SYS_WIZARD\""},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
       "\"SCMP_ACT_ERRNO\", \"excludes\": {\"caps\": [\"sys_admin\"]}}]}",
       "syscalls[0].excludes.caps[0]: unknown capability \"sys_admin\""},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
       "\"SCMP_ACT_ERRNO\", \"includes\": {\"arches\": [\"vax\"]}}]}",
       "syscalls[0].includes.arches[0]: unknown architecture \"vax\""},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
       "\"SCMP_ACT_ERRNO\", \"includes\": {\"minKernel\": \"4\"}}]}",
       "syscalls[0].includes.minKernel: invalid kernel version \"4\""},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
       "\"SCMP_ACT_ERRNO\", \"excludes\": {\"minKernel\": \"0.0\"}}]}",
       "syscalls[0].excludes.minKernel: invalid kernel version \"0.0\""},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
       "\"SCMP_ACT_ERRNO\", \"includes\": {\"minKernel\": 4.8}}]}",
       "syscalls[0].includes.minKernel: expected a string, got double"},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"read\"], \"action\": "
       "\"SCMP_ACT_ERRNO\", \"includes\": [\"CAP_SYS_ADMIN\"]}]}",
       "syscalls[0].includes: expected an object, got array"},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"listenerPath\": \"/run/agent.sock\"}",
       "listenerPath: seccomp agents are not supported"},
      {"{\"defaultAction\": \"SCMP_ACT_ALLOW\", \"syscalls\": [{\"names\": [\"re\\u0000ad\"], \"action\": "
       "\"SCMP_ACT_ERRNO\"}]}",
       "syscalls[0].names[0]: contains a NUL character"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    uint8_t *bpf = NULL;
    size_t len = 0;
    berth_error_t err = NULL;
    int r = compile(cases[i].json, DOCKER_CAPS, &bpf, &len, &err);
    bool ok = r < 0 && err && err->status == EINVAL && strstr(err->msg, cases[i].want) && bpf == NULL;
    tap_ok(ok, "malformed %zu: EINVAL \"%s\"", i, cases[i].want);
    if (!ok)
      tap_diag("got r=%d: %s", r, err ? err->msg : "(no error)");
    berth_error_release(&err);
    free(bpf);
  }

  /* Size limits: the text, and the program. */
  char *big = malloc(SECCOMP_PROFILE_MAX + 2);
  memset(big, ' ', SECCOMP_PROFILE_MAX + 1);
  memcpy(big, "{\"defaultAction\": \"SCMP_ACT_ALLOW\"}", 35);
  uint8_t *bpf = NULL;
  size_t len = 0;
  berth_error_t err = NULL;
  int r = seccomp_profile_compile(big, SECCOMP_PROFILE_MAX + 1, &target, &bpf, &len, &err);
  tap_ok(r < 0 && err && err->status == EINVAL && strstr(err->msg, "the limit is 1048576 bytes"),
         "a profile over SECCOMP_PROFILE_MAX: EINVAL (%s)", err ? err->msg : "no error");
  berth_error_release(&err);
  r = seccomp_profile_compile(big, SECCOMP_PROFILE_MAX, &target, &bpf, &len, &err);
  tap_ok(r == 0, "a profile of exactly SECCOMP_PROFILE_MAX bytes (trailing blanks) compiles");
  free(bpf);
  bpf = NULL;
  berth_error_release(&err);
  r = seccomp_profile_compile("{\"defaultAction\": \"SCMP_ACT_ALLOW\"}\0", 36, &target, &bpf, &len, &err);
  tap_ok(r < 0 && err && strstr(err->msg, "NUL byte at offset 35"), "a NUL byte in the text: EINVAL");
  berth_error_release(&err);

  /* 257 argument comparisons: refused before libseccomp spends seconds. */
  size_t n = (size_t)sprintf(big, "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"syscalls\":[");
  for (int i = 0; i < 257; i++)
    n += (size_t)sprintf(big + n, "%s{\"names\":[\"getpgid\"],\"action\":\"SCMP_ACT_ERRNO\",\"args\":[{\"index\":0,"
                                  "\"value\":%d,\"op\":\"SCMP_CMP_EQ\"}]}",
                         i ? "," : "", i + 1);
  n += (size_t)sprintf(big + n, "]}");
  r = seccomp_profile_compile(big, n, &target, &bpf, &len, &err);
  tap_ok(r < 0 && err && err->status == EINVAL && strstr(err->msg, "syscalls[256].names[0]: more than 256 argument"),
         "257 argument comparisons: EINVAL (%s)", err ? err->msg : "no error");
  berth_error_release(&err);

#ifdef __x86_64__
  /* 256 syscalls with a 64-bit comparison each, every other syscall an
   * errno of its own, for four architectures: over 4096 instructions. */
  n = (size_t)sprintf(big, "{\"defaultAction\":\"SCMP_ACT_ALLOW\",\"architectures\":[\"SCMP_ARCH_X86_64\","
                           "\"SCMP_ARCH_X86\",\"SCMP_ARCH_X32\",\"SCMP_ARCH_AARCH64\"],\"syscalls\":[");
  int named = 0, logged = 0;
  char *logs = malloc(65536);
  size_t ln = 0;
  for (int nr = 0; nr < 1024; nr++) {
    char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    if (name == NULL)
      continue;
    if (named < 256 && !multiplexed(name))
      n += (size_t)sprintf(big + n, "{\"names\":[\"%s\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":%d,\"args\":"
                                    "[{\"index\":%d,\"value\":%llu,\"valueTwo\":%llu,\"op\":\"SCMP_CMP_GT\"}]},",
                           name, ++named, nr % 6, (unsigned long long)(nr + 1) << 33 | 0xff0f,
                           (unsigned long long)(nr + 1) << 33 | 0x0f);
    else
      ln += (size_t)sprintf(logs + ln, "{\"names\":[\"%s\"],\"action\":\"SCMP_ACT_ERRNO\",\"errnoRet\":%d},", name,
                            1000 + logged++);
    free(name);
  }
  n += (size_t)sprintf(big + n, "%s", logs);
  free(logs);
  n += (size_t)sprintf(big + n, "{\"names\":[\"getpid\"],\"action\":\"SCMP_ACT_LOG\"}]}");
  r = seccomp_profile_compile(big, n, &target, &bpf, &len, &err);
  tap_ok(r < 0 && err && err->status == EINVAL && strstr(err->msg, "instructions; the kernel's limit is 4096"),
         "every syscall and %d comparisons: EINVAL (%s)", named, err ? err->msg : "no error");
  berth_error_release(&err);
  free(bpf);
#endif
  free(big);
}

/* In berth-apid's own sandbox (seccomp(2) and memfd_create refused). */
static void test_in_apid_sandbox(void) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    berth_error_t err = NULL;
    uint8_t *bpf = NULL;
    size_t len = 0;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || berth_sandbox_apply(BERTH__IPC__PEER__PEER_API, &err) < 0)
      _exit(SETUP_FAILED);
    if (seccomp_profile_compile(default_profile, default_len, &target, &bpf, &len, &err) < 0) {
      fprintf(stderr, "# %s\n", err->msg);
      _exit(1);
    }
    static const char kill_log[] = "{\"defaultAction\": \"SCMP_ACT_LOG\", \"syscalls\": [{\"names\": [\"mount\"], "
                                   "\"action\": \"SCMP_ACT_KILL_PROCESS\"}]}";
    if (seccomp_profile_compile(kill_log, sizeof kill_log - 1, &target, &bpf, &len, &err) < 0) {
      fprintf(stderr, "# %s\n", err->msg);
      _exit(2);
    }
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
         "inside berth-apid's sandbox: the default profile and SCMP_ACT_LOG/KILL_PROCESS compile (status %#x)", status);
}

int main(void) {
  struct utsname u;
  if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &target.kernel_major, &target.kernel_minor) != 2)
    return tap_skip_all("cannot read the kernel version");
  target.capabilities = DOCKER_CAPS;
  default_profile = read_file(SECCOMP_DEFAULT_PROFILE, &default_len);
  if (default_profile == NULL) {
    tap_ok(0, "read %s", SECCOMP_DEFAULT_PROFILE);
    return tap_done();
  }
  test_default_profile();
  test_rules();
  test_conditions();
  test_malformed();
  test_in_apid_sandbox();
  free(default_profile);
  return tap_done();
}
