/* Container operations from berth-apid. The executor keeps nothing about
 * containers in memory: DATA_ROOT/containers/<id>/ holds upper/ work/
 * rootfs/ etc/ mon/ and pid (docs/containers.md) and every answer is read
 * from there, so a restarted executor knows every container. */
#include <dirent.h>
#include <fts.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <sys/pidfd.h>
#include <sys/resource.h>
#include <sys/un.h>
#include "executor.h"

#define OP(x) BERTH__IPC__ENVELOPE__OP_##x
#define ST(x) BERTH__IPC__CONTAINER_STATE_REPLY__STATUS__##x
#define BAD(...) berth_error_make(err, EINVAL, "invalid container spec: " __VA_ARGS__)
#define ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
typedef Berth__Ipc__ContainerStateReply state_t;
typedef Berth__Ipc__ContainerSpec spec_t;
/* Every container request has `string id = 1` first, so the same layout. */
typedef struct { ProtobufCMessage base; char *id; } id_req_t;

static bool only(const char *s, const char *set, size_t max) {
  return strlen(s) <= max && strspn(s, set) == strlen(s);
}

static const Berth__Ipc__ContainerLimits none = BERTH__IPC__CONTAINER_LIMITS__INIT;

static int check_spec(const spec_t *s, berth_error_t *err) {
  if (s == NULL)
    return BAD("missing");
  const Berth__Ipc__ContainerLimits *l = s->limits ? s->limits : &none;
  size_t cl = strlen(s->cwd);
  const char *colon = strchr(s->user, ':');
  bool bad_env = s->n_env > 4096, bad_rl = s->n_rlimits > RLIM_NLIMITS;
  for (size_t i = 0; i < s->n_env; i++)
    bad_env |= s->env[i][0] == '=' || !strchr(s->env[i], '=');
  for (size_t i = 0; i < s->n_rlimits && !bad_rl; i++)
    bad_rl = s->rlimits[i]->type >= RLIM_NLIMITS || s->rlimits[i]->soft > s->rlimits[i]->hard;
  const struct { bool bad; const char *rule; } rules[] = {
      {s->n_layers < 1 || s->n_layers > 128, "1..128 layers"},
      {s->n_argv < 1 || s->n_argv > 4096 || !s->argv[0][0], "argv: 1..4096 entries, the first one not empty"},
      {bad_env, "env: at most 4096 entries, each KEY=value"},
      {s->cwd[0] != '/' || cl > 4095 || strstr(s->cwd, "/../") || (cl >= 3 && !strcmp(s->cwd + cl - 3, "/..")),
       "working directory: an absolute path without \"..\""},
      {!only(s->user, ALNUM "._-:", 256) || (colon && strchr(colon + 1, ':')), "user: name, uid, name:group or uid:gid"},
      {s->n_extra_gids > 64, "at most 64 supplementary groups"},
      {!only(s->hostname, ALNUM ".-", 64) || !only(s->domainname, ALNUM ".-", 64) || s->hostname[0] == '-' || s->hostname[0] == '.',
       "hostname and domainname: up to 64 letters, digits, '-' and '.', the hostname not starting with '-' or '.'"},
      {s->hosts.len > 65536 || s->resolv_conf.len > 65536, "hosts and resolv.conf: at most 64 KiB each"},
      {s->capabilities >> (CAP_LAST_CAP + 1) != 0, "unknown capability bits"},
      {s->seccomp_bpf.len % 8 || s->seccomp_bpf.len > 4096 * 8, "seccomp filter: whole instructions, at most 4096"},
      {(unsigned)s->network > BERTH__IPC__CONTAINER_SPEC__NETWORK__NETWORK_HOST, "unknown network mode"},
      {bad_rl, "rlimits: known types, soft limit <= hard limit"},
      {s->oom_score_adj < -1000 || s->oom_score_adj > 1000, "oom_score_adj: -1000..1000"},
      {s->log_max_files > 1000 || s->log_max_size > (1ULL << 50), "log: at most 1000 files of at most 1 PiB"},
      {l->memory < 0 || l->memory_swap < -1 || (l->memory_swap > 0 && (!l->memory || l->memory_swap < l->memory)),
       "memory+swap needs a memory limit and must be at least as large"},
      {l->cpu_shares && (l->cpu_shares < 2 || l->cpu_shares > 262144), "cpu shares: 2..262144"},
      {l->cpu_quota < 0 || (l->cpu_quota && l->cpu_quota < 1000) ||
           (l->cpu_period && (l->cpu_period < 1000 || l->cpu_period > 1000000)),
       "cpu quota: at least 1000 us; period: 1000..1000000 us"},
      {!only(l->cpuset_cpus, "0123456789,-", 256) || !only(l->cpuset_mems, "0123456789,-", 256),
       "cpuset: a list like 0-3,8"},
      {l->pids < 0, "negative pids limit"},
  };
  for (size_t i = 0; i < sizeof rules / sizeof *rules; i++)
    if (rules[i].bad)
      return BAD("%s", rules[i].rule);
  return 0;
}

unsigned long long container_start_ticks(pid_t pid) {
  char p[64], buf[1024] = "";
  snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
  cleanup_close int fd = open(p, O_RDONLY | O_CLOEXEC);
  char *s = fd >= 0 && read(fd, buf, sizeof buf - 1) > 0 ? strrchr(buf, ')') : NULL;
  for (int i = 0; s && i < 20; i++) /* to field 22 */
    s = strchr(s + 1, ' ');
  return s ? strtoull(s + 1, NULL, 10) : 0;
}

/* mon/ belongs to the monitor's user: never follow a link, leave the tree or block. */
static int open_in(int dir, const char *rel, int flags) {
  struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC | (flags & O_PATH ? 0 : O_NONBLOCK)),
                         .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
  return (int)syscall(SYS_openat2, dir, rel, &how, sizeof how);
}

static bool read_nums(int dir, const char *rel, long long v[3]) {
  char buf[128] = "";
  struct stat st;
  cleanup_close int fd = open_in(dir, rel, O_RDONLY);
  return fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && read(fd, buf, sizeof buf - 1) > 0 &&
         sscanf(buf, "%lld %lld %lld", &v[0], &v[1], &v[2]) == 3;
}

static int get_state(const char *id, int dir, state_t *st, berth_error_t *err) {
  struct stat up;
  long long p[3], e[3];
  if (fstatat(dir, "upper", &up, AT_SYMLINK_NOFOLLOW) < 0)
    return berth_error_errno(err, "container %s: upper/", id);
  st->uid_base = up.st_uid;
  if (!read_nums(dir, "pid", p))
    return 0; /* never started */
  st->started_unix_nano = p[2];
  if (read_nums(dir, "mon/exit", e))
    st->status = ST(EXITED), st->exit_code = (int)e[0], st->oom_killed = e[1] != 0, st->finished_unix_nano = e[2];
  else if (p[1] > 0 && container_start_ticks((pid_t)p[0]) == (unsigned long long)p[1])
    st->status = ST(RUNNING), st->pid = (int)p[0];
  else /* the monitor vanished without a word */
    st->status = ST(EXITED), st->exit_code = -1;
  return 0;
}

/* Removes (or measures) a tree without following links or crossing mounts. */
static int walk(const char *path, bool rm, int64_t *size, berth_error_t *err) {
  char *paths[] = {(char *)path, NULL};
  FTS *f = fts_open(paths, FTS_PHYSICAL | FTS_XDEV, NULL);
  int r = f ? 0 : berth_error_errno(err, "open %s", path);
  for (FTSENT *e; f && (e = fts_read(f));) {
    if (e->fts_info == FTS_F && size)
      *size += e->fts_statp->st_size;
    if (rm && e->fts_info != FTS_D && (e->fts_info == FTS_DP ? rmdir : unlink)(e->fts_accpath) < 0 && r == 0)
      r = berth_error_errno(err, "remove %s", e->fts_path);
  }
  if (f)
    fts_close(f);
  return r;
}

static int remove_ctr(execd_t *x, const char *id, berth_error_t *err) {
  char path[4200];
  snprintf(path, sizeof path, "%s/containers/%s", x->data_root, id);
  return walk(path, true, NULL, err);
}

/* The lowest block of 65536 ids >= 1 that no container's upper/ owns. */
static unsigned long free_block(execd_t *x) {
  cleanup_free uint8_t *used = calloc(x->id_blocks + 1, 1);
  int fd = openat(x->containers_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR *d = used && fd >= 0 ? fdopendir(fd) : NULL;
  for (struct dirent *e; d && (e = readdir(d));) {
    char p[300];
    struct stat st;
    snprintf(p, sizeof p, "%s/upper", e->d_name);
    bool ours = e->d_name[0] != '.' && fstatat(x->containers_fd, p, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_uid >= x->subuid;
    unsigned long off = ours ? st.st_uid - x->subuid : 1;
    if (off % 65536 == 0 && off / 65536 < x->id_blocks)
      used[off / 65536] = 1;
  }
  if (d)
    closedir(d);
  else if (fd >= 0)
    close(fd);
  for (unsigned long b = 1; used && b < x->id_blocks; b++)
    if (!used[b])
      return b;
  return 0;
}

static int create(execd_t *x, const char *id, bool host_ids, berth_error_t *err) {
  unsigned long b = host_ids ? 0 : free_block(x);
  if (!host_ids && b == 0)
    return berth_error_make(err, ENOSPC, "no free id range: the %lu blocks of %s's subordinate ids are in use",
                            x->id_blocks - 1, BERTH_USER_RANGE);
  if (mkdirat(x->containers_fd, id, 0711) < 0)
    return errno == EEXIST ? berth_error_make(err, EEXIST, "container %s already exists", id)
                           : berth_error_errno(err, "mkdir containers/%s", id);
  static const struct { const char *name; mode_t mode; int owner; } sub[] = {
      {"upper", 0755, 1}, {"work", 0700, 0}, {"rootfs", 0755, 0}, {"etc", 0755, 0}, {"mon", 0700, 2}};
  cleanup_close int d = openat(x->containers_fd, id, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  for (size_t i = 0; i < sizeof sub / sizeof *sub; i++) {
    uid_t u = sub[i].owner == 1 ? (b ? x->subuid + b * 65536 : 0) : sub[i].owner == 2 ? x->mon_uid : 0;
    gid_t g = sub[i].owner == 1 ? (b ? x->subgid + b * 65536 : 0) : sub[i].owner == 2 ? x->mon_gid : 0;
    if (mkdirat(d, sub[i].name, sub[i].mode) < 0 || fchownat(d, sub[i].name, u, g, AT_SYMLINK_NOFOLLOW) < 0) {
      int r = berth_error_errno(err, "creating containers/%s/%s", id, sub[i].name);
      remove_ctr(x, id, NULL);
      return r;
    }
  }
  return 0;
}

static int start(execd_t *x, berth_msg_t *req, int d, state_t *st, berth_error_t *err) {
  const Berth__Ipc__ContainerStartRequest *r = req->env->container_start;
  const spec_t *s = r->spec;
  struct stat up;
  long long p[3];
  int lay[128], rc = 0;
  size_t nl = 0;
  if (check_spec(s, err) < 0)
    return -1;
  if (st->status == ST(RUNNING))
    return berth_error_make(err, EBUSY, "container %s is already running", r->id);
  if (x->monitor_fd < 0)
    return berth_error_make(err, ENOENT, "berth-monitor is not installed in %s: containers cannot start", x->libexec_dir);
  for (; nl < s->n_layers && rc == 0; nl++)
    rc = (lay[nl] = layers_open_diff(x->image_fd, s->layers[nl], err)) < 0 ? -1 : 0;
  nl -= rc < 0;
  char hn[72] = "";
  if (!s->hostname[0])
    gethostname(hn, 64);
  snprintf(hn + strlen(hn), sizeof hn - strlen(hn), "%s\n", s->hostname);
  const ProtobufCBinaryData etc[] = {{strlen(hn), (uint8_t *)hn}, s->hosts, s->resolv_conf};
  static const char *names[] = {"etc/hostname", "etc/hosts", "etc/resolv.conf"};
  if (rc >= 0 && fstatat(d, "upper", &up, AT_SYMLINK_NOFOLLOW) < 0)
    rc = berth_error_errno(err, "container %s: upper/", r->id);
  for (size_t i = 0; rc >= 0 && i < 3; i++) {
    cleanup_close int f = openat(d, names[i], O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (f < 0 || write(f, etc[i].data, etc[i].len) != (ssize_t)etc[i].len || fchown(f, up.st_uid, up.st_gid) < 0)
      rc = berth_error_errno(err, "writing %s", names[i]);
  }
  cleanup_close int mon = openat(d, "mon", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (rc >= 0 && ((unlinkat(d, "pid", 0) < 0 && errno != ENOENT) || (unlinkat(mon, "exit", 0) < 0 && errno != ENOENT)))
    rc = berth_error_errno(err, "removing the previous run's pid and exit files");
  spawn_t sp = {x, r->id, s, s->limits ? s->limits : &none, d, req->fds[0], lay, up.st_uid, up.st_gid};
  if (rc >= 0 && cgroup_create(x, r->id, sp.limits, err) >= 0)
    rc = spawn_container(&sp, err);
  else
    rc = -1;
  while (nl > 0)
    close(lay[--nl]);
  if (rc < 0 || !read_nums(d, "pid", p))
    return rc < 0 ? rc : berth_error_make(err, EIO, "container %s started but left no pid file", r->id);
  /* It was running when exec'd, even if it has already exited by now. */
  st->status = ST(RUNNING), st->pid = (int)p[0], st->started_unix_nano = p[2];
  return 0;
}

static int open_log(int d, const char *id, uint32_t index, berth_error_t *err) {
  char name[32];
  struct stat st;
  if (index > 10000)
    return berth_error_make(err, EINVAL, "log index %u is out of range", index);
  snprintf(name, sizeof name, index ? "mon/log.json.%u" : "mon/log.json", index);
  cleanup_close int fd = open_in(d, name, O_RDONLY);
  if (fd < 0 && errno == ENOENT)
    return berth_error_make(err, ENOENT, "container %s has no log file %u", id, index);
  if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
    return berth_error_make(err, EIO, "container %s: %s is not a regular file", id, name);
  return berth_steal_fd(&fd);
}

static int connect_mon(int d, const char *id, berth_error_t *err) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  cleanup_close int sock = open_in(d, "mon/sock", O_PATH);
  cleanup_close int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  snprintf(sa.sun_path, sizeof sa.sun_path, "/proc/self/fd/%d", sock);
  if (sock < 0 || fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
    return berth_error_errno(err, "container %s: connecting to its monitor", id);
  return berth_steal_fd(&fd);
}

void container_request(execd_t *x, berth_conn_t *c, berth_msg_t *req) {
  berth_envelope_t *e = req->env, rep = BERTH__IPC__ENVELOPE__INIT;
  state_t st = BERTH__IPC__CONTAINER_STATE_REPLY__INIT;
  Berth__Ipc__Ok ok = BERTH__IPC__OK__INIT;
  Berth__Ipc__ContainerChannel ch = BERTH__IPC__CONTAINER_CHANNEL__INIT;
  Berth__Ipc__ContainerLogFile lf = BERTH__IPC__CONTAINER_LOG_FILE__INIT;
  berth_error_t err = NULL;
  const char *id = ((const id_req_t *)e->container_create)->id; /* the oneof's pointers share storage */
  int fd = -1, r = 0;
  rep.op_case = OP(CONTAINER_STATE_REPLY), rep.container_state_reply = &st;
  if (!id || strlen(id) != 64 || strspn(id, "0123456789abcdef") != 64)
    r = berth_error_make(&err, EINVAL, "invalid container id \"%.80s\": expected 64 lowercase hex digits", id ? id : "");
  else if (e->op_case == OP(CONTAINER_CREATE))
    r = create(x, id, e->container_create->host_ids, &err);
  cleanup_close int d = r < 0 ? -1 : openat(x->containers_fd, id, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (r >= 0 && d < 0)
    r = errno == ENOENT ? berth_error_make(&err, ENOENT, "No such container: %s", id) : berth_error_errno(&err, "container %s", id);
  if (r >= 0)
    r = get_state(id, d, &st, &err);
  bool running = st.status == ST(RUNNING);
  if (r >= 0 && !running && (e->op_case == OP(CONTAINER_SIGNAL) || e->op_case == OP(CONTAINER_CONNECT)))
    r = berth_error_make(&err, ESRCH, "container %s is not running", id);
  if (r >= 0 && running && e->op_case == OP(CONTAINER_DELETE))
    r = berth_error_make(&err, EBUSY, "container %s is running: stop it before removing it", id);
  if (r >= 0 && (e->op_case == OP(CONTAINER_SIGNAL) || e->op_case == OP(CONTAINER_DELETE)))
    rep.op_case = OP(OK), rep.ok = &ok;
  if (r < 0) {
  } else if (e->op_case == OP(CONTAINER_START)) {
    r = start(x, req, d, &st, &err);
  } else if (e->op_case == OP(CONTAINER_STATE) && e->container_state->with_size) {
    char path[4200];
    snprintf(path, sizeof path, "%s/containers/%s/upper", x->data_root, id);
    r = walk(path, false, &st.size_rw, &err);
  } else if (e->op_case == OP(CONTAINER_SIGNAL)) {
    int sig = e->container_signal->signal;
    long long p[3];
    cleanup_close int pfd = sig < 1 || sig > 64 ? -1 : pidfd_open(st.pid, 0); /* then check it is still ours */
    if (sig < 1 || sig > 64)
      r = berth_error_make(&err, EINVAL, "invalid signal %d: expected 1..64", sig);
    else if (pfd < 0 || !read_nums(d, "pid", p) || container_start_ticks(st.pid) != (unsigned long long)p[1] ||
             pidfd_send_signal(pfd, sig, NULL, 0) < 0)
      r = berth_error_make(&err, ESRCH, "container %s is not running", id);
  } else if (e->op_case == OP(CONTAINER_DELETE)) {
    r = cgroup_remove(x, id, &err) < 0 ? -1 : remove_ctr(x, id, &err);
  } else if (e->op_case == OP(CONTAINER_CONNECT)) {
    r = fd = connect_mon(d, id, &err);
    rep.op_case = OP(CONTAINER_CHANNEL), rep.container_channel = &ch;
  } else if (e->op_case == OP(CONTAINER_LOG_OPEN)) {
    r = fd = open_log(d, id, lf.index = e->container_log_open->index, &err);
    rep.op_case = OP(CONTAINER_LOG_FILE), rep.container_log_file = &lf;
  }
  if (r < 0)
    berth_conn_reply_error(c, e->request_id, err && err->status ? err->status : EIO, "%s", err ? err->msg : "failed");
  else if (berth_conn_reply(c, e->request_id, &rep, &fd, fd >= 0, &err) < 0)
    log_warn("%s reply: %s", berth_op_name(e->op_case), err ? err->msg : "?");
  if (fd >= 0)
    close(fd);
  berth_error_release(&err);
  berth_msg_release(req);
}

int container_init(execd_t *x, const char *cgroup_manager, berth_error_t *err) {
  cleanup_close int root = open(x->data_root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  for (int i = 0; i < 2; i++) { /* api/: apid's SQLite; containers/ */
    const char *name = i ? "containers" : "api";
    mode_t mode = i ? 0711 : 0700;
    if (mkdirat(root, name, mode) < 0 && errno != EEXIST)
      return berth_error_errno(err, "mkdir %s/%s", x->data_root, name);
    cleanup_close int fd = openat(root, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fchown(fd, i ? 0 : x->api_uid, i ? 0 : x->api_gid) < 0 || fchmod(fd, mode) < 0)
      return berth_error_errno(err, "%s/%s must be a directory", x->data_root, name);
    if (i)
      x->containers_fd = berth_steal_fd(&fd);
  }
  if (execd_open_binary(x, "berth-monitor", &x->monitor_fd, err) < 0) {
    log_warn("%s: containers cannot start", (*err)->msg);
    berth_error_release(err);
  }
  return cgroup_init(x, cgroup_manager, err);
}
