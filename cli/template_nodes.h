/* template.c and template_exec.c: a parsed template (private to them). */
#pragma once
#include <stddef.h>
#include "template.h"

typedef enum { OP_FIELD, OP_DOT, OP_STRING, OP_NUMBER, OP_FUNC } op_kind_t;

typedef struct {
  op_kind_t kind;
  char *src;    /* as written, for messages: ".ID.Foo", "\"x\"", "upper" */
  char *str;    /* string value, function name */
  char **segs;  /* field chain: "ID", "Foo" */
  size_t nsegs;
  long num;
  size_t pos;   /* byte offset in the template text */
} operand_t;

typedef struct {
  operand_t *ops; /* ops[0]: a function, or a value (a field may take arguments) */
  size_t n;
  char *src;      /* the command as written, for "error calling" messages */
} command_t;

typedef struct {
  bool action;
  char *text; /* text node */
  command_t *cmds; /* action: a pipeline */
  size_t ncmds;
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
