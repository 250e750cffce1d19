/* berth-monitor, the real binary from the build (argv[1]), run as the
 * executor runs it (monitor_harness.h): output to the json-file log and
 * the channels, partial lines, 16 KiB splitting, rotation, channels
 * (hello, subscribe, stdin, close, resize, limits, malformed input),
 * backpressure, exit codes, signals, OOM, and refusal of bad argv/fds. */
#include <sys/ioctl.h>
#include <termios.h>
#include "monitor_harness.h"

static void wr(int fd, const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w <= 0)
      _exit(99);
    s += w, n -= (size_t)w;
  }
}
#define WS(fd, s) wr(fd, s, strlen(s))

/* Reads a line from stdin; 0 at EOF. */
static size_t read_line(char *buf, size_t size) {
  size_t n = 0;
  while (n + 1 < size && read(0, buf + n, 1) == 1)
    if (buf[n++] == '\n')
      break;
  buf[n] = '\0';
  return n;
}

static int child_basic(void) {
  WS(1, "hello\n");
  WS(2, "oops\n");
  WS(1, "partial");
  return 3;
}

static int child_partial(void) {
  WS(1, "ab");
  usleep(150000);
  WS(1, "c\n");
  return 0;
}

static int child_split(void) {
  static char big[40001];
  memset(big, 'a', 40000);
  big[40000] = '\n';
  wr(1, big, sizeof big);
  memset(big, 'b', 16383);
  memcpy(big + 16383, "\xc3\xa9\n", 3);
  wr(1, big, 16386);
  WS(1, "x\xffy\n");
  return 0;
}

static int child_rotate(void) {
  char line[64];
  for (int i = 0; i < 100; i++) {
    snprintf(line, sizeof line, "line %03d ........................................\n", i);
    WS(1, line);
  }
  return 0;
}

/* Echoes stdin lines as "got LINE"; "eof" at the end of stdin. */
static int child_echo(void) {
  char line[256];
  WS(1, "ready\n");
  char out[300];
  while (read_line(line, sizeof line) > 0) {
    snprintf(out, sizeof out, "got %s", line);
    WS(1, out); /* one write: one 'o' message */
  }
  WS(1, "eof\n");
  return 0;
}

static int child_pause(void) {
  WS(1, "ready\n");
  for (;;)
    pause();
  return 0;
}

static int child_oom(void) {
  char line[16];
  read_line(line, sizeof line);
  raise(SIGKILL);
  return 1;
}

#define FLOOD_LINES 100000 /* 4 MB */
static int child_flood(void) {
  static char buf[40 * 1000 + 1]; /* + the last snprintf NUL */
  for (int i = 0; i < FLOOD_LINES; i += 1000) {
    for (int k = 0; k < 1000; k++)
      snprintf(buf + k * 40, 41, "%039d\n", i + k);
    wr(1, buf, 40 * 1000);
  }
  WS(3, "done");
  return 0;
}

static int child_tty(void) {
  char line[64];
  read_line(line, sizeof line);
  struct winsize ws = { 0 };
  ioctl(0, TIOCGWINSZ, &ws);
  char out[64];
  snprintf(out, sizeof out, "size %d %d\n", ws.ws_row, ws.ws_col);
  WS(1, out);
  return 0;
}

static int child_nothing(void) {
  return 0;
}

/* Starts, reads the hello; false (and a failed test) if that did not work. */
static bool start(mon_t *m, const mon_opts_t *o, child_fn fn, const char *what) {
  if (mon_start(m, o, fn) < 0 || mon_hello(m, m->chan) < 0) {
    tap_ok(0, "%s: monitor started and said hello", what);
    return false;
  }
  return true;
}

static void check_exit_file(mon_t *m, const collected_t *c, const char *what) {
  char *e = read_file(m->mon, "exit", NULL), want[96];
  snprintf(want, sizeof want, "%lld %lld %lld\n", (long long)c->code, (long long)c->oom, (long long)c->finished);
  tap_ok(e && strcmp(e, want) == 0, "%s: mon/exit is \"%.*s\" as in 'x'", what, (int)strlen(want) - 1, want);
  tap_ok(c->finished >= m->t0 && c->finished <= now_ns(), "%s: finished time is plausible", what);
  tap_ok(!file_exists(m->mon, "exit.tmp") && !file_exists(m->mon, "sock"), "%s: no exit.tmp left, sock removed", what);
  free(e);
}

static void test_basic(void) {
  mon_t m;
  if (!start(&m, &(mon_opts_t){ 0 }, child_basic, "basic"))
    return;
  tap_ok(m.cpid > 1 && m.started >= m.t0 && m.started <= now_ns(), "hello carries the child's pid and start time");
  collected_t c;
  mon_collect(m.chan, &c, 10000);
  tap_ok(strcmp(c.out, "hello\npartial") == 0 && strcmp(c.err, "oops\n") == 0, "output forwarded as 'o' and 'e'");
  tap_ok(c.got_exit && c.code == 3 && c.oom == 0 && c.order_ok && c.eof, "'x' \"3 0 T\" last, then the channel closes");
  tap_ok(mon_wait(&m, 5000) == 0, "the monitor exits 0");
  check_exit_file(&m, &c, "basic");
  logline_t l[8];
  int n = read_log(m.mon, "log.json", l, 8);
  int hello = -1, oops = -1, partial = -1;
  for (int i = 0; i < n; i++) {
    if (strcmp(l[i].log, "hello\n") == 0 && strcmp(l[i].stream, "stdout") == 0)
      hello = i;
    if (strcmp(l[i].log, "oops\n") == 0 && strcmp(l[i].stream, "stderr") == 0)
      oops = i;
    if (strcmp(l[i].log, "partial") == 0 && strcmp(l[i].stream, "stdout") == 0)
      partial = i;
  }
  tap_ok(n == 3 && hello >= 0 && oops >= 0 && partial > hello, "log.json: 3 json-file lines with stream tags");
  bool times = n > 0;
  for (int i = 0; i < n; i++)
    times &= l[i].time >= m.t0 - 1000000000LL && l[i].time <= now_ns();
  tap_ok(times, "log.json: RFC3339Nano UTC times within the run");
  free_lines(l, n > 0 ? n : 0);
  collected_free(&c);
  mon_cleanup(&m);
}

static void test_partial_and_split(void) {
  mon_t m;
  if (start(&m, &(mon_opts_t){ 0 }, child_partial, "partial")) {
    collected_t c;
    mon_collect(m.chan, &c, 10000);
    mon_wait(&m, 5000);
    logline_t l[4];
    int n = read_log(m.mon, "log.json", l, 4);
    tap_ok(n == 1 && strcmp(l[0].log, "abc\n") == 0, "a line written in two pieces is one log line");
    free_lines(l, n > 0 ? n : 0);
    collected_free(&c);
    mon_cleanup(&m);
  }
  if (!start(&m, &(mon_opts_t){ 0 }, child_split, "split"))
    return;
  collected_t c;
  mon_collect(m.chan, &c, 10000);
  mon_wait(&m, 5000);
  tap_ok(c.out_len == 40001 + 16386 + 4, "all output forwarded (%zu bytes)", c.out_len);
  logline_t l[8];
  int n = read_log(m.mon, "log.json", l, 8);
  tap_ok(n == 6, "long lines split into 16 KiB messages (%d lines)", n);
  if (n == 6) {
    tap_ok(l[0].len == 16384 && l[1].len == 16384 && l[2].len == 40000 - 32768 + 1 && l[2].log[l[2].len - 1] == '\n',
           "40000 bytes + newline: 16384 + 16384 + 7233 (only the last ends in \\n)");
    tap_ok(l[3].len == 16383 && strcmp(l[4].log, "\xc3\xa9\n") == 0, "a split never cuts a UTF-8 character");
    tap_ok(strcmp(l[5].log, "x\xef\xbf\xbdy\n") == 0, "invalid UTF-8 becomes U+FFFD");
  }
  free_lines(l, n > 0 ? n : 0);
  collected_free(&c);
  mon_cleanup(&m);
}

static void test_rotation(const char *files, int want_files) {
  mon_t m;
  if (!start(&m, &(mon_opts_t){ .log_max_size = "1000", .log_max_files = files }, child_rotate, "rotation"))
    return;
  collected_t c;
  mon_collect(m.chan, &c, 10000);
  mon_wait(&m, 5000);
  tap_ok(c.rotations > 0, "log-max-files %s: 'R' sent on rotation (%d)", files, c.rotations);
  int count = 0, next = 99, contiguous = 1;
  bool small = true;
  for (int k = 0; k <= want_files; k++) {
    char name[32];
    snprintf(name, sizeof name, k ? "log.json.%d" : "log.json", k);
    size_t len = 0;
    char *t = read_file(m.mon, name, &len);
    if (t == NULL)
      continue;
    count++;
    small &= len <= 1000;
    free(t);
    logline_t l[32];
    int n = read_log(m.mon, name, l, 32);
    /* Newest file first, each file's lines in order: a contiguous tail. */
    for (int i = n - 1; i >= 0; i--) {
      int v = -1;
      sscanf(l[i].log, "line %d", &v);
      contiguous &= v == next--;
    }
    free_lines(l, n > 0 ? n : 0);
  }
  tap_ok(count == want_files, "log-max-files %s: %d files kept", files, count);
  tap_ok(small && contiguous, "log-max-files %s: every file <= 1000 bytes, the newest lines kept in order", files);
  collected_free(&c);
  mon_cleanup(&m);
}

static void test_channels(bool stdin_once) {
  mon_t m;
  const char *what = stdin_once ? "stdin-once" : "channels";
  if (!start(&m, &(mon_opts_t){ .stdin_open = true, .stdin_once = stdin_once }, child_echo, what))
    return;
  uint8_t buf[256];
  ssize_t n = mon_recv(m.chan, buf, sizeof buf, 5000);
  tap_ok(n == 7 && memcmp(buf, "oready\n", 7) == 0, "%s: the first channel starts subscribed", what);
  int b = mon_connect(&m);
  mon_t mb = m;
  tap_ok(b >= 0 && mon_hello(&mb, b) == 0 && mb.cpid == m.cpid, "%s: a new channel on mon/sock gets 'h' first", what);
  send_str(m.chan, "ione\n");
  n = mon_recv(m.chan, buf, sizeof buf, 5000);
  tap_ok(n == 9 && memcmp(buf, "ogot one\n", 9) == 0, "%s: 'i' reaches the container's stdin", what);
  tap_ok(mon_recv(b, buf, sizeof buf, 300) < 0, "%s: a new channel starts unsubscribed", what);
  send_str(b, "s");
  send_str(m.chan, "u");
  usleep(200000);
  send_str(b, "itwo\n");
  n = mon_recv(b, buf, sizeof buf, 5000);
  tap_ok(n == 9 && memcmp(buf, "ogot two\n", 9) == 0, "%s: 's' subscribes, any channel may send stdin", what);
  tap_ok(mon_recv(m.chan, buf, sizeof buf, 300) < 0, "%s: 'u' unsubscribes", what);
  send_str(m.chan, "w24 80"); /* no tty: ignored, not an error */
  send_str(b, "c");
  collected_t c;
  if (stdin_once) {
    mon_collect(b, &c, 10000);
    tap_ok(strcmp(c.out, "eof\n") == 0 && c.got_exit && c.code == 0, "stdin-once: the first 'c' closes stdin (EOF)");
  } else {
    send_str(b, "iignored\n");
    send_str(m.chan, "ithree\n");
    n = mon_recv(b, buf, sizeof buf, 5000);
    tap_ok(n == 11 && memcmp(buf, "ogot three\n", 11) == 0,
           "without stdin-once 'c' ends only that channel's stdin (later 'i' from it ignored)");
    kill(m.cpid, SIGTERM);
    mon_collect(b, &c, 10000);
    tap_ok(c.got_exit && c.code == 128 + SIGTERM && c.oom == 0, "a signal exit is 128+n ('x' %lld)", (long long)c.code);
  }
  collected_t ca;
  mon_collect(m.chan, &ca, 5000);
  tap_ok(ca.got_exit && ca.code == c.code && ca.out_len == 0, "%s: 'x' on every channel, subscribed or not", what);
  tap_ok(mon_wait(&m, 5000) == 0, "%s: the monitor exits 0", what);
  check_exit_file(&m, &c, what);
  collected_free(&c);
  collected_free(&ca);
  close(b);
  mon_cleanup(&m);
}

static void test_backpressure(void) {
  mon_t m;
  if (!start(&m, &(mon_opts_t){ .side = true, .log_max_size = "100000000" }, child_flood, "backpressure"))
    return;
  struct pollfd p = { m.side, POLLIN, 0 };
  tap_ok(poll(&p, 1, 1500) == 0, "backpressure: the container blocks while a subscribed channel does not read");
  collected_t c;
  mon_collect(m.chan, &c, 10000);
  char done[8] = "";
  tap_ok(read(m.side, done, sizeof done - 1) == 4 && strcmp(done, "done") == 0, "backpressure: it finishes once read");
  bool ok = c.out_len == FLOOD_LINES * 40;
  for (int i = 0; ok && i < FLOOD_LINES; i++) {
    char want[41];
    snprintf(want, sizeof want, "%039d\n", i);
    ok = memcmp(c.out + (size_t)i * 40, want, 40) == 0;
  }
  tap_ok(ok && c.got_exit && c.code == 0, "backpressure: nothing lost or reordered (%zu bytes)", c.out_len);
  int st = mon_wait(&m, 5000);
  if (st != 0 || !ok)
    tap_diag("monitor status %d, stderr: %s", st, m.err);
  static logline_t l[FLOOD_LINES + 1];
  int n = read_log(m.mon, "log.json", l, FLOOD_LINES + 1);
  tap_ok(n == FLOOD_LINES, "backpressure: every line in the log (%d)", n);
  free_lines(l, n > 0 ? n : 0);
  collected_free(&c);
  mon_cleanup(&m);
}

static void test_oom(bool v1) {
  mon_t m;
  const char *what = v1 ? "OOM (v1 memory.oom_control)" : "OOM (v2 memory.events)";
  if (!start(&m, &(mon_opts_t){ .stdin_open = true, .v1 = v1 }, child_oom, what))
    return;
  write_file(m.cg, v1 ? "memory.oom_control" : "memory.events",
             v1 ? "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n" : "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n");
  send_str(m.chan, "igo\n");
  collected_t c;
  mon_collect(m.chan, &c, 10000);
  tap_ok(c.got_exit && c.code == 137 && c.oom == 1, "%s: a new oom_kill gives \"137 1\"", what);
  mon_wait(&m, 5000);
  check_exit_file(&m, &c, what);
  collected_free(&c);
  mon_cleanup(&m);
}

static void test_malformed(void) {
  mon_t m;
  if (!start(&m, &(mon_opts_t){ .stdin_open = true }, child_echo, "malformed"))
    return;
  uint8_t buf[256];
  mon_recv(m.chan, buf, sizeof buf, 5000); /* "ready" */
  static const char *const bad[] = { "Z", "s1", "u ", "c!", "i", "w0 80", "w24  80", "w24 80 ", "w024 80",
                                     "w65536 1", "w-1 5", "w24", "w24 80 1", "w+2 3", "x0 0 0", "h1 2", "o" };
  size_t dropped = 0, total = sizeof bad / sizeof bad[0];
  for (size_t i = 0; i < total + 2; i++) {
    int fd = mon_connect(&m);
    mon_t tmp = m;
    if (fd < 0 || mon_hello(&tmp, fd) < 0) {
      tap_diag("connect %zu failed", i);
      continue;
    }
    if (i < total) {
      send_str(fd, bad[i]);
    } else if (i == total) {
      static char big[CHANNEL_MAX_MSG + 10];
      memset(big, 'i', sizeof big);
      send(fd, big, sizeof big, MSG_NOSIGNAL);
    } else { /* an fd passed along */
      char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
      struct iovec iov = { "s", 1 };
      struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof cbuf };
      struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
      cm->cmsg_level = SOL_SOCKET, cm->cmsg_type = SCM_RIGHTS, cm->cmsg_len = CMSG_LEN(sizeof(int));
      memcpy(CMSG_DATA(cm), &(int){ 0 }, sizeof(int));
      sendmsg(fd, &mh, MSG_NOSIGNAL);
    }
    if (mon_recv(fd, buf, sizeof buf, 3000) == 0)
      dropped++;
    else
      tap_diag("not dropped: message %zu", i);
    close(fd);
  }
  tap_ok(dropped == total + 2, "malformed input drops that channel (%zu/%zu)", dropped, total + 2);
  send_str(m.chan, "istill\n");
  ssize_t n = mon_recv(m.chan, buf, sizeof buf, 5000);
  tap_ok(n == 11 && memcmp(buf, "ogot still\n", 11) == 0, "the monitor keeps serving the other channels");
  /* Too many: 7 more make 8; the 9th is refused; a freed slot is reusable. */
  int extra[8];
  int ok = 0;
  for (int i = 0; i < 8; i++) {
    extra[i] = mon_connect(&m);
    mon_t tmp = m;
    ok += extra[i] >= 0 && mon_hello(&tmp, extra[i]) == 0;
  }
  tap_ok(ok == 7 && mon_recv(extra[7], buf, sizeof buf, 2000) == 0, "a 9th channel is refused (%d accepted)", ok);
  close(extra[0]);
  usleep(100000);
  int again = mon_connect(&m);
  mon_t tmp = m;
  tap_ok(again >= 0 && mon_hello(&tmp, again) == 0, "a freed slot takes a new channel");
  close(again);
  for (int i = 1; i < 8; i++)
    close(extra[i]);
  send_str(m.chan, "c");
  usleep(100000);
  kill(m.cpid, SIGKILL);
  collected_t c;
  mon_collect(m.chan, &c, 10000);
  tap_ok(c.got_exit && c.code == 137 && mon_wait(&m, 5000) == 0, "and finishes normally");
  collected_free(&c);
  mon_cleanup(&m);
}

static void test_tty(void) {
  mon_t m;
  if (!start(&m, &(mon_opts_t){ .tty = true, .stdin_open = true }, child_tty, "tty"))
    return;
  send_str(m.chan, "w30 100");
  usleep(100000);
  send_str(m.chan, "igo\n");
  collected_t c;
  mon_collect(m.chan, &c, 10000);
  tap_ok(strstr(c.out, "size 30 100") != NULL && c.err_len == 0, "tty: 'w' sets the window size, output is all 'o'");
  tap_ok(c.got_exit && c.code == 0 && mon_wait(&m, 5000) == 0, "tty: EOF on the pty master ends the drain");
  logline_t l[8];
  int n = read_log(m.mon, "log.json", l, 8);
  tap_ok(n >= 1 && strstr(l[n - 1].log, "size 30 100") && strcmp(l[n - 1].stream, "stdout") == 0, "tty: logged as stdout");
  free_lines(l, n > 0 ? n : 0);
  collected_free(&c);
  mon_cleanup(&m);
}

static void test_killed_and_sandbox(void) {
  mon_t m;
  if (!start(&m, &(mon_opts_t){ 0 }, child_pause, "killed"))
    return;
  char path[64], *st;
  snprintf(path, sizeof path, "/proc/%d", (int)m.mpid);
  st = read_file(path, "status", NULL);
  tap_ok(st && strstr(st, "Seccomp:\t2") && strstr(st, "NoNewPrivs:\t1"), "the monitor runs under its seccomp filter");
  free(st);
  kill(m.mpid, SIGTERM);
  kill(m.mpid, SIGHUP);
  uint8_t buf[64];
  ssize_t n = mon_recv(m.chan, buf, sizeof buf, 5000); /* "ready" */
  tap_ok(n > 0 && mon_recv(m.chan, buf, sizeof buf, 300) < 0 && kill(m.mpid, 0) == 0 &&
         waitpid(m.mpid, NULL, WNOHANG) == 0, "SIGTERM and SIGHUP do not end the monitor");
  kill(m.mpid, SIGKILL);
  collected_t c;
  mon_collect(m.chan, &c, 5000);
  tap_ok(c.eof && !c.got_exit && !file_exists(m.mon, "exit"), "monitor killed: the channel closes, no mon/exit");
  tap_ok(kill(m.cpid, 0) == 0, "monitor killed: the container still runs");
  kill(m.cpid, SIGKILL);
  mon_wait(&m, 5000);
  collected_free(&c);
  mon_cleanup(&m);
}

static void refused(const mon_opts_t *o, const char *expect, const char *what) {
  mon_t m;
  if (mon_start(&m, o, child_nothing) < 0) {
    tap_ok(0, "%s: harness", what);
    return;
  }
  int st = mon_wait(&m, 5000);
  tap_ok(st == 2 && strstr(m.err, expect) != NULL, "refused: %s (\"%s\")", what, expect);
  if (st != 2 || !strstr(m.err, expect))
    tap_diag("status %d, stderr: %s", st, m.err);
  mon_cleanup(&m);
}

static void test_refusals(void) {
  refused(&(mon_opts_t){ .argv_override = (const char *const[]){ NULL } }, "missing --id", "no arguments");
  refused(&(mon_opts_t){ .argv_override = (const char *const[]){ "--id", "abc", "--pid", "PID", "--log-max-size", "1",
                                                                 "--log-max-files", "1", NULL } },
          "--id", "short id");
  refused(&(mon_opts_t){ .argv_override = (const char *const[]){ "--id", TEST_ID, "--pid", "12x", "--log-max-size", "1",
                                                                 "--log-max-files", "1", NULL } },
          "--pid", "bad pid");
  refused(&(mon_opts_t){ .argv_override = (const char *const[]){ "--id", TEST_ID, "--pid", "PID", "--log-max-size", "-5",
                                                                 "--log-max-files", "1", NULL } },
          "--log-max-size", "negative size");
  refused(&(mon_opts_t){ .argv_override = (const char *const[]){ "--id", TEST_ID, "--pid", "PID", "--log-max-size", "1",
                                                                 "--log-max-files", "1", "--tty", "--tty", NULL } },
          "repeated", "repeated flag");
  refused(&(mon_opts_t){ .argv_override = (const char *const[]){ "--id", TEST_ID, "--pid", "PID", "--log-max-size", "1",
                                                                 "--log-max-files", "1", "--bogus", NULL } },
          "unexpected", "unknown flag");
  refused(&(mon_opts_t){ .no_child = true }, "is not a child", "a pid that is not its child");
  refused(&(mon_opts_t){ .bad_fd = 3 }, "fd 3 is not", "fd 3 a pipe");
  refused(&(mon_opts_t){ .bad_fd = 4 }, "fd 4 is not", "fd 4 a pipe");
  refused(&(mon_opts_t){ .bad_fd = 8 }, "fd 8 is not", "fd 8 a pipe");
  refused(&(mon_opts_t){ .bad_fd = 9 }, "fd 9 is not", "fd 9 a pipe");
  refused(&(mon_opts_t){ .bad_fd = 10 }, "fd 10 is open", "an extra fd");
  refused(&(mon_opts_t){ .stdin_open = true, .argv_override = (const char *const[]){ "--id", TEST_ID, "--pid", "PID",
                                                                 "--log-max-size", "1", "--log-max-files", "1", "--tty", NULL } },
          "fd 5 is not a pty master", "--tty with pipes");
}

int main(int argc, char **argv) {
  if (argc < 2)
    return tap_skip_all("usage: test_monitor PATH-TO-berth-monitor");
  monitor_bin = argv[1];
  signal(SIGPIPE, SIG_IGN);
  test_basic();
  test_partial_and_split();
  test_rotation("3", 3);
  test_rotation("1", 1);
  test_channels(false);
  test_channels(true);
  test_backpressure();
  test_oom(false);
  test_oom(true);
  test_malformed();
  test_tty();
  test_killed_and_sandbox();
  test_refusals();
  return tap_done();
}
