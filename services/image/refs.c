/* Docker image references (see refs.h): the grammar of
 * distribution/reference, checked by hand, and Docker's normalisation. */
#include "refs.h"
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cleanup.h"

#define DEFAULT_DOMAIN "docker.io"
#define LEGACY_DOMAIN "index.docker.io"
#define OFFICIAL_PREFIX "library/"

static bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}
static bool is_alnum(char c) {
  return isascii((unsigned char)c) && isalnum((unsigned char)c);
}
static bool is_hex_lower(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*  over s[0..n) */
static bool path_component_valid(const char *s, size_t n) {
  size_t i = 0;
  if (n == 0 || !is_lower_alnum(s[0]))
    return false;
  while (i < n) {
    while (i < n && is_lower_alnum(s[i]))
      i++;
    if (i == n)
      return true;
    size_t sep = i;
    if (s[i] == '.')
      i++;
    else if (s[i] == '_')
      i += (i + 1 < n && s[i + 1] == '_') ? 2 : 1;
    else if (s[i] == '-')
      while (i < n && s[i] == '-')
        i++;
    else
      return false;
    if (i == sep || i >= n || !is_lower_alnum(s[i]))
      return false;
  }
  return true;
}

/* domain-component ( "." domain-component )* [ ":" [0-9]+ ]
 * domain-component = [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9] */
static bool domain_valid(const char *s, size_t n) {
  const char *colon = memchr(s, ':', n);
  size_t host_n = colon ? (size_t)(colon - s) : n;
  if (colon != NULL) {
    size_t pn = n - host_n - 1;
    if (pn == 0)
      return false;
    for (size_t i = 0; i < pn; i++)
      if (colon[1 + i] < '0' || colon[1 + i] > '9')
        return false;
  }
  size_t start = 0;
  for (size_t i = 0; i <= host_n; i++) {
    if (i < host_n && s[i] != '.')
      continue;
    size_t len = i - start;
    if (len == 0 || !is_alnum(s[start]) || !is_alnum(s[i - 1]))
      return false;
    for (size_t k = start; k < i; k++)
      if (!is_alnum(s[k]) && s[k] != '-')
        return false;
    start = i + 1;
  }
  return true;
}

bool berth_ref_tag_valid(const char *tag) {
  size_t n = strlen(tag);
  if (n == 0 || n > 128)
    return false;
  if (!is_alnum(tag[0]) && tag[0] != '_')
    return false;
  for (size_t i = 1; i < n; i++)
    if (!is_alnum(tag[i]) && tag[i] != '_' && tag[i] != '.' && tag[i] != '-')
      return false;
  return true;
}

static bool digest_valid(const char *d) {
  if (strncmp(d, "sha256:", 7) != 0 || strlen(d) != 71)
    return false;
  for (size_t i = 7; i < 71; i++)
    if (!is_hex_lower(d[i]))
      return false;
  return true;
}

/* The whole name (no tag, no digest): [domain "/"] component ("/" component)* */
static bool name_valid(const char *s, bool first_is_domain) {
  const char *p = s;
  bool first = true;
  for (;;) {
    const char *slash = strchr(p, '/');
    size_t n = slash ? (size_t)(slash - p) : strlen(p);
    bool ok = (first && first_is_domain) ? domain_valid(p, n) : path_component_valid(p, n);
    if (!ok)
      return false;
    first = false;
    if (slash == NULL)
      return true;
    p = slash + 1;
  }
}

void berth_ref_clear(berth_ref_t *r) {
  free(r->domain);
  free(r->path);
  free(r->tag);
  free(r->digest);
  memset(r, 0, sizeof(*r));
}

static bool is_64hex(const char *s) {
  if (strlen(s) != 64)
    return false;
  for (size_t i = 0; i < 64; i++)
    if (!is_hex_lower(s[i]))
      return false;
  return true;
}

static int invalid(berth_error_t *err, const char *what) {
  return berth_error_make(err, EINVAL, "%s", what);
}

/* Splits "name[:tag][@digest]" in place. */
static void split_ref(char *s, char **name, char **tag, char **digest) {
  *tag = *digest = NULL;
  char *at = strchr(s, '@');
  if (at != NULL) {
    *at = '\0';
    *digest = at + 1;
  }
  char *slash = strrchr(s, '/');
  char *colon = strrchr(slash ? slash : s, ':');
  if (colon != NULL) {
    *colon = '\0';
    *tag = colon + 1;
  }
  *name = s;
}

static int parse(const char *s, bool default_tag, berth_ref_t *out, berth_error_t *err) {
  memset(out, 0, sizeof(*out));
  if (s == NULL || *s == '\0')
    return invalid(err, "invalid reference format");
  if (is_64hex(s))
    return berth_error_make(err, EINVAL,
                            "invalid repository name (%s), cannot specify 64-byte hexadecimal strings", s);
  cleanup_free char *copy = strdup(s);
  if (copy == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  char *name, *tag, *digest;
  split_ref(copy, &name, &tag, &digest);

  /* Docker's splitDockerDomain: the first component is a domain only if it
   * contains '.' or ':', is "localhost", or has an upper-case letter. */
  const char *slash = strchr(name, '/');
  bool has_domain = false;
  if (slash != NULL) {
    size_t n = (size_t)(slash - name);
    bool lower = true;
    for (size_t i = 0; i < n; i++)
      if (isupper((unsigned char)name[i]))
        lower = false;
    has_domain = memchr(name, '.', n) || memchr(name, ':', n) || (n == 9 && strncmp(name, "localhost", 9) == 0) ||
                 !lower;
  }
  const char *remainder = has_domain ? slash + 1 : name;
  for (const char *p = remainder; *p; p++)
    if (isupper((unsigned char)*p))
      return invalid(err, "invalid reference format: repository name must be lowercase");

  if (strlen(name) == 0)
    return invalid(err, "invalid reference format");
  if (!name_valid(name, has_domain) || (tag != NULL && !berth_ref_tag_valid(tag)) ||
      (digest != NULL && !digest_valid(digest)))
    return invalid(err, "invalid reference format");
  if (strlen(name) > BERTH_REF_NAME_MAX)
    return invalid(err, "repository name must not be more than 255 characters");

  if (has_domain) {
    out->domain = strndup(name, (size_t)(slash - name));
    if (out->domain && strcmp(out->domain, LEGACY_DOMAIN) == 0) {
      free(out->domain);
      out->domain = strdup(DEFAULT_DOMAIN);
    }
  } else
    out->domain = strdup(DEFAULT_DOMAIN);
  if (out->domain == NULL)
    goto oom;
  if (strcmp(out->domain, DEFAULT_DOMAIN) == 0 && strchr(remainder, '/') == NULL) {
    if (asprintf(&out->path, OFFICIAL_PREFIX "%s", remainder) < 0)
      out->path = NULL;
  } else
    out->path = strdup(remainder);
  if (out->path == NULL)
    goto oom;
  if (tag != NULL)
    out->tag = strdup(tag);
  else if (digest == NULL && default_tag)
    out->tag = strdup("latest");
  if (digest != NULL)
    out->digest = strdup(digest);
  if ((tag != NULL || (digest == NULL && default_tag)) && out->tag == NULL)
    goto oom;
  if (digest != NULL && out->digest == NULL)
    goto oom;
  return 0;
oom:
  berth_ref_clear(out);
  return berth_error_make(err, ENOMEM, "out of memory");
}

int berth_ref_parse(const char *s, berth_ref_t *out, berth_error_t *err) {
  return parse(s, true, out, err);
}

int berth_ref_parse_repo(const char *s, berth_ref_t *out, berth_error_t *err) {
  return parse(s, false, out, err);
}

char *berth_ref_repo(const berth_ref_t *r) {
  char *s = NULL;
  if (asprintf(&s, "%s/%s", r->domain, r->path) < 0)
    return NULL;
  return s;
}

char *berth_ref_familiarise_repo(const char *full) {
  const char *p = full;
  size_t dl = strlen(DEFAULT_DOMAIN);
  if (strncmp(p, DEFAULT_DOMAIN "/", dl + 1) == 0) {
    p += dl + 1;
    size_t ol = strlen(OFFICIAL_PREFIX);
    if (strncmp(p, OFFICIAL_PREFIX, ol) == 0 && strchr(p + ol, '/') == NULL)
      p += ol;
  }
  return strdup(p);
}

char *berth_ref_familiar_repo(const berth_ref_t *r) {
  cleanup_free char *full = berth_ref_repo(r);
  return full ? berth_ref_familiarise_repo(full) : NULL;
}

static char *with_suffix(char *repo, const berth_ref_t *r) {
  if (repo == NULL)
    return NULL;
  char *s = NULL;
  int n = asprintf(&s, "%s%s%s%s%s", repo, r->tag ? ":" : "", r->tag ? r->tag : "", r->digest ? "@" : "",
                   r->digest ? r->digest : "");
  free(repo);
  return n < 0 ? NULL : s;
}

char *berth_ref_string(const berth_ref_t *r) {
  return with_suffix(berth_ref_repo(r), r);
}

char *berth_ref_familiar(const berth_ref_t *r) {
  return with_suffix(berth_ref_familiar_repo(r), r);
}
