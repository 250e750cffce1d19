/* JSON helpers of the seccomp profile compiler: strict typed access to
 * json-c values with errors (EINVAL) that name the JSON path. Internal to
 * seccomp_profile.c. Optional members: absent and JSON null are the same
 * (as Go's decoder, which Docker's profiles are written for). */
#pragma once
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"

#define SP_PREFIX "seccomp profile: "
#define SP_PATH_MAX 96

/* Fills *err with EINVAL and "seccomp profile: PATH: message"; returns < 0. */
int sp_bad(berth_error_t *err, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A JSON path into out (SP_PATH_MAX bytes, truncated if ever longer). */
void sp_pathf(char *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A user's string made printable and short (at most size - 1 bytes) for a message. */
const char *sp_shown(const char *s, char *buf, size_t size);
const char *sp_type_name(json_object *v);
/* The member, or NULL when absent or null. */
json_object *sp_member(json_object *o, const char *key);
/* o must be an object whose keys are all in known (NULL-terminated). */
int sp_check_object(json_object *o, const char *path, const char *const *known, berth_error_t *err);
/* v must be a string without NUL characters. */
int sp_string(json_object *v, const char *path, const char **out, berth_error_t *err);
/* Optional members under path: 0 absent, 1 present, < 0 error. An empty array counts as absent. */
int sp_opt_string(json_object *o, const char *key, const char *path, const char **out, berth_error_t *err);
int sp_opt_uint(json_object *o, const char *key, const char *path, uint64_t max, uint64_t *out, berth_error_t *err);
int sp_opt_array(json_object *o, const char *key, const char *path, json_object **out, berth_error_t *err);
/* Parses the whole profile text (<= SECCOMP_PROFILE_MAX bytes); *out may be
 * NULL for a JSON null. */
int sp_parse_json(const char *json, size_t len, json_object **out, berth_error_t *err);
