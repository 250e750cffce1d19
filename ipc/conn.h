/* An IPC connection on an sd-event loop: Hello exchange, request/reply
 * matching by request id, dispatch-table checks on every incoming request,
 * a bounded send queue (a peer that stops reading is cut off, never waited on).
 * Used by the executor and by every service. */
#pragma once
#include <systemd/sd-event.h>
#include "dispatch.h"

typedef struct berth_conn berth_conn_t;

/* Lifetime: a conn is valid from berth_conn_new until its on_close callback
 * returns (on_close fires exactly once: on EOF, on a protocol violation, when
 * the peer is cut off, or from berth_conn_close). Do not use it afterwards.
 * The berth_msg_t passed to callbacks lives on the conn's stack: its contents
 * (env, fds) belong to the callee, so copy the struct (*msg) to keep it. */

/* Called with the reply (owned by the callee, release with berth_msg_release),
 * or with reply == NULL when the connection closed before it came. The reply
 * may be an Error (op ERROR) instead of the expected reply op. */
typedef void (*berth_reply_cb)(berth_conn_t *c, berth_msg_t *reply, void *userdata);
/* An incoming request that passed the dispatch check. The handler owns req and
 * must answer it (now or later) with berth_conn_reply / berth_conn_reply_error. */
typedef void (*berth_request_cb)(berth_conn_t *c, berth_msg_t *req, void *userdata);
/* The connection is gone (EOF, protocol violation, or closed by us). */
typedef void (*berth_close_cb)(berth_conn_t *c, void *userdata);
/* The peer's Hello arrived and was accepted. */
typedef void (*berth_ready_cb)(berth_conn_t *c, const Berth__Ipc__Hello *hello, void *userdata);

typedef struct {
  Berth__Ipc__Peer self;
  Berth__Ipc__Peer remote;   /* fixed by who created the edge, never by the peer */
  berth_request_cb on_request;
  berth_ready_cb on_ready;
  berth_close_cb on_close;
  void *userdata;
} berth_conn_config_t;

/* Takes ownership of fd (made non-blocking; closed on failure), sends our
 * Hello at once. cfg->self and cfg->remote must be two different known peers
 * and fd an AF_UNIX SOCK_SEQPACKET socket (else EINVAL).
 * Requests may be sent before the peer's Hello arrives; the peer's requests
 * are only accepted after it. */
berth_conn_t *berth_conn_new(sd_event *e, int fd, const berth_conn_config_t *cfg, berth_error_t *err);
/* Closes the fd, fails pending calls (callbacks get NULL), fires on_close, frees. Safe on NULL.
 * Safe to call from inside any callback of this connection. */
void berth_conn_close(berth_conn_t *c);

/* Sends a request; env's op must be set by the caller (request_id and
 * is_reply are set here: env->request_id tells the id afterwards). cb may be
 * NULL. Does not close fds (the caller keeps its copies; a queued message
 * holds duplicates). Never blocks: when the send queue passes its bound (256
 * messages) the peer is cut off and ENOBUFS returned; on_close then fires
 * from the event loop. */
int berth_conn_call(berth_conn_t *c, berth_envelope_t *env, const int *fds, size_t nfds,
                    berth_reply_cb cb, void *userdata, berth_error_t *err);
/* Replies to request_id with env (op set by the caller; is_reply set here). */
int berth_conn_reply(berth_conn_t *c, uint64_t request_id, berth_envelope_t *env, const int *fds, size_t nfds,
                     berth_error_t *err);
int berth_conn_reply_error(berth_conn_t *c, uint64_t request_id, int errno_code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

int berth_conn_is_ready(const berth_conn_t *c);
Berth__Ipc__Peer berth_conn_remote(const berth_conn_t *c);
/* Kernel credentials of the peer process (SO_PEERCRED, read at
 * berth_conn_new). For a socketpair this is the process that created the
 * pair, not the one holding the other end; 0 if unknown. */
int berth_conn_peer_pid(const berth_conn_t *c);
