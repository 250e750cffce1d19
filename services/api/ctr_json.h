/* Typed reads of Docker JSON for the container code (ctr_config.c,
 * ctr_spec.c): each reports a wrong type as EINVAL naming the field, the way
 * dockerd's decoder refuses a body ("HostConfig.Memory must be an integer").
 * Absent and null members give the default. Strings with a NUL byte are
 * refused (they could not reach the kernel intact). */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>
#include "error.h"

/* The member, or NULL when absent or null. */
struct json_object *ctrj_get(struct json_object *o, const char *key);
int ctrj_string(struct json_object *o, const char *key, const char *where, const char **out, berth_error_t *err);
int ctrj_int64(struct json_object *o, const char *key, const char *where, int64_t *out, berth_error_t *err);
/* Like ctrj_int64, but *set tells whether a number was there (null-able fields). */
int ctrj_int64_opt(struct json_object *o, const char *key, const char *where, int64_t *out, bool *set,
                   berth_error_t *err);
int ctrj_bool(struct json_object *o, const char *key, const char *where, bool *out, berth_error_t *err);
/* An array of strings (or, when allow_string, one string: Docker's StrSlice)
 * as a new array reference; NULL for absent/null. */
int ctrj_strlist(struct json_object *o, const char *key, const char *where, bool allow_string,
                 struct json_object **out, berth_error_t *err);
/* An object whose values are all strings (Labels), new reference or NULL. */
int ctrj_strmap(struct json_object *o, const char *key, const char *where, struct json_object **out,
                berth_error_t *err);
/* An object (any values), new reference or NULL. */
int ctrj_object(struct json_object *o, const char *key, const char *where, struct json_object **out,
                berth_error_t *err);
/* An array (any values), new reference or NULL. */
int ctrj_array(struct json_object *o, const char *key, const char *where, struct json_object **out,
               berth_error_t *err);

/* Plain getters on trusted (normalised) documents: defaults on anything odd. */
const char *ctrj_str_or(struct json_object *o, const char *key, const char *dflt);
int64_t ctrj_int_or(struct json_object *o, const char *key, int64_t dflt);
bool ctrj_bool_or(struct json_object *o, const char *key, bool dflt);
size_t ctrj_len(struct json_object *array_or_null);
const char *ctrj_idx_str(struct json_object *array, size_t i);

/* A deep copy (json_object_deep_copy), NULL for NULL. */
struct json_object *ctrj_copy(struct json_object *o);
