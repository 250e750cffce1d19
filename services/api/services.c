/* GET /berth/v1/services: how the executor sees each service (pid, ids,
 * capabilities, seccomp mode), asked over the exec edge with
 * SERVICES_STATUS. The HTTP request is suspended until the reply comes. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "app.h"
#include "log.h"

static const char *peer_label(Berth__Ipc__Peer p) {
  switch (p) {
  case BERTH__IPC__PEER__PEER_EXEC: return "exec";
  case BERTH__IPC__PEER__PEER_API: return "api";
  case BERTH__IPC__PEER__PEER_IMAGE: return "image";
  case BERTH__IPC__PEER__PEER_NET: return "net";
  default: return "unknown";
  }
}

/* CLOCK_REALTIME microseconds as RFC 3339 with nanoseconds, UTC; 0 is
 * Go's zero time, which is what Docker prints for "never". */
static void format_usec(int64_t usec, char *buf, size_t len) {
  if (usec <= 0) {
    snprintf(buf, len, "0001-01-01T00:00:00Z");
    return;
  }
  time_t sec = (time_t)(usec / 1000000);
  struct tm tm;
  gmtime_r(&sec, &tm);
  char base[32];
  strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf, len, "%s.%09" PRId64 "Z", base, (usec % 1000000) * 1000);
}

static void add_caps(struct json_object *o, const char *key, uint64_t caps) {
  char hex[17];
  snprintf(hex, sizeof hex, "%016" PRIx64, caps);
  json_object_object_add(o, key, json_object_new_string(hex));
}

static struct json_object *render_service(const Berth__Ipc__ServiceInfo *si) {
  struct json_object *o = json_object_new_object();
  if (o == NULL)
    return NULL;
  char started[64];
  format_usec(si->started_usec, started, sizeof started);
  json_object_object_add(o, "Name", json_object_new_string(si->name ? si->name : ""));
  json_object_object_add(o, "Peer", json_object_new_string(peer_label(si->peer)));
  json_object_object_add(o, "Pid", json_object_new_int64(si->pid));
  json_object_object_add(o, "Uid", json_object_new_int64(si->uid));
  json_object_object_add(o, "Gid", json_object_new_int64(si->gid));
  add_caps(o, "CapEff", si->cap_eff);
  add_caps(o, "CapPrm", si->cap_prm);
  add_caps(o, "CapBnd", si->cap_bnd);
  add_caps(o, "CapAmb", si->cap_amb);
  json_object_object_add(o, "Seccomp", json_object_new_int64(si->seccomp_mode));
  json_object_object_add(o, "NoNewPrivs", json_object_new_boolean(si->no_new_privs));
  json_object_object_add(o, "OwnUserNamespace", json_object_new_boolean(si->own_user_namespace));
  json_object_object_add(o, "UidMap", json_object_new_string(si->uid_map ? si->uid_map : ""));
  json_object_object_add(o, "Restarts", json_object_new_int64(si->restarts));
  json_object_object_add(o, "State", json_object_new_string(si->state ? si->state : ""));
  json_object_object_add(o, "StartedAt", json_object_new_string(started));
  return o;
}

struct json_object *api_render_services(const Berth__Ipc__ServicesStatusReply *reply, int exec_known, pid_t exec_pid,
                                        uid_t exec_uid) {
  struct json_object *doc = json_object_new_object();
  struct json_object *list = json_object_new_array();
  struct json_object *exec = json_object_new_object();
  if (!doc || !list || !exec) {
    json_object_put(doc);
    json_object_put(list);
    json_object_put(exec);
    return NULL;
  }
  for (size_t i = 0; reply && i < reply->n_services; i++) {
    struct json_object *s = render_service(reply->services[i]);
    if (s == NULL || json_object_array_add(list, s) < 0) {
      json_object_put(s);
      json_object_put(doc);
      json_object_put(list);
      json_object_put(exec);
      return NULL;
    }
  }
  json_object_object_add(doc, "Services", list);
  json_object_object_add(exec, "Pid", json_object_new_int64(exec_known ? exec_pid : 0));
  json_object_object_add(exec, "Uid", json_object_new_int64(exec_known ? (int64_t)exec_uid : -1));
  json_object_object_add(doc, "Executor", exec);
  return doc;
}

static void on_status_reply(berth_conn_t *c, berth_msg_t *reply, void *userdata) {
  api_request_t *r = userdata;
  if (!api_request_pending(r)) {
    /* Timed out, or the client went away: nothing to answer. */
  } else if (reply == NULL) {
    api_reply_error(r, 503, "the connection to berth-execd closed before it answered");
  } else if (reply->env->op_case == BERTH__IPC__ENVELOPE__OP_SERVICES_STATUS_REPLY) {
    api_app_t *app = api_request_userdata(r);
    api_reply_json(r, 200,
                   api_render_services(reply->env->services_status_reply, app->exec_known, app->exec_pid,
                                       app->exec_uid));
  } else if (reply->env->op_case == BERTH__IPC__ENVELOPE__OP_ERROR) {
    const Berth__Ipc__Error *e = reply->env->error;
    api_reply_error(r, 500, "berth-execd refused the status request: %s (errno %d)",
                    e->message && e->message[0] ? e->message : "no message", (int)e->errno_code);
  } else {
    api_reply_error(r, 500, "berth-execd sent an unexpected reply (%s) to the status request",
                    berth_op_name(reply->env->op_case));
  }
  if (reply)
    berth_msg_release(reply);
  api_request_unref(r);
}

void api_handle_berth_services(api_request_t *r) {
  api_app_t *app = api_request_userdata(r);
  berth_conn_t *c = app->svc ? berth_service_exec_conn(app->svc) : NULL;
  if (c == NULL || !berth_conn_is_ready(c)) {
    api_reply_error(r, 503, "berth-execd is not reachable from berth-apid");
    return;
  }
  Berth__Ipc__ServicesStatusRequest req = BERTH__IPC__SERVICES_STATUS_REQUEST__INIT;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_SERVICES_STATUS;
  env.services_status = &req;
  berth_error_t err = NULL;
  api_request_ref(r);
  if (berth_conn_call(c, &env, NULL, 0, on_status_reply, r, &err) < 0) {
    api_request_unref(r);
    api_reply_error(r, 503, "cannot ask berth-execd: %s", err && err->msg ? err->msg : "unknown error");
    berth_error_release(&err);
    return;
  }
  api_request_suspend(r, API_EXEC_TIMEOUT_USEC, "berth-execd did not answer the status request within 10 s");
}
