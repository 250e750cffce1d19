/* The image store on a temporary directory (services/image/store.c, txn*.c,
 * lookup.c, query.c, remove.c): verified atomic blob puts, one-transaction
 * commits, lookups, tag/remove/prune, and the start-up clean-up after a
 * simulated crash. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "query.h"
#include "store.h"
#include "tap.h"

static char root[64];

static int open_root(void) {
  return open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int count_entries(const char *sub) {
  char p[256];
  snprintf(p, sizeof(p), "%s/%s", root, sub);
  DIR *d = opendir(p);
  if (d == NULL)
    return -1;
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
      n++;
  closedir(d);
  return n;
}

static int rows(berth_store_t *st, const char *what) {
  (void)st;
  char path[128], sql[128];
  snprintf(path, sizeof(path), "%s/store.db", root);
  snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", what);
  sqlite3 *db = NULL;
  sqlite3_stmt *q = NULL;
  int n = -1;
  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
      sqlite3_prepare_v2(db, sql, -1, &q, NULL) == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW)
    n = sqlite3_column_int(q, 0);
  sqlite3_finalize(q);
  sqlite3_close(db);
  return n;
}

static int stage_bytes(berth_store_t *st, berth_staged_t *s, const char *data) {
  if (berth_store_stage_file(st, s, NULL) < 0)
    return -1;
  size_t n = strlen(data);
  return write(s->fd, data, n) == (ssize_t)n ? 0 : -1;
}

/* A layer: a staged dir with one file, its "tar" blob = tarbytes. */
static int add_layer(berth_store_txn_t *t, berth_store_t *st, const char *tarbytes, const char *parent,
                     char diff[BERTH_DIGEST_SIZE], char chain[BERTH_DIGEST_SIZE]) {
  berth_staged_t f = BERTH_STAGED_INIT, d = BERTH_STAGED_INIT;
  berth_sha256_buf(tarbytes, strlen(tarbytes), diff);
  berth_chain_id(parent, diff, chain);
  int have = berth_store_txn_have_layer(t, chain, NULL);
  if (have != 0)
    return have < 0 ? -1 : 0;
  if (stage_bytes(st, &f, tarbytes) < 0 || berth_store_txn_put_blob(t, &f, diff, NULL, NULL) < 0)
    return -1;
  if (berth_store_stage_dir(st, &d, NULL) < 0)
    return -1;
  int fd = openat(d.fd, "file", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || write(fd, tarbytes, strlen(tarbytes)) < 0)
    return -1;
  close(fd);
  return berth_store_txn_add_layer(t, &d, chain, diff, parent, strlen(tarbytes), NULL);
}

/* Loads one image of n layers (layer i's content = names[i]) with tags; returns its id. */
/* Called (if set) once the layers are in place, before the image is committed. */
static void (*mid_load)(berth_store_t *st);

static int load_image(berth_store_t *st, const char *const *layers, size_t n, const char *const *tags, size_t ntags,
                      const char *created, char id[BERTH_DIGEST_SIZE], berth_error_t *err) {
  berth_store_txn_t *t = NULL;
  char diffs[8][BERTH_DIGEST_SIZE], chains[8][BERTH_DIGEST_SIZE];
  const char *dp[8];
  if (berth_store_txn_begin(st, &t, err) < 0)
    return -1;
  json_object *cfg = json_object_new_object(), *rootfs = json_object_new_object(), *ids = json_object_new_array();
  json_object *hist = json_object_new_array();
  for (size_t i = 0; i < n; i++) {
    if (add_layer(t, st, layers[i], i ? chains[i - 1] : NULL, diffs[i], chains[i]) < 0) {
      berth_store_txn_free(t);
      json_object_put(cfg);
      return -1;
    }
    dp[i] = diffs[i];
    json_object_array_add(ids, json_object_new_string(diffs[i]));
    json_object *h = json_object_new_object();
    json_object_object_add(h, "created", json_object_new_string(created));
    json_object_object_add(h, "created_by", json_object_new_string(layers[i]));
    json_object_array_add(hist, h);
  }
  if (mid_load)
    mid_load(st);
  json_object_object_add(rootfs, "type", json_object_new_string("layers"));
  json_object_object_add(rootfs, "diff_ids", ids);
  json_object_object_add(cfg, "architecture", json_object_new_string("amd64"));
  json_object_object_add(cfg, "os", json_object_new_string("linux"));
  json_object_object_add(cfg, "created", json_object_new_string(created));
  json_object *c = json_object_new_object(), *labels = json_object_new_object();
  json_object_object_add(labels, "maintainer", json_object_new_string(tags && ntags ? tags[0] : "none"));
  json_object_object_add(c, "Labels", labels);
  json_object_object_add(c, "Cmd", json_object_new_string("sh"));
  json_object_object_add(cfg, "config", c);
  json_object_object_add(cfg, "history", hist);
  json_object_object_add(cfg, "rootfs", rootfs);
  berth_staged_t f = BERTH_STAGED_INIT;
  int r = stage_bytes(st, &f, json_object_to_json_string_ext(cfg, JSON_C_TO_STRING_PLAIN));
  json_object_put(cfg);
  berth_store_image_spec_t spec = { 0 };
  if (r == 0)
    r = berth_store_txn_put_blob(t, &f, NULL, id, err);
  if (r == 0) {
    spec.config_digest = id;
    spec.diff_ids = dp;
    spec.n_layers = n;
    spec.repo_tags = tags;
    spec.n_tags = ntags;
    r = berth_store_txn_add_image(t, &spec, err);
  }
  if (r == 0)
    r = berth_store_txn_commit(t, err);
  berth_store_txn_free(t);
  return r;
}

static void remove_busybox(berth_store_t *st) {
  char *json = NULL;
  if (image_remove(st, "busybox", true, false, &json, NULL) == 0)
    tap_diag("removed meanwhile: %s", json);
  free(json);
}

static char *doc(int r, char *json, berth_error_t *err) {
  if (r < 0) {
    tap_diag("error: %s", err && *err && (*err)->msg ? (*err)->msg : "?");
    berth_error_release(err);
    return NULL;
  }
  return json;
}

int main(void) {
  if (getuid() != 0)
    return tap_skip_all("needs root (the store is written as root)");
  snprintf(root, sizeof(root), "/tmp/test_store.XXXXXX");
  if (mkdtemp(root) == NULL)
    return tap_skip_all("mkdtemp failed");
  berth_error_t err = NULL;
  berth_store_t *st = NULL;
  tap_ok(berth_store_open(open_root(), &st, &err) == 0, "store opens on an empty dir");
  if (st == NULL) {
    tap_diag("%s", err ? err->msg : "?");
    return tap_done();
  }
  tap_ok(count_entries("blobs/sha256") == 0 && count_entries("layers") == 0 && count_entries("tmp") == 0,
         "layout created: blobs/sha256, layers, tmp");

  /* ---- blob put: wrong digest refused, store unchanged ---- */
  berth_store_txn_t *t = NULL;
  berth_store_txn_begin(st, &t, NULL);
  berth_staged_t f = BERTH_STAGED_INIT;
  char d[BERTH_DIGEST_SIZE], actual[BERTH_DIGEST_SIZE];
  berth_sha256_buf("other", 5, d);
  stage_bytes(st, &f, "hello");
  int r = berth_store_txn_put_blob(t, &f, d, NULL, &err);
  tap_ok(r < 0 && err && err->status == EBADMSG && strstr(err->msg, "digest mismatch"),
         "blob with the wrong digest refused (EBADMSG: %s)", err && err->msg ? err->msg : "");
  berth_error_release(&err);
  tap_ok(count_entries("blobs/sha256") == 0 && count_entries("tmp") == 0, "nothing left after the refusal");
  berth_sha256_buf("hello", 5, d);
  stage_bytes(st, &f, "hello");
  tap_ok(berth_store_txn_put_blob(t, &f, d, actual, NULL) == 0 && strcmp(actual, d) == 0, "blob put with its digest");
  stage_bytes(st, &f, "hello");
  tap_ok(berth_store_txn_put_blob(t, &f, NULL, actual, NULL) == 0, "the same content again");
  tap_ok(count_entries("blobs/sha256") == 0 && count_entries("tmp") == 1,
         "one staged copy, nothing in the live store before the commit");
  berth_store_txn_free(t);
  tap_ok(count_entries("blobs/sha256") == 0 && count_entries("tmp") == 0, "uncommitted txn: its blob removed at free");

  /* ---- one image: commit, lookups ---- */
  char id1[BERTH_DIGEST_SIZE], id2[BERTH_DIGEST_SIZE], got[BERTH_DIGEST_SIZE];
  const char *l1[] = { "base layer", "app layer" };
  const char *tags1[] = { "busybox:latest", "docker.io/library/busybox:1" };
  r = load_image(st, l1, 2, tags1, 2, "2024-01-02T03:04:05.123456789Z", id1, &err);
  tap_ok(r == 0, "image with 2 layers and 2 tags committed");
  if (r < 0)
    tap_diag("%s", err ? err->msg : "?");
  berth_error_release(&err);
  tap_ok(count_entries("blobs/sha256") == 3 && count_entries("layers") == 2 && count_entries("tmp") == 0,
         "3 blobs (config + 2 layer tars), 2 layer dirs");
  tap_ok(rows(st, "images") == 1 && rows(st, "layers") == 2 && rows(st, "blobs") == 3 && rows(st, "tags") == 2,
         "rows: 1 image, 2 layers, 3 blobs, 2 tags");
  tap_ok(berth_store_resolve(st, "busybox", got, NULL) == 0 && strcmp(got, id1) == 0, "resolve busybox");
  tap_ok(berth_store_resolve(st, "busybox:1", got, NULL) == 0 && strcmp(got, id1) == 0, "resolve busybox:1");
  tap_ok(berth_store_resolve(st, id1, got, NULL) == 0, "resolve by full id");
  tap_ok(berth_store_resolve(st, id1 + 7, got, NULL) == 0, "resolve by bare hex id");
  char prefix[16];
  snprintf(prefix, sizeof(prefix), "%.5s", id1 + 7);
  tap_ok(berth_store_resolve(st, prefix, got, NULL) == 0 && strcmp(got, id1) == 0, "resolve by id prefix %s", prefix);
  r = berth_store_resolve(st, "busybox:nosuch", got, &err);
  tap_ok(r < 0 && err && err->status == ENOENT && strcmp(err->msg, "No such image: busybox:nosuch") == 0,
         "No such image: busybox:nosuch");
  berth_error_release(&err);
  r = berth_store_resolve(st, "Busybox", got, &err);
  tap_ok(r < 0 && err && err->status == EINVAL, "invalid name: EINVAL");
  berth_error_release(&err);

  berth_store_image_t *img = NULL;
  r = berth_store_image_get(st, id1, true, &img, NULL);
  tap_ok(r == 0 && img->n_layers == 2 && img->n_tags == 2 && strcmp(img->repo_tags[0], "busybox:1") == 0 &&
             strcmp(img->repo_tags[1], "busybox:latest") == 0 && img->config_fd >= 0 && img->layer_fds[1] >= 0,
         "image_get: layers, sorted familiar tags, open blobs");
  berth_store_image_free(img);

  /* a second image sharing the base layer */
  const char *l2[] = { "base layer", "other app" };
  const char *tags2[] = { "other:1" };
  tap_ok(load_image(st, l2, 2, tags2, 1, "2024-02-01T00:00:00Z", id2, NULL) == 0, "second image shares the base");
  tap_ok(count_entries("layers") == 3, "3 layer dirs: the base one is shared");

  /* loading the first again: no duplicate */
  tap_ok(load_image(st, l1, 2, tags1, 2, "2024-01-02T03:04:05.123456789Z", got, NULL) == 0 && strcmp(got, id1) == 0,
         "same image loaded again");
  tap_ok(count_entries("blobs/sha256") == 5 && count_entries("layers") == 3 && rows(st, "images") == 2,
         "no duplicate blob, dir or row");

  /* ---- refused load: nothing new ---- */
  {
    berth_store_txn_t *t2 = NULL;
    char dd[BERTH_DIGEST_SIZE], cc[BERTH_DIGEST_SIZE];
    berth_store_txn_begin(st, &t2, NULL);
    add_layer(t2, st, "base layer", NULL, dd, cc);      /* found: pinned only */
    char parent[BERTH_DIGEST_SIZE];
    memcpy(parent, cc, sizeof(parent));
    add_layer(t2, st, "never committed", parent, dd, cc); /* new */
    tap_ok(count_entries("layers") == 3 && count_entries("tmp") == 2,
           "an uncommitted layer and its blob wait in tmp/, the live store untouched");
    berth_store_txn_free(t2);
    tap_ok(count_entries("layers") == 3 && count_entries("blobs/sha256") == 5, "abort removed only what it added");
  }

  /* ---- GC after a simulated crash: a load killed while staging, and one
   * killed after moving its files into place but before the SQLite commit ---- */
  pid_t pid = fork();
  if (pid == 0) {
    berth_store_t *s2 = NULL;
    berth_store_txn_t *t3 = NULL;
    char dd[BERTH_DIGEST_SIZE], cc[BERTH_DIGEST_SIZE];
    berth_staged_t junk = BERTH_STAGED_INIT;
    if (berth_store_open(open_root(), &s2, NULL) < 0 || berth_store_txn_begin(s2, &t3, NULL) < 0 ||
        add_layer(t3, s2, "crashed layer", NULL, dd, cc) < 0 || stage_bytes(s2, &junk, "half") < 0)
      _exit(1);
    _exit(0); /* "kill -9": no commit, no free */
  }
  int status = 0;
  waitpid(pid, &status, 0);
  {
    /* what place_pending leaves when killed before the commit */
    char p[256], hex[BERTH_DIGEST_SIZE];
    berth_sha256_buf("renamed, never committed", 24, hex);
    snprintf(p, sizeof(p), "%s/blobs/sha256/%s", root, hex + 7);
    int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0)
      close(fd);
    snprintf(p, sizeof(p), "%s/layers/%s", root, hex + 7);
    mkdir(p, 0700);
    snprintf(p, sizeof(p), "%s/layers/%s/diff", root, hex + 7);
    mkdir(p, 0755);
    snprintf(p, sizeof(p), "%s/layers/%s/diff/file", root, hex + 7);
    fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0)
      close(fd);
  }
  tap_ok(WIFEXITED(status) && WEXITSTATUS(status) == 0 && count_entries("layers") == 4 &&
             count_entries("blobs/sha256") == 6 && count_entries("tmp") == 3,
         "crashed loads left a layer dir and a blob in place, and staged entries");
  berth_store_close(st);
  st = NULL;
  tap_ok(berth_store_open(open_root(), &st, NULL) == 0, "store reopens");
  tap_ok(count_entries("layers") == 3 && count_entries("blobs/sha256") == 5 && count_entries("tmp") == 0,
         "start-up clean-up removed the orphans and wiped tmp/");
  tap_ok(rows(st, "images") == 2 && rows(st, "layers") == 3 && rows(st, "blobs") == 5, "rows untouched");

  /* ---- queries, tag, remove, prune ---- */
  char *json = NULL;
  r = image_query_list(st, NULL, false, &json, &err);
  json = doc(r, json, &err);
  if (getenv("TEST_STORE_DUMP") && json)
    tap_diag("%s", json);
  tap_ok(json && strstr(json, "\"busybox:latest\"") && strstr(json, "\"other:1\""), "list shows both images");
  free(json);
  r = image_query_list(st, "{\"reference\":{\"other\":true}}", false, &json, &err);
  json = doc(r, json, &err);
  tap_ok(json && !strstr(json, "busybox") && strstr(json, "other:1"), "list filter reference=other");
  free(json);
  r = image_query_list(st, "{\"nonsense\":[\"x\"]}", false, &json, &err);
  json = doc(r, json, &err);
  tap_ok(json == NULL, "unknown filter refused");
  berth_error_release(&err);
  r = image_query_inspect(st, "busybox", &json, &err);
  json = doc(r, json, &err);
  if (getenv("TEST_STORE_DUMP") && json)
    tap_diag("%s", json);
  tap_ok(json && strstr(json, "\"RootFS\"") && strstr(json, "\"Architecture\":\"amd64\""), "inspect busybox");
  free(json);
  r = image_query_history(st, "busybox", &json, &err);
  json = doc(r, json, &err);
  if (getenv("TEST_STORE_DUMP") && json)
    tap_diag("%s", json);
  tap_ok(json && strstr(json, "\"CreatedBy\":\"app layer\"") && strstr(json, "<missing>"), "history of busybox");
  free(json);

  tap_ok(image_tag(st, "busybox", "mine/copy", "v2", NULL) == 0, "tag busybox mine/copy:v2");
  tap_ok(berth_store_resolve(st, "mine/copy:v2", got, NULL) == 0 && strcmp(got, id1) == 0, "new tag resolves");
  r = image_tag(st, "busybox", "Bad", "", &err);
  tap_ok(r < 0 && err && err->status == EINVAL, "tag with an invalid repo refused");
  berth_error_release(&err);
  r = image_remove(st, id1 + 7, false, false, &json, &err);
  tap_ok(r < 0 && err && err->status == EEXIST && strstr(err->msg, "must be forced") &&
             strstr(err->msg, "referenced in multiple repositories"),
         "remove by id with several repos needs -f (%s)", err && err->msg ? err->msg : "");
  berth_error_release(&err);
  r = image_remove(st, "mine/copy:v2", false, false, &json, &err);
  json = doc(r, json, &err);
  tap_ok(json && strstr(json, "{\"Untagged\":\"mine/copy:v2\"}") && !strstr(json, "Deleted"),
         "remove of one tag only untags");
  free(json);
  r = image_remove(st, "other:1", false, false, &json, &err);
  json = doc(r, json, &err);
  tap_ok(json && strstr(json, "Untagged\":\"other:1") && strstr(json, id2), "remove other:1 deletes it");
  free(json);
  tap_ok(count_entries("layers") == 2 && rows(st, "layers") == 2, "its own layer is gone, the shared one kept");
  tap_ok(berth_store_resolve(st, "busybox", got, NULL) == 0, "busybox still there");

  /* dangling image and prune */
  const char *l3[] = { "dangling" };
  char id3[BERTH_DIGEST_SIZE];
  tap_ok(load_image(st, l3, 1, NULL, 0, "2020-01-01T00:00:00Z", id3, NULL) == 0, "an untagged image");
  r = image_query_list(st, "{\"dangling\":[\"true\"]}", false, &json, &err);
  json = doc(r, json, &err);
  tap_ok(json && strstr(json, id3) && !strstr(json, id1), "dangling=true lists only it");
  free(json);
  r = image_prune(st, NULL, &json, &err);
  json = doc(r, json, &err);
  tap_ok(json && strstr(json, id3) && !strstr(json, id1), "prune removes the dangling image only");
  free(json);
  r = image_prune(st, "{\"dangling\":[\"false\"]}", &json, &err);
  json = doc(r, json, &err);
  tap_ok(json && strstr(json, id1), "prune dangling=false removes unused tagged images");
  free(json);
  tap_ok(rows(st, "images") == 0 && rows(st, "layers") == 0 && rows(st, "blobs") == 0 &&
             count_entries("layers") == 0 && count_entries("blobs/sha256") == 0,
         "store empty again");

  /* ---- a load that found a layer keeps it although a remove runs meanwhile ---- */
  const char *l4[] = { "pinned base" }, *l5[] = { "pinned base", "on top" };
  const char *tags4[] = { "busybox:latest" }, *tags5[] = { "later:1" };
  char id4[BERTH_DIGEST_SIZE], id5[BERTH_DIGEST_SIZE];
  tap_ok(load_image(st, l4, 1, tags4, 1, "2024-01-01T00:00:00Z", id4, NULL) == 0, "image with the base to pin");
  mid_load = remove_busybox;
  r = load_image(st, l5, 2, tags5, 1, "2024-01-01T00:00:00Z", id5, &err);
  mid_load = NULL;
  tap_ok(r == 0, "load that reuses the base commits although the base's image was removed meanwhile");
  berth_error_release(&err);
  tap_ok(berth_store_resolve(st, "busybox", got, NULL) < 0 && berth_store_resolve(st, "later:1", got, NULL) == 0,
         "the removed image is gone, the new one listed");
  tap_ok(rows(st, "layers") == 2 && count_entries("layers") == 2 && rows(st, "blobs") == 3 &&
             count_entries("blobs/sha256") == 3,
         "the pinned base layer and its blob survived the remove and are recorded again");
  berth_store_close(st);
  st = NULL;
  tap_ok(berth_store_open(open_root(), &st, NULL) == 0 && count_entries("layers") == 2 &&
             count_entries("blobs/sha256") == 3,
         "and the start-up clean-up keeps them");
  berth_store_close(st);
  char cmd[128];
  snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
  if (system(cmd) != 0)
    tap_diag("could not remove %s", root);
  return tap_done();
}
