/* Values of the container commands' options, parsed as the docker CLI
 * parses them (go-units RAMInBytes and ParseUlimit, opts.ParseCPUs,
 * kvfile.Parse for --env-file, ValidateEnv for -e, GetTimestamp for
 * logs --since/--until, json.Compact for seccomp profiles). Pure: unit-tested
 * in tests/unit/test_cli_format.c. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ctr.h"

int cli_parse_ram(const char *s, int64_t *out) {
  const char *p = s;
  if (!isdigit((unsigned char)*p))
    return -1;
  while (isdigit((unsigned char)*p))
    p++;
  if (*p == '.') {
    p++;
    if (!isdigit((unsigned char)*p))
      return -1;
    while (isdigit((unsigned char)*p))
      p++;
  }
  size_t numlen = (size_t)(p - s);
  if (*p == ' ')
    p++;
  double mul = 1;
  const char *units = "kmgtp";
  const char *u = *p ? strchr(units, tolower((unsigned char)*p)) : NULL;
  if (u) {
    mul = pow(1024.0, (double)(u - units + 1));
    p++;
    if (*p == 'i' || *p == 'I')
      p++;
  }
  if (*p == 'b' || *p == 'B')
    p++;
  if (*p != '\0')
    return -1;
  char num[64];
  if (numlen >= sizeof num)
    return -1;
  memcpy(num, s, numlen);
  num[numlen] = '\0';
  double v = strtod(num, NULL) * mul;
  if (!(v < 9.2e18))
    return -1;
  *out = (int64_t)v;
  return 0;
}

bool cli_parse_nanocpus(const char *s, int64_t *out) {
  const char *p = s;
  bool neg = false;
  if (*p == '+' || *p == '-')
    neg = *p++ == '-';
  if (!isdigit((unsigned char)*p) && !(*p == '.' && isdigit((unsigned char)p[1])))
    return false;
  int64_t whole = 0, frac = 0;
  int digits = 0;
  for (; isdigit((unsigned char)*p); p++) {
    if (whole > (INT64_MAX / 1000000000 - 9) / 10)
      return false;
    whole = whole * 10 + (*p - '0');
  }
  if (*p == '.')
    for (p++; isdigit((unsigned char)*p); p++) {
      if (++digits > 9) {
        if (*p != '0')
          return false; /* value is too precise */
        continue;
      }
      frac = frac * 10 + (*p - '0');
    }
  if (*p != '\0')
    return false;
  for (; digits < 9; digits++)
    frac *= 10;
  int64_t v = whole * 1000000000 + frac;
  *out = neg ? -v : v;
  return true;
}

static const char *const ulimit_names[] = {
  "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice",
  "nofile", "nproc", "rss", "rtprio", "rttime", "sigpending", "stack", NULL,
};

/* strconv.ParseInt(s, 10, 64) */
static bool parse_int64(const char *s, int64_t *out) {
  if (*s == '\0')
    return false;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end != '\0' || isspace((unsigned char)*s))
    return false;
  *out = v;
  return true;
}

json_object *cli_parse_ulimit(const char *s, char *why, size_t len) {
  const char *eq = strchr(s, '=');
  if (eq == NULL) {
    snprintf(why, len, "invalid ulimit argument: %s", s);
    return NULL;
  }
  size_t nl = (size_t)(eq - s);
  const char *const *n = ulimit_names;
  while (*n && !(strlen(*n) == nl && strncmp(*n, s, nl) == 0))
    n++;
  if (*n == NULL) {
    snprintf(why, len, "invalid ulimit type: %.*s", (int)nl, s);
    return NULL;
  }
  char vals[128];
  snprintf(vals, sizeof vals, "%s", eq + 1);
  char *colon = strchr(vals, ':');
  int64_t soft, hard;
  if (colon) {
    *colon = '\0';
    if (!parse_int64(colon + 1, &hard)) {
      snprintf(why, len, "strconv.ParseInt: parsing \"%s\": invalid syntax", colon + 1);
      return NULL;
    }
  }
  if (!parse_int64(vals, &soft)) {
    snprintf(why, len, "strconv.ParseInt: parsing \"%s\": invalid syntax", vals);
    return NULL;
  }
  if (!colon)
    hard = soft;
  if (hard != -1 && soft > hard) {
    snprintf(why, len, "ulimit soft limit must be less than or equal to hard limit: %" PRId64 " > %" PRId64, soft,
             hard);
    return NULL;
  }
  json_object *o = json_object_new_object();
  json_object_object_add(o, "Name", json_object_new_string(*n));
  json_object_object_add(o, "Hard", json_object_new_int64(hard));
  json_object_object_add(o, "Soft", json_object_new_int64(soft));
  return o;
}

static bool valid_utf8(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    unsigned char c = s[i];
    size_t k = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (k == 0 || i + k > n || (k == 2 && c < 0xC2))
      return false;
    for (size_t j = 1; j < k; j++)
      if ((s[i + j] & 0xC0) != 0x80)
        return false;
    i += k;
  }
  return true;
}

int cli_parse_env_file(const char *name, const char *text, size_t len, json_object *env, char *why, size_t wlen) {
  size_t pos = 0;
  for (int lineno = 1; pos < len; lineno++) {
    const char *l = text + pos, *nl = memchr(l, '\n', len - pos);
    size_t ll = nl ? (size_t)(nl - l) : len - pos;
    pos += ll + (nl ? 1 : 0);
    if (ll > 0 && l[ll - 1] == '\r') /* bufio.ScanLines drops a trailing CR */
      ll--;
    if (!valid_utf8((const unsigned char *)l, ll)) {
      snprintf(why, wlen, "env file %s contains invalid utf8 bytes at line %d", name, lineno);
      return -1;
    }
    if (lineno == 1 && ll >= 3 && memcmp(l, "\xEF\xBB\xBF", 3) == 0) {
      l += 3;
      ll -= 3;
    }
    while (ll > 0 && isspace((unsigned char)*l)) {
      l++;
      ll--;
    }
    if (ll == 0 || *l == '#')
      continue;
    const char *eq = memchr(l, '=', ll);
    size_t kl = eq ? (size_t)(eq - l) : ll;
    for (size_t i = 0; i < kl; i++)
      if (isspace((unsigned char)l[i])) {
        snprintf(why, wlen, "poorly formatted environment: variable '%.*s' contains whitespaces", (int)kl, l);
        return -1;
      }
    if (kl == 0) {
      snprintf(why, wlen, "poorly formatted environment: no variable name on line '%.*s'", (int)ll, l);
      return -1;
    }
    char *entry = NULL;
    if (eq) {
      entry = strndup(l, ll);
    } else {
      char key[1024];
      snprintf(key, sizeof key, "%.*s", (int)kl, l);
      const char *v = getenv(key);
      if (v && asprintf(&entry, "%s=%s", key, v) < 0)
        entry = NULL;
      if (v == NULL)
        continue;
    }
    if (entry == NULL) {
      snprintf(why, wlen, "out of memory");
      return -1;
    }
    json_object_array_add(env, json_object_new_string(entry));
    free(entry);
  }
  return 0;
}

char *cli_env_value(const char *arg) {
  const char *eq = strchr(arg, '=');
  if (eq == arg || arg[0] == '\0')
    return NULL;
  if (eq)
    return strdup(arg);
  const char *v = getenv(arg);
  char *out = NULL;
  if (v == NULL)
    return strdup(arg);
  return asprintf(&out, "%s=%s", arg, v) < 0 ? NULL : out;
}

/* Go's time.ParseDuration; nanoseconds in *out. */
static bool parse_duration(const char *s, double *out) {
  const char *p = s;
  double sign = 1, total = 0;
  if (*p == '-' || *p == '+')
    sign = *p++ == '-' ? -1 : 1;
  if (strcmp(p, "0") == 0) {
    *out = 0;
    return true;
  }
  if (*p == '\0')
    return false;
  static const struct {
    const char *u;
    double ns;
  } units[] = { { "ns", 1 }, { "us", 1e3 }, { "\xc2\xb5s", 1e3 }, { "\xce\xbcs", 1e3 }, { "ms", 1e6 },
                { "s", 1e9 }, { "m", 60e9 }, { "h", 3600e9 } };
  while (*p) {
    if (!isdigit((unsigned char)*p) && !(*p == '.' && isdigit((unsigned char)p[1])))
      return false;
    char *end;
    double v = strtod(p, &end);
    if (end == p || strchr("eExXpP", *(end - 1)) || memchr(p, 'e', (size_t)(end - p)) ||
        memchr(p, 'E', (size_t)(end - p)))
      return false;
    p = end;
    size_t best = 0, bi = 0;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
      size_t ul = strlen(units[i].u);
      if (strncmp(p, units[i].u, ul) == 0 && ul > best) {
        best = ul;
        bi = i;
      }
    }
    if (best == 0)
      return false;
    total += v * units[bi].ns;
    p += best;
  }
  *out = sign * total;
  return true;
}

static bool digits(const char **p, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)(*p)[i]))
      return false;
    v = v * 10 + ((*p)[i] - '0');
  }
  *p += n;
  *out = v;
  return true;
}

/* YYYY-MM-DD[THH[:MM[:SS[.frac]]]][Z|+HH:MM|-HH:MM] */
static bool parse_rfc3339(const char *s, int64_t *sec, long *nsec) {
  struct tm tm = { 0 };
  const char *p = s;
  int y, mo, d, h = 0, mi = 0, se = 0;
  long ns = 0;
  if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' || !digits(&p, 2, &d))
    return false;
  if (*p == 'T') {
    p++;
    if (!digits(&p, 2, &h))
      return false;
    if (*p == ':') {
      p++;
      if (!digits(&p, 2, &mi))
        return false;
      if (*p == ':') {
        p++;
        if (!digits(&p, 2, &se))
          return false;
        if (*p == '.') {
          p++;
          int n = 0;
          for (; isdigit((unsigned char)*p); p++, n++)
            if (n < 9)
              ns = ns * 10 + (*p - '0');
          if (n == 0)
            return false;
          for (; n < 9; n++)
            ns *= 10;
        }
      }
    }
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
    return false;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = se;
  int64_t t;
  if (*p == '\0') { /* local time */
    tm.tm_isdst = -1;
    t = (int64_t)mktime(&tm);
  } else if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
    t = (int64_t)timegm(&tm);
  } else if (*p == '+' || *p == '-') {
    int sign = *p++ == '-' ? -1 : 1, oh, om;
    if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || *p != '\0')
      return false;
    t = (int64_t)timegm(&tm) - sign * (oh * 3600 + om * 60);
  } else {
    return false;
  }
  *sec = t;
  *nsec = ns;
  return true;
}

bool cli_parse_timestamp(const char *s, int64_t now, char *out, size_t len) {
  double ns;
  if (strcmp(s, "0") != 0 && parse_duration(s, &ns)) {
    snprintf(out, len, "%" PRId64, now - (int64_t)(ns / 1e9));
    return true;
  }
  int64_t sec;
  long nsec;
  if (parse_rfc3339(s, &sec, &nsec)) {
    snprintf(out, len, "%" PRId64 ".%09ld", sec, nsec);
    return true;
  }
  if (strchr(s, '-'))
    return false;
  /* Unix seconds, with an optional fraction: passed on as given. */
  const char *p = s;
  if (!isdigit((unsigned char)*p))
    return false;
  while (isdigit((unsigned char)*p))
    p++;
  if (*p == '.') {
    p++;
    while (isdigit((unsigned char)*p))
      p++;
  }
  if (*p != '\0')
    return false;
  snprintf(out, len, "%s", s);
  return true;
}

char *cli_json_compact(const char *text, size_t len, char *why, size_t wlen) {
  json_tokener *tok = json_tokener_new();
  if (tok == NULL) {
    snprintf(why, wlen, "out of memory");
    return NULL;
  }
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
  json_object *o = len > INT_MAX ? NULL : json_tokener_parse_ex(tok, text, (int)len);
  enum json_tokener_error jerr = json_tokener_get_error(tok);
  size_t used = json_tokener_get_parse_end(tok);
  json_tokener_free(tok);
  if (o == NULL && jerr == json_tokener_continue)
    jerr = json_tokener_error_parse_eof;
  if (jerr != json_tokener_success) {
    snprintf(why, wlen, "%s", len > INT_MAX ? "too large" : json_tokener_error_desc(jerr));
    json_object_put(o);
    return NULL;
  }
  json_object_put(o);
  for (size_t i = used; i < len; i++)
    if (!isspace((unsigned char)text[i])) {
      snprintf(why, wlen, "invalid character '%c' after top-level value", text[i]);
      return NULL;
    }
  char *out = malloc(len + 1), *w = out;
  if (out == NULL) {
    snprintf(why, wlen, "out of memory");
    return NULL;
  }
  for (size_t i = 0; i < used; i++) {
    char c = text[i];
    if (c == '"') {
      *w++ = c;
      for (i++; i < used && text[i] != '"'; i++) {
        if (text[i] == '\\' && i + 1 < used)
          *w++ = text[i++];
        *w++ = text[i];
      }
      if (i < used)
        *w++ = '"';
    } else if (strchr("{}[],:-+.0123456789eEtrufalsn", c) != NULL && c != '\0') {
      *w++ = c;
    } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
      snprintf(why, wlen, "invalid character '%c'", c);
      free(out);
      return NULL;
    }
  }
  *w = '\0';
  return out;
}
