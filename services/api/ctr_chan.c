/* The channel between berth-apid and a running container's monitor
 * (services/monitor/channel.h): strict parsing of what the monitor sends,
 * output fan-out to attach clients with backpressure (the channel is not
 * read while a client is full, so the monitor and then the container wait),
 * stdin, log rotation notices for followers, and the exit event. A channel
 * that closes without 'x' means the monitor died: the executor's view
 * (ContainerState) decides. Also the recovery of running containers when
 * berth-apid starts. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "chanmsg.h"
#include "ctr_restart.h"
#include "ctr_rt.h"
#include "events.h"
#include "log.h"

#define CHAN_READS_PER_WAKEUP 32
#define STDIN_MAX_PENDING (1024u * 1024u)
#define POLL_USEC (2u * 1000u * 1000u)

static sd_event *event_of(api_app_t *app) {
  return app->svc ? berth_service_event(app->svc) : NULL;
}

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void update_events(ctr_runtime_t *rt) {
  if (rt->chan_src == NULL)
    return;
  uint32_t ev = 0;
  if (!rt->chan_blocked)
    ev |= EPOLLIN;
  if (rt->stdin_len > 0 || rt->stdin_close)
    ev |= EPOLLOUT;
  sd_event_source_set_io_events(rt->chan_src, ev);
  sd_event_source_set_enabled(rt->chan_src, rt->chan_live && ev ? SD_EVENT_ON : SD_EVENT_OFF);
}

void ctr_chan_close(ctr_runtime_t *rt) {
  rt->chan_src = sd_event_source_disable_unref(rt->chan_src);
  if (rt->chan_fd >= 0)
    close(rt->chan_fd);
  rt->chan_fd = -1;
  rt->chan_live = rt->chan_blocked = rt->subscribed = false;
}

int ctr_chan_send(ctr_runtime_t *rt, char type, const void *data, size_t len) {
  if (rt->chan_fd < 0 || !rt->chan_live || len + 1 > CHANNEL_MAX_MSG)
    return -1;
  char buf[CHANNEL_MAX_MSG];
  buf[0] = type;
  if (len)
    memcpy(buf + 1, data, len);
  for (;;) {
    ssize_t n = send(rt->chan_fd, buf, len + 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    return n == (ssize_t)(len + 1) ? 0 : -1;
  }
}

static void flush_stdin(ctr_runtime_t *rt) {
  if (!rt->chan_live)
    return;
  size_t off = 0;
  while (off < rt->stdin_len) {
    size_t n = rt->stdin_len - off;
    if (n > CHANNEL_MAX_MSG - 1)
      n = CHANNEL_MAX_MSG - 1;
    if (ctr_chan_send(rt, CHANNEL_STDIN, rt->stdin_buf + off, n) < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        log_warn("container %.12s: stdin for the monitor dropped: %s", rt->c->id, strerror(errno));
        off = rt->stdin_len;
      }
      break;
    }
    off += n;
  }
  if (off > 0) /* stdin_buf is NULL until stdin first arrives: memmove(NULL, NULL, 0) is UB */
    memmove(rt->stdin_buf, rt->stdin_buf + off, rt->stdin_len - off);
  rt->stdin_len -= off;
  if (rt->stdin_len == 0 && rt->stdin_close) {
    if (ctr_chan_send(rt, CHANNEL_STDIN_CLOSE, NULL, 0) == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
      rt->stdin_close = false;
  }
  update_events(rt);
  ctr_attach_stdin_resume(rt);
}

void ctr_chan_stdin(ctr_runtime_t *rt, const char *data, size_t len) {
  if (rt->stdin_close || len == 0)
    return;   /* after the end of stdin: dropped */
  if (rt->stdin_len + len > rt->stdin_cap) {
    size_t cap = rt->stdin_cap ? rt->stdin_cap : 65536;
    while (cap < rt->stdin_len + len)
      cap *= 2;
    char *nb = realloc(rt->stdin_buf, cap);
    if (nb == NULL)
      return;
    rt->stdin_buf = nb;
    rt->stdin_cap = cap;
  }
  memcpy(rt->stdin_buf + rt->stdin_len, data, len);
  rt->stdin_len += len;
  flush_stdin(rt);
}

bool ctr_chan_stdin_full(const ctr_runtime_t *rt) {
  return rt->stdin_len >= STDIN_MAX_PENDING;
}

void ctr_chan_stdin_close(ctr_runtime_t *rt) {
  rt->stdin_close = true;
  flush_stdin(rt);
}

void ctr_chan_update_subscription(ctr_runtime_t *rt) {
  if (!rt->chan_live)
    return;
  /* 'R' only comes on subscribed channels: log followers need it too. */
  bool want = rt->follows != NULL || ctr_attach_wants_output(rt);
  if (want == rt->subscribed)
    return;
  if (ctr_chan_send(rt, want ? CHANNEL_SUBSCRIBE : CHANNEL_UNSUBSCRIBE, NULL, 0) == 0)
    rt->subscribed = want;
  else
    log_warn("container %.12s: cannot %s the monitor's output: %s", rt->c->id, want ? "subscribe to" : "unsubscribe from",
             strerror(errno));
}

void ctr_chan_unblock(ctr_runtime_t *rt) {
  if (rt->chan_blocked && !ctr_attach_full(rt)) {
    rt->chan_blocked = false;
    update_events(rt);
  }
}

/* ---- exit ---- */

void ctr_autoremove_done(api_app_t *app, const char *id, unsigned status, const char *msg, void *ud) {
  if (status < 300)
    return;
  log_err("container %.12s: automatic removal failed: %s", id, msg ? msg : "?");
  api_ctr_t *c = ctr_by_id(app, id);
  if (c && c->rt)
    ctr_wait_removal_failed(c->rt, msg ? msg : "removal failed");
}

void ctr_rt_exited(api_app_t *app, api_ctr_t *c, int exit_code, bool oom, int64_t finished_ns) {
  char id[65];
  snprintf(id, sizeof id, "%s", c->id);
  if (c->status != CTR_REMOVING)
    c->status = CTR_EXITED;
  c->exit_code = exit_code;
  c->oom_killed = oom;
  c->finished_ns = finished_ns > 0 ? finished_ns : now_ns();
  c->pid = 0;
  ctr_persist(app, c);
  log_info("container %.12s exited with code %d%s", c->id, exit_code, oom ? " (OOM killed)" : "");
  char code[12], secs[24]; /* dockerd's "die": exitCode and execDuration in whole seconds */
  snprintf(code, sizeof code, "%d", exit_code);
  snprintf(secs, sizeof secs, "%lld", c->started_ns > 0 ? (long long)((c->finished_ns - c->started_ns) / 1000000000) : 0LL);
  if (oom)
    api_event_ctr(c, "oom", NULL);
  api_event_ctr(c, "die", "exitCode", code, "execDuration", secs, NULL);
  ctr_runtime_t *rt = ctr_rt(app, c);
  if (rt == NULL)
    return;
  ctr_chan_close(rt);
  rt->poll = sd_event_source_disable_unref(rt->poll);
  rt->stdin_len = 0;
  rt->stdin_close = false;
  rt->stopping = false;
  ctr_attach_end_all(rt);
  ctr_logs_exited(rt);
  ctr_wait_exited(rt);
  ctr_rt_run_hooks(app, c, true);
  /* c may have been restarted or removed by a hook: look again. The restart
   * policy first (a stop, kill or rm -f through the API canceled it). */
  c = ctr_by_id(app, id);
  if (c == NULL || c->status != CTR_EXITED || c->rt == NULL || c->rt->restarting || c->rt->starting ||
      c->rt->removing || ctr_restart_exited(app, c))
    return;
  if (ctr_hostconfig_bool(c, "AutoRemove"))
    ctr_delete_stopped(app, c, ctr_autoremove_done, NULL);
}

/* ---- the monitor vanished: ask the executor ---- */

static void start_poll(ctr_runtime_t *rt);

static void on_connected(api_app_t *app, const char *id, int fd, int e, const char *msg, void *ud) {
  api_ctr_t *c = ctr_by_id(app, id);
  if (c == NULL || c->status != CTR_RUNNING || c->rt == NULL || c->rt->chan_fd >= 0) {
    if (fd >= 0)
      close(fd);
    return;
  }
  if (fd < 0) {
    log_warn("container %.12s: cannot reach its monitor: %s", id, msg ? msg : "?");
    start_poll(c->rt);
    return;
  }
  if (ctr_chan_open(c->rt, fd, false, true) < 0)
    start_poll(c->rt);
  else
    ctr_chan_update_subscription(c->rt);
}

static void on_state(api_app_t *app, const char *id, int e, const char *msg, const Berth__Ipc__ContainerStateReply *st,
                     void *ud) {
  api_ctr_t *c = ctr_by_id(app, id);
  if (c == NULL || (c->status != CTR_RUNNING && c->status != CTR_REMOVING))
    return;
  ctr_runtime_t *rt = ctr_rt(app, c);
  if (rt == NULL || rt->chan_fd >= 0)
    return;
  if (e != 0 || st == NULL) {
    log_warn("container %.12s: the executor cannot tell its state: %s", id, msg ? msg : "?");
    if (e == ENOENT)
      ctr_rt_exited(app, c, -1, false, 0);
    else
      start_poll(rt);
    return;
  }
  switch (st->status) {
  case BERTH__IPC__CONTAINER_STATE_REPLY__STATUS__RUNNING: {
    c->pid = st->pid;
    if (st->started_unix_nano)
      c->started_ns = st->started_unix_nano;
    berth_error_t err = NULL;
    if (ctr_exec_connect(app, id, on_connected, NULL, &err) < 0) {
      log_warn("container %.12s: %s", id, err->msg);
      berth_error_release(&err);
      start_poll(rt);
    }
    break;
  }
  case BERTH__IPC__CONTAINER_STATE_REPLY__STATUS__EXITED:
    ctr_rt_exited(app, c, st->exit_code, st->oom_killed, st->finished_unix_nano);
    break;
  default:
    /* never started as far as the executor knows (apid stopped mid-start) */
    c->status = CTR_CREATED;
    c->pid = 0;
    ctr_persist(app, c);
    break;
  }
}

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata) {
  ctr_runtime_t *rt = userdata;
  rt->poll = sd_event_source_disable_unref(rt->poll);
  berth_error_t err = NULL;
  if (ctr_exec_state(rt->app, rt->c->id, false, on_state, NULL, &err) < 0) {
    berth_error_release(&err);
    start_poll(rt);
  }
  return 0;
}

static void start_poll(ctr_runtime_t *rt) {
  sd_event *e = event_of(rt->app);
  if (rt->poll || e == NULL)
    return;
  if (sd_event_add_time_relative(e, &rt->poll, CLOCK_MONOTONIC, POLL_USEC, 0, on_poll, rt) < 0)
    rt->poll = NULL;
}

static void channel_lost(ctr_runtime_t *rt, const char *why) {
  log_warn("container %.12s: the channel to its monitor %s; asking the executor", rt->c->id, why);
  ctr_chan_close(rt);
  berth_error_t err = NULL;
  if (ctr_exec_state(rt->app, rt->c->id, false, on_state, NULL, &err) < 0) {
    berth_error_release(&err);
    start_poll(rt);
  }
}

/* ---- reading ---- */

/* Handles one message; returns 1 to keep reading, 0 to stop (blocked, or rt may be gone). */
static int handle(ctr_runtime_t *rt, const chan_msg_t *m) {
  api_ctr_t *c = rt->c;
  switch (m->type) {
  case CHANNEL_HELLO:
    if (c->pid != (pid_t)m->a && c->pid != 0)
      log_warn("container %.12s: its monitor reports pid %lld, the record says %d", c->id, (long long)m->a,
               (int)c->pid);
    c->pid = (pid_t)m->a;
    ctr_logs_rotated(rt); /* its log exists now: followers that found none look again */
    return 1;
  case CHANNEL_STDOUT:
  case CHANNEL_STDERR:
    ctr_attach_output(rt, m->type == CHANNEL_STDOUT ? 1 : 2, (const char *)m->data, m->len);
    if (ctr_attach_full(rt)) {
      rt->chan_blocked = true;
      update_events(rt);
      return 0;
    }
    return 1;
  case CHANNEL_ROTATED:
    ctr_logs_rotated(rt);
    return 1;
  case CHANNEL_EXIT:
    ctr_rt_exited(rt->app, c, (int)m->a, m->b != 0, m->c);
    return 0;
  }
  return 1;
}

static int on_chan(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
  ctr_runtime_t *rt = userdata;
  if (revents & EPOLLOUT)
    flush_stdin(rt);
  if (rt->chan_blocked)
    return 0;
  static uint8_t buf[CHANNEL_MAX_MSG + 1];
  for (int i = 0; i < CHAN_READS_PER_WAKEUP; i++) {
    struct iovec iov = {buf, sizeof buf};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return 0;
    if (n < 0) {
      channel_lost(rt, strerror(errno));
      return 0;
    }
    if (n == 0) {
      channel_lost(rt, "closed without an exit message");
      return 0;
    }
    chan_msg_t m;
    const char *why = NULL;
    if ((mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) || chan_parse_event(buf, (size_t)n, &m, &why) < 0) {
      log_err("container %.12s: malformed message from its monitor (%s): channel closed", rt->c->id,
              why ? why : "truncated or carrying fds");
      channel_lost(rt, "sent a malformed message");
      return 0;
    }
    if (!handle(rt, &m))
      return 0;
  }
  return 0;
}

int ctr_chan_open(ctr_runtime_t *rt, int fd, bool subscribed, bool live) {
  ctr_chan_close(rt);
  sd_event *e = event_of(rt->app);
  if (e == NULL || sd_event_add_io(e, &rt->chan_src, fd, EPOLLIN, on_chan, rt) < 0) {
    log_err("container %.12s: cannot watch the channel to its monitor", rt->c->id);
    close(fd);
    return -1;
  }
  rt->chan_fd = fd;
  rt->subscribed = subscribed;
  rt->chan_live = live;
  rt->chan_blocked = false;
  rt->poll = sd_event_source_disable_unref(rt->poll);
  update_events(rt);
  return 0;
}

void ctr_chan_go_live(ctr_runtime_t *rt) {
  if (rt->chan_fd < 0)
    return;
  rt->chan_live = true;
  ctr_chan_update_subscription(rt);
  flush_stdin(rt);
  update_events(rt);
}

/* ---- ContainerConnect ---- */

typedef struct {
  api_app_t *app;
  char id[65];
  ctr_connect_fn cb;
  void *ud;
} connect_call_t;

static void on_connect_reply(berth_conn_t *conn, berth_msg_t *reply, void *userdata) {
  connect_call_t *cc = userdata;
  int fd = -1, e = 0;
  const char *msg = NULL;
  if (reply && reply->env->op_case == BERTH__IPC__ENVELOPE__OP_CONTAINER_CHANNEL && reply->nfds == 1)
    fd = berth_msg_take_fd(reply, 0);
  else
    e = ctr_reply_errno(reply, &msg);
  cc->cb(cc->app, cc->id, fd, e, msg, cc->ud);
  if (reply)
    berth_msg_release(reply);
  free(cc);
}

int ctr_exec_connect(api_app_t *app, const char *id, ctr_connect_fn cb, void *ud, berth_error_t *err) {
  connect_call_t *cc = calloc(1, sizeof *cc);
  if (cc == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  cc->app = app;
  snprintf(cc->id, sizeof cc->id, "%s", id);
  cc->cb = cb;
  cc->ud = ud;
  Berth__Ipc__ContainerConnectRequest q = BERTH__IPC__CONTAINER_CONNECT_REQUEST__INIT;
  q.id = (char *)id;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_CONTAINER_CONNECT;
  env.container_connect = &q;
  if (ctr_exec_call(app, &env, NULL, 0, on_connect_reply, cc, err) < 0) {
    free(cc);
    return -1;
  }
  return 0;
}

/* ---- recovery ---- */

void ctr_recover_all(api_app_t *app) {
  if (app->ctrs == NULL)
    return;
  size_t n = 0;
  api_ctr_t **all = ctr_all(app->ctrs, &n);
  unsigned asked = 0;
  for (size_t i = 0; i < n; i++) {
    api_ctr_t *c = all[i];
    if (c->status != CTR_RUNNING && c->status != CTR_REMOVING) {
      ctr_restart_recover(app, c); /* dockerd's restore: always, unless-stopped, on-failure */
      continue;
    }
    if (c->status == CTR_REMOVING) {
      /* apid stopped in the middle of a removal: the container stays, stopped or running. */
      c->status = CTR_RUNNING;
    }
    berth_error_t err = NULL;
    if (ctr_rt(app, c) == NULL || ctr_exec_state(app, c->id, false, on_state, NULL, &err) < 0) {
      log_err("container %.12s: cannot ask the executor for its state: %s", c->id, err ? err->msg : "out of memory");
      berth_error_release(&err);
      continue;
    }
    asked++;
  }
  if (asked)
    log_info("recovering %u running container(s)", asked);
}
