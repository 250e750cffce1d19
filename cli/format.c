/* Pure formatting, the way the docker CLI formats (go-units sizes and
 * durations, stringid truncation, Go's json.Indent, filter maps), kept free
 * of I/O so tests/unit/test_cli_format.c can check it. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

void cli_human_size(double bytes, int precision, char *buf, size_t len) {
  static const char *const units[] = { "B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB" };
  size_t i = 0;
  while (bytes >= 1000.0 && i + 1 < sizeof units / sizeof units[0]) {
    bytes /= 1000.0;
    i++;
  }
  snprintf(buf, len, "%.*g%s", precision, bytes, units[i]);
}

void cli_human_duration(double d, char *buf, size_t len) {
  /* Go truncates toward zero for seconds and minutes, rounds for hours. */
  long seconds = (long)d;
  long minutes = (long)(d / 60);
  long hours = (long)round(d / 3600);
  if (seconds < 1)
    snprintf(buf, len, "Less than a second");
  else if (seconds == 1)
    snprintf(buf, len, "1 second");
  else if (seconds < 60)
    snprintf(buf, len, "%ld seconds", seconds);
  else if (minutes == 1)
    snprintf(buf, len, "About a minute");
  else if (minutes < 60)
    snprintf(buf, len, "%ld minutes", minutes);
  else if (hours == 1)
    snprintf(buf, len, "About an hour");
  else if (hours < 48)
    snprintf(buf, len, "%ld hours", hours);
  else if (hours < 24 * 7 * 2)
    snprintf(buf, len, "%ld days", hours / 24);
  else if (hours < 24 * 30 * 2)
    snprintf(buf, len, "%ld weeks", hours / 24 / 7);
  else if (hours < 24 * 365 * 2)
    snprintf(buf, len, "%ld months", hours / 24 / 30);
  else
    snprintf(buf, len, "%ld years", (long)(d / 3600) / 24 / 365);
}

void cli_created_since(int64_t created, int64_t now, char *buf, size_t len) {
  char d[64];
  cli_human_duration((double)(now - created), d, sizeof d);
  snprintf(buf, len, "%s ago", d);
}

void cli_truncate_id(const char *id, char *buf, size_t len) {
  if (id == NULL)
    id = "";
  const char *colon = strchr(id, ':');
  if (colon)
    id = colon + 1;
  snprintf(buf, len, "%.12s", id);
}

size_t cli_utf8_width(const char *s) {
  size_t n = 0;
  for (; s && *s; s++)
    if (((unsigned char)*s & 0xC0) != 0x80)
      n++;
  return n;
}

char *cli_ellipsis(const char *s, size_t max) {
  if (s == NULL)
    s = "";
  if (cli_utf8_width(s) <= max)
    return strdup(s);
  if (max == 0)
    return strdup("");
  /* Keep max - 1 characters, then "…". */
  const char *p = s;
  for (size_t kept = 0; *p && kept < max - 1; kept++) {
    p++;
    while (((unsigned char)*p & 0xC0) == 0x80)
      p++;
  }
  size_t n = (size_t)(p - s);
  char *out = malloc(n + 4);
  if (out == NULL)
    return NULL;
  memcpy(out, s, n);
  memcpy(out + n, "\xe2\x80\xa6", 4);
  return out;
}

char *cli_url_escape(const char *s, bool path) {
  static const char hex[] = "0123456789ABCDEF";
  size_t n = strlen(s);
  char *out = malloc(3 * n + 1), *o = out;
  if (out == NULL)
    return NULL;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~' ||
        (path && (*p == '/' || *p == ':' || *p == '@'))) {
      *o++ = (char)*p;
    } else {
      *o++ = '%';
      *o++ = hex[*p >> 4];
      *o++ = hex[*p & 15];
    }
  }
  *o = '\0';
  return out;
}

/* A growing string. */
typedef struct {
  char *s;
  size_t len, cap;
  bool oom;
} sbuf_t;

static void sb_put(sbuf_t *b, const char *s, size_t n) {
  if (b->oom)
    return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (b->len + n + 1 > cap)
      cap *= 2;
    char *p = realloc(b->s, cap);
    if (p == NULL) {
      b->oom = true;
      return;
    }
    b->s = p;
    b->cap = cap;
  }
  memcpy(b->s + b->len, s, n);
  b->len += n;
  b->s[b->len] = '\0';
}

static void sb_str(sbuf_t *b, const char *s) {
  sb_put(b, s, strlen(s));
}

static char *sb_take(sbuf_t *b) {
  if (b->oom) {
    free(b->s);
    return NULL;
  }
  return b->s ? b->s : strdup("");
}

static void newline_indent(sbuf_t *b, const char *indent, int depth) {
  sb_put(b, "\n", 1);
  for (int i = 0; i < depth; i++)
    sb_str(b, indent);
}

char *cli_json_indent(const char *json, const char *indent) {
  sbuf_t b = { 0 };
  int depth = 0;
  bool need_indent = false; /* just after '[' or '{': newline unless it closes at once */
  for (const char *p = json; *p; p++) {
    char c = *p;
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
      continue;
    if (need_indent && c != ']' && c != '}') {
      need_indent = false;
      depth++;
      newline_indent(&b, indent, depth);
    }
    if (c == '"') { /* copy the string as is, escapes included */
      const char *q = p + 1;
      while (*q && *q != '"')
        q += (*q == '\\' && q[1]) ? 2 : 1;
      sb_put(&b, p, (size_t)(q - p) + (*q ? 1 : 0));
      if (*q == '\0')
        break;
      p = q;
      continue;
    }
    switch (c) {
    case '{':
    case '[':
      sb_put(&b, &c, 1);
      need_indent = true;
      break;
    case '}':
    case ']':
      if (need_indent)
        need_indent = false; /* empty: "{}" */
      else {
        depth--;
        newline_indent(&b, indent, depth);
      }
      sb_put(&b, &c, 1);
      break;
    case ',':
      sb_put(&b, ",", 1);
      newline_indent(&b, indent, depth);
      break;
    case ':':
      sb_put(&b, ": ", 2);
      break;
    default:
      sb_put(&b, &c, 1);
    }
  }
  return sb_take(&b);
}

int cli_strv_push(cli_strv_t *l, const char *s) {
  const char **v = realloc(l->v, (l->n + 1) * sizeof *v);
  if (v == NULL)
    return -1;
  v[l->n++] = s;
  l->v = v;
  return 0;
}

void cli_strv_free(cli_strv_t *l) {
  free(l->v);
  l->v = NULL;
  l->n = 0;
}

bool cli_filter_valid(const char *arg) {
  return arg[0] == '\0' || strchr(arg, '=') != NULL;
}

typedef struct {
  char *name, *value;
} filter_pair_t;

static char *trimmed(const char *s, size_t n, bool lower) {
  while (n && isspace((unsigned char)*s)) {
    s++;
    n--;
  }
  while (n && isspace((unsigned char)s[n - 1]))
    n--;
  char *out = strndup(s, n);
  for (char *c = out; lower && c && *c; c++)
    *c = (char)tolower((unsigned char)*c);
  return out;
}

static int pair_cmp(const void *a, const void *b) {
  const filter_pair_t *x = a, *y = b;
  int r = strcmp(x->name, y->name);
  return r ? r : strcmp(x->value, y->value);
}

static void sb_json_string(sbuf_t *b, const char *s) {
  json_object *o = json_object_new_string(s);
  sb_str(b, o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : "\"\"");
  json_object_put(o);
}

char *cli_filters_json(const cli_strv_t *filters, const char *extra_name, const char *extra_value) {
  size_t n = 0, cap = (filters ? filters->n : 0) + 1;
  filter_pair_t *pairs = calloc(cap, sizeof *pairs);
  bool oom = pairs == NULL;
  for (size_t i = 0; !oom && filters && i < filters->n; i++) {
    const char *a = filters->v[i], *eq = strchr(a, '=');
    if (eq == NULL) /* "" is accepted and ignored, as pflag does */
      continue;
    pairs[n].name = trimmed(a, (size_t)(eq - a), true);
    pairs[n].value = trimmed(eq + 1, strlen(eq + 1), false);
    oom = pairs[n].name == NULL || pairs[n].value == NULL;
    n++;
  }
  if (!oom && extra_name) {
    pairs[n].name = strdup(extra_name);
    pairs[n].value = strdup(extra_value);
    oom = pairs[n].name == NULL || pairs[n].value == NULL;
    n++;
  }
  sbuf_t b = { 0 };
  if (!oom) {
    qsort(pairs, n, sizeof *pairs, pair_cmp);
    sb_put(&b, "{", 1);
    for (size_t i = 0; i < n; i++) {
      bool first_of_name = i == 0 || strcmp(pairs[i].name, pairs[i - 1].name) != 0;
      if (!first_of_name && strcmp(pairs[i].value, pairs[i - 1].value) == 0)
        continue; /* the same value twice */
      if (first_of_name) {
        if (i > 0)
          sb_put(&b, "},", 2);
        sb_json_string(&b, pairs[i].name);
        sb_put(&b, ":{", 2);
      } else {
        sb_put(&b, ",", 1);
      }
      sb_json_string(&b, pairs[i].value);
      sb_put(&b, ":true", 5);
    }
    sb_str(&b, n ? "}}" : "}");
  }
  for (size_t i = 0; pairs && i < n; i++) {
    free(pairs[i].name);
    free(pairs[i].value);
  }
  free(pairs);
  if (oom) {
    free(b.s);
    return NULL;
  }
  return sb_take(&b);
}

void cli_progress_format(char *buf, size_t len, const char *label, uint64_t done, int64_t total, int cols) {
  char now[32];
  cli_human_size((double)done, 4, now, sizeof now);
  if (total < 0) {
    snprintf(buf, len, "%-8s %s", label, now);
    return;
  }
  char all[32];
  cli_human_size((double)total, 4, all, sizeof all);
  /* "label [" + width '=' or ' ' + ">] " + "%8s/%s", as docker's JSONProgress */
  int fixed = (int)strlen(label) + 14 + (int)strlen(all);
  int width = cols - fixed;
  if (width > 50)
    width = 50;
  if (width < 10) { /* too narrow for a bar: numbers only */
    snprintf(buf, len, "%s %s/%s", label, now, all);
    return;
  }
  uint64_t cur = (int64_t)done > total ? (uint64_t)total : done;
  int filled = total > 0 ? (int)((double)cur / (double)total * width) : width;
  char bar[64];
  memset(bar, '=', (size_t)filled);
  bar[filled] = '>';
  memset(bar + filled + 1, ' ', (size_t)(width - filled));
  bar[width + 1] = '\0';
  snprintf(buf, len, "%s [%s] %8s/%s", label, bar, now, all);
}
