/* libmicrohttpd on the sd-event loop; request lifecycle and replies. See http.h. */
#include "http_impl.h"
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>
#include "berth.h"
#include "log.h"

/* ---- replies ---------------------------------------------------------- */

static void kick(api_server_t *s);

void api_http_kick(api_server_t *s) {
  kick(s);
}

/* The request path as it may appear in a log line: no control characters. */
static void log_safe(const char *in, char *out, size_t outlen) {
  size_t o = 0;
  for (; *in && o + 5 < outlen; in++) {
    unsigned char ch = (unsigned char)*in;
    if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\')
      o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", ch);
    else
      out[o++] = (char)ch;
  }
  out[o] = '\0';
}

static void unlist(api_request_t *r) {
  if (!r->mhd_suspended)
    return;
  if (r->prev)
    r->prev->next = r->next;
  else
    r->srv->suspended = r->next;
  if (r->next)
    r->next->prev = r->prev;
  r->prev = r->next = NULL;
  r->mhd_suspended = 0;
}

/* One MHD suspension per request, whatever the reasons (waiting for a reply,
 * a paused body, a sleeping response); listed so shutdown can resume it. */
void api_http_suspend_conn(api_request_t *r) {
  if (r->mhd_suspended || r->finished)
    return;
  MHD_suspend_connection(r->conn);
  r->mhd_suspended = 1;
  r->next = r->srv->suspended;
  if (r->next)
    r->next->prev = r;
  r->srv->suspended = r;
}

void api_http_resume_conn(api_request_t *r) {
  if (!r->mhd_suspended)
    return;
  unlist(r);
  MHD_resume_connection(r->conn);
  kick(r->srv);
}

static int add_header(struct MHD_Response *resp, const char *name, const char *value) {
  return MHD_add_response_header(resp, name, value) == MHD_YES ? 0 : -1;
}

void api_http_finish_reply(api_request_t *r, unsigned status, struct MHD_Response *resp, const char *content_type,
                           const char *const *extra_headers) {
  r->replied = 1;
  r->status = status;
  sd_event_source_disable_unref(r->deadline);
  r->deadline = NULL;

  int ok = resp != NULL;
  /* dockerd sets these on every routed response; the docker CLI reads them. */
  ok = ok && add_header(resp, "Api-Version", API_VERSION_DEFAULT) == 0;
  ok = ok && add_header(resp, "Docker-Experimental", "false") == 0;
  ok = ok && add_header(resp, "Ostype", "linux") == 0;
  ok = ok && add_header(resp, "Server", "berth/" BERTH_VERSION_STRING " (linux)") == 0;
  if (ok && content_type)
    ok = add_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) == 0;
  for (size_t i = 0; ok && extra_headers && extra_headers[i] && extra_headers[i + 1]; i += 2)
    ok = add_header(resp, extra_headers[i], extra_headers[i + 1]) == 0;

  char path[512];
  log_safe(r->path, path, sizeof path);
  if (r->peer.valid)
    log_info("uid=%u pid=%d \"%s %s\" %u", (unsigned)r->peer.uid, (int)r->peer.pid, r->method, path, status);
  else
    log_info("uid=? pid=? \"%s %s\" %u", r->method, path, status);

  if (!ok || MHD_queue_response(r->conn, status, resp) != MHD_YES) {
    log_err("cannot queue the response to %s %s", r->method, path);
    r->queue_failed = 1;
  }
  if (r->awaiting) {
    r->awaiting = 0;
    api_http_resume_conn(r);
  }
}

void api_reply(api_request_t *r, unsigned status, const char *content_type, const void *body, size_t len,
               const char *const *extra_headers) {
  if (r->replied || r->finished) {
    log_warn("second reply to %s %s ignored", r->method, r->path);
    return;
  }
  struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
  api_http_finish_reply(r, status, resp, content_type, extra_headers);
  if (resp)
    MHD_destroy_response(resp);
}

void api_reply_json(api_request_t *r, unsigned status, struct json_object *obj) {
  if (obj == NULL) {
    api_reply_error(r, 500, "out of memory");
    return;
  }
  size_t len = 0;
  const char *s = json_object_to_json_string_length(obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE,
                                                    &len);
  char *buf = s ? malloc(len + 2) : NULL;
  if (buf == NULL) {
    json_object_put(obj);
    api_reply_error(r, 500, "out of memory");
    return;
  }
  /* Like Go's json.Encoder (dockerd): the document ends with a newline. */
  memcpy(buf, s, len);
  buf[len] = '\n';
  json_object_put(obj);
  api_reply(r, status, "application/json", buf, len + 1, NULL);
  free(buf);
}

void api_reply_error(api_request_t *r, unsigned status, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  struct json_object *o = json_object_new_object();
  if (o)
    json_object_object_add(o, "message", json_object_new_string(msg));
  const char *s = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                    : NULL;
  static const char fallback[] = "{\"message\":\"internal error\"}";
  char body[2200];
  int n = snprintf(body, sizeof body, "%s\n", s ? s : fallback);
  if (n < 0 || (size_t)n >= sizeof body)
    n = snprintf(body, sizeof body, "%s\n", fallback);
  api_reply(r, status, "application/json", body, (size_t)n, NULL);
  json_object_put(o);
}

/* ---- suspension ------------------------------------------------------- */

static int on_deadline(sd_event_source *src, uint64_t usec, void *userdata) {
  api_request_t *r = userdata;
  sd_event_source_disable_unref(r->deadline);
  r->deadline = NULL;
  if (api_request_pending(r))
    api_reply_error(r, 500, "%s", r->timeout_msg ? r->timeout_msg : "timed out");
  return 0;
}

void api_request_suspend(api_request_t *r, uint64_t timeout_usec, const char *timeout_msg) {
  if (r->replied || r->finished || r->awaiting)
    return;
  free(r->timeout_msg);
  r->timeout_msg = timeout_msg ? strdup(timeout_msg) : NULL;
  if (timeout_usec > 0 &&
      sd_event_add_time_relative(r->srv->event, &r->deadline, CLOCK_MONOTONIC, timeout_usec, 0, on_deadline, r) < 0) {
    api_reply_error(r, 500, "cannot arm a timer for this request");
    return;
  }
  r->awaiting = 1;
  api_http_suspend_conn(r);
}

int api_request_pending(const api_request_t *r) {
  return !r->replied && !r->finished;
}

api_request_t *api_request_ref(api_request_t *r) {
  r->refs++;
  return r;
}

void api_request_unref(api_request_t *r) {
  if (r == NULL || --r->refs > 0)
    return;
  sd_event_source_disable_unref(r->deadline);
  free(r->timeout_msg);
  free(r->method);
  free(r->path);
  free(r->body);
  free(r);
}

/* ---- accessors -------------------------------------------------------- */

const char *api_request_method(const api_request_t *r) { return r->method; }
const char *api_request_path(const api_request_t *r) { return r->path; }
const api_match_t *api_request_match(const api_request_t *r) { return &r->match; }
int api_request_is_head(const api_request_t *r) { return strcmp(r->method, "HEAD") == 0; }
uid_t api_request_uid(const api_request_t *r) { return r->peer.valid ? r->peer.uid : (uid_t)-1; }
gid_t api_request_gid(const api_request_t *r) { return r->peer.valid ? r->peer.gid : (gid_t)-1; }
pid_t api_request_pid(const api_request_t *r) { return r->peer.valid ? r->peer.pid : 0; }
void *api_request_userdata(const api_request_t *r) { return r->srv->userdata; }
sd_event *api_request_event(const api_request_t *r) { return r->srv->event; }

const char *api_request_body(const api_request_t *r, size_t *len) {
  *len = r->body_len;
  return r->body ? r->body : "";
}

const char *api_request_query(const api_request_t *r, const char *key) {
  if (r->finished)
    return NULL;
  return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

typedef struct {
  const char *key;
  const char **vals;
  size_t max, n;
} query_values_t;

static enum MHD_Result collect_value(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
  query_values_t *q = cls;
  if (key && strcmp(key, q->key) == 0) {
    if (q->n < q->max)
      q->vals[q->n] = value ? value : "";
    q->n++;
  }
  return MHD_YES;
}

size_t api_request_query_values(const api_request_t *r, const char *key, const char **vals, size_t max) {
  query_values_t q = {key, vals, max, 0};
  if (!r->finished)
    MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, collect_value, &q);
  return q.n;
}

int api_request_query_bool(const api_request_t *r, const char *key, int dflt) {
  const char *v = api_request_query(r, key);
  if (v == NULL)
    return dflt;
  while (*v == ' ' || *v == '\t' || *v == '\n' || *v == '\r')
    v++;
  size_t n = strlen(v);
  while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\n' || v[n - 1] == '\r'))
    n--;
  static const char *const falsy[] = {"", "0", "no", "false", "none"};
  for (size_t i = 0; i < sizeof falsy / sizeof falsy[0]; i++)
    if (strlen(falsy[i]) == n && strncasecmp(v, falsy[i], n) == 0)
      return 0;
  return 1;
}

/* ---- MHD callbacks ---------------------------------------------------- */

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code) {
  if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
    free(*socket_context);
    *socket_context = NULL;
    return;
  }
  api_peer_t *peer = calloc(1, sizeof *peer);
  if (peer == NULL)
    return;
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
  struct ucred uc;
  socklen_t len = sizeof uc;
  if (ci && getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0 && len == sizeof uc) {
    peer->valid = 1;
    peer->uid = uc.uid;
    peer->gid = uc.gid;
    peer->pid = uc.pid;
  } else {
    log_warn("cannot read the credentials of an API caller: %s", strerror(errno));
  }
  *socket_context = peer;
}

static api_request_t *request_new(api_server_t *s, struct MHD_Connection *c, const char *url, const char *method) {
  api_request_t *r = calloc(1, sizeof *r);
  if (r == NULL)
    return NULL;
  r->srv = s;
  r->conn = c;
  r->refs = 1;   /* held by MHD until the request completes */
  r->method = strdup(method ? method : "");
  r->path = strdup(url ? url : "");
  if (r->method == NULL || r->path == NULL) {
    api_request_unref(r);
    return NULL;
  }
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  if (ci && ci->socket_context)
    r->peer = *(const api_peer_t *)ci->socket_context;
  api_route_match(r->method, r->path, &r->match);
  return r;
}

static size_t body_limit(const api_request_t *r) {
  size_t limit = r->match.route->max_body;
  return limit ? limit : API_MAX_UNEXPECTED_BODY;
}

/* A declared Content-Length over the limit is refused before any body is
 * read (MHD lets a response be queued only before or after the body). */
static int declared_too_large(api_request_t *r) {
  const char *cl = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
  if (cl == NULL)
    return 0;
  errno = 0;
  char *end;
  unsigned long long n = strtoull(cl, &end, 10);
  return errno != 0 || end == cl || n > body_limit(r);
}

/* Buffers (or, on a route that expects none, drops) a chunk of request body.
 * Returns -1 when a body without a declared length outgrows the limit: the
 * connection is then cut, as no response can be queued mid-body. */
static int take_body(api_request_t *r, const char *data, size_t size) {
  if (r->match.route->max_body == API_BODY_STREAM) {
    /* A streamed body nobody takes (the handler answered at once): dropped, never held. */
    r->dropped += size;
    return 0;
  }
  if (size > body_limit(r) - r->body_len - r->dropped) {
    log_warn("request body of %s %s over %zu bytes: connection closed", r->method, r->match.route->pattern,
             body_limit(r));
    return -1;
  }
  if (r->match.route->max_body == 0) {
    r->dropped += size;
    return 0;
  }
  char *nb = realloc(r->body, r->body_len + size + 1);
  if (nb == NULL)
    return -1;
  memcpy(nb + r->body_len, data, size);
  r->body = nb;
  r->body_len += size;
  r->body[r->body_len] = '\0';
  return 0;
}

static void dispatch(api_request_t *r) {
  r->dispatched = 1;
  api_handler_fn handler = r->srv->handlers[r->match.route->id];
  if (handler == NULL)
    api_reply_error(r, 501, "not implemented");
  else
    handler(r);
  int streaming_body = r->match.route->max_body == API_BODY_STREAM && r->ops && r->ops->body && r->ops->body_end;
  if (!r->replied && !r->awaiting && !streaming_body) {
    log_err("handler for %s gave no reply", r->match.route->pattern);
    api_reply_error(r, 500, "internal error: no reply");
  }
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                 const char *version, const char *upload_data, size_t *upload_data_size,
                                 void **con_cls) {
  api_server_t *s = cls;
  api_request_t *r = *con_cls;
  if (r == NULL) {
    r = request_new(s, c, url, method);
    if (r == NULL)
      return MHD_NO;
    *con_cls = r;
    /* Unknown routes and unsupported versions are answered before any body is read. */
    if (r->match.status != API_MATCH_OK) {
      char msg[256];
      int status = api_match_error(&r->match, msg, sizeof msg);
      api_reply_error(r, (unsigned)status, "%s", msg);
    } else if (r->match.route->max_body == API_BODY_STREAM) {
      dispatch(r);   /* before the body: the handler attaches where it goes */
    } else if (declared_too_large(r)) {
      api_reply_error(r, 413, "request body too large (limit %zu bytes)", body_limit(r));
    }
    return r->queue_failed ? MHD_NO : MHD_YES;
  }
  if (r->ops && r->ops->body && !r->replied)
    return api_http_stream_body(r, upload_data, upload_data_size);
  if (*upload_data_size > 0) {
    size_t size = *upload_data_size;
    *upload_data_size = 0;
    if (!r->replied && take_body(r, upload_data, size) < 0)
      return MHD_NO;
    return r->queue_failed ? MHD_NO : MHD_YES;
  }
  if (r->replied || r->dispatched)
    return r->queue_failed ? MHD_NO : MHD_YES;
  dispatch(r);
  return r->queue_failed ? MHD_NO : MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
  api_request_t *r = *con_cls;
  if (r == NULL)
    return;
  *con_cls = NULL;
  unlist(r);
  api_http_stream_done(r);
  if (r->draining)
    r->srv->draining--;
  r->finished = 1;
  sd_event_source_disable_unref(r->deadline);
  r->deadline = NULL;
  api_request_unref(r);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) {
  char buf[512];
  vsnprintf(buf, sizeof buf, fmt, ap);
  size_t n = strlen(buf);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
    buf[--n] = '\0';
  log_warn("http: %s", buf);
}

/* Decodes %HH in the path and query like MHD's default, except %00: a NUL
 * would cut the C string short and make "/_ping%00/x" route as "/_ping".
 * It stays literal, so such a path matches nothing (dockerd: 404 too). */
static int hex_value(char ch) {
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F')
    return ch - 'A' + 10;
  return -1;
}

static size_t on_unescape(void *cls, struct MHD_Connection *c, char *str) {
  char *out = str;
  for (const char *in = str; *in;) {
    int hi = in[0] == '%' ? hex_value(in[1]) : -1;
    int lo = hi >= 0 ? hex_value(in[2]) : -1;
    if (lo >= 0 && (hi | lo) != 0) {
      *out++ = (char)(hi * 16 + lo);
      in += 3;
    } else {
      *out++ = *in++;
    }
  }
  *out = '\0';
  return (size_t)(out - str);
}

/* ---- event loop glue -------------------------------------------------- */

static void rearm(api_server_t *s) {
  MHD_UNSIGNED_LONG_LONG ms = 0;
  if (MHD_get_timeout(s->mhd, &ms) != MHD_YES) {
    sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
    return;
  }
  uint64_t now = 0;
  sd_event_now(s->event, CLOCK_MONOTONIC, &now);
  if (ms > UINT64_MAX / 2000)
    ms = UINT64_MAX / 2000;
  sd_event_source_set_time(s->timer, now + (uint64_t)ms * 1000u);
  sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
}

/* Runs MHD soon (a request was resumed from outside MHD). */
static void kick(api_server_t *s) {
  sd_event_source_set_time(s->timer, 1);
  sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
}

static void run_mhd(api_server_t *s) {
  if (MHD_run(s->mhd) != MHD_YES)
    log_debug("MHD_run reported an error");
  rearm(s);
}

static int on_mhd_io(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
  run_mhd(userdata);
  return 0;
}

static int on_mhd_timer(sd_event_source *src, uint64_t usec, void *userdata) {
  run_mhd(userdata);
  return 0;
}

int api_server_new(const api_server_config_t *cfg, api_server_t **out, berth_error_t *err) {
  api_server_t *s = calloc(1, sizeof *s);
  if (s == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  s->event = sd_event_ref(cfg->event);
  s->handlers = cfg->handlers;
  s->userdata = cfg->userdata;
  s->listen_fd = cfg->listen_fd;

  int fl = fcntl(s->listen_fd, F_GETFL);
  if (fl < 0 || fcntl(s->listen_fd, F_SETFL, fl | O_NONBLOCK) < 0) {
    berth_error_errno(err, "API listening socket (fd %d)", s->listen_fd);
    goto fail;
  }
  s->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG, 0,
                            NULL, NULL, on_access, s,
                            MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,   /* first, or MHD logs elsewhere */
                            MHD_OPTION_LISTEN_SOCKET, (MHD_socket)s->listen_fd,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned int)API_MAX_CONNECTIONS,
                            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)API_MAX_REQUEST_HEAD,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)API_IDLE_TIMEOUT_SEC,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                            MHD_OPTION_UNESCAPE_CALLBACK, on_unescape, s,
                            MHD_OPTION_END);
  if (s->mhd == NULL) {
    berth_error_make(err, EIO, "cannot start the HTTP server on fd %d", s->listen_fd);
    goto fail;
  }
  s->listen_fd = -1;   /* MHD owns it now */
  const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
  if (di == NULL) {
    berth_error_make(err, EIO, "HTTP server has no epoll fd");
    goto fail;
  }
  int r = sd_event_add_io(s->event, &s->io, di->epoll_fd, EPOLLIN, on_mhd_io, s);
  if (r >= 0)
    /* accuracy 1 us: the default (250 ms) would delay MHD when it asks to run again at once */
    r = sd_event_add_time(s->event, &s->timer, CLOCK_MONOTONIC, 1, 1, on_mhd_timer, s);
  if (r < 0) {
    errno = -r;
    berth_error_errno(err, "adding the HTTP server to the event loop");
    goto fail;
  }
  /* The timer starts as a one-shot at time 1: MHD runs once at start-up. */
  *out = s;
  return 0;
fail:
  api_server_free(s);
  return -1;
}

void api_server_free(api_server_t *s) {
  if (s == NULL)
    return;
  /* MHD must not be stopped with suspended connections: answer them first,
   * and give those answers up to a second to leave. */
  api_http_close_upgrades(s);
  while (s->suspended) {
    api_request_t *r = s->suspended;
    r->draining = 1;
    s->draining++;
    if (r->awaiting) {
      api_reply_error(r, 503, "berth-apid is shutting down");
    } else {
      /* A paused body or a sleeping response: resumed to be cut off. */
      r->aborted = 1;
      api_http_resume_conn(r);
    }
  }
  if (s->mhd) {
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    for (int i = 0; i < 100 && s->draining > 0; i++) {
      MHD_run(s->mhd);
      struct pollfd p = {.fd = di ? di->epoll_fd : -1, .events = POLLIN};
      if (s->draining > 0)
        poll(&p, 1, 10);
    }
    MHD_stop_daemon(s->mhd);
  }
  sd_event_source_disable_unref(s->io);
  sd_event_source_disable_unref(s->timer);
  if (s->listen_fd >= 0)
    close(s->listen_fd);
  sd_event_unref(s->event);
  free(s);
}
