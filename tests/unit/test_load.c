/* image_load and image_save against a real store in a temporary directory,
 * with archives built here: docker-archive (legacy and Docker 25's OCI
 * layout), oci-archive, compressed layers and a compressed archive, shared
 * layers, and the hostile cases, after each of which the store must be
 * exactly as before (same files, same rows). Save then load gives the same
 * image id, in this store and in a fresh one. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "load.h"
#include "save.h"
#include "store.h"
#include "tap.h"
#include "unpack.h"

/* ---- tars in memory ---- */

typedef struct {
  unsigned char *p;
  size_t len, cap;
} buf_t;

typedef struct {
  const char *name;
  const void *data;
  size_t len;
  mode_t type; /* 0: regular file */
  const char *link;
  unsigned major, minor;
} mem_t;

enum { F_NONE, F_GZIP, F_ZSTD };

#define FILE_(n, d, l) { .name = (n), .data = (d), .len = (l) }
#define DIR_(n) { .name = (n), .type = AE_IFDIR }

static la_ssize_t buf_write(struct archive *a, void *ud, const void *data, size_t n) {
  buf_t *b = ud;
  if (b->len + n > b->cap) {
    b->cap = (b->len + n) * 2;
    b->p = realloc(b->p, b->cap);
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
  return (la_ssize_t)n;
}

static buf_t tar_of(const mem_t *m, size_t n, int filter) {
  buf_t b = { 0 };
  struct archive *w = archive_write_new();
  archive_write_set_format_pax_restricted(w);
  if (filter == F_GZIP)
    archive_write_add_filter_gzip(w);
  else if (filter == F_ZSTD)
    archive_write_add_filter_zstd(w);
  archive_write_set_bytes_in_last_block(w, 1);
  archive_write_open2(w, &b, NULL, buf_write, NULL, NULL);
  for (size_t i = 0; i < n; i++) {
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, m[i].name);
    archive_entry_set_mtime(e, 946684800, 0);
    mode_t t = m[i].type ? m[i].type : AE_IFREG;
    archive_entry_set_filetype(e, t);
    archive_entry_set_perm(e, t == AE_IFDIR ? 0755 : 0644);
    if (t == AE_IFLNK)
      archive_entry_set_symlink(e, m[i].link);
    if (t == AE_IFCHR)
      archive_entry_set_rdev(e, ((dev_t)m[i].major << 8) | m[i].minor);
    archive_entry_set_size(e, t == AE_IFREG ? (la_int64_t)m[i].len : 0);
    archive_write_header(w, e);
    if (t == AE_IFREG && m[i].len)
      archive_write_data(w, m[i].data, m[i].len);
    archive_entry_free(e);
  }
  archive_write_close(w);
  archive_write_free(w);
  return b;
}

typedef struct {
  buf_t tar, blob;
  char diff_id[BERTH_DIGEST_SIZE], digest[BERTH_DIGEST_SIZE];
} layer_t;

static layer_t layer(const mem_t *m, size_t n, int filter) {
  layer_t l = { .tar = tar_of(m, n, F_NONE), .blob = tar_of(m, n, filter) };
  berth_sha256_buf(l.tar.p, l.tar.len, l.diff_id);
  berth_sha256_buf(l.blob.p, l.blob.len, l.digest);
  return l;
}

static void layer_free(layer_t *l) {
  free(l->tar.p);
  free(l->blob.p);
}

/* A config naming these diff_ids (comment makes it unique). */
static char *config(const layer_t *const *ls, size_t n, const char *comment, char id[BERTH_DIGEST_SIZE]) {
  char ids[4096] = "";
  for (size_t i = 0; i < n; i++) {
    strcat(ids, i ? ",\"" : "\"");
    strcat(ids, ls[i]->diff_id);
    strcat(ids, "\"");
  }
  char *c = NULL;
  if (asprintf(&c,
               "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2000-01-01T00:00:00Z\","
               "\"config\":{\"Cmd\":[\"sh\"]},\"comment\":\"%s\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[%s]}}",
               comment, ids) < 0)
    abort();
  berth_sha256_buf(c, strlen(c), id);
  return c;
}

/* ---- archives ---- */

typedef struct {
  mem_t m[32];
  size_t n;
  char *owned[32];
  size_t n_owned;
} members_t;

static const char *keep(members_t *ms, char *s) {
  ms->owned[ms->n_owned++] = s;
  return s;
}

static void add(members_t *ms, const char *name, const void *data, size_t len) {
  ms->m[ms->n++] = (mem_t){ .name = name, .data = data, .len = len };
}

static void members_free(members_t *ms) {
  for (size_t i = 0; i < ms->n_owned; i++)
    free(ms->owned[i]);
}

static char *fmt(const char *f, const char *a) {
  char *s = NULL;
  if (asprintf(&s, f, a) < 0)
    abort();
  return s;
}

/* Legacy docker-archive: <id>.json, <diff hex>/layer.tar, manifest.json. */
static void docker_legacy(members_t *ms, const char *cfg, const char *id, const layer_t *const *ls, size_t n,
                          const char *tag) {
  add(ms, keep(ms, fmt("%s.json", id + 7)), cfg, strlen(cfg));
  char layers[8192] = "";
  for (size_t i = 0; i < n; i++) {
    const char *name = keep(ms, fmt("%s/layer.tar", ls[i]->diff_id + 7));
    add(ms, name, ls[i]->blob.p, ls[i]->blob.len);
    strcat(layers, i ? ",\"" : "\"");
    strcat(layers, name);
    strcat(layers, "\"");
  }
  char *man = NULL;
  if (asprintf(&man, "[{\"Config\":\"%s.json\",\"RepoTags\":%s%s%s,\"Layers\":[%s]}]", id + 7, tag ? "[\"" : "null",
               tag ? tag : "", tag ? "\"]" : "", layers) < 0)
    abort();
  add(ms, "manifest.json", keep(ms, man), strlen(man));
}

/* OCI blobs + manifest; index.json with ref annotation; docker: also manifest.json. */
static void oci_layout(members_t *ms, const char *cfg, const char *id, const layer_t *const *ls, size_t n,
                       const char *ref_name, bool docker, const char *tag) {
  add(ms, keep(ms, fmt("blobs/sha256/%s", id + 7)), cfg, strlen(cfg));
  char descs[8192] = "", paths[8192] = "";
  for (size_t i = 0; i < n; i++) {
    const char *name = keep(ms, fmt("blobs/sha256/%s", ls[i]->digest + 7));
    add(ms, name, ls[i]->blob.p, ls[i]->blob.len);
    char d[256];
    snprintf(d, sizeof d, "%s{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"%s\",\"size\":%zu}",
             i ? "," : "", ls[i]->digest, ls[i]->blob.len);
    strcat(descs, d);
    snprintf(d, sizeof d, "%s\"%s\"", i ? "," : "", name);
    strcat(paths, d);
  }
  char *man = NULL;
  if (asprintf(&man,
               "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":"
               "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%zu},\"layers\":[%s]}",
               id, strlen(cfg), descs) < 0)
    abort();
  char mdigest[BERTH_DIGEST_SIZE];
  berth_sha256_buf(man, strlen(man), mdigest);
  add(ms, keep(ms, fmt("blobs/sha256/%s", mdigest + 7)), keep(ms, man), strlen(man));
  char *index = NULL;
  if (asprintf(&index,
               "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
               "\"digest\":\"%s\",\"size\":%zu%s%s%s}]}",
               mdigest, strlen(man), ref_name ? ",\"annotations\":{\"org.opencontainers.image.ref.name\":\"" : "",
               ref_name ? ref_name : "", ref_name ? "\"}" : "") < 0)
    abort();
  add(ms, "index.json", keep(ms, index), strlen(index));
  add(ms, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
  if (docker) {
    char *dm = NULL;
    if (asprintf(&dm, "[{\"Config\":\"blobs/sha256/%s\",\"RepoTags\":[\"%s\"],\"Layers\":[%s]}]", id + 7, tag, paths) < 0)
      abort();
    add(ms, "manifest.json", keep(ms, dm), strlen(dm));
  }
}

/* ---- the store ---- */

static char root[] = "/tmp/berth-test-load-XXXXXX";
static berth_store_t *st;

static berth_store_t *open_store(const char *path) {
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  berth_store_t *s = NULL;
  berth_error_t err = NULL;
  if (berth_store_open(fd, &s, &err) < 0) {
    berth_error_print(&err, stderr, "store");
    abort();
  }
  return s;
}

static void list_dir(int dfd, const char *rel, char **acc) {
  int fd = openat(dfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return;
  DIR *d = fdopendir(fd);
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.' && (de->d_name[1] == 0 || (de->d_name[1] == '.' && de->d_name[2] == 0)))
      continue;
    char *n = NULL;
    if (asprintf(&n, "%s%s/%s\n", *acc, rel, de->d_name) < 0)
      abort();
    free(*acc);
    *acc = n;
  }
  closedir(d);
}

/* Files of blobs/, layers/, tmp/ and the row count of every table. Sorted
 * enough for equality: readdir order is stable for an unchanged dir. */
static char *snapshot(void) {
  char *acc = strdup("");
  int dfd = berth_store_dirfd(st);
  list_dir(dfd, "blobs/sha256", &acc);
  list_dir(dfd, "layers", &acc);
  list_dir(dfd, "tmp", &acc);
  sqlite3 *db;
  char path[128];
  snprintf(path, sizeof path, "%s/store.db", root);
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
    abort();
  sqlite3_stmt *q;
  sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type='table' ORDER BY name", -1, &q, NULL);
  while (sqlite3_step(q) == SQLITE_ROW) {
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM \"%s\"", (const char *)sqlite3_column_text(q, 0));
    sqlite3_stmt *c;
    sqlite3_prepare_v2(db, sql, -1, &c, NULL);
    sqlite3_step(c);
    char *n = NULL;
    if (asprintf(&n, "%stable %s %lld\n", acc, (const char *)sqlite3_column_text(q, 0), sqlite3_column_int64(c, 0)) < 0)
      abort();
    free(acc);
    acc = n;
    sqlite3_finalize(c);
  }
  sqlite3_finalize(q);
  sqlite3_close(db);
  return acc;
}

static size_t count_entries(const char *rel) {
  char *acc = strdup("");
  list_dir(berth_store_dirfd(st), rel, &acc);
  size_t n = 0;
  for (char *p = acc; *p; p++)
    n += *p == '\n';
  free(acc);
  return n;
}

typedef struct {
  int rc, status;
  char msg[1024];
  load_result_t res;
  char *progress;
} loaded_t;

static loaded_t load_into(berth_store_t *s, const buf_t *archive, bool quiet, uint64_t limit) {
  loaded_t l = { 0 };
  int in = memfd_create("archive", MFD_CLOEXEC), prog = memfd_create("progress", MFD_CLOEXEC);
  if (unpack_write_all(in, archive->p, archive->len) < 0)
    abort();
  lseek(in, 0, SEEK_SET);
  image_limits_t lim = { .max_uncompressed_bytes = limit, .config_path = "/etc/berth/test.json" };
  berth_error_t err = NULL;
  l.rc = image_load(s, in, prog, quiet, &lim, &l.res, &err);
  if (l.rc < 0) {
    l.status = err ? err->status : -1;
    snprintf(l.msg, sizeof l.msg, "%s", err && err->msg ? err->msg : "(none)");
    berth_error_release(&err);
  }
  off_t sz = lseek(prog, 0, SEEK_END);
  l.progress = calloc(1, (size_t)sz + 1);
  if (pread(prog, l.progress, (size_t)sz, 0) != sz)
    abort();
  close(in);
  close(prog);
  return l;
}

static loaded_t load_buf(const buf_t *archive, bool quiet) {
  return load_into(st, archive, quiet, 1ull << 36);
}

static void loaded_free(loaded_t *l) {
  load_result_free(&l->res);
  free(l->progress);
}

static bool has(const char *hay, const char *needle) {
  return hay && strstr(hay, needle) != NULL;
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static loaded_t load_members(members_t *ms, int filter, bool quiet) {
  buf_t a = tar_of(ms->m, ms->n, filter);
  loaded_t l = load_buf(&a, quiet);
  free(a.p);
  return l;
}

/* A hostile archive: refused with status, message containing each needle,
 * the store unchanged. */
static void refused(const char *label, const buf_t *a, uint64_t limit, int status, const char *n1, const char *n2) {
  char *before = snapshot();
  loaded_t l = load_into(st, a, false, limit);
  char *after = snapshot();
  tap_ok(l.rc < 0 && l.status == status && has(l.msg, n1) && (!n2 || has(l.msg, n2)), "%s: refused (%s)", label,
         l.msg);
  tap_ok(strcmp(before, after) == 0, "%s: the store is as before", label);
  if (strcmp(before, after) != 0)
    tap_diag("before:\n%s\nafter:\n%s", before, after);
  free(before);
  free(after);
  loaded_free(&l);
}

static void refused_members(const char *label, members_t *ms, int filter, uint64_t limit, int status, const char *n1,
                            const char *n2) {
  buf_t a = tar_of(ms->m, ms->n, filter);
  refused(label, &a, limit, status, n1, n2);
  free(a.p);
}

/* ---- cases ---- */

static const char table[] = "1 2 3\n";
static layer_t base, app, appgz, appzst;

static void make_layers(void) {
  static char big[8192];
  memset(big, 'b', sizeof big);
  mem_t b[] = { DIR_("etc/"), FILE_("etc/base", big, sizeof big), DIR_("bin/"),
                FILE_("bin/sh", "#!", 2) };
  mem_t a[] = { DIR_("app/"), FILE_("app/table", table, sizeof table - 1),
                FILE_("app/.wh.old", NULL, 0), { .name = "app/link", .type = AE_IFLNK, .link = "/etc/base" } };
  base = layer(b, N(b), F_NONE);
  app = layer(a, N(a), F_NONE);
  appgz = layer(a, N(a), F_GZIP);
  appzst = layer(a, N(a), F_ZSTD);
}

static char legacy_id[BERTH_DIGEST_SIZE];

static void test_formats(void) {
  const layer_t *ls[] = { &base, &app };
  members_t ms = { 0 };
  char *cfg = config(ls, 2, "legacy", legacy_id);
  docker_legacy(&ms, cfg, legacy_id, ls, 2, "fx-legacy:v1");
  loaded_t l = load_members(&ms, F_NONE, false);
  tap_ok(l.rc == 0 && l.res.n_loaded == 1 && strcmp(l.res.loaded[0], "fx-legacy:v1") == 0 && l.res.n_image_ids == 1 &&
             strcmp(l.res.image_ids[0], legacy_id) == 0,
         "legacy docker-archive loads (%s)", l.rc ? l.msg : "ok");
  tap_ok(has(l.progress, "{\"stream\":\"Loaded image: fx-legacy:v1\\n\"}\n") &&
             has(l.progress, "\"status\":\"Loading layer\",\"progressDetail\":{\"current\":0,"),
         "progress: Loading layer and Loaded image lines");
  char id[BERTH_DIGEST_SIZE] = "";
  berth_store_resolve(st, "fx-legacy:v1", id, NULL);
  tap_ok(strcmp(id, legacy_id) == 0, "the tag resolves to the config digest");
  tap_ok(count_entries("blobs/sha256") == 3 && count_entries("layers") == 2 && count_entries("tmp") == 0,
         "3 blobs, 2 layers, nothing left in tmp/");
  loaded_free(&l);

  char *before = snapshot();
  l = load_members(&ms, F_NONE, true);
  char *after = snapshot();
  tap_ok(l.rc == 0 && strcmp(before, after) == 0 && !has(l.progress, "Loading layer") &&
             has(l.progress, "Loaded image: fx-legacy:v1"),
         "loading it again stores nothing new (%s)", l.rc ? l.msg : "ok");
  free(before);
  free(after);
  loaded_free(&l);

  /* the whole archive gzip-compressed */
  l = load_members(&ms, F_GZIP, true);
  tap_ok(l.rc == 0 && l.res.n_image_ids == 1 && strcmp(l.res.image_ids[0], legacy_id) == 0,
         "a gzip-compressed archive loads (%s)", l.rc ? l.msg : "ok");
  loaded_free(&l);
  members_free(&ms);
  free(cfg);

  /* Docker 25+: manifest.json into an OCI layout; gzip app layer over the shared base */
  const layer_t *ls2[] = { &base, &appgz };
  char id2[BERTH_DIGEST_SIZE];
  cfg = config(ls2, 2, "dockeroci", id2);
  ms = (members_t){ 0 };
  oci_layout(&ms, cfg, id2, ls2, 2, "v1", true, "fx-dockeroci:v1");
  size_t layers_before = count_entries("layers");
  l = load_members(&ms, F_NONE, false);
  tap_ok(l.rc == 0 && l.res.n_loaded == 1 && strcmp(l.res.loaded[0], "fx-dockeroci:v1") == 0 &&
             strcmp(l.res.image_ids[0], id2) == 0,
         "Docker 25 docker-archive (OCI layout) loads (%s)", l.rc ? l.msg : "ok");
  tap_ok(count_entries("layers") == layers_before, "the same layers (base, app) are shared, not unpacked again");
  loaded_free(&l);
  members_free(&ms);
  free(cfg);

  /* oci-archive, zstd layer, name in ref.name */
  const layer_t *ls3[] = { &base, &appzst };
  char id3[BERTH_DIGEST_SIZE];
  cfg = config(ls3, 2, "oci", id3);
  ms = (members_t){ 0 };
  oci_layout(&ms, cfg, id3, ls3, 2, "fx-oci:v1", false, NULL);
  l = load_members(&ms, F_NONE, false);
  tap_ok(l.rc == 0 && l.res.n_loaded == 1 && strcmp(l.res.loaded[0], "fx-oci:v1") == 0,
         "oci-archive with a zstd layer loads under its ref.name (%s)", l.rc ? l.msg : l.res.loaded[0]);
  loaded_free(&l);
  members_free(&ms);
  free(cfg);

  /* oci-archive whose ref.name is a bare tag: untagged */
  const layer_t *ls4[] = { &base };
  char id4[BERTH_DIGEST_SIZE];
  cfg = config(ls4, 1, "untagged", id4);
  ms = (members_t){ 0 };
  oci_layout(&ms, cfg, id4, ls4, 1, "latest", false, NULL);
  l = load_members(&ms, F_NONE, true);
  char want[128];
  snprintf(want, sizeof want, "{\"stream\":\"Loaded image ID: %s\\n\"}", id4);
  tap_ok(l.rc == 0 && l.res.n_loaded == 1 && strcmp(l.res.loaded[0], id4) == 0 && has(l.progress, want),
         "an untagged image: Loaded image ID (%s)", l.rc ? l.msg : l.progress);
  loaded_free(&l);
  members_free(&ms);
  free(cfg);

  /* the same (new, plain) layer twice in one image: two chain ids, one blob */
  mem_t tw[] = { DIR_("twice/"), FILE_("twice/file", "2", 1) };
  layer_t twice = layer(tw, N(tw), F_NONE);
  const layer_t *lst[] = { &twice, &base, &twice };
  char idt[BERTH_DIGEST_SIZE];
  cfg = config(lst, 3, "twice", idt);
  ms = (members_t){ 0 };
  docker_legacy(&ms, cfg, idt, lst, 2, "fx-twice:v1"); /* the member is listed once: fix the manifest */
  char *man = NULL;
  if (asprintf(&man, "[{\"Config\":\"%s.json\",\"RepoTags\":[\"fx-twice:v1\"],\"Layers\":[\"%s/layer.tar\",\"%s/layer.tar\",\"%s/layer.tar\"]}]",
               idt + 7, twice.diff_id + 7, base.diff_id + 7, twice.diff_id + 7) < 0)
    abort();
  ms.m[ms.n - 1].data = keep(&ms, man);
  ms.m[ms.n - 1].len = strlen(man);
  size_t blobs_before = count_entries("blobs/sha256");
  layers_before = count_entries("layers");
  l = load_members(&ms, F_NONE, true);
  tap_ok(l.rc == 0 && count_entries("layers") == layers_before + 3 && count_entries("blobs/sha256") == blobs_before + 2,
         "a layer twice in one image: 3 new chains, 1 new layer blob + the config (%s)", l.rc ? l.msg : "ok");
  loaded_free(&l);
  members_free(&ms);
  free(cfg);
  layer_free(&twice);

  /* device nodes: skipped and reported, the rest loads */
  mem_t d[] = { DIR_("dev/"), { .name = "dev/null", .type = AE_IFCHR, .major = 1, .minor = 3 },
                DIR_("etc/"), FILE_("etc/after", "x", 1) };
  layer_t dev = layer(d, N(d), F_GZIP);
  const layer_t *ls5[] = { &base, &dev };
  char id5[BERTH_DIGEST_SIZE];
  cfg = config(ls5, 2, "device", id5);
  ms = (members_t){ 0 };
  docker_legacy(&ms, cfg, id5, ls5, 2, "fx-device:v1");
  l = load_members(&ms, F_NONE, false);
  tap_ok(l.rc == 0 && l.res.n_skipped == 1 && has(l.res.skipped[0], dev.digest) &&
             has(l.res.skipped[0], "dev/null: device node not created") &&
             has(l.progress, "{\"stream\":\"Skipped: sha256:") && has(l.progress, ": dev/null: device node not created\\n\"}"),
         "device node skipped and named (%s)", l.rc ? l.msg : l.res.n_skipped ? l.res.skipped[0] : "none");
  loaded_free(&l);
  members_free(&ms);
  free(cfg);
  layer_free(&dev);
}

static void test_hostile(void) {
  mem_t okm[] = { DIR_("etc/"), FILE_("etc/unique-hostile", "u", 1) };
  layer_t ok = layer(okm, N(okm), F_NONE); /* a valid first layer no other image has */

  { /* the config names another diff_id */
    layer_t fake = app;
    berth_sha256_buf("something else", 14, fake.diff_id);
    const layer_t *ls[] = { &ok, &fake };
    char id[BERTH_DIGEST_SIZE];
    char *cfg = config(ls, 2, "digest", id);
    members_t ms = { 0 };
    docker_legacy(&ms, cfg, id, ls, 2, "fx-bad:v1");
    refused_members("layer content does not match the config's diff_id", &ms, F_NONE, 1ull << 36, EBADMSG,
                    fake.diff_id, "does not match");
    members_free(&ms);
    free(cfg);
  }
  { /* OCI: a layer blob tampered with (same size) */
    layer_t bad = { .tar = appgz.tar, .blob = { .p = malloc(appgz.blob.len), .len = appgz.blob.len } };
    memcpy(bad.blob.p, appgz.blob.p, bad.blob.len);
    bad.blob.p[bad.blob.len / 2] ^= 0xff;
    memcpy(bad.digest, appgz.digest, sizeof bad.digest);
    memcpy(bad.diff_id, appgz.diff_id, sizeof bad.diff_id);
    const layer_t *ls[] = { &ok, &bad };
    char id[BERTH_DIGEST_SIZE];
    char *cfg = config(ls, 2, "digest-oci", id);
    members_t ms = { 0 };
    oci_layout(&ms, cfg, id, ls, 2, "fx-bad-oci:v1", false, NULL);
    refused_members("OCI layer blob whose digest does not match the manifest", &ms, F_NONE, 1ull << 36, EBADMSG,
                    appgz.digest, "does not match");
    members_free(&ms);
    free(cfg);
    free(bad.blob.p);
  }
  { /* a missing layer member, a missing config */
    const layer_t *ls[] = { &ok, &app };
    char id[BERTH_DIGEST_SIZE];
    char *cfg = config(ls, 2, "missing", id);
    members_t ms = { 0 };
    docker_legacy(&ms, cfg, id, ls, 2, "fx-bad:v1");
    char *missing = fmt("%s/layer.tar", app.diff_id + 7);
    for (size_t i = 0; i < ms.n; i++)
      if (strcmp(ms.m[i].name, missing) == 0)
        ms.m[i].name = "somewhere/else.tar";
    refused_members("manifest names a missing layer", &ms, F_NONE, 1ull << 36, EBADMSG, missing, "not in the archive");
    free(missing);
    ms.m[0].name = "other.json"; /* the config */
    missing = fmt("%s.json", id + 7);
    refused_members("manifest names a missing config", &ms, F_NONE, 1ull << 36, EBADMSG, missing, "not in the archive");
    free(missing);
    members_free(&ms);
    free(cfg);
  }
  { /* invalid reference names */
    const char *bad_refs[] = { "FX-Bad:v1", "fx bad:v1", "fx-bad:-v1", ":v1" };
    for (size_t i = 0; i < N(bad_refs); i++) {
      const layer_t *ls[] = { &ok };
      char id[BERTH_DIGEST_SIZE];
      char *cfg = config(ls, 1, bad_refs[i], id);
      members_t ms = { 0 };
      docker_legacy(&ms, cfg, id, ls, 1, bad_refs[i]);
      char label[64];
      snprintf(label, sizeof label, "invalid reference '%s'", bad_refs[i]);
      refused_members(label, &ms, F_NONE, 1ull << 36, EINVAL, "invalid reference format", NULL);
      members_free(&ms);
      free(cfg);
    }
  }
  { /* decompression bombs: a layer, and the archive itself */
    char *zeros = calloc(1, 4 << 20);
    mem_t zm[] = { FILE_("zeros", zeros, 4 << 20) };
    layer_t bomb = layer(zm, 1, F_GZIP);
    const layer_t *ls[] = { &ok, &bomb };
    char id[BERTH_DIGEST_SIZE];
    char *cfg = config(ls, 2, "bomb", id);
    members_t ms = { 0 };
    docker_legacy(&ms, cfg, id, ls, 2, "fx-bomb:v1");
    char want[200];
    snprintf(want, sizeof want, "layer %s: uncompressed size exceeds image-max-uncompressed-bytes", bomb.digest);
    refused_members("layer over the size limit", &ms, F_NONE, 1 << 20, EFBIG, want, "(1048576 bytes, set in /etc/berth/test.json)");
    free(cfg);
    members_free(&ms);
    cfg = config(ls, 1, "bomb-outer", id);
    ms = (members_t){ 0 };
    docker_legacy(&ms, cfg, id, ls, 1, "fx-bomb-outer:v1");
    add(&ms, "padding", zeros, 4 << 20);
    refused_members("compressed archive over the size limit", &ms, F_GZIP, 1 << 20, EFBIG,
                    "uncompressed size exceeds image-max-uncompressed-bytes", NULL);
    members_free(&ms);
    free(cfg);
    layer_free(&bomb);
    free(zeros);
  }
  { /* a hostile entry in the second layer: nothing of the first may stay */
    mem_t hm[] = { DIR_("etc/"), FILE_("../escape", "x", 1) };
    layer_t h = layer(hm, N(hm), F_GZIP);
    const layer_t *ls[] = { &ok, &h };
    char id[BERTH_DIGEST_SIZE];
    char *cfg = config(ls, 2, "dotdot", id);
    members_t ms = { 0 };
    docker_legacy(&ms, cfg, id, ls, 2, "fx-dotdot:v1");
    refused_members("'..' entry in a layer", &ms, F_NONE, 1ull << 36, EPERM, "entry \"../escape\"", "'..'");
    members_free(&ms);
    free(cfg);
    layer_free(&h);
  }
  {
    buf_t junk = { .p = (unsigned char *)strdup("this is not a tar archive at all, not even close........"), .len = 56 };
    refused("not an archive", &junk, 1ull << 36, EBADMSG, "image archive", NULL);
    free(junk.p);
    members_t ms = { 0 };
    add(&ms, "hello.txt", "hi", 2);
    refused_members("a tar that is no image", &ms, F_NONE, 1ull << 36, EBADMSG, "manifest.json", "index.json");
  }
  layer_free(&ok);
}

static buf_t save(const char *const *names, size_t n, int *status, char *msg) {
  buf_t b = { 0 };
  save_plan_t *plan = NULL;
  berth_error_t err = NULL;
  int fd = memfd_create("save", MFD_CLOEXEC);
  *status = 0;
  if (image_save_resolve(st, (char *const *)names, n, &plan, &err) < 0 || image_save_write(st, plan, fd, &err) < 0) {
    *status = err ? err->status : -1;
    snprintf(msg, 512, "%s", err && err->msg ? err->msg : "");
    berth_error_release(&err);
  }
  save_plan_free(plan);
  off_t sz = lseek(fd, 0, SEEK_END);
  b.p = malloc((size_t)sz + 1);
  b.len = (size_t)sz;
  if (pread(fd, b.p, b.len, 0) != sz)
    abort();
  close(fd);
  return b;
}

static void test_save(void) {
  int status;
  char msg[512] = "";
  const char *names[] = { "fx-legacy:v1" };
  buf_t a = save(names, 1, &status, msg);
  buf_t b = save(names, 1, &status, msg);
  tap_ok(status == 0 && a.len > 0 && a.len == b.len && memcmp(a.p, b.p, a.len) == 0, "save is deterministic (%s)", msg);
  tap_ok(memmem(a.p, a.len, "\"RepoTags\":[\"fx-legacy:v1\"]", 27) != NULL && memmem(a.p, a.len, "oci-layout", 10) &&
             memmem(a.p, a.len, "io.containerd.image.name", 24),
         "manifest.json with RepoTags, OCI layout with the name annotation");
  char *before = snapshot();
  loaded_t l = load_buf(&a, true);
  char *after = snapshot();
  tap_ok(l.rc == 0 && l.res.n_image_ids == 1 && strcmp(l.res.image_ids[0], legacy_id) == 0 &&
             strcmp(before, after) == 0,
         "save then load into the same store: same id, nothing new (%s)", l.rc ? l.msg : "ok");
  loaded_free(&l);
  free(before);
  free(after);

  char root2[] = "/tmp/berth-test-load2-XXXXXX";
  if (mkdtemp(root2) == NULL)
    abort();
  berth_store_t *s2 = open_store(root2);
  l = load_into(s2, &a, false, 1ull << 36);
  tap_ok(l.rc == 0 && l.res.n_image_ids == 1 && strcmp(l.res.image_ids[0], legacy_id) == 0 &&
             l.res.n_loaded == 1 && strcmp(l.res.loaded[0], "fx-legacy:v1") == 0,
         "save then load into a fresh store: same id and tag (%s)", l.rc ? l.msg : "ok");
  loaded_free(&l);
  berth_store_close(s2);
  int tmp = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  unpack_remove_at(tmp, root2 + 5, NULL);
  close(tmp);
  free(a.p);
  free(b.p);

  const char *by_id[] = { legacy_id + 7 };
  a = save(by_id, 1, &status, msg);
  tap_ok(status == 0 && memmem(a.p, a.len, "\"RepoTags\":null", 15) != NULL, "saved by id: no RepoTags, as Docker (%s)", msg);
  free(a.p);
  const char *two[] = { "fx-legacy:v1", "fx-dockeroci:v1" };
  a = save(two, 2, &status, msg);
  l = load_buf(&a, true);
  tap_ok(status == 0 && l.rc == 0 && l.res.n_image_ids == 2 && l.res.n_loaded == 2, "two images in one archive round-trip (%s)",
         l.rc ? l.msg : msg);
  loaded_free(&l);
  free(a.p);
  const char *none[] = { "fx-nosuch:v1" };
  a = save(none, 1, &status, msg);
  tap_ok(status == ENOENT && has(msg, "No such image: fx-nosuch:v1") && a.len == 0, "unknown name: ENOENT, nothing written (%s)", msg);
  free(a.p);
}

int main(void) {
  if (geteuid() != 0)
    return tap_skip_all("needs root (unpacked files are chowned to the layer's owners)");
  if (mkdtemp(root) == NULL)
    return tap_skip_all("mkdtemp failed");
  st = open_store(root);
  make_layers();
  test_formats();
  test_hostile();
  test_save();
  berth_store_close(st);
  layer_free(&base);
  layer_free(&app);
  layer_free(&appgz);
  layer_free(&appzst);
  int tmp = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  unpack_remove_at(tmp, root + 5, NULL);
  close(tmp);
  return tap_done();
}
