/* GET|HEAD /_ping, GET /version, GET /info: what the docker CLI negotiates
 * with and prints. Field names and types follow moby's api/swagger.yaml for
 * API 1.41 (types.Version, types.Info). */
#include <string.h>
#include <time.h>
#include "app.h"
#include "berth.h"
#include "build-info.h"

#define ENGINE_PLATFORM "berth"

#if defined(__clang__)
#define COMPILER_VERSION "clang " __clang_version__
#elif defined(__GNUC__)
#define COMPILER_VERSION "gcc " __VERSION__
#else
#define COMPILER_VERSION "n/a"
#endif

void api_handle_ping(api_request_t *r) {
  static const char *const headers[] = {
      "Cache-Control", "no-cache, no-store, must-revalidate",
      "Pragma", "no-cache",
      NULL,
  };
  /* HEAD carries Content-Length: 0 like dockerd's; GET the body "OK". */
  int head = api_request_is_head(r);
  api_reply(r, 200, "text/plain; charset=utf-8", head ? "" : "OK", head ? 0 : 2, headers);
}

/* json-c helpers that tolerate allocation failure of the value. */
static void add_str(struct json_object *o, const char *k, const char *v) {
  json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}
static void add_bool(struct json_object *o, const char *k, int v) {
  json_object_object_add(o, k, json_object_new_boolean(v != 0));
}
static void add_int(struct json_object *o, const char *k, int64_t v) {
  json_object_object_add(o, k, json_object_new_int64(v));
}
static struct json_object *str_array(const char *const *v) {
  struct json_object *a = json_object_new_array();
  for (size_t i = 0; a && v && v[i]; i++)
    json_object_array_add(a, json_object_new_string(v[i]));
  return a;
}
static struct json_object *pair(const char *a, const char *b) {
  const char *v[] = {a, b, NULL};
  return str_array(v);
}

struct json_object *api_render_version(const api_host_t *h) {
  const char *arch = api_host_docker_arch(h->machine);
  struct json_object *v = json_object_new_object();
  struct json_object *platform = json_object_new_object();
  struct json_object *components = json_object_new_array();
  struct json_object *engine = json_object_new_object();
  struct json_object *details = json_object_new_object();
  if (!v || !platform || !components || !engine || !details) {
    json_object_put(v);
    json_object_put(platform);
    json_object_put(components);
    json_object_put(engine);
    json_object_put(details);
    return NULL;
  }
  add_str(platform, "Name", ENGINE_PLATFORM);
  json_object_object_add(v, "Platform", platform);

  add_str(details, "ApiVersion", API_VERSION_DEFAULT);
  add_str(details, "Arch", arch);
  add_str(details, "BuildTime", BERTH_BUILD_TIME);
  add_str(details, "Experimental", "false");
  add_str(details, "GitCommit", BERTH_GIT_COMMIT);
  add_str(details, "GoVersion", COMPILER_VERSION);
  add_str(details, "KernelVersion", h->kernel_version);
  add_str(details, "MinAPIVersion", API_VERSION_MIN);
  add_str(details, "Os", "linux");
  add_str(engine, "Name", "Engine");
  add_str(engine, "Version", BERTH_VERSION_STRING);
  json_object_object_add(engine, "Details", details);
  json_object_array_add(components, engine);
  json_object_object_add(v, "Components", components);

  add_str(v, "Version", BERTH_VERSION_STRING);
  add_str(v, "ApiVersion", API_VERSION_DEFAULT);
  add_str(v, "MinAPIVersion", API_VERSION_MIN);
  add_str(v, "GitCommit", BERTH_GIT_COMMIT);
  add_str(v, "GoVersion", COMPILER_VERSION);
  add_str(v, "Os", "linux");
  add_str(v, "Arch", arch);
  add_str(v, "KernelVersion", h->kernel_version);
  add_str(v, "BuildTime", BERTH_BUILD_TIME);
  return v;
}

void api_handle_version(api_request_t *r) {
  api_app_t *app = api_request_userdata(r);
  api_reply_json(r, 200, api_render_version(&app->host));
}

static struct json_object *render_plugins(void) {
  static const char *const volume[] = {"local", NULL};
  static const char *const network[] = {"bridge", "host", "null", NULL};
  static const char *const log[] = {"json-file", NULL};
  struct json_object *p = json_object_new_object();
  if (p == NULL)
    return NULL;
  json_object_object_add(p, "Volume", str_array(volume));
  json_object_object_add(p, "Network", str_array(network));
  json_object_object_add(p, "Authorization", NULL);
  json_object_object_add(p, "Log", str_array(log));
  return p;
}

static struct json_object *render_registry(void) {
  static const char *const insecure[] = {"127.0.0.0/8", NULL};
  struct json_object *rc = json_object_new_object();
  struct json_object *index = json_object_new_object();
  struct json_object *hub = json_object_new_object();
  if (!rc || !index || !hub) {
    json_object_put(rc);
    json_object_put(index);
    json_object_put(hub);
    return NULL;
  }
  json_object_object_add(rc, "AllowNondistributableArtifactsCIDRs", json_object_new_array());
  json_object_object_add(rc, "AllowNondistributableArtifactsHostnames", json_object_new_array());
  json_object_object_add(rc, "InsecureRegistryCIDRs", str_array(insecure));
  add_str(hub, "Name", "docker.io");
  json_object_object_add(hub, "Mirrors", json_object_new_array());
  add_bool(hub, "Secure", 1);
  add_bool(hub, "Official", 1);
  json_object_object_add(index, "docker.io", hub);
  json_object_object_add(rc, "IndexConfigs", index);
  json_object_object_add(rc, "Mirrors", json_object_new_array());
  return rc;
}

static struct json_object *render_swarm(void) {
  struct json_object *s = json_object_new_object();
  if (s == NULL)
    return NULL;
  add_str(s, "NodeID", "");
  add_str(s, "NodeAddr", "");
  add_str(s, "LocalNodeState", "inactive");
  add_bool(s, "ControlAvailable", 0);
  add_str(s, "Error", "");
  json_object_object_add(s, "RemoteManagers", NULL);
  return s;
}

static struct json_object *commit(const char *id) {
  struct json_object *c = json_object_new_object();
  if (c) {
    add_str(c, "ID", id);
    add_str(c, "Expected", id);
  }
  return c;
}

/* RFC 3339 with nanoseconds, in UTC (what Go's time.RFC3339Nano prints). */
static void now_rfc3339(char *buf, size_t len) {
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  char base[32];
  strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf, len, "%s.%09ldZ", base, ts.tv_nsec);
}

static void downgrade_info(struct json_object *info);

struct json_object *api_render_info(const api_host_t *h, const api_version_t *version) {
  struct json_object *i = json_object_new_object();
  if (i == NULL)
    return NULL;
  char now[64];
  now_rfc3339(now, sizeof now);

  add_str(i, "ID", h->id);
  /* Containers and images arrive with later issues; none exist yet. */
  add_int(i, "Containers", 0);
  add_int(i, "ContainersRunning", 0);
  add_int(i, "ContainersPaused", 0);
  add_int(i, "ContainersStopped", 0);
  add_int(i, "Images", 0);
  add_str(i, "Driver", "overlayfs");
  struct json_object *ds = json_object_new_array();
  if (ds && h->backing_fs[0])
    json_object_array_add(ds, pair("Backing Filesystem", h->backing_fs));
  json_object_object_add(i, "DriverStatus", ds);
  json_object_object_add(i, "Plugins", render_plugins());
  add_bool(i, "MemoryLimit", h->memory_limit);
  add_bool(i, "SwapLimit", h->swap_limit);
  add_bool(i, "KernelMemory", 0);
  add_bool(i, "KernelMemoryTCP", h->kernel_memory_tcp);
  add_bool(i, "CpuCfsPeriod", h->cpu_cfs_period);
  add_bool(i, "CpuCfsQuota", h->cpu_cfs_quota);
  add_bool(i, "CPUShares", h->cpu_shares);
  add_bool(i, "CPUSet", h->cpuset);
  add_bool(i, "PidsLimit", h->pids_limit);
  add_bool(i, "IPv4Forwarding", h->ipv4_forwarding);
  add_bool(i, "BridgeNfIptables", h->bridge_nf_iptables);
  add_bool(i, "BridgeNfIp6tables", h->bridge_nf_ip6tables);
  add_bool(i, "Debug", h->debug);
  add_int(i, "NFd", api_host_count_fds());
  add_bool(i, "OomKillDisable", h->oom_kill_disable);
  add_int(i, "NGoroutines", 1);   /* berth-apid is single-threaded */
  add_str(i, "SystemTime", now);
  add_str(i, "LoggingDriver", "json-file");
  add_str(i, "CgroupDriver", h->systemd_booted ? "systemd" : "cgroupfs");
  add_str(i, "CgroupVersion", h->cgroup_version == 2 ? "2" : "1");
  add_int(i, "NEventsListener", 0);
  add_str(i, "KernelVersion", h->kernel_version);
  add_str(i, "OperatingSystem", h->os_pretty_name);
  add_str(i, "OSVersion", h->os_version);
  add_str(i, "OSType", "linux");
  add_str(i, "Architecture", h->machine);
  add_str(i, "IndexServerAddress", "https://index.docker.io/v1/");
  json_object_object_add(i, "RegistryConfig", render_registry());
  add_int(i, "NCPU", h->ncpu);
  add_int(i, "MemTotal", h->mem_total);
  json_object_object_add(i, "GenericResources", NULL);
  add_str(i, "DockerRootDir", h->data_root);
  /* The executor starts services with a cleared environment: no proxy. */
  add_str(i, "HttpProxy", "");
  add_str(i, "HttpsProxy", "");
  add_str(i, "NoProxy", "");
  add_str(i, "Name", h->hostname);
  json_object_object_add(i, "Labels", json_object_new_array());
  add_bool(i, "ExperimentalBuild", 0);
  add_str(i, "ServerVersion", BERTH_VERSION_STRING);
  struct json_object *runtimes = json_object_new_object();
  struct json_object *rt = json_object_new_object();
  if (runtimes && rt) {
    add_str(rt, "path", "berth-execd");
    json_object_object_add(runtimes, "berth", rt);
  } else {
    json_object_put(rt);
  }
  json_object_object_add(i, "Runtimes", runtimes);
  add_str(i, "DefaultRuntime", "berth");
  json_object_object_add(i, "Swarm", render_swarm());
  /* Each container has its own monitor: it survives engine restarts. */
  add_bool(i, "LiveRestoreEnabled", 1);
  add_str(i, "Isolation", "");
  add_str(i, "InitBinary", "");
  /* berth runs containers itself: no containerd, runc or docker-init. */
  json_object_object_add(i, "ContainerdCommit", commit("N/A"));
  json_object_object_add(i, "RuncCommit", commit("N/A"));
  json_object_object_add(i, "InitCommit", commit("N/A"));
  static const char *const secopts[] = {
      "name=seccomp,profile=default",
      "name=userns",
      "name=no-new-privileges",
      NULL,
  };
  json_object_object_add(i, "SecurityOptions", str_array(secopts));
  struct json_object *warnings = json_object_new_array();
  if (warnings && !h->memory_limit)
    json_object_array_add(warnings, json_object_new_string("WARNING: No memory limit support"));
  if (warnings && h->memory_limit && !h->swap_limit)
    json_object_array_add(warnings, json_object_new_string("WARNING: No swap limit support"));
  if (warnings && !h->pids_limit)
    json_object_array_add(warnings, json_object_new_string("WARNING: No pids limit support"));
  json_object_object_add(i, "Warnings", warnings);
  const api_version_t v125 = {1, 25, 0};
  if (version && api_version_cmp(version, &v125) < 0)
    downgrade_info(i);
  return i;
}

/* Clients older than API 1.25 expect bare security option names and an
 * ExecutionDriver field (as dockerd gives them). */
static void downgrade_info(struct json_object *info) {
  struct json_object *opts = NULL;
  if (!json_object_object_get_ex(info, "SecurityOptions", &opts))
    return;
  struct json_object *names = json_object_new_array();
  for (size_t k = 0; names && k < json_object_array_length(opts); k++) {
    const char *o = json_object_get_string(json_object_array_get_idx(opts, k));
    if (o == NULL || strncmp(o, "name=", 5) != 0)
      continue;
    o += 5;
    json_object_array_add(names, json_object_new_string_len(o, (int)strcspn(o, ",")));
  }
  json_object_object_add(info, "SecurityOptions", names);
  add_str(info, "ExecutionDriver", "<not supported>");
}

void api_handle_info(api_request_t *r) {
  api_app_t *app = api_request_userdata(r);
  api_host_refresh(&app->host);
  api_reply_json(r, 200, api_render_info(&app->host, &api_request_match(r)->version));
}
