/* berth ps (container ls): GET /containers/json?all=1&filters=...&limit=N&size=1,
 * as the docker CLI sends it; the rows of ctr_tables.c through docker's
 * formats (the table, -q, --format json|table|TEMPLATE: template.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ctr.h"

#define END_OPT { 0, NULL, 0, NULL, NULL, NULL }

#define PS_TABLE "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"
#define PS_RAW                                                                                                    \
  "container_id: {{.ID}}\nimage: {{.Image}}\ncommand: {{.Command}}\ncreated_at: {{.CreatedAt}}\n"              \
  "state: {{- pad .State 1 0}}\nstatus: {{- pad .Status 1 0}}\nnames: {{.Names}}\n"                           \
  "labels: {{- pad .Labels 1 0}}\nports: {{- pad .Ports 1 0}}\n"

/* docker's NewContainerFormat. */
static const char *ps_format(const char *source, bool quiet, bool size) {
  if (source[0] == '\0' || strcmp(source, "table") == 0)
    return quiet ? "{{.ID}}" : size ? PS_TABLE "\t{{.Size}}" : PS_TABLE;
  if (strcmp(source, "raw") == 0)
    return quiet ? "container_id: {{.ID}}" : size ? PS_RAW "size: {{.Size}}\n" : PS_RAW;
  return quiet ? "{{.ID}}" : source;
}

/* As docker checks --format before it asks the engine: parsed and run on an
 * empty container (so an unknown field fails here); a template that shows
 * .Size asks for sizes. Returns -1 to go on, else the exit code. */
static int check_format(const char *format, bool quiet, bool *size) {
  char msg[1024] = "";
  cli_template_t *t = cli_template_parse(format, msg, sizeof msg);
  if (t == NULL) {
    fprintf(stderr, "failed to parse template: %s\n", msg);
    return CLI_EXIT_ERROR;
  }
  cli_row_t empty;
  cli_ps_row(NULL, false, 0, &empty);
  char *sink = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&sink, &len);
  int r = f ? cli_template_exec(t, &empty, false, f, msg, sizeof msg) : -1;
  if (f)
    fclose(f);
  free(sink);
  cli_row_clear(&empty);
  if (!quiet && cli_template_uses(t, "Size"))
    *size = true;
  cli_template_free(t);
  if (r < 0) {
    fprintf(stderr, "failed to execute template: %s\n", msg[0] ? msg : "out of memory");
    return CLI_EXIT_ERROR;
  }
  return -1;
}

static int run_ps(cli_ctx_t *ctx, int argc, char **argv) {
  bool all = false, latest = false, no_trunc = false, quiet = false, size = false;
  const char *last = NULL, *format = NULL;
  cli_strv_t filters = { 0 }, pos = { 0 };
  const cli_opt_t opts[] = {
    { 'a', "all", CLI_OPT_BOOL, &all, NULL, NULL },
    { 'f', "filter", CLI_OPT_LIST, &filters, cli_filter_valid, "bad format of filter (expected name=value)" },
    { 0, "format", CLI_OPT_STRING, &format, NULL, NULL },
    { 'n', "last", CLI_OPT_STRING, &last, NULL, NULL },
    { 'l', "latest", CLI_OPT_BOOL, &latest, NULL, NULL },
    { 0, "no-trunc", CLI_OPT_BOOL, &no_trunc, NULL, NULL },
    { 'q', "quiet", CLI_OPT_BOOL, &quiet, NULL, NULL },
    { 's', "size", CLI_OPT_BOOL, &size, NULL, NULL },
    END_OPT,
  };
  int r = cli_parse_args(ctx, &cli_cmd_ps, opts, argc, argv, &pos);
  long limit = -1;
  if (r < 0 && last) {
    char *end;
    errno = 0;
    limit = strtol(last, &end, 10);
    if (!*last || *end || errno || limit < -1 || limit > 1000000) {
      char msg[256];
      snprintf(msg, sizeof msg, "invalid argument \"%s\" for \"-n, --last\" flag: strconv.ParseInt: parsing \"%s\": "
               "invalid syntax", last, last);
      r = cli_usage_error(ctx, msg);
    }
  }
  if (latest)
    limit = 1;
  if (r < 0)
    r = cli_check_args(ctx, &cli_cmd_ps, &pos, 0, 0);
  char *fjson = r < 0 && filters.n ? cli_filters_json(&filters, NULL, NULL) : NULL;
  char *esc = fjson ? cli_url_escape(fjson, false) : NULL, *query = NULL;
  cli_strv_free(&filters);
  cli_strv_free(&pos);
  free(fjson);
  if (r < 0 && format && *format) {
    if (quiet)
      fputs("WARNING: Ignoring custom format, because both --format and --quiet are set.\n", stderr);
    r = check_format(format, quiet, &size);
  }
  if (r >= 0) {
    free(esc);
    return r;
  }
  if (format == NULL || *format == '\0')
    format = ctx->json ? "json" : ""; /* the global --format json */
  /* Keys in Go's url.Values order (sorted): all, filters, limit, size. */
  char lim[32] = "";
  if (limit > 0)
    snprintf(lim, sizeof lim, "%slimit=%ld", all || esc ? "&" : "", limit);
  if (asprintf(&query, "/containers/json%s%s%s%s%s%s%s", all || esc || lim[0] || size ? "?" : "",
               all ? "all=1" : "", esc ? (all ? "&filters=" : "filters=") : "", esc ? esc : "", lim,
               size ? (all || esc || lim[0] ? "&size=1" : "size=1") : "", "") < 0)
    query = NULL;
  free(esc);
  if (query == NULL) {
    fprintf(stderr, "out of memory\n");
    return CLI_EXIT_ERROR;
  }
  berth_error_t err = NULL;
  json_object *list = NULL;
  r = cli_api_json(ctx, "GET", query, &list, &err);
  free(query);
  if (r < 0)
    return cli_fail(&err);
  if (!json_object_is_type(list, json_type_array)) {
    json_object_put(list);
    fprintf(stderr, "GET /containers/json: the engine sent no JSON array\n");
    return CLI_EXIT_ERROR;
  }
  cli_row_t *rows = NULL, proto;
  size_t n = 0;
  int64_t now = (int64_t)time(NULL);
  if (cli_ps_rows(list, no_trunc, now, &rows, &n) < 0) {
    json_object_put(list);
    fprintf(stderr, "out of memory\n");
    return CLI_EXIT_ERROR;
  }
  cli_ps_row(NULL, no_trunc, now, &proto);
  r = cli_print_list(ps_format(format, quiet, size), rows, n, &proto);
  cli_row_clear(&proto);
  cli_rows_free(rows, n);
  json_object_put(list);
  return r;
}

const cli_command_t cli_cmd_ps = {
  .name = "ps",
  .summary = "List containers",
  .usage = "[OPTIONS]",
  .options = "  -a, --all             Show all containers (default shows just running)\n"
             "  -f, --filter filter   Filter output based on conditions provided (id=, name=, label=KEY[=VALUE],\n"
             "                        status=created|running|exited, ancestor=IMAGE, exited=CODE,\n"
             "                        before=, since=)\n"
             CLI_FORMAT_HELP
             "  -h, --help            Print usage\n"
             "  -n, --last int        Show n last created containers (includes all states) (default -1)\n"
             "  -l, --latest          Show the latest created container (includes all states)\n"
             "      --no-trunc        Don't truncate output\n"
             "  -q, --quiet           Only display container IDs\n"
             "  -s, --size            Display total file sizes\n",
  .run = run_ps,
  .aliases = "berth container ls, berth container list, berth container ps, berth ps",
};
