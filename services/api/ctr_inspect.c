/* GET /containers/{name}/json, and the renderers inspect and list share:
 * Docker's ContainerInspectResponse / ContainerSummary shapes from a record. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "app.h"
#include "ctr_rt.h" /* ctr_from_request */
#include "ctr_json.h"

static void add_str(struct json_object *o, const char *k, const char *v) {
  json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}
static void add_int(struct json_object *o, const char *k, int64_t v) {
  json_object_object_add(o, k, json_object_new_int64(v));
}
static void add_bool(struct json_object *o, const char *k, bool v) {
  json_object_object_add(o, k, json_object_new_boolean(v));
}

/* EndpointSettings with nothing set (loopback-only networks have no address). */
static struct json_object *endpoint(void) {
  struct json_object *e = json_object_new_object();
  json_object_object_add(e, "IPAMConfig", NULL);
  json_object_object_add(e, "Links", NULL);
  json_object_object_add(e, "Aliases", NULL);
  static const char *const strs[] = {"NetworkID", "EndpointID", "Gateway", "IPAddress"};
  for (size_t i = 0; i < 4; i++)
    add_str(e, strs[i], "");
  add_int(e, "IPPrefixLen", 0);
  add_str(e, "IPv6Gateway", "");
  add_str(e, "GlobalIPv6Address", "");
  add_int(e, "GlobalIPv6PrefixLen", 0);
  add_str(e, "MacAddress", "");
  json_object_object_add(e, "DriverOpts", NULL);
  return e;
}

static struct json_object *networks(const api_ctr_t *c) {
  struct json_object *n = json_object_new_object();
  json_object_object_add(n, ctr_network_name(ctrj_str_or(c->host_config, "NetworkMode", "")), endpoint());
  return n;
}

static struct json_object *network_settings(const api_ctr_t *c) {
  struct json_object *s = json_object_new_object();
  add_str(s, "Bridge", "");
  add_str(s, "SandboxID", "");
  add_bool(s, "HairpinMode", false);
  add_str(s, "LinkLocalIPv6Address", "");
  add_int(s, "LinkLocalIPv6PrefixLen", 0);
  json_object_object_add(s, "Ports", json_object_new_object());
  add_str(s, "SandboxKey", "");
  json_object_object_add(s, "SecondaryIPAddresses", NULL);
  json_object_object_add(s, "SecondaryIPv6Addresses", NULL);
  static const char *const strs[] = {"EndpointID", "Gateway", "GlobalIPv6Address"};
  for (size_t i = 0; i < 3; i++)
    add_str(s, strs[i], "");
  add_int(s, "GlobalIPv6PrefixLen", 0);
  add_str(s, "IPAddress", "");
  add_int(s, "IPPrefixLen", 0);
  add_str(s, "IPv6Gateway", "");
  add_str(s, "MacAddress", "");
  json_object_object_add(s, "Networks", networks(c));
  return s;
}

static struct json_object *state(const api_ctr_t *c) {
  struct json_object *s = json_object_new_object();
  char t[40];
  /* waiting for a policy restart: dockerd's SetRestarting (Running too, no pid) */
  bool restarting = c->restart_pending && c->status != CTR_RUNNING;
  bool running = c->status == CTR_RUNNING;
  add_str(s, "Status", restarting ? "restarting" : ctr_status_name(c->status));
  add_bool(s, "Running", running || restarting);
  add_bool(s, "Paused", false);
  add_bool(s, "Restarting", restarting);
  add_bool(s, "OOMKilled", c->oom_killed);
  add_bool(s, "Dead", false);
  add_int(s, "Pid", running ? c->pid : 0);
  add_int(s, "ExitCode", c->exit_code);
  add_str(s, "Error", c->error);
  ctr_time_text(c->started_ns, t);
  add_str(s, "StartedAt", t);
  ctr_time_text(c->finished_ns, t);
  add_str(s, "FinishedAt", t);
  return s;
}

static void add_path(struct json_object *o, const char *k, const char *root, const char *id, const char *rel) {
  char p[4200];
  snprintf(p, sizeof p, "%s/containers/%s/%s", root, id, rel);
  add_str(o, k, p);
}

struct json_object *ctr_render_inspect(const api_ctr_t *c, const char *root) {
  struct json_object *o = json_object_new_object();
  char t[40];
  add_str(o, "Id", c->id);
  ctr_time_text(c->created_ns, t);
  add_str(o, "Created", t);
  struct json_object *argv = ctr_argv(c->config);
  add_str(o, "Path", ctrj_idx_str(argv, 0));
  struct json_object *args = json_object_new_array();
  for (size_t i = 1; i < ctrj_len(argv); i++)
    json_object_array_add(args, json_object_new_string(ctrj_idx_str(argv, i)));
  json_object_put(argv);
  json_object_object_add(o, "Args", args);
  json_object_object_add(o, "State", state(c));
  add_str(o, "Image", c->image_id);
  add_path(o, "ResolvConfPath", root, c->id, "etc/resolv.conf");
  add_path(o, "HostnamePath", root, c->id, "etc/hostname");
  add_path(o, "HostsPath", root, c->id, "etc/hosts");
  add_path(o, "LogPath", root, c->id, "mon/log.json");
  char name[131];
  snprintf(name, sizeof name, "/%s", c->name);
  add_str(o, "Name", name);
  add_int(o, "RestartCount", c->restart_count);
  add_str(o, "Driver", "overlay2");
  add_str(o, "Platform", "linux");
  add_str(o, "MountLabel", "");
  add_str(o, "ProcessLabel", "");
  add_str(o, "AppArmorProfile", "");
  json_object_object_add(o, "ExecIDs", NULL);
  json_object_object_add(o, "HostConfig", json_object_get(c->host_config));
  struct json_object *gd = json_object_new_object(), *data = json_object_new_object();
  add_path(data, "MergedDir", root, c->id, "rootfs");
  add_path(data, "UpperDir", root, c->id, "upper");
  add_path(data, "WorkDir", root, c->id, "work");
  json_object_object_add(gd, "Data", data);
  add_str(gd, "Name", "overlay2");
  json_object_object_add(o, "GraphDriver", gd);
  json_object_object_add(o, "Mounts", json_object_new_array());
  json_object_object_add(o, "Config", json_object_get(c->config));
  json_object_object_add(o, "NetworkSettings", network_settings(c));
  return o;
}

struct json_object *ctr_render_summary(const api_ctr_t *c, int64_t now_ns, int64_t size_rw) {
  struct json_object *o = json_object_new_object();
  char name[131], status[128];
  add_str(o, "Id", c->id);
  struct json_object *names = json_object_new_array();
  snprintf(name, sizeof name, "/%s", c->name);
  json_object_array_add(names, json_object_new_string(name));
  json_object_object_add(o, "Names", names);
  add_str(o, "Image", c->image);
  add_str(o, "ImageID", c->image_id);
  /* dockerd: Path, then the arguments joined by spaces. */
  struct json_object *argv = ctr_argv(c->config);
  size_t total = 1;
  for (size_t i = 0; i < ctrj_len(argv); i++)
    total += strlen(ctrj_idx_str(argv, i)) + 1;
  char *cmd = calloc(1, total);
  for (size_t i = 0; cmd && i < ctrj_len(argv); i++) {
    if (i)
      strcat(cmd, " ");
    strcat(cmd, ctrj_idx_str(argv, i));
  }
  json_object_put(argv);
  add_str(o, "Command", cmd);
  free(cmd);
  add_int(o, "Created", c->created_ns / 1000000000);
  json_object_object_add(o, "Ports", json_object_new_array());
  if (size_rw >= 0) {
    add_int(o, "SizeRw", size_rw);
    add_int(o, "SizeRootFs", size_rw + c->image_size);
  }
  struct json_object *labels = ctrj_get(c->config, "Labels");
  json_object_object_add(o, "Labels", labels ? json_object_get(labels) : json_object_new_object());
  bool restarting = c->restart_pending && c->status != CTR_RUNNING;
  add_str(o, "State", restarting ? "restarting" : ctr_status_name(c->status));
  ctr_status_text(c, now_ns, status, sizeof status);
  if (restarting && strncmp(status, "Exited ", 7) == 0) {
    /* dockerd: "Restarting (CODE) 2 seconds ago", the exit's text with another word */
    char rest[sizeof status - 7];
    memcpy(rest, status + 7, sizeof rest);
    snprintf(status, sizeof status, "Restarting %.*s", (int)(sizeof status - 12), rest);
  }
  add_str(o, "Status", status);
  struct json_object *hc = json_object_new_object();
  add_str(hc, "NetworkMode", ctrj_str_or(c->host_config, "NetworkMode", "default"));
  json_object_object_add(o, "HostConfig", hc);
  struct json_object *ns = json_object_new_object();
  json_object_object_add(ns, "Networks", networks(c));
  json_object_object_add(o, "NetworkSettings", ns);
  json_object_object_add(o, "Mounts", json_object_new_array());
  return o;
}

typedef struct {
  api_request_t *r;
  char id[65];
} inspect_size_t;

/* ?size=1: SizeRw from the executor (a walk of the upper directory). */
static void on_size(api_app_t *app, const char *id, int e, const char *msg, const Berth__Ipc__ContainerStateReply *st,
                    void *ud) {
  inspect_size_t *q = ud;
  berth_error_t err = NULL;
  api_ctr_t *c = app->ctrs ? ctr_lookup(app->ctrs, q->id, &err) : NULL;
  berth_error_release(&err);
  if (!api_request_pending(q->r)) {
  } else if (c == NULL) {
    api_reply_error(q->r, 404, "No such container: %s", q->id);
  } else {
    struct json_object *o = ctr_render_inspect(c, app->svc ? berth_service_data_root(app->svc) : "/var/lib/berth");
    int64_t rw = e == 0 && st ? st->size_rw : 0;
    json_object_object_add(o, "SizeRw", json_object_new_int64(rw));
    json_object_object_add(o, "SizeRootFs", json_object_new_int64(rw + c->image_size));
    api_reply_json(q->r, 200, o);
  }
  api_request_unref(q->r);
  free(q);
}

void api_handle_ctr_inspect(api_request_t *r) {
  api_ctr_t *c = ctr_from_request(r);
  if (c == NULL)
    return;
  api_app_t *app = api_request_userdata(r);
  const char *root = app->svc ? berth_service_data_root(app->svc) : "/var/lib/berth";
  if (!api_request_query_bool(r, "size", 0)) {
    api_reply_json(r, 200, ctr_render_inspect(c, root));
    return;
  }
  inspect_size_t *q = calloc(1, sizeof *q);
  berth_error_t err = NULL;
  if (q == NULL) {
    api_reply_error(r, 500, "out of memory");
    return;
  }
  q->r = api_request_ref(r);
  memcpy(q->id, c->id, sizeof q->id);
  if (ctr_exec_state(app, c->id, true, on_size, q, &err) < 0) {
    api_reply_error(r, 503, "cannot ask berth-execd for the container's size: %s", err ? err->msg : "it is down");
    berth_error_release(&err);
    api_request_unref(q->r);
    free(q);
    return;
  }
  api_request_suspend(r, API_EXEC_TIMEOUT_USEC * 3, "berth-execd did not report the container's size in time");
}
