/* berth-imaged: the image store and every image operation, as root of its
 * own user namespace. Requests come from apid (the dispatch table allows
 * no one else); quick ones are answered on the loop, loads and saves run on
 * worker threads whose completion comes back to the loop (worker.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "berth.h"
#include "cleanup.h"
#include "document.h"
#include "load.h"
#include "log.h"
#include "query.h"
#include "save.h"
#include "service.h"
#include "store.h"
#include "worker.h"

typedef struct {
  berth_service_t *svc;
  berth_store_t *store;
  image_limits_t limits;
  /* Bumped whenever the api edge is replaced, so a worker finishing after a
   * reconnect never answers on a stranger's connection. */
  uint64_t api_gen;
} imaged_t;

static imaged_t imaged;

/* ---- the store, opened at start-up (again on demand if that failed) ---- */

static berth_store_t *store_get(berth_error_t *err) {
  if (imaged.store != NULL)
    return imaged.store;
  char path[PATH_MAX];
  snprintf(path, sizeof(path), "%s/image", berth_service_data_root(imaged.svc));
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    berth_error_errno(err, "image store %s (berth-execd creates it)", path);
    return NULL;
  }
  if (berth_store_open(fd, &imaged.store, err) < 0)
    return NULL;
  return imaged.store;
}

/* ---- replies ---- */

static void reply_err(berth_conn_t *c, uint64_t id, berth_error_t *err) {
  int st = *err && (*err)->status ? (*err)->status : EIO;
  berth_conn_reply_error(c, id, st, "%s", *err && (*err)->msg ? (*err)->msg : strerror(st));
  berth_error_release(err);
}

static void reply_ok(berth_conn_t *c, uint64_t id) {
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  Berth__Ipc__Ok ok = BERTH__IPC__OK__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_OK;
  env.ok = &ok;
  berth_error_t err = NULL;
  if (berth_conn_reply(c, id, &env, NULL, 0, &err) < 0) {
    log_warn("reply: %s", err && err->msg ? err->msg : "failed");
    berth_error_release(&err);
  }
}

static void reply_document(berth_conn_t *c, uint64_t id, char *json) {
  berth_error_t err = NULL;
  size_t len = strlen(json);
  cleanup_close int fd = document_memfd(json, len, &err);
  free(json);
  if (fd < 0) {
    reply_err(c, id, &err);
    return;
  }
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  Berth__Ipc__Document doc = BERTH__IPC__DOCUMENT__INIT;
  doc.size = len;
  env.op_case = BERTH__IPC__ENVELOPE__OP_DOCUMENT;
  env.document = &doc;
  if (berth_conn_reply(c, id, &env, &fd, 1, &err) < 0) {
    log_warn("document reply: %s", err && err->msg ? err->msg : "failed");
    berth_error_release(&err);
  }
}

/* ---- load and save on workers ---- */

typedef struct {
  berth_conn_t *conn;
  uint64_t gen, request_id;
  int archive_fd, progress_fd;
  bool quiet;
  load_result_t result;
  berth_error_t err;
  int rc;
} load_job_t;

/* The api edge a job came in on is still the current one (not closed, not
 * replaced: a replacement bumps api_gen even if it reuses the address). */
static bool conn_still_there(berth_conn_t *c, uint64_t gen) {
  return c != NULL && c == berth_service_peer_conn(imaged.svc, BERTH__IPC__PEER__PEER_API) && gen == imaged.api_gen;
}

static void load_run(void *p) {
  load_job_t *j = p;
  j->rc = image_load(imaged.store, j->archive_fd, j->progress_fd, j->quiet, &imaged.limits, &j->result, &j->err);
  /* berth.proto: imaged closes both pipes when done, then replies */
  close(j->archive_fd);
  if (j->progress_fd >= 0)
    close(j->progress_fd);
}

static void load_done(void *p) {
  load_job_t *j = p;
  if (!conn_still_there(j->conn, j->gen)) {
    log_info("load finished (%s) after its requester went away", j->rc < 0 ? "failed" : "ok");
  } else if (j->rc < 0) {
    reply_err(j->conn, j->request_id, &j->err);
  } else {
    berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
    Berth__Ipc__ImageLoadReply rep = BERTH__IPC__IMAGE_LOAD_REPLY__INIT;
    rep.n_loaded = j->result.n_loaded;
    rep.loaded = j->result.loaded;
    rep.n_skipped = j->result.n_skipped;
    rep.skipped = j->result.skipped;
    rep.n_image_ids = j->result.n_image_ids;
    rep.image_ids = j->result.image_ids;
    env.op_case = BERTH__IPC__ENVELOPE__OP_IMAGE_LOAD_REPLY;
    env.image_load_reply = &rep;
    berth_error_t err = NULL;
    if (berth_conn_reply(j->conn, j->request_id, &env, NULL, 0, &err) < 0) {
      /* e.g. EMSGSIZE for a huge skipped list: say so rather than nothing */
      berth_conn_reply_error(j->conn, j->request_id, err && err->status ? err->status : EIO,
                             "images loaded, but the reply could not be sent: %s",
                             err && err->msg ? err->msg : "failed");
      berth_error_release(&err);
    }
  }
  berth_error_release(&j->err);
  load_result_free(&j->result);
  free(j);
}

static void handle_load(berth_conn_t *c, berth_msg_t *req) {
  uint64_t id = req->env->request_id;
  berth_error_t err = NULL;
  if (store_get(&err) == NULL) {
    berth_msg_release(req);
    reply_err(c, id, &err);
    return;
  }
  load_job_t *j = calloc(1, sizeof(*j));
  if (j == NULL) {
    berth_msg_release(req);
    berth_conn_reply_error(c, id, ENOMEM, "out of memory");
    return;
  }
  j->conn = c;
  j->gen = imaged.api_gen;
  j->request_id = id;
  j->quiet = req->env->image_load && req->env->image_load->quiet;
  j->archive_fd = berth_msg_take_fd(req, 0);
  j->progress_fd = berth_msg_take_fd(req, 1);
  berth_msg_release(req);
  if (worker_run(berth_service_event(imaged.svc), load_run, load_done, j, &err) < 0) {
    close(j->archive_fd);
    if (j->progress_fd >= 0)
      close(j->progress_fd);
    free(j);
    reply_err(c, id, &err);
  }
}

typedef struct {
  save_plan_t *plan;
  int out_fd;
} save_job_t;

static void save_run(void *p) {
  save_job_t *j = p;
  berth_error_t err = NULL;
  if (image_save_write(imaged.store, j->plan, j->out_fd, &err) < 0) {
    /* the reply (Ok) went out already: an early close tells apid */
    log_warn("save: %s", err && err->msg ? err->msg : "failed");
    berth_error_release(&err);
  }
  close(j->out_fd);
}

static void save_done(void *p) {
  save_job_t *j = p;
  save_plan_free(j->plan);
  free(j);
}

static void handle_save(berth_conn_t *c, berth_msg_t *req) {
  uint64_t id = req->env->request_id;
  berth_error_t err = NULL;
  Berth__Ipc__ImageSaveRequest *r = req->env->image_save;
  save_job_t *j = calloc(1, sizeof(*j));
  if (j == NULL || store_get(&err) == NULL ||
      image_save_resolve(imaged.store, r ? r->names : NULL, r ? r->n_names : 0, &j->plan, &err) < 0) {
    if (j == NULL && err == NULL)
      berth_error_make(&err, ENOMEM, "out of memory");
    free(j);
    berth_msg_release(req);
    reply_err(c, id, &err);
    return;
  }
  j->out_fd = berth_msg_take_fd(req, 0);
  berth_msg_release(req);
  if (worker_run(berth_service_event(imaged.svc), save_run, save_done, j, &err) < 0) {
    close(j->out_fd);
    save_plan_free(j->plan);
    free(j);
    reply_err(c, id, &err);
    return;
  }
  reply_ok(c, id);
}

/* ---- the quick operations, on the loop ---- */

static void handle_query(berth_conn_t *c, berth_msg_t *req) {
  uint64_t id = req->env->request_id;
  Berth__Ipc__ImageQueryRequest *q = req->env->image_query;
  berth_error_t err = NULL;
  char *json = NULL;
  int r = -1;
  berth_store_t *st = store_get(&err);
  if (st != NULL && q != NULL) {
    switch (q->kind) {
    case BERTH__IPC__IMAGE_QUERY_REQUEST__KIND__LIST:
      r = image_query_list(st, q->filters_json, q->all, &json, &err);
      break;
    case BERTH__IPC__IMAGE_QUERY_REQUEST__KIND__INSPECT:
      r = image_query_inspect(st, q->name, &json, &err);
      break;
    case BERTH__IPC__IMAGE_QUERY_REQUEST__KIND__HISTORY:
      r = image_query_history(st, q->name, &json, &err);
      break;
    default:
      berth_error_make(&err, EINVAL, "unknown image query kind %d", (int)q->kind);
    }
  }
  berth_msg_release(req);
  if (r < 0)
    reply_err(c, id, &err);
  else
    reply_document(c, id, json);
}

/* The containers apid says use images, for this thread's remove or prune. */
static __thread image_use_t *thread_uses;

static int uses_set(Berth__Ipc__ImageUse *const *in, size_t n) {
  if (n > 0 && (thread_uses = calloc(n, sizeof *thread_uses)) == NULL)
    return -1;
  for (size_t i = 0; i < n; i++)
    thread_uses[i] = (image_use_t){in[i]->image_id, in[i]->container_id, in[i]->running};
  image_uses_set(thread_uses, n);
  return 0;
}

static void uses_clear(void) {
  image_uses_set(NULL, 0);
  free(thread_uses);
  thread_uses = NULL;
}

static void handle_simple(berth_conn_t *c, berth_msg_t *req) {
  uint64_t id = req->env->request_id;
  berth_envelope_t *env = req->env;
  berth_error_t err = NULL;
  char *json = NULL;
  int r = -1;
  berth_store_t *st = store_get(&err);
  if (st == NULL) {
    berth_msg_release(req);
    reply_err(c, id, &err);
    return;
  }
  switch (env->op_case) {
  case BERTH__IPC__ENVELOPE__OP_IMAGE_TAG:
    r = image_tag(st, env->image_tag->source, env->image_tag->repo, env->image_tag->tag, &err);
    berth_msg_release(req);
    if (r < 0)
      reply_err(c, id, &err);
    else
      reply_ok(c, id);
    return;
  case BERTH__IPC__ENVELOPE__OP_IMAGE_REMOVE:
    if (uses_set(env->image_remove->uses, env->image_remove->n_uses) == 0)
      r = image_remove(st, env->image_remove->name, env->image_remove->force, env->image_remove->noprune, &json,
                       &err);
    else
      berth_error_make(&err, ENOMEM, "out of memory");
    uses_clear();
    break;
  case BERTH__IPC__ENVELOPE__OP_IMAGE_PRUNE:
    if (uses_set(env->image_prune->uses, env->image_prune->n_uses) == 0)
      r = image_prune(st, env->image_prune->filters_json, &json, &err);
    else
      berth_error_make(&err, ENOMEM, "out of memory");
    uses_clear();
    break;
  case BERTH__IPC__ENVELOPE__OP_IMAGE_RESOLVE: {
    char image_id[BERTH_DIGEST_SIZE];
    char(*chains)[BERTH_DIGEST_SIZE] = NULL;
    size_t n = 0;
    r = image_resolve(st, env->image_resolve->name, image_id, &chains, &n, &err);
    berth_msg_release(req);
    if (r < 0) {
      reply_err(c, id, &err);
      return;
    }
    char **ptrs = calloc(n ? n : 1, sizeof(char *));
    if (ptrs == NULL) {
      free(chains);
      berth_conn_reply_error(c, id, ENOMEM, "out of memory");
      return;
    }
    for (size_t i = 0; i < n; i++)
      ptrs[i] = chains[i];
    berth_envelope_t out = BERTH__IPC__ENVELOPE__INIT;
    Berth__Ipc__ImageResolveReply rep = BERTH__IPC__IMAGE_RESOLVE_REPLY__INIT;
    rep.image_id = image_id;
    rep.n_chain_ids = n;
    rep.chain_ids = ptrs;
    out.op_case = BERTH__IPC__ENVELOPE__OP_IMAGE_RESOLVE_REPLY;
    out.image_resolve_reply = &rep;
    if (berth_conn_reply(c, id, &out, NULL, 0, &err) < 0)
      reply_err(c, id, &err);
    free(ptrs);
    free(chains);
    return;
  }
  default:
    berth_error_make(&err, EOPNOTSUPP, "berth-imaged does not serve %s", berth_op_name(env->op_case));
  }
  berth_msg_release(req);
  if (r < 0)
    reply_err(c, id, &err);
  else
    reply_document(c, id, json);
}

static void on_request(berth_conn_t *c, berth_msg_t *req, void *userdata) {
  switch (req->env->op_case) {
  case BERTH__IPC__ENVELOPE__OP_IMAGE_LOAD:
    handle_load(c, req);
    return;
  case BERTH__IPC__ENVELOPE__OP_IMAGE_SAVE:
    handle_save(c, req);
    return;
  case BERTH__IPC__ENVELOPE__OP_IMAGE_QUERY:
    handle_query(c, req);
    return;
  default:
    handle_simple(c, req);
  }
}

static void on_peer(berth_service_t *s, Berth__Ipc__Peer peer, berth_conn_t *conn, void *userdata) {
  if (peer == BERTH__IPC__PEER__PEER_API)
    imaged.api_gen++;
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0) {
      printf("Usage: berth-imaged [--data-root DIR] [--run-root DIR] [--config FILE]\n"
             "A berth service: started by berth-execd (fd %d is its edge), not by hand.\n",
             BERTH_FD_EXEC_EDGE);
      return 0;
    }
  berth_error_t err = NULL;
  berth_service_config_t cfg = {
    .self = BERTH__IPC__PEER__PEER_IMAGE,
    .argc = argc,
    .argv = argv,
    .on_request = on_request,
    .on_peer = on_peer,
  };
  if (berth_service_start(&cfg, &imaged.svc, &err) < 0) {
    log_err("%s", err && err->msg ? err->msg : "start-up failed");
    berth_error_release(&err);
    return 1;
  }
  imaged.limits.config_path = berth_service_config_path(imaged.svc);
  if (berth_config_uint64(berth_service_config(imaged.svc), imaged.limits.config_path, "image-max-uncompressed-bytes",
                          IMAGE_DEFAULT_MAX_UNCOMPRESSED_BYTES, &imaged.limits.max_uncompressed_bytes, &err) < 0) {
    log_err("%s", err && err->msg ? err->msg : "bad configuration");
    berth_error_release(&err);
    return 1;
  }
  if (store_get(&err) == NULL) {
    /* keep serving: every image request reports this until the store opens */
    log_err("%s", err && err->msg ? err->msg : "image store unavailable");
    berth_error_release(&err);
  }
  log_info("berth-imaged %s ready", BERTH_VERSION_STRING);
  int rc = berth_service_run(imaged.svc);
  /* Workers still running are cut off by the exit; the next start cleans up after them. */
  if (worker_count() == 0)
    berth_store_close(imaged.store);
  return rc;
}
