/* The IPC wire layer: one protobuf-c Envelope per SOCK_SEQPACKET datagram,
 * file descriptors by SCM_RIGHTS, declared in the envelope. See docs/ipc.md. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "berth.pb-c.h"
#include "../lib/core/error.h"

#define BERTH_IPC_VERSION 1u
#define BERTH_IPC_MAX_MSG 65536u  /* bytes of one packed Envelope; larger is a violation */
#define BERTH_IPC_MAX_FDS 8u      /* fds in one message */

typedef Berth__Ipc__Envelope berth_envelope_t;
typedef Berth__Ipc__Envelope__OpCase berth_op_t;

/* A received (or decoded) message. Owns env and every fd in fds. */
typedef struct {
  berth_envelope_t *env;
  int fds[BERTH_IPC_MAX_FDS];
  size_t nfds;
} berth_msg_t;

/* Fills in version and fd_count, packs env and sends it with fds in one datagram.
 * Never blocks when the socket is non-blocking: EAGAIN is returned as an error
 * with status EAGAIN. Does not close fds. */
int berth_wire_send(int sock, berth_envelope_t *env, const int *fds, size_t nfds, berth_error_t *err);

/* The two halves of berth_wire_send, for callers that queue messages (conn.c)
 * and for tests that need to send deliberately malformed datagrams.
 * berth_wire_pack fills in version and fd_count (= nfds) and returns a
 * malloc'd buffer (EMSGSIZE when it would pass BERTH_IPC_MAX_MSG, EINVAL for
 * more than BERTH_IPC_MAX_FDS fds). berth_wire_send_packed sends buf as one
 * datagram with fds attached, as is (no checks: tests rely on that). */
int berth_wire_pack(berth_envelope_t *env, size_t nfds, uint8_t **buf, size_t *len, berth_error_t *err);
int berth_wire_send_packed(int sock, const uint8_t *buf, size_t len, const int *fds, size_t nfds, berth_error_t *err);

/* Receives one datagram (MSG_DONTWAIT, MSG_CMSG_CLOEXEC) and decodes it.
 * Returns 1 and fills *out on a message, 0 on orderly EOF, < 0 on error:
 * status EAGAIN when nothing is waiting, EPROTO/EMSGSIZE/EBADMSG for a
 * protocol violation (the caller must cut the peer off). Every fd received
 * is closed on any error. */
int berth_wire_recv(int sock, berth_msg_t *out, berth_error_t *err);

/* The decoder behind berth_wire_recv (and the fuzz target): unpacks buf,
 * checks version, that fd_count == nfds, and that an op is set. Takes
 * ownership of fds[0..nfds) in every case (closed on error). */
int berth_msg_decode(const uint8_t *buf, size_t len, int *fds, size_t nfds, berth_msg_t *out, berth_error_t *err);

/* Frees env and closes any fd still owned by the message. */
void berth_msg_release(berth_msg_t *m);
/* Takes fd i out of the message (the caller then owns it); -1 if absent. */
int berth_msg_take_fd(berth_msg_t *m, size_t i);

const char *berth_op_name(berth_op_t op);
