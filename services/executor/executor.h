/* berth-execd: the only privileged process. State shared by its files:
 * main.c (options, loop, shutdown), listen.c (API socket), supervise.c
 * (fork/exec/restart, edges), demote.c (privilege drop in the child),
 * status.c (/proc checks and the ServicesStatus reply), layers.c (imaged's
 * store: created here, layers resolved by chain id). */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>
#include "conn.h"

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
  uid_t api_uid, net_uid;
  gid_t api_gid, net_gid;
  unsigned long subuid, subgid;  /* first ids of the berth subordinate ranges */
  service_t svc[EXECD_NSERVICES];
  bool ready_sent, stopping;
  sd_event_source *stop_timer;
};

/* listen.c */
int execd_listen(execd_t *x, berth_error_t *err);

/* supervise.c */
int execd_start_all(execd_t *x, berth_error_t *err);
void execd_stop_all(execd_t *x);
service_t *execd_service(execd_t *x, Berth__Ipc__Peer peer);

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
