/* The dispatch table: which peer may send which operation to which, and with
 * which fds. Every request a conn receives passes through
 * berth_dispatch_check_request before any handler sees it. */
#include "dispatch.h"
#include <errno.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#define EXEC BERTH_PEER_BIT(BERTH__IPC__PEER__PEER_EXEC)
#define API BERTH_PEER_BIT(BERTH__IPC__PEER__PEER_API)
#define IMAGE BERTH_PEER_BIT(BERTH__IPC__PEER__PEER_IMAGE)
#define NET BERTH_PEER_BIT(BERTH__IPC__PEER__PEER_NET)
#define ANY (EXEC | API | IMAGE | NET)
#define OP(x) BERTH__IPC__ENVELOPE__OP_##x

static const berth_dispatch_entry_t table[] = {
    /* op                        callers handlers nfds fd kind        reply */
    {OP(HELLO), ANY, ANY, 0, BERTH_FD_NONE, 0}, /* handled inside conn */
    {OP(PING), ANY, ANY, 0, BERTH_FD_NONE, 0},  /* answered inside conn */
    {OP(SERVICES_STATUS), API, EXEC, 0, BERTH_FD_NONE, 0},
    {OP(ATTACH_PEER), EXEC, API | IMAGE | NET, 1, BERTH_FD_SEQPACKET, 0},
    {OP(ERROR), 0, 0, 0, BERTH_FD_NONE, 1},
    {OP(OK), 0, 0, 0, BERTH_FD_NONE, 1},
    {OP(PONG), 0, 0, 0, BERTH_FD_NONE, 1},
    {OP(SERVICES_STATUS_REPLY), 0, 0, 0, BERTH_FD_NONE, 1},
    {OP(IMAGE_LOAD), API, IMAGE, 2, BERTH_FD_PIPE, 0},
    {OP(IMAGE_SAVE), API, IMAGE, 1, BERTH_FD_PIPE, 0},
    {OP(IMAGE_QUERY), API, IMAGE, 0, BERTH_FD_NONE, 0},
    {OP(IMAGE_TAG), API, IMAGE, 0, BERTH_FD_NONE, 0},
    {OP(IMAGE_REMOVE), API, IMAGE, 0, BERTH_FD_NONE, 0},
    {OP(IMAGE_PRUNE), API, IMAGE, 0, BERTH_FD_NONE, 0},
    {OP(IMAGE_RESOLVE), API, IMAGE, 0, BERTH_FD_NONE, 0},
    {OP(LAYER_CHECK), API, EXEC, 0, BERTH_FD_NONE, 0},
    {OP(IMAGE_LOAD_REPLY), 0, 0, 0, BERTH_FD_NONE, 1},
    {OP(IMAGE_RESOLVE_REPLY), 0, 0, 0, BERTH_FD_NONE, 1},
    {OP(DOCUMENT), 0, 0, 1, BERTH_FD_REGULAR, 1},
    {OP(CONTAINER_CREATE), API, EXEC, 0, BERTH_FD_NONE, 0},
    {OP(CONTAINER_START), API, EXEC, 1, BERTH_FD_SEQPACKET, 0},
    {OP(CONTAINER_SIGNAL), API, EXEC, 0, BERTH_FD_NONE, 0},
    {OP(CONTAINER_DELETE), API, EXEC, 0, BERTH_FD_NONE, 0},
    {OP(CONTAINER_STATE), API, EXEC, 0, BERTH_FD_NONE, 0},
    {OP(CONTAINER_CONNECT), API, EXEC, 0, BERTH_FD_NONE, 0},
    {OP(CONTAINER_LOG_OPEN), API, EXEC, 0, BERTH_FD_NONE, 0},
    {OP(CONTAINER_STATE_REPLY), 0, 0, 0, BERTH_FD_NONE, 1},
    {OP(CONTAINER_CHANNEL), 0, 0, 1, BERTH_FD_SEQPACKET, 1},
    {OP(CONTAINER_LOG_FILE), 0, 0, 1, BERTH_FD_REGULAR, 1},
};

const berth_dispatch_entry_t *berth_dispatch_lookup(berth_op_t op) {
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (table[i].op == op)
      return &table[i];
  return NULL;
}

const char *berth_peer_name(Berth__Ipc__Peer p) {
  switch (p) {
  case BERTH__IPC__PEER__PEER_EXEC: return "exec";
  case BERTH__IPC__PEER__PEER_API: return "api";
  case BERTH__IPC__PEER__PEER_IMAGE: return "image";
  case BERTH__IPC__PEER__PEER_NET: return "net";
  default: return "unknown";
  }
}

static uint32_t peer_bit(Berth__Ipc__Peer p) {
  /* Only known peers have a bit; the enum is open in proto3, so range-check. */
  return p >= BERTH__IPC__PEER__PEER_EXEC && p <= BERTH__IPC__PEER__PEER_NET ? BERTH_PEER_BIT(p) : 0;
}

static int unix_socket_of_type(int fd, int type) {
  int v;
  socklen_t l = sizeof v;
  if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) < 0 || v != AF_UNIX)
    return 0;
  l = sizeof v;
  return getsockopt(fd, SOL_SOCKET, SO_TYPE, &v, &l) == 0 && v == type;
}

int berth_fd_is_kind(int fd, berth_fd_kind_t kind) {
  struct stat st;
  struct statfs sfs;
  if (fd < 0 || fstat(fd, &st) < 0)
    return 0;
  switch (kind) {
  case BERTH_FD_SEQPACKET: return S_ISSOCK(st.st_mode) && unix_socket_of_type(fd, SOCK_SEQPACKET);
  case BERTH_FD_STREAM: return S_ISSOCK(st.st_mode) && unix_socket_of_type(fd, SOCK_STREAM);
  case BERTH_FD_PIPE: return S_ISFIFO(st.st_mode);
  case BERTH_FD_REGULAR: /* nsfs files look regular to fstat; they are not */
    return S_ISREG(st.st_mode) && fstatfs(fd, &sfs) == 0 && sfs.f_type != NSFS_MAGIC;
  case BERTH_FD_NETNS: /* statfs first: NS_GET_NSTYPE is only meaningful on nsfs */
    return fstatfs(fd, &sfs) == 0 && sfs.f_type == NSFS_MAGIC && ioctl(fd, NS_GET_NSTYPE) == CLONE_NEWNET;
  case BERTH_FD_NONE: return 0;
  }
  return 0;
}

static int check_fds(const berth_dispatch_entry_t *e, const berth_msg_t *m, berth_error_t *err) {
  if (m->nfds != e->nfds)
    return berth_error_make(err, EPROTO, "%s carries %zu fds, expected %u", berth_op_name(e->op), m->nfds, e->nfds);
  for (size_t i = 0; i < m->nfds; i++)
    if (!berth_fd_is_kind(m->fds[i], e->fd_kind))
      return berth_error_make(err, EBADF, "%s: fd %zu has the wrong type", berth_op_name(e->op), i);
  return 0;
}

int berth_dispatch_check_request(Berth__Ipc__Peer from, Berth__Ipc__Peer self, const berth_msg_t *m,
                                 berth_error_t *err) {
  if (m->env == NULL || m->env->is_reply)
    return berth_error_make(err, EPROTO, "not a request");
  const berth_dispatch_entry_t *e = berth_dispatch_lookup(m->env->op_case);
  if (e == NULL)
    return berth_error_make(err, EPROTO, "unknown operation %d", (int)m->env->op_case);
  if (e->is_reply_type)
    return berth_error_make(err, EPROTO, "%s is only valid as a reply", berth_op_name(e->op));
  if (!(e->callers & peer_bit(from)) || !(e->handlers & peer_bit(self)))
    return berth_error_make(err, EPERM, "%s may not send %s to %s", berth_peer_name(from), berth_op_name(e->op),
                            berth_peer_name(self));
  return check_fds(e, m, err);
}

int berth_dispatch_check_reply(const berth_msg_t *m, berth_error_t *err) {
  if (m->env == NULL || !m->env->is_reply)
    return berth_error_make(err, EPROTO, "not a reply");
  const berth_dispatch_entry_t *e = berth_dispatch_lookup(m->env->op_case);
  if (e == NULL || !e->is_reply_type)
    return berth_error_make(err, EPROTO, "%s is not a reply operation", berth_op_name(m->env->op_case));
  return check_fds(e, m, err);
}
