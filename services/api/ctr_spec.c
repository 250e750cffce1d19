/* A record (+ policy + host facts) -> the ContainerSpec the executor starts.
 * Pure: the stored Config/HostConfig were normalised and checked at create;
 * this only reads them (defensively: a damaged record gives an error, not a
 * wrong container). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include "ctr_internal.h"
#include "ctr_json.h"
#include "seccomp_profile.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

typedef Berth__Ipc__ContainerSpec spec_t;

void ctr_spec_free(spec_t *s) {
  if (s)
    berth__ipc__container_spec__free_unpacked(s, NULL);
}

/* Every string and array below is malloc'd, so that free_unpacked frees it all. */
static char **strv_from(struct json_object *a, size_t *n) {
  *n = 0;
  size_t len = ctrj_len(a);
  char **v = calloc(len ? len : 1, sizeof *v);
  for (size_t i = 0; v && i < len; i++) {
    v[i] = strdup(ctrj_idx_str(a, i));
    if (v[i] == NULL)
      break;
    (*n)++;
  }
  return v;
}

static size_t env_key(const char *e) {
  const char *eq = strchr(e, '=');
  return eq ? (size_t)(eq - e) : strlen(e);
}

/* dockerd's CreateDaemonEnvironment + ReplaceOrAppendEnvValues. */
static struct json_object *make_env(struct json_object *cfg) {
  struct json_object *env = json_object_new_array();
  json_object_array_add(env, json_object_new_string("PATH=" DEFAULT_PATH));
  char host[128];
  snprintf(host, sizeof host, "HOSTNAME=%s", ctrj_str_or(cfg, "Hostname", ""));
  json_object_array_add(env, json_object_new_string(host));
  if (ctrj_bool_or(cfg, "Tty", false))
    json_object_array_add(env, json_object_new_string("TERM=xterm"));
  size_t ndefaults = json_object_array_length(env);
  struct json_object *over = ctrj_get(cfg, "Env");
  for (size_t i = 0; i < ctrj_len(over); i++) {
    const char *o = ctrj_idx_str(over, i);
    size_t k = env_key(o);
    size_t j = 0;
    for (; j < ndefaults; j++) {
      const char *d = ctrj_idx_str(env, j);
      if (d[0] && env_key(d) == k && strncmp(d, o, k) == 0)
        break;
    }
    if (o[k] != '=') { /* "KEY" alone unsets a default */
      if (j < ndefaults)
        json_object_array_put_idx(env, j, json_object_new_string(""));
      continue;
    }
    if (j < ndefaults)
      json_object_array_put_idx(env, j, json_object_new_string(o));
    else
      json_object_array_add(env, json_object_new_string(o));
  }
  struct json_object *out = json_object_new_array();
  for (size_t i = 0; i < json_object_array_length(env); i++)
    if (ctrj_idx_str(env, i)[0])
      json_object_array_add(out, json_object_new_string(ctrj_idx_str(env, i)));
  json_object_put(env);
  return out;
}

static int set_bytes(ProtobufCBinaryData *b, char *text) {
  if (text == NULL)
    return -1;
  b->data = (uint8_t *)text;
  b->len = strlen(text);
  return 0;
}

static int fill_limits(spec_t *s, struct json_object *hc) {
  Berth__Ipc__ContainerLimits *l = calloc(1, sizeof *l);
  if (l == NULL)
    return -1;
  berth__ipc__container_limits__init(l);
  s->limits = l;
  l->memory = ctrj_int_or(hc, "Memory", 0);
  l->memory_swap = ctrj_int_or(hc, "MemorySwap", 0);
  if (l->memory > 0 && l->memory_swap == 0)
    l->memory_swap = l->memory * 2;
  int64_t nano = ctrj_int_or(hc, "NanoCpus", 0);
  if (nano > 0) {
    l->cpu_period = 100000;
    l->cpu_quota = nano / 10000; /* nano * 100000 / 1e9 */
  } else {
    l->cpu_period = (uint64_t)ctrj_int_or(hc, "CpuPeriod", 0);
    l->cpu_quota = ctrj_int_or(hc, "CpuQuota", 0);
    if (l->cpu_quota < 0)
      l->cpu_quota = 0; /* -1: unlimited, as unset */
  }
  int64_t shares = ctrj_int_or(hc, "CpuShares", 0);
  l->cpu_shares = shares <= 0 ? 0 : shares < 2 ? 2 : shares > 262144 ? 262144 : (uint64_t)shares;
  l->cpuset_cpus = strdup(ctrj_str_or(hc, "CpusetCpus", ""));
  l->cpuset_mems = strdup(ctrj_str_or(hc, "CpusetMems", ""));
  int64_t pids = ctrj_int_or(hc, "PidsLimit", 0);
  l->pids = pids > 0 ? pids : 0;
  return l->cpuset_cpus && l->cpuset_mems ? 0 : -1;
}

static int fill_rlimits(spec_t *s, struct json_object *hc) {
  struct json_object *ul = ctrj_get(hc, "Ulimits");
  size_t n = ctrj_len(ul);
  s->rlimits = calloc(n ? n : 1, sizeof *s->rlimits);
  if (s->rlimits == NULL)
    return -1;
  for (size_t i = 0; i < n; i++) {
    struct json_object *u = json_object_array_get_idx(ul, i);
    int type = ctr_ulimit_type(ctrj_str_or(u, "Name", ""));
    if (type < 0)
      continue;
    Berth__Ipc__ContainerRlimit *r = calloc(1, sizeof *r);
    if (r == NULL)
      return -1;
    berth__ipc__container_rlimit__init(r);
    int64_t soft = ctrj_int_or(u, "Soft", 0), hard = ctrj_int_or(u, "Hard", 0);
    r->type = (uint32_t)type;
    r->soft = soft < 0 ? RLIM_INFINITY : (uint64_t)soft;
    r->hard = hard < 0 ? RLIM_INFINITY : (uint64_t)hard;
    s->rlimits[s->n_rlimits++] = r;
  }
  return 0;
}

/* libseccomp takes ~10 ms to build a program: starts reuse the last few,
 * keyed by the exact profile text, capabilities and kernel. */
#define SECCOMP_CACHE_SLOTS 8
static struct {
  char *json;
  size_t len;
  seccomp_target_t target;
  uint8_t *bpf;
  size_t blen;
} seccomp_cache[SECCOMP_CACHE_SLOTS];
static unsigned seccomp_cache_next;

static int compile_cached(const char *json, size_t len, const seccomp_target_t *t, uint8_t **bpf, size_t *blen,
                          berth_error_t *err) {
  for (size_t i = 0; i < SECCOMP_CACHE_SLOTS; i++) {
    typeof(seccomp_cache[0]) *e = &seccomp_cache[i];
    if (e->json && e->len == len && e->target.capabilities == t->capabilities &&
        e->target.kernel_major == t->kernel_major && e->target.kernel_minor == t->kernel_minor &&
        memcmp(e->json, json, len) == 0) {
      if ((*bpf = malloc(e->blen)) == NULL)
        return berth_error_make(err, ENOMEM, "seccomp: out of memory");
      memcpy(*bpf, e->bpf, *blen = e->blen);
      return 0;
    }
  }
  if (seccomp_profile_compile(json, len, t, bpf, blen, err) < 0)
    return -1;
  typeof(seccomp_cache[0]) *e = &seccomp_cache[seccomp_cache_next++ % SECCOMP_CACHE_SLOTS];
  free(e->json);
  free(e->bpf);
  *e = (typeof(*e)){.json = malloc(len ? len : 1), .len = len, .target = *t, .bpf = malloc(*blen), .blen = *blen};
  if (e->json == NULL || e->bpf == NULL) { /* no room to remember: fine, next time compiles again */
    free(e->json);
    free(e->bpf);
    *e = (typeof(*e)){0};
    return 0;
  }
  memcpy(e->json, json, len);
  memcpy(e->bpf, *bpf, *blen);
  return 0;
}

size_t ctr_spec_seccomp_cached(void) {
  size_t n = 0;
  for (size_t i = 0; i < SECCOMP_CACHE_SLOTS; i++)
    n += seccomp_cache[i].json != NULL;
  return n;
}

static int fill_seccomp(spec_t *s, struct json_object *hc, const ctr_policy_t *pol, const ctr_host_t *host,
                        berth_error_t *err) {
  const char *json;
  size_t len;
  bool unconfined;
  if (s->privileged)
    return 0;
  if (ctr_seccomp_choice(hc, &json, &len, &unconfined, err) < 0)
    return -1;
  if (unconfined)
    return 0;
  if (json == NULL) {
    if (pol->seccomp_default == NULL)
      return berth_error_make(err, ENOENT, "the default seccomp profile cannot be used: %s", pol->seccomp_error);
    json = pol->seccomp_default;
    len = pol->seccomp_default_len;
  }
  seccomp_target_t target = {.capabilities = s->capabilities, .kernel_major = host->kernel_major,
                             .kernel_minor = host->kernel_minor};
  uint8_t *bpf = NULL;
  size_t blen = 0;
  if (compile_cached(json, len, &target, &bpf, &blen, err) < 0)
    return -1;
  s->seccomp_bpf.data = bpf;
  s->seccomp_bpf.len = blen;
  return 0;
}

int ctr_spec_build(const api_ctr_t *c, const ctr_policy_t *pol, const ctr_host_t *host, spec_t **out,
                   berth_error_t *err) {
  *out = NULL;
  struct json_object *cfg = c->config, *hc = c->host_config;
  spec_t *s = calloc(1, sizeof *s);
  if (s == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  berth__ipc__container_spec__init(s);
  struct json_object *argv = ctr_argv(cfg), *env = make_env(cfg), *gids = ctrj_get(hc, "GroupAdd");
  int r = -1;
  s->layers = strv_from(c->chain_ids, &s->n_layers);
  s->argv = strv_from(argv, &s->n_argv);
  s->env = strv_from(env, &s->n_env);
  const char *wd = ctrj_str_or(cfg, "WorkingDir", "");
  s->cwd = strdup(wd[0] ? wd : "/");
  s->user = strdup(ctrj_str_or(cfg, "User", ""));
  s->hostname = strdup(ctrj_str_or(cfg, "Hostname", ""));
  s->domainname = strdup(ctrj_str_or(cfg, "Domainname", ""));
  s->extra_gids = calloc(ctrj_len(gids) + 1, sizeof *s->extra_gids);
  for (size_t i = 0; s->extra_gids && i < ctrj_len(gids); i++)
    s->extra_gids[s->n_extra_gids++] = (uint32_t)strtoul(ctrj_idx_str(gids, i), NULL, 10);
  if (!s->layers || !s->argv || !s->env || !s->cwd || !s->user || !s->hostname || !s->domainname || !s->extra_gids ||
      set_bytes(&s->hosts, ctr_hosts_text(cfg, hc, host)) < 0 || set_bytes(&s->resolv_conf, ctr_resolv_text(hc, host)) < 0 ||
      fill_limits(s, hc) < 0 || fill_rlimits(s, hc) < 0) {
    berth_error_make(err, ENOMEM, "out of memory building the container's spec");
    goto out;
  }
  if (s->n_argv == 0 || s->argv[0][0] == '\0') {
    berth_error_make(err, EINVAL, "No command specified");
    goto out;
  }
  if (s->n_layers == 0) {
    berth_error_make(err, EINVAL, "the container's record names no image layers");
    goto out;
  }
  s->privileged = ctrj_bool_or(hc, "Privileged", false);
  if (ctr_capabilities(hc, host->cap_last, &s->capabilities, err) < 0 || fill_seccomp(s, hc, pol, host, err) < 0)
    goto out;
  s->read_only = ctrj_bool_or(hc, "ReadonlyRootfs", false);
  s->network = strcmp(ctrj_str_or(hc, "NetworkMode", ""), "host") == 0 && !ctrj_bool_or(cfg, "NetworkDisabled", false)
                   ? BERTH__IPC__CONTAINER_SPEC__NETWORK__NETWORK_HOST
                   : BERTH__IPC__CONTAINER_SPEC__NETWORK__NETWORK_PRIVATE;
  s->tty = ctrj_bool_or(cfg, "Tty", false);
  s->open_stdin = ctrj_bool_or(cfg, "OpenStdin", false);
  s->stdin_once = ctrj_bool_or(cfg, "StdinOnce", false);
  s->oom_score_adj = (int32_t)ctrj_int_or(hc, "OomScoreAdj", 0);
  ctr_log_limits(hc, pol, &s->log_max_size, &s->log_max_files);
  *out = s;
  s = NULL;
  r = 0;
out:
  json_object_put(argv);
  json_object_put(env);
  ctr_spec_free(s);
  return r;
}

int ctr_spec_make(const api_ctr_t *c, const ctr_policy_t *pol, spec_t **out, berth_error_t *err) {
  ctr_host_t host;
  ctr_host_read(&host);
  int r = ctr_spec_build(c, pol, &host, out, err);
  ctr_host_release(&host);
  return r;
}
