/* The berth CLI's container commands: the pieces they share.
 *   hijack.c     raw HTTP/1.1 on our own unix socket (attach's upgraded
 *                connection, wait's long-held response)
 *   stdcopy.c    Docker's 8-byte stream framing, demultiplexed (pure)
 *   ctr_parse.c  docker's value parsers: sizes, cpus, ulimits, env files,
 *                timestamps, JSON compaction (pure)
 *   run_body.c   run/create options -> the POST /containers/create body
 *   attach.c     an attached session: stdin/stdout/stderr over the
 *                hijacked connection, raw terminal, resize, signal proxy
 *   ctr_tables.c the rows of `ps` (pure) */
#pragma once
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "cli.h"
#include "template.h"

/* ---- hijack.c ---- */

#define CLI_HTTP_HEAD_MAX (64 * 1024) /* a response head larger than this is refused */

typedef struct {
  int status;                /* 101, 200, 404, ... */
  char reason[64];
  char content_type[128];
  int64_t content_length;    /* -1: not given */
  bool chunked;              /* Transfer-Encoding: chunked */
  bool upgraded;             /* Connection: Upgrade in a 101 */
  char *extra;               /* bytes read past the head (the stream's start) */
  size_t extra_len;
} cli_http_head_t;

/* A connected SOCK_STREAM to path (CLOEXEC). */
int cli_unix_connect(const char *path, berth_error_t *err);
/* Writes "METHOD PATH HTTP/1.1" with Host, User-Agent, Content-Length
 * (and Content-Type when body), and, when upgrade, Connection: Upgrade +
 * Upgrade: tcp, then the body. */
int cli_http_send(int fd, const char *method, const char *path, const char *content_type, const char *body,
                  size_t body_len, bool upgrade, berth_error_t *err);
/* Reads and parses the status line and headers up to the blank line (at
 * most CLI_HTTP_HEAD_MAX bytes; a malformed or oversized head is EBADMSG). */
int cli_http_read_head(int fd, cli_http_head_t *head, berth_error_t *err);
/* Reads the body that follows the head: Content-Length, chunked, or up to
 * EOF; more than max bytes is EMSGSIZE. *body is NUL-terminated. */
int cli_http_read_body(int fd, cli_http_head_t *head, size_t max, char **body, size_t *len, berth_error_t *err);
void cli_http_head_free(cli_http_head_t *head);
/* Parses a head held in buf (n bytes, up to and including the blank line). */
int cli_http_parse_head(const char *buf, size_t n, cli_http_head_t *head, berth_error_t *err);

/* Negotiates, connects, sends METHOD /v1.NN<path> and reads the head. A
 * 4xx/5xx answer becomes "Error response from daemon: <message>" (with
 * *status set); for upgrade, anything but 101 is an error. On success *fd
 * is the connection, head holds what was read past the head. */
int cli_raw_request(cli_ctx_t *ctx, const char *method, const char *path, const char *json_body, bool upgrade,
                    int *fd, cli_http_head_t *head, long *status, berth_error_t *err);
/* cli_raw_request with a JSON body (NULL: none), then the 2xx answer's
 * body parsed (*out; NULL when empty). */
int cli_raw_json(cli_ctx_t *ctx, const char *method, const char *path, json_object *body, json_object **out,
                 berth_error_t *err);

/* ---- stdcopy.c: [stream, 0, 0, 0, len32be] payload ... ---- */

typedef struct {
  unsigned char hdr[8];
  size_t hdr_len;   /* header bytes gathered so far */
  uint32_t left;    /* payload bytes of the current frame still to come */
  int stream;       /* 0 stdin, 1 stdout, 2 stderr */
} cli_demux_t;
/* Called for each payload piece with its stream (1 or 2; 0 and 3 go to 1,
 * as docker's stdcopy writes stdin echoes to stdout). Returns < 0 to stop. */
typedef int (*cli_demux_fn)(void *ud, int stream, const char *data, size_t len);
/* Feeds bytes; returns 0, the callback's negative value, or -EBADMSG for
 * a frame with an unknown stream type. */
int cli_demux_feed(cli_demux_t *d, const char *data, size_t len, cli_demux_fn fn, void *ud);
/* True when the stream ended inside a frame. */
bool cli_demux_partial(const cli_demux_t *d);

/* ---- ctr_parse.c ---- */

/* go-units RAMInBytes: "512", "64m", "1.5g", "1GiB", "2 kb"; binary units. */
int cli_parse_ram(const char *s, int64_t *out);
/* --cpus "1.5" -> 1500000000 nano CPUs; false when not a number, negative
 * or finer than 1e-9. */
bool cli_parse_nanocpus(const char *s, int64_t *out);
/* --ulimit "nofile=1024:2048" -> {"Name","Soft","Hard"}; message in why. */
json_object *cli_parse_ulimit(const char *s, char *why, size_t len);
/* An --env-file's text: "K=V" lines kept as they are, "K" alone taken from
 * the environment (dropped when unset), blank and '#' lines skipped. Adds
 * to env (strings it owns). -1 with why on a bad line. */
int cli_parse_env_file(const char *name, const char *text, size_t len, json_object *env, char *why, size_t wlen);
/* -e "K=V" as is, "K" -> "K=$K" when set, else "K". NULL on a missing name. */
char *cli_env_value(const char *arg);
/* docker's GetTimestamp: a Go duration ("10m", "1h30m") is now minus it, an
 * RFC 3339 date/time (with or without zone, fraction), or Unix seconds
 * ("1700000000", "1700000000.5") -> "SECONDS.NANOSECONDS" or the number as
 * given. false when none of those. */
bool cli_parse_timestamp(const char *s, int64_t now, char *out, size_t len);
/* Go's json.Compact: whitespace outside strings removed; NULL when text is
 * not valid JSON (why gets json-c's reason). Caller frees. */
char *cli_json_compact(const char *text, size_t len, char *why, size_t wlen);

/* ---- run_body.c ---- */

typedef struct {
  bool detach, interactive, tty, rm, read_only, privileged, init;
  const char *name, *workdir, *user, *hostname, *entrypoint, *memory, *memory_swap, *cpus, *cpu_shares,
      *cpuset_cpus, *cpuset_mems, *pids_limit, *network, *stop_signal, *stop_timeout, *pull, *platform,
      *shm_size, *detach_keys, *restart;
  cli_strv_t env, env_file, cap_add, cap_drop, security_opt, ulimit, label, attach;
} cli_run_opts_t;

/* The options run and create share, as a cli_opt_t table (ends with an
 * END entry; `extra` is for run's own: -d, --rm is shared). n must be >= 64. */
size_t cli_run_opt_table(cli_run_opts_t *o, bool run, cli_opt_t *table, size_t n);
void cli_run_opts_free(cli_run_opts_t *o);
/* The create body: Config + HostConfig + NetworkingConfig, as the docker
 * CLI sends it. Reads --env-file and --security-opt seccomp=FILE files.
 * On a bad value returns NULL with the message in why and *usage set when
 * it is a usage error (exit 125 either way). */
json_object *cli_run_body(const cli_run_opts_t *o, bool run, const char *image, size_t argc, const char *const *argv,
                          int console_h, int console_w, char *why, size_t wlen);

/* ---- attach.c ---- */

typedef struct {
  cli_ctx_t *ctx;
  const char *id;       /* for resize and signal forwarding */
  int fd;               /* the hijacked connection */
  const char *pre;      /* bytes already read past the 101 */
  size_t pre_len;
  bool tty;             /* raw stream, raw terminal */
  bool stdin_attached;  /* forward stdin, then half-close */
  bool sig_proxy;       /* forward SIGINT/TERM/... as POST /kill */
  bool resize;          /* send the terminal size (after start), and on SIGWINCH */
} cli_attach_t;

/* Puts the terminal in raw mode when tty && stdin_attached (restored by
 * cli_attach_end), installs the signal handlers. Call before start. */
int cli_attach_begin(cli_attach_t *a, berth_error_t *err);
/* Pumps until the output ends (the connection's EOF); stdin EOF
 * half-closes. 0 or an error (the terminal is restored either way). */
int cli_attach_run(cli_attach_t *a, berth_error_t *err);
void cli_attach_end(cli_attach_t *a);
/* POST /containers/{id}/resize?h=&w= with the size of stdout's terminal. */
void cli_attach_resize(cli_ctx_t *ctx, const char *id);
/* The size of the terminal on fd; false when not a terminal. */
bool cli_term_size(int fd, int *h, int *w);

/* ---- ctr_tables.c ---- */

/* The fields of docker's ContainerContext for one container of GET
 * /containers/json (c NULL: empty values, for checking a template);
 * now = time(NULL). */
void cli_ps_row(json_object *c, bool no_trunc, int64_t now, cli_row_t *row);
/* A row per container of the list; -1 when out of memory. */
int cli_ps_rows(json_object *list, bool no_trunc, int64_t now, cli_row_t **rows, size_t *n);
/* The IMAGE cell: ids truncated, digests dropped (unless no_trunc). */
void cli_ps_image(json_object *c, bool no_trunc, char *buf, size_t len);
/* Go's strconv.Quote. Caller frees. */
char *cli_go_quote(const char *s);
/* The PORTS cell: "0.0.0.0:8080->80/tcp, 443/tcp". Caller frees. */
char *cli_ps_ports(json_object *ports);

/* ---- shared by the commands ---- */

/* "/containers/<escaped name>/<suffix>" (suffix "" or "/json"...). Caller frees. */
char *cli_ctr_path(const char *name, const char *suffix);
/* GET /containers/{name}/json, parsed. */
int cli_ctr_inspect(cli_ctx_t *ctx, const char *name, json_object **out, berth_error_t *err);
/* POST /containers/{id}/wait?condition=COND (NULL: none), sent now; the
 * answer is read by cli_wait_result. -1 with err when refused. */
int cli_wait_open(cli_ctx_t *ctx, const char *id, const char *condition, int *fd, cli_http_head_t *head,
                  berth_error_t *err);
/* The StatusCode of the wait answer; 125 with the message on stderr
 * ("Error waiting for container: ..."). Closes fd. */
int cli_wait_result(int fd, cli_http_head_t *head);

extern const cli_command_t cli_cmd_run, cli_cmd_create, cli_cmd_start, cli_cmd_attach;
extern const cli_command_t cli_cmd_stop, cli_cmd_kill, cli_cmd_restart, cli_cmd_rm, cli_cmd_wait, cli_cmd_rename;
extern const cli_command_t cli_cmd_ctr_prune, cli_cmd_ctr_inspect, cli_cmd_ps, cli_cmd_logs, cli_cmd_inspect, cli_cmd_container;
