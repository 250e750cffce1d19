/* Route table, version prefix parsing and pattern matching. See router.h. */
#include "router.h"
#include <stdio.h>
#include <string.h>

/* The table. Unversioned paths and /v1.12../v1.41 reach the same rows. */
static const api_route_t routes[] = {
    {"GET", "/_ping", API_ROUTE_PING, 0},
    {"HEAD", "/_ping", API_ROUTE_PING, 0},
    {"GET", "/version", API_ROUTE_VERSION, 0},
    {"GET", "/info", API_ROUTE_INFO, 0},
    {"GET", "/berth/v1/services", API_ROUTE_BERTH_SERVICES, 0},
    /* Images. Literal rows come before the greedy ones that could also
     * match them ("/images/json" is the list, not an image named "json"). */
    {"POST", "/images/load", API_ROUTE_IMAGES_LOAD, API_BODY_STREAM},
    {"GET", "/images/get", API_ROUTE_IMAGES_SAVE, 0},
    {"GET", "/images/json", API_ROUTE_IMAGES_LIST, 0},
    {"POST", "/images/prune", API_ROUTE_IMAGES_PRUNE, 0},
    {"GET", "/images/{name:.*}/get", API_ROUTE_IMAGE_SAVE, 0},
    {"GET", "/images/{name:.*}/json", API_ROUTE_IMAGE_INSPECT, 0},
    {"GET", "/images/{name:.*}/history", API_ROUTE_IMAGE_HISTORY, 0},
    {"POST", "/images/{name:.*}/tag", API_ROUTE_IMAGE_TAG, 0},
    {"DELETE", "/images/{name:.*}", API_ROUTE_IMAGE_DELETE, 0},
    {"GET", "/berth/v1/images/{name:.*}/layers", API_ROUTE_BERTH_IMAGE_LAYERS, 0},
    {"POST", "/containers/create", API_ROUTE_CTR_CREATE, 1024 * 1024},
    {"GET", "/containers/json", API_ROUTE_CTR_LIST, 0},
    {"POST", "/containers/prune", API_ROUTE_CTR_PRUNE, 0},
    {"GET", "/containers/{name}/json", API_ROUTE_CTR_INSPECT, 0},
    {"POST", "/containers/{name}/start", API_ROUTE_CTR_START, 0},
    {"POST", "/containers/{name}/stop", API_ROUTE_CTR_STOP, 0},
    {"POST", "/containers/{name}/kill", API_ROUTE_CTR_KILL, 0},
    {"POST", "/containers/{name}/restart", API_ROUTE_CTR_RESTART, 0},
    {"POST", "/containers/{name}/wait", API_ROUTE_CTR_WAIT, 0},
    {"POST", "/containers/{name}/attach", API_ROUTE_CTR_ATTACH, 0},
    {"POST", "/containers/{name}/resize", API_ROUTE_CTR_RESIZE, 0},
    {"POST", "/containers/{name}/rename", API_ROUTE_CTR_RENAME, 0},
    {"GET", "/containers/{name}/logs", API_ROUTE_CTR_LOGS, 0},
    {"GET", "/containers/{name}/top", API_ROUTE_CTR_TOP, 0},
    {"GET", "/containers/{name}/stats", API_ROUTE_CTR_STATS, 0},
    {"DELETE", "/containers/{name}", API_ROUTE_CTR_DELETE, 0},
    {"GET", "/events", API_ROUTE_EVENTS, 0},
};

const api_route_t *api_route_table(size_t *n) {
  *n = sizeof routes / sizeof routes[0];
  return routes;
}

int api_version_parse(const char *s, size_t len, api_version_t *out) {
  unsigned parts[3] = {0, 0, 0};
  size_t nparts = 0, digits = 0;
  for (size_t i = 0; i <= len; i++) {
    if (i == len || s[i] == '.') {
      if (digits == 0 || nparts == 3)
        return -1;
      nparts++;
      digits = 0;
      continue;
    }
    if (s[i] < '0' || s[i] > '9' || digits == 6 || nparts == 3)
      return -1;
    parts[nparts] = parts[nparts] * 10 + (unsigned)(s[i] - '0');
    digits++;
  }
  out->major = parts[0];
  out->minor = parts[1];
  out->patch = parts[2];
  return 0;
}

int api_version_cmp(const api_version_t *a, const api_version_t *b) {
  if (a->major != b->major)
    return a->major < b->major ? -1 : 1;
  if (a->minor != b->minor)
    return a->minor < b->minor ? -1 : 1;
  if (a->patch != b->patch)
    return a->patch < b->patch ? -1 : 1;
  return 0;
}

/* Parses "{name}" or "{name:.*}" at p (which points at '{'). Returns the
 * length of the whole token, or 0 when malformed. */
static size_t parse_param(const char *p, const char **name, size_t *name_len, int *greedy) {
  const char *end = strchr(p, '}');
  if (end == NULL)
    return 0;
  const char *colon = memchr(p, ':', (size_t)(end - p));
  *name = p + 1;
  *greedy = 0;
  if (colon) {
    if (end - colon != 3 || strncmp(colon, ":.*", 3) != 0)
      return 0;
    *greedy = 1;
    *name_len = (size_t)(colon - p - 1);
  } else {
    *name_len = (size_t)(end - p - 1);
  }
  if (*name_len == 0)
    return 0;
  for (size_t i = 0; i < *name_len; i++)
    if ((*name)[i] == '{' || (*name)[i] == '/')
      return 0;
  return (size_t)(end - p) + 1;
}

int api_pattern_valid(const char *pattern) {
  if (pattern == NULL || pattern[0] != '/')
    return -1;
  size_t nparams = 0;
  int greedy_seen = 0;
  for (const char *p = pattern; *p;) {
    if (*p == '}')
      return -1;
    if (*p != '{') {
      p++;
      continue;
    }
    const char *name;
    size_t name_len;
    int greedy;
    size_t n = parse_param(p, &name, &name_len, &greedy);
    /* A parameter must fill a whole segment. */
    if (n == 0 || p[-1] != '/' || (p[n] != '\0' && p[n] != '/'))
      return -1;
    if (greedy && greedy_seen++)
      return -1;
    if (++nparams > API_MAX_PARAMS)
      return -1;
    p += n;
  }
  return 0;
}

/* Matches a path against one (valid) pattern, filling params. */
static int match_pattern(const char *pattern, const char *path, api_match_t *m) {
  const char *p = pattern, *s = path;
  size_t path_len = strlen(path);
  m->nparams = 0;
  while (*p) {
    if (*p != '{') {
      if (*p != *s)
        return 0;
      p++;
      s++;
      continue;
    }
    const char *name;
    size_t name_len;
    int greedy;
    size_t n = parse_param(p, &name, &name_len, &greedy);
    if (n == 0 || m->nparams == API_MAX_PARAMS)
      return 0;
    p += n;
    size_t len;
    if (!greedy) {
      len = strcspn(s, "/");
    } else {
      /* Leave as many '/'-separated segments to the rest of the pattern as
       * it has: the greedy value ends at the k-th '/' from the end. */
      size_t k = 0;
      for (const char *q = p; *q; q++)
        k += *q == '/';
      const char *end = path + path_len;
      while (k > 0 && end > s) {
        end--;
        if (*end == '/')
          k--;
      }
      if (k > 0)
        return 0;
      len = (size_t)(end - s);
    }
    if (len == 0)
      return 0;
    m->params[m->nparams++] = (api_param_t){name, name_len, s, len};
    s += len;
  }
  return *s == '\0';
}

/* Splits an optional version prefix off path. Returns the rest of the path,
 * or NULL when the prefix looks like a version but is malformed. */
static const char *strip_version(const char *path, api_match_t *m) {
  if (path[0] != '/' || path[1] != 'v')
    return path;
  const char *seg = path + 2;
  size_t len = strcspn(seg, "/");
  /* Only a segment made of digits and dots is a version ("/volumes" is not). */
  if (len == 0 || strspn(seg, "0123456789.") != len)
    return path;
  if (len >= sizeof m->version_str || api_version_parse(seg, len, &m->version) < 0)
    return NULL;
  memcpy(m->version_str, seg, len);
  m->version_str[len] = '\0';
  m->versioned = 1;
  return seg + len;
}

void api_route_match_table(const api_route_t *table, size_t n, const char *method, const char *path,
                           api_match_t *out) {
  memset(out, 0, sizeof *out);
  out->status = API_MATCH_NOT_FOUND;
  api_version_parse(API_VERSION_DEFAULT, strlen(API_VERSION_DEFAULT), &out->version);
  snprintf(out->version_str, sizeof out->version_str, "%s", API_VERSION_DEFAULT);
  if (method == NULL || path == NULL)
    return;
  const char *rest = strip_version(path, out);
  if (rest == NULL || rest[0] != '/')
    return;

  int path_known = 0;
  api_match_t tmp;
  for (size_t i = 0; i < n; i++) {
    if (!match_pattern(table[i].pattern, rest, &tmp))
      continue;
    if (strcmp(table[i].method, method) != 0) {
      path_known = 1;
      continue;
    }
    out->route = &table[i];
    out->nparams = tmp.nparams;
    memcpy(out->params, tmp.params, sizeof tmp.params);
    break;
  }
  if (out->route == NULL) {
    out->status = path_known ? API_MATCH_WRONG_METHOD : API_MATCH_NOT_FOUND;
    return;
  }
  /* Like dockerd: the version is checked only once a route matched, so an
   * unknown path is a 404 whatever its prefix. */
  api_version_t min, max;
  api_version_parse(API_VERSION_MIN, strlen(API_VERSION_MIN), &min);
  api_version_parse(API_VERSION_DEFAULT, strlen(API_VERSION_DEFAULT), &max);
  if (api_version_cmp(&out->version, &min) < 0)
    out->status = API_MATCH_VERSION_TOO_OLD;
  else if (api_version_cmp(&out->version, &max) > 0)
    out->status = API_MATCH_VERSION_TOO_NEW;
  else
    out->status = API_MATCH_OK;
}

void api_route_match(const char *method, const char *path, api_match_t *out) {
  api_route_match_table(routes, sizeof routes / sizeof routes[0], method, path, out);
}

int api_match_param(const api_match_t *m, const char *name, char *buf, size_t buflen) {
  size_t name_len = strlen(name);
  for (size_t i = 0; i < m->nparams; i++) {
    const api_param_t *p = &m->params[i];
    if (p->name_len != name_len || memcmp(p->name, name, name_len) != 0)
      continue;
    if (p->len >= buflen)
      return -1;
    memcpy(buf, p->value, p->len);
    buf[p->len] = '\0';
    return (int)p->len;
  }
  return -1;
}

int api_match_error(const api_match_t *m, char *msg, size_t msglen) {
  switch (m->status) {
  case API_MATCH_VERSION_TOO_OLD:
    snprintf(msg, msglen,
             "client version %s is too old. Minimum supported API version is %s, "
             "please upgrade your client to a newer version",
             m->version_str, API_VERSION_MIN);
    return 400;
  case API_MATCH_VERSION_TOO_NEW:
    snprintf(msg, msglen, "client version %s is too new. Maximum supported API version is %s", m->version_str,
             API_VERSION_DEFAULT);
    return 400;
  case API_MATCH_WRONG_METHOD:
    /* dockerd answers a known path with the wrong method exactly like an
     * unknown path (its MethodNotAllowedHandler is the not-found handler);
     * clients probing for endpoints rely on the 404. */
  case API_MATCH_NOT_FOUND:
  default:
    snprintf(msg, msglen, "page not found");
    return 404;
  case API_MATCH_OK:
    snprintf(msg, msglen, "ok");
    return 200;
  }
}
