/* Command options the way the docker CLI (cobra + pflag) takes them:
 * options and arguments in any order, "--" ends the options, short
 * booleans combine (-qa), values as "-o F", "-oF", "-o=F", "--output F",
 * "--output=F", booleans as "--quiet=false"; usage errors exit 125 with
 * "See 'berth CMD --help'.". */
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "template.h"

static const char *cmd_path(const cli_ctx_t *ctx, const cli_command_t *cmd) {
  return ctx && ctx->cmd_path[0] ? ctx->cmd_path : cmd->name;
}

void cli_print_command_help(const cli_ctx_t *ctx, const cli_command_t *cmd, FILE *out) {
  fprintf(out, "\nUsage:  berth %s %s\n\n%s\n", cmd_path(ctx, cmd), cmd->usage, cmd->summary);
  if (cmd->aliases)
    fprintf(out, "\nAliases:\n  %s\n", cmd->aliases);
  fprintf(out, "\nOptions:\n%s", cmd->options);
}

int cli_usage_error(const cli_ctx_t *ctx, const char *what) {
  const char *path = ctx && ctx->cmd_path[0] ? ctx->cmd_path : NULL;
  fprintf(stderr, "%s\nSee 'berth %s%s--help'.\n", what, path ? path : "", path ? " " : "");
  return CLI_EXIT_USAGE;
}

int cli_set_format(cli_ctx_t *ctx, const char *value) {
  if (strcmp(value, "json") == 0) {
    ctx->json = true;
    return -1;
  }
  if (strcmp(value, "table") == 0 || value[0] == '\0') {
    ctx->json = false;
    return -1;
  }
  char msg[256];
  snprintf(msg, sizeof msg, "unsupported format '%s': berth supports --format json", value);
  return cli_usage_error(ctx, msg);
}

/* "-o, --output" or "--output" as pflag names a flag in its errors. */
static void flag_name(const cli_opt_t *o, char *buf, size_t len) {
  if (o->short_name)
    snprintf(buf, len, "-%c, --%s", o->short_name, o->long_name);
  else
    snprintf(buf, len, "--%s", o->long_name);
}

int cli_bad_value(cli_ctx_t *ctx, const cli_opt_t *o, const char *value, const char *why) {
  char name[64], msg[512];
  flag_name(o, name, sizeof name);
  snprintf(msg, sizeof msg, "invalid argument \"%s\" for \"%s\" flag: %s", value, name, why);
  return cli_usage_error(ctx, msg);
}

/* Stores value into the option's target; -1 to go on, else an exit code. */
static int set_option(cli_ctx_t *ctx, const cli_opt_t *o, const char *value) {
  switch (o->kind) {
  case CLI_OPT_BOOL: {
    bool v;
    if (value == NULL || strcmp(value, "true") == 0 || strcmp(value, "1") == 0 || strcmp(value, "t") == 0 ||
        strcmp(value, "TRUE") == 0 || strcmp(value, "True") == 0 || strcmp(value, "T") == 0)
      v = true;
    else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0 || strcmp(value, "f") == 0 ||
             strcmp(value, "FALSE") == 0 || strcmp(value, "False") == 0 || strcmp(value, "F") == 0)
      v = false;
    else
      return cli_bad_value(ctx, o, value, "invalid syntax (want true or false)");
    *(bool *)o->target = v;
    return -1;
  }
  case CLI_OPT_STRING:
    *(const char **)o->target = value;
    return -1;
  case CLI_OPT_LIST:
    if (o->check && !o->check(value))
      return cli_bad_value(ctx, o, value, o->check_error ? o->check_error : "invalid value");
    if (cli_strv_push(o->target, value) < 0) {
      fprintf(stderr, "out of memory\n");
      return CLI_EXIT_ERROR;
    }
    return -1;
  case CLI_OPT_FORMAT:
    return cli_set_format(ctx, value);
  }
  return -1;
}

static const cli_opt_t *find_long(const cli_opt_t *opts, const char *name, size_t n) {
  for (const cli_opt_t *o = opts; o && o->long_name; o++)
    if (strlen(o->long_name) == n && strncmp(o->long_name, name, n) == 0)
      return o;
  return NULL;
}

static const cli_opt_t *find_short(const cli_opt_t *opts, char c) {
  for (const cli_opt_t *o = opts; o && o->long_name; o++)
    if (o->short_name == c)
      return o;
  return NULL;
}

static int missing_value(cli_ctx_t *ctx, const char *arg) {
  char msg[256];
  snprintf(msg, sizeof msg, "flag needs an argument: %s", arg);
  return cli_usage_error(ctx, msg);
}

static int help(cli_ctx_t *ctx, const cli_command_t *cmd) {
  cli_print_command_help(ctx, cmd, stdout);
  return 0;
}

/* "--name", "--name=value", "--name value". */
static int parse_long(cli_ctx_t *ctx, const cli_command_t *cmd, const cli_opt_t *opts, int argc, char **argv, int *i) {
  const char *a = argv[*i] + 2, *eq = strchr(a, '=');
  size_t n = eq ? (size_t)(eq - a) : strlen(a);
  if (n == 4 && strncmp(a, "help", 4) == 0)
    return help(ctx, cmd);
  const cli_opt_t *o = find_long(opts, a, n);
  if (o == NULL) {
    char msg[256];
    snprintf(msg, sizeof msg, "unknown flag: --%.*s", (int)n, a);
    return cli_usage_error(ctx, msg);
  }
  if (eq)
    return set_option(ctx, o, eq + 1);
  if (o->kind == CLI_OPT_BOOL)
    return set_option(ctx, o, NULL);
  if (*i + 1 >= argc)
    return missing_value(ctx, argv[*i]);
  return set_option(ctx, o, argv[++*i]);
}

/* "-q", "-qa", "-oFILE", "-o=FILE", "-o FILE". */
static int parse_short(cli_ctx_t *ctx, const cli_command_t *cmd, const cli_opt_t *opts, int argc, char **argv, int *i) {
  const char *a = argv[*i];
  for (const char *p = a + 1; *p; p++) {
    const cli_opt_t *o = find_short(opts, *p);
    if (*p == 'h' && o == NULL) /* -h is help unless the command has its own (run: --hostname) */
      return help(ctx, cmd);
    if (o == NULL) {
      char msg[256];
      snprintf(msg, sizeof msg, "unknown shorthand flag: '%c' in %s", *p, a);
      return cli_usage_error(ctx, msg);
    }
    if (o->kind == CLI_OPT_BOOL) {
      if (p[1] == '=')
        return set_option(ctx, o, p + 2);
      int r = set_option(ctx, o, NULL);
      if (r >= 0)
        return r;
      continue;
    }
    if (p[1] != '\0') /* the rest of the word is the value */
      return set_option(ctx, o, p[1] == '=' ? p + 2 : p + 1);
    if (*i + 1 >= argc) {
      char name[8];
      snprintf(name, sizeof name, "-%c", *p);
      return missing_value(ctx, name);
    }
    return set_option(ctx, o, argv[++*i]);
  }
  return -1;
}

static int parse_args(cli_ctx_t *ctx, const cli_command_t *cmd, const cli_opt_t *opts, int argc, char **argv,
                      cli_strv_t *pos, bool interspersed) {
  if (ctx->cmd_path[0] == '\0')
    snprintf(ctx->cmd_path, sizeof ctx->cmd_path, "%s", cmd->name);
  bool options_done = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int r = -1;
    if (options_done || a[0] != '-' || a[1] == '\0') { /* "-" alone is an argument */
      if (cli_strv_push(pos, a) < 0) {
        fprintf(stderr, "out of memory\n");
        return CLI_EXIT_ERROR;
      }
      options_done |= !interspersed;
    } else if (strcmp(a, "--") == 0) {
      options_done = true;
    } else if (a[1] == '-') {
      r = parse_long(ctx, cmd, opts, argc, argv, &i);
    } else {
      r = parse_short(ctx, cmd, opts, argc, argv, &i);
    }
    if (r >= 0)
      return r;
  }
  return -1;
}

int cli_parse_args(cli_ctx_t *ctx, const cli_command_t *cmd, const cli_opt_t *opts, int argc, char **argv,
                   cli_strv_t *pos) {
  return parse_args(ctx, cmd, opts, argc, argv, pos, true);
}

int cli_parse_args_head(cli_ctx_t *ctx, const cli_command_t *cmd, const cli_opt_t *opts, int argc, char **argv,
                        cli_strv_t *pos) {
  return parse_args(ctx, cmd, opts, argc, argv, pos, false);
}

int cli_check_args(cli_ctx_t *ctx, const cli_command_t *cmd, const cli_strv_t *pos, int min, int max) {
  int n = (int)pos->n;
  char what[256];
  const char *path = cmd_path(ctx, cmd);
  if (max == 0 && n > 0)
    snprintf(what, sizeof what, "\"berth %s\" accepts no arguments.", path);
  else if (min == max && n != min)
    snprintf(what, sizeof what, "\"berth %s\" requires exactly %d argument%s.", path, min, min == 1 ? "" : "s");
  else if (n < min)
    snprintf(what, sizeof what, "\"berth %s\" requires at least %d argument%s.", path, min, min == 1 ? "" : "s");
  else if (max >= 0 && n > max)
    snprintf(what, sizeof what, "\"berth %s\" requires at most %d argument%s.", path, max, max == 1 ? "" : "s");
  else
    return -1;
  fprintf(stderr, "%s\nSee 'berth %s --help'.\n\nUsage:  berth %s %s\n\n%s\n", what, path, path, cmd->usage,
          cmd->summary);
  return CLI_EXIT_USAGE;
}

int cli_parse_format_options(cli_ctx_t *ctx, const cli_command_t *cmd, const char *tpl_name, int argc, char **argv,
                             const char **format) {
  *format = NULL;
  const cli_opt_t opts[] = {
    { 'f', "format", CLI_OPT_STRING, format, NULL, NULL },
    { 0, NULL, 0, NULL, NULL, NULL },
  };
  cli_strv_t pos = { 0 };
  int r = cli_parse_args(ctx, cmd, opts, argc, argv, &pos);
  if (r < 0)
    r = cli_check_args(ctx, cmd, &pos, 0, 0);
  cli_strv_free(&pos);
  if (r < 0 && *format && (strcmp(*format, "json") == 0 || strcmp(*format, "table") == 0 || **format == '\0'))
    r = cli_set_format(ctx, *format), *format = NULL;
  else if (r < 0 && *format)
    r = cli_template_check(tpl_name, *format);
  return r;
}
