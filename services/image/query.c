/* GET /images/json, /images/{name}/json, /images/{name}/history: Docker's
 * shapes (API 1.41, classic image store), built from the rows and the config. */
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cleanup.h"
#include "filters.h"
#include "query-impl.h"
#include "query.h"
#include "txn-impl.h"

static json_object *strings(char *const *v, size_t n) {
  json_object *a = json_object_new_array();
  for (size_t i = 0; i < n; i++)
    json_object_array_add(a, json_object_new_string(v[i]));
  return a;
}

static json_object *get(json_object *o, const char *key) {
  json_object *v = NULL;
  return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static json_object *copy_or(json_object *o, const char *key, json_object *def) {
  json_object *v = get(o, key);
  if (v == NULL)
    return def;
  json_object_put(def);
  return json_object_get(v);
}

static const char *str_or(json_object *o, const char *key, const char *def) {
  json_object *v = get(o, key);
  return v && json_object_is_type(v, json_type_string) ? json_object_get_string(v) : def;
}

/* ---- list ---- */

/* Go's path.Match on "repo:tag" or on "repo" alone, as Docker's FamiliarMatch. */
static bool ref_matches(const filter_t *f, const char *fam) {
  cleanup_free char *name = strdup(fam);
  if (name == NULL)
    return false;
  char *cut = strrchr(name, '@');
  if (cut == NULL) {
    cut = strrchr(name, ':');
    if (cut != NULL && strchr(cut, '/') != NULL)
      cut = NULL;
  }
  if (cut != NULL)
    *cut = '\0';
  for (size_t i = 0; i < f->n; i++)
    if (fnmatch(f->values[i], fam, FNM_PATHNAME) == 0 || fnmatch(f->values[i], name, FNM_PATHNAME) == 0)
      return true;
  return false;
}

static void keep_matching(const filter_t *f, char **v, size_t *n) {
  size_t k = 0;
  for (size_t i = 0; i < *n; i++)
    if (ref_matches(f, v[i]))
      v[k++] = v[i];
    else
      free(v[i]);
  *n = k;
}

static int created_of(berth_store_t *st, const filters_t *f, const char *key, int64_t *out, berth_error_t *err) {
  const filter_t *ft = filters_get(f, key);
  *out = 0;
  if (ft == NULL || ft->n == 0)
    return 0;
  char id[BERTH_DIGEST_SIZE];
  qimage_t q;
  if (berth_store_resolve(st, ft->values[ft->n - 1], id, err) < 0 || qimage_load(st, id, false, &q, err) < 0)
    return -1;
  *out = q.created_unix;
  qimage_clear(&q);
  return 1;
}

static json_object *summary(const qimage_t *q) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "Containers", json_object_new_int(-1));
  json_object_object_add(o, "Created", json_object_new_int64(q->created_unix));
  json_object_object_add(o, "Id", json_object_new_string(q->id));
  json_object *labels = qimage_labels(q);
  json_object_object_add(o, "Labels", labels ? json_object_get(labels) : NULL);
  json_object_object_add(o, "ParentId", json_object_new_string(str_or(q->config, "parent", "")));
  json_object_object_add(o, "RepoDigests", strings(q->digests, q->n_digests));
  json_object_object_add(o, "RepoTags", strings(q->tags, q->n_tags));
  json_object_object_add(o, "SharedSize", json_object_new_int(-1));
  json_object_object_add(o, "Size", json_object_new_int64((int64_t)q->size));
  json_object_object_add(o, "VirtualSize", json_object_new_int64((int64_t)q->size));
  return o;
}

static int by_created_desc(const void *a, const void *b) {
  json_object *x = *(json_object *const *)a, *y = *(json_object *const *)b;
  int64_t cx = json_object_get_int64(get(x, "Created")), cy = json_object_get_int64(get(y, "Created"));
  if (cx != cy)
    return cx > cy ? -1 : 1;
  return strcmp(json_object_get_string(get(x, "Id")), json_object_get_string(get(y, "Id")));
}

int image_query_list(berth_store_t *st, const char *filters_json, bool all, char **json, berth_error_t *err) {
  static const char *const allowed[] = { "dangling", "label", "before", "since", "reference", NULL };
  (void)all; /* loaded images have no parents, so none is hidden as intermediate */
  filters_t f;
  int dangling;
  int64_t before = 0, since = 0;
  if (filters_parse(filters_json, allowed, &f, err) < 0)
    return -1;
  int hb = 0, hs = 0;
  if (filters_bool(&f, "dangling", &dangling, err) < 0 || (hb = created_of(st, &f, "before", &before, err)) < 0 ||
      (hs = created_of(st, &f, "since", &since, err)) < 0) {
    filters_free(&f);
    return -1;
  }
  const filter_t *reff = filters_get(&f, "reference");
  char (*ids)[BERTH_DIGEST_SIZE] = NULL;
  size_t n = 0;
  if (qimage_ids(st, &ids, &n, err) < 0) {
    filters_free(&f);
    return -1;
  }
  json_object **items = calloc(n ? n : 1, sizeof(*items));
  size_t k = 0;
  int r = items ? 0 : berth_error_make(err, ENOMEM, "out of memory");
  for (size_t i = 0; r == 0 && i < n; i++) {
    qimage_t q;
    berth_error_t e = NULL;
    if (qimage_load(st, ids[i], true, &q, &e) < 0) {
      if (e && e->status != ENOENT) /* ENOENT: removed meanwhile */
        r = berth_error_make(err, e->status, "%s", e->msg);
      berth_error_release(&e);
      continue;
    }
    bool is_dangling = q.n_tags == 0 && q.n_digests == 0;
    bool keep = !(dangling == 1 && !is_dangling) && !(dangling == 0 && is_dangling) &&
                !(hb && q.created_unix >= before) && !(hs && q.created_unix <= since) &&
                filters_match_labels(&f, qimage_labels(&q));
    if (keep && reff != NULL) {
      keep_matching(reff, q.tags, &q.n_tags);
      keep_matching(reff, q.digests, &q.n_digests);
      keep = q.n_tags > 0 || q.n_digests > 0;
    }
    if (keep && is_dangling) {
      /* Docker shows untagged images with these placeholders */
      q.tags = malloc(sizeof(char *));
      q.digests = malloc(sizeof(char *));
      if (q.tags && q.digests && (q.tags[0] = strdup("<none>:<none>")) && (q.digests[0] = strdup("<none>@<none>"))) {
        q.n_tags = q.n_digests = 1;
      }
    }
    if (keep)
      items[k++] = summary(&q);
    qimage_clear(&q);
  }
  free(ids);
  filters_free(&f);
  if (r < 0) {
    for (size_t i = 0; i < k; i++)
      json_object_put(items[i]);
    free(items);
    return -1;
  }
  qsort(items, k, sizeof(*items), by_created_desc);
  json_object *arr = json_object_new_array();
  for (size_t i = 0; i < k; i++)
    json_object_array_add(arr, items[i]);
  free(items);
  return query_finish(arr, json, err);
}

/* ---- inspect ---- */

/* Docker's container.Config with every non-omitempty field present, in its order. */
static json_object *docker_config(json_object *c) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "Hostname", json_object_new_string(str_or(c, "Hostname", "")));
  json_object_object_add(o, "Domainname", json_object_new_string(str_or(c, "Domainname", "")));
  json_object_object_add(o, "User", json_object_new_string(str_or(c, "User", "")));
  json_object_object_add(o, "AttachStdin", copy_or(c, "AttachStdin", json_object_new_boolean(0)));
  json_object_object_add(o, "AttachStdout", copy_or(c, "AttachStdout", json_object_new_boolean(0)));
  json_object_object_add(o, "AttachStderr", copy_or(c, "AttachStderr", json_object_new_boolean(0)));
  if (get(c, "ExposedPorts"))
    json_object_object_add(o, "ExposedPorts", json_object_get(get(c, "ExposedPorts")));
  json_object_object_add(o, "Tty", copy_or(c, "Tty", json_object_new_boolean(0)));
  json_object_object_add(o, "OpenStdin", copy_or(c, "OpenStdin", json_object_new_boolean(0)));
  json_object_object_add(o, "StdinOnce", copy_or(c, "StdinOnce", json_object_new_boolean(0)));
  json_object_object_add(o, "Env", copy_or(c, "Env", NULL));
  json_object *cmd = get(c, "Cmd");
  if (cmd && json_object_is_type(cmd, json_type_string)) {
    json_object *a = json_object_new_array();
    json_object_array_add(a, json_object_get(cmd));
    json_object_object_add(o, "Cmd", a);
  } else
    json_object_object_add(o, "Cmd", cmd ? json_object_get(cmd) : NULL);
  if (get(c, "Healthcheck"))
    json_object_object_add(o, "Healthcheck", json_object_get(get(c, "Healthcheck")));
  if (json_object_get_boolean(get(c, "ArgsEscaped")))
    json_object_object_add(o, "ArgsEscaped", json_object_new_boolean(1));
  json_object_object_add(o, "Image", json_object_new_string(str_or(c, "Image", "")));
  json_object_object_add(o, "Volumes", copy_or(c, "Volumes", NULL));
  json_object_object_add(o, "WorkingDir", json_object_new_string(str_or(c, "WorkingDir", "")));
  json_object *ep = get(c, "Entrypoint");
  if (ep && json_object_is_type(ep, json_type_string)) {
    json_object *a = json_object_new_array();
    json_object_array_add(a, json_object_get(ep));
    json_object_object_add(o, "Entrypoint", a);
  } else
    json_object_object_add(o, "Entrypoint", ep ? json_object_get(ep) : NULL);
  static const char *const tail_omitempty[] = { "NetworkDisabled", "MacAddress" };
  for (size_t i = 0; i < 2; i++)
    if (get(c, tail_omitempty[i]))
      json_object_object_add(o, tail_omitempty[i], json_object_get(get(c, tail_omitempty[i])));
  json_object_object_add(o, "OnBuild", copy_or(c, "OnBuild", NULL));
  json_object_object_add(o, "Labels", copy_or(c, "Labels", NULL));
  static const char *const last[] = { "StopSignal", "StopTimeout", "Shell" };
  for (size_t i = 0; i < 3; i++)
    if (get(c, last[i]))
      json_object_object_add(o, last[i], json_object_get(get(c, last[i])));
  return o;
}

/* Go's time.RFC3339Nano in UTC (trailing zeros of the fraction dropped). */
static json_object *rfc3339(int64_t ns) {
  if (ns <= 0)
    return json_object_new_string("0001-01-01T00:00:00Z");
  time_t s = (time_t)(ns / 1000000000);
  struct tm tm;
  gmtime_r(&s, &tm);
  char buf[64], frac[16] = "";
  long f = (long)(ns % 1000000000);
  if (f > 0) {
    snprintf(frac, sizeof(frac), ".%09ld", f);
    for (size_t l = strlen(frac); frac[l - 1] == '0'; l--)
      frac[l - 1] = '\0';
  }
  snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d%sZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
           tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  return json_object_new_string(buf);
}

static json_object *graph_driver(berth_store_t *st, const qimage_t *q) {
  json_object *o = json_object_new_object(), *data = json_object_new_object();
  const char *root = st->root ? st->root : "";
  if (q->n_layers > 1) {
    size_t cap = q->n_layers * (strlen(root) + 90) + 1, len = 0;
    char *lower = malloc(cap);
    if (lower != NULL) {
      lower[0] = '\0';
      for (size_t i = q->n_layers - 1; i-- > 0;)
        len += (size_t)snprintf(lower + len, cap - len, "%s%s/layers/%s/diff", len ? ":" : "", root,
                                q->chains[i] + 7);
      json_object_object_add(data, "LowerDir", json_object_new_string(lower));
      free(lower);
    }
  }
  if (q->n_layers > 0) {
    char top[PATH_MAX];
    snprintf(top, sizeof(top), "%s/layers/%s/diff", root, q->chains[q->n_layers - 1] + 7);
    json_object_object_add(data, "UpperDir", json_object_new_string(top));
  }
  json_object_object_add(o, "Data", data);
  json_object_object_add(o, "Name", json_object_new_string("overlay"));
  return o;
}

int image_query_inspect(berth_store_t *st, const char *name, char **json, berth_error_t *err) {
  char id[BERTH_DIGEST_SIZE];
  qimage_t q;
  if (berth_store_resolve(st, name, id, err) < 0 || qimage_load(st, id, true, &q, err) < 0)
    return -1;
  json_object *c = q.config, *o = json_object_new_object();
  json_object_object_add(o, "Id", json_object_new_string(q.id));
  json_object_object_add(o, "RepoTags", strings(q.tags, q.n_tags));
  json_object_object_add(o, "RepoDigests", strings(q.digests, q.n_digests));
  json_object_object_add(o, "Parent", json_object_new_string(str_or(c, "parent", "")));
  json_object_object_add(o, "Comment", json_object_new_string(str_or(c, "comment", "")));
  json_object_object_add(o, "Created", json_object_new_string(q.created));
  json_object_object_add(o, "Container", json_object_new_string(str_or(c, "container", "")));
  json_object_object_add(o, "ContainerConfig", docker_config(get(c, "container_config")));
  json_object_object_add(o, "DockerVersion", json_object_new_string(str_or(c, "docker_version", "")));
  json_object_object_add(o, "Author", json_object_new_string(str_or(c, "author", "")));
  json_object_object_add(o, "Config", docker_config(get(c, "config")));
  json_object_object_add(o, "Architecture", json_object_new_string(str_or(c, "architecture", "")));
  if (*str_or(c, "variant", ""))
    json_object_object_add(o, "Variant", json_object_new_string(str_or(c, "variant", "")));
  json_object_object_add(o, "Os", json_object_new_string(str_or(c, "os", "")));
  if (*str_or(c, "os.version", ""))
    json_object_object_add(o, "OsVersion", json_object_new_string(str_or(c, "os.version", "")));
  json_object_object_add(o, "Size", json_object_new_int64((int64_t)q.size));
  json_object_object_add(o, "VirtualSize", json_object_new_int64((int64_t)q.size));
  json_object_object_add(o, "GraphDriver", graph_driver(st, &q));
  json_object *rootfs = json_object_new_object(), *layers = json_object_new_array();
  json_object_object_add(rootfs, "Type", json_object_new_string("layers"));
  for (size_t i = 0; i < q.n_layers; i++)
    json_object_array_add(layers, json_object_new_string(q.diffs[i]));
  json_object_object_add(rootfs, "Layers", layers);
  json_object_object_add(o, "RootFS", rootfs);
  json_object *meta = json_object_new_object();
  json_object_object_add(meta, "LastTagTime", rfc3339(q.last_tag_ns));
  json_object_object_add(o, "Metadata", meta);
  qimage_clear(&q);
  return query_finish(o, json, err);
}

/* ---- history ---- */

int image_query_history(berth_store_t *st, const char *name, char **json, berth_error_t *err) {
  char id[BERTH_DIGEST_SIZE];
  qimage_t q;
  if (berth_store_resolve(st, name, id, err) < 0 || qimage_load(st, id, true, &q, err) < 0)
    return -1;
  json_object *hist = get(q.config, "history");
  size_t nh = hist && json_object_is_type(hist, json_type_array) ? json_object_array_length(hist) : 0;
  json_object *arr = json_object_new_array();
  size_t layer = 0;
  int r = 0;
  /* newest first: walk the config's history backwards after counting layers forwards */
  json_object **items = calloc(nh ? nh : 1, sizeof(*items));
  for (size_t i = 0; items && i < nh; i++) {
    json_object *h = json_object_array_get_idx(hist, i);
    int64_t size = 0;
    if (!json_object_get_boolean(get(h, "empty_layer"))) {
      if (layer >= q.n_layers) {
        r = berth_error_make(err, EBADMSG, "image %s: too many non-empty layers in History section", q.id);
        break;
      }
      size = (int64_t)q.layer_sizes[layer++];
    }
    json_object *o = json_object_new_object();
    json_object_object_add(o, "Comment", json_object_new_string(str_or(h, "comment", "")));
    json_object_object_add(o, "Created", json_object_new_int64(txn_parse_time(str_or(h, "created", ""))));
    json_object_object_add(o, "CreatedBy", json_object_new_string(str_or(h, "created_by", "")));
    json_object_object_add(o, "Id", json_object_new_string("<missing>"));
    json_object_object_add(o, "Size", json_object_new_int64(size));
    json_object_object_add(o, "Tags", NULL);
    items[i] = o;
  }
  for (size_t i = nh; items && i-- > 0;) {
    if (items[i] == NULL)
      continue;
    if (r == 0)
      json_object_array_add(arr, items[i]);
    else
      json_object_put(items[i]);
  }
  free(items);
  if (r == 0 && json_object_array_length(arr) > 0) {
    json_object *top = json_object_array_get_idx(arr, 0);
    json_object_object_add(top, "Id", json_object_new_string(q.id));
    json_object_object_add(top, "Tags", q.n_tags ? strings(q.tags, q.n_tags) : NULL);
  }
  qimage_clear(&q);
  if (r < 0) {
    json_object_put(arr);
    return -1;
  }
  return query_finish(arr, json, err);
}
