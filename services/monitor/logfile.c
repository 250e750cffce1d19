/* The container's log in Docker's json-file format, one JSON object a line:
 *   {"log":"hello\n","stream":"stdout","time":"2026-01-02T03:04:05.123456789Z"}
 * Output is split at '\n' (kept in "log") or after 16 KiB without one (a
 * partial message: no '\n' at the end), as Docker's copier does; "time" is
 * when the message's first byte was read, RFC 3339 with nanoseconds and
 * trailing zeros trimmed (Go's RFC3339Nano). Invalid UTF-8 becomes U+FFFD
 * (as Docker does) so every line is valid JSON; json-c does the escaping.
 *
 * Rotation by size: a line that would take log.json past max_size (and
 * log.json is not empty) first rotates log.json -> log.json.1 -> ... ->
 * log.json.<max_files-1>; the oldest falls off; with max_files 1 the file
 * is replaced by an empty one. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "log.h"
#include "monitor.h"

#define LOG_MSG_MAX 16384
#define LOG_NAME "log.json"

struct logfile {
  int dirfd, fd;
  uint64_t size, max_size;
  unsigned max_files;
  struct {
    uint8_t buf[LOG_MSG_MAX];
    size_t len;
    int64_t ts;
  } part[2];
  uint8_t utf8[LOG_MSG_MAX * 3];
  char line[LOG_MSG_MAX * 6 + 256];
};

static int open_current(logfile_t *l, berth_error_t *err) {
  int fd = openat(l->dirfd, LOG_NAME, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0640);
  if (fd < 0)
    return berth_error_errno(err, "open mon/" LOG_NAME);
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return berth_error_make(err, EINVAL, "mon/" LOG_NAME " is not a regular file");
  }
  if (fcntl(fd, F_SETFL, O_APPEND) < 0) {
    close(fd);
    return berth_error_errno(err, "fcntl mon/" LOG_NAME);
  }
  if (l->fd >= 0)
    close(l->fd);
  l->fd = fd;
  l->size = (uint64_t)st.st_size;
  return 0;
}

int logfile_open(logfile_t **out, int dirfd, uint64_t max_size, unsigned max_files, berth_error_t *err) {
  logfile_t *l = calloc(1, sizeof *l);
  if (l == NULL)
    return berth_error_make(err, ENOMEM, "out of memory for the log");
  l->dirfd = dirfd;
  l->fd = -1;
  l->max_size = max_size;
  l->max_files = max_files;
  if (open_current(l, err) < 0) {
    free(l);
    return -1;
  }
  *out = l;
  return 0;
}

void logfile_close(logfile_t *l) {
  if (l == NULL)
    return;
  if (l->fd >= 0)
    close(l->fd); /* no fsync, as docker's json-file: the page cache has it for every reader */
  free(l);
}

static int rotate(logfile_t *l, berth_error_t *err) {
  char from[32], to[32];
  if (l->max_files <= 1) {
    if (unlinkat(l->dirfd, LOG_NAME, 0) < 0 && errno != ENOENT)
      return berth_error_errno(err, "rotating: unlink mon/" LOG_NAME);
  } else {
    for (unsigned k = l->max_files - 1; k >= 2; k--) {
      snprintf(from, sizeof from, LOG_NAME ".%u", k - 1);
      snprintf(to, sizeof to, LOG_NAME ".%u", k);
      if (renameat(l->dirfd, from, l->dirfd, to) < 0 && errno != ENOENT)
        return berth_error_errno(err, "rotating: rename mon/%s to %s", from, to);
    }
    if (renameat(l->dirfd, LOG_NAME, l->dirfd, LOG_NAME ".1") < 0)
      return berth_error_errno(err, "rotating: rename mon/" LOG_NAME " to " LOG_NAME ".1");
  }
  /* A file left over from a larger log-max-files setting. */
  snprintf(to, sizeof to, LOG_NAME ".%u", l->max_files);
  (void)unlinkat(l->dirfd, to, 0);
  return open_current(l, err) < 0 ? berth_error_wrap(err, "rotating") : 0;
}

/* Length of the longest prefix of s[0..n) that does not end inside a UTF-8
 * sequence which the next bytes might complete. */
static size_t utf8_whole(const uint8_t *s, size_t n) {
  for (size_t back = 1; back <= 3 && back <= n; back++) {
    uint8_t c = s[n - back];
    if ((c & 0xC0) == 0x80)
      continue; /* continuation byte: look further back */
    size_t want = c >= 0xF0 && c <= 0xF4 ? 4 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xC2 && c <= 0xDF ? 2 : 1;
    return want > back ? n - back : n;
  }
  return n;
}

/* Copies s to out replacing every invalid UTF-8 sequence by U+FFFD. */
static size_t utf8_sanitize(const uint8_t *s, size_t n, uint8_t *out) {
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    uint8_t c = s[i];
    size_t len = 0;
    uint32_t cp = 0, min = 0;
    if (c < 0x80)
      len = 1, cp = c;
    else if (c >= 0xC2 && c <= 0xDF)
      len = 2, cp = c & 0x1F, min = 0x80;
    else if (c >= 0xE0 && c <= 0xEF)
      len = 3, cp = c & 0x0F, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
      len = 4, cp = c & 0x07, min = 0x10000;
    bool ok = len > 0 && i + len <= n;
    for (size_t k = 1; ok && k < len; k++) {
      if ((s[i + k] & 0xC0) != 0x80)
        ok = false;
      else
        cp = cp << 6 | (s[i + k] & 0x3F);
    }
    if (ok && (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)))
      ok = false;
    if (!ok) {
      memcpy(out + o, "\xEF\xBF\xBD", 3);
      o += 3;
      i++;
      continue;
    }
    memcpy(out + o, s + i, len);
    o += len;
    i += len;
  }
  return o;
}

/* Go's time.RFC3339Nano in UTC: fraction without trailing zeros. */
static void format_time(int64_t ns, char *buf, size_t size) {
  time_t sec = (time_t)(ns / 1000000000);
  long frac = (long)(ns % 1000000000);
  struct tm tm;
  gmtime_r(&sec, &tm);
  size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
  if (frac > 0) {
    char f[16];
    snprintf(f, sizeof f, ".%09ld", frac);
    size_t k = strlen(f);
    while (f[k - 1] == '0')
      f[--k] = '\0';
    snprintf(buf + n, size - n, "%sZ", f);
  } else {
    snprintf(buf + n, size - n, "Z");
  }
}

static int emit(logfile_t *l, int stream, const uint8_t *data, size_t len, int64_t ts, bool *rotated,
                berth_error_t *err) {
  size_t ulen = utf8_sanitize(data, len, l->utf8);
  json_object *s = json_object_new_string_len((const char *)l->utf8, (int)ulen);
  if (s == NULL)
    return berth_error_make(err, ENOMEM, "out of memory for a log line");
  const char *esc = json_object_to_json_string_ext(s, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  char when[64];
  format_time(ts, when, sizeof when);
  int n = snprintf(l->line, sizeof l->line, "{\"log\":%s,\"stream\":\"%s\",\"time\":\"%s\"}\n", esc ? esc : "\"\"",
                   stream == LOG_STREAM_STDERR ? "stderr" : "stdout", when);
  json_object_put(s);
  if (n < 0 || (size_t)n >= sizeof l->line)
    return berth_error_make(err, EOVERFLOW, "log line too long");
  if (l->size > 0 && l->size + (uint64_t)n > l->max_size) {
    if (rotate(l, err) < 0)
      return -1;
    *rotated = true;
  }
  for (size_t off = 0; off < (size_t)n;) {
    ssize_t w = write(l->fd, l->line + off, (size_t)n - off);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return berth_error_errno(err, "write mon/" LOG_NAME);
    off += (size_t)w;
    l->size += (uint64_t)w;
  }
  return 0;
}

int logfile_write(logfile_t *l, int stream, const uint8_t *data, size_t len, bool *rotated, berth_error_t *err) {
  int ret = 0;
  typeof(l->part[0]) *p = &l->part[stream == LOG_STREAM_STDERR];
  int64_t now = monitor_now_ns();
  while (len > 0) {
    if (p->len == 0)
      p->ts = now;
    size_t room = sizeof p->buf - p->len, take = len < room ? len : room;
    const uint8_t *nl = memchr(data, '\n', take);
    if (nl)
      take = (size_t)(nl - data) + 1;
    memcpy(p->buf + p->len, data, take);
    p->len += take;
    data += take;
    len -= take;
    if (!nl && p->len < sizeof p->buf)
      break; /* a partial line: wait for the rest */
    /* A whole line, or 16 KiB without '\n': cut at a character boundary. */
    size_t cut = nl ? p->len : utf8_whole(p->buf, p->len);
    if (cut == 0)
      cut = p->len;
    if (emit(l, stream, p->buf, cut, p->ts, rotated, err) < 0 && ret == 0)
      ret = -1, err = NULL; /* report the first failure, keep logging */
    memmove(p->buf, p->buf + cut, p->len - cut);
    p->len -= cut;
    p->ts = now;
  }
  return ret;
}

int logfile_flush(logfile_t *l, int stream, bool *rotated, berth_error_t *err) {
  typeof(l->part[0]) *p = &l->part[stream == LOG_STREAM_STDERR];
  if (p->len == 0)
    return 0;
  int r = emit(l, stream, p->buf, p->len, p->ts, rotated, err);
  p->len = 0;
  return r;
}
