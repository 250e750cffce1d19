/* The pure half of the event log: see events_log.h. */
#include "events_log.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Go encodes a map with its keys sorted: a copy of attrs in that order. */
static struct json_object *sorted_copy(struct json_object *attrs) {
  struct json_object *out = json_object_new_object();
  size_t n = attrs ? (size_t)json_object_object_length(attrs) : 0;
  if (out == NULL || n == 0)
    return out;
  const char **keys = calloc(n, sizeof *keys);
  if (keys == NULL) {
    json_object_put(out);
    return NULL;
  }
  size_t i = 0;
  json_object_object_foreach(attrs, k, v) {
    (void)v;
    keys[i++] = k;
  }
  qsort(keys, n, sizeof *keys, cmp_str);
  for (i = 0; i < n; i++) {
    struct json_object *v = json_object_object_get(attrs, keys[i]);
    json_object_object_add(out, keys[i], json_object_new_string(json_object_get_string(v)));
  }
  free(keys);
  return out;
}

static const char *attr(const api_event_t *ev, const char *key) {
  struct json_object *v;
  return json_object_object_get_ex(ev->attrs, key, &v) ? json_object_get_string(v) : NULL;
}

/* events.Message for API < 1.52: the legacy status, id (and from for a
 * container) first, each omitted when empty as Go's omitempty does. */
static char *render(const api_event_t *ev, size_t *len) {
  struct json_object *m = json_object_new_object(), *actor = json_object_new_object();
  if (m == NULL || actor == NULL) {
    json_object_put(m);
    json_object_put(actor);
    return NULL;
  }
  bool legacy = strcmp(ev->type, "container") == 0 || strcmp(ev->type, "image") == 0;
  const char *from = strcmp(ev->type, "container") == 0 ? attr(ev, "image") : NULL;
  if (legacy && ev->action[0])
    json_object_object_add(m, "status", json_object_new_string(ev->action));
  if (legacy && ev->id[0])
    json_object_object_add(m, "id", json_object_new_string(ev->id));
  if (from && from[0])
    json_object_object_add(m, "from", json_object_new_string(from));
  json_object_object_add(m, "Type", json_object_new_string(ev->type));
  json_object_object_add(m, "Action", json_object_new_string(ev->action));
  json_object_object_add(actor, "ID", json_object_new_string(ev->id));
  json_object_object_add(actor, "Attributes", json_object_get(ev->attrs));
  json_object_object_add(m, "Actor", actor);
  json_object_object_add(m, "scope", json_object_new_string("local"));
  json_object_object_add(m, "time", json_object_new_int64(ev->time_ns / 1000000000));
  json_object_object_add(m, "timeNano", json_object_new_int64(ev->time_ns));
  size_t n = 0;
  const char *s = json_object_to_json_string_length(m, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
  char *line = s ? malloc(n + 2) : NULL;
  if (line) {
    memcpy(line, s, n);
    line[n] = '\n';
    line[n + 1] = '\0';
    *len = n + 1;
  }
  json_object_put(m);
  return line;
}

api_event_t *api_event_new(const char *type, const char *action, const char *id, struct json_object *attrs,
                           int64_t time_ns) {
  api_event_t *ev = calloc(1, sizeof *ev);
  if (ev) {
    ev->time_ns = time_ns;
    ev->type = strdup(type);
    ev->action = strdup(action);
    ev->id = strdup(id ? id : "");
    ev->attrs = sorted_copy(attrs);
    if (ev->type && ev->action && ev->id && ev->attrs)
      ev->line = render(ev, &ev->len);
  }
  json_object_put(attrs);
  if (ev && ev->line == NULL) {
    api_event_free(ev);
    return NULL;
  }
  return ev;
}

void api_event_free(api_event_t *ev) {
  if (ev == NULL)
    return;
  free(ev->type);
  free(ev->action);
  free(ev->id);
  json_object_put(ev->attrs);
  free(ev->line);
  free(ev);
}

/* ---- dockerd's filter ---- */

static struct json_object *values(struct json_object *f, const char *key) {
  struct json_object *v;
  if (f == NULL || !json_object_object_get_ex(f, key, &v) || !json_object_is_type(v, json_type_object) ||
      json_object_object_length(v) == 0)
    return NULL;
  return v;
}

/* filters.ExactMatch: no values, or source is one of them. */
static bool exact(struct json_object *f, const char *key, const char *source) {
  struct json_object *vals = values(f, key);
  return vals == NULL || (source && json_object_object_get_ex(vals, source, NULL));
}

/* filters.FuzzyMatch: exact, or some value is a prefix of source. */
static bool fuzzy(struct json_object *f, const char *key, const char *source) {
  if (exact(f, key, source))
    return true;
  json_object_object_foreach(values(f, key), prefix, b) {
    (void)b;
    if (source && strncmp(source, prefix, strlen(prefix)) == 0)
      return true;
  }
  return false;
}

/* fuzzyMatchName: the actor's id or its "name" attribute, for events of that type only. */
static bool match_name(struct json_object *f, const api_event_t *ev, const char *type) {
  if (values(f, type) == NULL)
    return true;
  if (strcmp(ev->type, type) != 0)
    return false; /* dockerd checks type too: an image never matches container= */
  return fuzzy(f, type, ev->id) || fuzzy(f, type, attr(ev, "name"));
}

/* stripTag: the reference without its tag or digest (a name is left as is). */
static void strip_tag(const char *ref, char *out, size_t size) {
  snprintf(out, size, "%s", ref ? ref : "");
  char *at = strchr(out, '@');
  if (at)
    *at = '\0';
  char *slash = strrchr(out, '/'), *colon = strrchr(out, ':');
  if (colon && (slash == NULL || colon > slash))
    *colon = '\0';
}

static bool match_image(struct json_object *f, const api_event_t *ev) {
  if (values(f, "image") == NULL)
    return true;
  const char *name = attr(ev, strcmp(ev->type, "image") == 0 ? "name" : "image");
  char a[512], b[512];
  strip_tag(ev->id, a, sizeof a);
  strip_tag(name, b, sizeof b);
  return exact(f, "image", ev->id) || (name && exact(f, "image", name)) || exact(f, "image", a) ||
         (name && exact(f, "image", b));
}

/* filters.MatchKVList over the attributes: every "key" or "key=value" holds. */
static bool match_labels(struct json_object *f, const api_event_t *ev) {
  struct json_object *vals = values(f, "label");
  if (vals == NULL)
    return true;
  if (json_object_object_length(ev->attrs) == 0)
    return false;
  json_object_object_foreach(vals, kv, b) {
    (void)b;
    const char *eq = strchr(kv, '=');
    size_t kl = eq ? (size_t)(eq - kv) : strlen(kv);
    char key[512];
    if (kl >= sizeof key)
      return false;
    memcpy(key, kv, kl);
    key[kl] = '\0';
    const char *v = attr(ev, key);
    if (v == NULL || (eq && strcmp(v, eq + 1) != 0))
      return false;
  }
  return true;
}

static bool match_event(struct json_object *f, const api_event_t *ev) {
  /* dockerd #25798: these three compare as prefixes (health_status: healthy) */
  static const char *const fuzzy_events[] = {"health_status", "exec_create", "exec_start"};
  struct json_object *vals = values(f, "event");
  for (size_t i = 0; vals && i < sizeof fuzzy_events / sizeof *fuzzy_events; i++)
    if (json_object_object_get_ex(vals, fuzzy_events[i], NULL))
      return fuzzy(f, "event", ev->action);
  return exact(f, "event", ev->action);
}

bool api_event_match(const api_event_t *ev, struct json_object *f) {
  static const char *const named[] = {"daemon", "container", "plugin", "volume", "network",
                                      "node",   "service",   "secret", "config"};
  if (!match_event(f, ev) || !exact(f, "type", ev->type) || !exact(f, "scope", "local"))
    return false;
  for (size_t i = 0; i < sizeof named / sizeof *named; i++)
    if (!match_name(f, ev, named[i]))
      return false;
  return match_image(f, ev) && match_labels(f, ev);
}

/* ---- the ring ---- */

void api_event_ring_push(api_event_ring_t *ring, api_event_t *ev) {
  if (ev == NULL)
    return;
  if (ring->n == API_EVENTS_KEEP) {
    api_event_free(ring->ev[ring->head]);
    ring->ev[ring->head] = ev;
    ring->head = (ring->head + 1) % API_EVENTS_KEEP;
    return;
  }
  ring->ev[(ring->head + ring->n) % API_EVENTS_KEEP] = ev;
  ring->n++;
}

size_t api_event_ring_select(const api_event_ring_t *ring, int64_t since_ns, int64_t until_ns,
                             struct json_object *filters, const api_event_t **out, size_t max) {
  if (since_ns == API_EVENT_TIME_UNSET && until_ns == API_EVENT_TIME_UNSET)
    return 0;
  /* dockerd walks back from the newest and stops at the first older than since */
  size_t first = ring->n;
  while (first > 0) {
    const api_event_t *ev = ring->ev[(ring->head + first - 1) % API_EVENTS_KEEP];
    if (since_ns != API_EVENT_TIME_UNSET && ev->time_ns < since_ns)
      break;
    first--;
  }
  size_t k = 0;
  for (size_t i = first; i < ring->n && k < max; i++) {
    const api_event_t *ev = ring->ev[(ring->head + i) % API_EVENTS_KEEP];
    if (until_ns != API_EVENT_TIME_UNSET && ev->time_ns > until_ns)
      continue;
    if (api_event_match(ev, filters))
      out[k++] = ev;
  }
  return k;
}

void api_event_ring_clear(api_event_ring_t *ring) {
  for (size_t i = 0; i < ring->n; i++)
    api_event_free(ring->ev[(ring->head + i) % API_EVENTS_KEEP]);
  ring->head = ring->n = 0;
}

/* ---- ?since= / ?until= ---- */

/* strconv.ParseInt base 10: an optional sign and digits, nothing else. */
static int parse_int(const char *s, size_t len, long long *out) {
  char buf[32];
  if (len == 0 || len >= sizeof buf)
    return -1;
  memcpy(buf, s, len);
  buf[len] = '\0';
  const char *d = buf + (buf[0] == '-' || buf[0] == '+');
  if (*d == '\0' || strspn(d, "0123456789") != strlen(d))
    return -1;
  errno = 0;
  *out = strtoll(buf, NULL, 10);
  return errno ? -1 : 0;
}

int api_event_parse_time(const char *s, int64_t *ns) {
  *ns = API_EVENT_TIME_UNSET;
  if (s == NULL || s[0] == '\0')
    return 0;
  const char *dot = strchr(s, '.');
  long long sec, frac = 0;
  if (parse_int(s, dot ? (size_t)(dot - s) : strlen(s), &sec) < 0)
    return -1;
  if (dot) {
    size_t fl = strlen(dot + 1);
    if (parse_int(dot + 1, fl, &frac) < 0 || frac < 0)
      return -1;
    /* dockerd scales the fraction to nanoseconds by its width */
    for (; fl < 9; fl++)
      frac *= 10;
    for (; fl > 9; fl--)
      frac /= 10;
  }
  if (sec > INT64_MAX / 1000000000 - 1 || sec < INT64_MIN / 1000000000 + 1)
    return -1;
  *ns = (int64_t)sec * 1000000000 + frac;
  return 0;
}
