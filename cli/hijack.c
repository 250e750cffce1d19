/* Raw HTTP/1.1 on our own unix socket, for the two requests libcurl (7.88)
 * cannot serve: attach, whose connection is handed over after
 * "101 UPGRADED" and then carries the raw stream both ways (with a
 * half-close), and wait, whose answer is read long after it was sent.
 * Only what those need: one request out, one response head in (status line
 * and headers up to the blank line, bounded), a body by Content-Length,
 * chunked or up to EOF (bounded). Everything the engine sends is checked. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "berth.h"
#include "ctr.h"

int cli_unix_connect(const char *path, berth_error_t *err) {
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen(path) >= sizeof sa.sun_path)
    return berth_error_make(err, ENAMETOOLONG, "socket path too long: %s", path);
  memcpy(sa.sun_path, path, strlen(path) + 1);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return berth_error_errno(err, "socket");
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return berth_error_errno(err, "cannot connect to berth at unix://%s", path);
  }
  return fd;
}

static int write_all(int fd, const char *p, size_t n, berth_error_t *err) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0)
      return berth_error_errno(err, "sending the request");
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int cli_http_send(int fd, const char *method, const char *path, const char *content_type, const char *body,
                  size_t body_len, bool upgrade, berth_error_t *err) {
  char *req = NULL;
  char ctype[160] = "";
  if (content_type)
    snprintf(ctype, sizeof ctype, "Content-Type: %s\r\n", content_type);
  int n = asprintf(&req,
                   "%s %s HTTP/1.1\r\nHost: api.moby.localhost\r\nUser-Agent: berth-cli/%s (linux)\r\n"
                   "Content-Length: %zu\r\n%s%s\r\n",
                   method, path, BERTH_VERSION_STRING, body_len, ctype,
                   upgrade ? "Connection: Upgrade\r\nUpgrade: tcp\r\n" : "");
  if (n < 0)
    return berth_error_make(err, ENOMEM, "out of memory");
  int r = write_all(fd, req, (size_t)n, err);
  free(req);
  if (r == 0 && body_len > 0)
    r = write_all(fd, body, body_len, err);
  return r;
}

void cli_http_head_free(cli_http_head_t *head) {
  free(head->extra);
  head->extra = NULL;
  head->extra_len = 0;
}

/* A header value as a token list: does it hold `token` (any case)? */
static bool has_token(const char *v, size_t n, const char *token) {
  size_t tl = strlen(token);
  for (size_t i = 0; i < n;) {
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
      i++;
    size_t s = i;
    while (i < n && v[i] != ',')
      i++;
    size_t e = i;
    while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
      e--;
    if (e - s == tl && strncasecmp(v + s, token, tl) == 0)
      return true;
  }
  return false;
}

static bool is_tchar(char c) {
  return isalnum((unsigned char)c) || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int bad(berth_error_t *err, const char *what) {
  return berth_error_make(err, EBADMSG, "the engine's response is malformed: %s", what);
}

/* One header line (without its line end). */
static int parse_header(const char *l, size_t n, cli_http_head_t *h, berth_error_t *err) {
  size_t i = 0;
  while (i < n && is_tchar(l[i]))
    i++;
  if (i == 0 || i >= n || l[i] != ':')
    return bad(err, "a header line without a name and ':'");
  size_t nl = i;
  const char *v = l + i + 1, *end = l + n;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
    end--;
  size_t vl = (size_t)(end - v);
  for (size_t k = 0; k < vl; k++)
    if ((unsigned char)v[k] < 0x20 && v[k] != '\t')
      return bad(err, "a control character in a header value");
  if (nl == 14 && strncasecmp(l, "Content-Length", nl) == 0) {
    int64_t len = 0;
    if (vl == 0 || vl > 18)
      return bad(err, "Content-Length is not a number");
    for (size_t k = 0; k < vl; k++) {
      if (!isdigit((unsigned char)v[k]))
        return bad(err, "Content-Length is not a number");
      len = len * 10 + (v[k] - '0');
    }
    if (h->content_length >= 0 && h->content_length != len)
      return bad(err, "two different Content-Length headers");
    h->content_length = len;
  } else if (nl == 17 && strncasecmp(l, "Transfer-Encoding", nl) == 0) {
    if (!(vl == 7 && strncasecmp(v, "chunked", 7) == 0))
      return bad(err, "a Transfer-Encoding other than chunked");
    h->chunked = true;
  } else if (nl == 10 && strncasecmp(l, "Connection", nl) == 0) {
    if (has_token(v, vl, "upgrade"))
      h->upgraded = true;
  } else if (nl == 12 && strncasecmp(l, "Content-Type", nl) == 0) {
    snprintf(h->content_type, sizeof h->content_type, "%.*s", (int)vl, v);
  }
  return 0;
}

int cli_http_parse_head(const char *buf, size_t n, cli_http_head_t *h, berth_error_t *err) {
  h->status = 0;
  h->reason[0] = h->content_type[0] = '\0';
  h->content_length = -1;
  h->chunked = h->upgraded = false;
  size_t pos = 0;
  bool first = true;
  while (pos < n) {
    const char *l = buf + pos;
    const char *nlp = memchr(l, '\n', n - pos);
    if (nlp == NULL)
      return bad(err, "the head does not end with a blank line");
    size_t ll = (size_t)(nlp - l);
    pos += ll + 1;
    if (ll > 0 && l[ll - 1] == '\r')
      ll--;
    if (memchr(l, '\0', ll) != NULL || (ll > 0 && memchr(l, '\r', ll) != NULL))
      return bad(err, "a NUL or CR inside a line");
    if (first) {
      /* "HTTP/1.1 101 UPGRADED" */
      if (ll < 12 || (strncmp(l, "HTTP/1.1 ", 9) != 0 && strncmp(l, "HTTP/1.0 ", 9) != 0) ||
          !isdigit((unsigned char)l[9]) || !isdigit((unsigned char)l[10]) || !isdigit((unsigned char)l[11]) ||
          (ll > 12 && l[12] != ' '))
        return bad(err, "no HTTP/1.x status line");
      h->status = (l[9] - '0') * 100 + (l[10] - '0') * 10 + (l[11] - '0');
      if (h->status < 100)
        return bad(err, "a status code below 100");
      if (ll > 13)
        snprintf(h->reason, sizeof h->reason, "%.*s", (int)(ll - 13), l + 13);
      first = false;
      continue;
    }
    if (ll == 0)
      return pos == n ? 0 : bad(err, "bytes after the blank line were given as head");
    if (l[0] == ' ' || l[0] == '\t')
      return bad(err, "a folded header line");
    if (parse_header(l, ll, h, err) < 0)
      return -1;
  }
  return bad(err, first ? "an empty response" : "the head does not end with a blank line");
}

/* End of the head in buf[0..n): the offset just past "\r\n\r\n" or "\n\n", 0 if none yet. */
static size_t head_end(const char *buf, size_t n, size_t from) {
  for (size_t i = from > 3 ? from - 3 : 0; i < n; i++) {
    if (buf[i] != '\n')
      continue;
    if (i + 1 < n && buf[i + 1] == '\n')
      return i + 2;
    if (i + 2 < n && buf[i + 1] == '\r' && buf[i + 2] == '\n')
      return i + 3;
  }
  return 0;
}

int cli_http_read_head(int fd, cli_http_head_t *h, berth_error_t *err) {
  memset(h, 0, sizeof *h);
  size_t cap = 4096, n = 0, end = 0;
  char *buf = malloc(cap);
  if (buf == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  while (end == 0) {
    if (n == cap) {
      if (cap >= CLI_HTTP_HEAD_MAX) {
        free(buf);
        return berth_error_make(err, EBADMSG, "the engine's response head is larger than %d bytes",
                                CLI_HTTP_HEAD_MAX);
      }
      char *p = realloc(buf, cap * 2);
      if (p == NULL) {
        free(buf);
        return berth_error_make(err, ENOMEM, "out of memory");
      }
      buf = p;
      cap *= 2;
    }
    ssize_t r = recv(fd, buf + n, cap - n, 0);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0) {
      int e = errno;
      free(buf);
      if (r == 0)
        return berth_error_make(err, ECONNRESET, "the engine closed the connection before answering");
      errno = e;
      return berth_error_errno(err, "reading the engine's answer");
    }
    size_t from = n;
    n += (size_t)r;
    end = head_end(buf, n, from);
  }
  int rc = cli_http_parse_head(buf, end, h, err);
  if (rc == 0 && n > end) {
    h->extra = malloc(n - end);
    if (h->extra == NULL)
      rc = berth_error_make(err, ENOMEM, "out of memory");
    else {
      memcpy(h->extra, buf + end, n - end);
      h->extra_len = n - end;
    }
  }
  free(buf);
  return rc;
}

/* Buffered reads: first what came with the head, then the socket. */
typedef struct {
  int fd;
  cli_http_head_t *h;
  size_t pos;
  char buf[4096];
  size_t bpos, blen;
} reader_t;

/* Up to n bytes into out; 0 at EOF. */
static ssize_t rd(reader_t *r, char *out, size_t n) {
  if (r->pos < r->h->extra_len) {
    size_t k = r->h->extra_len - r->pos < n ? r->h->extra_len - r->pos : n;
    memcpy(out, r->h->extra + r->pos, k);
    r->pos += k;
    return (ssize_t)k;
  }
  if (r->bpos < r->blen) {
    size_t k = r->blen - r->bpos < n ? r->blen - r->bpos : n;
    memcpy(out, r->buf + r->bpos, k);
    r->bpos += k;
    return (ssize_t)k;
  }
  for (;;) {
    ssize_t k = recv(r->fd, r->buf, sizeof r->buf, 0);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return k;
    r->blen = (size_t)k;
    r->bpos = 0;
    return rd(r, out, n);
  }
}

/* A line of at most max bytes, without its line end. */
static int rd_line(reader_t *r, char *line, size_t max, berth_error_t *err) {
  size_t n = 0;
  for (;;) {
    char c;
    ssize_t k = rd(r, &c, 1);
    if (k < 0)
      return berth_error_errno(err, "reading the engine's answer");
    if (k == 0)
      return berth_error_make(err, EBADMSG, "the engine's chunked answer ended early");
    if (c == '\n')
      break;
    if (n + 1 >= max)
      return berth_error_make(err, EBADMSG, "the engine's chunked answer has an overlong line");
    line[n++] = c;
  }
  if (n > 0 && line[n - 1] == '\r')
    n--;
  line[n] = '\0';
  return 0;
}

typedef struct {
  char *p;
  size_t len, max;
} body_t;

static int take(reader_t *r, body_t *b, uint64_t want, bool to_eof, berth_error_t *err) {
  while (to_eof || want > 0) {
    char tmp[4096];
    size_t ask = to_eof || want > sizeof tmp ? sizeof tmp : (size_t)want;
    ssize_t k = rd(r, tmp, ask);
    if (k < 0)
      return berth_error_errno(err, "reading the engine's answer");
    if (k == 0) {
      if (to_eof)
        return 0;
      return berth_error_make(err, EBADMSG, "the engine's answer ended early");
    }
    if (b->len + (size_t)k > b->max)
      return berth_error_make(err, EMSGSIZE, "the engine's answer is larger than %zu bytes", b->max);
    char *p = realloc(b->p, b->len + (size_t)k + 1);
    if (p == NULL)
      return berth_error_make(err, ENOMEM, "out of memory");
    b->p = p;
    memcpy(b->p + b->len, tmp, (size_t)k);
    b->len += (size_t)k;
    b->p[b->len] = '\0';
    want -= to_eof ? 0 : (uint64_t)k;
  }
  return 0;
}

static int read_chunked(reader_t *r, body_t *b, berth_error_t *err) {
  char line[1024];
  for (;;) {
    if (rd_line(r, line, sizeof line, err) < 0)
      return -1;
    uint64_t size = 0;
    size_t i = 0;
    for (; isxdigit((unsigned char)line[i]); i++) {
      if (i >= 15)
        return berth_error_make(err, EBADMSG, "the engine's chunk size is too large");
      int c = tolower((unsigned char)line[i]);
      size = size * 16 + (uint64_t)(isdigit(c) ? c - '0' : c - 'a' + 10);
    }
    if (i == 0 || (line[i] != '\0' && line[i] != ';' && line[i] != ' ' && line[i] != '\t'))
      return berth_error_make(err, EBADMSG, "the engine's answer has a bad chunk size line");
    if (size == 0)
      break;
    if (size > b->max - b->len)
      return berth_error_make(err, EMSGSIZE, "the engine's answer is larger than %zu bytes", b->max);
    char crlf[2];
    if (take(r, b, size, false, err) < 0)
      return -1;
    for (size_t k = 0; k < 2;) {
      ssize_t got = rd(r, crlf + k, 2 - k);
      if (got < 0)
        return berth_error_errno(err, "reading the engine's answer");
      if (got == 0)
        return berth_error_make(err, EBADMSG, "the engine's chunked answer ended early");
      k += (size_t)got;
    }
    if (crlf[0] != '\r' || crlf[1] != '\n')
      return berth_error_make(err, EBADMSG, "the engine's chunk does not end with CRLF");
  }
  for (int trailers = 0;; trailers++) { /* trailers up to the blank line */
    if (trailers > 64)
      return berth_error_make(err, EBADMSG, "the engine's answer has too many trailers");
    if (rd_line(r, line, sizeof line, err) < 0)
      return -1;
    if (line[0] == '\0')
      return 0;
  }
}

int cli_http_read_body(int fd, cli_http_head_t *h, size_t max, char **body, size_t *len, berth_error_t *err) {
  reader_t *r = calloc(1, sizeof *r);
  body_t b = { .p = strdup(""), .max = max };
  int rc = 0;
  if (r == NULL || b.p == NULL) {
    rc = berth_error_make(err, ENOMEM, "out of memory");
    goto out;
  }
  r->fd = fd;
  r->h = h;
  if (h->status == 101 || h->status == 204 || h->status == 304 || (h->status >= 100 && h->status < 200))
    goto out;
  if (h->chunked)
    rc = read_chunked(r, &b, err);
  else if (h->content_length >= 0) {
    if ((uint64_t)h->content_length > max)
      rc = berth_error_make(err, EMSGSIZE, "the engine's answer is larger than %zu bytes", max);
    else
      rc = take(r, &b, (uint64_t)h->content_length, false, err);
  } else
    rc = take(r, &b, 0, true, err);
out:
  free(r);
  if (rc < 0) {
    free(b.p);
    return rc;
  }
  *body = b.p;
  *len = b.len;
  return 0;
}
