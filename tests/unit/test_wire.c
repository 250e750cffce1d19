/* Wire-layer tests on real SOCK_SEQPACKET socketpairs: fd passing, size
 * limits, truncated control data, fd count and type checks, version and
 * garbage handling, and that no received fd ever leaks. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "dispatch.h"
#include "tap.h"

static int count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  if (d == NULL)
    return -1;
  while (readdir(d))
    n++;
  closedir(d);
  return n;
}

static void pair(int sv[2]) {
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    perror("socketpair");
    exit(1);
  }
}

/* Packs env exactly as given (version and fd_count untouched) and sends it. */
static int raw_send(int sock, berth_envelope_t *env, const int *fds, size_t nfds) {
  size_t len = berth__ipc__envelope__get_packed_size(env);
  uint8_t *buf = malloc(len + 1);
  berth__ipc__envelope__pack(env, buf);
  int r = berth_wire_send_packed(sock, buf, len, fds, nfds, NULL);
  free(buf);
  return r;
}

static int raw_bytes(int sock, const void *buf, size_t len, const int *fds, size_t nfds) {
  return berth_wire_send_packed(sock, buf, len, fds, nfds, NULL);
}

/* Receives and expects failure with the given status; returns 1 if so. */
static int recv_fails(int sock, int status) {
  berth_msg_t m;
  berth_error_t err = NULL;
  int r = berth_wire_recv(sock, &m, &err);
  int ok = r < 0 && err && err->status == status;
  if (!ok)
    tap_diag("recv returned %d, status %d (%s), wanted %d", r, err ? err->status : 0, err ? err->msg : "-", status);
  if (r > 0)
    berth_msg_release(&m);
  berth_error_release(&err);
  return ok;
}

static Berth__Ipc__Ping ping_msg = BERTH__IPC__PING__INIT;

static berth_envelope_t ping_env(void) {
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_PING;
  env.ping = &ping_msg;
  env.version = BERTH_IPC_VERSION;
  return env;
}

static void test_fd_passing(void) {
  int sv[2], p[2];
  pair(sv);
  if (pipe(p) < 0)
    exit(1);
  berth_envelope_t env = ping_env();
  berth_error_t err = NULL;
  tap_ok(berth_wire_send(sv[0], &env, &p[0], 1, &err) == 0, "send a Ping with a pipe fd");
  close(p[0]);
  berth_msg_t m;
  int r = berth_wire_recv(sv[1], &m, &err);
  tap_ok(r == 1 && m.nfds == 1 && m.env->fd_count == 1 && m.env->op_case == BERTH__IPC__ENVELOPE__OP_PING,
         "message arrives with one fd");
  if (r == 1) {
    int fl = fcntl(m.fds[0], F_GETFD);
    tap_ok(fl >= 0 && (fl & FD_CLOEXEC), "received fd is close-on-exec");
    char c = 0;
    tap_ok(write(p[1], "x", 1) == 1 && read(m.fds[0], &c, 1) == 1 && c == 'x', "received pipe end works");
    int fd = berth_msg_take_fd(&m, 0);
    tap_ok(fd >= 0 && berth_msg_take_fd(&m, 0) == -1 && berth_msg_take_fd(&m, 5) == -1, "take_fd hands the fd over once");
    close(fd);
    berth_msg_release(&m);
  }
  close(p[1]);

  /* The maximum number of fds passes; one more is refused by the sender. */
  int fds[BERTH_IPC_MAX_FDS + 1];
  for (size_t i = 0; i <= BERTH_IPC_MAX_FDS; i++)
    fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
  tap_ok(berth_wire_send(sv[0], &env, fds, BERTH_IPC_MAX_FDS, NULL) == 0 && berth_wire_recv(sv[1], &m, NULL) == 1 &&
             m.nfds == BERTH_IPC_MAX_FDS,
         "%u fds arrive", BERTH_IPC_MAX_FDS);
  berth_msg_release(&m);
  tap_ok(berth_wire_send(sv[0], &env, fds, BERTH_IPC_MAX_FDS + 1, &err) < 0 && err->status == EINVAL,
         "sender refuses %u fds", BERTH_IPC_MAX_FDS + 1);
  berth_error_release(&err);
  for (size_t i = 0; i <= BERTH_IPC_MAX_FDS; i++)
    close(fds[i]);
  close(sv[0]);
  close(sv[1]);
}

static void test_oversize(void) {
  int sv[2];
  pair(sv);
  static uint8_t big[2 * BERTH_IPC_MAX_MSG];
  memset(big, 'a', sizeof big);
  Berth__Ipc__Ping ping = BERTH__IPC__PING__INIT;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_PING;
  env.ping = &ping;
  ping.payload.data = big;
  ping.payload.len = BERTH_IPC_MAX_MSG;
  berth_error_t err = NULL;
  tap_ok(berth_wire_send(sv[0], &env, NULL, 0, &err) < 0 && err->status == EMSGSIZE, "sender refuses an oversize message");
  berth_error_release(&err);

  /* Shrink the payload until the envelope is exactly the limit: it must pass. */
  env.version = BERTH_IPC_VERSION;
  while (berth__ipc__envelope__get_packed_size(&env) > BERTH_IPC_MAX_MSG)
    ping.payload.len--;
  berth_msg_t m;
  tap_ok(berth__ipc__envelope__get_packed_size(&env) == BERTH_IPC_MAX_MSG && berth_wire_send(sv[0], &env, NULL, 0, NULL) == 0 &&
             berth_wire_recv(sv[1], &m, NULL) == 1 && m.env->ping->payload.len == ping.payload.len,
         "a message of exactly %u bytes passes", BERTH_IPC_MAX_MSG);
  berth_msg_release(&m);

  tap_ok(raw_bytes(sv[0], big, BERTH_IPC_MAX_MSG + 1, NULL, 0) == 0 && recv_fails(sv[1], EMSGSIZE),
         "a raw datagram of MAX+1 bytes is a violation");
  tap_ok(raw_bytes(sv[0], big, sizeof big, NULL, 0) == 0 && recv_fails(sv[1], EMSGSIZE),
         "a raw datagram of 2*MAX bytes (MSG_TRUNC) is a violation");
  int p[2];
  if (pipe(p) < 0)
    exit(1);
  int before = count_fds();
  tap_ok(raw_bytes(sv[0], big, BERTH_IPC_MAX_MSG + 1, &p[0], 1) == 0 && recv_fails(sv[1], EMSGSIZE) && count_fds() == before,
         "the fd of an oversize datagram is closed");
  close(p[0]);
  close(p[1]);
  close(sv[0]);
  close(sv[1]);
}

static void test_ctrunc(void) {
  int sv[2];
  pair(sv);
  int fds[BERTH_IPC_MAX_FDS + 1];
  for (size_t i = 0; i <= BERTH_IPC_MAX_FDS; i++)
    fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
  berth_envelope_t env = ping_env();
  env.fd_count = BERTH_IPC_MAX_FDS + 1;
  int before = count_fds();
  tap_ok(raw_send(sv[0], &env, fds, BERTH_IPC_MAX_FDS + 1) == 0, "raw send of %u fds", BERTH_IPC_MAX_FDS + 1);
  tap_ok(recv_fails(sv[1], EPROTO), "MSG_CTRUNC is a violation");
  tap_ok(count_fds() == before, "no received fd leaks after MSG_CTRUNC (%d fds before, %d after)", before, count_fds());
  for (size_t i = 0; i <= BERTH_IPC_MAX_FDS; i++)
    close(fds[i]);
  close(sv[0]);
  close(sv[1]);
}

static void test_fd_count_mismatch(void) {
  int sv[2], p[2];
  pair(sv);
  if (pipe(p) < 0)
    exit(1);
  berth_envelope_t env = ping_env();
  env.fd_count = 1;
  tap_ok(raw_send(sv[0], &env, NULL, 0) == 0 && recv_fails(sv[1], EPROTO), "declares 1 fd, carries none: violation");
  env.fd_count = 0;
  int before = count_fds();
  tap_ok(raw_send(sv[0], &env, p, 1) == 0 && recv_fails(sv[1], EPROTO) && count_fds() == before,
         "declares 0 fds, carries 1: violation, fd closed");
  env.fd_count = 1;
  tap_ok(raw_send(sv[0], &env, p, 2) == 0 && recv_fails(sv[1], EPROTO) && count_fds() == before,
         "declares 1 fd, carries 2: violation, fds closed");
  env.fd_count = 3;
  tap_ok(raw_send(sv[0], &env, p, 2) == 0 && recv_fails(sv[1], EPROTO) && count_fds() == before,
         "declares 3 fds, carries 2: violation, fds closed");

  /* The decoder itself: too many fds handed in are closed, not trusted. */
  int many[BERTH_IPC_MAX_FDS + 1];
  for (size_t i = 0; i <= BERTH_IPC_MAX_FDS; i++)
    many[i] = dup(p[0]);
  berth_msg_t m;
  uint8_t buf[64];
  env.fd_count = BERTH_IPC_MAX_FDS + 1;
  size_t len = berth__ipc__envelope__pack(&env, buf);
  int r = berth_msg_decode(buf, len, many, BERTH_IPC_MAX_FDS + 1, &m, NULL);
  int all_closed = 1;
  for (size_t i = 0; i <= BERTH_IPC_MAX_FDS; i++)
    all_closed &= fcntl(many[i], F_GETFD) < 0 && errno == EBADF;
  tap_ok(r < 0 && all_closed, "decode with more than %u fds fails and closes them all", BERTH_IPC_MAX_FDS);
  close(p[0]);
  close(p[1]);
  close(sv[0]);
  close(sv[1]);
}

static void test_fd_type(void) {
  int sv[2], p[2], st[2], sq[2];
  pair(sv);
  pair(sq);
  if (pipe(p) < 0 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, st) < 0)
    exit(1);
  Berth__Ipc__AttachPeer ap = BERTH__IPC__ATTACH_PEER__INIT;
  ap.peer = BERTH__IPC__PEER__PEER_IMAGE;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_ATTACH_PEER;
  env.attach_peer = &ap;
  struct {
    int fd;
    int status;
    const char *what;
  } cases[] = {{p[0], EBADF, "a pipe"}, {st[0], EBADF, "a stream socket"}, {sq[0], 0, "a seqpacket socket"}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    berth_msg_t m;
    berth_error_t err = NULL;
    int r = berth_wire_send(sv[0], &env, &cases[i].fd, 1, NULL) == 0 ? berth_wire_recv(sv[1], &m, NULL) : -1;
    int d = r == 1 ? berth_dispatch_check_request(BERTH__IPC__PEER__PEER_EXEC, BERTH__IPC__PEER__PEER_API, &m, &err) : -1;
    tap_ok(r == 1 && (cases[i].status ? d < 0 && err->status == cases[i].status : d == 0),
           "AttachPeer with %s: %s", cases[i].what, cases[i].status ? "EBADF from dispatch" : "accepted");
    berth_error_release(&err);
    if (r == 1)
      berth_msg_release(&m);
  }
  /* The kind checker on its own. */
  int ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  int mnt = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  FILE *tmp = tmpfile();
  int reg = tmp ? fileno(tmp) : -1;
  tap_ok(berth_fd_is_kind(ns, BERTH_FD_NETNS) && !berth_fd_is_kind(mnt, BERTH_FD_NETNS) &&
             !berth_fd_is_kind(p[0], BERTH_FD_NETNS) && !berth_fd_is_kind(reg, BERTH_FD_NETNS),
         "NETNS: only a network namespace fd");
  tap_ok(berth_fd_is_kind(p[0], BERTH_FD_PIPE) && berth_fd_is_kind(p[1], BERTH_FD_PIPE) && !berth_fd_is_kind(st[0], BERTH_FD_PIPE),
         "PIPE: pipe ends only");
  tap_ok(berth_fd_is_kind(reg, BERTH_FD_REGULAR) && !berth_fd_is_kind(ns, BERTH_FD_REGULAR) &&
             !berth_fd_is_kind(p[0], BERTH_FD_REGULAR),
         "REGULAR: regular files only");
  tap_ok(berth_fd_is_kind(st[0], BERTH_FD_STREAM) && !berth_fd_is_kind(sq[0], BERTH_FD_STREAM) &&
             berth_fd_is_kind(sq[0], BERTH_FD_SEQPACKET) && !berth_fd_is_kind(st[0], BERTH_FD_SEQPACKET),
         "STREAM and SEQPACKET are told apart");
  int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  tap_ok(tcp < 0 || !berth_fd_is_kind(tcp, BERTH_FD_STREAM), "a TCP socket is not an AF_UNIX stream");
  tap_ok(!berth_fd_is_kind(-1, BERTH_FD_PIPE) && !berth_fd_is_kind(p[0], BERTH_FD_NONE), "invalid fd and NONE never match");
  if (tcp >= 0)
    close(tcp);
  if (tmp)
    fclose(tmp);
  close(ns);
  close(mnt);
  int all[] = {sv[0], sv[1], p[0], p[1], st[0], st[1], sq[0], sq[1]};
  for (size_t i = 0; i < 8; i++)
    close(all[i]);
}

static void test_version_and_garbage(void) {
  int sv[2], p[2];
  pair(sv);
  if (pipe(p) < 0)
    exit(1);
  berth_envelope_t env = ping_env();
  env.version = BERTH_IPC_VERSION + 1;
  tap_ok(raw_send(sv[0], &env, NULL, 0) == 0 && recv_fails(sv[1], EPROTO), "newer protocol version is a violation");
  env.version = 0;
  tap_ok(raw_send(sv[0], &env, NULL, 0) == 0 && recv_fails(sv[1], EPROTO), "missing protocol version is a violation");
  env.version = BERTH_IPC_VERSION;
  env.op_case = BERTH__IPC__ENVELOPE__OP__NOT_SET;
  tap_ok(raw_send(sv[0], &env, NULL, 0) == 0 && recv_fails(sv[1], EPROTO), "an envelope without an op is a violation");

  static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  int before = count_fds();
  tap_ok(raw_bytes(sv[0], garbage, sizeof garbage, p, 1) == 0 && recv_fails(sv[1], EBADMSG) && count_fds() == before,
         "garbage bytes are undecodable, fd closed");
  static const uint8_t truncated[] = {0x08, 0x01, 0x6a, 0x05, 0x0a}; /* version 1, ping of 5 bytes cut short */
  tap_ok(raw_bytes(sv[0], truncated, sizeof truncated, NULL, 0) == 0 && recv_fails(sv[1], EBADMSG),
         "a truncated envelope is undecodable");
  tap_ok(raw_bytes(sv[0], "", 0, p, 1) == 0 && recv_fails(sv[1], EPROTO) && count_fds() == before,
         "an empty datagram carrying an fd is a violation, fd closed");
  close(p[0]);
  close(p[1]);
  close(sv[0]);
  close(sv[1]);
}

static void test_foreign_cmsg(void) {
  int sv[2], p[2];
  pair(sv);
  if (pipe(p) < 0)
    exit(1);
  int on = 1, off = 0;
  /* With SO_PASSCRED the kernel adds SCM_CREDENTIALS to every datagram. */
  setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof on);
  berth_envelope_t env = ping_env();
  int before = count_fds();
  tap_ok(berth_wire_send(sv[0], &env, p, 1, NULL) == 0 && recv_fails(sv[1], EPROTO) && count_fds() == before,
         "SCM_CREDENTIALS next to SCM_RIGHTS is a violation, fd closed");
  setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &off, sizeof off);
  berth_msg_t m;
  tap_ok(berth_wire_send(sv[0], &env, NULL, 0, NULL) == 0 && berth_wire_recv(sv[1], &m, NULL) == 1,
         "without SO_PASSCRED the same message passes");
  berth_msg_release(&m);

  tap_ok(recv_fails(sv[1], EAGAIN), "nothing waiting: EAGAIN");
  close(sv[0]);
  berth_error_t err = NULL;
  tap_ok(berth_wire_recv(sv[1], &m, &err) == 0 && err == NULL, "orderly EOF returns 0");
  close(sv[1]);
  close(p[0]);
  close(p[1]);
}

static void test_names(void) {
  static const berth_op_t ops[] = {
      BERTH__IPC__ENVELOPE__OP_HELLO, BERTH__IPC__ENVELOPE__OP_ERROR, BERTH__IPC__ENVELOPE__OP_OK,
      BERTH__IPC__ENVELOPE__OP_PING, BERTH__IPC__ENVELOPE__OP_PONG, BERTH__IPC__ENVELOPE__OP_SERVICES_STATUS,
      BERTH__IPC__ENVELOPE__OP_SERVICES_STATUS_REPLY, BERTH__IPC__ENVELOPE__OP_ATTACH_PEER};
  int ok = 1;
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    ok &= strcmp(berth_op_name(ops[i]), "unknown") != 0;
  tap_ok(ok && strcmp(berth_op_name((berth_op_t)999), "unknown") == 0, "every op has a name");
}

int main(void) {
  int start = count_fds();
  test_fd_passing();
  test_oversize();
  test_ctrunc();
  test_fd_count_mismatch();
  test_fd_type();
  test_version_and_garbage();
  test_foreign_cmsg();
  test_names();
  tap_ok(count_fds() == start, "no fd leaked over the whole run (%d at start, %d at end)", start, count_fds());
  return tap_done();
}
