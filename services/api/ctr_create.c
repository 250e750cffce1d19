/* POST /containers/create?name=: the request's body is read and checked
 * (ctr_config.c, pure), the image resolved by berth-imaged (ImageResolve:
 * id and chain ids; ImageQuery INSPECT of that id: its Config and size),
 * the configs merged (ctr_merge.c), the name reserved, the executor asked to
 * prepare DATA_ROOT/containers/<id> (ContainerCreate), then the record
 * inserted. Whatever fails on the way, nothing is left behind: no record, no
 * reservation, and the executor is asked to delete what it made. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include "app.h"
#include "ctr_json.h"
#include "events.h"
#include "log.h"

typedef struct {
  api_request_t *r;
  api_app_t *app;
  ctr_create_req_t req;
  char id[65];
  char name[129];      /* asked for ("" = generate) or reserved */
  bool reserved;
  char image_id[72];
  struct json_object *chain_ids;
  int64_t image_size;
} create_t;

static void create_free(create_t *c) {
  if (c->reserved)
    ctr_release_name(c->app->ctrs, c->name);
  ctr_create_req_release(&c->req);
  json_object_put(c->chain_ids);
  api_request_unref(c->r);
  free(c);
}

static unsigned status_of(int e) {
  return e == EPERM ? 403 : e == ENOMEM || e == EIO ? 500 : api_errno_status(e);
}

static void reply_err(api_request_t *r, berth_error_t *err) {
  api_reply_error(r, status_of(*err ? (*err)->status : EIO), "%s", *err && (*err)->msg ? (*err)->msg : "failed");
  berth_error_release(err);
}

/* dockerd's stringid.GenerateRandomID: 64 hex digits whose 12-digit short
 * form is not all decimal (it could be taken for a number). */
static int random_id(char out[65]) {
  for (;;) {
    unsigned char b[32];
    if (getrandom(b, sizeof b, 0) != (ssize_t)sizeof b)
      return -1;
    for (size_t i = 0; i < 32; i++)
      snprintf(out + 2 * i, 3, "%02x", b[i]);
    if (strspn(out, "0123456789") < 12)
      return 0;
  }
}

static void on_exec_deleted(berth_conn_t *conn, berth_msg_t *reply, void *userdata) {
  char *id = userdata;
  if (reply == NULL || reply->env->op_case != BERTH__IPC__ENVELOPE__OP_OK)
    log_err("container %s: the executor did not delete what a failed create left (%s); it stays in "
            "DATA_ROOT/containers until deleted", id,
            reply && reply->env->op_case == BERTH__IPC__ENVELOPE__OP_ERROR ? reply->env->error->message : "no answer");
  if (reply)
    berth_msg_release(reply);
  free(id);
}

/* Asks the executor to delete a container this create made (best effort). */
static void exec_delete(api_app_t *app, const char *id) {
  berth_conn_t *exec = api_app_exec_conn(app);
  char *copy = strdup(id);
  Berth__Ipc__ContainerDeleteRequest q = BERTH__IPC__CONTAINER_DELETE_REQUEST__INIT;
  q.id = copy;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_CONTAINER_DELETE;
  env.container_delete = &q;
  berth_error_t err = NULL;
  if (exec == NULL || copy == NULL || berth_conn_call(exec, &env, NULL, 0, on_exec_deleted, copy, &err) < 0) {
    log_err("container %s: cannot ask the executor to delete what a failed create left: %s", id,
            err ? err->msg : "no executor");
    berth_error_release(&err);
    free(copy);
  }
}

static void on_exec_created(berth_conn_t *conn, berth_msg_t *reply, void *userdata) {
  create_t *c = userdata;
  api_request_t *r = c->r;
  bool made = reply && reply->env->op_case == BERTH__IPC__ENVELOPE__OP_CONTAINER_STATE_REPLY;
  if (!made) {
    if (api_request_pending(r))
      api_reply_ipc_failure(r, reply, "berth-execd", "container create");
    goto out;
  }
  if (!api_request_pending(r)) { /* the client is gone or timed out: undo */
    exec_delete(c->app, c->id);
    goto out;
  }
  api_ctr_t *rec = calloc(1, sizeof *rec);
  berth_error_t err = NULL;
  if (rec == NULL) {
    exec_delete(c->app, c->id);
    api_reply_error(r, 500, "out of memory");
    goto out;
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  memcpy(rec->id, c->id, sizeof rec->id);
  memcpy(rec->name, c->name, sizeof rec->name);
  snprintf(rec->image, sizeof rec->image, "%s", c->req.image);
  memcpy(rec->image_id, c->image_id, sizeof rec->image_id);
  rec->chain_ids = json_object_get(c->chain_ids);
  rec->config = json_object_get(c->req.config);
  rec->host_config = json_object_get(c->req.host_config);
  rec->created_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
  rec->owner_uid = api_request_uid(r);
  rec->status = CTR_CREATED;
  rec->uid_base = reply->env->container_state_reply->uid_base;
  rec->image_size = c->image_size;
  if (ctr_insert(c->app->ctrs, rec, &err) < 0) {
    ctr_free(rec);
    exec_delete(c->app, c->id);
    log_err("container %s: %s", c->id, err ? err->msg : "insert failed");
    reply_err(r, &err);
    goto out;
  }
  c->reserved = false; /* the record holds the name now */
  log_info("container %s (%s) created from %s", c->id, c->name, c->image_id);
  api_event_ctr(rec, "create", NULL);
  struct json_object *o = json_object_new_object();
  json_object_object_add(o, "Id", json_object_new_string(c->id));
  json_object_object_add(o, "Warnings", json_object_get(c->req.warnings));
  api_reply_json(r, 201, o);
out:
  if (reply)
    berth_msg_release(reply);
  create_free(c);
}

/* Image known: merge, name, then the executor. */
static void create_in_executor(create_t *c, struct json_object *image) {
  api_request_t *r = c->r;
  berth_error_t err = NULL;
  ctr_host_t host;
  ctr_host_read(&host);
  int rc = random_id(c->id) < 0 ? berth_error_make(&err, EIO, "cannot draw a random container id")
                                : ctr_create_merge(&c->req, ctrj_get(image, "Config"), c->id, &host, &err);
  ctr_host_release(&host);
  if (rc < 0) {
    reply_err(r, &err);
    create_free(c);
    return;
  }
  if (c->name[0] == '\0' && ctr_generate_name(c->app->ctrs, c->name) < 0) {
    api_reply_error(r, 500, "cannot find a free container name; give one with --name");
    create_free(c);
    return;
  }
  if (ctr_reserve_name(c->app->ctrs, c->name, c->id, &err) < 0) {
    reply_err(r, &err);
    create_free(c);
    return;
  }
  c->reserved = true;
  berth_conn_t *exec = api_app_exec_conn(c->app);
  Berth__Ipc__ContainerCreateRequest q = BERTH__IPC__CONTAINER_CREATE_REQUEST__INIT;
  q.id = c->id;
  q.host_ids = !c->app->policy.userns;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_CONTAINER_CREATE;
  env.container_create = &q;
  if (exec == NULL || berth_conn_call(exec, &env, NULL, 0, on_exec_created, c, &err) < 0) {
    api_reply_error(r, 503, "cannot ask berth-execd to create the container: %s",
                    err && err->msg ? err->msg : "it is not reachable (being restarted?); try again");
    berth_error_release(&err);
    create_free(c);
  }
  /* r stays suspended (the deadline of the first image call still runs). */
}

static void on_inspect(berth_conn_t *conn, berth_msg_t *reply, void *userdata) {
  create_t *c = userdata;
  api_request_t *r = c->r;
  char *doc = NULL;
  size_t len = 0;
  berth_error_t err = NULL;
  struct json_object *image = NULL;
  if (!api_request_pending(r)) {
  } else if (reply == NULL || reply->env->op_case != BERTH__IPC__ENVELOPE__OP_DOCUMENT || reply->nfds != 1) {
    api_reply_ipc_failure(r, reply, "berth-imaged", "image inspect");
  } else if (api_document_read(reply->fds[0], reply->env->document->size, API_DOCUMENT_MAX, &doc, &len, &err) < 0 ||
             (image = json_tokener_parse(doc)) == NULL || !json_object_is_type(image, json_type_object)) {
    api_reply_error(r, 500, "berth-imaged sent an unusable image inspect reply: %s", err ? err->msg : "not an object");
    berth_error_release(&err);
  } else {
    c->image_size = ctrj_int_or(image, "Size", 0);
    if (reply)
      berth_msg_release(reply);
    free(doc);
    create_in_executor(c, image);
    json_object_put(image);
    return;
  }
  json_object_put(image);
  free(doc);
  if (reply)
    berth_msg_release(reply);
  create_free(c);
}

static void on_resolve(berth_conn_t *conn, berth_msg_t *reply, void *userdata) {
  create_t *c = userdata;
  api_request_t *r = c->r;
  if (!api_request_pending(r)) {
  } else if (reply == NULL || reply->env->op_case != BERTH__IPC__ENVELOPE__OP_IMAGE_RESOLVE_REPLY) {
    api_reply_ipc_failure(r, reply, "berth-imaged", "image resolve");
  } else {
    Berth__Ipc__ImageResolveReply *ir = reply->env->image_resolve_reply;
    c->chain_ids = json_object_new_array();
    for (size_t i = 0; i < ir->n_chain_ids; i++)
      json_object_array_add(c->chain_ids, json_object_new_string(ir->chain_ids[i]));
    if (ir->image_id == NULL || strlen(ir->image_id) != 71 || ir->n_chain_ids == 0 || ir->n_chain_ids > 128) {
      api_reply_error(r, 500, "berth-imaged resolved %s to an unusable image (id \"%.80s\", %zu layers)",
                      c->req.image, ir->image_id ? ir->image_id : "", ir->n_chain_ids);
    } else {
      memcpy(c->image_id, ir->image_id, sizeof c->image_id);
      Berth__Ipc__ImageQueryRequest q = BERTH__IPC__IMAGE_QUERY_REQUEST__INIT;
      q.kind = BERTH__IPC__IMAGE_QUERY_REQUEST__KIND__INSPECT;
      q.name = c->image_id;
      q.filters_json = "";
      berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
      env.op_case = BERTH__IPC__ENVELOPE__OP_IMAGE_QUERY;
      env.image_query = &q;
      berth_conn_t *img = api_app_image_conn(c->app);
      berth_error_t err = NULL;
      if (img && berth_conn_call(img, &env, NULL, 0, on_inspect, c, &err) == 0) {
        berth_msg_release(reply);
        return;
      }
      api_reply_error(r, 503, "cannot ask berth-imaged for the image's config: %s", err ? err->msg : "it is down");
      berth_error_release(&err);
    }
  }
  if (reply)
    berth_msg_release(reply);
  create_free(c);
}

void api_handle_ctr_create(api_request_t *r) {
  api_app_t *app = api_request_userdata(r);
  if (app->ctrs == NULL) {
    api_reply_error(r, 503, "the container store is not available (see berth-apid's log)");
    return;
  }
  const char *name = api_request_query(r, "name");
  if (name && name[0] && !ctr_valid_name(name)) {
    api_reply_error(r, 400, "Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name);
    return;
  }
  create_t *c = calloc(1, sizeof *c);
  if (c == NULL) {
    api_reply_error(r, 500, "out of memory");
    return;
  }
  c->r = api_request_ref(r);
  c->app = app;
  if (name && name[0])
    snprintf(c->name, sizeof c->name, "%s", name[0] == '/' ? name + 1 : name);
  size_t len = 0;
  const char *body = api_request_body(r, &len);
  ctr_host_t host;
  ctr_host_read(&host);
  berth_error_t err = NULL;
  int rc = ctr_create_parse(body, len, &app->policy, &host, &c->req, &err);
  ctr_host_release(&host);
  if (rc < 0) {
    reply_err(r, &err);
    create_free(c);
    return;
  }
  Berth__Ipc__ImageResolveRequest q = BERTH__IPC__IMAGE_RESOLVE_REQUEST__INIT;
  q.name = c->req.image;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_IMAGE_RESOLVE;
  env.image_resolve = &q;
  berth_conn_t *img = api_app_image_conn(app);
  if (img == NULL) {
    api_reply_error(r, 503, "berth-imaged is not running (it is being started or restarted); try again");
    create_free(c);
    return;
  }
  if (berth_conn_call(img, &env, NULL, 0, on_resolve, c, &err) < 0) {
    api_reply_error(r, 503, "cannot send the image resolve request to berth-imaged: %s",
                    err && err->msg ? err->msg : "unknown error");
    berth_error_release(&err);
    create_free(c);
    return;
  }
  /* One deadline for the whole create (imaged twice, then the executor). */
  api_request_suspend(r, API_IMAGE_TIMEOUT_USEC, "the container create did not finish in time");
}
