/* Executing a parsed template (template.c) over one row: fields, the
 * .Label method, docker's functions, pipelines; Go's ExecError messages
 * ("template: :1:2: executing \"\" at <.Nope>: can't evaluate field ..."). */
#include <ctype.h>
#include <locale.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>
#include "template_nodes.h"

typedef enum { V_STR, V_NIL, V_INT, V_ROW } vkind_t;
typedef struct {
  vkind_t kind;
  char *s; /* V_STR, owned */
  long i;
} value_t;

typedef struct {
  const cli_template_t *t;
  const cli_row_t *row;
  bool header;
  char *err;
  size_t errlen;
} exec_t;

/* Go's ExecError: "template: :LINE:COL: executing "" at <NODE>: WHY". */
static int exec_err_v(exec_t *x, size_t pos, const char *node, const char *fmt, va_list ap) {
  const char *src = x->t->src;
  size_t col = pos;
  for (size_t i = 0; i < pos; i++)
    if (src[i] == '\n')
      col = pos - i - 1;
  char why[512];
  vsnprintf(why, sizeof why, fmt, ap);
  cli_tpl_set_err(x->err, x->errlen, "template: :%d:%zu: executing \"\" at <%.20s%s>: %s", cli_tpl_line_of(src, pos), col, node,
          strlen(node) > 20 ? "..." : "", why);
  return -1;
}

static int exec_err(exec_t *x, const operand_t *o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  exec_err_v(x, o->pos, o->src, fmt, ap);
  va_end(ap);
  return -1;
}

/* At the whole command, as Go reports a function's own error. */
static int call_err(exec_t *x, const command_t *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  exec_err_v(x, cmd->ops[0].pos, cmd->src ? cmd->src : cmd->ops[0].src, fmt, ap);
  va_end(ap);
  return -1;
}

static const char *type_of(const exec_t *x, const value_t *v) {
  switch (v->kind) {
  case V_STR: return "string";
  case V_INT: return "int";
  case V_NIL: return "*formatter.Platform";
  default: return x->header ? "formatter.SubHeaderContext" : x->row->type;
  }
}

static value_t vstr(const char *s) {
  value_t v = { .kind = V_STR, .s = strdup(s ? s : "") };
  return v;
}

static int eval_field(exec_t *x, const operand_t *o, value_t *args, size_t nargs, value_t *out) {
  const char *first = o->segs[0];
  const cli_field_t *f = cli_row_field(x->row, first);
  size_t want = 0;
  if (x->header) {
    if (nargs > 0)
      return exec_err(x, o, "%s is not a method but has arguments", first);
    *out = vstr(f ? f->header : "<no value>");
  } else if (strcmp(first, "Label") == 0 && x->row->has_label) {
    want = 1;
    if (nargs != 1)
      return exec_err(x, o, "wrong number of args for Label: want 1 got %zu", nargs);
    if (args[0].kind != V_STR)
      return exec_err(x, o, "wrong type for value; expected string; got %s", type_of(x, &args[0]));
    json_object *v = NULL;
    if (x->row->labels && json_object_object_get_ex(x->row->labels, args[0].s, &v) &&
        json_object_is_type(v, json_type_string))
      *out = vstr(json_object_get_string(v));
    else
      *out = vstr("");
  } else if (f == NULL) {
    return exec_err(x, o, "can't evaluate field %s in type %s", first, x->row->type);
  } else if (nargs > 0) {
    return exec_err(x, o, "wrong number of args for %s: want %zu got %zu", first, want, nargs);
  } else if (f->value == NULL) {
    out->kind = V_NIL;
    out->s = NULL;
  } else {
    *out = vstr(f->value);
  }
  if (out->kind == V_STR && out->s == NULL)
    return exec_err(x, o, "out of memory");
  if (o->nsegs > 1) {
    bool nil = out->kind == V_NIL;
    free(out->s);
    out->s = NULL;
    if (nil)
      return exec_err(x, o, "nil pointer evaluating *formatter.Platform.%s", o->segs[1]);
    return exec_err(x, o, "can't evaluate field %s in type string", o->segs[1]);
  }
  return 0;
}

/* An argument's value (not a function: the parser refused those). */
static int eval_operand(exec_t *x, const operand_t *o, value_t *out) {
  switch (o->kind) {
  case OP_DOT: out->kind = V_ROW; out->s = NULL; return 0;
  case OP_NUMBER: out->kind = V_INT; out->i = o->num; out->s = NULL; return 0;
  case OP_STRING:
    *out = vstr(o->str);
    return out->s ? 0 : exec_err(x, o, "out of memory");
  case OP_FIELD: return eval_field(x, o, NULL, 0, out);
  default: return exec_err(x, o, "unexpected function");
  }
}

/* Go's JSON of a value, as docker's json function writes it. */
static char *json_of(const exec_t *x, const value_t *v) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (f == NULL)
    return NULL;
  if (v->kind == V_STR) {
    cli_go_json_string(f, v->s, false);
  } else if (v->kind == V_INT) {
    fprintf(f, "%ld", v->i);
  } else if (v->kind == V_NIL) {
    fputs("null", f);
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

static size_t func_arity(const char *name) {
  return strcmp(name, "pad") == 0 ? 3 : strcmp(name, "truncate") == 0 ? 2 : 1;
}

/* An argument of the wrong type: a literal as Go's parser-typed message at
 * the literal, a computed value (field, pipeline) at its node. */
static int type_err(exec_t *x, const operand_t *fn, const operand_t *arg, const value_t *v, const char *want) {
  if (arg && (arg->kind == OP_STRING || arg->kind == OP_NUMBER))
    return exec_err(x, arg, "expected %s; found %s", want, arg->src);
  return exec_err(x, arg ? arg : fn, "wrong type for value; expected %s; got %s", want, type_of(x, v));
}

/* args[i] came from ops[i] (NULL: the pipeline's previous value). */
static int call_func(exec_t *x, const command_t *cmd, value_t *args, const operand_t *const *ops, size_t nargs,
                     value_t *out) {
  const operand_t *fn = &cmd->ops[0];
  const char *name = fn->str;
  bool pad = strcmp(name, "pad") == 0, trunc = strcmp(name, "truncate") == 0;
  bool json = strcmp(name, "json") == 0;
  if (nargs != func_arity(name)) /* (checked by the caller) */
    return exec_err(x, fn, "wrong number of args for %s", name);
  if (!json && args[0].kind != V_STR)
    return type_err(x, fn, ops[0], &args[0], "string");
  for (size_t i = 1; i < nargs; i++)
    if (args[i].kind != V_INT)
      return type_err(x, fn, ops[i], &args[i], "int");
  if (json && x->header) { /* the header function takes a string */
    if (args[0].kind != V_STR)
      return type_err(x, fn, ops[0], &args[0], "string");
    *out = vstr(args[0].s);
  } else if (json) {
    out->kind = V_STR;
    out->s = json_of(x, &args[0]);
  } else if (pad) {
    long pre = args[1].i, post = args[2].i;
    if (pre < 0 || post < 0 || pre > 4096 || post > 4096)
      return call_err(x, cmd, "error calling pad: berth pads by at most 4096");
    size_t n = strlen(args[0].s);
    out->kind = V_STR;
    out->s = malloc(n + (size_t)pre + (size_t)post + 1);
    if (out->s && n == 0)
      out->s[0] = '\0';
    else if (out->s)
      snprintf(out->s, n + (size_t)pre + (size_t)post + 1, "%*s%s%*s", (int)pre, "", args[0].s, (int)post, "");
  } else if (x->header) { /* upper lower title truncate: the header as it is */
    *out = vstr(args[0].s);
  } else if (trunc) {
    long n = args[1].i;
    if (n < 0)
      return call_err(x, cmd, "error calling truncate: runtime error: slice bounds out of range [:%ld]", n);
    out->kind = V_STR;
    out->s = strlen(args[0].s) < (size_t)n ? strdup(args[0].s) : strndup(args[0].s, (size_t)n);
  } else {
    out->kind = V_STR;
    out->s = change_case(args[0].s, name[0]);
  }
  return out->kind == V_STR && out->s == NULL ? exec_err(x, fn, "out of memory") : 0;
}

static void free_values(value_t *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(v[i].s);
}

/* One command; final is the previous command's value in a pipeline. */
static int eval_command(exec_t *x, const command_t *cmd, value_t *final, value_t *out) {
  value_t args[8];
  const operand_t *ops[8];
  size_t nargs = 0;
  const operand_t *head = &cmd->ops[0];
  if (cmd->n + 1 > sizeof args / sizeof args[0])
    return exec_err(x, head, "too many arguments");
  size_t given = cmd->n - 1 + (final != NULL);
  if (head->kind == OP_FUNC && given != func_arity(head->str)) /* Go checks before it evaluates */
    return exec_err(x, head, "wrong number of args for %s: want %zu got %zu", head->str, func_arity(head->str), given);
  for (size_t i = 1; i < cmd->n; i++) {
    if (eval_operand(x, &cmd->ops[i], &args[nargs]) < 0) {
      free_values(args, nargs);
      return -1;
    }
    ops[nargs++] = &cmd->ops[i];
  }
  if (final) {
    ops[nargs] = NULL;
    args[nargs++] = *final;
    final->s = NULL;
  }
  int r;
  if (head->kind == OP_FUNC)
    r = call_func(x, cmd, args, ops, nargs, out);
  else if (head->kind == OP_FIELD)
    r = eval_field(x, head, args, nargs, out);
  else if (nargs > 0)
    r = exec_err(x, head, "can't give argument to non-function %s", head->src);
  else
    r = eval_operand(x, head, out);
  free_values(args, nargs);
  return r;
}

int cli_template_exec(const cli_template_t *t, const cli_row_t *row, bool header, FILE *out, char *err,
                      size_t errlen) {
  exec_t x = { .t = t, .row = row, .header = header, .err = err, .errlen = errlen };
  for (size_t i = 0; i < t->n; i++) {
    const node_t *n = &t->nodes[i];
    if (!n->action) {
      fputs(n->text, out);
      continue;
    }
    value_t v = { .kind = V_NIL }, prev;
    for (size_t c = 0; c < n->ncmds; c++) {
      prev = v;
      v.s = NULL;
      int r = eval_command(&x, &n->cmds[c], c ? &prev : NULL, &v);
      free(prev.s);
      if (r < 0)
        return -1;
    }
    if (v.kind == V_STR)
      fputs(v.s, out);
    else if (v.kind == V_NIL)
      fputs("<nil>", out);
    else if (v.kind == V_INT)
      fprintf(out, "%ld", v.i);
    else
      return exec_err(&x, &n->cmds[n->ncmds - 1].ops[0], "berth prints . only as {{json .}}");
    free(v.s);
  }
  return 0;
}
