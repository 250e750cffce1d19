/* POST /containers/{id}/stop, /kill and /restart. Stop sends
 * Config.StopSignal (SIGTERM by default), then SIGKILL after ?t= seconds
 * (Config.StopTimeout, else 10; -1 waits forever) and answers once the
 * monitor reported the exit. Kill sends ?signal= (SIGKILL by default); with
 * SIGKILL it answers after the exit too, as dockerd does, so a following
 * inspect sees the container stopped. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ctr_restart.h"
#include "ctr_rt.h"
#include "events.h"
#include "log.h"

#define DEFAULT_STOP_TIMEOUT 10
/* After SIGKILL: how long the exit may take before the request fails. */
#define KILL_GRACE_USEC (30ull * 1000u * 1000u)

typedef struct {
  unsigned refs;
  api_app_t *app;
  char id[65];
  ctr_done_fn done;
  void *ud;
  bool answered, kill_sent;
  bool is_stop;            /* a stop: the "stop" event follows the exit */
  bool answer_on_signal;   /* a plain kill: answered once the signal is delivered */
  sd_event_source *timer;
} sigwait_t;

static void op_unref(sigwait_t *op) {
  if (--op->refs > 0)
    return;
  sd_event_source_disable_unref(op->timer);
  free(op);
}

static void answer(sigwait_t *op, unsigned status, const char *msg) {
  if (op->answered)
    return;
  op->answered = true;
  op->timer = sd_event_source_disable_unref(op->timer);
  op->done(op->app, op->id, status, msg, op->ud);
}

static void on_exit_hook(api_app_t *app, api_ctr_t *c, bool exited, void *ud) {
  sigwait_t *op = ud;
  if (c->rt)
    c->rt->stopping = false;
  if (exited && op->is_stop && !op->answered)
    api_event_ctr(c, "stop", NULL);
  answer(op, exited ? 204 : 409, exited ? NULL : "the container was removed meanwhile");
  op_unref(op);
}

static void on_signal(api_app_t *app, const char *id, int e, const char *msg, const Berth__Ipc__ContainerStateReply *st,
                      void *ud) {
  sigwait_t *op = ud;
  if (e == 0) {
    if (op->answer_on_signal)
      answer(op, 204, NULL);
  } else if (e == ESRCH) {
    /* exited meanwhile: the monitor's exit message answers (or already did) */
    if (op->answer_on_signal) {
      char m[160];
      snprintf(m, sizeof m, "Container %s is not running", id);
      answer(op, 409, m);
    }
  } else {
    log_warn("container %.12s: signal not delivered: %s", id, msg);
    answer(op, e == EPIPE || e == EAGAIN ? 503 : api_errno_status(e), msg);
  }
  op_unref(op);
}

static int send_signal(sigwait_t *op, int sig) {
  berth_error_t err = NULL;
  op->refs++;
  if (ctr_exec_signal(op->app, op->id, sig, on_signal, op, &err) < 0) {
    op->refs--;
    answer(op, 503, err && err->msg ? err->msg : "berth-execd is not connected");
    berth_error_release(&err);
    return -1;
  }
  char signo[12]; /* dockerd logs "kill" once the signal is on its way, before the "die" */
  snprintf(signo, sizeof signo, "%d", sig);
  api_event_ctr(ctr_by_id(op->app, op->id), "kill", "signal", signo, NULL);
  return 0;
}

static int on_grace(sd_event_source *s, uint64_t usec, void *userdata) {
  sigwait_t *op = userdata;
  op->timer = sd_event_source_disable_unref(op->timer);
  char msg[200];
  snprintf(msg, sizeof msg, "container %s did not exit %llu s after SIGKILL", op->id,
           (unsigned long long)(KILL_GRACE_USEC / 1000000));
  answer(op, 500, msg);
  return 0;
}

static void arm(sigwait_t *op, uint64_t usec, sd_event_time_handler_t fn) {
  op->timer = sd_event_source_disable_unref(op->timer);
  sd_event *e = op->app->svc ? berth_service_event(op->app->svc) : NULL;
  if (e == NULL || sd_event_add_time_relative(e, &op->timer, CLOCK_MONOTONIC, usec, 0, fn, op) < 0)
    op->timer = NULL;
}

static int on_stop_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
  sigwait_t *op = userdata;
  op->timer = sd_event_source_disable_unref(op->timer);
  log_info("container %.12s did not stop in time: SIGKILL", op->id);
  op->kill_sent = true;
  if (send_signal(op, SIGKILL) == 0)
    arm(op, KILL_GRACE_USEC, on_grace);
  return 0;
}

static sigwait_t *op_new(api_app_t *app, api_ctr_t *c, ctr_done_fn done, void *ud) {
  sigwait_t *op = calloc(1, sizeof *op);
  if (op == NULL)
    return NULL;
  op->refs = 1;   /* the exit hook's */
  op->app = app;
  snprintf(op->id, sizeof op->id, "%s", c->id);
  op->done = done;
  op->ud = ud;
  if (ctr_on_exit(app, c, on_exit_hook, op) < 0) {
    free(op);
    return NULL;
  }
  return op;
}

static int stop_signal(const api_ctr_t *c) {
  struct json_object *v;
  if (c->config && json_object_object_get_ex(c->config, "StopSignal", &v) && json_object_is_type(v, json_type_string)) {
    int sig = ctr_parse_signal(json_object_get_string(v));
    if (sig > 0)
      return sig;
  }
  return SIGTERM;
}

static int stop_timeout(const api_ctr_t *c) {
  struct json_object *v;
  if (c->config && json_object_object_get_ex(c->config, "StopTimeout", &v) && json_object_is_type(v, json_type_int))
    return (int)json_object_get_int64(v);
  return DEFAULT_STOP_TIMEOUT;
}

void ctr_stop(api_app_t *app, api_ctr_t *c, int timeout_s, ctr_done_fn done, void *ud) {
  if (c->restart_pending && c->status != CTR_RUNNING) {
    /* waiting for a policy restart: canceling it is the stop (at once, as dockerd) */
    ctr_restart_manual_kill(app, c, stop_signal(c));
    api_event_ctr(c, "stop", NULL);
    done(app, c->id, 204, NULL, ud);
    return;
  }
  if (c->status != CTR_RUNNING) {
    done(app, c->id, 304, NULL, ud);
    return;
  }
  sigwait_t *op = op_new(app, c, done, ud);
  if (op == NULL) {
    done(app, c->id, 500, "out of memory", ud);
    return;
  }
  op->is_stop = true;
  c->rt->stopping = true;
  ctr_restart_manual_kill(app, c, stop_signal(c));
  if (send_signal(op, stop_signal(c)) < 0)
    return;
  if (timeout_s >= 0)
    arm(op, (uint64_t)timeout_s * 1000000u, on_stop_timeout);
}

/* ?t= : absent -> the container's own timeout; else an integer (dockerd: strconv.Atoi). */
static int parse_timeout(api_request_t *r, const api_ctr_t *c, int *out) {
  const char *t = api_request_query(r, "t");
  if (t == NULL || t[0] == '\0') {
    *out = stop_timeout(c);
    return 0;
  }
  char *end;
  errno = 0;
  long v = strtol(t, &end, 10);
  if (errno || *end || v < -1 || v > 86400 * 365) {
    api_reply_error(r, 400, "invalid value for t: \"%s\" (seconds, -1 to wait without limit)", t);
    return -1;
  }
  *out = (int)v;
  return 0;
}

void api_handle_ctr_stop(api_request_t *r) {
  api_app_t *app = api_request_userdata(r);
  api_ctr_t *c = ctr_from_request(r);
  int t;
  if (c == NULL || parse_timeout(r, c, &t) < 0)
    return;
  api_request_ref(r);
  ctr_stop(app, c, t, ctr_reply_done, r);
  api_request_suspend(r, 0, NULL);
}

void api_handle_ctr_kill(api_request_t *r) {
  api_app_t *app = api_request_userdata(r);
  api_ctr_t *c = ctr_from_request(r);
  if (c == NULL)
    return;
  const char *s = api_request_query(r, "signal");
  int sig = SIGKILL;
  if (s && s[0]) {
    sig = ctr_parse_signal(s);
    if (sig < 0) {
      api_reply_error(r, 400, "Invalid signal: %s", s);
      return;
    }
  }
  api_request_ref(r);
  ctr_signal(app, c, sig, ctr_reply_done, r);
  api_request_suspend(r, 0, NULL);
}

void ctr_signal(api_app_t *app, api_ctr_t *c, int sig, ctr_done_fn done, void *ud) {
  if (c->restart_pending && c->status != CTR_RUNNING) {
    /* no process to signal: dockerd marks it stopped by hand and answers */
    ctr_restart_manual_kill(app, c, sig);
    done(app, c->id, 204, NULL, ud);
    return;
  }
  if (c->status != CTR_RUNNING) {
    char msg[160];
    snprintf(msg, sizeof msg, "Container %s is not running", c->id);
    done(app, c->id, 409, msg, ud);
    return;
  }
  sigwait_t *op = op_new(app, c, done, ud);
  if (op == NULL) {
    done(app, c->id, 500, "out of memory", ud);
    return;
  }
  /* SIGKILL: answered at the exit (the grace timer bounds the wait); others once delivered. */
  op->answer_on_signal = sig != SIGKILL;
  ctr_restart_manual_kill(app, c, sig);
  if (send_signal(op, sig) == 0 && sig == SIGKILL)
    arm(op, KILL_GRACE_USEC, on_grace);
}

/* ---- restart: stop (if running), then start ---- */

typedef struct {
  api_app_t *app;
  ctr_done_fn done;
  void *ud;
} restart_t;

static void restart_started(api_app_t *app, const char *id, unsigned status, const char *msg, void *ud) {
  restart_t *rs = ud;
  api_ctr_t *c = ctr_by_id(app, id);
  if (c && c->rt)
    c->rt->restarting = false;
  if (c && status < 300)
    api_event_ctr(c, "restart", NULL);
  rs->done(app, id, status == 304 ? 204 : status, msg, rs->ud);
  free(rs);
}

static void restart_stopped(api_app_t *app, const char *id, unsigned status, const char *msg, void *ud) {
  restart_t *rs = ud;
  api_ctr_t *c = ctr_by_id(app, id);
  if (c == NULL || (status != 204 && status != 304)) {
    if (c && c->rt)
      c->rt->restarting = false;
    rs->done(app, id, c ? status : 404, c ? msg : "the container was removed during its restart", rs->ud);
    free(rs);
    return;
  }
  ctr_start(app, c, restart_started, rs);
}

void api_handle_ctr_restart(api_request_t *r) {
  api_app_t *app = api_request_userdata(r);
  api_ctr_t *c = ctr_from_request(r);
  int t;
  if (c == NULL || parse_timeout(r, c, &t) < 0)
    return;
  if (c->status == CTR_REMOVING) {
    api_reply_error(r, 409, "removal of container %s is already in progress", c->id);
    return;
  }
  restart_t *rs = calloc(1, sizeof *rs);
  ctr_runtime_t *rt = ctr_rt(app, c);
  if (rs == NULL || rt == NULL) {
    free(rs);
    api_reply_error(r, 500, "out of memory");
    return;
  }
  rs->app = app;
  rs->done = ctr_reply_done;
  rs->ud = api_request_ref(r);
  rt->restarting = true;
  ctr_stop(app, c, t, restart_stopped, rs);
  api_request_suspend(r, 0, NULL);
}
