/* GET /containers/json?all=&limit=&size=&filters=: the selection (pure,
 * dockerd's foldFilter/includeContainerInList), the ancestor filter's image
 * ids from berth-imaged, SizeRw from the executor (ContainerState
 * with_size) when asked. */
#include <errno.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "app.h"
#include "ctr_json.h"
#include "log.h"

static const char *const accepted[] = {"ancestor", "before", "exited", "id", "isolation", "label", "name",
                                       "status", "health", "since", "volume", "network", "is-task", "publish",
                                       "expose", NULL};

int ctr_filters_parse(const char *text, struct json_object **out, berth_error_t *err) {
  *out = NULL;
  if (text == NULL || text[0] == '\0') {
    *out = json_object_new_object();
    return 0;
  }
  struct json_object *in = json_tokener_parse(text);
  struct json_object *m = json_object_new_object();
  bool ok = in && json_object_is_type(in, json_type_object);
  json_object_object_foreach(ok ? in : m, k, v) {
    struct json_object *vals = json_object_new_object();
    json_object_object_add(m, k, vals);
    if (v && json_object_is_type(v, json_type_object)) { /* {"key":{"value":true}} */
      json_object_object_foreach(v, val, b) {
        (void)b;
        json_object_object_add(vals, val, json_object_new_boolean(1));
      }
    } else if (v && json_object_is_type(v, json_type_array)) { /* legacy {"key":["value"]} */
      for (size_t i = 0; i < json_object_array_length(v); i++) {
        struct json_object *e = json_object_array_get_idx(v, i);
        if (!e || !json_object_is_type(e, json_type_string)) {
          ok = false;
          break;
        }
        json_object_object_add(vals, json_object_get_string(e), json_object_new_boolean(1));
      }
    } else {
      ok = false;
    }
    if (!ok)
      break;
  }
  json_object_put(in);
  if (!ok) {
    json_object_put(m);
    return berth_error_make(err, EINVAL, "invalid filter");
  }
  *out = m;
  return 0;
}

static struct json_object *values(struct json_object *f, const char *key) {
  struct json_object *v = ctrj_get(f, key);
  return v && json_object_object_length(v) > 0 ? v : NULL;
}

/* values() or an empty object: json_object_object_foreach needs an object. */
static struct json_object *each(struct json_object *f, const char *key) {
  static struct json_object *empty;
  struct json_object *v = key ? values(f, key) : f;
  if (v)
    return v;
  if (empty == NULL)
    empty = json_object_new_object();
  return empty;
}

/* filters.Match: no values, an exact value, or a value that is a regular
 * expression found in source. */
static bool match(struct json_object *f, const char *key, const char *source) {
  struct json_object *vals = values(f, key);
  if (vals == NULL)
    return true;
  if (json_object_object_get_ex(vals, source, NULL))
    return true;
  json_object_object_foreach(vals, pattern, b) {
    (void)b;
    regex_t re;
    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
      continue;
    bool hit = regexec(&re, source, 0, NULL, 0) == 0;
    regfree(&re);
    if (hit)
      return true;
  }
  return false;
}

/* filters.MatchKVList over the container's labels: every "key" or "key=value" must hold. */
static bool match_labels(struct json_object *f, struct json_object *labels) {
  struct json_object *vals = values(f, "label");
  if (vals == NULL)
    return true;
  if (labels == NULL || json_object_object_length(labels) == 0)
    return false;
  json_object_object_foreach(vals, kv, b) {
    (void)b;
    const char *eq = strchr(kv, '=');
    char key[512];
    snprintf(key, sizeof key, "%.*s", eq ? (int)(eq - kv) : (int)strlen(kv), kv);
    struct json_object *v = NULL;
    if (!json_object_object_get_ex(labels, key, &v))
      return false;
    if (eq && strcmp(json_object_get_string(v), eq + 1) != 0)
      return false;
  }
  return true;
}

static int validate(struct json_object *f, int *exited, size_t *nexited, int *is_task, berth_error_t *err) {
  json_object_object_foreach(each(f, NULL), key, vals) {
    (void)vals;
    size_t i = 0;
    while (accepted[i] && strcmp(accepted[i], key))
      i++;
    if (accepted[i] == NULL)
      return berth_error_make(err, EINVAL, "invalid filter '%s'", key);
  }
  *nexited = 0;
  json_object_object_foreach(each(f, "exited"), code, b1) {
    (void)b1;
    char *end;
    long v = strtol(code, &end, 10);
    if (code[0] == '\0' || *end || *nexited == 64)
      return berth_error_make(err, EINVAL, "invalid filter 'exited=%s': strconv.Atoi: parsing \"%s\": invalid syntax",
                              code, code);
    exited[(*nexited)++] = (int)v;
  }
  static const char *const states[] = {"created", "running", "paused", "restarting", "removing", "exited", "dead", NULL};
  json_object_object_foreach(each(f, "status"), st, b2) {
    (void)b2;
    size_t i = 0;
    while (states[i] && strcmp(states[i], st))
      i++;
    if (states[i] == NULL)
      return berth_error_make(err, EINVAL, "invalid filter 'status=%s': invalid value for state (%s): must be one of "
                                           "created, running, paused, restarting, removing, exited, dead", st, st);
  }
  static const char *const health[] = {"starting", "healthy", "unhealthy", "none", NULL};
  json_object_object_foreach(each(f, "health"), h, b3) {
    (void)b3;
    size_t i = 0;
    while (health[i] && strcmp(health[i], h))
      i++;
    if (health[i] == NULL)
      return berth_error_make(err, EINVAL, "invalid filter 'health=%s': invalid value for health (%s): must be one of "
                                           "starting, healthy, unhealthy, none", h, h);
  }
  *is_task = -1;
  json_object_object_foreach(each(f, "is-task"), t, b4) {
    (void)b4;
    if (!strcmp(t, "true") || !strcmp(t, "1"))
      *is_task = 1;
    else if (!strcmp(t, "false") || !strcmp(t, "0"))
      *is_task = 0;
    else
      return berth_error_make(err, EINVAL, "invalid filter 'is-task=%s'", t);
  }
  return 0;
}

/* before= / since=: a container by id or name; the last value wins, as dockerd. */
static int reference(ctr_registry_t *reg, struct json_object *f, const char *key, api_ctr_t **out, berth_error_t *err) {
  *out = NULL;
  json_object_object_foreach(each(f, key), ref, b) {
    (void)b;
    if ((*out = ctr_lookup(reg, ref, err)) == NULL)
      return -1;
  }
  return 0;
}

int ctr_list_select(ctr_registry_t *reg, const ctr_list_opts_t *o, api_ctr_t ***out, size_t *nout, berth_error_t *err) {
  struct json_object *f = o->filters;
  int exited[64], is_task = -1;
  size_t nexited = 0;
  api_ctr_t *before, *since;
  *out = NULL;
  *nout = 0;
  if (validate(f, exited, &nexited, &is_task, err) < 0 || reference(reg, f, "before", &before, err) < 0 ||
      reference(reg, f, "since", &since, err) < 0)
    return -1;
  bool all = o->all || values(f, "status") != NULL;
  size_t n;
  api_ctr_t **v = ctr_all(reg, &n);
  api_ctr_t **sel = calloc(n ? n : 1, sizeof *sel);
  if (sel == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  size_t idx = 0;
  for (size_t k = n; k-- > 0;) { /* newest first */
    api_ctr_t *c = v[k];
    if (before) {
      if (c == before)
        before = NULL;
      continue;
    }
    if (since && c == since)
      break;
    bool restarting = c->restart_pending && c->status != CTR_RUNNING;
    bool running = c->status == CTR_RUNNING || restarting; /* dockerd: restarting is running */
    if (!running && !all && o->limit <= 0)
      continue;
    char slash[131];
    snprintf(slash, sizeof slash, "/%s", c->name);
    if (!match(f, "name", slash) && !match(f, "name", c->name))
      continue;
    if (!match(f, "id", c->id))
      continue;
    if (is_task == 1)
      continue; /* no swarm tasks here */
    if (!match_labels(f, ctrj_get(c->config, "Labels")))
      continue;
    const char *iso = ctrj_str_or(c->host_config, "Isolation", "");
    if (!match(f, "isolation", iso[0] ? iso : "default"))
      continue;
    if (o->limit > 0 && (long)idx == o->limit)
      break;
    if (nexited) {
      bool ok = false;
      for (size_t i = 0; i < nexited && !ok; i++)
        ok = exited[i] == c->exit_code && !running && c->started_ns != 0;
      if (!ok)
        continue;
    }
    if (!match(f, "status", restarting ? "restarting" : ctr_status_name(c->status)))
      continue;
    if (values(f, "health") && !json_object_object_get_ex(values(f, "health"), "none", NULL))
      continue; /* no healthchecks run: every container's health is "none" */
    if (values(f, "volume") || values(f, "publish") || values(f, "expose"))
      continue; /* no mounts, no ports */
    if (o->ancestors) {
      bool ok = false;
      for (size_t i = 0; i < ctrj_len(o->ancestors) && !ok; i++)
        ok = strcmp(ctrj_idx_str(o->ancestors, i), c->image_id) == 0;
      if (!ok)
        continue;
    }
    if (values(f, "network")) {
      const char *net = ctr_network_name(ctrj_str_or(c->host_config, "NetworkMode", ""));
      if (!json_object_object_get_ex(values(f, "network"), net, NULL))
        continue;
    }
    sel[idx++] = c;
  }
  *out = sel;
  *nout = idx;
  return 0;
}

/* ---- the handler ---- */

typedef struct {
  api_request_t *r;
  api_app_t *app;
  ctr_list_opts_t opts;
  bool size;
  size_t pending;            /* replies still awaited */
  size_t nancestors_left;
  char (*ids)[65];           /* the selection, by id: records may go while we wait */
  int64_t *sizes;
  size_t n;
} list_t;

static void list_free(list_t *l) {
  json_object_put(l->opts.filters);
  json_object_put(l->opts.ancestors);
  free(l->ids);
  free(l->sizes);
  api_request_unref(l->r);
  free(l);
}

static void finish(list_t *l) {
  struct json_object *arr = json_object_new_array();
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
  for (size_t i = 0; i < l->n; i++) {
    berth_error_t err = NULL;
    api_ctr_t *c = l->app->ctrs ? ctr_lookup(l->app->ctrs, l->ids[i], &err) : NULL;
    berth_error_release(&err);
    if (c)
      json_object_array_add(arr, ctr_render_summary(c, now, l->size ? (l->sizes[i] > 0 ? l->sizes[i] : 0) : -1));
  }
  api_reply_json(l->r, 200, arr);
  list_free(l);
}

typedef struct {
  list_t *l;
  size_t i;
} size_req_t;

/* One awaited reply less; the last one answers. */
static void drop(list_t *l) {
  if (--l->pending > 0)
    return;
  if (api_request_pending(l->r))
    finish(l);
  else
    list_free(l);
}

static void on_size(berth_conn_t *conn, berth_msg_t *reply, void *userdata) {
  size_req_t *q = userdata;
  list_t *l = q->l;
  if (reply && reply->env->op_case == BERTH__IPC__ENVELOPE__OP_CONTAINER_STATE_REPLY)
    l->sizes[q->i] = reply->env->container_state_reply->size_rw;
  if (reply)
    berth_msg_release(reply);
  free(q);
  drop(l);
}

static void select_and_answer(list_t *l) {
  berth_error_t err = NULL;
  api_ctr_t **sel = NULL;
  if (ctr_list_select(l->app->ctrs, &l->opts, &sel, &l->n, &err) < 0) {
    api_reply_error(l->r, api_errno_status(err->status), "%s", err->msg);
    berth_error_release(&err);
    list_free(l);
    return;
  }
  l->ids = calloc(l->n ? l->n : 1, sizeof *l->ids);
  l->sizes = calloc(l->n ? l->n : 1, sizeof *l->sizes);
  for (size_t i = 0; l->ids && i < l->n; i++)
    memcpy(l->ids[i], sel[i]->id, 65);
  free(sel);
  if (l->ids == NULL || l->sizes == NULL) {
    api_reply_error(l->r, 500, "out of memory");
    list_free(l);
    return;
  }
  berth_conn_t *exec = l->size ? api_app_exec_conn(l->app) : NULL;
  if (exec == NULL || l->n == 0) {
    finish(l);
    return;
  }
  l->pending = 1; /* held until every request is out */
  for (size_t i = 0; i < l->n; i++) {
    size_req_t *q = malloc(sizeof *q);
    if (q == NULL)
      break;
    q->l = l;
    q->i = i;
    Berth__Ipc__ContainerStateRequest sq = BERTH__IPC__CONTAINER_STATE_REQUEST__INIT;
    sq.id = l->ids[i];
    sq.with_size = true;
    berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
    env.op_case = BERTH__IPC__ENVELOPE__OP_CONTAINER_STATE;
    env.container_state = &sq;
    l->pending++;
    if (berth_conn_call(exec, &env, NULL, 0, on_size, q, &err) < 0) {
      berth_error_release(&err);
      l->pending--;
      free(q);
      break;
    }
  }
  api_request_suspend(l->r, API_EXEC_TIMEOUT_USEC * 3, "the executor did not report the containers' sizes in time");
  drop(l); /* the hold */
}

/* ---- ancestor=: each value resolved by berth-imaged; unknown images match nothing ---- */

static void on_ancestor(berth_conn_t *conn, berth_msg_t *reply, void *userdata) {
  list_t *l = userdata;
  if (reply && reply->env->op_case == BERTH__IPC__ENVELOPE__OP_IMAGE_RESOLVE_REPLY &&
      reply->env->image_resolve_reply->image_id)
    json_object_array_add(l->opts.ancestors, json_object_new_string(reply->env->image_resolve_reply->image_id));
  if (reply)
    berth_msg_release(reply);
  if (--l->nancestors_left > 0)
    return;
  if (api_request_pending(l->r))
    select_and_answer(l);
  else
    list_free(l);
}

void api_handle_ctr_list(api_request_t *r) {
  api_app_t *app = api_request_userdata(r);
  if (app->ctrs == NULL) {
    api_reply_error(r, 503, "the container store is not available (see berth-apid's log)");
    return;
  }
  list_t *l = calloc(1, sizeof *l);
  if (l == NULL) {
    api_reply_error(r, 500, "out of memory");
    return;
  }
  l->r = api_request_ref(r);
  l->app = app;
  l->opts.all = api_request_query_bool(r, "all", 0);
  l->size = api_request_query_bool(r, "size", 0);
  const char *limit = api_request_query(r, "limit");
  if (limit && limit[0]) {
    char *end;
    long v = strtol(limit, &end, 10);
    if (*end) {
      api_reply_error(r, 400, "invalid limit \"%s\": strconv.Atoi: parsing \"%s\": invalid syntax", limit, limit);
      list_free(l);
      return;
    }
    l->opts.limit = v;
  }
  berth_error_t err = NULL;
  if (ctr_filters_parse(api_request_query(r, "filters"), &l->opts.filters, &err) < 0) {
    api_reply_error(r, 400, "%s", err->msg);
    berth_error_release(&err);
    list_free(l);
    return;
  }
  struct json_object *anc = values(l->opts.filters, "ancestor");
  berth_conn_t *img = anc ? api_app_image_conn(app) : NULL;
  if (anc == NULL) {
    select_and_answer(l);
    return;
  }
  l->opts.ancestors = json_object_new_array();
  if (img == NULL) {
    api_reply_error(r, 503, "berth-imaged is not running (it resolves the ancestor filter); try again");
    list_free(l);
    return;
  }
  l->nancestors_left = 1; /* the hold */
  json_object_object_foreach(anc, name, b) {
    (void)b;
    Berth__Ipc__ImageResolveRequest q = BERTH__IPC__IMAGE_RESOLVE_REQUEST__INIT;
    q.name = name;
    berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
    env.op_case = BERTH__IPC__ENVELOPE__OP_IMAGE_RESOLVE;
    env.image_resolve = &q;
    l->nancestors_left++;
    if (berth_conn_call(img, &env, NULL, 0, on_ancestor, l, &err) < 0) {
      berth_error_release(&err);
      l->nancestors_left--;
    }
  }
  api_request_suspend(r, API_IMAGE_TIMEOUT_USEC, "berth-imaged did not resolve the ancestor filter in time");
  on_ancestor(NULL, NULL, l); /* drops the hold */
}
