/* Small pieces for moving image streams between an HTTP connection and a
 * pipe to berth-imaged (image_load.c, image_save.c). Pure buffer code apart
 * from api_pipe, so it is unit tested on its own. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <json-c/json.h>
#include "error.h"

/* A pipe whose end `ours` (0 read, 1 write) is non-blocking for the event
 * loop; the other end, which goes to berth-imaged, stays blocking. Both
 * close-on-exec. The capacity is raised to 1 MiB when the system allows. */
int api_pipe(int fds[2], int ours, berth_error_t *err);

/* A byte queue: appended at the end, consumed from the front. */
typedef struct {
  char *data;
  size_t start, len, cap;
} api_buf_t;

int api_buf_append(api_buf_t *b, const void *p, size_t n);
/* Copies up to max bytes out of the front; returns how many. */
size_t api_buf_take(api_buf_t *b, void *out, size_t max);
void api_buf_free(api_buf_t *b);

/* Splits a byte stream into lines ('\n'-terminated; a trailing "\r" is
 * dropped). A line longer than max_line is skipped whole and counted. */
typedef struct {
  api_buf_t partial;
  size_t max_line;
  int skipping;      /* inside an over-long line: drop until its newline */
  unsigned too_long;
} api_lines_t;

typedef void (*api_line_fn)(const char *line, size_t len, void *ud);
void api_lines_feed(api_lines_t *l, const char *data, size_t n, api_line_fn fn, void *ud);
/* End of stream: a last line without a newline is delivered too. */
void api_lines_finish(api_lines_t *l, api_line_fn fn, void *ud);
void api_lines_free(api_lines_t *l);

/* Whether buf[0..n) is exactly one JSON value (RFC 8259, strict: double
 * quotes, no NaN, valid UTF-8 in strings), surrounded by whitespace at most,
 * nested no deeper than max_depth (at most 256). *top gets the first
 * non-blank byte ('{' for an object, '[' for an array). */
int api_json_valid(const char *buf, size_t n, size_t max_depth, char *top);

/* One line of berth-imaged's progress output, checked: a JSON object in
 * strict syntax, nothing else on the line (an empty line is skipped). On
 * success appends it, re-serialised, plus "\n" to out and returns 1; returns
 * 0 when the line is empty or not valid (nothing appended), -1 out of memory. */
int api_progress_line(const char *line, size_t len, api_buf_t *out, struct json_object **parsed);

/* Follows a tar stream's block structure (512-byte headers with checksums,
 * data rounded up to 512) to tell a complete archive (two zero blocks at
 * the end) from one cut short. */
typedef struct {
  unsigned char hdr[512];
  size_t fill;        /* bytes of the current header block */
  uint64_t skip;      /* data and padding bytes of the current entry still to come */
  int zero_blocks;
  int ended, bad;
  uint64_t entries;
} api_tar_watch_t;

void api_tar_watch_feed(api_tar_watch_t *t, const void *data, size_t n);
/* 1 when the end-of-archive marker was seen and every header was valid. */
int api_tar_watch_complete(const api_tar_watch_t *t);
