/* HTTP to the engine over its unix socket with libcurl, the way the docker
 * CLI does it: HEAD /_ping to learn the API version, then /v1.NN/... */
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "berth.h"
#include "cli.h"

int cli_set_host(cli_ctx_t *ctx, const char *host, berth_error_t *err) {
  const char *path = NULL;
  if (strncmp(host, "unix://", 7) == 0)
    path = host + 7;
  else if (host[0] == '/')
    path = host;
  else
    return berth_error_make(err, EINVAL,
                            "invalid host '%s': berth listens on a unix socket (unix:///path/to/berth.sock or a path)",
                            host);
  if (path[0] != '/')
    return berth_error_make(err, EINVAL, "invalid host '%s': the socket path must be absolute", host);
  free(ctx->socket_path);
  free(ctx->host);
  ctx->socket_path = strdup(path);
  /* Messages always name it as unix:///path, whichever way it was given. */
  if (ctx->socket_path == NULL || asprintf(&ctx->host, "unix://%s", path) < 0) {
    ctx->host = NULL;
    return berth_error_make(err, ENOMEM, "out of memory");
  }
  return 0;
}

typedef struct {
  cli_response_t *resp;
  cli_ctx_t *ctx;
  bool oom;
} sink_t;

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata) {
  sink_t *s = userdata;
  size_t n = size * nmemb;
  char *p = realloc(s->resp->body, s->resp->len + n + 1);
  if (p == NULL) {
    s->oom = true;
    return 0;
  }
  memcpy(p + s->resp->len, data, n);
  s->resp->len += n;
  p[s->resp->len] = '\0';
  s->resp->body = p;
  return n;
}

/* Copies the value of "Name: value\r\n" into buf when the name matches. */
static void header_value(const char *line, size_t n, const char *name, char *buf, size_t len) {
  size_t nl = strlen(name);
  if (n <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
    return;
  const char *v = line + nl + 1;
  const char *end = line + n;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
    end--;
  size_t vl = (size_t)(end - v) < len - 1 ? (size_t)(end - v) : len - 1;
  memcpy(buf, v, vl);
  buf[vl] = '\0';
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *userdata) {
  sink_t *s = userdata;
  size_t n = size * nmemb;
  header_value(data, n, "Api-Version", s->ctx->server_api_version, sizeof s->ctx->server_api_version);
  header_value(data, n, "Server", s->ctx->server_header, sizeof s->ctx->server_header);
  return n;
}

int cli_transport_error(cli_ctx_t *ctx, void *curl, int rc, const char *errbuf, berth_error_t *err) {
  long os_errno = 0;
  curl_easy_getinfo(curl, CURLINFO_OS_ERRNO, &os_errno);
  if (rc == CURLE_COULDNT_CONNECT || rc == CURLE_COULDNT_RESOLVE_HOST) {
    const char *reason = os_errno ? strerror((int)os_errno) : (errbuf[0] ? errbuf : curl_easy_strerror((CURLcode)rc));
    const char *hint = (os_errno == EACCES || os_errno == EPERM)
                           ? "only the socket's owner and group may use it (try as root)"
                           : "is berth running? (systemctl start berth.socket)";
    return berth_error_make(err, os_errno ? (int)os_errno : ECONNREFUSED, "cannot connect to berth at %s: %s; %s",
                            ctx->host, reason, hint);
  }
  return berth_error_make(err, EIO, "error talking to berth at %s: %s", ctx->host,
                          errbuf[0] ? errbuf : curl_easy_strerror((CURLcode)rc));
}

void *cli_curl_new(cli_ctx_t *ctx, const char *path, char *errbuf) {
  CURL *curl = curl_easy_init();
  char *url = NULL;
  if (curl == NULL || asprintf(&url, "http://localhost%s", path) < 0) {
    if (curl)
      curl_easy_cleanup(curl);
    return NULL;
  }
  errbuf[0] = '\0';
  curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, ctx->socket_path);
  curl_easy_setopt(curl, CURLOPT_URL, url); /* libcurl keeps its own copy */
  free(url);
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "berth-cli/" BERTH_VERSION_STRING " (linux)");
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, 10L);
  return curl;
}

static int http(cli_ctx_t *ctx, const char *method, const char *path, long timeout, cli_response_t *resp,
                berth_error_t *err) {
  memset(resp, 0, sizeof *resp);
  char errbuf[CURL_ERROR_SIZE];
  CURL *curl = cli_curl_new(ctx, path, errbuf);
  if (curl == NULL)
    return berth_error_make(err, ENOMEM, "curl_easy_init failed");
  sink_t sink = { .resp = resp, .ctx = ctx };

  curl_easy_setopt(curl, CURLOPT_TIMEOUT, timeout);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &sink);
  if (strcmp(method, "HEAD") == 0)
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  else if (strcmp(method, "GET") != 0)
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);

  CURLcode rc = curl_easy_perform(curl);
  int r = 0;
  if (sink.oom)
    r = berth_error_make(err, ENOMEM, "out of memory reading the reply");
  else if (rc != CURLE_OK)
    r = cli_transport_error(ctx, curl, rc, errbuf, err);
  else
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
  curl_easy_cleanup(curl);
  if (r < 0)
    cli_response_free(resp);
  else if (resp->body == NULL && (resp->body = strdup("")) == NULL)
    r = berth_error_make(err, ENOMEM, "out of memory");
  return r;
}

int cli_http(cli_ctx_t *ctx, const char *method, const char *path, cli_response_t *resp, berth_error_t *err) {
  return http(ctx, method, path, 120L, resp, err);
}

void cli_response_free(cli_response_t *resp) {
  free(resp->body);
  resp->body = NULL;
  resp->len = 0;
}

/* "1.41" -> 41 (only 1.x exists); -1 when malformed. */
static int minor_version(const char *v) {
  if (strncmp(v, "1.", 2) != 0)
    return -1;
  char *end;
  long m = strtol(v + 2, &end, 10);
  return (end == v + 2 || *end != '\0' || m < 0 || m > 1000) ? -1 : (int)m;
}

int cli_negotiate(cli_ctx_t *ctx, berth_error_t *err) {
  if (ctx->negotiated)
    return 0;
  cli_response_t resp;
  ctx->server_api_version[0] = '\0';
  if (cli_http(ctx, "HEAD", "/_ping", &resp, err) < 0)
    return -1;
  if (resp.status != 200) { /* as the docker CLI: fall back to GET */
    cli_response_free(&resp);
    if (cli_http(ctx, "GET", "/_ping", &resp, err) < 0)
      return -1;
  }
  cli_response_free(&resp);
  snprintf(ctx->api_version, sizeof ctx->api_version, "%s", CLI_API_VERSION);
  int theirs = minor_version(ctx->server_api_version), ours = minor_version(CLI_API_VERSION);
  if (theirs >= 0 && theirs < ours)
    snprintf(ctx->api_version, sizeof ctx->api_version, "1.%d", theirs);
  ctx->negotiated = true;
  return 0;
}

int cli_daemon_error(const cli_response_t *resp, berth_error_t *err) {
  const char *msg = NULL;
  json_object *o = json_tokener_parse(resp->body);
  if (o != NULL)
    msg = cli_json_str(o, "message");
  int r = berth_error_make(err, EIO, "Error response from daemon: %s",
                           msg ? msg : (resp->len ? resp->body : "(no message)"));
  json_object_put(o);
  return r;
}

int cli_get_json(cli_ctx_t *ctx, const char *path, json_object **out, berth_error_t *err) {
  if (cli_negotiate(ctx, err) < 0)
    return -1;
  char full[512];
  if (strncmp(path, "/berth/", 7) == 0)
    snprintf(full, sizeof full, "%s", path);
  else
    snprintf(full, sizeof full, "/v%s%s", ctx->api_version, path);
  cli_response_t resp;
  if (cli_http(ctx, "GET", full, &resp, err) < 0)
    return -1;
  int r = 0;
  if (resp.status < 200 || resp.status > 299) {
    r = cli_daemon_error(&resp, err);
  } else {
    enum json_tokener_error jerr = json_tokener_success;
    *out = json_tokener_parse_verbose(resp.body, &jerr);
    if (*out == NULL)
      r = berth_error_make(err, EBADMSG, "GET %s: the engine sent no valid JSON (%s)", full,
                           json_tokener_error_desc(jerr));
  }
  cli_response_free(&resp);
  return r;
}

char *cli_api_url_path(const cli_ctx_t *ctx, const char *path) {
  char *full = NULL;
  if (asprintf(&full, "/v%s%s", ctx->api_version[0] ? ctx->api_version : CLI_API_VERSION, path) < 0)
    return NULL;
  return full;
}

int cli_api(cli_ctx_t *ctx, const char *method, const char *path, cli_response_t *resp, berth_error_t *err) {
  memset(resp, 0, sizeof *resp);
  if (cli_negotiate(ctx, err) < 0)
    return -1;
  char *full = cli_api_url_path(ctx, path);
  if (full == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  int r = http(ctx, method, full, 0L, resp, err);
  free(full);
  return r;
}

int cli_api_json(cli_ctx_t *ctx, const char *method, const char *path, json_object **out, berth_error_t *err) {
  cli_response_t resp;
  *out = NULL;
  if (cli_api(ctx, method, path, &resp, err) < 0)
    return -1;
  int r = 0;
  if (resp.status < 200 || resp.status > 299) {
    r = cli_daemon_error(&resp, err);
  } else {
    enum json_tokener_error jerr = json_tokener_success;
    *out = json_tokener_parse_verbose(resp.body, &jerr);
    if (*out == NULL)
      r = berth_error_make(err, EBADMSG, "%s %s: the engine sent no valid JSON (%s)", method, path,
                           json_tokener_error_desc(jerr));
  }
  cli_response_free(&resp);
  return r;
}

char *cli_image_path(const char *name, const char *suffix) {
  char *esc = cli_url_escape(name, true), *path = NULL;
  if (esc && asprintf(&path, "/images/%s%s", esc, suffix) < 0)
    path = NULL;
  free(esc);
  return path;
}
