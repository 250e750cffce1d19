/* Hijacked connections (see http.h): libmicrohttpd's 101 upgrade hands us
 * the raw socket (non-blocking under MHD_USE_EPOLL, still MHD's to close),
 * which is then driven from the sd-event loop. Without an Upgrade request
 * header the same output goes out as an ordinary streamed 200 response. */
#include <errno.h>
#include <strings.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include "http_impl.h"
#include "log.h"

#define UPGRADE_READ_BLOCK (64u * 1024u)

struct api_upgrade {
  api_server_t *srv;
  api_request_t *req;
  const api_upgrade_ops_t *ops;
  void *ud;
  bool raw;            /* 101: a hijacked socket; else a streamed 200 body */
  int fd;              /* MHD's socket once upgraded, else -1 */
  struct MHD_UpgradeResponseHandle *urh;
  sd_event_source *io, *flush_timer;
  char *out;
  size_t out_off, out_len, out_cap;
  bool in_eof, in_paused;
  bool closing;        /* api_upgrade_close: flush, then close; no callbacks */
  bool gone;           /* connection over (closed or failed) */
  bool mhd_closed;     /* MHD_UPGRADE_ACTION_CLOSE done */
  char *extra;         /* bytes MHD read past the request head */
  size_t extra_len;
  api_upgrade_t *prev, *next;   /* in srv->upgrades */
};

static void unlink_upgrade(api_upgrade_t *u) {
  if (u->prev)
    u->prev->next = u->next;
  else if (u->srv->upgrades == u)
    u->srv->upgrades = u->next;
  if (u->next)
    u->next->prev = u->prev;
  u->prev = u->next = NULL;
}

int api_request_wants_upgrade(const api_request_t *r) {
  if (r->finished)
    return 0;
  const char *conn = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONNECTION);
  const char *up = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_UPGRADE);
  if (conn == NULL || up == NULL || up[0] == '\0')
    return 0;
  /* A comma-separated token list: "Upgrade", "keep-alive, Upgrade", ... */
  for (const char *p = conn; *p;) {
    p += strspn(p, " \t,");
    size_t n = strcspn(p, ",");
    size_t t = n;
    while (t > 0 && (p[t - 1] == ' ' || p[t - 1] == '\t'))
      t--;
    if (t == 7 && strncasecmp(p, "upgrade", 7) == 0)
      return 1;
    p += n;
  }
  return 0;
}

/* Hands the socket back to MHD, which completes the request (ops->done). */
static void mhd_close(api_upgrade_t *u) {
  if (u->mhd_closed)
    return;
  u->mhd_closed = true;
  u->io = sd_event_source_disable_unref(u->io);
  u->flush_timer = sd_event_source_disable_unref(u->flush_timer);
  if (u->raw && u->urh) {
    MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);
    api_http_kick(u->srv);
  } else if (!u->raw) {
    api_request_wake(u->req);   /* the reader ends (or cuts) the body */
  }
}

/* The connection failed under its owner: tell it once, then close. */
static void fail(api_upgrade_t *u) {
  if (u->gone)
    return;
  u->gone = true;
  if (!u->closing && u->ops->closed)
    u->ops->closed(u, u->ud);
  u->closing = true;
  mhd_close(u);
}

static int on_flush_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
  api_upgrade_t *u = userdata;
  u->flush_timer = sd_event_source_disable_unref(u->flush_timer);
  log_warn("an attached client did not read its last %zu bytes in %u s: connection closed",
           u->out_len - u->out_off, API_UPGRADE_FLUSH_SEC);
  u->out_off = u->out_len = 0;
  u->gone = true;
  mhd_close(u);
  return 0;
}

static void update_events(api_upgrade_t *u) {
  if (u->io == NULL)
    return;
  uint32_t ev = 0;
  if (!u->in_eof && !u->in_paused)
    ev |= EPOLLIN;
  if (u->out_len > u->out_off)
    ev |= EPOLLOUT;
  sd_event_source_set_io_events(u->io, ev);
  /* On with no events still reports EPOLLHUP: the client closed both ways.
   * Off while input is paused and nothing is to be sent (HUP is level
   * triggered and could not be handled then). */
  sd_event_source_set_enabled(u->io, u->in_paused && ev == 0 ? SD_EVENT_OFF : SD_EVENT_ON);
}

/* Drops what the client sent and nobody will read: closing a unix socket
 * with unread data makes the client's next read fail (ECONNRESET). */
static void drain_input(api_upgrade_t *u) {
  char buf[4096];
  for (int i = 0; i < 64 && !u->in_eof; i++) {
    ssize_t n = recv(u->fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0)
      u->in_eof = true;
    if (n <= 0)
      break;
  }
}

static void maybe_finish_close(api_upgrade_t *u) {
  if (!u->closing || u->out_len > u->out_off || u->mhd_closed)
    return;
  if (u->raw && u->fd >= 0) {
    drain_input(u);
    shutdown(u->fd, SHUT_WR);
  }
  u->gone = true;
  mhd_close(u);
}

static int flush_out(api_upgrade_t *u) {
  while (u->out_len > u->out_off) {
    ssize_t n = send(u->fd, u->out + u->out_off, u->out_len - u->out_off, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return 0;
    if (n <= 0)
      return -1;
    u->out_off += (size_t)n;
  }
  u->out_off = u->out_len = 0;
  return 1;
}

static void after_output(api_upgrade_t *u, int rc) {
  if (rc < 0) {
    fail(u);
    return;
  }
  if (rc > 0) {
    if (u->closing) {
      maybe_finish_close(u);
      return;
    }
    if (u->ops->drained)
      u->ops->drained(u, u->ud);
  }
  if (!u->mhd_closed)
    update_events(u);
}

static void deliver(api_upgrade_t *u, const char *data, size_t len) {
  if (!u->closing && u->ops->input)
    u->ops->input(u, data, len, u->ud);
}

static void input_ended(api_upgrade_t *u) {
  u->in_eof = true;
  if (!u->closing && u->ops->input_end)
    u->ops->input_end(u, u->ud);
}

static int on_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
  api_upgrade_t *u = userdata;
  if (revents & EPOLLOUT) {
    after_output(u, flush_out(u));
    if (u->mhd_closed)
      return 0;
  }
  if (!u->in_eof && !u->in_paused && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
    char buf[UPGRADE_READ_BLOCK];
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) {
      deliver(u, buf, (size_t)n);
    } else if (n == 0) {
      input_ended(u);   /* half-close: keep sending */
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      fail(u);
      return 0;
    }
  } else if (revents & (EPOLLHUP | EPOLLERR)) {
    fail(u);   /* the client is gone both ways */
    return 0;
  }
  if (!u->mhd_closed)
    update_events(u);
  return 0;
}

static void start_close(api_upgrade_t *u) {
  maybe_finish_close(u);
  if (u->mhd_closed)
    return;
  update_events(u);
  if (sd_event_add_time_relative(u->srv->event, &u->flush_timer, CLOCK_MONOTONIC, API_UPGRADE_FLUSH_SEC * 1000000ull,
                                 0, on_flush_timeout, u) < 0)
    on_flush_timeout(NULL, 0, u);
}

static void on_upgraded(void *cls, struct MHD_Connection *c, void *con_cls, const char *extra_in, size_t extra_in_size,
                        MHD_socket sock, struct MHD_UpgradeResponseHandle *urh) {
  api_upgrade_t *u = cls;
  u->fd = sock;
  u->urh = urh;
  if (u->gone) {
    mhd_close(u);
    return;
  }
  if (sd_event_add_io(u->srv->event, &u->io, sock, EPOLLIN | EPOLLOUT, on_io, u) < 0) {
    log_err("cannot watch an attached connection: %s", strerror(errno));
    fail(u);
    return;
  }
  if (u->closing) {
    start_close(u);   /* the owner closed before the 101 left: flush, then close */
    return;
  }
  if (extra_in_size > 0)
    deliver(u, extra_in, extra_in_size);
  if (!u->mhd_closed)
    update_events(u);
}

/* Streamed 200 fallback: the body is the output queue. */
static ssize_t fallback_read(api_request_t *r, char *buf, size_t max, void *ud) {
  api_upgrade_t *u = ud;
  if (u->out_len > u->out_off) {
    size_t n = u->out_len - u->out_off;
    if (n > max)
      n = max;
    memcpy(buf, u->out + u->out_off, n);
    u->out_off += n;
    if (u->out_off == u->out_len) {
      u->out_off = u->out_len = 0;
      if (!u->closing && u->ops->drained)
        u->ops->drained(u, u->ud);
    }
    return (ssize_t)n;
  }
  return u->closing ? API_STREAM_END : 0;
}

static void on_done(api_request_t *r, void *ud) {
  api_upgrade_t *u = ud;
  u->mhd_closed = true;   /* MHD is done with the socket */
  u->io = sd_event_source_disable_unref(u->io);
  if (!u->gone) {
    u->gone = true;
    if (!u->closing && u->ops->closed)
      u->ops->closed(u, u->ud);
  }
  unlink_upgrade(u);
  sd_event_source_disable_unref(u->flush_timer);
  free(u->out);
  free(u->extra);
  free(u);
}

static const api_stream_ops_t upgrade_stream_ops = {.read = fallback_read, .done = on_done};

api_upgrade_t *api_reply_upgrade(api_request_t *r, const char *content_type, const api_upgrade_ops_t *ops, void *ud) {
  if (r->replied || r->finished) {
    log_warn("second reply to %s %s ignored", r->method, r->path);
    return NULL;
  }
  api_upgrade_t *u = calloc(1, sizeof *u);
  if (u == NULL) {
    api_reply_error(r, 500, "out of memory");
    return NULL;
  }
  u->srv = r->srv;
  u->req = r;
  u->ops = ops;
  u->ud = ud;
  u->fd = -1;
  u->raw = api_request_wants_upgrade(r);
  api_request_attach(r, &upgrade_stream_ops, u);
  u->next = r->srv->upgrades;
  if (u->next)
    u->next->prev = u;
  r->srv->upgrades = u;
  if (u->raw) {
    static const char *const extra[] = {MHD_HTTP_HEADER_UPGRADE, "tcp", NULL};
    struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgraded, u);
    api_http_finish_reply(r, MHD_HTTP_SWITCHING_PROTOCOLS, resp, content_type, extra);
    if (resp)
      MHD_destroy_response(resp);
  } else {
    /* dockerd hijacks this one too and closes when done: no keep-alive after it */
    static const char *const close_hdr[] = {MHD_HTTP_HEADER_CONNECTION, "close", NULL};
    api_reply_stream(r, 200, content_type, close_hdr);
    u->in_eof = true;
  }
  if (r->queue_failed) {
    /* MHD will cut the connection and complete the request: on_done frees u. */
    u->closing = u->gone = true;
    return NULL;
  }
  return u;
}

int api_upgrade_send(api_upgrade_t *u, const void *data, size_t len) {
  if (u->gone || u->closing)
    return -1;
  if (len == 0)
    return 0;
  if (u->out_off > 0 && u->out_off == u->out_len)
    u->out_off = u->out_len = 0;
  if (u->out_len + len > u->out_cap) {
    if (u->out_off > 0) {
      memmove(u->out, u->out + u->out_off, u->out_len - u->out_off);
      u->out_len -= u->out_off;
      u->out_off = 0;
    }
    if (u->out_len + len > u->out_cap) {
      size_t cap = u->out_cap ? u->out_cap : 4096;
      while (cap < u->out_len + len)
        cap *= 2;
      char *nb = realloc(u->out, cap);
      if (nb == NULL)
        return -1;
      u->out = nb;
      u->out_cap = cap;
    }
  }
  memcpy(u->out + u->out_len, data, len);
  u->out_len += len;
  if (!u->raw) {
    api_request_wake(u->req);
  } else if (u->io) {
    int rc = flush_out(u);
    if (rc < 0) {
      fail(u);
      return -1;
    }
    if (!u->mhd_closed)
      update_events(u);
  }
  return 0;
}

size_t api_upgrade_pending(const api_upgrade_t *u) {
  return u->out_len - u->out_off;
}

void api_upgrade_pause_input(api_upgrade_t *u, int paused) {
  u->in_paused = paused != 0;
  if (!u->mhd_closed)
    update_events(u);
}

void api_upgrade_close(api_upgrade_t *u) {
  if (u == NULL || u->closing)
    return;
  u->closing = true;
  if (!u->raw)
    api_request_wake(u->req);
  else if (u->urh != NULL)
    start_close(u);
  /* else the 101 has not left yet: on_upgraded finishes the close */
}

void api_http_close_upgrades(api_server_t *s) {
  for (api_upgrade_t *u = s->upgrades; u; u = u->next) {
    if (u->mhd_closed || (u->raw && u->urh == NULL))
      continue;
    api_request_t *r = u->req;
    if (!r->draining) {
      r->draining = 1;
      s->draining++;
    }
    r->aborted = 1;
    fail(u);
  }
}
