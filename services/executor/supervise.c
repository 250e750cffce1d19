/* Supervision: fork + exec of each service with its edge at fd 3, restart
 * with backoff when one dies, the Hello check, and the service<->service
 * edges (AttachPeer). Nothing a peer sends can make execd exit: a
 * misbehaving service is cut off, killed and restarted. */
#include <time.h>
#include "executor.h"

#define USEC_MS 1000ULL
#define BACKOFF_MIN_USEC (200 * USEC_MS)
#define BACKOFF_MAX_USEC (5000 * USEC_MS)
#define STABLE_USEC (10000 * USEC_MS)    /* up this long: next restart is fast again */
#define HELLO_TIMEOUT_USEC (15000 * USEC_MS)
#define STOP_TIMEOUT_USEC (5000 * USEC_MS)
#define REAP_CHECK_USEC (2000 * USEC_MS)

/* Service-to-service edges that execd creates (DESIGN.md). */
static const Berth__Ipc__Peer peer_edges[][2] = {{BERTH__IPC__PEER__PEER_API, BERTH__IPC__PEER__PEER_IMAGE},
                                                  {BERTH__IPC__PEER__PEER_API, BERTH__IPC__PEER__PEER_NET}};

static const struct { Berth__Ipc__Peer peer; const char *name; } service_names[EXECD_NSERVICES] = {
    {BERTH__IPC__PEER__PEER_API, "berth-apid"}, {BERTH__IPC__PEER__PEER_IMAGE, "berth-imaged"},
    {BERTH__IPC__PEER__PEER_NET, "berth-netd"}};

static void spawn(service_t *s);

static uint64_t now_usec(clockid_t clk) {
  struct timespec ts;
  clock_gettime(clk, &ts);
  return (uint64_t)ts.tv_sec * 1000000ULL + (uint64_t)ts.tv_nsec / 1000ULL;
}

service_t *execd_service(execd_t *x, Berth__Ipc__Peer peer) {
  for (int i = 0; i < EXECD_NSERVICES; i++)
    if (x->svc[i].peer == peer)
      return &x->svc[i];
  return NULL;
}

static void set_timer(service_t *s, uint64_t usec, sd_event_time_handler_t cb) {
  s->timer = sd_event_source_disable_unref(s->timer);
  if (cb && sd_event_add_time_relative(s->x->event, &s->timer, CLOCK_MONOTONIC, usec, 0, cb, s) < 0)
    log_err("%s: cannot arm a timer; it will not be restarted", s->name);
}

/* Signals by pidfd (sd-event), so a recycled pid can never be hit. */
static void svc_kill(service_t *s, int sig) {
  if (s->pid > 0 && s->child)
    sd_event_source_send_child_signal(s->child, sig, NULL, 0);
}

static void drop_conn(service_t *s) {
  berth_conn_t *c = s->conn;
  s->conn = NULL; /* before closing: on_close must see that it is stale */
  berth_conn_close(c);
}

static void check_stopped(execd_t *x) {
  for (int i = 0; i < EXECD_NSERVICES; i++)
    if (x->svc[i].pid > 0)
      return;
  sd_event_exit(x->event, 0);
}

static int on_stop_timeout(sd_event_source *src, uint64_t usec, void *userdata) {
  execd_t *x = userdata;
  for (int i = 0; i < EXECD_NSERVICES; i++)
    if (x->svc[i].pid > 0) {
      log_warn("%s did not stop in time, killing it", x->svc[i].name);
      svc_kill(&x->svc[i], SIGKILL);
    }
  return 0;
}

void execd_stop_all(execd_t *x) {
  if (x->stopping)
    return;
  x->stopping = true;
  sd_notify(0, "STOPPING=1");
  for (int i = 0; i < EXECD_NSERVICES; i++) {
    service_t *s = &x->svc[i];
    set_timer(s, 0, NULL);
    s->state = SVC_STOPPED;
    svc_kill(s, SIGTERM);
  }
  sd_event_add_time_relative(x->event, &x->stop_timer, CLOCK_MONOTONIC, STOP_TIMEOUT_USEC, 0, on_stop_timeout, x);
  check_stopped(x);
}

static int on_restart_timer(sd_event_source *src, uint64_t usec, void *userdata) {
  service_t *s = userdata;
  s->restarts++;
  log_info("restarting %s (restart %u)", s->name, s->restarts);
  spawn(s);
  return 0;
}

/* Backoff: fast for a service that was up a while, doubling for one that
 * keeps dying, capped so it always comes back within a few seconds. */
static void schedule_restart(service_t *s) {
  if (now_usec(CLOCK_MONOTONIC) - s->started_mono >= STABLE_USEC)
    s->backoff_usec = BACKOFF_MIN_USEC;
  uint64_t delay = s->backoff_usec;
  s->backoff_usec = delay * 2 > BACKOFF_MAX_USEC ? BACKOFF_MAX_USEC : delay * 2;
  s->state = SVC_BACKOFF;
  set_timer(s, delay, on_restart_timer);
  status_notify(s->x);
}

static int on_child(sd_event_source *src, const siginfo_t *si, void *userdata) {
  service_t *s = userdata;
  int prio = s->x->stopping ? LOG_INFO : LOG_WARNING;
  if (si->si_code == CLD_EXITED)
    berth_log(prio, "%s (pid %d) exited with status %d%s", s->name, (int)s->pid, si->si_status,
              si->si_status == DEMOTE_FAILED ? " (demotion failed, see above)" : "");
  else
    berth_log(prio, "%s (pid %d) was killed by signal %d (%s)", s->name, (int)s->pid, si->si_status,
              strsignal(si->si_status));
  s->child = sd_event_source_unref(s->child);
  s->pid = 0;
  drop_conn(s);
  if (s->x->stopping) {
    check_stopped(s->x);
    return 0;
  }
  schedule_restart(s);
  return 0;
}

static void on_attach_reply(berth_conn_t *c, berth_msg_t *reply, void *userdata) {
  service_t *s = userdata;
  if (reply && reply->env->op_case == BERTH__IPC__ENVELOPE__OP_ERROR)
    log_warn("%s refused a peer edge: %s", s->name, reply->env->error->message);
  if (reply)
    berth_msg_release(reply);
}

static void send_attach(service_t *to, Berth__Ipc__Peer peer, int fd) {
  Berth__Ipc__AttachPeer ap = BERTH__IPC__ATTACH_PEER__INIT;
  ap.peer = peer;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_ATTACH_PEER;
  env.attach_peer = &ap;
  berth_error_t err = NULL;
  if (berth_conn_call(to->conn, &env, &fd, 1, on_attach_reply, to, &err) < 0) {
    log_warn("cannot hand %s its edge to %s: %s", to->name, berth_peer_name(peer), err ? err->msg : "?");
    berth_error_release(&err);
  }
}

/* A fresh pair for every (re)start: the survivor drops its old edge. */
static void attach_edges(service_t *s) {
  for (size_t i = 0; i < sizeof peer_edges / sizeof peer_edges[0]; i++) {
    Berth__Ipc__Peer other;
    if (peer_edges[i][0] == s->peer)
      other = peer_edges[i][1];
    else if (peer_edges[i][1] == s->peer)
      other = peer_edges[i][0];
    else
      continue;
    service_t *o = execd_service(s->x, other);
    if (o->state != SVC_RUNNING || o->conn == NULL)
      continue;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
      log_err("socketpair for %s<->%s: %s", s->name, o->name, strerror(errno));
      continue;
    }
    send_attach(s, other, sv[0]);
    send_attach(o, s->peer, sv[1]);
    close(sv[0]);
    close(sv[1]);
  }
}

/* The service said Hello: only now is it trusted to be what we exec'd, and
 * only if /proc shows the demotion held. */
static void on_ready(berth_conn_t *c, const Berth__Ipc__Hello *hello, void *userdata) {
  service_t *s = userdata;
  proc_status_t st;
  expect_t want;
  berth_error_t err = NULL;
  demote_expect(s, &want);
  if (status_read(s->pid, &st, &err) < 0 || status_verify(&st, &want, &err) < 0) {
    log_err("%s (pid %d) failed the demotion check: %s; killing it", s->name, (int)s->pid, err ? err->msg : "?");
    berth_error_release(&err);
    svc_kill(s, SIGKILL);
    return;
  }
  set_timer(s, 0, NULL);
  s->state = SVC_RUNNING;
  log_info("%s (pid %d) is up", s->name, (int)s->pid);
  attach_edges(s);
  status_notify(s->x);
}

static void on_close(berth_conn_t *c, void *userdata) {
  service_t *s = userdata;
  if (c != s->conn)
    return;
  s->conn = NULL;
  if (s->pid > 0 && !s->x->stopping) {
    log_debug("%s (pid %d): its edge closed; making sure it is gone", s->name, (int)s->pid);
    svc_kill(s, SIGKILL);
  }
}

/* LayerCheck: can every layer be opened below our own store root? */
static void layer_check(execd_t *x, berth_conn_t *c, const berth_msg_t *req) {
  const Berth__Ipc__LayerCheckRequest *lc = req->env->layer_check;
  berth_error_t err = NULL;
  if (layers_check(x->image_fd, lc ? lc->chain_ids : NULL, lc ? lc->n_chain_ids : 0, &err) < 0) {
    berth_conn_reply_error(c, req->env->request_id, err->status ? err->status : EIO, "%s", err->msg);
    berth_error_release(&err);
    return;
  }
  Berth__Ipc__Ok ok = BERTH__IPC__OK__INIT;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_OK;
  env.ok = &ok;
  if (berth_conn_reply(c, req->env->request_id, &env, NULL, 0, &err) < 0) {
    log_warn("LayerCheck reply: %s", err ? err->msg : "?");
    berth_error_release(&err);
  }
}

/* Ping is answered inside conn; the dispatch table let only apid get here. */
static void on_request(berth_conn_t *c, berth_msg_t *req, void *userdata) {
  uint64_t id = req->env->request_id;
  if (req->env->op_case >= BERTH__IPC__ENVELOPE__OP_CONTAINER_CREATE &&
      req->env->op_case <= BERTH__IPC__ENVELOPE__OP_CONTAINER_LOG_OPEN)
    return container_request(((service_t *)userdata)->x, c, req);
  if (req->env->op_case == BERTH__IPC__ENVELOPE__OP_SERVICES_STATUS)
    status_reply(((service_t *)userdata)->x, c, id);
  else if (req->env->op_case == BERTH__IPC__ENVELOPE__OP_LAYER_CHECK)
    layer_check(((service_t *)userdata)->x, c, req);
  else
    berth_conn_reply_error(c, id, ENOSYS, "%s is not served by the executor", berth_op_name(req->env->op_case));
  berth_msg_release(req);
}

static int on_hello_timeout(sd_event_source *src, uint64_t usec, void *userdata) {
  service_t *s = userdata;
  log_err("%s (pid %d) did not say Hello in time; killing it", s->name, (int)s->pid);
  svc_kill(s, SIGKILL);
  return 0;
}

/* Parent side after fork: watch the child, map imaged's ids, open the edge. */
static int adopt(service_t *s, int edge, int sync_fd, berth_error_t *err) {
  int r = sd_event_add_child(s->x->event, &s->child, s->pid, WEXITED, on_child, s);
  if (r < 0) {
    close(edge);
    kill(s->pid, SIGKILL); /* not reaped yet: the pid is still ours */
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
    return berth_error_make(err, -r, "watching the child: %s", strerror(-r));
  }
  if (sync_fd >= 0 && demote_write_maps(s, sync_fd, err) < 0) {
    close(edge);
    return -1;
  }
  berth_conn_config_t cfg = {.self = BERTH__IPC__PEER__PEER_EXEC, .remote = s->peer, .on_request = on_request,
                             .on_ready = on_ready, .on_close = on_close, .userdata = s};
  s->conn = berth_conn_new(s->x->event, edge, &cfg, err);
  return s->conn ? 0 : -1;
}

static void spawn(service_t *s) {
  berth_error_t err = NULL;
  int sv[2] = {-1, -1}, sync[2] = {-1, -1};
  bool userns = s->peer == BERTH__IPC__PEER__PEER_IMAGE;
  s->started_mono = now_usec(CLOCK_MONOTONIC);
  s->started_real = (int64_t)now_usec(CLOCK_REALTIME);
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 ||
      (userns && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sync) < 0)) {
    berth_error_errno(&err, "socketpair");
    goto fail;
  }
  s->pid = fork();
  if (s->pid < 0) {
    s->pid = 0;
    berth_error_errno(&err, "fork");
    goto fail;
  }
  if (s->pid == 0)
    demote_exec(s, sv[1], sync[1]);
  close(sv[1]);
  if (sync[1] >= 0)
    close(sync[1]);
  s->state = SVC_STARTING;
  int r = adopt(s, sv[0], sync[0], &err);
  if (sync[0] >= 0)
    close(sync[0]);
  if (r < 0) {
    log_err("starting %s: %s", s->name, err ? err->msg : "?");
    berth_error_release(&err);
    svc_kill(s, SIGKILL); /* on_child restarts it */
    if (s->pid == 0)
      schedule_restart(s);
    return;
  }
  log_info("started %s (pid %d)", s->name, (int)s->pid);
  set_timer(s, HELLO_TIMEOUT_USEC, on_hello_timeout);
  status_notify(s->x);
  return;
fail:
  log_err("starting %s: %s", s->name, err ? err->msg : "?");
  berth_error_release(&err);
  for (int i = 0; i < 2; i++) {
    if (sv[i] >= 0)
      close(sv[i]);
    if (sync[i] >= 0)
      close(sync[i]);
  }
  schedule_restart(s);
}

/* The binaries are opened once, here: what runs later is what was
 * checked now, whatever happens to the directory afterwards. */
int execd_open_binary(execd_t *x, const char *name, int *out, berth_error_t *err) {
  cleanup_close int dir = open(x->libexec_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  cleanup_close int fd = dir < 0 ? -1 : openat(dir, name, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0)
    return berth_error_errno(err, "open %s/%s", x->libexec_dir, name);
  if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & (S_IWGRP | S_IWOTH)))
    return berth_error_make(err, EPERM, "%s/%s must be a regular file owned by root, writable only by root",
                            x->libexec_dir, name);
  *out = berth_steal_fd(&fd);
  return 0;
}

/* A service that dies while ptraced can be missed by the pidfd watch (its
 * one wake-up comes while the tracer owns the exit): poll for it. */
static int on_reap_timer(sd_event_source *src, uint64_t usec, void *userdata) {
  execd_t *x = userdata;
  for (int i = 0; i < EXECD_NSERVICES; i++) {
    service_t *s = &x->svc[i];
    siginfo_t si = {0};
    if (s->pid > 0 && waitid(P_PID, (id_t)s->pid, &si, WEXITED | WNOHANG) == 0 && si.si_pid == s->pid)
      on_child(s->child, &si, s);
  }
  sd_event_source_set_time_relative(src, REAP_CHECK_USEC);
  return sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
}

int execd_start_all(execd_t *x, berth_error_t *err) {
  for (int i = 0; i < EXECD_NSERVICES; i++) {
    service_t *s = &x->svc[i];
    *s = (service_t){.x = x, .peer = service_names[i].peer, .name = service_names[i].name, .exe_fd = -1,
                     .backoff_usec = BACKOFF_MIN_USEC};
    if (execd_open_binary(x, s->name, &s->exe_fd, err) < 0)
      return -1;
  }
  if (sd_event_add_time_relative(x->event, &x->reap_timer, CLOCK_MONOTONIC, REAP_CHECK_USEC, 0, on_reap_timer, x) < 0)
    return berth_error_make(err, ENOMEM, "cannot arm the reaping timer");
  for (int i = 0; i < EXECD_NSERVICES; i++)
    spawn(&x->svc[i]);
  return 0;
}
