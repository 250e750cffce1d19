/* Docker's filter argument (?filters=JSON): {"key":{"value":true}} or the
 * legacy {"key":["value"]}. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"

typedef struct {
  char *key;
  char **values;
  size_t n;
} filter_t;

typedef struct {
  filter_t *v;
  size_t n;
} filters_t;

/* Parses json (NULL or "" = no filters). Keys not in allowed (NULL-terminated)
 * are refused: EINVAL "invalid filter 'KEY'". */
int filters_parse(const char *json, const char *const *allowed, filters_t *out, berth_error_t *err);
void filters_free(filters_t *f);
/* The values of key, or NULL when the key is absent. */
const filter_t *filters_get(const filters_t *f, const char *key);
/* Is key=value given exactly? */
bool filters_has_value(const filters_t *f, const char *key, const char *value);
/* dangling-style booleans: 1 true, 0 false, -1 absent; EINVAL for anything but
 * true/false/1/0 or conflicting values: "invalid filter 'KEY=VALUE'". */
int filters_bool(const filters_t *f, const char *key, int *out, berth_error_t *err);
/* Does a label map (json object or NULL) satisfy every "label" filter
 * ("k" or "k=v") and no "label!" filter? */
struct json_object;
bool filters_match_labels(const filters_t *f, struct json_object *labels);
/* "until"/"before"-style timestamps: RFC 3339, unix seconds (with fraction),
 * or a Go duration ("10m", "1h30m") counted back from now. */
int filters_time(const char *value, int64_t now, int64_t *out, berth_error_t *err);
