/* GET /images/get?names=a&names=b and GET /images/{name}/get: berth-imaged
 * gets the write end of a pipe with IMAGE_SAVE, resolves every name and
 * answers Ok (or Error, e.g. 404 for an unknown name) before writing; then
 * the tar it writes is passed to the client as it comes
 * (application/x-tar, chunked). When the pipe is empty the connection
 * sleeps until the pipe is readable again; when the client is slow the pipe
 * fills and imaged waits. The tar's block structure is followed on the way:
 * a stream that ends without the end-of-archive marker is cut off (no
 * terminating chunk), so the client never takes a truncated archive for a
 * complete one. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "app.h"
#include "log.h"
#include "pump.h"

#define SAVE_MAX_NAMES 256
/* The response waits for imaged this long with no byte coming. */
#define SAVE_IDLE_USEC (10ull * 60u * 1000000u)

typedef struct {
  unsigned refs;
  api_request_t *r;
  sd_event *event;
  int fd;
  sd_event_source *src, *idle_src;
  api_tar_watch_t tar;
  uint64_t bytes, last_activity;
  int gone, streaming, stalled;
} save_t;

static void save_unref(save_t *s) {
  if (--s->refs > 0)
    return;
  sd_event_source_disable_unref(s->src);
  sd_event_source_disable_unref(s->idle_src);
  if (s->fd >= 0)
    close(s->fd);
  api_request_unref(s->r);
  sd_event_unref(s->event);
  free(s);
}

static void close_pipe(save_t *s) {
  s->src = sd_event_source_disable_unref(s->src);
  if (s->fd >= 0)
    close(s->fd);
  s->fd = -1;
}

static int on_readable(sd_event_source *src, int fd, uint32_t revents, void *ud) {
  save_t *s = ud;
  sd_event_source_set_enabled(src, SD_EVENT_OFF);
  if (!s->gone)
    api_request_wake(s->r);
  return 0;
}

static ssize_t save_read(api_request_t *r, char *buf, size_t max, void *ud) {
  save_t *s = ud;
  if (s->stalled || s->fd < 0)
    return API_STREAM_ERROR;
  for (;;) {
    ssize_t n = read(s->fd, buf, max);
    if (n > 0) {
      sd_event_now(s->event, CLOCK_MONOTONIC, &s->last_activity);
      api_tar_watch_feed(&s->tar, buf, (size_t)n);
      s->bytes += (size_t)n;
      return n;
    }
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN) {
      if (s->src == NULL && sd_event_add_io(s->event, &s->src, s->fd, EPOLLIN, on_readable, s) < 0)
        return API_STREAM_ERROR;
      sd_event_source_set_enabled(s->src, SD_EVENT_ON);
      return 0;
    }
    if (n == 0 && api_tar_watch_complete(&s->tar)) {
      log_debug("image save: %llu bytes, %llu tar entries", (unsigned long long)s->bytes,
                (unsigned long long)s->tar.entries);
      close_pipe(s);
      return API_STREAM_END;
    }
    if (n == 0)
      log_err("image save: berth-imaged's archive ended after %llu bytes without the end-of-archive marker%s; "
              "the response is cut off",
              (unsigned long long)s->bytes, s->tar.bad ? " (and a malformed tar header)" : "");
    else
      log_err("image save: reading berth-imaged's archive: %s", strerror(errno));
    close_pipe(s);
    return API_STREAM_ERROR;
  }
}

static void save_done(api_request_t *r, void *ud) {
  save_t *s = ud;
  s->gone = 1;
  close_pipe(s);   /* a client gone mid-way: imaged's writes fail with EPIPE */
  s->idle_src = sd_event_source_disable_unref(s->idle_src);
  save_unref(s);
}

static const api_stream_ops_t save_ops = {
    .read = save_read,
    .done = save_done,
};

static int on_idle_check(sd_event_source *src, uint64_t usec, void *ud) {
  save_t *s = ud;
  uint64_t now = 0;
  sd_event_now(s->event, CLOCK_MONOTONIC, &now);
  if (!s->streaming || now - s->last_activity < SAVE_IDLE_USEC) {
    sd_event_source_set_time(src, now + 60ull * 1000000u);
    sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
    return 0;
  }
  log_err("image save: berth-imaged wrote nothing for %llu s; the response is cut off", SAVE_IDLE_USEC / 1000000ull);
  s->stalled = 1;
  api_request_wake(s->r);
  return 0;
}

static void on_reply(berth_conn_t *c, berth_msg_t *reply, void *ud) {
  save_t *s = ud;
  if (s->gone || !api_request_pending(s->r)) {
    /* the client left, or the deadline answered */
  } else if (reply && reply->env->op_case == BERTH__IPC__ENVELOPE__OP_OK) {
    s->streaming = 1;
    sd_event_now(s->event, CLOCK_MONOTONIC, &s->last_activity);
    api_reply_stream(s->r, 200, "application/x-tar", NULL);
  } else {
    close_pipe(s);
    api_reply_ipc_failure(s->r, reply, "berth-imaged", "image save");
  }
  if (reply)
    berth_msg_release(reply);
  save_unref(s);
}

void api_handle_images_save(api_request_t *r) {
  const char *names[SAVE_MAX_NAMES];
  char one[4097];
  size_t n;
  if (api_request_match(r)->route->id == API_ROUTE_IMAGE_SAVE) {
    if (api_match_param(api_request_match(r), "name", one, sizeof one) < 0) {
      api_reply_error(r, 400, "invalid reference format: image name is too long");
      return;
    }
    names[0] = one;
    n = 1;
  } else {
    n = api_request_query_values(r, "names", names, SAVE_MAX_NAMES);
    if (n > SAVE_MAX_NAMES) {
      api_reply_error(r, 400, "too many images to save at once (%zu, at most %d)", n, SAVE_MAX_NAMES);
      return;
    }
  }
  api_app_t *app = api_request_userdata(r);
  berth_conn_t *c = api_app_image_conn(app);
  if (c == NULL) {
    api_reply_error(r, 503, "berth-imaged is not running (it is being started or restarted); try again");
    return;
  }
  int p[2];
  berth_error_t err = NULL;
  if (api_pipe(p, 0, &err) < 0) {
    api_reply_error(r, 500, "image save: %s", err->msg);
    berth_error_release(&err);
    return;
  }
  save_t *s = calloc(1, sizeof *s);
  if (s == NULL) {
    close(p[0]);
    close(p[1]);
    api_reply_error(r, 500, "out of memory");
    return;
  }
  s->refs = 1;   /* the request's, released by save_done */
  s->r = api_request_ref(r);
  s->event = sd_event_ref(api_request_event(r));
  s->fd = p[0];

  Berth__Ipc__ImageSaveRequest q = BERTH__IPC__IMAGE_SAVE_REQUEST__INIT;
  q.n_names = n;
  q.names = (char **)names;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_IMAGE_SAVE;
  env.image_save = &q;
  s->refs++;   /* the reply callback's */
  int rc = berth_conn_call(c, &env, &p[1], 1, on_reply, s, &err);
  close(p[1]);   /* only imaged's copy keeps the write side open: its exit is EOF here */
  if (rc < 0) {
    s->refs--;
    api_reply_error(r, 503, "cannot send the image save to berth-imaged: %s", err ? err->msg : "unknown error");
    berth_error_release(&err);
    save_unref(s);
    return;
  }
  if (sd_event_add_time_relative(s->event, &s->idle_src, CLOCK_MONOTONIC, 60ull * 1000000u, 0, on_idle_check, s) < 0) {
    s->gone = 1;
    api_reply_error(r, 500, "image save: cannot arm a timer");
    save_unref(s);
    return;
  }
  api_request_attach(r, &save_ops, s);
  api_request_suspend(r, API_IMAGE_TIMEOUT_USEC, "berth-imaged did not answer the image save request in time");
}
