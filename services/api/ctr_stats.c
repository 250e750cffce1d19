/* GET /containers/{id}/stats?stream=&one-shot=: dockerd's StatsJSON, read
 * from the container's cgroup files (v2, or v1/hybrid: memory, pids, cpu,
 * cpuacct or else the unified hierarchy's cpu.stat) and /proc, as dockerd
 * 20.10 fills it from containerd's metrics. As dockerd: a stopped container
 * gets a zeroed frame with name and id (one, or one a second when
 * streaming); stream=0 primes the CPU figures with a sample taken a second
 * earlier (one-shot=1 does not wait); stream=1 sends a frame at once and one
 * a second until the client goes or the container is removed. The monitor
 * shares the cgroup: its memory and CPU are in the cgroup's totals (a few
 * hundred KiB, next to nothing), its task is taken out of pids_stats, and
 * the limit shown is the container's (the executor adds one for it). */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cleanup.h"
#include "ctr_rt.h"
#include "ctr_topstats.h"
#include "log.h"

#define STATS_INTERVAL_USEC (1000u * 1000u)
#define FILE_MAX 16384u

typedef struct {
  api_app_t *app;
  api_request_t *r;
  char id[65];
  bool stream, old_api, ended, sleeping;
  struct json_object *prev_cpu; /* cpu_stats of the last frame (precpu_stats of the next) */
  int64_t prev_read;
  sd_event_source *timer;
  char *out;
  size_t out_len, out_off;
} stats_req_t;

/* ---- reading ---- */

static int read_u64(const char *dir, const char *file, uint64_t *v) {
  char p[CTR_CG_PATH_MAX + 64], buf[64];
  if (dir[0] == '\0')
    return -1;
  snprintf(p, sizeof p, "%s/%s", dir, file);
  if (ctr_read_small(p, buf, sizeof buf) <= 0)
    return -1;
  char *end;
  errno = 0;
  unsigned long long x = strtoull(buf, &end, 10);
  if (errno || end == buf)
    return -1; /* "max" too */
  *v = x;
  return 0;
}

static ssize_t read_file(const char *dir, const char *file, char *buf, size_t max) {
  char p[CTR_CG_PATH_MAX + 64];
  if (dir[0] == '\0')
    return -1;
  snprintf(p, sizeof p, "%s/%s", dir, file);
  return ctr_read_small(p, buf, max);
}

/* The value of "key N" in a flat keyed file (memory.stat, cpu.stat, ...), 0 when absent. */
static uint64_t keyed(const char *text, const char *key) {
  size_t kl = strlen(key);
  for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL)
    if (strncmp(l, key, kl) == 0 && l[kl] == ' ')
      return strtoull(l + kl + 1, NULL, 10);
  return 0;
}

static void add_u64(struct json_object *o, const char *key, uint64_t v) {
  json_object_object_add(o, key, json_object_new_uint64(v));
}

/* Go's omitempty: a zero is left out. */
static void add_nonzero(struct json_object *o, const char *key, uint64_t v) {
  if (v)
    add_u64(o, key, v);
}

static uint64_t machine_memory(void) {
  char buf[4096];
  if (ctr_read_small("/proc/meminfo", buf, sizeof buf) <= 0)
    return 0;
  const char *m = strstr(buf, "MemTotal:");
  return m ? strtoull(m + 9, NULL, 10) * 1024 : 0;
}

/* dockerd's system_cpu_usage: the first seven fields of /proc/stat's cpu line, in ns. */
static uint64_t system_cpu_ns(uint64_t hz) {
  char buf[512];
  if (ctr_read_small("/proc/stat", buf, sizeof buf) <= 0 || strncmp(buf, "cpu ", 4) != 0)
    return 0;
  uint64_t sum = 0;
  char *p = buf + 4;
  for (int i = 0; i < 7; i++)
    sum += strtoull(p, &p, 10);
  return sum * 1000000000ull / hz;
}

/* Docker's memory_stats.stats keys, sorted as Go prints a map. */
static const char *const mem_keys_v1[] = {
    "active_anon", "active_file", "cache", "dirty", "hierarchical_memory_limit", "hierarchical_memsw_limit",
    "inactive_anon", "inactive_file", "mapped_file", "pgfault", "pgmajfault", "pgpgin", "pgpgout", "rss",
    "rss_huge", "total_active_anon", "total_active_file", "total_cache", "total_dirty", "total_inactive_anon",
    "total_inactive_file", "total_mapped_file", "total_pgfault", "total_pgmajfault", "total_pgpgin",
    "total_pgpgout", "total_rss", "total_rss_huge", "total_unevictable", "total_writeback", "unevictable",
    "writeback", NULL};
static const char *const mem_keys_v2[] = {
    "active_anon", "active_file", "anon", "anon_thp", "file", "file_dirty", "file_mapped", "file_writeback",
    "inactive_anon", "inactive_file", "kernel_stack", "pgactivate", "pgdeactivate", "pgfault", "pglazyfree",
    "pglazyfreed", "pgmajfault", "pgrefill", "pgscan", "pgsteal", "shmem", "slab", "slab_reclaimable",
    "slab_unreclaimable", "sock", "thp_collapse_alloc", "thp_fault_alloc", "unevictable", "workingset_activate",
    "workingset_nodereclaim", "workingset_refault", NULL};

static struct json_object *memory_stats(const ctr_cgroup_t *cg) {
  struct json_object *m = json_object_new_object();
  char text[FILE_MAX];
  if (read_file(cg->memory, "memory.stat", text, sizeof text) < 0)
    return m;
  uint64_t usage = 0, max_usage = 0, failcnt = 0, limit = 0;
  if (cg->v2) {
    read_u64(cg->memory, "memory.current", &usage);
    if (read_u64(cg->memory, "memory.max", &limit) < 0)
      limit = UINT64_MAX; /* "max" */
    char ev[1024];
    if (read_file(cg->memory, "memory.events", ev, sizeof ev) > 0)
      failcnt = keyed(ev, "oom");
  } else {
    read_u64(cg->memory, "memory.usage_in_bytes", &usage);
    read_u64(cg->memory, "memory.max_usage_in_bytes", &max_usage);
    read_u64(cg->memory, "memory.failcnt", &failcnt);
    read_u64(cg->memory, "memory.limit_in_bytes", &limit);
  }
  uint64_t machine = machine_memory();
  if (machine && limit > machine) /* no limit: dockerd shows the host's memory */
    limit = machine;
  struct json_object *raw = json_object_new_object();
  for (const char *const *k = cg->v2 ? mem_keys_v2 : mem_keys_v1; *k; k++)
    add_u64(raw, *k, keyed(text, *k));
  add_nonzero(m, "usage", usage);
  add_nonzero(m, "max_usage", max_usage);
  json_object_object_add(m, "stats", raw);
  add_nonzero(m, "failcnt", failcnt);
  add_nonzero(m, "limit", limit);
  return m;
}

static struct json_object *cpu_stats(const ctr_cgroup_t *cg, uint64_t hz) {
  uint64_t total = 0, kernel = 0, user = 0, periods = 0, throttled = 0, throttled_ns = 0;
  struct json_object *percpu = NULL;
  char text[FILE_MAX];
  if (cg->v2 || (cg->cpuacct[0] == '\0' && cg->unified[0])) {
    /* v2, or a hybrid host whose cpuacct hierarchy has no cgroup of the
     * container: the unified hierarchy's cpu.stat (always there on v2) */
    if (read_file(cg->v2 ? cg->cpu : cg->unified, "cpu.stat", text, sizeof text) > 0) {
      total = keyed(text, "usage_usec") * 1000;
      user = keyed(text, "user_usec") * 1000;
      kernel = keyed(text, "system_usec") * 1000;
    }
  } else if (cg->cpuacct[0]) {
    read_u64(cg->cpuacct, "cpuacct.usage", &total);
    if (read_file(cg->cpuacct, "cpuacct.stat", text, sizeof text) > 0) {
      user = keyed(text, "user") * 1000000000ull / hz;
      kernel = keyed(text, "system") * 1000000000ull / hz;
    }
    if (read_file(cg->cpuacct, "cpuacct.usage_percpu", text, sizeof text) > 0) {
      percpu = json_object_new_array();
      char *p = text, *end;
      for (unsigned long long v = strtoull(p, &end, 10); end != p; v = strtoull(p, &end, 10)) {
        json_object_array_add(percpu, json_object_new_uint64(v));
        p = end;
      }
    }
  }
  if (read_file(cg->cpu, "cpu.stat", text, sizeof text) > 0) {
    periods = keyed(text, "nr_periods");
    throttled = keyed(text, "nr_throttled");
    throttled_ns = cg->v2 ? keyed(text, "throttled_usec") * 1000 : keyed(text, "throttled_time");
  }
  struct json_object *o = json_object_new_object(), *u = json_object_new_object(), *t = json_object_new_object();
  add_u64(u, "total_usage", total);
  if (percpu)
    json_object_object_add(u, "percpu_usage", percpu);
  add_u64(u, "usage_in_kernelmode", kernel);
  add_u64(u, "usage_in_usermode", user);
  json_object_object_add(o, "cpu_usage", u);
  add_nonzero(o, "system_cpu_usage", system_cpu_ns(hz));
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    add_nonzero(o, "online_cpus", (uint64_t)CPU_COUNT(&set));
  add_u64(t, "periods", periods);
  add_u64(t, "throttled_periods", throttled);
  add_u64(t, "throttled_time", throttled_ns);
  json_object_object_add(o, "throttling_data", t);
  return o;
}

static struct json_object *zero_cpu_stats(void) {
  struct json_object *o = json_object_new_object(), *u = json_object_new_object(), *t = json_object_new_object();
  add_u64(u, "total_usage", 0);
  add_u64(u, "usage_in_kernelmode", 0);
  add_u64(u, "usage_in_usermode", 0);
  json_object_object_add(o, "cpu_usage", u);
  add_u64(t, "periods", 0);
  add_u64(t, "throttled_periods", 0);
  add_u64(t, "throttled_time", 0);
  json_object_object_add(o, "throttling_data", t);
  return o;
}

static const char *const blkio_keys[] = {"io_service_bytes_recursive", "io_serviced_recursive", "io_queue_recursive",
                                         "io_service_time_recursive", "io_wait_time_recursive", "io_merged_recursive",
                                         "io_time_recursive", "sectors_recursive", NULL};

static void blk_entry(struct json_object *a, unsigned maj, unsigned min, const char *op, uint64_t v) {
  struct json_object *e = json_object_new_object();
  add_u64(e, "major", maj);
  add_u64(e, "minor", min);
  json_object_object_add(e, "op", json_object_new_string(op));
  add_u64(e, "value", v);
  json_object_array_add(a, e);
}

/* v2's io.stat as dockerd maps it (bytes read and written per device);
 * v1 has no blkio cgroup of the container (the executor makes none). */
static struct json_object *blkio_stats(const ctr_cgroup_t *cg) {
  struct json_object *b = json_object_new_object(), *bytes = NULL;
  char text[FILE_MAX];
  if (cg->v2 && read_file(cg->blkio, "io.stat", text, sizeof text) > 0) {
    for (char *l = text; l && *l;) {
      char *nl = strchr(l, '\n');
      if (nl)
        *nl = '\0';
      unsigned maj, min;
      if (sscanf(l, "%u:%u", &maj, &min) == 2) {
        const char *rb = strstr(l, " rbytes="), *wb = strstr(l, " wbytes=");
        if (bytes == NULL)
          bytes = json_object_new_array();
        blk_entry(bytes, maj, min, "read", rb ? strtoull(rb + 8, NULL, 10) : 0);
        blk_entry(bytes, maj, min, "write", wb ? strtoull(wb + 8, NULL, 10) : 0);
      }
      l = nl ? nl + 1 : NULL;
    }
  }
  for (const char *const *k = blkio_keys; *k; k++)
    json_object_object_add(b, *k, k == blkio_keys ? bytes : NULL);
  return b;
}

static struct json_object *pids_stats(const ctr_cgroup_t *cg, uint64_t monitor_tasks) {
  struct json_object *p = json_object_new_object();
  uint64_t cur = 0, max = 0;
  if (read_u64(cg->pids, "pids.current", &cur) == 0)
    add_nonzero(p, "current", cur > monitor_tasks ? cur - monitor_tasks : 0);
  if (read_u64(cg->pids, "pids.max", &max) == 0 && max > 1)
    add_nonzero(p, "limit", max - 1);
  return p;
}

/* The interfaces of the container's network namespace but lo (dockerd
 * lists the endpoints' interfaces: none with --network none or host). */
static struct json_object *networks(const api_ctr_t *c) {
  struct json_object *mode;
  if (c->host_config && json_object_object_get_ex(c->host_config, "NetworkMode", &mode) &&
      strcmp(json_object_get_string(mode), "host") == 0)
    return NULL;
  char p[64], text[FILE_MAX];
  snprintf(p, sizeof p, "/proc/%d/net/dev", (int)c->pid);
  if (ctr_read_small(p, text, sizeof text) <= 0)
    return NULL;
  struct json_object *n = NULL;
  for (char *l = text; l && *l;) {
    char *nl = strchr(l, '\n');
    if (nl)
      *nl = '\0';
    char name[32];
    unsigned long long v[16];
    if (sscanf(l, " %31[^:]: %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", name, &v[0], &v[1], &v[2],
               &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9], &v[10], &v[11]) == 13 &&
        strcmp(name, "lo") != 0) {
      struct json_object *e = json_object_new_object();
      add_u64(e, "rx_bytes", v[0]);
      add_u64(e, "rx_packets", v[1]);
      add_u64(e, "rx_errors", v[2]);
      add_u64(e, "rx_dropped", v[3]);
      add_u64(e, "tx_bytes", v[8]);
      add_u64(e, "tx_packets", v[9]);
      add_u64(e, "tx_errors", v[10]);
      add_u64(e, "tx_dropped", v[11]);
      if (n == NULL)
        n = json_object_new_object();
      json_object_object_add(n, name, e);
    }
    l = nl ? nl + 1 : NULL;
  }
  return n;
}

static void add_time(struct json_object *o, const char *key, int64_t ns) {
  char t[40];
  ctr_time_text(ns, t);
  json_object_object_add(o, key, json_object_new_string(t));
}

/* API < 1.21 (v1p20): one "network" sum instead of "networks", no name or id. */
static void old_api_shape(struct json_object *f) {
  static const char *const keys[] = {"rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
                                     "tx_bytes", "tx_packets", "tx_errors", "tx_dropped", NULL};
  struct json_object *nets = NULL, *sum = json_object_new_object();
  json_object_object_get_ex(f, "networks", &nets);
  for (const char *const *k = keys; *k; k++) {
    uint64_t total = 0;
    if (nets) {
      json_object_object_foreach(nets, name, e) {
        (void)name;
        struct json_object *v;
        if (json_object_object_get_ex(e, *k, &v))
          total += json_object_get_uint64(v);
      }
    }
    add_u64(sum, *k, total);
  }
  json_object_object_del(f, "name");
  json_object_object_del(f, "id");
  json_object_object_del(f, "networks");
  json_object_object_add(f, "network", sum);
}

/* One frame of container id (NULL when it was removed). Takes s->prev_*
 * as its precpu_stats/preread and leaves its own there. */
static struct json_object *frame(stats_req_t *s, bool *removed) {
  api_ctr_t *c = s->app->ctrs ? ctr_by_id(s->app, s->id) : NULL;
  *removed = c == NULL;
  if (c == NULL)
    return NULL;
  ctr_cgroup_t cg;
  cleanup_free pid_t *pids = NULL;
  size_t n = 0;
  uint64_t monitor_tasks = 0;
  bool running = c->status == CTR_RUNNING && c->pid > 0 && ctr_cgroup_find(c->id, &cg) == 0 &&
                 ctr_procs(c, &cg, &pids, &n, &monitor_tasks) == 0;
  long hz_l = sysconf(_SC_CLK_TCK);
  uint64_t hz = hz_l > 0 ? (uint64_t)hz_l : 100;
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  int64_t read_ns = running ? (int64_t)now.tv_sec * 1000000000 + now.tv_nsec : 0;
  struct json_object *f = json_object_new_object();
  add_time(f, "read", read_ns);
  add_time(f, "preread", s->prev_read);
  json_object_object_add(f, "pids_stats", running ? pids_stats(&cg, monitor_tasks) : json_object_new_object());
  json_object_object_add(f, "blkio_stats", blkio_stats(running ? &cg : &(ctr_cgroup_t){0}));
  add_u64(f, "num_procs", 0);
  json_object_object_add(f, "storage_stats", json_object_new_object());
  struct json_object *cpu = running ? cpu_stats(&cg, hz) : zero_cpu_stats();
  json_object_object_add(f, "cpu_stats", cpu);
  json_object_object_add(f, "precpu_stats", s->prev_cpu ? s->prev_cpu : zero_cpu_stats());
  s->prev_cpu = json_object_get(cpu);
  s->prev_read = read_ns;
  json_object_object_add(f, "memory_stats", running ? memory_stats(&cg) : json_object_new_object());
  char name[160];
  snprintf(name, sizeof name, "/%s", c->name);
  json_object_object_add(f, "name", json_object_new_string(name));
  json_object_object_add(f, "id", json_object_new_string(c->id));
  struct json_object *nets = running ? networks(c) : NULL;
  if (nets)
    json_object_object_add(f, "networks", nets);
  if (s->old_api)
    old_api_shape(f);
  return f;
}

/* Serialises f (released) with Go's Encoder's '\n'; NULL when out of memory. */
static char *frame_text(struct json_object *f, size_t *len) {
  const char *t = json_object_to_json_string_length(f, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, len);
  char *out = t ? malloc(*len + 2) : NULL;
  if (out) {
    memcpy(out, t, *len);
    out[(*len)++] = '\n';
    out[*len] = '\0';
  }
  json_object_put(f);
  return out;
}

/* ---- the request ---- */

static void stats_free(stats_req_t *s) {
  sd_event_source_disable_unref(s->timer);
  json_object_put(s->prev_cpu);
  free(s->out);
  free(s);
}

/* Stream: appends the next frame (or ends the stream) and wakes the response. */
static void stream_next(stats_req_t *s) {
  bool removed;
  struct json_object *f = frame(s, &removed);
  size_t len = 0;
  char *t = f ? frame_text(f, &len) : NULL;
  if (t == NULL) {
    s->ended = true; /* removed (dockerd closes the stream), or out of memory */
  } else if (s->out_off == s->out_len) {
    free(s->out);
    s->out = t;
    s->out_len = len;
    s->out_off = 0;
  } else {
    free(t); /* the client has not taken the last one yet: skip a beat */
  }
  if (s->sleeping) {
    s->sleeping = false;
    api_request_wake(s->r);
  }
}

static int on_tick(sd_event_source *src, uint64_t usec, void *ud) {
  stats_req_t *s = ud;
  if (!s->stream) {
    /* stream=0: the primed frame, then the request is over (done frees s) */
    s->timer = sd_event_source_disable_unref(s->timer);
    if (!api_request_pending(s->r))
      return 0;
    bool removed;
    struct json_object *f = frame(s, &removed);
    size_t len = 0;
    cleanup_free char *t = f ? frame_text(f, &len) : NULL;
    if (t)
      api_reply(s->r, 200, "application/json", t, len, NULL);
    else if (removed)
      api_reply_error(s->r, 404, "No such container: %s", s->id);
    else
      api_reply_error(s->r, 500, "out of memory");
    return 0;
  }
  stream_next(s);
  if (!s->ended && (sd_event_source_set_time_relative(src, STATS_INTERVAL_USEC) < 0 ||
                    sd_event_source_set_enabled(src, SD_EVENT_ONESHOT) < 0))
    s->ended = true;
  return 0;
}

static ssize_t stats_read(api_request_t *r, char *buf, size_t max, void *ud) {
  stats_req_t *s = ud;
  if (s->out_off < s->out_len) {
    size_t n = s->out_len - s->out_off;
    if (n > max)
      n = max;
    memcpy(buf, s->out + s->out_off, n);
    s->out_off += n;
    return (ssize_t)n;
  }
  if (s->ended)
    return API_STREAM_END;
  s->sleeping = true;
  return 0;
}

static void stats_done(api_request_t *r, void *ud) {
  stats_free(ud);
}

static const api_stream_ops_t stats_ops = {.read = stats_read, .done = stats_done};

void api_handle_ctr_stats(api_request_t *r) {
  api_app_t *app = api_request_userdata(r);
  api_ctr_t *c = ctr_from_request(r);
  if (c == NULL)
    return;
  const api_version_t *v = &api_request_match(r)->version;
  bool stream = api_request_query_bool(r, "stream", 1);
  bool one_shot = (v->major > 1 || v->minor >= 41) && api_request_query_bool(r, "one-shot", 0);
  if (stream && one_shot) {
    api_reply_error(r, 400, "cannot have stream=true and one-shot=true");
    return;
  }
  stats_req_t *s = calloc(1, sizeof *s);
  if (s == NULL) {
    api_reply_error(r, 500, "out of memory");
    return;
  }
  s->app = app;
  s->r = r;
  s->stream = stream;
  s->old_api = v->major == 1 && v->minor < 21;
  snprintf(s->id, sizeof s->id, "%s", c->id);
  api_request_attach(r, &stats_ops, s); /* stats_done frees s when the request is over */
  bool running = c->status == CTR_RUNNING;
  if (!stream && (!running || one_shot)) {
    bool removed;
    size_t len = 0;
    struct json_object *f = frame(s, &removed);
    cleanup_free char *t = f ? frame_text(f, &len) : NULL;
    if (t == NULL)
      api_reply_error(r, 500, "out of memory");
    else
      api_reply(r, 200, "application/json", t, len, NULL);
    return;
  }
  if (stream) {
    stream_next(s); /* the first frame at once (precpu_stats zero, as dockerd's) */
  } else {
    bool removed;
    json_object_put(frame(s, &removed)); /* the priming sample: only its CPU figures are kept */
  }
  if (sd_event_add_time_relative(api_request_event(r), &s->timer, CLOCK_MONOTONIC, STATS_INTERVAL_USEC, 1000, on_tick,
                                 s) < 0) {
    s->timer = NULL;
    api_reply_error(r, 500, "cannot arm a timer");
    return;
  }
  if (stream)
    api_reply_stream(r, 200, "application/json", NULL);
  else
    api_request_suspend(r, 10u * 1000u * 1000u, "the container's stats took too long");
}
