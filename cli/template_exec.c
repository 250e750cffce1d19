/* Executing a parsed template (template.c) over a row of the list commands
 * or a JSON object of inspect: fields and their chains, the .Label method,
 * functions (template_funcs.c), pipelines, parenthesised ones, variables
 * (their stack: template_vars.c), if/else if/else, range, with;
 * Go's ExecError messages ("template: :1:2: executing \"\" at <.Nope>:
 * can't evaluate field ..."). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "template_nodes.h"

/* Go's ExecError: "template: :LINE:COL: executing "" at <NODE>: WHY". */
static int exec_err_v(exec_t *x, size_t pos, const char *node, const char *fmt, va_list ap) {
  const char *src = x->t->src;
  size_t col = pos;
  for (size_t i = 0; i < pos; i++)
    if (src[i] == '\n')
      col = pos - i - 1;
  char why[512];
  vsnprintf(why, sizeof why, fmt, ap);
  cli_tpl_set_err(x->err, x->errlen, "template: :%d:%zu: executing \"\" at <%.20s%s>: %s", cli_tpl_line_of(src, pos),
                  col, node, strlen(node) > 20 ? "..." : "", why);
  return -1;
}

int tpl_exec_err(exec_t *x, const operand_t *o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  exec_err_v(x, o->pos, o->src, fmt, ap);
  va_end(ap);
  return -1;
}

/* At the whole command, as Go reports a function's own error. */
int tpl_call_err(exec_t *x, const command_t *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  exec_err_v(x, cmd->ops[0].pos, cmd->src ? cmd->src : cmd->ops[0].src, fmt, ap);
  va_end(ap);
  return -1;
}

/* The first field of a chain on the row: a formatter field, its header, or
 * the .Label method. */
static int row_field(exec_t *x, const operand_t *o, value_t *args, size_t nargs, value_t *out) {
  const char *first = o->segs[0];
  const cli_field_t *f = cli_row_field(x->row, first);
  if (x->header) {
    if (nargs > 0)
      return tpl_exec_err(x, o, "%s is not a method but has arguments", first);
    *out = tv_str(f ? f->header : "<no value>");
  } else if (strcmp(first, "Label") == 0 && x->row->has_label) {
    if (nargs != 1)
      return tpl_exec_err(x, o, "wrong number of args for Label: want 1 got %zu", nargs);
    if (args[0].kind != V_STR)
      return tpl_exec_err(x, o, "wrong type for value; expected string; got %s", tv_type(x, &args[0]));
    json_object *v = NULL;
    if (x->row->labels && json_object_object_get_ex(x->row->labels, args[0].s, &v) &&
        json_object_is_type(v, json_type_string))
      *out = tv_str(json_object_get_string(v));
    else
      *out = tv_str("");
  } else if (f == NULL) {
    return tpl_exec_err(x, o, "can't evaluate field %s in type %s", first, x->row->type);
  } else if (nargs > 0) {
    return tpl_exec_err(x, o, "wrong number of args for %s: want 0 got %zu", first, nargs);
  } else {
    *out = f->value ? tv_str(f->value) : (value_t){ .kind = V_NIL };
  }
  return out->kind == V_STR && out->s == NULL ? tpl_exec_err(x, o, "out of memory") : 0;
}

/* One field of cur (replaced by it): a JSON object's member. */
/* Members of docker's types that the engine leaves out when empty
 * (omitempty): the typed struct the docker CLI decodes into has them, so a
 * template sees their zero value, not a missing key. 'p' a nil pointer,
 * 's' "", 'i' 0, 'b' false, 'm' an empty map, 'a' an empty slice. */
static const struct {
  const char *name;
  char zero;
} omitted[] = {
  { "Health", 'p' },        { "Node", 'p' },      { "SizeRw", 'p' },        { "SizeRootFs", 'p' },
  { "Healthcheck", 'p' },   { "StopTimeout", 'p' }, { "Init", 'p' },        { "ContainerConfig", 'p' },
  { "Descriptor", 'p' },    { "ExposedPorts", 'm' }, { "Volumes", 'm' },     { "Annotations", 'm' },
  { "ArgsEscaped", 'b' },   { "NetworkDisabled", 'b' }, { "MacAddress", 's' }, { "StopSignal", 's' },
  { "Container", 's' },     { "DockerVersion", 's' }, { "Variant", 's' },   { "VirtualSize", 'i' },
  { "Shell", 'a' },         { "Mounts", 'a' },    { "Manifests", 'a' },
};

static value_t zero_of(const char *name, bool *known) {
  *known = true;
  for (size_t i = 0; i < sizeof omitted / sizeof omitted[0]; i++)
    if (strcmp(omitted[i].name, name) == 0)
      switch (omitted[i].zero) {
      case 's': return tv_str("");
      case 'i': return tv_int(0);
      case 'b': return tv_bool(false);
      case 'm': return (value_t){ .kind = V_JSON, .j = json_object_new_object() };
      case 'a': return (value_t){ .kind = V_JSON, .j = json_object_new_array() };
      default: return (value_t){ .kind = V_NIL };
      }
  *known = false;
  return (value_t){ .kind = V_NOVALUE };
}

/* JSON members whose Go field is spelled otherwise (ID for "Id", CPUShares
 * for "CpuShares"...): the docker CLI's typed pass fails on them and its
 * raw pass answers. */
static bool typed_name_differs(const char *name) {
  static const char *const names[] = { "Id", "CpuShares", "CpuPeriod", "CpuQuota", "CpuRealtimePeriod",
                                       "CpuRealtimeRuntime", "CpusetCpus", "CpusetMems", "CpuCount", "CpuPercent",
                                       "NanoCpus", "Dns", "DnsOptions", "DnsSearch", NULL };
  for (const char *const *n = names; *n; n++)
    if (strcmp(*n, name) == 0)
      return true;
  return false;
}

/* A field of a JSON object read as a Go struct (cli_tpl_struct_t). */
static int struct_field(exec_t *x, const operand_t *o, const cli_tpl_struct_t *st, const char *name, value_t *cur) {
  const char *member = st->fields ? NULL : name;
  char zero = 0;
  for (const cli_tpl_field_t *f = st->fields; f && f->go; f++)
    if (strcmp(f->go, name) == 0) {
      member = f->json;
      zero = f->zero;
      break;
    }
  json_object *j;
  bool found = member && json_object_object_get_ex(cur->j, member, &j);
  if (member == NULL || (!found && zero == 0))
    return tpl_exec_err(x, o, "can't evaluate field %s in type %s", name, st->type);
  value_t next = found              ? tv_from_json(j, false)
                 : zero == 's'      ? tv_str("")
                 : zero == 'b'      ? tv_bool(false)
                 : zero == 'i'      ? tv_int(0)
                                    : (value_t){ .kind = V_NIL };
  if (next.kind == V_STR && next.s == NULL)
    return tpl_exec_err(x, o, "out of memory");
  tv_free(cur);
  *cur = next;
  return 0;
}

static int field_step(exec_t *x, const operand_t *o, const char *name, bool has_args, bool last, value_t *cur) {
  if (cur->kind == V_NOVALUE) /* Go: the zero value goes on */
    return 0;
  if (cur->kind == V_NIL) {
    if (x->row)
      return tpl_exec_err(x, o, "nil pointer evaluating *formatter.Platform.%s", name);
    return tpl_exec_err(x, o, "nil data; no entry for key \"%s\"", name);
  }
  if (cur->kind != V_JSON || !json_object_is_type(cur->j, json_type_object))
    return tpl_exec_err(x, o, "can't evaluate field %s in type %s", name, tv_type(x, cur));
  if (has_args)
    return tpl_exec_err(x, o, "%s is not a method but has arguments", name);
  for (size_t i = 0; i < x->nstructs; i++)
    if (x->structs[i].obj == cur->j)
      return struct_field(x, o, &x->structs[i], name, cur);
  json_object *member;
  value_t next;
  bool known;
  if (!x->raw && typed_name_differs(name))
    return tpl_exec_err(x, o, "can't evaluate field %s in a typed struct", name);
  if (json_object_object_get_ex(cur->j, name, &member))
    next = tv_from_json(member, x->raw);
  else if (x->raw)
    return tpl_exec_err(x, o, "map has no entry for key \"%s\"", name);
  else if (tv_json_is_string_map(cur->j))
    next = (value_t){ .kind = V_NOVALUE };
  else if (next = zero_of(name, &known), !known || (next.kind == V_NIL && !last))
    /* the CLI's raw fallback (after its typed nil pointer failed) has missingkey=error */
    return tpl_exec_err(x, o, "map has no entry for key \"%s\"", name);
  if ((next.kind == V_STR && next.s == NULL) || (next.kind == V_JSON && next.j == NULL))
    return tpl_exec_err(x, o, "out of memory");
  tv_free(cur);
  *cur = next;
  return 0;
}

/* A field chain from base (borrowed): the row's first field, then JSON
 * members; errors placed at at (Go's last node visited). */
static int eval_chain(exec_t *x, const operand_t *o, const operand_t *at, const value_t *base, value_t *args,
                      size_t nargs, value_t *out) {
  value_t cur;
  size_t seg = 0;
  if (base->kind == V_ROW) {
    if (row_field(x, o, args, nargs, &cur) < 0)
      return -1;
    seg = 1;
  } else {
    cur = tv_copy(base);
    if (cur.kind == V_STR && cur.s == NULL)
      return tpl_exec_err(x, o, "out of memory");
  }
  for (; seg < o->nsegs; seg++)
    if (field_step(x, at, o->segs[seg], nargs > 0 && seg + 1 == o->nsegs, seg + 1 == o->nsegs, &cur) < 0) {
      tv_free(&cur);
      return -1;
    }
  *out = cur;
  return 0;
}

static int eval_pipeline(exec_t *x, const command_t *cmds, size_t ncmds, value_t *out);

/* A variable or a parenthesised pipeline, then its field chain (args go
 * to the chain's last field, as Go's). */
static int eval_var_or_pipe(exec_t *x, const operand_t *o, value_t *args, size_t nargs, value_t *out) {
  value_t base;
  if (o->kind == OP_VAR) {
    const value_t *v = tpl_var_get(x, o->str);
    if (v == NULL) /* declared in a branch that did not run */
      return tpl_exec_err(x, o, "undefined variable: %s", o->str);
    base = tv_copy(v);
    if (base.kind == V_STR && base.s == NULL)
      return tpl_exec_err(x, o, "out of memory");
  } else if (eval_pipeline(x, o->cmds, o->ncmds, &base) < 0) {
    return -1;
  }
  if (o->nsegs == 0 && nargs > 0) {
    tv_free(&base);
    return tpl_exec_err(x, o, "can't give argument to non-function %s", o->src);
  }
  if (o->nsegs == 0) {
    *out = base;
    return 0;
  }
  int r = eval_chain(x, o, o->kind == OP_PIPE ? tpl_last_visited(o->cmds, o->ncmds) : o, &base, args, nargs, out);
  tv_free(&base);
  return r;
}

/* An argument's value (not a function: the parser refused those). */
static int eval_operand(exec_t *x, const operand_t *o, value_t *out) {
  switch (o->kind) {
  case OP_DOT:
    *out = tv_copy(&x->dot);
    return out->kind == V_STR && out->s == NULL ? tpl_exec_err(x, o, "out of memory") : 0;
  case OP_NUMBER: *out = tv_int(o->num); return 0;
  case OP_BOOL: *out = tv_bool(o->num != 0); return 0;
  case OP_STRING:
    *out = tv_str(o->str);
    return out->s ? 0 : tpl_exec_err(x, o, "out of memory");
  case OP_FIELD: return eval_chain(x, o, o, &x->dot, NULL, 0, out);
  case OP_VAR:
  case OP_PIPE: return eval_var_or_pipe(x, o, NULL, 0, out);
  default: return tpl_exec_err(x, o, "unexpected function");
  }
}

static void free_values(value_t *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    tv_free(&v[i]);
}

/* One command; final is the previous command's value in a pipeline. */
static int eval_command(exec_t *x, const command_t *cmd, value_t *final, value_t *out) {
  value_t args[17];
  const operand_t *ops[17];
  size_t nargs = 0;
  const operand_t *head = &cmd->ops[0];
  if (cmd->n + 1 > sizeof args / sizeof args[0])
    return tpl_exec_err(x, head, "too many arguments");
  size_t given = cmd->n - 1 + (final != NULL), min;
  long max;
  if (head->kind == OP_FUNC) { /* Go checks before it evaluates */
    tpl_func_arity(head->str, &min, &max);
    if (max >= 0 && (size_t)max == min && given != min)
      return tpl_exec_err(x, head, "wrong number of args for %s: want %zu got %zu", head->str, min, given);
    if (given < min)
      return tpl_exec_err(x, head, "wrong number of args for %s: want at least %zu got %zu", head->str, min, given);
  }
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
    *final = (value_t){ .kind = V_NIL };
  }
  int r;
  *out = (value_t){ .kind = V_NIL };
  if (head->kind == OP_FUNC)
    r = tpl_call_func(x, cmd, args, ops, nargs, out);
  else if (head->kind == OP_FIELD)
    r = eval_chain(x, head, head, &x->dot, args, nargs, out);
  else if (head->kind == OP_VAR || head->kind == OP_PIPE)
    r = eval_var_or_pipe(x, head, args, nargs, out);
  else if (nargs > 0)
    r = tpl_exec_err(x, head, "can't give argument to non-function %s", head->src);
  else
    r = eval_operand(x, head, out);
  free_values(args, nargs);
  return r;
}

static int eval_pipeline(exec_t *x, const command_t *cmds, size_t ncmds, value_t *out) {
  value_t v = { .kind = V_NIL }, prev;
  for (size_t c = 0; c < ncmds; c++) {
    prev = v;
    int r = eval_command(x, &cmds[c], c ? &prev : NULL, &v);
    tv_free(&prev);
    if (r < 0) {
      tv_free(&v);
      return -1;
    }
  }
  *out = v;
  return 0;
}

/* A node's pipeline, its value bound to its declarations. */
static int eval_node(exec_t *x, const node_t *n, value_t *out) {
  if (eval_pipeline(x, n->cmds, n->ncmds, out) < 0)
    return -1;
  if (tpl_bind_decls(x, n, out) < 0) {
    tv_free(out);
    return -1;
  }
  return 0;
}

static int exec_list(exec_t *x, size_t from, size_t to, FILE *out);

/* A bound on {{range N}}: the output is held in memory. */
#define RANGE_INT_MAX 1000000

/* The body from+1 .. to with dot set to v (borrowed). */
static int exec_with_dot(exec_t *x, const value_t *v, size_t from, size_t to, FILE *out) {
  value_t saved = x->dot;
  x->dot = *v;
  int r = exec_list(x, from, to, out);
  x->dot = saved;
  return r;
}

/* One iteration: the range's variables set to index and elem (Go's
 * setTopVar), the body's own declarations gone after it. */
static int range_step(exec_t *x, const node_t *n, size_t i, const value_t *index, const value_t *elem, FILE *out) {
  size_t mark = x->nvars;
  int r = 0;
  if ((index->kind == V_STR && index->s == NULL) || (elem->kind == V_STR && elem->s == NULL))
    return tpl_exec_err(x, &n->cmds[0].ops[0], "out of memory");
  if (n->ndecl == 1)
    r = tpl_var_set(x, n->decl[0], elem);
  else if (n->ndecl == 2 && (r = tpl_var_set(x, n->decl[0], index)) == 0)
    r = tpl_var_set(x, n->decl[1], elem);
  if (r == -2)
    return tpl_undefined_var(x, n, n->decl[0]);
  if (r < 0)
    return tpl_exec_err(x, &n->cmds[0].ops[0], "out of memory");
  r = exec_with_dot(x, elem, i + 1, n->next, out);
  tpl_var_pop(x, mark);
  return r;
}

/* range: an array's elements, an object's values in key order, 0..n-1 of
 * an integer; none (the else branch) for nil and empty ones. */
static int exec_range(exec_t *x, const node_t *n, size_t i, const value_t *v, FILE *out) {
  size_t count = 0;
  int r = 0;
  if (v->kind == V_JSON && json_object_is_type(v->j, json_type_array)) {
    count = json_object_array_length(v->j);
    for (size_t k = 0; r == 0 && k < count; k++) {
      value_t e = tv_from_json(json_object_array_get_idx(v->j, k), x->raw), index = tv_int((int64_t)k);
      r = range_step(x, n, i, &index, &e, out);
      tv_free(&e);
    }
  } else if (v->kind == V_JSON && json_object_is_type(v->j, json_type_object)) {
    count = (size_t)json_object_object_length(v->j);
    const char **keys = malloc((count + 1) * sizeof *keys);
    size_t k = 0;
    if (keys == NULL)
      return tpl_exec_err(x, &n->cmds[0].ops[0], "out of memory");
    json_object_object_foreach(v->j, key, val) {
      (void)val;
      size_t at = k++;
      while (at > 0 && strcmp(keys[at - 1], key) > 0) { /* insertion sort: inspect's maps are small */
        keys[at] = keys[at - 1];
        at--;
      }
      keys[at] = key;
    }
    for (k = 0; r == 0 && k < count; k++) {
      value_t e = tv_from_json(json_object_object_get(v->j, keys[k]), x->raw), key = tv_str(keys[k]);
      r = range_step(x, n, i, &key, &e, out);
      tv_free(&e);
      tv_free(&key);
    }
    free(keys);
  } else if (v->kind == V_INT) { /* Go 1.22's range over an integer */
    if (v->i > RANGE_INT_MAX)
      return tpl_exec_err(x, &n->cmds[0].ops[0], "berth ranges over an integer up to %d", RANGE_INT_MAX);
    if (n->ndecl > 1)
      return tpl_exec_err(x, &n->cmds[0].ops[0], "can't use %lld to iterate over more than one variable",
                          (long long)v->i);
    count = v->i > 0 ? (size_t)v->i : 0;
    for (size_t k = 0; r == 0 && k < count; k++) {
      value_t e = tv_int((int64_t)k);
      r = range_step(x, n, i, &e, &e, out);
    }
  } else if (v->kind != V_NIL && v->kind != V_NOVALUE) {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (f && tv_print(f, x, v) < 0)
      fputs("{...}", f);
    if (f)
      fclose(f);
    r = tpl_exec_err(x, &n->cmds[0].ops[0], "range can't iterate over %s", text ? text : "?");
    free(text);
    return r;
  }
  if (r < 0)
    return -1;
  if (count == 0 && n->next != n->end) /* {{else}} */
    return exec_list(x, n->next + 1, n->end, out);
  return 0;
}

/* if / with and their else if / else with / else chain, from node i. */
static int exec_branch_chain(exec_t *x, size_t i, FILE *out) {
  for (;;) {
    const node_t *n = &x->t->nodes[i];
    if (n->ncmds == 0) /* a plain else */
      return exec_list(x, i + 1, n->next, out);
    value_t v;
    if (eval_node(x, n, &v) < 0)
      return -1;
    bool with = n->kind == N_WITH || (n->kind == N_ELSE && n->text && n->text[0] == 'w');
    int r = 0;
    bool taken = tv_truth(&v);
    if (taken)
      r = with ? exec_with_dot(x, &v, i + 1, n->next, out) : exec_list(x, i + 1, n->next, out);
    tv_free(&v);
    if (taken || r < 0 || n->next == n->end)
      return r;
    i = n->next;
  }
}

/* The header's variables live to the {{end}}, through the else branches. */
static int exec_branch(exec_t *x, size_t i, FILE *out) {
  size_t mark = x->nvars;
  int r = exec_branch_chain(x, i, out);
  tpl_var_pop(x, mark);
  return r;
}

static int exec_list(exec_t *x, size_t from, size_t to, FILE *out) {
  for (size_t i = from; i < to; i++) {
    const node_t *n = &x->t->nodes[i];
    if (n->kind == N_TEXT) {
      fputs(n->text, out);
    } else if (n->kind == N_ACTION) {
      value_t v;
      if (eval_node(x, n, &v) < 0)
        return -1;
      int r = n->ndecl ? 0 : tv_print(out, x, &v); /* a declaration prints nothing */
      tv_free(&v);
      if (r < 0)
        return tpl_exec_err(x, &n->cmds[n->ncmds - 1].ops[0], "berth prints . only as {{json .}}");
    } else if (n->kind == N_RANGE) {
      value_t v;
      size_t mark = x->nvars;
      if (eval_node(x, n, &v) < 0) {
        tpl_var_pop(x, mark);
        return -1;
      }
      int r = exec_range(x, n, i, &v, out);
      tv_free(&v);
      tpl_var_pop(x, mark);
      if (r < 0)
        return -1;
      i = n->end;
    } else if (n->kind == N_IF || n->kind == N_WITH) {
      if (exec_branch(x, i, out) < 0)
        return -1;
      i = n->end;
    }
  }
  return 0;
}

/* The whole template with $ set to the dot. */
static int exec_top(exec_t *x, FILE *out) {
  int r = tpl_var_push(x, "$", &x->dot);
  if (r < 0)
    cli_tpl_set_err(x->err, x->errlen, "out of memory");
  else
    r = exec_list(x, 0, x->t->n, out);
  tpl_var_pop(x, 0);
  free(x->vars);
  return r;
}

int cli_template_exec(const cli_template_t *t, const cli_row_t *row, bool header, FILE *out, char *err,
                      size_t errlen) {
  exec_t x = { .t = t, .row = row, .header = header, .dot = { .kind = V_ROW }, .err = err, .errlen = errlen };
  return exec_top(&x, out);
}

static int exec_json_pass(const cli_template_t *t, json_object *obj, bool raw, FILE *out, char *err, size_t errlen) {
  exec_t x = { .t = t, .raw = raw, .err = err, .errlen = errlen };
  x.dot = tv_from_json(obj, raw);
  if (x.dot.kind == V_STR && x.dot.s == NULL) {
    cli_tpl_set_err(err, errlen, "out of memory");
    return -1;
  }
  int r = exec_top(&x, out);
  tv_free(&x.dot);
  return r;
}

int cli_template_exec_typed(const cli_template_t *t, json_object *obj, const cli_tpl_struct_t *structs,
                            size_t nstructs, FILE *out, char *err, size_t errlen) {
  exec_t x = { .t = t, .structs = structs, .nstructs = nstructs, .err = err, .errlen = errlen };
  x.dot = tv_from_json(obj, false);
  int r = exec_top(&x, out);
  tv_free(&x.dot);
  return r;
}

/* The docker CLI's two passes: its typed struct first; when that fails, a
 * map of the raw JSON (numbers as json.Number, missingkey=error). */
int cli_template_exec_json(const cli_template_t *t, json_object *obj, FILE *out, char *err, size_t errlen) {
  for (int raw = 0; raw < 2; raw++) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (f == NULL) {
      cli_tpl_set_err(err, errlen, "out of memory");
      return -1;
    }
    int r = exec_json_pass(t, obj, raw, f, err, errlen);
    if (fclose(f) != 0 && r == 0) {
      cli_tpl_set_err(err, errlen, "out of memory");
      r = -1;
    }
    if (r == 0)
      fwrite(buf, 1, len, out);
    free(buf);
    if (r == 0 || raw)
      return r;
  }
  return -1;
}

int cli_inspect_format(const cli_template_t *t, json_object *obj, FILE *out, char *err, size_t errlen) {
  char *buf = NULL, msg[1024] = "";
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  int r = f ? cli_template_exec_json(t, obj, f, msg, sizeof msg) : -1;
  if (f && fclose(f) != 0)
    r = -1;
  if (r == 0) { /* as the docker CLI's TemplateInspector: all or nothing, then a newline */
    fwrite(buf, 1, len, out);
    fputc('\n', out);
  } else {
    snprintf(err, errlen, "template parsing error: %s", msg[0] ? msg : "out of memory");
  }
  free(buf);
  return r;
}
