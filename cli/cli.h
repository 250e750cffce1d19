/* The berth CLI: shared state and the pieces main.c wires together. */
#pragma once
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "error.h"

#define CLI_API_VERSION "1.41"          /* the highest API version this CLI speaks */
#define CLI_DEFAULT_HOST "unix:///run/berth/berth.sock"

/* Exit codes as the docker CLI uses them. */
#define CLI_EXIT_ERROR 1
#define CLI_EXIT_USAGE 125

typedef struct {
  char *host;            /* unix:///path (from -H, BERTH_HOST or the default), for messages */
  char *socket_path;     /* the unix socket it names */
  bool json;             /* --format json */
  char api_version[16];  /* negotiated with HEAD /_ping */
  char server_api_version[16]; /* Api-Version header of the ping */
  char server_header[128];
  bool negotiated;
} cli_ctx_t;

/* ---- client.c: HTTP over the unix socket (libcurl) ---- */

/* Accepts "unix:///path" or "/path". Fills ctx->socket_path. */
int cli_set_host(cli_ctx_t *ctx, const char *host, berth_error_t *err);

typedef struct {
  long status;
  char *body;  /* NUL-terminated, may be empty */
  size_t len;
} cli_response_t;

/* One request; path is used as given (no version prefix). A transport
 * failure is an error ("cannot connect to berth at ..."); any HTTP status
 * is returned in resp. */
int cli_http(cli_ctx_t *ctx, const char *method, const char *path, cli_response_t *resp, berth_error_t *err);
void cli_response_free(cli_response_t *resp);

/* HEAD /_ping (GET as fallback) and pick the API version: the server's if
 * lower than ours. Done once; later calls return at once. */
int cli_negotiate(cli_ctx_t *ctx, berth_error_t *err);

/* GET /v<api>/<path> (or `path` as is when it starts with "/berth/"), and
 * parse the JSON body. Non-2xx statuses become "Error response from daemon: <message>". */
int cli_get_json(cli_ctx_t *ctx, const char *path, json_object **out, berth_error_t *err);

/* ---- output.c ---- */

typedef struct cli_table cli_table_t;
cli_table_t *cli_table_new(size_t ncols, const char *const *headers);
/* Adds a row of ncols strings (copied). */
void cli_table_add(cli_table_t *t, const char *const *cells);
/* Prints with columns padded to the widest cell plus 3 spaces, each line
 * prefixed with indent. Frees the table. */
void cli_table_print(cli_table_t *t, const char *indent);

void cli_print_json(json_object *o);
/* Human-readable size in binary units, like docker ("23.54GiB"). */
void cli_format_bytes(double bytes, char *buf, size_t len);
/* RFC 3339 time -> "Fri Nov 27 23:46:20 2026" (as docker shows it); raw copy if unparsable. */
void cli_format_time(const char *rfc3339, char *buf, size_t len);

/* Small json-c accessors that tolerate missing or mistyped fields. */
const char *cli_json_str(json_object *o, const char *key);
int64_t cli_json_int(json_object *o, const char *key);
bool cli_json_bool(json_object *o, const char *key);
json_object *cli_json_get(json_object *o, const char *key);

/* "linux/amd64" naming as Go does. */
const char *cli_goarch(void);

/* ---- commands (cmd_*.c) ---- */

typedef struct {
  const char *name;
  const char *summary;
  const char *usage;   /* after "berth NAME" */
  const char *options; /* help text of its options */
  int (*run)(cli_ctx_t *ctx, int argc, char **argv);
} cli_command_t;

extern const cli_command_t cli_cmd_version;
extern const cli_command_t cli_cmd_info;

/* Parses a command's own options (-f/--format, -h/--help); returns -1 to go
 * on, otherwise the exit code to return now (help printed, or usage error).
 * Positional arguments are refused (no command takes any yet). */
int cli_parse_command_options(cli_ctx_t *ctx, const cli_command_t *cmd, int argc, char **argv);
void cli_print_command_help(const cli_command_t *cmd, FILE *out);
/* Reports an error on stderr and returns CLI_EXIT_ERROR. */
int cli_fail(berth_error_t *err);
