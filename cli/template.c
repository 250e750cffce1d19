/* The part of Go's text/template that docker's --format and inspect -f use:
 * text, actions of one pipeline ({{.Names | upper}}), fields and their
 * chains, the .Label "key" method, string, number and boolean literals,
 * trim markers and comments, {{if}} {{else if}} {{else}} {{range}} {{with}}
 * {{end}}, docker's functions and most of Go's (template_funcs.c),
 * parenthesised pipelines ((index .A 0).B) and variables ($, $x := ...,
 * $x = ..., range $i, $e := ...: template_vars.c). define/template/block
 * and break/continue are refused with a parse error. Messages have Go's shape, since scripts may
 * match them. */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "template_nodes.h"

/* Go's, valid there, not done here. */
static const char *const other_funcs[] = { "slice", "html", "js", "urlquery", "call", NULL };
static const char *const keywords[] = { "if", "else", "end", "range", "with", "define", "template", "block",
                                        "break", "continue", "nil", NULL };
/* Nesting of if/range/with at most (Go's is far deeper; berth's recursion is not). */
#define MAX_DEPTH 100

static bool in_list(const char *const *list, const char *s) {
  for (; *list; list++)
    if (strcmp(*list, s) == 0)
      return true;
  return false;
}

void cli_tpl_set_err(char *err, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, len, fmt, ap);
  va_end(ap);
}

int cli_tpl_line_of(const char *src, size_t pos) {
  int line = 1;
  for (size_t i = 0; i < pos && src[i]; i++)
    line += src[i] == '\n';
  return line;
}

static void free_cmds(command_t *cmds, size_t n) {
  for (size_t c = 0; c < n; c++) {
    for (size_t i = 0; i < cmds[c].n; i++) {
      operand_t *o = &cmds[c].ops[i];
      free_cmds(o->cmds, o->ncmds);
      free(o->src);
      free(o->str);
      for (size_t s = 0; s < o->nsegs; s++)
        free(o->segs[s]);
      free(o->segs);
    }
    free(cmds[c].ops);
    free(cmds[c].src);
  }
  free(cmds);
}

void cli_template_free(cli_template_t *t) {
  if (t == NULL)
    return;
  for (size_t i = 0; t->nodes && i < t->n; i++) {
    free(t->nodes[i].text);
    free(t->nodes[i].decl[0]);
    free(t->nodes[i].decl[1]);
    free_cmds(t->nodes[i].cmds, t->nodes[i].ncmds);
  }
  free(t->nodes);
  free(t->src);
  free(t);
}

static bool ident_char(char c) {
  return isalnum((unsigned char)c) || c == '_' || ((unsigned char)c & 0x80);
}

static bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A quoted ("..." with Go's escapes) or raw (`...`) string at p; its value
 * in *out, its end in *end. false when unterminated. */
static bool lex_string(const char *p, const char *stop, char **out, const char **end) {
  char q = *p++;
  size_t cap = (size_t)(stop - p) + 1, n = 0;
  char *v = malloc(cap);
  if (v == NULL)
    return false;
  for (; p < stop && *p != q; p++) {
    if (q == '"' && *p == '\n')
      break;
    if (q == '"' && *p == '\\' && p + 1 < stop) {
      p++;
      switch (*p) {
      case 'n': v[n++] = '\n'; break;
      case 't': v[n++] = '\t'; break;
      case 'r': v[n++] = '\r'; break;
      default: v[n++] = *p; break; /* \" \\ and the rest as themselves */
      }
      continue;
    }
    v[n++] = *p;
  }
  v[n] = '\0';
  if (p >= stop || *p != q) {
    free(v);
    return false;
  }
  *out = v;
  *end = p + 1;
  return true;
}

/* The ")" that closes the "(" at p (strings skipped), or NULL. */
static const char *close_paren(const char *p, const char *b) {
  int depth = 0;
  for (; p < b; p++) {
    if (*p == '"' || *p == '`') {
      char q = *p;
      for (p++; p < b && *p != q; p++)
        if (q == '"' && *p == '\\' && p + 1 < b)
          p++;
    } else if (*p == '(') {
      depth++;
    } else if (*p == ')' && --depth == 0) {
      return p;
    }
  }
  return NULL;
}

/* A field chain (.A.B) at *pp into o's segs; Go places the chain at its
 * first field after a variable or parentheses, at its second after a field. */
static int lex_chain(const char *src, const char **pp, const char *b, operand_t *o, size_t at_seg) {
  const char *p = *pp;
  while (p < b && *p == '.' && p + 1 < b && ident_char(p[1])) {
    const char *s = ++p;
    while (p < b && ident_char(*p))
      p++;
    char **segs = realloc(o->segs, (o->nsegs + 1) * sizeof *segs);
    if (segs == NULL)
      return -1;
    o->segs = segs;
    if ((o->segs[o->nsegs++] = strndup(s, (size_t)(p - s))) == NULL)
      return -1;
    if (o->nsegs == at_seg)
      o->pos = (size_t)(s - 1 - src);
  }
  *pp = p;
  return 0;
}

/* Nesting of parentheses at most (the parser recurses). */
#define MAX_PARENS 100

/* Parses the pipeline between a and b (the inside of {{ }} or of parentheses). */
static int parse_pipeline(const char *src, const char *a, const char *b, command_t **cmds, size_t *ncmds,
                          const char *context, int parens, char *err, size_t errlen) {
  int line = cli_tpl_line_of(src, (size_t)(a - src));
  command_t *cmd = NULL;
  const char *cmd_start = a, *last_end = a;
  for (const char *p = a;;) {
    while (p < b && is_space(*p))
      p++;
    if (p >= b || *p == '|') {
      if (cmd == NULL || cmd->n == 0) {
        cli_tpl_set_err(err, errlen, "template: :%d: missing value for %s", line,
                        p >= b && *ncmds == 0 ? context : "command");
        return -1;
      }
      if ((cmd->src = strndup(cmd_start, (size_t)(last_end - cmd_start))) == NULL)
        goto oom;
      if (p >= b)
        return 0;
      p++;
      cmd = NULL;
      continue;
    }
    if (cmd == NULL) {
      command_t *grown = realloc(*cmds, (*ncmds + 1) * sizeof *grown);
      if (grown == NULL)
        goto oom;
      *cmds = grown;
      cmd = &(*cmds)[(*ncmds)++];
      memset(cmd, 0, sizeof *cmd);
      cmd_start = p;
    }
    operand_t *ops = realloc(cmd->ops, (cmd->n + 1) * sizeof *ops);
    if (ops == NULL)
      goto oom;
    cmd->ops = ops;
    operand_t *o = &cmd->ops[cmd->n++];
    memset(o, 0, sizeof *o);
    o->pos = (size_t)(p - src);
    const char *start = p;
    if (*p == '.' && (p + 1 >= b || !ident_char(p[1]))) {
      o->kind = OP_DOT;
      p++;
    } else if (*p == '.') {
      o->kind = OP_FIELD;
      if (lex_chain(src, &p, b, o, 2) < 0)
        goto oom;
    } else if (*p == '$') {
      o->kind = OP_VAR;
      for (p++; p < b && ident_char(*p); p++)
        ;
      if ((o->str = strndup(start, (size_t)(p - start))) == NULL || lex_chain(src, &p, b, o, 1) < 0)
        goto oom;
      const char *q = p;
      while (q < b && is_space(*q))
        q++;
      if (parens > 0 && q < b && (*q == '=' || (*q == ':' && q + 1 < b && q[1] == '='))) {
        cli_tpl_set_err(err, errlen, "template: :%d: a declaration in parentheses is not supported by berth's "
                        "templates", line);
        return -1;
      }
    } else if (*p == '(') {
      o->kind = OP_PIPE;
      const char *close = close_paren(p, b);
      if (close == NULL) {
        cli_tpl_set_err(err, errlen, "template: :%d: unclosed left paren", line);
        return -1;
      }
      if (parens >= MAX_PARENS) {
        cli_tpl_set_err(err, errlen, "template: :%d: berth's templates nest parentheses at most %d deep", line,
                        MAX_PARENS);
        return -1;
      }
      if (parse_pipeline(src, p + 1, close, &o->cmds, &o->ncmds, "parenthesized pipeline", parens + 1, err,
                         errlen) < 0)
        return -1;
      p = close + 1;
      if (lex_chain(src, &p, b, o, 1) < 0)
        goto oom;
    } else if (*p == ')') {
      cli_tpl_set_err(err, errlen, "template: :%d: unexpected right paren", line);
      return -1;
    } else if (*p == '"' || *p == '`') {
      o->kind = OP_STRING;
      if (!lex_string(p, b, &o->str, &p)) {
        cli_tpl_set_err(err, errlen, "template: :%d: %s", line, *start == '"' ? "unterminated quoted string"
                                                                        : "unterminated raw quoted string");
        return -1;
      }
    } else if (isdigit((unsigned char)*p) || ((*p == '-' || *p == '+') && p + 1 < b && isdigit((unsigned char)p[1]))) {
      o->kind = OP_NUMBER;
      char *end;
      o->num = strtol(p, &end, 10);
      p = end;
      if (p < b && !is_space(*p) && *p != '|') {
        cli_tpl_set_err(err, errlen, "template: :%d: bad number syntax: \"%.*s\"", line, (int)(b - start), start);
        return -1;
      }
    } else if (isalpha((unsigned char)*p) || *p == '_') {
      o->kind = OP_FUNC;
      while (p < b && ident_char(*p))
        p++;
      if ((o->str = strndup(start, (size_t)(p - start))) == NULL)
        goto oom;
      if (strcmp(o->str, "true") == 0 || strcmp(o->str, "false") == 0) {
        o->kind = OP_BOOL;
        o->num = o->str[0] == 't';
      } else if (in_list(keywords, o->str) || in_list(other_funcs, o->str)) {
        cli_tpl_set_err(err, errlen, "template: :%d: \"%s\" is not supported by berth's templates", line, o->str);
        return -1;
      } else if (!tpl_func_known(o->str)) {
        cli_tpl_set_err(err, errlen, "template: :%d: function \"%s\" not defined", line, o->str);
        return -1;
      }
      if (o->kind == OP_FUNC && cmd->n > 1) { /* a function as an argument: Go calls it with none */
        cli_tpl_set_err(err, errlen, "template: :%d: berth's templates take no function as an argument: \"%s\""
                        " (parenthesise it with its arguments)", line, o->str);
        return -1;
      }
    } else {
      cli_tpl_set_err(err, errlen, "template: :%d: unexpected \"%c\" in command", line, *p);
      return -1;
    }
    if ((o->src = strndup(start, (size_t)(p - start))) == NULL)
      goto oom;
    last_end = p;
    if (p < b && *p == ')') {
      cli_tpl_set_err(err, errlen, "template: :%d: unexpected right paren", line);
      return -1;
    }
    if (p < b && !is_space(*p) && *p != '|') {
      cli_tpl_set_err(err, errlen, "template: :%d: unexpected \"%c\" in operand", line, *p);
      return -1;
    }
  }
oom:
  cli_tpl_set_err(err, errlen, "out of memory");
  return -1;
}

/* Go's declarations before a pipeline: "$x :=", "$x =", range's "$i, $e
 * :=". *rest moves past them; none leaves it. */
static int parse_decls(const char *src, const char **rest, const char *b, node_t *n, const char *context,
                       char *err, size_t errlen) {
  int line = cli_tpl_line_of(src, (size_t)(*rest - src));
  const char *p = *rest;
  for (;;) {
    if (p >= b || *p != '$')
      return 0;
    const char *name = p;
    for (p++; p < b && ident_char(*p); p++)
      ;
    const char *name_end = p;
    while (p < b && is_space(*p))
      p++;
    bool declare = b - p >= 2 && p[0] == ':' && p[1] == '=', assign = p < b && p[0] == '=';
    bool comma = p < b && *p == ',';
    if (!declare && !assign && !comma)
      return 0; /* a variable as the pipeline's first operand */
    if (n->ndecl >= 2 || (comma && (n->kind != N_RANGE || n->ndecl > 0))) {
      cli_tpl_set_err(err, errlen, "template: :%d: too many declarations in %s", line, context);
      return -1;
    }
    if ((n->decl[n->ndecl++] = strndup(name, (size_t)(name_end - name))) == NULL) {
      cli_tpl_set_err(err, errlen, "out of memory");
      return -1;
    }
    n->assign = assign;
    p += declare ? 2 : 1;
    while (p < b && is_space(*p))
      p++;
    *rest = p;
    if (!comma)
      return 0;
    if (p >= b || *p != '$') {
      cli_tpl_set_err(err, errlen, "template: :%d: range can only initialize variables", line);
      return -1;
    }
  }
}

static int add_node(cli_template_t *t, node_t *n) {
  node_t *grown = realloc(t->nodes, (t->n + 1) * sizeof *grown);
  if (grown == NULL)
    return -1;
  t->nodes = grown;
  t->nodes[t->n++] = *n;
  return 0;
}

/* The end of the action that starts at p ("}}" outside strings), or NULL
 * with Go's reason in *why. */
static const char *action_end(const char *p, const char **why) {
  *why = "unclosed action";
  for (; *p; p++) {
    if (*p == '"' || *p == '`') {
      char q = *p;
      for (p++; *p && *p != q && !(q == '"' && *p == '\n'); p++)
        if (q == '"' && *p == '\\' && p[1])
          p++;
      if (*p != q) {
        *why = q == '"' ? "unterminated quoted string" : "unterminated raw quoted string";
        return NULL;
      }
    } else if (p[0] == '}' && p[1] == '}') {
      return p;
    }
  }
  return NULL;
}

/* The keyword at a (if, range, with, else, end) when one starts the action. */
static node_kind_t keyword_of(const char *a, const char *b, const char **rest) {
  static const struct { const char *word; node_kind_t kind; } words[] = {
    { "if", N_IF }, { "range", N_RANGE }, { "with", N_WITH }, { "else", N_ELSE }, { "end", N_END },
  };
  for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
    size_t len = strlen(words[i].word);
    if ((size_t)(b - a) >= len && strncmp(a, words[i].word, len) == 0 && (a + len == b || is_space(a[len]))) {
      for (*rest = a + len; *rest < b && is_space(**rest); (*rest)++)
        ;
      return words[i].kind;
    }
  }
  *rest = a;
  return N_ACTION;
}

/* The action between a and b: a pipeline, or a control keyword and its pipeline. */
static int parse_action(cli_template_t *t, const char *a, const char *b, char *err, size_t errlen) {
  const char *src = t->src, *rest;
  int line = cli_tpl_line_of(src, (size_t)(a - src));
  node_t n = { .kind = keyword_of(a, b, &rest), .pos = (size_t)(a - src) };
  if (n.kind == N_ELSE && rest < b) { /* else if / else with */
    const char *word = rest;
    node_kind_t k = keyword_of(word, b, &rest);
    if (k != N_IF && k != N_WITH) {
      cli_tpl_set_err(err, errlen, "template: :%d: unexpected \"%.*s\" in else", line, (int)(b - word), word);
      return -1;
    }
    if ((n.text = strdup(k == N_IF ? "if" : "with")) == NULL)
      goto oom;
  }
  if (n.kind == N_END && rest < b) {
    cli_tpl_set_err(err, errlen, "template: :%d: unexpected \"%.*s\" in end", line, (int)(b - rest), rest);
    return -1;
  }
  const char *context = n.text            ? n.text
                        : n.kind == N_IF    ? "if"
                        : n.kind == N_RANGE ? "range"
                        : n.kind == N_WITH  ? "with"
                                            : "command";
  if ((n.kind == N_IF || n.kind == N_RANGE || n.kind == N_WITH || n.text) && rest >= b) {
    cli_tpl_set_err(err, errlen, "template: :%d: missing value for %s", line, context);
    free(n.text);
    return -1;
  }
  if ((n.kind == N_ACTION || rest < b) &&
      (parse_decls(src, &rest, b, &n, context, err, errlen) < 0 ||
       parse_pipeline(src, rest, b, &n.cmds, &n.ncmds, context, 0, err, errlen) < 0))
    goto fail;
  if (add_node(t, &n) == 0)
    return 0;
  cli_tpl_set_err(err, errlen, "out of memory");
fail:
  free_cmds(n.cmds, n.ncmds);
  free(n.text);
  free(n.decl[0]);
  free(n.decl[1]);
  return -1;
oom:
  cli_tpl_set_err(err, errlen, "out of memory");
  return -1;
}

/* Links each if/range/with to its else nodes and end (next, end), with
 * Go's messages for a stray {{else}} or {{end}} and a missing {{end}}. */
static int link_blocks(cli_template_t *t, char *err, size_t errlen) {
  size_t *open = malloc((t->n + 1) * sizeof *open), *last = malloc((t->n + 1) * sizeof *last), depth = 0;
  int r = 0;
  if (open == NULL || last == NULL) {
    cli_tpl_set_err(err, errlen, "out of memory");
    r = -1;
  }
  for (size_t i = 0; r == 0 && i < t->n; i++) {
    node_t *n = &t->nodes[i];
    int line = cli_tpl_line_of(t->src, n->pos);
    if (n->kind == N_IF || n->kind == N_RANGE || n->kind == N_WITH) {
      if (depth >= MAX_DEPTH) {
        cli_tpl_set_err(err, errlen, "template: :%d: berth's templates nest at most %d deep", line, MAX_DEPTH);
        r = -1;
      }
      open[depth] = last[depth] = i;
      depth++;
    } else if (n->kind == N_ELSE || n->kind == N_END) {
      const char *what = n->kind == N_ELSE ? "else" : "end";
      if (depth == 0) {
        cli_tpl_set_err(err, errlen, "template: :%d: unexpected {{%s}}", line, what);
        r = -1;
        break;
      }
      node_t *prev = &t->nodes[last[depth - 1]], *opener = &t->nodes[open[depth - 1]];
      if (n->kind == N_ELSE && prev->kind == N_ELSE && prev->ncmds == 0) {
        cli_tpl_set_err(err, errlen, "template: :%d: expected end; found {{else}}", line);
        r = -1;
      } else if (n->kind == N_ELSE && n->text && (opener->kind == N_RANGE || (n->text[0] == 'i') != (opener->kind == N_IF))) {
        cli_tpl_set_err(err, errlen, "template: :%d: {{else %s}} in {{%s}}", line, n->text,
                        opener->kind == N_IF ? "if" : opener->kind == N_RANGE ? "range" : "with");
        r = -1;
      }
      prev->next = i;
      last[depth - 1] = i;
      if (n->kind == N_END) {
        for (size_t k = open[--depth]; k != i; k = t->nodes[k].next)
          t->nodes[k].end = i;
        n->next = n->end = i;
      }
    }
  }
  if (r == 0 && depth > 0) {
    cli_tpl_set_err(err, errlen, "template: :%d: unexpected EOF", cli_tpl_line_of(t->src, strlen(t->src)));
    r = -1;
  }
  free(open);
  free(last);
  return r;
}

cli_template_t *cli_template_parse(const char *text, char *err, size_t errlen) {
  cli_template_t *t = calloc(1, sizeof *t);
  if (t == NULL || (t->src = strdup(text)) == NULL) {
    free(t);
    cli_tpl_set_err(err, errlen, "out of memory");
    return NULL;
  }
  const char *src = t->src, *p = src;
  bool trim_next = false;
  while (*p) {
    const char *open = strstr(p, "{{");
    const char *text_end = open ? open : p + strlen(p);
    bool trim_left = open && open[2] == '-' && is_space(open[3]);
    if (trim_next)
      while (p < text_end && is_space(*p))
        p++;
    const char *te = text_end;
    if (trim_left)
      while (te > p && is_space(te[-1]))
        te--;
    if (te > p) {
      node_t n = { .kind = N_TEXT, .text = strndup(p, (size_t)(te - p)) };
      if (n.text == NULL || add_node(t, &n) < 0) {
        free(n.text);
        goto oom;
      }
    }
    if (open == NULL)
      break;
    const char *why, *a = open + (trim_left ? 4 : 2), *close = action_end(a, &why);
    if (close == NULL) {
      cli_tpl_set_err(err, errlen, "template: :%d: %s", cli_tpl_line_of(src, (size_t)(open - src)), why);
      goto fail;
    }
    const char *b = close;
    trim_next = b - a >= 2 && b[-1] == '-' && is_space(b[-2]);
    if (trim_next)
      b -= 2;
    while (a < b && is_space(*a))
      a++;
    if (b - a >= 2 && a[0] == '/' && a[1] == '*') { /* a comment: nothing to render */
      while (b > a && is_space(b[-1]))
        b--;
      if (b - a < 4 || b[-2] != '*' || b[-1] != '/') {
        cli_tpl_set_err(err, errlen, "template: :%d: comment ends before closing delimiter", cli_tpl_line_of(src, (size_t)(a - src)));
        goto fail;
      }
    } else {
      if (parse_action(t, a, b, err, errlen) < 0)
        goto fail;
    }
    p = close + 2;
  }
  if (link_blocks(t, err, errlen) < 0 || tpl_check_vars(t, err, errlen) < 0)
    goto fail;
  return t;
oom:
  cli_tpl_set_err(err, errlen, "out of memory");
fail:
  cli_template_free(t);
  return NULL;
}

static bool cmds_use(const command_t *cmds, size_t ncmds, const char *field) {
  for (size_t c = 0; c < ncmds; c++)
    for (size_t k = 0; k < cmds[c].n; k++) {
      const operand_t *o = &cmds[c].ops[k];
      /* a variable's chain may start at the row ($.Size, $r.Size after {{$r := .}}) */
      if ((o->kind == OP_FIELD || (o->kind == OP_VAR && o->nsegs > 0)) && strcmp(o->segs[0], field) == 0)
        return true;
      if (o->kind == OP_PIPE && cmds_use(o->cmds, o->ncmds, field))
        return true;
      /* {{json .}} (or of a variable) calls every method */
      if ((o->kind == OP_DOT || (o->kind == OP_VAR && o->nsegs == 0)) && k >= 1 &&
          strcmp(cmds[c].ops[0].str ?: "", "json") == 0)
        return true;
    }
  return false;
}

bool cli_template_uses(const cli_template_t *t, const char *field) {
  for (size_t i = 0; t && i < t->n; i++)
    if (cmds_use(t->nodes[i].cmds, t->nodes[i].ncmds, field))
      return true;
  return false;
}
