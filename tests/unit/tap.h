/* A tiny TAP producer for the C unit tests (meson test protocol 'tap').
 * The plan is printed at the end, which TAP allows, so tests need not count. */
#pragma once
#include <stdarg.h>
#include <stdio.h>

static int tap_count, tap_failures;

__attribute__((format(printf, 2, 3), unused)) static int tap_ok(int cond, const char *fmt, ...) {
  va_list ap;
  printf("%sok %d - ", cond ? "" : "not ", ++tap_count);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  fflush(stdout);
  if (!cond)
    tap_failures++;
  return cond;
}

__attribute__((format(printf, 1, 2), unused)) static void tap_diag(const char *fmt, ...) {
  va_list ap;
  printf("# ");
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  fflush(stdout);
}

/* Prints the plan; returns the process exit status. */
__attribute__((unused)) static int tap_done(void) {
  printf("1..%d\n", tap_count);
  return tap_failures ? 1 : 0;
}

__attribute__((unused)) static int tap_skip_all(const char *reason) {
  printf("1..0 # SKIP %s\n", reason);
  return 0;
}
