/* berth-apid's hijacked connections (http.h api_reply_upgrade) for real:
 * libmicrohttpd on an sd-event loop, clients in a thread speaking raw
 * HTTP/1.1 as the docker CLI does for attach. Covers the 101 head,
 * output queued before the upgrade, input, the client's half-close (input
 * ends, output still flows), 1 MiB queued then closed arriving whole to a
 * slow reader, bytes sent right behind the request head, the 200 fallback
 * without Upgrade, a client that vanishes, and server shutdown. */
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

#define BIG (1024u * 1024u)

static struct sockaddr_un addr;
static sd_event *loop;
static api_server_t *server;
static int closed_calls, input_ends;

/* ---- server side (loop thread) ---- */

static void on_input(api_upgrade_t *u, const char *data, size_t len, void *ud) {
  api_upgrade_send(u, "got:", 4);
  api_upgrade_send(u, data, len);
}

static void on_input_end(api_upgrade_t *u, void *ud) {
  input_ends++;
  api_upgrade_send(u, "bye", 3);
  api_upgrade_close(u);
}

static void on_closed(api_upgrade_t *u, void *ud) {
  closed_calls++;
}

static const api_upgrade_ops_t ops = {.input = on_input, .input_end = on_input_end, .closed = on_closed};

static void h_attach(api_request_t *r) {
  int big = api_request_query_bool(r, "big", 0);
  api_upgrade_t *u = api_reply_upgrade(r, "application/vnd.docker.raw-stream", &ops, NULL);
  if (u == NULL)
    return;
  if (big) {
    char *buf = malloc(BIG);
    for (size_t i = 0; i < BIG; i++)
      buf[i] = (char)('a' + i % 23);
    api_upgrade_send(u, buf, BIG);
    free(buf);
    api_upgrade_close(u);   /* before the 101 even left: all of it must still arrive */
    return;
  }
  api_upgrade_send(u, "hello", 5);
  if (!api_request_wants_upgrade(r))
    api_upgrade_close(u);
}

/* /wait: a streamed response that sleeps forever (a `wait` on a running container). */
static int sleeper_done;
static ssize_t sleeper_read(api_request_t *r, char *buf, size_t max, void *ud) {
  return 0;
}
static void sleeper_end(api_request_t *r, void *ud) {
  sleeper_done++;
}
static const api_stream_ops_t sleeper_ops = {.read = sleeper_read, .done = sleeper_end};
static void h_wait(api_request_t *r) {
  api_request_attach(r, &sleeper_ops, NULL);
  api_reply_stream(r, 200, "application/json", NULL);
}

static const api_handler_fn handlers[API_ROUTE__MAX] = {[API_ROUTE_CTR_ATTACH] = h_attach,
                                                         [API_ROUTE_CTR_WAIT] = h_wait};

/* ---- client side (own thread, blocking socket) ---- */

typedef struct {
  const char *request;
  const char *extra;        /* sent in the same write as the head */
  int mode;
  char *got;
  size_t len, cap;
  int saw_eof;
  int hello_ok, echo_ok;
} client_t;

enum { M_ECHO, M_BIG, M_FALLBACK, M_VANISH, M_SHUTDOWN, M_HEAD_ONLY };
static volatile int client_may_close;

static void append(client_t *c, const char *p, size_t n) {
  if (c->len + n + 1 > c->cap) {
    c->cap = (c->len + n + 1) * 2;
    c->got = realloc(c->got, c->cap);
  }
  memcpy(c->got + c->len, p, n);
  c->len += n;
  c->got[c->len] = '\0';
}

/* Reads until needle appears after offset `from` (or EOF / timeout). */
static int read_until(int fd, client_t *c, size_t from, const char *needle) {
  char buf[65536];
  for (;;) {
    if (c->got && c->len >= from && memmem(c->got + from, c->len - from, needle, strlen(needle)))
      return 1;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      c->saw_eof = n == 0;
      return 0;
    }
    append(c, buf, (size_t)n);
  }
}

static void read_to_eof(int fd, client_t *c, int slow) {
  char buf[65536];
  for (;;) {
    ssize_t n = recv(fd, buf, slow ? 16384 : sizeof buf, 0);
    if (n <= 0) {
      c->saw_eof = n == 0;
      return;
    }
    append(c, buf, (size_t)n);
    if (slow)
      usleep(2000);
  }
}

static void *client(void *arg) {
  client_t *c = arg;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
    return NULL;
  struct timeval tv = {10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char head[1024];
  snprintf(head, sizeof head, "%s%s", c->request, c->extra ? c->extra : "");
  if (send(fd, head, strlen(head), MSG_NOSIGNAL) < 0) {
    close(fd);
    return NULL;
  }
  switch (c->mode) {
  case M_ECHO: {
    if (!read_until(fd, c, 0, "\r\n\r\n"))
      break;
    size_t body = (size_t)((char *)memmem(c->got, c->len, "\r\n\r\n", 4) - c->got) + 4;
    c->hello_ok = read_until(fd, c, body, "hello");
    if (c->extra == NULL) {
      send(fd, "abc", 3, MSG_NOSIGNAL);
      c->echo_ok = read_until(fd, c, body, "got:abc");
    } else {
      c->echo_ok = read_until(fd, c, body, "got:early");
    }
    shutdown(fd, SHUT_WR);   /* what the docker CLI does at the end of its stdin */
    read_to_eof(fd, c, 0);
    break;
  }
  case M_BIG:
    read_to_eof(fd, c, 1);
    break;
  case M_FALLBACK:
    read_to_eof(fd, c, 0);
    break;
  case M_HEAD_ONLY:
    c->hello_ok = read_until(fd, c, 0, "\r\n\r\n");
    break;
  case M_VANISH:
  case M_SHUTDOWN:
    c->hello_ok = read_until(fd, c, 0, "hello");
    if (c->mode == M_SHUTDOWN) {
      client_may_close = 1;
      read_to_eof(fd, c, 0);
    }
    break;
  }
  close(fd);
  return NULL;
}

static void run_client(client_t *c) {
  pthread_t t;
  pthread_create(&t, NULL, client, c);
  while (pthread_tryjoin_np(t, NULL) != 0)
    sd_event_run(loop, 20 * 1000);
}

static const char *body_after_head(const client_t *c) {
  const char *b = c->got ? strstr(c->got, "\r\n\r\n") : NULL;
  return b ? b + 4 : "";
}

#define UPGRADE_REQ(q)                                                                                              \
  "POST /v1.41/containers/abc/attach?stream=1&stdout=1" q " HTTP/1.1\r\nHost: api.moby.localhost\r\n"                \
  "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: text/plain\r\n\r\n"

int main(void) {
  int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof addr.sun_path, "/tmp/berth-test-upgrade-%d.sock", (int)getpid());
  unlink(addr.sun_path);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 16) < 0) {
    printf("1..0 # SKIP cannot listen on %s: %s\n", addr.sun_path, strerror(errno));
    return 0;
  }
  if (sd_event_new(&loop) < 0)
    return 1;
  berth_error_t err = NULL;
  api_server_config_t cfg = {.event = loop, .listen_fd = lfd, .handlers = handlers};
  if (api_server_new(&cfg, &server, &err) < 0) {
    tap_ok(0, "server starts: %s", err ? err->msg : "?");
    return tap_done();
  }

  client_t a = {.request = UPGRADE_REQ(""), .mode = M_ECHO};
  run_client(&a);
  tap_ok(a.got && strncmp(a.got, "HTTP/1.1 101 ", 13) == 0, "attach with Upgrade: 101");
  tap_ok(a.got && strstr(a.got, "Content-Type: application/vnd.docker.raw-stream\r\n") &&
             strcasestr(a.got, "Connection: Upgrade\r\n") && strstr(a.got, "Upgrade: tcp\r\n") &&
             strstr(a.got, "Api-Version: 1.41\r\n"),
         "101 with Docker's headers (raw-stream, Connection: Upgrade, Upgrade: tcp)");
  tap_ok(a.hello_ok, "output queued before the upgrade arrives after the head");
  tap_ok(a.echo_ok, "input reaches the handler and its answer comes back");
  tap_ok(input_ends == 1 && a.saw_eof && a.len >= 3 && memcmp(a.got + a.len - 3, "bye", 3) == 0,
         "half-close: input ends, output still flows, then the server closes");
  tap_ok(closed_calls == 0, "a stream its owner closed gets no closed callback");

  client_t e = {.request = UPGRADE_REQ(""), .extra = "early", .mode = M_ECHO};
  run_client(&e);
  tap_ok(e.echo_ok, "bytes sent right behind the request head are input too");

  client_t b = {.request = UPGRADE_REQ("&big=1"), .mode = M_BIG};
  run_client(&b);
  const char *bb = body_after_head(&b);
  size_t blen = b.got ? b.len - (size_t)(bb - b.got) : 0;
  int intact = blen == BIG;
  for (size_t i = 0; intact && i < BIG; i++)
    intact = bb[i] == (char)('a' + i % 23);
  tap_ok(intact && b.saw_eof, "1 MiB queued then closed reaches a slow reader whole (%zu bytes)", blen);

  client_t f = {.request = "POST /containers/abc/attach?stream=1 HTTP/1.1\r\nHost: x\r\n\r\n", .mode = M_FALLBACK};
  run_client(&f);
  tap_ok(f.got && strncmp(f.got, "HTTP/1.1 200", 12) == 0 &&
             strstr(f.got, "Content-Type: application/vnd.docker.raw-stream\r\n") && strstr(body_after_head(&f), "hello"),
         "without Upgrade: 200 whose body carries the output");

  int before = closed_calls;
  client_t v = {.request = UPGRADE_REQ(""), .mode = M_VANISH};
  run_client(&v);
  for (int i = 0; i < 200 && closed_calls == before; i++)
    sd_event_run(loop, 10 * 1000);
  tap_ok(v.hello_ok && closed_calls == before + 1, "a client that closes is noticed (closed callback)");

  client_t w = {.request = "POST /v1.41/containers/abc/wait HTTP/1.1\r\nHost: x\r\n\r\n", .mode = M_HEAD_ONLY};
  run_client(&w);
  for (int i = 0; i < 200 && sleeper_done == 0; i++)
    sd_event_run(loop, 10 * 1000);
  tap_ok(w.hello_ok && w.got && strncmp(w.got, "HTTP/1.1 200", 12) == 0 && sleeper_done == 1,
         "a sleeping streamed response (wait) ends when its client hangs up");
  free(w.got);

  before = closed_calls;
  client_t s = {.request = UPGRADE_REQ(""), .mode = M_SHUTDOWN};
  pthread_t t;
  client_may_close = 0;
  pthread_create(&t, NULL, client, &s);
  while (!client_may_close)
    sd_event_run(loop, 10 * 1000);
  for (int i = 0; i < 10; i++)
    sd_event_run(loop, 1000);
  api_server_free(server);
  pthread_join(t, NULL);
  tap_ok(s.hello_ok && s.saw_eof && closed_calls == before + 1,
         "server shutdown closes an open stream (owner told, client sees EOF)");

  free(a.got);
  free(e.got);
  free(b.got);
  free(f.got);
  free(v.got);
  free(s.got);
  sd_event_unref(loop);
  unlink(addr.sun_path);
  return tap_done();
}
