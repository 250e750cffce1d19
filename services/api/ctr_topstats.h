/* GET /containers/{id}/top (ctr_top.c) and GET /containers/{id}/stats
 * (ctr_stats.c): what apid reads itself, read-only, from the host's /proc
 * and the container's cgroup (docs/containers.md, "top and stats"). The
 * monitor shares the container's cgroup but not its pid namespace: it is
 * never listed, and the task counts leave it out. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "app.h"

#define CTR_CG_PATH_MAX 160

/* The container's cgroup directories ("" where it has none). On cgroup v2
 * every controller's is the same directory. */
typedef struct {
  bool v2;
  char memory[CTR_CG_PATH_MAX], pids[CTR_CG_PATH_MAX], cpu[CTR_CG_PATH_MAX], cpuacct[CTR_CG_PATH_MAX];
  char blkio[CTR_CG_PATH_MAX], unified[CTR_CG_PATH_MAX];
  char procs[CTR_CG_PATH_MAX]; /* the one whose cgroup.procs lists its processes */
} ctr_cgroup_t;

/* Finds the cgroups of container id (64 hex) under the executor's fixed
 * layouts: cgroupfs berth/<id> and systemd berth.slice/berth-<id>.scope, v2
 * or each v1 hierarchy. -1 when there is no directory to list processes from. */
int ctr_cgroup_find(const char *id, ctr_cgroup_t *cg);

/* The processes of running container c: the members of its cgroup that are
 * in its pid namespace (as deep as its init, c->pid, or deeper), host pids
 * ascending. *other_tasks gets the threads of the members that are not (the
 * monitor). -1 with errno ESRCH when c->pid is not one of them (the
 * container is gone, or the pid was reused). */
int ctr_procs(const api_ctr_t *c, const ctr_cgroup_t *cg, pid_t **pids, size_t *n, uint64_t *other_tasks);

/* Reads a small file whole (NUL-terminated, at most max - 1 bytes). Length, or -1 with errno. */
ssize_t ctr_read_small(const char *path, char *buf, size_t max);

void api_handle_ctr_top(api_request_t *r);
void api_handle_ctr_stats(api_request_t *r);
