/* Record -> ContainerSpec (services/api/ctr_spec.c, ctr_hostfiles.c,
 * ctr_security.c): argv, env as dockerd builds it, cwd, user, hostname,
 * /etc/hosts and /etc/resolv.conf contents, capability masks, seccomp BPF
 * (helper E's compiler) or none, limits, rlimits, stdio, log sizes. Records
 * are built the way create builds them (parse + merge). */
#include <cap-ng.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "ctr.h"
#include "tap.h"

static ctr_policy_t pol;
static ctr_host_t host;
static const char *const profile =
    "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"syscalls\":[{\"names\":[\"read\",\"write\",\"exit_group\"],"
    "\"action\":\"SCMP_ACT_ALLOW\"}]}";
static const char *const image =
    "{\"Config\":{\"Env\":[\"PATH=/usr/bin:/bin\",\"LANG=C\"],\"Cmd\":[\"sh\"],\"Labels\":{\"l\":\"v\"}}}";
#define ID "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"

static char msg[1024];

/* A record from a create body (with the image above), or NULL. */
static api_ctr_t *record(const char *body) {
  ctr_create_req_t req;
  berth_error_t err = NULL;
  struct json_object *img = json_tokener_parse(image);
  api_ctr_t *c = NULL;
  if (ctr_create_parse(body, strlen(body), &pol, &host, &req, &err) == 0) {
    if (ctr_create_merge(&req, json_object_object_get(img, "Config"), ID, &host, &err) == 0) {
      c = calloc(1, sizeof *c);
      memcpy(c->id, ID, 65);
      snprintf(c->name, sizeof c->name, "t1");
      c->config = json_object_get(req.config);
      c->host_config = json_object_get(req.host_config);
      c->chain_ids = json_tokener_parse("[\"sha256:1111\",\"sha256:2222\"]");
    }
    ctr_create_req_release(&req);
  }
  snprintf(msg, sizeof msg, "%s", err && err->msg ? err->msg : "");
  berth_error_release(&err);
  json_object_put(img);
  return c;
}

static Berth__Ipc__ContainerSpec *spec_of(const char *body) {
  api_ctr_t *c = record(body);
  Berth__Ipc__ContainerSpec *s = NULL;
  berth_error_t err = NULL;
  if (c && ctr_spec_build(c, &pol, &host, &s, &err) < 0)
    snprintf(msg, sizeof msg, "%s", err && err->msg ? err->msg : "");
  berth_error_release(&err);
  ctr_free(c);
  return s;
}

static bool strv_is(char **v, size_t n, const char *const *want) {
  size_t i = 0;
  for (; want[i]; i++)
    if (i >= n || strcmp(v[i], want[i]) != 0)
      return false;
  return i == n;
}

static uint64_t caps_of(const char *const *names) {
  uint64_t m = 0;
  for (size_t i = 0; names[i]; i++)
    m |= 1ull << capng_name_to_capability(names[i]);
  return m;
}

static const char *const docker_default[] = {
    "chown", "dac_override", "fsetid", "fowner", "mknod", "net_raw", "setgid",
    "setuid", "setfcap", "setpcap", "net_bind_service", "sys_chroot", "kill", "audit_write", NULL,
};

static void test_plain(void) {
  Berth__Ipc__ContainerSpec *s = spec_of("{\"Image\":\"busybox\",\"Cmd\":[\"echo\",\"hi\"],\"Env\":[\"A=1\"]}");
  tap_ok(s != NULL, "a plain container's spec (%s)", msg);
  if (s == NULL)
    return;
  const char *argv[] = {"echo", "hi", NULL};
  tap_ok(strv_is(s->argv, s->n_argv, argv), "argv: the request's Cmd");
  const char *env[] = {"PATH=/usr/bin:/bin", "HOSTNAME=fedcba987654", "A=1", "LANG=C", NULL};
  tap_ok(strv_is(s->env, s->n_env, env), "env: the image's PATH replaces the default, HOSTNAME, request, image");
  const char *layers[] = {"sha256:1111", "sha256:2222", NULL};
  tap_ok(strv_is(s->layers, s->n_layers, layers), "layers: the chain ids, base first");
  tap_ok(!strcmp(s->cwd, "/") && !strcmp(s->user, "") && !strcmp(s->hostname, "fedcba987654"), "cwd /, no user, "
         "hostname from the id");
  tap_ok(s->capabilities == caps_of(docker_default), "capabilities: Docker's default set (%#llx)",
         (unsigned long long)s->capabilities);
  tap_ok(s->seccomp_bpf.len > 0 && s->seccomp_bpf.len % 8 == 0, "the default profile compiled (%zu bytes)",
         s->seccomp_bpf.len);
  tap_ok(!s->privileged && !s->read_only && s->network == BERTH__IPC__CONTAINER_SPEC__NETWORK__NETWORK_PRIVATE &&
         !s->tty && !s->open_stdin && !s->stdin_once && s->oom_score_adj == 0, "flags default off, private network");
  tap_ok(s->limits && s->limits->memory == 0 && s->limits->memory_swap == 0 && s->limits->cpu_quota == 0 &&
         s->limits->pids == 0 && s->n_rlimits == 0, "no limits");
  tap_ok(s->log_max_size == 5000000 && s->log_max_files == 4, "log sizes from the policy");
  const char *hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n"
                      "ff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n";
  tap_ok(s->hosts.len == strlen(hosts) && memcmp(s->hosts.data, hosts, s->hosts.len) == 0, "/etc/hosts: Docker's "
         "default lines");
  const char *resolv = "# host file\nsearch example.org\nnameserver 192.0.2.1\noptions ndots:2\n";
  tap_ok(s->resolv_conf.len == strlen(resolv) && memcmp(s->resolv_conf.data, resolv, s->resolv_conf.len) == 0,
         "/etc/resolv.conf: the host's without loopback nameservers");
  ctr_spec_free(s);
}

static void test_options(void) {
  Berth__Ipc__ContainerSpec *s = spec_of(
      "{\"Image\":\"busybox\",\"Entrypoint\":[\"/bin/sh\",\"-c\"],\"Cmd\":[\"exit 3\"],\"Tty\":true,"
      "\"OpenStdin\":true,\"StdinOnce\":true,\"WorkingDir\":\"/srv\",\"User\":\"nobody:nogroup\",\"Hostname\":\"web\","
      "\"Env\":[\"PATH=/x\",\"HOSTNAME\",\"TERM=vt100\"],"
      "\"HostConfig\":{\"Memory\":67108864,\"NanoCpus\":1500000000,\"CpuShares\":1,\"PidsLimit\":64,"
      "\"CpusetCpus\":\"0-1\",\"CpusetMems\":\"0\",\"ReadonlyRootfs\":true,\"GroupAdd\":[\"10\",\"20\"],"
      "\"Ulimits\":[{\"Name\":\"nofile\",\"Soft\":1024,\"Hard\":2048},{\"Name\":\"core\",\"Soft\":-1,\"Hard\":-1}],"
      "\"CapAdd\":[\"NET_ADMIN\"],\"CapDrop\":[\"mknod\",\"CAP_KILL\"],\"NetworkMode\":\"none\","
      "\"ExtraHosts\":[\"db:10.1.2.3\"],\"Dns\":[\"192.0.2.53\"],\"DnsSearch\":[\"corp\"],"
      "\"LogConfig\":{\"Config\":{\"max-size\":\"2k\",\"max-file\":\"7\"}}}}");
  tap_ok(s != NULL, "a container with options (%s)", msg);
  if (s == NULL)
    return;
  const char *argv[] = {"/bin/sh", "-c", "exit 3", NULL};
  tap_ok(strv_is(s->argv, s->n_argv, argv), "argv: Entrypoint + Cmd");
  const char *env[] = {"PATH=/x", "TERM=vt100", "LANG=C", NULL};
  tap_ok(strv_is(s->env, s->n_env, env), "env: PATH replaced, HOSTNAME unset by a bare key, TERM overridden");
  tap_ok(!strcmp(s->cwd, "/srv") && !strcmp(s->user, "nobody:nogroup") && !strcmp(s->hostname, "web") &&
         s->n_extra_gids == 2 && s->extra_gids[1] == 20, "cwd, user, hostname, extra gids");
  tap_ok(s->tty && s->open_stdin && s->stdin_once && s->read_only, "tty, stdin, read-only root");
  uint64_t want = (caps_of(docker_default) & ~(1ull << capng_name_to_capability("mknod")) &
                   ~(1ull << capng_name_to_capability("kill"))) | (1ull << capng_name_to_capability("net_admin"));
  tap_ok(s->capabilities == want, "CapAdd NET_ADMIN, CapDrop mknod and CAP_KILL");
  Berth__Ipc__ContainerLimits *l = s->limits;
  tap_ok(l->memory == 67108864 && l->memory_swap == 2 * 67108864 && l->cpu_quota == 150000 &&
         l->cpu_period == 100000 && l->cpu_shares == 2 && l->pids == 64 && !strcmp(l->cpuset_cpus, "0-1") &&
         !strcmp(l->cpuset_mems, "0"), "limits: memory, swap 2x, 1.5 CPUs as quota/period, shares clamped to 2, pids, "
         "cpusets");
  tap_ok(s->n_rlimits == 2 && s->rlimits[0]->type == RLIMIT_NOFILE && s->rlimits[0]->soft == 1024 &&
         s->rlimits[0]->hard == 2048 && s->rlimits[1]->type == RLIMIT_CORE && s->rlimits[1]->soft == RLIM_INFINITY,
         "rlimits: nofile 1024/2048, core unlimited");
  tap_ok(s->log_max_size == 2048 && s->log_max_files == 7, "log sizes from LogConfig");
  tap_ok(s->hosts.len > 0 && strstr((char *)s->hosts.data, "\n10.1.2.3\tdb\n") != NULL, "ExtraHosts line");
  const char *resolv = "search corp\nnameserver 192.0.2.53\noptions ndots:2\n";
  tap_ok(s->resolv_conf.len == strlen(resolv) && memcmp(s->resolv_conf.data, resolv, s->resolv_conf.len) == 0,
         "Dns and DnsSearch replace the host's, its options stay");
  ctr_spec_free(s);
}

static void test_caps_and_seccomp(void) {
  Berth__Ipc__ContainerSpec *s = spec_of("{\"Image\":\"b\",\"Cmd\":[\"x\"],\"HostConfig\":{\"CapDrop\":[\"ALL\"],"
                                         "\"CapAdd\":[\"chown\"]}}");
  tap_ok(s && s->capabilities == 1ull << capng_name_to_capability("chown"), "CapDrop ALL + CapAdd CHOWN");
  ctr_spec_free(s);
  s = spec_of("{\"Image\":\"b\",\"Cmd\":[\"x\"],\"HostConfig\":{\"CapAdd\":[\"ALL\"],\"CapDrop\":[\"SYS_ADMIN\"]}}");
  tap_ok(s && s->capabilities == (((1ull << 41) - 1) & ~(1ull << capng_name_to_capability("sys_admin"))),
         "CapAdd ALL - SYS_ADMIN");
  ctr_spec_free(s);
  s = spec_of("{\"Image\":\"b\",\"Cmd\":[\"x\"],\"HostConfig\":{\"SecurityOpt\":[\"seccomp={\\\"defaultAction\\\":"
              "\\\"SCMP_ACT_ALLOW\\\"}\"]}}");
  Berth__Ipc__ContainerSpec *d = spec_of("{\"Image\":\"b\",\"Cmd\":[\"x\"]}");
  tap_ok(s && d && s->seccomp_bpf.len > 0 && (s->seccomp_bpf.len != d->seccomp_bpf.len ||
                                              memcmp(s->seccomp_bpf.data, d->seccomp_bpf.data, d->seccomp_bpf.len)),
         "a custom profile gives another program than the default");
  ctr_spec_free(s);
  ctr_spec_free(d);
  /* compiled programs are reused: the same inputs give the same program, a
   * different capability set (caps-dependent rules) its own */
  size_t cached = ctr_spec_seccomp_cached();
  d = spec_of("{\"Image\":\"b\",\"Cmd\":[\"x\"]}");
  s = spec_of("{\"Image\":\"b\",\"Cmd\":[\"x\"]}");
  tap_ok(s && d && s->seccomp_bpf.len == d->seccomp_bpf.len && s->seccomp_bpf.data != d->seccomp_bpf.data &&
             memcmp(s->seccomp_bpf.data, d->seccomp_bpf.data, d->seccomp_bpf.len) == 0 &&
             ctr_spec_seccomp_cached() == cached,
         "the default profile's program is reused (%zu cached), an own copy per spec", cached);
  ctr_spec_free(s);
  s = spec_of("{\"Image\":\"b\",\"Cmd\":[\"x\"],\"HostConfig\":{\"CapDrop\":[\"AUDIT_WRITE\",\"MKNOD\"]}}");
  tap_ok(s && s->seccomp_bpf.len > 0 && ctr_spec_seccomp_cached() == cached + 1,
         "another capability set is compiled and kept on its own (rules may depend on capabilities)");
  ctr_spec_free(s);
  ctr_spec_free(d);
  pol.allow_privileged = true;
  s = spec_of("{\"Image\":\"b\",\"Cmd\":[\"x\"],\"HostConfig\":{\"SecurityOpt\":[\"seccomp=unconfined\"]}}");
  tap_ok(s && s->seccomp_bpf.len == 0 && s->capabilities == caps_of(docker_default), "unconfined: no filter");
  ctr_spec_free(s);
  s = spec_of("{\"Image\":\"b\",\"Cmd\":[\"x\"],\"HostConfig\":{\"Privileged\":true,\"NetworkMode\":\"host\"}}");
  tap_ok(s && s->privileged && s->seccomp_bpf.len == 0 && s->capabilities == (1ull << 41) - 1 &&
         s->network == BERTH__IPC__CONTAINER_SPEC__NETWORK__NETWORK_HOST, "privileged: all capabilities, no filter");
  if (s) {
    tap_ok(s->hosts.len == strlen(host.hosts) && !memcmp(s->hosts.data, host.hosts, s->hosts.len) &&
           s->resolv_conf.len == strlen(host.resolv_conf) && !memcmp(s->resolv_conf.data, host.resolv_conf,
                                                                     s->resolv_conf.len) &&
           !strcmp(s->hostname, "hosty"), "host network: the host's hosts, resolv.conf and hostname");
  }
  ctr_spec_free(s);
  pol.allow_privileged = false;

  api_ctr_t *c = record("{\"Image\":\"b\",\"Cmd\":[\"x\"]}");
  char *saved = pol.seccomp_default;
  pol.seccomp_default = NULL;
  snprintf(pol.seccomp_error, sizeof pol.seccomp_error, "cannot read /gone.json");
  berth_error_t err = NULL;
  s = NULL;
  int r = c ? ctr_spec_build(c, &pol, &host, &s, &err) : 0;
  tap_ok(r < 0 && s == NULL && err && err->status == ENOENT && strstr(err->msg, "/gone.json"),
         "the default profile gone since create: a clear error (%s)", err ? err->msg : "");
  berth_error_release(&err);
  pol.seccomp_default = saved;
  json_object_object_add(c->config, "Cmd", NULL);
  r = ctr_spec_build(c, &pol, &host, &s, &err);
  tap_ok(r < 0 && err && !strcmp(err->msg, "No command specified"), "a damaged record without a command: %s",
         err ? err->msg : "");
  berth_error_release(&err);
  ctr_free(c);
}

static void test_resolv(void) {
  ctr_host_t h = host;
  h.resolv_conf = "nameserver 127.0.0.53\noptions edns0\n";
  h.resolv_conf_alt = "nameserver 10.0.0.2\nnameserver ::1\n";
  struct json_object *hc = json_tokener_parse("{\"NetworkMode\":\"default\"}");
  char *t = ctr_resolv_text(hc, &h);
  tap_ok(!strcmp(t, "nameserver 10.0.0.2\n"), "systemd-resolved's stub: its upstream list instead");
  free(t);
  h.resolv_conf_alt = NULL;
  t = ctr_resolv_text(hc, &h);
  tap_ok(!strcmp(t, "options edns0\n"), "only loopback nameservers: none left, no public fallback");
  free(t);
  json_object_put(hc);
}

int main(void) {
  pol.userns = true;
  pol.seccomp_default = strdup(profile);
  pol.seccomp_default_len = strlen(profile);
  pol.log_max_size = 5000000;
  pol.log_max_files = 4;
  snprintf(pol.config_path, sizeof pol.config_path, "/etc/berth/berth.json");
  host.resolv_conf = strdup("# host file\nnameserver 127.0.0.53\nsearch example.org\nnameserver 192.0.2.1\n"
                            "nameserver ::1\noptions ndots:2\n");
  host.hosts = strdup("127.0.0.1 localhost myhost\n");
  snprintf(host.hostname, sizeof host.hostname, "hosty");
  host.kernel_major = 6;
  host.kernel_minor = 1;
  host.cap_last = 40;
  host.ncpu = 4;
  test_plain();
  test_options();
  test_caps_and_seccomp();
  test_resolv();
  free(pol.seccomp_default);
  ctr_host_release(&host);
  return tap_done();
}
