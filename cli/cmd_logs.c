/* berth logs: GET /containers/{name}/json (to learn whether it has a TTY),
 * then GET /containers/{id}/logs?follow=1&since=&stderr=1&stdout=1&tail=all&timestamps=1&until=
 * streamed: demultiplexed to stdout and stderr without a TTY, raw with one.
 * With -f the engine ends the stream when the container exits. */
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "ctr.h"

#define END_OPT { 0, NULL, 0, NULL, NULL, NULL }

typedef struct {
  CURL *curl;
  bool tty, checked, ok, broken;
  cli_demux_t demux;
  cli_response_t error; /* a non-2xx answer's body */
  bool bad_frame;
} sink_t;

static int out(void *ud, int stream, const char *p, size_t n) {
  sink_t *s = ud;
  FILE *f = stream == 2 ? stderr : stdout;
  if (!s->broken && (fwrite(p, 1, n, f) != n || fflush(f) != 0))
    s->broken = true; /* a closed pipe: stop */
  return s->broken ? -EPIPE : 0;
}

static size_t on_data(char *data, size_t size, size_t nmemb, void *ud) {
  sink_t *s = ud;
  size_t n = size * nmemb;
  if (!s->checked) {
    long status = 0;
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &status);
    s->error.status = status;
    s->ok = status >= 200 && status <= 299;
    s->checked = true;
  }
  if (!s->ok) {
    if (s->error.len + n > (1 << 20))
      return 0;
    char *p = realloc(s->error.body, s->error.len + n + 1);
    if (p == NULL)
      return 0;
    memcpy(p + s->error.len, data, n);
    s->error.len += n;
    p[s->error.len] = '\0';
    s->error.body = p;
    return n;
  }
  int r = s->tty ? out(s, 1, data, n) : cli_demux_feed(&s->demux, data, n, out, s);
  if (r == -EBADMSG)
    s->bad_frame = true;
  return r < 0 ? 0 : n;
}

/* Appends "&key=escaped(value)". */
static int add_param(char **q, const char *key, const char *value) {
  char *esc = cli_url_escape(value, false), *n = NULL;
  if (esc == NULL || asprintf(&n, "%s%s%s=%s", *q, **q ? "&" : "", key, esc) < 0) {
    free(esc);
    return -1;
  }
  free(esc);
  free(*q);
  *q = n;
  return 0;
}

static int run_logs(cli_ctx_t *ctx, int argc, char **argv) {
  bool follow = false, timestamps = false, details = false;
  const char *since = NULL, *until = NULL, *tail = "all";
  cli_strv_t pos = { 0 };
  const cli_opt_t opts[] = {
    { 0, "details", CLI_OPT_BOOL, &details, NULL, NULL },
    { 'f', "follow", CLI_OPT_BOOL, &follow, NULL, NULL },
    { 0, "since", CLI_OPT_STRING, &since, NULL, NULL },
    { 'n', "tail", CLI_OPT_STRING, &tail, NULL, NULL },
    { 't', "timestamps", CLI_OPT_BOOL, &timestamps, NULL, NULL },
    { 0, "until", CLI_OPT_STRING, &until, NULL, NULL },
    END_OPT,
  };
  int r = cli_parse_args(ctx, &cli_cmd_logs, opts, argc, argv, &pos);
  if (r < 0)
    r = cli_check_args(ctx, &cli_cmd_logs, &pos, 1, 1);
  char s_since[64] = "", s_until[64] = "";
  int64_t now = (int64_t)time(NULL);
  if (r < 0 && since && !cli_parse_timestamp(since, now, s_since, sizeof s_since)) {
    fprintf(stderr, "failed to parse value as time or duration: \"%s\"\n", since);
    r = CLI_EXIT_ERROR;
  }
  if (r < 0 && until && !cli_parse_timestamp(until, now, s_until, sizeof s_until)) {
    fprintf(stderr, "failed to parse value as time or duration: \"%s\"\n", until);
    r = CLI_EXIT_ERROR;
  }
  char *name = r < 0 ? strdup(pos.v[0]) : NULL;
  cli_strv_free(&pos);
  if (r >= 0)
    return r;
  berth_error_t err = NULL;
  json_object *c = NULL;
  if (name == NULL || cli_ctr_inspect(ctx, name, &c, &err) < 0) {
    free(name);
    return err ? cli_fail(&err) : CLI_EXIT_ERROR;
  }
  free(name);
  sink_t s = { .tty = cli_json_bool(cli_json_get(c, "Config"), "Tty") };
  char *base = cli_ctr_path(cli_json_str(c, "Id") ?: "", "/logs"), *q = strdup(""), *path = NULL, *full = NULL;
  json_object_put(c);
  bool oom = base == NULL || q == NULL;
  /* Go's url.Values.Encode order: details, follow, since, stderr, stdout, tail, timestamps, until. */
  if (!oom && details)
    oom = add_param(&q, "details", "1") < 0;
  if (!oom && follow)
    oom = add_param(&q, "follow", "1") < 0;
  if (!oom && s_since[0])
    oom = add_param(&q, "since", s_since) < 0;
  if (!oom)
    oom = add_param(&q, "stderr", "1") < 0 || add_param(&q, "stdout", "1") < 0 || add_param(&q, "tail", tail) < 0;
  if (!oom && timestamps)
    oom = add_param(&q, "timestamps", "1") < 0;
  if (!oom && s_until[0])
    oom = add_param(&q, "until", s_until) < 0;
  if (!oom && asprintf(&path, "%s?%s", base, q) < 0)
    path = NULL;
  free(base);
  free(q);
  if (path == NULL || (full = cli_api_url_path(ctx, path)) == NULL) {
    free(path);
    fprintf(stderr, "out of memory\n");
    return CLI_EXIT_ERROR;
  }
  free(path);
  signal(SIGPIPE, SIG_IGN);
  char errbuf[CURL_ERROR_SIZE];
  s.curl = cli_curl_new(ctx, full, errbuf);
  free(full);
  if (s.curl == NULL) {
    fprintf(stderr, "out of memory\n");
    return CLI_EXIT_ERROR;
  }
  curl_easy_setopt(s.curl, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(s.curl, CURLOPT_WRITEDATA, &s);
  CURLcode rc = curl_easy_perform(s.curl);
  r = 0;
  if (s.checked && !s.ok) {
    cli_daemon_error(&s.error, &err);
    r = cli_fail(&err);
  } else if (s.bad_frame) {
    fprintf(stderr, "the engine's log stream has a frame of an unknown stream type\n");
    r = CLI_EXIT_ERROR;
  } else if (s.broken) {
    r = 0; /* the reader went away (| head): not an error */
  } else if (rc != CURLE_OK) {
    cli_transport_error(ctx, s.curl, rc, errbuf, &err);
    r = cli_fail(&err);
  } else if (!s.checked) {
    long status = 0;
    curl_easy_getinfo(s.curl, CURLINFO_RESPONSE_CODE, &status);
    if (status < 200 || status > 299) {
      s.error.status = status;
      if (s.error.body == NULL)
        s.error.body = strdup("");
      cli_daemon_error(&s.error, &err);
      r = cli_fail(&err);
    }
  }
  curl_easy_cleanup(s.curl);
  cli_response_free(&s.error);
  return r;
}

const cli_command_t cli_cmd_logs = {
  .name = "logs",
  .summary = "Fetch the logs of a container",
  .usage = "[OPTIONS] CONTAINER",
  .options = "      --details        Show extra details provided to logs\n"
             "  -f, --follow         Follow log output\n"
             "  -h, --help           Print usage\n"
             "      --since string   Show logs since timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative\n"
             "                       (e.g. \"42m\" for 42 minutes)\n"
             "  -n, --tail string    Number of lines to show from the end of the logs (default \"all\")\n"
             "  -t, --timestamps     Show timestamps\n"
             "      --until string   Show logs before a timestamp (e.g. \"2013-01-02T13:23:37Z\") or relative\n"
             "                       (e.g. \"42m\" for 42 minutes)\n",
  .run = run_logs,
  .aliases = "berth container logs, berth logs",
};
