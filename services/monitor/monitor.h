/* berth-monitor: one per container. Reaps the container (its child), logs its
 * output in Docker's json-file format with size rotation, serves channels
 * (channel.h) and records the exit in mon/exit. See docs/containers.md. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "channel.h"
#include "error.h"

/* The fds the executor hands over (exactly these; 0 is /dev/null). */
enum {
  FD_CHANNEL0 = 3, /* first apid channel (SEQPACKET, connected) */
  FD_LISTEN = 4,   /* mon/sock (SEQPACKET, listening) */
  FD_STDOUT = 5,   /* container stdout read end, or the pty master */
  FD_STDERR = 6,   /* container stderr read end, or /dev/null with a tty */
  FD_STDIN = 7,    /* container stdin write end, /dev/null, or the pty master */
  FD_MONDIR = 8,   /* mon/ */
  FD_CGROUP = 9,   /* memory cgroup dir */
  FD_LAST = 9,
};

typedef struct {
  char id[65];
  pid_t pid;
  uint64_t log_max_size;
  unsigned log_max_files;
  bool cgroup_v1, tty, stdin_once;
  bool stdin_open;    /* fd 7 is a real stdin (pipe or pty), not /dev/null */
} monitor_args_t;

/* setup.c: argv and the inherited fds, checked strictly. */
int monitor_parse_args(int argc, char **argv, monitor_args_t *a, berth_error_t *err);
int monitor_check_fds(monitor_args_t *a, berth_error_t *err);
/* The cgroup's OOM kill count (memory.events / memory.oom_control). */
int monitor_oom_count(bool v1, uint64_t *count, berth_error_t *err);
/* mon/exit via exit.tmp + rename. */
int monitor_write_exit(int exit_code, bool oom, int64_t finished_ns, berth_error_t *err);
int64_t monitor_now_ns(void);

/* seccomp.c */
int monitor_seccomp(berth_error_t *err);

/* logfile.c: Docker json-file log with rotation. */
typedef struct logfile logfile_t;
enum { LOG_STREAM_STDOUT = 0, LOG_STREAM_STDERR = 1 };
int logfile_open(logfile_t **out, int dirfd, uint64_t max_size, unsigned max_files, berth_error_t *err);
/* Appends output bytes of a stream; complete lines (and 16 KiB pieces) are
 * written at once, a partial line waits for more. *rotated is set when the
 * file was rotated. */
int logfile_write(logfile_t *l, int stream, const uint8_t *data, size_t len, bool *rotated, berth_error_t *err);
/* Writes a stream's pending partial line (at EOF). */
int logfile_flush(logfile_t *l, int stream, bool *rotated, berth_error_t *err);
void logfile_close(logfile_t *l);

/* channels.c: the connections to apid. */
typedef struct chans chans_t;
chans_t *chans_new(pid_t pid, int64_t started_ns, const monitor_args_t *a);
void chans_free(chans_t *c);
int chans_add(chans_t *c, int fd, bool subscribed);
/* Fills pollfds for every channel; returns how many. */
struct pollfd;
size_t chans_pollfds(chans_t *c, struct pollfd *p, size_t max);
/* Handles the events poll() reported for the fds chans_pollfds returned. */
void chans_handle(chans_t *c, const struct pollfd *p, size_t n);
/* Queues a message for every subscribed channel (output, 'R') or every
 * channel ('x'). */
void chans_broadcast(chans_t *c, const uint8_t *msg, size_t len, bool all);
/* True while a subscribed channel still holds queued output (backpressure). */
bool chans_blocked(const chans_t *c);
/* Bytes sent since the last call (progress while draining). */
size_t chans_progress(chans_t *c);
size_t chans_count(const chans_t *c);
/* True when no channel holds anything queued. */
bool chans_idle(const chans_t *c);
/* Drops channels that still hold queued messages. */
void chans_drop_blocked(chans_t *c);
/* Accepts waiting connections on fd 4 (refusing beyond the limit). */
void chans_accept(chans_t *c);
