/* berth-apid documents: /version, /info and /berth/v1/services carry every
 * field the docker CLI (28) and berth's contract expect, with JSON types the
 * Go client decodes without error. Host facts are the real ones. */
#include <string.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include "app.h"
#include "tap.h"

typedef struct {
  const char *key;
  json_type type;
} field_t;

static struct json_object *get(struct json_object *o, const char *key) {
  struct json_object *v = NULL;
  return o && json_object_object_get_ex(o, key, &v) ? v : NULL;
}

static int check_fields(struct json_object *o, const char *what, const field_t *fields, size_t n) {
  int all = 1;
  for (size_t i = 0; i < n; i++) {
    struct json_object *v = NULL;
    int present = json_object_object_get_ex(o, fields[i].key, &v);
    if (!present || json_object_get_type(v) != fields[i].type) {
      tap_diag("%s.%s: %s (type %s, want %s)", what, fields[i].key, present ? "wrong type" : "missing",
               present ? json_type_to_name(json_object_get_type(v)) : "-", json_type_to_name(fields[i].type));
      all = 0;
    }
  }
  return all;
}

static void check_version(const api_host_t *h) {
  struct json_object *v = api_render_version(h);
  tap_ok(v != NULL, "version document renders");
  static const field_t top[] = {
      {"Platform", json_type_object}, {"Components", json_type_array},  {"Version", json_type_string},
      {"ApiVersion", json_type_string}, {"MinAPIVersion", json_type_string}, {"GitCommit", json_type_string},
      {"GoVersion", json_type_string}, {"Os", json_type_string},          {"Arch", json_type_string},
      {"KernelVersion", json_type_string}, {"BuildTime", json_type_string},
  };
  tap_ok(check_fields(v, "version", top, sizeof top / sizeof top[0]), "version has every top-level field");
  tap_ok(strcmp(json_object_get_string(get(v, "ApiVersion")), "1.41") == 0 &&
             strcmp(json_object_get_string(get(v, "MinAPIVersion")), "1.12") == 0,
         "ApiVersion 1.41, MinAPIVersion 1.12");
  tap_ok(strcmp(json_object_get_string(get(v, "Os")), "linux") == 0, "Os linux");
  const char *arch = json_object_get_string(get(v, "Arch"));
  tap_ok(strcmp(h->machine, "x86_64") != 0 || strcmp(arch, "amd64") == 0, "Arch uses Docker naming (%s)", arch);
  tap_ok(strcmp(json_object_get_string(get(get(v, "Platform"), "Name")), "berth") == 0, "Platform.Name is berth");

  struct json_object *comps = get(v, "Components");
  struct json_object *engine = comps ? json_object_array_get_idx(comps, 0) : NULL;
  tap_ok(engine && strcmp(json_object_get_string(get(engine, "Name")), "Engine") == 0,
         "first component is the Engine");
  static const field_t details[] = {
      {"ApiVersion", json_type_string}, {"Arch", json_type_string},          {"BuildTime", json_type_string},
      {"Experimental", json_type_string}, {"GitCommit", json_type_string},   {"GoVersion", json_type_string},
      {"KernelVersion", json_type_string}, {"MinAPIVersion", json_type_string}, {"Os", json_type_string},
  };
  tap_ok(check_fields(get(engine, "Details"), "Engine.Details", details, sizeof details / sizeof details[0]),
         "Engine.Details has what `docker version` prints (string values)");
  const char *bt = json_object_get_string(get(v, "BuildTime"));
  tap_ok(bt && strlen(bt) >= 20 && bt[4] == '-' && bt[10] == 'T', "BuildTime is RFC 3339 (%s)", bt ? bt : "");
  json_object_put(v);
}

static void check_info(const api_host_t *h) {
  const api_version_t v141 = {1, 41, 0}, v124 = {1, 24, 0};
  struct json_object *i = api_render_info(h, &v141);
  tap_ok(i != NULL, "info document renders");
  static const field_t fields[] = {
      {"ID", json_type_string},           {"Containers", json_type_int},        {"ContainersRunning", json_type_int},
      {"ContainersPaused", json_type_int}, {"ContainersStopped", json_type_int}, {"Images", json_type_int},
      {"Driver", json_type_string},       {"DriverStatus", json_type_array},    {"Plugins", json_type_object},
      {"MemoryLimit", json_type_boolean}, {"SwapLimit", json_type_boolean},     {"KernelMemory", json_type_boolean},
      {"KernelMemoryTCP", json_type_boolean}, {"CpuCfsPeriod", json_type_boolean}, {"CpuCfsQuota", json_type_boolean},
      {"CPUShares", json_type_boolean},   {"CPUSet", json_type_boolean},        {"PidsLimit", json_type_boolean},
      {"IPv4Forwarding", json_type_boolean}, {"BridgeNfIptables", json_type_boolean},
      {"BridgeNfIp6tables", json_type_boolean}, {"Debug", json_type_boolean}, {"NFd", json_type_int},
      {"OomKillDisable", json_type_boolean}, {"NGoroutines", json_type_int},  {"SystemTime", json_type_string},
      {"LoggingDriver", json_type_string}, {"CgroupDriver", json_type_string}, {"CgroupVersion", json_type_string},
      {"NEventsListener", json_type_int}, {"KernelVersion", json_type_string}, {"OperatingSystem", json_type_string},
      {"OSVersion", json_type_string},    {"OSType", json_type_string},         {"Architecture", json_type_string},
      {"IndexServerAddress", json_type_string}, {"RegistryConfig", json_type_object}, {"NCPU", json_type_int},
      {"MemTotal", json_type_int},        {"DockerRootDir", json_type_string},  {"HttpProxy", json_type_string},
      {"HttpsProxy", json_type_string},   {"NoProxy", json_type_string},        {"Name", json_type_string},
      {"Labels", json_type_array},        {"ExperimentalBuild", json_type_boolean}, {"ServerVersion", json_type_string},
      {"Runtimes", json_type_object},     {"DefaultRuntime", json_type_string}, {"Swarm", json_type_object},
      {"LiveRestoreEnabled", json_type_boolean}, {"Isolation", json_type_string}, {"InitBinary", json_type_string},
      {"ContainerdCommit", json_type_object}, {"RuncCommit", json_type_object}, {"InitCommit", json_type_object},
      {"SecurityOptions", json_type_array}, {"Warnings", json_type_array},
  };
  tap_ok(check_fields(i, "info", fields, sizeof fields / sizeof fields[0]),
         "info has every field `docker info` reads, with its JSON type");

  static const field_t plugins[] = {
      {"Volume", json_type_array}, {"Network", json_type_array}, {"Log", json_type_array}};
  tap_ok(check_fields(get(i, "Plugins"), "Plugins", plugins, 3), "Plugins lists Volume, Network, Log");
  static const field_t swarm[] = {{"NodeID", json_type_string}, {"LocalNodeState", json_type_string},
                                  {"ControlAvailable", json_type_boolean}};
  tap_ok(check_fields(get(i, "Swarm"), "Swarm", swarm, 3) &&
             strcmp(json_object_get_string(get(get(i, "Swarm"), "LocalNodeState")), "inactive") == 0,
         "Swarm is inactive");
  static const field_t commit[] = {{"ID", json_type_string}, {"Expected", json_type_string}};
  tap_ok(check_fields(get(i, "RuncCommit"), "RuncCommit", commit, 2), "commits have ID and Expected");
  static const field_t reg[] = {{"InsecureRegistryCIDRs", json_type_array}, {"IndexConfigs", json_type_object},
                                {"Mirrors", json_type_array}};
  tap_ok(check_fields(get(i, "RegistryConfig"), "RegistryConfig", reg, 3), "RegistryConfig has its lists");

  /* Each DriverStatus entry is a [key, value] pair of strings. */
  struct json_object *ds = get(i, "DriverStatus");
  int pairs = 1;
  for (size_t k = 0; ds && k < json_object_array_length(ds); k++) {
    struct json_object *p = json_object_array_get_idx(ds, k);
    pairs = pairs && json_object_is_type(p, json_type_array) && json_object_array_length(p) == 2;
  }
  tap_ok(pairs, "DriverStatus holds [key, value] pairs");

  /* Security options in the key=value form DecodeSecurityOptions parses. */
  struct json_object *so = get(i, "SecurityOptions");
  int named = json_object_array_length(so) > 0;
  for (size_t k = 0; so && k < json_object_array_length(so); k++)
    named = named && strncmp(json_object_get_string(json_object_array_get_idx(so, k)), "name=", 5) == 0;
  tap_ok(named, "SecurityOptions are name=... entries");

  struct statfs sfs;
  int v2 = statfs("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC;
  tap_ok(strcmp(json_object_get_string(get(i, "CgroupVersion")), v2 ? "2" : "1") == 0, "CgroupVersion matches the host (%s)",
         v2 ? "2" : "1");
  tap_ok(json_object_get_int(get(i, "NCPU")) > 0 && json_object_get_int64(get(i, "MemTotal")) > 0,
         "NCPU and MemTotal are real");
  tap_ok(strlen(json_object_get_string(get(i, "OperatingSystem"))) > 0 &&
             strlen(json_object_get_string(get(i, "KernelVersion"))) > 0,
         "OperatingSystem and KernelVersion are filled in");
  tap_ok(strcmp(json_object_get_string(get(i, "DockerRootDir")), "/var/lib/berth-test") == 0,
         "DockerRootDir is the data root");
  const char *id = json_object_get_string(get(i, "ID"));
  tap_ok(strlen(id) == 36 && id[8] == '-', "ID is a UUID (%s)", id);
  tap_ok(strcmp(json_object_get_string(get(i, "OSType")), "linux") == 0 &&
             json_object_get_boolean(get(i, "LiveRestoreEnabled")),
         "OSType linux, LiveRestoreEnabled");
  json_object_put(i);

  i = api_render_info(h, &v124);
  so = get(i, "SecurityOptions");
  tap_ok(so && json_object_array_length(so) > 0 &&
             strcmp(json_object_get_string(json_object_array_get_idx(so, 0)), "seccomp") == 0 &&
             strcmp(json_object_get_string(get(i, "ExecutionDriver")), "<not supported>") == 0,
         "API < 1.25 gets bare security option names and ExecutionDriver, as from dockerd");
  json_object_put(i);

  api_host_t again;
  api_host_probe(&again, "/var/lib/berth-test");
  tap_ok(strcmp(again.id, h->id) == 0, "the engine ID is stable across probes");
}

static void check_services(void) {
  Berth__Ipc__ServiceInfo a = BERTH__IPC__SERVICE_INFO__INIT, b = BERTH__IPC__SERVICE_INFO__INIT;
  a.peer = BERTH__IPC__PEER__PEER_API;
  a.name = "berth-apid";
  a.pid = 123;
  a.uid = 999;
  a.gid = 998;
  a.cap_bnd = 0;
  a.seccomp_mode = 2;
  a.no_new_privs = 1;
  a.uid_map = "0 0 4294967295";
  a.state = "running";
  a.started_usec = 1795820400123456; /* 2026-11-27T23:00:00.123456Z */
  b.peer = BERTH__IPC__PEER__PEER_NET;
  b.name = "berth-netd";
  b.cap_eff = b.cap_prm = b.cap_bnd = 1ull << 12;
  b.restarts = 3;
  b.state = "backoff";
  Berth__Ipc__ServiceInfo *list[] = {&a, &b};
  Berth__Ipc__ServicesStatusReply reply = BERTH__IPC__SERVICES_STATUS_REPLY__INIT;
  reply.n_services = 2;
  reply.services = list;

  struct json_object *doc = api_render_services(&reply, 1, 42, 0);
  const char *s = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  static const char want[] =
      "{\"Services\":["
      "{\"Name\":\"berth-apid\",\"Peer\":\"api\",\"Pid\":123,\"Uid\":999,\"Gid\":998,"
      "\"CapEff\":\"0000000000000000\",\"CapPrm\":\"0000000000000000\",\"CapBnd\":\"0000000000000000\","
      "\"CapAmb\":\"0000000000000000\",\"Seccomp\":2,\"NoNewPrivs\":true,\"OwnUserNamespace\":false,"
      "\"UidMap\":\"0 0 4294967295\",\"Restarts\":0,\"State\":\"running\","
      "\"StartedAt\":\"2026-11-27T23:00:00.123456000Z\"},"
      "{\"Name\":\"berth-netd\",\"Peer\":\"net\",\"Pid\":0,\"Uid\":0,\"Gid\":0,"
      "\"CapEff\":\"0000000000001000\",\"CapPrm\":\"0000000000001000\",\"CapBnd\":\"0000000000001000\","
      "\"CapAmb\":\"0000000000000000\",\"Seccomp\":0,\"NoNewPrivs\":false,\"OwnUserNamespace\":false,"
      "\"UidMap\":\"\",\"Restarts\":3,\"State\":\"backoff\",\"StartedAt\":\"0001-01-01T00:00:00Z\"}],"
      "\"Executor\":{\"Pid\":42,\"Uid\":0}}";
  if (!tap_ok(s && strcmp(s, want) == 0, "services document has the contract's shape"))
    tap_diag("got %s", s ? s : "(null)");
  json_object_put(doc);

  doc = api_render_services(NULL, 0, 0, 0);
  s = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
  tap_ok(s && strcmp(s, "{\"Services\":[],\"Executor\":{\"Pid\":0,\"Uid\":-1}}") == 0,
         "no services and an unknown executor render as such");
  json_object_put(doc);
}

int main(void) {
  api_host_t h;
  api_host_probe(&h, "/var/lib/berth-test");
  tap_ok(strcmp(api_host_docker_arch("x86_64"), "amd64") == 0 && strcmp(api_host_docker_arch("aarch64"), "arm64") == 0 &&
             strcmp(api_host_docker_arch("weird"), "weird") == 0,
         "uname machine names map to Docker's");
  check_version(&h);
  check_info(&h);
  check_services();
  return tap_done();
}
