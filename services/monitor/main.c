/* berth-monitor: the per-container monitor. Exec'd by the executor's
 * container-start process (user berth, no capabilities, no_new_privs) with
 * exactly fds 0-9 (monitor.h) and
 *   --id ID --pid PID --log-max-size N --log-max-files N [--cgroup-v1] [--tty] [--stdin-once]
 * PID is its child. It logs the container's output, serves channels, and
 * when the child exits: drains the output to EOF, records mon/exit, sends
 * 'x' on every channel and exits 0. A poll() loop over a dozen fds. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "chanmsg.h"
#include "log.h"
#include "monitor.h"

/* After the child exited: give up on output that makes no progress. */
#define DRAIN_STALL_MS 10000
/* After 'x' was queued: how long a channel may take to read it. */
#define FAREWELL_STALL_MS 5000

#ifdef BERTH_SANITIZER
/* LeakSanitizer stops the world with ptrace, which the filter kills. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
  return "detect_leaks=0";
}
#endif

typedef struct {
  monitor_args_t args;
  logfile_t *log;
  chans_t *chans;
  int pidfd;
  bool out_open[2];  /* fd 5 (stdout or pty), fd 6 (stderr) still readable */
  bool exited;
  int exit_code;
  int64_t finished_ns;
  uint64_t oom_start;
  bool oom_known;
  bool log_failed;
  uint8_t buf[CHANNEL_MAX_MSG];
} monitor_t;

static int64_t mono_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void log_error_once(monitor_t *m, berth_error_t *err) {
  if (!m->log_failed)
    log_err("container %.12s: log: %s", m->args.id, (*err)->msg);
  m->log_failed = true;
  berth_error_release(err);
}

static void rotated_notice(monitor_t *m) {
  uint8_t r = CHANNEL_ROTATED;
  chans_broadcast(m->chans, &r, 1, false);
}

/* End of one output stream: its partial line goes to the log. */
static void output_eof(monitor_t *m, int stream) {
  berth_error_t err = NULL;
  bool rotated = false;
  m->out_open[stream] = false;
  if (logfile_flush(m->log, stream, &rotated, &err) < 0)
    log_error_once(m, &err);
  if (rotated)
    rotated_notice(m);
  /* A pty master stays open: TIOCSWINSZ may still come, and fd 5 must not
   * be reused by an accepted channel. Pipes are done. */
  if (!m->args.tty)
    close(stream == LOG_STREAM_STDERR ? FD_STDERR : FD_STDOUT);
}

static void read_output(monitor_t *m, int stream) {
  int fd = stream == LOG_STREAM_STDERR ? FD_STDERR : FD_STDOUT;
  ssize_t n = read(fd, m->buf + 1, sizeof m->buf - 1);
  if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
    return;
  if (n <= 0) {
    /* A pty master reads EIO once every slave fd is closed. */
    if (n < 0 && !(m->args.tty && errno == EIO))
      log_warn("container %.12s: reading its %s: %m", m->args.id, stream ? "stderr" : "stdout");
    output_eof(m, stream);
    return;
  }
  berth_error_t err = NULL;
  bool rotated = false;
  if (logfile_write(m->log, stream, m->buf + 1, (size_t)n, &rotated, &err) < 0)
    log_error_once(m, &err);
  m->buf[0] = stream == LOG_STREAM_STDERR ? CHANNEL_STDERR : CHANNEL_STDOUT;
  chans_broadcast(m->chans, m->buf, (size_t)n + 1, false);
  if (rotated)
    rotated_notice(m);
}

static void reap(monitor_t *m) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  if (waitid(P_PID, (id_t)m->args.pid, &si, WEXITED | WNOHANG) < 0) {
    if (errno == EINTR)
      return;
    log_err("container %.12s: waitid: %m", m->args.id);
    m->exit_code = -1;
  } else if (si.si_pid == 0) {
    return; /* not yet */
  } else if (si.si_code == CLD_EXITED) {
    m->exit_code = si.si_status;
  } else {
    m->exit_code = 128 + si.si_status;
  }
  m->exited = true;
  m->finished_ns = monitor_now_ns();
  close(m->pidfd);
  m->pidfd = -1;
}

/* Container gone, output drained (or stalled): record and say goodbye. */
static void finish(monitor_t *m) {
  berth_error_t err = NULL;
  for (int s = 0; s < 2; s++)
    if (m->out_open[s])
      output_eof(m, s);
  logfile_close(m->log);
  m->log = NULL;
  bool oom = false;
  uint64_t now_count;
  if (m->oom_known) {
    if (monitor_oom_count(m->args.cgroup_v1, &now_count, &err) < 0)
      berth_error_print(&err, stderr, "berth-monitor: OOM count at exit");
    else
      oom = now_count > m->oom_start;
  }
  /* The socket first: a later start binds a new one, which we must not remove. */
  (void)unlinkat(FD_MONDIR, "sock", 0);
  close(FD_LISTEN);
  int code = m->exit_code < 0 ? -1 : m->exit_code;
  if (monitor_write_exit(code, oom, m->finished_ns, &err) < 0)
    berth_error_print(&err, stderr, "berth-monitor: recording the exit");
  char x[CHAN_SMALL_MSG];
  chans_broadcast(m->chans, (const uint8_t *)x, chan_format_exit(x, code, oom, m->finished_ns), true);
  int64_t last = mono_ms();
  while (!chans_idle(m->chans)) {
    struct pollfd p[CHANNEL_MAX_CONNS + 1];
    size_t n = chans_pollfds(m->chans, p, CHANNEL_MAX_CONNS + 1);
    int64_t left = last + FAREWELL_STALL_MS - mono_ms();
    if (left <= 0)
      break;
    if (poll(p, n, (int)left) < 0 && errno != EINTR)
      break;
    chans_handle(m->chans, p, n);
    if (chans_progress(m->chans))
      last = mono_ms();
  }
  chans_free(m->chans);
  m->chans = NULL;
}

enum { PF_PIDFD, PF_LISTEN, PF_OUT, PF_ERR, PF_CHANS, PF_MAX = PF_CHANS + CHANNEL_MAX_CONNS + 1 };

static void run(monitor_t *m) {
  int64_t last = 0;
  for (;;) {
    if (m->exited && !m->out_open[0] && !m->out_open[1] && chans_idle(m->chans))
      break;
    struct pollfd p[PF_MAX];
    bool blocked = chans_blocked(m->chans);
    p[PF_PIDFD] = (struct pollfd){ .fd = m->pidfd, .events = POLLIN };
    p[PF_LISTEN] = (struct pollfd){ .fd = FD_LISTEN, .events = POLLIN };
    p[PF_OUT] = (struct pollfd){ .fd = m->out_open[0] && !blocked ? FD_STDOUT : -1, .events = POLLIN };
    p[PF_ERR] = (struct pollfd){ .fd = m->out_open[1] && !blocked ? FD_STDERR : -1, .events = POLLIN };
    size_t nc = chans_pollfds(m->chans, p + PF_CHANS, PF_MAX - PF_CHANS);
    int timeout = -1;
    if (m->exited) {
      int64_t left = last + DRAIN_STALL_MS - mono_ms();
      if (left <= 0) {
        log_warn("container %.12s: exited; output or channels stalled for %d s, finishing", m->args.id,
                 DRAIN_STALL_MS / 1000);
        chans_drop_blocked(m->chans);
        break;
      }
      timeout = (int)left;
    }
    int r = poll(p, PF_CHANS + nc, timeout);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      log_err("poll: %m");
      break;
    }
    bool progress = false;
    if (p[PF_PIDFD].revents) {
      reap(m);
      if (m->exited)
        last = mono_ms();
    }
    if (p[PF_LISTEN].revents)
      chans_accept(m->chans);
    if (p[PF_OUT].revents)
      read_output(m, LOG_STREAM_STDOUT), progress = true;
    if (p[PF_ERR].revents)
      read_output(m, LOG_STREAM_STDERR), progress = true;
    chans_handle(m->chans, p + PF_CHANS, nc);
    if (chans_progress(m->chans))
      progress = true;
    if (progress)
      last = mono_ms();
  }
}

static int fail(berth_error_t *err, const char *what) {
  fprintf(stderr, "berth-monitor: %s: %s\n", what, (*err)->msg);
  berth_error_release(err);
  return 2;
}

static int monitor_main(int argc, char **argv) {
  static monitor_t mon;
  monitor_t *m = &mon;
  berth_error_t err = NULL;
  berth_log_init("berth-monitor");
  if (monitor_parse_args(argc, argv, &m->args, &err) < 0)
    return fail(&err, "bad arguments");
  if (monitor_check_fds(&m->args, &err) < 0)
    return fail(&err, "bad file descriptors");
  /* The container must be our child: we are the one to reap it. */
  siginfo_t si;
  memset(&si, 0, sizeof si);
  if (waitid(P_PID, (id_t)m->args.pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
    berth_error_errno(&err, "pid %d is not a child of berth-monitor (waitid)", (int)m->args.pid);
    return fail(&err, "bad --pid");
  }
  m->pidfd = (int)syscall(SYS_pidfd_open, m->args.pid, 0);
  if (m->pidfd < 0) {
    berth_error_errno(&err, "pidfd_open %d", (int)m->args.pid);
    return fail(&err, "bad --pid");
  }
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
    berth_error_errno(&err, "PR_SET_DUMPABLE");
    return fail(&err, "start-up");
  }
  /* Only SIGKILL ends the monitor early: a scope or session stop signals
   * every process, and the monitor must outlive its container to record it. */
  static const int ignored[] = { SIGPIPE, SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGUSR1, SIGUSR2 };
  for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
    signal(ignored[i], SIG_IGN);
  int64_t started_ns = monitor_now_ns();
  if (monitor_oom_count(m->args.cgroup_v1, &m->oom_start, &err) < 0)
    berth_error_print(&err, stderr, "berth-monitor: OOM kills will not be reported");
  else
    m->oom_known = true;
  if (logfile_open(&m->log, FD_MONDIR, m->args.log_max_size, m->args.log_max_files, &err) < 0)
    return fail(&err, "start-up");
  m->out_open[LOG_STREAM_STDOUT] = true;
  m->out_open[LOG_STREAM_STDERR] = !m->args.tty;
  /* gmtime_r reads the zone once (glibc): before the filter, not under it. */
  time_t t0 = 0;
  struct tm tm0;
  gmtime_r(&t0, &tm0);
  if (monitor_seccomp(&err) < 0)
    return fail(&err, "start-up");
  /* The hello goes out under the filter: once apid has it, all is set. */
  m->chans = chans_new(m->args.pid, started_ns, &m->args);
  if (m->chans == NULL || chans_add(m->chans, FD_CHANNEL0, true) < 0) {
    fprintf(stderr, "berth-monitor: out of memory\n");
    return 1;
  }
  run(m);
  finish(m);
  return 0;
}

/* _exit: LeakSanitizer's exit-time check (sanitizer builds; ASAN_OPTIONS
 * may turn it on whatever __asan_default_options says) stops the world
 * with ptrace, which the seccomp filter kills. Nothing is buffered: the log
 * and channels are written with write(2). */
int main(int argc, char **argv) {
  _exit(monitor_main(argc, argv));
}
