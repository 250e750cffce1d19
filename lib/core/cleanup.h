/* Scope-bound cleanup for fds and memory (GCC/Clang cleanup attribute). */
#pragma once
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static inline void berth_freep(void *p) {
  free(*(void **)p);
}
static inline void berth_closep(int *fd) {
  if (*fd >= 0) {
    int saved = errno;
    close(*fd);
    errno = saved;
  }
}
#define cleanup_free __attribute__((cleanup(berth_freep)))
#define cleanup_close __attribute__((cleanup(berth_closep)))

/* Hands ownership out of a cleanup_close variable. */
static inline int berth_steal_fd(int *fd) {
  int r = *fd;
  *fd = -1;
  return r;
}
static inline void *berth_steal_ptr(void *pp) {
  void **p = pp;
  void *r = *p;
  *p = NULL;
  return r;
}
