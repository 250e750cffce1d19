/* POST /images/load?quiet=0|1: the request body (the archive) streams into a
 * pipe whose read end berth-imaged gets with IMAGE_LOAD; a second pipe
 * carries imaged's progress lines back. Never more than a pipe's worth of
 * the archive is in apid: when the pipe is full the HTTP connection is
 * suspended until imaged reads.
 *
 * The response (200, application/json, like dockerd) can only start once
 * the whole body arrived (HTTP/1.1 in libmicrohttpd is not full duplex).
 * Progress lines are checked (one JSON object each) and re-serialised. If
 * imaged's Error comes before any byte of the response was sent, the answer
 * is the mapped HTTP status with {"message"}; once the 200 has begun, a
 * final {"errorDetail":{"message":..},"error":..} line, as dockerd writes.
 * Successful loads end with dockerd's "Loaded image: NAME" /
 * "Loaded image ID: sha256:..." lines, built from ImageLoadReply unless
 * imaged already wrote them itself. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "app.h"
#include "log.h"
#include "pump.h"

/* Progress held while the response cannot start yet; lines beyond are dropped. */
#define LOAD_OUT_MAX (8u * 1024u * 1024u)
#define LOAD_LINE_MAX (64u * 1024u)
/* No byte moved in either direction for this long: imaged is stuck. */
#define LOAD_IDLE_USEC (10ull * 60u * 1000000u)
/* After imaged's reply, how long its progress pipe may stay open. */
#define LOAD_GRACE_USEC (5ull * 1000000u)

typedef struct {
  unsigned refs;
  api_request_t *r;
  sd_event *event;
  int archive_fd, progress_fd;
  sd_event_source *archive_src, *progress_src, *idle_src, *grace_src;
  api_lines_t lines;
  api_buf_t out;
  uint64_t body_bytes, last_activity;
  unsigned dropped_lines, invalid_lines;
  int gone, discarding, cut, body_done, progress_eof, reply_in, response_started, complete, loaded_seen;
  int err_errno;
  unsigned err_status;
  char *err_msg;
  berth_envelope_t *result_env;   /* the ImageLoadReply */
} load_t;

static void advance(load_t *l);

static void load_unref(load_t *l) {
  if (--l->refs > 0)
    return;
  if (l->archive_fd >= 0)
    close(l->archive_fd);
  if (l->progress_fd >= 0)
    close(l->progress_fd);
  sd_event_source_disable_unref(l->archive_src);
  sd_event_source_disable_unref(l->progress_src);
  sd_event_source_disable_unref(l->idle_src);
  sd_event_source_disable_unref(l->grace_src);
  api_lines_free(&l->lines);
  api_buf_free(&l->out);
  free(l->err_msg);
  if (l->result_env)
    berth__ipc__envelope__free_unpacked(l->result_env, NULL);
  api_request_unref(l->r);
  sd_event_unref(l->event);
  free(l);
}

static void touch(load_t *l) {
  sd_event_now(l->event, CLOCK_MONOTONIC, &l->last_activity);
}

static void close_archive(load_t *l) {
  l->archive_src = sd_event_source_disable_unref(l->archive_src);
  if (l->archive_fd >= 0)
    close(l->archive_fd);
  l->archive_fd = -1;
}

static void close_progress(load_t *l) {
  l->progress_src = sd_event_source_disable_unref(l->progress_src);
  if (l->progress_fd >= 0)
    close(l->progress_fd);
  l->progress_fd = -1;
  l->progress_eof = 1;
}

static void set_error(load_t *l, unsigned status, int errno_code, const char *msg) {
  if (l->err_msg)
    return;
  l->err_status = status;
  l->err_errno = errno_code;
  l->err_msg = strdup(msg && msg[0] ? msg : "the image load failed");
}

/* ---- progress from imaged ---- */

static void on_line(const char *line, size_t len, void *ud) {
  load_t *l = ud;
  if (l->out.len > LOAD_OUT_MAX) {
    l->dropped_lines++;
    return;
  }
  struct json_object *o = NULL;
  int r = api_progress_line(line, len, &l->out, &o);
  if (r == 0 && len > 0)
    l->invalid_lines++;
  struct json_object *stream;
  if (o && json_object_object_get_ex(o, "stream", &stream) && json_object_is_type(stream, json_type_string) &&
      strncmp(json_object_get_string(stream), "Loaded image", 12) == 0)
    l->loaded_seen = 1;
  json_object_put(o);
}

static int on_progress(sd_event_source *s, int fd, uint32_t revents, void *ud) {
  load_t *l = ud;
  char buf[64 * 1024];
  for (int i = 0; i < 16; i++) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      break;
    if (n <= 0) {
      if (n < 0)
        log_warn("image load: reading berth-imaged's progress: %s", strerror(errno));
      api_lines_finish(&l->lines, on_line, l);
      close_progress(l);
      break;
    }
    touch(l);
    api_lines_feed(&l->lines, buf, (size_t)n, on_line, l);
  }
  l->refs++;
  advance(l);
  load_unref(l);
  return 0;
}

/* ---- the archive to imaged ---- */

static int on_archive_writable(sd_event_source *s, int fd, uint32_t revents, void *ud) {
  load_t *l = ud;
  sd_event_source_set_enabled(s, SD_EVENT_OFF);
  if (!l->gone)
    api_request_body_resume(l->r);
  return 0;
}

static ssize_t load_body(api_request_t *r, const char *data, size_t len, void *ud) {
  load_t *l = ud;
  if (l->cut)
    return -1;
  touch(l);
  if (l->discarding)
    return (ssize_t)len;   /* imaged gave up: the client still has to be heard out */
  size_t done = 0;
  while (done < len) {
    ssize_t n = write(l->archive_fd, data + done, len - done);
    if (n > 0) {
      done += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN) {
      /* Full: wait for imaged to read (MHD suspends the connection meanwhile). */
      if (l->archive_src == NULL &&
          sd_event_add_io(l->event, &l->archive_src, l->archive_fd, EPOLLOUT, on_archive_writable, l) < 0)
        return -1;
      sd_event_source_set_enabled(l->archive_src, SD_EVENT_ON);
      break;
    }
    /* EPIPE: imaged closed its end (it failed, or needs no more); its reply says which. */
    if (errno != EPIPE)
      log_warn("image load: writing the archive to berth-imaged: %s", strerror(errno));
    l->discarding = 1;
    close_archive(l);
    return (ssize_t)len;
  }
  l->body_bytes += done;
  return (ssize_t)done;
}

static void load_body_end(api_request_t *r, void *ud) {
  load_t *l = ud;
  close_archive(l);   /* EOF for imaged */
  l->body_done = 1;
  log_debug("image load: %llu bytes of archive received", (unsigned long long)l->body_bytes);
  advance(l);
}

/* ---- the response ---- */

static void append_json_line(load_t *l, struct json_object *o) {
  size_t n = 0;
  const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
  if (s) {
    api_buf_append(&l->out, s, n);
    api_buf_append(&l->out, "\n", 1);
  }
  json_object_put(o);
}

static void append_stream(load_t *l, const char *prefix, const char *text) {
  struct json_object *o = json_object_new_object();
  char *s = NULL;
  if (o && asprintf(&s, "%s%s\n", prefix, text) >= 0)
    json_object_object_add(o, "stream", json_object_new_string(s));
  free(s);
  if (o)
    append_json_line(l, o);
}

static void append_result(load_t *l) {
  if (l->result_env == NULL || l->loaded_seen)
    return;   /* imaged reported its results itself */
  const Berth__Ipc__ImageLoadReply *res = l->result_env->image_load_reply;
  for (size_t i = 0; i < res->n_skipped; i++)
    append_stream(l, "Skipped: ", res->skipped[i]);
  for (size_t i = 0; i < res->n_loaded; i++)
    append_stream(l, strncmp(res->loaded[i], "sha256:", 7) == 0 ? "Loaded image ID: " : "Loaded image: ",
                  res->loaded[i]);
}

static void append_error(load_t *l) {
  struct json_object *o = json_object_new_object();
  struct json_object *detail = json_object_new_object();
  if (o && detail) {
    json_object_object_add(detail, "message", json_object_new_string(l->err_msg));
    json_object_object_add(o, "errorDetail", detail);
    json_object_object_add(o, "error", json_object_new_string(l->err_msg));
    append_json_line(l, o);
  } else {
    json_object_put(o);
    json_object_put(detail);
  }
}

static ssize_t load_read(api_request_t *r, char *buf, size_t max, void *ud) {
  load_t *l = ud;
  size_t n = api_buf_take(&l->out, buf, max);
  if (n > 0)
    return (ssize_t)n;
  return l->complete ? API_STREAM_END : 0;
}

static void finish(load_t *l) {
  l->complete = 1;
  if (l->dropped_lines || l->invalid_lines || l->lines.too_long)
    log_warn("image load: %u progress lines dropped (over %u bytes held), %u invalid, %u too long",
             l->dropped_lines, LOAD_OUT_MAX, l->invalid_lines, l->lines.too_long);
  if (!l->response_started) {
    if (l->err_msg) {
      api_reply_error(l->r, l->err_status, "%s", l->err_msg);
      return;
    }
    append_result(l);
    api_reply(l->r, 200, "application/json", l->out.data + l->out.start, l->out.len, NULL);
    return;
  }
  if (l->err_msg)
    append_error(l);
  else
    append_result(l);
  api_request_wake(l->r);
}

/* Moves the response on after any event. The HTTP answer can start only
 * once the body is in; it starts early (as a stream) when there is
 * progress to show, else waits for imaged's reply so an error gets its
 * proper status. */
static void advance(load_t *l) {
  if (l->gone || l->complete || !l->body_done)
    return;
  if (l->reply_in && l->progress_eof) {
    finish(l);
    return;
  }
  if (!l->response_started && l->out.len > 0) {
    l->response_started = 1;
    api_reply_stream(l->r, 200, "application/json", NULL);
    return;
  }
  if (l->response_started)
    api_request_wake(l->r);
  else
    api_request_suspend(l->r, 0, NULL);   /* the idle watchdog bounds the wait */
}

/* ---- imaged's reply and the timers ---- */

static int on_grace(sd_event_source *s, uint64_t usec, void *ud) {
  load_t *l = ud;
  if (!l->progress_eof) {
    log_warn("image load: berth-imaged replied but kept its progress pipe open; closing it");
    close_progress(l);
  }
  l->refs++;
  advance(l);
  load_unref(l);
  return 0;
}

static void on_reply(berth_conn_t *c, berth_msg_t *reply, void *ud) {
  load_t *l = ud;
  if (!l->reply_in) {
    l->reply_in = 1;
    touch(l);
    if (reply && reply->env->op_case == BERTH__IPC__ENVELOPE__OP_IMAGE_LOAD_REPLY) {
      l->result_env = reply->env;
      reply->env = NULL;
    } else if (reply && reply->env->op_case == BERTH__IPC__ENVELOPE__OP_ERROR) {
      const Berth__Ipc__Error *e = reply->env->error;
      set_error(l, api_errno_status(e->errno_code), e->errno_code,
                e->message && e->message[0] ? e->message : strerror(e->errno_code));
    } else if (reply) {
      set_error(l, 500, EPROTO, "berth-imaged sent an unexpected reply to the image load");
    } else {
      set_error(l, 503, EPIPE, "berth-imaged went away before it finished the image load (it is being restarted); "
                                "try again");
    }
    if (!l->progress_eof && !l->gone)
      sd_event_add_time_relative(l->event, &l->grace_src, CLOCK_MONOTONIC, LOAD_GRACE_USEC, 0, on_grace, l);
    advance(l);
  }
  if (reply)
    berth_msg_release(reply);
  load_unref(l);
}

static int on_idle_check(sd_event_source *s, uint64_t usec, void *ud) {
  load_t *l = ud;
  uint64_t now = 0;
  sd_event_now(l->event, CLOCK_MONOTONIC, &now);
  if (now - l->last_activity < LOAD_IDLE_USEC) {
    sd_event_source_set_time(s, now + 60ull * 1000000u);
    sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
    return 0;
  }
  log_err("image load: nothing moved for %llu s; abandoned", LOAD_IDLE_USEC / 1000000ull);
  l->refs++;
  set_error(l, 500, ETIMEDOUT, "berth-imaged made no progress with the image load for 10 minutes; abandoned");
  l->reply_in = 1;
  close_archive(l);
  close_progress(l);
  if (!l->body_done) {
    /* No answer can be queued in the middle of a body: cut the connection. */
    l->cut = 1;
    api_request_body_resume(l->r);
  }
  advance(l);
  load_unref(l);
  return 0;
}

static void load_done(api_request_t *r, void *ud) {
  load_t *l = ud;
  l->gone = 1;
  /* A body cut short reaches imaged as a truncated archive, which it refuses. */
  close_archive(l);
  close_progress(l);
  l->idle_src = sd_event_source_disable_unref(l->idle_src);
  l->grace_src = sd_event_source_disable_unref(l->grace_src);
  load_unref(l);
}

static const api_stream_ops_t load_ops = {
    .body = load_body,
    .body_end = load_body_end,
    .read = load_read,
    .done = load_done,
};

void api_handle_images_load(api_request_t *r) {
  api_app_t *app = api_request_userdata(r);
  berth_conn_t *c = api_app_image_conn(app);
  if (c == NULL) {
    api_reply_error(r, 503, "berth-imaged is not running (it is being started or restarted); try again");
    return;
  }
  int archive[2], progress[2];
  berth_error_t err = NULL;
  if (api_pipe(archive, 1, &err) < 0) {
    api_reply_error(r, 500, "image load: %s", err->msg);
    berth_error_release(&err);
    return;
  }
  if (api_pipe(progress, 0, &err) < 0) {
    close(archive[0]);
    close(archive[1]);
    api_reply_error(r, 500, "image load: %s", err->msg);
    berth_error_release(&err);
    return;
  }
  load_t *l = calloc(1, sizeof *l);
  if (l == NULL) {
    close(archive[0]);
    close(archive[1]);
    close(progress[0]);
    close(progress[1]);
    api_reply_error(r, 500, "out of memory");
    return;
  }
  l->refs = 1;   /* the request's (released by load_done) */
  l->r = api_request_ref(r);
  l->event = sd_event_ref(api_request_event(r));
  l->archive_fd = archive[1];
  l->progress_fd = progress[0];
  l->lines.max_line = LOAD_LINE_MAX;
  touch(l);

  Berth__Ipc__ImageLoadRequest q = BERTH__IPC__IMAGE_LOAD_REQUEST__INIT;
  q.quiet = api_request_query_bool(r, "quiet", 1);   /* dockerd's default */
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_IMAGE_LOAD;
  env.image_load = &q;
  int fds[2] = {archive[0], progress[1]};
  l->refs++;   /* the reply callback's */
  int rc = berth_conn_call(c, &env, fds, 2, on_reply, l, &err);
  /* imaged has (or a queued message holds) its own copies: only its ends
   * keep the pipes open from the far side, so its exit means EOF/EPIPE here. */
  close(archive[0]);
  close(progress[1]);
  if (rc < 0) {
    l->refs--;
    api_reply_error(r, 503, "cannot send the image load to berth-imaged: %s", err ? err->msg : "unknown error");
    berth_error_release(&err);
    load_unref(l);
    return;
  }
  if (sd_event_add_io(l->event, &l->progress_src, l->progress_fd, EPOLLIN, on_progress, l) < 0 ||
      sd_event_add_time_relative(l->event, &l->idle_src, CLOCK_MONOTONIC, 60ull * 1000000u, 0, on_idle_check, l) < 0) {
    /* The reply callback still holds its reference; it finds the request gone. */
    l->gone = 1;
    api_reply_error(r, 500, "image load: cannot watch the pipes to berth-imaged");
    load_unref(l);
    return;
  }
  api_request_attach(r, &load_ops, l);
}
