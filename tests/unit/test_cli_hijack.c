/* The CLI's own HTTP for attach and wait (cli/hijack.c) and the stream
 * demultiplexer (cli/stdcopy.c), against a tiny server in this test: a
 * child process on a unix socket that answers each connection with a
 * scripted reply (101 + raw stream, chunked and sized bodies, malformed and
 * oversized heads) and checks what the client sent, half-close included. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include "ctr.h"
#include "tap.h"

static char sock_path[108];

typedef void (*scenario_fn)(int fd);

/* Reads the request head (up to the blank line) into buf. */
static size_t read_request(int fd, char *buf, size_t cap) {
  size_t n = 0;
  while (n + 1 < cap) {
    ssize_t k = recv(fd, buf + n, cap - n - 1, 0);
    if (k <= 0)
      break;
    n += (size_t)k;
    buf[n] = '\0';
    if (strstr(buf, "\r\n\r\n"))
      break;
  }
  buf[n] = '\0';
  return n;
}

static void send_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t k = send(fd, c, n, MSG_NOSIGNAL);
    if (k <= 0)
      _exit(3);
    c += k;
    n -= (size_t)k;
  }
}

static void send_str(int fd, const char *s) {
  send_all(fd, s, strlen(s));
}

/* Runs scenario in a child that serves one connection; returns its pid. */
static pid_t serve(scenario_fn fn) {
  unlink(sock_path);
  int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
  if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 4) < 0) {
    perror("server socket");
    exit(1);
  }
  pid_t pid = fork();
  if (pid == 0) {
    alarm(10);
    int fd = accept(l, NULL, NULL);
    if (fd < 0)
      _exit(2);
    fn(fd);
    close(fd);
    _exit(0);
  }
  close(l);
  return pid;
}

static int server_status(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- scenarios ---- */

/* attach: checks the upgrade request, answers 101 with the first frames in
 * the same write, reads stdin until the client's half-close, echoes it as a
 * stderr frame, then ends the stream. */
static void sc_attach(int fd) {
  char req[4096];
  read_request(fd, req, sizeof req);
  const char *want = "POST /v1.41/containers/abc/attach?stdin=1&stdout=1&stream=1 HTTP/1.1\r\n";
  if (strncmp(req, want, strlen(want)) != 0 ||
      !strstr(req, "\r\nConnection: Upgrade\r\n") || !strstr(req, "\r\nUpgrade: tcp\r\n") ||
      !strstr(req, "\r\nHost: api.moby.localhost\r\n") || !strstr(req, "\r\nContent-Length: 0\r\n"))
    _exit(10);
  static const char reply[] = "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\n"
                              "Connection: Upgrade\r\nUpgrade: tcp\r\n\r\n\x01\0\0\0\0\0\0\x05hello";
  send_all(fd, reply, sizeof reply - 1);
  char in[256];
  size_t n = 0;
  for (;;) { /* until EOF: the client's shutdown(SHUT_WR) */
    ssize_t k = recv(fd, in + n, sizeof in - n, 0);
    if (k < 0)
      _exit(11);
    if (k == 0)
      break;
    n += (size_t)k;
    if (n == sizeof in)
      _exit(12);
  }
  unsigned char hdr[8] = { 2, 0, 0, 0, 0, 0, 0, (unsigned char)n };
  send_all(fd, hdr, 8);
  send_all(fd, in, n); /* after the half-close the server can still write */
}

static void sc_chunked(int fd) {
  char req[4096];
  read_request(fd, req, sizeof req);
  const char *want = "POST /v1.41/containers/abc/wait?condition=next-exit HTTP/1.1\r\n";
  if (strncmp(req, want, strlen(want)) != 0)
    _exit(10);
  /* the head first (as dockerd flushes it), the body later, in pieces */
  send_str(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
  usleep(50000);
  send_str(fd, "a;ext=1\r\n{\"StatusCo\r\n");
  usleep(20000);
  send_str(fd, "f\r\nde\":3,\"Error\":n\r\n4\r\null}\r\n0\r\nX-Trailer: y\r\n\r\n");
}

static void sc_sized(int fd) {
  char req[4096];
  read_request(fd, req, sizeof req);
  const char *body = "{\"message\":\"No such container: abc\"}";
  char head[256];
  snprintf(head, sizeof head, "HTTP/1.1 404 Not Found\r\nContent-Length: %zu\r\n\r\n", strlen(body));
  send_str(fd, head);
  send_str(fd, body);
  send_str(fd, "garbage after the body");
}

static void sc_eof_body(int fd) {
  char req[4096];
  read_request(fd, req, sizeof req);
  send_str(fd, "HTTP/1.0 200 OK\n\nall of it until close");
}

static void sc_huge_head(int fd) {
  char req[4096];
  read_request(fd, req, sizeof req);
  send_str(fd, "HTTP/1.1 200 OK\r\n");
  char line[1024];
  memset(line, 'a', sizeof line);
  memcpy(line, "X-Pad: ", 7);
  line[1022] = '\r';
  line[1023] = '\n';
  for (int i = 0; i < 80; i++) /* 80 KiB of headers, never a blank line */
    send_all(fd, line, sizeof line);
}

static void sc_close_early(int fd) {
  char req[4096];
  read_request(fd, req, sizeof req);
  send_str(fd, "HTTP/1.1 200 OK\r\nContent-Le");
}

static void sc_big_body(int fd) {
  char req[4096];
  read_request(fd, req, sizeof req);
  send_str(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
}

static void sc_truncated_chunk(int fd) {
  char req[4096];
  read_request(fd, req, sizeof req);
  send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20\r\nshort");
}

/* chunk data longer than its size says: no CRLF where it must be */
static void sc_long_chunk(int fd) {
  char req[4096];
  read_request(fd, req, sizeof req);
  send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n");
}

static void sc_bad_chunk(int fd) {
  char req[4096];
  read_request(fd, req, sizeof req);
  send_str(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n0\r\n\r\n");
}

/* ---- client side ---- */

static int connect_or_die(void) {
  berth_error_t err = NULL;
  int fd = cli_unix_connect(sock_path, &err);
  if (fd < 0) {
    tap_diag("connect: %s", err->msg);
    berth_error_release(&err);
    exit(1);
  }
  return fd;
}

typedef struct {
  char out[256], errs[256];
  size_t nout, nerr;
} collected_t;

static int collect(void *ud, int stream, const char *p, size_t n) {
  collected_t *c = ud;
  char *buf = stream == 2 ? c->errs : c->out;
  size_t *len = stream == 2 ? &c->nerr : &c->nout;
  if (*len + n >= sizeof c->out)
    return -1;
  memcpy(buf + *len, p, n);
  *len += n;
  buf[*len] = '\0';
  return 0;
}

static void test_attach(void) {
  pid_t pid = serve(sc_attach);
  int fd = connect_or_die();
  berth_error_t err = NULL;
  cli_http_head_t h;
  int r = cli_http_send(fd, "POST", "/v1.41/containers/abc/attach?stdin=1&stdout=1&stream=1", NULL, NULL, 0, true,
                        &err);
  r = r < 0 ? r : cli_http_read_head(fd, &h, &err);
  tap_ok(r == 0 && h.status == 101 && h.upgraded, "attach: 101 UPGRADED with Connection: Upgrade");
  tap_ok(strcmp(h.content_type, "application/vnd.docker.raw-stream") == 0, "attach: raw-stream content type");
  collected_t c = { 0 };
  cli_demux_t d = { 0 };
  tap_ok(h.extra_len == 13 && cli_demux_feed(&d, h.extra, h.extra_len, collect, &c) == 0 &&
             strcmp(c.out, "hello") == 0,
         "attach: stream bytes that came with the head are kept (stdout 'hello')");
  send_str(fd, "from stdin");
  shutdown(fd, SHUT_WR);
  char buf[256];
  ssize_t k;
  while ((k = recv(fd, buf, sizeof buf, 0)) > 0)
    cli_demux_feed(&d, buf, (size_t)k, collect, &c);
  tap_ok(strcmp(c.errs, "from stdin") == 0 && !cli_demux_partial(&d),
         "attach: after the half-close the output still arrives (stderr echo)");
  cli_http_head_free(&h);
  close(fd);
  tap_ok(server_status(pid) == 0, "attach: the server saw the upgrade request and the half-close");
  berth_error_release(&err);
}

static void test_bodies(void) {
  struct {
    scenario_fn fn;
    const char *path;
    int status;
    const char *body; /* NULL: an error is expected */
    int err_status;
  } cases[] = {
    { sc_chunked, "/v1.41/containers/abc/wait?condition=next-exit", 200, "{\"StatusCode\":3,\"Error\":null}", 0 },
    { sc_sized, "/x", 404, "{\"message\":\"No such container: abc\"}", 0 },
    { sc_eof_body, "/x", 200, "all of it until close", 0 },
    { sc_big_body, "/x", 200, NULL, EMSGSIZE },
    { sc_truncated_chunk, "/x", 200, NULL, EBADMSG },
    { sc_bad_chunk, "/x", 200, NULL, EBADMSG },
    { sc_long_chunk, "/x", 200, NULL, EBADMSG },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pid_t pid = serve(cases[i].fn);
    int fd = connect_or_die();
    berth_error_t err = NULL;
    cli_http_head_t h;
    char *body = NULL;
    size_t len = 0;
    int r = cli_http_send(fd, "POST", cases[i].path, NULL, NULL, 0, false, &err);
    r = r < 0 ? r : cli_http_read_head(fd, &h, &err);
    tap_ok(r == 0 && h.status == cases[i].status, "body %zu: status %d", i, cases[i].status);
    if (r == 0)
      r = cli_http_read_body(fd, &h, 4096, &body, &len, &err);
    if (cases[i].body) {
      if (!tap_ok(r == 0 && len == strlen(cases[i].body) && strcmp(body, cases[i].body) == 0, "body %zu: [%s]", i,
                  cases[i].body))
        tap_diag("got r=%d [%s] (%zu bytes) %s", r, body ? body : "", len, err ? err->msg : "");
    } else {
      if (!tap_ok(r < 0 && err && err->status == cases[i].err_status, "body %zu: refused (%s)", i,
                  strerror(cases[i].err_status)))
        tap_diag("got r=%d %s", r, err ? err->msg : "");
    }
    free(body);
    berth_error_release(&err);
    cli_http_head_free(&h);
    close(fd);
    kill(pid, SIGKILL);
    server_status(pid);
  }
}

static void test_bad_heads_on_wire(void) {
  pid_t pid = serve(sc_huge_head);
  int fd = connect_or_die();
  berth_error_t err = NULL;
  cli_http_head_t h;
  cli_http_send(fd, "GET", "/x", NULL, NULL, 0, false, &err);
  int r = cli_http_read_head(fd, &h, &err);
  tap_ok(r < 0 && err->status == EBADMSG && strstr(err->msg, "larger than"), "a head over 64 KiB is refused");
  berth_error_release(&err);
  close(fd);
  kill(pid, SIGKILL);
  server_status(pid);

  pid = serve(sc_close_early);
  fd = connect_or_die();
  cli_http_send(fd, "GET", "/x", "application/json", "{}", 2, false, &err);
  r = cli_http_read_head(fd, &h, &err);
  tap_ok(r < 0 && err->status == ECONNRESET, "a connection closed inside the head is an error");
  berth_error_release(&err);
  close(fd);
  server_status(pid);
}

static void test_parse_head(void) {
  static const struct {
    const char *head;
    bool ok;
    const char *what;
  } cases[] = {
    { "HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n", true, "sized" },
    { "HTTP/1.1 101 UPGRADED\r\nConnection: keep-alive, Upgrade\r\nUpgrade: tcp\r\n\r\n", true, "upgrade token list" },
    { "HTTP/1.1 204\r\n\r\n", true, "no reason phrase" },
    { "HTTP/1.1 200 OK\n\n", true, "bare LF line ends" },
    { "HTTP/2 200 OK\r\n\r\n", false, "not HTTP/1.x" },
    { "HTTP/1.1 2000 OK\r\n\r\n", false, "four-digit status" },
    { "HTTP/1.1 099 Low\r\n\r\n", false, "status below 100" },
    { "HTTP/1.1 20x OK\r\n\r\n", false, "status not digits" },
    { "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", false, "header without a colon" },
    { "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n", false, "header without a name" },
    { "HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n", false, "folded header" },
    { "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", false, "Content-Length not a number" },
    { "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", false, "negative Content-Length" },
    { "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", false, "huge Content-Length" },
    { "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", false, "two Content-Lengths" },
    { "HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\n", true, "the same Content-Length twice" },
    { "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false, "Transfer-Encoding other than chunked" },
    { "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", false, "CR inside a line" },
    { "HTTP/1.1 200 OK\r\nX: a\x01\r\n\r\n", false, "control character in a value" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cli_http_head_t h;
    berth_error_t err = NULL;
    int r = cli_http_parse_head(cases[i].head, strlen(cases[i].head), &h, &err);
    if (!tap_ok((r == 0) == cases[i].ok, "parse head: %s %s", cases[i].what, cases[i].ok ? "accepted" : "refused"))
      tap_diag("%s", err ? err->msg : "no error");
    berth_error_release(&err);
  }
  cli_http_head_t h;
  berth_error_t err = NULL;
  const char *nul = "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n";
  tap_ok(cli_http_parse_head(nul, 27, &h, &err) < 0, "parse head: NUL inside a line refused");
  berth_error_release(&err);
  const char *s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\nContent-Type: application/json\r\n\r\n";
  tap_ok(cli_http_parse_head(s, strlen(s), &h, &err) == 0 && h.chunked && h.content_length == -1 &&
             strcmp(h.content_type, "application/json") == 0 && !h.upgraded,
         "parse head: chunked, content type, no length");
}

static void test_demux(void) {
  /* stdout "ab", an empty frame, stderr "xyz", stdout "c" */
  static const unsigned char s[] = { 1, 0, 0, 0, 0, 0, 0, 2, 'a', 'b', 2, 0, 0, 0, 0, 0, 0, 0,
                                     2, 0, 0, 0, 0, 0, 0, 3, 'x', 'y', 'z', 1, 0, 0, 0, 0, 0, 0, 1, 'c' };
  bool all = true;
  for (size_t split = 0; split <= sizeof s; split++) {
    for (size_t step = 1; step <= 3; step++) {
      collected_t c = { 0 };
      cli_demux_t d = { 0 };
      int r = cli_demux_feed(&d, (const char *)s, split, collect, &c);
      for (size_t i = split; r == 0 && i < sizeof s; i += step)
        r = cli_demux_feed(&d, (const char *)s + i, i + step <= sizeof s ? step : sizeof s - i, collect, &c);
      if (r != 0 || strcmp(c.out, "abc") != 0 || strcmp(c.errs, "xyz") != 0 || cli_demux_partial(&d)) {
        tap_diag("split %zu step %zu: r=%d out=[%s] err=[%s]", split, step, r, c.out, c.errs);
        all = false;
      }
    }
  }
  tap_ok(all, "demux: frames split at every byte give stdout 'abc', stderr 'xyz'");
  collected_t c = { 0 };
  cli_demux_t d = { 0 };
  const char bad[] = { 7, 0, 0, 0, 0, 0, 0, 1, 'x' };
  tap_ok(cli_demux_feed(&d, bad, sizeof bad, collect, &c) == -EBADMSG, "demux: unknown stream type refused");
  cli_demux_t d2 = { 0 };
  const char cut[] = { 1, 0, 0, 0, 0, 0, 0, 9, 'x' };
  tap_ok(cli_demux_feed(&d2, cut, sizeof cut, collect, &c) == 0 && cli_demux_partial(&d2),
         "demux: a stream ending inside a frame is noticed");
  cli_demux_t d3 = { 0 };
  collected_t c3 = { 0 };
  const char in0[] = { 0, 0, 0, 0, 0, 0, 0, 2, 'h', 'i' };
  tap_ok(cli_demux_feed(&d3, in0, sizeof in0, collect, &c3) == 0 && strcmp(c3.out, "hi") == 0,
         "demux: stream 0 (stdin echo) goes to stdout, as docker's stdcopy");
}

int main(void) {
  char dir[] = "/tmp/berth-hijack-XXXXXX";
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(sock_path, sizeof sock_path, "%s/s", dir);
  signal(SIGPIPE, SIG_IGN);
  test_parse_head();
  test_demux();
  test_attach();
  test_bodies();
  test_bad_heads_on_wire();
  unlink(sock_path);
  rmdir(dir);
  return tap_done();
}
