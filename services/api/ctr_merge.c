/* The image's Config merged into a create request's, as dockerd's
 * daemon.merge: the request wins, Env and Labels combine, an Entrypoint in
 * the request drops the image's Cmd. Plus the defaults dockerd fills in at
 * create (Hostname) and the command check. Pure code. */
#include <errno.h>
#include <string.h>
#include "ctr_internal.h"
#include "ctr_json.h"

const char *ctr_network_name(const char *mode) {
  if (mode == NULL || mode[0] == '\0' || strcmp(mode, "default") == 0)
    return "bridge";
  return mode;
}

/* An array of strings from the image's config, tolerating junk (ignored). */
static struct json_object *strings_of(struct json_object *img, const char *key) {
  struct json_object *v = ctrj_get(img, key);
  if (v && json_object_is_type(v, json_type_string)) {
    struct json_object *a = json_object_new_array();
    json_object_array_add(a, json_object_get(v));
    return a;
  }
  if (v == NULL || !json_object_is_type(v, json_type_array))
    return NULL;
  struct json_object *a = json_object_new_array();
  for (size_t i = 0; i < json_object_array_length(v); i++) {
    struct json_object *e = json_object_array_get_idx(v, i);
    if (e && json_object_is_type(e, json_type_string) &&
        strlen(json_object_get_string(e)) == (size_t)json_object_get_string_len(e))
      json_object_array_add(a, json_object_get(e));
  }
  return a;
}

static size_t key_len(const char *env) {
  const char *eq = strchr(env, '=');
  return eq ? (size_t)(eq - env) : strlen(env);
}

static void merge_env(struct json_object *cfg, struct json_object *img) {
  struct json_object *user = ctrj_get(cfg, "Env");
  struct json_object *image = strings_of(img, "Env");
  if (ctrj_len(user) == 0) {
    json_object_object_add(cfg, "Env", image);
    return;
  }
  for (size_t i = 0; i < ctrj_len(image); i++) {
    const char *ie = ctrj_idx_str(image, i);
    size_t kl = key_len(ie);
    bool found = false;
    for (size_t j = 0; j < ctrj_len(user) && !found; j++) {
      const char *ue = ctrj_idx_str(user, j);
      found = key_len(ue) == kl && strncmp(ue, ie, kl) == 0;
    }
    if (!found)
      json_object_array_add(user, json_object_new_string(ie));
  }
  json_object_put(image);
}

/* Object members of the image's key that the request lacks (Labels, ExposedPorts, Volumes). */
static void merge_map(struct json_object *cfg, struct json_object *img, const char *key, bool strings_only,
                      bool keep_empty) {
  struct json_object *im = ctrj_get(img, key);
  struct json_object *um = ctrj_get(cfg, key);
  if (im == NULL || !json_object_is_type(im, json_type_object)) {
    if (um == NULL && keep_empty)
      json_object_object_add(cfg, key, json_object_new_object());
    return;
  }
  if (um == NULL) {
    um = json_object_new_object();
    json_object_object_add(cfg, key, um);
  }
  json_object_object_foreach(im, k, v) {
    if (strings_only && (v == NULL || !json_object_is_type(v, json_type_string)))
      continue;
    if (!json_object_object_get_ex(um, k, NULL))
      json_object_object_add(um, k, strings_only ? json_object_get(v) : json_object_new_object());
  }
}

static void take_string(struct json_object *cfg, struct json_object *img, const char *key) {
  const char *v = ctrj_str_or(img, key, "");
  if (ctrj_str_or(cfg, key, "")[0] == '\0' && v[0] && strlen(v) < 4096 && !strchr(v, '\n'))
    json_object_object_add(cfg, key, json_object_new_string(v));
}

struct json_object *ctr_argv(struct json_object *cfg) {
  struct json_object *ep = ctrj_get(cfg, "Entrypoint"), *cmd = ctrj_get(cfg, "Cmd");
  struct json_object *argv = json_object_new_array();
  /* `--entrypoint ""` sends [""]: a reset, not a program named "". */
  bool reset = ctrj_len(ep) == 1 && ctrj_idx_str(ep, 0)[0] == '\0';
  for (size_t i = 0; !reset && i < ctrj_len(ep); i++)
    json_object_array_add(argv, json_object_new_string(ctrj_idx_str(ep, i)));
  for (size_t i = 0; i < ctrj_len(cmd); i++)
    json_object_array_add(argv, json_object_new_string(ctrj_idx_str(cmd, i)));
  return argv;
}

int ctr_create_merge(ctr_create_req_t *req, struct json_object *img, const char *id, const ctr_host_t *host,
                     berth_error_t *err) {
  struct json_object *cfg = req->config;
  if (img && !json_object_is_type(img, json_type_object))
    img = NULL;
  take_string(cfg, img, "User");
  take_string(cfg, img, "WorkingDir");
  take_string(cfg, img, "StopSignal");
  const char *wd = ctrj_str_or(cfg, "WorkingDir", "");
  if (wd[0] && wd[0] != '/') /* an image's relative WORKDIR: dockerd refuses it at start */
    return berth_error_make(err, EINVAL, "the working directory '%s' is invalid, it needs to be an absolute path", wd);
  const char *sig = ctrj_str_or(cfg, "StopSignal", "");
  if (sig[0] && ctr_parse_signal(sig) < 0)
    json_object_object_add(cfg, "StopSignal", json_object_new_string("SIGTERM"));
  merge_env(cfg, img);
  merge_map(cfg, img, "Labels", true, true);
  merge_map(cfg, img, "ExposedPorts", false, false);
  merge_map(cfg, img, "Volumes", false, false);
  struct json_object *ep = ctrj_get(cfg, "Entrypoint");
  if (ctrj_len(ep) == 0) {
    if (ctrj_len(ctrj_get(cfg, "Cmd")) == 0)
      json_object_object_add(cfg, "Cmd", strings_of(img, "Cmd"));
    if (ep == NULL)
      json_object_object_add(cfg, "Entrypoint", strings_of(img, "Entrypoint"));
  }
  if (ctrj_get(cfg, "Volumes") && json_object_object_length(ctrj_get(cfg, "Volumes")) > 0)
    ctr_warn(req, "the image declares volumes; berth does not create volumes yet: its paths stay in the "
                  "container's own filesystem");
  if (ctrj_str_or(cfg, "Hostname", "")[0] == '\0') {
    bool host_net = strcmp(ctrj_str_or(req->host_config, "NetworkMode", ""), "host") == 0;
    char h[65];
    snprintf(h, sizeof h, "%.*s", host_net ? 64 : 12, host_net ? host->hostname : id);
    json_object_object_add(cfg, "Hostname", json_object_new_string(h));
  }
  struct json_object *argv = ctr_argv(cfg);
  size_t n = ctrj_len(argv);
  bool empty0 = n > 0 && ctrj_idx_str(argv, 0)[0] == '\0';
  json_object_put(argv);
  if (n == 0 || empty0)
    return berth_error_make(err, EINVAL, "No command specified");
  return 0;
}
