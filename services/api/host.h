/* Facts about the host that /version and /info report. Most are read once at
 * start-up, before the seccomp sandbox is in place (berth-apid then holds no
 * capability and may not open much); the few that change are refreshed
 * best-effort from world-readable /proc files on each request. */
#pragma once
#include <stdint.h>

typedef struct {
  char id[40];              /* engine ID: stable per machine (from /etc/machine-id) */
  char kernel_version[65];
  char machine[65];         /* uname -m, e.g. x86_64 */
  char hostname[65];
  char os_pretty_name[256];
  char os_version[64];
  int ncpu;
  int64_t mem_total;
  int cgroup_version;       /* 1 or 2 */
  int systemd_booted;       /* /run/systemd/system exists: systemd cgroup driver */
  int memory_limit, swap_limit, kernel_memory_tcp, oom_kill_disable;
  int cpu_cfs_period, cpu_cfs_quota, cpu_shares, cpuset, pids_limit;
  int ipv4_forwarding, bridge_nf_iptables, bridge_nf_ip6tables;
  int debug;
  char data_root[4096];
  char backing_fs[32];      /* "" when the data root could not be examined */
} api_host_t;

/* Fills h; never fails (unknown facts stay empty/0). */
void api_host_probe(api_host_t *h, const char *data_root);
/* Re-reads what may change while running (forwarding, bridge-nf). */
void api_host_refresh(api_host_t *h);
/* Docker/Go architecture name for a uname machine (x86_64 -> amd64). */
const char *api_host_docker_arch(const char *machine);
/* Open fds of this process (0 when /proc/self/fd is not readable). */
int api_host_count_fds(void);
