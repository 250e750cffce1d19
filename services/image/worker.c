/* Worker threads with a completion event on the sd-event loop (see worker.h). */
#include "worker.h"
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

typedef struct {
  pthread_t thread;
  int efd;
  sd_event_source *src;
  void (*fn)(void *);
  void (*done)(void *);
  void *arg;
} worker_t;

static unsigned running; /* touched by the loop thread only */

unsigned worker_count(void) {
  return running;
}

static void *worker_main(void *p) {
  worker_t *w = p;
  w->fn(w->arg);
  uint64_t one = 1;
  while (write(w->efd, &one, sizeof(one)) < 0 && errno == EINTR)
    ;
  return NULL;
}

static int on_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
  worker_t *w = userdata;
  uint64_t v;
  if (read(fd, &v, sizeof(v)) < 0 && errno == EAGAIN)
    return 0; /* spurious */
  pthread_join(w->thread, NULL);
  sd_event_source_unref(w->src);
  close(w->efd);
  running--;
  w->done(w->arg);
  free(w);
  return 0;
}

int worker_run(sd_event *e, void (*fn)(void *arg), void (*done)(void *arg), void *arg, berth_error_t *err) {
  if (running >= WORKER_MAX)
    return berth_error_make(err, EAGAIN, "%d image loads and saves are running already; try again later",
                            WORKER_MAX);
  worker_t *w = calloc(1, sizeof(*w));
  if (w == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  w->fn = fn;
  w->done = done;
  w->arg = arg;
  w->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (w->efd < 0) {
    int r = berth_error_errno(err, "eventfd for a worker");
    free(w);
    return r;
  }
  int r = sd_event_add_io(e, &w->src, w->efd, EPOLLIN, on_done, w);
  if (r < 0) {
    close(w->efd);
    free(w);
    return berth_error_make(err, -r, "adding a worker to the event loop: %s", strerror(-r));
  }
  /* Every signal stays blocked in the worker (the loop takes them by signalfd). */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  r = pthread_create(&w->thread, NULL, worker_main, w);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (r != 0) {
    sd_event_source_unref(w->src);
    close(w->efd);
    free(w);
    return berth_error_make(err, r, "starting a worker thread: %s", strerror(r));
  }
  running++;
  return 0;
}
