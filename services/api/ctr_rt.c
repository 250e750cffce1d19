/* The runtime state of a container (c->rt), lookups for the runtime
 * handlers, and the executor calls they share (ctr_rt.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ctr_rt.h"
#include "log.h"

struct ctr_hook {
  ctr_hook_fn fn;
  void *ud;
  ctr_hook_t *next;
};

ctr_runtime_t *ctr_rt(api_app_t *app, api_ctr_t *c) {
  if (c->rt)
    return c->rt;
  ctr_runtime_t *rt = calloc(1, sizeof *rt);
  if (rt == NULL)
    return NULL;
  rt->app = app;
  rt->c = c;
  rt->chan_fd = -1;
  c->rt = rt;
  return rt;
}

int ctr_on_exit(api_app_t *app, api_ctr_t *c, ctr_hook_fn fn, void *ud) {
  ctr_runtime_t *rt = ctr_rt(app, c);
  ctr_hook_t *h = rt ? calloc(1, sizeof *h) : NULL;
  if (h == NULL)
    return -1;
  h->fn = fn;
  h->ud = ud;
  /* appended: continuations run in the order they were asked for */
  ctr_hook_t **pp = &rt->hooks;
  while (*pp)
    pp = &(*pp)->next;
  *pp = h;
  return 0;
}

void ctr_rt_run_hooks(api_app_t *app, api_ctr_t *c, bool exited) {
  if (c->rt == NULL)
    return;
  ctr_hook_t *h = c->rt->hooks;
  c->rt->hooks = NULL;
  while (h) {
    ctr_hook_t *next = h->next;
    h->fn(app, c, exited, h->ud);
    free(h);
    h = next;
  }
}

void ctr_rt_release(api_app_t *app, api_ctr_t *c, bool removed) {
  ctr_runtime_t *rt = c->rt;
  if (rt == NULL)
    return;
  /* Hooks first: each may answer a request that looks at c. Loop: a hook may queue another. */
  for (int i = 0; i < 8 && rt->hooks; i++)
    ctr_rt_run_hooks(app, c, false);
  ctr_attach_end_all(rt);
  ctr_logs_release(rt);
  if (removed)
    ctr_wait_removed(rt);
  ctr_wait_release(rt);
  ctr_chan_close(rt);
  sd_event_source_disable_unref(rt->poll);
  free(rt->stdin_buf);
  free(rt);
  c->rt = NULL;
}

api_ctr_t *ctr_by_id(api_app_t *app, const char *id) {
  if (app->ctrs == NULL || strlen(id) != 64)
    return NULL;
  berth_error_t err = NULL;
  api_ctr_t *c = ctr_lookup(app->ctrs, id, &err);
  berth_error_release(&err);
  return c && strcmp(c->id, id) == 0 ? c : NULL;
}

api_ctr_t *ctr_from_request(api_request_t *r) {
  api_app_t *app = api_request_userdata(r);
  char name[256];
  if (api_match_param(api_request_match(r), "name", name, sizeof name) < 0) {
    api_reply_error(r, 404, "No such container: (name too long)");
    return NULL;
  }
  if (app->ctrs == NULL) {
    api_reply_error(r, 503, "the container store is not open (see berth-apid's log)");
    return NULL;
  }
  berth_error_t err = NULL;
  api_ctr_t *c = ctr_lookup(app->ctrs, name, &err);
  if (c == NULL) {
    api_reply_error(r, 404, "%s", err && err->msg ? err->msg : "No such container");
    berth_error_release(&err);
  }
  return c;
}

void ctr_persist(api_app_t *app, api_ctr_t *c) {
  berth_error_t err = NULL;
  if (ctr_save(app->ctrs, c, &err) < 0) {
    log_err("container %.12s: cannot save its state: %s", c->id, err && err->msg ? err->msg : "?");
    berth_error_release(&err);
  }
}

bool ctr_config_bool(const api_ctr_t *c, const char *key) {
  struct json_object *v;
  return c->config && json_object_object_get_ex(c->config, key, &v) && json_object_get_boolean(v);
}

bool ctr_hostconfig_bool(const api_ctr_t *c, const char *key) {
  struct json_object *v;
  return c->host_config && json_object_object_get_ex(c->host_config, key, &v) && json_object_get_boolean(v);
}

bool ctr_tty(const api_ctr_t *c) {
  return ctr_config_bool(c, "Tty");
}

/* ---- executor calls ---- */

int ctr_reply_errno(const berth_msg_t *reply, const char **msg) {
  if (reply == NULL) {
    *msg = "berth-execd went away before it answered (it is being restarted); try again";
    return EPIPE;
  }
  if (reply->env->op_case == BERTH__IPC__ENVELOPE__OP_ERROR) {
    const Berth__Ipc__Error *e = reply->env->error;
    *msg = e->message && e->message[0] ? e->message : strerror(e->errno_code);
    return e->errno_code ? e->errno_code : EIO;
  }
  *msg = "berth-execd sent an unexpected reply";
  return EPROTO;
}

int ctr_exec_call(api_app_t *app, berth_envelope_t *env, const int *fds, size_t nfds, berth_reply_cb cb, void *ud,
                  berth_error_t *err) {
  berth_conn_t *conn = app->test_exec_conn;
  if (conn == NULL && app->svc)
    conn = berth_service_exec_conn(app->svc);
  if (conn == NULL)
    return berth_error_make(err, EAGAIN, "berth-execd is not connected (it is being restarted); try again");
  return berth_conn_call(conn, env, fds, nfds, cb, ud, err);
}

typedef struct {
  api_app_t *app;
  char id[65];
  ctr_state_fn cb;
  void *ud;
} state_call_t;

static void on_state_reply(berth_conn_t *conn, berth_msg_t *reply, void *userdata) {
  state_call_t *sc = userdata;
  const char *msg = NULL;
  int e = 0;
  const Berth__Ipc__ContainerStateReply *st = NULL;
  if (reply && reply->env->op_case == BERTH__IPC__ENVELOPE__OP_CONTAINER_STATE_REPLY)
    st = reply->env->container_state_reply;
  else if (reply && reply->env->op_case == BERTH__IPC__ENVELOPE__OP_OK)
    st = NULL;
  else
    e = ctr_reply_errno(reply, &msg);
  sc->cb(sc->app, sc->id, e, msg, st, sc->ud);
  if (reply)
    berth_msg_release(reply);
  free(sc);
}

static int state_call(api_app_t *app, const char *id, berth_envelope_t *env, ctr_state_fn cb, void *ud,
                      berth_error_t *err) {
  state_call_t *sc = calloc(1, sizeof *sc);
  if (sc == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  sc->app = app;
  snprintf(sc->id, sizeof sc->id, "%s", id);
  sc->cb = cb;
  sc->ud = ud;
  if (ctr_exec_call(app, env, NULL, 0, on_state_reply, sc, err) < 0) {
    free(sc);
    return -1;
  }
  return 0;
}

int ctr_exec_signal(api_app_t *app, const char *id, int sig, ctr_state_fn cb, void *ud, berth_error_t *err) {
  Berth__Ipc__ContainerSignalRequest q = BERTH__IPC__CONTAINER_SIGNAL_REQUEST__INIT;
  q.id = (char *)id;
  q.signal = sig;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_CONTAINER_SIGNAL;
  env.container_signal = &q;
  return state_call(app, id, &env, cb, ud, err);
}

int ctr_exec_state(api_app_t *app, const char *id, bool with_size, ctr_state_fn cb, void *ud, berth_error_t *err) {
  Berth__Ipc__ContainerStateRequest q = BERTH__IPC__CONTAINER_STATE_REQUEST__INIT;
  q.id = (char *)id;
  q.with_size = with_size;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_CONTAINER_STATE;
  env.container_state = &q;
  return state_call(app, id, &env, cb, ud, err);
}

int ctr_exec_delete(api_app_t *app, const char *id, ctr_state_fn cb, void *ud, berth_error_t *err) {
  Berth__Ipc__ContainerDeleteRequest q = BERTH__IPC__CONTAINER_DELETE_REQUEST__INIT;
  q.id = (char *)id;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_CONTAINER_DELETE;
  env.container_delete = &q;
  return state_call(app, id, &env, cb, ud, err);
}
