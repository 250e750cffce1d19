/* Container commands that act on named containers, as the docker CLI runs them:
 *   stop:    POST /containers/{name}/stop[?t=N][&signal=S]   (each name; prints it)
 *   kill:    POST /containers/{name}/kill[?signal=S]
 *   restart: POST /containers/{name}/restart[?t=N][&signal=S]
 *   rm:      DELETE /containers/{name}[?force=1&v=1]
 *   wait:    POST /containers/{name}/wait (prints the exit code)
 *   rename:  POST /containers/{old}/rename?name=NEW
 *   container prune: POST /containers/prune[?filters=...] */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "ctr.h"

#define END_OPT { 0, NULL, 0, NULL, NULL, NULL }

static bool valid_int(const char *s) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  return s[0] && !*end && !errno && v >= INT32_MIN && v <= INT32_MAX;
}

/* One request; a 1xx or 4xx/5xx status becomes the daemon's error. */
static int request(cli_ctx_t *ctx, const char *method, const char *path, cli_response_t *resp, berth_error_t *err) {
  if (path == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  if (cli_api(ctx, method, path, resp, err) < 0)
    return -1;
  if (resp->status < 200 || resp->status >= 400) { /* 304 (already stopped/started) is success, as docker's client */
    int r = cli_daemon_error(resp, err);
    cli_response_free(resp);
    return r;
  }
  return 0;
}

/* "?a=x&b=y" from the non-NULL pairs (values escaped); "" when none. */
static char *query(const char *k1, const char *v1, const char *k2, const char *v2) {
  char *e1 = v1 ? cli_url_escape(v1, false) : NULL, *e2 = v2 ? cli_url_escape(v2, false) : NULL, *q = NULL;
  if (asprintf(&q, "%s%s%s%s%s%s%s%s", e1 || e2 ? "?" : "", e1 ? k1 : "", e1 ? "=" : "", e1 ? e1 : "",
               e1 && e2 ? "&" : "", e2 ? k2 : "", e2 ? "=" : "", e2 ? e2 : "") < 0)
    q = NULL;
  free(e1);
  free(e2);
  return q;
}

/* For each name: METHOD /containers/{name}SUFFIX+QUERY, the name printed on
 * success, errors printed at the end; exit 1 when any failed. */
static int each(cli_ctx_t *ctx, const cli_strv_t *names, const char *method, const char *suffix, const char *q,
                bool forgive_missing) {
  bool failed = false;
  char **errors = calloc(names->n + 1, sizeof *errors);
  size_t nerr = 0;
  for (size_t i = 0; errors && i < names->n; i++) {
    berth_error_t err = NULL;
    cli_response_t resp = { 0 };
    char *base = cli_ctr_path(names->v[i], suffix), *path = NULL;
    if (base && asprintf(&path, "%s%s", base, q ? q : "") < 0)
      path = NULL;
    free(base);
    int r = request(ctx, method, path, &resp, &err);
    free(path);
    if (r < 0) {
      if (forgive_missing && resp.status == 404) { /* rm -f: reported, not a failure */
        fprintf(stderr, "%s\n", err->msg);
      } else {
        errors[nerr++] = strdup(err->msg);
        failed = true;
      }
      berth_error_release(&err);
      continue;
    }
    cli_response_free(&resp);
    printf("%s\n", names->v[i]);
    fflush(stdout);
  }
  for (size_t i = 0; i < nerr; i++) {
    fprintf(stderr, "%s\n", errors[i] ? errors[i] : "out of memory");
    free(errors[i]);
  }
  free(errors);
  return failed || errors == NULL ? CLI_EXIT_ERROR : 0;
}

/* ---------------- stop / restart ---------------- */

static int stop_or_restart(cli_ctx_t *ctx, const cli_command_t *cmd, int argc, char **argv, const char *suffix) {
  const char *timeout = NULL, *sig = NULL;
  cli_strv_t names = { 0 };
  const cli_opt_t opts[] = {
    { 's', "signal", CLI_OPT_STRING, &sig, NULL, NULL },
    { 0, "time", CLI_OPT_STRING, &timeout, NULL, NULL },
    { 't', "timeout", CLI_OPT_STRING, &timeout, NULL, NULL },
    END_OPT,
  };
  int r = cli_parse_args(ctx, cmd, opts, argc, argv, &names);
  if (r < 0 && timeout && !valid_int(timeout)) {
    char msg[256];
    snprintf(msg, sizeof msg, "invalid argument \"%s\" for \"-t, --timeout\" flag: strconv.ParseInt: parsing \"%s\": "
             "invalid syntax", timeout, timeout);
    r = cli_usage_error(ctx, msg);
  }
  if (r < 0)
    r = cli_check_args(ctx, cmd, &names, 1, -1);
  if (r < 0) {
    char *q = query("signal", sig, "t", timeout);
    r = q ? each(ctx, &names, "POST", suffix, q, false) : CLI_EXIT_ERROR;
    free(q);
  }
  cli_strv_free(&names);
  return r;
}

static int run_stop(cli_ctx_t *ctx, int argc, char **argv) {
  return stop_or_restart(ctx, &cli_cmd_stop, argc, argv, "/stop");
}

static int run_restart(cli_ctx_t *ctx, int argc, char **argv) {
  return stop_or_restart(ctx, &cli_cmd_restart, argc, argv, "/restart");
}

const cli_command_t cli_cmd_stop = {
  .name = "stop",
  .summary = "Stop one or more running containers",
  .usage = "[OPTIONS] CONTAINER [CONTAINER...]",
  .options = "  -h, --help             Print usage\n"
             "  -s, --signal string    Signal to send to the container\n"
             "  -t, --timeout int      Seconds to wait before killing the container\n",
  .run = run_stop,
  .aliases = "berth container stop, berth stop",
};

const cli_command_t cli_cmd_restart = {
  .name = "restart",
  .summary = "Restart one or more containers",
  .usage = "[OPTIONS] CONTAINER [CONTAINER...]",
  .options = "  -h, --help             Print usage\n"
             "  -s, --signal string    Signal to send to the container\n"
             "  -t, --timeout int      Seconds to wait before killing the container\n",
  .run = run_restart,
  .aliases = "berth container restart, berth restart",
};

/* ---------------- kill ---------------- */

static int run_kill(cli_ctx_t *ctx, int argc, char **argv) {
  const char *sig = NULL;
  cli_strv_t names = { 0 };
  const cli_opt_t opts[] = {
    { 's', "signal", CLI_OPT_STRING, &sig, NULL, NULL },
    END_OPT,
  };
  int r = cli_parse_args(ctx, &cli_cmd_kill, opts, argc, argv, &names);
  if (r < 0)
    r = cli_check_args(ctx, &cli_cmd_kill, &names, 1, -1);
  if (r < 0) {
    char *q = query("signal", sig && *sig ? sig : NULL, NULL, NULL);
    r = q ? each(ctx, &names, "POST", "/kill", q, false) : CLI_EXIT_ERROR;
    free(q);
  }
  cli_strv_free(&names);
  return r;
}

const cli_command_t cli_cmd_kill = {
  .name = "kill",
  .summary = "Kill one or more running containers",
  .usage = "[OPTIONS] CONTAINER [CONTAINER...]",
  .options = "  -h, --help            Print usage\n"
             "  -s, --signal string   Signal to send to the container (default KILL)\n",
  .run = run_kill,
  .aliases = "berth container kill, berth kill",
};

/* ---------------- rm ---------------- */

static int run_rm(cli_ctx_t *ctx, int argc, char **argv) {
  bool force = false, volumes = false, link = false;
  cli_strv_t names = { 0 };
  const cli_opt_t opts[] = {
    { 'f', "force", CLI_OPT_BOOL, &force, NULL, NULL },
    { 'l', "link", CLI_OPT_BOOL, &link, NULL, NULL },
    { 'v', "volumes", CLI_OPT_BOOL, &volumes, NULL, NULL },
    END_OPT,
  };
  int r = cli_parse_args(ctx, &cli_cmd_rm, opts, argc, argv, &names);
  if (r < 0)
    r = cli_check_args(ctx, &cli_cmd_rm, &names, 1, -1);
  if (r < 0 && link) {
    fprintf(stderr, "Error response from daemon: berth has no container links\n");
    r = CLI_EXIT_ERROR;
  }
  if (r < 0) {
    char *q = query("force", force ? "1" : NULL, "v", volumes ? "1" : NULL);
    r = q ? each(ctx, &names, "DELETE", "", q, force) : CLI_EXIT_ERROR;
    free(q);
  }
  cli_strv_free(&names);
  return r;
}

const cli_command_t cli_cmd_rm = {
  .name = "rm",
  .summary = "Remove one or more containers",
  .usage = "[OPTIONS] CONTAINER [CONTAINER...]",
  .options = "  -f, --force     Force the removal of a running container (uses SIGKILL)\n"
             "  -h, --help      Print usage\n"
             "  -l, --link      Remove the specified link (berth has none: refused)\n"
             "  -v, --volumes   Remove anonymous volumes associated with the container\n",
  .run = run_rm,
  .aliases = "berth container rm, berth container remove, berth rm",
};

/* ---------------- wait ---------------- */

static int run_wait(cli_ctx_t *ctx, int argc, char **argv) {
  cli_strv_t names = { 0 };
  const cli_opt_t opts[] = { END_OPT };
  int r = cli_parse_args(ctx, &cli_cmd_wait, opts, argc, argv, &names);
  if (r < 0)
    r = cli_check_args(ctx, &cli_cmd_wait, &names, 1, -1);
  if (r >= 0) {
    cli_strv_free(&names);
    return r;
  }
  bool failed = false;
  for (size_t i = 0; i < names.n; i++) {
    berth_error_t err = NULL;
    int fd;
    cli_http_head_t head;
    if (cli_wait_open(ctx, names.v[i], NULL, &fd, &head, &err) < 0) {
      fprintf(stderr, "%s\n", err->msg);
      berth_error_release(&err);
      failed = true;
      continue;
    }
    char *body = NULL;
    size_t len;
    json_object *o = NULL;
    if (cli_http_read_body(fd, &head, 1 << 20, &body, &len, &err) < 0) {
      fprintf(stderr, "%s\n", err->msg);
      berth_error_release(&err);
      failed = true;
    } else if ((o = json_tokener_parse(body)) == NULL || cli_json_get(o, "StatusCode") == NULL) {
      fprintf(stderr, "POST /containers/%s/wait: the engine's answer has no StatusCode\n", names.v[i]);
      failed = true;
    } else {
      const char *msg = cli_json_str(cli_json_get(o, "Error"), "Message");
      if (msg && *msg) {
        fprintf(stderr, "Error response from daemon: %s\n", msg);
        failed = true;
      } else {
        printf("%" PRId64 "\n", cli_json_int(o, "StatusCode"));
        fflush(stdout);
      }
    }
    json_object_put(o);
    free(body);
    cli_http_head_free(&head);
    close(fd);
  }
  cli_strv_free(&names);
  return failed ? CLI_EXIT_ERROR : 0;
}

const cli_command_t cli_cmd_wait = {
  .name = "wait",
  .summary = "Block until one or more containers stop, then print their exit codes",
  .usage = "CONTAINER [CONTAINER...]",
  .options = "  -h, --help   Print usage\n",
  .run = run_wait,
  .aliases = "berth container wait, berth wait",
};

/* ---------------- rename ---------------- */

static char *trim(const char *s) {
  while (isspace((unsigned char)*s))
    s++;
  size_t n = strlen(s);
  while (n && isspace((unsigned char)s[n - 1]))
    n--;
  return strndup(s, n);
}

static int run_rename(cli_ctx_t *ctx, int argc, char **argv) {
  cli_strv_t pos = { 0 };
  const cli_opt_t opts[] = { END_OPT };
  int r = cli_parse_args(ctx, &cli_cmd_rename, opts, argc, argv, &pos);
  if (r < 0)
    r = cli_check_args(ctx, &cli_cmd_rename, &pos, 2, 2);
  if (r >= 0) {
    cli_strv_free(&pos);
    return r;
  }
  char *old = trim(pos.v[0]), *new = trim(pos.v[1]);
  cli_strv_free(&pos);
  if (old == NULL || new == NULL || !*old || !*new) {
    fprintf(stderr, "Error: Neither old nor new names may be empty\n");
    free(old);
    free(new);
    return CLI_EXIT_ERROR;
  }
  char *base = cli_ctr_path(old, "/rename"), *q = query("name", new, NULL, NULL), *path = NULL;
  if (base && q && asprintf(&path, "%s%s", base, q) < 0)
    path = NULL;
  free(base);
  free(q);
  berth_error_t err = NULL;
  cli_response_t resp = { 0 };
  r = 0;
  if (request(ctx, "POST", path, &resp, &err) < 0) {
    fprintf(stderr, "%s\nError: failed to rename container named %s\n", err->msg, old);
    berth_error_release(&err);
    r = CLI_EXIT_ERROR;
  }
  cli_response_free(&resp);
  free(path);
  free(old);
  free(new);
  return r;
}

const cli_command_t cli_cmd_rename = {
  .name = "rename",
  .summary = "Rename a container",
  .usage = "CONTAINER NEW_NAME",
  .options = "  -h, --help   Print usage\n",
  .run = run_rename,
  .aliases = "berth container rename, berth rename",
};

/* ---------------- container prune ---------------- */

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
  bool force = false;
  cli_strv_t filters = { 0 }, pos = { 0 };
  const cli_opt_t opts[] = {
    { 0, "filter", CLI_OPT_LIST, &filters, cli_filter_valid, "bad format of filter (expected name=value)" },
    { 'f', "force", CLI_OPT_BOOL, &force, NULL, NULL },
    { 0, "format", CLI_OPT_FORMAT, NULL, NULL, NULL },
    END_OPT,
  };
  int r = cli_parse_args(ctx, &cli_cmd_ctr_prune, opts, argc, argv, &pos);
  if (r < 0)
    r = cli_check_args(ctx, &cli_cmd_ctr_prune, &pos, 0, 0);
  char *fjson = r < 0 && filters.n ? cli_filters_json(&filters, NULL, NULL) : NULL;
  bool oom = r < 0 && filters.n && fjson == NULL;
  cli_strv_free(&filters);
  cli_strv_free(&pos);
  if (r >= 0 || oom) {
    free(fjson);
    return r >= 0 ? r : CLI_EXIT_ERROR;
  }
  if (!force && !confirm("WARNING! This will remove all stopped containers.\nAre you sure you want to continue?")) {
    free(fjson);
    return 0;
  }
  char *q = query("filters", fjson, NULL, NULL), *path = NULL;
  if (q && asprintf(&path, "/containers/prune%s", q) < 0)
    path = NULL;
  free(q);
  free(fjson);
  berth_error_t err = NULL;
  json_object *report = NULL;
  if (path == NULL)
    r = berth_error_make(&err, ENOMEM, "out of memory");
  else
    r = cli_api_json(ctx, "POST", path, &report, &err);
  free(path);
  if (r < 0)
    return cli_fail(&err);
  if (ctx->json) {
    cli_print_json(report);
  } else {
    json_object *deleted = cli_json_get(report, "ContainersDeleted");
    if (json_object_is_type(deleted, json_type_array) && json_object_array_length(deleted) > 0) {
      printf("Deleted Containers:\n");
      for (size_t i = 0; i < json_object_array_length(deleted); i++)
        printf("%s\n", json_object_get_string(json_object_array_get_idx(deleted, i)));
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

const cli_command_t cli_cmd_ctr_prune = {
  .name = "prune",
  .summary = "Remove all stopped containers",
  .usage = "[OPTIONS]",
  .options = "      --filter filter   Provide filter values (e.g. \"until=<timestamp>\", \"label=KEY=VALUE\")\n"
             "  -f, --force           Do not prompt for confirmation\n"
             "      --format string   \"json\": the engine's report as JSON\n"
             "  -h, --help            Print usage\n",
  .run = run_prune,
  .aliases = "berth container prune",
};
