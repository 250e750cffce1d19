/* The event log's pure half (services/api/events_log.c): dockerd's message
 * shape for API 1.41, its filter, the 256-event ring and ?since= parsing. */
#include <stdio.h>
#include <string.h>
#include "events_log.h"
#include "tap.h"

static api_event_t *ctr_event(const char *action, const char *id, const char *name, int64_t t) {
  struct json_object *a = json_tokener_parse("{\"name\":\"x\",\"image\":\"busybox:1\",\"team\":\"a\",\"exitCode\":\"0\"}");
  json_object_object_add(a, "name", json_object_new_string(name));
  return api_event_new("container", action, id, a, t);
}

static bool match(const api_event_t *ev, const char *filters) {
  struct json_object *f = json_tokener_parse(filters);
  bool m = api_event_match(ev, f);
  json_object_put(f);
  return m;
}

int main(void) {
  api_event_t *ev = ctr_event("die", "abc123", "web", 1700000000123456789LL);
  tap_ok(ev != NULL, "an event is made");
  tap_ok(strcmp(ev->line, "{\"status\":\"die\",\"id\":\"abc123\",\"from\":\"busybox:1\",\"Type\":\"container\","
                          "\"Action\":\"die\",\"Actor\":{\"ID\":\"abc123\",\"Attributes\":{\"exitCode\":\"0\","
                          "\"image\":\"busybox:1\",\"name\":\"web\",\"team\":\"a\"}},\"scope\":\"local\","
                          "\"time\":1700000000,\"timeNano\":1700000000123456789}\n") == 0,
         "dockerd's fields, in its order, attributes sorted: %s", ev->line);
  api_event_t *pr = api_event_new("image", "prune", "", json_tokener_parse("{\"reclaimed\":\"5\"}"), 2000000000);
  tap_ok(strstr(pr->line, "{\"status\":\"prune\",\"Type\":\"image\"") == pr->line, "empty id and from are left out: %s",
         pr->line);

  tap_ok(match(ev, "{}"), "no filter takes everything");
  tap_ok(match(ev, "{\"type\":{\"container\":true}}") && !match(ev, "{\"type\":{\"image\":true}}"), "type");
  tap_ok(match(ev, "{\"event\":{\"die\":true,\"start\":true}}") && !match(ev, "{\"event\":{\"di\":true}}"),
         "event is exact");
  tap_ok(match(ev, "{\"container\":{\"we\":true}}") && match(ev, "{\"container\":{\"abc\":true}}") &&
             !match(ev, "{\"container\":{\"db\":true}}"),
         "container is a prefix of the id or name");
  tap_ok(!match(pr, "{\"container\":{\"\":true}}"), "container= leaves out other types");
  tap_ok(match(ev, "{\"image\":{\"busybox\":true}}") && match(ev, "{\"image\":{\"busybox:1\":true}}") &&
             !match(ev, "{\"image\":{\"busy\":true}}"),
         "image: exact, with or without the tag");
  tap_ok(match(ev, "{\"label\":{\"team=a\":true,\"exitCode\":true}}") && !match(ev, "{\"label\":{\"team=b\":true}}") &&
             !match(ev, "{\"label\":{\"nope\":true}}"),
         "label: every key or key=value holds");
  tap_ok(match(ev, "{\"scope\":{\"local\":true}}") && !match(ev, "{\"scope\":{\"swarm\":true}}"), "scope");
  tap_ok(!match(ev, "{\"network\":{\"x\":true}}"), "a network filter leaves out containers");

  api_event_ring_t ring = {0};
  for (int i = 0; i < 300; i++) {
    char id[16];
    snprintf(id, sizeof id, "c%d", i);
    api_event_ring_push(&ring, ctr_event(i % 2 ? "start" : "die", id, "n", (int64_t)(i + 1) * 1000000000));
  }
  tap_ok(ring.n == API_EVENTS_KEEP, "the ring keeps %u", API_EVENTS_KEEP);
  const api_event_t *out[API_EVENTS_KEEP];
  tap_ok(api_event_ring_select(&ring, API_EVENT_TIME_UNSET, API_EVENT_TIME_UNSET, NULL, out, API_EVENTS_KEEP) == 0,
         "no since and no until: nothing buffered");
  size_t n = api_event_ring_select(&ring, 0, API_EVENT_TIME_UNSET, NULL, out, API_EVENTS_KEEP);
  tap_ok(n == API_EVENTS_KEEP && strcmp(out[0]->id, "c44") == 0 && strcmp(out[n - 1]->id, "c299") == 0,
         "since 0: the kept ones, oldest first");
  struct json_object *f = json_tokener_parse("{\"event\":{\"start\":true}}");
  n = api_event_ring_select(&ring, 290000000000LL, 295000000000LL, f, out, API_EVENTS_KEEP);
  json_object_put(f);
  tap_ok(n == 3 && strcmp(out[0]->id, "c289") == 0 && strcmp(out[2]->id, "c293") == 0,
         "since, until and a filter: %zu", n);
  api_event_ring_clear(&ring);

  int64_t t;
  tap_ok(api_event_parse_time("1700000000.5", &t) == 0 && t == 1700000000500000000LL, "seconds.fraction");
  tap_ok(api_event_parse_time("12", &t) == 0 && t == 12000000000LL, "seconds");
  tap_ok(api_event_parse_time("", &t) == 0 && t == API_EVENT_TIME_UNSET, "empty is unset");
  tap_ok(api_event_parse_time("1h", &t) < 0 && api_event_parse_time("1.x", &t) < 0 &&
             api_event_parse_time("99999999999999999999", &t) < 0,
         "junk is refused");
  api_event_free(ev);
  api_event_free(pr);
  return tap_done();
}
