/* Connection tests on one sd-event loop over real socketpairs: two conns
 * talking to each other, and one conn facing a raw test peer that
 * misbehaves on purpose (garbage, wrong Hello, a peer that never reads). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "conn.h"
#include "tap.h"

#define P(x) BERTH__IPC__PEER__PEER_##x
#define OP(x) BERTH__IPC__ENVELOPE__OP_##x

typedef struct {
  berth_conn_t *c;
  int ready, closed, requests, attached;
  int close_in_handler;
  berth_msg_t held[8];
  int nheld;
} side_t;

typedef struct {
  int done, got_null;
  berth_op_t op;
  uint64_t id;
  int errno_code;
  int pid;
  char payload[64];
} reply_t;

static sd_event *ev;

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs the loop until cond holds or 5 s pass; evaluates to cond. */
#define RUN_UNTIL(cond)                                        \
  ({                                                           \
    int64_t deadline_ = now_ms() + 5000;                       \
    while (!(cond) && now_ms() < deadline_)                    \
      sd_event_run(ev, 10000);                                 \
    (cond);                                                    \
  })

static void on_ready(berth_conn_t *c, const Berth__Ipc__Hello *h, void *ud) {
  ((side_t *)ud)->ready++;
}

static void on_close(berth_conn_t *c, void *ud) {
  side_t *s = ud;
  s->closed++;
  s->c = NULL;
  berth_conn_close(c); /* must be a harmless no-op here */
}

static void on_request(berth_conn_t *c, berth_msg_t *req, void *ud) {
  side_t *s = ud;
  s->requests++;
  if (s->close_in_handler) {
    berth_msg_release(req);
    berth_conn_close(c);
    berth_conn_close(c);
    return;
  }
  if (req->env->op_case == OP(SERVICES_STATUS) && s->nheld < 8) {
    s->held[s->nheld++] = *req; /* answered later, out of order */
    return;
  }
  if (req->env->op_case == OP(ATTACH_PEER)) {
    int fd = berth_msg_take_fd(req, 0);
    s->attached = berth_fd_is_kind(fd, BERTH_FD_SEQPACKET);
    close(fd);
    Berth__Ipc__Ok ok = BERTH__IPC__OK__INIT;
    berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
    env.op_case = OP(OK);
    env.ok = &ok;
    berth_conn_reply(c, req->env->request_id, &env, NULL, 0, NULL);
  } else {
    berth_conn_reply_error(c, req->env->request_id, ENOTSUP, "test handler: %s", berth_op_name(req->env->op_case));
  }
  berth_msg_release(req);
}

static void on_reply(berth_conn_t *c, berth_msg_t *reply, void *ud) {
  reply_t *r = ud;
  r->done++;
  if (reply == NULL) {
    r->got_null++;
    return;
  }
  r->op = reply->env->op_case;
  r->id = reply->env->request_id;
  if (r->op == OP(ERROR))
    r->errno_code = reply->env->error->errno_code;
  if (r->op == OP(SERVICES_STATUS_REPLY) && reply->env->services_status_reply->n_services > 0)
    r->pid = reply->env->services_status_reply->services[0]->pid;
  if (r->op == OP(PONG)) {
    size_t n = reply->env->pong->payload.len < 63 ? reply->env->pong->payload.len : 63;
    memcpy(r->payload, reply->env->pong->payload.data, n);
    r->payload[n] = 0;
  }
  berth_msg_release(reply);
}

static berth_conn_t *conn(int fd, Berth__Ipc__Peer self, Berth__Ipc__Peer remote, side_t *s) {
  berth_conn_config_t cfg = {.self = self, .remote = remote, .on_request = on_request, .on_ready = on_ready,
                             .on_close = on_close, .userdata = s};
  berth_error_t err = NULL;
  s->c = berth_conn_new(ev, fd, &cfg, &err);
  if (s->c == NULL)
    berth_error_print(&err, stderr, "berth_conn_new");
  return s->c;
}

static int call(berth_conn_t *c, berth_op_t op, void *sub, const int *fds, size_t nfds, reply_t *r) {
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = op;
  env.hello = sub; /* any member of the union: they share storage */
  memset(r, 0, sizeof *r);
  int ret = berth_conn_call(c, &env, fds, nfds, on_reply, r, NULL);
  return ret < 0 ? ret : (int)env.request_id;
}

static int ping(berth_conn_t *c, const char *payload, reply_t *r) {
  static Berth__Ipc__Ping p = BERTH__IPC__PING__INIT;
  p.payload.data = (uint8_t *)payload;
  p.payload.len = strlen(payload);
  return call(c, OP(PING), &p, NULL, 0, r);
}

static Berth__Ipc__ServicesStatusRequest ssr = BERTH__IPC__SERVICES_STATUS_REQUEST__INIT;
static Berth__Ipc__AttachPeer attach = BERTH__IPC__ATTACH_PEER__INIT;
static Berth__Ipc__Ok ok_msg = BERTH__IPC__OK__INIT;

static void test_pair(void) {
  int sv[2];
  socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
  side_t a = {0}, b = {0};
  conn(sv[0], P(EXEC), P(API), &a);
  conn(sv[1], P(API), P(EXEC), &b);
  tap_ok(a.c && b.c && RUN_UNTIL(a.ready && b.ready) && berth_conn_is_ready(a.c) && berth_conn_is_ready(b.c),
         "Hello exchanged both ways");
  tap_ok(berth_conn_remote(a.c) == P(API) && berth_conn_peer_pid(a.c) == getpid(), "remote and SO_PEERCRED pid");

  /* Three calls, answered in reverse order: replies match by id. */
  reply_t r[3];
  int ids[3];
  for (int i = 0; i < 3; i++)
    ids[i] = call(b.c, OP(SERVICES_STATUS), &ssr, NULL, 0, &r[i]);
  tap_ok(ids[0] > 0 && ids[1] > ids[0] && ids[2] > ids[1], "request ids are distinct and increasing");
  tap_ok(RUN_UNTIL(a.nheld == 3), "executor side got three ServicesStatus requests");
  for (int i = 2; i >= 0 && a.nheld == 3; i--) {
    Berth__Ipc__ServiceInfo info = BERTH__IPC__SERVICE_INFO__INIT, *infos[1] = {&info};
    Berth__Ipc__ServicesStatusReply rep = BERTH__IPC__SERVICES_STATUS_REPLY__INIT;
    berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
    info.pid = 100 + i;
    rep.n_services = 1;
    rep.services = infos;
    env.op_case = OP(SERVICES_STATUS_REPLY);
    env.services_status_reply = &rep;
    berth_conn_reply(a.c, a.held[i].env->request_id, &env, NULL, 0, NULL);
    berth_msg_release(&a.held[i]);
  }
  RUN_UNTIL(r[0].done && r[1].done && r[2].done);
  int matched = 1;
  for (int i = 0; i < 3; i++)
    matched &= r[i].done == 1 && r[i].op == OP(SERVICES_STATUS_REPLY) && r[i].id == (uint64_t)ids[i] && r[i].pid == 100 + i;
  tap_ok(matched, "out-of-order replies reach the right callbacks");

  reply_t pr, pr2;
  int before = b.requests;
  ping(a.c, "abc", &pr);
  ping(b.c, "xyz", &pr2);
  tap_ok(RUN_UNTIL(pr.done && pr2.done) && pr.op == OP(PONG) && !strcmp(pr.payload, "abc") && pr2.op == OP(PONG) &&
             !strcmp(pr2.payload, "xyz") && b.requests == before,
         "Ping is answered with Pong inside conn, payload echoed");

  reply_t fr;
  call(a.c, OP(SERVICES_STATUS), &ssr, NULL, 0, &fr);
  tap_ok(RUN_UNTIL(fr.done) && fr.op == OP(ERROR) && fr.errno_code == EPERM && b.requests == before,
         "forbidden op (exec -> api ServicesStatus) gets Error EPERM, handler not called");
  call(a.c, OP(OK), &ok_msg, NULL, 0, &fr);
  tap_ok(RUN_UNTIL(fr.done) && fr.op == OP(ERROR) && fr.errno_code == EPROTO, "a reply op sent as request gets EPROTO");
  ping(a.c, "still", &pr);
  tap_ok(RUN_UNTIL(pr.done) && pr.op == OP(PONG) && berth_conn_is_ready(a.c) && berth_conn_is_ready(b.c),
         "connection stays usable after refused requests");

  int p[2], sq[2];
  if (pipe(p) < 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sq) < 0)
    return;
  attach.peer = P(IMAGE);
  call(a.c, OP(ATTACH_PEER), &attach, p, 1, &fr);
  tap_ok(RUN_UNTIL(fr.done) && fr.op == OP(ERROR) && fr.errno_code == EBADF && b.requests == before,
         "AttachPeer with a pipe gets Error EBADF");
  call(a.c, OP(ATTACH_PEER), &attach, NULL, 0, &fr);
  tap_ok(RUN_UNTIL(fr.done) && fr.op == OP(ERROR) && fr.errno_code == EPROTO, "AttachPeer without an fd gets EPROTO");
  call(a.c, OP(ATTACH_PEER), &attach, sq, 1, &fr);
  tap_ok(RUN_UNTIL(fr.done) && fr.op == OP(OK) && b.attached && b.requests == before + 1,
         "AttachPeer with a seqpacket socket reaches the handler and gets Ok");
  call(b.c, OP(ATTACH_PEER), &attach, sq, 1, &fr);
  tap_ok(RUN_UNTIL(fr.done) && fr.op == OP(ERROR) && fr.errno_code == EPERM, "api may not send AttachPeer");

  /* The handler closes its own connection from inside the callback. */
  b.close_in_handler = 1;
  reply_t pending;
  call(a.c, OP(ATTACH_PEER), &attach, sq, 1, &pending);
  tap_ok(RUN_UNTIL(b.closed && a.closed) && b.closed == 1 && a.closed == 1 && pending.got_null == 1 && !b.c && !a.c,
         "close from inside a handler: both ends close once, the pending call gets NULL");
  close(p[0]);
  close(p[1]);
  close(sq[0]);
  close(sq[1]);
}

/* --- a conn (exec side) against a raw test peer (claims to be api) --- */

static side_t rs;
static int raw;

static void raw_setup(void) {
  int sv[2];
  memset(&rs, 0, sizeof rs);
  socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
  conn(sv[0], P(EXEC), P(API), &rs);
  raw = sv[1];
}

static void raw_hello(Berth__Ipc__Peer peer, uint32_t version) {
  Berth__Ipc__Hello h = BERTH__IPC__HELLO__INIT;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  h.protocol_version = version;
  h.peer = peer;
  env.op_case = OP(HELLO);
  env.hello = &h;
  berth_wire_send(raw, &env, NULL, 0, NULL);
}

/* Reads what the conn sent, skipping its Hello: the first other message's
 * op (with errno if Error, and request id), or NOT_SET if nothing/EOF. */
static berth_op_t raw_read(int *errno_code, uint64_t *id) {
  berth_msg_t m;
  for (;;) {
    if (berth_wire_recv(raw, &m, NULL) <= 0)
      return OP(_NOT_SET);
    berth_op_t op = m.env->op_case;
    if (op != OP(HELLO)) {
      if (op == OP(ERROR))
        *errno_code = m.env->error->errno_code;
      if (id)
        *id = m.env->request_id;
      berth_msg_release(&m);
      return op;
    }
    berth_msg_release(&m);
  }
}

static int raw_eof(void) {
  berth_msg_t m;
  int r = berth_wire_recv(raw, &m, NULL);
  if (r > 0)
    berth_msg_release(&m);
  return r == 0;
}

/* Lets the loop run briefly when there is no condition to wait for. */
static void spin(void) {
  for (int i = 0; i < 20; i++)
    sd_event_run(ev, 1000);
}

static void raw_violation(const char *what, void (*inject)(void), int want_errno) {
  raw_setup();
  inject();
  int code = 0;
  int closed = RUN_UNTIL(rs.closed);
  berth_op_t op = raw_read(&code, NULL);
  tap_ok(closed && rs.closed == 1 && op == OP(ERROR) && code == want_errno && raw_eof(),
         "%s: Error %s sent, connection closed, close callback fired once", what, strerror(want_errno));
  close(raw);
}

static void inject_garbage(void) {
  raw_hello(P(API), BERTH_IPC_VERSION);
  RUN_UNTIL(rs.ready);
  send(raw, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11, 0);
}
static void inject_wrong_peer(void) {
  raw_hello(P(IMAGE), BERTH_IPC_VERSION);
}
static void inject_wrong_version(void) {
  raw_hello(P(API), BERTH_IPC_VERSION + 1);
}
static void inject_ping_before_hello(void) {
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  Berth__Ipc__Ping p = BERTH__IPC__PING__INIT;
  env.op_case = OP(PING);
  env.ping = &p;
  berth_wire_send(raw, &env, NULL, 0, NULL);
}
static void inject_second_hello(void) {
  raw_hello(P(API), BERTH_IPC_VERSION);
  raw_hello(P(API), BERTH_IPC_VERSION);
}
static void inject_oversize(void) {
  static char big[BERTH_IPC_MAX_MSG + 1];
  raw_hello(P(API), BERTH_IPC_VERSION);
  send(raw, big, sizeof big, 0);
}
static void inject_bad_reply(void) {
  Berth__Ipc__Ping p = BERTH__IPC__PING__INIT;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  raw_hello(P(API), BERTH_IPC_VERSION);
  env.op_case = OP(PING);
  env.ping = &p;
  env.is_reply = 1; /* Ping is no reply op */
  berth_wire_send(raw, &env, NULL, 0, NULL);
}
static void inject_fd_count_lie(void) {
  Berth__Ipc__Ping p = BERTH__IPC__PING__INIT;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  uint8_t buf[64];
  raw_hello(P(API), BERTH_IPC_VERSION);
  env.version = BERTH_IPC_VERSION;
  env.op_case = OP(PING);
  env.ping = &p;
  env.fd_count = 2;
  berth_wire_send_packed(raw, buf, berth__ipc__envelope__pack(&env, buf), NULL, 0, NULL);
}

static void test_raw_peer_kept(void) {
  raw_setup();
  raw_hello(P(API), BERTH_IPC_VERSION);
  tap_ok(RUN_UNTIL(rs.ready), "raw peer's Hello accepted");
  /* A reply nobody asked for is ignored (with a log line). */
  Berth__Ipc__Pong pong = BERTH__IPC__PONG__INIT;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = OP(PONG);
  env.pong = &pong;
  env.is_reply = 1;
  env.request_id = 777;
  berth_wire_send(raw, &env, NULL, 0, NULL);
  /* Dispatch-level fd count error: Error reply, connection kept. */
  int p[2];
  if (pipe(p) < 0)
    return;
  Berth__Ipc__Ping ping_req = BERTH__IPC__PING__INIT;
  env = (berth_envelope_t)BERTH__IPC__ENVELOPE__INIT;
  env.op_case = OP(PING);
  env.ping = &ping_req;
  env.request_id = 5;
  berth_wire_send(raw, &env, p, 1, NULL);
  env.request_id = 6;
  berth_wire_send(raw, &env, NULL, 0, NULL);
  close(p[0]);
  close(p[1]);
  int code = 0;
  uint64_t id = 0;
  spin();
  berth_op_t op = raw_read(&code, &id);
  tap_ok(op == OP(ERROR) && code == EPROTO && id == 5 && !rs.closed, "Ping carrying an fd: Error EPROTO, connection kept");
  op = raw_read(&code, &id);
  tap_ok(op == OP(PONG) && id == 6 && !rs.closed && berth_conn_is_ready(rs.c),
         "unknown reply id ignored, next Ping answered with its id");

  /* A peer that never reads is cut off once the send queue passes its bound. */
  static char kb[1024];
  Berth__Ipc__Ping big = BERTH__IPC__PING__INIT;
  big.payload.data = (uint8_t *)kb;
  big.payload.len = sizeof kb;
  static reply_t replies[4096];
  int sent = 0, last = 0;
  berth_error_t err = NULL;
  for (; sent < 4096; sent++) {
    env = (berth_envelope_t)BERTH__IPC__ENVELOPE__INIT;
    env.op_case = OP(PING);
    env.ping = &big;
    last = berth_conn_call(rs.c, &env, NULL, 0, on_reply, &replies[sent], &err);
    if (last < 0)
      break;
  }
  tap_ok(last < 0 && err && err->status == ENOBUFS && sent > 256, "send queue bound hit after %d calls (%s)", sent,
         err ? err->msg : "no error");
  berth_error_release(&err);
  int nulls = 0;
  RUN_UNTIL(rs.closed);
  for (int i = 0; i < sent; i++)
    nulls += replies[i].got_null;
  tap_ok(rs.closed == 1 && nulls == sent, "the non-reading peer is cut off; all %d pending calls got NULL", nulls);
  close(raw);

  raw_setup();
  raw_hello(P(API), BERTH_IPC_VERSION);
  reply_t pr;
  ping(rs.c, "x", &pr);
  close(raw);
  tap_ok(RUN_UNTIL(rs.closed) && pr.got_null == 1, "peer EOF: close callback fires, pending call gets NULL");

  raw_setup();
  berth_conn_close(rs.c);
  tap_ok(rs.closed == 1 && rs.c == NULL, "berth_conn_close fires on_close once");
  close(raw);
}

static void test_bad_config(void) {
  int sv[2];
  socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
  berth_conn_config_t cfg = {.self = P(API), .remote = P(API)};
  berth_error_t err = NULL;
  berth_conn_t *c = berth_conn_new(ev, sv[0], &cfg, &err);
  tap_ok(c == NULL && err && err->status == EINVAL && fcntl(sv[0], F_GETFD) < 0, "self == remote refused, fd closed");
  berth_error_release(&err);
  close(sv[1]);
  socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
  cfg.remote = P(EXEC);
  c = berth_conn_new(ev, sv[0], &cfg, &err);
  tap_ok(c == NULL && err && err->status == EINVAL && fcntl(sv[0], F_GETFD) < 0, "a stream socket refused, fd closed");
  berth_error_release(&err);
  close(sv[1]);
}

int main(void) {
  if (sd_event_new(&ev) < 0)
    return tap_skip_all("sd_event_new failed");
  test_pair();
  raw_violation("garbage datagram", inject_garbage, EBADMSG);
  raw_violation("Hello from the wrong peer", inject_wrong_peer, EPERM);
  raw_violation("Hello with another protocol version", inject_wrong_version, EPROTO);
  raw_violation("request before Hello", inject_ping_before_hello, EPROTO);
  raw_violation("second Hello", inject_second_hello, EPROTO);
  raw_violation("oversize datagram", inject_oversize, EMSGSIZE);
  raw_violation("Ping flagged as a reply", inject_bad_reply, EPROTO);
  raw_violation("declared fd count without fds", inject_fd_count_lie, EPROTO);
  test_raw_peer_kept();
  test_bad_config();
  sd_event_unref(ev);
  return tap_done();
}
