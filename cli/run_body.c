/* berth run / create: the options both take and the POST /containers/create
 * body they make, as the docker CLI (cli/command/container/opts.go) makes
 * it: Config + HostConfig + NetworkingConfig, with docker's defaults
 * (NetworkMode "default", MemorySwappiness -1, ConsoleSize, RestartPolicy
 * "no") and docker's client-side checks and messages. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include "ctr.h"

#define LIST(s, l, t) { s, l, CLI_OPT_LIST, t, NULL, NULL }
#define STR(s, l, t) { s, l, CLI_OPT_STRING, t, NULL, NULL }
#define BOOL(s, l, t) { s, l, CLI_OPT_BOOL, t, NULL, NULL }

size_t cli_run_opt_table(cli_run_opts_t *o, bool run, cli_opt_t *table, size_t n) {
  const cli_opt_t common[] = {
    LIST('a', "attach", &o->attach),
    LIST(0, "cap-add", &o->cap_add),
    LIST(0, "cap-drop", &o->cap_drop),
    STR('c', "cpu-shares", &o->cpu_shares),
    STR(0, "cpus", &o->cpus),
    STR(0, "cpuset-cpus", &o->cpuset_cpus),
    STR(0, "cpuset-mems", &o->cpuset_mems),
    STR(0, "entrypoint", &o->entrypoint),
    LIST('e', "env", &o->env),
    LIST(0, "env-file", &o->env_file),
    STR('h', "hostname", &o->hostname),
    BOOL(0, "init", &o->init),
    BOOL('i', "interactive", &o->interactive),
    LIST('l', "label", &o->label),
    STR('m', "memory", &o->memory),
    STR(0, "memory-swap", &o->memory_swap),
    STR(0, "name", &o->name),
    STR(0, "net", &o->network),
    STR(0, "network", &o->network),
    STR(0, "pids-limit", &o->pids_limit),
    STR(0, "platform", &o->platform),
    BOOL(0, "privileged", &o->privileged),
    STR(0, "pull", &o->pull),
    BOOL(0, "read-only", &o->read_only),
    STR(0, "restart", &o->restart),
    BOOL(0, "rm", &o->rm),
    LIST(0, "security-opt", &o->security_opt),
    STR(0, "shm-size", &o->shm_size),
    STR(0, "stop-signal", &o->stop_signal),
    STR(0, "stop-timeout", &o->stop_timeout),
    BOOL('t', "tty", &o->tty),
    LIST(0, "ulimit", &o->ulimit),
    STR('u', "user", &o->user),
    STR('w', "workdir", &o->workdir),
  };
  const cli_opt_t run_only[] = {
    BOOL('d', "detach", &o->detach),
    STR(0, "detach-keys", &o->detach_keys),
  };
  size_t k = 0;
  for (size_t i = 0; i < sizeof common / sizeof common[0] && k + 1 < n; i++)
    table[k++] = common[i];
  for (size_t i = 0; run && i < sizeof run_only / sizeof run_only[0] && k + 1 < n; i++)
    table[k++] = run_only[i];
  table[k] = (cli_opt_t){ 0, NULL, 0, NULL, NULL, NULL };
  return k;
}

void cli_run_opts_free(cli_run_opts_t *o) {
  cli_strv_t *lists[] = { &o->env, &o->env_file, &o->cap_add, &o->cap_drop, &o->security_opt,
                          &o->ulimit, &o->label, &o->attach };
  for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
    cli_strv_free(lists[i]);
}

/* Whole file into memory (at most 16 MiB); NULL with why. */
static char *read_file(const char *path, size_t *len, char *why, size_t wlen) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) {
    snprintf(why, wlen, "open %s: %s", path, strerror(errno));
    if (fd >= 0)
      close(fd);
    return NULL;
  }
  if (S_ISDIR(st.st_mode)) {
    snprintf(why, wlen, "read %s: %s", path, strerror(EISDIR));
    close(fd);
    return NULL;
  }
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (buf == NULL || n > 16u << 20) {
      snprintf(why, wlen, "read %s: %s", path, buf ? "larger than 16 MiB" : "out of memory");
      break;
    }
    if (n + 1 >= cap) {
      char *p = realloc(buf, cap *= 2);
      if (p == NULL) {
        free(buf);
        buf = NULL;
        continue;
      }
      buf = p;
    }
    ssize_t r = read(fd, buf + n, cap - n - 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      snprintf(why, wlen, "read %s: %s", path, strerror(errno));
      break;
    }
    if (r == 0) {
      close(fd);
      buf[n] = '\0';
      *len = n;
      return buf;
    }
    n += (size_t)r;
  }
  close(fd);
  free(buf);
  return NULL;
}

typedef struct {
  char *why;
  size_t wlen;
  bool failed;
} errs_t;

__attribute__((format(printf, 2, 3))) static void fail(errs_t *e, const char *fmt, ...) {
  if (e->failed)
    return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(e->why, e->wlen, fmt, ap);
  va_end(ap);
  e->failed = true;
}

static const char *strconv_err(const char *v) {
  static __thread char buf[160];
  snprintf(buf, sizeof buf, "strconv.ParseInt: parsing \"%.100s\": invalid syntax", v);
  return buf;
}

static bool int_value(const char *v, int64_t *out) {
  char *end;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  if (v[0] == '\0' || *end || errno)
    return false;
  *out = x;
  return true;
}

static json_object *strv_array(const cli_strv_t *l) {
  if (l->n == 0)
    return NULL; /* null, as docker sends an unset list */
  json_object *a = json_object_new_array();
  for (size_t i = 0; i < l->n; i++)
    json_object_array_add(a, json_object_new_string(l->v[i]));
  return a;
}

/* docker's parseSecurityOpts: seccomp=FILE becomes seccomp=<compact JSON>. */
static json_object *security_opts(const cli_strv_t *l, errs_t *e) {
  if (l->n == 0)
    return NULL;
  json_object *a = json_object_new_array();
  for (size_t i = 0; i < l->n && !e->failed; i++) {
    const char *opt = l->v[i], *sep = strchr(opt, '=');
    if (sep == NULL && strcmp(opt, "no-new-privileges") != 0)
      sep = strchr(opt, ':');
    if ((sep == NULL || sep[1] == '\0') && strcmp(opt, "no-new-privileges") != 0) {
      fail(e, "Invalid --security-opt: \"%s\"", opt);
      break;
    }
    if (sep && (size_t)(sep - opt) == 7 && strncmp(opt, "seccomp", 7) == 0 && strcmp(sep + 1, "unconfined") != 0 &&
        strcmp(sep + 1, "builtin") != 0) {
      size_t len;
      char why[256], *text = read_file(sep + 1, &len, why, sizeof why);
      if (text == NULL) {
        fail(e, "opening seccomp profile (%s) failed: %s", sep + 1, why);
        break;
      }
      char *compact = cli_json_compact(text, len, why, sizeof why), *v = NULL;
      free(text);
      if (compact == NULL) {
        fail(e, "compacting json for seccomp profile (%s) failed: %s", sep + 1, why);
        break;
      }
      if (asprintf(&v, "seccomp=%s", compact) < 0)
        v = NULL;
      free(compact);
      json_object_array_add(a, json_object_new_string(v ? v : ""));
      free(v);
      continue;
    }
    json_object_array_add(a, json_object_new_string(opt));
  }
  return a;
}

static json_object *environment(const cli_run_opts_t *o, errs_t *e) {
  json_object *env = json_object_new_array();
  for (size_t i = 0; i < o->env_file.n && !e->failed; i++) {
    size_t len;
    char why[512], *text = read_file(o->env_file.v[i], &len, why, sizeof why);
    if (text == NULL || cli_parse_env_file(o->env_file.v[i], text, len, env, why, sizeof why) < 0)
      fail(e, "%s", why);
    free(text);
  }
  for (size_t i = 0; i < o->env.n && !e->failed; i++) {
    char *v = cli_env_value(o->env.v[i]);
    if (v == NULL)
      fail(e, "invalid argument \"%s\" for \"-e, --env\" flag: invalid environment variable: %s", o->env.v[i],
           o->env.v[i]);
    else
      json_object_array_add(env, json_object_new_string(v));
    free(v);
  }
  return env;
}

static json_object *labels(const cli_strv_t *l) {
  json_object *m = json_object_new_object();
  for (size_t i = 0; i < l->n; i++) {
    const char *eq = strchr(l->v[i], '=');
    char *k = eq ? strndup(l->v[i], (size_t)(eq - l->v[i])) : strdup(l->v[i]);
    if (k)
      json_object_object_add(m, k, json_object_new_string(eq ? eq + 1 : ""));
    free(k);
  }
  return m;
}

static void add(json_object *o, const char *k, json_object *v) {
  json_object_object_add(o, k, v);
}

/* The HostConfig's resources and limits. */
static void resources(const cli_run_opts_t *o, json_object *hc, errs_t *e) {
  int64_t v = 0;
  if (o->memory && *o->memory && cli_parse_ram(o->memory, &v) < 0)
    fail(e, "invalid argument \"%s\" for \"-m, --memory\" flag: invalid size: '%s'", o->memory, o->memory);
  add(hc, "Memory", json_object_new_int64(o->memory && *o->memory ? v : 0));
  v = 0;
  if (o->memory_swap && strcmp(o->memory_swap, "-1") == 0)
    v = -1;
  else if (o->memory_swap && *o->memory_swap && cli_parse_ram(o->memory_swap, &v) < 0)
    fail(e, "invalid argument \"%s\" for \"--memory-swap\" flag: invalid size: '%s'", o->memory_swap,
         o->memory_swap);
  add(hc, "MemorySwap", json_object_new_int64(v));
  add(hc, "MemorySwappiness", json_object_new_int64(-1));
  v = 0;
  if (o->cpus && !cli_parse_nanocpus(o->cpus, &v))
    fail(e, "invalid argument \"%s\" for \"--cpus\" flag: failed to parse %s as a rational number", o->cpus,
         o->cpus);
  add(hc, "NanoCpus", json_object_new_int64(v));
  v = 0;
  if (o->cpu_shares && !int_value(o->cpu_shares, &v))
    fail(e, "invalid argument \"%s\" for \"-c, --cpu-shares\" flag: %s", o->cpu_shares, strconv_err(o->cpu_shares));
  add(hc, "CpuShares", json_object_new_int64(v));
  add(hc, "CpusetCpus", json_object_new_string(o->cpuset_cpus ? o->cpuset_cpus : ""));
  add(hc, "CpusetMems", json_object_new_string(o->cpuset_mems ? o->cpuset_mems : ""));
  if (o->pids_limit) {
    if (!int_value(o->pids_limit, &v))
      fail(e, "invalid argument \"%s\" for \"--pids-limit\" flag: %s", o->pids_limit, strconv_err(o->pids_limit));
    add(hc, "PidsLimit", json_object_new_int64(v));
  } else {
    add(hc, "PidsLimit", NULL);
  }
  v = 0;
  if (o->shm_size && cli_parse_ram(o->shm_size, &v) < 0)
    fail(e, "invalid argument \"%s\" for \"--shm-size\" flag: invalid size: '%s'", o->shm_size, o->shm_size);
  add(hc, "ShmSize", json_object_new_int64(v));
  json_object *ul = NULL;
  for (size_t i = 0; i < o->ulimit.n && !e->failed; i++) {
    char why[256];
    json_object *u = cli_parse_ulimit(o->ulimit.v[i], why, sizeof why);
    if (u == NULL) {
      fail(e, "invalid argument \"%s\" for \"--ulimit\" flag: %s", o->ulimit.v[i], why);
      break;
    }
    if (ul == NULL)
      ul = json_object_new_array();
    json_object_array_add(ul, u);
  }
  add(hc, "Ulimits", ul);
}

/* --restart no|always|unless-stopped|on-failure[:N], as docker's
 * opts.ParseRestartPolicy (the engine checks the name and the count);
 * "" is docker's empty policy. */
static json_object *restart_policy(const cli_run_opts_t *o, errs_t *e) {
  const char *s = o->restart ? o->restart : "no";
  const char *colon = strchr(s, ':');
  size_t nlen = colon ? (size_t)(colon - s) : strlen(s);
  int64_t count = 0;
  if (colon && nlen == 0)
    fail(e, "invalid restart policy format: no policy provided before colon");
  else if (colon && colon[1] && (!int_value(colon + 1, &count) || count < INT32_MIN || count > INT32_MAX))
    fail(e, "invalid restart policy format: maximum retry count must be an integer");
  bool none = nlen == 0 || (nlen == 2 && strncmp(s, "no", 2) == 0);
  if (o->rm && !none)
    fail(e, "conflicting options: cannot specify both --restart and --rm");
  json_object *rp = json_object_new_object();
  add(rp, "Name", json_object_new_string_len(s, (int)nlen));
  add(rp, "MaximumRetryCount", json_object_new_int64(count));
  return rp;
}

static json_object *host_config(const cli_run_opts_t *o, const char *network, int h, int w, errs_t *e) {
  json_object *hc = json_object_new_object();
  add(hc, "Binds", NULL);
  json_object *log = json_object_new_object();
  add(log, "Type", json_object_new_string(""));
  add(log, "Config", json_object_new_object());
  add(hc, "LogConfig", log);
  add(hc, "NetworkMode", json_object_new_string(network));
  add(hc, "PortBindings", json_object_new_object());
  add(hc, "RestartPolicy", restart_policy(o, e));
  add(hc, "AutoRemove", json_object_new_boolean(o->rm));
  json_object *cs = json_object_new_array();
  json_object_array_add(cs, json_object_new_int(h));
  json_object_array_add(cs, json_object_new_int(w));
  add(hc, "ConsoleSize", cs);
  add(hc, "CapAdd", strv_array(&o->cap_add));
  add(hc, "CapDrop", strv_array(&o->cap_drop));
  if (o->init)
    add(hc, "Init", json_object_new_boolean(true));
  add(hc, "Privileged", json_object_new_boolean(o->privileged));
  add(hc, "ReadonlyRootfs", json_object_new_boolean(o->read_only));
  add(hc, "SecurityOpt", security_opts(&o->security_opt, e));
  resources(o, hc, e);
  return hc;
}

json_object *cli_run_body(const cli_run_opts_t *o, bool run, const char *image, size_t argc, const char *const *argv,
                          int console_h, int console_w, char *why, size_t wlen) {
  errs_t e = { .why = why, .wlen = wlen };
  bool in = false, out = false, err = false;
  for (size_t i = 0; i < o->attach.n; i++) {
    const char *s = o->attach.v[i];
    if (strcasecmp(s, "stdin") == 0)
      in = true;
    else if (strcasecmp(s, "stdout") == 0)
      out = true;
    else if (strcasecmp(s, "stderr") == 0)
      err = true;
    else
      fail(&e, "invalid argument \"%s\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR", s);
  }
  if (o->interactive)
    in = true;
  if (o->attach.n == 0)
    out = err = true;
  if (run && o->detach) {
    if (o->attach.n)
      fail(&e, "Conflicting options: -a and -d");
    in = out = err = false;
  }
  if (o->pull && strcmp(o->pull, "missing") != 0 && strcmp(o->pull, "never") != 0) {
    if (strcmp(o->pull, "always") == 0)
      fail(&e, "--pull=always: berth does not pull images; load them with 'berth load'");
    else
      fail(&e, "invalid pull option: '%s': must be one of \"always\", \"missing\" or \"never\"", o->pull);
  }
  const char *network = o->network && *o->network ? o->network : "default";

  json_object *body = json_object_new_object();
  add(body, "Hostname", json_object_new_string(o->hostname ? o->hostname : ""));
  add(body, "Domainname", json_object_new_string(""));
  add(body, "User", json_object_new_string(o->user ? o->user : ""));
  add(body, "AttachStdin", json_object_new_boolean(in));
  add(body, "AttachStdout", json_object_new_boolean(out));
  add(body, "AttachStderr", json_object_new_boolean(err));
  add(body, "Tty", json_object_new_boolean(o->tty));
  add(body, "OpenStdin", json_object_new_boolean(o->interactive));
  /* docker: "when allocating stdin in attached mode, close stdin at client disconnect" */
  add(body, "StdinOnce", json_object_new_boolean(o->interactive && in));
  add(body, "Env", environment(o, &e));
  json_object *cmd = NULL;
  if (argc > 0) {
    cmd = json_object_new_array();
    for (size_t i = 0; i < argc; i++)
      json_object_array_add(cmd, json_object_new_string(argv[i]));
  }
  add(body, "Cmd", cmd);
  add(body, "Image", json_object_new_string(image));
  add(body, "Volumes", json_object_new_object());
  add(body, "WorkingDir", json_object_new_string(o->workdir ? o->workdir : ""));
  json_object *ep = NULL;
  if (o->entrypoint) { /* --entrypoint= resets it: [""] */
    ep = json_object_new_array();
    json_object_array_add(ep, json_object_new_string(o->entrypoint));
  }
  add(body, "Entrypoint", ep);
  add(body, "OnBuild", NULL);
  add(body, "Labels", labels(&o->label));
  if (o->stop_signal)
    add(body, "StopSignal", json_object_new_string(o->stop_signal));
  if (o->stop_timeout) {
    int64_t t;
    if (!int_value(o->stop_timeout, &t) || t < INT32_MIN || t > INT32_MAX)
      fail(&e, "invalid argument \"%s\" for \"--stop-timeout\" flag: %s", o->stop_timeout,
           strconv_err(o->stop_timeout));
    else
      add(body, "StopTimeout", json_object_new_int64(t));
  }
  add(body, "HostConfig", host_config(o, network, o->tty ? console_h : 0, o->tty ? console_w : 0, &e));
  json_object *nc = json_object_new_object(), *eps = json_object_new_object();
  add(eps, network, json_object_new_object());
  add(nc, "EndpointsConfig", eps);
  add(body, "NetworkingConfig", nc);
  if (e.failed) {
    json_object_put(body);
    return NULL;
  }
  return body;
}
