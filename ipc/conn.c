/* An IPC connection on an sd-event loop. The rules it enforces for every
 * service and the executor alike: Hello first (from the peer the edge was
 * made for), every request checked against the dispatch table, replies
 * matched by id, Ping answered here, and a bounded send queue: a peer that
 * stops reading is cut off, never waited on. */
#include "conn.h"
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include "../lib/core/berth.h"
#include "../lib/core/log.h"

#define MAX_QUEUE 256    /* queued outgoing messages before the peer is cut off */
#define MAX_PENDING 1024 /* unanswered calls of ours before berth_conn_call refuses */
#define RECV_BATCH 64    /* messages read per wake-up, so one peer cannot starve the rest */

typedef struct out_msg {
  struct out_msg *next;
  uint8_t *buf;
  size_t len;
  int fds[BERTH_IPC_MAX_FDS];
  size_t nfds;
} out_msg_t;

typedef struct pending {
  struct pending *next;
  uint64_t id;
  berth_reply_cb cb;
  void *userdata;
} pending_t;

struct berth_conn {
  unsigned ref;   /* 1 while open, +1 while one of our event handlers runs */
  int fd;
  int ready;      /* the peer's Hello was accepted */
  int cut;        /* cut off: shut down at the next turn of the loop */
  int closed;
  sd_event *event;
  sd_event_source *io;
  berth_conn_config_t cfg;
  uint64_t next_id;
  pending_t *pending;
  size_t npending;
  out_msg_t *out_head, *out_tail;
  size_t out_len;
  int peer_pid;
};

#define PEERS(c) berth_peer_name((c)->cfg.self), berth_peer_name((c)->cfg.remote)
#define STATUS(r) (-1 - (r)) /* berth_error_* return -1 - status */

static void out_free(out_msg_t *o) {
  for (size_t i = 0; i < o->nfds; i++)
    close(o->fds[i]);
  free(o->buf);
  free(o);
}

static void drop_queue(berth_conn_t *c) {
  while (c->out_head) {
    out_msg_t *o = c->out_head;
    c->out_head = o->next;
    out_free(o);
  }
  c->out_tail = NULL;
  c->out_len = 0;
}

static void conn_unref(berth_conn_t *c) {
  if (--c->ref > 0)
    return;
  sd_event_unref(c->event);
  free(c);
}

/* Runs the close path once: no more I/O, pending calls fail, on_close fires,
 * and the "open" reference goes. Callbacks may call berth_conn_close (a no-op
 * by then) because the reference is dropped only after they return. */
static void conn_shutdown(berth_conn_t *c) {
  if (c->closed)
    return;
  c->closed = 1;
  c->io = sd_event_source_disable_unref(c->io);
  close(c->fd);
  c->fd = -1;
  drop_queue(c);
  while (c->pending) {
    pending_t *p = c->pending;
    c->pending = p->next;
    c->npending--;
    if (p->cb)
      p->cb(c, NULL, p->userdata);
    free(p);
  }
  if (c->cfg.on_close)
    c->cfg.on_close(c, c->cfg.userdata);
  conn_unref(c);
}

/* Cuts the peer off without calling anyone back from inside a send: the
 * socket is shut down now, the close path runs from the event loop. */
static void conn_cut(berth_conn_t *c, const char *why) {
  if (c->cut || c->closed)
    return;
  log_warn("ipc %s<-%s: cutting the peer off: %s", PEERS(c), why);
  c->cut = 1;
  shutdown(c->fd, SHUT_RDWR);
  drop_queue(c);
}

static void update_events(berth_conn_t *c) {
  if (c->io)
    sd_event_source_set_io_events(c->io, c->out_head ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

static int conn_send(berth_conn_t *c, berth_envelope_t *env, const int *fds, size_t nfds, berth_error_t *err) {
  if (c->closed || c->cut)
    return berth_error_make(err, ECONNRESET, "ipc %s->%s: connection closed", PEERS(c));
  uint8_t *buf = NULL;
  size_t len = 0;
  int r = berth_wire_pack(env, nfds, &buf, &len, err);
  if (r < 0)
    return r;
  if (c->out_head == NULL) {
    berth_error_t e = NULL;
    r = berth_wire_send_packed(c->fd, buf, len, fds, nfds, &e);
    if (r == 0 || STATUS(r) != EAGAIN) {
      free(buf);
      if (r < 0) {
        conn_cut(c, e && e->msg ? e->msg : "send failed");
        berth_error_release(err);
        if (err)
          *err = e;
        else
          berth_error_release(&e);
      }
      return r;
    }
    berth_error_release(&e);
  }
  if (c->out_len >= MAX_QUEUE) {
    free(buf);
    conn_cut(c, "it does not read (send queue full)");
    return berth_error_make(err, ENOBUFS, "ipc %s->%s: peer does not read", PEERS(c));
  }
  out_msg_t *o = calloc(1, sizeof *o);
  if (o == NULL) {
    free(buf);
    return berth_error_make(err, ENOMEM, "ipc: out of memory");
  }
  o->buf = buf;
  o->len = len;
  /* The caller keeps its fds; a queued message needs copies of its own. */
  for (; o->nfds < nfds; o->nfds++) {
    o->fds[o->nfds] = fcntl(fds[o->nfds], F_DUPFD_CLOEXEC, 3);
    if (o->fds[o->nfds] < 0) {
      r = berth_error_errno(err, "ipc: dup");
      out_free(o);
      return r;
    }
  }
  if (c->out_tail)
    c->out_tail->next = o;
  else
    c->out_head = o;
  c->out_tail = o;
  c->out_len++;
  update_events(c);
  return 0;
}

static void flush(berth_conn_t *c) {
  while (c->out_head && !c->cut) {
    out_msg_t *o = c->out_head;
    berth_error_t e = NULL;
    int r = berth_wire_send_packed(c->fd, o->buf, o->len, o->fds, o->nfds, &e);
    if (r < 0) {
      if (STATUS(r) != EAGAIN)
        conn_cut(c, e && e->msg ? e->msg : "send failed");
      berth_error_release(&e);
      break;
    }
    c->out_head = o->next;
    if (c->out_head == NULL)
      c->out_tail = NULL;
    c->out_len--;
    out_free(o);
  }
  update_events(c);
}

/* A protocol violation: say why (best effort, the peer may not read it), close. */
static void violation(berth_conn_t *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void violation(berth_conn_t *c, int code, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  log_warn("ipc %s<-%s: protocol violation: %s; closing the connection", PEERS(c), msg);
  if (!c->cut && !c->closed) {
    Berth__Ipc__Error er = BERTH__IPC__ERROR__INIT;
    berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
    er.errno_code = code;
    er.message = msg;
    env.is_reply = 1;
    env.op_case = BERTH__IPC__ENVELOPE__OP_ERROR;
    env.error = &er;
    berth_wire_send(c->fd, &env, NULL, 0, NULL);
  }
  conn_shutdown(c);
}

static void handle_hello(berth_conn_t *c, berth_msg_t *m) {
  const Berth__Ipc__Hello *h = m->env->hello;
  if (m->env->op_case != BERTH__IPC__ENVELOPE__OP_HELLO || m->env->is_reply)
    violation(c, EPROTO, "expected Hello, got %s", berth_op_name(m->env->op_case));
  else if (h->protocol_version != BERTH_IPC_VERSION)
    violation(c, EPROTO, "Hello with protocol version %u, expected %u", h->protocol_version, BERTH_IPC_VERSION);
  else if (h->peer != c->cfg.remote)
    violation(c, EPERM, "Hello from %s on the edge of %s", berth_peer_name(h->peer), berth_peer_name(c->cfg.remote));
  else {
    c->ready = 1;
    log_debug("ipc %s<-%s: Hello", PEERS(c)); /* its strings are peer input: not logged */
    if (c->cfg.on_ready)
      c->cfg.on_ready(c, h, c->cfg.userdata);
  }
  berth_msg_release(m);
}

static void handle_reply(berth_conn_t *c, berth_msg_t *m) {
  berth_error_t e = NULL;
  if (berth_dispatch_check_reply(m, &e) < 0) {
    violation(c, EPROTO, "malformed reply: %s", e && e->msg ? e->msg : "?");
    berth_error_release(&e);
    berth_msg_release(m);
    return;
  }
  pending_t **pp = &c->pending;
  while (*pp && (*pp)->id != m->env->request_id)
    pp = &(*pp)->next;
  pending_t *p = *pp;
  if (p == NULL) {
    log_info("ipc %s<-%s: %s for unknown request %llu ignored", PEERS(c), berth_op_name(m->env->op_case),
             (unsigned long long)m->env->request_id);
    berth_msg_release(m);
    return;
  }
  *pp = p->next;
  c->npending--;
  if (p->cb)
    p->cb(c, m, p->userdata);
  else
    berth_msg_release(m);
  free(p);
}

static void handle_request(berth_conn_t *c, berth_msg_t *m) {
  uint64_t id = m->env->request_id;
  berth_error_t e = NULL;
  int r = berth_dispatch_check_request(c->cfg.remote, c->cfg.self, m, &e);
  if (r < 0) {
    /* Refused, but the connection stays: answer with the reason. */
    log_warn("ipc %s<-%s: refused: %s", PEERS(c), e && e->msg ? e->msg : "?");
    berth_msg_release(m);
    berth_conn_reply_error(c, id, STATUS(r), "%s", e && e->msg ? e->msg : "refused");
    berth_error_release(&e);
  } else if (m->env->op_case == BERTH__IPC__ENVELOPE__OP_PING) {
    Berth__Ipc__Pong pong = BERTH__IPC__PONG__INIT;
    berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
    pong.payload = m->env->ping->payload;
    env.op_case = BERTH__IPC__ENVELOPE__OP_PONG;
    env.pong = &pong;
    berth_conn_reply(c, id, &env, NULL, 0, NULL);
    berth_msg_release(m);
  } else if (c->cfg.on_request) {
    c->cfg.on_request(c, m, c->cfg.userdata);
  } else {
    berth_op_t op = m->env->op_case;
    berth_msg_release(m);
    berth_conn_reply_error(c, id, ENOSYS, "%s is not served here", berth_op_name(op));
  }
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
  berth_conn_t *c = userdata;
  c->ref++;
  if (revents & EPOLLOUT && !c->cut)
    flush(c);
  for (int i = 0; i < RECV_BATCH && !c->closed && !c->cut; i++) {
    berth_msg_t m;
    berth_error_t e = NULL;
    int r = berth_wire_recv(c->fd, &m, &e);
    if (r > 0) {
      if (!c->ready)
        handle_hello(c, &m);
      else if (m.env->op_case == BERTH__IPC__ENVELOPE__OP_HELLO) {
        berth_msg_release(&m);
        violation(c, EPROTO, "second Hello");
      } else if (m.env->is_reply)
        handle_reply(c, &m);
      else
        handle_request(c, &m);
    } else if (r == 0 || STATUS(r) == ECONNRESET) { /* reset: it closed with our messages unread */
      log_debug("ipc %s<-%s: peer closed the connection", PEERS(c));
      conn_shutdown(c);
    } else if (STATUS(r) != EAGAIN) {
      violation(c, STATUS(r), "%s", e && e->msg ? e->msg : "receive failed");
    }
    berth_error_release(&e);
    if (r < 0)
      break;
  }
  if (c->cut)
    conn_shutdown(c);
  conn_unref(c);
  return 0;
}

berth_conn_t *berth_conn_new(sd_event *e, int fd, const berth_conn_config_t *cfg, berth_error_t *err) {
  if (cfg->self == cfg->remote || !strcmp(berth_peer_name(cfg->self), "unknown") ||
      !strcmp(berth_peer_name(cfg->remote), "unknown") || !berth_fd_is_kind(fd, BERTH_FD_SEQPACKET)) {
    if (fd >= 0)
      close(fd);
    berth_error_make(err, EINVAL, "ipc: a connection needs two different known peers and a seqpacket socket");
    return NULL;
  }
  berth_conn_t *c = calloc(1, sizeof *c);
  int fl = fcntl(fd, F_GETFL);
  if (c == NULL || fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    berth_error_errno(err, "ipc: new connection");
    goto fail;
  }
  c->ref = 1;
  c->fd = fd;
  c->cfg = *cfg;
  c->next_id = 1;
  struct ucred cred;
  socklen_t l = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &l) == 0)
    c->peer_pid = cred.pid;
  int r = sd_event_add_io(e, &c->io, fd, EPOLLIN, on_io, c);
  if (r < 0) {
    errno = -r;
    berth_error_errno(err, "ipc: sd_event_add_io");
    goto fail;
  }
  c->event = sd_event_ref(e);
  Berth__Ipc__Hello h = BERTH__IPC__HELLO__INIT;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  h.protocol_version = BERTH_IPC_VERSION;
  h.peer = cfg->self;
  h.software_version = (char *)BERTH_VERSION_STRING;
  env.op_case = BERTH__IPC__ENVELOPE__OP_HELLO;
  env.hello = &h;
  if (conn_send(c, &env, NULL, 0, err) < 0) {
    berth_error_wrap(err, "ipc %s->%s: Hello", PEERS(c));
    goto fail;
  }
  return c;
fail:
  if (c) {
    sd_event_source_disable_unref(c->io);
    drop_queue(c);
    sd_event_unref(c->event);
    free(c);
  }
  close(fd);
  return NULL;
}

void berth_conn_close(berth_conn_t *c) {
  if (c)
    conn_shutdown(c);
}

int berth_conn_call(berth_conn_t *c, berth_envelope_t *env, const int *fds, size_t nfds, berth_reply_cb cb,
                    void *userdata, berth_error_t *err) {
  if (env->op_case == BERTH__IPC__ENVELOPE__OP__NOT_SET)
    return berth_error_make(err, EINVAL, "ipc: call without an operation");
  if (c->npending >= MAX_PENDING)
    return berth_error_make(err, ENOBUFS, "ipc %s->%s: too many unanswered calls", PEERS(c));
  pending_t *p = calloc(1, sizeof *p);
  if (p == NULL)
    return berth_error_make(err, ENOMEM, "ipc: out of memory");
  env->request_id = c->next_id++;
  env->is_reply = 0;
  int r = conn_send(c, env, fds, nfds, err);
  if (r < 0) {
    free(p);
    return r;
  }
  /* Registered even without cb, so the reply is not logged as unknown. */
  p->id = env->request_id;
  p->cb = cb;
  p->userdata = userdata;
  p->next = c->pending;
  c->pending = p;
  c->npending++;
  return 0;
}

int berth_conn_reply(berth_conn_t *c, uint64_t request_id, berth_envelope_t *env, const int *fds, size_t nfds,
                     berth_error_t *err) {
  env->request_id = request_id;
  env->is_reply = 1;
  return conn_send(c, env, fds, nfds, err);
}

int berth_conn_reply_error(berth_conn_t *c, uint64_t request_id, int errno_code, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  Berth__Ipc__Error er = BERTH__IPC__ERROR__INIT;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  er.errno_code = errno_code;
  er.message = msg;
  env.op_case = BERTH__IPC__ENVELOPE__OP_ERROR;
  env.error = &er;
  return berth_conn_reply(c, request_id, &env, NULL, 0, NULL);
}

int berth_conn_is_ready(const berth_conn_t *c) {
  return c->ready && !c->cut && !c->closed;
}

Berth__Ipc__Peer berth_conn_remote(const berth_conn_t *c) {
  return c->cfg.remote;
}

int berth_conn_peer_pid(const berth_conn_t *c) {
  return c->peer_pid;
}
