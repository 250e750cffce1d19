/* DELETE /containers/{id}?force= and POST /containers/prune. The executor
 * removes DATA_ROOT/containers/<id> (ContainerDelete, refused while the
 * container runs); then the record goes, attach clients end and
 * condition=removed waiters get their answer. A running container needs
 * force: SIGKILL, wait for the exit, then the same. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ctr_rt.h"
#include "events.h"
#include "log.h"

typedef struct {
  api_app_t *app;
  char id[65];
  ctr_status_t prev;
  ctr_done_fn done;
  void *ud;
  int64_t size;   /* prune: SizeRw before removal */
  sd_event_source *timer;
  unsigned waited;
} del_op_t;

/* A log follower that is opening the container's files (its last scan after
 * the exit) gets them before they go: the removal waits for it, 2 ms at a
 * time and 1 s at most (then the follower ends with what it has). */
#define DELETE_WAIT_USEC 2000u
#define DELETE_WAIT_TRIES 500u

static void on_deleted(api_app_t *app, const char *id, int e, const char *msg, const Berth__Ipc__ContainerStateReply *st,
                       void *ud) {
  del_op_t *op = ud;
  api_ctr_t *c = ctr_by_id(app, id);
  if (c == NULL) {
    op->done(app, id, 204, NULL, op->ud);
    free(op);
    return;
  }
  if (e != 0 && e != ENOENT) {
    if (c->rt)
      c->rt->removing = false;
    if (c->status == CTR_REMOVING)
      c->status = op->prev;
    log_warn("container %.12s: removal refused: %s", id, msg);
    op->done(app, id, e == EBUSY ? 409 : e == EPIPE || e == EAGAIN ? 503 : api_errno_status(e), msg, op->ud);
    free(op);
    return;
  }
  ctr_rt_release(app, c, true);
  api_event_ctr(c, "destroy", NULL); /* its files are gone: the record follows */
  berth_error_t err = NULL;
  if (ctr_remove(app->ctrs, c, &err) < 0) {
    char m[512];
    snprintf(m, sizeof m, "container %s: its files are gone but its record stays: %s", id,
             err && err->msg ? err->msg : "?");
    berth_error_release(&err);
    op->done(app, id, 500, m, op->ud);
    free(op);
    return;
  }
  log_info("container %.12s removed", id);
  op->done(app, id, 204, NULL, op->ud);
  free(op);
}

static void delete_files(del_op_t *op);

static int on_delete_wait(sd_event_source *s, uint64_t usec, void *userdata) {
  del_op_t *op = userdata;
  op->timer = sd_event_source_disable_unref(op->timer);
  delete_files(op);
  return 0;
}

static void delete_files(del_op_t *op) {
  api_app_t *app = op->app;
  api_ctr_t *c = ctr_by_id(app, op->id);
  if (c == NULL || c->rt == NULL) {
    op->done(app, op->id, 204, NULL, op->ud);   /* removed meanwhile */
    free(op);
    return;
  }
  sd_event *e = app->svc ? berth_service_event(app->svc) : NULL;
  if (e && op->waited < DELETE_WAIT_TRIES && ctr_logs_scanning(app, op->id)) {
    op->waited++;
    if (sd_event_add_time_relative(e, &op->timer, CLOCK_MONOTONIC, DELETE_WAIT_USEC, 0, on_delete_wait, op) >= 0)
      return;
    op->timer = NULL;
  }
  berth_error_t err = NULL;
  if (ctr_exec_delete(app, c->id, on_deleted, op, &err) < 0) {
    c->rt->removing = false;
    c->status = op->prev;
    char m[512];
    snprintf(m, sizeof m, "%s", err && err->msg ? err->msg : "berth-execd is not connected");
    berth_error_release(&err);
    op->done(app, c->id, 503, m, op->ud);
    free(op);
  }
}

void ctr_delete_stopped(api_app_t *app, api_ctr_t *c, ctr_done_fn done, void *ud) {
  ctr_runtime_t *rt = ctr_rt(app, c);
  del_op_t *op = rt ? calloc(1, sizeof *op) : NULL;
  if (op == NULL) {
    done(app, c->id, 500, "out of memory", ud);
    return;
  }
  op->app = app;
  snprintf(op->id, sizeof op->id, "%s", c->id);
  op->prev = c->status == CTR_REMOVING ? CTR_EXITED : c->status;
  op->done = done;
  op->ud = ud;
  rt->removing = true;
  c->status = CTR_REMOVING;
  delete_files(op);
}

/* ---- DELETE ---- */

typedef struct {
  ctr_done_fn done;
  void *ud;
} force_t;

static void force_killed(api_app_t *app, const char *id, unsigned status, const char *msg, void *ud) {
  force_t *f = ud;
  api_ctr_t *c = ctr_by_id(app, id);
  if (c == NULL) {
    f->done(app, id, 204, NULL, f->ud);
  } else if (status == 204 || (status == 409 && c->status != CTR_RUNNING)) {
    ctr_delete_stopped(app, c, f->done, f->ud);
  } else {
    if (c->rt)
      c->rt->removing = false;
    f->done(app, id, status, msg, f->ud);
  }
  free(f);
}

void api_handle_ctr_delete(api_request_t *r) {
  api_app_t *app = api_request_userdata(r);
  api_ctr_t *c = ctr_from_request(r);
  if (c == NULL)
    return;
  bool force = api_request_query_bool(r, "force", 0);
  if (api_request_query_bool(r, "link", 0)) {
    api_reply_error(r, 400, "Conflict, cannot remove the default link name of the container");
    return;
  }
  ctr_runtime_t *rt = ctr_rt(app, c);
  if (rt == NULL) {
    api_reply_error(r, 500, "out of memory");
    return;
  }
  if (c->status == CTR_REMOVING || rt->removing) {
    api_reply_error(r, 409, "removal of container %s is already in progress", c->id);
    return;
  }
  bool running = c->status == CTR_RUNNING || rt->starting || c->restart_pending;
  if (running && !force) {
    api_reply_error(r, 409,
                    "You cannot remove a %s container %s. Stop the container before attempting removal or "
                    "force remove",
                    c->restart_pending && c->status != CTR_RUNNING ? "restarting" : "running", c->id);
    return;
  }
  if (rt->starting) {
    api_reply_error(r, 409, "container %s is being started; try again in a moment", c->id);
    return;
  }
  api_request_ref(r);
  if (!running) {
    ctr_delete_stopped(app, c, ctr_reply_done, r);
  } else {
    force_t *f = calloc(1, sizeof *f);
    if (f == NULL) {
      api_request_unref(r);
      api_reply_error(r, 500, "out of memory");
      return;
    }
    f->done = ctr_reply_done;
    f->ud = r;
    rt->removing = true;   /* no auto-removal racing this one */
    ctr_signal(app, c, SIGKILL, force_killed, f);
  }
  api_request_suspend(r, 0, NULL);
}

/* ---- prune ---- */

typedef struct {
  api_request_t *r;
  api_app_t *app;
  char (*ids)[65];
  size_t n, next;
  struct json_object *deleted;
  int64_t reclaimed;
} prune_t;

static void prune_next(prune_t *p);

typedef struct {
  prune_t *p;
  int64_t size;
} prune_item_t;

static void prune_item_done(api_app_t *app, const char *id, unsigned status, const char *msg, void *ud) {
  prune_item_t *it = ud;
  prune_t *p = it->p;
  if (status == 204) {
    json_object_array_add(p->deleted, json_object_new_string(id));
    p->reclaimed += it->size > 0 ? it->size : 0;
  } else {
    log_warn("prune: container %.12s not removed: %s", id, msg ? msg : "?");
  }
  free(it);
  prune_next(p);
}

static void prune_sized(api_app_t *app, const char *id, int e, const char *msg, const Berth__Ipc__ContainerStateReply *st,
                        void *ud) {
  prune_item_t *it = ud;
  api_ctr_t *c = ctr_by_id(app, id);
  if (e == 0 && st)
    it->size = st->size_rw;
  if (c == NULL || c->status == CTR_RUNNING || c->status == CTR_REMOVING || c->restart_pending ||
      (c->rt && (c->rt->starting || c->rt->removing))) {
    prune_t *p = it->p;
    free(it);
    prune_next(p);
    return;
  }
  ctr_delete_stopped(app, c, prune_item_done, it);
}

static void prune_next(prune_t *p) {
  while (p->next < p->n) {
    const char *id = p->ids[p->next++];
    prune_item_t *it = calloc(1, sizeof *it);
    if (it == NULL)
      break;
    it->p = p;
    berth_error_t err = NULL;
    if (ctr_exec_state(p->app, id, true, prune_sized, it, &err) == 0)
      return;
    log_warn("prune: %s", err && err->msg ? err->msg : "?");
    berth_error_release(&err);
    free(it);
  }
  api_event_prune("container", (uint64_t)p->reclaimed);
  if (api_request_pending(p->r)) {
    struct json_object *o = json_object_new_object();
    size_t nd = json_object_array_length(p->deleted);
    json_object_object_add(o, "ContainersDeleted", nd ? json_object_get(p->deleted) : NULL);
    json_object_object_add(o, "SpaceReclaimed", json_object_new_int64(p->reclaimed));
    api_reply_json(p->r, 200, o);
  }
  api_request_unref(p->r);
  json_object_put(p->deleted);
  free(p->ids);
  free(p);
}

/* filters: until (timestamp or duration), label / label! (key or key=value). */
static bool labels_match(const api_ctr_t *c, struct json_object *want, bool negate) {
  struct json_object *labels = NULL;
  if (c->config)
    json_object_object_get_ex(c->config, "Labels", &labels);
  json_object_object_foreach(want, k, v) {
    (void)v;
    const char *eq = strchr(k, '=');
    size_t kl = eq ? (size_t)(eq - k) : strlen(k);
    char key[256];
    if (kl >= sizeof key)
      return negate;
    memcpy(key, k, kl);
    key[kl] = '\0';
    struct json_object *lv = NULL;
    bool has = labels && json_object_object_get_ex(labels, key, &lv);
    bool ok = has && (eq == NULL || strcmp(json_object_get_string(lv), eq + 1) == 0);
    if (negate ? ok : !ok)
      return false;
  }
  return true;
}

void api_handle_ctr_prune(api_request_t *r) {
  api_app_t *app = api_request_userdata(r);
  const char *fs = api_request_query(r, "filters");
  struct json_object *f = fs && fs[0] ? json_tokener_parse(fs) : json_object_new_object();
  if (f == NULL || !json_object_is_type(f, json_type_object)) {
    json_object_put(f);
    api_reply_error(r, 400, "invalid filters: not a JSON object of filter names to values");
    return;
  }
  int64_t until = 0;
  struct json_object *label = NULL, *nlabel = NULL;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
  json_object_object_foreach(f, key, val) {
    if (!json_object_is_type(val, json_type_object)) {
      json_object_put(f);
      api_reply_error(r, 400, "invalid filter '%s': its values must be an object", key);
      return;
    }
    if (strcmp(key, "until") == 0) {
      json_object_object_foreach(val, u, b) {
        (void)b;
        if (ctr_parse_time_arg(u, now, &until) < 0) {
          api_reply_error(r, 400, "failed to parse value for filter 'until': %s", u);
          json_object_put(f);
          return;
        }
      }
    } else if (strcmp(key, "label") == 0) {
      label = val;
    } else if (strcmp(key, "label!") == 0) {
      nlabel = val;
    } else {
      json_object_put(f);
      api_reply_error(r, 400, "Invalid filter '%s'", key);
      return;
    }
  }
  prune_t *p = calloc(1, sizeof *p);
  size_t n = 0;
  api_ctr_t **all = app->ctrs ? ctr_all(app->ctrs, &n) : NULL;
  if (p)
    p->ids = calloc(n ? n : 1, sizeof *p->ids);
  if (p == NULL || p->ids == NULL) {
    free(p);
    json_object_put(f);
    api_reply_error(r, 500, "out of memory");
    return;
  }
  for (size_t i = 0; i < n; i++) {
    api_ctr_t *c = all[i];
    if (c->status != CTR_CREATED && c->status != CTR_EXITED)
      continue;
    if ((c->rt && (c->rt->starting || c->rt->removing)) || c->restart_pending)
      continue; /* restarting counts as running */
    if (until && c->created_ns >= until)
      continue;
    if ((label && !labels_match(c, label, false)) || (nlabel && !labels_match(c, nlabel, true)))
      continue;
    snprintf(p->ids[p->n++], 65, "%s", c->id);
  }
  json_object_put(f);
  p->r = api_request_ref(r);
  p->app = app;
  p->deleted = json_object_new_array();
  api_request_suspend(r, 0, NULL);
  prune_next(p);
}
