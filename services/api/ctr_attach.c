/* POST /containers/{id}/attach: a hijacked connection (http.h
 * api_reply_upgrade) that carries the container's output (stdcopy frames
 * without a TTY, raw bytes with one) and, with ?stdin=1, the client's input
 * to the container's stdin. Clients may attach before start (docker run
 * does): they wait for the next run and end when it exits. The client's
 * half-close is the end of its stdin: with Config.StdinOnce that closes the
 * container's stdin; output keeps flowing until the container exits. */
#include <stdlib.h>
#include <string.h>
#include "ctr_rt.h"
#include "log.h"

struct ctr_client {
  ctr_runtime_t *rt;
  api_upgrade_t *u;         /* NULL once gone */
  bool out, err, in;        /* streams asked for */
  bool tty;
  bool in_paused;           /* input paused: the stdin queue is full */
  ctr_client_t *next;
};

static unsigned fanout_depth;   /* > 0 while iterating clients: unlink later */

static void sweep(ctr_runtime_t *rt) {
  if (fanout_depth > 0)
    return;
  for (ctr_client_t **pp = &rt->clients; *pp;) {
    ctr_client_t *cl = *pp;
    if (cl->u == NULL) {
      *pp = cl->next;
      free(cl);
    } else {
      pp = &cl->next;
    }
  }
}

bool ctr_attach_wants_output(const ctr_runtime_t *rt) {
  for (const ctr_client_t *cl = rt->clients; cl; cl = cl->next)
    if (cl->u && (cl->out || cl->err))
      return true;
  return false;
}

bool ctr_attach_full(ctr_runtime_t *rt) {
  for (const ctr_client_t *cl = rt->clients; cl; cl = cl->next)
    if (cl->u && api_upgrade_pending(cl->u) >= CTR_CLIENT_HIGH_WATER)
      return true;
  return false;
}

void ctr_attach_output(ctr_runtime_t *rt, int stream, const char *data, size_t len) {
  uint8_t hdr[8];
  ctr_stdcopy_header(hdr, stream, (uint32_t)len);
  fanout_depth++;
  for (ctr_client_t *cl = rt->clients; cl; cl = cl->next) {
    if (cl->u == NULL || !(stream == 1 ? cl->out : cl->err))
      continue;
    if (!cl->tty && api_upgrade_send(cl->u, hdr, sizeof hdr) < 0)
      continue;
    api_upgrade_send(cl->u, data, len);
  }
  fanout_depth--;
  sweep(rt);
}

void ctr_attach_stdin_resume(ctr_runtime_t *rt) {
  if (ctr_chan_stdin_full(rt))
    return;
  fanout_depth++;
  for (ctr_client_t *cl = rt->clients; cl; cl = cl->next)
    if (cl->u && cl->in_paused) {
      cl->in_paused = false;
      api_upgrade_pause_input(cl->u, 0);
    }
  fanout_depth--;
  sweep(rt);
}

void ctr_attach_end_all(ctr_runtime_t *rt) {
  fanout_depth++;
  for (ctr_client_t *cl = rt->clients; cl; cl = cl->next)
    if (cl->u) {
      api_upgrade_t *u = cl->u;
      cl->u = NULL;
      api_upgrade_close(u);   /* flushes what is queued, then closes */
    }
  fanout_depth--;
  sweep(rt);
}

/* ---- one client's connection ---- */

static void on_input(api_upgrade_t *u, const char *data, size_t len, void *ud) {
  ctr_client_t *cl = ud;
  if (!cl->in || cl->u == NULL)
    return;   /* stdin not attached: dropped, as dockerd does */
  ctr_chan_stdin(cl->rt, data, len);
  if (ctr_chan_stdin_full(cl->rt)) {
    cl->in_paused = true;
    api_upgrade_pause_input(u, 1);
  }
}

static void on_input_end(api_upgrade_t *u, void *ud) {
  ctr_client_t *cl = ud;
  if (cl->in && ctr_config_bool(cl->rt->c, "StdinOnce"))
    ctr_chan_stdin_close(cl->rt);
}

static void on_drained(api_upgrade_t *u, void *ud) {
  ctr_client_t *cl = ud;
  ctr_chan_unblock(cl->rt);
}

static void on_closed(api_upgrade_t *u, void *ud) {
  ctr_client_t *cl = ud;
  ctr_runtime_t *rt = cl->rt;
  cl->u = NULL;
  if (cl->in && ctr_config_bool(rt->c, "StdinOnce"))
    ctr_chan_stdin_close(rt);
  sweep(rt);
  ctr_chan_update_subscription(rt);
  ctr_chan_unblock(rt);
}

static const api_upgrade_ops_t client_ops = {
    .input = on_input, .input_end = on_input_end, .drained = on_drained, .closed = on_closed};

void api_handle_ctr_attach(api_request_t *r) {
  api_app_t *app = api_request_userdata(r);
  api_ctr_t *c = ctr_from_request(r);
  if (c == NULL)
    return;
  if (c->status == CTR_REMOVING) {
    api_reply_error(r, 409, "removal of container %s is already in progress", c->id);
    return;
  }
  bool stream = api_request_query_bool(r, "stream", 0);
  bool logs = api_request_query_bool(r, "logs", 0);
  if (!stream && !logs) {
    api_reply_error(r, 400, "Bad parameters: you must choose at least one stream");
    return;
  }
  ctr_runtime_t *rt = ctr_rt(app, c);
  ctr_client_t *cl = rt ? calloc(1, sizeof *cl) : NULL;
  if (cl == NULL) {
    api_reply_error(r, 500, "out of memory");
    return;
  }
  cl->rt = rt;
  cl->tty = ctr_tty(c);
  cl->out = api_request_query_bool(r, "stdout", 0);
  cl->err = api_request_query_bool(r, "stderr", 0);
  cl->in = api_request_query_bool(r, "stdin", 0) && ctr_config_bool(c, "OpenStdin") && api_request_wants_upgrade(r);
  if (!stream) {
    /* logs=1 alone: the log is not replayed on attach (use GET /logs); nothing follows. */
    cl->out = cl->err = cl->in = false;
  }
  cl->u = api_reply_upgrade(r, "application/vnd.docker.raw-stream", &client_ops, cl);
  if (cl->u == NULL) {
    free(cl);
    return;
  }
  if (!stream) {
    api_upgrade_close(cl->u);
    free(cl);
    return;
  }
  cl->next = rt->clients;
  rt->clients = cl;
  ctr_chan_update_subscription(rt);
}
