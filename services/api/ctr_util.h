/* Pure helpers of berth-apid's container runtime side (ctr_util.c): no
 * I/O, unit tested alone (tests/unit/test_ctr_runtime.c). */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct json_object;

/* Docker's stdcopy header: [stream, 0, 0, 0, len32be]; stream 1 stdout, 2 stderr. */
void ctr_stdcopy_header(uint8_t hdr[8], int stream, uint32_t len);

typedef struct {
  int stream;          /* 1 stdout, 2 stderr */
  int64_t time_ns;     /* CLOCK_REALTIME of the line */
  const char *log;     /* the bytes (not NUL-terminated; may contain NUL) */
  size_t len;
  struct json_object *obj;   /* owns log: release with ctr_log_entry_release */
} ctr_log_entry_t;
/* One line of a json-file log ({"log":..,"stream":..,"time":..}), without
 * its '\n'. 0, or -1 when the line is not one (skipped by readers). */
int ctr_log_parse_line(const char *line, size_t len, ctr_log_entry_t *e);
void ctr_log_entry_release(ctr_log_entry_t *e);

/* RFC 3339 (with optional fraction, "Z" or +hh:mm) -> ns since the epoch. */
int ctr_parse_rfc3339(const char *s, int64_t *ns);
/* "2006-01-02T15:04:05.000000000Z": Docker's fixed-width log timestamp (31 bytes + NUL). */
void ctr_format_log_time(int64_t ns, char out[40]);
/* logs ?since= / ?until=, prune until=: Unix seconds with an optional
 * fraction ("1700000000.5"), RFC 3339, or a Go duration before now
 * ("10m", "1h30m", "2.5s"). 0 for "" (unset). -1 when unparsable. */
int ctr_parse_time_arg(const char *s, int64_t now_ns, int64_t *ns);
/* ?tail=: "all" (or absent, or not a number: dockerd reads it as all) -> -1, else N >= 0. */
long long ctr_parse_tail(const char *s);
/* "KILL", "SIGKILL", "kill", "9", "SIGRTMIN+3": the number, or -1. */
int ctr_parse_signal(const char *s);

