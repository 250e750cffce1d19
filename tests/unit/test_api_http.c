/* berth-apid's HTTP front end for real: libmicrohttpd on an sd-event loop,
 * serving a listening AF_UNIX socket, with a client thread speaking raw
 * HTTP/1.1. Covers the common headers, Docker-style errors, suspend/resume
 * from another event, the per-request deadline, the "no reply" guard, the
 * body limit, SO_PEERCRED and answering suspended requests at shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "http.h"
#include "tap.h"

static struct sockaddr_un addr;
static sd_event *loop;
static api_server_t *server;
static int done_pipe[2];

/* What the handlers saw (written on the loop thread, read after join). */
static uid_t seen_uid = (uid_t)-2;
static pid_t seen_pid = -2;
static int shutdown_mode;
static int stop_loop;

/* ---- handlers (loop thread) ---- */

static void h_ping(api_request_t *r) {
  seen_uid = api_request_uid(r);
  seen_pid = api_request_pid(r);
  static const char *const extra[] = {"X-Test", "yes", NULL};
  int head = api_request_is_head(r);
  api_reply(r, 200, "text/plain; charset=utf-8", head ? "" : "OK", head ? 0 : 2, extra);
}

static int late_reply(sd_event_source *s, uint64_t usec, void *userdata) {
  api_request_t *r = userdata;
  if (api_request_pending(r)) {
    struct json_object *o = json_object_new_object();
    json_object_object_add(o, "Late", json_object_new_boolean(1));
    api_reply_json(r, 200, o);
  }
  api_request_unref(r);
  sd_event_source_disable_unref(s);
  return 0;
}

/* /version: answered 50 ms later from a timer (as an IPC reply would be).
 * In shutdown mode: never answered; the loop is stopped instead. */
static void h_version(api_request_t *r) {
  if (shutdown_mode) {
    api_request_suspend(r, 60ull * 1000000, "unused");
    stop_loop = 1;
    return;
  }
  api_request_ref(r);
  sd_event_add_time_relative(loop, NULL, CLOCK_MONOTONIC, 50 * 1000, 0, late_reply, r);
  api_request_suspend(r, 10ull * 1000000, "should not time out");
}

/* /info: suspended, never answered: the deadline answers. */
static void h_info(api_request_t *r) {
  api_request_suspend(r, 100 * 1000, "the test executor did not answer");
}

/* /berth/v1/services: a buggy handler that gives no reply. */
static void h_services(api_request_t *r) {
}

/* /images/json: records how query arguments read (dockerd's BoolValue, repeated keys). */
static int seen_bools[8];
static size_t seen_nvals;
static char seen_vals[3][16];
static void h_query(api_request_t *r) {
  static const char *const keys[] = {"a", "b", "c", "d", "e", "f", "absent", "absent"};
  for (int i = 0; i < 8; i++)
    seen_bools[i] = api_request_query_bool(r, keys[i], i == 7);
  const char *vals[3];
  seen_nvals = api_request_query_values(r, "names", vals, 3);
  for (size_t i = 0; i < seen_nvals && i < 3; i++)
    snprintf(seen_vals[i], sizeof seen_vals[i], "%s", vals[i]);
  api_reply(r, 200, "text/plain", "", 0, NULL);
}

static const api_handler_fn handlers[API_ROUTE__MAX] = {
    [API_ROUTE_IMAGES_LIST] = h_query,
    [API_ROUTE_PING] = h_ping,
    [API_ROUTE_VERSION] = h_version,
    [API_ROUTE_INFO] = h_info,
    [API_ROUTE_BERTH_SERVICES] = h_services,
};

/* ---- client (its own thread, blocking sockets) ---- */

typedef struct {
  const char *name;
  char *request;
  size_t request_len;
  char response[8192];
  size_t len;
} exchange_t;

static void exchange(exchange_t *x) {
  x->len = 0;
  x->response[0] = '\0';
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    if (fd >= 0)
      close(fd);
    return;
  }
  struct timeval tv = {5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  for (size_t off = 0; off < x->request_len;) {
    ssize_t n = send(fd, x->request + off, x->request_len - off, MSG_NOSIGNAL);
    if (n <= 0)
      break;   /* the server may answer (413) and stop reading */
    off += (size_t)n;
  }
  for (;;) {
    ssize_t n = recv(fd, x->response + x->len, sizeof x->response - 1 - x->len, 0);
    if (n <= 0)
      break;
    x->len += (size_t)n;
  }
  x->response[x->len] = '\0';
  close(fd);
}

static void *exchange_thread(void *arg) {
  exchange(arg);
  return NULL;
}

static char *simple(const char *method, const char *path) {
  char *s = NULL;
  if (asprintf(&s, "%s %s HTTP/1.1\r\nHost: api.moby.localhost\r\nConnection: close\r\n\r\n", method, path) < 0)
    abort();
  return s;
}

enum { X_GET_PING, X_HEAD_PING, X_TOO_NEW, X_NOT_FOUND, X_WRONG_METHOD, X_LATE, X_DEADLINE, X_NO_REPLY,
       X_SMALL_BODY, X_BIG_BODY, X_BIG_CHUNKED,
       X_ESCAPED, X_NUL, X_QUERY, X_COUNT };
static exchange_t xs[X_COUNT];

static void *client(void *arg) {
  for (int i = 0; i < X_COUNT; i++)
    exchange(&xs[i]);
  char c = 1;
  if (write(done_pipe[1], &c, 1) < 0)
    perror("write");
  return NULL;
}

static int on_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
  char c;
  if (read(fd, &c, 1) == 1)
    stop_loop = 1;
  return 0;
}

/* Runs the loop until a handler or the client sets stop_loop (sd_event_exit
 * would finish the loop for good; the test needs it twice). */
static int run_until_stopped(void) {
  stop_loop = 0;
  while (!stop_loop) {
    int r = sd_event_run(loop, UINT64_MAX);
    if (r < 0)
      return r;
  }
  return 0;
}

static char *with_body(size_t n) {
  char *s = NULL;
  if (asprintf(&s, "GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n", n) < 0)
    abort();
  size_t head = strlen(s);
  s = realloc(s, head + n + 1);
  memset(s + head, 'x', n);
  s[head + n] = '\0';
  return s;
}

static char *chunked(size_t n) {
  char *s = NULL;
  if (asprintf(&s, "GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n") < 0)
    abort();
  size_t len = strlen(s);
  const size_t chunk = 4096;
  for (size_t sent = 0; sent < n; sent += chunk) {
    s = realloc(s, len + chunk + 16);
    len += (size_t)sprintf(s + len, "%zx\r\n", chunk);
    memset(s + len, 'y', chunk);
    len += chunk;
    memcpy(s + len, "\r\n", 2);
    len += 2;
  }
  s = realloc(s, len + 6);
  memcpy(s + len, "0\r\n\r\n", 6);
  return s;
}

static int status_of(const exchange_t *x) {
  int code = 0;
  return sscanf(x->response, "HTTP/1.1 %d", &code) == 1 ? code : 0;
}

static int has(const exchange_t *x, const char *needle) {
  return strstr(x->response, needle) != NULL;
}

static const char *body_of(const exchange_t *x) {
  const char *b = strstr(x->response, "\r\n\r\n");
  return b ? b + 4 : "";
}

int main(void) {
  int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof addr.sun_path, "/tmp/berth-test-api-%d.sock", (int)getpid());
  unlink(addr.sun_path);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 16) < 0) {
    printf("1..0 # SKIP cannot listen on %s: %s\n", addr.sun_path, strerror(errno));
    return 0;
  }
  if (sd_event_new(&loop) < 0 || pipe2(done_pipe, O_CLOEXEC) < 0)
    return 1;
  berth_error_t err = NULL;
  api_server_config_t cfg = {.event = loop, .listen_fd = lfd, .handlers = handlers, .userdata = NULL};
  int r = api_server_new(&cfg, &server, &err);
  tap_ok(r == 0, "server starts on a passed listening socket");
  if (r < 0) {
    tap_diag("%s", err ? err->msg : "?");
    return tap_done();
  }
  sd_event_add_io(loop, NULL, done_pipe[0], EPOLLIN, on_done, NULL);

  xs[X_GET_PING].request = simple("GET", "/_ping");
  xs[X_HEAD_PING].request = simple("HEAD", "/_ping");
  xs[X_TOO_NEW].request = simple("GET", "/v1.50/version");
  xs[X_NOT_FOUND].request = simple("GET", "/v1.41/plugins/json");
  xs[X_WRONG_METHOD].request = simple("POST", "/v1.41/info");
  xs[X_LATE].request = simple("GET", "/v1.41/version");
  xs[X_DEADLINE].request = simple("GET", "/info");
  xs[X_NO_REPLY].request = simple("GET", "/berth/v1/services");
  xs[X_SMALL_BODY].request = with_body(1000);
  xs[X_BIG_BODY].request = with_body(API_MAX_UNEXPECTED_BODY + 4096);
  xs[X_BIG_CHUNKED].request = chunked(API_MAX_UNEXPECTED_BODY + 4096);
  xs[X_ESCAPED].request = simple("GET", "/v1.41/_p%69n%67");
  xs[X_NUL].request = simple("GET", "/_ping%00/x");
  xs[X_QUERY].request =
      simple("GET", "/v1.41/images/json?a=1&b=false&c=%20No%20&d=&e=yes&f=NONE&names=x%2Fy&names=b:1&names=c&names=d");
  for (int i = 0; i < X_COUNT; i++)
    xs[i].request_len = strlen(xs[i].request);

  pthread_t t;
  pthread_create(&t, NULL, client, NULL);
  r = run_until_stopped();
  pthread_join(t, NULL);
  tap_ok(r == 0, "event loop ran until the client finished");

  exchange_t *x = &xs[X_GET_PING];
  tap_ok(status_of(x) == 200 && strcmp(body_of(x), "OK") == 0, "GET /_ping: 200 OK");
  tap_ok(has(x, "Api-Version: 1.41\r\n") && has(x, "Server: berth/") && has(x, "Ostype: linux\r\n") &&
             has(x, "Docker-Experimental: false\r\n"),
         "common headers on every response");
  tap_ok(has(x, "X-Test: yes\r\n") && has(x, "Content-Type: text/plain; charset=utf-8\r\n"),
         "handler's extra headers and content type");
  tap_ok(seen_uid == getuid() && seen_pid == getpid(), "caller identified by SO_PEERCRED (uid %d pid %d)",
         (int)seen_uid, (int)seen_pid);
  x = &xs[X_HEAD_PING];
  tap_ok(status_of(x) == 200 && has(x, "Content-Length: 0\r\n") && body_of(x)[0] == '\0', "HEAD /_ping: 200, empty");
  x = &xs[X_TOO_NEW];
  tap_ok(status_of(x) == 400 && has(x, "Content-Type: application/json\r\n") &&
             strcmp(body_of(x), "{\"message\":\"client version 1.50 is too new. Maximum supported API version is "
                                "1.41\"}\n") == 0,
         "too new a version: 400 with Docker's message");
  x = &xs[X_NOT_FOUND];
  tap_ok(status_of(x) == 404 && strcmp(body_of(x), "{\"message\":\"page not found\"}\n") == 0 &&
             has(x, "Api-Version: 1.41\r\n"),
         "unknown route: 404 page not found (with Api-Version)");
  x = &xs[X_WRONG_METHOD];
  tap_ok(status_of(x) == 404 && strcmp(body_of(x), "{\"message\":\"page not found\"}\n") == 0,
         "known path, wrong method: 404 like dockerd");
  x = &xs[X_LATE];
  tap_ok(status_of(x) == 200 && strcmp(body_of(x), "{\"Late\":true}\n") == 0 &&
             has(x, "Content-Type: application/json\r\n"),
         "suspended request answered later from another event");
  x = &xs[X_DEADLINE];
  tap_ok(status_of(x) == 500 && strcmp(body_of(x), "{\"message\":\"the test executor did not answer\"}\n") == 0,
         "suspended request past its deadline: 500 with the given message");
  x = &xs[X_NO_REPLY];
  tap_ok(status_of(x) == 500 && has(x, "no reply"), "a handler that forgets to reply still gets a 500 out");
  x = &xs[X_SMALL_BODY];
  tap_ok(status_of(x) == 200, "a small unexpected body is read and dropped");
  x = &xs[X_BIG_BODY];
  tap_ok(status_of(x) == 413 && has(x, "request body too large"), "an oversize declared body is refused: 413");
  x = &xs[X_BIG_CHUNKED];
  tap_ok(x->len == 0, "an oversize chunked body gets the connection cut");
  x = &xs[X_ESCAPED];
  tap_ok(status_of(x) == 200, "percent-escapes in the path are decoded (/_p%%69n%%67 is /_ping)");
  x = &xs[X_NUL];
  tap_ok(status_of(x) == 404, "%%00 does not cut the path short (/_ping%%00/x is not /_ping)");
  x = &xs[X_QUERY];
  tap_ok(status_of(x) == 200 && seen_bools[0] == 1 && seen_bools[1] == 0 && seen_bools[2] == 0 && seen_bools[3] == 0 &&
             seen_bools[4] == 1 && seen_bools[5] == 0 && seen_bools[6] == 0 && seen_bools[7] == 1,
         "query booleans read like dockerd's BoolValue (1 yes: true; false, ' No ', '', NONE: false; absent: default)");
  tap_ok(seen_nvals == 4 && strcmp(seen_vals[0], "x/y") == 0 && strcmp(seen_vals[1], "b:1") == 0 &&
             strcmp(seen_vals[2], "c") == 0,
         "a repeated query argument gives every value in order, unescaped (%zu)", seen_nvals);
  /* The server still serves after both. */
  exchange_t again = {.request = simple("GET", "/_ping")};
  again.request_len = strlen(again.request);
  pthread_t ta;
  pthread_create(&ta, NULL, exchange_thread, &again);
  while (pthread_tryjoin_np(ta, NULL) != 0)
    sd_event_run(loop, 50 * 1000);
  tap_ok(status_of(&again) == 200, "the server still answers afterwards");
  free(again.request);

  /* Shutdown with a request suspended: it is answered 503, MHD stops cleanly. */
  shutdown_mode = 1;
  exchange_t last = {.request = simple("GET", "/version")};
  last.request_len = strlen(last.request);
  pthread_t t2;
  pthread_create(&t2, NULL, exchange_thread, &last);
  run_until_stopped();   /* until h_version suspended the request */
  api_server_free(server);
  pthread_join(t2, NULL);
  tap_ok(status_of(&last) == 503 && has(&last, "shutting down"), "suspended request answered 503 at shutdown (got %d)",
         status_of(&last));

  for (int i = 0; i < X_COUNT; i++)
    free(xs[i].request);
  free(last.request);
  sd_event_unref(loop);
  unlink(addr.sun_path);
  close(done_pipe[0]);
  close(done_pipe[1]);
  return tap_done();
}
