/* How each service looks from outside: /proc/PID/status, uid_map and user
 * namespace. Used to check a service's demotion after its Hello, to answer
 * SERVICES_STATUS from berth-apid, and for systemd's STATUS= line. */
#include <inttypes.h>
#include "executor.h"

static bool same_userns(pid_t pid) {
  char path[64];
  struct stat a, b;
  snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
  if (stat(path, &a) < 0 || stat("/proc/self/ns/user", &b) < 0)
    return false; /* unknown counts as "not ours": never reported as host root */
  return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

/* First line of uid_map with the kernel's column padding squeezed out. */
static void read_uid_map(pid_t pid, char *out, size_t size) {
  char path[64], line[128];
  unsigned long inside, outside, count;
  snprintf(path, sizeof path, "/proc/%d/uid_map", (int)pid);
  FILE *f = fopen(path, "re");
  out[0] = 0;
  if (f && fgets(line, sizeof line, f) && sscanf(line, "%lu %lu %lu", &inside, &outside, &count) == 3)
    snprintf(out, size, "%lu %lu %lu", inside, outside, count);
  if (f)
    fclose(f);
}

int status_read(pid_t pid, proc_status_t *st, berth_error_t *err) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE *f = fopen(path, "re");
  if (f == NULL)
    return berth_error_errno(err, "open %s", path);
  *st = (proc_status_t){.seccomp = -1, .no_new_privs = -1};
  int seen = 0;
  while (fgets(line, sizeof line, f)) {
    unsigned a, b, c, d;
    if (sscanf(line, "Uid: %u %u %u %u", &a, &b, &c, &d) == 4)
      st->uid[0] = a, st->uid[1] = b, st->uid[2] = c, st->uid[3] = d, seen++;
    else if (sscanf(line, "Gid: %u %u %u %u", &a, &b, &c, &d) == 4)
      st->gid[0] = a, st->gid[1] = b, st->gid[2] = c, st->gid[3] = d, seen++;
    else if (sscanf(line, "CapPrm: %" SCNx64, &st->cap_prm) == 1 || sscanf(line, "CapEff: %" SCNx64, &st->cap_eff) == 1 ||
             sscanf(line, "CapBnd: %" SCNx64, &st->cap_bnd) == 1 || sscanf(line, "CapAmb: %" SCNx64, &st->cap_amb) == 1 ||
             sscanf(line, "NoNewPrivs: %d", &st->no_new_privs) == 1 || sscanf(line, "Seccomp: %d", &st->seccomp) == 1)
      seen++;
  }
  fclose(f);
  if (seen != 8)
    return berth_error_make(err, EPROTO, "%s: expected fields missing", path);
  st->own_userns = !same_userns(pid);
  read_uid_map(pid, st->uid_map, sizeof st->uid_map);
  return 0;
}

int status_verify(const proc_status_t *st, const expect_t *want, berth_error_t *err) {
  for (int i = 0; i < 4; i++)
    if (st->uid[i] != want->uid || st->gid[i] != want->gid)
      return berth_error_make(err, EPERM, "uid/gid %u/%u, expected %u/%u", st->uid[i], st->gid[i], want->uid, want->gid);
  if (st->no_new_privs != 1 || st->seccomp != 2)
    return berth_error_make(err, EPERM, "NoNewPrivs %d Seccomp %d, expected 1 and 2", st->no_new_privs, st->seccomp);
  if (st->cap_bnd != want->caps || (st->cap_eff & ~want->caps) || (st->cap_prm & ~want->caps) ||
      (st->cap_amb & ~want->caps) || (want->caps_exact && (st->cap_eff != want->caps || st->cap_prm != want->caps)))
    return berth_error_make(err, EPERM,
                            "capabilities eff %016" PRIx64 " prm %016" PRIx64 " bnd %016" PRIx64 " amb %016" PRIx64
                            ", expected %016" PRIx64,
                            st->cap_eff, st->cap_prm, st->cap_bnd, st->cap_amb, want->caps);
  if (st->own_userns != want->own_userns)
    return berth_error_make(err, EPERM, "user namespace: %s, expected %s", st->own_userns ? "own" : "host",
                            want->own_userns ? "own" : "host");
  if (want->own_userns) {
    char map[64];
    snprintf(map, sizeof map, "0 %u 65536", want->uid);
    if (strcmp(st->uid_map, map) != 0)
      return berth_error_make(err, EPERM, "uid_map \"%s\", expected \"%s\"", st->uid_map, map);
  }
  return 0;
}

const char *status_state_name(svc_state_t st) {
  static const char *names[] = {"stopped", "starting", "running", "backoff"};
  return names[st];
}

void status_reply(execd_t *x, berth_conn_t *c, uint64_t request_id) {
  Berth__Ipc__ServiceInfo info[EXECD_NSERVICES], *ptrs[EXECD_NSERVICES];
  for (int i = 0; i < EXECD_NSERVICES; i++) {
    const service_t *s = &x->svc[i];
    Berth__Ipc__ServiceInfo *in = &info[i];
    berth__ipc__service_info__init(in);
    in->peer = s->peer, in->name = (char *)s->name, in->restarts = s->restarts, in->uid_map = "";
    in->state = (char *)status_state_name(s->state), in->started_usec = s->started_real;
    proc_status_t st;
    if (s->pid > 0 && status_read(s->pid, &st, NULL) == 0) {
      in->pid = s->pid, in->uid = st.uid[0], in->gid = st.gid[0];
      in->cap_eff = st.cap_eff, in->cap_prm = st.cap_prm, in->cap_bnd = st.cap_bnd, in->cap_amb = st.cap_amb;
      in->seccomp_mode = st.seccomp > 0 ? (uint32_t)st.seccomp : 0, in->no_new_privs = st.no_new_privs == 1;
      in->own_user_namespace = st.own_userns, in->uid_map = strdupa(st.uid_map);
    }
    ptrs[i] = in;
  }
  Berth__Ipc__ServicesStatusReply rep = BERTH__IPC__SERVICES_STATUS_REPLY__INIT;
  rep.n_services = EXECD_NSERVICES, rep.services = ptrs;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_SERVICES_STATUS_REPLY, env.services_status_reply = &rep;
  berth_error_t err = NULL;
  if (berth_conn_reply(c, request_id, &env, NULL, 0, &err) < 0) {
    log_warn("services status reply: %s", err && err->msg ? err->msg : "?");
    berth_error_release(&err);
  }
}

void status_notify(execd_t *x) {
  char text[256];
  size_t n = 0;
  bool all_running = true;
  unsigned restarts = 0;
  for (int i = 0; i < EXECD_NSERVICES; i++) {
    const service_t *s = &x->svc[i];
    all_running &= s->state == SVC_RUNNING;
    restarts += s->restarts;
    int w = snprintf(text + n, sizeof text - n, "%s%s %s", i ? ", " : "", s->name, status_state_name(s->state));
    if (w > 0 && (size_t)w < sizeof text - n)
      n += (size_t)w;
  }
  snprintf(text + n, sizeof text - n, "; %u restarts", restarts);
  bool ready = all_running && !x->ready_sent; /* READY=1 once, when every service first runs */
  if (ready)
    log_info("all services are up");
  x->ready_sent |= ready;
  sd_notifyf(0, "%sSTATUS=%s", ready ? "READY=1\n" : "", text);
}
