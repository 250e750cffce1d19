/* dockerd's event log, the pure half (unit tested alone): one event as
 * dockerd's events.Message renders it for API 1.41, the ring of the last
 * API_EVENTS_KEEP events that ?since= replays, and dockerd's filter
 * (daemon/events/filter.go). berth-apid's hub is events.c. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

/* dockerd's eventsLimit. */
#define API_EVENTS_KEEP 256u

typedef struct {
  int64_t time_ns;                /* CLOCK_REALTIME */
  char *type, *action, *id;       /* "container" | "image"; "die"; the actor's id ("" for prune) */
  struct json_object *attrs;      /* string values, keys sorted as Go's map encoding */
  char *line;                     /* the JSON message and '\n' */
  size_t len;
} api_event_t;

/* attrs (taken; NULL = none) is a flat object of strings. NULL when out of memory. */
api_event_t *api_event_new(const char *type, const char *action, const char *id, struct json_object *attrs,
                           int64_t time_ns);
void api_event_free(api_event_t *ev);

/* filters: the map form {"key":{"value":true}} (ctr_filters_parse), NULL = all. */
bool api_event_match(const api_event_t *ev, struct json_object *filters);

typedef struct {
  api_event_t *ev[API_EVENTS_KEEP];
  size_t head, n; /* oldest at ev[head] */
} api_event_ring_t;

/* Appends ev (taken), dropping the oldest when full. */
void api_event_ring_push(api_event_ring_t *ring, api_event_t *ev);
/* A ?since= / ?until= that was not given (0 is the epoch, a valid since). */
#define API_EVENT_TIME_UNSET INT64_MIN

/* dockerd's loadBufferedEvents: nothing unless since or until is set; else the kept events with since <= time and (no until or time <=
 * until) that match, oldest first. Fills up to max pointers (valid until the
 * next push); returns how many. */
size_t api_event_ring_select(const api_event_ring_t *ring, int64_t since_ns, int64_t until_ns,
                             struct json_object *filters, const api_event_t **out, size_t max);
void api_event_ring_clear(api_event_ring_t *ring);

/* dockerd's ?since=/?until=: "SECONDS[.FRACTION]" (the CLI turns dates and
 * durations into this). NULL or "" is API_EVENT_TIME_UNSET. -1 when malformed. */
int api_event_parse_time(const char *s, int64_t *ns);
