/* Read-only image commands: berth images, berth image inspect, berth history.
 *   images:  GET /images/json?all=1&filters={"dangling":{"true":true}}
 *   inspect: GET /images/{name}/json for each name, one JSON array
 *   history: GET /images/{name}/history */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "template.h"

#define FILTER_OPT(target)                                                                               \
  { 'f', "filter", CLI_OPT_LIST, (target), cli_filter_valid, "bad format of filter (expected name=value)" }
#define END_OPT { 0, NULL, 0, NULL, NULL, NULL }

/* ---------------- images ---------------- */

#define IMAGES_TABLE "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
#define IMAGES_TABLE_DIGEST "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
#define IMAGES_RAW_HEAD "repository: {{ .Repository }}\ntag: {{.Tag}}\n"
#define IMAGES_RAW_TAIL "image_id: {{.ID}}\ncreated_at: {{.CreatedAt}}\nvirtual_size: {{.Size}}\n"

/* docker's NewImageFormat (-q counts only for "table" and "raw"). Caller frees. */
static char *images_format(const char *source, bool quiet, bool digests) {
  if (strcmp(source, "table") == 0)
    return strdup(quiet ? "{{.ID}}" : digests ? IMAGES_TABLE_DIGEST : IMAGES_TABLE);
  if (strcmp(source, "raw") == 0)
    return strdup(quiet     ? "image_id: {{.ID}}"
                  : digests ? IMAGES_RAW_HEAD "digest: {{.Digest}}\n" IMAGES_RAW_TAIL
                            : IMAGES_RAW_HEAD IMAGES_RAW_TAIL);
  char *f = NULL;
  bool add_digest = strncmp(source, "table", 5) == 0 && digests && strstr(source, "{{.Digest}}") == NULL;
  if (asprintf(&f, "%s%s", source, add_digest ? "\t{{.Digest}}" : "") < 0)
    return NULL;
  return f;
}

/* The list through docker's format, with the header's names from an empty row. */
static int print_images(json_object *list, const char *format, bool digests, bool no_trunc) {
  /* docker's needDigest: digests of tagged images when shown anywhere */
  bool need_digest = digests || strstr(format, "{{.Digest}}") != NULL;
  int64_t now = (int64_t)time(NULL);
  cli_row_t *rows = NULL, proto;
  size_t n = 0;
  if (cli_images_rows(list, need_digest, digests, no_trunc, now, &rows, &n) < 0) {
    fprintf(stderr, "out of memory\n");
    return CLI_EXIT_ERROR;
  }
  cli_image_row(NULL, "", "", "", no_trunc, now, &proto);
  int r = cli_print_list(format, rows, n, &proto);
  cli_row_clear(&proto);
  cli_rows_free(rows, n);
  return r;
}

/* "/images/json?all=1&filters=..." */
static char *images_query(bool all, const cli_strv_t *filters, const char *reference) {
  char *fjson = NULL, *esc = NULL, *q = NULL;
  if (filters->n > 0 || reference) {
    fjson = cli_filters_json(filters, reference ? "reference" : NULL, reference);
    esc = fjson ? cli_url_escape(fjson, false) : NULL;
    if (esc == NULL)
      goto out;
  }
  if (asprintf(&q, "/images/json%s%s%s%s", all || esc ? "?" : "", all ? "all=1" : "", all && esc ? "&" : "",
               esc ? "filters=" : "") < 0) {
    q = NULL;
    goto out;
  }
  if (esc) {
    char *full = NULL;
    if (asprintf(&full, "%s%s", q, esc) < 0)
      full = NULL;
    free(q);
    q = full;
  }
out:
  free(fjson);
  free(esc);
  return q;
}

static int run_images(cli_ctx_t *ctx, int argc, char **argv) {
  bool all = false, quiet = false, digests = false, no_trunc = false;
  const char *format = NULL;
  cli_strv_t filters = { 0 }, pos = { 0 };
  const cli_opt_t opts[] = {
    { 'a', "all", CLI_OPT_BOOL, &all, NULL, NULL },
    { 0, "digests", CLI_OPT_BOOL, &digests, NULL, NULL },
    FILTER_OPT(&filters),
    { 0, "format", CLI_OPT_STRING, &format, NULL, NULL },
    { 0, "no-trunc", CLI_OPT_BOOL, &no_trunc, NULL, NULL },
    { 'q', "quiet", CLI_OPT_BOOL, &quiet, NULL, NULL },
    END_OPT,
  };
  int r = cli_parse_args(ctx, &cli_cmd_images, opts, argc, argv, &pos);
  if (r < 0)
    r = cli_check_args(ctx, &cli_cmd_images, &pos, 0, 1);
  char *query = r < 0 ? images_query(all, &filters, pos.n ? pos.v[0] : NULL) : NULL;
  cli_strv_free(&filters);
  cli_strv_free(&pos);
  if (r >= 0)
    return r;
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
    fprintf(stderr, "GET /images/json: the engine sent no JSON array\n");
    return CLI_EXIT_ERROR;
  }
  if (format == NULL || *format == '\0')
    format = ctx->json ? "json" : "table"; /* the global --format json, else docker's default */
  char *fmt = images_format(format, quiet, digests);
  r = fmt ? print_images(list, fmt, digests, no_trunc) : CLI_EXIT_ERROR;
  if (fmt == NULL)
    fprintf(stderr, "out of memory\n");
  free(fmt);
  json_object_put(list);
  return r;
}

const cli_command_t cli_cmd_images = {
  .name = "images",
  .summary = "List images",
  .usage = "[OPTIONS] [REPOSITORY[:TAG]]",
  .options = "  -a, --all             Show all images (default hides intermediate images)\n"
             "      --digests         Show digests\n"
             "  -f, --filter filter   Filter output based on conditions provided (dangling=true|false,\n"
             "                        reference=PATTERN, label=KEY[=VALUE], before=IMAGE, since=IMAGE)\n"
             CLI_FORMAT_HELP
             "  -h, --help            Print usage\n"
             "      --no-trunc        Don't truncate output\n"
             "  -q, --quiet           Only show image IDs\n",
  .run = run_images,
  .aliases = "berth image ls, berth image list, berth images",
};

/* ---------------- image inspect ---------------- */

static int run_inspect(cli_ctx_t *ctx, int argc, char **argv) {
  cli_strv_t names = { 0 };
  const char *format = NULL;
  const cli_opt_t opts[] = {
    { 'f', "format", CLI_OPT_STRING, &format, NULL, NULL },
    END_OPT,
  };
  int r = cli_parse_args(ctx, &cli_cmd_image_inspect, opts, argc, argv, &names);
  if (r < 0)
    r = cli_check_args(ctx, &cli_cmd_image_inspect, &names, 1, -1);
  cli_template_t *tpl = NULL; /* -f TEMPLATE: checked before any request, as docker's */
  char msg[1280];
  if (r < 0 && format && *format && strcmp(format, "json") != 0 &&
      (tpl = cli_template_parse(format, msg, sizeof msg)) == NULL) {
    fprintf(stderr, "template parsing error: %s\n", msg);
    r = 64; /* the docker CLI's status for it */
  }
  if (r >= 0) {
    cli_strv_free(&names);
    return r;
  }
  char *text = NULL;
  size_t text_len = 0;
  FILE *tout = tpl ? open_memstream(&text, &text_len) : NULL;
  /* The engine's objects as sent, joined into one array and indented as
   * the docker CLI indents them (4 spaces); errors after it, on stderr. */
  size_t cap = 3, len = 1;
  char *all = malloc(cap), **errors = calloc(names.n, sizeof *errors);
  size_t nerr = 0;
  if (all == NULL || errors == NULL || (tpl && tout == NULL)) {
    if (tout)
      fclose(tout);
    free(text);
    cli_template_free(tpl);
    free(all);
    free(errors);
    cli_strv_free(&names);
    fprintf(stderr, "out of memory\n");
    return CLI_EXIT_ERROR;
  }
  all[0] = '[';
  for (size_t i = 0; i < names.n; i++) {
    berth_error_t err = NULL;
    cli_response_t resp = { 0 };
    char *path = cli_image_path(names.v[i], "/json");
    int rr = path ? cli_api(ctx, "GET", path, &resp, &err) : berth_error_make(&err, ENOMEM, "out of memory");
    free(path);
    json_object *o = NULL;
    if (rr < 0) {
      errors[nerr++] = strdup(err->msg);
    } else if (resp.status < 200 || resp.status > 299) {
      cli_daemon_error(&resp, &err);
      errors[nerr++] = strdup(err->msg);
    } else if ((o = json_tokener_parse(resp.body)) == NULL || !json_object_is_type(o, json_type_object)) {
      if (asprintf(&errors[nerr++], "GET /images/%s/json: the engine sent no JSON object", names.v[i]) < 0)
        errors[nerr - 1] = NULL;
    } else if (tpl) {
      if (cli_inspect_format(tpl, o, tout, msg, sizeof msg) < 0)
        errors[nerr++] = strdup(msg);
    } else {
      char *grown = realloc(all, cap + resp.len + 1);
      if (grown) {
        all = grown;
        cap += resp.len + 1;
        if (len > 1)
          all[len++] = ',';
        memcpy(all + len, resp.body, resp.len);
        len += resp.len;
      }
    }
    json_object_put(o);
    berth_error_release(&err);
    cli_response_free(&resp);
  }
  all[len++] = ']';
  all[len] = '\0';
  char *pretty = tpl ? NULL : cli_json_indent(all, "    ");
  bool lost = false;
  if (tpl && fclose(tout) == 0) /* docker's Flush: a lone newline when nothing printed */
    fputs(text_len ? text : "\n", stdout);
  else if (tpl)
    lost = true;
  else
    printf("%s\n", pretty ? pretty : all);
  fflush(stdout);
  for (size_t i = 0; i < nerr; i++) {
    fprintf(stderr, "%s\n", errors[i] ? errors[i] : "out of memory");
    free(errors[i]);
  }
  free(pretty);
  free(all);
  free(text);
  free(errors);
  cli_template_free(tpl);
  cli_strv_free(&names);
  return nerr || lost ? CLI_EXIT_ERROR : 0;
}

const cli_command_t cli_cmd_image_inspect = {
  .name = "inspect",
  .summary = "Display detailed information on one or more images",
  .usage = "[OPTIONS] IMAGE [IMAGE...]",
  .options = "  -f, --format string   Format output using a custom template:\n"
             "                        'json':             Print in JSON format (the default: a JSON array, one object per image)\n"
             "                        'TEMPLATE':         Print output using the given Go template (a line per image)\n"
             "  -h, --help            Print usage\n",
  .run = run_inspect,
  .aliases = "berth image inspect",
};

/* ---------------- history ---------------- */

static int run_history(cli_ctx_t *ctx, int argc, char **argv) {
  bool human = true, no_trunc = false, quiet = false;
  const char *format = NULL;
  cli_strv_t pos = { 0 };
  const cli_opt_t opts[] = {
    { 0, "format", CLI_OPT_STRING, &format, NULL, NULL },
    { 'H', "human", CLI_OPT_BOOL, &human, NULL, NULL },
    { 0, "no-trunc", CLI_OPT_BOOL, &no_trunc, NULL, NULL },
    { 'q', "quiet", CLI_OPT_BOOL, &quiet, NULL, NULL },
    END_OPT,
  };
  int r = cli_parse_args(ctx, &cli_cmd_history, opts, argc, argv, &pos);
  if (r < 0)
    r = cli_check_args(ctx, &cli_cmd_history, &pos, 1, 1);
  char *path = r < 0 ? cli_image_path(pos.v[0], "/history") : NULL;
  cli_strv_free(&pos);
  if (r >= 0)
    return r;
  berth_error_t err = NULL;
  json_object *list = NULL;
  if (path == NULL)
    r = berth_error_make(&err, ENOMEM, "out of memory");
  else
    r = cli_api_json(ctx, "GET", path, &list, &err);
  free(path);
  if (r < 0)
    return cli_fail(&err);
  if (!json_object_is_type(list, json_type_array)) {
    json_object_put(list);
    fprintf(stderr, "GET history: the engine sent no JSON array\n");
    return CLI_EXIT_ERROR;
  }
  if (format == NULL || *format == '\0')
    format = ctx->json ? "json" : "table";
  /* docker's NewHistoryFormat: -q and -H count only for "table" */
  if (strcmp(format, "table") == 0)
    format = quiet ? "{{.ID}}"
             : human ? "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
                     : "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";
  int64_t now = (int64_t)time(NULL);
  cli_row_t *rows = NULL, proto;
  size_t n = 0;
  if (cli_history_rows(list, human, no_trunc, now, &rows, &n) < 0) {
    json_object_put(list);
    fprintf(stderr, "out of memory\n");
    return CLI_EXIT_ERROR;
  }
  cli_history_row(NULL, human, no_trunc, now, &proto);
  r = cli_print_list(format, rows, n, &proto);
  cli_row_clear(&proto);
  cli_rows_free(rows, n);
  json_object_put(list);
  return r;
}

const cli_command_t cli_cmd_history = {
  .name = "history",
  .summary = "Show the history of an image",
  .usage = "[OPTIONS] IMAGE",
  .options = CLI_FORMAT_HELP
             "  -h, --help            Print usage\n"
             "  -H, --human           Print sizes and dates in human readable format (default true)\n"
             "      --no-trunc        Don't truncate output\n"
             "  -q, --quiet           Only show image IDs\n",
  .run = run_history,
  .aliases = "berth image history, berth history",
};
