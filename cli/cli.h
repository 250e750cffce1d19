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
  char cmd_path[64];     /* the command as invoked, for help and usage errors: "images", "image ls" */
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

/* Negotiates, then sends METHOD /v<api><path> (path includes the query)
 * with no body and no overall timeout (an image operation may take long).
 * Any HTTP status is returned in resp. */
int cli_api(cli_ctx_t *ctx, const char *method, const char *path, cli_response_t *resp, berth_error_t *err);
/* cli_api, then a 2xx reply's body parsed as JSON (*out); other statuses
 * become "Error response from daemon: <message>". */
int cli_api_json(cli_ctx_t *ctx, const char *method, const char *path, json_object **out, berth_error_t *err);
/* "/images/<name, escaped>/<suffix>" (suffix "" or "/json", "/history"...).
 * Caller frees; NULL when out of memory. */
char *cli_image_path(const char *name, const char *suffix);
/* "Error response from daemon: <message of the JSON body>"; returns < 0. */
int cli_daemon_error(const cli_response_t *resp, berth_error_t *err);
/* "/v1.41" + path into a new string (NULL when out of memory). */
char *cli_api_url_path(const cli_ctx_t *ctx, const char *path);

/* For streaming transfers (transfer.c): a curl handle set up for the
 * engine's socket and http://localhost<path>, no overall timeout. */
void *cli_curl_new(cli_ctx_t *ctx, const char *path, char *errbuf);
/* A failed curl_easy_perform as a berth error ("cannot connect to berth at ..."). */
int cli_transport_error(cli_ctx_t *ctx, void *curl, int curl_code, const char *errbuf, berth_error_t *err);

/* ---- output.c ---- */

typedef struct cli_table cli_table_t;
cli_table_t *cli_table_new(size_t ncols, const char *const *headers);
/* Adds a row of ncols strings (copied). */
void cli_table_add(cli_table_t *t, const char *const *cells);
/* Every column but the last at least this wide, padding included (the
 * docker CLI's tabwriter uses 10). Default 0. */
void cli_table_set_minwidth(cli_table_t *t, size_t minwidth);
/* The table as text: columns padded to the widest cell (in characters, not
 * bytes) plus 3 spaces, the last column unpadded, each line prefixed with
 * indent. Caller frees; NULL when out of memory. Does not free the table. */
char *cli_table_render(const cli_table_t *t, const char *indent);
void cli_table_free(cli_table_t *t);
/* Renders to stdout and frees the table. */
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

/* ---- format.c: pure formatting, as the docker CLI formats (unit-tested) ---- */

/* go-units HumanSizeWithPrecision: decimal units, "%.*g": 4.26MB, 512B, 1.2kB. */
void cli_human_size(double bytes, int precision, char *buf, size_t len);
/* go-units HumanDuration of a number of seconds: "Less than a second",
 * "About a minute", "3 hours", "2 weeks", ... */
void cli_human_duration(double seconds, char *buf, size_t len);
/* "<duration> ago" of a unix time relative to now. */
void cli_created_since(int64_t created, int64_t now, char *buf, size_t len);
/* stringid.TruncateID: drops "sha256:" (anything up to the first ':') and
 * keeps 12 characters. */
void cli_truncate_id(const char *id, char *buf, size_t len);
/* Ellipsis: s cut to max characters with the last one replaced by U+2026
 * when longer. Caller frees. */
char *cli_ellipsis(const char *s, size_t max);
/* Number of characters (UTF-8 code points) in s. */
size_t cli_utf8_width(const char *s);
/* Percent-encodes everything but unreserved characters (and, when
 * path is true, '/', ':' and '@', so image names stay readable in paths as
 * the docker CLI sends them). Caller frees. */
char *cli_url_escape(const char *s, bool path);
/* Docker's JSON indentation (Go's json.Indent): whitespace outside strings
 * dropped, one element per line, indent repeated per level, "key": value,
 * empty {} and [] kept together. Caller frees. */
char *cli_json_indent(const char *json, const char *indent);

/* A list of strings (pointers owned elsewhere, e.g. argv). */
typedef struct {
  size_t n;
  const char **v;
} cli_strv_t;
int cli_strv_push(cli_strv_t *l, const char *s);
void cli_strv_free(cli_strv_t *l);

/* Checks one --filter argument ("name=value"); false when it has no '='. */
bool cli_filter_valid(const char *arg);
/* Docker's filter map form from "name=value" arguments plus an optional
 * extra pair (extra_name NULL for none): {"dangling":{"true":true},...},
 * names lowercased, names and values trimmed, keys sorted as Go's encoder
 * sorts map keys. Caller frees; NULL when out of memory. */
char *cli_filters_json(const cli_strv_t *filters, const char *extra_name, const char *extra_value);

/* One line of a progress bar, like docker's:
 *   "Loading  [=====>          ]  1.23MB/4.26MB" (total > 0)
 *   "Saving   12.3MB"                             (total < 0: unknown)
 * fitted to cols columns. */
void cli_progress_format(char *buf, size_t len, const char *label, uint64_t done, int64_t total, int cols);

/* ---- image_tables.c: the rows of `images` and `history` (cli_row_t: template.h) ---- */

/* No tags and no digests (or only "<none>:<none>" / "<none>@<none>"). */
bool cli_image_dangling(json_object *img);
typedef void (*cli_image_row_fn)(void *ud, json_object *img, const char *repo, const char *tag, const char *digest);
/* The rows `docker images` shows for one image of GET /images/json: one per
 * repository:tag (per digest too with show_digests), "<none>" for dangling
 * images, repositories known only by digest last (a row per digest with
 * digest_rows, else one with digest ""). */
void cli_image_rows(json_object *img, bool show_digests, bool digest_rows, cli_image_row_fn fn, void *ud);
/* Go's time.Time.String() in local time: "2024-05-01 10:00:00 +0200 CEST". */
void cli_go_time_string(int64_t t, char *buf, size_t len);
/* Go's time.Format(time.RFC3339) in local time: "2024-05-01T10:00:00+02:00". */
void cli_rfc3339_local(int64_t t, char *buf, size_t len);

/* ---- progress.c: a progress bar on stderr when it is a terminal ---- */

typedef struct {
  bool enabled, drawn;
  const char *label;
  int64_t total;     /* < 0: unknown */
  uint64_t done;
  int64_t last_ms;   /* monotonic time of the last draw */
} cli_progress_t;
/* enabled only when asked for and stderr is a terminal. */
void cli_progress_init(cli_progress_t *p, const char *label, int64_t total, bool want);
/* Redraws at most 10 times a second. */
void cli_progress_update(cli_progress_t *p, uint64_t done);
/* Erases the bar (before other output goes to the terminal). */
void cli_progress_clear(cli_progress_t *p);
/* Draws the final state and ends the line (when success), or erases it. */
void cli_progress_end(cli_progress_t *p, bool success);

/* ---- cmd_load_save.c: streamed image transfers ---- */

/* Set by SIGINT/SIGTERM during a transfer: the transfer stops and cleans up. */
extern volatile int cli_interrupted;
void cli_catch_interrupts(void);

/* ---- commands (cmd_*.c) ---- */

typedef struct {
  const char *name;
  const char *summary;
  const char *usage;   /* after "berth NAME" */
  const char *options; /* help text of its options */
  int (*run)(cli_ctx_t *ctx, int argc, char **argv);
  const char *aliases; /* other names, shown in its help ("berth image ls, berth images") */
} cli_command_t;

extern const cli_command_t cli_cmd_version;
extern const cli_command_t cli_cmd_info;
extern const cli_command_t cli_cmd_images, cli_cmd_image_inspect, cli_cmd_history;
extern const cli_command_t cli_cmd_load, cli_cmd_save;
extern const cli_command_t cli_cmd_tag, cli_cmd_rmi, cli_cmd_image_prune;
extern const cli_command_t cli_cmd_image; /* the "image" management command */

/* A management command's subcommand ("image ls", "container rm"). */
typedef struct {
  const char *name;
  const cli_command_t *cmd;
  bool listed; /* shown in the help (aliases are not) */
} cli_subcommand_t;

/* Runs `berth GROUP SUB ...` from subs (NULL-name terminated): help for none,
 * -h or --help, a usage error for an unknown flag or subcommand. */
int cli_run_group(cli_ctx_t *ctx, int argc, char **argv, const char *group, const char *what,
                  const cli_subcommand_t *subs);

/* Parses the options of version and info (-f/--format, -h/--help); returns
 * -1 to go on, otherwise the exit code to return now (help printed, usage
 * error, or a template that does not parse: checked before any request, as
 * docker's, its messages naming the template tpl_name). Positional
 * arguments are refused. "json", "table" and "" set the output mode and
 * leave *format NULL; a template is left in *format. */
int cli_parse_format_options(cli_ctx_t *ctx, const cli_command_t *cmd, const char *tpl_name, int argc, char **argv,
                             const char **format);
void cli_print_command_help(const cli_ctx_t *ctx, const cli_command_t *cmd, FILE *out);
/* Reports an error on stderr and returns CLI_EXIT_ERROR. */
int cli_fail(berth_error_t *err);
/* "what\nSee 'berth CMD --help'." on stderr; returns CLI_EXIT_USAGE. */
int cli_usage_error(const cli_ctx_t *ctx, const char *what);
/* --format VALUE: sets ctx->json; -1 to go on, else the exit code. */
int cli_set_format(cli_ctx_t *ctx, const char *value);

/* ---- args.c: options as the docker CLI (pflag) takes them ---- */

typedef enum {
  CLI_OPT_BOOL,   /* bool *: -q, --quiet, --quiet=false, combined -qa */
  CLI_OPT_STRING, /* const char **: -o FILE, -oFILE, -o=FILE, --output FILE, --output=FILE */
  CLI_OPT_LIST,   /* cli_strv_t *: repeatable string */
  CLI_OPT_FORMAT, /* --format json|table (target unused: sets ctx->json) */
} cli_opt_kind_t;

typedef struct {
  char short_name; /* 0: none */
  const char *long_name;
  cli_opt_kind_t kind;
  void *target;
  bool (*check)(const char *value); /* optional validation of a LIST value */
  const char *check_error;          /* message when check fails */
} cli_opt_t;

/* Parses argv[1..] against opts (terminated by an entry with long_name
 * NULL); options and positional arguments may be mixed, "--" ends the
 * options. -h/--help prints the command's help. Positional arguments go to
 * pos. Returns -1 to go on, otherwise the exit code to return now. */
int cli_parse_args(cli_ctx_t *ctx, const cli_command_t *cmd, const cli_opt_t *opts, int argc, char **argv,
                   cli_strv_t *pos);
/* As cli_parse_args, but options end at the first positional argument
 * (docker run IMAGE COMMAND -x: "-x" belongs to COMMAND). */
int cli_parse_args_head(cli_ctx_t *ctx, const cli_command_t *cmd, const cli_opt_t *opts, int argc, char **argv,
                        cli_strv_t *pos);
/* "invalid argument \"V\" for \"-m, --memory\" flag: WHY" as a usage error (125). */
int cli_bad_value(cli_ctx_t *ctx, const cli_opt_t *o, const char *value, const char *why);
/* Checks the number of positional arguments (max < 0: no limit), with the
 * docker CLI's messages; -1 to go on, else CLI_EXIT_USAGE. */
int cli_check_args(cli_ctx_t *ctx, const cli_command_t *cmd, const cli_strv_t *pos, int min, int max);
