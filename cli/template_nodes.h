/* template.c, template_exec.c, template_value.c, template_funcs.c: a
 * parsed template and the values its executor walks (private to them). */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "template.h"

/* OP_VAR: a variable ($ or $x, str) and its field chain; OP_PIPE: a
 * parenthesised pipeline and the field chain after it. */
typedef enum { OP_FIELD, OP_DOT, OP_STRING, OP_NUMBER, OP_BOOL, OP_FUNC, OP_VAR, OP_PIPE } op_kind_t;

typedef struct command command_t;

typedef struct {
  op_kind_t kind;
  char *src;    /* as written, for messages: ".ID.Foo", "\"x\"", "upper" */
  char *str;    /* string value, function name */
  char **segs;  /* field chain: "ID", "Foo" */
  size_t nsegs;
  long num;     /* OP_NUMBER; OP_BOOL: 0 or 1 */
  size_t pos;   /* byte offset in the template text */
  command_t *cmds; /* OP_PIPE */
  size_t ncmds;
} operand_t;

struct command {
  operand_t *ops; /* ops[0]: a function, or a value (a field may take arguments) */
  size_t n;
  char *src;      /* the command as written, for "error calling" messages */
};

/* A flat list: control structures are their keyword nodes; next and end
 * link an if/range/with to its else nodes and its end. */
typedef enum { N_TEXT, N_ACTION, N_IF, N_RANGE, N_WITH, N_ELSE, N_END } node_kind_t;

typedef struct {
  node_kind_t kind;
  char *text;      /* N_TEXT */
  command_t *cmds; /* the pipeline: actions, if/range/with, else if / else with */
  size_t ncmds;
  size_t next;     /* if/range/with/else: the block's next else, or its end */
  size_t end;      /* if/range/with/else: the block's end */
  size_t pos;      /* byte offset of the action */
  char *decl[2];   /* $x := / $x = ...; range's $i, $e */
  size_t ndecl;
  bool assign;     /* = rather than := */
} node_t;

struct cli_template {
  char *src;
  node_t *nodes;
  size_t n;
};

/* "template: :LINE: ..." style messages into err. */
void cli_tpl_set_err(char *err, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The 1-based line of byte offset pos in src. */
int cli_tpl_line_of(const char *src, size_t pos);

/* ---- values (template_value.c) ---- */

/* V_ROW: the list row itself; V_JSON: an array, object or non-integral
 * number of inspect's JSON; V_NOVALUE: a map's missing key (Go's invalid
 * value, "<no value>"). */
typedef enum { V_STR, V_NIL, V_INT, V_BOOL, V_ROW, V_JSON, V_NOVALUE } vkind_t;
typedef struct {
  vkind_t kind;
  char *s;       /* V_STR, owned */
  int64_t i;     /* V_INT; V_BOOL 0 or 1 */
  json_object *j; /* V_JSON, a reference owned */
  bool number;   /* V_STR: a json.Number (a number of the raw pass) */
} value_t;

/* A variable of the executor's stack: $ first, then declarations. */
typedef struct {
  const char *name; /* borrowed from the parsed template */
  value_t v;        /* owned */
} tpl_var_t;

typedef struct {
  const cli_template_t *t;
  const cli_row_t *row; /* the row templates (NULL for JSON ones) */
  bool header;
  value_t dot;          /* borrowed */
  bool raw;             /* inspect's second pass: the docker CLI's map of the raw JSON */
  const cli_tpl_struct_t *structs; /* JSON objects read as Go structs (version, info) */
  size_t nstructs;
  char *err;
  size_t errlen;
  tpl_var_t *vars;      /* Go's variable stack: a block's declarations end with it */
  size_t nvars, capvars;
} exec_t;

value_t tv_str(const char *s); /* .s NULL when out of memory */
value_t tv_int(int64_t i);
value_t tv_bool(bool b);
/* A JSON value (a new reference for arrays and objects); raw: numbers as
 * json.Number, their text. */
value_t tv_from_json(json_object *j, bool raw);
/* A copy (strings duplicated, references taken). */
value_t tv_copy(const value_t *v);
void tv_free(value_t *v);
/* Go's type of v in messages: "string", "int", "[]interface {}"... */
const char *tv_type(const exec_t *x, const value_t *v);
/* Go's truth: false, 0, nil, empty string, array, map are false. */
bool tv_truth(const value_t *v);
/* Prints v as Go's fmt %v prints it; -1 for the row (unprintable). */
int tv_print(FILE *out, const exec_t *x, const value_t *v);
/* Go's JSON of v (SetEscapeHTML(false), the row as MarshalJSON's map).
 * Caller frees; NULL when out of memory. */
char *tv_json(const exec_t *x, const value_t *v);
/* Whether a JSON object is a Go map (string values only, or empty): a
 * missing key there is "<no value>" or "", not an error. */
bool tv_json_is_string_map(json_object *o);

/* Go's fmt.Sprintf for %s %v %d %q %t %x and %% (flags, width, precision),
 * with fmt's %!d(string=x), %!v(MISSING) and %!(EXTRA ...) marks. */
int tpl_sprintf(exec_t *x, FILE *out, const char *fmt, const value_t *args, size_t nargs);

/* ---- functions (template_funcs.c) ---- */

/* Whether name is a function; its argument counts (max -1: variadic). */
bool tpl_func_known(const char *name);
void tpl_func_arity(const char *name, size_t *min, long *max);
/* Calls fn on args (args[i] came from ops[i], NULL: the pipeline's value). */
int tpl_call_func(exec_t *x, const command_t *cmd, value_t *args, const operand_t *const *ops, size_t nargs,
                  value_t *out);

/* ---- variables (template_vars.c) ---- */

/* Parse time: each $x used where a declaration reaches it (Go's scoping:
 * to the {{end}} of the block that declares it), or Go's "undefined
 * variable" message; nodes already linked. */
int tpl_check_vars(const cli_template_t *t, char *err, size_t errlen);
/* Run time: push a copy of v; set the innermost $name to a copy of v (-2
 * when there is none, -1 out of memory); look one up; pop down to a mark
 * (nvars). */
int tpl_var_push(exec_t *x, const char *name, const value_t *v);
int tpl_var_set(exec_t *x, const char *name, const value_t *v);
const value_t *tpl_var_get(const exec_t *x, const char *name);
void tpl_var_pop(exec_t *x, size_t mark);
/* The operand Go's executor visits last in a pipeline: where its errors
 * after the pipeline ran are placed. */
const operand_t *tpl_last_visited(const command_t *cmds, size_t ncmds);
/* Go's "undefined variable: $x" for an assignment to no variable. */
int tpl_undefined_var(exec_t *x, const node_t *n, const char *name);
/* Declares (pushes) or assigns n's variables to v. */
int tpl_bind_decls(exec_t *x, const node_t *n, const value_t *v);

/* ---- errors (template_exec.c) ---- */
int tpl_exec_err(exec_t *x, const operand_t *o, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int tpl_call_err(exec_t *x, const command_t *cmd, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
