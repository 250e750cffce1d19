/* berth inspect: docker's untyped inspect for the objects berth has. For
 * each name: GET /containers/{name}/json, and on a 404 GET /images/{name}/json
 * (--type container|image asks only one). The engine's objects as one JSON
 * array indented as the docker CLI indents them, or with -f TEMPLATE each
 * through the Go template (template.h), a line each; "Error: No such
 * object: X" for a name nothing answers to. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "ctr.h"
#include "template.h"

#define END_OPT { 0, NULL, 0, NULL, NULL, NULL }
/* The docker CLI's status for a template that does not parse. */
#define CLI_EXIT_TEMPLATE 64

typedef struct {
  char *text;
  size_t len;
} acc_t;

static void append(acc_t *a, const char *s, size_t n) {
  if (a->text == NULL)
    return;
  char *p = realloc(a->text, a->len + n + 2);
  if (p == NULL) {
    free(a->text);
    a->text = NULL;
    return;
  }
  a->text = p;
  memcpy(a->text + a->len, s, n);
  a->len += n;
  a->text[a->len] = '\0';
}

/* Where the objects go: the JSON array, or (-f) each through tpl into out. */
typedef struct {
  acc_t *all;
  bool first;
  const cli_template_t *tpl;
  FILE *out;
} sink_t;

/* GET path: 1 found (appended), 0 a 404, -1 another error (err set). */
static int fetch(cli_ctx_t *ctx, char *path, sink_t *sink, berth_error_t *err) {
  if (path == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  cli_response_t resp;
  int r = cli_api(ctx, "GET", path, &resp, err);
  free(path);
  if (r < 0)
    return -1;
  if (resp.status == 404) {
    cli_response_free(&resp);
    return 0;
  }
  if (resp.status < 200 || resp.status > 299) {
    cli_daemon_error(&resp, err);
    cli_response_free(&resp);
    return -1;
  }
  json_object *o = json_tokener_parse(resp.body);
  bool object = json_object_is_type(o, json_type_object);
  if (!object) {
    json_object_put(o);
    cli_response_free(&resp);
    return berth_error_make(err, EBADMSG, "the engine sent no JSON object");
  }
  char msg[1280];
  r = 1;
  if (sink->tpl && cli_inspect_format(sink->tpl, o, sink->out, msg, sizeof msg) < 0)
    r = berth_error_make(err, EINVAL, "%s", msg);
  else if (sink->tpl == NULL) {
    if (!sink->first)
      append(sink->all, ",", 1);
    append(sink->all, resp.body, resp.len);
  }
  sink->first = false;
  json_object_put(o);
  cli_response_free(&resp);
  return r;
}

static int inspect(cli_ctx_t *ctx, const cli_command_t *cmd, int argc, char **argv, const char *type) {
  bool size = false;
  const char *format = NULL;
  cli_strv_t names = { 0 };
  const cli_opt_t opts[] = {
    { 'f', "format", CLI_OPT_STRING, &format, NULL, NULL },
    { 's', "size", CLI_OPT_BOOL, &size, NULL, NULL },
    { 0, type ? NULL : "type", CLI_OPT_STRING, &type, NULL, NULL },
    END_OPT,
  };
  int r = cli_parse_args(ctx, cmd, opts, argc, argv, &names);
  if (r < 0 && type && strcmp(type, "container") != 0 && strcmp(type, "image") != 0) {
    char msg[256];
    snprintf(msg, sizeof msg, "\"%s\" is not a valid value for --type (berth has containers and images)", type);
    r = cli_usage_error(ctx, msg);
  }
  if (r < 0)
    r = cli_check_args(ctx, cmd, &names, 1, -1);
  cli_template_t *tpl = NULL;
  if (r < 0 && format && *format && strcmp(format, "json") != 0) { /* checked before any request, as docker's */
    char msg[1024];
    if ((tpl = cli_template_parse(format, msg, sizeof msg)) == NULL) {
      fprintf(stderr, "template parsing error: %s\n", msg);
      r = CLI_EXIT_TEMPLATE;
    }
  }
  if (r >= 0) {
    cli_strv_free(&names);
    return r;
  }
  bool want_ctr = !type || strcmp(type, "container") == 0, want_img = !type || strcmp(type, "image") == 0;
  acc_t all = { .text = strdup("["), .len = 1 };
  char *text = NULL;
  size_t text_len = 0;
  sink_t sink = { .all = &all, .first = true, .tpl = tpl, .out = tpl ? open_memstream(&text, &text_len) : NULL };
  if (tpl && sink.out == NULL) {
    free(all.text);
    all.text = NULL;
  }
  char **errors = calloc(names.n + 1, sizeof *errors);
  size_t nerr = 0;
  for (size_t i = 0; errors && i < names.n; i++) {
    berth_error_t err = NULL;
    int found = 0;
    if (want_ctr)
      found = fetch(ctx, cli_ctr_path(names.v[i], size ? "/json?size=1" : "/json"), &sink, &err);
    if (found == 0 && want_img)
      found = fetch(ctx, cli_image_path(names.v[i], "/json"), &sink, &err);
    if (found < 0) {
      errors[nerr++] = strdup(err->msg);
      berth_error_release(&err);
    } else if (found == 0 &&
               asprintf(&errors[nerr++], "Error: No such %s: %s", type ? type : "object", names.v[i]) < 0) {
      errors[nerr - 1] = NULL;
    }
  }
  append(&all, "]", 1);
  char *pretty = all.text && !tpl ? cli_json_indent(all.text, "    ") : NULL;
  bool lost = false;
  if (tpl && sink.out && fclose(sink.out) == 0) /* docker's Flush: a lone newline when nothing printed */
    fputs(text_len ? text : "\n", stdout);
  else if (tpl)
    lost = true;
  else if (pretty || all.text)
    printf("%s\n", pretty ? pretty : all.text);
  fflush(stdout);
  for (size_t i = 0; i < nerr; i++) {
    fprintf(stderr, "%s\n", errors[i] ? errors[i] : "out of memory");
    free(errors[i]);
  }
  r = (nerr || errors == NULL || all.text == NULL || lost) ? CLI_EXIT_ERROR : 0;
  free(pretty);
  free(all.text);
  free(text);
  free(errors);
  cli_template_free(tpl);
  cli_strv_free(&names);
  return r;
}

static int run_inspect(cli_ctx_t *ctx, int argc, char **argv) {
  return inspect(ctx, &cli_cmd_inspect, argc, argv, NULL);
}

const cli_command_t cli_cmd_inspect = {
  .name = "inspect",
  .summary = "Return low-level information on containers and images",
  .usage = "[OPTIONS] NAME|ID [NAME|ID...]",
  .options = "  -f, --format string   Format output using a custom template:\n"
             "                        'json':             Print in JSON format (the default: a JSON array, one object per name)\n"
             "                        'TEMPLATE':         Print output using the given Go template (a line per name)\n"
             "  -h, --help            Print usage\n"
             "  -s, --size            Display total file sizes if the type is container\n"
             "      --type string     Return JSON for specified type (container or image)\n",
  .run = run_inspect,
};

/* berth container inspect: containers only. */
static int run_ctr_inspect(cli_ctx_t *ctx, int argc, char **argv) {
  return inspect(ctx, &cli_cmd_ctr_inspect, argc, argv, "container");
}

const cli_command_t cli_cmd_ctr_inspect = {
  .name = "inspect",
  .summary = "Display detailed information on one or more containers",
  .usage = "[OPTIONS] CONTAINER [CONTAINER...]",
  .options = "  -f, --format string   Format output using a custom template:\n"
             "                        'json':             Print in JSON format (the default: a JSON array, one object per container)\n"
             "                        'TEMPLATE':         Print output using the given Go template (a line per container)\n"
             "  -h, --help            Print usage\n"
             "  -s, --size            Display total file sizes\n",
  .run = run_ctr_inspect,
  .aliases = "berth container inspect",
};
