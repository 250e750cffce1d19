/* GET /containers/{id}/top?ps_args=: dockerd runs `ps` and keeps the lines
 * of the container's pids; apid may not exec, so it builds the same table
 * from the host's /proc: `ps -ef` (the default: UID PID PPID C STIME TTY TIME
 * CMD) or `ps aux` (USER PID %CPU %MEM VSZ RSS TTY STAT START TIME COMMAND),
 * formatted as procps 4 formats them. Everything read here is world-readable
 * (/proc/PID/{stat,status,cmdline}, cgroup.procs); the links in /proc/PID/ns are not
 * (it needs ptrace access), so the pid namespace is told by NSpid's depth. */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>
#include "cleanup.h"
#include "ctr_rt.h"
#include "ctr_topstats.h"

#define CG_ROOT "/sys/fs/cgroup"
#define PROCS_MAX 65536u

ssize_t ctr_read_small(const char *path, char *buf, size_t max) {
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return -1;
  size_t len = 0;
  while (len + 1 < max) {
    ssize_t n = read(fd, buf + len, max - 1 - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return -1;
    if (n == 0)
      break;
    len += (size_t)n;
  }
  buf[len] = '\0';
  return (ssize_t)len;
}

static bool is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* hier: "" on v2, else the v1 mount's name. Fills out with the existing dir, or "". */
static void cg_dir(const char *hier, const char *id, char out[CTR_CG_PATH_MAX]) {
  const char *sep = hier[0] ? "/" : "";
  snprintf(out, CTR_CG_PATH_MAX, CG_ROOT "%s%s/berth/%s", sep, hier, id);
  if (is_dir(out))
    return;
  snprintf(out, CTR_CG_PATH_MAX, CG_ROOT "%s%s/berth.slice/berth-%s.scope", sep, hier, id);
  if (!is_dir(out))
    out[0] = '\0';
}

int ctr_cgroup_find(const char *id, ctr_cgroup_t *cg) {
  memset(cg, 0, sizeof *cg);
  struct statfs s;
  cg->v2 = statfs(CG_ROOT, &s) == 0 && s.f_type == CGROUP2_SUPER_MAGIC;
  if (cg->v2) {
    cg_dir("", id, cg->unified);
    memcpy(cg->memory, cg->unified, CTR_CG_PATH_MAX);
    memcpy(cg->pids, cg->unified, CTR_CG_PATH_MAX);
    memcpy(cg->cpu, cg->unified, CTR_CG_PATH_MAX);
    memcpy(cg->cpuacct, cg->unified, CTR_CG_PATH_MAX);
    memcpy(cg->blkio, cg->unified, CTR_CG_PATH_MAX);
  } else {
    /* cpuacct is its own hierarchy on some hosts (the executor makes none
     * there) and co-mounted with cpu on others ("cpuacct" is then a link). */
    cg_dir("memory", id, cg->memory);
    cg_dir("pids", id, cg->pids);
    cg_dir("cpu", id, cg->cpu);
    cg_dir("cpuacct", id, cg->cpuacct);
    cg_dir("blkio", id, cg->blkio);
    cg_dir("unified", id, cg->unified);
  }
  const char *order[] = {cg->pids, cg->memory, cg->cpu, cg->unified};
  for (size_t i = 0; i < sizeof order / sizeof *order; i++)
    if (order[i][0]) {
      memcpy(cg->procs, order[i], CTR_CG_PATH_MAX);
      return 0;
    }
  return -1;
}

/* NSpid depth (entries) and Threads of /proc/PID/status; -1 when unreadable. */
static int ns_depth(pid_t pid, uint64_t *threads) {
  char p[64], buf[4096];
  snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
  if (ctr_read_small(p, buf, sizeof buf) < 0)
    return -1;
  int depth = -1;
  const char *l = strstr(buf, "\nNSpid:");
  if (l) {
    depth = 0;
    for (const char *q = l + 7; *q && *q != '\n';) {
      while (*q == ' ' || *q == '\t')
        q++;
      if (*q < '0' || *q > '9')
        break;
      depth++;
      while (*q >= '0' && *q <= '9')
        q++;
    }
  }
  const char *t = strstr(buf, "\nThreads:");
  *threads = t ? strtoull(t + 9, NULL, 10) : 1;
  return depth;
}

static int pid_cmp(const void *a, const void *b) {
  pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;
  return (x > y) - (x < y);
}

int ctr_procs(const api_ctr_t *c, const ctr_cgroup_t *cg, pid_t **pids, size_t *n, uint64_t *other_tasks) {
  *pids = NULL;
  *n = 0;
  *other_tasks = 0;
  char p[CTR_CG_PATH_MAX + 16];
  snprintf(p, sizeof p, "%s/cgroup.procs", cg->procs);
  cleanup_close int fd = open(p, O_RDONLY | O_CLOEXEC);
  FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
  if (f == NULL)
    return -1;
  berth_steal_fd(&fd);
  uint64_t init_threads;
  int init_depth = c->pid > 0 ? ns_depth(c->pid, &init_threads) : -1;
  pid_t *v = NULL;
  size_t len = 0, cap = 0;
  bool init_seen = false;
  long long x;
  while (init_depth >= 2 && fscanf(f, "%lld", &x) == 1 && len < PROCS_MAX) {
    uint64_t threads;
    int depth = x > 0 && x <= INT32_MAX ? ns_depth((pid_t)x, &threads) : -1;
    if (depth < 0)
      continue; /* gone meanwhile */
    if (depth < init_depth) {
      *other_tasks += threads;
      continue;
    }
    if (len == cap) {
      cap = cap ? cap * 2 : 16;
      pid_t *nv = realloc(v, cap * sizeof *v);
      if (nv == NULL) {
        fclose(f);
        free(v);
        errno = ENOMEM;
        return -1;
      }
      v = nv;
    }
    v[len++] = (pid_t)x;
    init_seen |= x == c->pid;
  }
  fclose(f);
  if (!init_seen) {
    free(v);
    errno = ESRCH;
    return -1;
  }
  qsort(v, len, sizeof *v, pid_cmp);
  *pids = v;
  *n = len;
  return 0;
}

/* ---- one process, as ps sees it ---- */

typedef struct {
  pid_t pid, ppid, pgrp, session, tpgid;
  char state;
  char comm[64];
  unsigned tty;
  unsigned long long utime, stime, start, vsize_kb, rss_kb;
  long nice, threads;
  unsigned long euid, vmlck_kb;
  char cmd[4096];
} proc_info_t;

static int proc_read(pid_t pid, proc_info_t *pi) {
  char p[64], buf[4096];
  memset(pi, 0, sizeof *pi);
  pi->pid = pid;
  snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
  if (ctr_read_small(p, buf, sizeof buf) < 0)
    return -1;
  char *open_paren = strchr(buf, '('), *close_paren = strrchr(buf, ')');
  if (open_paren == NULL || close_paren == NULL || close_paren < open_paren)
    return -1;
  snprintf(pi->comm, sizeof pi->comm, "%.*s", (int)(close_paren - open_paren - 1), open_paren + 1);
  int tty;
  if (sscanf(close_paren + 2, "%c %d %d %d %d %d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %ld %ld %*d %llu",
             &pi->state, &pi->ppid, &pi->pgrp, &pi->session, &tty, &pi->tpgid, &pi->utime, &pi->stime, &pi->nice,
             &pi->threads, &pi->start) != 11)
    return -1;
  pi->tty = (unsigned)tty;
  snprintf(p, sizeof p, "/proc/%d/status", (int)pid);
  if (ctr_read_small(p, buf, sizeof buf) < 0)
    return -1;
  const char *u = strstr(buf, "\nUid:");
  if (u == NULL || sscanf(u + 5, "%*u %lu", &pi->euid) != 1)
    return -1;
  /* sizes as procps takes them: status is exact where stat's rss is a per-cpu estimate */
  const char *l = strstr(buf, "\nVmLck:");
  pi->vmlck_kb = l ? strtoul(l + 7, NULL, 10) : 0;
  l = strstr(buf, "\nVmRSS:");
  pi->rss_kb = l ? strtoull(l + 7, NULL, 10) : 0;
  l = strstr(buf, "\nVmSize:");
  pi->vsize_kb = l ? strtoull(l + 8, NULL, 10) : 0;
  /* args as ps -f shows them: NULs as spaces, control bytes as '?';
   * dockerd splits ps's line on blanks and joins CMD with one space. */
  snprintf(p, sizeof p, "/proc/%d/cmdline", (int)pid);
  ssize_t n = ctr_read_small(p, buf, sizeof buf);
  size_t o = 0;
  bool blank = true;
  for (ssize_t i = 0; i < n && o + 1 < sizeof pi->cmd; i++) {
    unsigned char ch = (unsigned char)buf[i];
    bool space = ch == 0 || ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\f';
    if (space) {
      if (!blank)
        pi->cmd[o++] = ' ';
      blank = true;
      continue;
    }
    pi->cmd[o++] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
    blank = false;
  }
  while (o > 0 && pi->cmd[o - 1] == ' ')
    o--;
  pi->cmd[o] = '\0';
  if (o == 0) /* a zombie (or a kernel thread): ps shows [comm] */
    snprintf(pi->cmd, sizeof pi->cmd, "[%s]%s", pi->comm, pi->state == 'Z' ? " <defunct>" : "");
  return 0;
}

/* ---- what every row needs to know of the host ---- */

typedef struct {
  unsigned long long hz, boot_time, mem_total_kb;
  double uptime;
  time_t now;
  FILE *passwd;
} host_facts_t;

static void host_facts(host_facts_t *h) {
  char buf[8192];
  memset(h, 0, sizeof *h);
  long hz = sysconf(_SC_CLK_TCK);
  h->hz = hz > 0 ? (unsigned long long)hz : 100;
  h->now = time(NULL);
  if (ctr_read_small("/proc/uptime", buf, sizeof buf) > 0)
    h->uptime = strtod(buf, NULL);
  if (ctr_read_small("/proc/stat", buf, sizeof buf) > 0) {
    const char *b = strstr(buf, "\nbtime ");
    h->boot_time = b ? strtoull(b + 7, NULL, 10) : 0;
  }
  if (ctr_read_small("/proc/meminfo", buf, sizeof buf) > 0) {
    const char *m = strstr(buf, "MemTotal:");
    h->mem_total_kb = m ? strtoull(m + 9, NULL, 10) : 0;
  }
  h->passwd = fopen("/etc/passwd", "re");
}

/* The host's /etc/passwd name of uid (no NSS: apid may not connect to
 * nscd or userdb), else the number; like procps, a value wider than its
 * 8-cell column is cut to 7 and '+'. */
static void user_name(host_facts_t *h, unsigned long uid, char out[16]) {
  char name[64];
  snprintf(name, sizeof name, "%lu", uid);
  if (h->passwd) {
    rewind(h->passwd);
    struct passwd *pw;
    while ((pw = fgetpwent(h->passwd)) != NULL)
      if (pw->pw_uid == uid) {
        snprintf(name, sizeof name, "%s", pw->pw_name);
        break;
      }
  }
  if (strlen(name) > 8)
    snprintf(out, 16, "%.7s+", name);
  else
    snprintf(out, 16, "%s", name);
}

static void tty_name(unsigned dev, char out[32]) {
  unsigned maj = major(dev), min = minor(dev);
  if (dev == 0)
    snprintf(out, 32, "?");
  else if (maj >= 136 && maj <= 143)
    snprintf(out, 32, "pts/%u", (maj - 136) * 256 + min);
  else if (maj == 4 && min < 64)
    snprintf(out, 32, "tty%u", min);
  else if (maj == 4)
    snprintf(out, 32, "ttyS%u", min - 64);
  else if (maj == 5 && min <= 1)
    snprintf(out, 32, "%s", min ? "console" : "tty");
  else
    snprintf(out, 32, "?");
}

/* Seconds since the process started, and its cumulative CPU ticks. */
static unsigned long long elapsed_s(const host_facts_t *h, const proc_info_t *pi) {
  double e = h->uptime - (double)pi->start / (double)h->hz;
  return e > 0 ? (unsigned long long)e : 0;
}

/* procps' STIME/START: HH:MM today, MonDD this year, else the year. */
static void start_text(const host_facts_t *h, const proc_info_t *pi, char out[32]) {
  time_t t = (time_t)(h->boot_time + pi->start / h->hz);
  struct tm now, then;
  localtime_r(&h->now, &now);
  localtime_r(&t, &then);
  const char *fmt = "%H:%M";
  if (now.tm_yday != then.tm_yday)
    fmt = "%b%d";
  if (now.tm_year != then.tm_year)
    fmt = "%Y";
  if (strftime(out, 32, fmt, &then) == 0)
    snprintf(out, 32, "?");
}

static struct json_object *row_ef(host_facts_t *h, const proc_info_t *pi) {
  char user[16], tty[32], stime[32], c[16], tm[32];
  user_name(h, pi->euid, user);
  tty_name(pi->tty, tty);
  start_text(h, pi, stime);
  unsigned long long secs = elapsed_s(h, pi), ticks = pi->utime + pi->stime;
  unsigned long long pc = secs ? ticks * 100ULL / h->hz / secs : 0;
  snprintf(c, sizeof c, "%llu", pc > 99 ? 99 : pc);
  unsigned long long t = ticks / h->hz;
  if (t >= 86400)
    snprintf(tm, sizeof tm, "%llu-%02llu:%02llu:%02llu", t / 86400, t % 86400 / 3600, t % 3600 / 60, t % 60);
  else
    snprintf(tm, sizeof tm, "%02llu:%02llu:%02llu", t / 3600, t % 3600 / 60, t % 60);
  char pid[16], ppid[16];
  snprintf(pid, sizeof pid, "%d", (int)pi->pid);
  snprintf(ppid, sizeof ppid, "%d", (int)pi->ppid);
  const char *cols[] = {user, pid, ppid, c, stime, tty, tm, pi->cmd};
  struct json_object *row = json_object_new_array();
  for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
    json_object_array_add(row, json_object_new_string(cols[i]));
  return row;
}

static struct json_object *row_aux(host_facts_t *h, const proc_info_t *pi) {
  char user[16], tty[32], start[32], cpu[24], mem[24], vsz[24], rss[24], stat[16], tm[32], pid[16];
  user_name(h, pi->euid, user);
  tty_name(pi->tty, tty);
  start_text(h, pi, start);
  unsigned long long secs = elapsed_s(h, pi), ticks = pi->utime + pi->stime;
  unsigned long long pc = secs ? ticks * 1000ULL / h->hz / secs : 0;
  if (pc > 999)
    snprintf(cpu, sizeof cpu, "%llu", pc / 10);
  else
    snprintf(cpu, sizeof cpu, "%llu.%llu", pc / 10, pc % 10);
  unsigned long long rss_kb = pi->rss_kb;
  unsigned long long pm = h->mem_total_kb ? rss_kb * 1000ULL / h->mem_total_kb : 0;
  if (pm > 999)
    pm = 999;
  snprintf(mem, sizeof mem, "%llu.%llu", pm / 10, pm % 10);
  snprintf(vsz, sizeof vsz, "%llu", pi->vsize_kb);
  snprintf(rss, sizeof rss, "%llu", rss_kb);
  size_t k = 0;
  stat[k++] = pi->state;
  if (pi->nice < 0)
    stat[k++] = '<';
  else if (pi->nice > 0)
    stat[k++] = 'N';
  if (pi->vmlck_kb)
    stat[k++] = 'L';
  if (pi->session == pi->pid)
    stat[k++] = 's';
  if (pi->threads > 1)
    stat[k++] = 'l';
  if (pi->pgrp == pi->tpgid)
    stat[k++] = '+';
  stat[k] = '\0';
  unsigned long long t = ticks / h->hz;
  snprintf(tm, sizeof tm, "%llu:%02llu", t / 60, t % 60);
  snprintf(pid, sizeof pid, "%d", (int)pi->pid);
  const char *cols[] = {user, pid, cpu, mem, vsz, rss, tty, stat, start, tm, pi->cmd};
  struct json_object *row = json_object_new_array();
  for (size_t i = 0; i < sizeof cols / sizeof *cols; i++)
    json_object_array_add(row, json_object_new_string(cols[i]));
  return row;
}

static const char *const titles_ef[] = {"UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD", NULL};
static const char *const titles_aux[] = {"USER", "PID", "%CPU", "%MEM", "VSZ", "RSS", "TTY", "STAT", "START", "TIME",
                                         "COMMAND", NULL};

void api_handle_ctr_top(api_request_t *r) {
  api_ctr_t *c = ctr_from_request(r);
  if (c == NULL)
    return;
  if (c->status != CTR_RUNNING || c->pid <= 0) {
    api_reply_error(r, 409, "Container %s is not running", c->id);
    return;
  }
  /* dockerd hands ps_args to ps; the two tables ps makes for Docker's
   * documented uses are built here, anything else is refused. */
  const char *args = api_request_query(r, "ps_args");
  bool aux;
  if (args == NULL || args[0] == '\0' || strcmp(args, "-ef") == 0)
    aux = false;
  else if (strcmp(args, "aux") == 0)
    aux = true;
  else {
    api_reply_error(r, 400, "ps_args \"%.100s\" is not supported: berth builds the table itself and knows \"-ef\" "
                    "(the default) and \"aux\"", args);
    return;
  }
  ctr_cgroup_t cg;
  cleanup_free pid_t *pids = NULL;
  size_t n = 0;
  uint64_t other;
  if (ctr_cgroup_find(c->id, &cg) < 0 || ctr_procs(c, &cg, &pids, &n, &other) < 0) {
    if (errno == ENOMEM) {
      api_reply_error(r, 500, "out of memory");
      return;
    }
    /* the record still says running, but the cgroup or its init is gone: the exit is on its way */
    api_reply_error(r, 409, "Container %s is not running", c->id);
    return;
  }
  host_facts_t h;
  host_facts(&h);
  struct json_object *o = json_object_new_object(), *titles = json_object_new_array(), *procs = json_object_new_array();
  for (const char *const *t = aux ? titles_aux : titles_ef; *t; t++)
    json_object_array_add(titles, json_object_new_string(*t));
  for (size_t i = 0; i < n; i++) {
    proc_info_t pi;
    if (proc_read(pids[i], &pi) < 0)
      continue; /* exited since cgroup.procs was read */
    json_object_array_add(procs, aux ? row_aux(&h, &pi) : row_ef(&h, &pi));
  }
  if (h.passwd)
    fclose(h.passwd);
  json_object_object_add(o, "Processes", procs);
  json_object_object_add(o, "Titles", titles);
  api_reply_json(r, 200, o);
}
