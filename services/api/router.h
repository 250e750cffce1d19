/* The API router: strips an optional /vMAJOR.MINOR prefix, matches
 * method + path against a table of patterns and checks the API version.
 * Pure string code (no HTTP library), so it is unit tested and fuzzed alone.
 *
 * Patterns are literal text with parameters:
 *   {name}      one non-empty path segment (no '/')
 *   {name:.*}   a greedy, non-empty run that may contain '/' (image names
 *               such as "user/bb:v1"); it takes everything up to the fixed
 *               segments that follow it, like dockerd's gorilla/mux regexps.
 * At most one greedy parameter per pattern. Later issues add rows to the
 * table in router.c (and a handler in routes.c); nothing else changes. */
#pragma once
#include <stddef.h>

#define API_VERSION_DEFAULT "1.41"
#define API_VERSION_MIN "1.12"
#define API_MAX_PARAMS 4
#define API_VERSION_STR_MAX 24
/* max_body of a route whose body is streamed to its handler, never buffered. */
#define API_BODY_STREAM ((size_t)-1)

typedef enum {
  API_ROUTE_NONE = 0,
  API_ROUTE_PING,
  API_ROUTE_VERSION,
  API_ROUTE_INFO,
  API_ROUTE_BERTH_SERVICES,
  API_ROUTE_IMAGES_LOAD,       /* POST /images/load */
  API_ROUTE_IMAGES_SAVE,       /* GET /images/get?names=.. */
  API_ROUTE_IMAGE_SAVE,        /* GET /images/{name}/get */
  API_ROUTE_IMAGES_LIST,       /* GET /images/json */
  API_ROUTE_IMAGES_PRUNE,      /* POST /images/prune */
  API_ROUTE_IMAGE_INSPECT,     /* GET /images/{name}/json */
  API_ROUTE_IMAGE_HISTORY,     /* GET /images/{name}/history */
  API_ROUTE_IMAGE_TAG,         /* POST /images/{name}/tag */
  API_ROUTE_IMAGE_DELETE,      /* DELETE /images/{name} */
  API_ROUTE_BERTH_IMAGE_LAYERS, /* GET /berth/v1/images/{name}/layers */
  /* containers */
  API_ROUTE_CTR_CREATE,        /* POST /containers/create?name= */
  API_ROUTE_CTR_LIST,          /* GET /containers/json */
  API_ROUTE_CTR_PRUNE,         /* POST /containers/prune */
  API_ROUTE_CTR_INSPECT,       /* GET /containers/{name}/json */
  API_ROUTE_CTR_START,         /* POST /containers/{name}/start */
  API_ROUTE_CTR_STOP,          /* POST /containers/{name}/stop?t= */
  API_ROUTE_CTR_KILL,          /* POST /containers/{name}/kill?signal= */
  API_ROUTE_CTR_RESTART,       /* POST /containers/{name}/restart?t= */
  API_ROUTE_CTR_WAIT,          /* POST /containers/{name}/wait?condition= */
  API_ROUTE_CTR_ATTACH,        /* POST /containers/{name}/attach (hijacked) */
  API_ROUTE_CTR_RESIZE,        /* POST /containers/{name}/resize?h=&w= */
  API_ROUTE_CTR_RENAME,        /* POST /containers/{name}/rename?name= */
  API_ROUTE_CTR_LOGS,          /* GET /containers/{name}/logs */
  API_ROUTE_CTR_DELETE,        /* DELETE /containers/{name}?force=&v= */
  API_ROUTE_CTR_TOP,           /* GET /containers/{name}/top?ps_args= */
  API_ROUTE_CTR_STATS,         /* GET /containers/{name}/stats?stream=&one-shot= */
  API_ROUTE_EVENTS,            /* GET /events?since=&until=&filters= */
  API_ROUTE__MAX,
} api_route_id_t;

typedef struct {
  const char *method;
  const char *pattern;
  api_route_id_t id;
  size_t max_body;   /* largest request body buffered for this route (0: none expected) */
} api_route_t;

typedef struct {
  unsigned major, minor, patch;
} api_version_t;

typedef struct {
  const char *name;   /* points into the pattern (not NUL-terminated at the name's end) */
  size_t name_len;
  const char *value;  /* points into the matched path */
  size_t len;
} api_param_t;

typedef enum {
  API_MATCH_OK = 0,
  API_MATCH_NOT_FOUND,        /* no route has this path, or a malformed version prefix */
  API_MATCH_WRONG_METHOD,     /* a route has this path, none with this method */
  API_MATCH_VERSION_TOO_OLD,
  API_MATCH_VERSION_TOO_NEW,
} api_match_status_t;

typedef struct {
  api_match_status_t status;
  const api_route_t *route;   /* set when a route matched (also for TOO_OLD/TOO_NEW) */
  int versioned;              /* the path had a /vX.Y prefix */
  api_version_t version;      /* requested version, or the default when unversioned */
  char version_str[API_VERSION_STR_MAX];
  size_t nparams;
  api_param_t params[API_MAX_PARAMS];
} api_match_t;

/* Parses "MAJOR[.MINOR[.PATCH]]" (decimal, 1-6 digits each) of exactly len
 * bytes. Returns 0, or -1 when malformed. */
int api_version_parse(const char *s, size_t len, api_version_t *out);
int api_version_cmp(const api_version_t *a, const api_version_t *b);

/* Matches against the built-in table. path is the decoded URL path without
 * the query string; it must stay alive while out is used (params point into it). */
void api_route_match(const char *method, const char *path, api_match_t *out);
/* Same against any table (unit tests use their own). */
void api_route_match_table(const api_route_t *table, size_t n, const char *method, const char *path,
                           api_match_t *out);

const api_route_t *api_route_table(size_t *n);

/* Checks a pattern's syntax (used by the table test). Returns 0 when valid. */
int api_pattern_valid(const char *pattern);

/* Copies parameter `name` into buf (NUL-terminated). Returns its length, or
 * -1 when absent or longer than buflen - 1. */
int api_match_param(const api_match_t *m, const char *name, char *buf, size_t buflen);

/* For a match that is not OK: the HTTP status and the Docker-style message
 * (the text of {"message": ...}) to answer with. */
int api_match_error(const api_match_t *m, char *msg, size_t msglen);
