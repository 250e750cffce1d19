/* HTTP front end of berth-apid: libmicrohttpd driven from the sd-event loop
 * (MHD_USE_EPOLL, no threads of its own), on the listening socket the
 * executor passed. Each request is routed (router.h), its caller identified
 * by SO_PEERCRED, and handed to the handler for its route. A handler answers
 * at once with one api_reply_*() call, or suspends the request and answers
 * later from another event (an IPC reply); it never blocks. */
#pragma once
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>
#include <json-c/json.h>
#include "router.h"
#include "error.h"

typedef struct api_server api_server_t;
typedef struct api_request api_request_t;

typedef void (*api_handler_fn)(api_request_t *req);

typedef struct {
  sd_event *event;
  int listen_fd;                               /* taken over (closed by api_server_free) */
  const api_handler_fn *handlers;              /* indexed by api_route_id_t */
  void *userdata;                              /* given back by api_request_userdata */
} api_server_config_t;

/* Limits: connections at once, bytes of one request head, idle seconds. */
#define API_MAX_CONNECTIONS 256u
#define API_MAX_REQUEST_HEAD (64u * 1024u)
#define API_IDLE_TIMEOUT_SEC 120u
/* A body on a route that expects none is read and dropped up to this size. */
#define API_MAX_UNEXPECTED_BODY (64u * 1024u)

int api_server_new(const api_server_config_t *cfg, api_server_t **out, berth_error_t *err);
/* Answers every suspended request with 503, then stops serving. Safe on NULL. */
void api_server_free(api_server_t *s);

const char *api_request_method(const api_request_t *r);
const char *api_request_path(const api_request_t *r);
const api_match_t *api_request_match(const api_request_t *r);
int api_request_is_head(const api_request_t *r);
/* Kernel credentials of the caller (SO_PEERCRED of its connection). */
uid_t api_request_uid(const api_request_t *r);
gid_t api_request_gid(const api_request_t *r);
pid_t api_request_pid(const api_request_t *r);
void *api_request_userdata(const api_request_t *r);
/* The event loop the server runs on. */
sd_event *api_request_event(const api_request_t *r);
/* The request body (routes with max_body > 0), NUL-terminated; may be empty. */
const char *api_request_body(const api_request_t *r, size_t *len);
/* Value of a query argument, or NULL. Valid until the reply. */
const char *api_request_query(const api_request_t *r, const char *key);
/* Every value of a repeated query argument (?names=a&names=b), in order:
 * fills up to max pointers (valid until the reply) and returns how many
 * there are in all (may exceed max). */
size_t api_request_query_values(const api_request_t *r, const char *key, const char **vals, size_t max);
/* dockerd's httputils.BoolValue: absent, "", "0", "no", "false", "none"
 * (any case, trimmed) are false, anything else true; absent gives dflt
 * (BoolValueOrDefault). */
int api_request_query_bool(const api_request_t *r, const char *key, int dflt);

/* Exactly one reply per request. extra_headers is NULL or a NULL-terminated
 * list of name, value pairs. */
void api_reply(api_request_t *r, unsigned status, const char *content_type, const void *body, size_t len,
               const char *const *extra_headers);
/* Serialises obj (and releases it; NULL becomes a 500). */
void api_reply_json(api_request_t *r, unsigned status, struct json_object *obj);
/* {"message": "..."} */
void api_reply_error(api_request_t *r, unsigned status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Keeps the request open after its handler returns, until api_reply_*() is
 * called from another event; after timeout_usec it is answered with
 * 500 {"message": timeout_msg} (timeout_usec 0: no deadline; the caller
 * keeps its own watchdog). Does nothing when the request was already
 * answered or is already suspended. */
void api_request_suspend(api_request_t *r, uint64_t timeout_usec, const char *timeout_msg);
/* Whether the request still wants a reply (not answered, not timed out,
 * its connection not gone). Check this in a callback before replying. */
int api_request_pending(const api_request_t *r);
/* Keeps the request's memory alive across an asynchronous call. */
api_request_t *api_request_ref(api_request_t *r);
void api_request_unref(api_request_t *r);

/* ---- streaming --------------------------------------------------------
 * For bodies and responses too large to hold in memory (image load/save).
 * A route whose max_body is API_BODY_STREAM gets its handler called as soon
 * as the request head arrived, before any body; the handler attaches ops
 * (api_request_attach) and the body then flows to ops->body piece by piece.
 * Backpressure: ops->body may take fewer bytes than offered; the connection
 * is then suspended (nothing more is read from the client) until
 * api_request_body_resume(). After the last byte, ops->body_end runs; it
 * must reply or suspend the request (MHD can only answer a request with a
 * body once all of it was received).
 * A streamed response (api_reply_stream) pulls its bytes from ops->read; a
 * read that returns 0 puts the connection to sleep until api_request_wake().
 * ops->done runs exactly once when the request is over (response sent,
 * client gone, or server stopping): it releases what ud holds. */
#define API_STREAM_END ((ssize_t)-1)     /* ops->read: the response is complete */
#define API_STREAM_ERROR ((ssize_t)-2)   /* ops->read: cut the connection (truncated response) */

typedef struct {
  /* Takes up to len body bytes; returns how many (0..len), or -1 to cut the connection. */
  ssize_t (*body)(api_request_t *r, const char *data, size_t len, void *ud);
  void (*body_end)(api_request_t *r, void *ud);
  /* Fills up to max bytes of the streamed response; 0, API_STREAM_END or API_STREAM_ERROR. */
  ssize_t (*read)(api_request_t *r, char *buf, size_t max, void *ud);
  void (*done)(api_request_t *r, void *ud);
} api_stream_ops_t;

void api_request_attach(api_request_t *r, const api_stream_ops_t *ops, void *ud);
void api_request_body_resume(api_request_t *r);
/* Starts a response of unknown length (chunked) whose bytes come from ops->read. */
void api_reply_stream(api_request_t *r, unsigned status, const char *content_type, const char *const *extra_headers);
void api_request_wake(api_request_t *r);
/* Counters for tests: how often a body was paused for backpressure, and a
 * streamed response slept waiting for data. */
unsigned api_server_body_pauses(const api_server_t *s);
unsigned api_server_output_pauses(const api_server_t *s);

/* ---- hijacked connections (attach) ------------------------------------
 * Docker's attach takes over the connection: dockerd answers 101 with
 * Content-Type application/vnd.docker.raw-stream, Connection: Upgrade and
 * Upgrade: tcp, then raw bytes flow both ways (libmicrohttpd writes its own
 * reason phrase, "Switching Protocols", where dockerd writes "UPGRADED":
 * clients read only the code). A request without `Connection: Upgrade`
 * (older clients) gets a 200 whose body carries the same output bytes, and
 * no input. The raw socket is driven from the sd-event loop: output is
 * queued (api_upgrade_send never blocks; the caller watches
 * api_upgrade_pending for backpressure), input arrives through ops->input,
 * and the client's half-close (shutdown(SHUT_WR): recv() == 0) is
 * ops->input_end: output keeps flowing until api_upgrade_close. */
typedef struct api_upgrade api_upgrade_t;

typedef struct {
  /* Bytes the client sent (all consumed; call api_upgrade_pause_input to stop reading). */
  void (*input)(api_upgrade_t *u, const char *data, size_t len, void *ud);
  /* The client closed its sending side (never called without an upgrade: no input then). */
  void (*input_end)(api_upgrade_t *u, void *ud);
  /* Every queued output byte was written. */
  void (*drained)(api_upgrade_t *u, void *ud);
  /* The connection is gone (client vanished, write error, server stopping)
   * without api_upgrade_close: after this returns u is freed. */
  void (*closed)(api_upgrade_t *u, void *ud);
} api_upgrade_ops_t;

/* The one reply to r: 101 (or 200 without Upgrade) and a hijacked stream.
 * Returns the stream (output may be queued at once), or NULL when r was
 * answered with an error instead. */
api_upgrade_t *api_reply_upgrade(api_request_t *r, const char *content_type, const api_upgrade_ops_t *ops, void *ud);
/* Whether the client asked for an upgrade (Connection: Upgrade with an Upgrade header). */
int api_request_wants_upgrade(const api_request_t *r);
/* Queues len bytes; 0, or -1 when the stream is closing or gone. */
int api_upgrade_send(api_upgrade_t *u, const void *data, size_t len);
size_t api_upgrade_pending(const api_upgrade_t *u);
void api_upgrade_pause_input(api_upgrade_t *u, int paused);
/* The caller is done: no more callbacks; queued output is flushed (for at
 * most API_UPGRADE_FLUSH_SEC), unread input dropped, the connection closed. */
void api_upgrade_close(api_upgrade_t *u);
#define API_UPGRADE_FLUSH_SEC 30u
