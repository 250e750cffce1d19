/* Starting a container (see executor.h and docs/containers.md): the
 * executor side (fork, cgroup placement, the verdict), M (root filesystem,
 * stdio, the container process, then berth-monitor) and C (namespaces'
 * inside: mounts, pivot_root, user, limits, capabilities, seccomp, exec).
 * M and C report a failure as one datagram "ERRNO message" and exit. */
#include <cap-ng.h>
#include <ctype.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/sched.h> /* struct clone_args */
#include <linux/seccomp.h>
#include <net/if.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/un.h>
#include <time.h>
#include "executor.h"

#define SETUP_TIMEOUT_MS 30000
static int rfd = -1; /* where M (to the executor) or C (to M) reports a failure */

/* Reports "ERRNO message" and exits: code 0 means EIO and ": strerror(errno)" appended. */
__attribute__((noreturn, format(printf, 2, 3))) static void die(int code, const char *fmt, ...) {
  char m[1024], *e = strerror(errno);
  va_list ap;
  va_start(ap, fmt);
  int n = snprintf(m, sizeof m, "%d ", code ? code : EIO);
  vsnprintf(m + n, sizeof m - (size_t)n, fmt, ap);
  va_end(ap);
  if (code == 0)
    snprintf(m + strlen(m), sizeof m - strlen(m), ": %s", e);
  send(rfd, m, strlen(m), MSG_NOSIGNAL);
  _exit(1);
}
#define TRY(expr, ...) do { if ((expr) < 0) die(0, __VA_ARGS__); } while (0)

static void write_proc(bool must, pid_t pid, const char *file, const char *fmt, ...) {
  char p[64], v[64];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(v, sizeof v, fmt, ap);
  va_end(ap);
  snprintf(p, sizeof p, "/proc/%d/%s", (int)pid, file);
  int fd = open(p, O_WRONLY | O_CLOEXEC);
  TRY(fd < 0 || write(fd, v, strlen(v)) < 0 ? -must : 0, "write %s", p);
  close(fd);
}

#define clone_ns(flags) (pid_t)syscall(SYS_clone, (flags) | SIGCHLD, NULL, NULL, NULL, NULL)

/* ---- C: the container's process ---- */

static const char *masked[] = {"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
                               "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
                               "/sys/devices/virtual/powercap"};
static const char *ro_paths[] = {"/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"};
static const char *links[][2] = {{"pts/ptmx", "/dev/ptmx"},       {"/proc/self/fd", "/dev/fd"},
                                 {"/proc/self/fd/0", "/dev/stdin"}, {"/proc/self/fd/1", "/dev/stdout"},
                                 {"/proc/self/fd/2", "/dev/stderr"}};
/* In this order after pivot_root. Detached before it: a bind of src (a host
 * path, or relative to the container's directory) or, without flags, a new
 * proc or sysfs (they must be made while the host's are visible). */
static const struct { const char *target, *src, *type; unsigned long flags; const char *data; } mounts[] = {
    {"/proc", NULL, "proc", 0, NULL},
    {"/sys", NULL, "sysfs", 0, NULL},
    {"/dev", NULL, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k"},
    {"/dev/pts", NULL, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"},
    {"/dev/shm", NULL, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k"},
    {"/dev/mqueue", NULL, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL},
#define BIND(t, s) {.target = t, .src = s}
    BIND("/dev/null", "/dev/null"), BIND("/dev/zero", "/dev/zero"), BIND("/dev/full", "/dev/full"),
    BIND("/dev/random", "/dev/random"), BIND("/dev/urandom", "/dev/urandom"), BIND("/dev/tty", "/dev/tty"),
    BIND("/etc/hostname", "etc/hostname"), BIND("/etc/hosts", "etc/hosts"), BIND("/etc/resolv.conf", "etc/resolv.conf"),
};
#define NMOUNTS (sizeof mounts / sizeof *mounts)

static int new_fs(const char *type, unsigned attrs) {
  int fs = fsopen(type, FSOPEN_CLOEXEC), m;
  TRY(fs, "fsopen %s", type);
  TRY(fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0), "create %s", type);
  TRY(m = fsmount(fs, FSMOUNT_CLOEXEC, attrs), "mount %s", type);
  return m;
}

static int clone_tree(const char *path, unsigned flags) {
  int t = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | flags);
  TRY(t, "bind %s", path);
  return t;
}

/* The container's root, after pivot_root: everything resolves inside it. */
static void setup_mounts(const Berth__Ipc__ContainerSpec *s, const int *trees) {
  struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY};
  mkdir("/etc", 0755);
  for (size_t i = 0; i < NMOUNTS; i++) {
    const char *t = mounts[i].target;
    struct stat st;
    TRY(!mounts[i].src && lstat(t, &st) == 0 && S_ISLNK(st.st_mode) ? (errno = ELOOP, -1) : 0, "mount on %s", t);
    int f = mounts[i].src ? open(t, O_RDONLY | O_CREAT | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0644) : mkdir(t, 0755);
    if (f > 0)
      close(f);
    TRY(trees[i] >= 0 ? move_mount(trees[i], "", AT_FDCWD, t, MOVE_MOUNT_F_EMPTY_PATH)
                      : mount(mounts[i].type, t, mounts[i].type, mounts[i].flags, mounts[i].data),
        "mount %s", t);
  }
  for (size_t i = 0; i < sizeof links / sizeof *links; i++)
    TRY(symlink(links[i][0], links[i][1]), "symlink %s", links[i][1]);
  struct stat st;
  for (size_t i = 0; !s->privileged && i < sizeof masked / sizeof *masked; i++)
    if (stat(masked[i], &st) == 0)
      TRY(S_ISDIR(st.st_mode) ? mount("tmpfs", masked[i], "tmpfs", MS_RDONLY, "size=0")
                              : mount("/dev/null", masked[i], NULL, MS_BIND, NULL),
          "mask %s", masked[i]);
  for (size_t i = 0; !s->privileged && i < sizeof ro_paths / sizeof *ro_paths; i++)
    if (stat(ro_paths[i], &st) == 0) {
      TRY(mount(ro_paths[i], ro_paths[i], NULL, MS_BIND | MS_REC, NULL), "bind %s", ro_paths[i]);
      TRY(mount_setattr(AT_FDCWD, ro_paths[i], AT_RECURSIVE, &ro, sizeof ro), "read-only %s", ro_paths[i]);
    }
  if (s->read_only)
    TRY(mount_setattr(AT_FDCWD, "/", 0, &ro, sizeof ro), "read-only root");
}

/* Docker's view of the container's own cgroups at /sys/fs/cgroup (the
 * cgroup namespace makes them its root; runtimes size heaps from them):
 * cgroup2, or on v1/hybrid the hierarchies the container has a cgroup of
 * its own in (cgroup.c's; in any other it sits at the host's root). */
static void cgroup_view(bool v1, bool rw) {
  unsigned long f = MS_NOSUID | MS_NODEV | MS_NOEXEC | (rw ? 0 : MS_RDONLY);
  TRY(v1 ? mount("tmpfs", "/sys/fs/cgroup", "tmpfs", f & ~MS_RDONLY, "mode=755,size=64k")
         : mount("cgroup2", "/sys/fs/cgroup", "cgroup2", f, NULL), "mount /sys/fs/cgroup");
  FILE *pc = v1 ? fopen("/proc/self/cgroup", "re") : NULL;
  char line[256], dir[300], tok[260];
  while (pc && fgets(line, sizeof line, pc)) { /* "ID:CONTROLLERS:PATH", "0::PATH" for cgroup2 */
    char *c = strchr(line, ':'), *e = c ? strchr(++c, ':') : NULL;
    if (e == NULL || (*e = '\0', snprintf(tok, sizeof tok, ",%s,", c)) >= (int)sizeof tok ||
        !(!*c || strstr(tok, ",memory,") || strstr(tok, ",pids,") || strstr(tok, ",cpu,") || strstr(tok, ",cpuset,")))
      continue;
    snprintf(dir, sizeof dir, "/sys/fs/cgroup/%s", *c ? c : "unified");
    if (mkdir(dir, 0755) == 0 && mount(*c ? "cgroup" : "cgroup2", dir, *c ? "cgroup" : "cgroup2", f, *c ? c : NULL) < 0)
      rmdir(dir); /* a hierarchy the kernel will not mount here: left out */
  }
  if (pc)
    TRY(fclose(pc) | mount(NULL, "/sys/fs/cgroup", NULL, MS_REMOUNT | MS_BIND | f, NULL), "read-only /sys/fs/cgroup");
}

/* A FIFO planted by the image must not hang the start. */
static FILE *open_db(const char *path) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  return fd >= 0 ? fdopen(fd, "re") : NULL;
}

static bool numeric(const char *s, unsigned long *v) {
  return *s && strspn(s, "0123456789") == strlen(s) && (*v = strtoul(s, NULL, 10), true);
}

/* spec.user against the container's own /etc/passwd and /etc/group (no NSS):
 * uid, gid, supplementary groups (the user's in /etc/group), home. */
static void find_user(const char *spec, uid_t *uid, gid_t *gid, gid_t *groups, size_t *ng, char **home) {
  char u[300], *g, *name = NULL;
  unsigned long un = 0, gn = 0;
  snprintf(u, sizeof u, "%s", spec);
  if ((g = strchr(u, ':')))
    *g++ = '\0';
  bool unum = numeric(u, &un) || !u[0], gnum = g && numeric(g, &gn), gfound = false;
  FILE *f = open_db("/etc/passwd");
  for (struct passwd *pw; f && (pw = fgetpwent(f));)
    if (unum ? pw->pw_uid == un : strcmp(pw->pw_name, u) == 0) {
      *uid = pw->pw_uid, *gid = pw->pw_gid, *home = strdup(pw->pw_dir), name = strdup(pw->pw_name);
      break;
    }
  if (f)
    fclose(f);
  if (!name && !unum)
    die(EIO, "unable to find user %s: no matching entries in passwd file", u);
  if (!name)
    *uid = (uid_t)un, *gid = 0;
  f = open_db("/etc/group");
  for (struct group *gr; f && (gr = fgetgrent(f));) {
    if (g && (gnum ? gr->gr_gid == gn : strcmp(gr->gr_name, g) == 0))
      *gid = gr->gr_gid, gfound = true;
    for (char **m = gr->gr_mem; name && m && *m && *ng < 64; m++)
      if (strcmp(*m, name) == 0)
        groups[(*ng)++] = gr->gr_gid;
  }
  if (f)
    fclose(f);
  if (g && !gnum && !gfound)
    die(EIO, "unable to find group %s: no matching entries in group file", g);
  if (gnum)
    *gid = (gid_t)gn;
}

__attribute__((noreturn)) static void child(const spawn_t *sp, const int *cio) {
  const Berth__Ipc__ContainerSpec *s = sp->s;
  int trees[NMOUNTS];
  char g, *home = "/";
  prctl(PR_SET_PDEATHSIG, SIGKILL); /* until exec: M gone = give up */
  if (recv(rfd, &g, 1, 0) != 1)
    _exit(1);
  if (sp->ubase)
    TRY(setresgid(0, 0, 0) | setresuid(0, 0, 0), "become root of the user namespace");
  TRY(setsid(), "setsid");
  for (int i = 0; i < 3; i++)
    TRY(dup2(cio[i], i), "stdio");
  /* Nothing of the host may stay reachable through /proc/self/fd: 0-2, the report socket at 3. */
  TRY(rfd = rfd == 3 ? 3 : dup3(rfd, 3, O_CLOEXEC), "dup3");
  TRY(close_range(4, ~0U, 0), "close_range");
  TRY(s->hostname[0] ? sethostname(s->hostname, strlen(s->hostname)) : 0, "sethostname");
  TRY(s->domainname[0] ? setdomainname(s->domainname, strlen(s->domainname)) : 0, "setdomainname");
  if (s->network != BERTH__IPC__CONTAINER_SPEC__NETWORK__NETWORK_HOST) { /* loopback up */
    struct ifreq ifr = {.ifr_name = "lo", .ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING};
    int so = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    TRY(so < 0 ? -1 : ioctl(so, SIOCSIFFLAGS, &ifr), "loopback up");
  }
  /* What comes from outside the root is taken now, attached after pivot_root. */
  unsigned fsattr = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
  struct mount_attr sys = {.attr_set = fsattr | (s->privileged ? 0 : MOUNT_ATTR_RDONLY)};
  bool hostnet = s->network == BERTH__IPC__CONTAINER_SPEC__NETWORK__NETWORK_HOST; /* sysfs needs an own netns */
  for (size_t i = 0; i < NMOUNTS; i++)
    trees[i] = mounts[i].src ? clone_tree(mounts[i].src, 0) : mounts[i].flags ? -1
               : i == 1 && hostnet ? clone_tree("/sys", AT_RECURSIVE) : new_fs(mounts[i].type, i ? sys.attr_set : fsattr);
  if (hostnet)
    TRY(mount_setattr(trees[1], "", AT_EMPTY_PATH | AT_RECURSIVE, &sys, sizeof sys), "read-only /sys");
  TRY(mount("rootfs", "rootfs", NULL, MS_BIND | MS_REC, NULL), "bind rootfs"); /* unlocked: pivot_root wants that */
  TRY(chdir("rootfs"), "chdir rootfs");
  TRY(syscall(SYS_pivot_root, ".", "."), "pivot_root");
  TRY(umount2(".", MNT_DETACH), "detach the old root");
  TRY(chdir("/"), "chdir /");
  setup_mounts(s, trees);
  cgroup_view(sp->x->cg_v1, s->privileged);
  TRY(close_range(4, ~0U, 0), "close_range");

  uid_t uid = 0;
  gid_t gid = 0, groups[64 + 64];
  size_t ng = 0;
  find_user(s->user, &uid, &gid, groups, &ng, &home);
  for (size_t i = 0; i < s->n_extra_gids && ng < sizeof groups / sizeof *groups; i++)
    groups[ng++] = s->extra_gids[i];
  if (s->tty) { /* the console: a pty of the container's own devpts (`tty` names it); its master goes to M */
    int pm = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC), ps;
    TRY(pm < 0 ? -1 : unlockpt(pm), "pseudo-terminal");
    TRY(ps = ioctl(pm, TIOCGPTPEER, O_RDWR | O_NOCTTY), "pseudo-terminal peer");
    TRY(fchown(ps, uid, gid) | dup2(ps, 0) | dup2(ps, 1) | dup2(ps, 2) | ioctl(0, TIOCSCTTY, 0), "console");
    char cm[CMSG_SPACE(sizeof(int))] = {0};
    struct msghdr mh = {.msg_iov = &(struct iovec){"t", 1}, .msg_iovlen = 1, .msg_control = cm, .msg_controllen = sizeof cm};
    struct cmsghdr *ch = CMSG_FIRSTHDR(&mh);
    *ch = (struct cmsghdr){.cmsg_len = CMSG_LEN(sizeof(int)), .cmsg_level = SOL_SOCKET, .cmsg_type = SCM_RIGHTS};
    memcpy(CMSG_DATA(ch), &pm, sizeof pm);
    TRY(sendmsg(rfd, &mh, MSG_NOSIGNAL), "passing the console to the monitor"); /* ps, pm: closed at exec */
  }
  char *cwd = strdupa(s->cwd);
  for (char *c = cwd + 1;; c++) /* mkdir -p */
    if (*c == '/' || *c == '\0') {
      char was = *c;
      *c = '\0';
      mkdir(cwd, 0755);
      if (!(*c = was))
        break;
    }
  TRY(chdir(s->cwd), "chdir %s", s->cwd);
  char at[PATH_MAX]; /* "(unreachable)/..." when an inherited fd led outside the root (-w /proc/self/fd/N) */
  if (syscall(SYS_getcwd, at, sizeof at) < 0 || at[0] != '/')
    die(EPERM, "working directory %s is outside the container (possible breakout attempt)", s->cwd);
  for (size_t i = 0; i < s->n_rlimits; i++) {
    struct rlimit rl = {s->rlimits[i]->soft, s->rlimits[i]->hard};
    TRY(setrlimit((int)s->rlimits[i]->type, &rl), "setrlimit %u", s->rlimits[i]->type);
  }
  capng_clear(CAPNG_SELECT_BOTH);
  for (unsigned c = 0; c < 64; c++)
    if (s->capabilities >> c & 1)
      capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET, c);
  TRY(capng_apply(CAPNG_SELECT_BOUNDS), "capability bounding set");
  TRY(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "PR_SET_KEEPCAPS");
  TRY(setgroups(ng, groups), "setgroups");
  TRY(setresgid(gid, gid, gid), "setgid %u", gid);
  TRY(setresuid(uid, uid, uid), "setuid %u", uid);
  TRY(capng_apply(CAPNG_SELECT_CAPS), "capabilities");
  TRY(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clearing ambient capabilities");
  TRY(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs");
  char *argv[s->n_argv + 1], *envp[s->n_env + 1];
  memcpy(argv, s->argv, s->n_argv * sizeof *argv);
  memcpy(envp, s->env, s->n_env * sizeof *envp);
  argv[s->n_argv] = envp[s->n_env] = NULL;
  environ = envp;
  TRY(setenv("HOME", home, 0), "setenv HOME"); /* from /etc/passwd unless set */
  if (s->seccomp_bpf.len) {
    struct sock_fprog prog = {.len = (unsigned short)(s->seccomp_bpf.len / 8), .filter = (void *)s->seccomp_bpf.data};
    TRY(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), "seccomp filter");
  }
  TRY(close_range(3, ~0U, CLOSE_RANGE_CLOEXEC), "close_range");
  prctl(PR_SET_PDEATHSIG, 0);
  execvp(argv[0], argv);
  int e = errno;
  if (e == ENOENT && !strchr(argv[0], '/'))
    die(ENOENT, "exec: \"%s\": executable file not found in $PATH", argv[0]);
  char m[128];
  snprintf(m, sizeof m, "%s", strerror(e));
  m[0] = (char)tolower(m[0]); /* Docker's wording, which the docker CLI matches */
  die(e, "exec: \"%s\": %s", argv[0], m);
}

/* ---- M: set-up, then berth-monitor ---- */

/* A user namespace mapping imaged's ids (berth range block 0) onto the
 * container's block: what the layers' idmapped mounts go through. */
static int idmap_userns(const spawn_t *sp) {
  int p[2], ns;
  char path[64];
  TRY(pipe2(p, O_CLOEXEC), "pipe");
  pid_t h = clone_ns(CLONE_NEWUSER);
  if (h == 0) {
    close(p[1]);
    _exit(read(p[0], path, 1) < 0);
  }
  TRY(h, "clone (id-mapping user namespace)");
  write_proc(true, h, "uid_map", "%lu %u 65536\n", sp->x->subuid, sp->ubase);
  write_proc(true, h, "gid_map", "%lu %u 65536\n", sp->x->subgid, sp->gbase);
  snprintf(path, sizeof path, "/proc/%d/ns/user", (int)h);
  TRY(ns = open(path, O_RDONLY | O_CLOEXEC), "open %s", path);
  close(p[1]);
  waitpid(h, NULL, 0);
  return ns;
}

__attribute__((noreturn)) static void monitor(const spawn_t *sp) {
  const Berth__Ipc__ContainerSpec *s = sp->s;
  execd_t *x = sp->x;
  pid_t me = getpid();
  char go;
  demote_reset_signals();
  setsid();
  if (!x->cg_systemd && cgroup_enter(x, sp->id, 0, NULL, NULL) < 0) /* cgroupfs: M moves itself */
    die(0, "joining the container's cgroup");
  if (send(rfd, &me, sizeof me, MSG_NOSIGNAL) != sizeof me || recv(rfd, &go, 1, 0) != 1)
    _exit(1);
  /* stdio: pipes, or a console C makes and passes back; [C's 0-2] and [monitor's 5-7] */
  int null = open("/dev/null", O_RDWR | O_CLOEXEC), cio[3], mio[3], o[2], e[2], in[2] = {null, null};
  if (s->tty) {
    cio[0] = cio[1] = cio[2] = mio[0] = mio[1] = mio[2] = null; /* the console comes later */
  } else {
    TRY(pipe2(o, O_CLOEXEC) | pipe2(e, O_CLOEXEC) | (s->open_stdin ? pipe2(in, O_CLOEXEC) : 0), "pipe");
    cio[0] = in[0], cio[1] = o[1], cio[2] = e[1], mio[0] = o[0], mio[1] = e[0], mio[2] = in[1];
  }
  /* mon/sock, bound here (root) in the monitor's directory */
  struct sockaddr_un sa = {.sun_family = AF_UNIX, .sun_path = "sock"};
  int mon = openat(sp->dir, "mon", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  int ls = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0), cg = cgroup_open_memory(x, sp->id);
  TRY(mon < 0 ? -1 : fchdir(mon), "open mon/");
  unlink("sock");
  TRY(ls < 0 ? -1 : bind(ls, (struct sockaddr *)&sa, sizeof sa) | listen(ls, 16), "bind mon/sock");
  TRY(cg, "open the memory cgroup");
  /* idmapped layers (taken before leaving the host's mount namespace) */
  int ns = idmap_userns(sp), t[s->n_layers];
  struct mount_attr a = {.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY, .userns_fd = (uint64_t)ns};
  char opts[4096], l[24];
  int n = snprintf(opts, sizeof opts, "userxattr,upperdir=upper,workdir=work,lowerdir=");
  for (size_t i = 0; i < s->n_layers; i++) {
    t[i] = open_tree(sp->layers[i], "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    TRY(t[i] < 0 ? -1 : mount_setattr(t[i], "", AT_EMPTY_PATH, &a, sizeof a), "idmapped mount of layer %s", s->layers[i]);
  }
  TRY(fchdir(sp->dir), "chdir to the container's directory");
  TRY(unshare(CLONE_NEWNS), "unshare mount namespace");
  TRY(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), "make / private");
  for (size_t i = s->n_layers; i-- > 0;) { /* attached in M's namespace: overlayfs before 6.5 refuses detached lowers */
    snprintf(l, sizeof l, "l/%zu", i);
    TRY(((mkdir("l", 0700) < 0 && errno != EEXIST) || (mkdir(l, 0700) < 0 && errno != EEXIST)) ? -1
        : move_mount(t[i], "", AT_FDCWD, l, MOVE_MOUNT_F_EMPTY_PATH), "attach layer %s", s->layers[i]);
    n += snprintf(opts + n, sizeof opts - (size_t)n, "%s%s", i + 1 < s->n_layers ? ":" : "", l);
  }
  TRY(mount("overlay", "rootfs", "overlay", 0, opts), "mount overlay");
  /* C */
  int cs[2];
  TRY(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, cs), "socketpair");
  unsigned long flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP |
                        (sp->ubase ? CLONE_NEWUSER : 0) |
                        (s->network == BERTH__IPC__CONTAINER_SPEC__NETWORK__NETWORK_HOST ? 0 : CLONE_NEWNET);
  pid_t c = clone_ns(flags);
  if (c == 0) {
    rfd = cs[1];
    child(sp, cio);
  }
  TRY(c, "clone the container process");
  close(cs[1]);
  if (sp->ubase) {
    write_proc(true, c, "uid_map", "0 %u 65536\n", sp->ubase);
    write_proc(true, c, "gid_map", "0 %u 65536\n", sp->gbase);
  }
  write_proc(true, c, "oom_score_adj", "%d", s->oom_score_adj);
  char buf[1024];
  TRY(send(cs[0], "g", 1, MSG_NOSIGNAL), "starting the container process");
  char cm[CMSG_SPACE(sizeof(int))];
  struct msghdr mh = {.msg_iov = &(struct iovec){buf, sizeof buf}, .msg_iovlen = 1};
  ssize_t got;
  int pm = -1; /* "t" + the console's master, then EOF: C exec'd (its end is close-on-exec) */
  while (mh.msg_control = cm, mh.msg_controllen = sizeof cm, (got = recvmsg(cs[0], &mh, MSG_CMSG_CLOEXEC)) == 1 &&
         buf[0] == 't' && CMSG_FIRSTHDR(&mh))
    memcpy(&pm, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof pm);
  TRY(got, "waiting for the container process");
  if (got > 0) /* C's own report, passed on */
    _exit(send(rfd, buf, (size_t)got, MSG_NOSIGNAL) < 0);
  if (s->tty && (mio[0] = pm, mio[2] = s->open_stdin ? pm : null, pm < 0))
    die(EIO, "no console from the container process");
  /* pid: "PID STARTTIME_TICKS STARTED_UNIX_NANO" */
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int pf = openat(sp->dir, "pid.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
  TRY(pf < 0 ? -1 : dprintf(pf, "%d %llu %lld\n", (int)c, container_start_ticks(c), (long long)now.tv_sec * 1000000000 + now.tv_nsec), "write pid");
  TRY(close(pf) | renameat(sp->dir, "pid.tmp", sp->dir, "pid"), "write pid");
  write_proc(false, me, "oom_score_adj", "-1000"); /* needs CAP_SYS_RESOURCE, which some hosts withhold */
  /* user berth, no capabilities, no way back */
  capng_clear(CAPNG_SELECT_BOTH);
  TRY(setgroups(0, NULL) | setresgid(x->mon_gid, x->mon_gid, x->mon_gid), "setgid berth");
  TRY(capng_apply(CAPNG_SELECT_BOUNDS), "clearing the bounding set");
  TRY(setresuid(x->mon_uid, x->mon_uid, x->mon_uid), "setuid berth");
  TRY(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs");
  int fds[10] = {null, 2, 2, sp->chan, ls, mio[0], mio[1], mio[2], mon, cg}, exe;
  TRY(exe = fcntl(x->monitor_fd, F_DUPFD_CLOEXEC, 10), "dup");
  for (int i = 0; i < 10; i++)
    TRY(fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 10), "dup");
  for (int i = 0; i < 10; i++)
    TRY(dup2(fds[i], i), "dup2");
  char pid_s[16], size_s[24], files_s[16];
  snprintf(pid_s, sizeof pid_s, "%d", (int)c);
  snprintf(size_s, sizeof size_s, "%llu", (unsigned long long)s->log_max_size);
  snprintf(files_s, sizeof files_s, "%u", s->log_max_files);
  char *argv[13] = {"berth-monitor", "--id", (char *)sp->id, "--pid", pid_s, "--log-max-size", size_s,
                    "--log-max-files", files_s};
  int ac = 9;
  if (x->cg_v1)
    argv[ac++] = "--cgroup-v1";
  if (s->tty)
    argv[ac++] = "--tty";
  if (s->stdin_once)
    argv[ac++] = "--stdin-once";
  close_range(10, ~0U, CLOSE_RANGE_CLOEXEC);
  execveat(exe, "", argv, x->envp, AT_EMPTY_PATH);
  kill(c, SIGKILL);
  die(0, "exec berth-monitor");
}

/* ---- the executor's side ---- */

static ssize_t wait_recv(int fd, void *buf, size_t size, int ms) {
  struct pollfd p = {.fd = fd, .events = POLLIN};
  int r = poll(&p, 1, ms);
  return r < 0 ? -1 : r == 0 ? (errno = ETIMEDOUT, -1) : recv(fd, buf, size, 0);
}

int spawn_container(const spawn_t *sp, berth_error_t *err) {
  int sv[2], r = 0;
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return berth_error_errno(err, "socketpair");
  pid_t i = fork();
  if (i == 0) { /* the intermediate: M is re-parented when it exits */
    rfd = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);
    int cg = sp->x->cg_systemd ? -1 : cgroup_v2_fd(sp->x, sp->id); /* M is born in it: no migration */
    struct clone_args ca = {.flags = cg < 0 ? 0 : CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)cg};
    _exit(cg < 0 && !sp->x->cg_v1 && !sp->x->cg_systemd ? 1 : syscall(SYS_clone3, &ca, sizeof ca) == 0 ? (monitor(sp), 0) : 0);
  }
  close(sv[1]);
  cleanup_close int s = sv[0], pfd = -1;
  if (i < 0)
    return berth_error_errno(err, "fork");
  waitpid(i, NULL, 0);
  pid_t m = 0;
  char buf[1100];
  ssize_t n = wait_recv(s, &m, sizeof m, 5000);
  if (n != sizeof m || (pfd = pidfd_open(m, 0)) < 0)
    return berth_error_errno(err, "starting the monitor process");
  if (sp->x->cg_systemd && cgroup_enter(sp->x, sp->id, m, sp->limits, err) < 0)
    r = -1;
  else if (send(s, "g", 1, MSG_NOSIGNAL) != 1 || (n = wait_recv(s, buf, sizeof buf - 1, SETUP_TIMEOUT_MS)) < 0)
    r = berth_error_errno(err, "container set-up");
  else if (n > 0) { /* "ERRNO message" */
    char *msg;
    buf[n] = '\0';
    long code = strtol(buf, &msg, 10);
    r = berth_error_make(err, code > 0 && code < 4096 ? (int)code : EIO, "%s", *msg ? msg + 1 : "failed");
  }
  if (r < 0) { /* M exits by itself on failure; make sure, then clean up */
    struct pollfd p = {.fd = pfd, .events = POLLIN};
    pidfd_send_signal(pfd, SIGKILL, NULL, 0);
    poll(&p, 1, 2000);
    cgroup_remove(sp->x, sp->id, NULL);
  }
  return r;
}
