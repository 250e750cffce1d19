/* Containers' cgroups, two backends behind one interface (executor.h).
 * cgroupfs: v2 /sys/fs/cgroup/berth/<id>; v1/hybrid /sys/fs/cgroup/<ctrl>/berth/<id>
 * for memory, pids, cpu, cpuset and the unified hierarchy when mounted.
 * systemd (PID 1): a transient berth-<id>.scope in berth.slice (Delegate=yes)
 * that systemd creates with the monitor's pid and the limits as properties. */
#include <linux/magic.h>
#include <sys/vfs.h>
#include <systemd/sd-bus.h>
#include "executor.h"

#define CG "/sys/fs/cgroup"
typedef Berth__Ipc__ContainerLimits limits_t;
static const char *v1_ctrls[] = {"memory", "pids", "cpu", "cpuset", "unified"};

/* Controller name of hierarchy i ("" on v2), or NULL past the last one or for a missing one. */
static const char *hier(execd_t *x, size_t i) {
  char p[64];
  struct statfs s;
  if (!x->cg_v1 || i >= sizeof v1_ctrls / sizeof *v1_ctrls)
    return i == 0 && !x->cg_v1 ? "" : NULL;
  snprintf(p, sizeof p, CG "/%s", v1_ctrls[i]);
  return statfs(p, &s) == 0 && (s.f_type == CGROUP_SUPER_MAGIC || s.f_type == CGROUP2_SUPER_MAGIC) ? v1_ctrls[i] : "-";
}
#define EACH_HIER(x, i, c) \
  for (size_t i = 0; (c = hier(x, i)) != NULL; i++) \
    if (strcmp(c, "-") != 0)

/* The container's cgroup (or its parent when id is NULL) in controller c's hierarchy. */
static void cg_path(execd_t *x, const char *c, const char *id, char *buf, size_t size) {
  int n = snprintf(buf, size, CG "%s%s/%s", x->cg_v1 ? "/" : "", x->cg_v1 ? c : "", x->cg_systemd ? "berth.slice" : "berth");
  if (id)
    snprintf(buf + n, size - (size_t)n, x->cg_systemd ? "/berth-%s.scope" : "/%s", id);
}

static int put(const char *dir, const char *file, const char *val, berth_error_t *err) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", dir, file);
  cleanup_close int fd = open(p, O_WRONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT && strstr(file, "sw")) /* no swap accounting: Docker goes on too */
    return 0;
  if (fd < 0 || write(fd, val, strlen(val)) < 0)
    return berth_error_errno(err, "cgroup: writing \"%s\" to %s", val, p);
  return 0;
}

int cgroup_init(execd_t *x, const char *manager, berth_error_t *err) {
  struct statfs s;
  x->cg_v1 = !(statfs(CG, &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC);
  x->cg_systemd = manager ? strcmp(manager, "systemd") == 0 : sd_booted() > 0;
  if (manager && !x->cg_systemd && strcmp(manager, "cgroupfs") != 0)
    return berth_error_make(err, EINVAL, "--cgroup-manager %s: expected cgroupfs or systemd", manager);
  if (x->cg_systemd && sd_booted() <= 0)
    return berth_error_make(err, EINVAL, "--cgroup-manager systemd: systemd is not PID 1 here; use cgroupfs");
  return 0;
}

static int fs_limits(execd_t *x, const char *id, const limits_t *l, berth_error_t *err) {
  char dir[512], v[300];
  bool v1 = x->cg_v1;
  long long mem = l->memory, sw = l->memory_swap, q = l->cpu_quota, pids = l->pids;
  unsigned long long per = l->cpu_period ? l->cpu_period : 100000, sh = l->cpu_shares;
  int r = 0;
#define PUT(c, file, ...) \
  (void)(r < 0 || (snprintf(v, sizeof v, __VA_ARGS__), cg_path(x, c, id, dir, sizeof dir), r = put(dir, file, v, err)))
  if (mem > 0)
    PUT("memory", v1 ? "memory.limit_in_bytes" : "memory.max", "%lld", mem);
  if (sw > 0)
    PUT("memory", v1 ? "memory.memsw.limit_in_bytes" : "memory.swap.max", "%lld", v1 ? sw : sw - mem);
  if (sw < 0 && !v1)
    PUT("memory", "memory.swap.max", "max");
  if (sh)
    PUT("cpu", v1 ? "cpu.shares" : "cpu.weight", "%llu", v1 ? sh : 1 + (sh - 2) * 9999 / 262142);
  if (q > 0 && v1)
    PUT("cpu", "cpu.cfs_period_us", "%llu", per), PUT("cpu", "cpu.cfs_quota_us", "%lld", q);
  if (q > 0 && !v1)
    PUT("cpu", "cpu.max", "%lld %llu", q, per);
  if (l->cpuset_cpus[0])
    PUT("cpuset", "cpuset.cpus", "%s", l->cpuset_cpus);
  if (l->cpuset_mems[0])
    PUT("cpuset", "cpuset.mems", "%s", l->cpuset_mems);
  if (pids > 0)
    PUT("pids", "pids.max", "%lld", pids + 1); /* + the monitor */
  return r;
}

/* A new v1 cpuset cgroup is empty: copy the parent's cpus and mems. */
static void cpuset_inherit(const char *dir) {
  static const char *files[] = {"cpuset.cpus", "cpuset.mems"};
  for (int i = 0; i < 2; i++) {
    char p[600], v[4096] = "";
    snprintf(p, sizeof p, "%s/../%s", dir, files[i]);
    cleanup_close int fd = open(p, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, v, sizeof v - 1) : -1;
    if (n > 1)
      put(dir, files[i], v, NULL);
  }
}

int cgroup_create(execd_t *x, const char *id, const limits_t *l, berth_error_t *err) {
  static const char *v2_ctrls[] = {"+memory", "+pids", "+cpu", "+cpuset"};
  char p[512];
  const char *c;
  if (x->cg_systemd)
    return 0;
  cgroup_remove(x, id, NULL); /* an earlier run's */
  EACH_HIER(x, i, c) {
    char parent[512] = CG;
    for (int lvl = 0; lvl < 2; lvl++, memcpy(parent, p, sizeof p)) {
      for (size_t k = 0; !x->cg_v1 && k < sizeof v2_ctrls / sizeof *v2_ctrls; k++) /* those the host has */
        put(parent, "cgroup.subtree_control", v2_ctrls[k], NULL);
      cg_path(x, c, lvl ? id : NULL, p, sizeof p);
      if (mkdir(p, 0755) < 0 && errno != EEXIST)
        return berth_error_errno(err, "cgroup: mkdir %s", p);
      if (strcmp(c, "cpuset") == 0)
        cpuset_inherit(p);
    }
  }
  return fs_limits(x, id, l, err);
}

int cgroup_remove(execd_t *x, const char *id, berth_error_t *err) {
  char p[512];
  const char *c;
  int r = 0;
  EACH_HIER(x, i, c) {
    int e = 0;
    cg_path(x, c, id, p, sizeof p);
    for (int t = 0; !x->cg_systemd && t < 140 && (e = rmdir(p) < 0 ? errno : 0) == EBUSY; t++)
      usleep(t < 40 ? 250 : 10000); /* its last processes may still be exiting (or unreaped) */
    if (e && e != ENOENT && r == 0)
      errno = e, r = berth_error_errno(err, "cgroup: rmdir %s", p);
  }
  return r;
}

/* The memory controller's directory; without one (v1 controllers the
 * systemd of a container does not manage), another: no OOM count then. */
int cgroup_open_memory(execd_t *x, const char *id) {
  static const char *c[] = {"memory", "unified", "systemd"};
  char p[512];
  int fd = -1;
  for (size_t i = 0; fd < 0 && i < (x->cg_v1 ? 3 : 1); i++)
    cg_path(x, c[i], id, p, sizeof p), fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  return fd;
}

/* "0-3,8" as systemd's AllowedCPUs= byte mask (bit n = cpu n); its length. */
static size_t cpu_mask(const char *s, uint8_t *mask) {
  size_t len = 0;
  for (char *e; *s; s = *e ? e + 1 : e) {
    unsigned long a = strtoul(s, &e, 10), b = *e == '-' ? strtoul(e + 1, &e, 10) : a;
    for (; a <= b && a < 1024; a++)
      mask[a / 8] |= (uint8_t)(1u << (a % 8)), len = a / 8 + 1 > len ? a / 8 + 1 : len;
  }
  return len;
}

static int scope_start(execd_t *x, const char *id, pid_t pid, const limits_t *l, berth_error_t *err) {
  __attribute__((cleanup(sd_bus_flush_close_unrefp))) sd_bus *bus = NULL;
  __attribute__((cleanup(sd_bus_message_unrefp))) sd_bus_message *m = NULL;
  __attribute__((cleanup(sd_bus_error_free))) sd_bus_error e = SD_BUS_ERROR_NULL;
  char unit[96];
  snprintf(unit, sizeof unit, "berth-%s.scope", id);
  long long mem = l->memory, sw = l->memory_swap, q = l->cpu_quota;
  uint64_t per = l->cpu_period ? l->cpu_period : 100000;
  const struct { const char *name; bool on; uint64_t v; } props[] = {
      {"MemoryMax", mem > 0, (uint64_t)mem},
      {"MemorySwapMax", sw != 0, sw < 0 ? UINT64_MAX : (uint64_t)(sw - mem)},
      {"CPUWeight", l->cpu_shares > 0, 1 + (l->cpu_shares - 2) * 9999 / 262142},
      {"CPUQuotaPerSecUSec", q > 0, (uint64_t)q * 1000000 / per},
      {"CPUQuotaPeriodUSec", q > 0, per},
      {"TasksMax", l->pids > 0, (uint64_t)l->pids + 1},
  };
  const char *sets[][2] = {{"AllowedCPUs", l->cpuset_cpus}, {"AllowedMemoryNodes", l->cpuset_mems}};
  int r = sd_bus_open_system(&bus);
#define B(call) (void)(r >= 0 && (r = (call)))
  B(sd_bus_message_new_method_call(bus, &m, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                   "org.freedesktop.systemd1.Manager", "StartTransientUnit"));
  B(sd_bus_message_append(m, "ss", unit, "fail"));
  B(sd_bus_message_open_container(m, 'a', "(sv)"));
  B(sd_bus_message_append(m, "(sv)(sv)(sv)(sv)(sv)(sv)", "Slice", "s", "berth.slice", "Delegate", "b", 1, "PIDs", "au", 1,
                          (uint32_t)pid, "CollectMode", "s", "inactive-or-failed", "MemoryAccounting", "b", 1,
                          "TasksAccounting", "b", 1));
  for (size_t i = 0; i < sizeof props / sizeof *props; i++)
    if (props[i].on)
      B(sd_bus_message_append(m, "(sv)", props[i].name, "t", props[i].v));
  for (size_t i = 0; i < 2; i++) { /* (s v:ay) */
    uint8_t mask[128] = {0};
    size_t n = cpu_mask(sets[i][1], mask);
    if (n == 0)
      continue;
    B(sd_bus_message_open_container(m, 'r', "sv"));
    B(sd_bus_message_append(m, "s", sets[i][0]));
    B(sd_bus_message_open_container(m, 'v', "ay"));
    B(sd_bus_message_append_array(m, 'y', mask, n));
    B(sd_bus_message_close_container(m));
    B(sd_bus_message_close_container(m));
  }
  B(sd_bus_message_close_container(m));
  B(sd_bus_message_append(m, "a(sa(sv))", 0));
  B(sd_bus_call(bus, m, 0, &e, NULL));
  if (r < 0)
    return berth_error_make(err, -r, "systemd: starting %s: %s", unit, e.message ? e.message : strerror(-r));
  /* The job runs asynchronously: wait until systemd has moved the pid. */
  for (int i = 0; i < 500; i++, usleep(10000)) {
    char p[64], buf[4096] = "";
    snprintf(p, sizeof p, "/proc/%d/cgroup", (int)pid);
    cleanup_close int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd >= 0 && read(fd, buf, sizeof buf - 1) > 0 && strstr(buf, unit))
      return 0;
  }
  return berth_error_make(err, ETIMEDOUT, "systemd: %s did not take pid %d within 5 s", unit, (int)pid);
}

int cgroup_enter(execd_t *x, const char *id, pid_t pid, const limits_t *l, berth_error_t *err) {
  char p[512], v[16];
  const char *c;
  if (x->cg_systemd)
    return scope_start(x, id, pid, l, err);
  snprintf(v, sizeof v, "%d", (int)pid);
  EACH_HIER(x, i, c) { /* pid 0: M itself, born in the cgroup2 one (cgroup_v2_fd); "0" to a v1
                        * "tasks" moves the caller without the global threadgroup lock's RCU wait */
    cg_path(x, c, id, p, sizeof p);
    if ((pid || (x->cg_v1 && strcmp(c, "unified") != 0)) && put(p, pid ? "cgroup.procs" : "tasks", v, err) < 0)
      return -1;
  }
  return 0;
}

int cgroup_v2_fd(execd_t *x, const char *id) {
  char p[512];
  cg_path(x, x->cg_v1 ? "unified" : "", id, p, sizeof p);
  return open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}
