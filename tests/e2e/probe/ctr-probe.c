/* ctr-probe: run inside a container by the containers-*.bats tests (as
 * /probe in the berth-probe:latest image). Each subcommand prints facts or
 * tries one escape and prints exactly what happened, one line per attempt:
 *   "<what>: OK" or "<what>: <ERRNO NAME>" (e.g. "mount(tmpfs /tmp): EPERM").
 * Built static (no libc in busybox's image). Exit status: 0 when the probe
 * ran (whatever it found), 2 on bad usage; `alloc` and `forkbomb` exit as
 * whatever the kernel does to them.
 *
 *   fds            every open fd (but the one listing /proc/self/fd)
 *   caps           Cap{Inh,Prm,Eff,Bnd,Amb}, NoNewPrivs, Seccomp of itself
 *   mount          mount attempts (tmpfs, proc, bind, remount of /)
 *   unshare        unshare/clone with namespace flags, setns
 *   keyctl         keyctl, add_key, request_key
 *   ptrace PID     PTRACE_ATTACH and PTRACE_SEIZE of PID
 *   open-exe       /proc/self/exe, /proc/1/exe and every /proc/N/exe opened
 *                  for writing (and where they point)
 *   release-agent  every cgroup release_agent opened for writing, cgroup v1
 *                  mounts tried
 *   masked         Docker's masked paths read, read-only paths written
 *   write PATH     create/truncate PATH and write to it
 *   forkbomb       fork until fork fails; then kill the children
 *   alloc MB       allocate and touch MB MiB, 1 MiB at a time
 *   uidmap         /proc/self/uid_map and gid_map
 *   cwd            getcwd()
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef KEYCTL_GET_KEYRING_ID
#define KEYCTL_GET_KEYRING_ID 0
#define KEYCTL_JOIN_SESSION_KEYRING 1
#endif
#define PROBE_KEY_SPEC_SESSION_KEYRING (-3)

static const char *errname(int e) {
  const char *n = strerrorname_np(e);
  return n ? n : "E?";
}

/* "<what>: OK" when rc >= 0, else "<what>: ERRNO" (errno of the failure). */
static void report(const char *what, long rc) {
  if (rc >= 0)
    printf("%s: OK\n", what);
  else
    printf("%s: %s\n", what, errname(errno));
  fflush(stdout);
}

static int cmd_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) {
    report("opendir(/proc/self/fd)", -1);
    return 1;
  }
  int self = dirfd(d);
  struct dirent *de;
  char list[4096] = "";
  size_t used = 0;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.')
      continue;
    int fd = atoi(de->d_name);
    if (fd == self)
      continue;
    char path[64], target[512];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof target - 1);
    target[n < 0 ? 0 : n] = '\0';
    printf("fd %d -> %s\n", fd, n < 0 ? errname(errno) : target);
    int w = snprintf(list + used, sizeof list - used, used ? " %d" : "%d", fd);
    if (w > 0 && (size_t)w < sizeof list - used)
      used += (size_t)w;
  }
  closedir(d);
  printf("fds: %s\n", list);
  return 0;
}

static int cmd_caps(void) {
  FILE *f = fopen("/proc/self/status", "re");
  if (!f) {
    report("fopen(/proc/self/status)", -1);
    return 1;
  }
  char line[256];
  while (fgets(line, sizeof line, f)) {
    static const char *keys[] = {"CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:", "NoNewPrivs:", "Seccomp:"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
      size_t k = strlen(keys[i]);
      if (strncmp(line, keys[i], k) == 0) {
        char *v = line + k;
        v += strspn(v, " \t");
        printf("%.*s %s", (int)(k - 1), keys[i], v);
      }
    }
  }
  fclose(f);
  return 0;
}

static int cmd_mount(void) {
  mkdir("/tmp/probe-mnt", 0755);
  report("mount(tmpfs /tmp/probe-mnt)", mount("none", "/tmp/probe-mnt", "tmpfs", 0, NULL));
  report("mount(proc /tmp/probe-mnt)", mount("proc", "/tmp/probe-mnt", "proc", 0, NULL));
  report("mount(bind / /tmp/probe-mnt)", mount("/", "/tmp/probe-mnt", NULL, MS_BIND, NULL));
  report("mount(remount / rw)", mount(NULL, "/", NULL, MS_REMOUNT, NULL));
  report("umount2(/proc)", umount2("/proc", MNT_DETACH));
  return 0;
}

static int cmd_unshare(void) {
  report("unshare(CLONE_NEWUSER)", unshare(CLONE_NEWUSER));
  report("unshare(CLONE_NEWNS)", unshare(CLONE_NEWNS));
  report("unshare(CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWCGROUP)", unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP));
  /* clone(2) with a namespace flag: the child exits at once */
  long pid = syscall(SYS_clone, (unsigned long)(CLONE_NEWUSER | SIGCHLD), NULL, NULL, NULL, 0);
  if (pid == 0)
    _exit(0);
  if (pid > 0)
    waitpid((pid_t)pid, NULL, 0);
  report("clone(CLONE_NEWUSER)", pid);
  int fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  report("setns(/proc/self/ns/net)", fd < 0 ? -1 : setns(fd, CLONE_NEWNET));
  if (fd >= 0)
    close(fd);
  return 0;
}

static int cmd_keyctl(void) {
  report("keyctl(KEYCTL_GET_KEYRING_ID)", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, PROBE_KEY_SPEC_SESSION_KEYRING, 0));
  report("keyctl(KEYCTL_JOIN_SESSION_KEYRING)", syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, "probe"));
  report("add_key(user)", syscall(SYS_add_key, "user", "probe", "x", 1, PROBE_KEY_SPEC_SESSION_KEYRING));
  report("request_key(user)", syscall(SYS_request_key, "user", "probe", NULL, PROBE_KEY_SPEC_SESSION_KEYRING));
  return 0;
}

static int cmd_ptrace(const char *arg) {
  pid_t pid = (pid_t)atoi(arg);
  char what[128];
  snprintf(what, sizeof what, "ptrace(PTRACE_ATTACH %d)", pid);
  long rc = ptrace(PTRACE_ATTACH, pid, NULL, NULL);
  report(what, rc);
  if (rc == 0) {
    waitpid(pid, NULL, __WALL);
    ptrace(PTRACE_DETACH, pid, NULL, NULL);
  }
  snprintf(what, sizeof what, "ptrace(PTRACE_SEIZE %d)", pid);
  rc = ptrace(PTRACE_SEIZE, pid, NULL, NULL);
  report(what, rc);
  if (rc == 0)
    ptrace(PTRACE_DETACH, pid, NULL, NULL);
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/mem", pid);
  int fd = open(path, O_RDWR | O_CLOEXEC);
  snprintf(what, sizeof what, "open(%s, O_RDWR)", path);
  report(what, fd);
  if (fd >= 0)
    close(fd);
  return 0;
}

/* One /proc/N/exe: where it points, then opened for writing (opening is
 * the escape; the test compares the host binaries' hashes as well). */
static void try_exe(const char *path) {
  char target[512], what[700];
  ssize_t n = readlink(path, target, sizeof target - 1);
  if (n < 0)
    snprintf(target, sizeof target, "(readlink %s)", errname(errno));
  else
    target[n] = '\0';
  printf("exe %s -> %s\n", path, target);
  snprintf(what, sizeof what, "open(%s, O_WRONLY)", path);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  report(what, fd);
  if (fd >= 0)
    close(fd);
  snprintf(what, sizeof what, "open(%s, O_RDWR)", path);
  fd = open(path, O_RDWR | O_CLOEXEC);
  report(what, fd);
  if (fd >= 0)
    close(fd);
}

static int cmd_open_exe(void) {
  try_exe("/proc/self/exe");
  try_exe("/proc/1/exe");
  glob_t g;
  if (glob("/proc/[0-9]*/exe", 0, NULL, &g) == 0) {
    for (size_t i = 0; i < g.gl_pathc; i++)
      try_exe(g.gl_pathv[i]);
    globfree(&g);
  }
  /* every pid the container can see */
  DIR *d = opendir("/proc");
  if (d) {
    struct dirent *de;
    printf("pids:");
    while ((de = readdir(d)))
      if (de->d_name[0] >= '0' && de->d_name[0] <= '9')
        printf(" %s", de->d_name);
    printf("\n");
    closedir(d);
  }
  return 0;
}

static void try_write_open(const char *path) {
  char what[600];
  snprintf(what, sizeof what, "open(%s, O_WRONLY)", path);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  report(what, fd);
  if (fd >= 0)
    close(fd);
}

/* cgroup v1 hierarchies mounted by the container itself (CVE-2022-0492
 * needs that, plus a writable release_agent at its root). */
static void try_cgroup_mounts(const char *prefix) {
  static const char *ctrls[] = {"memory", "rdma", "pids", "cpu", "none,name=probe"};
  mkdir("/tmp/probe-cg", 0755);
  for (size_t i = 0; i < sizeof ctrls / sizeof ctrls[0]; i++) {
    char what[128];
    snprintf(what, sizeof what, "%smount(cgroup %s /tmp/probe-cg)", prefix, ctrls[i]);
    int rc = mount("cgroup", "/tmp/probe-cg", "cgroup", 0, ctrls[i]);
    report(what, rc);
    if (rc == 0) {
      try_write_open("/tmp/probe-cg/release_agent");
      umount2("/tmp/probe-cg", MNT_DETACH);
    }
  }
}

static int cmd_release_agent(void) {
  static const char *pats[] = {"/sys/fs/cgroup/release_agent", "/sys/fs/cgroup/*/release_agent",
                               "/sys/fs/cgroup/*/*/release_agent"};
  int seen = 0;
  for (size_t p = 0; p < sizeof pats / sizeof pats[0]; p++) {
    glob_t g;
    if (glob(pats[p], 0, NULL, &g) == 0) {
      for (size_t i = 0; i < g.gl_pathc; i++, seen++)
        try_write_open(g.gl_pathv[i]);
      globfree(&g);
    }
  }
  printf("release_agent files seen: %d\n", seen);
  try_cgroup_mounts("");
  /* the published exploit: unshare -UrmC, then mount a v1 hierarchy and
   * write its release_agent */
  int rc = unshare(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWCGROUP);
  report("unshare(CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWCGROUP)", rc);
  if (rc == 0)
    try_cgroup_mounts("after unshare: ");
  return 0;
}

static void read_masked(const char *path) {
  struct stat st;
  if (lstat(path, &st) < 0) {
    printf("masked %s: %s\n", path, errname(errno));
    return;
  }
  if (S_ISDIR(st.st_mode)) {
    DIR *d = opendir(path);
    if (!d) {
      printf("masked %s: %s\n", path, errname(errno));
      return;
    }
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
      if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
        n++;
    closedir(d);
    printf("masked %s: dir %d entries\n", path, n);
    return;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    printf("masked %s: %s\n", path, errname(errno));
    return;
  }
  char buf[4096];
  long total = 0;
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0) {
      printf("masked %s: read %s\n", path, errname(errno));
      close(fd);
      return;
    }
    if (r == 0 || (total += r) > 1 << 20)
      break;
  }
  close(fd);
  printf("masked %s: file %ld bytes\n", path, total);
}

static int cmd_masked(void) {
  static const char *masked[] = {"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                                 "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
                                 "/sys/firmware", "/sys/devices/virtual/powercap"};
  for (size_t i = 0; i < sizeof masked / sizeof masked[0]; i++)
    read_masked(masked[i]);
  static const char *ro[] = {"/proc/sysrq-trigger", "/proc/sys/kernel/core_pattern", "/proc/sys/kernel/hostname",
                             "/proc/sys/vm/drop_caches", "/proc/irq/default_smp_affinity", "/sys/kernel/uevent_helper",
                             "/sys/kernel/mm/transparent_hugepage/enabled"};
  for (size_t i = 0; i < sizeof ro / sizeof ro[0]; i++) {
    char what[128];
    snprintf(what, sizeof what, "readonly open(%s, O_WRONLY)", ro[i]);
    int fd = open(ro[i], O_WRONLY | O_CLOEXEC);
    report(what, fd);
    if (fd >= 0)
      close(fd);
  }
  return 0;
}

static int cmd_write(const char *path) {
  char what[600];
  snprintf(what, sizeof what, "write %s", path);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    report(what, -1);
    return 0;
  }
  if (write(fd, "probe\n", 6) != 6) {
    int e = errno;
    close(fd);
    errno = e;
    report(what, -1);
    return 0;
  }
  report(what, close(fd));
  return 0;
}

#define FORKBOMB_MAX 4096

static int cmd_forkbomb(void) {
  static pid_t kids[FORKBOMB_MAX];
  int n = 0, err = 0;
  while (n < FORKBOMB_MAX) {
    pid_t p = fork();
    if (p == 0) {
      for (;;)
        pause();
    }
    if (p < 0) {
      err = errno;
      break;
    }
    kids[n++] = p;
  }
  if (err)
    printf("forkbomb: %d forks, then %s\n", n, errname(err));
  else
    printf("forkbomb: %d forks, no failure\n", n);
  fflush(stdout);
  for (int i = 0; i < n; i++)
    kill(kids[i], SIGKILL);
  for (int i = 0; i < n; i++)
    waitpid(kids[i], NULL, 0);
  /* the limit is per cgroup: once the children are gone, fork works again */
  pid_t p = fork();
  if (p == 0)
    _exit(0);
  if (p > 0)
    waitpid(p, NULL, 0);
  report("fork after cleanup", p);
  printf("forkbomb: alive\n");
  return 0;
}

static int cmd_alloc(const char *arg) {
  long mb = atol(arg);
  long pg = sysconf(_SC_PAGESIZE);
  for (long i = 0; i < mb; i++) {
    char *p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      printf("alloc: mmap failed after %ld MiB: %s\n", i, errname(errno));
      return 1;
    }
    for (long off = 0; off < (1 << 20); off += pg)
      p[off] = (char)(i + 1);
    if ((i + 1) % 16 == 0) {
      printf("alloc: %ld MiB\n", i + 1);
      fflush(stdout);
    }
  }
  printf("alloc: %ld MiB touched, not killed\n", mb);
  return 0;
}

static void cat_file(const char *label, const char *path) {
  FILE *f = fopen(path, "re");
  if (!f) {
    printf("%s: %s\n", label, errname(errno));
    return;
  }
  char line[256];
  while (fgets(line, sizeof line, f)) {
    /* squeeze the kernel's column padding: "0 1879113728 65536" */
    char a[32], b[32], c[32];
    if (sscanf(line, "%31s %31s %31s", a, b, c) == 3)
      printf("%s %s %s %s\n", label, a, b, c);
  }
  fclose(f);
}

static int cmd_uidmap(void) {
  cat_file("uid_map", "/proc/self/uid_map");
  cat_file("gid_map", "/proc/self/gid_map");
  return 0;
}

static int cmd_cwd(void) {
  char buf[4096];
  if (!getcwd(buf, sizeof buf)) {
    report("getcwd", -1);
    return 0;
  }
  printf("cwd: %s\n", buf);
  return 0;
}

static int usage(void) {
  fprintf(stderr, "usage: probe fds|caps|mount|unshare|keyctl|ptrace PID|open-exe|release-agent|masked|"
                  "write PATH|forkbomb|alloc MB|uidmap|cwd\n");
  return 2;
}

/* The escape attempts really try: run on the host as root, `mount` would
 * detach the host's /proc. So they run only as /probe (the image's path),
 * never from the build tree. */
static int in_image(void) {
  char exe[64];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n < 0)
    return 0;
  exe[n] = '\0';
  return strcmp(exe, "/probe") == 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2)
    return usage();
  const char *c = argv[1];
  const char *arg = argc > 2 ? argv[2] : NULL;
  if (!in_image() && getenv("PROBE_ON_HOST") == NULL) {
    fprintf(stderr, "probe: runs only as /probe inside a container (PROBE_ON_HOST=1 overrides)\n");
    return 3;
  }
  if (!strcmp(c, "fds"))
    return cmd_fds();
  if (!strcmp(c, "caps"))
    return cmd_caps();
  if (!strcmp(c, "mount"))
    return cmd_mount();
  if (!strcmp(c, "unshare"))
    return cmd_unshare();
  if (!strcmp(c, "keyctl"))
    return cmd_keyctl();
  if (!strcmp(c, "ptrace") && arg)
    return cmd_ptrace(arg);
  if (!strcmp(c, "open-exe"))
    return cmd_open_exe();
  if (!strcmp(c, "release-agent"))
    return cmd_release_agent();
  if (!strcmp(c, "masked"))
    return cmd_masked();
  if (!strcmp(c, "write") && arg)
    return cmd_write(arg);
  if (!strcmp(c, "forkbomb"))
    return cmd_forkbomb();
  if (!strcmp(c, "alloc") && arg)
    return cmd_alloc(arg);
  if (!strcmp(c, "uidmap"))
    return cmd_uidmap();
  if (!strcmp(c, "cwd"))
    return cmd_cwd();
  return usage();
}
