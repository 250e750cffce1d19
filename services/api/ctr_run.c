/* POST /containers/{id}/start and /resize. Start: the record becomes a
 * ContainerSpec (ctr_spec.c), a fresh SOCK_SEQPACKET socketpair gives the
 * monitor its first channel, and the executor's reply (the container's
 * process exec'd, or Docker's wording of why not) decides. The channel is
 * only read once that reply is in, so an exit that races the reply is
 * seen after the record says running. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "channel.h"
#include "ctr_restart.h"
#include "ctr_rt.h"
#include "events.h"
#include "log.h"

/* Upper bound on a start (layers, mounts, cgroups, exec) before the request fails. */
#define START_TIMEOUT_USEC (120ull * 1000u * 1000u)

typedef struct {
  api_app_t *app;
  char id[65];
  ctr_done_fn done;
  void *ud;
} start_op_t;

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* dockerd's translateContainerdStartErr: a missing command is 127, one that
 * cannot be run 126; both are the client's mistake (400). */
static unsigned start_error_status(int e, const char *msg, int *exit_code) {
  if (strstr(msg, "executable file not found") || strstr(msg, "no such file or directory")) {
    *exit_code = 127;
    return 400;
  }
  if (strstr(msg, "permission denied")) {
    *exit_code = 126;
    return 400;
  }
  if (strstr(msg, "not a directory")) {
    *exit_code = 127;
    return 400;
  }
  *exit_code = 128;
  if (e == EPIPE || e == EAGAIN)
    return 503;
  if (e == ESRCH)
    return 409;
  return api_errno_status(e);
}

static void on_start_reply(berth_conn_t *conn, berth_msg_t *reply, void *userdata) {
  start_op_t *op = userdata;
  api_app_t *app = op->app;
  api_ctr_t *c = ctr_by_id(app, op->id);
  if (c == NULL || c->rt == NULL) {
    op->done(app, op->id, 404, "the container was removed while it started", op->ud);
    goto out;
  }
  ctr_runtime_t *rt = c->rt;
  rt->starting = false;
  if (reply && reply->env->op_case == BERTH__IPC__ENVELOPE__OP_CONTAINER_STATE_REPLY) {
    const Berth__Ipc__ContainerStateReply *st = reply->env->container_state_reply;
    c->status = CTR_RUNNING;
    c->pid = st->pid;
    c->started_ns = st->started_unix_nano > 0 ? st->started_unix_nano : now_ns();
    c->exit_code = 0;
    c->oom_killed = false;
    c->error[0] = '\0';
    if (st->uid_base)
      c->uid_base = st->uid_base;
    ctr_persist(app, c);
    log_info("container %.12s started (pid %d)", c->id, (int)c->pid);
    api_event_ctr(c, "start", NULL); /* before the channel can report the exit */
    ctr_chan_go_live(rt);
    op->done(app, op->id, 204, NULL, op->ud);
    goto out;
  }
  const char *msg = NULL;
  int e = ctr_reply_errno(reply, &msg);
  int exit_code = 0;
  unsigned status = start_error_status(e, msg, &exit_code);
  ctr_chan_close(rt);
  rt->stdin_len = 0;
  rt->stdin_close = false;
  c->exit_code = exit_code;
  snprintf(c->error, sizeof c->error, "%s", msg);
  ctr_persist(app, c);
  log_warn("container %.12s did not start: %s", c->id, msg);
  op->done(app, op->id, status, msg, op->ud);
  /* dockerd removes an AutoRemove container whose start failed (docker run --rm waits for that). */
  c = ctr_by_id(app, op->id);
  if (c && c->status == CTR_CREATED && c->rt && !c->rt->removing && ctr_hostconfig_bool(c, "AutoRemove"))
    ctr_delete_stopped(app, c, ctr_autoremove_done, NULL);
out:
  if (reply)
    berth_msg_release(reply);
  free(op);
}

static int build_spec(api_app_t *app, api_ctr_t *c, Berth__Ipc__ContainerSpec **spec, berth_error_t *err) {
  return ctr_spec_make(c, &app->policy, spec, err);
}

void ctr_start(api_app_t *app, api_ctr_t *c, ctr_done_fn done, void *ud) {
  bool policy_start = ctr_restart_claim_start(c);
  /* restarting counts as running for dockerd: 304 */
  if (c->status == CTR_RUNNING || (c->restart_pending && !policy_start)) {
    done(app, c->id, 304, NULL, ud);
    return;
  }
  if (c->status == CTR_REMOVING) {
    char msg[160];
    snprintf(msg, sizeof msg, "removal of container %s is already in progress", c->id);
    done(app, c->id, 409, msg, ud);
    return;
  }
  ctr_runtime_t *rt = ctr_rt(app, c);
  start_op_t *op = rt ? calloc(1, sizeof *op) : NULL;
  if (op == NULL) {
    done(app, c->id, 500, "out of memory", ud);
    return;
  }
  if (rt->starting) {
    free(op);
    done(app, c->id, 409, "the container is already being started", ud);
    return;
  }
  op->app = app;
  snprintf(op->id, sizeof op->id, "%s", c->id);
  op->done = done;
  op->ud = ud;

  berth_error_t err = NULL;
  Berth__Ipc__ContainerSpec *spec = NULL;
  if (build_spec(app, c, &spec, &err) < 0) {
    int e = err ? err->status : EINVAL;
    unsigned status = e == EPERM ? 403 : e == ENOENT ? 404 : e == EINVAL ? 400 : 500;
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", err && err->msg ? err->msg : "cannot build the container's spec");
    berth_error_release(&err);
    free(op);
    done(app, c->id, status, msg, ud);
    return;
  }
  /* an explicit start resets RestartCount and HasBeenManuallyStopped (dockerd, after the spec) */
  if (!policy_start)
    ctr_restart_reset(c);
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0) {
    char msg[160];
    snprintf(msg, sizeof msg, "cannot create the channel to the container's monitor: %s", strerror(errno));
    ctr_spec_free(spec);
    free(op);
    done(app, c->id, 500, msg, ud);
    return;
  }
  Berth__Ipc__ContainerStartRequest q = BERTH__IPC__CONTAINER_START_REQUEST__INIT;
  q.id = c->id;
  q.spec = spec;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_CONTAINER_START;
  env.container_start = &q;
  int rc = ctr_exec_call(app, &env, &sv[1], 1, on_start_reply, op, &err);
  close(sv[1]);   /* the queued message holds its own copy */
  ctr_spec_free(spec);
  if (rc < 0) {
    char msg[512];
    snprintf(msg, sizeof msg, "cannot ask berth-execd to start the container: %s", err && err->msg ? err->msg : "?");
    berth_error_release(&err);
    close(sv[0]);
    free(op);
    done(app, c->id, 503, msg, ud);
    return;
  }
  rt->starting = true;
  rt->generation++;
  /* The monitor's first channel starts subscribed; read it once the reply is in. */
  ctr_chan_open(rt, sv[0], true, false);
}

/* ---- handlers ---- */

void ctr_reply_done(api_app_t *app, const char *id, unsigned status, const char *msg, void *ud) {
  api_request_t *r = ud;
  if (api_request_pending(r)) {
    if (status < 300 || status == 304)
      api_reply(r, status, NULL, "", 0, NULL);
    else
      api_reply_error(r, status, "%s", msg ? msg : "failed");
  }
  api_request_unref(r);
}

void api_handle_ctr_start(api_request_t *r) {
  api_app_t *app = api_request_userdata(r);
  api_ctr_t *c = ctr_from_request(r);
  if (c == NULL)
    return;
  api_request_ref(r);
  ctr_start(app, c, ctr_reply_done, r);
  api_request_suspend(r, START_TIMEOUT_USEC, "berth-execd did not start the container in time");
}

void api_handle_ctr_resize(api_request_t *r) {
  api_app_t *app = api_request_userdata(r);
  api_ctr_t *c = ctr_from_request(r);
  if (c == NULL)
    return;
  const char *hs = api_request_query(r, "h"), *ws = api_request_query(r, "w");
  char *end1 = NULL, *end2 = NULL;
  long h = hs && *hs ? strtol(hs, &end1, 10) : 0;
  long w = ws && *ws ? strtol(ws, &end2, 10) : 0;
  if ((end1 && *end1) || (end2 && *end2) || h < 0 || w < 0 || h > 65535 || w > 65535) {
    api_reply_error(r, 400, "invalid terminal size: h=%s w=%s", hs ? hs : "", ws ? ws : "");
    return;
  }
  if (c->status != CTR_RUNNING || c->rt == NULL) {
    api_reply_error(r, 409, "Container %s is not running", c->id);
    return;
  }
  if (h > 0 && w > 0) {
    char msg[32];
    int n = snprintf(msg, sizeof msg, "%ld %ld", h, w);
    if (ctr_chan_send(ctr_rt(app, c), CHANNEL_RESIZE, msg, (size_t)n) < 0)
      log_warn("container %.12s: resize not sent to its monitor", c->id);
    else
      api_event_ctr(c, "resize", "height", hs, "width", ws, NULL);
  }
  api_reply(r, 200, "text/plain; charset=utf-8", "", 0, NULL);
}
