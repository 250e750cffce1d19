/* Errors that carry errno plus a message and gain context on the way up
 * (the crun libcrun_error_t idiom). A function that fails fills *err and
 * returns a negative value; the caller either handles it (berth_error_release)
 * or adds context (berth_error_wrap) and returns it further. */
#pragma once
#include <stdio.h>

struct berth_error_s {
  int status;   /* errno value, 0 when none applies */
  char *msg;
};
typedef struct berth_error_s *berth_error_t;

/* Sets *err (if err is not NULL) and returns -1 - status (always < 0). */
int berth_error_make(berth_error_t *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Like berth_error_make with status = errno and ": strerror" appended. */
int berth_error_errno(berth_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prepends "context: " to an existing error; returns -1 - status. */
int berth_error_wrap(berth_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void berth_error_release(berth_error_t *err);
/* Writes "prefix: message" to stream and releases it. */
void berth_error_print(berth_error_t *err, FILE *stream, const char *prefix);
