/* The dispatch table: for every operation, which peer may send it to which,
 * how many fds it carries and of what type. Checked on every received request. */
#pragma once
#include "wire.h"

typedef enum {
  BERTH_FD_NONE = 0,
  BERTH_FD_SEQPACKET, /* AF_UNIX SOCK_SEQPACKET socket */
  BERTH_FD_STREAM,    /* AF_UNIX SOCK_STREAM socket */
  BERTH_FD_PIPE,
  BERTH_FD_REGULAR,   /* regular file */
  BERTH_FD_NETNS,     /* network namespace (nsfs) */
} berth_fd_kind_t;

#define BERTH_PEER_BIT(p) (1u << (p))

typedef struct {
  berth_op_t op;
  uint32_t callers;   /* BERTH_PEER_BIT mask of peers that may send this request */
  uint32_t handlers;  /* peers that serve it */
  unsigned nfds;      /* exact number of fds */
  berth_fd_kind_t fd_kind;
  int is_reply_type;  /* Error/Ok/Pong/...Reply: only valid as replies */
} berth_dispatch_entry_t;

const berth_dispatch_entry_t *berth_dispatch_lookup(berth_op_t op);

/* May `from` send this message as a request to `self`? Checks the table,
 * is_reply, fd count and fd types. Returns 0 or < 0 with *err
 * (EPERM: not allowed; EPROTO: malformed for the op; EBADF: wrong fd type). */
int berth_dispatch_check_request(Berth__Ipc__Peer from, Berth__Ipc__Peer self, const berth_msg_t *m, berth_error_t *err);

/* Is this a well-formed reply (reply-type op or Error, fds per table)? */
int berth_dispatch_check_reply(const berth_msg_t *m, berth_error_t *err);

const char *berth_peer_name(Berth__Ipc__Peer p);

/* Is fd of this kind? fstat + SO_DOMAIN/SO_TYPE for sockets, nsfs magic +
 * NS_GET_NSTYPE for network namespaces. Returns 1 or 0 (never fails). */
int berth_fd_is_kind(int fd, berth_fd_kind_t kind);
