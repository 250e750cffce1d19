/* berth-apid's container runtime side: what ctr_chan.c (the channel to
 * each container's monitor), ctr_run.c (start, resize, recovery),
 * ctr_stop.c (stop, kill, restart), ctr_wait.c, ctr_attach.c, ctr_logs.c
 * and ctr_delete.c share. Pure helpers (framing, log lines, filters,
 * signal names) are in ctr_util.c and unit tested alone. */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include "app.h"
#include "ctr_util.h"

/* ---- the runtime state of one container (c->rt) ---- */

typedef struct ctr_client ctr_client_t;
typedef struct ctr_waiter ctr_waiter_t;
typedef struct ctr_follow ctr_follow_t;
typedef struct ctr_hook ctr_hook_t;

/* A continuation run once when the container exits (exited = true) or when
 * its runtime state goes away (removed, apid stopping: exited = false). */
typedef void (*ctr_hook_fn)(api_app_t *app, api_ctr_t *c, bool exited, void *ud);

struct ctr_runtime {
  api_app_t *app;
  api_ctr_t *c;
  /* the channel to the monitor */
  int chan_fd;
  sd_event_source *chan_src;
  bool chan_live;        /* reading (after ContainerStart's reply, or connected) */
  bool subscribed;       /* the monitor forwards output */
  bool chan_blocked;     /* a client is full: not reading */
  char *stdin_buf;       /* client stdin not yet sent to the monitor */
  size_t stdin_len, stdin_cap;
  bool stdin_close;      /* send 'c' once stdin_buf is sent */
  bool starting, stopping, restarting, removing;
  uint64_t generation;   /* bumped on every start: stale callbacks check it */
  ctr_client_t *clients;
  ctr_waiter_t *waiters;
  ctr_follow_t *follows;
  ctr_hook_t *hooks;
  sd_event_source *poll;  /* running without a channel: ask ContainerState now and then */
};

/* c->rt, created on first use (NULL only when out of memory). */
ctr_runtime_t *ctr_rt(api_app_t *app, api_ctr_t *c);
/* Before ctr_remove: fails hooks, ends attach clients, followers and
 * (with `removed`) answers removed-waiters; closes the channel; frees c->rt. */
void ctr_rt_release(api_app_t *app, api_ctr_t *c, bool removed);
/* The container's record by exact id (NULL when it was removed meanwhile). */
api_ctr_t *ctr_by_id(api_app_t *app, const char *id);
/* The {name} of the route, looked up; NULL after a 404/400 reply. */
api_ctr_t *ctr_from_request(api_request_t *r);
/* Persists c's state; logs (never fails the caller: memory stays right). */
void ctr_persist(api_app_t *app, api_ctr_t *c);
bool ctr_tty(const api_ctr_t *c);
bool ctr_config_bool(const api_ctr_t *c, const char *key);
bool ctr_hostconfig_bool(const api_ctr_t *c, const char *key);
/* Runs fn when the container exits (or its runtime goes away). */
int ctr_on_exit(api_app_t *app, api_ctr_t *c, ctr_hook_fn fn, void *ud);
/* Runs (and forgets) every hook; hooks may add new ones (run next time). */
void ctr_rt_run_hooks(api_app_t *app, api_ctr_t *c, bool exited);

/* ---- talking to the executor ---- */
typedef void (*ctr_state_fn)(api_app_t *app, const char *id, int err, const char *msg,
                             const Berth__Ipc__ContainerStateReply *st, void *ud);
/* Sends env to berth-execd; cb gets (reply or NULL, ud). -1 with err when it cannot be sent. */
int ctr_exec_call(api_app_t *app, berth_envelope_t *env, const int *fds, size_t nfds, berth_reply_cb cb, void *ud,
                  berth_error_t *err);
/* ContainerSignal; cb(app, id, errno (0 ok), message, NULL, ud). */
int ctr_exec_signal(api_app_t *app, const char *id, int sig, ctr_state_fn cb, void *ud, berth_error_t *err);
int ctr_exec_state(api_app_t *app, const char *id, bool with_size, ctr_state_fn cb, void *ud, berth_error_t *err);
typedef void (*ctr_connect_fn)(api_app_t *app, const char *id, int fd, int err, const char *msg, void *ud);
/* ContainerConnect: cb gets the channel fd (the callee's), or -1 with errno and message. */
int ctr_exec_connect(api_app_t *app, const char *id, ctr_connect_fn cb, void *ud, berth_error_t *err);
int ctr_exec_delete(api_app_t *app, const char *id, ctr_state_fn cb, void *ud, berth_error_t *err);
/* An IPC failure as (errno, message): reply NULL is EPIPE "berth-execd went away". */
int ctr_reply_errno(const berth_msg_t *reply, const char **msg);

/* ---- the channel (ctr_chan.c) ---- */
/* Takes fd (SOCK_SEQPACKET to the monitor). live: read it now (else ctr_chan_go_live later). */
int ctr_chan_open(ctr_runtime_t *rt, int fd, bool subscribed, bool live);
void ctr_chan_go_live(ctr_runtime_t *rt);
void ctr_chan_close(ctr_runtime_t *rt);
/* Sends one message (type + payload) now or never: -1 when the socket is full or gone. */
int ctr_chan_send(ctr_runtime_t *rt, char type, const void *data, size_t len);
/* Queues stdin bytes / the end of stdin for the container. */
void ctr_chan_stdin(ctr_runtime_t *rt, const char *data, size_t len);
void ctr_chan_stdin_close(ctr_runtime_t *rt);
/* Whether so much stdin waits for the monitor that clients should stop sending. */
bool ctr_chan_stdin_full(const ctr_runtime_t *rt);
/* Subscribes or unsubscribes the channel from output after clients came or went. */
void ctr_chan_update_subscription(ctr_runtime_t *rt);
/* A client drained its output: read the channel again if nobody is full. */
void ctr_chan_unblock(ctr_runtime_t *rt);
/* The container exited: record it, wake everyone, auto-remove. */
void ctr_rt_exited(api_app_t *app, api_ctr_t *c, int exit_code, bool oom, int64_t finished_ns);
/* The ctr_done_fn of an automatic removal (AutoRemove): logs a failure and
 * hands it to condition=removed waiters. */
void ctr_autoremove_done(api_app_t *app, const char *id, unsigned status, const char *msg, void *ud);
/* At start-up: ContainerState for every record that says running. */
void ctr_recover_all(api_app_t *app);

/* ---- start (ctr_run.c) ---- */
/* status: 204 started, 304 already running, else an HTTP error with msg. */
typedef void (*ctr_done_fn)(api_app_t *app, const char *id, unsigned status, const char *msg, void *ud);
void ctr_start(api_app_t *app, api_ctr_t *c, ctr_done_fn done, void *ud);
/* A ctr_done_fn whose ud is a request (ref taken by the caller, dropped
 * here): 204/304 with no body, else Docker's {"message"}. */
void ctr_reply_done(api_app_t *app, const char *id, unsigned status, const char *msg, void *ud);
/* ---- stop (ctr_stop.c) ---- */
/* timeout_s < 0: no SIGKILL. done: 204 stopped, 304 was not running. */
void ctr_stop(api_app_t *app, api_ctr_t *c, int timeout_s, ctr_done_fn done, void *ud);
/* Sends sig; done: 204 once delivered (SIGKILL: once the container exited),
 * 409 when it is not running. */
void ctr_signal(api_app_t *app, api_ctr_t *c, int sig, ctr_done_fn done, void *ud);

/* ---- attach clients (ctr_attach.c) ---- */
/* Output of the container for every attached client. stream 1 or 2. */
void ctr_attach_output(ctr_runtime_t *rt, int stream, const char *data, size_t len);
/* Whether some client takes stdout or stderr (the channel must be subscribed). */
bool ctr_attach_wants_output(const ctr_runtime_t *rt);
/* The stdin queue has room again: clients paused for it read on. */
void ctr_attach_stdin_resume(ctr_runtime_t *rt);
/* Whether some client holds more than the high-water mark. */
bool ctr_attach_full(ctr_runtime_t *rt);
/* Ends every client (flushing output): the container exited or is removed. */
void ctr_attach_end_all(ctr_runtime_t *rt);
#define CTR_CLIENT_HIGH_WATER (256u * 1024u)

/* ---- waiters (ctr_wait.c) ---- */
/* condition: the container exited (next-exit, not-running) or was removed. */
void ctr_wait_exited(ctr_runtime_t *rt);
/* A pending restart ended without a start (canceled or failed): not-running waiters get the last code. */
void ctr_wait_settled(ctr_runtime_t *rt);
void ctr_wait_removed(ctr_runtime_t *rt);
void ctr_wait_release(ctr_runtime_t *rt);
/* An automatic removal failed: condition=removed waiters get the error. */
void ctr_wait_removal_failed(ctr_runtime_t *rt, const char *msg);

/* ---- log followers (ctr_logs.c) ---- */
void ctr_logs_rotated(ctr_runtime_t *rt);
void ctr_logs_exited(ctr_runtime_t *rt);
void ctr_logs_release(ctr_runtime_t *rt);
/* A follower or replay of container id is opening its log files: a removal waits. */
bool ctr_logs_scanning(api_app_t *app, const char *id);
/* The log replay of attach?logs=1: the container's log, framed as GET /logs
 * frames it (no tail, since, until or timestamps). wake: read has more
 * (after it returned 0). at_end (sync only): the replay just read the
 * newest file to its end. true: the replay is over (API_STREAM_END) once a
 * scan after this call found nothing newer, and reads nothing past this
 * end; false: read returns 0 and the owner reads again when it wants. */
typedef struct {
  void (*wake)(void *ud);
  bool (*at_end)(void *ud);
} ctr_log_sink_t;
/* NULL when the executor cannot be asked (or out of memory). */
ctr_follow_t *ctr_log_replay(api_app_t *app, api_ctr_t *c, bool out, bool err, bool sync, const ctr_log_sink_t *sink,
                             void *ud);
/* Bytes (> 0), 0 (sink->wake comes later), API_STREAM_END or API_STREAM_ERROR. */
ssize_t ctr_log_replay_read(ctr_follow_t *f, char *buf, size_t max);
/* The owner lets go (no callback after this). */
void ctr_log_replay_end(ctr_follow_t *f);

/* ---- delete (ctr_delete.c) ---- */
/* Deletes a stopped container (executor, then the record); done gets 204 or an error. */
void ctr_delete_stopped(api_app_t *app, api_ctr_t *c, ctr_done_fn done, void *ud);
