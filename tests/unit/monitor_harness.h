/* Harness for test_monitor.c: runs the real berth-monitor exactly as the
 * executor does. The test forks M; M forks the "container" C (a function of
 * the test, with pipes or a pty on 0-2 and an optional side pipe on 3),
 * puts fds 0-9 in place and execs berth-monitor, so C is the monitor's
 * child. The test holds apid's end of the first channel, the mon/ and
 * fake cgroup dirs (memory.events) and can connect to mon/sock. */
#pragma once
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "chanmsg.h"
#include "tap.h"

static const char *monitor_bin;
#define TEST_ID "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

typedef int (*child_fn)(void);

typedef struct {
  char top[40], mon[64], cg[64], sock[96];
  pid_t mpid;       /* berth-monitor */
  pid_t cpid;       /* the container (from 'h') */
  int chan;         /* apid's end of the first channel */
  int side;         /* read end of the child's fd 3, -1 if none */
  int64_t started;  /* from 'h' */
  int64_t t0;
  char err[4096];   /* the monitor's stderr (after mon_wait) */
  int errfd;
} mon_t;

typedef struct {
  const char *log_max_size, *log_max_files;
  bool tty, stdin_once, stdin_open, side, v1;
  const char *const *argv_override; /* replaces the whole argv after argv[0] */
  int bad_fd;                        /* replace this fd (3..9) by a pipe read end; 10: add an extra fd */
  bool no_child;                     /* --pid of a process that is not the monitor's child */
} mon_opts_t;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void write_file(const char *dir, const char *name, const char *text) {
  char p[256];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "w");
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

/* Reads a whole file; NULL if missing. */
static char *read_file(const char *dir, const char *name, size_t *len) {
  char p[256];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  FILE *f = fopen(p, "rb");
  if (f == NULL)
    return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  size_t r;
  while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
    n += r;
    if (n == cap)
      buf = realloc(buf, (cap *= 2) + 1);
  }
  fclose(f);
  buf[n] = '\0';
  if (len)
    *len = n;
  return buf;
}

static int file_exists(const char *dir, const char *name) {
  char p[256];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  return access(p, F_OK) == 0;
}

/* A copy of fd numbered >= 20 (so dup2 into 0-9 cannot clobber another);
 * the original is left alone (it may be the same pty slave as another). */
static int high(int fd) {
  return fcntl(fd, F_DUPFD, 20);
}

static void child_main(child_fn fn, int in, int out, int errw, int side) {
  dup2(in, 0);
  dup2(out, 1);
  dup2(errw, 2);
  if (side >= 0)
    dup2(side, 3);
  close_range(side >= 0 ? 4 : 3, ~0U, 0);
  signal(SIGPIPE, SIG_DFL);
  _exit(fn());
}

/* Starts the monitor; 0 on success (the hello is left on m->chan). */
static int mon_start(mon_t *m, const mon_opts_t *o, child_fn fn) {
  memset(m, 0, sizeof *m);
  m->side = -1;
  snprintf(m->top, sizeof m->top, "/tmp/berth-test-monitor.XXXXXX");
  if (mkdtemp(m->top) == NULL)
    return -1;
  snprintf(m->mon, sizeof m->mon, "%s/mon", m->top);
  snprintf(m->cg, sizeof m->cg, "%s/cg", m->top);
  snprintf(m->sock, sizeof m->sock, "%s/sock", m->mon);
  mkdir(m->mon, 0700);
  mkdir(m->cg, 0755);
  write_file(m->cg, o->v1 ? "memory.oom_control" : "memory.events",
             o->v1 ? "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n" : "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n");
  int sp[2], lfd, outp[2], errp[2], inp[2] = { -1, -1 }, sidep[2] = { -1, -1 }, errpipe[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0)
    return -1;
  lfd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", m->sock);
  if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(lfd, 16) < 0)
    return -1;
  int master = -1, slave = -1;
  if (o->tty) {
    if (openpty(&master, &slave, NULL, NULL, NULL) < 0)
      return -1;
    outp[0] = master, outp[1] = slave, errp[0] = open("/dev/null", O_RDONLY), errp[1] = slave;
    inp[0] = slave, inp[1] = o->stdin_open ? master : open("/dev/null", O_WRONLY);
  } else {
    if (pipe(outp) < 0 || pipe(errp) < 0)
      return -1;
    if (o->stdin_open ? pipe(inp) < 0 : (inp[0] = open("/dev/null", O_RDONLY), inp[1] = open("/dev/null", O_WRONLY)) < 0)
      return -1;
  }
  if (o->side && pipe(sidep) < 0)
    return -1;
  if (pipe2(errpipe, O_CLOEXEC) < 0)
    return -1;
  m->t0 = now_ns();
  fflush(stdout);
  m->mpid = fork();
  if (m->mpid == 0) {
    /* as the executor's M: an empty signal mask whatever the test was started with */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    pid_t c = o->no_child ? getppid() : fork();
    if (c == 0)
      child_main(fn, high(inp[0]), high(outp[1]), high(errp[1]), sidep[1] >= 0 ? high(sidep[1]) : -1);
    int fds[10];
    fds[0] = high(open("/dev/null", O_RDWR));
    fds[1] = high(dup(errpipe[1]));
    fds[2] = high(dup(errpipe[1]));
    fds[3] = high(dup(sp[1]));
    fds[4] = high(dup(lfd));
    fds[5] = high(dup(outp[0]));
    fds[6] = high(dup(errp[0]));
    fds[7] = high(dup(inp[1]));
    fds[8] = high(open(m->mon, O_RDONLY | O_DIRECTORY));
    fds[9] = high(open(m->cg, O_RDONLY | O_DIRECTORY));
    int p2[2];
    if (o->bad_fd >= 3 && o->bad_fd <= 9 && pipe(p2) == 0)
      fds[o->bad_fd] = high(p2[0]);
    for (int i = 0; i < 10; i++)
      dup2(fds[i], i);
    close_range(10, ~0U, 0);
    if (o->bad_fd == 10)
      dup2(0, 10);
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)c);
    const char *argv[16] = { monitor_bin };
    int n = 1;
    if (o->argv_override) {
      for (const char *const *a = o->argv_override; *a && n < 15; a++)
        argv[n++] = strcmp(*a, "PID") == 0 ? pid : *a;
    } else {
      argv[n++] = "--id", argv[n++] = TEST_ID, argv[n++] = "--pid", argv[n++] = pid;
      argv[n++] = "--log-max-size", argv[n++] = o->log_max_size ? o->log_max_size : "1000000";
      argv[n++] = "--log-max-files", argv[n++] = o->log_max_files ? o->log_max_files : "3";
      if (o->v1)
        argv[n++] = "--cgroup-v1";
      if (o->tty)
        argv[n++] = "--tty";
      if (o->stdin_once)
        argv[n++] = "--stdin-once";
    }
    argv[n] = NULL;
    execv(monitor_bin, (char *const *)argv);
    _exit(127);
  }
  close(errpipe[1]);
  m->errfd = errpipe[0];
  close(sp[1]);
  close(lfd);
  m->chan = sp[0];
  /* Each of our copies once (with a tty, several names are the same fd). */
  int mine[] = { outp[0], outp[1], errp[0], errp[1], inp[0], inp[1], sidep[1] };
  for (size_t i = 0; i < sizeof mine / sizeof mine[0]; i++) {
    bool dup_before = false;
    for (size_t j = 0; j < i; j++)
      dup_before |= mine[j] == mine[i];
    if (mine[i] >= 0 && !dup_before)
      close(mine[i]);
  }
  m->side = sidep[0];
  return m->mpid > 0 ? 0 : -1;
}

/* One message within timeout_ms: its length, 0 on EOF, -1 on timeout/error. */
static ssize_t mon_recv(int fd, uint8_t *buf, size_t size, int timeout_ms) {
  struct pollfd p = { fd, POLLIN, 0 };
  int r = poll(&p, 1, timeout_ms);
  if (r <= 0)
    return -1;
  ssize_t n = recv(fd, buf, size, MSG_DONTWAIT);
  if (n < 0 && errno == ECONNRESET)
    return 0;
  return n;
}

/* Reads the hello; fills cpid and started. */
static int mon_hello(mon_t *m, int fd) {
  uint8_t buf[256];
  ssize_t n = mon_recv(fd, buf, sizeof buf, 5000);
  chan_msg_t msg;
  const char *why;
  if (n <= 0 || chan_parse_event(buf, (size_t)n, &msg, &why) < 0 || msg.type != CHANNEL_HELLO)
    return -1;
  m->cpid = (pid_t)msg.a;
  m->started = msg.b;
  return 0;
}

typedef struct {
  char *out, *err;        /* concatenated 'o' / 'e' payloads */
  size_t out_len, err_len;
  int rotations;
  bool got_exit, eof;
  int64_t code, oom, finished;
  int order_ok;           /* 'x' was the last message */
} collected_t;

static void append(char **s, size_t *len, const uint8_t *d, size_t n) {
  *s = realloc(*s, *len + n + 1);
  memcpy(*s + *len, d, n);
  *len += n;
  (*s)[*len] = '\0';
}

/* Reads a channel until 'x' and EOF (or timeout_ms of silence). */
static void mon_collect(int fd, collected_t *c, int timeout_ms) {
  static uint8_t buf[CHANNEL_MAX_MSG + 1];
  memset(c, 0, sizeof *c);
  c->order_ok = 1;
  for (;;) {
    ssize_t n = mon_recv(fd, buf, sizeof buf, timeout_ms);
    if (n == 0)
      c->eof = true;
    if (n <= 0)
      break;
    chan_msg_t m;
    const char *why;
    if (chan_parse_event(buf, (size_t)n, &m, &why) < 0) {
      tap_diag("bad message from the monitor: %s", why);
      c->order_ok = 0;
      continue;
    }
    if (c->got_exit)
      c->order_ok = 0;
    if (m.type == CHANNEL_STDOUT)
      append(&c->out, &c->out_len, m.data, m.len);
    else if (m.type == CHANNEL_STDERR)
      append(&c->err, &c->err_len, m.data, m.len);
    else if (m.type == CHANNEL_ROTATED)
      c->rotations++;
    else if (m.type == CHANNEL_EXIT)
      c->got_exit = true, c->code = m.a, c->oom = m.b, c->finished = m.c;
  }
  if (c->out == NULL)
    append(&c->out, &c->out_len, (const uint8_t *)"", 0);
  if (c->err == NULL)
    append(&c->err, &c->err_len, (const uint8_t *)"", 0);
}

static void collected_free(collected_t *c) {
  free(c->out);
  free(c->err);
}

/* Waits for the monitor; returns its exit status (-1 on timeout: killed). */
static int mon_wait(mon_t *m, int timeout_ms) {
  int status = 0;
  for (int waited = 0;; waited += 10) {
    pid_t r = waitpid(m->mpid, &status, WNOHANG);
    if (r == m->mpid)
      break;
    if (waited >= timeout_ms) {
      kill(m->mpid, SIGKILL);
      waitpid(m->mpid, &status, 0);
      status = -1;
      break;
    }
    usleep(10000);
  }
  ssize_t n = read(m->errfd, m->err, sizeof m->err - 1);
  m->err[n > 0 ? n : 0] = '\0';
  close(m->errfd);
  return status < 0 ? -1 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void mon_cleanup(mon_t *m) {
  if (m->chan >= 0)
    close(m->chan);
  if (m->side >= 0)
    close(m->side);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", m->top);
  if (system(cmd) != 0)
    tap_diag("cleanup of %s failed", m->top);
}

static int mon_connect(mon_t *m) {
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  snprintf(sa.sun_path, sizeof sa.sun_path, "%s", m->sock);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static int send_str(int fd, const char *s) {
  return send(fd, s, strlen(s), MSG_NOSIGNAL) == (ssize_t)strlen(s) ? 0 : -1;
}

/* RFC 3339 with nanoseconds as Go prints it (no trailing zeros), UTC. */
static int64_t parse_time(const char *s) {
  struct tm tm = { 0 };
  const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
  if (p == NULL || strlen(s) != 19 + strlen(p))
    return -1;
  int64_t frac = 0;
  if (*p == '.') {
    int digits = 0;
    for (p++; *p >= '0' && *p <= '9'; p++, digits++)
      frac = frac * 10 + (*p - '0');
    if (digits == 0 || digits > 9 || p[-1] == '0')
      return -1;
    for (; digits < 9; digits++)
      frac *= 10;
  }
  if (strcmp(p, "Z") != 0)
    return -1;
  return (int64_t)timegm(&tm) * 1000000000 + frac;
}

typedef struct {
  char *log;
  size_t len;
  char stream[8];
  int64_t time;
} logline_t;

/* Parses mon/<name> into lines; returns the count, -1 if any line is bad. */
static int read_log(const char *dir, const char *name, logline_t *lines, int max) {
  char *text = read_file(dir, name, NULL);
  if (text == NULL)
    return -1;
  int n = 0, bad = 0;
  for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    json_object *o = json_tokener_parse(l), *v;
    if (o == NULL || json_object_object_length(o) != 3 || n >= max) {
      bad = 1;
      json_object_put(o);
      continue;
    }
    logline_t *ll = &lines[n++];
    memset(ll, 0, sizeof *ll);
    if (json_object_object_get_ex(o, "log", &v) && json_object_is_type(v, json_type_string)) {
      ll->len = (size_t)json_object_get_string_len(v);
      ll->log = malloc(ll->len + 1);
      memcpy(ll->log, json_object_get_string(v), ll->len + 1);
    } else {
      bad = 1;
    }
    if (json_object_object_get_ex(o, "stream", &v))
      snprintf(ll->stream, sizeof ll->stream, "%s", json_object_get_string(v));
    ll->time = json_object_object_get_ex(o, "time", &v) ? parse_time(json_object_get_string(v)) : -1;
    if (ll->time < 0)
      bad = 1;
    json_object_put(o);
  }
  free(text);
  return bad ? -1 : n;
}

static void free_lines(logline_t *l, int n) {
  for (int i = 0; i < n; i++)
    free(l[i].log);
}
