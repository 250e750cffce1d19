/* The values a template walks: a row's strings, and inspect's JSON as the
 * docker CLI prints it after decoding into Go's types (strings raw,
 * integers whole, arrays [a b], objects map[k:v] in key order, null <nil>),
 * Go's truth and Go's JSON. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "template_nodes.h"

value_t tv_str(const char *s) {
  value_t v = { .kind = V_STR, .s = strdup(s ? s : "") };
  return v;
}

value_t tv_int(int64_t i) {
  value_t v = { .kind = V_INT, .i = i };
  return v;
}

value_t tv_bool(bool b) {
  value_t v = { .kind = V_BOOL, .i = b };
  return v;
}

value_t tv_from_json(json_object *j, bool raw) {
  if (raw && (json_object_is_type(j, json_type_int) || json_object_is_type(j, json_type_double))) {
    value_t v = tv_str(json_object_to_json_string_ext(j, JSON_C_TO_STRING_PLAIN));
    v.number = true;
    return v;
  }
  switch (json_object_get_type(j)) {
  case json_type_null: return (value_t){ .kind = V_NIL };
  case json_type_string: return tv_str(json_object_get_string(j));
  case json_type_int: return tv_int(json_object_get_int64(j));
  case json_type_boolean: return tv_bool(json_object_get_boolean(j));
  default: return (value_t){ .kind = V_JSON, .j = json_object_get(j) };
  }
}

value_t tv_copy(const value_t *v) {
  value_t c = *v;
  if (v->kind == V_STR)
    c.s = strdup(v->s);
  if (v->kind == V_JSON)
    json_object_get(v->j);
  return c;
}

void tv_free(value_t *v) {
  free(v->s);
  v->s = NULL;
  if (v->kind == V_JSON)
    json_object_put(v->j);
  v->j = NULL;
  v->kind = V_NIL;
}

const char *tv_type(const exec_t *x, const value_t *v) {
  switch (v->kind) {
  case V_STR: return v->number ? "json.Number" : "string";
  case V_INT: return "int";
  case V_BOOL: return "bool";
  case V_NIL: return x->row ? "*formatter.Platform" : "<nil>";
  case V_NOVALUE: return "<nil>";
  case V_ROW: return x->header ? "formatter.SubHeaderContext" : x->row->type;
  case V_JSON:
    return json_object_is_type(v->j, json_type_array)    ? "[]interface {}"
           : json_object_is_type(v->j, json_type_object) ? "map[string]interface {}"
                                                          : "float64";
  }
  return "?";
}

bool tv_truth(const value_t *v) {
  switch (v->kind) {
  case V_STR: return v->s[0] != '\0';
  case V_INT:
  case V_BOOL: return v->i != 0;
  case V_NIL:
  case V_NOVALUE: return false;
  case V_ROW: return true;
  case V_JSON:
    if (json_object_is_type(v->j, json_type_array))
      return json_object_array_length(v->j) > 0;
    if (json_object_is_type(v->j, json_type_object))
      return json_object_object_length(v->j) > 0;
    return json_object_get_double(v->j) != 0;
  }
  return false;
}

/* Go's shortest float: %v as strconv 'g', JSON as 'f' inside 1e-6..1e21. */
static void print_double(FILE *out, double d, bool json) {
  if (isnan(d) || isinf(d)) {
    fputs(json ? "null" : isnan(d) ? "NaN" : d > 0 ? "+Inf" : "-Inf", out);
    return;
  }
  if (json && d == trunc(d) && fabs(d) < 1e21) {
    fprintf(out, "%.0f", d);
    return;
  }
  char buf[64];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, d);
    if (strtod(buf, NULL) == d)
      break;
  }
  fputs(buf, out);
}

static int cmp_keys(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The keys of an object, sorted (borrowed strings; caller frees the array). */
static const char **sorted_keys(json_object *o, size_t *n) {
  *n = (size_t)json_object_object_length(o);
  const char **keys = malloc((*n + 1) * sizeof *keys);
  size_t k = 0;
  if (keys == NULL)
    return NULL;
  json_object_object_foreach(o, key, val) {
    (void)val;
    keys[k++] = key;
  }
  qsort(keys, k, sizeof *keys, cmp_keys);
  return keys;
}

bool tv_json_is_string_map(json_object *o) {
  json_object_object_foreach(o, key, val) {
    (void)key;
    if (!json_object_is_type(val, json_type_string))
      return false;
  }
  return true;
}

static void print_json_v(FILE *out, json_object *j) {
  switch (json_object_get_type(j)) {
  case json_type_null: fputs("<nil>", out); break;
  case json_type_string: fputs(json_object_get_string(j), out); break;
  case json_type_int: fprintf(out, "%lld", (long long)json_object_get_int64(j)); break;
  case json_type_boolean: fputs(json_object_get_boolean(j) ? "true" : "false", out); break;
  case json_type_double: print_double(out, json_object_get_double(j), false); break;
  case json_type_array:
    fputc('[', out);
    for (size_t i = 0; i < json_object_array_length(j); i++) {
      fputs(i ? " " : "", out);
      print_json_v(out, json_object_array_get_idx(j, i));
    }
    fputc(']', out);
    break;
  case json_type_object: {
    size_t n;
    const char **keys = sorted_keys(j, &n);
    fputs("map[", out);
    for (size_t i = 0; keys && i < n; i++) {
      fprintf(out, "%s%s:", i ? " " : "", keys[i]);
      print_json_v(out, json_object_object_get(j, keys[i]));
    }
    fputc(']', out);
    free(keys);
    break;
  }
  }
}

int tv_print(FILE *out, const exec_t *x, const value_t *v) {
  (void)x;
  switch (v->kind) {
  case V_STR: fputs(v->s, out); return 0;
  case V_INT: fprintf(out, "%lld", (long long)v->i); return 0;
  case V_BOOL: fputs(v->i ? "true" : "false", out); return 0;
  case V_NIL: fputs("<nil>", out); return 0;
  case V_NOVALUE: fputs("<no value>", out); return 0;
  case V_JSON: print_json_v(out, v->j); return 0;
  case V_ROW: return -1;
  }
  return -1;
}

/* Go's encoding/json: the engine's member order (a typed struct's), but a
 * map's keys sorted. */
static void write_json(FILE *out, json_object *j) {
  switch (json_object_get_type(j)) {
  case json_type_null: fputs("null", out); break;
  case json_type_string: cli_go_json_string(out, json_object_get_string(j), false); break;
  case json_type_int: fprintf(out, "%lld", (long long)json_object_get_int64(j)); break;
  case json_type_boolean: fputs(json_object_get_boolean(j) ? "true" : "false", out); break;
  case json_type_double: print_double(out, json_object_get_double(j), true); break;
  case json_type_array:
    fputc('[', out);
    for (size_t i = 0; i < json_object_array_length(j); i++) {
      fputs(i ? "," : "", out);
      write_json(out, json_object_array_get_idx(j, i));
    }
    fputc(']', out);
    break;
  case json_type_object: {
    fputc('{', out);
    if (tv_json_is_string_map(j)) {
      size_t n;
      const char **keys = sorted_keys(j, &n);
      for (size_t i = 0; keys && i < n; i++) {
        fputs(i ? "," : "", out);
        cli_go_json_string(out, keys[i], false);
        fputc(':', out);
        write_json(out, json_object_object_get(j, keys[i]));
      }
      free(keys);
    } else {
      bool first = true;
      json_object_object_foreach(j, key, val) {
        fputs(first ? "" : ",", out);
        first = false;
        cli_go_json_string(out, key, false);
        fputc(':', out);
        write_json(out, val);
      }
    }
    fputc('}', out);
    break;
  }
  }
}

char *tv_json(const exec_t *x, const value_t *v) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL)
    return NULL;
  if (v->kind == V_STR && v->number) {
    fputs(v->s, f);
  } else if (v->kind == V_STR) {
    cli_go_json_string(f, v->s, false);
  } else if (v->kind == V_INT) {
    fprintf(f, "%lld", (long long)v->i);
  } else if (v->kind == V_BOOL) {
    fputs(v->i ? "true" : "false", f);
  } else if (v->kind == V_NIL || v->kind == V_NOVALUE) {
    fputs("null", f);
  } else if (v->kind == V_JSON) {
    write_json(f, v->j);
  } else { /* the row: MarshalJSON's map, HTML escaped */
    fputc('{', f);
    for (size_t i = 0; i < x->row->n; i++) {
      fputs(i ? "," : "", f);
      cli_go_json_string(f, x->row->f[i].name, true);
      fputc(':', f);
      if (x->row->f[i].value)
        cli_go_json_string(f, x->row->f[i].value, true);
      else
        fputs("null", f);
    }
    fputc('}', f);
  }
  if (fclose(f) != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}

/* strconv.Quote: printable UTF-8 kept, the rest escaped. */
static void go_quote(FILE *out, const char *s) {
  fputc('"', out);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    switch (*p) {
    case '"': fputs("\\\"", out); break;
    case '\\': fputs("\\\\", out); break;
    case '\a': fputs("\\a", out); break;
    case '\b': fputs("\\b", out); break;
    case '\f': fputs("\\f", out); break;
    case '\n': fputs("\\n", out); break;
    case '\r': fputs("\\r", out); break;
    case '\t': fputs("\\t", out); break;
    case '\v': fputs("\\v", out); break;
    default:
      if (*p < 0x20 || *p == 0x7f)
        fprintf(out, "\\x%02x", *p);
      else
        fputc(*p, out);
    }
  }
  fputc('"', out);
}

/* v as %v, into a string (caller frees). */
static char *print_to_string(const exec_t *x, const value_t *v) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL)
    return NULL;
  if (tv_print(f, x, v) < 0)
    fputs("{...}", f);
  if (fclose(f) != 0) {
    free(buf);
    return NULL;
  }
  return buf;
}

/* fmt's mark for a verb that does not fit its argument: %!d(string=x). */
static void bad_verb(FILE *out, const exec_t *x, char verb, const value_t *v, const char *text) {
  if (v->kind == V_NIL || v->kind == V_NOVALUE)
    fprintf(out, "%%!%c(<nil>)", verb);
  else
    fprintf(out, "%%!%c(%s=%s)", verb, tv_type(x, v), text);
}

int tpl_sprintf(exec_t *x, FILE *out, const char *fmt, const value_t *args, size_t nargs) {
  size_t used = 0;
  for (const char *p = fmt; *p; p++) {
    if (*p != '%') {
      fputc(*p, out);
      continue;
    }
    char spec[32] = "%";
    size_t sl = 1;
    for (p++; *p && strchr("-+# 0", *p) && sl < 8; p++)
      spec[sl++] = *p;
    int width = -1, prec = -1;
    if (isdigit((unsigned char)*p))
      for (width = 0; isdigit((unsigned char)*p); p++)
        width = width > 10000 ? width : width * 10 + (*p - '0');
    if (*p == '.')
      for (p++, prec = 0; isdigit((unsigned char)*p); p++)
        prec = prec > 10000 ? prec : prec * 10 + (*p - '0');
    char verb = *p;
    if (verb == '\0') {
      fputs("%!(NOVERB)", out);
      break;
    }
    if (verb == '%') {
      fputc('%', out);
      continue;
    }
    if (used >= nargs) {
      fprintf(out, "%%!%c(MISSING)", verb);
      continue;
    }
    const value_t *v = &args[used++];
    char *text = print_to_string(x, v);
    if (text == NULL)
      return -1;
    char *q = NULL;
    size_t qlen = 0;
    FILE *qf = NULL;
    if (verb == 'd' && v->kind == V_INT) {
      if (prec >= 0)
        snprintf(spec + sl, sizeof spec - sl, "*.*lld");
      else
        snprintf(spec + sl, sizeof spec - sl, "*lld");
      if (prec >= 0)
        fprintf(out, spec, width < 0 ? 0 : width, prec, (long long)v->i);
      else
        fprintf(out, spec, width < 0 ? 0 : width, (long long)v->i);
    } else if ((verb == 'x' || verb == 'X') && v->kind == V_INT) {
      snprintf(spec + sl, sizeof spec - sl, "*ll%c", verb);
      fprintf(out, spec, width < 0 ? 0 : width, (long long)v->i);
    } else if (verb == 's' || verb == 'v' || (verb == 't' && v->kind == V_BOOL) || verb == 'q' ||
               ((verb == 'x' || verb == 'X') && v->kind == V_STR)) {
      if ((verb == 's' || verb == 'q' || verb == 'x' || verb == 'X') && (v->kind == V_INT || v->kind == V_BOOL)) {
        bad_verb(out, x, verb, v, text);
        free(text);
        continue;
      }
      const char *shown = text;
      if (verb == 'q' || verb == 'x' || verb == 'X') {
        if ((qf = open_memstream(&q, &qlen)) == NULL) {
          free(text);
          return -1;
        }
        if (verb == 'q')
          go_quote(qf, text);
        else
          for (const unsigned char *c = (const unsigned char *)text; *c; c++)
            fprintf(qf, verb == 'x' ? "%02x" : "%02X", *c);
        if (fclose(qf) != 0) {
          free(q);
          free(text);
          return -1;
        }
        shown = q;
      }
      spec[sl] = '\0';
      bool left = strchr(spec, '-') != NULL;
      fprintf(out, left ? "%-*.*s" : "%*.*s", width < 0 ? 0 : width, prec < 0 || verb == 'q' ? (int)strlen(shown) : prec,
              shown);
      free(q);
    } else {
      bad_verb(out, x, verb, v, text);
    }
    free(text);
  }
  if (used < nargs) {
    fputs("%!(EXTRA ", out);
    for (size_t i = used; i < nargs; i++) {
      char *text = print_to_string(x, &args[i]);
      fprintf(out, "%s%s=%s", i > used ? ", " : "", tv_type(x, &args[i]), text ? text : "");
      free(text);
    }
    fputc(')', out);
  }
  return 0;
}
