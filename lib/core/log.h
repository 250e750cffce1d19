/* Logging to stderr in a form journald understands (<N> priority prefix).
 * Services inherit the executor's stderr, so their lines land in the same journal. */
#pragma once
#include <syslog.h>

void berth_log_init(const char *ident);
void berth_log(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define log_err(...) berth_log(LOG_ERR, __VA_ARGS__)
#define log_warn(...) berth_log(LOG_WARNING, __VA_ARGS__)
#define log_info(...) berth_log(LOG_INFO, __VA_ARGS__)
#define log_debug(...) berth_log(LOG_DEBUG, __VA_ARGS__)
