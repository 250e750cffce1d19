/* The template functions: docker's (json upper lower title pad truncate
 * split join) and Go's builtins (len index printf print println eq ne lt le
 * gt ge and or not), with Go's messages for a wrong argument. */
#include <ctype.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>
#include "template_nodes.h"

typedef struct {
  const char *name;
  size_t min;
  long max; /* -1: variadic */
} func_spec_t;

static const func_spec_t funcs[] = {
  { "json", 1, 1 },  { "upper", 1, 1 }, { "lower", 1, 1 }, { "title", 1, 1 },  { "pad", 3, 3 },
  { "truncate", 2, 2 }, { "split", 2, 2 }, { "join", 2, 2 }, { "len", 1, 1 },  { "index", 1, -1 },
  { "printf", 1, -1 }, { "print", 0, -1 }, { "println", 0, -1 }, { "eq", 1, -1 }, { "ne", 2, 2 },
  { "lt", 2, 2 },    { "le", 2, 2 },    { "gt", 2, 2 },    { "ge", 2, 2 },     { "and", 1, -1 },
  { "or", 1, -1 },   { "not", 1, 1 },   { NULL, 0, 0 },
};

static const func_spec_t *spec_of(const char *name) {
  for (const func_spec_t *f = funcs; f->name; f++)
    if (strcmp(f->name, name) == 0)
      return f;
  return NULL;
}

bool tpl_func_known(const char *name) {
  return spec_of(name) != NULL;
}

void tpl_func_arity(const char *name, size_t *min, long *max) {
  const func_spec_t *f = spec_of(name);
  *min = f ? f->min : 0;
  *max = f ? f->max : -1;
}

/* Decodes the UTF-8 character at p (its length in *len); -1 when invalid. */
static long utf8_decode(const unsigned char *p, size_t *len) {
  unsigned char c = p[0];
  size_t k = c < 0x80 ? 1 : c >= 0xC2 && c <= 0xDF ? 2 : (c >> 4) == 0xE ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  long cp = k == 1 ? c : k == 2 ? c & 0x1F : k == 3 ? c & 0x0F : c & 0x07;
  for (size_t j = 1; j < k; j++) {
    if ((p[j] & 0xC0) != 0x80)
      k = 0;
    else
      cp = (cp << 6) | (p[j] & 0x3F);
  }
  *len = k ? k : 1;
  return k ? cp : -1;
}

static size_t utf8_encode(long cp, char *o) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* strings.ToUpper / ToLower / Title ('u', 'l', 't') with Unicode's simple
 * case mapping (glibc's C.UTF-8 tables; ASCII only when that locale is
 * missing). Invalid bytes are kept. Caller frees. */
static char *change_case(const char *s, char how) {
  static locale_t utf8;
  if (utf8 == (locale_t)0)
    utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
  size_t n = strlen(s);
  char *out = malloc(4 * n + 1), *o = out;
  bool word_start = true;
  for (const unsigned char *p = (const unsigned char *)s; out && *p;) {
    size_t len;
    long cp = utf8_decode(p, &len);
    if (cp < 0) {
      *o++ = (char)*p++;
      word_start = false;
      continue;
    }
    wint_t w = (wint_t)cp, m = w;
    bool upper = how == 'u' || (how == 't' && word_start);
    if (upper)
      m = utf8 ? towupper_l(w, utf8) : (wint_t)toupper((int)(w < 0x80 ? w : 0)) ?: w;
    else if (how == 'l')
      m = utf8 ? towlower_l(w, utf8) : (wint_t)tolower((int)(w < 0x80 ? w : 0)) ?: w;
    o += utf8_encode((long)m, o);
    /* Go's isSeparator for Title: ASCII but letters, digits and '_'; other spaces */
    if (w < 0x80)
      word_start = !isalnum((int)w) && w != '_';
    else
      word_start = utf8 ? iswspace_l(w, utf8) : false;
    p += len;
  }
  if (out)
    *o = '\0';
  return out;
}

/* An argument of the wrong type: a literal as Go's parser-typed message at
 * the literal, a computed value (field, pipeline) at its node. */
static int type_err(exec_t *x, const operand_t *fn, const operand_t *arg, const value_t *v, const char *want) {
  if (arg && (arg->kind == OP_STRING || arg->kind == OP_NUMBER || arg->kind == OP_BOOL))
    return tpl_exec_err(x, arg, "expected %s; found %s", want, arg->src);
  return tpl_exec_err(x, arg ? arg : fn, "wrong type for value; expected %s; got %s", want, tv_type(x, v));
}

/* strings.Split: "" splits into UTF-8 characters. */
static value_t split(const char *s, const char *sep) {
  json_object *a = json_object_new_array();
  size_t seplen = strlen(sep);
  for (const char *p = s; a;) {
    size_t len;
    const char *hit = seplen ? strstr(p, sep) : NULL;
    if (seplen == 0) {
      if (!*p)
        break;
      utf8_decode((const unsigned char *)p, &len);
    } else {
      len = hit ? (size_t)(hit - p) : strlen(p);
    }
    json_object_array_add(a, json_object_new_string_len(p, (int)len));
    if (seplen && !hit)
      break;
    p += len + seplen;
  }
  return (value_t){ .kind = V_JSON, .j = a };
}

/* strings.Join over a []string. */
static int join(exec_t *x, const operand_t *fn, const operand_t *arg, const value_t *v, const char *sep, value_t *out) {
  if (v->kind != V_JSON || !json_object_is_type(v->j, json_type_array))
    return type_err(x, fn, arg, v, "[]string");
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL)
    return tpl_exec_err(x, fn, "out of memory");
  for (size_t i = 0; i < json_object_array_length(v->j); i++) {
    json_object *e = json_object_array_get_idx(v->j, i);
    if (!json_object_is_type(e, json_type_string)) {
      fclose(f);
      free(buf);
      return type_err(x, fn, arg, v, "[]string");
    }
    fprintf(f, "%s%s", i ? sep : "", json_object_get_string(e));
  }
  if (fclose(f) != 0) {
    free(buf);
    return tpl_exec_err(x, fn, "out of memory");
  }
  *out = (value_t){ .kind = V_STR, .s = buf };
  return 0;
}

/* Go's index: a map's key, an array's or a string's element. */
static int index_of(exec_t *x, const command_t *cmd, value_t *args, size_t nargs, value_t *out) {
  value_t cur = tv_copy(&args[0]);
  for (size_t k = 1; k < nargs; k++) {
    const value_t *ix = &args[k];
    json_object *j = cur.kind == V_JSON ? cur.j : NULL;
    value_t next;
    if (j && json_object_is_type(j, json_type_object)) {
      if (ix->kind != V_STR) {
        tv_free(&cur);
        return tpl_call_err(x, cmd, "error calling index: value has type %s; should be string", tv_type(x, ix));
      }
      json_object *e;
      if (json_object_object_get_ex(j, ix->s, &e))
        next = tv_from_json(e, x->raw);
      else /* the zero value: a map[string]string's "", an interface's none */
        next = !x->raw && tv_json_is_string_map(j) && json_object_object_length(j) ? tv_str("")
                                                                                  : (value_t){ .kind = V_NOVALUE };
    } else if ((j && json_object_is_type(j, json_type_array)) || cur.kind == V_STR) {
      size_t n = j ? json_object_array_length(j) : strlen(cur.s);
      if (ix->kind != V_INT) {
        tv_free(&cur);
        return tpl_call_err(x, cmd, "error calling index: cannot index slice/array with type %s", tv_type(x, ix));
      }
      if (ix->i < 0 || (uint64_t)ix->i >= n) {
        tv_free(&cur);
        return tpl_call_err(x, cmd, "error calling index: index out of range: %lld", (long long)ix->i);
      }
      next = j ? tv_from_json(json_object_array_get_idx(j, (size_t)ix->i), x->raw) : tv_int((unsigned char)cur.s[ix->i]);
    } else if (cur.kind == V_NIL || cur.kind == V_NOVALUE) {
      tv_free(&cur);
      return tpl_call_err(x, cmd, "error calling index: index of untyped nil");
    } else {
      const char *type = tv_type(x, &cur);
      tv_free(&cur);
      return tpl_call_err(x, cmd, "error calling index: can't index item of type %s", type);
    }
    tv_free(&cur);
    cur = next;
  }
  *out = cur;
  return 0;
}

/* Go's eq/lt...: <0, 0, >0 in *res; -1 with Go's message when the two
 * cannot be compared. */
static int compare(exec_t *x, const command_t *cmd, const value_t *a, const value_t *b, bool ordered, int *res) {
  const char *name = cmd->ops[0].str;
  bool na = a->kind == V_INT || (a->kind == V_JSON && json_object_is_type(a->j, json_type_double));
  bool nb = b->kind == V_INT || (b->kind == V_JSON && json_object_is_type(b->j, json_type_double));
  bool basic_a = na || a->kind == V_STR || a->kind == V_BOOL, basic_b = nb || b->kind == V_STR || b->kind == V_BOOL;
  if (!basic_a || !basic_b || (ordered && (a->kind == V_BOOL || b->kind == V_BOOL)))
    return tpl_call_err(x, cmd, "error calling %s: invalid type for comparison", name);
  if (na && nb) {
    double da = a->kind == V_INT ? (double)a->i : json_object_get_double(a->j);
    double db = b->kind == V_INT ? (double)b->i : json_object_get_double(b->j);
    if (a->kind == V_INT && b->kind == V_INT)
      *res = (a->i > b->i) - (a->i < b->i);
    else if (a->kind != b->kind)
      return tpl_call_err(x, cmd, "error calling %s: incompatible types for comparison", name);
    else
      *res = (da > db) - (da < db);
  } else if (a->kind != b->kind) {
    return tpl_call_err(x, cmd, "error calling %s: incompatible types for comparison", name);
  } else if (a->kind == V_STR) {
    *res = strcmp(a->s, b->s);
  } else {
    *res = (int)(a->i - b->i);
  }
  return 0;
}

/* print and println: fmt.Sprint adds a space between operands when neither
 * is a string; Sprintln always, and a newline. */
static int sprint(exec_t *x, const command_t *cmd, const value_t *args, size_t nargs, bool ln, value_t *out) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL)
    return tpl_exec_err(x, &cmd->ops[0], "out of memory");
  int r = 0;
  for (size_t i = 0; i < nargs && r == 0; i++) {
    if (i && (ln || (args[i - 1].kind != V_STR && args[i].kind != V_STR)))
      fputc(' ', f);
    r = tv_print(f, x, &args[i]);
  }
  if (ln)
    fputc('\n', f);
  if (fclose(f) != 0 || r < 0) {
    free(buf);
    return r < 0 ? tpl_exec_err(x, &cmd->ops[0], "berth prints . only as {{json .}}")
                 : tpl_exec_err(x, &cmd->ops[0], "out of memory");
  }
  *out = (value_t){ .kind = V_STR, .s = buf };
  return 0;
}

int tpl_call_func(exec_t *x, const command_t *cmd, value_t *args, const operand_t *const *ops, size_t nargs,
                  value_t *out) {
  const operand_t *fn = &cmd->ops[0];
  const char *name = fn->str;
  static const char *const string_funcs[] = { "upper", "lower", "title", "pad", "truncate", "split", NULL };
  bool string_func = false;
  for (const char *const *f = string_funcs; *f; f++)
    string_func |= strcmp(*f, name) == 0;
  if (strcmp(name, "json") == 0 && !x->header) {
    *out = (value_t){ .kind = V_STR, .s = tv_json(x, &args[0]) };
  } else if (string_func || strcmp(name, "json") == 0 || (x->header && strcmp(name, "join") == 0)) {
    if (args[0].kind != V_STR && !(strcmp(name, "join") == 0 && !x->header))
      return type_err(x, fn, ops[0], &args[0], "string");
    for (size_t i = 1; i < nargs; i++) {
      bool want_int = strcmp(name, "pad") == 0 || strcmp(name, "truncate") == 0;
      if (args[i].kind != (want_int ? V_INT : V_STR))
        return type_err(x, fn, ops[i], &args[i], want_int ? "int" : "string");
    }
    if (strcmp(name, "pad") == 0) {
      long pre = (long)args[1].i, post = (long)args[2].i;
      if (pre < 0 || post < 0 || pre > 4096 || post > 4096)
        return tpl_call_err(x, cmd, "error calling pad: berth pads by at most 4096");
      if (args[0].s[0] == '\0') /* docker's padWithSpace leaves "" alone */
        *out = tv_str("");
      else if (asprintf(&out->s, "%*s%s%*s", (int)pre, "", args[0].s, (int)post, "") < 0)
        out->s = NULL;
      out->kind = V_STR;
    } else if (x->header) { /* docker's header functions give the name back */
      *out = tv_str(args[0].s);
    } else if (strcmp(name, "truncate") == 0) {
      if (args[1].i < 0)
        return tpl_call_err(x, cmd, "error calling truncate: runtime error: slice bounds out of range [:%lld]",
                            (long long)args[1].i);
      *out = (value_t){ .kind = V_STR, .s = strndup(args[0].s, (size_t)args[1].i) };
    } else if (strcmp(name, "split") == 0) {
      *out = split(args[0].s, args[1].s);
      if (out->j == NULL)
        return tpl_exec_err(x, fn, "out of memory");
    } else {
      *out = (value_t){ .kind = V_STR, .s = change_case(args[0].s, name[0]) };
    }
  } else if (strcmp(name, "join") == 0) {
    if (args[1].kind != V_STR)
      return type_err(x, fn, ops[1], &args[1], "string");
    return join(x, fn, ops[0], &args[0], args[1].s, out);
  } else if (strcmp(name, "len") == 0) {
    const value_t *v = &args[0];
    if (v->kind == V_STR)
      *out = tv_int((int64_t)strlen(v->s));
    else if (v->kind == V_JSON && json_object_is_type(v->j, json_type_array))
      *out = tv_int((int64_t)json_object_array_length(v->j));
    else if (v->kind == V_JSON && json_object_is_type(v->j, json_type_object))
      *out = tv_int(json_object_object_length(v->j));
    else
      return tpl_call_err(x, cmd, "error calling len: len of type %s", tv_type(x, v));
  } else if (strcmp(name, "index") == 0) {
    return index_of(x, cmd, args, nargs, out);
  } else if (strcmp(name, "printf") == 0) {
    if (args[0].kind != V_STR)
      return type_err(x, fn, ops[0], &args[0], "string");
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    int r = f ? tpl_sprintf(x, f, args[0].s, args + 1, nargs - 1) : -1;
    if (f && fclose(f) != 0)
      r = -1;
    if (r < 0) {
      free(buf);
      return tpl_exec_err(x, fn, "out of memory");
    }
    *out = (value_t){ .kind = V_STR, .s = buf };
  } else if (strncmp(name, "print", 5) == 0) {
    return sprint(x, cmd, args, nargs, name[5] == 'l', out);
  } else if (strcmp(name, "not") == 0) {
    *out = tv_bool(!tv_truth(&args[0]));
  } else if (strcmp(name, "and") == 0 || strcmp(name, "or") == 0) {
    bool want = name[0] == 'o'; /* the first argument that decides, else the last */
    size_t i = 0;
    while (i + 1 < nargs && tv_truth(&args[i]) != want)
      i++;
    *out = tv_copy(&args[i]);
  } else { /* eq ne lt le gt ge */
    if (nargs < 2)
      return tpl_call_err(x, cmd, "error calling %s: missing argument for comparison", name);
    int res = 0;
    bool eq = strcmp(name, "eq") == 0, hit = false;
    for (size_t i = 1; i < nargs && !hit; i++) {
      if (compare(x, cmd, &args[0], &args[i], !eq && strcmp(name, "ne") != 0, &res) < 0)
        return -1;
      hit = eq && res == 0;
    }
    if (!eq)
      hit = strcmp(name, "ne") == 0 ? res != 0 : strcmp(name, "lt") == 0 ? res < 0 : strcmp(name, "le") == 0 ? res <= 0
            : strcmp(name, "gt") == 0 ? res > 0 : res >= 0;
    *out = tv_bool(hit);
  }
  return out->kind == V_STR && out->s == NULL ? tpl_exec_err(x, fn, "out of memory") : 0;
}
