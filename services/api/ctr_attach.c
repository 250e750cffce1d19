/* POST /containers/{id}/attach: a hijacked connection (http.h
 * api_reply_upgrade; without Upgrade headers a plain streamed 200) that
 * carries the container's output (stdcopy frames without a TTY, raw bytes
 * with one) and, with ?stdin=1, the client's input to the container's
 * stdin. Clients may attach before start (docker run does): they wait for
 * the next run and end when it exits. The client's half-close is the end of
 * its stdin: with Config.StdinOnce that closes the container's stdin;
 * output keeps flowing until the container exits.
 *
 * logs=1 first replays the container's log (ctr_log_replay: the json-file
 * records of the streams asked for, framed like the live output), as
 * dockerd does; with stream=0 the response ends there. With stream=1 the
 * client is registered for live output before the replay starts reading;
 * what arrives meanwhile is held. The monitor writes each complete line to
 * the log before it sends the output to berth-apid, so every complete line
 * of a chunk held before the replay's last read of the log's end (the
 * mark) is in the replay -- the replay ends only once a scan after the mark
 * found the file it read to the end still the newest. At the switch the
 * held chunks lose those lines; the rest (the partial line after the last
 * newline of each stream, and every chunk that came after the mark) is
 * sent, then the live stream.
 * What berth guarantees: for a container that is not running, the replay is
 * exactly its log (and a later run's output follows with stream=1). For a
 * running one, no gap: every line is in the replay or in the live stream,
 * in order per stream. A line comes twice only when the monitor logged it
 * before the mark and berth-apid had not read it yet. The mark is taken
 * right after the event loop found the channel empty (on_replay_at_end), so
 * that is what the monitor sent in the microseconds since; more only when
 * the client reads so slowly that HELD_MAX was held and the channel
 * blocked (then up to what the channel buffers). Docker has such a window
 * too. As in Docker, a partial line the container had begun before the
 * attach and not finished is in neither the log nor the live output, and
 * a line over 16 KiB cut across the switch (the monitor logs it in pieces)
 * may repeat its first pieces. */
#include <stdlib.h>
#include <string.h>
#include "ctr_rt.h"
#include "events.h"
#include "log.h"

/* Held output beyond this blocks the channel (the container waits); then
 * the output in flight at the mark can be as much as the channel holds. */
#define HELD_MAX (16u * CTR_CLIENT_HIGH_WATER)
/* Reads of the log's end at idle priority before the mark is taken anyway. */
#define REPLAY_IDLE_TRIES 32u

/* Live output that came during the replay. */
typedef struct held {
  struct held *next;
  int stream;
  size_t len;
  char data[];
} held_t;

struct ctr_client {
  ctr_runtime_t *rt;        /* NULL when not in rt->clients (stream=0, or detached at the exit) */
  api_upgrade_t *u;         /* NULL once gone */
  bool out, err, in;        /* streams asked for */
  bool tty;
  bool in_paused;           /* input paused: the stdin queue is full */
  bool stream;              /* live output after the replay */
  bool ended;               /* the container exited during the replay: close after it */
  bool busy;                /* replay_pump or replay_over runs: closed() only marks */
  ctr_follow_t *replay;     /* logs=1, until the replay is over */
  held_t *held, **held_tail;
  size_t held_bytes, held_count;
  size_t held_mark;         /* chunks held when the replay last read the log's end */
  api_app_t *app;
  sd_event_source *idle;    /* the next read of the log's end, at idle priority */
  bool at_idle;             /* the replay is being read from that event */
  size_t idle_read;         /* bytes the replay gave since */
  unsigned idle_tries;
  ctr_client_t *next;
};

static unsigned fanout_depth;   /* > 0 while iterating clients: unlink later */

static void held_free(ctr_client_t *cl);

static void client_free(ctr_client_t *cl) {
  sd_event_source_disable_unref(cl->idle);
  ctr_log_replay_end(cl->replay);
  held_free(cl);
  free(cl);
}

static void sweep(ctr_runtime_t *rt) {
  if (fanout_depth > 0)
    return;
  for (ctr_client_t **pp = &rt->clients; *pp;) {
    ctr_client_t *cl = *pp;
    if (cl->u == NULL) {
      *pp = cl->next;
      client_free(cl);
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
    if (cl->u && (api_upgrade_pending(cl->u) >= CTR_CLIENT_HIGH_WATER || cl->held_bytes >= HELD_MAX))
      return true;
  return false;
}

static void send_frame(ctr_client_t *cl, int stream, const char *data, size_t len) {
  uint8_t hdr[8];
  ctr_stdcopy_header(hdr, stream, (uint32_t)len);
  if (cl->u && (cl->tty || api_upgrade_send(cl->u, hdr, sizeof hdr) == 0))
    api_upgrade_send(cl->u, data, len);
}

static int hold(ctr_client_t *cl, int stream, const char *data, size_t len) {
  held_t *h = malloc(sizeof *h + len);
  if (h == NULL)
    return -1;
  h->next = NULL;
  h->stream = stream;
  h->len = len;
  memcpy(h->data, data, len);
  *(cl->held ? cl->held_tail : &cl->held) = h;
  cl->held_tail = &h->next;
  cl->held_bytes += len;
  cl->held_count++;
  return 0;
}

static void held_free(ctr_client_t *cl) {
  while (cl->held) {
    held_t *h = cl->held;
    cl->held = h->next;
    free(h);
  }
  cl->held_bytes = cl->held_count = cl->held_mark = 0;
}

/* Sends what was held; complete: the replay went past the mark, so the
 * complete lines of the chunks held before it are in the replay already. */
static void send_held(ctr_client_t *cl, bool complete) {
  const held_t *last_nl[3] = {NULL, NULL, NULL};
  size_t nl_end[3] = {0, 0, 0};
  size_t i = 0;
  for (const held_t *h = cl->held; complete && h && i < cl->held_mark; h = h->next, i++) {
    const char *nl = memrchr(h->data, '\n', h->len);
    if (nl) {
      last_nl[h->stream] = h;
      nl_end[h->stream] = (size_t)(nl - h->data) + 1;
    }
  }
  bool past[3] = {true, last_nl[1] == NULL, last_nl[2] == NULL};
  for (const held_t *h = cl->held; h; h = h->next) {
    size_t skip = 0;
    if (!past[h->stream]) {
      past[h->stream] = h == last_nl[h->stream];
      skip = past[h->stream] ? nl_end[h->stream] : h->len;
    }
    if (skip < h->len)
      send_frame(cl, h->stream, h->data + skip, h->len - skip);
  }
  held_free(cl);
}

void ctr_attach_output(ctr_runtime_t *rt, int stream, const char *data, size_t len) {
  fanout_depth++;
  for (ctr_client_t *cl = rt->clients; cl; cl = cl->next) {
    if (cl->u == NULL || !(stream == 1 ? cl->out : cl->err))
      continue;
    if (cl->replay == NULL) {
      send_frame(cl, stream, data, len);
    } else if (hold(cl, stream, data, len) < 0) {
      log_err("container %.12s: out of memory holding output for an attach: connection closed", rt->c->id);
      api_upgrade_t *u = cl->u;
      cl->u = NULL;   /* swept below; the replay ends there */
      api_upgrade_close(u);
    }
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
  for (ctr_client_t **pp = &rt->clients; *pp;) {
    ctr_client_t *cl = *pp;
    if (cl->u && cl->replay) {
      /* still replaying: it finishes on its own (held output, then close) */
      *pp = cl->next;
      cl->next = NULL;
      cl->rt = NULL;
      cl->ended = true;
      continue;
    }
    if (cl->u) {
      api_upgrade_t *u = cl->u;
      cl->u = NULL;
      api_upgrade_close(u);   /* flushes what is queued, then closes */
    }
    pp = &cl->next;
  }
  fanout_depth--;
  sweep(rt);
}

/* ---- the replay (logs=1) ---- */

/* The client is gone (its connection failed): forget it. */
static void client_gone(ctr_client_t *cl) {
  ctr_runtime_t *rt = cl->rt;
  cl->u = NULL;
  if (rt == NULL) {
    client_free(cl);   /* not in any list */
    return;
  }
  if (cl->in && ctr_config_bool(rt->c, "StdinOnce"))
    ctr_chan_stdin_close(rt);
  sweep(rt);
  ctr_chan_update_subscription(rt);
  ctr_chan_unblock(rt);
}

/* The replay ended (complete: up to a verified mark, else cut short): the
 * held output, then live output or the end. */
static void replay_over(ctr_client_t *cl, bool complete) {
  ctr_log_replay_end(cl->replay);
  cl->replay = NULL;
  cl->idle = sd_event_source_disable_unref(cl->idle);
  cl->busy = true;
  send_held(cl, complete);
  cl->busy = false;
  if (cl->u == NULL) {
    client_gone(cl);
  } else if (!cl->stream || cl->ended) {
    api_upgrade_t *u = cl->u;
    cl->u = NULL;
    api_upgrade_close(u);   /* flushes, then closes; no callbacks after this */
    if (cl->rt == NULL)
      client_free(cl);
    else
      sweep(cl->rt);
  } else if (cl->rt) {
    ctr_chan_unblock(cl->rt);
  }
}

static void replay_pump(ctr_client_t *cl) {
  if (cl->busy || cl->replay == NULL)
    return;
  cl->busy = true;
  char buf[16384];
  ssize_t n = 0;
  while (cl->u && api_upgrade_pending(cl->u) < CTR_CLIENT_HIGH_WATER) {
    n = ctr_log_replay_read(cl->replay, buf, sizeof buf);
    if (n <= 0)
      break;
    cl->idle_read += (size_t)n;
    api_upgrade_send(cl->u, buf, (size_t)n);
  }
  cl->busy = false;
  if (cl->u == NULL)
    client_gone(cl);
  else if (n < 0)
    replay_over(cl, n == API_STREAM_END);
  /* else 0 (sink->wake comes) or the client is full (drained comes) */
}

static void on_replay_wake(void *ud) {
  replay_pump(ud);
}

static int on_idle(sd_event_source *s, void *ud) {
  ctr_client_t *cl = ud;
  cl->idle = sd_event_source_disable_unref(cl->idle);
  cl->at_idle = true;
  cl->idle_read = 0;
  replay_pump(cl);
  return 0;
}

/* The replay read the log's end: the mark, if the channel was drained just
 * before. An idle-priority event runs only when no other source (the
 * channel to the monitor among them) has anything pending; so the mark is
 * taken when a read from such an event found nothing new. That keeps the
 * output in flight from the monitor at the mark -- logged, not yet read by
 * us, so both in the replay and held after the mark -- to what the monitor
 * sent in the microseconds since that check. */
static bool on_replay_at_end(void *ud) {
  ctr_client_t *cl = ud;
  if (cl->at_idle && (cl->idle_read == 0 || cl->idle_tries >= REPLAY_IDLE_TRIES)) {
    cl->at_idle = false;
    cl->idle_tries = 0;
    cl->held_mark = cl->held_count;
    return true;
  }
  cl->at_idle = false;
  cl->idle_tries++;
  sd_event *e = cl->app->svc ? berth_service_event(cl->app->svc) : NULL;
  if (cl->idle == NULL && (e == NULL || sd_event_add_defer(e, &cl->idle, on_idle, cl) < 0 ||
                           sd_event_source_set_priority(cl->idle, SD_EVENT_PRIORITY_IDLE) < 0)) {
    cl->idle = sd_event_source_disable_unref(cl->idle);
    cl->held_mark = cl->held_count;   /* cannot wait: mark now */
    return true;
  }
  return false;
}

static const ctr_log_sink_t replay_sink = {.wake = on_replay_wake, .at_end = on_replay_at_end};

/* ---- one client's connection ---- */

static void on_input(api_upgrade_t *u, const char *data, size_t len, void *ud) {
  ctr_client_t *cl = ud;
  if (!cl->in || cl->u == NULL || cl->rt == NULL)
    return;   /* stdin not attached: dropped, as dockerd does */
  ctr_chan_stdin(cl->rt, data, len);
  if (ctr_chan_stdin_full(cl->rt)) {
    cl->in_paused = true;
    api_upgrade_pause_input(u, 1);
  }
}

static void on_input_end(api_upgrade_t *u, void *ud) {
  ctr_client_t *cl = ud;
  if (cl->in && cl->rt && ctr_config_bool(cl->rt->c, "StdinOnce"))
    ctr_chan_stdin_close(cl->rt);
}

static void on_drained(api_upgrade_t *u, void *ud) {
  ctr_client_t *cl = ud;
  if (cl->replay)
    replay_pump(cl);
  else if (cl->rt)
    ctr_chan_unblock(cl->rt);
}

static void on_closed(api_upgrade_t *u, void *ud) {
  ctr_client_t *cl = ud;
  cl->u = NULL;
  if (!cl->busy)
    client_gone(cl);   /* else the pump sees u == NULL and does it */
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
  ctr_runtime_t *rt = stream ? ctr_rt(app, c) : NULL;
  ctr_client_t *cl = rt || !stream ? calloc(1, sizeof *cl) : NULL;
  if (cl == NULL) {
    api_reply_error(r, 500, "out of memory");
    return;
  }
  cl->app = app;
  cl->tty = ctr_tty(c);
  cl->stream = stream;
  cl->out = api_request_query_bool(r, "stdout", 0);
  cl->err = api_request_query_bool(r, "stderr", 0);
  cl->in = stream && api_request_query_bool(r, "stdin", 0) && ctr_config_bool(c, "OpenStdin") &&
           api_request_wants_upgrade(r);
  if (logs) {
    cl->replay = ctr_log_replay(app, c, cl->out, cl->err, stream, &replay_sink, cl);
    if (cl->replay == NULL) {
      free(cl);
      api_reply_error(r, 503, "berth-execd is not connected (it is being restarted); try again");
      return;
    }
  }
  cl->u = api_reply_upgrade(r, "application/vnd.docker.raw-stream", &client_ops, cl);
  if (cl->u == NULL) {
    client_free(cl);
    return;
  }
  api_event_ctr(c, "attach", NULL);
  if (stream) {
    /* live output is held from now on: before the replay first reads the log */
    cl->rt = rt;
    cl->next = rt->clients;
    rt->clients = cl;
    ctr_chan_update_subscription(rt);
  }
  replay_pump(cl);
}
