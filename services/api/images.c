/* Image queries and changes, answered by berth-imaged: GET /images/json,
 * GET /images/{name}/json, GET /images/{name}/history,
 * POST /images/{name}/tag, DELETE /images/{name}, POST /images/prune, and
 * berth's GET /berth/v1/images/{name}/layers (imaged resolves the chain,
 * the executor checks it can open every layer). Query parameters follow
 * dockerd 20.10 (api/server/router/image/image_routes.go). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "app.h"
#include "events.h"
#include "log.h"

/* Image names: a reference is at most 255 + tag + digest; anything far
 * longer is refused here rather than sent on. */
#define NAME_MAX_LEN 4096

/* The {name} path parameter, or a 400 reply and NULL. */
static char *image_name(api_request_t *r) {
  static char name[NAME_MAX_LEN + 1];
  if (api_match_param(api_request_match(r), "name", name, sizeof name) < 0) {
    api_reply_error(r, 400, "invalid reference format: image name is too long");
    return NULL;
  }
  if (strspn(name, " \t") == strlen(name)) {
    api_reply_error(r, 400, "image name cannot be blank");
    return NULL;
  }
  return name;
}

/* ---- queries answered with a Document ---- */

static void on_document(berth_conn_t *c, berth_msg_t *reply, void *userdata) {
  api_request_t *r = userdata;
  if (api_request_pending(r))
    api_reply_document(r, reply, "image");
  if (reply)
    berth_msg_release(reply);
  api_request_unref(r);
}

static void query(api_request_t *r, Berth__Ipc__ImageQueryRequest__Kind kind, const char *name, const char *filters,
                  int all, int digests) {
  Berth__Ipc__ImageQueryRequest q = BERTH__IPC__IMAGE_QUERY_REQUEST__INIT;
  q.kind = kind;
  q.name = (char *)(name ? name : "");
  q.filters_json = (char *)(filters ? filters : "");
  q.all = all;
  q.digests = digests;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_IMAGE_QUERY;
  env.image_query = &q;
  api_image_call(r, &env, NULL, 0, on_document, API_IMAGE_TIMEOUT_USEC, "image query");
}

/* filters plus the pre-1.25 `filter=NAME` parameter, which dockerd still
 * adds as a reference filter. Returns a malloc'd JSON string, NULL filters
 * unchanged (and *bad set when filters is not JSON). */
static char *merge_legacy_filter(const char *filters, const char *filter, int *bad) {
  struct json_object *f = filters && filters[0] ? json_tokener_parse(filters) : json_object_new_object();
  if (f == NULL || !json_object_is_type(f, json_type_object)) {
    json_object_put(f);
    *bad = 1;
    return NULL;
  }
  struct json_object *ref = NULL;
  if (!json_object_object_get_ex(f, "reference", &ref)) {
    ref = json_object_new_object();
    json_object_object_add(f, "reference", ref);
  }
  if (json_object_is_type(ref, json_type_array))
    json_object_array_add(ref, json_object_new_string(filter));   /* the legacy list form */
  else if (json_object_is_type(ref, json_type_object))
    json_object_object_add(ref, filter, json_object_new_boolean(1));
  char *out = strdup(json_object_to_json_string_ext(f, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(f);
  return out;
}

void api_handle_images_list(api_request_t *r) {
  const char *filters = api_request_query(r, "filters");
  const char *filter = api_request_query(r, "filter");
  char *merged = NULL;
  if (filter && filter[0]) {
    int bad = 0;
    merged = merge_legacy_filter(filters, filter, &bad);
    if (merged == NULL) {
      api_reply_error(r, bad ? 400 : 500, bad ? "invalid filter: the filters parameter is not a JSON object"
                                              : "out of memory");
      return;
    }
    filters = merged;
  }
  query(r, BERTH__IPC__IMAGE_QUERY_REQUEST__KIND__LIST, NULL, filters, api_request_query_bool(r, "all", 0),
        api_request_query_bool(r, "digests", 0));
  free(merged);
}

void api_handle_image_inspect(api_request_t *r) {
  const char *name = image_name(r);
  if (name)
    query(r, BERTH__IPC__IMAGE_QUERY_REQUEST__KIND__INSPECT, name, NULL, 0, 0);
}

void api_handle_image_history(api_request_t *r) {
  const char *name = image_name(r);
  if (name)
    query(r, BERTH__IPC__IMAGE_QUERY_REQUEST__KIND__HISTORY, name, NULL, 0, 0);
}

/* Which image each container uses, for imaged's conflict rules (Docker's
 * "image is being used by ... container"). Arrays freed by uses_free. */
typedef struct {
  Berth__Ipc__ImageUse *v;
  Berth__Ipc__ImageUse **ptrs;
  size_t n;
} uses_t;

static void uses_fill(api_request_t *r, uses_t *u) {
  api_app_t *app = api_request_userdata(r);
  size_t n = 0;
  api_ctr_t **all = app->ctrs ? ctr_all(app->ctrs, &n) : NULL;
  *u = (uses_t){0};
  if (n == 0 || (u->v = calloc(n, sizeof *u->v)) == NULL || (u->ptrs = calloc(n, sizeof *u->ptrs)) == NULL)
    return; /* out of memory: imaged sees no users, as before containers existed */
  /* One entry per image (a running user wins) keeps the message small
   * however many containers there are. */
  for (size_t i = 0; i < n; i++) {
    bool running = all[i]->status == CTR_RUNNING;
    size_t k = 0;
    while (k < u->n && strcmp(u->v[k].image_id, all[i]->image_id) != 0)
      k++;
    if (k == u->n) {
      berth__ipc__image_use__init(&u->v[k]);
      u->ptrs[u->n++] = &u->v[k];
    } else if (u->v[k].running || !running) {
      continue;
    }
    u->v[k].image_id = all[i]->image_id;
    u->v[k].container_id = all[i]->id;
    u->v[k].running = running;
  }
}

static void uses_free(uses_t *u) {
  free(u->v);
  free(u->ptrs);
}

/* A remove or prune report: its untag, delete (and prune) events, then the reply. */
static void on_removed(berth_conn_t *c, berth_msg_t *reply, void *userdata) {
  char *doc = NULL;
  size_t len = 0;
  berth_error_t err = NULL;
  if (reply && reply->env->op_case == BERTH__IPC__ENVELOPE__OP_DOCUMENT && reply->nfds == 1 &&
      api_document_read(reply->fds[0], reply->env->document->size, API_DOCUMENT_MAX, &doc, &len, &err) == 0)
    api_event_image_report(doc);
  berth_error_release(&err);
  free(doc);
  on_document(c, reply, userdata);
}

void api_handle_image_delete(api_request_t *r) {
  const char *name = image_name(r);
  if (name == NULL)
    return;
  Berth__Ipc__ImageRemoveRequest q = BERTH__IPC__IMAGE_REMOVE_REQUEST__INIT;
  q.name = (char *)name;
  q.force = api_request_query_bool(r, "force", 0);
  q.noprune = api_request_query_bool(r, "noprune", 0);
  uses_t u;
  uses_fill(r, &u);
  q.uses = u.ptrs;
  q.n_uses = u.n;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_IMAGE_REMOVE;
  env.image_remove = &q;
  api_image_call(r, &env, NULL, 0, on_removed, API_IMAGE_TIMEOUT_USEC, "image remove");
  uses_free(&u);
}

void api_handle_images_prune(api_request_t *r) {
  const char *filters = api_request_query(r, "filters");
  Berth__Ipc__ImagePruneRequest q = BERTH__IPC__IMAGE_PRUNE_REQUEST__INIT;
  q.filters_json = (char *)(filters ? filters : "");
  uses_t u;
  uses_fill(r, &u);
  q.uses = u.ptrs;
  q.n_uses = u.n;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_IMAGE_PRUNE;
  env.image_prune = &q;
  api_image_call(r, &env, NULL, 0, on_removed, API_IMAGE_TIMEOUT_USEC, "image prune");
  uses_free(&u);
}

/* ---- tag: Ok -> 201 with no body, like dockerd ---- */

/* The new reference as dockerd names it in the "tag" event (FamiliarString). */
static void tag_ref(api_request_t *r, char *out, size_t size) {
  const char *repo = api_request_query(r, "repo"), *tag = api_request_query(r, "tag");
  repo = repo ? repo : "";
  if (strncmp(repo, "docker.io/library/", 18) == 0)
    repo += 18;
  else if (strncmp(repo, "docker.io/", 10) == 0)
    repo += 10;
  snprintf(out, size, "%s:%s", repo, tag && tag[0] ? tag : "latest");
}

/* The tag is made: its image's id for the event, then the 201. */
static void on_tag_resolved(berth_conn_t *c, berth_msg_t *reply, void *userdata) {
  api_request_t *r = userdata;
  char ref[1024];
  tag_ref(r, ref, sizeof ref);
  if (reply && reply->env->op_case == BERTH__IPC__ENVELOPE__OP_IMAGE_RESOLVE_REPLY)
    api_event_image(reply->env->image_resolve_reply->image_id, ref, "tag");
  else
    log_warn("image tag: no event for %s: its image could not be resolved", ref);
  if (api_request_pending(r))
    api_reply(r, 201, NULL, "", 0, NULL);
  if (reply)
    berth_msg_release(reply);
  api_request_unref(r);
}

static void on_tag(berth_conn_t *c, berth_msg_t *reply, void *userdata) {
  api_request_t *r = userdata;
  if (api_request_pending(r)) {
    if (reply && reply->env->op_case == BERTH__IPC__ENVELOPE__OP_OK) {
      char ref[1024];
      tag_ref(r, ref, sizeof ref);
      Berth__Ipc__ImageResolveRequest q = BERTH__IPC__IMAGE_RESOLVE_REQUEST__INIT;
      q.name = ref;
      berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
      env.op_case = BERTH__IPC__ENVELOPE__OP_IMAGE_RESOLVE;
      env.image_resolve = &q;
      if (api_image_call(r, &env, NULL, 0, on_tag_resolved, API_IMAGE_TIMEOUT_USEC, "image resolve") < 0)
        log_warn("image tag: no event for %s", ref);
    } else {
      api_reply_ipc_failure(r, reply, "berth-imaged", "image tag");
    }
  }
  if (reply)
    berth_msg_release(reply);
  api_request_unref(r);
}

void api_handle_image_tag(api_request_t *r) {
  const char *name = image_name(r);
  if (name == NULL)
    return;
  const char *repo = api_request_query(r, "repo");
  const char *tag = api_request_query(r, "tag");
  Berth__Ipc__ImageTagRequest q = BERTH__IPC__IMAGE_TAG_REQUEST__INIT;
  q.source = (char *)name;
  q.repo = (char *)(repo ? repo : "");
  q.tag = (char *)(tag ? tag : "");
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_IMAGE_TAG;
  env.image_tag = &q;
  api_image_call(r, &env, NULL, 0, on_tag, API_IMAGE_TIMEOUT_USEC, "image tag");
}

/* ---- /berth/v1/images/{name}/layers: resolve, then the executor's check ---- */

typedef struct {
  api_request_t *r;
  Berth__Ipc__ImageResolveReply *resolved;   /* owned: the envelope it came in */
  berth_envelope_t *env;
} layers_t;

static void layers_free(layers_t *l) {
  if (l->env)
    berth__ipc__envelope__free_unpacked(l->env, NULL);
  api_request_unref(l->r);
  free(l);
}

static void on_layer_check(berth_conn_t *c, berth_msg_t *reply, void *userdata) {
  layers_t *l = userdata;
  api_request_t *r = l->r;
  if (!api_request_pending(r)) {
  } else if (reply && reply->env->op_case == BERTH__IPC__ENVELOPE__OP_OK) {
    struct json_object *o = json_object_new_object();
    struct json_object *ids = json_object_new_array();
    if (o && ids) {
      json_object_object_add(o, "Id", json_object_new_string(l->resolved->image_id ? l->resolved->image_id : ""));
      for (size_t i = 0; i < l->resolved->n_chain_ids; i++)
        json_object_array_add(ids, json_object_new_string(l->resolved->chain_ids[i]));
      json_object_object_add(o, "ChainIds", ids);
      json_object_object_add(o, "ExecutorCheck", json_object_new_string("ok"));
      ids = NULL;
    } else {
      json_object_put(o);
      o = NULL;
    }
    json_object_put(ids);
    api_reply_json(r, 200, o);
  } else {
    api_reply_ipc_failure(r, reply, "berth-execd", "layer check");
  }
  if (reply)
    berth_msg_release(reply);
  layers_free(l);
}

static void on_resolve(berth_conn_t *c, berth_msg_t *reply, void *userdata) {
  api_request_t *r = userdata;
  if (!api_request_pending(r)) {
  } else if (reply == NULL || reply->env->op_case != BERTH__IPC__ENVELOPE__OP_IMAGE_RESOLVE_REPLY) {
    api_reply_ipc_failure(r, reply, "berth-imaged", "image resolve");
  } else {
    api_app_t *app = api_request_userdata(r);
    berth_conn_t *exec = api_app_exec_conn(app);
    layers_t *l = calloc(1, sizeof *l);
    if (exec == NULL || l == NULL) {
      free(l);
      api_reply_error(r, 503, "berth-execd is not reachable from berth-apid");
    } else {
      l->r = api_request_ref(r);
      l->env = reply->env;   /* keep the reply: the chain ids are rendered from it */
      reply->env = NULL;
      l->resolved = l->env->image_resolve_reply;
      Berth__Ipc__LayerCheckRequest q = BERTH__IPC__LAYER_CHECK_REQUEST__INIT;
      q.n_chain_ids = l->resolved->n_chain_ids;
      q.chain_ids = l->resolved->chain_ids;
      berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
      env.op_case = BERTH__IPC__ENVELOPE__OP_LAYER_CHECK;
      env.layer_check = &q;
      berth_error_t err = NULL;
      if (berth_conn_call(exec, &env, NULL, 0, on_layer_check, l, &err) < 0) {
        api_reply_error(r, 503, "cannot ask berth-execd to check the layers: %s", err ? err->msg : "unknown error");
        berth_error_release(&err);
        layers_free(l);
      }
      /* r stays suspended (its deadline from the resolve call still runs). */
    }
  }
  if (reply)
    berth_msg_release(reply);
  api_request_unref(r);
}

void api_handle_berth_image_layers(api_request_t *r) {
  const char *name = image_name(r);
  if (name == NULL)
    return;
  Berth__Ipc__ImageResolveRequest q = BERTH__IPC__IMAGE_RESOLVE_REQUEST__INIT;
  q.name = (char *)name;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_IMAGE_RESOLVE;
  env.image_resolve = &q;
  api_image_call(r, &env, NULL, 0, on_resolve, API_IMAGE_TIMEOUT_USEC, "image resolve");
}
