/* Output helpers: aligned tables, JSON, sizes and times as docker shows them. */
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include "cli.h"

struct cli_table {
  size_t ncols, nrows, cap, minwidth;
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

void cli_table_set_minwidth(cli_table_t *t, size_t minwidth) {
  if (t)
    t->minwidth = minwidth;
}

static const char *cell(const cli_table_t *t, size_t r, size_t c) {
  const char *s = t->cells[r * t->ncols + c];
  return s ? s : "";
}

char *cli_table_render(const cli_table_t *t, const char *indent) {
  if (t == NULL)
    return NULL;
  size_t *width = calloc(t->ncols ? t->ncols : 1, sizeof *width);
  if (width == NULL)
    return NULL;
  /* Column width = widest cell + 3 of padding, at least minwidth (the
   * docker CLI's tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)). */
  size_t total = 1;
  for (size_t c = 0; c < t->ncols; c++) {
    width[c] = t->minwidth;
    for (size_t r = 0; r < t->nrows; r++) {
      size_t w = cli_utf8_width(cell(t, r, c)) + 3;
      if (w > width[c])
        width[c] = w;
    }
  }
  for (size_t r = 0; r < t->nrows; r++) {
    total += strlen(indent) + 1;
    for (size_t c = 0; c < t->ncols; c++)
      total += strlen(cell(t, r, c)) + width[c];
  }
  char *out = malloc(total), *o = out;
  if (out == NULL) {
    free(width);
    return NULL;
  }
  for (size_t r = 0; r < t->nrows; r++) {
    o = stpcpy(o, indent);
    for (size_t c = 0; c < t->ncols; c++) {
      const char *s = cell(t, r, c);
      o = stpcpy(o, s);
      if (c + 1 < t->ncols)
        for (size_t pad = cli_utf8_width(s); pad < width[c]; pad++)
          *o++ = ' ';
    }
    *o++ = '\n';
  }
  *o = '\0';
  free(width);
  return out;
}

void cli_table_free(cli_table_t *t) {
  if (t == NULL)
    return;
  for (size_t i = 0; i < t->nrows * t->ncols; i++)
    free(t->cells[i]);
  free(t->cells);
  free(t);
}

void cli_table_print(cli_table_t *t, const char *indent) {
  char *text = cli_table_render(t, indent);
  if (text)
    fputs(text, stdout);
  free(text);
  cli_table_free(t);
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
