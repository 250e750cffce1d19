/* POST /containers/create, the pure half: the body (Docker's Config fields at
 * the top level, HostConfig, NetworkingConfig) read with Docker's types into
 * normalised documents that hold every key dockerd shows in inspect, then
 * checked as dockerd checks them (ctr_resources.c: limits; ctr_security.c:
 * privileges). What berth cannot do yet (volumes, ports, devices, other
 * namespaces' sharing) is refused with a 400 that says so, never ignored. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "ctr.h"
#include "ctr_internal.h"
#include "ctr_json.h"

typedef enum { F_STR, F_I64, F_BOOL, F_STRLIST, F_STRSLICE, F_STRMAP, F_OBJ, F_ARR, F_NI64, F_NBOOL } ftype_t;
typedef struct {
  const char *key;
  ftype_t type;
  bool omitempty; /* Go's `json:",omitempty"`: left out when null or empty */
} field_t;

/* container.Config, in dockerd's order. */
static const field_t config_fields[] = {
    {"Hostname", F_STR, 0},      {"Domainname", F_STR, 0},    {"User", F_STR, 0},
    {"AttachStdin", F_BOOL, 0},  {"AttachStdout", F_BOOL, 0}, {"AttachStderr", F_BOOL, 0},
    {"ExposedPorts", F_OBJ, 1},  {"Tty", F_BOOL, 0},          {"OpenStdin", F_BOOL, 0},
    {"StdinOnce", F_BOOL, 0},    {"Env", F_STRLIST, 0},       {"Cmd", F_STRSLICE, 0},
    {"Healthcheck", F_OBJ, 1},   {"ArgsEscaped", F_BOOL, 1},  {"Image", F_STR, 0},
    {"Volumes", F_OBJ, 0},       {"WorkingDir", F_STR, 0},    {"Entrypoint", F_STRSLICE, 0},
    {"NetworkDisabled", F_BOOL, 1}, {"MacAddress", F_STR, 1}, {"OnBuild", F_STRLIST, 0},
    {"Labels", F_STRMAP, 0},     {"StopSignal", F_STR, 1},    {"StopTimeout", F_NI64, 1},
    {"Shell", F_STRSLICE, 1},
};

/* container.HostConfig, in dockerd's order (LogConfig and RestartPolicy are
 * read by hand in ctr_resources.c). */
static const field_t host_fields[] = {
    {"Binds", F_STRLIST, 0},         {"ContainerIDFile", F_STR, 0},    {"LogConfig", F_OBJ, 0},
    {"NetworkMode", F_STR, 0},       {"PortBindings", F_OBJ, 0},       {"RestartPolicy", F_OBJ, 0},
    {"AutoRemove", F_BOOL, 0},       {"VolumeDriver", F_STR, 0},       {"VolumesFrom", F_STRLIST, 0},
    {"CapAdd", F_STRSLICE, 0},       {"CapDrop", F_STRSLICE, 0},       {"CgroupnsMode", F_STR, 0},
    {"Dns", F_STRLIST, 0},           {"DnsOptions", F_STRLIST, 0},     {"DnsSearch", F_STRLIST, 0},
    {"ExtraHosts", F_STRLIST, 0},    {"GroupAdd", F_STRLIST, 0},       {"IpcMode", F_STR, 0},
    {"Cgroup", F_STR, 0},            {"Links", F_STRLIST, 0},          {"OomScoreAdj", F_I64, 0},
    {"PidMode", F_STR, 0},           {"Privileged", F_BOOL, 0},        {"PublishAllPorts", F_BOOL, 0},
    {"ReadonlyRootfs", F_BOOL, 0},   {"SecurityOpt", F_STRLIST, 0},    {"StorageOpt", F_STRMAP, 1},
    {"Tmpfs", F_STRMAP, 1},          {"UTSMode", F_STR, 0},            {"UsernsMode", F_STR, 0},
    {"ShmSize", F_I64, 0},           {"Sysctls", F_STRMAP, 1},         {"Runtime", F_STR, 0},
    {"ConsoleSize", F_ARR, 0},       {"Isolation", F_STR, 0},          {"CpuShares", F_I64, 0},
    {"Memory", F_I64, 0},            {"NanoCpus", F_I64, 0},           {"CgroupParent", F_STR, 0},
    {"BlkioWeight", F_I64, 0},       {"BlkioWeightDevice", F_ARR, 0},  {"BlkioDeviceReadBps", F_ARR, 0},
    {"BlkioDeviceWriteBps", F_ARR, 0}, {"BlkioDeviceReadIOps", F_ARR, 0}, {"BlkioDeviceWriteIOps", F_ARR, 0},
    {"CpuPeriod", F_I64, 0},         {"CpuQuota", F_I64, 0},           {"CpuRealtimePeriod", F_I64, 0},
    {"CpuRealtimeRuntime", F_I64, 0}, {"CpusetCpus", F_STR, 0},        {"CpusetMems", F_STR, 0},
    {"Devices", F_ARR, 0},           {"DeviceCgroupRules", F_STRLIST, 0}, {"DeviceRequests", F_ARR, 0},
    {"KernelMemory", F_I64, 0},      {"KernelMemoryTCP", F_I64, 0},    {"MemoryReservation", F_I64, 0},
    {"MemorySwap", F_I64, 0},        {"MemorySwappiness", F_NI64, 0},  {"OomKillDisable", F_NBOOL, 0},
    {"PidsLimit", F_NI64, 0},        {"Ulimits", F_ARR, 0},            {"CpuCount", F_I64, 0},
    {"CpuPercent", F_I64, 0},        {"IOMaximumIOps", F_I64, 0},      {"IOMaximumBandwidth", F_I64, 0},
    {"Mounts", F_ARR, 1},            {"MaskedPaths", F_STRLIST, 0},    {"ReadonlyPaths", F_STRLIST, 0},
    {"Init", F_NBOOL, 1},
};

#define LEN(a) (sizeof(a) / sizeof((a)[0]))

static bool empty_value(struct json_object *v) {
  if (v == NULL)
    return true;
  if (json_object_is_type(v, json_type_array))
    return json_object_array_length(v) == 0;
  if (json_object_is_type(v, json_type_object))
    return json_object_object_length(v) == 0;
  if (json_object_is_type(v, json_type_string))
    return json_object_get_string_len(v) == 0;
  if (json_object_is_type(v, json_type_boolean))
    return !json_object_get_boolean(v);
  return false;
}

/* Reads every field of `fields` from in (NULL: all absent) into a new object. */
static int normalise(struct json_object *in, const field_t *fields, size_t n, const char *where,
                     struct json_object **out, berth_error_t *err) {
  struct json_object *o = json_object_new_object();
  *out = o;
  for (size_t i = 0; i < n; i++) {
    const field_t *f = &fields[i];
    struct json_object *v = NULL;
    const char *s;
    int64_t num;
    bool b, set;
    int r = 0;
    switch (f->type) {
    case F_STR:
      r = ctrj_string(in, f->key, where, &s, err);
      v = json_object_new_string(s ? s : "");
      break;
    case F_I64:
      r = ctrj_int64(in, f->key, where, &num, err);
      v = json_object_new_int64(num);
      break;
    case F_NI64:
      r = ctrj_int64_opt(in, f->key, where, &num, &set, err);
      v = set ? json_object_new_int64(num) : NULL;
      break;
    case F_BOOL:
      r = ctrj_bool(in, f->key, where, &b, err);
      v = json_object_new_boolean(b);
      break;
    case F_NBOOL:
      r = ctrj_bool(in, f->key, where, &b, err);
      v = ctrj_get(in, f->key) ? json_object_new_boolean(b) : NULL;
      break;
    case F_STRLIST:
    case F_STRSLICE: r = ctrj_strlist(in, f->key, where, f->type == F_STRSLICE, &v, err); break;
    case F_STRMAP: r = ctrj_strmap(in, f->key, where, &v, err); break;
    case F_OBJ: r = ctrj_object(in, f->key, where, &v, err); break;
    case F_ARR: r = ctrj_array(in, f->key, where, &v, err); break;
    }
    if (r < 0) {
      json_object_put(v);
      return -1;
    }
    if (f->omitempty && empty_value(v))
      json_object_put(v);
    else
      json_object_object_add(o, f->key, v);
  }
  return 0;
}

void ctr_create_req_release(ctr_create_req_t *req) {
  json_object_put(req->config);
  json_object_put(req->host_config);
  json_object_put(req->warnings);
  memset(req, 0, sizeof *req);
}

void ctr_warn(ctr_create_req_t *req, const char *msg) {
  json_object_array_add(req->warnings, json_object_new_string(msg));
}

/* A label of letters/digits/'-' not starting or ending with '-'. */
static bool hostname_valid(const char *h) {
  size_t len = strlen(h);
  if (len == 0 || len > 64)
    return false;
  const char *label = h;
  for (const char *p = h;; p++) {
    if (*p == '.' || *p == '\0') {
      size_t l = (size_t)(p - label);
      if (l == 0 || label[0] == '-' || label[l - 1] == '-')
        return false;
      if (*p == '\0')
        return true;
      label = p + 1;
    } else if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-')) {
      return false;
    }
  }
}

static int check_config(ctr_create_req_t *req, berth_error_t *err) {
  struct json_object *c = req->config;
  const char *image = ctrj_str_or(c, "Image", "");
  if (image[0] == '\0')
    return berth_error_make(err, EINVAL, "no image given: Config.Image must name an image (e.g. \"busybox\")");
  if (strlen(image) >= sizeof req->image)
    return berth_error_make(err, EINVAL, "invalid reference format: image name is too long");
  snprintf(req->image, sizeof req->image, "%s", image);
  const char *host = ctrj_str_or(c, "Hostname", "");
  if (host[0] && !hostname_valid(host))
    return berth_error_make(err, EINVAL, "invalid hostname format: %s", host);
  const char *dom = ctrj_str_or(c, "Domainname", "");
  if (dom[0] && (strlen(dom) > 255 || !hostname_valid(dom) || strlen(dom) > 64))
    return berth_error_make(err, EINVAL, "invalid domainname format: %s", dom);
  const char *user = ctrj_str_or(c, "User", "");
  if (strlen(user) > 256 || strpbrk(user, " \t\n\r/") != NULL || strchr(user, ':') != strrchr(user, ':'))
    return berth_error_make(err, EINVAL, "invalid user \"%s\": expected user, uid, user:group or uid:gid", user);
  const char *wd = ctrj_str_or(c, "WorkingDir", "");
  if (wd[0] && wd[0] != '/')
    return berth_error_make(err, EINVAL, "the working directory '%s' is invalid, it needs to be an absolute path", wd);
  if (strlen(wd) > 4095)
    return berth_error_make(err, EINVAL, "the working directory is longer than 4095 bytes");
  struct json_object *env = ctrj_get(c, "Env");
  for (size_t i = 0; i < ctrj_len(env); i++) {
    const char *e = ctrj_idx_str(env, i);
    if (e[0] == '=' || e[0] == '\0')
      return berth_error_make(err, EINVAL, "invalid environment variable: %s", e);
  }
  const char *sig = ctrj_str_or(c, "StopSignal", "");
  if (sig[0] && ctr_parse_signal(sig) < 0)
    return berth_error_make(err, EINVAL, "Invalid signal: %s", sig);
  int64_t stop_timeout = ctrj_int_or(c, "StopTimeout", 0);
  if (stop_timeout < -1 || stop_timeout > 86400 * 365)
    return berth_error_make(err, EINVAL, "invalid StopTimeout %lld: use -1 (wait forever) or a number of seconds",
                            (long long)stop_timeout);
  if (!empty_value(ctrj_get(c, "Volumes")))
    return berth_error_make(err, EINVAL, "volumes (-v) are not supported by berth yet");
  if (ctrj_str_or(c, "MacAddress", "")[0])
    return berth_error_make(err, EINVAL, "a MAC address (--mac-address) is not supported by berth yet");
  struct json_object *hc = ctrj_get(c, "Healthcheck");
  struct json_object *test = ctrj_get(hc, "Test");
  if (hc && ctrj_len(test) > 0 && strcmp(ctrj_idx_str(test, 0), "NONE") != 0)
    ctr_warn(req, "berth does not run healthchecks yet: the container's health stays unknown");
  return 0;
}

/* NetworkingConfig: at most one endpoint, as dockerd 20.10 at create. */
static int check_networking(struct json_object *body, berth_error_t *err) {
  struct json_object *nc = NULL, *eps = NULL;
  if (ctrj_object(body, "NetworkingConfig", "", &nc, err) < 0)
    return -1;
  int r = ctrj_object(nc, "EndpointsConfig", "NetworkingConfig", &eps, err);
  if (r == 0 && eps && json_object_object_length(eps) > 1) {
    char names[512] = "";
    size_t used = 0;
    json_object_object_foreach(eps, k, v) {
      (void)v;
      int n = snprintf(names + used, sizeof names - used, "%s%s", used ? ", " : "", k);
      if (n < 0 || (size_t)n >= sizeof names - used)
        break;
      used += (size_t)n;
    }
    r = berth_error_make(err, EINVAL, "Container cannot be connected to network endpoints: %s", names);
  }
  json_object_put(eps);
  json_object_put(nc);
  return r;
}

int ctr_create_parse(const char *body, size_t len, const ctr_policy_t *pol, const ctr_host_t *host,
                     ctr_create_req_t *out, berth_error_t *err) {
  memset(out, 0, sizeof *out);
  size_t skip = strspn(body ? body : "", " \t\r\n");
  if (body == NULL || skip == len)
    return berth_error_make(err, EINVAL, "Config cannot be empty in order to create a container");
  if (memchr(body, '\0', len) != NULL)
    return berth_error_make(err, EINVAL, "invalid JSON in the request: it contains a NUL byte");
  json_tokener *tok = json_tokener_new_ex(64);
  if (tok == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
  struct json_object *o = json_tokener_parse_ex(tok, body, (int)len);
  enum json_tokener_error jerr = json_tokener_get_error(tok);
  size_t end = json_tokener_get_parse_end(tok);
  json_tokener_free(tok);
  if (o == NULL || jerr != json_tokener_success || strspn(body + end, " \t\r\n") != len - end ||
      !json_object_is_type(o, json_type_object)) {
    json_object_put(o);
    return berth_error_make(err, EINVAL, "invalid JSON in the request: %s",
                            jerr != json_tokener_success ? json_tokener_error_desc(jerr)
                                                         : "expected one JSON object");
  }
  out->warnings = json_object_new_array();
  struct json_object *hc_in = NULL;
  int r = normalise(o, config_fields, LEN(config_fields), "", &out->config, err);
  if (r == 0)
    r = ctrj_object(o, "HostConfig", "", &hc_in, err);
  if (r == 0)
    r = normalise(hc_in, host_fields, LEN(host_fields), "HostConfig", &out->host_config, err);
  if (r == 0)
    r = check_networking(o, err);
  if (r == 0)
    r = check_config(out, err);
  if (r == 0)
    r = ctr_check_host_config(out, pol, host, err);
  if (r == 0)
    r = ctr_check_security(out, pol, host, err);
  json_object_put(hc_in);
  json_object_put(o);
  if (r < 0)
    ctr_create_req_release(out);
  return r < 0 ? -1 : 0;
}
