/* berth_service_start and the service main loop, on real processes: this
 * program re-executes itself as a service ("--as api|image|net") with the
 * fds, user, capabilities and user namespace the contract describes (or
 * deliberately not), and plays the executor on fd 3. Demotion is done with
 * setpriv(1) and a user namespace of our own, not with berth-execd's code,
 * so a mistake in one is not hidden by the same mistake in the other. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <json-c/json.h>
#include "berth.h"
#include "service.h"

static int test_no, failures;
static char self_exe[PATH_MAX];
static char copy_dir[] = "/tmp/berth-test-service.XXXXXX";

/* Config files next to the copy of this binary (readable by the demoted children). */
static char good_json[PATH_MAX], bad_json[PATH_MAX], array_json[PATH_MAX], missing_json[PATH_MAX];
#define GOOD_LIMIT "123456789"

/* The demoted children (uid 65534, or root of a user namespace that has no
 * DAC override over host-owned directories) may not be able to search the
 * build tree (a clone under /root is 0700). Run them from a world-searchable
 * copy of this binary instead. */
static int copy_self(void) {
  int in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (in < 0 || mkdtemp(copy_dir) == NULL || chmod(copy_dir, 0755) < 0)
    return -1;
  snprintf(self_exe, sizeof self_exe, "%s/test_service", copy_dir);
  int out = open(self_exe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0755);
  if (out < 0)
    return -1;
  struct stat st;
  if (fstat(in, &st) < 0)
    return -1;
  for (off_t left = st.st_size; left > 0;) {
    ssize_t n = sendfile(out, in, NULL, (size_t)left);
    if (n <= 0)
      return -1;
    left -= n;
  }
  close(in);
  return close(out);
}

static int write_text(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0)
    return -1;
  ssize_t n = write(fd, text, strlen(text));
  close(fd);
  return n == (ssize_t)strlen(text) ? 0 : -1;
}

static int write_configs(void) {
  snprintf(good_json, sizeof good_json, "%s/good.json", copy_dir);
  snprintf(bad_json, sizeof bad_json, "%s/bad.json", copy_dir);
  snprintf(array_json, sizeof array_json, "%s/array.json", copy_dir);
  snprintf(missing_json, sizeof missing_json, "%s/missing.json", copy_dir);
  return write_text(good_json, "{ \"image-max-uncompressed-bytes\": " GOOD_LIMIT ", \"other\": \"x\" }\n") < 0 ||
                 write_text(bad_json, "{ \"image-max-uncompressed-bytes\": \n") < 0 ||
                 write_text(array_json, "[1, 2]\n") < 0
             ? -1
             : 0;
}

static void remove_copy(void) {
  unlink(good_json);
  unlink(bad_json);
  unlink(array_json);
  unlink(self_exe);
  rmdir(copy_dir);
}

static void report(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(int ok, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("%s %d - ", ok ? "ok" : "not ok", ++test_no);
  vprintf(fmt, ap);
  printf("\n");
  fflush(stdout);
  va_end(ap);
  if (!ok)
    failures++;
}

/* ---- the service side ---- */

static Berth__Ipc__Peer peer_of(const char *s) {
  return strcmp(s, "api") == 0     ? BERTH__IPC__PEER__PEER_API
         : strcmp(s, "image") == 0 ? BERTH__IPC__PEER__PEER_IMAGE
         : strcmp(s, "net") == 0   ? BERTH__IPC__PEER__PEER_NET
                                   : BERTH__IPC__PEER__PEER_UNKNOWN;
}

/* With BERTH_TEST_CONFIG_EXPECT set, the service only reports (exit 0 or 3)
 * whether it read --config FILE: "PATH=N" means the setting
 * image-max-uncompressed-bytes is N and berth_service_config_path is PATH;
 * "PATH=" means the file was absent (an empty object). */
static int config_as_expected(berth_service_t *s, const char *want) {
  const char *eq = strrchr(want, '=');
  const char *path = berth_service_config_path(s);
  struct json_object *cfg = berth_service_config(s);
  if (eq == NULL || path == NULL || strncmp(path, want, (size_t)(eq - want)) != 0 || path[eq - want] != '\0' ||
      cfg == NULL)
    return 3;
  uint64_t v = 0;
  berth_error_t err = NULL;
  if (berth_config_uint64(cfg, path, "image-max-uncompressed-bytes", 7, &v, &err) < 0) {
    berth_error_print(&err, stderr, "config");
    return 3;
  }
  if (eq[1] == '\0')
    return v == 7 && json_object_object_length(cfg) == 0 ? 0 : 3;
  return v == strtoull(eq + 1, NULL, 10) ? 0 : 3;
}

static int run_as_service(int argc, char **argv) {
  berth_service_config_t cfg = { .self = peer_of(argv[2]), .argc = argc - 2, .argv = argv + 2 };
  berth_service_t *s = NULL;
  berth_error_t err = NULL;
  if (berth_service_start(&cfg, &s, &err) < 0) {
    berth_error_print(&err, stderr, "test service");
    return 1;
  }
  const char *want = getenv("BERTH_TEST_CONFIG_EXPECT");
  if (want != NULL) {
    int rc = config_as_expected(s, want);
    /* Not berth_service_run: report at once. The loop is freed with the process. */
    _exit(rc);
  }
  return berth_service_run(s);
}

/* ---- the executor side ---- */

enum setup {
  GOOD, EXTRA_FD, NO_NNP, AS_ROOT, NO_USERNS, MAPS_HOST_ROOT, BAD_ARG, NO_LISTEN_FD,
  CONFIG_READ,    /* --config good.json: the service sees its settings */
  CONFIG_MISSING, /* --config of a file that does not exist: defaults */
  CONFIG_BAD,     /* --config of a file that is not JSON: refuses to start */
  CONFIG_ARRAY,   /* --config of a JSON array: refuses to start */
  CONFIG_RELATIVE /* --config berth.json: refuses to start */
};


static const char *config_arg(enum setup how) {
  switch (how) {
  case CONFIG_MISSING: return missing_json;
  case CONFIG_BAD: return bad_json;
  case CONFIG_ARRAY: return array_json;
  case CONFIG_RELATIVE: return "berth.json";
  default: return good_json;
  }
}

typedef struct {
  pid_t pid;
  int edge;   /* our end of fd 3 */
  int listen; /* apid's fd 4 (ours), or -1 */
} child_t;

static void exec_service(const char *kind, enum setup how, int edge, int listen_fd) {
  /* LeakSanitizer needs ptrace, which the filter forbids (and kills). */
  const char *asan = getenv("ASAN_OPTIONS");
  char opts[512];
  snprintf(opts, sizeof opts, "%s%sdetect_leaks=0", asan ? asan : "", asan ? ":" : "");
  setenv("ASAN_OPTIONS", opts, 1);
  char expect[PATH_MAX + 32];
  if (how == CONFIG_READ || how == CONFIG_MISSING) {
    snprintf(expect, sizeof expect, "%s=%s", config_arg(how), how == CONFIG_READ ? GOOD_LIMIT : "");
    setenv("BERTH_TEST_CONFIG_EXPECT", expect, 1);
  }

  if (dup2(edge, BERTH_FD_EXEC_EDGE) < 0 || (listen_fd >= 0 && dup2(listen_fd, BERTH_FD_API_LISTEN) < 0))
    _exit(90);
  int keep = listen_fd >= 0 ? BERTH_FD_API_LISTEN : BERTH_FD_EXEC_EDGE;
  if (how == EXTRA_FD && dup2(STDERR_FILENO, keep + 1) < 0)
    _exit(91);
  close_range((unsigned)keep + 1 + (how == EXTRA_FD), ~0u, 0);

  char *argv[24];
  int n = 0;
  const bool userns_kind = strcmp(kind, "image") == 0;
  if (!userns_kind && how != AS_ROOT) {
    argv[n++] = "setpriv";
    argv[n++] = "--reuid=65534";
    argv[n++] = "--regid=65534";
    argv[n++] = "--clear-groups";
    if (strcmp(kind, "net") == 0) {
      argv[n++] = "--inh-caps=-all,+net_admin";
      argv[n++] = "--ambient-caps=-all,+net_admin";
      argv[n++] = "--bounding-set=-all,+net_admin";
    } else {
      argv[n++] = "--inh-caps=-all";
      argv[n++] = "--bounding-set=-all";
    }
    if (how != NO_NNP)
      argv[n++] = "--no-new-privs";
  } else if (userns_kind) {
    argv[n++] = "setpriv";
    argv[n++] = "--bounding-set=-all,+chown,+dac_override,+fowner,+fsetid,+setfcap,+mknod";
    if (how != NO_NNP)
      argv[n++] = "--no-new-privs";
  } else if (how != NO_NNP) {
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
  }
  argv[n++] = self_exe;
  argv[n++] = "--as";
  argv[n++] = (char *)kind;
  argv[n++] = how == BAD_ARG ? "--debug" : "--data-root";
  argv[n++] = "/nonexistent/data";
  argv[n++] = "--run-root";
  argv[n++] = "/nonexistent/run";
  argv[n++] = "--config";
  argv[n++] = (char *)config_arg(how);
  argv[n] = NULL;
  execvp(argv[0], argv);
  _exit(92);
}

static int spawn(const char *kind, enum setup how, child_t *c) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return -1;
  c->listen = -1;
  if (strcmp(kind, "api") == 0 && how != NO_LISTEN_FD) {
    c->listen = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    snprintf(sa.sun_path + 1, sizeof sa.sun_path - 1, "berth-test-service-%d", (int)getpid()); /* abstract */
    if (bind(c->listen, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(c->listen, 4) < 0)
      return -1;
  }
  bool userns = strcmp(kind, "image") == 0 && how != NO_USERNS;
  int sync_up[2], sync_down[2];
  if (pipe2(sync_up, O_CLOEXEC) < 0 || pipe2(sync_down, O_CLOEXEC) < 0)
    return -1;
  fflush(stdout);
  c->pid = fork();
  if (c->pid < 0)
    return -1;
  if (c->pid == 0) {
    char b = 0;
    if (userns) {
      if (unshare(CLONE_NEWUSER) < 0)
        _exit(93);
      if (write(sync_up[1], "u", 1) != 1 || read(sync_down[0], &b, 1) != 1 || setresgid(0, 0, 0) < 0 ||
          setresuid(0, 0, 0) < 0)
        _exit(94);
    }
    exec_service(kind, how, sv[1], c->listen);
  }
  close(sv[1]);
  c->edge = sv[0];
  if (userns) {
    char b, path[64];
    const char *map = how == MAPS_HOST_ROOT ? "0 0 1\n" : "0 1879048192 65536\n";
    if (read(sync_up[0], &b, 1) != 1)
      return -1;
    for (int i = 0; i < 2; i++) {
      snprintf(path, sizeof path, "/proc/%d/%s", (int)c->pid, i ? "gid_map" : "uid_map");
      int fd = open(path, O_WRONLY | O_CLOEXEC);
      if (fd < 0 || write(fd, map, strlen(map)) != (ssize_t)strlen(map))
        return -1;
      close(fd);
    }
    if (write(sync_down[1], "g", 1) != 1)
      return -1;
  }
  close(sync_up[0]);
  close(sync_up[1]);
  close(sync_down[0]);
  close(sync_down[1]);
  return 0;
}

/* Closes our ends (the service sees the executor edge close), then reaps.
 * With close_first false it reaps first (for SIGTERM). */
static int finish_ex(child_t *c, bool close_first) {
  if (close_first)
    close(c->edge);
  int st;
  while (waitpid(c->pid, &st, 0) < 0)
    if (errno != EINTR) {
      st = -1;
      break;
    }
  if (!close_first)
    close(c->edge);
  if (c->listen >= 0)
    close(c->listen);
  return st;
}

static int finish(child_t *c) {
  return finish_ex(c, true);
}

/* Waits up to 5 s for one message; 1 = got one, 0 = EOF, -1 = error/timeout. */
static int recv_msg(int fd, berth_msg_t *m) {
  struct pollfd p = { .fd = fd, .events = POLLIN };
  if (poll(&p, 1, 5000) <= 0)
    return -1;
  berth_error_t err = NULL;
  int r = berth_wire_recv(fd, m, &err);
  if (r < 0)
    berth_error_print(&err, stderr, "recv");
  return r;
}

static int send_env(int fd, berth_envelope_t *env, uint64_t id, bool reply, const int *fds, size_t nfds) {
  berth_error_t err = NULL;
  env->request_id = id;
  env->is_reply = reply;
  int r = berth_wire_send(fd, env, fds, nfds, &err);
  if (r < 0)
    berth_error_print(&err, stderr, "send");
  return r;
}

static int send_hello(int fd, Berth__Ipc__Peer me) {
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  Berth__Ipc__Hello h = BERTH__IPC__HELLO__INIT;
  h.protocol_version = BERTH_IPC_VERSION;
  h.peer = me;
  h.software_version = "test";
  env.op_case = BERTH__IPC__ENVELOPE__OP_HELLO;
  env.hello = &h;
  return send_env(fd, &env, 0, false, NULL, 0);
}

/* Expects the service's Hello, answers with ours. */
static bool handshake(int fd, Berth__Ipc__Peer expect_peer, Berth__Ipc__Peer me) {
  berth_msg_t m;
  if (recv_msg(fd, &m) != 1)
    return false;
  bool ok = m.env->op_case == BERTH__IPC__ENVELOPE__OP_HELLO && m.env->hello->peer == expect_peer;
  berth_msg_release(&m);
  return ok && send_hello(fd, me) == 0;
}

static bool ping(int fd, uint64_t id) {
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  Berth__Ipc__Ping p = BERTH__IPC__PING__INIT;
  p.payload.data = (uint8_t *)"echo";
  p.payload.len = 4;
  env.op_case = BERTH__IPC__ENVELOPE__OP_PING;
  env.ping = &p;
  berth_msg_t m;
  if (send_env(fd, &env, id, false, NULL, 0) < 0 || recv_msg(fd, &m) != 1)
    return false;
  bool ok = m.env->op_case == BERTH__IPC__ENVELOPE__OP_PONG && m.env->is_reply && m.env->request_id == id &&
            m.env->pong->payload.len == 4 && memcmp(m.env->pong->payload.data, "echo", 4) == 0;
  berth_msg_release(&m);
  return ok;
}

/* Sends AttachPeer{peer} with one end of a new pair; returns our end or -1. */
static int attach(int edge, Berth__Ipc__Peer peer, uint64_t id, int *reply_op, int *reply_errno) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return -1;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  Berth__Ipc__AttachPeer ap = BERTH__IPC__ATTACH_PEER__INIT;
  ap.peer = peer;
  env.op_case = BERTH__IPC__ENVELOPE__OP_ATTACH_PEER;
  env.attach_peer = &ap;
  berth_msg_t m;
  int r = send_env(edge, &env, id, false, &sv[1], 1);
  close(sv[1]);
  if (r < 0 || recv_msg(edge, &m) != 1) {
    close(sv[0]);
    return -1;
  }
  *reply_op = m.env->op_case;
  *reply_errno = m.env->op_case == BERTH__IPC__ENVELOPE__OP_ERROR ? m.env->error->errno_code : 0;
  berth_msg_release(&m);
  return sv[0];
}

static const char *status_str(int st, char *buf, size_t len) {
  if (st < 0)
    snprintf(buf, len, "wait failed");
  else if (WIFEXITED(st))
    snprintf(buf, len, "exit %d", WEXITSTATUS(st));
  else
    snprintf(buf, len, "signal %d", WTERMSIG(st));
  return buf;
}

/* A service that reports what it read from --config and exits (0 = as expected). */
static void expect_config(const char *kind, enum setup how, const char *what) {
  child_t c;
  char buf[32];
  if (spawn(kind, how, &c) < 0) {
    report(0, "%s %s (spawn failed)", kind, what);
    return;
  }
  int st = finish_ex(&c, false);
  report(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s %s (%s)", kind, what, status_str(st, buf, sizeof buf));
}

/* A service that must refuse to start: no Hello, exit status 1. */
static void expect_refusal(const char *kind, enum setup how, const char *why) {
  child_t c;
  char buf[32];
  if (spawn(kind, how, &c) < 0) {
    report(0, "%s refuses to start %s (spawn failed)", kind, why);
    return;
  }
  berth_msg_t m;
  int r = recv_msg(c.edge, &m);
  if (r == 1)
    berth_msg_release(&m);
  int st = finish(&c);
  report(r == 0 && st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "%s refuses to start %s (%s)", kind, why,
         status_str(st, buf, sizeof buf));
}

static void full_session(const char *kind, Berth__Ipc__Peer self, Berth__Ipc__Peer other) {
  child_t c;
  char buf[32];
  if (spawn(kind, GOOD, &c) < 0) {
    report(0, "%s: spawn", kind);
    return;
  }
  report(handshake(c.edge, self, BERTH__IPC__PEER__PEER_EXEC), "%s: says Hello as %s on fd 3", kind,
         berth_peer_name(self));
  report(ping(c.edge, 7), "%s: answers Ping with Pong", kind);

  int op = 0, eno = 0;
  int p1 = attach(c.edge, other, 8, &op, &eno);
  report(p1 >= 0 && op == BERTH__IPC__ENVELOPE__OP_OK, "%s: AttachPeer(%s) is answered Ok", kind,
         berth_peer_name(other));
  report(p1 >= 0 && handshake(p1, self, other) && ping(p1, 1), "%s: the attached edge says Hello and answers Ping",
         kind);
  /* A request this service does not serve (no on_request): EOPNOTSUPP. */
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  Berth__Ipc__ServicesStatusRequest ssr = BERTH__IPC__SERVICES_STATUS_REQUEST__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_SERVICES_STATUS;
  env.services_status = &ssr;
  berth_msg_t m;
  bool refused = false;
  if (send_env(c.edge, &env, 9, false, NULL, 0) == 0 && recv_msg(c.edge, &m) == 1) {
    refused = m.env->op_case == BERTH__IPC__ENVELOPE__OP_ERROR && m.env->request_id == 9;
    berth_msg_release(&m);
  }
  report(refused, "%s: a request it does not serve gets an Error reply", kind);

  int p2 = attach(c.edge, other, 10, &op, &eno);
  bool old_closed = false;
  if (p1 >= 0) {
    int r = recv_msg(p1, &m);
    if (r == 1)
      berth_msg_release(&m);
    old_closed = r == 0;
  }
  report(p2 >= 0 && op == BERTH__IPC__ENVELOPE__OP_OK && old_closed && handshake(p2, self, other) && ping(p2, 2),
         "%s: a second AttachPeer(%s) replaces the first edge (old one closed)", kind, berth_peer_name(other));
  int p3 = attach(c.edge, self, 11, &op, &eno);
  report(p3 >= 0 && op == BERTH__IPC__ENVELOPE__OP_ERROR, "%s: AttachPeer to itself is refused", kind);
  if (p3 >= 0)
    close(p3);
  if (p1 >= 0)
    close(p1);
  if (p2 >= 0)
    close(p2);

  int st = finish(&c); /* closes the executor edge */
  report(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 1, "%s: exits 1 when the executor edge closes (%s)", kind,
         status_str(st, buf, sizeof buf));

  if (spawn(kind, GOOD, &c) < 0 || !handshake(c.edge, self, BERTH__IPC__PEER__PEER_EXEC)) {
    report(0, "%s: exits 0 on SIGTERM (no start)", kind);
    return;
  }
  kill(c.pid, SIGTERM);
  st = finish_ex(&c, false);
  report(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: exits 0 on SIGTERM (%s)", kind,
         status_str(st, buf, sizeof buf));
}

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "--as") == 0)
    return run_as_service(argc, argv);

  if (geteuid() != 0) {
    printf("1..0 # SKIP needs root (demotes copies of itself to other users and namespaces)\n");
    return 0;
  }
  if (access("/usr/bin/setpriv", X_OK) != 0 && access("/bin/setpriv", X_OK) != 0) {
    printf("1..0 # SKIP setpriv (util-linux) not found\n");
    return 0;
  }
  if (copy_self() < 0 || write_configs() < 0) {
    printf("Bail out! cannot copy the test binary to a world-searchable directory: %s\n", strerror(errno));
    return 1;
  }
  atexit(remove_copy);
  signal(SIGPIPE, SIG_IGN);

  printf("1..%d\n", 3 * 9 + 9 + 3 * 2 + 3);
  full_session("api", BERTH__IPC__PEER__PEER_API, BERTH__IPC__PEER__PEER_IMAGE);
  full_session("net", BERTH__IPC__PEER__PEER_NET, BERTH__IPC__PEER__PEER_API);
  full_session("image", BERTH__IPC__PEER__PEER_IMAGE, BERTH__IPC__PEER__PEER_API);

  expect_refusal("api", EXTRA_FD, "with an extra fd open");
  expect_refusal("api", NO_LISTEN_FD, "without its listening socket on fd 4");
  expect_refusal("api", NO_NNP, "without no_new_privs");
  expect_refusal("api", AS_ROOT, "as root with capabilities");
  expect_refusal("net", AS_ROOT, "as root with every capability");
  expect_refusal("image", NO_USERNS, "in the initial user namespace");
  expect_refusal("image", NO_NNP, "without no_new_privs");
  expect_refusal("image", MAPS_HOST_ROOT, "when its user namespace maps host root");
  expect_refusal("net", BAD_ARG, "with an unknown argument");
  static const char *const kinds[] = { "api", "image", "net" };
  for (int i = 0; i < 3; i++) {
    expect_config(kinds[i], CONFIG_READ, "reads --config FILE before its sandbox (path and setting seen)");
    expect_config(kinds[i], CONFIG_MISSING, "treats a missing --config file as an empty object (defaults)");
  }
  expect_refusal("image", CONFIG_BAD, "with a config file that is not valid JSON");
  expect_refusal("api", CONFIG_ARRAY, "with a config file that is not a JSON object");
  expect_refusal("net", CONFIG_RELATIVE, "with a relative --config path");
  return failures ? 1 : 0;
}
