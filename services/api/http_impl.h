/* Internals of the HTTP front end shared by http.c (request lifecycle,
 * buffered replies) and http_stream.c (streamed bodies and responses).
 * Not for handlers: they use http.h. */
#pragma once
#include <microhttpd.h>
#include "http.h"

struct api_server {
  sd_event *event;
  struct MHD_Daemon *mhd;
  sd_event_source *io;
  sd_event_source *timer;
  const api_handler_fn *handlers;
  void *userdata;
  api_request_t *suspended;   /* requests whose connection MHD has suspended */
  unsigned draining;          /* at shutdown: requests answered or aborted, not yet gone */
  int listen_fd;              /* owned until MHD took it */
  unsigned body_pauses, output_pauses;
  api_upgrade_t *upgrades;    /* hijacked streams (http_upgrade.c) */
};

/* Kernel credentials of one connection, read once when it is accepted. */
typedef struct {
  int valid;
  uid_t uid;
  gid_t gid;
  pid_t pid;
} api_peer_t;

struct api_request {
  api_server_t *srv;
  struct MHD_Connection *conn;
  unsigned refs;
  char *method;
  char *path;
  api_match_t match;   /* params point into path */
  api_peer_t peer;
  char *body;
  size_t body_len;
  size_t dropped;      /* bytes of an unexpected body read and dropped */
  int replied, finished, dispatched, draining;
  int awaiting;        /* api_request_suspend: waiting for an asynchronous reply */
  int mhd_suspended;   /* MHD_suspend_connection in effect (listed in srv->suspended) */
  int body_paused;     /* streamed body: the handler took less than offered */
  int body_ended;      /* streamed body: ops->body_end ran */
  int out_paused;      /* streamed response: ops->read had nothing */
  int aborted;         /* server stopping: cut a streamed body or response */
  int queue_failed;    /* no response could be queued: the connection must be cut */
  unsigned status;
  sd_event_source *deadline;
  sd_event_source *hangup;   /* sleeping streamed response: watches the client leaving */
  char *timeout_msg;
  const api_stream_ops_t *ops;
  void *ops_ud;
  api_request_t *prev, *next;   /* in srv->suspended */
};

void api_http_suspend_conn(api_request_t *r);
void api_http_resume_conn(api_request_t *r);
/* Adds the common headers, logs and queues resp (not destroyed here) as the
 * one reply to r; resumes a request that was waiting for it. */
void api_http_finish_reply(api_request_t *r, unsigned status, struct MHD_Response *resp, const char *content_type,
                           const char *const *extra_headers);
/* http_stream.c: the access handler's part for routes with a streamed body.
 * Returns MHD_YES or MHD_NO like the access handler. */
enum MHD_Result api_http_stream_body(api_request_t *r, const char *upload_data, size_t *upload_data_size);
/* Calls ops->done once (request over). */
void api_http_stream_done(api_request_t *r);
/* Runs MHD soon (something changed outside its callbacks). */
void api_http_kick(api_server_t *s);
/* http_upgrade.c: at shutdown, closes every hijacked stream (their owners
 * get ops->closed); the requests then complete like the others. */
void api_http_close_upgrades(api_server_t *s);
