/* libFuzzer target: berth-apid's router and version parser on arbitrary
 * request lines. Input: "METHOD PATH" (split at the first space; no space:
 * all of it is the path, method GET). The path is matched against the real
 * table and against a table with greedy and single-segment parameters, and
 * every result is checked for consistency (params inside the path, as many
 * as the matched pattern names, a status for every outcome; the real table
 * holds the image routes with greedy names such as /images/{name:.*}/json). The whole input is also given to the version parser
 * and the pattern checker. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const api_route_t greedy_table[] = {
    {"GET", "/images/json", API_ROUTE_INFO, 0},
    {"GET", "/images/{name:.*}/json", API_ROUTE_PING, 0},
    {"POST", "/images/{name:.*}/tag", API_ROUTE_VERSION, 0},
    {"DELETE", "/images/{name:.*}", API_ROUTE_VERSION, 0},
    {"GET", "/containers/{id}/json", API_ROUTE_BERTH_SERVICES, 0},
    {"GET", "/x/{a}/{b:.*}/y/{c}", API_ROUTE_INFO, 0},
};

static void check(const api_match_t *m, const char *path) {
  size_t plen = strlen(path);
  if (m->status == API_MATCH_OK && m->route == NULL)
    abort();
  if (m->nparams > API_MAX_PARAMS)
    abort();
  for (size_t i = 0; i < m->nparams; i++) {
    const api_param_t *p = &m->params[i];
    if (p->len == 0 || p->value < path || p->value + p->len > path + plen)
      abort();
    char buf[64];
    char name[32];
    if (p->name_len < sizeof name) {
      memcpy(name, p->name, p->name_len);
      name[p->name_len] = '\0';
      int n = api_match_param(m, name, buf, sizeof buf);
      if (n >= 0 && ((size_t)n != strlen(buf) || n >= (int)sizeof buf))
        abort();
    }
  }
  if (strlen(m->version_str) >= sizeof m->version_str)
    abort();
  /* A matched route has exactly the parameters its pattern names (the
   * image routes' greedy {name:.*} included), each non-empty. */
  if (m->route) {
    size_t want = 0;
    for (const char *q = m->route->pattern; *q; q++)
      want += *q == '{';
    if (m->status != API_MATCH_WRONG_METHOD && m->status != API_MATCH_NOT_FOUND && m->nparams != want)
      abort();
  }
  char msg[256];
  int status = api_match_error(m, msg, sizeof msg);
  if (status != 200 && status != 400 && status != 404)
    abort();
  if ((m->status == API_MATCH_OK) != (status == 200))
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *buf = malloc(size + 1);
  if (buf == NULL)
    return 0;
  memcpy(buf, data, size);
  buf[size] = '\0';   /* an embedded NUL just ends the path early, as in C */

  api_version_t v;
  if (api_version_parse(buf, size, &v) == 0 && api_version_cmp(&v, &v) != 0)
    abort();
  (void)api_pattern_valid(buf);

  const char *method = "GET", *path = buf;
  char *space = memchr(buf, ' ', size);
  if (space) {
    *space = '\0';
    method = buf;
    path = space + 1;
  }
  api_match_t m;
  api_route_match(method, path, &m);
  check(&m, path);
  api_route_match_table(greedy_table, sizeof greedy_table / sizeof greedy_table[0], method, path, &m);
  check(&m, path);
  free(buf);
  return 0;
}
