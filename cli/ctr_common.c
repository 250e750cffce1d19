/* What the container commands share: paths, inspect, and the two requests
 * made on our own connection (hijack.c): attach (upgraded) and wait (sent
 * before start, its answer read when the container is gone). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ctr.h"

char *cli_ctr_path(const char *name, const char *suffix) {
  char *esc = cli_url_escape(name, false), *path = NULL;
  if (esc && asprintf(&path, "/containers/%s%s", esc, suffix) < 0)
    path = NULL;
  free(esc);
  return path;
}

int cli_ctr_inspect(cli_ctx_t *ctx, const char *name, json_object **out, berth_error_t *err) {
  char *path = cli_ctr_path(name, "/json");
  if (path == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  int r = cli_api_json(ctx, "GET", path, out, err);
  free(path);
  return r;
}

int cli_raw_request(cli_ctx_t *ctx, const char *method, const char *path, const char *json_body, bool upgrade,
                    int *fdp, cli_http_head_t *head, long *status, berth_error_t *err) {
  memset(head, 0, sizeof *head);
  *status = 0;
  if (cli_negotiate(ctx, err) < 0)
    return -1;
  char *full = cli_api_url_path(ctx, path);
  if (full == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  int fd = cli_unix_connect(ctx->socket_path, err);
  int r = fd < 0 ? -1 : cli_http_send(fd, method, full, json_body ? "application/json" : NULL, json_body,
                                                json_body ? strlen(json_body) : 0, upgrade, err);
  if (r == 0)
    r = cli_http_read_head(fd, head, err);
  free(full);
  if (r < 0) {
    if (fd >= 0)
      close(fd);
    return berth_error_wrap(err, "%s %s", method, path);
  }
  *status = head->status;
  if (head->status >= 400) {
    cli_response_t resp = { .status = head->status };
    if (cli_http_read_body(fd, head, 1 << 20, &resp.body, &resp.len, err) < 0)
      r = berth_error_make(err, EIO, "Error response from daemon: status %d", head->status);
    else
      r = cli_daemon_error(&resp, err);
    cli_response_free(&resp);
  } else if (upgrade && head->status != 101) {
    r = berth_error_make(err, EPROTO, "unable to upgrade to tcp, received %d", head->status);
  } else if (!upgrade && (head->status < 200 || head->status > 299)) {
    r = berth_error_make(err, EPROTO, "%s %s: unexpected status %d", method, path, head->status);
  }
  if (r < 0) {
    cli_http_head_free(head);
    close(fd);
    return r;
  }
  *fdp = fd;
  return 0;
}

int cli_raw_json(cli_ctx_t *ctx, const char *method, const char *path, json_object *body, json_object **out,
                 berth_error_t *err) {
  const char *text = body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                          : NULL;
  int fd;
  long status;
  cli_http_head_t head;
  *out = NULL;
  if (cli_raw_request(ctx, method, path, text, false, &fd, &head, &status, err) < 0)
    return -1;
  char *reply = NULL;
  size_t len;
  int r = cli_http_read_body(fd, &head, 16 << 20, &reply, &len, err);
  cli_http_head_free(&head);
  close(fd);
  if (r < 0)
    return berth_error_wrap(err, "%s %s", method, path);
  if (len > 0) {
    enum json_tokener_error jerr = json_tokener_success;
    *out = json_tokener_parse_verbose(reply, &jerr);
    if (*out == NULL)
      r = berth_error_make(err, EBADMSG, "%s %s: the engine sent no valid JSON (%s)", method, path,
                           json_tokener_error_desc(jerr));
  }
  free(reply);
  return r;
}

int cli_wait_open(cli_ctx_t *ctx, const char *id, const char *condition, int *fd, cli_http_head_t *head,
                  berth_error_t *err) {
  char *base = cli_ctr_path(id, "/wait"), *path = NULL;
  if (base && asprintf(&path, "%s%s%s", base, condition ? "?condition=" : "", condition ? condition : "") < 0)
    path = NULL;
  free(base);
  if (path == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  long status;
  int r = cli_raw_request(ctx, "POST", path, NULL, false, fd, head, &status, err);
  free(path);
  return r;
}

int cli_wait_result(int fd, cli_http_head_t *head) {
  berth_error_t err = NULL;
  char *body = NULL;
  size_t len;
  int code = 125;
  if (cli_http_read_body(fd, head, 1 << 20, &body, &len, &err) < 0) {
    fprintf(stderr, "Error waiting for container: %s\n", err->msg);
    berth_error_release(&err);
  } else {
    json_object *o = json_tokener_parse(body);
    json_object *e = cli_json_get(o, "Error");
    const char *msg = cli_json_str(e, "Message");
    if (o == NULL || cli_json_get(o, "StatusCode") == NULL)
      fprintf(stderr, "Error waiting for container: the engine's answer has no StatusCode\n");
    else if (msg && *msg)
      fprintf(stderr, "Error waiting for container: %s\n", msg);
    else
      code = (int)cli_json_int(o, "StatusCode");
    json_object_put(o);
  }
  free(body);
  cli_http_head_free(head);
  close(fd);
  return code;
}
