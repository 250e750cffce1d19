#include "error.h"
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static int make_v(berth_error_t *err, int status, const char *suffix, const char *fmt, va_list ap) {
  if (err == NULL)
    return -1 - status;
  char *msg = NULL;
  if (vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  if (msg && suffix) {
    char *full = NULL;
    if (asprintf(&full, "%s: %s", msg, suffix) >= 0) {
      free(msg);
      msg = full;
    }
  }
  berth_error_release(err);
  struct berth_error_s *e = calloc(1, sizeof *e);
  if (e == NULL) {
    free(msg);
    *err = NULL;
    return -1 - status;
  }
  e->status = status;
  e->msg = msg ? msg : strdup("out of memory while reporting an error");
  *err = e;
  return -1 - status;
}

int berth_error_make(berth_error_t *err, int status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int r = make_v(err, status, NULL, fmt, ap);
  va_end(ap);
  return r;
}

int berth_error_errno(berth_error_t *err, const char *fmt, ...) {
  int saved = errno;
  va_list ap;
  va_start(ap, fmt);
  int r = make_v(err, saved, strerror(saved), fmt, ap);
  va_end(ap);
  errno = saved;
  return r;
}

int berth_error_wrap(berth_error_t *err, const char *fmt, ...) {
  if (err == NULL || *err == NULL)
    return -1;
  char *ctx = NULL;
  va_list ap;
  va_start(ap, fmt);
  int n = vasprintf(&ctx, fmt, ap);
  va_end(ap);
  if (n >= 0) {
    char *full = NULL;
    if (asprintf(&full, "%s: %s", ctx, (*err)->msg ? (*err)->msg : "") >= 0) {
      free((*err)->msg);
      (*err)->msg = full;
    }
    free(ctx);
  }
  return -1 - (*err)->status;
}

void berth_error_release(berth_error_t *err) {
  if (err == NULL || *err == NULL)
    return;
  free((*err)->msg);
  free(*err);
  *err = NULL;
}

void berth_error_print(berth_error_t *err, FILE *stream, const char *prefix) {
  if (err == NULL || *err == NULL)
    return;
  fprintf(stream, "%s%s%s\n", prefix ? prefix : "", prefix ? ": " : "", (*err)->msg ? (*err)->msg : "unknown error");
  berth_error_release(err);
}
