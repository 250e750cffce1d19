/* Typed reads of Docker JSON (see ctr_json.h). */
#include "ctr_json.h"
#include <errno.h>
#include <string.h>

struct json_object *ctrj_get(struct json_object *o, const char *key) {
  struct json_object *v = NULL;
  if (o == NULL || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
    return NULL;
  return v; /* json-c's null is a NULL object */
}

static int wrong(berth_error_t *err, const char *where, const char *key, const char *what) {
  return berth_error_make(err, EINVAL, "invalid JSON in the request: %s%s%s must be %s", where ? where : "",
                          where && where[0] ? "." : "", key, what);
}

static bool clean_string(struct json_object *v) {
  return strlen(json_object_get_string(v)) == (size_t)json_object_get_string_len(v);
}

int ctrj_string(struct json_object *o, const char *key, const char *where, const char **out, berth_error_t *err) {
  struct json_object *v = ctrj_get(o, key);
  *out = NULL;
  if (v == NULL)
    return 0;
  if (!json_object_is_type(v, json_type_string))
    return wrong(err, where, key, "a string");
  if (!clean_string(v))
    return wrong(err, where, key, "a string without NUL bytes");
  *out = json_object_get_string(v);
  return 0;
}

int ctrj_int64_opt(struct json_object *o, const char *key, const char *where, int64_t *out, bool *set,
                   berth_error_t *err) {
  struct json_object *v = ctrj_get(o, key);
  *set = false;
  if (v == NULL)
    return 0;
  if (!json_object_is_type(v, json_type_int))
    return wrong(err, where, key, "an integer");
  errno = 0;
  int64_t n = json_object_get_int64(v);
  /* json-c keeps numbers above INT64_MAX as uint64 and clamps get_int64. */
  if (n == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX)
    return wrong(err, where, key, "an integer that fits in 64 bits");
  *out = n;
  *set = true;
  return 0;
}

int ctrj_int64(struct json_object *o, const char *key, const char *where, int64_t *out, berth_error_t *err) {
  bool set;
  int64_t v = 0;
  if (ctrj_int64_opt(o, key, where, &v, &set, err) < 0)
    return -1;
  *out = set ? v : 0;
  return 0;
}

int ctrj_bool(struct json_object *o, const char *key, const char *where, bool *out, berth_error_t *err) {
  struct json_object *v = ctrj_get(o, key);
  *out = false;
  if (v == NULL)
    return 0;
  if (!json_object_is_type(v, json_type_boolean))
    return wrong(err, where, key, "true or false");
  *out = json_object_get_boolean(v);
  return 0;
}

int ctrj_strlist(struct json_object *o, const char *key, const char *where, bool allow_string,
                 struct json_object **out, berth_error_t *err) {
  struct json_object *v = ctrj_get(o, key);
  *out = NULL;
  if (v == NULL)
    return 0;
  if (allow_string && json_object_is_type(v, json_type_string)) {
    if (!clean_string(v))
      return wrong(err, where, key, "a string without NUL bytes");
    *out = json_object_new_array();
    json_object_array_add(*out, json_object_get(v));
    return 0;
  }
  if (!json_object_is_type(v, json_type_array))
    return wrong(err, where, key, allow_string ? "a string or an array of strings" : "an array of strings");
  size_t n = json_object_array_length(v);
  for (size_t i = 0; i < n; i++) {
    struct json_object *e = json_object_array_get_idx(v, i);
    if (!json_object_is_type(e, json_type_string) || !clean_string(e))
      return wrong(err, where, key, "an array of strings (without NUL bytes)");
  }
  *out = json_object_get(v);
  return 0;
}

int ctrj_strmap(struct json_object *o, const char *key, const char *where, struct json_object **out,
                berth_error_t *err) {
  struct json_object *v = ctrj_get(o, key);
  *out = NULL;
  if (v == NULL)
    return 0;
  if (!json_object_is_type(v, json_type_object))
    return wrong(err, where, key, "an object of strings");
  json_object_object_foreach(v, k, e) {
    (void)k;
    if (!json_object_is_type(e, json_type_string) || !clean_string(e))
      return wrong(err, where, key, "an object whose values are strings");
  }
  *out = json_object_get(v);
  return 0;
}

int ctrj_object(struct json_object *o, const char *key, const char *where, struct json_object **out,
                berth_error_t *err) {
  struct json_object *v = ctrj_get(o, key);
  *out = NULL;
  if (v == NULL)
    return 0;
  if (!json_object_is_type(v, json_type_object))
    return wrong(err, where, key, "an object");
  *out = json_object_get(v);
  return 0;
}

int ctrj_array(struct json_object *o, const char *key, const char *where, struct json_object **out,
               berth_error_t *err) {
  struct json_object *v = ctrj_get(o, key);
  *out = NULL;
  if (v == NULL)
    return 0;
  if (!json_object_is_type(v, json_type_array))
    return wrong(err, where, key, "an array");
  *out = json_object_get(v);
  return 0;
}

const char *ctrj_str_or(struct json_object *o, const char *key, const char *dflt) {
  struct json_object *v = ctrj_get(o, key);
  return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : dflt;
}

int64_t ctrj_int_or(struct json_object *o, const char *key, int64_t dflt) {
  struct json_object *v = ctrj_get(o, key);
  return v && json_object_is_type(v, json_type_int) ? json_object_get_int64(v) : dflt;
}

bool ctrj_bool_or(struct json_object *o, const char *key, bool dflt) {
  struct json_object *v = ctrj_get(o, key);
  return v && json_object_is_type(v, json_type_boolean) ? json_object_get_boolean(v) : dflt;
}

size_t ctrj_len(struct json_object *a) {
  return a && json_object_is_type(a, json_type_array) ? json_object_array_length(a) : 0;
}

const char *ctrj_idx_str(struct json_object *a, size_t i) {
  struct json_object *e = i < ctrj_len(a) ? json_object_array_get_idx(a, i) : NULL;
  return e && json_object_is_type(e, json_type_string) ? json_object_get_string(e) : "";
}

struct json_object *ctrj_copy(struct json_object *o) {
  struct json_object *c = NULL;
  if (o == NULL || json_object_deep_copy(o, &c, NULL) < 0)
    return NULL;
  return c;
}
