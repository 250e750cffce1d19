/* image_load: `docker load`.
 *
 * Members of an archive come in any order (manifest.json is usually last),
 * so every member is first spooled into the store's tmp/ while hashed. Then
 * the documents are parsed into a plan (load_manifest.c) that has already
 * checked every named blob is present with the digest it is named by; each
 * layer the store lacks is decompressed into its blob (checked against the
 * config's diff_id) and unpacked (unpack_tar.c); finally the store records
 * everything in one transaction. A failure anywhere frees the transaction,
 * which removes whatever it put into place, and discards every staged file. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cleanup.h"
#include "load-impl.h"
#include "refs.h"

#define MAX_MEMBERS 65536

typedef struct {
  store_t *st;
  berth_store_txn_t *txn;
  members_t ms;
  unpack_budget_t budget;
  int progress_fd;
  bool quiet, progress_broken;
  unpack_skipped_t skipped;
} load_t;

/* ---- member names ---- */

char *load_member_name(const char *dir, const char *name) {
  cleanup_free char *joined = NULL;
  if (name[0] != '/' && dir && dir[0]) {
    if (asprintf(&joined, "%s/%s", dir, name) < 0)
      return NULL;
    name = joined;
  }
  char *out = malloc(strlen(name) + 1);
  if (out == NULL)
    return NULL;
  size_t o = 0;
  const char *p = name;
  while (*p) {
    const char *end = strchrnul(p, '/');
    size_t len = (size_t)(end - p);
    if (len == 2 && p[0] == '.' && p[1] == '.') {
      while (o > 0 && out[o - 1] != '/') /* lexically up; the root stays the root */
        o--;
      if (o > 0)
        o--;
    } else if (len > 0 && !(len == 1 && p[0] == '.')) {
      if (o > 0)
        out[o++] = '/';
      memcpy(out + o, p, len);
      o += len;
    }
    p = *end ? end + 1 : end;
  }
  out[o] = '\0';
  return out;
}

member_t *load_member_find(const members_t *ms, const char *name) {
  for (int hops = 0; hops < 16; hops++) {
    member_t *m = NULL;
    for (size_t i = ms->n; i-- > 0;) /* a later member of the same name wins */
      if (strcmp(ms->v[i].name, name) == 0) {
        m = &ms->v[i];
        break;
      }
    if (m == NULL || m->alias == NULL)
      return m && m->file.fd >= 0 ? m : NULL;
    name = m->alias;
  }
  return NULL;
}

static void members_free(load_t *L) {
  for (size_t i = 0; i < L->ms.n; i++) {
    berth_store_staged_discard(L->st, &L->ms.v[i].file);
    free(L->ms.v[i].name);
    free(L->ms.v[i].alias);
  }
  free(L->ms.v);
  L->ms.v = NULL;
  L->ms.n = L->ms.cap = 0;
}

static member_t *member_new(load_t *L, char *name, berth_error_t *err) {
  if (L->ms.n >= MAX_MEMBERS) {
    free(name);
    berth_error_make(err, EBADMSG, "the image archive has more than %d members", MAX_MEMBERS);
    return NULL;
  }
  if (L->ms.n == L->ms.cap) {
    size_t cap = L->ms.cap ? L->ms.cap * 2 : 32;
    member_t *v = realloc(L->ms.v, cap * sizeof *v);
    if (v == NULL) {
      free(name);
      berth_error_make(err, ENOMEM, "out of memory");
      return NULL;
    }
    L->ms.v = v;
    L->ms.cap = cap;
  }
  member_t *m = &L->ms.v[L->ms.n++];
  memset(m, 0, sizeof *m);
  m->file = (berth_staged_t)BERTH_STAGED_INIT;
  m->name = name;
  return m;
}

/* Legacy per-layer metadata and the v1 repositories file: never needed. */
static bool unused_member(const char *name) {
  const char *base = strrchr(name, '/');
  return strcmp(name, "repositories") == 0 ||
         (base && (strcmp(base, "/VERSION") == 0 || strcmp(base, "/json") == 0));
}

static int spool_data(load_t *L, struct archive *a, member_t *m, bool expands, berth_error_t *err) {
  berth_sha256_t *h = berth_sha256_new();
  if (h == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  int64_t pos = 0;
  static const char zeros[4096];
  for (;;) {
    const void *buf;
    size_t len;
    la_int64_t off;
    int r = archive_read_data_block(a, &buf, &len, &off);
    if (r == ARCHIVE_EOF)
      break;
    if (r != ARCHIVE_OK && r != ARCHIVE_WARN) {
      berth_sha256_free(h);
      return berth_error_make(err, EBADMSG, "reading the image archive, member %s: %s", m->name, archive_error_string(a));
    }
    /* A hole in a sparse member is an expansion too. */
    while (pos < off) {
      size_t z = (size_t)(off - pos) < sizeof zeros ? (size_t)(off - pos) : sizeof zeros;
      if (unpack_budget_take(&L->budget, z, "image archive", err) < 0 || unpack_write_all(m->file.fd, zeros, z) < 0) {
        berth_sha256_free(h);
        return err && *err ? -1 : berth_error_errno(err, "spooling member %s", m->name);
      }
      berth_sha256_update(h, zeros, z);
      pos += (int64_t)z;
    }
    if (expands && unpack_budget_take(&L->budget, len, "image archive", err) < 0) {
      berth_sha256_free(h);
      return -1;
    }
    if (unpack_write_all(m->file.fd, buf, len) < 0) {
      berth_sha256_free(h);
      return berth_error_errno(err, "spooling member %s into the store's tmp/", m->name);
    }
    berth_sha256_update(h, buf, len);
    pos += (int64_t)len;
  }
  berth_sha256_final(h, m->digest);
  m->size = (uint64_t)pos;
  return 0;
}

static int spool(load_t *L, int archive_fd, berth_error_t *err) {
  struct archive *a = archive_read_new();
  if (a == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  int ret = -1;
  if (unpack_support_filters(a, err) < 0)
    goto out;
  archive_read_support_format_tar(a);
  if (archive_read_open_fd(a, archive_fd, 1 << 16) != ARCHIVE_OK) {
    berth_error_make(err, EBADMSG, "reading the image archive: %s", archive_error_string(a));
    goto out;
  }
  for (;;) {
    struct archive_entry *e;
    int r = archive_read_next_header(a, &e);
    if (r == ARCHIVE_EOF)
      break;
    if ((r != ARCHIVE_OK && r != ARCHIVE_WARN) || archive_entry_pathname(e) == NULL) {
      berth_error_make(err, EBADMSG, "reading the image archive: %s",
                       archive_error_string(a) ? archive_error_string(a) : "a member without a name");
      goto out;
    }
    bool expands = archive_filter_count(a) > 1; /* the archive itself is compressed */
    if (expands && unpack_budget_take(&L->budget, 512, "image archive", err) < 0)
      goto out;
    char *name = load_member_name(NULL, archive_entry_pathname(e));
    if (name == NULL) {
      berth_error_make(err, ENOMEM, "out of memory");
      goto out;
    }
    const char *hl = archive_entry_hardlink(e);
    mode_t type = archive_entry_filetype(e);
    if (hl || type == AE_IFLNK) {
      member_t *m = member_new(L, name, err);
      if (m == NULL)
        goto out;
      cleanup_free char *dir = strdup(m->name);
      char *slash = dir ? strrchr(dir, '/') : NULL;
      if (dir && !slash)
        dir[0] = '\0';
      else if (slash)
        *slash = '\0';
      /* hardlink targets are archive paths; symlinks are relative to their directory */
      m->alias = dir ? load_member_name(hl ? NULL : dir, hl ? hl : archive_entry_symlink(e) ? archive_entry_symlink(e) : "") : NULL;
      if (m->alias == NULL) {
        berth_error_make(err, ENOMEM, "out of memory");
        goto out;
      }
      continue;
    }
    if (type != AE_IFREG || unused_member(name)) {
      free(name);
      continue;
    }
    member_t *m = member_new(L, name, err);
    if (m == NULL || berth_store_stage_file(L->st, &m->file, err) < 0 || spool_data(L, a, m, expands, err) < 0)
      goto out;
  }
  ret = 0;
out:
  archive_read_free(a);
  return ret;
}

/* ---- progress (Docker's JSON messages) ---- */

static void emit(load_t *L, struct json_object *o) {
  if (L->progress_fd >= 0 && !L->progress_broken) {
    const char *s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (unpack_write_all(L->progress_fd, s, strlen(s)) < 0 || unpack_write_all(L->progress_fd, "\n", 1) < 0)
      L->progress_broken = true; /* the client went away: the load itself goes on */
  }
  json_object_put(o);
}

static void emit_stream(load_t *L, const char *fmt, const char *arg) {
  char line[1024];
  snprintf(line, sizeof line, fmt, arg);
  struct json_object *o = json_object_new_object();
  json_object_object_add(o, "stream", json_object_new_string(line));
  emit(L, o);
}

typedef struct {
  load_t *L;
  char id[13];
  uint64_t total;
} layer_progress_t;

static void emit_layer(layer_progress_t *p, uint64_t current) {
  if (p->L->quiet)
    return;
  struct json_object *o = json_object_new_object(), *d = json_object_new_object();
  json_object_object_add(o, "status", json_object_new_string("Loading layer"));
  json_object_object_add(d, "current", json_object_new_int64((int64_t)(current < p->total ? current : p->total)));
  json_object_object_add(d, "total", json_object_new_int64((int64_t)p->total));
  json_object_object_add(o, "progressDetail", d);
  json_object_object_add(o, "id", json_object_new_string(p->id));
  emit(p->L, o);
}

static void on_progress(void *ud, uint64_t bytes_in) {
  emit_layer(ud, bytes_in);
}

/* ---- layers and images ---- */

static int config_diff_ids(member_t *config, size_t n_layers, char (**out)[BERTH_DIGEST_SIZE], berth_error_t *err) {
  char what[100];
  snprintf(what, sizeof what, "config %s", config->digest);
  struct json_object *root = NULL, *rootfs, *ids, *v;
  if (load_member_json(config, what, &root, err) < 0)
    return -1;
  int ret = -1;
  if (json_object_object_get_ex(root, "os", &v) && json_object_is_type(v, json_type_string) &&
      strcmp(json_object_get_string(v), "linux") != 0) {
    berth_error_make(err, EINVAL, "image %s is for operating system \"%s\", which berth cannot run", config->digest,
                     json_object_get_string(v));
    goto out;
  }
  if (!json_object_object_get_ex(root, "rootfs", &rootfs) || !json_object_object_get_ex(rootfs, "diff_ids", &ids) ||
      !json_object_is_type(ids, json_type_array)) {
    berth_error_make(err, EBADMSG, "%s: no rootfs.diff_ids", what);
    goto out;
  }
  if (json_object_array_length(ids) != n_layers) {
    berth_error_make(err, EBADMSG, "%s: %zu diff_ids for the manifest's %zu layers", what,
                     json_object_array_length(ids), n_layers);
    goto out;
  }
  *out = calloc(n_layers ? n_layers : 1, sizeof **out);
  if (*out == NULL) {
    berth_error_make(err, ENOMEM, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < n_layers; i++) {
    const char *s = json_object_get_string(json_object_array_get_idx(ids, i));
    if (!json_object_is_type(json_object_array_get_idx(ids, i), json_type_string) || !berth_digest_valid(s)) {
      berth_error_make(err, EBADMSG, "%s: diff_id %zu is not sha256:<64 hex>", what, i);
      free(*out);
      *out = NULL;
      goto out;
    }
    snprintf((*out)[i], BERTH_DIGEST_SIZE, "%s", s);
  }
  ret = 0;
out:
  json_object_put(root);
  return ret;
}

/* The member is the uncompressed tar itself (its digest is the diff_id):
 * unpack it where it was spooled and put that very file into the store,
 * with no copy. A member already put (the same layer twice in one image)
 * is read back from the store. */
static int load_plain_layer(load_t *L, member_t *m, const char *diff_id, const char *parent, const char *chain,
                            bool have_layer, bool have_blob, layer_progress_t *p, berth_error_t *err) {
  berth_staged_t dir = BERTH_STAGED_INIT;
  uint64_t content = 0;
  int ret = -1;
  cleanup_close int stored = -1;
  int src = m->file.fd;
  if (src < 0 && (src = stored = berth_store_blob_open(L->st, diff_id, err)) < 0)
    return -1;
  if (!have_layer && (berth_store_stage_dir(L->st, &dir, err) < 0 ||
                      unpack_tar(src, dir.fd, m->digest, &L->skipped, &content, err) < 0))
    goto out;
  if (!have_blob && berth_store_txn_put_blob_hashed(L->txn, &m->file, diff_id, err) < 0)
    goto out;
  if (!have_layer && berth_store_txn_add_layer(L->txn, &dir, chain, diff_id, parent, content, err) < 0)
    goto out;
  emit_layer(p, m->size);
  ret = 0;
out:
  berth_store_staged_discard(L->st, &dir);
  return ret;
}

static int load_layer(load_t *L, member_t *m, const char *diff_id, const char *parent, char chain[BERTH_DIGEST_SIZE],
                      berth_error_t *err) {
  berth_chain_id(parent, diff_id, chain);
  int have_layer = berth_store_txn_have_layer(L->txn, chain, err);
  if (have_layer < 0)
    return -1;
  int have_blob = berth_store_txn_have_blob(L->txn, diff_id, err);
  if (have_blob < 0)
    return -1;
  if (have_layer && have_blob)
    return 0; /* as Docker: a layer already present under its chain id is not read again */
  layer_progress_t p = { .L = L, .total = m->size };
  snprintf(p.id, sizeof p.id, "%.12s", chain + 7);
  emit_layer(&p, 0);
  berth_staged_t blob = BERTH_STAGED_INIT, dir = BERTH_STAGED_INIT;
  char got[BERTH_DIGEST_SIZE];
  uint64_t size = 0, content = 0;
  int ret = -1;
  if (strcmp(m->digest, diff_id) == 0)
    return load_plain_layer(L, m, diff_id, parent, chain, have_layer, have_blob, &p, err);
  if (berth_store_stage_file(L->st, &blob, err) < 0)
    goto out;
  if (lseek(m->file.fd, 0, SEEK_SET) < 0) {
    berth_error_errno(err, "layer %s: rewinding the spooled blob", m->digest);
    goto out;
  }
  if (unpack_decompress(m->file.fd, blob.fd, m->digest, &L->budget, on_progress, &p, got, &size, err) < 0)
    goto out;
  if (strcmp(got, diff_id) != 0) {
    berth_error_make(err, EBADMSG, "layer %s: its uncompressed content is %s, which does not match the diff_id %s the config names",
                     m->digest, got, diff_id);
    goto out;
  }
  if (!have_layer && (berth_store_stage_dir(L->st, &dir, err) < 0 ||
                      unpack_tar(blob.fd, dir.fd, m->digest, &L->skipped, &content, err) < 0))
    goto out;
  if (berth_store_txn_put_blob_hashed(L->txn, &blob, diff_id, err) < 0)
    goto out;
  if (!have_layer && berth_store_txn_add_layer(L->txn, &dir, chain, diff_id, parent, content, err) < 0)
    goto out;
  emit_layer(&p, m->size);
  ret = 0;
out:
  berth_store_staged_discard(L->st, &blob);
  berth_store_staged_discard(L->st, &dir);
  return ret;
}

static int load_image(load_t *L, plan_image_t *img, berth_error_t *err) {
  char(*diff_ids)[BERTH_DIGEST_SIZE] = NULL;
  const char **ids = NULL;
  int ret = -1;
  if (config_diff_ids(img->config, img->n_layers, &diff_ids, err) < 0)
    return -1;
  ids = calloc(img->n_layers ? img->n_layers : 1, sizeof *ids);
  if (ids == NULL) {
    berth_error_make(err, ENOMEM, "out of memory");
    goto out;
  }
  char chain[BERTH_DIGEST_SIZE], parent[BERTH_DIGEST_SIZE];
  for (size_t i = 0; i < img->n_layers; i++) {
    if (load_layer(L, img->layers[i], diff_ids[i], i ? parent : NULL, chain, err) < 0)
      goto out;
    memcpy(parent, chain, sizeof parent);
    ids[i] = diff_ids[i];
  }
  char digest[BERTH_DIGEST_SIZE];
  memcpy(digest, img->config->digest, sizeof digest);
  if (img->config->file.fd >= 0 && berth_store_txn_put_blob(L->txn, &img->config->file, digest, NULL, err) < 0)
    goto out;
  berth_store_image_spec_t spec = {
    .config_digest = digest,
    .diff_ids = ids,
    .n_layers = img->n_layers,
    .repo_tags = (const char *const *)img->repo_tags,
    .n_tags = img->n_tags,
  };
  if (berth_store_txn_add_image(L->txn, &spec, err) < 0)
    goto out;
  ret = 0;
out:
  free(ids);
  free(diff_ids);
  return ret;
}

/* ---- results ---- */

static int push(char ***v, size_t *n, const char *s) {
  char **nv = realloc(*v, (*n + 1) * sizeof **v);
  if (nv == NULL)
    return -1;
  *v = nv;
  if ((nv[*n] = strdup(s)) == NULL)
    return -1;
  (*n)++;
  return 0;
}

void load_result_free(load_result_t *r) {
  if (r == NULL)
    return;
  for (size_t i = 0; i < r->n_loaded; i++)
    free(r->loaded[i]);
  for (size_t i = 0; i < r->n_skipped; i++)
    free(r->skipped[i]);
  for (size_t i = 0; i < r->n_image_ids; i++)
    free(r->image_ids[i]);
  free(r->loaded);
  free(r->skipped);
  free(r->image_ids);
  memset(r, 0, sizeof *r);
}

static int report(load_t *L, const plan_t *plan, load_result_t *out) {
  size_t n_notes = 0;
  const char *const *notes = berth_store_txn_notes(L->txn, &n_notes);
  for (size_t i = 0; i < n_notes; i++)
    emit_stream(L, "%s\n", notes[i]);
  /* the load output names what was not created (apid relays it as is) */
  for (size_t i = 0; i < L->skipped.n; i++)
    emit_stream(L, "Skipped: %s\n", L->skipped.items[i]);
  for (size_t i = 0; i < plan->n; i++) {
    const plan_image_t *img = &plan->v[i];
    if (push(&out->image_ids, &out->n_image_ids, img->config->digest) < 0)
      return -1;
    if (img->n_tags == 0) {
      emit_stream(L, "Loaded image ID: %s\n", img->config->digest);
      if (push(&out->loaded, &out->n_loaded, img->config->digest) < 0)
        return -1;
    }
    for (size_t j = 0; j < img->n_tags; j++) {
      berth_ref_t ref;
      berth_error_t e = NULL;
      cleanup_free char *familiar = NULL;
      if (berth_ref_parse(img->repo_tags[j], &ref, &e) == 0) {
        familiar = berth_ref_familiar(&ref);
        berth_ref_clear(&ref);
      }
      berth_error_release(&e);
      const char *shown = familiar ? familiar : img->repo_tags[j];
      emit_stream(L, "Loaded image: %s\n", shown);
      if (push(&out->loaded, &out->n_loaded, shown) < 0)
        return -1;
    }
  }
  for (size_t i = 0; i < L->skipped.n; i++)
    if (push(&out->skipped, &out->n_skipped, L->skipped.items[i]) < 0)
      return -1;
  return 0;
}

int image_load(store_t *st, int archive_fd, int progress_fd, bool quiet, const image_limits_t *lim,
               load_result_t *out, berth_error_t *err) {
  load_t L = {
    .st = st,
    .budget = { .limit = lim ? lim->max_uncompressed_bytes : IMAGE_DEFAULT_MAX_UNCOMPRESSED_BYTES,
                .config_path = lim ? lim->config_path : NULL },
    .progress_fd = progress_fd,
    .quiet = quiet,
  };
  plan_t plan = { 0 };
  int ret = -1;
  memset(out, 0, sizeof *out);
  if (spool(&L, archive_fd, err) < 0)
    goto out;
  member_t *doc = load_member_find(&L.ms, "manifest.json");
  if (doc) {
    if (load_plan_docker(&L.ms, doc, &plan, err) < 0)
      goto out;
  } else if ((doc = load_member_find(&L.ms, "index.json")) != NULL) {
    if (load_plan_oci(&L.ms, doc, &plan, err) < 0)
      goto out;
  } else {
    berth_error_make(err, EBADMSG,
                     "not an image archive: it holds neither manifest.json (docker-archive) nor index.json (oci-archive)");
    goto out;
  }
  if (berth_store_txn_begin(st, &L.txn, err) < 0)
    goto out;
  for (size_t i = 0; i < plan.n; i++)
    if (load_image(&L, &plan.v[i], err) < 0)
      goto out;
  if (berth_store_txn_commit(L.txn, err) < 0)
    goto out;
  if (report(&L, &plan, out) < 0) {
    load_result_free(out);
    berth_error_make(err, ENOMEM, "out of memory (the images were loaded)");
    goto out;
  }
  ret = 0;
out:
  berth_store_txn_free(L.txn);
  load_plan_free(&plan);
  members_free(&L);
  unpack_skipped_free(&L.skipped);
  return ret;
}
