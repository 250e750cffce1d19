/* Image commands that change the store: berth tag, berth rmi, berth image prune.
 *   tag:   POST /images/{source}/tag?repo=R&tag=T
 *   rmi:   DELETE /images/{name}?force=1&noprune=1
 *   prune: POST /images/prune?filters={"dangling":{"true":true}} */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "cli.h"

#define END_OPT { 0, NULL, 0, NULL, NULL, NULL }

/* ---------------- tag ---------------- */

static int run_tag(cli_ctx_t *ctx, int argc, char **argv) {
  cli_strv_t pos = { 0 };
  const cli_opt_t opts[] = { END_OPT };
  int r = cli_parse_args(ctx, &cli_cmd_tag, opts, argc, argv, &pos);
  if (r < 0)
    r = cli_check_args(ctx, &cli_cmd_tag, &pos, 2, 2);
  if (r >= 0) {
    cli_strv_free(&pos);
    return r;
  }
  const char *source = pos.v[0], *target = pos.v[1];
  berth_error_t err = NULL;
  if (strchr(target, '@')) {
    cli_strv_free(&pos);
    fprintf(stderr, "refusing to create a tag with a digest reference\n");
    return CLI_EXIT_ERROR;
  }
  /* TARGET is REPO[:TAG]; the tag follows the last ':' after the last '/'
   * ("localhost:5000/app" has none). The engine checks the grammar. */
  const char *slash = strrchr(target, '/'), *colon = strrchr(target, ':');
  char *repo = NULL;
  const char *tag = "latest";
  if (colon && (slash == NULL || colon > slash)) {
    repo = strndup(target, (size_t)(colon - target));
    tag = colon + 1;
  } else {
    repo = strdup(target);
  }
  char *erepo = repo ? cli_url_escape(repo, false) : NULL, *etag = cli_url_escape(tag, false);
  char *base = cli_image_path(source, "/tag"), *path = NULL;
  if (erepo && etag && base && asprintf(&path, "%s?repo=%s&tag=%s", base, erepo, etag) < 0)
    path = NULL;
  free(repo);
  free(erepo);
  free(etag);
  free(base);
  cli_strv_free(&pos);
  if (path == NULL) {
    fprintf(stderr, "out of memory\n");
    return CLI_EXIT_ERROR;
  }
  cli_response_t resp;
  r = cli_api(ctx, "POST", path, &resp, &err);
  free(path);
  if (r < 0)
    return cli_fail(&err);
  if (resp.status < 200 || resp.status > 299) {
    cli_daemon_error(&resp, &err);
    cli_response_free(&resp);
    return cli_fail(&err);
  }
  cli_response_free(&resp);
  return 0;
}

const cli_command_t cli_cmd_tag = {
  .name = "tag",
  .summary = "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
  .usage = "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
  .options = "  -h, --help   Print usage\n",
  .run = run_tag,
  .aliases = "berth image tag, berth tag",
};

/* ---------------- rmi ---------------- */

/* Prints "Untagged: x" / "Deleted: sha256:..." for each entry. */
static void print_deletions(json_object *list, const char *untagged, const char *deleted) {
  for (size_t i = 0; json_object_is_type(list, json_type_array) && i < json_object_array_length(list); i++) {
    json_object *e = json_object_array_get_idx(list, i);
    const char *d = cli_json_str(e, "Deleted");
    if (d && *d)
      printf("%s %s\n", deleted, d);
    else
      printf("%s %s\n", untagged, cli_json_str(e, "Untagged") ?: "");
  }
}

static int run_rmi(cli_ctx_t *ctx, int argc, char **argv) {
  bool force = false, no_prune = false;
  cli_strv_t names = { 0 };
  const cli_opt_t opts[] = {
    { 'f', "force", CLI_OPT_BOOL, &force, NULL, NULL },
    { 0, "format", CLI_OPT_FORMAT, NULL, NULL, NULL },
    { 0, "no-prune", CLI_OPT_BOOL, &no_prune, NULL, NULL },
    END_OPT,
  };
  int r = cli_parse_args(ctx, &cli_cmd_rmi, opts, argc, argv, &names);
  if (r < 0)
    r = cli_check_args(ctx, &cli_cmd_rmi, &names, 1, -1);
  if (r >= 0) {
    cli_strv_free(&names);
    return r;
  }
  /* As the docker CLI: every name is tried; errors are collected. With -f,
   * names that do not exist are reported but do not fail the command. */
  bool fatal = false;
  size_t nerr = 0;
  char **errors = calloc(names.n, sizeof *errors);
  json_object *all = json_object_new_array();
  for (size_t i = 0; errors && i < names.n; i++) {
    berth_error_t err = NULL;
    cli_response_t resp = { 0 };
    char *base = cli_image_path(names.v[i], ""), *path = NULL;
    if (base && asprintf(&path, "%s%s%s%s", base, force || no_prune ? "?" : "", force ? "force=1" : "",
                         no_prune ? (force ? "&noprune=1" : "noprune=1") : "") < 0)
      path = NULL;
    free(base);
    int rr = path ? cli_api(ctx, "DELETE", path, &resp, &err) : berth_error_make(&err, ENOMEM, "out of memory");
    free(path);
    if (rr < 0) {
      fatal = true;
      errors[nerr++] = strdup(err->msg);
    } else if (resp.status < 200 || resp.status > 299) {
      fatal |= resp.status != 404; /* -f forgives names that do not exist */
      cli_daemon_error(&resp, &err);
      errors[nerr++] = strdup(err->msg);
    } else {
      json_object *list = json_tokener_parse(resp.body);
      if (ctx->json) {
        for (size_t j = 0; json_object_is_type(list, json_type_array) && j < json_object_array_length(list); j++)
          json_object_array_add(all, json_object_get(json_object_array_get_idx(list, j)));
      } else {
        print_deletions(list, "Untagged:", "Deleted:");
      }
      json_object_put(list);
    }
    berth_error_release(&err);
    cli_response_free(&resp);
  }
  if (ctx->json)
    cli_print_json(all);
  fflush(stdout);
  json_object_put(all);
  for (size_t i = 0; i < nerr; i++) {
    fprintf(stderr, "%s\n", errors[i] ? errors[i] : "out of memory");
    free(errors[i]);
  }
  r = errors == NULL || (nerr > 0 && (!force || fatal)) ? CLI_EXIT_ERROR : 0;
  free(errors);
  cli_strv_free(&names);
  return r;
}

const cli_command_t cli_cmd_rmi = {
  .name = "rmi",
  .summary = "Remove one or more images",
  .usage = "[OPTIONS] IMAGE [IMAGE...]",
  .options = "  -f, --force           Force removal of the image\n"
             "      --format string   \"json\": the engine's replies (Untagged/Deleted) as one JSON array\n"
             "  -h, --help            Print usage\n"
             "      --no-prune        Do not delete untagged parents\n",
  .run = run_rmi,
  .aliases = "berth image rm, berth image remove, berth rmi",
};

/* ---------------- image prune ---------------- */

/* "y" or "yes" (any case) on stdin; anything else, or nothing, is no. */
static bool confirm(const char *warning) {
  printf("%s [y/N] ", warning);
  fflush(stdout);
  char line[64];
  if (fgets(line, sizeof line, stdin) == NULL)
    return false;
  char *s = line;
  while (isspace((unsigned char)*s))
    s++;
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1]))
    s[--n] = '\0';
  return strcasecmp(s, "y") == 0 || strcasecmp(s, "yes") == 0;
}

static int run_prune(cli_ctx_t *ctx, int argc, char **argv) {
  bool all = false, force = false;
  cli_strv_t filters = { 0 }, pos = { 0 };
  const cli_opt_t opts[] = {
    { 'a', "all", CLI_OPT_BOOL, &all, NULL, NULL },
    { 0, "filter", CLI_OPT_LIST, &filters, cli_filter_valid, "bad format of filter (expected name=value)" },
    { 'f', "force", CLI_OPT_BOOL, &force, NULL, NULL },
    { 0, "format", CLI_OPT_FORMAT, NULL, NULL, NULL },
    END_OPT,
  };
  int r = cli_parse_args(ctx, &cli_cmd_image_prune, opts, argc, argv, &pos);
  if (r < 0)
    r = cli_check_args(ctx, &cli_cmd_image_prune, &pos, 0, 0);
  char *fjson = r < 0 ? cli_filters_json(&filters, "dangling", all ? "false" : "true") : NULL;
  cli_strv_free(&filters);
  cli_strv_free(&pos);
  if (r >= 0)
    return r;
  if (!force && !confirm(all ? "WARNING! This will remove all images without at least one container associated to "
                               "them.\nAre you sure you want to continue?"
                             : "WARNING! This will remove all dangling images.\nAre you sure you want to continue?")) {
    free(fjson); /* cancelled: nothing more is printed, as with docker */
    return 0;
  }
  char *esc = fjson ? cli_url_escape(fjson, false) : NULL, *path = NULL;
  if (esc && asprintf(&path, "/images/prune?filters=%s", esc) < 0)
    path = NULL;
  free(fjson);
  free(esc);
  if (path == NULL) {
    fprintf(stderr, "out of memory\n");
    return CLI_EXIT_ERROR;
  }
  berth_error_t err = NULL;
  json_object *report = NULL;
  r = cli_api_json(ctx, "POST", path, &report, &err);
  free(path);
  if (r < 0)
    return cli_fail(&err);
  if (ctx->json) {
    cli_print_json(report);
  } else {
    json_object *deleted = cli_json_get(report, "ImagesDeleted");
    if (json_object_is_type(deleted, json_type_array) && json_object_array_length(deleted) > 0) {
      printf("Deleted Images:\n");
      print_deletions(deleted, "untagged:", "deleted:");
      printf("\n");
    }
    char size[32];
    cli_human_size((double)cli_json_int(report, "SpaceReclaimed"), 4, size, sizeof size);
    printf("Total reclaimed space: %s\n", size);
  }
  fflush(stdout);
  json_object_put(report);
  return 0;
}

const cli_command_t cli_cmd_image_prune = {
  .name = "prune",
  .summary = "Remove unused images",
  .usage = "[OPTIONS]",
  .options = "  -a, --all             Remove all unused images, not just dangling ones\n"
             "      --filter filter   Provide filter values (e.g. \"label=KEY=VALUE\", \"until=<timestamp>\")\n"
             "  -f, --force           Do not prompt for confirmation\n"
             "      --format string   \"json\": the engine's report as JSON\n"
             "  -h, --help            Print usage\n",
  .run = run_prune,
  .aliases = "berth image prune",
};
