/* Output helpers: aligned tables, JSON, sizes and times as docker shows them. */
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include "cli.h"

struct cli_table {
  size_t ncols, nrows, cap;
  char **cells; /* nrows * ncols, row 0 = headers */
};

static void table_push(cli_table_t *t, const char *const *cells) {
  if (t->nrows == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 8;
    char **p = realloc(t->cells, cap * t->ncols * sizeof *p);
    if (p == NULL)
      return; /* out of memory: the row is dropped */
    t->cells = p;
    t->cap = cap;
  }
  for (size_t c = 0; c < t->ncols; c++)
    t->cells[t->nrows * t->ncols + c] = strdup(cells[c] ? cells[c] : "");
  t->nrows++;
}

cli_table_t *cli_table_new(size_t ncols, const char *const *headers) {
  cli_table_t *t = calloc(1, sizeof *t);
  if (t == NULL)
    return NULL;
  t->ncols = ncols;
  table_push(t, headers);
  return t;
}

void cli_table_add(cli_table_t *t, const char *const *cells) {
  if (t)
    table_push(t, cells);
}

void cli_table_print(cli_table_t *t, const char *indent) {
  if (t == NULL)
    return;
  size_t *width = calloc(t->ncols, sizeof *width);
  for (size_t r = 0; width && r < t->nrows; r++)
    for (size_t c = 0; c < t->ncols; c++) {
      const char *s = t->cells[r * t->ncols + c];
      size_t n = s ? strlen(s) : 0;
      if (n > width[c])
        width[c] = n;
    }
  for (size_t r = 0; width && r < t->nrows; r++) {
    fputs(indent, stdout);
    for (size_t c = 0; c < t->ncols; c++) {
      const char *s = t->cells[r * t->ncols + c];
      if (c + 1 == t->ncols)
        printf("%s", s ? s : "");
      else
        printf("%-*s   ", (int)width[c], s ? s : "");
    }
    putchar('\n');
  }
  for (size_t i = 0; i < t->nrows * t->ncols; i++)
    free(t->cells[i]);
  free(t->cells);
  free(width);
  free(t);
}

void cli_print_json(json_object *o) {
  puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

void cli_format_bytes(double bytes, char *buf, size_t len) {
  static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
  size_t i = 0;
  while (bytes >= 1024 && i + 1 < sizeof units / sizeof units[0]) {
    bytes /= 1024;
    i++;
  }
  snprintf(buf, len, "%.4g%s", bytes, units[i]);
}

void cli_format_time(const char *rfc3339, char *buf, size_t len) {
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  const char *rest = rfc3339 ? strptime(rfc3339, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
  if (rest == NULL || strftime(buf, len, "%a %b %e %H:%M:%S %Y", &tm) == 0)
    snprintf(buf, len, "%s", rfc3339 ? rfc3339 : "");
}

json_object *cli_json_get(json_object *o, const char *key) {
  json_object *v = NULL;
  if (o == NULL || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
    return NULL;
  return v;
}

const char *cli_json_str(json_object *o, const char *key) {
  json_object *v = cli_json_get(o, key);
  return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

int64_t cli_json_int(json_object *o, const char *key) {
  json_object *v = cli_json_get(o, key);
  if (v == NULL)
    return 0;
  if (json_object_is_type(v, json_type_string))
    return strtoll(json_object_get_string(v), NULL, 10);
  return json_object_get_int64(v);
}

bool cli_json_bool(json_object *o, const char *key) {
  json_object *v = cli_json_get(o, key);
  return v ? json_object_get_boolean(v) : false;
}

const char *cli_goarch(void) {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__i386__)
  return "386";
#elif defined(__arm__)
  return "arm";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  return "ppc64le";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#else
  static struct utsname u;
  return uname(&u) == 0 ? u.machine : "unknown";
#endif
}
