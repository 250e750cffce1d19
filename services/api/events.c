/* The event hub of berth-apid: the ring, the subscribers (GET /events) and
 * the emit calls. apid is one event loop, so the hub is a single static
 * (dockerd's daemon has one EventsService too). */
#include "events.h"
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cleanup.h"
#include "events_log.h"
#include "log.h"

/* Bytes a subscriber may have waiting: dockerd keeps 1024 messages per
 * subscriber and skips it when it does not take one within 100 ms; apid
 * ends the stream of a client that falls this far behind instead of
 * growing without bound. */
#define SUB_QUEUE_MAX (2u * 1024u * 1024u)

typedef struct sub {
  struct sub *next;
  api_request_t *r;
  struct json_object *filters;
  int64_t until_ns;
  char *buf;
  size_t len, off, cap;
  bool ended, overflow;
  sd_event_source *timer; /* ends the stream at until */
} sub_t;

static api_event_ring_t ring;
static sub_t *subs;

static int64_t now_realtime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Queues ev's line for s; false when s is too far behind (or out of memory). */
static bool sub_queue(sub_t *s, const api_event_t *ev) {
  if (s->off > 0 && s->off == s->len)
    s->off = s->len = 0;
  size_t pending = s->len - s->off;
  if (pending > 0 && pending + ev->len > SUB_QUEUE_MAX)
    return false;
  if (s->off > 0 && s->len + ev->len > s->cap) {
    memmove(s->buf, s->buf + s->off, pending);
    s->len = pending;
    s->off = 0;
  }
  if (s->len + ev->len > s->cap) {
    size_t cap = s->cap ? s->cap : 4096;
    while (cap < s->len + ev->len)
      cap *= 2;
    char *b = realloc(s->buf, cap);
    if (b == NULL)
      return false;
    s->buf = b;
    s->cap = cap;
  }
  memcpy(s->buf + s->len, ev->line, ev->len);
  s->len += ev->len;
  return true;
}

static void publish(api_event_t *ev) {
  if (ev == NULL) {
    log_warn("an event was lost: out of memory");
    return;
  }
  for (sub_t *s = subs; s; s = s->next) {
    if (s->ended || (s->until_ns != API_EVENT_TIME_UNSET && ev->time_ns > s->until_ns) ||
        !api_event_match(ev, s->filters))
      continue;
    if (!sub_queue(s, ev)) {
      log_warn("events: a client fell %u bytes behind: its stream ends", SUB_QUEUE_MAX);
      s->overflow = s->ended = true;
    }
    api_request_wake(s->r);
  }
  api_event_ring_push(&ring, ev);
}

static void add_pairs(struct json_object *attrs, va_list ap) {
  for (const char *k; (k = va_arg(ap, const char *)) != NULL;) {
    const char *v = va_arg(ap, const char *);
    json_object_object_add(attrs, k, json_object_new_string(v ? v : ""));
  }
}

void api_event_ctr(const api_ctr_t *c, const char *action, ...) {
  struct json_object *attrs = json_object_new_object(), *labels = NULL;
  if (attrs == NULL || c == NULL) {
    json_object_put(attrs);
    return;
  }
  va_list ap;
  va_start(ap, action);
  add_pairs(attrs, ap);
  va_end(ap);
  if (json_object_object_get_ex(c->config, "Labels", &labels) && json_object_is_type(labels, json_type_object)) {
    json_object_object_foreach(labels, k, v) {
      json_object_object_add(attrs, k, json_object_new_string(json_object_get_string(v)));
    }
  }
  if (c->image[0])
    json_object_object_add(attrs, "image", json_object_new_string(c->image));
  json_object_object_add(attrs, "name", json_object_new_string(c->name));
  publish(api_event_new("container", action, c->id, attrs, now_realtime()));
}

void api_event_image(const char *image_id, const char *name, const char *action) {
  struct json_object *attrs = json_object_new_object();
  if (attrs && name)
    json_object_object_add(attrs, "name", json_object_new_string(name));
  publish(api_event_new("image", action, image_id, attrs, now_realtime()));
}

void api_event_prune(const char *type, uint64_t reclaimed) {
  char n[24];
  snprintf(n, sizeof n, "%llu", (unsigned long long)reclaimed);
  struct json_object *attrs = json_object_new_object();
  if (attrs)
    json_object_object_add(attrs, "reclaimed", json_object_new_string(n));
  publish(api_event_new(type, "prune", "", attrs, now_realtime()));
}

void api_event_image_report(const char *json) {
  struct json_object *doc = json_tokener_parse(json), *items = doc, *v;
  bool prune = doc && json_object_is_type(doc, json_type_object);
  if (prune && !json_object_object_get_ex(doc, "ImagesDeleted", &items))
    items = NULL;
  size_t n = items && json_object_is_type(items, json_type_array) ? json_object_array_length(items) : 0;
  /* the image's id is in the report only when it was deleted: an untag of
   * an image that stays is named by its reference */
  const char *deleted = NULL;
  for (size_t i = 0; i < n && deleted == NULL; i++)
    if (json_object_object_get_ex(json_object_array_get_idx(items, i), "Deleted", &v))
      deleted = json_object_get_string(v);
  for (size_t i = 0; i < n; i++) {
    struct json_object *it = json_object_array_get_idx(items, i);
    if (json_object_object_get_ex(it, "Untagged", &v)) {
      const char *id = deleted ? deleted : json_object_get_string(v);
      api_event_image(id, id, "untag");
    } else if (json_object_object_get_ex(it, "Deleted", &v)) {
      api_event_image(json_object_get_string(v), json_object_get_string(v), "delete");
    }
  }
  if (prune && json_object_object_get_ex(doc, "SpaceReclaimed", &v))
    api_event_prune("image", (uint64_t)json_object_get_int64(v));
  json_object_put(doc);
}

void api_events_shutdown(void) {
  api_event_ring_clear(&ring);
}

/* ---- GET /events ---- */

static void sub_free(sub_t *s) {
  for (sub_t **pp = &subs; *pp; pp = &(*pp)->next)
    if (*pp == s) {
      *pp = s->next;
      break;
    }
  sd_event_source_disable_unref(s->timer);
  json_object_put(s->filters);
  free(s->buf);
  free(s);
}

static ssize_t sub_read(api_request_t *r, char *buf, size_t max, void *ud) {
  sub_t *s = ud;
  (void)r;
  if (s->overflow)
    return API_STREAM_ERROR; /* a truncated chunked body: the client sees an error */
  if (s->off < s->len) {
    size_t n = s->len - s->off;
    if (n > max)
      n = max;
    memcpy(buf, s->buf + s->off, n);
    s->off += n;
    return (ssize_t)n;
  }
  return s->ended ? API_STREAM_END : 0;
}

static void sub_done(api_request_t *r, void *ud) {
  (void)r;
  sub_free(ud);
}

static const api_stream_ops_t sub_ops = {.read = sub_read, .done = sub_done};

static int on_until(sd_event_source *src, uint64_t usec, void *ud) {
  sub_t *s = ud;
  (void)src;
  (void)usec;
  s->ended = true;
  api_request_wake(s->r);
  return 0;
}

void api_handle_events(api_request_t *r) {
  const char *qs = api_request_query(r, "since"), *qu = api_request_query(r, "until");
  int64_t since, until, now = now_realtime();
  if (api_event_parse_time(qs, &since) < 0) {
    api_reply_error(r, 400, "invalid value for 'since': \"%s\" (SECONDS[.NANOSECONDS])", qs);
    return;
  }
  if (api_event_parse_time(qu, &until) < 0) {
    api_reply_error(r, 400, "invalid value for 'until': \"%s\" (SECONDS[.NANOSECONDS])", qu);
    return;
  }
  if (until != API_EVENT_TIME_UNSET && since != API_EVENT_TIME_UNSET && until < since) {
    api_reply_error(r, 400, "`since` time (%s) cannot be after `until` time (%s)", qs, qu);
    return;
  }
  berth_error_t err = NULL;
  struct json_object *filters = NULL;
  if (ctr_filters_parse(api_request_query(r, "filters"), &filters, &err) < 0) {
    api_reply_error(r, 400, "%s", err && err->msg ? err->msg : "invalid filter");
    berth_error_release(&err);
    return;
  }
  sub_t *s = calloc(1, sizeof *s);
  if (s == NULL) {
    json_object_put(filters);
    api_reply_error(r, 500, "out of memory");
    return;
  }
  s->r = r;
  s->filters = filters;
  s->until_ns = until;
  s->next = subs;
  subs = s;
  api_request_attach(r, &sub_ops, s); /* sub_done frees s when the request is over */
  const api_event_t *buffered[API_EVENTS_KEEP];
  size_t n = api_event_ring_select(&ring, since, until, filters, buffered, API_EVENTS_KEEP);
  for (size_t i = 0; i < n; i++)
    if (!sub_queue(s, buffered[i])) {
      api_reply_error(r, 500, "out of memory");
      return;
    }
  if (until != API_EVENT_TIME_UNSET) {
    if (until < now) {
      s->ended = true; /* only past events */
    } else if (sd_event_add_time_relative(api_request_event(r), &s->timer, CLOCK_MONOTONIC,
                                          (uint64_t)(until - now) / 1000u, 1000, on_until, s) < 0) {
      s->timer = NULL;
      api_reply_error(r, 500, "cannot arm a timer");
      return;
    }
  }
  api_reply_stream(r, 200, "application/json", NULL);
}
