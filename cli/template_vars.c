/* Variables of Go's text/template: "$" (the data the template runs on),
 * "$x := pipeline" and "$x = pipeline" in an action or an if/with/range
 * header, range's "$i, $e :=". Checked when parsed (Go's "undefined
 * variable" is a parse error) and kept on a stack when run: a block's
 * declarations end at its {{end}}, a range body's at each iteration. */
#include <stdlib.h>
#include <string.h>
#include "template_nodes.h"

typedef struct {
  const char **names;
  size_t n;
} scope_t;

static bool declared(const scope_t *s, const char *name) {
  for (size_t i = s->n; i > 0; i--)
    if (strcmp(s->names[i - 1], name) == 0)
      return true;
  return false;
}

static int check_cmds(const cli_template_t *t, const scope_t *s, const command_t *cmds, size_t ncmds, char *err,
                      size_t errlen) {
  for (size_t c = 0; c < ncmds; c++)
    for (size_t k = 0; k < cmds[c].n; k++) {
      const operand_t *o = &cmds[c].ops[k];
      if (o->kind == OP_VAR && !declared(s, o->str)) {
        cli_tpl_set_err(err, errlen, "template: :%d: undefined variable \"%s\"", cli_tpl_line_of(t->src, o->pos),
                        o->str);
        return -1;
      }
      if (o->kind == OP_PIPE && check_cmds(t, s, o->cmds, o->ncmds, err, errlen) < 0)
        return -1;
    }
  return 0;
}

int tpl_check_vars(const cli_template_t *t, char *err, size_t errlen) {
  /* at most $ and two names a node; a mark per open block */
  scope_t s = { .names = malloc((2 * t->n + 1) * sizeof *s.names) };
  size_t *marks = malloc((t->n + 1) * sizeof *marks), depth = 0;
  int r = 0;
  if (s.names == NULL || marks == NULL) {
    cli_tpl_set_err(err, errlen, "out of memory");
    r = -1;
  } else {
    s.names[s.n++] = "$";
  }
  for (size_t i = 0; r == 0 && i < t->n; i++) {
    const node_t *n = &t->nodes[i];
    if (n->kind == N_IF || n->kind == N_RANGE || n->kind == N_WITH)
      marks[depth++] = s.n;
    else if (n->kind == N_END && depth > 0)
      s.n = marks[--depth];
    /* Go declares before it parses the pipeline: {{$x := $x}} parses */
    for (size_t d = 0; d < n->ndecl; d++)
      s.names[s.n++] = n->decl[d];
    r = check_cmds(t, &s, n->cmds, n->ncmds, err, errlen);
  }
  free(s.names);
  free(marks);
  return r;
}

int tpl_var_push(exec_t *x, const char *name, const value_t *v) {
  if (x->nvars == x->capvars) {
    size_t cap = x->capvars ? 2 * x->capvars : 8;
    tpl_var_t *grown = realloc(x->vars, cap * sizeof *grown);
    if (grown == NULL)
      return -1;
    x->vars = grown;
    x->capvars = cap;
  }
  value_t copy = tv_copy(v);
  if (copy.kind == V_STR && copy.s == NULL)
    return -1;
  x->vars[x->nvars++] = (tpl_var_t){ .name = name, .v = copy };
  return 0;
}

int tpl_var_set(exec_t *x, const char *name, const value_t *v) {
  for (size_t i = x->nvars; i > 0; i--)
    if (strcmp(x->vars[i - 1].name, name) == 0) {
      value_t copy = tv_copy(v);
      if (copy.kind == V_STR && copy.s == NULL)
        return -1;
      tv_free(&x->vars[i - 1].v);
      x->vars[i - 1].v = copy;
      return 0;
    }
  return -2;
}

const value_t *tpl_var_get(const exec_t *x, const char *name) {
  for (size_t i = x->nvars; i > 0; i--)
    if (strcmp(x->vars[i - 1].name, name) == 0)
      return &x->vars[i - 1].v;
  return NULL;
}

void tpl_var_pop(exec_t *x, size_t mark) {
  while (x->nvars > mark)
    tv_free(&x->vars[--x->nvars].v);
}

/* The node Go's executor visits last in a pipeline (its state's node when
 * a later step fails): the last operand of the last command. */
const operand_t *tpl_last_visited(const command_t *cmds, size_t ncmds) {
  const operand_t *o = &cmds[ncmds - 1].ops[cmds[ncmds - 1].n - 1];
  return o->kind == OP_PIPE ? tpl_last_visited(o->cmds, o->ncmds) : o;
}

/* Go's message for "$x = ..." with no $x in scope, at the node visited last. */
int tpl_undefined_var(exec_t *x, const node_t *n, const char *name) {
  return tpl_exec_err(x, tpl_last_visited(n->cmds, n->ncmds), "undefined variable: %s", name);
}

/* Declares (pushes) or assigns the node's variables to v. */
int tpl_bind_decls(exec_t *x, const node_t *n, const value_t *v) {
  for (size_t d = 0; d < n->ndecl; d++) {
    int r = n->assign ? tpl_var_set(x, n->decl[d], v) : tpl_var_push(x, n->decl[d], v);
    if (r == -2)
      return tpl_undefined_var(x, n, n->decl[d]);
    if (r < 0)
      return tpl_exec_err(x, &n->cmds[0].ops[0], "out of memory");
  }
  return 0;
}
