/* POST /containers/{id}/wait?condition=not-running|next-exit|removed.
 * docker run sends it BEFORE start and only starts once the response head
 * arrived (the client's ContainerWait returns after the head), so the 200
 * head goes out at once and the body {"StatusCode":N,"Error":null} follows
 * the event, as dockerd does since API 1.30. No deadline: a wait lasts as
 * long as the container runs (a client that hangs up is noticed by http). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ctr_rt.h"
#include "log.h"

enum { WAIT_NOT_RUNNING, WAIT_NEXT_EXIT, WAIT_REMOVED };

struct ctr_waiter {
  ctr_runtime_t *rt;   /* NULL once answered or detached */
  api_request_t *r;
  int cond;
  bool ready;
  char *body;
  size_t len, off;
  ctr_waiter_t *next;
};

static void unlink_waiter(ctr_waiter_t *w) {
  if (w->rt == NULL)
    return;
  for (ctr_waiter_t **pp = &w->rt->waiters; *pp; pp = &(*pp)->next)
    if (*pp == w) {
      *pp = w->next;
      break;
    }
  w->rt = NULL;
  w->next = NULL;
}

static void answer_json(ctr_waiter_t *w, int exit_code, const char *error) {
  struct json_object *o = json_object_new_object();
  json_object_object_add(o, "StatusCode", json_object_new_int(exit_code));
  struct json_object *e = NULL;
  if (error) {
    e = json_object_new_object();
    json_object_object_add(e, "Message", json_object_new_string(error));
  }
  json_object_object_add(o, "Error", e);
  size_t len = 0;
  const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
  w->body = s ? malloc(len + 2) : NULL;
  if (w->body) {
    memcpy(w->body, s, len);
    w->body[len++] = '\n';
    w->len = len;
  }
  json_object_put(o);
  w->ready = true;
  api_request_wake(w->r);
}

static void answer(ctr_waiter_t *w, int exit_code) {
  answer_json(w, exit_code, NULL);
}

static ssize_t wait_read(api_request_t *r, char *buf, size_t max, void *ud) {
  ctr_waiter_t *w = ud;
  if (!w->ready)
    return 0;
  if (w->body == NULL)
    return API_STREAM_ERROR;
  if (w->off >= w->len)
    return API_STREAM_END;
  size_t n = w->len - w->off;
  if (n > max)
    n = max;
  memcpy(buf, w->body + w->off, n);
  w->off += n;
  return (ssize_t)n;
}

static void wait_done(api_request_t *r, void *ud) {
  ctr_waiter_t *w = ud;
  unlink_waiter(w);
  api_request_unref(w->r);
  free(w->body);
  free(w);
}

static const api_stream_ops_t wait_ops = {.read = wait_read, .done = wait_done};

/* Answers (and detaches) the waiters whose condition is in mask. */
static void answer_some(ctr_runtime_t *rt, unsigned mask) {
  for (ctr_waiter_t **pp = &rt->waiters; *pp;) {
    ctr_waiter_t *w = *pp;
    if (!(mask & (1u << w->cond))) {
      pp = &w->next;
      continue;
    }
    *pp = w->next;
    w->rt = NULL;
    w->next = NULL;
    answer(w, rt->c->exit_code);
  }
}

#define ANY_WAITER ((1u << WAIT_NOT_RUNNING) | (1u << WAIT_NEXT_EXIT) | (1u << WAIT_REMOVED))

void ctr_wait_exited(ctr_runtime_t *rt) {
  answer_some(rt, (1u << WAIT_NOT_RUNNING) | (1u << WAIT_NEXT_EXIT));
}

void ctr_wait_settled(ctr_runtime_t *rt) {
  answer_some(rt, 1u << WAIT_NOT_RUNNING);
}

void ctr_wait_removed(ctr_runtime_t *rt) {
  answer_some(rt, ANY_WAITER);
}

void ctr_wait_removal_failed(ctr_runtime_t *rt, const char *msg) {
  /* dockerd: the removal error goes to condition=removed waiters (docker run --rm prints it). */
  for (ctr_waiter_t **pp = &rt->waiters; *pp;) {
    ctr_waiter_t *w = *pp;
    if (w->cond != WAIT_REMOVED) {
      pp = &w->next;
      continue;
    }
    *pp = w->next;
    w->rt = NULL;
    w->next = NULL;
    answer_json(w, rt->c->exit_code, msg);
  }
}

void ctr_wait_release(ctr_runtime_t *rt) {
  /* The runtime goes away (removal): nobody may wait on it any more. */
  answer_some(rt, ANY_WAITER);
}

void api_handle_ctr_wait(api_request_t *r) {
  api_app_t *app = api_request_userdata(r);
  api_ctr_t *c = ctr_from_request(r);
  if (c == NULL)
    return;
  const char *cond = api_request_query(r, "condition");
  int k;
  if (cond == NULL || cond[0] == '\0' || strcmp(cond, "not-running") == 0)
    k = WAIT_NOT_RUNNING;
  else if (strcmp(cond, "next-exit") == 0)
    k = WAIT_NEXT_EXIT;
  else if (strcmp(cond, "removed") == 0)
    k = WAIT_REMOVED;
  else {
    api_reply_error(r, 400, "invalid condition: \"%s\"", cond);
    return;
  }
  ctr_runtime_t *rt = ctr_rt(app, c);
  ctr_waiter_t *w = rt ? calloc(1, sizeof *w) : NULL;
  if (w == NULL) {
    api_reply_error(r, 500, "out of memory");
    return;
  }
  w->r = api_request_ref(r);
  w->cond = k;
  api_request_attach(r, &wait_ops, w);
  api_reply_stream(r, 200, "application/json", NULL);
  /* dockerd counts a container in its restart backoff as running: the wait lasts to its next stop */
  bool running = c->status == CTR_RUNNING || rt->starting || rt->restarting || c->restart_pending;
  if (k == WAIT_NOT_RUNNING && !running && c->status != CTR_REMOVING) {
    answer(w, c->exit_code);
    return;
  }
  w->rt = rt;
  w->next = rt->waiters;
  rt->waiters = w;
}
