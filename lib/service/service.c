/* Service start-up and main loop: check what the executor promised, lock the
 * process down, then serve the executor edge and the peer edges it hands us. */
#include "service.h"
#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include "berth.h"
#include "cleanup.h"
#include "demotion.h"
#include "log.h"

#define PEER_SLOTS 5 /* indexed by Berth__Ipc__Peer */

struct berth_service {
  berth_service_config_t cfg;
  char *data_root;
  char *run_root;
  char *config_path;
  struct json_object *config;
  sd_event *event;
  berth_conn_t *exec;
  berth_conn_t *peers[PEER_SLOTS];
};

static const char *service_name(Berth__Ipc__Peer self) {
  switch (self) {
  case BERTH__IPC__PEER__PEER_API:
    return "berth-apid";
  case BERTH__IPC__PEER__PEER_IMAGE:
    return "berth-imaged";
  case BERTH__IPC__PEER__PEER_NET:
    return "berth-netd";
  default:
    return NULL;
  }
}

/* `--data-root DIR --run-root DIR --config FILE` (also --opt=VALUE); each
 * at most once, each an absolute path (services run with cwd /). */
static int parse_args(berth_service_t *s, int argc, char **argv, berth_error_t *err) {
  static const char *const names[] = {"--data-root", "--run-root", "--config"};
  const char *vals[3] = {NULL, NULL, NULL};
  for (int i = 1; argv != NULL && i < argc; i++) {
    const char *arg = argv[i], *val = NULL;
    size_t n = 0;
    int k = -1;
    for (int j = 0; j < 3 && k < 0; j++)
      if (strncmp(arg, names[j], n = strlen(names[j])) == 0 && (arg[n] == '\0' || arg[n] == '='))
        k = j;
    if (k < 0)
      return berth_error_make(err, EINVAL,
                              "unknown argument '%s' (usage: %s --data-root DIR --run-root DIR --config FILE)", arg,
                              argv[0]);
    if (arg[n] == '=')
      val = arg + n + 1;
    else if (i + 1 < argc)
      val = argv[++i];
    else
      return berth_error_make(err, EINVAL, "%s needs %s", names[k], k == 2 ? "a file" : "a directory");
    if (vals[k] != NULL)
      return berth_error_make(err, EINVAL, "%s given twice", names[k]);
    if (val[0] != '/')
      return berth_error_make(err, EINVAL, "%s must be an absolute path, not '%s'", names[k], val);
    vals[k] = val;
  }
  s->data_root = strdup(vals[0] ? vals[0] : BERTH_DEFAULT_DATA_ROOT);
  s->run_root = strdup(vals[1] ? vals[1] : BERTH_DEFAULT_RUN_ROOT);
  s->config_path = strdup(vals[2] ? vals[2] : BERTH_DEFAULT_CONFIG);
  if (s->data_root == NULL || s->run_root == NULL || s->config_path == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  return 0;
}

static void set_peer(berth_service_t *s, Berth__Ipc__Peer p, berth_conn_t *c) {
  if ((unsigned)p < PEER_SLOTS)
    s->peers[p] = c;
}

/* ---- requests ---- */

static void forward_request(berth_service_t *s, berth_conn_t *c, berth_msg_t *req) {
  if (s->cfg.on_request != NULL) {
    s->cfg.on_request(c, req, s->cfg.userdata);
    return;
  }
  berth_conn_reply_error(c, req->env->request_id, EOPNOTSUPP, "%s does not serve %s", service_name(s->cfg.self),
                         berth_op_name(req->env->op_case));
  berth_msg_release(req);
}

static void peer_closed(berth_conn_t *c, void *userdata) {
  berth_service_t *s = userdata;
  for (unsigned p = 0; p < PEER_SLOTS; p++)
    if (s->peers[p] == c) {
      log_info("edge to %s closed", berth_peer_name(p));
      s->peers[p] = NULL;
    }
}

static void peer_request(berth_conn_t *c, berth_msg_t *req, void *userdata) {
  forward_request(userdata, c, req);
}

static void peer_ready(berth_conn_t *c, const Berth__Ipc__Hello *hello, void *userdata) {
  log_info("edge to %s up (peer version %s)", berth_peer_name(berth_conn_remote(c)),
           hello->software_version ? hello->software_version : "?");
}

/* AttachPeer from the executor: a fresh SOCK_SEQPACKET edge to another
 * service (the table already checked the sender, the fd count and type). */
static void attach_peer(berth_service_t *s, berth_conn_t *exec, berth_msg_t *req) {
  uint64_t id = req->env->request_id;
  Berth__Ipc__Peer p = req->env->attach_peer ? req->env->attach_peer->peer : BERTH__IPC__PEER__PEER_UNKNOWN;
  if (p != BERTH__IPC__PEER__PEER_API && p != BERTH__IPC__PEER__PEER_IMAGE && p != BERTH__IPC__PEER__PEER_NET) {
    berth_conn_reply_error(exec, id, EINVAL, "cannot attach peer %d", (int)p);
    berth_msg_release(req);
    return;
  }
  if (p == s->cfg.self) {
    berth_conn_reply_error(exec, id, EINVAL, "cannot attach an edge to myself");
    berth_msg_release(req);
    return;
  }
  int fd = berth_msg_take_fd(req, 0);
  berth_msg_release(req);
  if (fd < 0) {
    berth_conn_reply_error(exec, id, EBADF, "AttachPeer without an fd");
    return;
  }

  /* The old edge is dead or about to be (the other end restarted). */
  berth_conn_t *old = s->peers[p];
  s->peers[p] = NULL;
  berth_conn_close(old);

  berth_error_t e = NULL;
  berth_conn_config_t cc = {
    .self = s->cfg.self,
    .remote = p,
    .on_request = peer_request,
    .on_ready = peer_ready,
    .on_close = peer_closed,
    .userdata = s,
  };
  berth_conn_t *c = berth_conn_new(s->event, fd, &cc, &e);
  if (c == NULL) {
    berth_conn_reply_error(exec, id, e && e->status ? e->status : EIO, "edge to %s: %s", berth_peer_name(p),
                           e && e->msg ? e->msg : "failed");
    berth_error_release(&e);
    return;
  }
  set_peer(s, p, c);
  log_info("attached edge to %s", berth_peer_name(p));
  if (s->cfg.on_peer != NULL)
    s->cfg.on_peer(s, p, c, s->cfg.userdata);

  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  Berth__Ipc__Ok ok = BERTH__IPC__OK__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_OK;
  env.ok = &ok;
  if (berth_conn_reply(exec, id, &env, NULL, 0, &e) < 0)
    berth_error_print(&e, stderr, "replying to AttachPeer");
}

static void exec_request(berth_conn_t *c, berth_msg_t *req, void *userdata) {
  berth_service_t *s = userdata;
  if (req->env->op_case == BERTH__IPC__ENVELOPE__OP_ATTACH_PEER)
    attach_peer(s, c, req);
  else
    forward_request(s, c, req);
}

static void exec_ready(berth_conn_t *c, const Berth__Ipc__Hello *hello, void *userdata) {
  log_info("executor edge up (executor version %s)", hello->software_version ? hello->software_version : "?");
}

static void exec_closed(berth_conn_t *c, void *userdata) {
  berth_service_t *s = userdata;
  if (s->exec != c)
    return;
  s->exec = NULL;
  log_err("executor edge closed; exiting so that the executor restarts us");
  sd_event_exit(s->event, 1);
}

static int on_signal(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata) {
  berth_service_t *s = userdata;
  log_info("received %s, stopping", strsignal((int)si->ssi_signo));
  return sd_event_exit(s->event, 0);
}

/* ---- start-up ---- */

static int setup_loop(berth_service_t *s, berth_error_t *err) {
  int r = sd_event_new(&s->event);
  if (r < 0)
    return berth_error_make(err, -r, "sd_event_new: %s", strerror(-r));
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
    return berth_error_errno(err, "sigprocmask");
  /* Signals before I/O: a SIGTERM that arrives with the executor's EOF is a
   * clean stop (exit 0), not a lost edge. */
  for (int i = 0; i < 2; i++) {
    sd_event_source *src = NULL;
    r = sd_event_add_signal(s->event, &src, i ? SIGINT : SIGTERM, on_signal, s);
    if (r >= 0)
      r = sd_event_source_set_priority(src, SD_EVENT_PRIORITY_IMPORTANT);
    if (r >= 0)
      r = sd_event_source_set_floating(src, 1);
    sd_event_source_unref(src);
    if (r < 0)
      return berth_error_make(err, -r, "sd_event_add_signal: %s", strerror(-r));
  }

  berth_conn_config_t cc = {
    .self = s->cfg.self,
    .remote = BERTH__IPC__PEER__PEER_EXEC,
    .on_request = exec_request,
    .on_ready = exec_ready,
    .on_close = exec_closed,
    .userdata = s,
  };
  s->exec = berth_conn_new(s->event, BERTH_FD_EXEC_EDGE, &cc, err);
  if (s->exec == NULL)
    return berth_error_wrap(err, "executor edge");
  return 0;
}

static void service_free(berth_service_t *s) {
  if (s == NULL)
    return;
  for (unsigned p = 0; p < PEER_SLOTS; p++) {
    berth_conn_t *c = s->peers[p];
    s->peers[p] = NULL;
    berth_conn_close(c);
  }
  berth_conn_t *c = s->exec;
  s->exec = NULL;
  berth_conn_close(c);
  sd_event_unref(s->event);
  free(s->data_root);
  free(s->run_root);
  free(s->config_path);
  json_object_put(s->config);
  free(s);
}

int berth_service_start(const berth_service_config_t *cfg, berth_service_t **out, berth_error_t *err) {
  const char *name = service_name(cfg->self);
  if (name == NULL)
    return berth_error_make(err, EINVAL, "not a service: peer %d", (int)cfg->self);
  berth_log_init(name);

  berth_service_t *s = calloc(1, sizeof *s);
  if (s == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  s->cfg = *cfg;

  /* SIGPIPE would kill us on a peer that went away mid-send. */
  signal(SIGPIPE, SIG_IGN);

  int r = parse_args(s, cfg->argc, cfg->argv, err);
  if (r >= 0)
    r = berth_demotion_check(cfg->self, err);
  /* Before the sandbox: reading a file must not depend on the filter. */
  if (r >= 0)
    r = berth_config_load(s->config_path, &s->config, err);
  if (r >= 0 && (r = berth_sandbox_apply(cfg->self, err)) < 0)
    berth_error_wrap(err, "seccomp");
  if (r >= 0)
    r = setup_loop(s, err);
  if (r < 0) {
    service_free(s);
    return berth_error_wrap(err, "%s refuses to start", name);
  }
  log_info("started (data root %s, run root %s, config %s), sandboxed", s->data_root, s->run_root, s->config_path);
  *out = s;
  return 0;
}

sd_event *berth_service_event(berth_service_t *s) {
  return s->event;
}

berth_conn_t *berth_service_exec_conn(berth_service_t *s) {
  return s->exec;
}

const char *berth_service_data_root(const berth_service_t *s) {
  return s->data_root;
}

const char *berth_service_run_root(const berth_service_t *s) {
  return s->run_root;
}

const char *berth_service_config_path(const berth_service_t *s) {
  return s->config_path;
}

struct json_object *berth_service_config(const berth_service_t *s) {
  return s->config;
}

berth_conn_t *berth_service_peer_conn(berth_service_t *s, Berth__Ipc__Peer peer) {
  return (unsigned)peer < PEER_SLOTS ? s->peers[peer] : NULL;
}

int berth_service_run(berth_service_t *s) {
  int r = sd_event_loop(s->event);
  if (r < 0) {
    log_err("event loop failed: %s", strerror(-r));
    r = 1;
  }
  service_free(s);
  return r;
}
