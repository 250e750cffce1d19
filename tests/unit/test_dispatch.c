/* Dispatch-table tests: for every (sender, receiver, op) triple the result of
 * berth_dispatch_check_request must equal the table written out below,
 * independently of ipc/dispatch.c. Changing the table without changing this
 * file fails the build's tests, on purpose. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "dispatch.h"
#include "tap.h"

#define P(x) BERTH__IPC__PEER__PEER_##x
#define OP(x) BERTH__IPC__ENVELOPE__OP_##x

static const berth_op_t ops[] = {OP(HELLO), OP(ERROR), OP(OK), OP(PING), OP(PONG),
                                 OP(SERVICES_STATUS), OP(SERVICES_STATUS_REPLY), OP(ATTACH_PEER)};
#define NOPS (sizeof ops / sizeof ops[0])
/* Known peers plus values a peer could put on the wire (the enum is open). */
static const int peers[] = {P(UNKNOWN), P(EXEC), P(API), P(IMAGE), P(NET), 5, 31, 32, 1000, -1};
#define NPEERS (sizeof peers / sizeof peers[0])

static int known(int p) {
  return p == P(EXEC) || p == P(API) || p == P(IMAGE) || p == P(NET);
}

static int is_reply_op(berth_op_t op) {
  return op == OP(ERROR) || op == OP(OK) || op == OP(PONG) || op == OP(SERVICES_STATUS_REPLY);
}

/* The contract from the project brief, as errno results (0 = allowed). */
static int expected(int from, int to, berth_op_t op) {
  if (is_reply_op(op))
    return EPROTO;
  switch (op) {
  case OP(HELLO):
  case OP(PING): return known(from) && known(to) ? 0 : EPERM;
  case OP(SERVICES_STATUS): return from == P(API) && to == P(EXEC) ? 0 : EPERM;
  case OP(ATTACH_PEER): return from == P(EXEC) && (to == P(API) || to == P(IMAGE) || to == P(NET)) ? 0 : EPERM;
  default: return -1;
  }
}

static unsigned expected_nfds(berth_op_t op) {
  return op == OP(ATTACH_PEER) ? 1 : 0;
}

static int seq_fd, pipe_fd;
/* check() with from == AS_REPLY checks the message as a reply (not a peer value we test). */
#define AS_REPLY -2

static int check(int from, int to, berth_op_t op, int is_reply, const int *fds, size_t nfds) {
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.version = BERTH_IPC_VERSION;
  env.op_case = op;
  env.is_reply = is_reply;
  env.fd_count = nfds;
  berth_msg_t m = {.env = &env, .nfds = nfds};
  for (size_t i = 0; i < nfds; i++)
    m.fds[i] = fds[i];
  berth_error_t err = NULL;
  int r = from == AS_REPLY ? berth_dispatch_check_reply(&m, &err)
                            : berth_dispatch_check_request((Berth__Ipc__Peer)from, (Berth__Ipc__Peer)to, &m, &err);
  int status = r < 0 ? (err ? err->status : -1) : 0;
  berth_error_release(&err);
  return status;
}

static void test_table_covers_schema(void) {
  /* Every op in the schema's oneof must be known to this test and the table. */
  const ProtobufCMessageDescriptor *d = &berth__ipc__envelope__descriptor;
  int ok = 1, n = 0;
  for (unsigned i = 0; i < d->n_fields; i++) {
    if (!(d->fields[i].flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
      continue;
    n++;
    int in_test = 0;
    for (size_t j = 0; j < NOPS; j++)
      in_test |= (unsigned)ops[j] == d->fields[i].id;
    if (!in_test || berth_dispatch_lookup((berth_op_t)d->fields[i].id) == NULL) {
      tap_diag("op %s (%u) is missing from %s", d->fields[i].name, d->fields[i].id, in_test ? "the table" : "this test");
      ok = 0;
    }
  }
  tap_ok(ok && n == (int)NOPS, "the schema has %d ops, the test and the table know all of them", n);
  tap_ok(berth_dispatch_lookup(OP(_NOT_SET)) == NULL && berth_dispatch_lookup((berth_op_t)999) == NULL,
         "no entry for an unset or unknown op");
  for (size_t j = 0; j < NOPS; j++) {
    const berth_dispatch_entry_t *e = berth_dispatch_lookup(ops[j]);
    tap_ok(e && e->op == ops[j] && e->nfds == expected_nfds(ops[j]) && !!e->is_reply_type == is_reply_op(ops[j]) &&
               (ops[j] == OP(ATTACH_PEER) ? e->fd_kind == BERTH_FD_SEQPACKET : e->fd_kind == BERTH_FD_NONE),
           "table entry for %s: %u fds, %s", berth_op_name(ops[j]), expected_nfds(ops[j]),
           is_reply_op(ops[j]) ? "reply only" : "request");
  }
}

static void test_every_triple(void) {
  for (size_t f = 0; f < NPEERS; f++)
    for (size_t t = 0; t < NPEERS; t++)
      for (size_t o = 0; o < NOPS; o++) {
        int from = peers[f], to = peers[t];
        berth_op_t op = ops[o];
        int want = expected(from, to, op);
        int got = check(from, to, op, 0, &seq_fd, expected_nfds(op));
        tap_ok(got == want, "%s(%d) -> %s(%d) %s: %s (got %s)", berth_peer_name(from), from, berth_peer_name(to), to,
               berth_op_name(op), want ? strerror(want) : "allowed", got ? strerror(got) : "allowed");
      }
}

static void test_malformed_requests(void) {
  /* For every allowed pair: wrong fd count is EPROTO, wrong fd type EBADF,
   * and a request flagged as reply is EPROTO. */
  int fds2[2] = {seq_fd, seq_fd};
  for (size_t f = 0; f < NPEERS; f++)
    for (size_t t = 0; t < NPEERS; t++)
      for (size_t o = 0; o < NOPS; o++) {
        int from = peers[f], to = peers[t];
        berth_op_t op = ops[o];
        if (expected(from, to, op) != 0)
          continue;
        unsigned n = expected_nfds(op);
        int fewer = n > 0 ? check(from, to, op, 0, NULL, n - 1) : EPROTO;
        int more = check(from, to, op, 0, fds2, n + 1);
        int badkind = n > 0 ? check(from, to, op, 0, &pipe_fd, n) : EBADF;
        int flagged = check(from, to, op, 1, &seq_fd, n);
        tap_ok(fewer == EPROTO && more == EPROTO && badkind == EBADF && flagged == EPROTO,
               "%s -> %s %s: fd count %s, fd type %s, is_reply set %s", berth_peer_name(from), berth_peer_name(to),
               berth_op_name(op), strerror(more), strerror(badkind), strerror(flagged));
      }
}

static void test_replies(void) {
  for (size_t o = 0; o < NOPS; o++) {
    berth_op_t op = ops[o];
    int as_reply = check(AS_REPLY, AS_REPLY, op, 1, NULL, 0);
    int not_flagged = check(AS_REPLY, AS_REPLY, op, 0, NULL, 0);
    int with_fd = check(AS_REPLY, AS_REPLY, op, 1, &seq_fd, 1);
    int want = is_reply_op(op) ? 0 : EPROTO;
    tap_ok(as_reply == want && not_flagged == EPROTO && with_fd == EPROTO, "%s as a reply: %s", berth_op_name(op),
           want ? "refused" : "accepted (not without is_reply, not with an fd)");
  }
}

static void test_names(void) {
  tap_ok(!strcmp(berth_peer_name(P(EXEC)), "exec") && !strcmp(berth_peer_name(P(API)), "api") &&
             !strcmp(berth_peer_name(P(IMAGE)), "image") && !strcmp(berth_peer_name(P(NET)), "net") &&
             !strcmp(berth_peer_name(P(UNKNOWN)), "unknown") && !strcmp(berth_peer_name((Berth__Ipc__Peer)77), "unknown"),
         "peer names");
}

int main(void) {
  int sq[2], p[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sq) < 0 || pipe(p) < 0)
    return 1;
  seq_fd = sq[0];
  pipe_fd = p[0];
  test_table_covers_schema();
  test_every_triple();
  test_malformed_requests();
  test_replies();
  test_names();
  close(sq[0]);
  close(sq[1]);
  close(p[0]);
  close(p[1]);
  return tap_done();
}
