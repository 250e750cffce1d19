/* A stand-in for berth-apid that drives the executor's container operations,
 * for tests/e2e/exec-containers.bats (apid's own container API is tested
 * through the docker CLI elsewhere).
 *
 * Daemon mode: the test installs this program as berth-apid, so berth-execd
 * forks, demotes and execs it with its edge on fd 3. It listens on
 * RUN_ROOT/drv/sock (that directory must be writable by berth-api) for
 * commands, sends the matching request to execd and answers with one line:
 * "ok key=value..." or "error ERRNO message". Every monitor channel it holds
 * (from start or connect) is logged to RUN_ROOT/drv/<id>.chan, one message a
 * line: the type byte, a space, the payload with bytes outside 0x20..0x7e and
 * '\' written as \xNN.
 *
 * Client mode: ctr-driver -s SOCK COMMAND [ARGS...] prints the answer and
 * exits 0 for "ok", 1 otherwise. Commands:
 *   create ID [host]           state ID [size]        signal ID SIG
 *   delete ID                  connect ID             log ID INDEX
 *   stdin ID TEXT              stdin-close ID
 *   start ID [KEY=VALUE...]    keys: layer arg env gid rlimit (repeatable;
 *     rlimit=TYPE:SOFT:HARD), cwd user hostname domainname hosts resolv caps (hex)
 *     bpf (a file of raw sock_filter) bpflen (that many zero bytes) ro priv
 *     net (host|private|number) tty stdin once oom logsize logfiles mem swap
 *     shares quota period cpus mems pids */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "berth.h"
#include "wire.h"

#define EDGE BERTH_FD_EXEC_EDGE
#define MAXCH 64

static char dir[4096];
static uint64_t next_id = 1;
static struct {
  int fd;
  char id[80];
} chans[MAXCH];

static void fatal(const char *what) {
  fprintf(stderr, "ctr-driver: %s: %s\n", what, strerror(errno));
  exit(2);
}

/* ---- channels ---- */

static void chan_add(int fd, const char *id) {
  for (int i = 0; i < MAXCH; i++)
    if (chans[i].fd <= 0) {
      chans[i].fd = fd;
      snprintf(chans[i].id, sizeof chans[i].id, "%s", id);
      return;
    }
  close(fd);
}

static void chan_log(const char *id, const uint8_t *m, ssize_t n) {
  char path[4200];
  snprintf(path, sizeof path, "%s/%.70s.chan", dir, id);
  FILE *f = fopen(path, "ae");
  if (f == NULL)
    return;
  if (n <= 0)
    fputs(n == 0 ? "EOF\n" : "ERROR\n", f);
  for (ssize_t i = 0; i < n; i++) {
    if (i == 1)
      fputc(' ', f);
    if (i > 0 && (m[i] < 0x20 || m[i] > 0x7e || m[i] == '\\'))
      fprintf(f, "\\x%02x", m[i]);
    else
      fputc(m[i], f);
  }
  if (n > 0)
    fputc('\n', f);
  fclose(f);
}

static void chan_read(int i) {
  uint8_t buf[70000];
  ssize_t n = recv(chans[i].fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n < 0 && errno == EAGAIN)
    return;
  chan_log(chans[i].id, buf, n);
  if (n <= 0) {
    close(chans[i].fd);
    chans[i].fd = 0;
  }
}

static int chan_of(const char *id) {
  for (int i = 0; i < MAXCH; i++)
    if (chans[i].fd > 0 && strcmp(chans[i].id, id) == 0)
      return chans[i].fd;
  return -1;
}

/* ---- the edge ---- */

/* Sends a request and waits for its reply, logging channel traffic meanwhile.
 * Requests from execd (AttachPeer) are dropped. */
static int call(berth_envelope_t *env, const int *fds, size_t nfds, berth_msg_t *reply) {
  berth_error_t err = NULL;
  env->request_id = next_id++;
  if (berth_wire_send(EDGE, env, fds, nfds, &err) < 0) {
    fprintf(stderr, "ctr-driver: send: %s\n", err ? err->msg : "?");
    exit(1);
  }
  for (;;) {
    struct pollfd p = {.fd = EDGE, .events = POLLIN};
    if (poll(&p, 1, 120000) <= 0)
      return -1;
    int r = berth_wire_recv(EDGE, reply, &err);
    if (r == 0)
      exit(0); /* execd went away */
    if (r < 0 && err && err->status == EAGAIN) {
      berth_error_release(&err);
      continue;
    }
    if (r < 0)
      exit(1);
    if (reply->env->is_reply && reply->env->request_id == env->request_id)
      return 0;
    berth_msg_release(reply);
  }
}

static void hello(void) {
  Berth__Ipc__Hello h = BERTH__IPC__HELLO__INIT;
  h.protocol_version = BERTH_IPC_VERSION;
  h.peer = BERTH__IPC__PEER__PEER_API;
  h.software_version = "ctr-driver";
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_HELLO;
  env.hello = &h;
  berth_error_t err = NULL;
  if (berth_wire_send(EDGE, &env, NULL, 0, &err) < 0)
    exit(1);
}

/* ---- commands ---- */

static void out(char *o, size_t size, const char *fmt, ...) {
  size_t l = strlen(o);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(o + l, size - l, fmt, ap);
  va_end(ap);
}

static void add_str(char ***v, size_t *n, const char *s) {
  *v = realloc(*v, (*n + 1) * sizeof **v);
  (*v)[(*n)++] = (char *)s;
}

static int parse_spec(Berth__Ipc__ContainerSpec *s, Berth__Ipc__ContainerLimits *l, int argc, char **argv, char *o,
                      size_t size) {
  for (int i = 0; i < argc; i++) {
    char *k = argv[i], *v = strchr(k, '=');
    if (v == NULL) {
      out(o, size, "error 0 bad argument %s", k);
      return -1;
    }
    *v++ = '\0';
    long long n = strtoll(v, NULL, 0);
    if (!strcmp(k, "layer")) add_str(&s->layers, &s->n_layers, v);
    else if (!strcmp(k, "arg")) add_str(&s->argv, &s->n_argv, v);
    else if (!strcmp(k, "env")) add_str(&s->env, &s->n_env, v);
    else if (!strcmp(k, "cwd")) s->cwd = v;
    else if (!strcmp(k, "user")) s->user = v;
    else if (!strcmp(k, "hostname")) s->hostname = v;
    else if (!strcmp(k, "domainname")) s->domainname = v;
    else if (!strcmp(k, "hosts")) s->hosts = (ProtobufCBinaryData){strlen(v), (uint8_t *)v};
    else if (!strcmp(k, "resolv")) s->resolv_conf = (ProtobufCBinaryData){strlen(v), (uint8_t *)v};
    else if (!strcmp(k, "caps")) s->capabilities = strtoull(v, NULL, 16);
    else if (!strcmp(k, "ro")) s->read_only = n;
    else if (!strcmp(k, "priv")) s->privileged = n;
    else if (!strcmp(k, "net")) s->network = !strcmp(v, "host") ? 1 : !strcmp(v, "private") ? 0 : (int)n;
    else if (!strcmp(k, "tty")) s->tty = n;
    else if (!strcmp(k, "stdin")) s->open_stdin = n;
    else if (!strcmp(k, "once")) s->stdin_once = n;
    else if (!strcmp(k, "oom")) s->oom_score_adj = (int)n;
    else if (!strcmp(k, "logsize")) s->log_max_size = (uint64_t)n;
    else if (!strcmp(k, "logfiles")) s->log_max_files = (uint32_t)n;
    else if (!strcmp(k, "mem")) l->memory = n;
    else if (!strcmp(k, "swap")) l->memory_swap = n;
    else if (!strcmp(k, "shares")) l->cpu_shares = (uint64_t)n;
    else if (!strcmp(k, "quota")) l->cpu_quota = n;
    else if (!strcmp(k, "period")) l->cpu_period = (uint64_t)n;
    else if (!strcmp(k, "cpus")) l->cpuset_cpus = v;
    else if (!strcmp(k, "mems")) l->cpuset_mems = v;
    else if (!strcmp(k, "pids")) l->pids = n;
    else if (!strcmp(k, "gid")) {
      s->extra_gids = realloc(s->extra_gids, (s->n_extra_gids + 1) * sizeof *s->extra_gids);
      s->extra_gids[s->n_extra_gids++] = (uint32_t)n;
    } else if (!strcmp(k, "rlimit")) {
      Berth__Ipc__ContainerRlimit *r = calloc(1, sizeof *r);
      berth__ipc__container_rlimit__init(r);
      if (sscanf(v, "%u:%lu:%lu", &r->type, &r->soft, &r->hard) != 3)
        return out(o, size, "error 0 rlimit=TYPE:SOFT:HARD"), -1;
      s->rlimits = realloc(s->rlimits, (s->n_rlimits + 1) * sizeof *s->rlimits);
      s->rlimits[s->n_rlimits++] = r;
    } else if (!strcmp(k, "bpflen")) {
      s->seccomp_bpf = (ProtobufCBinaryData){(size_t)n, calloc(1, (size_t)n + 1)};
    } else if (!strcmp(k, "bpf")) {
      static uint8_t buf[65536];
      int fd = open(v, O_RDONLY | O_CLOEXEC);
      ssize_t got = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
      if (fd >= 0)
        close(fd);
      if (got < 0)
        return out(o, size, "error 0 cannot read %s", v), -1;
      s->seccomp_bpf = (ProtobufCBinaryData){(size_t)got, buf};
    } else {
      out(o, size, "error 0 unknown key %s", k);
      return -1;
    }
  }
  return 0;
}

static void run(int argc, char **argv, char *o, size_t size, int *ofd) {
  const char *cmd = argv[0], *id = argc > 1 ? argv[1] : "";
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  Berth__Ipc__ContainerCreateRequest cr = BERTH__IPC__CONTAINER_CREATE_REQUEST__INIT;
  Berth__Ipc__ContainerStartRequest sr = BERTH__IPC__CONTAINER_START_REQUEST__INIT;
  Berth__Ipc__ContainerSignalRequest sg = BERTH__IPC__CONTAINER_SIGNAL_REQUEST__INIT;
  Berth__Ipc__ContainerDeleteRequest dr = BERTH__IPC__CONTAINER_DELETE_REQUEST__INIT;
  Berth__Ipc__ContainerStateRequest st = BERTH__IPC__CONTAINER_STATE_REQUEST__INIT;
  Berth__Ipc__ContainerConnectRequest cn = BERTH__IPC__CONTAINER_CONNECT_REQUEST__INIT;
  Berth__Ipc__ContainerLogOpenRequest lo = BERTH__IPC__CONTAINER_LOG_OPEN_REQUEST__INIT;
  Berth__Ipc__ContainerSpec spec = BERTH__IPC__CONTAINER_SPEC__INIT;
  Berth__Ipc__ContainerLimits lim = BERTH__IPC__CONTAINER_LIMITS__INIT;
  int sv[2] = {-1, -1};
  char *eid = (char *)id;
  *o = '\0';
  if (!strcmp(cmd, "create")) {
    cr.id = eid, cr.host_ids = argc > 2 && !strcmp(argv[2], "host");
    env.op_case = BERTH__IPC__ENVELOPE__OP_CONTAINER_CREATE, env.container_create = &cr;
  } else if (!strcmp(cmd, "start")) {
    spec.limits = &lim;
    spec.cwd = "/";
    if (parse_spec(&spec, &lim, argc - 2, argv + 2, o, size) < 0)
      return;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
      fatal("socketpair");
    sr.id = eid, sr.spec = &spec;
    env.op_case = BERTH__IPC__ENVELOPE__OP_CONTAINER_START, env.container_start = &sr;
  } else if (!strcmp(cmd, "signal") && argc > 2) {
    sg.id = eid, sg.signal = atoi(argv[2]);
    env.op_case = BERTH__IPC__ENVELOPE__OP_CONTAINER_SIGNAL, env.container_signal = &sg;
  } else if (!strcmp(cmd, "delete")) {
    dr.id = eid;
    env.op_case = BERTH__IPC__ENVELOPE__OP_CONTAINER_DELETE, env.container_delete = &dr;
  } else if (!strcmp(cmd, "state")) {
    st.id = eid, st.with_size = argc > 2;
    env.op_case = BERTH__IPC__ENVELOPE__OP_CONTAINER_STATE, env.container_state = &st;
  } else if (!strcmp(cmd, "connect")) {
    cn.id = eid;
    env.op_case = BERTH__IPC__ENVELOPE__OP_CONTAINER_CONNECT, env.container_connect = &cn;
  } else if (!strcmp(cmd, "log") && argc > 2) {
    lo.id = eid, lo.index = (uint32_t)atoi(argv[2]);
    env.op_case = BERTH__IPC__ENVELOPE__OP_CONTAINER_LOG_OPEN, env.container_log_open = &lo;
  } else if ((!strcmp(cmd, "stdin") && argc > 2) || !strcmp(cmd, "stdin-close")) {
    int fd = chan_of(id);
    char m[4096];
    int n = snprintf(m, sizeof m, "%c%s", cmd[5] ? 'c' : 'i', cmd[5] ? "" : argv[2]);
    if (fd < 0 || send(fd, m, (size_t)n, MSG_NOSIGNAL) < 0)
      out(o, size, "error %d no channel for %s", ENOENT, id);
    else
      out(o, size, "ok");
    return;
  } else {
    out(o, size, "error 0 unknown command %s", cmd);
    return;
  }
  berth_msg_t r;
  if (call(&env, sv[0] >= 0 ? &sv[0] : NULL, sv[0] >= 0, &r) < 0) {
    out(o, size, "error 0 no reply from execd");
  } else if (r.env->op_case == BERTH__IPC__ENVELOPE__OP_ERROR) {
    out(o, size, "error %d %s", r.env->error->errno_code, r.env->error->message);
  } else {
    out(o, size, "ok");
    if (r.env->op_case == BERTH__IPC__ENVELOPE__OP_CONTAINER_STATE_REPLY) {
      Berth__Ipc__ContainerStateReply *s = r.env->container_state_reply;
      static const char *names[] = {"created", "running", "exited"};
      out(o, size, " status=%s pid=%d exit=%d oom=%d started=%lld finished=%lld uid_base=%u size=%lld",
          s->status <= 2 ? names[s->status] : "?", s->pid, s->exit_code, s->oom_killed, (long long)s->started_unix_nano,
          (long long)s->finished_unix_nano, s->uid_base, (long long)s->size_rw);
      if (sv[1] >= 0)
        chan_add(sv[1], id), sv[1] = -1;
    } else if (r.env->op_case == BERTH__IPC__ENVELOPE__OP_CONTAINER_CHANNEL) {
      int fd = berth_msg_take_fd(&r, 0);
      send(fd, "s", 1, MSG_NOSIGNAL); /* subscribe */
      chan_add(fd, id);
    } else if (r.env->op_case == BERTH__IPC__ENVELOPE__OP_CONTAINER_LOG_FILE) {
      *ofd = berth_msg_take_fd(&r, 0);
    }
  }
  if (r.env)
    berth_msg_release(&r);
  for (int i = 0; i < 2; i++)
    if (sv[i] >= 0)
      close(sv[i]);
  for (size_t i = 0; i < spec.n_rlimits; i++)
    free(spec.rlimits[i]);
  free(spec.rlimits), free(spec.layers), free(spec.argv), free(spec.env), free(spec.extra_gids);
}

static void serve_client(int c) {
  static char buf[65536], o[65536];
  ssize_t n = recv(c, buf, sizeof buf - 1, 0);
  char *argv[256];
  int argc = 0;
  if (n > 0) {
    buf[n] = '\0';
    for (char *p = buf; p < buf + n && argc < 255; p += strlen(p) + 1)
      argv[argc++] = p;
  }
  int lfd = -1;
  if (argc > 0)
    run(argc, argv, o, 60000, &lfd);
  else
    snprintf(o, sizeof o, "error 0 empty command");
  if (lfd >= 0) { /* log: the file's content after "ok\n" */
    size_t l = strlen(o);
    o[l++] = '\n';
    ssize_t got = read(lfd, o + l, 60000 - l);
    o[l + (got > 0 ? (size_t)got : 0)] = '\0';
    close(lfd);
  }
  send(c, o, strlen(o), MSG_NOSIGNAL);
  close(c);
}

static int daemon_main(const char *run_root) {
  snprintf(dir, sizeof dir, "%s/drv", run_root);
  scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW); /* execd checks that apid has a filter */
  if (ctx == NULL || seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ptrace), 0) < 0 || seccomp_load(ctx) < 0)
    fatal("seccomp");
  hello();
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (snprintf(sa.sun_path, sizeof sa.sun_path, "%s/sock", dir) >= (int)sizeof sa.sun_path)
    fatal("socket path too long");
  unlink(sa.sun_path);
  int ls = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(ls, 16) < 0)
    fatal(sa.sun_path);
  chmod(sa.sun_path, 0666);
  for (;;) {
    struct pollfd p[2 + MAXCH] = {{.fd = EDGE, .events = POLLIN}, {.fd = ls, .events = POLLIN}};
    for (int i = 0; i < MAXCH; i++)
      p[2 + i] = (struct pollfd){.fd = chans[i].fd > 0 ? chans[i].fd : -1, .events = POLLIN};
    if (poll(p, 2 + MAXCH, -1) < 0 && errno != EINTR)
      fatal("poll");
    if (p[0].revents) { /* requests from execd (AttachPeer) or EOF */
      berth_msg_t m;
      berth_error_t err = NULL;
      int r = berth_wire_recv(EDGE, &m, &err);
      if (r == 0 || (r < 0 && err && err->status != EAGAIN))
        return 0;
      if (r > 0)
        berth_msg_release(&m);
      berth_error_release(&err);
    }
    if (p[1].revents) {
      int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
      if (c >= 0)
        serve_client(c);
    }
    for (int i = 0; i < MAXCH; i++)
      if (p[2 + i].revents)
        chan_read(i);
  }
}

static int client_main(const char *sock, int argc, char **argv) {
  static char buf[65536];
  size_t n = 0;
  for (int i = 0; i < argc; i++) {
    size_t l = strlen(argv[i]) + 1;
    if (n + l > sizeof buf)
      return 2;
    memcpy(buf + n, argv[i], l);
    n += l;
  }
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock) >= (int)sizeof sa.sun_path)
    fatal("socket path too long");
  int c = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (c < 0 || connect(c, (struct sockaddr *)&sa, sizeof sa) < 0)
    fatal(sock);
  if (send(c, buf, n, 0) < 0)
    fatal("send");
  ssize_t got = recv(c, buf, sizeof buf - 1, 0);
  if (got <= 0)
    fatal("no answer");
  buf[got] = '\0';
  puts(buf);
  return strncmp(buf, "ok", 2) == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp(argv[i], "--run-root"))
      return daemon_main(argv[i + 1]);
  if (argc > 3 && !strcmp(argv[1], "-s"))
    return client_main(argv[2], argc - 3, argv + 3);
  fputs("usage: ctr-driver -s SOCK COMMAND [ARGS...] (or run by berth-execd as berth-apid)\n", stderr);
  return 2;
}
