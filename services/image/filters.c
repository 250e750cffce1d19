/* Docker's filters argument: parsing and the matchers shared by list and prune. */
#include "filters.h"
#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void filters_free(filters_t *f) {
  for (size_t i = 0; i < f->n; i++) {
    for (size_t k = 0; k < f->v[i].n; k++)
      free(f->v[i].values[k]);
    free(f->v[i].values);
    free(f->v[i].key);
  }
  free(f->v);
  memset(f, 0, sizeof(*f));
}

static int add_value(filter_t *ft, const char *v) {
  char **vals = realloc(ft->values, (ft->n + 1) * sizeof(char *));
  if (vals == NULL)
    return -1;
  ft->values = vals;
  if ((vals[ft->n] = strdup(v)) == NULL)
    return -1;
  ft->n++;
  return 0;
}

int filters_parse(const char *json, const char *const *allowed, filters_t *out, berth_error_t *err) {
  memset(out, 0, sizeof(*out));
  if (json == NULL || *json == '\0')
    return 0;
  json_tokener *tok = json_tokener_new();
  json_object *root = tok ? json_tokener_parse_ex(tok, json, (int)strlen(json)) : NULL;
  bool ok = tok && json_tokener_get_error(tok) == json_tokener_success;
  json_tokener_free(tok);
  if (!ok || !json_object_is_type(root, json_type_object)) {
    json_object_put(root);
    return berth_error_make(err, EINVAL, "invalid filters: not a JSON object: %s", json);
  }
  int r = 0;
  json_object_object_foreach(root, key, val) {
    bool known = false;
    for (const char *const *a = allowed; a && *a; a++)
      if (strcmp(*a, key) == 0)
        known = true;
    if (!known) {
      r = berth_error_make(err, EINVAL, "invalid filter '%s'", key);
      break;
    }
    filter_t *v = realloc(out->v, (out->n + 1) * sizeof(*v));
    if (v == NULL) {
      r = berth_error_make(err, ENOMEM, "out of memory");
      break;
    }
    out->v = v;
    filter_t *ft = &out->v[out->n++];
    memset(ft, 0, sizeof(*ft));
    if ((ft->key = strdup(key)) == NULL) {
      r = berth_error_make(err, ENOMEM, "out of memory");
      break;
    }
    if (json_object_is_type(val, json_type_object)) {
      json_object_object_foreach(val, k2, v2) {
        if (json_object_get_boolean(v2) && add_value(ft, k2) < 0)
          r = berth_error_make(err, ENOMEM, "out of memory");
      }
    } else if (json_object_is_type(val, json_type_array)) {
      for (size_t i = 0; i < json_object_array_length(val); i++) {
        const char *s = json_object_get_string(json_object_array_get_idx(val, i));
        if (s && add_value(ft, s) < 0)
          r = berth_error_make(err, ENOMEM, "out of memory");
      }
    } else
      r = berth_error_make(err, EINVAL, "invalid filter '%s': values must be a map or a list", key);
    if (r < 0)
      break;
  }
  json_object_put(root);
  if (r < 0)
    filters_free(out);
  return r;
}

const filter_t *filters_get(const filters_t *f, const char *key) {
  for (size_t i = 0; i < f->n; i++)
    if (strcmp(f->v[i].key, key) == 0)
      return &f->v[i];
  return NULL;
}

bool filters_has_value(const filters_t *f, const char *key, const char *value) {
  const filter_t *ft = filters_get(f, key);
  for (size_t i = 0; ft && i < ft->n; i++)
    if (strcmp(ft->values[i], value) == 0)
      return true;
  return false;
}

int filters_bool(const filters_t *f, const char *key, int *out, berth_error_t *err) {
  const filter_t *ft = filters_get(f, key);
  *out = -1;
  if (ft == NULL)
    return 0;
  for (size_t i = 0; i < ft->n; i++) {
    const char *v = ft->values[i];
    int b = (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0) ? 1
            : (strcasecmp(v, "false") == 0 || strcmp(v, "0") == 0) ? 0
                                                                       : -1;
    if (b < 0 || (*out >= 0 && *out != b))
      return berth_error_make(err, EINVAL, "invalid filter '%s=%s'", key, v);
    *out = b;
  }
  return 0;
}

static bool label_matches(json_object *labels, const char *want) {
  const char *eq = strchr(want, '=');
  size_t kl = eq ? (size_t)(eq - want) : strlen(want);
  if (labels == NULL || !json_object_is_type(labels, json_type_object))
    return false;
  json_object_object_foreach(labels, k, v) {
    if (strlen(k) != kl || strncmp(k, want, kl) != 0)
      continue;
    if (eq == NULL)
      return true;
    const char *s = json_object_get_string(v);
    return s && strcmp(s, eq + 1) == 0;
  }
  return false;
}

bool filters_match_labels(const filters_t *f, json_object *labels) {
  const filter_t *pos = filters_get(f, "label"), *neg = filters_get(f, "label!");
  for (size_t i = 0; pos && i < pos->n; i++)
    if (!label_matches(labels, pos->values[i]))
      return false;
  for (size_t i = 0; neg && i < neg->n; i++)
    if (label_matches(labels, neg->values[i]))
      return false;
  return true;
}

/* A Go duration: ("-")? (number unit)+ with units ns us µs ms s m h. */
static int go_duration(const char *s, double *secs) {
  double total = 0;
  bool neg = *s == '-';
  if (*s == '-' || *s == '+')
    s++;
  if (*s == '\0')
    return -1;
  while (*s) {
    char *end;
    double v = strtod(s, &end);
    if (end == s)
      return -1;
    s = end;
    static const struct { const char *u; double f; } units[] = {
      { "ns", 1e-9 }, { "us", 1e-6 }, { "µs", 1e-6 }, { "ms", 1e-3 }, { "s", 1 }, { "m", 60 }, { "h", 3600 },
    };
    size_t best = 0;
    double f = 0;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
      size_t ul = strlen(units[i].u);
      if (strncmp(s, units[i].u, ul) == 0 && ul > best) {
        best = ul;
        f = units[i].f;
      }
    }
    if (best == 0)
      return -1;
    total += v * f;
    s += best;
  }
  *secs = neg ? -total : total;
  return 0;
}

int filters_time(const char *value, int64_t now, int64_t *out, berth_error_t *err) {
  double secs;
  char *end;
  if (go_duration(value, &secs) == 0) {
    *out = now - (int64_t)secs;
    return 0;
  }
  double unix_s = strtod(value, &end);
  if (end != value && *end == '\0') {
    *out = (int64_t)unix_s;
    return 0;
  }
  struct tm tm = { 0 };
  int n = 0;
  if (sscanf(value, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &n) == 3) {
    const char *p = value + n;
    if (*p == 'T' && sscanf(p + 1, "%2d:%2d:%2d%n", &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) == 3)
      p += 1 + n;
    if (*p == '.')
      for (p++; *p >= '0' && *p <= '9'; p++)
        ;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    int64_t t = (int64_t)timegm(&tm);
    int oh, om;
    if ((*p == '+' || *p == '-') && sscanf(p + 1, "%2d:%2d", &oh, &om) == 2)
      t -= (*p == '+' ? 1 : -1) * (int64_t)(oh * 3600 + om * 60);
    else if (*p != 'Z' && *p != '\0')
      goto bad;
    *out = t;
    return 0;
  }
bad:
  return berth_error_make(err, EINVAL, "failed to parse value as time or duration: \"%s\"", value);
}
