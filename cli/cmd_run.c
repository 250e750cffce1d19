/* berth run, create, start, attach: the docker CLI's request sequences.
 *   run:    POST /containers/create[?name=], [POST /attach?stderr=1&stdin=1&stdout=1&stream=1 (hijacked)],
 *           POST /wait?condition=next-exit|removed, POST /start, [POST /resize]; the exit code is the wait's
 *   create: POST /containers/create[?name=]
 *   start:  POST /start for each; with -a/-i: GET /json, attach, wait, start, resize
 *   attach: POST /wait, GET /json, attach
 * A daemon error exits 125, or 127 / 126 when the command was not found /
 * not executable (as docker run). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include "ctr.h"

#define END_OPT { 0, NULL, 0, NULL, NULL, NULL }

/* docker's toStatusError: "berth: MSG\n\nRun 'berth CMD --help' ..." and 125/126/127. */
static int status_error(const cli_ctx_t *ctx, const char *msg) {
  fprintf(stderr, "berth: %s\n\nRun 'berth %s --help' for more information\n", msg, ctx->cmd_path);
  if (strncmp(msg, "Error response from daemon:", 27) != 0) /* not the container's: transport, client side */
    return 125;
  if (strstr(msg, "executable file not found") || strstr(msg, "no such file or directory") ||
      strstr(msg, "No such file or directory"))
    return 127;
  if (strstr(msg, "permission denied") || strstr(msg, "Permission denied") || strstr(msg, "is a directory") ||
      strstr(msg, "Is a directory"))
    return 126;
  return 125;
}

static int status_fail(const cli_ctx_t *ctx, berth_error_t *err) {
  int r = status_error(ctx, (*err)->msg);
  berth_error_release(err);
  return r;
}

/* POST /containers/create[?name=]; prints the warnings; *id gets the id. */
static int create(cli_ctx_t *ctx, const char *name, json_object *body, char id[72], berth_error_t *err) {
  char *esc = name ? cli_url_escape(name, false) : NULL, *path = NULL;
  if (asprintf(&path, "/containers/create%s%s", esc ? "?name=" : "", esc ? esc : "") < 0)
    path = NULL;
  free(esc);
  if (path == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  json_object *reply = NULL;
  int r = cli_raw_json(ctx, "POST", path, body, &reply, err);
  free(path);
  if (r < 0)
    return -1;
  json_object *warnings = cli_json_get(reply, "Warnings");
  for (size_t i = 0; json_object_is_type(warnings, json_type_array) && i < json_object_array_length(warnings); i++)
    fprintf(stderr, "WARNING: %s\n", json_object_get_string(json_object_array_get_idx(warnings, i)));
  const char *cid = cli_json_str(reply, "Id");
  if (cid == NULL || strlen(cid) < 12 || strlen(cid) > 64 || strspn(cid, "0123456789abcdef") != strlen(cid))
    r = berth_error_make(err, EBADMSG, "POST /containers/create: the engine sent no valid container Id");
  else
    snprintf(id, 72, "%s", cid);
  json_object_put(reply);
  return r;
}

/* POST /containers/{id}/start; 304 (already running) is success. */
static int start(cli_ctx_t *ctx, const char *id, berth_error_t *err) {
  char *path = cli_ctr_path(id, "/start");
  if (path == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  cli_response_t resp;
  int r = cli_api(ctx, "POST", path, &resp, err);
  free(path);
  if (r == 0 && (resp.status < 200 || resp.status >= 400))
    r = cli_daemon_error(&resp, err);
  cli_response_free(&resp);
  return r;
}

/* POST /containers/{id}/attach?stderr=1&stdin=1&stdout=1&stream=1 (hijacked). */
static int attach_open(cli_ctx_t *ctx, const char *id, bool in, bool out, bool errs, int *fd, cli_http_head_t *head,
                       berth_error_t *err) {
  char *base = cli_ctr_path(id, "/attach"), *path = NULL;
  if (base && asprintf(&path, "%s?%s%s%sstream=1", base, errs ? "stderr=1&" : "", in ? "stdin=1&" : "",
                       out ? "stdout=1&" : "") < 0)
    path = NULL;
  free(base);
  if (path == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  long status;
  int r = cli_raw_request(ctx, "POST", path, NULL, true, fd, head, &status, err);
  free(path);
  return r;
}

typedef struct {
  const char *id;
  bool tty, in, out, errs, auto_remove, sig_proxy;
} session_t;

/* attach (when any stream), wait, start, resize, pump, exit code: the
 * sequence run and start -a share. */
static int attached_start(cli_ctx_t *ctx, const session_t *s) {
  berth_error_t err = NULL;
  int afd = -1, wfd = -1;
  cli_http_head_t ahead = { 0 }, whead = { 0 };
  bool attach = s->in || s->out || s->errs;
  if (attach && attach_open(ctx, s->id, s->in, s->out, s->errs, &afd, &ahead, &err) < 0)
    return status_fail(ctx, &err);
  cli_attach_t a = {
    .ctx = ctx, .id = s->id, .fd = afd, .pre = ahead.extra, .pre_len = ahead.extra_len, .tty = s->tty,
    .stdin_attached = s->in, .sig_proxy = s->sig_proxy && !s->tty,
    .resize = s->tty && isatty(STDOUT_FILENO),
  };
  if (attach && cli_attach_begin(&a, &err) < 0) {
    cli_http_head_free(&ahead);
    close(afd);
    return cli_fail(&err);
  }
  int rc;
  if (cli_wait_open(ctx, s->id, s->auto_remove ? "removed" : "next-exit", &wfd, &whead, &err) < 0) {
    cli_attach_end(&a);
    fprintf(stderr, "Error waiting for container: %s\n", err->msg);
    berth_error_release(&err);
    rc = 125;
  } else if (start(ctx, s->id, &err) < 0) {
    cli_attach_end(&a);
    if (s->auto_remove) { /* the engine removes it: wait for that (10 s at most), as docker does */
      struct timeval tv = { .tv_sec = 10 };
      char *body = NULL;
      size_t len;
      berth_error_t werr = NULL;
      setsockopt(wfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      if (cli_http_read_body(wfd, &whead, 1 << 20, &body, &len, &werr) < 0)
        berth_error_release(&werr);
      free(body);
    }
    cli_http_head_free(&whead);
    close(wfd);
    rc = status_fail(ctx, &err);
  } else {
    if (a.resize)
      cli_attach_resize(ctx, s->id);
    int r = attach ? cli_attach_run(&a, &err) : 0;
    cli_attach_end(&a);
    if (afd >= 0) { /* the stream is over: the connection goes before the wait's answer, as docker's */
      close(afd);
      afd = -1;
    }
    if (r < 0) {
      fprintf(stderr, "%s\n", err->msg);
      berth_error_release(&err);
    }
    rc = cli_wait_result(wfd, &whead);
  }
  cli_http_head_free(&ahead);
  if (afd >= 0)
    close(afd);
  return rc;
}

/* ---------------- run / create ---------------- */

static int run_or_create(cli_ctx_t *ctx, int argc, char **argv, bool run) {
  const cli_command_t *cmd = run ? &cli_cmd_run : &cli_cmd_create;
  cli_run_opts_t o = { 0 };
  cli_opt_t opts[64];
  cli_strv_t pos = { 0 };
  cli_run_opt_table(&o, run, opts, sizeof opts / sizeof opts[0]);
  int r = cli_parse_args_head(ctx, cmd, opts, argc, argv, &pos);
  if (r < 0)
    r = cli_check_args(ctx, cmd, &pos, 1, -1);
  if (r >= 0)
    goto out;
  if (run && !o.detach && o.interactive && o.tty && !isatty(STDIN_FILENO)) {
    fprintf(stderr, "the input device is not a TTY\n");
    r = CLI_EXIT_ERROR;
    goto out;
  }
  int h = 0, w = 0;
  if (o.tty)
    cli_term_size(STDOUT_FILENO, &h, &w);
  char why[1024];
  json_object *body = cli_run_body(&o, run, pos.v[0], pos.n - 1, pos.v + 1, h, w, why, sizeof why);
  if (body == NULL) {
    r = strncmp(why, "invalid argument", 16) == 0 ? cli_usage_error(ctx, why) : status_error(ctx, why);
    goto out;
  }
  berth_error_t err = NULL;
  char id[72];
  int cr = create(ctx, o.name, body, id, &err);
  json_object *cfg = body;
  if (cr < 0) { /* docker run: 125 with help; docker create: the error, exit 1 */
    json_object_put(cfg);
    r = run ? status_fail(ctx, &err) : cli_fail(&err);
    goto out;
  }
  if (!run) {
    printf("%s\n", id);
    fflush(stdout);
    json_object_put(cfg);
    r = 0;
    goto out;
  }
  session_t s = {
    .id = id, .tty = o.tty, .auto_remove = o.rm, .sig_proxy = true,
    .in = cli_json_bool(cfg, "AttachStdin"), .out = cli_json_bool(cfg, "AttachStdout"),
    .errs = cli_json_bool(cfg, "AttachStderr"),
  };
  json_object_put(cfg);
  if (o.detach) { /* wait (not read), start, print the id */
    int wfd;
    cli_http_head_t whead;
    if (cli_wait_open(ctx, id, o.rm ? "removed" : "next-exit", &wfd, &whead, &err) < 0) {
      fprintf(stderr, "Error waiting for container: %s\n", err->msg);
      berth_error_release(&err);
      r = 125;
      goto out;
    }
    r = start(ctx, id, &err) < 0 ? status_fail(ctx, &err) : 0;
    cli_http_head_free(&whead);
    close(wfd);
    if (r == 0) {
      printf("%s\n", id);
      fflush(stdout);
    }
    goto out;
  }
  r = attached_start(ctx, &s);
out:
  cli_strv_free(&pos);
  cli_run_opts_free(&o);
  return r;
}

static int run_run(cli_ctx_t *ctx, int argc, char **argv) {
  return run_or_create(ctx, argc, argv, true);
}

static int run_create(cli_ctx_t *ctx, int argc, char **argv) {
  return run_or_create(ctx, argc, argv, false);
}

const cli_command_t cli_cmd_run = {
  .name = "run",
  .summary = "Create and run a new container from an image",
  .usage = "[OPTIONS] IMAGE [COMMAND] [ARG...]",
  .options = "  -a, --attach list              Attach to STDIN, STDOUT or STDERR\n"
             "      --cap-add list             Add Linux capabilities\n"
             "      --cap-drop list            Drop Linux capabilities\n"
             "  -c, --cpu-shares int           CPU shares (relative weight)\n"
             "      --cpus decimal             Number of CPUs\n"
             "      --cpuset-cpus string       CPUs in which to allow execution (0-3, 0,1)\n"
             "      --cpuset-mems string       MEMs in which to allow execution (0-3, 0,1)\n"
             "  -d, --detach                   Run container in background and print container ID\n"
             "      --entrypoint string        Overwrite the default ENTRYPOINT of the image\n"
             "  -e, --env list                 Set environment variables\n"
             "      --env-file list            Read in a file of environment variables\n"
             "      --help                     Print usage\n"
             "  -h, --hostname string          Container host name\n"
             "  -i, --interactive              Keep STDIN open even if not attached\n"
             "  -l, --label list               Set meta data on a container\n"
             "  -m, --memory bytes             Memory limit (b, k, m, g suffixes: 512m, 1g)\n"
             "      --memory-swap bytes        Swap limit equal to memory plus swap: '-1' to enable unlimited swap\n"
             "      --name string              Assign a name to the container\n"
             "      --network network          Connect a container to a network: none, host, bridge or default\n"
             "      --pids-limit int           Tune container pids limit (set -1 for unlimited)\n"
             "      --privileged               Give extended privileges to this container (if policy allows)\n"
             "      --pull string              Pull image before running (\"missing\", \"never\"; berth never pulls)\n"
             "      --read-only                Mount the container's root filesystem as read only\n"
             "      --restart string           Restart policy to apply when a container exits (default \"no\")\n"
             "      --rm                       Automatically remove the container when it exits\n"
             "      --security-opt list        Security Options (seccomp=FILE, seccomp=unconfined,\n"
             "                                 no-new-privileges)\n"
             "      --stop-signal string       Signal to stop the container\n"
             "      --stop-timeout int         Timeout (in seconds) to stop a container\n"
             "  -t, --tty                      Allocate a pseudo-TTY\n"
             "      --ulimit ulimit            Ulimit options (nofile=1024:2048)\n"
             "  -u, --user string              Username or UID (format: <name|uid>[:<group|gid>])\n"
             "  -w, --workdir string           Working directory inside the container\n",
  .run = run_run,
  .aliases = "berth container run, berth run",
};

const cli_command_t cli_cmd_create = {
  .name = "create",
  .summary = "Create a new container",
  .usage = "[OPTIONS] IMAGE [COMMAND] [ARG...]",
  .options = "  -a, --attach list              Attach to STDIN, STDOUT or STDERR\n"
             "      --cap-add list             Add Linux capabilities\n"
             "      --cap-drop list            Drop Linux capabilities\n"
             "  -c, --cpu-shares int           CPU shares (relative weight)\n"
             "      --cpus decimal             Number of CPUs\n"
             "      --cpuset-cpus string       CPUs in which to allow execution (0-3, 0,1)\n"
             "      --cpuset-mems string       MEMs in which to allow execution (0-3, 0,1)\n"
             "      --entrypoint string        Overwrite the default ENTRYPOINT of the image\n"
             "  -e, --env list                 Set environment variables\n"
             "      --env-file list            Read in a file of environment variables\n"
             "      --help                     Print usage\n"
             "  -h, --hostname string          Container host name\n"
             "  -i, --interactive              Keep STDIN open even if not attached\n"
             "  -l, --label list               Set meta data on a container\n"
             "  -m, --memory bytes             Memory limit (b, k, m, g suffixes: 512m, 1g)\n"
             "      --memory-swap bytes        Swap limit equal to memory plus swap: '-1' to enable unlimited swap\n"
             "      --name string              Assign a name to the container\n"
             "      --network network          Connect a container to a network: none, host, bridge or default\n"
             "      --pids-limit int           Tune container pids limit (set -1 for unlimited)\n"
             "      --privileged               Give extended privileges to this container (if policy allows)\n"
             "      --pull string              Pull image before creating (\"missing\", \"never\"; berth never pulls)\n"
             "      --read-only                Mount the container's root filesystem as read only\n"
             "      --restart string           Restart policy to apply when a container exits (default \"no\")\n"
             "      --rm                       Automatically remove the container when it exits\n"
             "      --security-opt list        Security Options (seccomp=FILE, seccomp=unconfined,\n"
             "                                 no-new-privileges)\n"
             "      --stop-signal string       Signal to stop the container\n"
             "      --stop-timeout int         Timeout (in seconds) to stop a container\n"
             "  -t, --tty                      Allocate a pseudo-TTY\n"
             "      --ulimit ulimit            Ulimit options (nofile=1024:2048)\n"
             "  -u, --user string              Username or UID (format: <name|uid>[:<group|gid>])\n"
             "  -w, --workdir string           Working directory inside the container\n",
  .run = run_create,
  .aliases = "berth container create, berth create",
};

/* ---------------- start ---------------- */

static int run_start(cli_ctx_t *ctx, int argc, char **argv) {
  bool attach = false, interactive = false;
  const char *detach_keys = NULL;
  cli_strv_t names = { 0 };
  const cli_opt_t opts[] = {
    { 'a', "attach", CLI_OPT_BOOL, &attach, NULL, NULL },
    { 0, "detach-keys", CLI_OPT_STRING, &detach_keys, NULL, NULL },
    { 'i', "interactive", CLI_OPT_BOOL, &interactive, NULL, NULL },
    END_OPT,
  };
  int r = cli_parse_args(ctx, &cli_cmd_start, opts, argc, argv, &names);
  if (r < 0)
    r = cli_check_args(ctx, &cli_cmd_start, &names, 1, -1);
  if (r >= 0)
    goto out;
  berth_error_t err = NULL;
  if (attach || interactive) {
    if (names.n > 1) {
      fprintf(stderr, "you cannot start and attach multiple containers at once\n");
      r = CLI_EXIT_ERROR;
      goto out;
    }
    json_object *c = NULL;
    if (cli_ctr_inspect(ctx, names.v[0], &c, &err) < 0) {
      r = cli_fail(&err);
      goto out;
    }
    json_object *cfg = cli_json_get(c, "Config");
    char id[72];
    snprintf(id, sizeof id, "%s", cli_json_str(c, "Id") ?: names.v[0]);
    session_t s = {
      .id = id, .tty = cli_json_bool(cfg, "Tty"), .in = interactive && cli_json_bool(cfg, "OpenStdin"),
      .out = true, .errs = true, .sig_proxy = true,
      .auto_remove = cli_json_bool(cli_json_get(c, "HostConfig"), "AutoRemove"),
    };
    json_object_put(c);
    r = attached_start(ctx, &s);
    goto out;
  }
  /* As docker: each one started in turn, its name printed; failures listed at the end. */
  char *failed = NULL;
  for (size_t i = 0; i < names.n; i++) {
    if (start(ctx, names.v[i], &err) < 0) {
      fprintf(stderr, "%s\n", err->msg);
      berth_error_release(&err);
      char *f = NULL;
      if (asprintf(&f, "%s%s%s", failed ? failed : "", failed ? ", " : "", names.v[i]) >= 0) {
        free(failed);
        failed = f;
      }
      continue;
    }
    printf("%s\n", names.v[i]);
    fflush(stdout);
  }
  r = 0;
  if (failed) {
    fprintf(stderr, "Error: failed to start containers: %s\n", failed);
    free(failed);
    r = CLI_EXIT_ERROR;
  }
out:
  cli_strv_free(&names);
  return r;
}

const cli_command_t cli_cmd_start = {
  .name = "start",
  .summary = "Start one or more stopped containers",
  .usage = "[OPTIONS] CONTAINER [CONTAINER...]",
  .options = "  -a, --attach               Attach STDOUT/STDERR and forward signals\n"
             "      --detach-keys string   Accepted for docker compatibility (ignored)\n"
             "  -h, --help                 Print usage\n"
             "  -i, --interactive          Attach container's STDIN\n",
  .run = run_start,
  .aliases = "berth container start, berth start",
};

/* ---------------- attach ---------------- */

static int run_attach(cli_ctx_t *ctx, int argc, char **argv) {
  bool no_stdin = false, sig_proxy = true;
  const char *detach_keys = NULL;
  cli_strv_t names = { 0 };
  const cli_opt_t opts[] = {
    { 0, "detach-keys", CLI_OPT_STRING, &detach_keys, NULL, NULL },
    { 0, "no-stdin", CLI_OPT_BOOL, &no_stdin, NULL, NULL },
    { 0, "sig-proxy", CLI_OPT_BOOL, &sig_proxy, NULL, NULL },
    END_OPT,
  };
  int r = cli_parse_args(ctx, &cli_cmd_attach, opts, argc, argv, &names);
  if (r < 0)
    r = cli_check_args(ctx, &cli_cmd_attach, &names, 1, 1);
  if (r >= 0) {
    cli_strv_free(&names);
    return r;
  }
  berth_error_t err = NULL;
  int wfd = -1, afd = -1;
  cli_http_head_t whead = { 0 }, ahead = { 0 };
  json_object *c = NULL;
  char *name = strdup(names.v[0]);
  cli_strv_free(&names);
  if (name == NULL || cli_wait_open(ctx, name, NULL, &wfd, &whead, &err) < 0 ||
      cli_ctr_inspect(ctx, name, &c, &err) < 0) {
    if (wfd >= 0) {
      cli_http_head_free(&whead);
      close(wfd);
    }
    free(name);
    return err ? cli_fail(&err) : CLI_EXIT_ERROR;
  }
  json_object *cfg = cli_json_get(c, "Config"), *state = cli_json_get(c, "State");
  bool tty = cli_json_bool(cfg, "Tty"), in = !no_stdin && cli_json_bool(cfg, "OpenStdin");
  r = -1;
  if (!cli_json_bool(state, "Running")) {
    fprintf(stderr, "You cannot attach to a stopped container, start it first\n");
    r = CLI_EXIT_ERROR;
  } else if (cli_json_bool(state, "Paused")) {
    fprintf(stderr, "You cannot attach to a paused container, unpause it first\n");
    r = CLI_EXIT_ERROR;
  } else if (tty && in && !isatty(STDIN_FILENO)) {
    fprintf(stderr, "the input device is not a TTY\n");
    r = CLI_EXIT_ERROR;
  } else if (attach_open(ctx, name, in, true, true, &afd, &ahead, &err) < 0) {
    r = cli_fail(&err);
  }
  if (r >= 0) {
    json_object_put(c);
    cli_http_head_free(&whead);
    close(wfd);
    free(name);
    return r;
  }
  char id[72];
  snprintf(id, sizeof id, "%s", cli_json_str(c, "Id") ?: name);
  json_object_put(c);
  free(name);
  cli_attach_t a = {
    .ctx = ctx, .id = id, .fd = afd, .pre = ahead.extra, .pre_len = ahead.extra_len, .tty = tty,
    .stdin_attached = in, .sig_proxy = sig_proxy && !tty, .resize = tty && isatty(STDOUT_FILENO),
  };
  if (cli_attach_begin(&a, &err) < 0) {
    r = cli_fail(&err);
  } else {
    if (a.resize)
      cli_attach_resize(ctx, id);
    r = cli_attach_run(&a, &err);
    cli_attach_end(&a);
    close(afd);
    afd = -1;
    if (r < 0) {
      fprintf(stderr, "%s\n", err->msg);
      berth_error_release(&err);
    }
  }
  cli_http_head_free(&ahead);
  if (afd >= 0)
    close(afd);
  return cli_wait_result(wfd, &whead);
}

const cli_command_t cli_cmd_attach = {
  .name = "attach",
  .summary = "Attach local standard input, output, and error streams to a running container",
  .usage = "[OPTIONS] CONTAINER",
  .options = "      --detach-keys string   Accepted for docker compatibility (ignored)\n"
             "  -h, --help                 Print usage\n"
             "      --no-stdin             Do not attach STDIN\n"
             "      --sig-proxy            Proxy all received signals to the process (default true)\n",
  .run = run_attach,
  .aliases = "berth container attach, berth attach",
};
