/* Demotion of each service in the forked child, before exec, in a fixed
 * order; every step is checked and a failure ends the child, so a
 * half-demoted service is never exec'd. The ids used here are resolved once
 * at start-up in the parent (no NSS lookups after fork). */
#include <cap-ng.h>
#include <grp.h>
#include <linux/capability.h>
#include <poll.h>
#include <pwd.h>
#include <sched.h>
#include <shadow/subid.h>
#include <sys/prctl.h>
#include "executor.h"

/* What berth-imaged keeps (in its own namespace only) to unpack layers. */
static const int imaged_caps[] = {CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER, CAP_FSETID, CAP_SETFCAP, CAP_MKNOD};
#define N_IMAGED_CAPS (sizeof imaged_caps / sizeof imaged_caps[0])

static int lookup_user(const char *name, uid_t *uid, gid_t *gid, berth_error_t *err) {
  errno = 0;
  struct passwd *pw = getpwnam(name);
  if (pw == NULL)
    return berth_error_make(err, ENOENT, "system user %s does not exist (see units/berth.sysusers)", name);
  if (pw->pw_uid == 0 || pw->pw_gid == 0)
    return berth_error_make(err, EINVAL, "user %s must not be root", name);
  *uid = pw->pw_uid;
  *gid = pw->pw_gid;
  return 0;
}

/* First range of user `berth` with room for the whole imaged namespace. */
static int lookup_range(bool gids, unsigned long *start, unsigned long *count, berth_error_t *err) {
  struct subid_range *r = NULL;
  int n = gids ? subid_get_gid_ranges(BERTH_USER_RANGE, &r) : subid_get_uid_ranges(BERTH_USER_RANGE, &r);
  int found = 0;
  for (int i = 0; i < n && !found; i++) {
    if (r[i].count >= BERTH_IMAGED_ID_COUNT && r[i].start > 0) {
      *start = r[i].start, *count = r[i].count;
      found = 1;
    }
  }
  free(r);
  if (!found)
    return berth_error_make(err, ENOENT, "no subordinate %s range of %u ids for user %s (/etc/sub%s)",
                            gids ? "gid" : "uid", BERTH_IMAGED_ID_COUNT, BERTH_USER_RANGE, gids ? "gid" : "uid");
  return 0;
}

int demote_resolve(execd_t *x, berth_error_t *err) {
  unsigned long nu = 0, ng = 0;
  subid_init("berth-execd", stderr);
  if (lookup_user(BERTH_USER_API, &x->api_uid, &x->api_gid, err) < 0 ||
      lookup_user(BERTH_USER_NET, &x->net_uid, &x->net_gid, err) < 0 ||
      lookup_user(BERTH_USER_RANGE, &x->mon_uid, &x->mon_gid, err) < 0 || lookup_range(false, &x->subuid, &nu, err) < 0 ||
      lookup_range(true, &x->subgid, &ng, err) < 0)
    return berth_error_wrap(err, "demotion set-up");
  x->id_blocks = (nu < ng ? nu : ng) / BERTH_IMAGED_ID_COUNT;
  return 0;
}

void demote_expect(const service_t *s, expect_t *out) {
  const execd_t *x = s->x;
  *out = (expect_t){0};
  switch (s->peer) {
  case BERTH__IPC__PEER__PEER_API:
    *out = (expect_t){.uid = x->api_uid, .gid = x->api_gid, .caps = 0, .caps_exact = true};
    break;
  case BERTH__IPC__PEER__PEER_NET:
    *out = (expect_t){.uid = x->net_uid, .gid = x->net_gid, .caps = CAPBIT(CAP_NET_ADMIN), .caps_exact = true};
    break;
  default: /* imaged: ids as the host sees them; caps count only inside its namespace */
    *out = (expect_t){.uid = (uid_t)x->subuid, .gid = (gid_t)x->subgid, .own_userns = true};
    for (size_t i = 0; i < N_IMAGED_CAPS; i++)
      out->caps |= CAPBIT(imaged_caps[i]);
  }
}

static int write_file(pid_t pid, const char *file, const char *text, berth_error_t *err) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return berth_error_errno(err, "open %s", path);
  ssize_t n = write(fd, text, strlen(text));
  int saved = errno;
  close(fd);
  errno = saved;
  if (n != (ssize_t)strlen(text))
    return berth_error_errno(err, "write %s", path);
  return 0;
}

/* Parent side of the imaged hand-shake: the child unshared its user
 * namespace and wrote one byte; map 0..65535 onto the berth range, answer. */
int demote_write_maps(const service_t *s, int sync_fd, berth_error_t *err) {
  char b;
  struct pollfd p = {.fd = sync_fd, .events = POLLIN};
  if (poll(&p, 1, 5000) != 1 || read(sync_fd, &b, 1) != 1)
    return berth_error_make(err, EPROTO, "child did not reach its user namespace");
  char map[64];
  snprintf(map, sizeof map, "0 %lu %u\n", s->x->subuid, BERTH_IMAGED_ID_COUNT);
  if (write_file(s->pid, "uid_map", map, err) < 0)
    return -1;
  snprintf(map, sizeof map, "0 %lu %u\n", s->x->subgid, BERTH_IMAGED_ID_COUNT);
  if (write_file(s->pid, "gid_map", map, err) < 0)
    return -1;
  if (write(sync_fd, "m", 1) != 1)
    return berth_error_errno(err, "sync with child");
  return 0;
}

static const char *child_name;

__attribute__((noreturn)) static void fail(const char *step) {
  log_err("demoting %s: %s failed: %s; not starting it", child_name, step, strerror(errno));
  _exit(DEMOTE_FAILED);
}
#define CHECK(expr, step) \
  do {                    \
    if ((expr) < 0)       \
      fail(step);         \
  } while (0)

/* Fresh signal state: sd-event blocked some, SIGPIPE is ignored. */
void demote_reset_signals(void) {
  sigset_t none;
  sigemptyset(&none);
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP)
      signal(sig, SIG_DFL); /* fails harmlessly for the RT signals glibc reserves */
  CHECK(sigprocmask(SIG_SETMASK, &none, NULL), "sigprocmask");
}

/* fd 3 = edge, fd 4 = API socket (apid only); everything else is closed by
 * exec (CLOEXEC on the whole range), which also covers the exe fd itself. */
static void place_fds(int edge, int api_fd) {
  /* Move both out of the way first so that dup2 cannot clobber one with the other. */
  int e = fcntl(edge, F_DUPFD_CLOEXEC, 10), a = api_fd >= 0 ? fcntl(api_fd, F_DUPFD_CLOEXEC, 10) : 0;
  CHECK(e, "dup edge");
  CHECK(a, "dup api socket");
  CHECK(dup2(e, BERTH_FD_EXEC_EDGE), "dup2 edge");
  if (api_fd >= 0)
    CHECK(dup2(a, BERTH_FD_API_LISTEN), "dup2 api socket");
  unsigned first = api_fd >= 0 ? BERTH_FD_API_LISTEN + 1 : BERTH_FD_EXEC_EDGE + 1;
  CHECK(close_range(first, ~0U, CLOSE_RANGE_CLOEXEC), "close_range");
}

static void limit_caps(const int *caps, size_t n, bool ambient) {
  capng_clear(CAPNG_SELECT_ALL);
  for (size_t i = 0; i < n; i++) {
    capng_type_t t = CAPNG_EFFECTIVE | CAPNG_PERMITTED | CAPNG_BOUNDING_SET | (ambient ? CAPNG_INHERITABLE : 0);
    CHECK(capng_update(CAPNG_ADD, t, (unsigned)caps[i]), "capng_update");
  }
  CHECK(capng_apply(CAPNG_SELECT_BOUNDS), "reducing the bounding set");
}

/* The order matters: groups and gid while we still have CAP_SETGID, the
 * bounding set while we have CAP_SETPCAP, uid last; then the remaining
 * capability sets, then no_new_privs. */
static void demote_user(uid_t uid, gid_t gid, const int *caps, size_t n) {
  CHECK(setgroups(0, NULL), "setgroups");
  CHECK(setresgid(gid, gid, gid), "setresgid");
  limit_caps(caps, n, n > 0);
  if (n > 0)
    CHECK(prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0), "PR_SET_KEEPCAPS");
  CHECK(setresuid(uid, uid, uid), "setresuid");
  CHECK(capng_apply(CAPNG_SELECT_CAPS), "capset");
  /* Ambient is what carries the kept capability across exec for a non-root uid. */
  for (size_t i = 0; i < n; i++)
    CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, caps[i], 0, 0), "raising ambient capability");
  if (n > 0)
    CHECK(prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0), "clearing PR_SET_KEEPCAPS");
  if (setuid(0) == 0 || setresgid(0, 0, 0) == 0) {
    errno = EPERM;
    fail("checking that root cannot be regained");
  }
}

static void demote_userns(int sync_fd) {
  char b;
  CHECK(unshare(CLONE_NEWUSER), "unshare(CLONE_NEWUSER)");
  if (write(sync_fd, "u", 1) != 1 || read(sync_fd, &b, 1) != 1) {
    errno = EPROTO;
    fail("waiting for the id maps");
  }
  /* Root of the new namespace = the first id of the berth range on the host. */
  CHECK(setgroups(0, NULL), "setgroups");
  CHECK(setresgid(0, 0, 0), "setresgid");
  CHECK(setresuid(0, 0, 0), "setresuid");
  limit_caps(imaged_caps, N_IMAGED_CAPS, false);
  CHECK(capng_apply(CAPNG_SELECT_CAPS), "capset");
}

void demote_exec(const service_t *s, int edge, int sync_fd) {
  const execd_t *x = s->x;
  child_name = s->name;
  demote_reset_signals();
  CHECK(chdir("/"), "chdir /");
  umask(0022);
  CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clearing ambient capabilities");
  static const int net_caps[] = {CAP_NET_ADMIN};
  switch (s->peer) {
  case BERTH__IPC__PEER__PEER_API: demote_user(x->api_uid, x->api_gid, NULL, 0); break;
  case BERTH__IPC__PEER__PEER_NET: demote_user(x->net_uid, x->net_gid, net_caps, 1); break;
  default: demote_userns(sync_fd); break;
  }
  CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "PR_SET_NO_NEW_PRIVS");
  place_fds(edge, s->peer == BERTH__IPC__PEER__PEER_API ? x->api_fd : -1);
  char *argv[] = {(char *)s->name, "--data-root", (char *)x->data_root, "--run-root", (char *)x->run_root,
                  "--config", x->config, NULL};
  execveat(s->exe_fd, "", argv, x->envp, AT_EMPTY_PATH);
  fail("exec");
}
