/* Channel message parser: one type byte, then a payload whose grammar the
 * type fixes. Numbers are ASCII decimal, no leading zeros (except "0"
 * itself), a '-' only where the field may be negative, fields separated by
 * exactly one space, nothing before or after. Anything else is malformed. */
#include "chanmsg.h"
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Parses fields[0..n) from p[0..len) into out[]; each within [min, max]. */
static int parse_numbers(const uint8_t *p, size_t len, size_t n, int64_t *out, const int64_t *min,
                         const int64_t *max, const char **why) {
  size_t i = 0;
  for (size_t f = 0; f < n; f++) {
    if (f > 0) {
      if (i >= len || p[i] != ' ') {
        *why = "expected a single space between numbers";
        return -1;
      }
      i++;
    }
    bool neg = false;
    if (i < len && p[i] == '-' && min[f] < 0) {
      neg = true;
      i++;
    }
    size_t start = i;
    uint64_t v = 0;
    while (i < len && p[i] >= '0' && p[i] <= '9') {
      if (v > (UINT64_MAX - 9) / 10) {
        *why = "number too large";
        return -1;
      }
      v = v * 10 + (uint64_t)(p[i] - '0');
      i++;
    }
    if (i == start) {
      *why = "expected a decimal number";
      return -1;
    }
    if (p[start] == '0' && i - start > 1) {
      *why = "leading zero in a number";
      return -1;
    }
    if (neg && v == 0) {
      *why = "negative zero";
      return -1;
    }
    if (v > (uint64_t)INT64_MAX) {
      *why = "number out of range";
      return -1;
    }
    int64_t s = neg ? -(int64_t)v : (int64_t)v;
    if (s < min[f] || s > max[f]) {
      *why = "number out of range";
      return -1;
    }
    out[f] = s;
  }
  if (i != len) {
    *why = "trailing bytes after the numbers";
    return -1;
  }
  return 0;
}

static int empty_payload(size_t len, const char **why) {
  if (len != 1) {
    *why = "this message type carries no payload";
    return -1;
  }
  return 0;
}

static int common_checks(const uint8_t *buf, size_t len, chan_msg_t *m, const char **why) {
  memset(m, 0, sizeof *m);
  if (buf == NULL || len == 0) {
    *why = "empty message";
    return -1;
  }
  if (len > CHANNEL_MAX_MSG) {
    *why = "message longer than CHANNEL_MAX_MSG";
    return -1;
  }
  m->type = (char)buf[0];
  m->data = buf + 1;
  m->len = len - 1;
  return 0;
}

int chan_parse_request(const uint8_t *buf, size_t len, chan_msg_t *m, const char **why) {
  if (common_checks(buf, len, m, why) < 0)
    return -1;
  switch (m->type) {
  case CHANNEL_SUBSCRIBE:
  case CHANNEL_UNSUBSCRIBE:
  case CHANNEL_STDIN_CLOSE:
    return empty_payload(len, why);
  case CHANNEL_STDIN:
    if (m->len == 0) {
      *why = "stdin message without bytes";
      return -1;
    }
    return 0;
  case CHANNEL_RESIZE: {
    static const int64_t min[] = { 1, 1 }, max[] = { 65535, 65535 };
    int64_t v[2];
    if (parse_numbers(m->data, m->len, 2, v, min, max, why) < 0)
      return -1;
    m->a = v[0];
    m->b = v[1];
    m->data = NULL;
    m->len = 0;
    return 0;
  }
  default:
    *why = "unknown message type";
    return -1;
  }
}

int chan_parse_event(const uint8_t *buf, size_t len, chan_msg_t *m, const char **why) {
  if (common_checks(buf, len, m, why) < 0)
    return -1;
  int64_t v[3];
  switch (m->type) {
  case CHANNEL_STDOUT:
  case CHANNEL_STDERR:
    if (m->len == 0) {
      *why = "output message without bytes";
      return -1;
    }
    return 0;
  case CHANNEL_ROTATED:
    return empty_payload(len, why);
  case CHANNEL_HELLO: {
    static const int64_t min[] = { 1, 0 }, max[] = { INT32_MAX, INT64_MAX };
    if (parse_numbers(m->data, m->len, 2, v, min, max, why) < 0)
      return -1;
    m->a = v[0];
    m->b = v[1];
    break;
  }
  case CHANNEL_EXIT: {
    static const int64_t min[] = { -1, 0, 0 }, max[] = { 255, 1, INT64_MAX };
    if (parse_numbers(m->data, m->len, 3, v, min, max, why) < 0)
      return -1;
    m->a = v[0];
    m->b = v[1];
    m->c = v[2];
    break;
  }
  default:
    *why = "unknown message type";
    return -1;
  }
  m->data = NULL;
  m->len = 0;
  return 0;
}

size_t chan_format_hello(char *buf, int64_t pid, int64_t started_ns) {
  int n = snprintf(buf, CHAN_SMALL_MSG, "%c%lld %lld", CHANNEL_HELLO, (long long)pid, (long long)started_ns);
  return n > 0 ? (size_t)n : 0;
}

size_t chan_format_exit(char *buf, int64_t exit_code, int oom, int64_t finished_ns) {
  int n = snprintf(buf, CHAN_SMALL_MSG, "%c%lld %d %lld", CHANNEL_EXIT, (long long)exit_code, oom ? 1 : 0,
                   (long long)finished_ns);
  return n > 0 ? (size_t)n : 0;
}
