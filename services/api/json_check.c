/* A strict JSON (RFC 8259) syntax check, iterative with a bounded depth:
 * what berth-imaged sends apid is passed on to clients byte for byte, so it
 * must be JSON every client parses, and json-c's parser is lenient (single
 * quotes, NaN). Strings must be valid UTF-8 (no overlongs, no surrogates). */
#include <stdint.h>
#include <string.h>
#include "pump.h"

static size_t skip_ws(const unsigned char *p, size_t i, size_t n) {
  while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
    i++;
  return i;
}

static int hex(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* One UTF-8 sequence starting at p[i] (p[i] >= 0x80); returns its length or 0. */
static size_t utf8_seq(const unsigned char *p, size_t i, size_t n) {
  unsigned char c = p[i];
  size_t len;
  uint32_t cp;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > n)
    return 0;
  for (size_t k = 1; k < len; k++) {
    if ((p[i + k] & 0xc0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i + k] & 0x3f);
  }
  if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
    return 0;
  return len;
}

/* A string at p[i] == '"'; returns the index after it, or 0. */
static size_t string_end(const unsigned char *p, size_t i, size_t n) {
  for (i++; i < n;) {
    unsigned char c = p[i];
    if (c == '"')
      return i + 1;
    if (c < 0x20)
      return 0;
    if (c == '\\') {
      if (i + 1 >= n)
        return 0;
      unsigned char e = p[i + 1];
      if (e == 'u') {
        if (i + 5 >= n || !hex(p[i + 2]) || !hex(p[i + 3]) || !hex(p[i + 4]) || !hex(p[i + 5]))
          return 0;
        i += 6;
      } else if (strchr("\"\\/bfnrt", e) && e != '\0') {
        i += 2;
      } else {
        return 0;
      }
      continue;
    }
    if (c >= 0x80) {
      size_t k = utf8_seq(p, i, n);
      if (k == 0)
        return 0;
      i += k;
      continue;
    }
    i++;
  }
  return 0;
}

static size_t digits(const unsigned char *p, size_t i, size_t n) {
  size_t s = i;
  while (i < n && p[i] >= '0' && p[i] <= '9')
    i++;
  return i > s ? i : 0;
}

/* A number at p[i]; returns the index after it, or 0. */
static size_t number_end(const unsigned char *p, size_t i, size_t n) {
  if (i < n && p[i] == '-')
    i++;
  if (i < n && p[i] == '0')
    i++;
  else if ((i = digits(p, i, n)) == 0)
    return 0;
  if (i < n && p[i] == '.' && (i = digits(p, i + 1, n)) == 0)
    return 0;
  if (i < n && (p[i] == 'e' || p[i] == 'E')) {
    i++;
    if (i < n && (p[i] == '+' || p[i] == '-'))
      i++;
    if ((i = digits(p, i, n)) == 0)
      return 0;
  }
  return i;
}

enum { VALUE, VALUE_OR_CLOSE, KEY, KEY_OR_CLOSE, AFTER };

int api_json_valid(const char *buf, size_t n, size_t max_depth, char *top) {
  const unsigned char *p = (const unsigned char *)buf;
  char stack[256];
  size_t depth = 0;
  if (max_depth > sizeof stack)
    max_depth = sizeof stack;
  int state = VALUE;
  size_t i = skip_ws(p, 0, n);
  if (i < n && top)
    *top = (char)p[i];
  for (;;) {
    i = skip_ws(p, i, n);
    if (state == AFTER && depth == 0)
      return i == n;
    if (i >= n)
      return 0;
    unsigned char c = p[i];
    switch (state) {
    case VALUE:
    case VALUE_OR_CLOSE:
      if (state == VALUE_OR_CLOSE && c == ']') {
        depth--;
        i++;
        state = AFTER;
      } else if (c == '{' || c == '[') {
        if (depth == max_depth)
          return 0;
        stack[depth++] = (char)c;
        i++;
        state = c == '{' ? KEY_OR_CLOSE : VALUE_OR_CLOSE;
      } else if (c == '"') {
        if ((i = string_end(p, i, n)) == 0)
          return 0;
        state = AFTER;
      } else if (c == '-' || (c >= '0' && c <= '9')) {
        if ((i = number_end(p, i, n)) == 0)
          return 0;
        state = AFTER;
      } else {
        static const char *const lit[] = {"true", "false", "null"};
        size_t k = 0;
        while (k < 3 && !(n - i >= strlen(lit[k]) && memcmp(p + i, lit[k], strlen(lit[k])) == 0))
          k++;
        if (k == 3)
          return 0;
        i += strlen(lit[k]);
        state = AFTER;
      }
      break;
    case KEY:
    case KEY_OR_CLOSE:
      if (state == KEY_OR_CLOSE && c == '}') {
        depth--;
        i++;
        state = AFTER;
        break;
      }
      if (c != '"' || (i = string_end(p, i, n)) == 0)
        return 0;
      i = skip_ws(p, i, n);
      if (i >= n || p[i] != ':')
        return 0;
      i++;
      state = VALUE;
      break;
    case AFTER:
      if (c == ',') {
        state = stack[depth - 1] == '{' ? KEY : VALUE;
      } else if ((c == '}' && stack[depth - 1] == '{') || (c == ']' && stack[depth - 1] == '[')) {
        depth--;
        state = AFTER;
      } else {
        return 0;
      }
      i++;
      break;
    }
  }
}
