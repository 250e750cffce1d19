/* berth-apid's image plumbing that needs no server: errno -> HTTP status,
 * Document replies (memfd, bounds, strict JSON), progress lines (split,
 * checked, re-serialised) and the tar completeness watcher used by save. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "app.h"
#include "pump.h"
#include "tap.h"

static void check_errno_map(void) {
  static const struct {
    int e;
    unsigned status;
  } cases[] = {
      {ENOENT, 404}, {EINVAL, 400}, {EBADMSG, 400}, {ENAMETOOLONG, 400}, {EEXIST, 409}, {EBUSY, 409},
      {EPERM, 403},  {EFBIG, 413},  {EIO, 500},     {ENOSPC, 500},       {EACCES, 500}, {0, 500},
      {-1, 500},     {99999, 500},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    tap_ok(api_errno_status(cases[i].e) == cases[i].status, "errno %d (%s) -> %u", cases[i].e,
           cases[i].e > 0 ? strerror(cases[i].e) : "none", cases[i].status);
}

static int memfd_with(const char *s, size_t len) {
  int fd = memfd_create("doc", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0 || write(fd, s, len) != (ssize_t)len)
    abort();
  /* the writer's offset is left at the end, as imaged's would be */
  return fd;
}

static void check_documents(void) {
  static const struct {
    const char *doc;
    int ok;
  } cases[] = {
      {"[]", 1},
      {"{}", 1},
      {"[{\"Id\":\"sha256:ab\",\"RepoTags\":[\"busybox:latest\"],\"Size\":123}]\n", 1},
      {"  {\"a\":[1,2,{\"b\":null}]}  \n", 1},
      {"", 0},
      {"null", 0},
      {"\"string\"", 0},
      {"42", 0},
      {"[1,2", 0},
      {"[1,2,]", 0},
      {"{'a':1}", 0},
      {"[] []", 0},
      {"[]x", 0},
      {"{\"a\":1} trailing", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int fd = memfd_with(cases[i].doc, strlen(cases[i].doc));
    char *out = NULL;
    size_t len = 0;
    berth_error_t err = NULL;
    int r = api_document_read(fd, strlen(cases[i].doc), API_DOCUMENT_MAX, &out, &len, &err);
    if (cases[i].ok)
      tap_ok(r == 0 && len == strlen(cases[i].doc) && memcmp(out, cases[i].doc, len) == 0,
             "document %zu is accepted as is", i);
    else
      tap_ok(r < 0 && err && err->status == EBADMSG, "document %zu is refused", i);
    free(out);
    berth_error_release(&err);
    close(fd);
  }

  /* A NUL inside, a size over the limit, a size the file does not hold. */
  int fd = memfd_with("[\"a\0b\"]", 7);
  char *out = NULL;
  size_t len;
  berth_error_t err = NULL;
  tap_ok(api_document_read(fd, 7, API_DOCUMENT_MAX, &out, &len, &err) < 0, "a NUL byte in a document is refused");
  berth_error_release(&err);
  close(fd);
  fd = memfd_with("[1,2,3]", 7);
  tap_ok(api_document_read(fd, 7, 6, &out, &len, &err) < 0 && err->status == EFBIG, "a document over the limit: EFBIG");
  berth_error_release(&err);
  tap_ok(api_document_read(fd, 8, API_DOCUMENT_MAX, &out, &len, &err) < 0 && err->status == EPROTO,
         "a declared size the memfd does not hold: EPROTO");
  berth_error_release(&err);
  tap_ok(api_document_read(fd, 5, API_DOCUMENT_MAX, &out, &len, &err) < 0, "a declared size cutting the JSON short");
  berth_error_release(&err);
  tap_ok(api_document_read(fd, 7ull << 40, API_DOCUMENT_MAX, &out, &len, &err) < 0 && err->status == EFBIG,
         "a huge declared size is refused before any allocation");
  berth_error_release(&err);
  close(fd);
  int p[2];
  if (pipe(p) == 0) {
    tap_ok(api_document_read(p[0], 2, API_DOCUMENT_MAX, &out, &len, &err) < 0, "a pipe is not a document");
    berth_error_release(&err);
    close(p[0]);
    close(p[1]);
  }

  /* A deep document (many nested arrays) is refused, not recursed into. */
  size_t depth = 10000;
  char *deep = malloc(2 * depth);
  memset(deep, '[', depth);
  memset(deep + depth, ']', depth);
  fd = memfd_with(deep, 2 * depth);
  tap_ok(api_document_read(fd, 2 * depth, API_DOCUMENT_MAX, &out, &len, &err) < 0, "10000 nested arrays are refused");
  berth_error_release(&err);
  close(fd);
  free(deep);
}

static void check_json_valid(void) {
  static const struct {
    const char *s;
    int ok;
  } cases[] = {
      {"{}", 1}, {"[]", 1}, {" [ ] ", 1}, {"{\"a\":[1,-2,3.5,1e5,-0.5E-3,0]}", 1}, {"[true,false,null]", 1},
      {"[\"\\u00e9\\n\\\"\\/\\\\\"]", 1}, {"[\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\xb3\"]", 1},
      {"\"top string\"", 1}, {"42", 1},
      {"", 0}, {" ", 0}, {"{'a':1}", 0}, {"[NaN]", 0}, {"[Infinity]", 0}, {"[01]", 0}, {"[1.]", 0}, {"[.5]", 0},
      {"[1e]", 0}, {"[+1]", 0}, {"[1,]", 0}, {"{\"a\":1,}", 0}, {"{\"a\"}", 0}, {"{1:2}", 0}, {"[1 2]", 0},
      {"[] []", 0}, {"[\"\\x\"]", 0}, {"[\"\\u12\"]", 0}, {"[\"tab\there\"]", 0}, {"[\"\xc3\"]", 0},
      {"[\"\xc0\xaf\"]", 0}, {"[\"\xed\xa0\x80\"]", 0}, {"[\"\xf4\x90\x80\x80\"]", 0}, {"[tru]", 0},
      {"[nul]", 0}, {"{\"a\":1]", 0}, {"[1}", 0}, {"]", 0}, {"[", 0}, {"{", 0}, {"\"unterminated", 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char top = 0;
    tap_ok(api_json_valid(cases[i].s, strlen(cases[i].s), 32, &top) == cases[i].ok, "json case %zu %s", i,
           cases[i].ok ? "valid" : "invalid");
  }
  char deep[80];
  memset(deep, '[', 40);
  memset(deep + 40, ']', 40);
  tap_ok(api_json_valid(deep, 80, 40, NULL) == 1 && api_json_valid(deep, 80, 39, NULL) == 0,
         "depth limit is exact (40 levels)");
}

/* ---- lines and progress ---- */

typedef struct {
  char got[16][128];
  size_t n;
} lines_seen_t;

static void collect(const char *line, size_t len, void *ud) {
  lines_seen_t *s = ud;
  if (s->n < 16 && len < 128) {
    memcpy(s->got[s->n], line, len);
    s->got[s->n][len] = '\0';
  }
  s->n++;
}

static void check_lines(void) {
  api_lines_t l = {.max_line = 16};
  lines_seen_t s = {0};
  const char *input = "one\ntw";
  api_lines_feed(&l, input, strlen(input), collect, &s);
  api_lines_feed(&l, "o\r\n", 3, collect, &s);
  api_lines_feed(&l, "\nthis line is far too long", 26, collect, &s);
  api_lines_feed(&l, " and goes on\nfour", 17, collect, &s);
  api_lines_finish(&l, collect, &s);
  tap_ok(s.n == 4 && strcmp(s.got[0], "one") == 0 && strcmp(s.got[1], "two") == 0 && strcmp(s.got[2], "") == 0 &&
             strcmp(s.got[3], "four") == 0,
         "lines split across reads, CRLF trimmed, unterminated last line delivered (%zu lines)", s.n);
  tap_ok(l.too_long == 1, "an over-long line is dropped whole and counted");
  api_lines_free(&l);

  /* One byte at a time gives the same lines. */
  api_lines_t l2 = {.max_line = 64};
  lines_seen_t s2 = {0};
  const char *text = "{\"status\":\"Loading layer\"}\n{\"stream\":\"Loaded image: busybox:latest\\n\"}\n";
  for (size_t i = 0; text[i]; i++)
    api_lines_feed(&l2, text + i, 1, collect, &s2);
  api_lines_finish(&l2, collect, &s2);
  tap_ok(s2.n == 2 && strcmp(s2.got[0], "{\"status\":\"Loading layer\"}") == 0, "byte-by-byte feeding");
  api_lines_free(&l2);
}

static void check_progress(void) {
  static const struct {
    const char *line;
    int ok;
    const char *out;
  } cases[] = {
      {"{\"stream\":\"Loaded image: busybox:latest\\n\"}", 1, "{\"stream\":\"Loaded image: busybox:latest\\n\"}\n"},
      {"  {\"status\": \"Loading layer\", \"progressDetail\": {\"current\": 1, \"total\": 2}, \"id\": \"ab\"}  ", 1,
       "{\"status\":\"Loading layer\",\"progressDetail\":{\"current\":1,\"total\":2},\"id\":\"ab\"}\n"},
      {"{\"stream\":\"a/b\"}", 1, "{\"stream\":\"a/b\"}\n"},
      {"", 0, NULL},
      {"   ", 0, NULL},
      {"[1]", 0, NULL},
      {"\"text\"", 0, NULL},
      {"{\"a\":1}{\"b\":2}", 0, NULL},
      {"{\"a\":1", 0, NULL},
      {"not json at all", 0, NULL},
      {"{\"a\":1,}", 0, NULL},
      {"{\"stream\":\"\\ud800\"}", 1, "{\"stream\":\"\xef\xbf\xbd\"}\n"},   /* lone surrogate: U+FFFD */
      {"{\"stream\":\"\\u00e9\\u20ac\"}", 1, "{\"stream\":\"\xc3\xa9\xe2\x82\xac\"}\n"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    api_buf_t out = {0};
    struct json_object *o = NULL;
    int r = api_progress_line(cases[i].line, strlen(cases[i].line), &out, &o);
    if (cases[i].ok)
      tap_ok(r == 1 && o != NULL && out.len == strlen(cases[i].out) && memcmp(out.data, cases[i].out, out.len) == 0,
             "progress line %zu re-serialised", i);
    else
      tap_ok(r == 0 && o == NULL && out.len == 0, "progress line '%s' is dropped", cases[i].line);
    json_object_put(o);
    api_buf_free(&out);
  }
  /* A NUL inside a line cannot smuggle a second document through. */
  api_buf_t out = {0};
  tap_ok(api_progress_line("{}\0{\"x\":1}", 10, &out, NULL) == 0 && out.len == 0, "a NUL inside a line is refused");
  api_buf_free(&out);
}

static void check_buf(void) {
  api_buf_t b = {0};
  char chunk[4000], back[4000];
  int ok = 1;
  size_t put = 0, taken = 0;
  for (int round = 0; round < 50; round++) {
    size_t n = 3000 + (size_t)round;
    for (size_t i = 0; i < n; i++)
      chunk[i] = (char)((put + i) & 0xff);
    ok = ok && api_buf_append(&b, chunk, n) == 0;
    put += n;
    size_t got = api_buf_take(&b, back, 2500);
    for (size_t i = 0; i < got; i++)
      ok = ok && back[i] == (char)((taken + i) & 0xff);
    taken += got;
  }
  while (b.len) {
    size_t got = api_buf_take(&b, back, sizeof back);
    for (size_t i = 0; i < got; i++)
      ok = ok && back[i] == (char)((taken + i) & 0xff);
    taken += got;
  }
  tap_ok(ok && taken == put && b.len == 0, "byte queue hands out what went in, in order (%zu bytes)", put);
  api_buf_append(&b, "abc", 3);
  api_buf_take(&b, back, 1);
  api_buf_append(&b, "def", 3);
  size_t n = api_buf_take(&b, back, sizeof back);
  tap_ok(n == 5 && memcmp(back, "bcdef", 5) == 0, "byte queue keeps order after a partial take");
  api_buf_free(&b);
}

/* ---- tar watcher ---- */

static void put_octal(unsigned char *f, size_t n, uint64_t v) {
  memset(f, '0', n - 1);
  f[n - 1] = '\0';
  for (size_t i = n - 1; i-- > 0 && v;) {
    f[i] = (unsigned char)('0' + (v & 7));
    v >>= 3;
  }
}

static size_t tar_entry(unsigned char *out, const char *name, char type, size_t size) {
  unsigned char *h = out;
  memset(h, 0, 512);
  snprintf((char *)h, 100, "%s", name);
  put_octal(h + 100, 8, 0644);
  put_octal(h + 108, 8, 0);
  put_octal(h + 116, 8, 0);
  put_octal(h + 124, 12, size);
  put_octal(h + 136, 12, 0);
  h[156] = (unsigned char)type;
  memcpy(h + 257, "ustar", 6);
  memcpy(h + 263, "00", 2);
  memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (size_t i = 0; i < 512; i++)
    sum += h[i];
  snprintf((char *)h + 148, 8, "%06o", sum);
  h[155] = ' ';
  size_t padded = (size + 511) / 512 * 512;
  memset(out + 512, 'd', size);
  memset(out + 512 + size, 0, padded - size);
  /* a symlink or dir carries no data whatever its size says */
  if (type == '2' || type == '5')
    return 512;
  return 512 + padded;
}

static void check_tar(void) {
  size_t cap = 1 << 20;
  unsigned char *tar = calloc(1, cap);
  size_t len = 0;
  len += tar_entry(tar + len, "manifest.json", '0', 300);
  len += tar_entry(tar + len, "blobs/", '5', 0);
  len += tar_entry(tar + len, "link", '2', 0);
  len += tar_entry(tar + len, "blobs/sha256/big", '0', 100000);
  len += tar_entry(tar + len, "empty", '0', 0);
  size_t body = len;
  len += 1024 + 8192;   /* end marker and record padding (zeros from calloc) */

  api_tar_watch_t t = {0};
  api_tar_watch_feed(&t, tar, len);
  tap_ok(api_tar_watch_complete(&t) && t.entries == 5, "a whole tar is complete (%llu entries)",
         (unsigned long long)t.entries);

  /* Fed in odd-sized pieces. */
  api_tar_watch_t t2 = {0};
  for (size_t off = 0; off < len; off += 333)
    api_tar_watch_feed(&t2, tar + off, len - off < 333 ? len - off : 333);
  tap_ok(api_tar_watch_complete(&t2), "the same tar fed in 333-byte pieces is complete");

  static const size_t cuts[] = {0, 100, 512, 1000, 5000, 60000};
  for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
    api_tar_watch_t tc = {0};
    api_tar_watch_feed(&tc, tar, cuts[i]);
    tap_ok(!api_tar_watch_complete(&tc), "a tar cut at %zu bytes is not complete", cuts[i]);
  }
  api_tar_watch_t t3 = {0};
  api_tar_watch_feed(&t3, tar, body + 512);
  tap_ok(!api_tar_watch_complete(&t3), "one zero block is not the end");

  /* A corrupt header checksum. */
  unsigned char *bad = malloc(len);
  memcpy(bad, tar, len);
  bad[0] ^= 1;
  api_tar_watch_t t4 = {0};
  api_tar_watch_feed(&t4, bad, len);
  tap_ok(!api_tar_watch_complete(&t4) && t4.bad, "a header with a wrong checksum is caught");
  free(bad);

  /* Base-256 size field (GNU, for entries over 8 GiB) is understood. */
  unsigned char h[2048] = {0};
  tar_entry(h, "f", '0', 0);
  memset(h + 124, 0, 12);
  h[124] = 0x80;
  h[135] = 10;   /* 10 bytes */
  memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (size_t i = 0; i < 512; i++)
    sum += h[i];
  snprintf((char *)h + 148, 8, "%06o", sum);
  h[155] = ' ';
  api_tar_watch_t t5 = {0};
  api_tar_watch_feed(&t5, h, 512 + 512 + 1024);
  tap_ok(api_tar_watch_complete(&t5) && t5.entries == 1, "a base-256 size field is read");
  free(tar);
}

int main(void) {
  check_errno_map();
  check_json_valid();
  check_documents();
  check_lines();
  check_progress();
  check_buf();
  check_tar();
  return tap_done();
}
