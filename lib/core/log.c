#include "log.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *log_ident = "berth";
static int log_max = LOG_INFO;

void berth_log_init(const char *ident) {
  log_ident = ident;
  const char *lvl = getenv("BERTH_LOG_LEVEL");
  if (lvl && strcmp(lvl, "debug") == 0)
    log_max = LOG_DEBUG;
}

void berth_log(int priority, const char *fmt, ...) {
  if (priority > log_max)
    return;
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  /* One write per line so concurrent services do not interleave mid-line. */
  dprintf(STDERR_FILENO, "<%d>%s[%d]: %s\n", priority, log_ident, (int)getpid(), buf);
}
