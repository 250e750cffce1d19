/* Start-up checks of the executor's demotion (each service checks itself
 * again before reading input: a mistake in the executor must not turn into
 * a service running with more than it should). */
#include "demotion.h"
#include <cap-ng.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include "berth.h"
#include "cleanup.h"

#define CAP_BIT(c) (UINT64_C(1) << (c))

/* What imaged's bounding set may hold (unpacking layers as namespace root). */
#define IMAGED_BOUNDING                                                                                            \
  (CAP_BIT(CAP_CHOWN) | CAP_BIT(CAP_DAC_OVERRIDE) | CAP_BIT(CAP_FOWNER) | CAP_BIT(CAP_FSETID) |                   \
   CAP_BIT(CAP_SETFCAP) | CAP_BIT(CAP_MKNOD))

int berth_read_capsets(berth_capsets_t *out, berth_error_t *err) {
  FILE *f = fopen("/proc/self/status", "re");
  if (f == NULL)
    return berth_error_errno(err, "open /proc/self/status");
  char line[256];
  unsigned found = 0;
  static const char *const keys[] = { "CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:" };
  uint64_t *slots[] = { &out->inh, &out->prm, &out->eff, &out->bnd, &out->amb };
  while (fgets(line, sizeof line, f)) {
    for (unsigned i = 0; i < 5; i++) {
      size_t n = strlen(keys[i]);
      if (strncmp(line, keys[i], n) == 0) {
        *slots[i] = strtoull(line + n, NULL, 16);
        found |= 1u << i;
      }
    }
  }
  fclose(f);
  if (found != 0x1f)
    return berth_error_make(err, EIO, "/proc/self/status lacks capability lines");
  return 0;
}

static int check_socket(int fd, int type, bool listening, berth_error_t *err) {
  int v = 0;
  socklen_t len = sizeof v;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &len) < 0)
    return berth_error_errno(err, "fd %d is not a socket", fd);
  if (v != AF_UNIX)
    return berth_error_make(err, EBADF, "fd %d is not an AF_UNIX socket", fd);
  len = sizeof v;
  if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &len) < 0 || v != type)
    return berth_error_make(err, EBADF, "fd %d is not a %s socket", fd,
                            type == SOCK_SEQPACKET ? "SOCK_SEQPACKET" : "SOCK_STREAM");
  if (listening) {
    len = sizeof v;
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) < 0 || v != 1)
      return berth_error_make(err, EBADF, "fd %d is not a listening socket", fd);
  }
  return 0;
}

int berth_check_fds(Berth__Ipc__Peer self, berth_error_t *err) {
  bool api = self == BERTH__IPC__PEER__PEER_API;
  int max = api ? BERTH_FD_API_LISTEN : BERTH_FD_EXEC_EDGE;
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL)
    return berth_error_errno(err, "opendir /proc/self/fd");
  unsigned long seen = 0;
  int extra = -1;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.')
      continue;
    int fd = atoi(de->d_name);
    if (fd == dirfd(d))
      continue;
    if (fd > max) {
      extra = fd;
      break;
    }
    seen |= 1ul << fd;
  }
  closedir(d);
  if (extra >= 0)
    return berth_error_make(err, EBADF, "unexpected open fd %d (only 0-%d may be open)", extra, max);
  for (int fd = 0; fd <= max; fd++)
    if (!(seen & (1ul << fd)))
      return berth_error_make(err, EBADF, "fd %d is not open", fd);
  if (check_socket(BERTH_FD_EXEC_EDGE, SOCK_SEQPACKET, false, err) < 0)
    return berth_error_wrap(err, "executor edge");
  if (api && check_socket(BERTH_FD_API_LISTEN, SOCK_STREAM, true, err) < 0)
    return berth_error_wrap(err, "API socket");
  return 0;
}

static int check_api(const berth_capsets_t *c, berth_error_t *err) {
  if (geteuid() == 0 || getuid() == 0)
    return berth_error_make(err, EPERM, "running as root; berth-apid must run as user %s", BERTH_USER_API);
  if (c->inh | c->prm | c->eff | c->bnd | c->amb)
    return berth_error_make(err, EPERM,
                            "has capabilities (inh %016" PRIx64 " prm %016" PRIx64 " eff %016" PRIx64 " bnd %016" PRIx64
                            " amb %016" PRIx64 "); berth-apid must have none",
                            c->inh, c->prm, c->eff, c->bnd, c->amb);
  return 0;
}

/* netd keeps CAP_NET_ADMIN (it arrived through the ambient set) and drops
 * the inheritable and ambient copies so nothing it might run inherits it. */
static int check_net(berth_capsets_t *c, berth_error_t *err) {
  const uint64_t want = CAP_BIT(CAP_NET_ADMIN);
  if (geteuid() == 0 || getuid() == 0)
    return berth_error_make(err, EPERM, "running as root; berth-netd must run as user %s", BERTH_USER_NET);
  if (c->prm != want || c->eff != want || c->bnd != want || (c->inh & ~want) || (c->amb & ~want))
    return berth_error_make(err, EPERM,
                            "capabilities are not exactly CAP_NET_ADMIN (inh %016" PRIx64 " prm %016" PRIx64
                            " eff %016" PRIx64 " bnd %016" PRIx64 " amb %016" PRIx64 ")",
                            c->inh, c->prm, c->eff, c->bnd, c->amb);
  capng_clear(CAPNG_SELECT_ALL);
  if (capng_get_caps_process() < 0)
    return berth_error_make(err, EIO, "capng_get_caps_process failed");
  if (capng_update(CAPNG_DROP, CAPNG_INHERITABLE | CAPNG_AMBIENT, CAP_NET_ADMIN) < 0 ||
      capng_apply(CAPNG_SELECT_CAPS) < 0 || capng_apply(CAPNG_SELECT_AMBIENT) < 0)
    return berth_error_make(err, EPERM, "dropping inheritable/ambient CAP_NET_ADMIN failed");
  if (berth_read_capsets(c, err) < 0)
    return -1;
  if (c->inh != 0 || c->amb != 0 || c->eff != want || c->prm != want)
    return berth_error_make(err, EPERM, "capabilities after dropping inheritable/ambient: inh %016" PRIx64
                            " amb %016" PRIx64 " eff %016" PRIx64, c->inh, c->amb, c->eff);
  return 0;
}

/* A map line "inside outside count": host root (outside 0) must never be in range. */
static int check_map(const char *path, bool *own_ns, berth_error_t *err) {
  FILE *f = fopen(path, "re");
  if (f == NULL)
    return berth_error_errno(err, "open %s", path);
  unsigned long in, outside, count;
  int lines = 0, r = 0;
  *own_ns = true;
  while (fscanf(f, "%lu %lu %lu", &in, &outside, &count) == 3) {
    lines++;
    if (in == 0 && outside == 0 && count == 4294967295ul)
      *own_ns = false; /* the identity map of the initial user namespace */
    else if (outside == 0)
      r = berth_error_make(err, EPERM, "%s maps host id 0", path);
  }
  fclose(f);
  if (lines == 0)
    return berth_error_make(err, EPERM, "%s is empty (no id mapping written)", path);
  return r;
}

static int check_image(const berth_capsets_t *c, berth_error_t *err) {
  bool own_uid = false, own_gid = false;
  if (check_map("/proc/self/uid_map", &own_uid, err) < 0 || check_map("/proc/self/gid_map", &own_gid, err) < 0)
    return -1;
  if (!own_uid || !own_gid)
    return berth_error_make(err, EPERM, "running in the initial user namespace; berth-imaged must have its own");
  if (getuid() != 0 || geteuid() != 0)
    return berth_error_make(err, EPERM, "not root inside its user namespace (uid %u)", (unsigned)getuid());
  if (c->bnd & ~IMAGED_BOUNDING)
    return berth_error_make(err, EPERM, "bounding set %016" PRIx64 " exceeds what unpacking needs (%016" PRIx64 ")",
                            c->bnd, (uint64_t)IMAGED_BOUNDING);
  if (c->amb != 0)
    return berth_error_make(err, EPERM, "ambient capabilities %016" PRIx64 " set", c->amb);
  return 0;
}

int berth_demotion_check(Berth__Ipc__Peer self, berth_error_t *err) {
  if (berth_check_fds(self, err) < 0)
    return berth_error_wrap(err, "file descriptors");
  int nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
  if (nnp != 1)
    return berth_error_make(err, EPERM, "no_new_privs is not set");
  berth_capsets_t c;
  if (berth_read_capsets(&c, err) < 0)
    return -1;
  switch (self) {
  case BERTH__IPC__PEER__PEER_API:
    return check_api(&c, err) < 0 ? berth_error_wrap(err, "demotion") : 0;
  case BERTH__IPC__PEER__PEER_NET:
    return check_net(&c, err) < 0 ? berth_error_wrap(err, "demotion") : 0;
  case BERTH__IPC__PEER__PEER_IMAGE:
    return check_image(&c, err) < 0 ? berth_error_wrap(err, "demotion") : 0;
  default:
    return berth_error_make(err, EINVAL, "not a service");
  }
}
