/* A hostile berth-apid for tests/e2e/executor-inject.bats.
 *
 * The test puts this program in berth-execd's libexec dir as berth-apid, so
 * execd forks, demotes and execs it like the real one: fd 3 is its edge to
 * the executor. It then walks through a list of malformed or forbidden
 * messages and records, for each, whether execd answered with an Error
 * (connection kept) or cut the connection off, as the IPC contract says.
 * A cut-off ends this process (execd kills and restarts it), so progress
 * is kept in RUN_ROOT/inject/state and results are appended to
 * RUN_ROOT/inject/results (RUN_ROOT comes from --run-root, which execd
 * passes; the directory must be writable by berth-api). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "berth.h"
#include "wire.h"

#define EDGE BERTH_FD_EXEC_EDGE
#define WAIT_MS 5000

typedef enum { EXPECT_CUT, EXPECT_ERROR, EXPECT_ACCEPT } expect_t;
typedef enum { GOT_CUT, GOT_ERROR, GOT_ACCEPT, GOT_TIMEOUT, GOT_BAD } got_t;
static const char *got_names[] = {"cut-off", "error-reply", "accepted", "timeout", "bad-message"};
static const char *expect_names[] = {"cut-off", "error-reply", "accepted"};

static char dir[4096];
static uint64_t next_id = 1000;

/* ---- sending ---- */

/* Packs env by hand so that version and fd_count can lie. */
static int send_raw(berth_envelope_t *env, uint32_t version, uint32_t fd_count, const int *fds, size_t nfds) {
  env->version = version;
  env->fd_count = fd_count;
  if (!env->is_reply)
    env->request_id = next_id++;
  size_t len = berth__ipc__envelope__get_packed_size(env);
  uint8_t *buf = malloc(len ? len : 1);
  if (buf == NULL)
    return -1;
  berth__ipc__envelope__pack(env, buf);
  berth_error_t err = NULL;
  int r = berth_wire_send_packed(EDGE, buf, len, fds, nfds, &err);
  if (r < 0)
    fprintf(stderr, "peer-inject: send: %s\n", err && err->msg ? err->msg : "?");
  berth_error_release(&err);
  free(buf);
  return r;
}

static int send_hello(Berth__Ipc__Peer as, uint32_t proto_version) {
  Berth__Ipc__Hello h = BERTH__IPC__HELLO__INIT;
  h.protocol_version = proto_version;
  h.peer = as;
  h.software_version = "peer-inject";
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_HELLO;
  env.hello = &h;
  return send_raw(&env, BERTH_IPC_VERSION, 0, NULL, 0);
}

static int send_status(uint32_t version, uint32_t fd_count, const int *fds, size_t nfds) {
  Berth__Ipc__ServicesStatusRequest req = BERTH__IPC__SERVICES_STATUS_REQUEST__INIT;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_SERVICES_STATUS;
  env.services_status = &req;
  return send_raw(&env, version, fd_count, fds, nfds);
}

static int devnull(void) {
  return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

/* ---- the cases ---- */

static int c_before_hello(void) { return send_status(BERTH_IPC_VERSION, 0, NULL, 0); }
static int c_hello_wrong_peer(void) { return send_hello(BERTH__IPC__PEER__PEER_IMAGE, BERTH_IPC_VERSION); }
static int c_hello_wrong_version(void) { return send_hello(BERTH__IPC__PEER__PEER_API, BERTH_IPC_VERSION + 1); }
static int c_wrong_envelope_version(void) { return send_status(BERTH_IPC_VERSION + 41, 0, NULL, 0); }
static int c_second_hello(void) { return send_hello(BERTH__IPC__PEER__PEER_API, BERTH_IPC_VERSION); }
static int c_status(void) { return send_status(BERTH_IPC_VERSION, 0, NULL, 0); }

static int c_garbage(void) {
  uint8_t junk[512];
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = (uint8_t)(0xff - (i * 7));
  return send(EDGE, junk, sizeof junk, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

static int c_oversize(void) {
  size_t n = BERTH_IPC_MAX_MSG + 4096;
  Berth__Ipc__Ping ping = BERTH__IPC__PING__INIT;
  ping.payload.data = calloc(1, n);
  ping.payload.len = n;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_PING;
  env.ping = &ping;
  int r = ping.payload.data ? send_raw(&env, BERTH_IPC_VERSION, 0, NULL, 0) : -1;
  free(ping.payload.data);
  return r;
}

static int c_forbidden_attach(void) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return -1;
  Berth__Ipc__AttachPeer ap = BERTH__IPC__ATTACH_PEER__INIT;
  ap.peer = BERTH__IPC__PEER__PEER_NET;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_ATTACH_PEER;
  env.attach_peer = &ap;
  int r = send_raw(&env, BERTH_IPC_VERSION, 1, sv, 1);
  close(sv[0]);
  close(sv[1]);
  return r;
}

static int c_reply_op_as_request(void) {
  Berth__Ipc__Ok ok = BERTH__IPC__OK__INIT;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_OK;
  env.ok = &ok;
  return send_raw(&env, BERTH_IPC_VERSION, 0, NULL, 0);
}

static int c_fd_on_fdless_op(void) {
  int fd = devnull();
  int r = send_status(BERTH_IPC_VERSION, 1, &fd, 1);
  close(fd);
  return r;
}

static int c_declared_fd_missing(void) { return send_status(BERTH_IPC_VERSION, 1, NULL, 0); }

static int c_undeclared_fd(void) {
  int fd = devnull();
  int r = send_status(BERTH_IPC_VERSION, 0, &fd, 1);
  close(fd);
  return r;
}

static int c_too_many_fds(void) {
  int fds[BERTH_IPC_MAX_FDS + 4];
  size_t n = sizeof fds / sizeof fds[0];
  for (size_t i = 0; i < n; i++)
    fds[i] = devnull();
  int r = send_status(BERTH_IPC_VERSION, (uint32_t)n, fds, n);
  for (size_t i = 0; i < n; i++)
    close(fds[i]);
  return r;
}

/* LayerCheck: the executor resolves chain ids below its own store root. */
static int send_layer_check(char *id) {
  Berth__Ipc__LayerCheckRequest lc = BERTH__IPC__LAYER_CHECK_REQUEST__INIT;
  lc.chain_ids = &id;
  lc.n_chain_ids = id ? 1 : 0;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_LAYER_CHECK;
  env.layer_check = &lc;
  return send_raw(&env, BERTH_IPC_VERSION, 0, NULL, 0);
}
static int c_layer_check_empty(void) { return send_layer_check(NULL); }
static int c_layer_check_traversal(void) { return send_layer_check("sha256:../../../../../../../../../etc"); }
static int c_layer_check_missing(void) {
  return send_layer_check("sha256:0000000000000000000000000000000000000000000000000000000000000000");
}

/* ImageLoad is for imaged: the executor's table refuses it (2 pipes, as the op wants). */
static int c_image_load_to_exec(void) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) < 0)
    return -1;
  Berth__Ipc__ImageLoadRequest il = BERTH__IPC__IMAGE_LOAD_REQUEST__INIT;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_IMAGE_LOAD;
  env.image_load = &il;
  int r = send_raw(&env, BERTH_IPC_VERSION, 2, p, 2);
  close(p[0]);
  close(p[1]);
  return r;
}

static const struct {
  const char *name;
  int (*send)(void);
  int after_hello; /* 0: the case is what we send instead of our Hello */
  expect_t expect;
} cases[] = {
    {"request-before-hello", c_before_hello, 0, EXPECT_CUT},
    {"hello-wrong-peer", c_hello_wrong_peer, 0, EXPECT_CUT},
    {"hello-wrong-version", c_hello_wrong_version, 0, EXPECT_CUT},
    {"status-control", c_status, 1, EXPECT_ACCEPT},
    {"forbidden-attach-peer", c_forbidden_attach, 1, EXPECT_ERROR},
    {"reply-op-as-request", c_reply_op_as_request, 1, EXPECT_ERROR},
    {"fd-on-fdless-op", c_fd_on_fdless_op, 1, EXPECT_ERROR},
    {"layer-check-empty-chain", c_layer_check_empty, 1, EXPECT_ACCEPT},
    {"layer-check-traversal", c_layer_check_traversal, 1, EXPECT_ERROR},
    {"layer-check-missing", c_layer_check_missing, 1, EXPECT_ERROR},
    {"image-load-to-exec", c_image_load_to_exec, 1, EXPECT_ERROR},
    {"garbage", c_garbage, 1, EXPECT_CUT},
    {"oversize", c_oversize, 1, EXPECT_CUT},
    {"declared-fd-missing", c_declared_fd_missing, 1, EXPECT_CUT},
    {"undeclared-fd", c_undeclared_fd, 1, EXPECT_CUT},
    {"too-many-fds", c_too_many_fds, 1, EXPECT_CUT},
    {"wrong-envelope-version", c_wrong_envelope_version, 1, EXPECT_CUT},
    {"second-hello", c_second_hello, 1, EXPECT_CUT},
    {"status-after-restarts", c_status, 1, EXPECT_ACCEPT},
};
#define NCASES (int)(sizeof cases / sizeof cases[0])

/* ---- waiting for the verdict ---- */

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

/* What execd did about the last message. Requests from execd (its Hello,
 * AttachPeer) are dropped unanswered. For a case that must be cut off, an
 * Error reply is not the end: we wait for the EOF that must follow. */
static got_t await(expect_t expect, char *detail, size_t size) {
  long deadline = now_ms() + WAIT_MS;
  got_t got = GOT_TIMEOUT;
  snprintf(detail, size, "no answer in %d ms", WAIT_MS);
  for (long left; (left = deadline - now_ms()) > 0;) {
    struct pollfd p = {.fd = EDGE, .events = POLLIN};
    if (poll(&p, 1, (int)left) <= 0)
      continue;
    berth_msg_t m;
    berth_error_t err = NULL;
    int r = berth_wire_recv(EDGE, &m, &err);
    if (r == 0 || (r < 0 && err && err->status == ECONNRESET)) {
      berth_error_release(&err);
      size_t l = got == GOT_ERROR ? strlen(detail) : 0;
      snprintf(detail + l, size - l, "%sEOF", l ? ", then " : "");
      return GOT_CUT;
    }
    if (r < 0) {
      int eagain = err && err->status == EAGAIN;
      if (!eagain)
        snprintf(detail, size, "undecodable message from execd: %s", err && err->msg ? err->msg : "?");
      berth_error_release(&err);
      if (eagain)
        continue;
      return GOT_BAD;
    }
    if (!m.env->is_reply) {
      berth_msg_release(&m);
      continue;
    }
    if (m.env->op_case == BERTH__IPC__ENVELOPE__OP_ERROR) {
      snprintf(detail, size, "Error errno %d: %s", m.env->error->errno_code, m.env->error->message);
      got = GOT_ERROR;
    } else {
      snprintf(detail, size, "reply %s", berth_op_name(m.env->op_case));
      if (m.env->op_case == BERTH__IPC__ENVELOPE__OP_SERVICES_STATUS_REPLY)
        for (size_t i = 0; i < m.env->services_status_reply->n_services; i++) {
          Berth__Ipc__ServiceInfo *s = m.env->services_status_reply->services[i];
          size_t l = strlen(detail);
          snprintf(detail + l, size - l, " %s=%s/pid %d", s->name, s->state, s->pid);
        }
      got = GOT_ACCEPT;
    }
    berth_msg_release(&m);
    if (got != GOT_ERROR || expect != EXPECT_CUT)
      return got;
    /* An Error first, the cut-off should follow. */
  }
  if (got == GOT_ERROR) {
    size_t l = strlen(detail);
    snprintf(detail + l, size - l, ", but the connection stayed open");
  }
  return got;
}

/* ---- state across restarts ---- */

static void path_of(char *out, size_t size, const char *name) {
  snprintf(out, size, "%s/%s", dir, name);
}

static void save_state(int next, int pending) {
  char path[4200], tmp[4210];
  path_of(path, sizeof path, "state");
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "we");
  if (f == NULL || fprintf(f, "%d %d\n", next, pending) < 0 || fclose(f) != 0 || rename(tmp, path) < 0) {
    fprintf(stderr, "peer-inject: cannot save state in %s: %s\n", dir, strerror(errno));
    exit(2);
  }
}

static void load_state(int *next, int *pending) {
  char path[4200];
  path_of(path, sizeof path, "state");
  FILE *f = fopen(path, "re");
  *next = 0, *pending = -1;
  if (f) {
    if (fscanf(f, "%d %d", next, pending) != 2)
      *next = 0, *pending = -1;
    fclose(f);
  }
}

static void record(int i, const char *got, bool ok, const char *detail) {
  char path[4200];
  path_of(path, sizeof path, "results");
  FILE *f = fopen(path, "ae");
  char line[1400];
  snprintf(line, sizeof line, "case %s expect=%s got=%s %s (%s)\n", cases[i].name, expect_names[cases[i].expect], got,
           ok ? "ok" : "FAIL", detail);
  fputs(line, stderr);
  if (f) {
    fputs(line, f);
    fclose(f);
  }
}

static void finish(bool hello_sent) {
  if (!hello_sent)
    send_hello(BERTH__IPC__PEER__PEER_API, BERTH_IPC_VERSION);
  char path[4200];
  path_of(path, sizeof path, "results");
  FILE *f = fopen(path, "ae");
  if (f) {
    fputs("done\n", f);
    fclose(f);
  }
  fputs("peer-inject: all cases done; idling as berth-apid\n", stderr);
  /* Stay on the edge like a quiet apid until execd goes away or stops us. */
  for (;;) {
    struct pollfd p = {.fd = EDGE, .events = POLLIN};
    if (poll(&p, 1, -1) < 0 && errno != EINTR)
      exit(1);
    berth_msg_t m;
    berth_error_t err = NULL;
    int r = berth_wire_recv(EDGE, &m, &err);
    if (r > 0)
      berth_msg_release(&m);
    else if (r == 0 || (err && err->status != EAGAIN))
      exit(0);
    berth_error_release(&err);
  }
}

/* What execd left open for us: must be exactly 0-4 (checked by the test). */
static void record_fds(void) {
  char line[512] = "fds", path[4200];
  DIR *d = opendir("/proc/self/fd");
  for (struct dirent *e; d && (e = readdir(d));) {
    if (e->d_name[0] == '.' || atoi(e->d_name) == dirfd(d))
      continue;
    size_t l = strlen(line);
    snprintf(line + l, sizeof line - l, " %s", e->d_name);
  }
  if (d)
    closedir(d);
  path_of(path, sizeof path, "fds");
  FILE *f = fopen(path, "ae");
  if (f) {
    fprintf(f, "%s\n", line);
    fclose(f);
  }
}

/* execd checks Seccomp 2 after our Hello, like for the real apid: install a
 * permissive filter so that this peer is judged on what it sends. */
static void sandbox(void) {
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
  if (ctx == NULL || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ptrace), 0) < 0 || seccomp_load(ctx) < 0) {
    fputs("peer-inject: cannot install seccomp filter\n", stderr);
    exit(2);
  }
  seccomp_release(ctx);
}

int main(int argc, char **argv) {
  const char *run_root = NULL;
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], "--run-root") == 0)
      run_root = argv[i + 1];
  if (run_root == NULL) {
    fputs("peer-inject: needs --run-root (it is meant to be started by berth-execd)\n", stderr);
    return 2;
  }
  snprintf(dir, sizeof dir, "%s/inject", run_root);
  record_fds();
  sandbox();

  int next, pending;
  load_state(&next, &pending);
  if (pending >= 0 && pending < NCASES) {
    /* We died waiting: execd cut the edge and killed us before we saw EOF. */
    bool ok = cases[pending].expect == EXPECT_CUT;
    record(pending, "killed", ok, "killed by execd while waiting");
    next = pending + 1;
    save_state(next, -1);
  }
  bool hello_sent = false;
  for (int i = next; i < NCASES; i++) {
    if (cases[i].after_hello && !hello_sent) {
      if (send_hello(BERTH__IPC__PEER__PEER_API, BERTH_IPC_VERSION) < 0)
        return 1;
      hello_sent = true;
    }
    if (!cases[i].after_hello && hello_sent)
      return 1; /* cannot happen: the table puts these first */
    save_state(i, i);
    char detail[1024] = "";
    got_t got = cases[i].send() < 0 ? GOT_BAD : await(cases[i].expect, detail, sizeof detail);
    bool ok = (int)got == (int)cases[i].expect;
    record(i, got_names[got], ok, detail);
    save_state(i + 1, -1);
    if (got == GOT_CUT)
      return 0; /* execd restarts us for the next case */
    if (got == GOT_TIMEOUT || got == GOT_BAD)
      return 1;
  }
  finish(hello_sent);
}
