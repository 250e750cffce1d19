/* Pure helpers of the container runtime side (ctr_rt.h): Docker's stdcopy
 * framing, json-file log lines, time arguments, tail and signal names. */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <json-c/json.h>
#include "ctr_util.h"

void ctr_stdcopy_header(uint8_t hdr[8], int stream, uint32_t len) {
  hdr[0] = (uint8_t)stream;
  hdr[1] = hdr[2] = hdr[3] = 0;
  hdr[4] = (uint8_t)(len >> 24);
  hdr[5] = (uint8_t)(len >> 16);
  hdr[6] = (uint8_t)(len >> 8);
  hdr[7] = (uint8_t)len;
}

/* ---- time ---- */

static int digits(const char **p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)(*p)[i]))
      return -1;
    v = v * 10 + ((*p)[i] - '0');
  }
  *p += n;
  *out = v;
  return 0;
}

int ctr_parse_rfc3339(const char *s, int64_t *ns) {
  int Y, M, D, h, m, sec;
  const char *p = s;
  if (digits(&p, 4, &Y) < 0 || *p++ != '-' || digits(&p, 2, &M) < 0 || *p++ != '-' || digits(&p, 2, &D) < 0 ||
      (*p != 'T' && *p != 't') || (p++, digits(&p, 2, &h) < 0) || *p++ != ':' || digits(&p, 2, &m) < 0 ||
      *p++ != ':' || digits(&p, 2, &sec) < 0)
    return -1;
  if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
    return -1;
  int64_t frac = 0;
  if (*p == '.') {
    p++;
    int n = 0;
    while (isdigit((unsigned char)*p)) {
      if (n < 9) {
        frac = frac * 10 + (*p - '0');
        n++;
      }
      p++;
    }
    if (n == 0)
      return -1;
    for (; n < 9; n++)
      frac *= 10;
  }
  int64_t offset = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int sign = *p++ == '-' ? -1 : 1, oh, om;
    if (digits(&p, 2, &oh) < 0 || *p++ != ':' || digits(&p, 2, &om) < 0 || oh > 23 || om > 59)
      return -1;
    offset = sign * (oh * 3600 + om * 60);
  } else {
    return -1;
  }
  if (*p != '\0')
    return -1;
  struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D, .tm_hour = h, .tm_min = m, .tm_sec = sec};
  time_t t = timegm(&tm);
  *ns = ((int64_t)t - offset) * 1000000000 + frac;
  return 0;
}

void ctr_format_log_time(int64_t ns, char out[40]) {
  time_t t = (time_t)(ns / 1000000000);
  long frac = (long)(ns % 1000000000);
  if (frac < 0) {
    frac += 1000000000;
    t--;
  }
  struct tm tm;
  gmtime_r(&t, &tm);
  /* the moduli tell the compiler each field's width (years past 9999 do not occur in logs) */
  snprintf(out, 40, "%04u-%02u-%02uT%02u:%02u:%02u.%09luZ", (unsigned)(tm.tm_year + 1900) % 10000u,
           (unsigned)(tm.tm_mon + 1) % 100u, (unsigned)tm.tm_mday % 100u, (unsigned)tm.tm_hour % 100u,
           (unsigned)tm.tm_min % 100u, (unsigned)tm.tm_sec % 100u, (unsigned long)frac % 1000000000ul);
}

/* Go's time.ParseDuration: [-+]?([0-9]*(\.[0-9]*)?[a-z]+)+ */
static int parse_duration(const char *s, int64_t *ns) {
  static const struct {
    const char *unit;
    double mult;
  } units[] = {{"ns", 1}, {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"\xce\xbcs", 1e3}, {"ms", 1e6},
               {"s", 1e9}, {"m", 60e9}, {"h", 3600e9}};
  const char *p = s;
  int neg = 0;
  if (*p == '-' || *p == '+')
    neg = *p++ == '-';
  if (strcmp(p, "0") == 0) {
    *ns = 0;
    return 0;
  }
  if (*p == '\0')
    return -1;
  double total = 0;
  while (*p) {
    size_t n = strspn(p, "0123456789.");
    char num[32];
    if (n == 0 || n >= sizeof num || (n == 1 && *p == '.'))
      return -1;
    memcpy(num, p, n);
    num[n] = '\0';
    char *end;
    double v = strtod(num, &end);
    if (*end != '\0')
      return -1;
    p += n;
    size_t best = 0, k = 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
      size_t n = strlen(units[i].unit);
      if (strncmp(p, units[i].unit, n) == 0 && n > best) {
        best = n;
        k = i;
      }
    }
    if (best == 0)
      return -1;
    total += v * units[k].mult;
    p += best;
  }
  if (total > 9.2e18)
    return -1;
  *ns = (int64_t)(neg ? -total : total);
  return 0;
}

int ctr_parse_time_arg(const char *s, int64_t now_ns, int64_t *ns) {
  if (s == NULL || s[0] == '\0') {
    *ns = 0;
    return 0;
  }
  int64_t d;
  if (parse_duration(s, &d) == 0 && !(isdigit((unsigned char)s[strlen(s) - 1]))) {
    *ns = now_ns - d;
    return 0;
  }
  if (ctr_parse_rfc3339(s, ns) == 0)
    return 0;
  /* Unix seconds[.fraction] */
  const char *p = s;
  int neg = *p == '-';
  if (neg)
    p++;
  if (!isdigit((unsigned char)*p))
    return -1;
  int64_t sec = 0, frac = 0;
  for (; isdigit((unsigned char)*p); p++) {
    if (sec > (INT64_MAX / 1000000000 - 10) / 10)
      return -1;
    sec = sec * 10 + (*p - '0');
  }
  if (*p == '.') {
    p++;
    int n = 0;
    for (; isdigit((unsigned char)*p); p++)
      if (n < 9) {
        frac = frac * 10 + (*p - '0');
        n++;
      }
    for (; n < 9; n++)
      frac *= 10;
  }
  if (*p != '\0')
    return -1;
  *ns = (neg ? -1 : 1) * (sec * 1000000000 + frac);
  return 0;
}

long long ctr_parse_tail(const char *s) {
  if (s == NULL || s[0] == '\0' || strcmp(s, "all") == 0)
    return -1;
  char *end;
  errno = 0;
  long long n = strtoll(s, &end, 10);
  if (errno != 0 || *end != '\0' || end == s || n < 0)
    return -1;
  return n;
}

/* ---- signals: moby's pkg/signal SignalMap (linux) ---- */

int ctr_parse_signal(const char *s) {
  static const struct {
    const char *name;
    int sig;
  } map[] = {
      {"ABRT", SIGABRT}, {"ALRM", SIGALRM}, {"BUS", SIGBUS},     {"CHLD", SIGCHLD},     {"CLD", SIGCHLD},
      {"CONT", SIGCONT}, {"FPE", SIGFPE},   {"HUP", SIGHUP},     {"ILL", SIGILL},       {"INT", SIGINT},
      {"IO", SIGIO},     {"IOT", SIGIOT},   {"KILL", SIGKILL},   {"PIPE", SIGPIPE},     {"POLL", SIGPOLL},
      {"PROF", SIGPROF}, {"PWR", SIGPWR},   {"QUIT", SIGQUIT},   {"SEGV", SIGSEGV},     {"STKFLT", SIGSTKFLT},
      {"STOP", SIGSTOP}, {"SYS", SIGSYS},   {"TERM", SIGTERM},   {"TRAP", SIGTRAP},     {"TSTP", SIGTSTP},
      {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU}, {"URG", SIGURG},     {"USR1", SIGUSR1},     {"USR2", SIGUSR2},
      {"VTALRM", SIGVTALRM}, {"WINCH", SIGWINCH}, {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
  };
  if (s == NULL || s[0] == '\0')
    return -1;
  if (isdigit((unsigned char)s[0])) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    return errno == 0 && *end == '\0' && v >= 1 && v <= 64 ? (int)v : -1;
  }
  if (strncasecmp(s, "SIG", 3) == 0)
    s += 3;
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strcasecmp(s, map[i].name) == 0)
      return map[i].sig;
  /* Go's view of the real-time range: RTMIN is 34, RTMAX 64. */
  int base = 0, sign = 0;
  if (strncasecmp(s, "RTMIN", 5) == 0)
    base = 34, sign = 1;
  else if (strncasecmp(s, "RTMAX", 5) == 0)
    base = 64, sign = -1;
  else
    return -1;
  s += 5;
  if (*s == '\0')
    return base;
  if (*s != (sign > 0 ? '+' : '-') || !isdigit((unsigned char)s[1]) || (s[2] != '\0' && (!isdigit((unsigned char)s[2]) || s[3] != '\0')))
    return -1;
  int n = atoi(s + 1);
  if (n < 1 || n > 15 || (sign < 0 && n > 14))
    return -1;
  return base + sign * n;
}

/* ---- json-file log lines ---- */

int ctr_log_parse_line(const char *line, size_t len, ctr_log_entry_t *e) {
  memset(e, 0, sizeof *e);
  if (len == 0 || len > (1u << 30))
    return -1;
  json_tokener *tok = json_tokener_new();
  if (tok == NULL)
    return -1;
  struct json_object *o = json_tokener_parse_ex(tok, line, (int)len);
  int bad = json_tokener_get_error(tok) != json_tokener_success || json_tokener_get_parse_end(tok) != len;
  json_tokener_free(tok);
  struct json_object *log, *stream, *time;
  if (bad || !json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "log", &log) ||
      !json_object_object_get_ex(o, "stream", &stream) || !json_object_object_get_ex(o, "time", &time) ||
      !json_object_is_type(log, json_type_string) || !json_object_is_type(stream, json_type_string) ||
      !json_object_is_type(time, json_type_string))
    goto fail;
  const char *st = json_object_get_string(stream);
  if (strcmp(st, "stdout") == 0)
    e->stream = 1;
  else if (strcmp(st, "stderr") == 0)
    e->stream = 2;
  else
    goto fail;
  if (ctr_parse_rfc3339(json_object_get_string(time), &e->time_ns) < 0)
    goto fail;
  e->log = json_object_get_string(log);
  e->len = (size_t)json_object_get_string_len(log);
  e->obj = o;
  return 0;
fail:
  json_object_put(o);
  memset(e, 0, sizeof *e);
  return -1;
}

void ctr_log_entry_release(ctr_log_entry_t *e) {
  json_object_put(e->obj);
  memset(e, 0, sizeof *e);
}
