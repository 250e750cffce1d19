/* berth ps (container ls): GET /containers/json?all=1&filters=...&limit=N&size=1,
 * as the docker CLI sends it; the table of ctr_tables.c, ids with -q, the
 * engine's list as one JSON array with --format json. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ctr.h"

#define END_OPT { 0, NULL, 0, NULL, NULL, NULL }

static int run_ps(cli_ctx_t *ctx, int argc, char **argv) {
  bool all = false, latest = false, no_trunc = false, quiet = false, size = false;
  const char *last = NULL;
  cli_strv_t filters = { 0 }, pos = { 0 };
  const cli_opt_t opts[] = {
    { 'a', "all", CLI_OPT_BOOL, &all, NULL, NULL },
    { 'f', "filter", CLI_OPT_LIST, &filters, cli_filter_valid, "bad format of filter (expected name=value)" },
    { 0, "format", CLI_OPT_FORMAT, NULL, NULL, NULL },
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
  if (r >= 0) {
    free(esc);
    return r;
  }
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
  if (quiet) {
    for (size_t i = 0; i < json_object_array_length(list); i++) {
      char id[80];
      const char *full = cli_json_str(json_object_array_get_idx(list, i), "Id") ?: "";
      if (no_trunc)
        snprintf(id, sizeof id, "%s", full);
      else
        cli_truncate_id(full, id, sizeof id);
      puts(id);
    }
  } else if (ctx->json) {
    cli_print_json(list);
  } else {
    cli_table_print(cli_ps_table(list, no_trunc, size, (int64_t)time(NULL)), "");
  }
  fflush(stdout);
  json_object_put(list);
  return 0;
}

const cli_command_t cli_cmd_ps = {
  .name = "ps",
  .summary = "List containers",
  .usage = "[OPTIONS]",
  .options = "  -a, --all             Show all containers (default shows just running)\n"
             "  -f, --filter filter   Filter output based on conditions provided (id=, name=, label=KEY[=VALUE],\n"
             "                        status=created|running|exited, ancestor=IMAGE, exited=CODE,\n"
             "                        before=, since=)\n"
             "      --format string   \"json\": the engine's container list as one JSON array\n"
             "  -h, --help            Print usage\n"
             "  -n, --last int        Show n last created containers (includes all states) (default -1)\n"
             "  -l, --latest          Show the latest created container (includes all states)\n"
             "      --no-trunc        Don't truncate output\n"
             "  -q, --quiet           Only display container IDs\n"
             "  -s, --size            Display total file sizes\n",
  .run = run_ps,
  .aliases = "berth container ls, berth container list, berth container ps, berth ps",
};
