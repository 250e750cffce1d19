/* The pure parts of berth-apid's container runtime side (ctr_util.c):
 * Docker's stdcopy header, json-file log lines, RFC 3339 and the logs
 * since/until/tail arguments, and signal names as dockerd parses them. */
#include <signal.h>
#include <string.h>
#include <json-c/json.h>
#include "ctr_util.h"
#include "tap.h"

static void test_stdcopy(void) {
  uint8_t h[8];
  ctr_stdcopy_header(h, 1, 5);
  static const uint8_t a[8] = {1, 0, 0, 0, 0, 0, 0, 5};
  tap_ok(memcmp(h, a, 8) == 0, "stdcopy: stdout, 5 bytes");
  ctr_stdcopy_header(h, 2, 0x01020304u);
  static const uint8_t b[8] = {2, 0, 0, 0, 1, 2, 3, 4};
  tap_ok(memcmp(h, b, 8) == 0, "stdcopy: stderr, length big-endian");
  ctr_stdcopy_header(h, 1, 65536);
  static const uint8_t c[8] = {1, 0, 0, 0, 0, 1, 0, 0};
  tap_ok(memcmp(h, c, 8) == 0, "stdcopy: 64 KiB");
}

static void test_log_lines(void) {
  ctr_log_entry_t e;
  const char *l1 = "{\"log\":\"hello\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-02T03:04:05.123456789Z\"}";
  tap_ok(ctr_log_parse_line(l1, strlen(l1), &e) == 0 && e.stream == 1 && e.len == 6 && memcmp(e.log, "hello\n", 6) == 0 &&
             e.time_ns == 1704164645123456789LL,
         "log line: stdout, text, time");
  ctr_log_entry_release(&e);
  const char *l2 = "{\"log\":\"a\\u0000b\",\"stream\":\"stderr\",\"time\":\"2024-01-02T03:04:05Z\",\"attrs\":{}}";
  tap_ok(ctr_log_parse_line(l2, strlen(l2), &e) == 0 && e.stream == 2 && e.len == 3 && e.log[1] == '\0',
         "log line: stderr, NUL kept, extra keys ignored");
  ctr_log_entry_release(&e);
  const char *bad[] = {
      "",
      "{\"log\":\"x\",\"stream\":\"stdin\",\"time\":\"2024-01-02T03:04:05Z\"}",
      "{\"log\":\"x\",\"stream\":\"stdout\"}",
      "{\"log\":1,\"stream\":\"stdout\",\"time\":\"2024-01-02T03:04:05Z\"}",
      "{\"log\":\"x\",\"stream\":\"stdout\",\"time\":\"yesterday\"}",
      "{\"log\":\"x\",\"stream\":\"stdout\",\"time\":\"2024-01-02T03:04:05Z\"} trailing",
      "{\"log\":\"x\",\"stream\":\"stdout\",\"time\":\"2024-01-02T03:04:05Z\"",
      "[1,2]",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int rc = ctr_log_parse_line(bad[i], strlen(bad[i]), &e);
    tap_ok(rc == -1 && e.obj == NULL, "log line refused: %.40s", bad[i]);
  }
  /* a line cut short at a length boundary: only len bytes count */
  tap_ok(ctr_log_parse_line(l1, 20, &e) == -1, "log line: a torn line is refused");
}

static void test_time(void) {
  int64_t ns;
  tap_ok(ctr_parse_rfc3339("1970-01-01T00:00:00Z", &ns) == 0 && ns == 0, "rfc3339: the epoch");
  tap_ok(ctr_parse_rfc3339("2024-01-02T03:04:05.5+01:00", &ns) == 0 && ns == 1704161045500000000LL,
         "rfc3339: fraction and offset");
  tap_ok(ctr_parse_rfc3339("2024-01-02T03:04:05.1234567891Z", &ns) == 0 && ns % 1000000000 == 123456789,
         "rfc3339: more than 9 fraction digits are cut");
  tap_ok(ctr_parse_rfc3339("2024-01-02 03:04:05Z", &ns) < 0, "rfc3339: a space instead of T is refused");
  tap_ok(ctr_parse_rfc3339("2024-13-02T03:04:05Z", &ns) < 0, "rfc3339: month 13 is refused");
  tap_ok(ctr_parse_rfc3339("2024-01-02T03:04:05", &ns) < 0, "rfc3339: no zone is refused");
  char buf[40];
  ctr_format_log_time(1704164645000000007LL, buf);
  tap_ok(strcmp(buf, "2024-01-02T03:04:05.000000007Z") == 0, "log time: fixed 9 digits (%s)", buf);

  int64_t now = 1700000000LL * 1000000000;
  tap_ok(ctr_parse_time_arg("", now, &ns) == 0 && ns == 0, "time arg: empty is unset");
  tap_ok(ctr_parse_time_arg(NULL, now, &ns) == 0 && ns == 0, "time arg: absent is unset");
  tap_ok(ctr_parse_time_arg("1600000000.000000000", now, &ns) == 0 && ns == 1600000000LL * 1000000000,
         "time arg: what the docker CLI sends (seconds.nanoseconds)");
  tap_ok(ctr_parse_time_arg("1600000000", now, &ns) == 0 && ns == 1600000000LL * 1000000000, "time arg: seconds");
  tap_ok(ctr_parse_time_arg("1600000000.5", now, &ns) == 0 && ns == 1600000000500000000LL, "time arg: a fraction");
  tap_ok(ctr_parse_time_arg("10m", now, &ns) == 0 && ns == now - 600LL * 1000000000, "time arg: 10m ago");
  tap_ok(ctr_parse_time_arg("1h30m", now, &ns) == 0 && ns == now - 5400LL * 1000000000, "time arg: 1h30m ago");
  tap_ok(ctr_parse_time_arg("1.5s", now, &ns) == 0 && ns == now - 1500000000LL, "time arg: 1.5s ago");
  tap_ok(ctr_parse_time_arg("2023-11-14T22:13:20Z", now, &ns) == 0 && ns == now, "time arg: RFC 3339");
  const char *bad[] = {"abc", "10x", "1e5s", "12:00", "1600000000.5x", "-", "s", ".s"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    tap_ok(ctr_parse_time_arg(bad[i], now, &ns) < 0, "time arg refused: %s", bad[i]);
}

static void test_tail(void) {
  tap_ok(ctr_parse_tail(NULL) == -1 && ctr_parse_tail("all") == -1 && ctr_parse_tail("") == -1, "tail: all");
  tap_ok(ctr_parse_tail("0") == 0 && ctr_parse_tail("25") == 25, "tail: numbers");
  tap_ok(ctr_parse_tail("-3") == -1 && ctr_parse_tail("ten") == -1 && ctr_parse_tail("5x") == -1,
         "tail: anything else is all, as dockerd reads it");
}

static void test_signals(void) {
  tap_ok(ctr_parse_signal("KILL") == SIGKILL && ctr_parse_signal("SIGKILL") == SIGKILL &&
             ctr_parse_signal("kill") == SIGKILL && ctr_parse_signal("sigkill") == SIGKILL,
         "signal: KILL in every spelling");
  tap_ok(ctr_parse_signal("9") == 9 && ctr_parse_signal("15") == SIGTERM && ctr_parse_signal("64") == 64,
         "signal: numbers");
  tap_ok(ctr_parse_signal("TERM") == SIGTERM && ctr_parse_signal("SIGHUP") == SIGHUP &&
             ctr_parse_signal("USR1") == SIGUSR1 && ctr_parse_signal("WINCH") == SIGWINCH,
         "signal: names");
  tap_ok(ctr_parse_signal("RTMIN") == 34 && ctr_parse_signal("SIGRTMIN+3") == 37 && ctr_parse_signal("RTMAX") == 64 &&
             ctr_parse_signal("RTMAX-2") == 62,
         "signal: real-time names as Go numbers them");
  const char *bad[] = {"", "0", "65", "-1", "NOPE", "SIG", "9x", "RTMIN+16", "RTMAX-15", "RTMIN-1", "RTMAX+1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    tap_ok(ctr_parse_signal(bad[i]) == -1, "signal refused: \"%s\"", bad[i]);
  tap_ok(ctr_parse_signal(NULL) == -1, "signal: NULL refused");
}

int main(void) {
  test_stdcopy();
  test_log_lines();
  test_time();
  test_tail();
  test_signals();
  return tap_done();
}
