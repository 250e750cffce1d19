/* berth-execd: the only privileged process. State shared by its files:
 * main.c (options, loop, shutdown), listen.c (API socket), supervise.c
 * (fork/exec/restart, edges), demote.c (privilege drop in the child),
 * status.c (/proc checks and the ServicesStatus reply), layers.c (imaged's
 * store: created here, layers resolved by chain id), container.c (container
 * operations: validation, state on disk), spawn.c (monitor and container
 * processes), cgroup.c (cgroupfs v1/v2 and systemd scopes). */
#pragma once
/* What most of the executor's files use, once for all of them. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <unistd.h>
#include "berth.h"
#include "cleanup.h"
#include "conn.h"
#include "layers.h"
#include "log.h"

#define EXECD_NSERVICES 3

/* Capability masks as /proc/PID/status shows them (bit n = capability n). */
#define CAPBIT(c) (UINT64_C(1) << (c))

typedef enum { SVC_STOPPED, SVC_STARTING, SVC_RUNNING, SVC_BACKOFF } svc_state_t;

typedef struct execd execd_t;

typedef struct {
  execd_t *x;
  Berth__Ipc__Peer peer;
  const char *name;          /* "berth-apid", ... : file name in --libexec-dir */
  int exe_fd;                /* the binary, opened once at start-up */
  pid_t pid;                 /* 0 when not running */
  sd_event_source *child;    /* pidfd-based child watch while pid != 0 */
  sd_event_source *timer;    /* Hello deadline (STARTING) or restart (BACKOFF) */
  berth_conn_t *conn;        /* edge on the service's fd 3 */
  svc_state_t state;
  unsigned restarts;
  uint64_t backoff_usec;     /* delay before the next restart */
  uint64_t started_mono;     /* CLOCK_MONOTONIC at spawn */
  int64_t started_real;      /* CLOCK_REALTIME at spawn, for status */
} service_t;

/* What a demoted service must look like (checked by status.c after Hello). */
typedef struct {
  uid_t uid;
  gid_t gid;
  uint64_t caps;             /* exact CapBnd; CapEff/CapPrm/CapAmb must be subsets */
  bool caps_exact;           /* CapEff and CapPrm must equal caps too */
  bool own_userns;
} expect_t;

struct execd {
  sd_event *event;
  char *data_root, *run_root;  /* absolute, owned */
  char *config;              /* --config FILE, absolute, passed to every service (never read here) */
  int image_fd;              /* DATA_ROOT/image, imaged's store (layers.c) */
  const char *libexec_dir;
  char **envp;               /* cleared environment for services */
  int api_fd;                /* listening socket handed to berth-apid as fd 4 */
  char *own_socket;          /* path we created (unlinked at exit), or NULL */
  uid_t api_uid, net_uid, mon_uid;   /* mon: user berth, the monitors' user */
  gid_t api_gid, net_gid, mon_gid;
  unsigned long subuid, subgid;  /* first ids of the berth subordinate ranges */
  unsigned long id_blocks;       /* blocks of 65536 ids in both ranges (block 0 is imaged's) */
  int containers_fd;             /* DATA_ROOT/containers */
  int monitor_fd;                /* berth-monitor, opened at start-up; -1 if absent */
  bool cg_v1, cg_systemd;        /* cgroup v1/hybrid; systemd scopes instead of cgroupfs */
  service_t svc[EXECD_NSERVICES];
  bool ready_sent, stopping;
  sd_event_source *stop_timer, *reap_timer;
};

/* listen.c */
int execd_listen(execd_t *x, berth_error_t *err);

/* supervise.c */
int execd_start_all(execd_t *x, berth_error_t *err);
void execd_stop_all(execd_t *x);
service_t *execd_service(execd_t *x, Berth__Ipc__Peer peer);
/* Opens libexec_dir/name (regular, owned by root, writable only by root). */
int execd_open_binary(execd_t *x, const char *name, int *fd, berth_error_t *err);

/* demote.c */
int demote_resolve(execd_t *x, berth_error_t *err);
/* Runs in the forked child: demotes, places the edge at fd 3 (and the API
 * socket at fd 4 for apid) and execs. On any failure it logs and
 * _exits(DEMOTE_FAILED); it never returns. */
#define DEMOTE_FAILED 126
__attribute__((noreturn)) void demote_exec(const service_t *s, int edge, int sync_fd);
/* Parent side for imaged: wait for the child's unshare, write its id maps. */
int demote_write_maps(const service_t *s, int sync_fd, berth_error_t *err);
void demote_expect(const service_t *s, expect_t *out);
void demote_reset_signals(void);

/* status.c */
typedef struct {
  uid_t uid[4];
  gid_t gid[4];
  uint64_t cap_eff, cap_prm, cap_bnd, cap_amb;
  int seccomp, no_new_privs;
  bool own_userns;
  char uid_map[64];
} proc_status_t;

int status_read(pid_t pid, proc_status_t *st, berth_error_t *err);
/* 0 if the process matches the expectation, else < 0 with the first mismatch. */
int status_verify(const proc_status_t *st, const expect_t *want, berth_error_t *err);
void status_reply(execd_t *x, berth_conn_t *c, uint64_t request_id);
const char *status_state_name(svc_state_t st);
/* READY=1 once all services are up for the first time; STATUS= on every change. */
void status_notify(execd_t *x);

/* container.c: DATA_ROOT/api and DATA_ROOT/containers, the monitor binary,
 * the cgroup backend (manager: NULL = auto, "cgroupfs", "systemd"). */
int container_init(execd_t *x, const char *cgroup_manager, berth_error_t *err);
/* Answers one Container* request from apid (owns req). */
void container_request(execd_t *x, berth_conn_t *c, berth_msg_t *req);
/* Field 22 of /proc/PID/stat (start time in clock ticks), 0 if gone. */
unsigned long long container_start_ticks(pid_t pid);

/* spawn.c: starts a container. The executor forks an intermediate that
 * forks M and exits (M is not our child); M waits until we placed it in
 * the container's cgroup, sets up the root filesystem, clones C, and once
 * C has exec'd writes `pid` and becomes berth-monitor. Failures of M or C
 * come back with their real cause. */
typedef struct {
  execd_t *x;
  const char *id;
  const Berth__Ipc__ContainerSpec *s;
  const Berth__Ipc__ContainerLimits *limits; /* s->limits or an empty one */
  int dir, chan;       /* containers/<id> (O_PATH), apid's channel end */
  const int *layers;   /* O_PATH fds of the layers' diff dirs, base first */
  uid_t ubase;         /* 0: host ids, no user namespace */
  gid_t gbase;
} spawn_t;
int spawn_container(const spawn_t *sp, berth_error_t *err);

/* cgroup.c. Hierarchies: v2 one, v1 memory/pids/cpu/cpuset (+unified). */
int cgroup_init(execd_t *x, const char *manager, berth_error_t *err);
/* cgroupfs: creates the container's cgroups with the limits; systemd: nothing yet. */
int cgroup_create(execd_t *x, const char *id, const Berth__Ipc__ContainerLimits *l, berth_error_t *err);
/* Moves pid in (cgroupfs) or starts berth-<id>.scope with pid and the limits (systemd). */
int cgroup_enter(execd_t *x, const char *id, pid_t pid, const Berth__Ipc__ContainerLimits *l, berth_error_t *err);
int cgroup_open_memory(execd_t *x, const char *id);
/* The container's cgroup2 directory (v2, or hybrid's unified) for CLONE_INTO_CGROUP, or -1. */
int cgroup_v2_fd(execd_t *x, const char *id);
/* Removes the container's cgroup directories (ENOENT is fine). */
int cgroup_remove(execd_t *x, const char *id, berth_error_t *err);
