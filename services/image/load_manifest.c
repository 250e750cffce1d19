/* From the documents of an image archive to a plan: which member is each
 * image's config and layers, under which names. Every blob the documents
 * name must be in the archive, and wherever they give a digest (OCI
 * descriptors, Docker 25's blobs/sha256/<hex> paths, legacy <hex>.json
 * config names) the member's content must have it. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cleanup.h"
#include "load-impl.h"

#if defined(__x86_64__)
#define HOST_ARCH "amd64"
#elif defined(__aarch64__)
#define HOST_ARCH "arm64"
#elif defined(__i386__)
#define HOST_ARCH "386"
#elif defined(__arm__)
#define HOST_ARCH "arm"
#elif defined(__powerpc64__)
#define HOST_ARCH "ppc64le"
#elif defined(__s390x__)
#define HOST_ARCH "s390x"
#elif defined(__riscv) && __riscv_xlen == 64
#define HOST_ARCH "riscv64"
#else
#define HOST_ARCH "unknown"
#endif

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"

int load_member_json(const member_t *m, const char *what, struct json_object **out, berth_error_t *err) {
  if (m->size > LOAD_JSON_MAX)
    return berth_error_make(err, EBADMSG, "%s is larger than %u bytes", what, LOAD_JSON_MAX);
  cleanup_free char *buf = malloc(m->size + 1);
  if (buf == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  size_t got = 0;
  while (got < m->size) {
    ssize_t n = pread(m->file.fd, buf + got, m->size - got, (off_t)got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return n < 0 ? berth_error_errno(err, "reading %s", what) : berth_error_make(err, EIO, "%s: short read", what);
    got += (size_t)n;
  }
  buf[got] = '\0';
  json_tokener *tok = json_tokener_new();
  if (tok == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  struct json_object *o = json_tokener_parse_ex(tok, buf, (int)got);
  enum json_tokener_error je = json_tokener_get_error(tok);
  size_t end = json_tokener_get_parse_end(tok);
  json_tokener_free(tok);
  while (o && end < got && strchr(" \t\r\n", buf[end]))
    end++;
  if (o == NULL || je != json_tokener_success || end != got) {
    json_object_put(o);
    return berth_error_make(err, EBADMSG, "%s is not valid JSON%s%s", what, je != json_tokener_success ? ": " : "",
                            je != json_tokener_success ? json_tokener_error_desc(je) : "");
  }
  *out = o;
  return 0;
}

void load_plan_free(plan_t *p) {
  for (size_t i = 0; p && i < p->n; i++) {
    free(p->v[i].layers);
    for (size_t j = 0; j < p->v[i].n_tags; j++)
      free(p->v[i].repo_tags[j]);
    free(p->v[i].repo_tags);
  }
  if (p) {
    free(p->v);
    p->v = NULL;
    p->n = 0;
  }
}

static bool is_hex64(const char *s, size_t len) {
  if (len != 64)
    return false;
  for (size_t i = 0; i < 64; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return false;
  return true;
}

/* The digest a docker-archive path itself claims: "blobs/sha256/<hex>" and
 * "<hex>.json" (the legacy config name is its sha256). "" otherwise. */
static void digest_of_path(const char *path, bool config, char out[BERTH_DIGEST_SIZE]) {
  out[0] = '\0';
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t len = strlen(base);
  bool blob = strncmp(path, "blobs/sha256/", 13) == 0 && base == path + 13;
  if (config && len == 69 && strcmp(base + 64, ".json") == 0)
    len = 64;
  else if (!blob)
    return;
  if (is_hex64(base, len))
    snprintf(out, BERTH_DIGEST_SIZE, "sha256:%.64s", base);
}

/* The member `path`, checked against the digest and size the document
 * gives for it (expected "" / size < 0: none given). */
static int find_checked(const members_t *ms, const char *doc, const char *role, const char *path,
                        const char *expected, int64_t size, member_t **out, berth_error_t *err) {
  member_t *m = load_member_find(ms, path);
  if (m == NULL) {
    if (expected[0] && strncmp(path, "blobs/sha256/", 13) == 0)
      return berth_error_make(err, EBADMSG, "%s names %s %s which is not in the archive (missing blob)", doc, role,
                              expected);
    return berth_error_make(err, EBADMSG, "%s names %s %s which is not in the archive (missing blob)", doc, role, path);
  }
  if (expected[0] && strcmp(m->digest, expected) != 0)
    return berth_error_make(err, EBADMSG, "%s %s: digest does not match %s (the content is %s)", role, expected, doc,
                            m->digest);
  if (size >= 0 && m->size != (uint64_t)size)
    return berth_error_make(err, EBADMSG, "%s %s: size %llu does not match %s (%lld)", role,
                            expected[0] ? expected : path, (unsigned long long)m->size, doc, (long long)size);
  *out = m;
  return 0;
}

static int add_tag(plan_image_t *img, const char *tag) {
  for (size_t i = 0; i < img->n_tags; i++)
    if (strcmp(img->repo_tags[i], tag) == 0)
      return 0;
  char **v = realloc(img->repo_tags, (img->n_tags + 1) * sizeof *v);
  if (v == NULL)
    return -1;
  img->repo_tags = v;
  if ((v[img->n_tags] = strdup(tag)) == NULL)
    return -1;
  img->n_tags++;
  return 0;
}

/* A new image in the plan, or the one with the same config (its tags merge). */
static plan_image_t *plan_image(plan_t *p, member_t *config, size_t n_layers, bool *fresh) {
  *fresh = false;
  for (size_t i = 0; i < p->n; i++)
    if (strcmp(p->v[i].config->digest, config->digest) == 0)
      return &p->v[i];
  plan_image_t *v = realloc(p->v, (p->n + 1) * sizeof *v);
  if (v == NULL)
    return NULL;
  p->v = v;
  plan_image_t *img = &p->v[p->n];
  memset(img, 0, sizeof *img);
  img->layers = calloc(n_layers ? n_layers : 1, sizeof *img->layers);
  if (img->layers == NULL)
    return NULL;
  img->config = config;
  img->n_layers = n_layers;
  p->n++;
  *fresh = true;
  return img;
}

static const char *str_at(struct json_object *arr, size_t i) {
  struct json_object *o = json_object_array_get_idx(arr, i);
  return json_object_is_type(o, json_type_string) ? json_object_get_string(o) : NULL;
}

int load_plan_docker(const members_t *ms, const member_t *manifest, plan_t *out, berth_error_t *err) {
  const char *doc = "manifest.json";
  struct json_object *root = NULL;
  int ret = -1;
  if (load_member_json(manifest, doc, &root, err) < 0)
    return -1;
  if (!json_object_is_type(root, json_type_array) || json_object_array_length(root) == 0) {
    berth_error_make(err, EBADMSG, "%s: expected a non-empty array of images", doc);
    goto out;
  }
  for (size_t i = 0; i < json_object_array_length(root); i++) {
    struct json_object *e = json_object_array_get_idx(root, i), *cfg, *layers, *tags = NULL;
    if (!json_object_is_type(e, json_type_object) || !json_object_object_get_ex(e, "Config", &cfg) ||
        !json_object_is_type(cfg, json_type_string) || !json_object_object_get_ex(e, "Layers", &layers) ||
        !json_object_is_type(layers, json_type_array)) {
      berth_error_make(err, EBADMSG, "%s: image %zu lacks Config or Layers", doc, i);
      goto out;
    }
    json_object_object_get_ex(e, "RepoTags", &tags);
    if (tags && !json_object_is_type(tags, json_type_array) && !json_object_is_type(tags, json_type_null)) {
      berth_error_make(err, EBADMSG, "%s: image %zu: RepoTags is not an array", doc, i);
      goto out;
    }
    char want[BERTH_DIGEST_SIZE];
    cleanup_free char *cpath = load_member_name(NULL, json_object_get_string(cfg));
    member_t *config;
    if (cpath == NULL) {
      berth_error_make(err, ENOMEM, "out of memory");
      goto out;
    }
    digest_of_path(cpath, true, want);
    if (find_checked(ms, doc, "config", cpath, want, -1, &config, err) < 0)
      goto out;
    size_t n = json_object_array_length(layers);
    bool fresh;
    plan_image_t *img = plan_image(out, config, n, &fresh);
    if (img == NULL) {
      berth_error_make(err, ENOMEM, "out of memory");
      goto out;
    }
    if (!fresh && img->n_layers != n) {
      berth_error_make(err, EBADMSG, "%s: config %s listed twice with different layers", doc, config->digest);
      goto out;
    }
    for (size_t j = 0; j < n; j++) {
      const char *lp = str_at(layers, j);
      cleanup_free char *path = lp ? load_member_name(NULL, lp) : NULL;
      if (path == NULL) {
        berth_error_make(err, EBADMSG, "%s: image %zu: layer %zu is not a path", doc, i, j);
        goto out;
      }
      digest_of_path(path, false, want);
      if (find_checked(ms, doc, "layer", path, want, -1, &img->layers[j], err) < 0)
        goto out;
    }
    for (size_t j = 0; tags && json_object_is_type(tags, json_type_array) && j < json_object_array_length(tags); j++) {
      const char *t = str_at(tags, j);
      if (t == NULL) {
        berth_error_make(err, EBADMSG, "%s: image %zu: a RepoTags entry is not a string", doc, i);
        goto out;
      }
      if (add_tag(img, t) < 0) {
        berth_error_make(err, ENOMEM, "out of memory");
        goto out;
      }
    }
  }
  ret = 0;
out:
  json_object_put(root);
  return ret;
}

/* ---- OCI ---- */

typedef struct {
  const char *media_type;
  char digest[BERTH_DIGEST_SIZE];
  int64_t size;
  struct json_object *obj;
} desc_t;

static int parse_desc(struct json_object *o, const char *doc, const char *role, desc_t *d, berth_error_t *err) {
  struct json_object *v;
  memset(d, 0, sizeof *d);
  d->obj = o;
  d->size = -1;
  if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, "digest", &v) ||
      !json_object_is_type(v, json_type_string))
    return berth_error_make(err, EBADMSG, "%s: a %s descriptor without a digest", doc, role);
  const char *dg = json_object_get_string(v);
  if (!berth_digest_valid(dg))
    return berth_error_make(err, EBADMSG, "%s: %s digest '%.80s' is not sha256:<64 lowercase hex> (other algorithms are not supported)",
                            doc, role, dg);
  snprintf(d->digest, sizeof d->digest, "%s", dg);
  if (json_object_object_get_ex(o, "size", &v)) {
    if (!json_object_is_type(v, json_type_int) || json_object_get_int64(v) < 0)
      return berth_error_make(err, EBADMSG, "%s: %s %s: invalid size", doc, role, dg);
    d->size = json_object_get_int64(v);
  }
  if (json_object_object_get_ex(o, "mediaType", &v) && json_object_is_type(v, json_type_string))
    d->media_type = json_object_get_string(v);
  return 0;
}

static int find_desc(const members_t *ms, const char *doc, const char *role, const desc_t *d, member_t **out,
                     berth_error_t *err) {
  char path[13 + 65];
  snprintf(path, sizeof path, "blobs/sha256/%s", d->digest + 7);
  return find_checked(ms, doc, role, path, d->digest, d->size, out, err);
}

static const char *annotation(struct json_object *desc, const char *key) {
  struct json_object *a, *v;
  if (json_object_object_get_ex(desc, "annotations", &a) && json_object_object_get_ex(a, key, &v) &&
      json_object_is_type(v, json_type_string))
    return json_object_get_string(v);
  return NULL;
}

/* The name an index entry gives its image: io.containerd.image.name (a full
 * reference), else org.opencontainers.image.ref.name when it is a reference
 * rather than a bare tag (a bare tag names no repository: untagged). */
static const char *ref_of(struct json_object *desc) {
  const char *n = annotation(desc, "io.containerd.image.name");
  if (n)
    return n;
  n = annotation(desc, "org.opencontainers.image.ref.name");
  if (n && strpbrk(n, ":/@"))
    return n;
  return NULL;
}

/* In a nested index (multi-platform image): the manifest for linux/<host arch>,
 * or the only real one. */
static int pick_platform(struct json_object *index, const char *doc, desc_t *out, berth_error_t *err) {
  struct json_object *mans, *plat, *v;
  if (!json_object_object_get_ex(index, "manifests", &mans) || !json_object_is_type(mans, json_type_array))
    return berth_error_make(err, EBADMSG, "%s: no manifests array", doc);
  int only = -1, count = 0;
  for (size_t i = 0; i < json_object_array_length(mans); i++) {
    struct json_object *m = json_object_array_get_idx(mans, i);
    const char *os = NULL, *arch = NULL;
    if (json_object_object_get_ex(m, "platform", &plat)) {
      if (json_object_object_get_ex(plat, "os", &v))
        os = json_object_get_string(v);
      if (json_object_object_get_ex(plat, "architecture", &v))
        arch = json_object_get_string(v);
    }
    if (os && strcmp(os, "unknown") == 0)
      continue; /* attestations and the like */
    count++;
    only = (int)i;
    if (os && arch && strcmp(os, "linux") == 0 && strcmp(arch, HOST_ARCH) == 0)
      return parse_desc(m, doc, "manifest", out, err);
  }
  if (count == 1)
    return parse_desc(json_object_array_get_idx(mans, (size_t)only), doc, "manifest", out, err);
  return berth_error_make(err, EBADMSG, "%s: no image for linux/%s among %d platforms", doc, HOST_ARCH, count);
}

static int oci_image(const members_t *ms, struct json_object *entry, plan_t *out, berth_error_t *err) {
  desc_t d;
  struct json_object *man = NULL, *nested = NULL, *v, *layers;
  int ret = -1;
  if (parse_desc(entry, "index.json", "manifest", &d, err) < 0)
    return -1;
  member_t *m;
  if (d.media_type && (strcmp(d.media_type, MT_OCI_INDEX) == 0 || strcmp(d.media_type, MT_DOCKER_LIST) == 0)) {
    if (find_desc(ms, "index.json", "index", &d, &m, err) < 0 || load_member_json(m, "nested image index", &nested, err) < 0 ||
        pick_platform(nested, "nested image index", &d, err) < 0)
      goto out;
  }
  char doc[96];
  snprintf(doc, sizeof doc, "manifest %.19s...", d.digest);
  if (find_desc(ms, "index.json", "manifest", &d, &m, err) < 0 || load_member_json(m, doc, &man, err) < 0)
    goto out;
  desc_t cd;
  if (!json_object_object_get_ex(man, "config", &v)) {
    berth_error_make(err, EBADMSG, "%s: no config descriptor", doc);
    goto out;
  }
  if (parse_desc(v, doc, "config", &cd, err) < 0)
    goto out;
  member_t *config;
  if (find_desc(ms, doc, "config", &cd, &config, err) < 0)
    goto out;
  if (!json_object_object_get_ex(man, "layers", &layers) || !json_object_is_type(layers, json_type_array)) {
    berth_error_make(err, EBADMSG, "%s: no layers array", doc);
    goto out;
  }
  size_t n = json_object_array_length(layers);
  bool fresh;
  plan_image_t *img = plan_image(out, config, n, &fresh);
  if (img == NULL) {
    berth_error_make(err, ENOMEM, "out of memory");
    goto out;
  }
  if (!fresh && img->n_layers != n) {
    berth_error_make(err, EBADMSG, "index.json: config %s listed twice with different layers", config->digest);
    goto out;
  }
  for (size_t j = 0; j < n; j++) {
    desc_t ld;
    if (parse_desc(json_object_array_get_idx(layers, j), doc, "layer", &ld, err) < 0 ||
        find_desc(ms, doc, "layer", &ld, &img->layers[j], err) < 0)
      goto out;
  }
  const char *ref = ref_of(entry);
  if (ref && add_tag(img, ref) < 0) {
    berth_error_make(err, ENOMEM, "out of memory");
    goto out;
  }
  ret = 0;
out:
  json_object_put(man);
  json_object_put(nested);
  return ret;
}

int load_plan_oci(const members_t *ms, const member_t *index, plan_t *out, berth_error_t *err) {
  struct json_object *root = NULL, *mans;
  if (load_member_json(index, "index.json", &root, err) < 0)
    return -1;
  int ret = -1;
  if (!json_object_object_get_ex(root, "manifests", &mans) || !json_object_is_type(mans, json_type_array) ||
      json_object_array_length(mans) == 0) {
    berth_error_make(err, EBADMSG, "index.json: expected a non-empty manifests array");
    goto out;
  }
  for (size_t i = 0; i < json_object_array_length(mans); i++)
    if (oci_image(ms, json_object_array_get_idx(mans, i), out, err) < 0)
      goto out;
  ret = 0;
out:
  json_object_put(root);
  return ret;
}
