/* Worker threads for the long image operations (load, save): the sd-event
 * loop stays responsive while a worker runs, and the completion is handed
 * back to the loop thread through an eventfd, where the IPC reply is sent
 * (connections are not thread-safe: only the loop thread touches them). */
#pragma once
#include <systemd/sd-event.h>
#include "error.h"

#define WORKER_MAX 16 /* loads and saves running at once */

/* Starts fn(arg) in a new thread; when it has returned, done(arg) runs on
 * the loop thread of e. EAGAIN when WORKER_MAX workers are running. On
 * failure neither fn nor done is called. */
int worker_run(sd_event *e, void (*fn)(void *arg), void (*done)(void *arg), void *arg, berth_error_t *err);
/* Workers still running (for tests and logs). */
unsigned worker_count(void);
