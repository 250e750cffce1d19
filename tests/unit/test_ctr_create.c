/* POST /containers/create's pure half (ctr_config.c, ctr_resources.c,
 * ctr_security.c, ctr_hostfiles.c, ctr_merge.c): the docker CLI's body,
 * Docker's status codes and messages for bad requests, the policy (403),
 * the normalised HostConfig dockerd shows, and the image merge. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ctr.h"
#include "ctr_internal.h"
#include "tap.h"

static ctr_policy_t pol;
static ctr_host_t host;

static const char *const default_profile =
    "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\",\"write\",\"exit_group\"],"
    "\"action\":\"SCMP_ACT_ALLOW\"}]}";

/* The docker CLI 28's body for `docker create --name x busybox sleep 60`. */
static const char *const cli_body =
    "{\"Hostname\":\"\",\"Domainname\":\"\",\"User\":\"\",\"AttachStdin\":false,\"AttachStdout\":true,"
    "\"AttachStderr\":true,\"Tty\":false,\"OpenStdin\":false,\"StdinOnce\":false,\"Env\":[],\"Cmd\":[\"sleep\","
    "\"60\"],\"Image\":\"busybox\",\"Volumes\":{},\"WorkingDir\":\"\",\"Entrypoint\":null,\"OnBuild\":null,"
    "\"Labels\":{},\"HostConfig\":{\"Binds\":null,\"ContainerIDFile\":\"\",\"LogConfig\":{\"Type\":\"\","
    "\"Config\":{}},\"NetworkMode\":\"default\",\"PortBindings\":{},\"RestartPolicy\":{\"Name\":\"no\","
    "\"MaximumRetryCount\":0},\"AutoRemove\":false,\"VolumeDriver\":\"\",\"VolumesFrom\":null,\"ConsoleSize\":[0,0],"
    "\"CapAdd\":null,\"CapDrop\":null,\"CgroupnsMode\":\"\",\"Dns\":[],\"DnsOptions\":[],\"DnsSearch\":[],"
    "\"ExtraHosts\":null,\"GroupAdd\":null,\"IpcMode\":\"\",\"Cgroup\":\"\",\"Links\":null,\"OomScoreAdj\":0,"
    "\"PidMode\":\"\",\"Privileged\":false,\"PublishAllPorts\":false,\"ReadonlyRootfs\":false,\"SecurityOpt\":null,"
    "\"UTSMode\":\"\",\"UsernsMode\":\"\",\"ShmSize\":0,\"Isolation\":\"\",\"CpuShares\":0,\"Memory\":0,"
    "\"NanoCpus\":0,\"CgroupParent\":\"\",\"BlkioWeight\":0,\"BlkioWeightDevice\":[],\"BlkioDeviceReadBps\":[],"
    "\"BlkioDeviceWriteBps\":[],\"BlkioDeviceReadIOps\":[],\"BlkioDeviceWriteIOps\":[],\"CpuPeriod\":0,"
    "\"CpuQuota\":0,\"CpuRealtimePeriod\":0,\"CpuRealtimeRuntime\":0,\"CpusetCpus\":\"\",\"CpusetMems\":\"\","
    "\"Devices\":[],\"DeviceCgroupRules\":null,\"DeviceRequests\":null,\"MemoryReservation\":0,\"MemorySwap\":0,"
    "\"MemorySwappiness\":-1,\"OomKillDisable\":null,\"PidsLimit\":null,\"Ulimits\":null,\"CpuCount\":0,"
    "\"CpuPercent\":0,\"IOMaximumIOps\":0,\"IOMaximumBandwidth\":0,\"MaskedPaths\":null,\"ReadonlyPaths\":null},"
    "\"NetworkingConfig\":{\"EndpointsConfig\":{\"default\":{\"IPAMConfig\":null,\"Links\":null,\"Aliases\":null,"
    "\"MacAddress\":\"\",\"NetworkID\":\"\",\"EndpointID\":\"\",\"Gateway\":\"\",\"IPAddress\":\"\","
    "\"IPPrefixLen\":0,\"IPv6Gateway\":\"\",\"GlobalIPv6Address\":\"\",\"GlobalIPv6PrefixLen\":0,"
    "\"DNSNames\":null}}}}";

static char last_msg[1024];

/* Parses body; returns the error's errno (0 = accepted); req filled when accepted. */
static int parse(const char *body, ctr_create_req_t *req) {
  berth_error_t err = NULL;
  ctr_create_req_t tmp;
  int r = ctr_create_parse(body, strlen(body), &pol, &host, req ? req : &tmp, &err);
  snprintf(last_msg, sizeof last_msg, "%s", err && err->msg ? err->msg : "");
  int st = r < 0 ? (err ? err->status : -1) : 0;
  berth_error_release(&err);
  if (r == 0 && req == NULL)
    ctr_create_req_release(&tmp);
  return st;
}

/* {"Image":"busybox","Cmd":["true"],"HostConfig":{hc}} */
static int parse_hc(const char *hc, ctr_create_req_t *req) {
  char body[4096];
  snprintf(body, sizeof body, "{\"Image\":\"busybox\",\"Cmd\":[\"true\"],\"HostConfig\":{%s}}", hc);
  return parse(body, req);
}

static void refused_hc(const char *hc, int want, const char *msg) {
  int st = parse_hc(hc, NULL);
  tap_ok(st == want && strstr(last_msg, msg) != NULL, "HostConfig {%s}: errno %d, \"%s\"", hc, st, last_msg);
}

static const char *member(struct json_object *o, const char *k) {
  struct json_object *v = NULL;
  if (!json_object_object_get_ex(o, k, &v))
    return "absent";
  return v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE) : "null";
}
static const char *hs(ctr_create_req_t *r, const char *k) {
  return member(r->host_config, k);
}
static const char *cs(ctr_create_req_t *r, const char *k) {
  return member(r->config, k);
}

static void test_cli_body(void) {
  ctr_create_req_t req;
  int st = parse(cli_body, &req);
  tap_ok(st == 0, "the docker CLI's create body is accepted (%s)", last_msg);
  if (st)
    return;
  tap_ok(strcmp(req.image, "busybox") == 0, "image: %s", req.image);
  tap_ok(!strcmp(hs(&req, "NetworkMode"), "\"default\"") && !strcmp(hs(&req, "ShmSize"), "67108864") &&
         !strcmp(hs(&req, "CgroupnsMode"), "\"private\"") && !strcmp(hs(&req, "IpcMode"), "\"private\"") &&
         !strcmp(hs(&req, "LogConfig"), "{\"Type\":\"json-file\",\"Config\":{}}") &&
         !strcmp(hs(&req, "MemorySwappiness"), "null") && !strcmp(hs(&req, "OomKillDisable"), "false") &&
         !strcmp(hs(&req, "PidsLimit"), "null") && !strcmp(hs(&req, "RestartPolicy"),
                                                          "{\"Name\":\"no\",\"MaximumRetryCount\":0}"),
         "HostConfig normalised as dockerd shows it");
  tap_ok(strstr(hs(&req, "MaskedPaths"), "\"/proc/kcore\"") && strstr(hs(&req, "ReadonlyPaths"), "\"/proc/sys\""),
         "default masked and read-only paths shown");
  tap_ok(json_object_array_length(req.warnings) == 0, "no warnings: %s",
         json_object_to_json_string(req.warnings));
  tap_ok(json_object_object_get_ex(req.config, "StopSignal", NULL) == 0 &&
         !strcmp(cs(&req, "Cmd"), "[\"sleep\",\"60\"]") && !strcmp(cs(&req, "Entrypoint"), "null"),
         "Config: omitempty fields left out, Cmd kept, Entrypoint null");
  ctr_create_req_release(&req);
}

static void test_bad_bodies(void) {
  int st = parse("", NULL);
  tap_ok(st == EINVAL && strstr(last_msg, "Config cannot be empty"), "empty body: %s", last_msg);
  st = parse("{\"Image\":", NULL);
  tap_ok(st == EINVAL && strstr(last_msg, "invalid JSON"), "truncated JSON: %s", last_msg);
  st = parse("[1]", NULL);
  tap_ok(st == EINVAL, "an array: %s", last_msg);
  st = parse("{\"Cmd\":[\"true\"]}", NULL);
  tap_ok(st == EINVAL && strstr(last_msg, "Image"), "no image: %s", last_msg);
  st = parse("{\"Image\":\"busybox\",\"Cmd\":[1]}", NULL);
  tap_ok(st == EINVAL && strstr(last_msg, "Cmd must be"), "Cmd of numbers: %s", last_msg);
  st = parse("{\"Image\":\"busybox\",\"Cmd\":\"echo hi\"}", NULL);
  tap_ok(st == 0, "Cmd as one string (StrSlice) is accepted");
  st = parse("{\"Image\":\"busybox\",\"Env\":[\"=x\"]}", NULL);
  tap_ok(st == EINVAL && strstr(last_msg, "invalid environment variable: =x"), "Env =x: %s", last_msg);
  st = parse("{\"Image\":\"busybox\",\"WorkingDir\":\"rel/dir\"}", NULL);
  tap_ok(st == EINVAL && strstr(last_msg, "needs to be an absolute path"), "relative WorkingDir: %s", last_msg);
  st = parse("{\"Image\":\"busybox\",\"Hostname\":\"-bad-\"}", NULL);
  tap_ok(st == EINVAL && strstr(last_msg, "invalid hostname format"), "bad hostname: %s", last_msg);
  st = parse("{\"Image\":\"busybox\",\"StopSignal\":\"SIGNOPE\"}", NULL);
  tap_ok(st == EINVAL && strstr(last_msg, "Invalid signal: SIGNOPE"), "bad StopSignal: %s", last_msg);
  st = parse("{\"Image\":\"busybox\",\"Volumes\":{\"/data\":{}}}", NULL);
  tap_ok(st == EINVAL && strstr(last_msg, "not supported"), "volumes: %s", last_msg);
  st = parse("{\"Image\":\"busybox\",\"NetworkingConfig\":{\"EndpointsConfig\":{\"a\":{},\"b\":{}}}}", NULL);
  tap_ok(st == EINVAL && strstr(last_msg, "Container cannot be connected to network endpoints: a, b"), "two "
         "endpoints: %s", last_msg);
  st = parse("{\"Image\":\"busybox\",\"Env\":[\"A=\\u0000b\"]}", NULL);
  tap_ok(st == EINVAL && strstr(last_msg, "NUL"), "a NUL byte in Env: %s", last_msg);
}

static void test_resources(void) {
  refused_hc("\"Memory\":\"abc\"", EINVAL, "HostConfig.Memory must be an integer");
  refused_hc("\"Memory\":1000", EINVAL, "Minimum memory limit allowed is 6MB");
  refused_hc("\"Memory\":-5", EINVAL, "Minimum memory limit allowed is 6MB");
  refused_hc("\"Memory\":10000000,\"MemorySwap\":9000000", EINVAL,
             "Minimum memoryswap limit should be larger than memory limit");
  refused_hc("\"MemorySwap\":10000000", EINVAL, "You should always set the Memory limit when using Memoryswap limit");
  refused_hc("\"NanoCpus\":1000000000,\"CpuPeriod\":100000", EINVAL,
             "Conflicting options: Nano CPUs and CPU Period cannot both be set");
  refused_hc("\"NanoCpus\":1000000000,\"CpuQuota\":50000", EINVAL,
             "Conflicting options: Nano CPUs and CPU Quota cannot both be set");
  refused_hc("\"NanoCpus\":9000000000", EINVAL, "range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs");
  refused_hc("\"CpuPeriod\":10", EINVAL, "CPU cfs period can not be less than 1ms");
  refused_hc("\"CpuQuota\":10", EINVAL, "CPU cfs quota can not be less than 1ms");
  refused_hc("\"CpuShares\":-2", EINVAL, "invalid CPU shares (-2)");
  refused_hc("\"CpusetCpus\":\"0-a\"", EINVAL, "Invalid value 0-a for cpuset cpus");
  refused_hc("\"CpusetCpus\":\"0-9\"", EINVAL, "Requested CPUs are not available - requested 0-9, available: 0-3");
  refused_hc("\"CpusetMems\":\"x\"", EINVAL, "Invalid value x for cpuset mems");
  refused_hc("\"MemorySwappiness\":101", EINVAL, "valid memory swappiness range is 0-100");
  refused_hc("\"ShmSize\":-1", EINVAL, "SHM size can not be less than 0");
  refused_hc("\"Ulimits\":[{\"Name\":\"nofiles\",\"Soft\":1,\"Hard\":2}]", EINVAL, "invalid ulimit type: nofiles");
  refused_hc("\"Ulimits\":[{\"Name\":\"nofile\",\"Soft\":3,\"Hard\":2}]", EINVAL,
             "ulimit soft limit must be less than or equal to hard limit: 3 > 2");
  refused_hc("\"LogConfig\":{\"Type\":\"syslog\"}", EINVAL, "logging driver \"syslog\" is not supported");
  refused_hc("\"LogConfig\":{\"Type\":\"json-file\",\"Config\":{\"max-bogus\":\"1\"}}", EINVAL,
             "unknown log opt 'max-bogus' for json-file log driver");
  refused_hc("\"LogConfig\":{\"Config\":{\"max-size\":\"lots\"}}", EINVAL, "invalid size: 'lots'");

  ctr_create_req_t req;
  int st = parse_hc("\"Memory\":16777216,\"PidsLimit\":-1,\"CpuShares\":512,\"Ulimits\":[{\"Name\":\"nofile\","
                    "\"Soft\":1024,\"Hard\":2048}],\"OomKillDisable\":true,\"MemorySwappiness\":10,"
                    "\"LogConfig\":{\"Config\":{\"max-size\":\"1m\",\"max-file\":\"2\"}}", &req);
  tap_ok(st == 0, "good limits accepted (%s)", last_msg);
  if (st == 0) {
    tap_ok(!strcmp(hs(&req, "MemorySwap"), "33554432"), "MemorySwap defaults to twice Memory (%s)",
           hs(&req, "MemorySwap"));
    tap_ok(!strcmp(hs(&req, "PidsLimit"), "null"), "PidsLimit -1 is unlimited (null)");
    tap_ok(json_object_array_length(req.warnings) == 2, "discarded OomKillDisable and swappiness are warnings: %s",
           json_object_to_json_string(req.warnings));
    uint64_t size;
    uint32_t files;
    ctr_log_limits(req.host_config, &pol, &size, &files);
    tap_ok(size == 1048576 && files == 2, "log max-size 1m, max-file 2 (%llu, %u)", (unsigned long long)size, files);
    ctr_create_req_release(&req);
  }
}

static void test_modes(void) {
  refused_hc("\"NetworkMode\":\"mynet\"", EINVAL, "network mynet not found");
  refused_hc("\"NetworkMode\":\"container:abc\"", EINVAL, "not supported by berth yet");
  refused_hc("\"PortBindings\":{\"80/tcp\":[{\"HostIp\":\"\",\"HostPort\":\"8080\"}]}", EINVAL, "publishing ports");
  refused_hc("\"Binds\":[\"/etc:/host\"]", EINVAL, "volumes and mounts");
  refused_hc("\"Devices\":[{\"PathOnHost\":\"/dev/sda\"}]", EINVAL, "devices");
  refused_hc("\"PidMode\":\"host\"", EINVAL, "PID mode \"host\" is not supported");
  refused_hc("\"IpcMode\":\"weird\"", EINVAL, "invalid IPC mode: weird");
  refused_hc("\"UsernsMode\":\"host\"", EINVAL, "UsernsMode \"host\"");
  refused_hc("\"RestartPolicy\":{\"Name\":\"always\"},\"AutoRemove\":true", EINVAL,
             "can't create 'AutoRemove' container with restart policy");
  refused_hc("\"RestartPolicy\":{\"Name\":\"always\",\"MaximumRetryCount\":2}", EINVAL,
             "maximum retry count can only be used with 'on-failure'");
  refused_hc("\"RestartPolicy\":{\"Name\":\"on-failure\",\"MaximumRetryCount\":-1}", EINVAL,
             "maximum retry count cannot be negative");
  refused_hc("\"RestartPolicy\":{\"Name\":\"sometimes\"}", EINVAL, "invalid restart policy: unknown policy 'sometimes'");
  refused_hc("\"MaskedPaths\":[]", EINVAL, "custom MaskedPaths");
  refused_hc("\"Dns\":[\"not-an-ip\"]", EINVAL, "not-an-ip is not an ip address");
  refused_hc("\"ExtraHosts\":[\"nocolon\"]", EINVAL, "bad format for add-host: \"nocolon\"");
  refused_hc("\"ExtraHosts\":[\"db:1.2.3\"]", EINVAL, "invalid IP address in add-host: \"1.2.3\"");
  refused_hc("\"Runtime\":\"kata\"", EINVAL, "Unknown runtime specified kata");
  ctr_create_req_t req;
  int st = parse_hc("\"NetworkMode\":\"\"", &req);
  tap_ok(st == 0 && !strcmp(hs(&req, "NetworkMode"), "\"default\""), "an empty NetworkMode is default");
  if (st == 0)
    ctr_create_req_release(&req);
  st = parse_hc("\"NetworkMode\":\"host\",\"PortBindings\":{\"80/tcp\":[{\"HostPort\":\"80\"}]}", &req);
  tap_ok(st == 0 && json_object_array_length(req.warnings) == 1 && !strcmp(hs(&req, "PortBindings"), "{}"),
         "host network: published ports discarded with Docker's warning");
  if (st == 0)
    ctr_create_req_release(&req);
  st = parse_hc("\"NetworkMode\":\"none\",\"ExtraHosts\":[\"db:10.0.0.5\",\"v6:::1\"],\"Dns\":[\"1.1.1.1\"]", &req);
  tap_ok(st == 0, "none network with ExtraHosts (IPv4, IPv6) and Dns (%s)", last_msg);
  if (st == 0)
    ctr_create_req_release(&req);
}

static void test_security(void) {
  refused_hc("\"CapAdd\":[\"FOO\"]", EINVAL, "unknown capability: \"CAP_FOO\"");
  refused_hc("\"CapDrop\":[\"cap_bogus\"]", EINVAL, "unknown capability: \"CAP_BOGUS\"");
  refused_hc("\"Privileged\":true", EPERM, "\"allow-privileged\": true");
  refused_hc("\"SecurityOpt\":[\"seccomp=unconfined\"]", EPERM, "seccomp=unconfined is not allowed");
  refused_hc("\"SecurityOpt\":[\"bogus\"]", EINVAL, "invalid --security-opt 1: \"bogus\"");
  refused_hc("\"SecurityOpt\":[\"foo=bar\"]", EINVAL, "invalid --security-opt 2: \"foo=bar\"");
  refused_hc("\"SecurityOpt\":[\"no-new-privileges=maybe\"]", EINVAL, "invalid --security-opt 2");
  refused_hc("\"SecurityOpt\":[\"seccomp={\\\"defaultAction\\\":\\\"SCMP_ACT_FOO\\\"}\"]", EINVAL, "seccomp");
  tap_diag("a profile that does not compile: %s", last_msg);
  refused_hc("\"SecurityOpt\":[\"seccomp=not json\"]", EINVAL, "seccomp");
  refused_hc("\"OomScoreAdj\":2000", EINVAL, "Invalid value 2000, range for oom score adj is [-1000, 1000]");
  refused_hc("\"OomScoreAdj\":-500", EPERM, "negative OomScoreAdj");
  ctr_create_req_t req;
  int st = parse_hc("\"CapAdd\":[\"net_admin\",\"CAP_SYS_PTRACE\"],\"CapDrop\":[\"MKNOD\"],\"SecurityOpt\":["
                    "\"no-new-privileges:false\",\"label=disable\",\"apparmor=unconfined\",\"seccomp={\\\"defaultAction"
                    "\\\":\\\"SCMP_ACT_ALLOW\\\"}\"]",
                    &req);
  tap_ok(st == 0 && json_object_array_length(req.warnings) == 1, "capability names in any case and form, a custom "
         "profile, label/apparmor accepted, no-new-privileges:false is a warning (%s)", last_msg);
  if (st == 0)
    ctr_create_req_release(&req);
  pol.allow_privileged = true;
  st = parse_hc("\"Privileged\":true,\"SecurityOpt\":[\"seccomp=unconfined\"],\"OomScoreAdj\":-500", &req);
  tap_ok(st == 0 && !strcmp(hs(&req, "MaskedPaths"), "null"), "with allow-privileged: privileged, unconfined, "
         "negative OomScoreAdj (%s)", last_msg);
  if (st == 0)
    ctr_create_req_release(&req);
  pol.allow_privileged = false;
  char *saved = pol.seccomp_default;
  pol.seccomp_default = NULL;
  snprintf(pol.seccomp_error, sizeof pol.seccomp_error, "cannot read /nowhere.json");
  refused_hc("\"Memory\":0", EIO, "the default seccomp profile cannot be used: cannot read /nowhere.json");
  pol.seccomp_default = saved;
}

/* Merges image (JSON text) into body's request with a fixed id. */
static int merge(const char *body, const char *image, ctr_create_req_t *req) {
  if (parse(body, req) != 0)
    return -2;
  struct json_object *img = json_tokener_parse(image);
  berth_error_t err = NULL;
  int r = ctr_create_merge(req, img, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", &host, &err);
  snprintf(last_msg, sizeof last_msg, "%s", err && err->msg ? err->msg : "");
  berth_error_release(&err);
  json_object_put(img);
  return r;
}

static void test_merge(void) {
  const char *img = "{\"Env\":[\"PATH=/bin\",\"LANG=C\"],\"Cmd\":[\"sh\"],\"WorkingDir\":\"/work\",\"User\":\"1000\","
                    "\"Labels\":{\"from\":\"image\",\"both\":\"image\"},\"ExposedPorts\":{\"80/tcp\":{}},"
                    "\"StopSignal\":\"SIGQUIT\"}";
  ctr_create_req_t req;
  int r = merge("{\"Image\":\"x\",\"Env\":[\"LANG=fr\",\"A=1\"],\"Labels\":{\"both\":\"req\"}}", img, &req);
  tap_ok(r == 0, "merge with the image's config");
  if (r == 0) {
    tap_ok(!strcmp(cs(&req, "Env"), "[\"LANG=fr\",\"A=1\",\"PATH=/bin\"]"), "Env: request first, image's "
           "missing keys appended (%s)", cs(&req, "Env"));
    tap_ok(!strcmp(cs(&req, "Cmd"), "[\"sh\"]") && !strcmp(cs(&req, "WorkingDir"), "\"/work\"") &&
           !strcmp(cs(&req, "User"), "\"1000\"") && !strcmp(cs(&req, "StopSignal"), "\"SIGQUIT\""),
           "Cmd, WorkingDir, User, StopSignal from the image");
    tap_ok(!strcmp(cs(&req, "Labels"), "{\"both\":\"req\",\"from\":\"image\"}") &&
           !strcmp(cs(&req, "ExposedPorts"), "{\"80/tcp\":{}}"), "Labels merged (request wins), ExposedPorts");
    tap_ok(!strcmp(cs(&req, "Hostname"), "\"0123456789ab\""), "Hostname: the id's first 12 digits");
    ctr_create_req_release(&req);
  }
  r = merge("{\"Image\":\"x\",\"Entrypoint\":[\"/bin/echo\"]}", "{\"Cmd\":[\"sh\"],\"Entrypoint\":[\"/init\"]}", &req);
  tap_ok(r == 0 && !strcmp(cs(&req, "Cmd"), "null") && !strcmp(cs(&req, "Entrypoint"), "[\"/bin/echo\"]"),
         "an Entrypoint in the request drops the image's Cmd (Cmd %s)", r == 0 ? cs(&req, "Cmd") : last_msg);
  if (r == 0)
    ctr_create_req_release(&req);
  r = merge("{\"Image\":\"x\",\"Cmd\":[\"ls\"]}", "{\"Cmd\":[\"sh\"],\"Entrypoint\":[\"/init\"]}", &req);
  struct json_object *argv = r == 0 ? ctr_argv(req.config) : NULL;
  tap_ok(r == 0 && !strcmp(json_object_to_json_string_ext(argv, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), "[\"/init\",\"ls\"]"),
         "a Cmd in the request keeps the image's Entrypoint: argv %s", argv ? json_object_to_json_string(argv) : "");
  json_object_put(argv);
  if (r == 0)
    ctr_create_req_release(&req);
  r = merge("{\"Image\":\"x\",\"Entrypoint\":[\"\"],\"Cmd\":[\"echo\",\"hi\"]}", "{\"Entrypoint\":[\"/init\"]}", &req);
  argv = r == 0 ? ctr_argv(req.config) : NULL;
  tap_ok(r == 0 && !strcmp(json_object_to_json_string_ext(argv, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE), "[\"echo\",\"hi\"]"),
         "--entrypoint \"\" resets: argv is the Cmd");
  json_object_put(argv);
  if (r == 0)
    ctr_create_req_release(&req);
  r = merge("{\"Image\":\"x\"}", "{\"Env\":[\"A=b\"]}", &req);
  tap_ok(r < 0 && r != -2 && !strcmp(last_msg, "No command specified"), "no command anywhere: %s", last_msg);
  if (r != -2)
    ctr_create_req_release(&req);
  r = merge("{\"Image\":\"x\",\"Entrypoint\":[\"\"]}", "{\"Cmd\":[\"sh\"]}", &req);
  tap_ok(r < 0 && r != -2 && !strcmp(last_msg, "No command specified"), "a reset entrypoint and no Cmd: %s", last_msg);
  if (r != -2)
    ctr_create_req_release(&req);
  r = merge("{\"Image\":\"x\",\"Cmd\":[\"true\"],\"HostConfig\":{\"NetworkMode\":\"host\"}}", "null", &req);
  tap_ok(r == 0 && !strcmp(cs(&req, "Hostname"), "\"hosty\"") && !strcmp(cs(&req, "Labels"), "{}"),
         "host network: the host's hostname; no image config: empty Labels");
  if (r == 0)
    ctr_create_req_release(&req);
}

int main(void) {
  pol.userns = true;
  pol.seccomp_default = strdup(default_profile);
  pol.seccomp_default_len = strlen(default_profile);
  snprintf(pol.config_path, sizeof pol.config_path, "/etc/berth/berth.json");
  host.resolv_conf = strdup("nameserver 127.0.0.53\n");
  host.hosts = strdup("127.0.0.1 localhost\n");
  snprintf(host.hostname, sizeof host.hostname, "hosty");
  host.kernel_major = 6;
  host.kernel_minor = 1;
  host.cap_last = 40;
  host.ncpu = 4;
  test_cli_body();
  test_bad_bodies();
  test_resources();
  test_modes();
  test_security();
  test_merge();
  free(pol.seccomp_default);
  ctr_host_release(&host);
  return tap_done();
}
