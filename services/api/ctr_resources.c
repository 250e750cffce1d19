/* HostConfig checks for create (dockerd's verifyContainerSettings and
 * adaptContainerSettings, with its messages): network and namespace modes,
 * what berth does not do yet (mounts, ports, devices: refused with a 400
 * that says so), restart policies, logging, resources, ulimits. */
#include <errno.h>
#include <inttypes.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include "ctr_internal.h"
#include "ctr_json.h"

#define MIN_MEMORY (6 * 1024 * 1024)
#define DEFAULT_SHM (64 * 1024 * 1024)

/* As the executor applies them (the brief's lists): /proc/asound read-only. */
const char *const ctr_masked_paths[] = {
    "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap", NULL,
};
const char *const ctr_readonly_paths[] = {
    "/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};

static bool nonempty(struct json_object *hc, const char *key) {
  struct json_object *v = ctrj_get(hc, key);
  if (v == NULL)
    return false;
  if (json_object_is_type(v, json_type_array))
    return json_object_array_length(v) > 0;
  if (json_object_is_type(v, json_type_object))
    return json_object_object_length(v) > 0;
  if (json_object_is_type(v, json_type_string))
    return json_object_get_string_len(v) > 0;
  if (json_object_is_type(v, json_type_boolean))
    return json_object_get_boolean(v);
  return json_object_get_int64(v) != 0;
}

static void set_str(struct json_object *o, const char *k, const char *v) {
  json_object_object_add(o, k, json_object_new_string(v));
}
static void set_int(struct json_object *o, const char *k, int64_t v) {
  json_object_object_add(o, k, json_object_new_int64(v));
}

static int unsupported(berth_error_t *err, const char *what) {
  return berth_error_make(err, EINVAL, "%s: not supported by berth yet", what);
}

static int check_modes(ctr_create_req_t *req, berth_error_t *err) {
  struct json_object *hc = req->host_config;
  const char *net = ctrj_str_or(hc, "NetworkMode", "");
  if (net[0] == '\0')
    set_str(hc, "NetworkMode", net = "default");
  if (strncmp(net, "container:", 10) == 0)
    return berth_error_make(err, EINVAL, "network mode \"%s\" (sharing another container's network) is not "
                                         "supported by berth yet", net);
  if (strcmp(net, "default") && strcmp(net, "bridge") && strcmp(net, "none") && strcmp(net, "host"))
    return berth_error_make(err, EINVAL, "network %s not found: berth offers the none, host and default (bridge) "
                                         "network modes", net);
  bool host_net = strcmp(net, "host") == 0;
  if (nonempty(hc, "PortBindings") || nonempty(hc, "PublishAllPorts")) {
    if (!host_net)
      return berth_error_make(err, EINVAL, "publishing ports (-p, -P) is not supported by berth yet");
    ctr_warn(req, "Published ports are discarded when using host network mode");
    json_object_object_add(hc, "PortBindings", json_object_new_object());
    json_object_object_add(hc, "PublishAllPorts", json_object_new_boolean(0));
  }
  if (nonempty(hc, "Binds") || nonempty(hc, "Mounts") || nonempty(hc, "VolumesFrom") || nonempty(hc, "Tmpfs") ||
      nonempty(hc, "VolumeDriver"))
    return unsupported(err, "volumes and mounts (-v, --mount, --tmpfs, --volumes-from, --volume-driver)");
  if (nonempty(hc, "Links"))
    return unsupported(err, "legacy container links (--link)");
  if (nonempty(hc, "Devices") || nonempty(hc, "DeviceCgroupRules") || nonempty(hc, "DeviceRequests"))
    return unsupported(err, "devices (--device, --device-cgroup-rule, --gpus)");
  if (nonempty(hc, "Sysctls"))
    return unsupported(err, "sysctls (--sysctl)");
  if (nonempty(hc, "StorageOpt"))
    return unsupported(err, "storage options (--storage-opt)");
  if (nonempty(hc, "CgroupParent") || nonempty(hc, "Cgroup"))
    return unsupported(err, "a custom cgroup (--cgroup-parent, --cgroup)");
  if (nonempty(hc, "Init"))
    return unsupported(err, "an init process (--init)");
  /* The CLI sends [] for --security-opt systempaths=unconfined: only null is the default. */
  if (ctrj_get(hc, "MaskedPaths") || ctrj_get(hc, "ReadonlyPaths"))
    return unsupported(err, "custom MaskedPaths and ReadonlyPaths (--security-opt systempaths=unconfined)");

  const char *cgns = ctrj_str_or(hc, "CgroupnsMode", "");
  if (strcmp(cgns, "host") == 0)
    return unsupported(err, "the host cgroup namespace (--cgroupns host)");
  if (cgns[0] && strcmp(cgns, "private"))
    return berth_error_make(err, EINVAL, "invalid cgroup namespace mode: %s", cgns);
  set_str(hc, "CgroupnsMode", "private");
  const char *ipc = ctrj_str_or(hc, "IpcMode", "");
  if (!strcmp(ipc, "host") || !strcmp(ipc, "none") || !strncmp(ipc, "container:", 10))
    return berth_error_make(err, EINVAL, "IPC mode \"%s\" is not supported by berth yet", ipc);
  if (ipc[0] && strcmp(ipc, "private") && strcmp(ipc, "shareable"))
    return berth_error_make(err, EINVAL, "invalid IPC mode: %s", ipc);
  if (ipc[0] == '\0')
    set_str(hc, "IpcMode", "private");
  const char *pid = ctrj_str_or(hc, "PidMode", "");
  if (!strcmp(pid, "host") || !strncmp(pid, "container:", 10))
    return berth_error_make(err, EINVAL, "PID mode \"%s\" is not supported by berth yet", pid);
  if (pid[0])
    return berth_error_make(err, EINVAL, "invalid PID mode: %s", pid);
  const char *uts = ctrj_str_or(hc, "UTSMode", "");
  if (!strcmp(uts, "host"))
    return unsupported(err, "UTS mode \"host\"");
  if (uts[0])
    return berth_error_make(err, EINVAL, "invalid UTS mode: %s", uts);
  const char *userns = ctrj_str_or(hc, "UsernsMode", "");
  if (userns[0])
    return berth_error_make(err, EINVAL, "UsernsMode \"%s\" is not supported per container: the engine's policy "
                                         "(\"userns\" in its config file) decides", userns);
  const char *rt = ctrj_str_or(hc, "Runtime", "");
  if (rt[0] && strcmp(rt, "berth") && strcmp(rt, "runc"))
    return berth_error_make(err, EINVAL, "Unknown runtime specified %s", rt);
  set_str(hc, "Runtime", "berth");
  const char *iso = ctrj_str_or(hc, "Isolation", "");
  if (iso[0] && strcasecmp(iso, "default"))
    return berth_error_make(err, EINVAL, "Invalid isolation: \"%s\" - linux only supports 'default'", iso);
  return 0;
}

/* dockerd's validateHostConfig (AutoRemove first) and ValidateRestartPolicy;
 * the policy itself is ctr_restart.c's. */
static int check_restart(ctr_create_req_t *req, berth_error_t *err) {
  struct json_object *rp = ctrj_get(req->host_config, "RestartPolicy");
  const char *name = NULL;
  int64_t count = 0;
  if (ctrj_string(rp, "Name", "HostConfig.RestartPolicy", &name, err) < 0 ||
      ctrj_int64(rp, "MaximumRetryCount", "HostConfig.RestartPolicy", &count, err) < 0)
    return -1;
  name = name ? name : "";
  bool none = name[0] == '\0' || !strcmp(name, "no");
  if (!none && ctrj_bool_or(req->host_config, "AutoRemove", false))
    return berth_error_make(err, EINVAL, "can't create 'AutoRemove' container with restart policy");
  if (!strcmp(name, "no") || !strcmp(name, "always") || !strcmp(name, "unless-stopped")) {
    if (count != 0)
      return berth_error_make(err, EINVAL, "invalid restart policy: maximum retry count can only be used with "
                                           "'on-failure'%s", count < 0 ? " and cannot be negative" : "");
  } else if (!strcmp(name, "on-failure")) {
    if (count < 0)
      return berth_error_make(err, EINVAL, "invalid restart policy: maximum retry count cannot be negative");
  } else if (name[0]) {
    return berth_error_make(err, EINVAL, "invalid restart policy: unknown policy '%s'; use one of 'no', 'always', "
                                         "'on-failure', or 'unless-stopped'", name);
  }
  struct json_object *n = json_object_new_object();
  set_str(n, "Name", name);
  set_int(n, "MaximumRetryCount", count);
  json_object_object_add(req->host_config, "RestartPolicy", n);
  return 0;
}

int64_t ctr_parse_size(const char *s) {
  if (s == NULL || !(s[0] >= '0' && s[0] <= '9'))
    return -1;
  char *end = NULL;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || !(v >= 0))
    return -1;
  static const char units[] = "kmgtp";
  const char *u = *end ? strchr(units, tolower((unsigned char)*end)) : NULL;
  if (u) {
    for (const char *p = units; p <= u; p++)
      v *= 1024;
    end++;
  }
  if (*end == 'b' || *end == 'B')
    end++;
  if (*end != '\0' || v >= 9.2e18)
    return -1;
  return (int64_t)v;
}

static int check_log(ctr_create_req_t *req, berth_error_t *err) {
  struct json_object *lc = ctrj_get(req->host_config, "LogConfig");
  const char *type = NULL;
  struct json_object *cfg = NULL;
  if (ctrj_string(lc, "Type", "HostConfig.LogConfig", &type, err) < 0 ||
      ctrj_strmap(lc, "Config", "HostConfig.LogConfig", &cfg, err) < 0)
    return -1;
  if (type && type[0] && strcmp(type, "json-file")) {
    json_object_put(cfg);
    return berth_error_make(err, EINVAL, "logging driver \"%s\" is not supported by berth: it writes json-file "
                                         "logs", type);
  }
  static const char *const known[] = {"max-size", "max-file", "compress", "labels", "labels-regex",
                                      "env", "env-regex", "tag", NULL};
  int r = 0;
  struct json_object *empty = json_object_new_object();
  json_object_object_foreach(cfg ? cfg : empty, k, v) {
    size_t i = 0;
    while (known[i] && strcmp(known[i], k))
      i++;
    const char *val = json_object_get_string(v);
    if (known[i] == NULL)
      r = berth_error_make(err, EINVAL, "unknown log opt '%s' for json-file log driver", k);
    else if (!strcmp(k, "max-size") && ctr_parse_size(val) <= 0)
      r = berth_error_make(err, EINVAL, "invalid size: '%s' (log opt max-size)", val);
    else if (!strcmp(k, "max-file") && (atoll(val) < 1 || atoll(val) > 1000 || strspn(val, "0123456789") != strlen(val)))
      r = berth_error_make(err, EINVAL, "max-file cannot be less than 1 (or more than 1000): '%s'", val);
    if (r < 0)
      break;
  }
  if (r == 0) {
    struct json_object *n = json_object_new_object();
    set_str(n, "Type", "json-file");
    json_object_object_add(n, "Config", cfg ? json_object_get(cfg) : json_object_new_object());
    json_object_object_add(req->host_config, "LogConfig", n);
  }
  json_object_put(empty);
  json_object_put(cfg);
  return r;
}

void ctr_log_limits(struct json_object *hc, const ctr_policy_t *pol, uint64_t *max_size, uint32_t *max_files) {
  struct json_object *cfg = ctrj_get(ctrj_get(hc, "LogConfig"), "Config");
  int64_t size = ctr_parse_size(ctrj_str_or(cfg, "max-size", ""));
  long long files = atoll(ctrj_str_or(cfg, "max-file", "0"));
  *max_size = size > 0 ? (uint64_t)size : pol->log_max_size;
  *max_files = files > 0 && files <= 1000 ? (uint32_t)files : pol->log_max_files;
}

/* "0-3,5": each number below limit (0: no limit), ranges ascending. */
static bool cpuset_valid(const char *s, unsigned limit) {
  if (s[0] == '\0' || strlen(s) > 1024)
    return false;
  const char *p = s;
  for (;;) {
    char *end;
    if (*p < '0' || *p > '9')
      return false;
    unsigned long a = strtoul(p, &end, 10), b = a;
    if (*end == '-') {
      p = end + 1;
      if (*p < '0' || *p > '9')
        return false;
      b = strtoul(p, &end, 10);
    }
    if (b < a || b > 4095 || (limit && b >= limit))
      return false;
    if (*end == '\0')
      return true;
    if (*end != ',')
      return false;
    p = end + 1;
  }
}

static int discard(ctr_create_req_t *req, const char *key, const char *warning) {
  struct json_object *v = ctrj_get(req->host_config, key);
  if (v && json_object_is_type(v, json_type_int) && json_object_get_int64(v) != 0) {
    ctr_warn(req, warning);
    set_int(req->host_config, key, 0);
  } else if (v && json_object_is_type(v, json_type_array) && json_object_array_length(v) > 0) {
    ctr_warn(req, warning);
    json_object_object_add(req->host_config, key, json_object_new_array());
  }
  return 0;
}

static int check_resources(ctr_create_req_t *req, const ctr_host_t *host, berth_error_t *err) {
  struct json_object *hc = req->host_config;
  int64_t mem = ctrj_int_or(hc, "Memory", 0), swap = ctrj_int_or(hc, "MemorySwap", 0);
  int64_t resv = ctrj_int_or(hc, "MemoryReservation", 0);
  if (mem != 0 && mem < MIN_MEMORY)
    return berth_error_make(err, EINVAL, "Minimum memory limit allowed is 6MB");
  if (mem > 0 && swap > 0 && swap < mem)
    return berth_error_make(err, EINVAL, "Minimum memoryswap limit should be larger than memory limit, see usage");
  if (mem == 0 && swap > 0)
    return berth_error_make(err, EINVAL, "You should always set the Memory limit when using Memoryswap limit, see usage");
  if (swap < -1)
    return berth_error_make(err, EINVAL, "invalid MemorySwap %" PRId64 ": use -1 (unlimited), 0 (twice the memory "
                                         "limit) or a value at least the memory limit", swap);
  if (mem > 0 && swap == 0)
    set_int(hc, "MemorySwap", mem > INT64_MAX / 2 ? -1 : mem * 2); /* dockerd's default */
  struct json_object *sw = ctrj_get(hc, "MemorySwappiness");
  if (sw && json_object_get_int64(sw) != -1) {
    int64_t v = json_object_get_int64(sw);
    if (v < 0 || v > 100)
      return berth_error_make(err, EINVAL, "Invalid value: %" PRId64 ", valid memory swappiness range is 0-100", v);
    ctr_warn(req, "berth does not set memory swappiness. Memory swappiness discarded.");
  }
  json_object_object_add(hc, "MemorySwappiness", NULL);
  if (resv != 0 && resv < MIN_MEMORY)
    return berth_error_make(err, EINVAL, "Minimum memory reservation allowed is 6MB");
  if (mem > 0 && resv > 0 && mem < resv)
    return berth_error_make(err, EINVAL, "Minimum memory limit can not be less than memory reservation limit, see usage");
  discard(req, "MemoryReservation", "berth does not set memory soft limits. Limitation discarded.");
  discard(req, "KernelMemory", "berth does not set kernel memory limits. Limitation discarded.");
  discard(req, "KernelMemoryTCP", "berth does not set kernel TCP memory limits. Limitation discarded.");
  if (ctrj_bool_or(hc, "OomKillDisable", false))
    ctr_warn(req, "berth does not disable the OOM killer. OomKillDisable discarded.");
  json_object_object_add(hc, "OomKillDisable", json_object_new_boolean(0));
  struct json_object *pids = ctrj_get(hc, "PidsLimit");
  if (pids && json_object_get_int64(pids) <= 0)
    json_object_object_add(hc, "PidsLimit", NULL); /* 0 and -1: unlimited, as dockerd */

  int64_t nano = ctrj_int_or(hc, "NanoCpus", 0), period = ctrj_int_or(hc, "CpuPeriod", 0);
  int64_t quota = ctrj_int_or(hc, "CpuQuota", 0), shares = ctrj_int_or(hc, "CpuShares", 0);
  if (nano > 0 && period > 0)
    return berth_error_make(err, EINVAL, "Conflicting options: Nano CPUs and CPU Period cannot both be set");
  if (nano > 0 && quota > 0)
    return berth_error_make(err, EINVAL, "Conflicting options: Nano CPUs and CPU Quota cannot both be set");
  unsigned ncpu = host->ncpu ? host->ncpu : 1;
  if (nano < 0 || nano > (int64_t)ncpu * 1000000000LL || (nano > 0 && nano < 10000000))
    return berth_error_make(err, EINVAL, "range of CPUs is from 0.01 to %u.00, as there are only %u CPUs available",
                            ncpu, ncpu);
  if (period != 0 && (period < 1000 || period > 1000000))
    return berth_error_make(err, EINVAL, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s "
                                         "(i.e. 1000000)");
  if (quota > 0 && quota < 1000)
    return berth_error_make(err, EINVAL, "CPU cfs quota can not be less than 1ms (i.e. 1000)");
  if (quota < -1)
    return berth_error_make(err, EINVAL, "invalid CPU quota %" PRId64 ": use -1 (unlimited) or at least 1000", quota);
  if (shares < 0)
    return berth_error_make(err, EINVAL, "invalid CPU shares (%" PRId64 "): value must be a positive integer", shares);
  if (nonempty(hc, "CpuRealtimePeriod") || nonempty(hc, "CpuRealtimeRuntime"))
    return unsupported(err, "real-time CPU scheduling (--cpu-rt-period, --cpu-rt-runtime)");
  const char *cpus = ctrj_str_or(hc, "CpusetCpus", ""), *mems = ctrj_str_or(hc, "CpusetMems", "");
  if (cpus[0] && !cpuset_valid(cpus, 0))
    return berth_error_make(err, EINVAL, "Invalid value %s for cpuset cpus", cpus);
  if (cpus[0] && !cpuset_valid(cpus, ncpu))
    return berth_error_make(err, EINVAL, "Requested CPUs are not available - requested %s, available: 0-%u", cpus,
                            ncpu - 1);
  if (mems[0] && !cpuset_valid(mems, 0))
    return berth_error_make(err, EINVAL, "Invalid value %s for cpuset mems", mems);
  int64_t blkio = ctrj_int_or(hc, "BlkioWeight", 0);
  if (blkio != 0 && (blkio < 10 || blkio > 1000))
    return berth_error_make(err, EINVAL, "Range of blkio weight is from 10 to 1000");
  discard(req, "BlkioWeight", "berth does not set Block I/O weight. Weight discarded.");
  static const char *const blkio_lists[] = {"BlkioWeightDevice", "BlkioDeviceReadBps", "BlkioDeviceWriteBps",
                                            "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps"};
  for (size_t i = 0; i < 5; i++)
    discard(req, blkio_lists[i], "berth does not set Block I/O device limits. Limit discarded.");
  if (nonempty(hc, "IOMaximumIOps") || nonempty(hc, "IOMaximumBandwidth"))
    return berth_error_make(err, EINVAL, "Invalid QoS settings: linux does not support Maximum IO Bandwidth or "
                                         "Maximum IO IOps");
  discard(req, "CpuCount", "linux does not support CPU count. Count discarded.");
  discard(req, "CpuPercent", "linux does not support CPU percent. Percent discarded.");
  int64_t shm = ctrj_int_or(hc, "ShmSize", 0);
  if (shm < 0)
    return berth_error_make(err, EINVAL, "SHM size can not be less than 0");
  if (shm != 0 && shm != DEFAULT_SHM)
    ctr_warn(req, "berth does not size /dev/shm per container yet: it gets the default 64MB. ShmSize discarded.");
  set_int(hc, "ShmSize", DEFAULT_SHM);
  return 0;
}

int ctr_ulimit_type(const char *name) {
  static const struct {
    const char *name;
    int type;
  } map[] = {
      {"as", RLIMIT_AS},         {"core", RLIMIT_CORE},         {"cpu", RLIMIT_CPU},
      {"data", RLIMIT_DATA},     {"fsize", RLIMIT_FSIZE},       {"locks", RLIMIT_LOCKS},
      {"memlock", RLIMIT_MEMLOCK}, {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},
      {"nofile", RLIMIT_NOFILE}, {"nproc", RLIMIT_NPROC},       {"rss", RLIMIT_RSS},
      {"rtprio", RLIMIT_RTPRIO}, {"rttime", RLIMIT_RTTIME},     {"sigpending", RLIMIT_SIGPENDING},
      {"stack", RLIMIT_STACK},
  };
  for (size_t i = 0; name && i < sizeof map / sizeof map[0]; i++)
    if (strcmp(map[i].name, name) == 0)
      return map[i].type;
  return -1;
}

static int check_ulimits(ctr_create_req_t *req, berth_error_t *err) {
  struct json_object *ul = ctrj_get(req->host_config, "Ulimits");
  bool seen[RLIM_NLIMITS] = {0};
  for (size_t i = 0; i < ctrj_len(ul); i++) {
    struct json_object *u = json_object_array_get_idx(ul, i);
    const char *name = NULL;
    int64_t soft = 0, hard = 0;
    if (!json_object_is_type(u, json_type_object))
      return berth_error_make(err, EINVAL, "invalid JSON in the request: HostConfig.Ulimits[%zu] must be an object", i);
    if (ctrj_string(u, "Name", "HostConfig.Ulimits[]", &name, err) < 0 ||
        ctrj_int64(u, "Soft", "HostConfig.Ulimits[]", &soft, err) < 0 ||
        ctrj_int64(u, "Hard", "HostConfig.Ulimits[]", &hard, err) < 0)
      return -1;
    int type = ctr_ulimit_type(name);
    if (type < 0)
      return berth_error_make(err, EINVAL, "invalid ulimit type: %s", name ? name : "");
    if (seen[type])
      return berth_error_make(err, EINVAL, "ulimit %s is given twice", name);
    seen[type] = true;
    if (soft < -1 || hard < -1)
      return berth_error_make(err, EINVAL, "invalid ulimit %s: limits are -1 (unlimited) or at least 0", name);
    if ((uint64_t)soft > (uint64_t)hard)
      return berth_error_make(err, EINVAL, "ulimit soft limit must be less than or equal to hard limit: %" PRId64
                                           " > %" PRId64, soft, hard);
  }
  return 0;
}

int ctr_check_host_config(ctr_create_req_t *req, const ctr_policy_t *pol, const ctr_host_t *host, berth_error_t *err) {
  (void)pol;
  if (check_modes(req, err) < 0 || check_restart(req, err) < 0 || check_log(req, err) < 0 ||
      check_resources(req, host, err) < 0 || check_ulimits(req, err) < 0 || ctr_check_dns(req->host_config, err) < 0)
    return -1;
  /* dockerd shows the default masked and read-only paths (none when privileged). */
  bool priv = ctrj_bool_or(req->host_config, "Privileged", false);
  struct json_object *masked = priv ? NULL : json_object_new_array(), *ro = priv ? NULL : json_object_new_array();
  for (size_t i = 0; !priv && ctr_masked_paths[i]; i++)
    json_object_array_add(masked, json_object_new_string(ctr_masked_paths[i]));
  for (size_t i = 0; !priv && ctr_readonly_paths[i]; i++)
    json_object_array_add(ro, json_object_new_string(ctr_readonly_paths[i]));
  json_object_object_add(req->host_config, "MaskedPaths", masked);
  json_object_object_add(req->host_config, "ReadonlyPaths", ro);
  return 0;
}
