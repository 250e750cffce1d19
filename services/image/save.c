/* image_save: `docker save`, the docker-archive Docker 25+ writes, which
 * older Docker (>= 20.10, reading manifest.json) and Podman load as well:
 *
 *   blobs/sha256/<hex>   configs, uncompressed layer tars, OCI manifests
 *   index.json           OCI index, one descriptor per tag (or one untagged)
 *   manifest.json        [{"Config":..,"RepoTags":[..],"Layers":[..]}]
 *   oci-layout           {"imageLayoutVersion":"1.0.0"}
 *   repositories         {"repo":{"tag":"<top layer hex>"}} (legacy readers)
 *
 * Deterministic: members sorted by name, mtime 0, owner 0:0, no names. The
 * configs and layer tars are the very blobs that were loaded, so loading the
 * archive again gives the same image ids. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cleanup.h"
#include "refs.h"
#include "save.h"
#include "unpack.h"

#define MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_LAYER "application/vnd.oci.image.layer.v1.tar"

typedef struct {
  berth_store_image_t *img; /* blobs opened at resolve time: a concurrent rmi cannot take them away */
  char **tags;              /* familiar "repo:tag" to save it under */
  size_t n_tags;
} save_image_t;

struct save_plan {
  save_image_t *v;
  size_t n;
};

void save_plan_free(save_plan_t *p) {
  if (p == NULL)
    return;
  for (size_t i = 0; i < p->n; i++) {
    berth_store_image_free(p->v[i].img);
    for (size_t j = 0; j < p->v[i].n_tags; j++)
      free(p->v[i].tags[j]);
    free(p->v[i].tags);
  }
  free(p->v);
  free(p);
}

static int add_tag(save_image_t *s, const char *tag) {
  for (size_t i = 0; i < s->n_tags; i++)
    if (strcmp(s->tags[i], tag) == 0)
      return 0;
  char **v = realloc(s->tags, (s->n_tags + 1) * sizeof *v);
  if (v == NULL)
    return -1;
  s->tags = v;
  if ((v[s->n_tags] = strdup(tag)) == NULL)
    return -1;
  s->n_tags++;
  return 0;
}

/* The tags a name selects on its image: "repo:tag" itself; a bare "repo"
 * every tag of that repository the image has; an id none (as Docker). */
static int select_tags(save_image_t *s, const char *name) {
  berth_ref_t ref = { 0 };
  berth_error_t e = NULL;
  if (berth_ref_parse_repo(name, &ref, &e) < 0) {
    berth_error_release(&e);
    return 0;
  }
  int ret = 0;
  cleanup_free char *repo = berth_ref_familiar_repo(&ref);
  cleanup_free char *full = ref.tag ? berth_ref_familiar(&ref) : NULL;
  size_t rl = repo ? strlen(repo) : 0;
  for (size_t i = 0; repo && i < s->img->n_tags; i++) {
    const char *t = s->img->repo_tags[i];
    bool match = ref.digest ? false
                 : full     ? strcmp(t, full) == 0
                            : strncmp(t, repo, rl) == 0 && t[rl] == ':';
    if (match && add_tag(s, t) < 0)
      ret = -1;
  }
  berth_ref_clear(&ref);
  return ret;
}

int image_save_resolve(store_t *st, char *const *names, size_t n_names, save_plan_t **out, berth_error_t *err) {
  save_plan_t *p = calloc(1, sizeof *p);
  if (p == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  if (n_names == 0) {
    free(p);
    return berth_error_make(err, EINVAL, "no image name given to save");
  }
  for (size_t i = 0; i < n_names; i++) {
    char id[BERTH_DIGEST_SIZE];
    if (berth_store_resolve(st, names[i], id, err) < 0)
      goto fail;
    save_image_t *s = NULL;
    for (size_t j = 0; j < p->n; j++)
      if (strcmp(p->v[j].img->id, id) == 0)
        s = &p->v[j];
    if (s == NULL) {
      save_image_t *v = realloc(p->v, (p->n + 1) * sizeof *v);
      if (v == NULL) {
        berth_error_make(err, ENOMEM, "out of memory");
        goto fail;
      }
      p->v = v;
      s = &p->v[p->n];
      memset(s, 0, sizeof *s);
      if (berth_store_image_get(st, id, true, &s->img, err) < 0)
        goto fail;
      p->n++;
    }
    if (select_tags(s, names[i]) < 0) {
      berth_error_make(err, ENOMEM, "out of memory");
      goto fail;
    }
  }
  *out = p;
  return 0;
fail:
  save_plan_free(p);
  return -1;
}

/* ---- writing ---- */

typedef struct {
  char *name;
  const char *data; /* in memory, or */
  size_t len;
  int fd;           /* a blob fd (not owned) */
  uint64_t size;
} entry_t;

typedef struct {
  entry_t *v;
  size_t n;
  struct json_object *owned; /* keeps the JSON texts alive */
} entries_t;

static int entry_add(entries_t *es, const char *name, const char *data, size_t len, int fd, uint64_t size) {
  for (size_t i = 0; i < es->n; i++)
    if (strcmp(es->v[i].name, name) == 0)
      return 0; /* a blob shared by several images is written once */
  entry_t *v = realloc(es->v, (es->n + 1) * sizeof *v);
  if (v == NULL)
    return -1;
  es->v = v;
  entry_t *e = &es->v[es->n];
  if ((e->name = strdup(name)) == NULL)
    return -1;
  e->data = data;
  e->len = len;
  e->fd = fd;
  e->size = data ? len : size;
  es->n++;
  return 0;
}

static int cmp_entry(const void *a, const void *b) {
  return strcmp(((const entry_t *)a)->name, ((const entry_t *)b)->name);
}

/* JSON text kept alive by es->owned; returns it. */
static const char *json_text(entries_t *es, struct json_object *o, size_t *len) {
  json_object_array_add(es->owned, o);
  const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  *len = strlen(s);
  return s;
}

static struct json_object *descriptor(const char *mt, const char *digest, uint64_t size) {
  struct json_object *d = json_object_new_object();
  json_object_object_add(d, "mediaType", json_object_new_string(mt));
  json_object_object_add(d, "digest", json_object_new_string(digest));
  json_object_object_add(d, "size", json_object_new_int64((int64_t)size));
  return d;
}

static int fd_size(int fd, uint64_t *out) {
  struct stat sb;
  if (fstat(fd, &sb) < 0)
    return -1;
  *out = (uint64_t)sb.st_size;
  return 0;
}

static int blob_entry(entries_t *es, const char *digest, int fd, berth_error_t *err) {
  char name[13 + 65];
  uint64_t size;
  snprintf(name, sizeof name, "blobs/sha256/%s", digest + 7);
  if (fd_size(fd, &size) < 0)
    return berth_error_errno(err, "blob %s", digest);
  return entry_add(es, name, NULL, 0, fd, size) < 0 ? berth_error_make(err, ENOMEM, "out of memory") : 0;
}

static int build(const save_plan_t *p, entries_t *es, berth_error_t *err) {
  struct json_object *manifest = json_object_new_array(), *index = json_object_new_object(),
                     *mans = json_object_new_array(), *repos = json_object_new_object();
  json_object_array_add(es->owned, manifest);
  json_object_array_add(es->owned, index);
  json_object_array_add(es->owned, repos);
  json_object_object_add(index, "schemaVersion", json_object_new_int(2));
  json_object_object_add(index, "mediaType", json_object_new_string(MT_INDEX));
  json_object_object_add(index, "manifests", mans);
  for (size_t i = 0; i < p->n; i++) {
    const berth_store_image_t *img = p->v[i].img;
    uint64_t csize;
    if (img->config_fd < 0 || fd_size(img->config_fd, &csize) < 0)
      return berth_error_make(err, EIO, "image %s: its config blob is not readable", img->id);
    if (blob_entry(es, img->id, img->config_fd, err) < 0)
      return -1;
    struct json_object *m = json_object_new_object(), *layers = json_object_new_array(),
                       *paths = json_object_new_array(), *tags = json_object_new_array();
    json_object_object_add(m, "schemaVersion", json_object_new_int(2));
    json_object_object_add(m, "mediaType", json_object_new_string(MT_MANIFEST));
    json_object_object_add(m, "config", descriptor(MT_CONFIG, img->id, csize));
    for (size_t j = 0; j < img->n_layers; j++) {
      uint64_t lsize;
      if (img->layer_fds[j] < 0 || fd_size(img->layer_fds[j], &lsize) < 0)
        return berth_error_make(err, EIO, "image %s: layer blob %s is not readable", img->id, img->diff_ids[j]);
      if (blob_entry(es, img->diff_ids[j], img->layer_fds[j], err) < 0)
        return -1;
      json_object_array_add(layers, descriptor(MT_LAYER, img->diff_ids[j], lsize));
      char path[13 + 65];
      snprintf(path, sizeof path, "blobs/sha256/%s", img->diff_ids[j] + 7);
      json_object_array_add(paths, json_object_new_string(path));
    }
    json_object_object_add(m, "layers", layers);
    size_t mlen;
    const char *mtext = json_text(es, m, &mlen);
    char mdigest[BERTH_DIGEST_SIZE], mpath[13 + 65];
    berth_sha256_buf(mtext, mlen, mdigest);
    snprintf(mpath, sizeof mpath, "blobs/sha256/%s", mdigest + 7);
    if (entry_add(es, mpath, mtext, mlen, -1, 0) < 0)
      return berth_error_make(err, ENOMEM, "out of memory");

    for (size_t j = 0; j < p->v[i].n_tags; j++) {
      const char *t = p->v[i].tags[j];
      json_object_array_add(tags, json_object_new_string(t));
      berth_ref_t ref;
      berth_error_t e = NULL;
      if (berth_ref_parse(t, &ref, &e) < 0) {
        berth_error_release(&e);
        continue;
      }
      cleanup_free char *full = berth_ref_string(&ref);
      cleanup_free char *frepo = berth_ref_familiar_repo(&ref);
      struct json_object *d = descriptor(MT_MANIFEST, mdigest, mlen), *ann = json_object_new_object();
      json_object_object_add(ann, "io.containerd.image.name", json_object_new_string(full ? full : t));
      json_object_object_add(ann, "org.opencontainers.image.ref.name", json_object_new_string(ref.tag ? ref.tag : "latest"));
      json_object_object_add(d, "annotations", ann);
      json_object_array_add(mans, d);
      if (frepo && ref.tag && img->n_layers > 0) {
        struct json_object *r;
        if (!json_object_object_get_ex(repos, frepo, &r)) {
          r = json_object_new_object();
          json_object_object_add(repos, frepo, r);
        }
        json_object_object_add(r, ref.tag, json_object_new_string(img->diff_ids[img->n_layers - 1] + 7));
      }
      berth_ref_clear(&ref);
    }
    if (p->v[i].n_tags == 0)
      json_object_array_add(mans, descriptor(MT_MANIFEST, mdigest, mlen));

    struct json_object *me = json_object_new_object();
    char cpath[13 + 65];
    snprintf(cpath, sizeof cpath, "blobs/sha256/%s", img->id + 7);
    json_object_object_add(me, "Config", json_object_new_string(cpath));
    json_object_object_add(me, "RepoTags", p->v[i].n_tags ? tags : NULL);
    if (p->v[i].n_tags == 0)
      json_object_put(tags);
    json_object_object_add(me, "Layers", paths);
    json_object_array_add(manifest, me);
  }
  static const char layout[] = "{\"imageLayoutVersion\":\"1.0.0\"}";
  const char *s;
  if (entry_add(es, "oci-layout", layout, sizeof layout - 1, -1, 0) < 0)
    return berth_error_make(err, ENOMEM, "out of memory");
  s = json_object_to_json_string_ext(index, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  if (entry_add(es, "index.json", s, strlen(s), -1, 0) < 0)
    return berth_error_make(err, ENOMEM, "out of memory");
  s = json_object_to_json_string_ext(manifest, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  if (entry_add(es, "manifest.json", s, strlen(s), -1, 0) < 0)
    return berth_error_make(err, ENOMEM, "out of memory");
  if (json_object_object_length(repos) > 0) {
    s = json_object_to_json_string_ext(repos, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (entry_add(es, "repositories", s, strlen(s), -1, 0) < 0)
      return berth_error_make(err, ENOMEM, "out of memory");
  }
  qsort(es->v, es->n, sizeof *es->v, cmp_entry);
  return 0;
}

static struct archive_entry *header(const char *name, mode_t type, mode_t perm, uint64_t size) {
  struct archive_entry *e = archive_entry_new();
  if (e == NULL)
    return NULL;
  archive_entry_set_pathname(e, name);
  archive_entry_set_filetype(e, type);
  archive_entry_set_perm(e, perm);
  archive_entry_set_size(e, (la_int64_t)size);
  archive_entry_set_uid(e, 0);
  archive_entry_set_gid(e, 0);
  archive_entry_set_mtime(e, 0, 0);
  return e;
}

static int write_entry(struct archive *a, const entry_t *en, char *buf, size_t bufsz, berth_error_t *err) {
  struct archive_entry *e = header(en->name, AE_IFREG, 0644, en->size);
  if (e == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  int r = archive_write_header(a, e);
  archive_entry_free(e);
  if (r != ARCHIVE_OK)
    return berth_error_make(err, EIO, "writing the archive (%s): %s", en->name, archive_error_string(a));
  if (en->data) {
    if (archive_write_data(a, en->data, en->len) != (la_ssize_t)en->len)
      return berth_error_make(err, EIO, "writing the archive (%s): %s", en->name, archive_error_string(a));
    return 0;
  }
  uint64_t done = 0;
  while (done < en->size) {
    size_t want = en->size - done < bufsz ? (size_t)(en->size - done) : bufsz;
    ssize_t n = pread(en->fd, buf, want, (off_t)done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return n < 0 ? berth_error_errno(err, "reading blob %s", en->name)
                   : berth_error_make(err, EIO, "blob %s shrank while being saved", en->name);
    if (archive_write_data(a, buf, (size_t)n) != n)
      return berth_error_make(err, EIO, "writing the archive (%s): %s", en->name, archive_error_string(a));
    done += (uint64_t)n;
  }
  return 0;
}

int image_save_write(store_t *st, const save_plan_t *plan, int out_fd, berth_error_t *err) {
  entries_t es = { .owned = json_object_new_array() };
  struct archive *a = archive_write_new();
  cleanup_free char *buf = malloc(1 << 20);
  int ret = -1;
  if (es.owned == NULL || a == NULL || buf == NULL) {
    berth_error_make(err, ENOMEM, "out of memory");
    goto out;
  }
  if (build(plan, &es, err) < 0)
    goto out;
  archive_write_set_format_pax_restricted(a); /* ustar, pax headers only where needed */
  archive_write_set_bytes_per_block(a, 10240);
  archive_write_set_bytes_in_last_block(a, 1);
  if (archive_write_open_fd(a, out_fd) != ARCHIVE_OK) {
    berth_error_make(err, EIO, "writing the archive: %s", archive_error_string(a));
    goto out;
  }
  static const char *const dirs[] = { "blobs/", "blobs/sha256/" };
  for (size_t i = 0; i < 2; i++) {
    struct archive_entry *e = header(dirs[i], AE_IFDIR, 0755, 0);
    int r = e ? archive_write_header(a, e) : ARCHIVE_FATAL;
    archive_entry_free(e);
    if (r != ARCHIVE_OK) {
      berth_error_make(err, EIO, "writing the archive: %s", archive_error_string(a));
      goto out;
    }
  }
  for (size_t i = 0; i < es.n; i++)
    if (write_entry(a, &es.v[i], buf, 1 << 20, err) < 0)
      goto out;
  if (archive_write_close(a) != ARCHIVE_OK) {
    berth_error_make(err, EIO, "writing the archive: %s", archive_error_string(a));
    goto out;
  }
  ret = 0;
out:
  if (a)
    archive_write_free(a);
  for (size_t i = 0; i < es.n; i++)
    free(es.v[i].name);
  free(es.v);
  json_object_put(es.owned);
  (void)st;
  return ret;
}
