/* The IPC wire layer: one packed Envelope per SOCK_SEQPACKET datagram, fds
 * by SCM_RIGHTS. Everything a peer sends is hostile until decoded and checked
 * here; any doubt is a protocol violation and every received fd is closed. */
#include "wire.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void close_fds(int *fds, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (fds[i] >= 0) {
      close(fds[i]);
      fds[i] = -1;
    }
}

int berth_wire_pack(berth_envelope_t *env, size_t nfds, uint8_t **buf, size_t *len, berth_error_t *err) {
  if (nfds > BERTH_IPC_MAX_FDS)
    return berth_error_make(err, EINVAL, "ipc: %zu fds in one message (max %u)", nfds, BERTH_IPC_MAX_FDS);
  env->version = BERTH_IPC_VERSION;
  env->fd_count = (uint32_t)nfds;
  size_t n = berth__ipc__envelope__get_packed_size(env);
  if (n > BERTH_IPC_MAX_MSG)
    return berth_error_make(err, EMSGSIZE, "ipc: %s message of %zu bytes exceeds %u", berth_op_name(env->op_case), n,
                            BERTH_IPC_MAX_MSG);
  /* malloc(0) may return NULL; an empty envelope is not sendable anyway. */
  uint8_t *b = malloc(n ? n : 1);
  if (b == NULL)
    return berth_error_make(err, ENOMEM, "ipc: out of memory");
  berth__ipc__envelope__pack(env, b);
  *buf = b;
  *len = n;
  return 0;
}

int berth_wire_send_packed(int sock, const uint8_t *buf, size_t len, const int *fds, size_t nfds,
                           berth_error_t *err) {
  struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int) * (BERTH_IPC_MAX_FDS + 8))]; /* a little room: tests overfill on purpose */
    struct cmsghdr align;
  } ctl;
  if (nfds > BERTH_IPC_MAX_FDS + 8)
    return berth_error_make(err, EINVAL, "ipc: too many fds");
  if (nfds > 0) {
    memset(&ctl, 0, sizeof ctl);
    mh.msg_control = ctl.buf;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
  }
  ssize_t r;
  do
    r = sendmsg(sock, &mh, MSG_NOSIGNAL);
  while (r < 0 && errno == EINTR);
  if (r < 0)
    return berth_error_errno(err, "ipc: sendmsg");
  if ((size_t)r != len) /* cannot happen on SOCK_SEQPACKET, but never assume */
    return berth_error_make(err, EMSGSIZE, "ipc: short send (%zd of %zu bytes)", r, len);
  return 0;
}

int berth_wire_send(int sock, berth_envelope_t *env, const int *fds, size_t nfds, berth_error_t *err) {
  uint8_t *buf = NULL;
  size_t len = 0;
  int r = berth_wire_pack(env, nfds, &buf, &len, err);
  if (r < 0)
    return r;
  r = berth_wire_send_packed(sock, buf, len, fds, nfds, err);
  free(buf);
  return r;
}

int berth_msg_decode(const uint8_t *buf, size_t len, int *fds, size_t nfds, berth_msg_t *out, berth_error_t *err) {
  memset(out, 0, sizeof *out);
  for (size_t i = 0; i < BERTH_IPC_MAX_FDS; i++)
    out->fds[i] = -1;
  int r = 0;
  berth_envelope_t *env = NULL;
  if (nfds > BERTH_IPC_MAX_FDS) {
    r = berth_error_make(err, EPROTO, "ipc: %zu fds in one message (max %u)", nfds, BERTH_IPC_MAX_FDS);
    goto fail;
  }
  if (len > BERTH_IPC_MAX_MSG) {
    r = berth_error_make(err, EMSGSIZE, "ipc: message of %zu bytes exceeds %u", len, BERTH_IPC_MAX_MSG);
    goto fail;
  }
  env = berth__ipc__envelope__unpack(NULL, len, buf);
  if (env == NULL) {
    r = berth_error_make(err, EBADMSG, "ipc: undecodable message (%zu bytes)", len);
    goto fail;
  }
  if (env->version != BERTH_IPC_VERSION)
    r = berth_error_make(err, EPROTO, "ipc: protocol version %u, expected %u", env->version, BERTH_IPC_VERSION);
  else if (env->fd_count != nfds)
    r = berth_error_make(err, EPROTO, "ipc: message declares %u fds but carries %zu", env->fd_count, nfds);
  else if (env->op_case == BERTH__IPC__ENVELOPE__OP__NOT_SET)
    r = berth_error_make(err, EPROTO, "ipc: message without an operation");
  if (r < 0)
    goto fail;
  out->env = env;
  memcpy(out->fds, fds, sizeof(int) * nfds);
  out->nfds = nfds;
  return 0;
fail:
  if (env)
    berth__ipc__envelope__free_unpacked(env, NULL);
  close_fds(fds, nfds);
  return r;
}

/* Collects every fd the kernel installed, closing them on any anomaly. The
 * kernel merges SCM_RIGHTS into one cmsg, but we walk them all anyway. */
static int take_fds(struct msghdr *mh, int *fds, size_t *nfds, berth_error_t *err) {
  int bad = 0;
  *nfds = 0;
  for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
    if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
      bad = bad ? bad : 1;
      continue;
    }
    size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    int *data = (int *)CMSG_DATA(cm);
    for (size_t i = 0; i < n; i++) {
      int fd;
      memcpy(&fd, data + i, sizeof fd);
      if (*nfds < BERTH_IPC_MAX_FDS)
        fds[(*nfds)++] = fd;
      else { /* cannot happen with our control buffer size */
        close(fd);
        bad = 2;
      }
    }
  }
  for (size_t i = 0; i < *nfds && !bad; i++) {
    int fl = fcntl(fds[i], F_GETFD);
    if (fl < 0 || !(fl & FD_CLOEXEC))
      bad = 3;
  }
  if (!bad)
    return 0;
  close_fds(fds, *nfds);
  *nfds = 0;
  return berth_error_make(err, EPROTO, "ipc: %s", bad == 1 ? "unexpected control message" : bad == 2 ? "too many fds"
                                                                                                    : "fd without close-on-exec");
}

int berth_wire_recv(int sock, berth_msg_t *out, berth_error_t *err) {
  union {
    char buf[CMSG_SPACE(sizeof(int) * BERTH_IPC_MAX_FDS)];
    struct cmsghdr align;
  } ctl;
  int fds[BERTH_IPC_MAX_FDS];
  size_t nfds = 0;
  memset(out, 0, sizeof *out);
  for (size_t i = 0; i < BERTH_IPC_MAX_FDS; i++)
    out->fds[i] = -1;
  /* One byte more than allowed: a datagram that fills it is oversize. */
  uint8_t *buf = malloc(BERTH_IPC_MAX_MSG + 1);
  if (buf == NULL)
    return berth_error_make(err, ENOMEM, "ipc: out of memory");
  struct iovec iov = {.iov_base = buf, .iov_len = BERTH_IPC_MAX_MSG + 1};
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf, .msg_controllen = sizeof ctl.buf};
  ssize_t n;
  do
    n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
  while (n < 0 && errno == EINTR);
  int r;
  if (n < 0) {
    r = errno == EAGAIN || errno == EWOULDBLOCK ? berth_error_make(err, EAGAIN, "ipc: no message waiting")
                                                : berth_error_errno(err, "ipc: recvmsg");
    goto out;
  }
  r = take_fds(&mh, fds, &nfds, err);
  if (r < 0)
    goto out;
  if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC) || (size_t)n > BERTH_IPC_MAX_MSG) {
    r = berth_error_make(err, mh.msg_flags & MSG_CTRUNC ? EPROTO : EMSGSIZE, "ipc: %s datagram",
                         mh.msg_flags & MSG_CTRUNC ? "control data truncated in" : "oversize");
    close_fds(fds, nfds);
    goto out;
  }
  if (n == 0) { /* EOF, or an empty datagram: either way the peer is done */
    if (nfds > 0) {
      close_fds(fds, nfds);
      r = berth_error_make(err, EPROTO, "ipc: empty datagram with fds");
    }
    goto out;
  }
  r = berth_msg_decode(buf, (size_t)n, fds, nfds, out, err);
  r = r < 0 ? r : 1;
out:
  free(buf);
  return r;
}

void berth_msg_release(berth_msg_t *m) {
  if (m == NULL)
    return;
  if (m->env)
    berth__ipc__envelope__free_unpacked(m->env, NULL);
  m->env = NULL;
  close_fds(m->fds, m->nfds < BERTH_IPC_MAX_FDS ? m->nfds : BERTH_IPC_MAX_FDS);
  m->nfds = 0;
}

int berth_msg_take_fd(berth_msg_t *m, size_t i) {
  if (i >= m->nfds || i >= BERTH_IPC_MAX_FDS)
    return -1;
  int fd = m->fds[i];
  m->fds[i] = -1;
  return fd;
}

const char *berth_op_name(berth_op_t op) {
  /* The oneof's field names from the generated descriptor ("layer_check"). */
  const ProtobufCFieldDescriptor *f =
      op == BERTH__IPC__ENVELOPE__OP__NOT_SET ? NULL
                                              : protobuf_c_message_descriptor_get_field(&berth__ipc__envelope__descriptor, op);
  return op == BERTH__IPC__ENVELOPE__OP__NOT_SET ? "none" : f ? f->name : "unknown";
}
