/* The container registry (services/api/ctr_store.c, ctr_names.c): SQLite
 * persistence across reopen, lookup by id / prefix / name, Docker's name
 * rule and conflict message, reservations, rename, remove, damaged rows,
 * a newer schema, the texts ps and inspect show, and the registry working
 * under berth-apid's real seccomp filter. */
#include <errno.h>
#include <regex.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "ctr.h"
#include "service.h"
#include "tap.h"

static char root[] = "/tmp/berth-test-ctr-store.XXXXXX";

static api_ctr_t *make(const char *id_fill, const char *name, int64_t created) {
  api_ctr_t *c = calloc(1, sizeof *c);
  for (int i = 0; i < 64; i++)
    c->id[i] = id_fill[i % strlen(id_fill)];
  snprintf(c->name, sizeof c->name, "%s", name);
  snprintf(c->image, sizeof c->image, "busybox");
  snprintf(c->image_id, sizeof c->image_id, "sha256:%064d", 7);
  c->chain_ids = json_tokener_parse("[\"sha256:aa\"]");
  c->config = json_tokener_parse("{\"Cmd\":[\"sh\"],\"Labels\":{\"a\":\"b\"}}");
  c->host_config = json_tokener_parse("{\"NetworkMode\":\"default\"}");
  c->created_ns = created;
  c->owner_uid = 1000;
  c->uid_base = 1879048192u + 65536u;
  c->image_size = 4321;
  return c;
}

static ctr_registry_t *open_reg(void) {
  ctr_registry_t *reg = NULL;
  berth_error_t err = NULL;
  if (ctr_registry_open(root, &reg, &err) < 0) {
    tap_diag("open: %s", err ? err->msg : "?");
    berth_error_release(&err);
  }
  return reg;
}

static int lookup_status(ctr_registry_t *reg, const char *s, char *msg, size_t len, api_ctr_t **out) {
  berth_error_t err = NULL;
  *out = ctr_lookup(reg, s, &err);
  snprintf(msg, len, "%s", err && err->msg ? err->msg : "");
  int st = *out ? 0 : err ? err->status : -1;
  berth_error_release(&err);
  return st;
}

static void test_basics(void) {
  ctr_registry_t *reg = open_reg();
  tap_ok(reg != NULL, "a new registry opens in an empty DATA_ROOT/api");
  if (reg == NULL)
    return;
  berth_error_t err = NULL;
  api_ctr_t *a = make("ab12", "alpha", 100), *b = make("ab34", "beta", 200), *c = make("cd", "gamma", 300);
  tap_ok(ctr_insert(reg, a, &err) == 0 && ctr_insert(reg, b, &err) == 0 && ctr_insert(reg, c, &err) == 0,
         "three records inserted");
  api_ctr_t *dup = make("ef", "alpha", 400);
  int r = ctr_insert(reg, dup, &err);
  char want[512];
  snprintf(want, sizeof want,
           "Conflict. The container name \"/alpha\" is already in use by container \"%s\". You have to remove (or "
           "rename) that container to be able to reuse that name.", a->id);
  tap_ok(r < 0 && err && err->status == EEXIST && strcmp(err->msg, want) == 0, "a taken name: EEXIST with Docker's "
         "message (%s)", err ? err->msg : "");
  berth_error_release(&err);
  ctr_free(dup);

  char msg[256];
  api_ctr_t *got;
  tap_ok(lookup_status(reg, a->id, msg, sizeof msg, &got) == 0 && got == a, "lookup by full id");
  tap_ok(lookup_status(reg, "alpha", msg, sizeof msg, &got) == 0 && got == a, "lookup by name");
  tap_ok(lookup_status(reg, "/beta", msg, sizeof msg, &got) == 0 && got == b, "lookup by /name");
  tap_ok(lookup_status(reg, "cdc", msg, sizeof msg, &got) == 0 && got == c, "lookup by unique id prefix");
  tap_ok(lookup_status(reg, "ab", msg, sizeof msg, &got) == EINVAL &&
         strcmp(msg, "Multiple IDs found with provided prefix: ab") == 0, "an ambiguous prefix: %s", msg);
  tap_ok(lookup_status(reg, "nosuch", msg, sizeof msg, &got) == ENOENT && strcmp(msg, "No such container: nosuch") == 0,
         "a missing container: %s", msg);
  tap_ok(lookup_status(reg, "", msg, sizeof msg, &got) == ENOENT, "the empty string names nothing");
  size_t n;
  api_ctr_t **all = ctr_all(reg, &n);
  tap_ok(n == 3 && all[0] == a && all[2] == c, "ctr_all: creation order");

  /* reservations */
  tap_ok(ctr_reserve_name(reg, "delta", "f00d", &err) == 0, "a name reserved");
  tap_ok(ctr_name_in_use(reg, "delta") && ctr_name_in_use(reg, "alpha") && !ctr_name_in_use(reg, "omega"),
         "ctr_name_in_use sees records and reservations");
  api_ctr_t *other = make("99", "delta", 500);
  tap_ok(ctr_insert(reg, other, &err) < 0 && err && err->status == EEXIST && strstr(err->msg, "\"f00d\""),
         "another id cannot take a reserved name");
  berth_error_release(&err);
  tap_ok(ctr_rename(reg, b, "delta", &err) < 0 && err && err->status == EEXIST, "nor rename to it");
  berth_error_release(&err);
  ctr_release_name(reg, "delta");
  tap_ok(ctr_insert(reg, other, &err) == 0, "released, the name can be used");

  /* rename */
  tap_ok(ctr_rename(reg, b, "a", &err) < 0 && err && err->status == EINVAL && strstr(err->msg, "Invalid container name"),
         "rename to a one-character name: EINVAL");
  berth_error_release(&err);
  tap_ok(ctr_rename(reg, b, "/beta2", &err) == 0 && strcmp(b->name, "beta2") == 0, "rename to /beta2");
  tap_ok(lookup_status(reg, "beta", msg, sizeof msg, &got) == ENOENT, "the old name is free");

  /* state */
  c->status = CTR_EXITED;
  c->pid = 4242;
  c->exit_code = 137;
  c->oom_killed = true;
  c->started_ns = 1700000000123456789LL;
  c->finished_ns = 1700000001000000000LL;
  c->restart_count = 2;
  snprintf(c->error, sizeof c->error, "exec: \"x\": executable file not found in $PATH");
  tap_ok(ctr_save(reg, c, &err) == 0, "state saved");
  tap_ok(ctr_remove(reg, a, &err) == 0, "a record removed");
  ctr_registry_free(reg);

  reg = open_reg();
  all = reg ? ctr_all(reg, &n) : NULL;
  tap_ok(reg && n == 3, "reopened: 3 records (one removed)");
  if (reg == NULL || n != 3)
    return;
  api_ctr_t *rc = all[1];
  tap_ok(strcmp(all[0]->name, "beta2") == 0 && strcmp(rc->name, "gamma") == 0 && strcmp(all[2]->name, "delta") == 0,
         "order and names kept (rename persisted)");
  tap_ok(rc->status == CTR_EXITED && rc->pid == 4242 && rc->exit_code == 137 && rc->oom_killed &&
         rc->started_ns == 1700000000123456789LL && rc->finished_ns == 1700000001000000000LL && rc->restart_count == 2 &&
         strstr(rc->error, "executable file not found") && rc->uid_base == 1879048192u + 65536u &&
         rc->image_size == 4321 && rc->created_ns == 300 && rc->owner_uid == 1000,
         "every state field survives the reopen");
  tap_ok(strcmp(json_object_get_string(json_object_object_get(json_object_object_get(rc->config, "Labels"), "a")),
                "b") == 0 && json_object_array_length(rc->chain_ids) == 1,
         "config and chain ids survive");
  ctr_registry_free(reg);
}

static void test_damage(void) {
  char path[256];
  snprintf(path, sizeof path, "%s/api/containers.db", root);
  sqlite3 *db = NULL;
  sqlite3_open(path, &db);
  int rc = sqlite3_exec(db,
                        "INSERT INTO containers(id,name,image,image_id,chain_ids,config,host_config,created_ns,"
                        "owner_uid,status,pid,exit_code,oom_killed,started_ns,finished_ns,restart_count,error,"
                        "uid_base,image_size) VALUES('xyz','bad name!','i','i','[]','not json','{}',1,0,0,0,0,0,0,0,"
                        "0,'',0,0)",
                        NULL, NULL, NULL);
  sqlite3_close(db);
  ctr_registry_t *reg = open_reg();
  size_t n = 0;
  if (reg)
    ctr_all(reg, &n);
  tap_ok(rc == SQLITE_OK && reg && n == 3, "a damaged row is skipped, the rest loads");
  ctr_registry_free(reg);

  sqlite3_open(path, &db);
  sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL);
  sqlite3_close(db);
  berth_error_t err = NULL;
  reg = NULL;
  int r = ctr_registry_open(root, &reg, &err);
  tap_ok(r < 0 && reg == NULL && err && strstr(err->msg, "schema version 99"), "a newer schema is refused: %s",
         err ? err->msg : "");
  berth_error_release(&err);
  sqlite3_open(path, &db);
  sqlite3_exec(db, "PRAGMA user_version=1", NULL, NULL, NULL);
  sqlite3_close(db);
}

/* The registry's whole life in a child under berth-apid's filter. */
static void test_sandboxed(void) {
  pid_t pid = fork();
  if (pid == 0) {
    berth_error_t err = NULL;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || berth_sandbox_apply(BERTH__IPC__PEER__PEER_API, &err) < 0)
      _exit(10);
    ctr_registry_t *reg = NULL;
    if (ctr_registry_open(root, &reg, &err) < 0) {
      fprintf(stderr, "# sandboxed open: %s\n", err->msg);
      _exit(11);
    }
    api_ctr_t *c = make("5a", "sandboxed", 900);
    if (ctr_insert(reg, c, &err) < 0 || ctr_rename(reg, c, "sandboxed2", &err) < 0 || ctr_save(reg, c, &err) < 0 ||
        ctr_remove(reg, c, &err) < 0) {
      fprintf(stderr, "# sandboxed change: %s\n", err->msg);
      _exit(12);
    }
    ctr_registry_free(reg);
    _exit(0);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  tap_ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "open, insert, rename, save, remove, close under apid's seccomp filter "
         "(status %d)", st);
}

static void test_names(void) {
  const char *good[] = {"ab", "a1", "/web-1", "x.y_z", "Z9"};
  const char *bad[] = {"a", "", "/", "-ab", "_ab", ".ab", "a b", "a/b", "ab!", NULL};
  bool ok = true;
  for (size_t i = 0; i < 5; i++)
    ok = ok && ctr_valid_name(good[i]);
  for (size_t i = 0; bad[i]; i++)
    ok = ok && !ctr_valid_name(bad[i]);
  char long_name[140];
  memset(long_name, 'a', 129);
  long_name[129] = '\0';
  tap_ok(ok && !ctr_valid_name(long_name) && !ctr_valid_name(NULL), "Docker's name rule (2+ chars, first alnum)");
  ctr_registry_t *reg = open_reg();
  regex_t re;
  regcomp(&re, "^[a-z]+_[a-z]+[0-9]*$", REG_EXTENDED | REG_NOSUB);
  bool all_ok = reg != NULL;
  for (int i = 0; reg && i < 50; i++) {
    char n[129];
    all_ok = all_ok && ctr_generate_name(reg, n) == 0 && regexec(&re, n, 0, NULL, 0) == 0 && ctr_valid_name(n) &&
             !ctr_name_in_use(reg, n);
  }
  regfree(&re);
  tap_ok(all_ok, "generated names: adjective_surname, valid, free");
  ctr_registry_free(reg);
}

static void test_texts(void) {
  char t[40];
  ctr_time_text(0, t);
  tap_ok(strcmp(t, "0001-01-01T00:00:00Z") == 0, "zero time as dockerd: %s", t);
  ctr_time_text(1700000000123400000LL, t);
  tap_ok(strcmp(t, "2023-11-14T22:13:20.1234Z") == 0, "RFC 3339 nanos, trailing zeros dropped: %s", t);
  ctr_time_text(1700000000000000000LL, t);
  tap_ok(strcmp(t, "2023-11-14T22:13:20Z") == 0, "whole seconds: %s", t);
  api_ctr_t c = {.status = CTR_CREATED};
  char s[128];
  int64_t now = 1700000000000000000LL;
  ctr_status_text(&c, now, s, sizeof s);
  bool ok = strcmp(s, "Created") == 0;
  c.status = CTR_RUNNING;
  c.started_ns = now - 3000000000LL;
  ctr_status_text(&c, now, s, sizeof s);
  ok = ok && strcmp(s, "Up 3 seconds") == 0;
  c.started_ns = now - 500000000LL;
  ctr_status_text(&c, now, s, sizeof s);
  ok = ok && strcmp(s, "Up Less than a second") == 0;
  c.status = CTR_EXITED;
  c.exit_code = 3;
  c.finished_ns = now - 90LL * 1000000000LL;
  ctr_status_text(&c, now, s, sizeof s);
  ok = ok && strcmp(s, "Exited (3) About a minute ago") == 0;
  c.finished_ns = now - 3LL * 3600 * 1000000000LL;
  ctr_status_text(&c, now, s, sizeof s);
  ok = ok && strcmp(s, "Exited (3) 3 hours ago") == 0;
  c.finished_ns = now - 10LL * 24 * 3600 * 1000000000LL;
  ctr_status_text(&c, now, s, sizeof s);
  ok = ok && strcmp(s, "Exited (3) 10 days ago") == 0;
  tap_ok(ok, "status texts as docker ps (last: %s)", s);
  tap_ok(!strcmp(ctr_status_name(CTR_CREATED), "created") && !strcmp(ctr_status_name(CTR_RUNNING), "running") &&
         !strcmp(ctr_status_name(CTR_EXITED), "exited") && !strcmp(ctr_status_name(CTR_REMOVING), "removing"),
         "State.Status names");
}

/* ---- list selection and rendering (ctr_list.c, ctr_inspect.c) ---- */

static char sel_text[512];
static char sel_msg[256];

/* Selected names, space-separated, into sel_text; returns the errno (0 ok). */
static int sel(ctr_registry_t *reg, bool all, long limit, const char *filters, struct json_object *ancestors) {
  ctr_list_opts_t o = {.all = all, .limit = limit, .ancestors = ancestors};
  berth_error_t err = NULL;
  sel_text[0] = sel_msg[0] = '\0';
  if (ctr_filters_parse(filters, &o.filters, &err) < 0) {
    snprintf(sel_msg, sizeof sel_msg, "%s", err->msg);
    int st = err->status;
    berth_error_release(&err);
    return st;
  }
  api_ctr_t **v = NULL;
  size_t n = 0;
  int st = 0;
  if (ctr_list_select(reg, &o, &v, &n, &err) < 0) {
    snprintf(sel_msg, sizeof sel_msg, "%s", err->msg);
    st = err->status;
    berth_error_release(&err);
  }
  for (size_t i = 0; i < n; i++) {
    size_t used = strlen(sel_text);
    snprintf(sel_text + used, sizeof sel_text - used, "%s%s", i ? " " : "", v[i]->name);
  }
  free(v);
  json_object_put(o.filters);
  return st;
}

static void test_list(void) {
  char dir[300];
  snprintf(dir, sizeof dir, "%s/api/containers.db", root);
  unlink(dir);
  ctr_registry_t *reg = open_reg();
  if (reg == NULL)
    return;
  berth_error_t err = NULL;
  api_ctr_t *a = make("a1", "aa", 1000), *b = make("b2", "bb", 2000), *c = make("c3", "cc", 3000),
            *d = make("d4", "dd", 4000);
  json_object_object_add(b->config, "Labels", json_tokener_parse("{\"team\":\"blue\",\"tier\":\"web\"}"));
  json_object_object_add(a->host_config, "NetworkMode", json_object_new_string("none"));
  b->status = CTR_RUNNING;
  b->started_ns = 2500;
  c->status = CTR_EXITED;
  c->exit_code = 3;
  c->started_ns = 3100;
  c->finished_ns = 3200;
  d->status = CTR_EXITED;
  d->started_ns = 4100;
  d->finished_ns = 4200;
  snprintf(d->image_id, sizeof d->image_id, "sha256:%064d", 9);
  ctr_insert(reg, a, &err);
  ctr_insert(reg, b, &err);
  ctr_insert(reg, c, &err);
  ctr_insert(reg, d, &err);
  tap_ok(sel(reg, false, 0, NULL, NULL) == 0 && !strcmp(sel_text, "bb"), "no all: only running (%s)", sel_text);
  tap_ok(sel(reg, true, 0, "", NULL) == 0 && !strcmp(sel_text, "dd cc bb aa"), "all: newest first (%s)", sel_text);
  tap_ok(sel(reg, false, 2, NULL, NULL) == 0 && !strcmp(sel_text, "dd cc"), "limit 2 (implies all): %s", sel_text);
  sel(reg, false, 0, "{\"status\":{\"exited\":true}}", NULL);
  tap_ok(!strcmp(sel_text, "dd cc"), "status=exited (implies all): %s", sel_text);
  sel(reg, true, 0, "{\"exited\":{\"3\":true}}", NULL);
  tap_ok(!strcmp(sel_text, "cc"), "exited=3: %s", sel_text);
  sel(reg, true, 0, "{\"exited\":{\"0\":true}}", NULL);
  tap_ok(!strcmp(sel_text, "dd"), "exited=0 (never-started aa excluded): %s", sel_text);
  sel(reg, true, 0, "{\"label\":{\"team=blue\":true,\"tier\":true}}", NULL);
  tap_ok(!strcmp(sel_text, "bb"), "label key=value and key: %s", sel_text);
  sel(reg, true, 0, "{\"label\":{\"team=red\":true}}", NULL);
  tap_ok(!strcmp(sel_text, ""), "label with another value: nothing");
  sel(reg, true, 0, "{\"name\":{\"^/?[ab]\":true}}", NULL);
  tap_ok(!strcmp(sel_text, "bb aa"), "name as a regular expression: %s", sel_text);
  sel(reg, true, 0, "{\"id\":[\"c3c3\"]}", NULL);
  tap_ok(!strcmp(sel_text, "cc"), "id prefix, legacy list form: %s", sel_text);
  sel(reg, true, 0, "{\"before\":{\"cc\":true}}", NULL);
  tap_ok(!strcmp(sel_text, "bb aa"), "before=cc: %s", sel_text);
  sel(reg, true, 0, "{\"since\":{\"bb\":true}}", NULL);
  tap_ok(!strcmp(sel_text, "dd cc"), "since=bb: %s", sel_text);
  sel(reg, true, 0, "{\"network\":{\"none\":true}}", NULL);
  tap_ok(!strcmp(sel_text, "aa"), "network=none: %s", sel_text);
  sel(reg, true, 0, "{\"health\":{\"none\":true}}", NULL);
  tap_ok(!strcmp(sel_text, "dd cc bb aa"), "health=none: every container (no healthchecks)");
  struct json_object *anc = json_tokener_parse("[\"sha256:0000000000000000000000000000000000000000000000000000000000000009\"]");
  sel(reg, true, 0, "{\"ancestor\":{\"x\":true}}", anc);
  tap_ok(!strcmp(sel_text, "dd"), "ancestor: the resolved image ids: %s", sel_text);
  json_object_put(anc);
  anc = json_object_new_array();
  sel(reg, true, 0, "{\"ancestor\":{\"nosuch\":true}}", anc);
  tap_ok(!strcmp(sel_text, ""), "ancestor that resolved to nothing: no match");
  json_object_put(anc);
  tap_ok(sel(reg, true, 0, "{\"bogus\":{\"1\":true}}", NULL) == EINVAL && !strcmp(sel_msg, "invalid filter 'bogus'"),
         "unknown filter: %s", sel_msg);
  tap_ok(sel(reg, true, 0, "{\"status\":{\"sleepy\":true}}", NULL) == EINVAL &&
         strstr(sel_msg, "invalid filter 'status=sleepy'"), "bad status: %s", sel_msg);
  tap_ok(sel(reg, true, 0, "{\"exited\":{\"x\":true}}", NULL) == EINVAL && strstr(sel_msg, "invalid filter 'exited=x'"),
         "bad exit code: %s", sel_msg);
  tap_ok(sel(reg, true, 0, "{\"before\":{\"nosuch\":true}}", NULL) == ENOENT && strstr(sel_msg, "No such container"),
         "before an unknown container: %s", sel_msg);
  tap_ok(sel(reg, true, 0, "[1]", NULL) == EINVAL && !strcmp(sel_msg, "invalid filter") &&
         sel(reg, true, 0, "{\"status\":\"running\"}", NULL) == EINVAL && sel(reg, true, 0, "nope", NULL) == EINVAL,
         "filters neither map nor list form: invalid filter");

  struct json_object *s = ctr_render_summary(c, 3200 + 5000000000LL, -1);
  const char *t = json_object_to_json_string_ext(s, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  tap_ok(strstr(t, "\"Names\":[\"/cc\"]") && strstr(t, "\"Command\":\"sh\"") &&
         strstr(t, "\"State\":\"exited\",\"Status\":\"Exited (3) 5 seconds ago\"") && !strstr(t, "SizeRw") &&
         strstr(t, "\"HostConfig\":{\"NetworkMode\":\"default\"}") && strstr(t, "\"Networks\":{\"bridge\":"),
         "summary in Docker's shape");
  json_object_put(s);
  s = ctr_render_summary(c, 0, 100);
  tap_ok(json_object_get_int64(json_object_object_get(s, "SizeRootFs")) == 4421, "SizeRootFs = SizeRw + image size");
  json_object_put(s);
  s = ctr_render_inspect(b, "/var/lib/berth");
  t = json_object_to_json_string_ext(s, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  tap_ok(strstr(t, "\"Name\":\"/bb\"") && strstr(t, "\"Path\":\"sh\",\"Args\":[]") &&
         strstr(t, "\"Running\":true") && strstr(t, "\"Status\":\"running\"") &&
         strstr(t, "\"StartedAt\":\"1970-01-01T00:00:00.0000025Z\"") &&
         strstr(t, "\"FinishedAt\":\"0001-01-01T00:00:00Z\"") && strstr(t, "\"LogPath\":\"/var/lib/berth/containers/") &&
         strstr(t, "\"Labels\":{\"team\":\"blue\"") && strstr(t, "\"ExecIDs\":null"),
         "inspect in Docker's shape");
  json_object_put(s);
  ctr_registry_free(reg);
}

int main(void) {
  if (mkdtemp(root) == NULL)
    return tap_skip_all("mkdtemp failed");
  char api[300];
  snprintf(api, sizeof api, "%s/api", root);
  mkdir(api, 0700);
  test_basics();
  test_damage();
  test_sandboxed();
  test_names();
  test_texts();
  test_list();
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf %s", root);
  if (system(cmd) != 0)
    tap_diag("could not remove %s", root);
  return tap_done();
}
