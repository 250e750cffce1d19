/* Pipes, byte queues, line splitting, progress-line checking and a tar
 * completeness watcher for the image streams. See pump.h. */
#include "pump.h"
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PIPE_CAPACITY (1024 * 1024)

int api_pipe(int fds[2], int ours, berth_error_t *err) {
  if (pipe2(fds, O_CLOEXEC) < 0)
    return berth_error_errno(err, "creating a pipe");
  int fl = fcntl(fds[ours], F_GETFL);
  if (fl < 0 || fcntl(fds[ours], F_SETFL, fl | O_NONBLOCK) < 0) {
    int r = berth_error_errno(err, "making a pipe non-blocking");
    close(fds[0]);
    close(fds[1]);
    return r;
  }
  /* Fewer wake-ups per megabyte; refused above pipe-max-size: keep the default. */
  (void)fcntl(fds[0], F_SETPIPE_SZ, PIPE_CAPACITY);
  return 0;
}

/* ---- byte queue ---- */

int api_buf_append(api_buf_t *b, const void *p, size_t n) {
  if (n == 0)
    return 0;
  if (b->start > 0 && b->start + b->len + n > b->cap) {
    memmove(b->data, b->data + b->start, b->len);
    b->start = 0;
  }
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + n)
      cap *= 2;
    char *nd = realloc(b->data, cap);
    if (nd == NULL)
      return -1;
    b->data = nd;
    b->cap = cap;
  }
  memcpy(b->data + b->start + b->len, p, n);
  b->len += n;
  return 0;
}

size_t api_buf_take(api_buf_t *b, void *out, size_t max) {
  size_t n = b->len < max ? b->len : max;
  memcpy(out, b->data + b->start, n);
  b->start += n;
  b->len -= n;
  if (b->len == 0)
    b->start = 0;
  return n;
}

void api_buf_free(api_buf_t *b) {
  free(b->data);
  *b = (api_buf_t){0};
}

/* ---- lines ---- */

static void deliver(api_lines_t *l, const char *p, size_t n, api_line_fn fn, void *ud) {
  if (n > 0 && p[n - 1] == '\r')
    n--;
  fn(p, n, ud);
}

void api_lines_feed(api_lines_t *l, const char *data, size_t n, api_line_fn fn, void *ud) {
  while (n > 0) {
    const char *nl = memchr(data, '\n', n);
    size_t seg = nl ? (size_t)(nl - data) : n;
    if (l->skipping) {
      /* the rest of an over-long line */
    } else if (l->partial.len + seg > l->max_line) {
      l->skipping = 1;
      l->too_long++;
      l->partial.len = l->partial.start = 0;
    } else if (nl && l->partial.len == 0) {
      deliver(l, data, seg, fn, ud);   /* whole line in this chunk: no copy */
    } else if (api_buf_append(&l->partial, data, seg) < 0) {
      l->skipping = 1;
      l->too_long++;
      l->partial.len = l->partial.start = 0;
    } else if (nl) {
      deliver(l, l->partial.data + l->partial.start, l->partial.len, fn, ud);
      l->partial.len = l->partial.start = 0;
    }
    if (nl)
      l->skipping = 0;
    size_t used = nl ? seg + 1 : seg;
    data += used;
    n -= used;
  }
}

void api_lines_finish(api_lines_t *l, api_line_fn fn, void *ud) {
  if (!l->skipping && l->partial.len > 0)
    deliver(l, l->partial.data + l->partial.start, l->partial.len, fn, ud);
  l->partial.len = l->partial.start = 0;
  l->skipping = 0;
}

void api_lines_free(api_lines_t *l) {
  api_buf_free(&l->partial);
}

/* ---- progress lines ---- */

int api_progress_line(const char *line, size_t len, api_buf_t *out, struct json_object **parsed) {
  if (parsed)
    *parsed = NULL;
  size_t i = 0;
  while (i < len && (line[i] == ' ' || line[i] == '\t'))
    i++;
  if (i == len || memchr(line, '\0', len) != NULL)
    return 0;
  char top = 0;
  if (!api_json_valid(line, len, 32, &top) || top != '{')
    return 0;
  struct json_tokener *tok = json_tokener_new_ex(32);
  if (tok == NULL)
    return -1;
  struct json_object *o = json_tokener_parse_ex(tok, line, (int)len);
  json_tokener_free(tok);
  if (o == NULL)
    return 0;
  size_t n = 0;
  const char *s = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);
  /* json-c decodes a lone "\ud800" escape into bytes that are not UTF-8 and
   * writes them out raw: what it wrote must pass the check again. */
  if (s && (!api_json_valid(s, n, 32, &top) || memchr(s, '\n', n) != NULL)) {
    json_object_put(o);
    return 0;
  }
  int r = s && api_buf_append(out, s, n) == 0 && api_buf_append(out, "\n", 1) == 0 ? 1 : -1;
  if (r == 1 && parsed)
    *parsed = o;
  else
    json_object_put(o);
  return r;
}

/* ---- tar watcher ---- */

/* A numeric header field: octal digits (space/NUL padded), or GNU base-256
 * when the first byte has its high bit set. Returns -1 when malformed. */
static int64_t tar_number(const unsigned char *f, size_t n) {
  if (f[0] & 0x80) {
    if (f[0] & 0x40)
      return -1;   /* negative */
    uint64_t v = f[0] & 0x3f;
    for (size_t i = 1; i < n; i++) {
      if (v >> 55)
        return -1;
      v = (v << 8) | f[i];
    }
    return (int64_t)v;
  }
  size_t i = 0;
  while (i < n && f[i] == ' ')
    i++;
  uint64_t v = 0;
  int digits = 0;
  for (; i < n && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
    if (v >> 60)
      return -1;
    v = v * 8 + (uint64_t)(f[i] - '0');
  }
  for (; i < n; i++)
    if (f[i] != ' ' && f[i] != '\0')
      return -1;
  return digits ? (int64_t)v : 0;
}

static void tar_header(api_tar_watch_t *t) {
  int zero = 1;
  for (size_t i = 0; i < 512 && zero; i++)
    zero = t->hdr[i] == 0;
  if (zero) {
    if (++t->zero_blocks == 2)
      t->ended = 1;
    return;
  }
  if (t->zero_blocks) {
    t->bad = 1;   /* a lone zero block inside the archive */
    return;
  }
  /* The checksum counts its own field as eight spaces. */
  uint64_t sum = 0;
  for (size_t i = 0; i < 512; i++)
    sum += i >= 148 && i < 156 ? ' ' : t->hdr[i];
  int64_t want = tar_number(t->hdr + 148, 8);
  int64_t size = tar_number(t->hdr + 124, 12);
  if (want < 0 || (uint64_t)want != sum || size < 0) {
    t->bad = 1;
    return;
  }
  t->entries++;
  /* Header-only types carry no data whatever their size field says. */
  static const char header_only[] = "123456";
  if (t->hdr[156] != 0 && strchr(header_only, t->hdr[156]))
    size = 0;
  t->skip = ((uint64_t)size + 511) / 512 * 512;
}

void api_tar_watch_feed(api_tar_watch_t *t, const void *data, size_t n) {
  const unsigned char *p = data;
  while (n > 0 && !t->ended && !t->bad) {
    if (t->skip > 0) {
      size_t k = t->skip < n ? (size_t)t->skip : n;
      t->skip -= k;
      p += k;
      n -= k;
      continue;
    }
    size_t k = 512 - t->fill < n ? 512 - t->fill : n;
    memcpy(t->hdr + t->fill, p, k);
    t->fill += k;
    p += k;
    n -= k;
    if (t->fill == 512) {
      t->fill = 0;
      tar_header(t);
    }
  }
}

int api_tar_watch_complete(const api_tar_watch_t *t) {
  return t->ended && !t->bad;
}
