/* JSON helpers of the seccomp profile compiler (seccomp_profile.c): strict
 * typed access to json-c values, each error EINVAL naming the JSON path
 * ("seccomp profile: syscalls[3].args[0].op: ..."), and the parse of the
 * whole text (size limit, no NUL, strict JSON, nothing after the value). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "seccomp_json.h"
#include "seccomp_profile.h"

/* A user's string, made safe and short for a message. */
const char *sp_shown(const char *s, char *buf, size_t size) {
  size_t n = 0;
  for (; *s && n + 4 < size; s++)
    buf[n++] = (*s >= 0x20 && *s < 0x7f && *s != '"') ? *s : '?';
  if (*s)
    buf[n++] = '.', buf[n++] = '.', buf[n++] = '.';
  buf[n] = '\0';
  return buf;
}

int sp_bad(berth_error_t *err, const char *path, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return berth_error_make(err, EINVAL, SP_PREFIX "%s: %s", path, msg);
}

/* A JSON path into out (SP_PATH_MAX bytes; truncated if ever longer). */
void sp_pathf(char *out, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out, SP_PATH_MAX, fmt, ap);
  va_end(ap);
}

const char *sp_type_name(json_object *v) {
  return v ? json_type_to_name(json_object_get_type(v)) : "null";
}

/* The member, or NULL when absent or null (as Go's decoder treats null). */
json_object *sp_member(json_object *o, const char *key) {
  json_object *v = NULL;
  return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

int sp_check_object(json_object *o, const char *path, const char *const *known, berth_error_t *err) {
  if (!json_object_is_type(o, json_type_object))
    return sp_bad(err, path, "expected an object, got %s", sp_type_name(o));
  json_object_object_foreach(o, key, val) {
    (void)val;
    const char *const *k = known;
    while (*k && strcmp(*k, key) != 0)
      k++;
    if (*k == NULL) {
      char b[72];
      return sp_bad(err, path, "unknown field \"%s\"", sp_shown(key, b, sizeof b));
    }
  }
  return 0;
}

/* A string value (no NUL inside). */
int sp_string(json_object *v, const char *path, const char **out, berth_error_t *err) {
  if (!json_object_is_type(v, json_type_string))
    return sp_bad(err, path, "expected a string, got %s", sp_type_name(v));
  *out = json_object_get_string(v);
  if (strlen(*out) != (size_t)json_object_get_string_len(v))
    return sp_bad(err, path, "contains a NUL character");
  return 0;
}

/* Optional string member: 0 absent (*out NULL), 1 present, < 0 error. */
int sp_opt_string(json_object *o, const char *key, const char *path, const char **out, berth_error_t *err) {
  json_object *v = sp_member(o, key);
  *out = NULL;
  if (v == NULL)
    return 0;
  char p[SP_PATH_MAX];
  sp_pathf(p, "%s%s%s", path, *path ? "." : "", key);
  return sp_string(v, p, out, err) < 0 ? -1 : 1;
}

/* Optional unsigned integer member <= max: 0 absent, 1 present, < 0 error. */
int sp_opt_uint(json_object *o, const char *key, const char *path, uint64_t max, uint64_t *out,
                    berth_error_t *err) {
  json_object *v = sp_member(o, key);
  *out = 0;
  if (v == NULL)
    return 0;
  char p[SP_PATH_MAX];
  sp_pathf(p, "%s%s%s", path, *path ? "." : "", key);
  if (!json_object_is_type(v, json_type_int))
    return sp_bad(err, p, "expected an unsigned integer, got %s", sp_type_name(v));
  if (json_object_get_int64(v) < 0)
    return sp_bad(err, p, "must not be negative");
  *out = json_object_get_uint64(v);
  if (*out > max)
    return sp_bad(err, p, "%llu is out of range (0 to %llu)", (unsigned long long)*out, (unsigned long long)max);
  return 1;
}

/* Optional array member: 0 absent or empty, 1 present, < 0 error. */
int sp_opt_array(json_object *o, const char *key, const char *path, json_object **out, berth_error_t *err) {
  *out = sp_member(o, key);
  if (*out == NULL)
    return 0;
  if (!json_object_is_type(*out, json_type_array)) {
    char p[SP_PATH_MAX];
    sp_pathf(p, "%s%s%s", path, *path ? "." : "", key);
    return sp_bad(err, p, "expected an array, got %s", sp_type_name(*out));
  }
  return json_object_array_length(*out) > 0;
}

static void tok_freep(json_tokener **t) {
  if (*t)
    json_tokener_free(*t);
}
int sp_parse_json(const char *json, size_t len, json_object **out, berth_error_t *err) {
  if (len > SECCOMP_PROFILE_MAX)
    return berth_error_make(err, EINVAL, SP_PREFIX "%zu bytes; the limit is %u bytes", len, SECCOMP_PROFILE_MAX);
  const char *nul = memchr(json, '\0', len);
  if (nul)
    return berth_error_make(err, EINVAL, SP_PREFIX "not valid JSON: a NUL byte at offset %zu", (size_t)(nul - json));
  __attribute__((cleanup(tok_freep))) json_tokener *tok = json_tokener_new_ex(16);
  if (tok == NULL)
    return berth_error_make(err, ENOMEM, SP_PREFIX "out of memory");
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
  *out = json_tokener_parse_ex(tok, json, (int)len);
  enum json_tokener_error jerr = json_tokener_get_error(tok);
  size_t end = json_tokener_get_parse_end(tok);
  if (jerr == json_tokener_continue) {
    /* The terminating NUL tells the tokener the text ends: a bare literal
     * ("null", "1") completes, an unfinished value does not. */
    *out = json_tokener_parse_ex(tok, "", 1);
    jerr = json_tokener_get_error(tok);
    end = len;
    if (jerr != json_tokener_success)
      return berth_error_make(err, EINVAL, SP_PREFIX "not valid JSON: the text ends inside a value");
  }
  if (jerr != json_tokener_success)
    return berth_error_make(err, EINVAL, SP_PREFIX "not valid JSON at offset %zu: %s", end, json_tokener_error_desc(jerr));
  for (size_t i = end; i < len; i++)
    if (!strchr(" \t\r\n", json[i]))
      return berth_error_make(err, EINVAL, SP_PREFIX "not valid JSON: unexpected text after the profile at offset %zu", i);
  return 0;
}

