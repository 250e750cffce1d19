/* GET /containers/{id}/logs?follow&stdout&stderr&since&until&timestamps&tail.
 * The monitor writes Docker's json-file format (log.json, rotated to
 * log.json.1, ...); berth-apid cannot open those files itself, so the
 * executor opens them one by one (ContainerLogOpen index 0, 1, ... until
 * ENOENT; a rotation while opening shows as an inode seen twice). They are
 * read oldest first, each line parsed, filtered and framed (stdcopy
 * without a TTY, raw with one). follow: the current file is polled every
 * 100 ms; the monitor's 'R' makes the follower re-open index 0 once the old
 * file is drained; the response ends when the container exited and the
 * file is drained. Works for stopped containers (the files stay until rm). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "ctr_rt.h"
#include "log.h"

#define LOG_READ_BLOCK (64u * 1024u)
#define LOG_LINE_MAX (1u << 20)
#define LOG_FILES_MAX 64u
#define FOLLOW_POLL_USEC (100u * 1000u)

struct ctr_follow {
  unsigned refs;
  api_app_t *app;
  char id[65];
  ctr_runtime_t *rt;        /* registered there while following */
  api_request_t *r;         /* NULL once the request is over */
  bool follow, timestamps, tty, want_out, want_err;
  int64_t since, until;
  long long tail, skip;
  int fds[LOG_FILES_MAX];   /* while opening: by index; then oldest first */
  size_t nfds, cur;
  char *line;
  size_t line_len, line_cap;
  bool line_overflow;
  char *out;
  size_t out_len, out_off, out_cap;
  bool exited, rotated, reopening, ended, sleeping;
  sd_event_source *timer;
  ctr_follow_t *next;
};

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

static void follow_unref(ctr_follow_t *f) {
  if (--f->refs > 0)
    return;
  follow_unlink(f);
  for (size_t i = 0; i < f->nfds; i++)
    close(f->fds[i]);
  sd_event_source_disable_unref(f->timer);
  free(f->line);
  free(f->out);
  free(f);
}

static void wake(ctr_follow_t *f) {
  f->timer = sd_event_source_disable_unref(f->timer);
  if (f->r && f->sleeping) {
    f->sleeping = false;
    api_request_wake(f->r);
  }
}

/* ---- output ---- */

static int out_append(ctr_follow_t *f, const void *data, size_t len) {
  if (len == 0)
    return 0;
  if (f->out_len + len > f->out_cap) {
    size_t cap = f->out_cap ? f->out_cap : LOG_READ_BLOCK;
    while (cap < f->out_len + len)
      cap *= 2;
    char *nb = realloc(f->out, cap);
    if (nb == NULL)
      return -1;
    f->out = nb;
    f->out_cap = cap;
  }
  memcpy(f->out + f->out_len, data, len);
  f->out_len += len;
  return 0;
}

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
      out_append(f, hdr, sizeof hdr);
    out_append(f, ts, tl);
    out_append(f, e.log, e.len);
  }
  ctr_log_entry_release(&e);
}

static void take_bytes(ctr_follow_t *f, const char *buf, size_t n) {
  while (n > 0 && !f->ended) {
    const char *nl = memchr(buf, '\n', n);
    size_t part = nl ? (size_t)(nl - buf) : n;
    if (!f->line_overflow && part > 0) {
      if (f->line_len + part > LOG_LINE_MAX) {
        f->line_overflow = true;
      } else {
        if (f->line_len + part > f->line_cap) {
          size_t cap = f->line_cap ? f->line_cap : 4096;
          while (cap < f->line_len + part)
            cap *= 2;
          char *nb = realloc(f->line, cap);
          if (nb == NULL)
            f->line_overflow = true;
          else {
            f->line = nb;
            f->line_cap = cap;
          }
        }
        if (!f->line_overflow) {
          memcpy(f->line + f->line_len, buf, part);
          f->line_len += part;
        }
      }
    }
    if (nl == NULL)
      return;
    if (!f->line_overflow)
      emit_line(f, f->line, f->line_len);
    f->line_len = 0;
    f->line_overflow = false;
    buf += part + 1;
    n -= part + 1;
  }
}

/* ---- following ---- */

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata) {
  ctr_follow_t *f = userdata;
  f->timer = sd_event_source_disable_unref(f->timer);
  wake(f);
  return 0;
}

static void on_reopened(berth_conn_t *conn, berth_msg_t *reply, void *userdata) {
  ctr_follow_t *f = userdata;
  f->reopening = false;
  if (reply && reply->env->op_case == BERTH__IPC__ENVELOPE__OP_CONTAINER_LOG_FILE && reply->nfds == 1 && f->r) {
    int fd = berth_msg_take_fd(reply, 0);
    struct stat a, b;
    bool same = f->nfds > 0 && fstat(fd, &a) == 0 && fstat(f->fds[f->nfds - 1], &b) == 0 && a.st_ino == b.st_ino &&
                a.st_dev == b.st_dev;
    if (same) {
      close(fd);
    } else if (f->nfds > 0) {
      close(f->fds[f->nfds - 1]);
      f->fds[f->nfds - 1] = fd;
      f->cur = f->nfds - 1;
      f->rotated = false;
    } else {
      f->fds[f->nfds++] = fd;
      f->cur = 0;
      f->rotated = false;
    }
    f->line_len = 0;
  }
  if (reply)
    berth_msg_release(reply);
  wake(f);
  follow_unref(f);
}

static int log_open(ctr_follow_t *f, unsigned index, berth_reply_cb cb) {
  Berth__Ipc__ContainerLogOpenRequest q = BERTH__IPC__CONTAINER_LOG_OPEN_REQUEST__INIT;
  q.id = f->id;
  q.index = index;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_CONTAINER_LOG_OPEN;
  env.container_log_open = &q;
  berth_error_t err = NULL;
  f->refs++;
  if (ctr_exec_call(f->app, &env, NULL, 0, cb, f, &err) < 0) {
    f->refs--;
    log_warn("container %.12s: cannot open its log: %s", f->id, err && err->msg ? err->msg : "?");
    berth_error_release(&err);
    return -1;
  }
  return 0;
}

/* Nothing more to read now: wait (poll, re-open) or end. Returns 0 (sleep) or API_STREAM_END. */
static ssize_t at_end(ctr_follow_t *f) {
  bool more = f->follow && !f->ended;
  if (more && (f->rotated || f->nfds == 0) && !f->reopening) {
    if (log_open(f, 0, on_reopened) == 0)
      f->reopening = true;
  }
  if (f->reopening) {
    f->sleeping = true;
    return 0;
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

static ssize_t log_read(api_request_t *r, char *buf, size_t max, void *ud) {
  ctr_follow_t *f = ud;
  for (;;) {
    if (f->out_len > f->out_off) {
      size_t n = f->out_len - f->out_off;
      if (n > max)
        n = max;
      memcpy(buf, f->out + f->out_off, n);
      f->out_off += n;
      if (f->out_off == f->out_len)
        f->out_off = f->out_len = 0;
      return (ssize_t)n;
    }
    if (f->ended)
      return API_STREAM_END;
    if (f->cur >= f->nfds)
      return at_end(f);
    char chunk[LOG_READ_BLOCK];
    ssize_t n = read(f->fds[f->cur], chunk, sizeof chunk);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      log_warn("container %.12s: reading its log: %s", f->id, strerror(errno));
      return API_STREAM_ERROR;
    }
    if (n > 0) {
      take_bytes(f, chunk, (size_t)n);
      continue;
    }
    if (f->cur + 1 < f->nfds) {
      f->cur++;          /* an older file is done: the next one */
      f->line_len = 0;
      continue;
    }
    ssize_t rc = at_end(f);
    if (rc == 0 && f->out_len > 0)
      continue;
    return rc;
  }
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
    wake(f);
  }
}

static void end_follows(ctr_runtime_t *rt) {
  while (rt->follows) {
    ctr_follow_t *f = rt->follows;
    rt->follows = f->next;
    f->rt = NULL;
    f->next = NULL;
    f->exited = true;
    wake(f);
  }
}

void ctr_logs_exited(ctr_runtime_t *rt) {
  end_follows(rt);
}

void ctr_logs_release(ctr_runtime_t *rt) {
  end_follows(rt);
}

/* ---- opening the files, then the reply ---- */

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
  /* fds are by index (newest first): read oldest first */
  for (size_t i = 0; i < f->nfds / 2; i++) {
    int t = f->fds[i];
    f->fds[i] = f->fds[f->nfds - 1 - i];
    f->fds[f->nfds - 1 - i] = t;
  }
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
  api_reply_stream(f->r, 200, "application/vnd.docker.raw-stream", NULL);
}

static void on_opened(berth_conn_t *conn, berth_msg_t *reply, void *userdata) {
  ctr_follow_t *f = userdata;
  bool again = false;
  if (f->r && api_request_pending(f->r)) {
    if (reply && reply->env->op_case == BERTH__IPC__ENVELOPE__OP_CONTAINER_LOG_FILE && reply->nfds == 1) {
      int fd = berth_msg_take_fd(reply, 0);
      struct stat st;
      bool dup = fstat(fd, &st) < 0;
      for (size_t i = 0; i < f->nfds && !dup; i++) {
        struct stat o;
        dup = fstat(f->fds[i], &o) == 0 && o.st_ino == st.st_ino && o.st_dev == st.st_dev;
      }
      if (dup) {
        close(fd);   /* rotated while we opened: this file was seen already */
      } else {
        f->fds[f->nfds++] = fd;
        again = f->nfds < LOG_FILES_MAX;
      }
    } else {
      const char *msg = NULL;
      int e = ctr_reply_errno(reply, &msg);
      if (e != ENOENT && f->nfds == 0) {
        api_reply_error(f->r, e == EPIPE ? 503 : api_errno_status(e), "cannot open the container's log: %s", msg);
        goto out;
      }
    }
    if (!(again && log_open(f, (unsigned)f->nfds, on_opened) == 0))
      start_reply(f);
  }
out:
  if (reply)
    berth_msg_release(reply);
  follow_unref(f);
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
  ctr_follow_t *f = calloc(1, sizeof *f);
  if (f == NULL) {
    api_reply_error(r, 500, "out of memory");
    return;
  }
  f->refs = 1;   /* the request's (log_done) */
  f->app = app;
  snprintf(f->id, sizeof f->id, "%s", c->id);
  f->r = r;
  f->follow = api_request_query_bool(r, "follow", 0);
  f->timestamps = api_request_query_bool(r, "timestamps", 0);
  f->tty = ctr_tty(c);
  f->want_out = out;
  f->want_err = err;
  f->since = since;
  f->until = until;
  f->tail = ctr_parse_tail(api_request_query(r, "tail"));
  api_request_attach(r, &log_ops, f);
  if (log_open(f, 0, on_opened) < 0) {
    api_reply_error(r, 503, "berth-execd is not connected (it is being restarted); try again");
    return;
  }
  api_request_suspend(r, API_EXEC_TIMEOUT_USEC, "berth-execd did not open the container's log in time");
}
