/* Writes the seed corpora for the IPC fuzz targets:
 *   build/tests/fuzz/fuzz-gen-corpus tests/fuzz/corpus
 * fills corpus/envelope/ (fd selector byte + one datagram) and corpus/conn/
 * (edge byte + [len hi, len lo, fd selector, bytes] chunks). Seeds are
 * deterministic, so re-running it only changes files when this program does.
 * Crash reproducers found by fuzzing are added by hand next to them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "fuzz_fds.h"
#include "wire.h"

#define OP(x) BERTH__IPC__ENVELOPE__OP_##x
#define P(x) BERTH__IPC__PEER__PEER_##x

static const char *root;

static void write_file(const char *sub, const char *name, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s/%s", root, sub, name);
  FILE *f = fopen(path, "wb");
  if (f == NULL || fwrite(a, 1, alen, f) != alen || (blen && fwrite(b, 1, blen, f) != blen) || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
}

/* Packs env as is: version and fd_count are whatever the seed wants. */
static size_t pack(berth_envelope_t *env, uint8_t **out) {
  size_t n = berth__ipc__envelope__get_packed_size(env);
  *out = malloc(n + 1);
  berth__ipc__envelope__pack(env, *out);
  return n;
}

static void envelope_seed(const char *name, uint8_t sel, berth_envelope_t *env) {
  uint8_t *buf;
  size_t n = pack(env, &buf);
  write_file("envelope", name, &sel, 1, buf, n);
  free(buf);
}

/* A valid envelope for each op (sub-messages are static, filled once). */
static Berth__Ipc__Hello hello = BERTH__IPC__HELLO__INIT;
static Berth__Ipc__Error error_m = BERTH__IPC__ERROR__INIT;
static Berth__Ipc__Ok ok_m = BERTH__IPC__OK__INIT;
static Berth__Ipc__Ping ping = BERTH__IPC__PING__INIT;
static Berth__Ipc__Pong pong = BERTH__IPC__PONG__INIT;
static Berth__Ipc__ServicesStatusRequest ssreq = BERTH__IPC__SERVICES_STATUS_REQUEST__INIT;
static Berth__Ipc__ServicesStatusReply ssrep = BERTH__IPC__SERVICES_STATUS_REPLY__INIT;
static Berth__Ipc__ServiceInfo info[2] = {BERTH__IPC__SERVICE_INFO__INIT, BERTH__IPC__SERVICE_INFO__INIT};
static Berth__Ipc__ServiceInfo *infos[2] = {&info[0], &info[1]};
static Berth__Ipc__AttachPeer attach = BERTH__IPC__ATTACH_PEER__INIT;
static char *features[] = {"seqpacket", "fds"};

static berth_envelope_t make(berth_op_t op, uint64_t id, int is_reply, uint32_t nfds) {
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.version = BERTH_IPC_VERSION;
  env.request_id = id;
  env.is_reply = is_reply;
  env.fd_count = nfds;
  env.op_case = op;
  switch (op) {
  case OP(HELLO): env.hello = &hello; break;
  case OP(ERROR): env.error = &error_m; break;
  case OP(OK): env.ok = &ok_m; break;
  case OP(PING): env.ping = &ping; break;
  case OP(PONG): env.pong = &pong; break;
  case OP(SERVICES_STATUS): env.services_status = &ssreq; break;
  case OP(SERVICES_STATUS_REPLY): env.services_status_reply = &ssrep; break;
  case OP(ATTACH_PEER): env.attach_peer = &attach; break;
  default: break;
  }
  return env;
}

static void fill_messages(void) {
  hello.protocol_version = BERTH_IPC_VERSION;
  hello.peer = P(API);
  hello.n_features = 2;
  hello.features = features;
  hello.software_version = "0.1.0";
  error_m.errno_code = EPERM;
  error_m.message = "not allowed";
  ping.payload.data = (uint8_t *)"ping payload";
  ping.payload.len = 12;
  pong.payload = ping.payload;
  for (int i = 0; i < 2; i++) {
    info[i].peer = P(API) + i;
    info[i].name = i ? "berth-imaged" : "berth-apid";
    info[i].pid = 1234 + i;
    info[i].uid = 999;
    info[i].gid = 999;
    info[i].cap_eff = i ? 0 : 0x1000;
    info[i].cap_bnd = 0x1ffffffffffULL;
    info[i].seccomp_mode = 2;
    info[i].no_new_privs = 1;
    info[i].own_user_namespace = i;
    info[i].uid_map = "0 1879048192 65536";
    info[i].restarts = 3;
    info[i].state = "running";
    info[i].started_usec = 1795000000000000LL;
  }
  ssrep.n_services = 2;
  ssrep.services = infos;
  attach.peer = P(IMAGE);
}

static const berth_op_t all_ops[] = {OP(HELLO), OP(ERROR), OP(OK), OP(PING), OP(PONG),
                                     OP(SERVICES_STATUS), OP(SERVICES_STATUS_REPLY), OP(ATTACH_PEER)};

static uint32_t rng = 12345;
static uint8_t rnd(void) {
  rng = rng * 1103515245u + 12345u;
  return (uint8_t)(rng >> 16);
}

static void envelope_seeds(void) {
  char name[128];
  const uint8_t seq1 = FUZZ_FDSEL(1, FUZZ_FD_SEQPACKET, 0, 0);
  for (size_t i = 0; i < sizeof all_ops / sizeof all_ops[0]; i++) {
    berth_op_t op = all_ops[i];
    int reply = op == OP(ERROR) || op == OP(OK) || op == OP(PONG) || op == OP(SERVICES_STATUS_REPLY);
    uint32_t nfds = op == OP(ATTACH_PEER);
    berth_envelope_t env = make(op, 7, reply, nfds);
    snprintf(name, sizeof name, "valid-%s", berth_op_name(op));
    envelope_seed(name, nfds ? seq1 : 0, &env);
    env.is_reply = !reply;
    snprintf(name, sizeof name, "flipped-reply-%s", berth_op_name(op));
    envelope_seed(name, nfds ? seq1 : 0, &env);
  }
  berth_envelope_t env = make(OP(ATTACH_PEER), 1, 0, 1);
  envelope_seed("attach-peer-pipe", FUZZ_FDSEL(1, FUZZ_FD_PIPE, 0, 0), &env);
  envelope_seed("attach-peer-stream", FUZZ_FDSEL(1, FUZZ_FD_STREAM, 0, 0), &env);
  env = make(OP(ATTACH_PEER), 1, 0, 3);
  envelope_seed("attach-peer-3-fds", FUZZ_FDSEL(3, FUZZ_FD_SEQPACKET, FUZZ_FD_PIPE, FUZZ_FD_DEVNULL), &env);
  env = make(OP(PING), 2, 0, 2);
  envelope_seed("fd-count-declared-2-carries-1", FUZZ_FDSEL(1, FUZZ_FD_DEVNULL, 0, 0), &env);
  env = make(OP(PING), 2, 0, 0);
  envelope_seed("fd-count-declared-0-carries-2", FUZZ_FDSEL(2, FUZZ_FD_PIPE, FUZZ_FD_PIPE, 0), &env);
  env.version = 0;
  envelope_seed("version-0", 0, &env);
  env.version = BERTH_IPC_VERSION + 1;
  envelope_seed("version-next", 0, &env);
  env = make(OP(_NOT_SET), 3, 0, 0);
  envelope_seed("no-op", 0, &env);
  for (int p = 0; p <= 5; p++) {
    hello.peer = p;
    env = make(OP(HELLO), 0, 0, 0);
    snprintf(name, sizeof name, "hello-peer-%d", p);
    envelope_seed(name, 0, &env);
  }
  hello.peer = P(API);

  /* Truncations of the richest message. */
  uint8_t *buf;
  env = make(OP(SERVICES_STATUS_REPLY), 9, 1, 0);
  size_t n = pack(&env, &buf);
  size_t cuts[] = {1, 2, 5, n / 3, n / 2, n - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    uint8_t sel = 0;
    snprintf(name, sizeof name, "truncated-status-reply-%zu", cuts[i]);
    write_file("envelope", name, &sel, 1, buf, cuts[i]);
  }
  free(buf);

  /* Random bytes, and the size limit from both sides. */
  for (int i = 0; i < 8; i++) {
    uint8_t r[256];
    size_t len = 1 + (size_t)(i * 37 % 256);
    for (size_t j = 0; j < len; j++)
      r[j] = rnd();
    snprintf(name, sizeof name, "random-%d", i);
    write_file("envelope", name, r, len, NULL, 0);
  }
  static uint8_t big[BERTH_IPC_MAX_MSG + 2];
  memset(big, 'A', sizeof big);
  ping.payload.data = big;
  ping.payload.len = BERTH_IPC_MAX_MSG;
  env = make(OP(PING), 4, 0, 0);
  while (berth__ipc__envelope__get_packed_size(&env) > BERTH_IPC_MAX_MSG)
    ping.payload.len--;
  envelope_seed("size-exactly-max", 0, &env);
  ping.payload.len++;
  envelope_seed("size-max-plus-1", 0, &env);
  ping.payload.data = (uint8_t *)"ping payload";
  ping.payload.len = 12;
}

/* --- conn seeds --- */

static uint8_t cbuf[1 << 16];
static size_t clen;

static void conn_begin(Berth__Ipc__Peer self, Berth__Ipc__Peer remote) {
  /* Same mapping as fuzz_conn.c: edge -> (self, remote). */
  for (unsigned e = 0; e < 12; e++) {
    unsigned s = 1 + e / 3, r = 1 + (s - 1 + 1 + e % 3) % 4;
    if (s == (unsigned)self && r == (unsigned)remote) {
      cbuf[0] = (uint8_t)e;
      clen = 1;
      return;
    }
  }
  abort();
}

static void conn_chunk(const uint8_t *b, size_t len, uint8_t sel) {
  cbuf[clen++] = (uint8_t)(len >> 8);
  cbuf[clen++] = (uint8_t)len;
  cbuf[clen++] = sel;
  memcpy(cbuf + clen, b, len);
  clen += len;
}

static void conn_env(berth_envelope_t env, uint8_t sel) {
  uint8_t *buf;
  size_t n = pack(&env, &buf);
  conn_chunk(buf, n, sel);
  free(buf);
}

static void conn_hello(Berth__Ipc__Peer as) {
  hello.peer = as;
  conn_env(make(OP(HELLO), 0, 0, 0), 0);
  hello.peer = P(API);
}

static void conn_end(const char *name) {
  write_file("conn", name, cbuf, clen, NULL, 0);
}

static void conn_seeds(void) {
  const uint8_t seq1 = FUZZ_FDSEL(1, FUZZ_FD_SEQPACKET, 0, 0);
  conn_begin(P(EXEC), P(API));
  conn_hello(P(API));
  conn_env(make(OP(PING), 1, 0, 0), 0);
  conn_end("exec-api-hello-ping");

  conn_begin(P(EXEC), P(API));
  conn_hello(P(API));
  conn_env(make(OP(SERVICES_STATUS), 1, 0, 0), 0);
  conn_env(make(OP(SERVICES_STATUS), 3, 0, 0), 0); /* id % 7 == 3: the handler closes */
  conn_env(make(OP(PING), 4, 0, 0), 0);
  conn_end("exec-api-status-close-in-handler");

  conn_begin(P(EXEC), P(API));
  conn_hello(P(API));
  conn_env(make(OP(ATTACH_PEER), 1, 0, 1), seq1); /* api may not send it: EPERM */
  conn_env(make(OP(PONG), 1, 1, 0), 0);           /* answers our Ping (id 1) */
  conn_env(make(OP(PONG), 99, 1, 0), 0);          /* unknown id */
  conn_env(make(OP(ERROR), 1, 1, 0), 0);
  conn_end("exec-api-refused-and-replies");

  conn_begin(P(API), P(EXEC));
  conn_hello(P(EXEC));
  conn_env(make(OP(ATTACH_PEER), 1, 0, 1), seq1);
  conn_env(make(OP(ATTACH_PEER), 2, 0, 1), FUZZ_FDSEL(1, FUZZ_FD_PIPE, 0, 0));
  conn_env(make(OP(ATTACH_PEER), 5, 0, 0), 0);
  conn_env(make(OP(PING), 6, 0, 1), FUZZ_FDSEL(1, FUZZ_FD_DEVNULL, 0, 0));
  conn_end("api-exec-attach-peer");

  conn_begin(P(NET), P(EXEC));
  conn_hello(P(EXEC));
  conn_env(make(OP(SERVICES_STATUS), 1, 0, 0), 0);
  conn_env(make(OP(OK), 2, 0, 0), 0);
  conn_end("net-exec-refused");

  conn_begin(P(EXEC), P(API));
  conn_hello(P(API));
  conn_chunk((const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11, 0);
  conn_end("exec-api-garbage");

  conn_begin(P(EXEC), P(API));
  conn_env(make(OP(PING), 1, 0, 0), 0);
  conn_end("exec-api-ping-before-hello");

  conn_begin(P(EXEC), P(IMAGE));
  conn_hello(P(NET));
  conn_end("exec-image-wrong-hello");

  conn_begin(P(IMAGE), P(API));
  conn_hello(P(API));
  conn_hello(P(API));
  conn_end("image-api-second-hello");

  conn_begin(P(EXEC), P(API));
  conn_hello(P(API));
  for (int i = 0; i < 100; i++)
    conn_env(make(OP(PING), 10 + i, 0, 0), 0);
  conn_end("exec-api-many-pings");
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CORPUS-DIR\n", argv[0]);
    return 2;
  }
  root = argv[1];
  char path[4096];
  const char *subs[] = {"envelope", "conn"};
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/%s", root, subs[i]);
    if (mkdir(path, 0755) < 0 && errno != EEXIST) {
      perror(path);
      return 1;
    }
  }
  fill_messages();
  envelope_seeds();
  conn_seeds();
  return 0;
}
