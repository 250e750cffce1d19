/* Dispatch-table tests: for every (sender, receiver, op) triple the result of
 * berth_dispatch_check_request must equal the table written out below,
 * independently of ipc/dispatch.c. Changing the table without changing this
 * file fails the build's tests, on purpose. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include "dispatch.h"
#include "tap.h"

#define P(x) BERTH__IPC__PEER__PEER_##x
#define OP(x) BERTH__IPC__ENVELOPE__OP_##x

/* Peer bits, written out here rather than taken from dispatch.h's macro. */
#define B_EXEC (1u << 1)
#define B_API (1u << 2)
#define B_IMAGE (1u << 3)
#define B_NET (1u << 4)
#define B_ANY (B_EXEC | B_API | B_IMAGE | B_NET)
#define REPLY_ONLY 0, 0

enum kind { K_NONE, K_SEQ, K_PIPE, K_REG };

/* The contract (project briefs, docs/ipc.md), one row per op in the schema. */
static const struct want {
  berth_op_t op;
  unsigned callers, handlers;
  unsigned nfds;
  enum kind kind;
  int reply_only;
} want[] = {
    {OP(HELLO), B_ANY, B_ANY, 0, K_NONE, 0},
    {OP(ERROR), REPLY_ONLY, 0, K_NONE, 1},
    {OP(OK), REPLY_ONLY, 0, K_NONE, 1},
    {OP(PING), B_ANY, B_ANY, 0, K_NONE, 0},
    {OP(PONG), REPLY_ONLY, 0, K_NONE, 1},
    {OP(SERVICES_STATUS), B_API, B_EXEC, 0, K_NONE, 0},
    {OP(SERVICES_STATUS_REPLY), REPLY_ONLY, 0, K_NONE, 1},
    {OP(ATTACH_PEER), B_EXEC, B_API | B_IMAGE | B_NET, 1, K_SEQ, 0},
    /* images: archive in + progress out, archive out, then plain requests */
    {OP(IMAGE_LOAD), B_API, B_IMAGE, 2, K_PIPE, 0},
    {OP(IMAGE_LOAD_REPLY), REPLY_ONLY, 0, K_NONE, 1},
    {OP(IMAGE_SAVE), B_API, B_IMAGE, 1, K_PIPE, 0},
    {OP(IMAGE_QUERY), B_API, B_IMAGE, 0, K_NONE, 0},
    {OP(IMAGE_TAG), B_API, B_IMAGE, 0, K_NONE, 0},
    {OP(IMAGE_REMOVE), B_API, B_IMAGE, 0, K_NONE, 0},
    {OP(IMAGE_PRUNE), B_API, B_IMAGE, 0, K_NONE, 0},
    {OP(IMAGE_RESOLVE), B_API, B_IMAGE, 0, K_NONE, 0},
    {OP(IMAGE_RESOLVE_REPLY), REPLY_ONLY, 0, K_NONE, 1},
    {OP(DOCUMENT), REPLY_ONLY, 1, K_REG, 1}, /* a sealed memfd */
    {OP(LAYER_CHECK), B_API, B_EXEC, 0, K_NONE, 0},
    /* containers: the monitor channel in, channel and log fds out */
    {OP(CONTAINER_CREATE), B_API, B_EXEC, 0, K_NONE, 0},
    {OP(CONTAINER_START), B_API, B_EXEC, 1, K_SEQ, 0},
    {OP(CONTAINER_SIGNAL), B_API, B_EXEC, 0, K_NONE, 0},
    {OP(CONTAINER_DELETE), B_API, B_EXEC, 0, K_NONE, 0},
    {OP(CONTAINER_STATE), B_API, B_EXEC, 0, K_NONE, 0},
    {OP(CONTAINER_CONNECT), B_API, B_EXEC, 0, K_NONE, 0},
    {OP(CONTAINER_LOG_OPEN), B_API, B_EXEC, 0, K_NONE, 0},
    {OP(CONTAINER_STATE_REPLY), REPLY_ONLY, 0, K_NONE, 1},
    {OP(CONTAINER_CHANNEL), REPLY_ONLY, 1, K_SEQ, 1},
    {OP(CONTAINER_LOG_FILE), REPLY_ONLY, 1, K_REG, 1},
};
#define NOPS (sizeof want / sizeof want[0])
/* Known peers plus values a peer could put on the wire (the enum is open). */
static const int peers[] = {P(UNKNOWN), P(EXEC), P(API), P(IMAGE), P(NET), 5, 31, 32, 1000, -1};
#define NPEERS (sizeof peers / sizeof peers[0])

static int bit(int p) {
  return p >= P(EXEC) && p <= P(NET) ? 1u << p : 0;
}

/* The expected result as an errno (0 = allowed). */
static int expected(int from, int to, const struct want *w) {
  if (w->reply_only)
    return EPROTO;
  return (w->callers & bit(from)) && (w->handlers & bit(to)) ? 0 : EPERM;
}

static berth_fd_kind_t lib_kind(enum kind k) {
  return k == K_SEQ ? BERTH_FD_SEQPACKET : k == K_PIPE ? BERTH_FD_PIPE : k == K_REG ? BERTH_FD_REGULAR : BERTH_FD_NONE;
}

/* fd fixtures, BERTH_IPC_MAX_FDS of each kind (a request may need n + 1):
 * a seqpacket socket, a pipe, a regular memfd, and a stream socket that is
 * the right kind for none of the ops above. */
#define NFIX ((int)BERTH_IPC_MAX_FDS)
static int fix[K_REG + 1][NFIX], stream_fds[NFIX];

static const int *fds_of(enum kind k) {
  return k == K_NONE ? fix[K_SEQ] : fix[k]; /* any fd will do as a surplus one */
}

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

static const char *kind_name(enum kind k) {
  static const char *const names[] = {"none", "seqpacket", "pipe", "regular"};
  return names[k];
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
      in_test |= (unsigned)want[j].op == d->fields[i].id;
    if (!in_test || berth_dispatch_lookup((berth_op_t)d->fields[i].id) == NULL) {
      tap_diag("op %s (%u) is missing from %s", d->fields[i].name, d->fields[i].id, in_test ? "the table" : "this test");
      ok = 0;
    }
  }
  tap_ok(ok && n == (int)NOPS, "the schema has %d ops, the test and the table know all of them", n);
  tap_ok(berth_dispatch_lookup(OP(_NOT_SET)) == NULL && berth_dispatch_lookup((berth_op_t)999) == NULL,
         "no entry for an unset or unknown op");
  for (size_t j = 0; j < NOPS; j++) {
    const struct want *w = &want[j];
    const berth_dispatch_entry_t *e = berth_dispatch_lookup(w->op);
    tap_ok(e && e->op == w->op && e->nfds == w->nfds && !!e->is_reply_type == w->reply_only &&
               e->fd_kind == lib_kind(w->kind),
           "table entry for %s: %u fds (%s), %s", berth_op_name(w->op), w->nfds, kind_name(w->kind),
           w->reply_only ? "reply only" : "request");
  }
}

static void test_every_triple(void) {
  for (size_t f = 0; f < NPEERS; f++)
    for (size_t t = 0; t < NPEERS; t++)
      for (size_t o = 0; o < NOPS; o++) {
        int from = peers[f], to = peers[t];
        const struct want *w = &want[o];
        int exp = expected(from, to, w);
        int got = check(from, to, w->op, 0, fds_of(w->kind), w->nfds);
        tap_ok(got == exp, "%s(%d) -> %s(%d) %s: %s (got %s)", berth_peer_name(from), from, berth_peer_name(to), to,
               berth_op_name(w->op), exp ? strerror(exp) : "allowed", got ? strerror(got) : "allowed");
      }
}

/* Every fd kind the op does not take gives EBADF, in every position. */
static int wrong_kinds(int from, int to, const struct want *w) {
  if (w->nfds == 0)
    return EBADF;
  for (enum kind k = K_SEQ; k <= K_REG + 1; k++) {
    if (k == w->kind)
      continue;
    const int *wrong = k <= K_REG ? fix[k] : stream_fds;
    for (unsigned pos = 0; pos < w->nfds; pos++) {
      int fds[NFIX];
      memcpy(fds, fix[w->kind], sizeof fds);
      fds[pos] = wrong[0];
      int r = check(from, to, w->op, from == AS_REPLY, fds, w->nfds);
      if (r != EBADF)
        return r;
    }
  }
  return EBADF;
}

static void test_malformed_requests(void) {
  /* For every allowed pair: wrong fd count is EPROTO, wrong fd type EBADF,
   * and a request flagged as reply is EPROTO. */
  for (size_t f = 0; f < NPEERS; f++)
    for (size_t t = 0; t < NPEERS; t++)
      for (size_t o = 0; o < NOPS; o++) {
        int from = peers[f], to = peers[t];
        const struct want *w = &want[o];
        if (expected(from, to, w) != 0)
          continue;
        unsigned n = w->nfds;
        int fewer = n > 0 ? check(from, to, w->op, 0, fds_of(w->kind), n - 1) : EPROTO;
        int more = check(from, to, w->op, 0, fds_of(w->kind), n + 1);
        int badkind = wrong_kinds(from, to, w);
        int flagged = check(from, to, w->op, 1, fds_of(w->kind), n);
        tap_ok(fewer == EPROTO && more == EPROTO && badkind == EBADF && flagged == EPROTO,
               "%s -> %s %s: fd count %s/%s, fd type %s, is_reply set %s", berth_peer_name(from), berth_peer_name(to),
               berth_op_name(w->op), strerror(fewer), strerror(more), strerror(badkind), strerror(flagged));
      }
}

static void test_replies(void) {
  for (size_t o = 0; o < NOPS; o++) {
    const struct want *w = &want[o];
    const int *fds = fds_of(w->kind);
    int as_reply = check(AS_REPLY, AS_REPLY, w->op, 1, fds, w->nfds);
    int not_flagged = check(AS_REPLY, AS_REPLY, w->op, 0, fds, w->nfds);
    int fewer = w->nfds > 0 ? check(AS_REPLY, AS_REPLY, w->op, 1, fds, w->nfds - 1) : EPROTO;
    int more = check(AS_REPLY, AS_REPLY, w->op, 1, fds, w->nfds + 1);
    int badkind = w->reply_only ? wrong_kinds(AS_REPLY, AS_REPLY, w) : EBADF;
    int exp = w->reply_only ? 0 : EPROTO;
    tap_ok(as_reply == exp && not_flagged == EPROTO && fewer == EPROTO && more == EPROTO && badkind == EBADF,
           "%s as a reply: %s", berth_op_name(w->op),
           exp ? "refused" : "accepted with its fds (not without is_reply, not with more or fewer fds or another kind)");
  }
}

static void test_names(void) {
  tap_ok(!strcmp(berth_peer_name(P(EXEC)), "exec") && !strcmp(berth_peer_name(P(API)), "api") &&
             !strcmp(berth_peer_name(P(IMAGE)), "image") && !strcmp(berth_peer_name(P(NET)), "net") &&
             !strcmp(berth_peer_name(P(UNKNOWN)), "unknown") && !strcmp(berth_peer_name((Berth__Ipc__Peer)77), "unknown"),
         "peer names");
}

static int make_fixtures(void) {
  for (int i = 0; i < NFIX; i++) {
    int sq[2], st[2], p[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sq) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, st) < 0 || pipe2(p, O_CLOEXEC) < 0)
      return -1;
    close(sq[1]);
    close(st[1]);
    fix[K_SEQ][i] = sq[0];
    stream_fds[i] = st[0];
    fix[K_PIPE][i] = i % 2 ? p[1] : p[0]; /* both ends are pipes */
    close(i % 2 ? p[0] : p[1]);
    if ((fix[K_REG][i] = memfd_create("berth-test-document", MFD_CLOEXEC | MFD_ALLOW_SEALING)) < 0)
      return -1;
  }
  fix[K_NONE][0] = -1;
  return 0;
}

int main(void) {
  if (make_fixtures() < 0) {
    printf("Bail out! fd fixtures: %s\n", strerror(errno));
    return 1;
  }
  test_table_covers_schema();
  test_every_triple();
  test_malformed_requests();
  test_replies();
  test_names();
  for (int k = K_SEQ; k <= K_REG; k++)
    for (int i = 0; i < NFIX; i++)
      close(fix[k][i]);
  for (int i = 0; i < NFIX; i++)
    close(stream_fds[i]);
  return tap_done();
}
