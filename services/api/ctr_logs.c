/* GET /containers/{id}/logs?follow&stdout&stderr&since&until&timestamps&tail,
 * and the log replay of POST /containers/{id}/attach?logs=1 (ctr_rt.h).
 * The monitor writes Docker's json-file format (log.json, rotated to
 * log.json.1, ...; services/monitor/logfile.c); berth-apid cannot open
 * them itself, so the executor opens them by index (ContainerLogOpen 0, 1,
 * ... until ENOENT). They are read oldest first, each line parsed,
 * filtered and framed (stdcopy without a TTY, raw with one). Works for
 * stopped containers too (the files stay until rm).
 *
 * A scan finds the files newer than the newest one held (all of them while
 * none is): index 0, 1, ... until that file turns up, or ENOENT (it was
 * deleted by rotation, or none is held). A rotation during the walk shifts
 * the indexes under it: each one moves every file one index up, so a walk
 * that meets the held file without meeting a file twice saw no rotation;
 * a walk that ends at ENOENT is checked by opening index 0 again (a
 * rotation always puts a new file there). Otherwise it starts over: at
 * once a few times, then every 100 ms.
 *
 * follow: the newest file is polled every 100 ms; the monitor's 'R' makes
 * the follower scan once it drained the newest file it holds. Guarantee:
 * a follower slower than the writer, however many rotations happen
 * meanwhile, sends every line still on disk, in order, once. When a file
 * it had not finished was deleted by rotation (log-max-files) it finishes
 * that file (its fd keeps it readable), loses the files deleted unread and
 * goes on with the oldest file still present: nothing twice, nothing out
 * of order. It ends when the container exited and a last scan found
 * nothing new.
 *
 * Replay (attach logs=1): the same reader without follow. With sync it
 * scans each time it reached the end of the newest file and sink->at_end
 * agreed, and ends when a scan finds nothing newer (the file it read to
 * the end was still the newest after that call): ctr_attach.c builds on
 * this. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "ctr_rt.h"
#include "log.h"
#include "pump.h"

#define LOG_READ_BLOCK (64u * 1024u)
#define LOG_LINE_MAX (1u << 20)
#define LOG_FILES_MAX 64u
#define FOLLOW_POLL_USEC (100u * 1000u)
#define SCAN_QUICK_TRIES 8u

struct ctr_follow {
  unsigned refs;
  api_app_t *app;
  char id[65];
  ctr_runtime_t *rt;        /* registered there while following */
  api_request_t *r;         /* GET /logs: NULL once the request is over */
  const ctr_log_sink_t *sink;   /* attach replay: NULL once its owner let go */
  void *sink_ud;
  bool follow, sync, timestamps, tty, want_out, want_err;
  int64_t since, until;
  long long tail, skip;
  int fds[LOG_FILES_MAX + 1];   /* oldest first; the last is the newest file known */
  size_t nfds, cur;
  int scan[LOG_FILES_MAX];  /* the scan's files by index: newest first */
  size_t nscan;
  unsigned scan_tries;
  bool scanning, verifying;  /* a scan is under way; it re-opens index 0 to check */
  bool scan_wait;            /* no scan before the poll timer (nothing found, or an error) */
  bool started, synced, failed;
  api_lines_t lines;         /* max_line LOG_LINE_MAX: longer lines are skipped */
  api_buf_t out;             /* framed output not yet taken */
  bool exited, rotated, ended, sleeping;
  sd_event_source *timer;
  ctr_follow_t *next;
  ctr_follow_t *all_next, **all_prev;   /* every follower of the process: ctr_logs_scanning */
};

static ctr_follow_t *all_follows;

static bool wanted(const ctr_follow_t *f) {
  return f->r != NULL || f->sink != NULL;
}

static void follow_unlink(ctr_follow_t *f) {
  ctr_runtime_t *rt = f->rt;
  if (rt == NULL)
    return;
  for (ctr_follow_t **pp = &rt->follows; *pp; pp = &(*pp)->next)
    if (*pp == f) {
      *pp = f->next;
      break;
    }
  f->rt = NULL;
  f->next = NULL;
  ctr_chan_update_subscription(rt);
}

static void scan_drop(ctr_follow_t *f) {
  for (size_t i = 0; i < f->nscan; i++)
    close(f->scan[i]);
  f->nscan = 0;
}

static void follow_unref(ctr_follow_t *f) {
  if (--f->refs > 0)
    return;
  follow_unlink(f);
  if (f->all_next)
    f->all_next->all_prev = f->all_prev;
  *f->all_prev = f->all_next;
  for (size_t i = 0; i < f->nfds; i++)
    close(f->fds[i]);
  scan_drop(f);
  sd_event_source_disable_unref(f->timer);
  api_lines_free(&f->lines);
  api_buf_free(&f->out);
  free(f);
}

static void wake(ctr_follow_t *f) {
  if (f->scanning)
    return;   /* the scan wakes it when it is done */
  f->timer = sd_event_source_disable_unref(f->timer);
  if (!f->sleeping)
    return;
  f->sleeping = false;
  if (f->r)
    api_request_wake(f->r);
  else if (f->sink)
    f->sink->wake(f->sink_ud);
}

/* ---- output ---- */

static void emit_line(ctr_follow_t *f, const char *line, size_t len) {
  if (f->skip > 0) {
    f->skip--;
    return;
  }
  ctr_log_entry_t e;
  if (ctr_log_parse_line(line, len, &e) < 0)
    return;   /* not a log line (a torn write, a hand-edited file): skipped */
  bool want = e.stream == 1 ? f->want_out : f->want_err;
  if (f->until && e.time_ns > f->until) {
    f->ended = true;
  } else if (want && !(f->since && e.time_ns < f->since)) {
    char ts[40];
    size_t tl = 0;
    if (f->timestamps) {
      ctr_format_log_time(e.time_ns, ts);
      tl = strlen(ts);
      ts[tl++] = ' ';
    }
    uint8_t hdr[8];
    ctr_stdcopy_header(hdr, e.stream, (uint32_t)(tl + e.len));
    if (!f->tty)
      api_buf_append(&f->out, hdr, sizeof hdr);
    api_buf_append(&f->out, ts, tl);
    api_buf_append(&f->out, e.log, e.len);
  }
  ctr_log_entry_release(&e);
}

static void on_line(const char *line, size_t len, void *ud) {
  ctr_follow_t *f = ud;
  if (!f->ended)
    emit_line(f, line, len);
}

/* A file is done: a torn last line is not continued by the next file. */
static void lines_reset(ctr_follow_t *f) {
  f->lines.partial.start = f->lines.partial.len = 0;
  f->lines.skipping = 0;
}

/* ---- finding the files: the scan (see the top of the file) ---- */

static void start_reply(ctr_follow_t *f);
static void scan_step(ctr_follow_t *f, int fd, int e, const char *msg);

static bool same_file(int a, int b) {
  struct stat sa, sb;
  return fstat(a, &sa) == 0 && fstat(b, &sb) == 0 && sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

static void on_scanned(berth_conn_t *conn, berth_msg_t *reply, void *userdata) {
  ctr_follow_t *f = userdata;
  int fd = -1, e = 0;
  const char *msg = NULL;
  if (reply && reply->env->op_case == BERTH__IPC__ENVELOPE__OP_CONTAINER_LOG_FILE && reply->nfds == 1)
    fd = berth_msg_take_fd(reply, 0);
  else
    e = ctr_reply_errno(reply, &msg);
  if (f->scanning && wanted(f))
    scan_step(f, fd, e, msg ? msg : "?");
  else if (fd >= 0)
    close(fd);
  if (reply)
    berth_msg_release(reply);
  follow_unref(f);
}

static int log_open(ctr_follow_t *f, unsigned index) {
  Berth__Ipc__ContainerLogOpenRequest q = BERTH__IPC__CONTAINER_LOG_OPEN_REQUEST__INIT;
  q.id = f->id;
  q.index = index;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_CONTAINER_LOG_OPEN;
  env.container_log_open = &q;
  berth_error_t err = NULL;
  f->refs++;
  if (ctr_exec_call(f->app, &env, NULL, 0, on_scanned, f, &err) < 0) {
    f->refs--;
    log_warn("container %.12s: cannot open its log: %s", f->id, err && err->msg ? err->msg : "?");
    berth_error_release(&err);
    return -1;
  }
  return 0;
}

/* (Re)starts the walk from index 0; -1 when the executor cannot be asked. */
static int scan_walk(ctr_follow_t *f) {
  scan_drop(f);
  f->verifying = false;
  f->scanning = true;
  if (log_open(f, 0) < 0) {
    f->scanning = false;
    return -1;
  }
  return 0;
}

static int scan_begin(ctr_follow_t *f) {
  f->rotated = false;   /* an 'R' from now on asks for another scan */
  f->scan_tries = 0;
  return scan_walk(f);
}

/* A scan now, not at the reader's next turn (see end_follows); when the
 * executor cannot be asked the reader tries at its turn. */
static bool scan_now(ctr_follow_t *f) {
  if (scan_begin(f) == 0)
    return true;
  f->rotated = true;
  return false;
}

static void scan_error(ctr_follow_t *f, int e, const char *msg) {
  scan_drop(f);
  f->scanning = f->verifying = false;
  if (!f->started && f->r && api_request_pending(f->r)) {
    api_reply_error(f->r, e == EPIPE ? 503 : api_errno_status(e), "cannot open the container's log: %s", msg);
    return;
  }
  log_warn("container %.12s: cannot open its log: %s", f->id, msg);
  if (f->sync || !f->started) {
    f->failed = true;   /* a replay cannot promise anything now */
  } else {
    f->rotated = true;  /* try again after the poll interval */
    f->scan_wait = true;
  }
  wake(f);
}

static int on_scan_timer(sd_event_source *s, uint64_t usec, void *userdata) {
  ctr_follow_t *f = userdata;
  f->timer = sd_event_source_disable_unref(f->timer);
  if (f->scanning && scan_walk(f) < 0)
    scan_error(f, EPIPE, "berth-execd is not connected");
  return 0;
}

/* A rotation moved the files during the walk: again, at once or after a pause. */
static void scan_retry(ctr_follow_t *f) {
  scan_drop(f);
  sd_event *e = f->app->svc ? berth_service_event(f->app->svc) : NULL;
  if (++f->scan_tries >= SCAN_QUICK_TRIES && e) {
    f->timer = sd_event_source_disable_unref(f->timer);
    if (sd_event_add_time_relative(e, &f->timer, CLOCK_MONOTONIC, FOLLOW_POLL_USEC, 0, on_scan_timer, f) >= 0)
      return;
    f->timer = NULL;
  }
  if (scan_walk(f) < 0)
    scan_error(f, EPIPE, "berth-execd is not connected");
}

/* The files found (newer than the newest held) join the list, oldest first. */
static void scan_commit(ctr_follow_t *f) {
  size_t n = f->nscan;
  f->nscan = 0;
  f->scanning = f->verifying = false;
  if (n > 0 && f->nfds > 1) {
    /* only the newest held file stays (read to its end): the next scan looks for it */
    for (size_t i = 0; i + 1 < f->nfds; i++)
      close(f->fds[i]);
    f->fds[0] = f->fds[f->nfds - 1];
    f->nfds = 1;
  }
  if (n > 0)
    f->cur = f->nfds > 0 ? f->nfds - 1 : 0;
  for (size_t i = n; i-- > 0;)
    f->fds[f->nfds++] = f->scan[i];
  if (f->nfds == 0)
    f->scan_wait = true;   /* no log yet: look again after the poll interval */
  if (f->sync && f->started && n == 0)
    f->synced = true;      /* the file read to its end was still the newest: the replay is done */
  if (f->started && f->exited && f->rotated && f->follow && wanted(f) && scan_now(f))
    return;                /* exited during this scan: the last one now (see end_follows) */
  if (!f->started) {
    f->started = true;
    if (f->r) {
      if (api_request_pending(f->r))
        start_reply(f);
      return;
    }
  }
  wake(f);
}

/* The walk reached ENOENT (or the limit): consistent if index 0 did not change. */
static void scan_ends(ctr_follow_t *f) {
  api_ctr_t *c = ctr_by_id(f->app, f->id); /* not running: nothing rotates, no check (rm may delete the files) */
  if (f->nscan == 0 || c == NULL || c->status != CTR_RUNNING) {
    scan_commit(f);
    return;
  }
  f->verifying = true;
  if (log_open(f, 0) < 0)
    scan_error(f, EPIPE, "berth-execd is not connected");
}

static void scan_step(ctr_follow_t *f, int fd, int e, const char *msg) {
  if (f->verifying) {
    bool same = fd >= 0 && same_file(fd, f->scan[0]);
    if (fd >= 0)
      close(fd);
    if (same)
      scan_commit(f);
    else if (fd >= 0 || e == ENOENT)
      scan_retry(f);
    else
      scan_error(f, e, msg);
    return;
  }
  if (fd < 0) {
    if (e == ENOENT || (!f->started && f->nscan > 0))
      scan_ends(f);   /* the end of the files (GET /logs: an error after the first file is the end too) */
    else
      scan_error(f, e, msg);
    return;
  }
  if (f->nfds > 0 && same_file(fd, f->fds[f->nfds - 1])) {
    close(fd);        /* the newest held file, no file seen twice: no rotation during the walk */
    scan_commit(f);
    return;
  }
  for (size_t i = 0; i < f->nscan; i++)
    if (same_file(fd, f->scan[i])) {
      close(fd);      /* rotated under the walk */
      scan_retry(f);
      return;
    }
  f->scan[f->nscan++] = fd;
  if (f->nscan == LOG_FILES_MAX)
    scan_ends(f);
  else if (log_open(f, (unsigned)f->nscan) < 0)
    scan_error(f, EPIPE, "berth-execd is not connected");
}

/* ---- reading ---- */

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata) {
  ctr_follow_t *f = userdata;
  f->timer = sd_event_source_disable_unref(f->timer);
  f->scan_wait = false;
  wake(f);
  return 0;
}

/* Nothing more to read now: scan, wait or end. Returns 0 (sleep), API_STREAM_END or API_STREAM_ERROR. */
static ssize_t at_end(ctr_follow_t *f) {
  if (f->scanning) {
    f->sleeping = true;
    return 0;
  }
  if (f->sync) {
    if (f->sink && !f->sink->at_end(f->sink_ud))
      return 0;   /* the owner reads again later */
    if (scan_begin(f) < 0)
      return API_STREAM_ERROR;
    f->sleeping = true;
    return 0;
  }
  bool more = f->follow && !f->ended;
  if (more && (f->rotated || f->nfds == 0) && !f->scan_wait) {
    if (scan_begin(f) == 0) {
      f->sleeping = true;
      return 0;
    }
    f->scan_wait = true;
  }
  if (more && !f->exited) {
    sd_event *e = f->app->svc ? berth_service_event(f->app->svc) : NULL;
    if (f->timer == NULL && e &&
        sd_event_add_time_relative(e, &f->timer, CLOCK_MONOTONIC, FOLLOW_POLL_USEC, 0, on_poll, f) < 0)
      f->timer = NULL;
    f->sleeping = true;
    return 0;
  }
  return API_STREAM_END;
}

static ssize_t follow_read(ctr_follow_t *f, char *buf, size_t max) {
  for (;;) {
    if (f->out.len > 0)
      return (ssize_t)api_buf_take(&f->out, buf, max);
    if (f->failed)
      return API_STREAM_ERROR;
    if (f->ended || f->synced)
      return API_STREAM_END;
    if (f->scanning || f->cur >= f->nfds) {
      ssize_t rc = at_end(f);
      if (rc == 0 && f->out.len > 0)
        continue;
      return rc;
    }
    char chunk[LOG_READ_BLOCK];
    ssize_t n = read(f->fds[f->cur], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      log_warn("container %.12s: reading its log: %s", f->id, strerror(errno));
      return API_STREAM_ERROR;
    }
    if (n > 0) {
      api_lines_feed(&f->lines, chunk, (size_t)n, on_line, f);
      continue;
    }
    if (f->cur + 1 < f->nfds) {
      f->cur++;          /* an older file is done: the next one */
      lines_reset(f);
      continue;
    }
    ssize_t rc = at_end(f);
    if (rc == 0 && f->out.len > 0)
      continue;
    return rc;
  }
}

static ssize_t log_read(api_request_t *r, char *buf, size_t max, void *ud) {
  return follow_read(ud, buf, max);
}

static void log_done(api_request_t *r, void *ud) {
  ctr_follow_t *f = ud;
  f->r = NULL;
  follow_unlink(f);
  f->timer = sd_event_source_disable_unref(f->timer);
  follow_unref(f);
}

static const api_stream_ops_t log_ops = {.read = log_read, .done = log_done};

void ctr_logs_rotated(ctr_runtime_t *rt) {
  for (ctr_follow_t *f = rt->follows; f; f = f->next) {
    f->rotated = true;
    f->scan_wait = false; /* news (a rotation, or the hello: the log exists): scan now, not at the next poll */
    wake(f);
  }
}

/* After an exit the last scan starts at once, not when the client reads
 * next: its first request to the executor then goes before the removal a
 * client may send as soon as its wait returns (docker-py's containers.run
 * reads the followed log only after the removal), and the removal waits
 * for the scans under way (ctr_logs_scanning). */
static void end_follows(ctr_runtime_t *rt, bool exited) {
  while (rt->follows) {
    ctr_follow_t *f = rt->follows;
    rt->follows = f->next;
    f->rt = NULL;
    f->next = NULL;
    f->exited = true;
    f->rotated |= exited;   /* a last scan: files the follower has not seen yet */
    f->scan_wait = false;
    if (!(exited && f->started && !f->scanning && wanted(f) && scan_now(f)))
      wake(f);              /* else the scan's end wakes the reader */
  }
}

bool ctr_logs_scanning(api_app_t *app, const char *id) {
  for (ctr_follow_t *f = all_follows; f; f = f->all_next)
    if (f->app == app && f->scanning && strcmp(f->id, id) == 0)
      return true;
  return false;
}

void ctr_logs_exited(ctr_runtime_t *rt) {
  end_follows(rt, true);
}

void ctr_logs_release(ctr_runtime_t *rt) {
  end_follows(rt, false);
}

/* ---- the reply ---- */

static long long count_lines(int fd) {
  char buf[LOG_READ_BLOCK];
  long long n = 0;
  for (;;) {
    ssize_t got = read(fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR)
      continue;
    if (got <= 0)
      break;
    for (const char *p = buf; (p = memchr(p, '\n', (size_t)(buf + got - p))); p++)
      n++;
  }
  lseek(fd, 0, SEEK_SET);
  return n;
}

static void start_reply(ctr_follow_t *f) {
  if (f->tail >= 0) {
    long long total = 0;
    for (size_t i = 0; i < f->nfds; i++)
      total += count_lines(f->fds[i]);
    f->skip = total > f->tail ? total - f->tail : 0;
  }
  api_ctr_t *c = ctr_by_id(f->app, f->id);
  f->exited = true;
  if (f->follow && c && (c->status == CTR_RUNNING || (c->rt && c->rt->starting))) {
    ctr_runtime_t *rt = ctr_rt(f->app, c);
    if (rt) {
      f->exited = false;
      f->rt = rt;
      f->next = rt->follows;
      rt->follows = f;
      ctr_chan_update_subscription(rt);
    }
  }
  /* No log yet (the monitor was starting) or exited meanwhile: scan again now, not at the next poll
   * (the monitor's hello, sent once its log exists, may be past; an rm could delete the files first) */
  bool again = f->exited || f->nfds == 0;
  f->rotated |= again;
  f->scan_wait = f->scan_wait && !again;
  if (again && f->follow)
    scan_now(f);   /* before the headers go: ahead of any removal the client sends next */
  api_reply_stream(f->r, 200, "application/vnd.docker.raw-stream", NULL);
}

static ctr_follow_t *follow_new(api_app_t *app, api_ctr_t *c, bool out, bool err) {
  ctr_follow_t *f = calloc(1, sizeof *f);
  if (f == NULL)
    return NULL;
  f->refs = 1;   /* the owner's: the request (log_done) or the replay's (ctr_log_replay_end) */
  f->app = app;
  snprintf(f->id, sizeof f->id, "%s", c->id);
  f->tty = ctr_tty(c);
  f->want_out = out;
  f->want_err = err;
  f->tail = -1;
  f->lines.max_line = LOG_LINE_MAX;
  f->all_next = all_follows;
  f->all_prev = &all_follows;
  if (all_follows)
    all_follows->all_prev = &f->all_next;
  all_follows = f;
  return f;
}

void api_handle_ctr_logs(api_request_t *r) {
  api_app_t *app = api_request_userdata(r);
  api_ctr_t *c = ctr_from_request(r);
  if (c == NULL)
    return;
  bool out = api_request_query_bool(r, "stdout", 0), err = api_request_query_bool(r, "stderr", 0);
  if (!out && !err) {
    api_reply_error(r, 400, "Bad parameters: you must choose at least one stream");
    return;
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec, since = 0, until = 0;
  const char *s = api_request_query(r, "since"), *u = api_request_query(r, "until");
  if (ctr_parse_time_arg(s, now, &since) < 0) {
    api_reply_error(r, 400, "invalid value for since: \"%s\" (Unix seconds, RFC 3339 or a duration)", s);
    return;
  }
  if (ctr_parse_time_arg(u, now, &until) < 0) {
    api_reply_error(r, 400, "invalid value for until: \"%s\" (Unix seconds, RFC 3339 or a duration)", u);
    return;
  }
  ctr_follow_t *f = follow_new(app, c, out, err);
  if (f == NULL) {
    api_reply_error(r, 500, "out of memory");
    return;
  }
  f->r = r;
  f->follow = api_request_query_bool(r, "follow", 0);
  f->timestamps = api_request_query_bool(r, "timestamps", 0);
  f->since = since;
  f->until = until;
  f->tail = ctr_parse_tail(api_request_query(r, "tail"));
  api_request_attach(r, &log_ops, f);
  if (scan_begin(f) < 0) {
    api_reply_error(r, 503, "berth-execd is not connected (it is being restarted); try again");
    return;
  }
  api_request_suspend(r, API_EXEC_TIMEOUT_USEC, "berth-execd did not open the container's log in time");
}

/* ---- the replay for attach ---- */

ctr_follow_t *ctr_log_replay(api_app_t *app, api_ctr_t *c, bool out, bool err, bool sync, const ctr_log_sink_t *sink,
                             void *ud) {
  ctr_follow_t *f = follow_new(app, c, out, err);
  if (f == NULL)
    return NULL;
  f->sync = sync;
  f->sink = sink;
  f->sink_ud = ud;
  if (scan_begin(f) < 0) {
    follow_unref(f);
    return NULL;
  }
  return f;
}

ssize_t ctr_log_replay_read(ctr_follow_t *f, char *buf, size_t max) {
  return follow_read(f, buf, max);
}

void ctr_log_replay_end(ctr_follow_t *f) {
  if (f == NULL)
    return;
  f->sink = NULL;
  f->timer = sd_event_source_disable_unref(f->timer);
  follow_unref(f);
}
