/* berth-apid router: version prefix parsing, the route table, greedy
 * parameters and the Docker-style errors for what does not match. */
#include <string.h>
#include "router.h"
#include "tap.h"

static void check_version_parse(void) {
  static const struct {
    const char *s;
    int ok;
    unsigned major, minor, patch;
  } cases[] = {
      {"1.41", 1, 1, 41, 0}, {"1.12", 1, 1, 12, 0},   {"1", 1, 1, 0, 0},        {"1.41.0", 1, 1, 41, 0},
      {"01.041", 1, 1, 41, 0}, {"2.0.3", 1, 2, 0, 3}, {"999999.1", 1, 999999, 1, 0},
      {"", 0, 0, 0, 0},       {".", 0, 0, 0, 0},      {"1.", 0, 0, 0, 0},       {".41", 0, 0, 0, 0},
      {"1..41", 0, 0, 0, 0},  {"1.41.0.1", 0, 0, 0, 0}, {"1.4a", 0, 0, 0, 0},   {"1000000.1", 0, 0, 0, 0},
      {"-1.41", 0, 0, 0, 0},  {"1.41 ", 0, 0, 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    api_version_t v = {7, 7, 7};
    int r = api_version_parse(cases[i].s, strlen(cases[i].s), &v);
    if (cases[i].ok)
      tap_ok(r == 0 && v.major == cases[i].major && v.minor == cases[i].minor && v.patch == cases[i].patch,
             "version '%s' parses as %u.%u.%u", cases[i].s, cases[i].major, cases[i].minor, cases[i].patch);
    else
      tap_ok(r < 0, "version '%s' is malformed", cases[i].s);
  }
  /* Only len bytes count: "1.41" inside a longer buffer. */
  api_version_t v;
  tap_ok(api_version_parse("1.41/info", 4, &v) == 0 && v.minor == 41, "parse stops at len");

  api_version_t a = {1, 9, 0}, b = {1, 12, 0}, c = {1, 41, 0}, d = {1, 41, 1}, e = {2, 0, 0};
  tap_ok(api_version_cmp(&a, &b) < 0, "1.9 < 1.12 (numeric, not lexical)");
  tap_ok(api_version_cmp(&c, &c) == 0, "1.41 == 1.41");
  tap_ok(api_version_cmp(&d, &c) > 0 && api_version_cmp(&e, &c) > 0, "1.41.1 and 2.0 > 1.41");
}

static void check_table(void) {
  size_t n;
  const api_route_t *t = api_route_table(&n);
  int valid = 1, ids = 1, dup = 0;
  for (size_t i = 0; i < n; i++) {
    if (api_pattern_valid(t[i].pattern) != 0) {
      valid = 0;
      tap_diag("invalid pattern %s", t[i].pattern);
    }
    if (t[i].id <= API_ROUTE_NONE || t[i].id >= API_ROUTE__MAX)
      ids = 0;
    for (size_t j = i + 1; j < n; j++)
      if (strcmp(t[i].method, t[j].method) == 0 && strcmp(t[i].pattern, t[j].pattern) == 0)
        dup = 1;
  }
  tap_ok(n > 0 && valid, "every pattern in the table is well-formed (%zu rows)", n);
  tap_ok(ids, "every row names a route id");
  tap_ok(!dup, "no method + pattern appears twice");

  static const char *const bad[] = {
      "", "ping", "/{}", "/{a", "/a}", "/x{a}", "/{a}x", "/{a:.+}", "/{a:.*}/{b:.*}", "/{a/b}",
      "/{a}/{b}/{c}/{d}/{e}", NULL,
  };
  for (size_t i = 0; bad[i]; i++)
    tap_ok(api_pattern_valid(bad[i]) != 0, "pattern '%s' is refused", bad[i]);
  static const char *const good[] = {"/_ping", "/images/{name:.*}/json", "/containers/{id}/json", "/{a:.*}", NULL};
  for (size_t i = 0; good[i]; i++)
    tap_ok(api_pattern_valid(good[i]) == 0, "pattern '%s' is accepted", good[i]);
}

typedef struct {
  const char *method, *path;
  api_match_status_t status;
  api_route_id_t id;
  int http;
  const char *message;
} route_case_t;

static void check_routes(void) {
  static const route_case_t cases[] = {
      {"GET", "/_ping", API_MATCH_OK, API_ROUTE_PING, 200, NULL},
      {"HEAD", "/_ping", API_MATCH_OK, API_ROUTE_PING, 200, NULL},
      {"GET", "/v1.41/_ping", API_MATCH_OK, API_ROUTE_PING, 200, NULL},
      {"GET", "/version", API_MATCH_OK, API_ROUTE_VERSION, 200, NULL},
      {"GET", "/v1.12/version", API_MATCH_OK, API_ROUTE_VERSION, 200, NULL},
      {"GET", "/v1.24/version", API_MATCH_OK, API_ROUTE_VERSION, 200, NULL},
      {"GET", "/v1.41/version", API_MATCH_OK, API_ROUTE_VERSION, 200, NULL},
      {"GET", "/v1.41.0/version", API_MATCH_OK, API_ROUTE_VERSION, 200, NULL},
      {"GET", "/info", API_MATCH_OK, API_ROUTE_INFO, 200, NULL},
      {"GET", "/v1.41/info", API_MATCH_OK, API_ROUTE_INFO, 200, NULL},
      {"GET", "/berth/v1/services", API_MATCH_OK, API_ROUTE_BERTH_SERVICES, 200, NULL},
      {"GET", "/v1.41/berth/v1/services", API_MATCH_OK, API_ROUTE_BERTH_SERVICES, 200, NULL},
      {"GET", "/v1.50/version", API_MATCH_VERSION_TOO_NEW, API_ROUTE_VERSION, 400,
       "client version 1.50 is too new. Maximum supported API version is 1.41"},
      {"GET", "/v1.42/info", API_MATCH_VERSION_TOO_NEW, API_ROUTE_INFO, 400,
       "client version 1.42 is too new. Maximum supported API version is 1.41"},
      {"GET", "/v2/info", API_MATCH_VERSION_TOO_NEW, API_ROUTE_INFO, 400,
       "client version 2 is too new. Maximum supported API version is 1.41"},
      {"GET", "/v1.11/version", API_MATCH_VERSION_TOO_OLD, API_ROUTE_VERSION, 400,
       "client version 1.11 is too old. Minimum supported API version is 1.12, please upgrade your client to a "
       "newer version"},
      {"GET", "/v1.9/_ping", API_MATCH_VERSION_TOO_OLD, API_ROUTE_PING, 400,
       "client version 1.9 is too old. Minimum supported API version is 1.12, please upgrade your client to a "
       "newer version"},
      {"GET", "/v1/_ping", API_MATCH_VERSION_TOO_OLD, API_ROUTE_PING, 400,
       "client version 1 is too old. Minimum supported API version is 1.12, please upgrade your client to a "
       "newer version"},
      /* unknown paths: 404 whatever the version */
      {"GET", "/nope", API_MATCH_NOT_FOUND, API_ROUTE_NONE, 404, "page not found"},
      {"GET", "/v1.50/nope", API_MATCH_NOT_FOUND, API_ROUTE_NONE, 404, "page not found"},
      {"GET", "/v1.11/nope", API_MATCH_NOT_FOUND, API_ROUTE_NONE, 404, "page not found"},
      {"GET", "/", API_MATCH_NOT_FOUND, API_ROUTE_NONE, 404, "page not found"},
      {"GET", "", API_MATCH_NOT_FOUND, API_ROUTE_NONE, 404, "page not found"},
      {"GET", "*", API_MATCH_NOT_FOUND, API_ROUTE_NONE, 404, "page not found"},
      {"GET", "/_ping/", API_MATCH_NOT_FOUND, API_ROUTE_NONE, 404, "page not found"},
      {"GET", "//_ping", API_MATCH_NOT_FOUND, API_ROUTE_NONE, 404, "page not found"},
      {"GET", "/_PING", API_MATCH_NOT_FOUND, API_ROUTE_NONE, 404, "page not found"},
      {"GET", "/v1.41", API_MATCH_NOT_FOUND, API_ROUTE_NONE, 404, "page not found"},
      {"GET", "/v1.41/", API_MATCH_NOT_FOUND, API_ROUTE_NONE, 404, "page not found"},
      {"GET", "/v1.41/v1.41/_ping", API_MATCH_NOT_FOUND, API_ROUTE_NONE, 404, "page not found"},
      {"GET", "http://d/_ping", API_MATCH_NOT_FOUND, API_ROUTE_NONE, 404, "page not found"},
      /* malformed version prefixes are 404, not 400 */
      {"GET", "/v1..41/_ping", API_MATCH_NOT_FOUND, API_ROUTE_NONE, 404, "page not found"},
      {"GET", "/v./_ping", API_MATCH_NOT_FOUND, API_ROUTE_NONE, 404, "page not found"},
      {"GET", "/v1.41.0.0/_ping", API_MATCH_NOT_FOUND, API_ROUTE_NONE, 404, "page not found"},
      {"GET", "/v1.x/_ping", API_MATCH_NOT_FOUND, API_ROUTE_NONE, 404, "page not found"},
      {"GET", "/v/_ping", API_MATCH_NOT_FOUND, API_ROUTE_NONE, 404, "page not found"},
      {"GET", "/V1.41/_ping", API_MATCH_NOT_FOUND, API_ROUTE_NONE, 404, "page not found"},
      {"GET", "/v99999999999999999999.1/_ping", API_MATCH_NOT_FOUND, API_ROUTE_NONE, 404, "page not found"},
      /* a known path with another method: dockerd answers 404 "page not found" */
      {"POST", "/_ping", API_MATCH_WRONG_METHOD, API_ROUTE_NONE, 404, "page not found"},
      {"DELETE", "/v1.41/info", API_MATCH_WRONG_METHOD, API_ROUTE_NONE, 404, "page not found"},
      {"HEAD", "/version", API_MATCH_WRONG_METHOD, API_ROUTE_NONE, 404, "page not found"},
      {"get", "/_ping", API_MATCH_WRONG_METHOD, API_ROUTE_NONE, 404, "page not found"},
      {"", "/_ping", API_MATCH_WRONG_METHOD, API_ROUTE_NONE, 404, "page not found"},
      {"POST", "/v1.50/_ping", API_MATCH_WRONG_METHOD, API_ROUTE_NONE, 404, "page not found"},
      /* images: literal rows win over the greedy names they also match */
      {"POST", "/v1.41/images/load", API_MATCH_OK, API_ROUTE_IMAGES_LOAD, 200, NULL},
      {"POST", "/images/load", API_MATCH_OK, API_ROUTE_IMAGES_LOAD, 200, NULL},
      {"GET", "/v1.41/images/get", API_MATCH_OK, API_ROUTE_IMAGES_SAVE, 200, NULL},
      {"GET", "/v1.41/images/json", API_MATCH_OK, API_ROUTE_IMAGES_LIST, 200, NULL},
      {"POST", "/v1.41/images/prune", API_MATCH_OK, API_ROUTE_IMAGES_PRUNE, 200, NULL},
      {"GET", "/v1.41/images/busybox/get", API_MATCH_OK, API_ROUTE_IMAGE_SAVE, 200, NULL},
      {"GET", "/v1.41/images/user/bb:v1/json", API_MATCH_OK, API_ROUTE_IMAGE_INSPECT, 200, NULL},
      {"GET", "/v1.41/images/sha256:0123abc/history", API_MATCH_OK, API_ROUTE_IMAGE_HISTORY, 200, NULL},
      {"POST", "/v1.41/images/busybox:latest/tag", API_MATCH_OK, API_ROUTE_IMAGE_TAG, 200, NULL},
      {"DELETE", "/v1.41/images/user/bb:v1", API_MATCH_OK, API_ROUTE_IMAGE_DELETE, 200, NULL},
      {"DELETE", "/v1.41/images/json", API_MATCH_OK, API_ROUTE_IMAGE_DELETE, 200, NULL},
      {"DELETE", "/images/load", API_MATCH_OK, API_ROUTE_IMAGE_DELETE, 200, NULL},
      {"GET", "/images/json/json", API_MATCH_OK, API_ROUTE_IMAGE_INSPECT, 200, NULL},
      {"GET", "/images/get/get", API_MATCH_OK, API_ROUTE_IMAGE_SAVE, 200, NULL},
      {"POST", "/images/load/tag", API_MATCH_OK, API_ROUTE_IMAGE_TAG, 200, NULL},
      {"GET", "/berth/v1/images/busybox:latest/layers", API_MATCH_OK, API_ROUTE_BERTH_IMAGE_LAYERS, 200, NULL},
      {"GET", "/v1.41/berth/v1/images/a/b/c:1/layers", API_MATCH_OK, API_ROUTE_BERTH_IMAGE_LAYERS, 200, NULL},
      {"GET", "/v1.42/images/json", API_MATCH_VERSION_TOO_NEW, API_ROUTE_IMAGES_LIST, 400,
       "client version 1.42 is too new. Maximum supported API version is 1.41"},
      /* images: wrong methods and shapes */
      {"GET", "/images/load", API_MATCH_WRONG_METHOD, API_ROUTE_NONE, 404, "page not found"},
      {"PUT", "/images/load", API_MATCH_WRONG_METHOD, API_ROUTE_NONE, 404, "page not found"},
      {"POST", "/images/json", API_MATCH_WRONG_METHOD, API_ROUTE_NONE, 404, "page not found"},
      {"GET", "/images/busybox", API_MATCH_WRONG_METHOD, API_ROUTE_NONE, 404, "page not found"},
      {"POST", "/images/busybox/json", API_MATCH_WRONG_METHOD, API_ROUTE_NONE, 404, "page not found"},
      /* ... which DELETE /images/{name:.*} would take: a known path, still 404 */
      {"GET", "/images/busybox/tag", API_MATCH_WRONG_METHOD, API_ROUTE_NONE, 404, "page not found"},
      {"GET", "/images//json", API_MATCH_WRONG_METHOD, API_ROUTE_NONE, 404, "page not found"},
      {"GET", "/images/", API_MATCH_NOT_FOUND, API_ROUTE_NONE, 404, "page not found"},
      {"DELETE", "/images/", API_MATCH_NOT_FOUND, API_ROUTE_NONE, 404, "page not found"},
      {"GET", "/images", API_MATCH_NOT_FOUND, API_ROUTE_NONE, 404, "page not found"},
      {"GET", "/berth/v1/images/busybox", API_MATCH_NOT_FOUND, API_ROUTE_NONE, 404, "page not found"},
      {"POST", "/berth/v1/images/busybox/layers", API_MATCH_WRONG_METHOD, API_ROUTE_NONE, 404, "page not found"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const route_case_t *c = &cases[i];
    api_match_t m;
    api_route_match(c->method, c->path, &m);
    char msg[512];
    int http = api_match_error(&m, msg, sizeof msg);
    int ok = m.status == c->status && (m.route ? m.route->id : API_ROUTE_NONE) == c->id && http == c->http;
    if (c->message)
      ok = ok && strcmp(msg, c->message) == 0;
    if (!tap_ok(ok, "%s '%s' -> %d %s", c->method, c->path, c->http, c->message ? c->message : "(routed)"))
      tap_diag("got status %d route %d http %d message '%s'", (int)m.status, m.route ? (int)m.route->id : 0, http,
               msg);
  }

  api_match_t m;
  api_route_match("GET", "/v1.24/info", &m);
  tap_ok(m.versioned && m.version.major == 1 && m.version.minor == 24 && strcmp(m.version_str, "1.24") == 0,
         "the requested version is reported");
  api_route_match("GET", "/info", &m);
  tap_ok(!m.versioned && m.version.minor == 41 && strcmp(m.version_str, API_VERSION_DEFAULT) == 0,
         "an unversioned path gets the default version");
  /* Greedy image names through the real table. */
  static const struct {
    const char *method, *path, *name;
  } names[] = {
      {"GET", "/v1.41/images/user/bb:v1/json", "user/bb:v1"},
      {"GET", "/images/registry:5000/a/b/c:tag/history", "registry:5000/a/b/c:tag"},
      {"POST", "/v1.41/images/busybox:latest/tag", "busybox:latest"},
      {"DELETE", "/v1.41/images/user/bb:v1", "user/bb:v1"},
      {"DELETE", "/images/a/json", "a/json"},
      {"GET", "/images/busybox@sha256:0123/get", "busybox@sha256:0123"},
      {"GET", "/images/json/json", "json"},
      {"GET", "/berth/v1/images/user/bb:v1/layers", "user/bb:v1"},
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    char v[256] = "";
    api_route_match(names[i].method, names[i].path, &m);
    tap_ok(m.status == API_MATCH_OK && api_match_param(&m, "name", v, sizeof v) >= 0 && strcmp(v, names[i].name) == 0,
           "%s %s -> name=%s", names[i].method, names[i].path, names[i].name);
  }
  api_route_match("POST", "/v1.41/images/load", &m);
  tap_ok(m.route && m.route->max_body == API_BODY_STREAM, "POST /images/load streams its body");
  size_t nrows;
  const api_route_t *t = api_route_table(&nrows);
  int streamed = 0;
  for (size_t i = 0; i < nrows; i++)
    streamed += t[i].max_body == API_BODY_STREAM;
  tap_ok(streamed == 1, "only the load streams a request body");

  api_route_match(NULL, "/info", &m);
  tap_ok(m.status == API_MATCH_NOT_FOUND, "NULL method is not found");
  api_route_match("GET", NULL, &m);
  tap_ok(m.status == API_MATCH_NOT_FOUND, "NULL path is not found");
}

/* Greedy and single-segment parameters, against a table like the ones
 * later issues add (image names contain '/' and ':'). */
static void check_params(void) {
  static const api_route_t t[] = {
      {"GET", "/images/json", API_ROUTE_INFO, 0},
      {"GET", "/images/{name:.*}/json", API_ROUTE_PING, 0},
      {"POST", "/images/{name:.*}/tag", API_ROUTE_VERSION, 0},
      {"DELETE", "/images/{name:.*}", API_ROUTE_VERSION, 0},
      {"GET", "/containers/{id}/json", API_ROUTE_BERTH_SERVICES, 0},
      {"GET", "/x/{a}/{b:.*}/y/{c}", API_ROUTE_INFO, 0},
  };
  const size_t n = sizeof t / sizeof t[0];
  for (size_t i = 0; i < n; i++)
    tap_ok(api_pattern_valid(t[i].pattern) == 0, "test pattern %s is valid", t[i].pattern);

  static const struct {
    const char *method, *path, *param, *value;
    const char *param2, *value2;
  } hits[] = {
      {"GET", "/v1.41/images/busybox/json", "name", "busybox", NULL, NULL},
      {"GET", "/v1.41/images/user/bb:v1/json", "name", "user/bb:v1", NULL, NULL},
      {"GET", "/images/registry:5000/a/b/c:tag/json", "name", "registry:5000/a/b/c:tag", NULL, NULL},
      {"GET", "/images/json/json", "name", "json", NULL, NULL},
      {"POST", "/v1.41/images/busybox:latest/tag", "name", "busybox:latest", NULL, NULL},
      {"DELETE", "/v1.41/images/user/bb:v1", "name", "user/bb:v1", NULL, NULL},
      {"DELETE", "/images/a/json", "name", "a/json", NULL, NULL},
      {"GET", "/containers/abc123/json", "id", "abc123", NULL, NULL},
      {"GET", "/x/1/2/3/y/4", "b", "2/3", "c", "4"},
      {"GET", "/x/1/2/y/4", "a", "1", "b", "2"},
  };
  for (size_t i = 0; i < sizeof hits / sizeof hits[0]; i++) {
    api_match_t m;
    api_route_match_table(t, n, hits[i].method, hits[i].path, &m);
    char v[256] = "", v2[256] = "";
    int ok = m.status == API_MATCH_OK && api_match_param(&m, hits[i].param, v, sizeof v) >= 0 &&
             strcmp(v, hits[i].value) == 0;
    if (hits[i].param2)
      ok = ok && api_match_param(&m, hits[i].param2, v2, sizeof v2) >= 0 && strcmp(v2, hits[i].value2) == 0;
    tap_ok(ok, "%s %s -> %s=%s", hits[i].method, hits[i].path, hits[i].param, hits[i].value);
  }

  api_match_t m;
  api_route_match_table(t, n, "GET", "/images/json", &m);
  tap_ok(m.status == API_MATCH_OK && m.route == &t[0] && m.nparams == 0, "a literal row before a greedy one wins");
  static const char *const misses[] = {"/images//json", "/containers//json", "/containers/a/b/json", "/x/1/y/4",
                                       "/containers/abc/json/", NULL};
  for (size_t i = 0; misses[i]; i++) {
    api_route_match_table(t, n, "GET", misses[i], &m);
    tap_ok(m.status != API_MATCH_OK, "GET %s does not match (empty or extra segments)", misses[i]);
  }
  api_route_match_table(t, n, "PUT", "/images/a/b/json", &m);
  tap_ok(m.status == API_MATCH_WRONG_METHOD, "greedy path with the wrong method is WRONG_METHOD");

  api_route_match_table(t, n, "GET", "/containers/abc/json", &m);
  char small[3];
  tap_ok(api_match_param(&m, "id", small, sizeof small) == -1, "a value longer than the buffer is refused");
  tap_ok(api_match_param(&m, "nope", small, sizeof small) == -1, "an absent parameter is -1");
  tap_ok(api_match_param(&m, "i", small, sizeof small) == -1, "a parameter name prefix does not match");
}

int main(void) {
  check_version_parse();
  check_table();
  check_routes();
  check_params();
  return tap_done();
}
