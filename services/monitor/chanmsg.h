/* Strict parsing and formatting of channel messages (channel.h). Pure code:
 * no I/O, no allocation; the monitor, its fuzz target and the unit test
 * link it, and so may berth-apid for the messages it receives. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "channel.h"

typedef struct {
  char type;              /* one of the CHANNEL_* letters */
  const uint8_t *data;    /* 'i', 'o', 'e': the bytes (points into the message) */
  size_t len;
  int64_t a, b, c;        /* 'h': pid, started; 'w': rows, cols; 'x': exit code, oom, finished */
} chan_msg_t;

/* A message the monitor receives (apid -> monitor: s u i c w). Returns 0 and
 * fills *m, or -1 with a static reason in *why (never NULL). */
int chan_parse_request(const uint8_t *buf, size_t len, chan_msg_t *m, const char **why);
/* A message apid receives (monitor -> apid: h o e R x), same contract. */
int chan_parse_event(const uint8_t *buf, size_t len, chan_msg_t *m, const char **why);

/* Payload formatters: write "type payload" into buf (>= CHAN_SMALL_MSG
 * bytes) and return the message length. */
#define CHAN_SMALL_MSG 96
size_t chan_format_hello(char *buf, int64_t pid, int64_t started_ns);
size_t chan_format_exit(char *buf, int64_t exit_code, int oom, int64_t finished_ns);
