/* Host facts for /version and /info. See host.h. */
#include "host.h"
#include <dirent.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <systemd/sd-id128.h>
#include <unistd.h>
#include <linux/magic.h>

/* Namespaces the engine ID so it cannot be correlated with other
 * machine-id derived values. */
#define BERTH_ENGINE_APP_ID SD_ID128_MAKE(fb, 7e, 18, 81, de, 83, 4b, 9f, a1, f8, 2e, 88, 37, 2c, 72, 96)

static int exists(const char *path) {
  return access(path, F_OK) == 0;
}

/* Reads a small file holding an integer; returns def when unreadable. */
static long read_long(const char *path, long def) {
  FILE *f = fopen(path, "re");
  if (f == NULL)
    return def;
  long v = def;
  if (fscanf(f, "%ld", &v) != 1)
    v = def;
  fclose(f);
  return v;
}

/* Value of KEY=... in an os-release file, unquoted. */
static int os_release_value(const char *file, const char *key, char *out, size_t outlen) {
  FILE *f = fopen(file, "re");
  if (f == NULL)
    return -1;
  char line[512];
  size_t klen = strlen(key);
  int found = -1;
  while (found < 0 && fgets(line, sizeof line, f)) {
    if (strncmp(line, key, klen) != 0 || line[klen] != '=')
      continue;
    char *v = line + klen + 1;
    v[strcspn(v, "\r\n")] = '\0';
    char quote = (*v == '"' || *v == '\'') ? *v++ : 0;
    size_t o = 0;
    for (; *v && o + 1 < outlen; v++) {
      if (quote && *v == quote)
        break;
      if (quote == '"' && *v == '\\' && v[1])
        v++;
      out[o++] = *v;
    }
    out[o] = '\0';
    found = 0;
  }
  fclose(f);
  return found;
}

static void probe_os(api_host_t *h) {
  const char *files[] = {"/etc/os-release", "/usr/lib/os-release"};
  for (size_t i = 0; i < 2; i++) {
    if (os_release_value(files[i], "PRETTY_NAME", h->os_pretty_name, sizeof h->os_pretty_name) == 0) {
      os_release_value(files[i], "VERSION_ID", h->os_version, sizeof h->os_version);
      return;
    }
  }
  snprintf(h->os_pretty_name, sizeof h->os_pretty_name, "Linux");
}

/* Whether a cgroup v2 controller is enabled at the root. */
static int v2_controller(const char *name) {
  FILE *f = fopen("/sys/fs/cgroup/cgroup.controllers", "re");
  if (f == NULL)
    return 0;
  char word[64];
  int found = 0;
  while (!found && fscanf(f, "%63s", word) == 1)
    found = strcmp(word, name) == 0;
  fclose(f);
  return found;
}

/* Swap accounting shows as memory.swap.max in non-root cgroups. */
static int v2_swap(void) {
  DIR *d = opendir("/sys/fs/cgroup");
  if (d == NULL)
    return 0;
  int found = 0;
  struct dirent *de;
  while (!found && (de = readdir(d))) {
    if (de->d_type != DT_DIR || de->d_name[0] == '.')
      continue;
    char path[512];
    snprintf(path, sizeof path, "/sys/fs/cgroup/%s/memory.swap.max", de->d_name);
    found = exists(path);
  }
  closedir(d);
  return found;
}

static void probe_cgroups(api_host_t *h) {
  struct statfs sfs;
  h->cgroup_version = statfs("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == CGROUP2_SUPER_MAGIC ? 2 : 1;
  h->systemd_booted = exists("/run/systemd/system");
  if (h->cgroup_version == 2) {
    h->memory_limit = v2_controller("memory");
    h->swap_limit = h->memory_limit && v2_swap();
    h->cpu_cfs_period = h->cpu_cfs_quota = h->cpu_shares = v2_controller("cpu");
    h->cpuset = v2_controller("cpuset");
    h->pids_limit = v2_controller("pids");
    return;
  }
  h->memory_limit = exists("/sys/fs/cgroup/memory/memory.limit_in_bytes");
  h->swap_limit = exists("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes");
  h->kernel_memory_tcp = exists("/sys/fs/cgroup/memory/memory.kmem.tcp.limit_in_bytes");
  h->oom_kill_disable = exists("/sys/fs/cgroup/memory/memory.oom_control");
  h->cpu_cfs_period = exists("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  h->cpu_cfs_quota = exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
  h->cpu_shares = exists("/sys/fs/cgroup/cpu/cpu.shares");
  h->cpuset = exists("/sys/fs/cgroup/cpuset/cpuset.cpus");
  h->pids_limit = exists("/sys/fs/cgroup/pids");
}

static const char *fs_name(long type) {
  switch ((unsigned long)type) {
  case EXT4_SUPER_MAGIC: return "extfs";   /* also ext2/ext3 */
  case XFS_SUPER_MAGIC: return "xfs";
  case BTRFS_SUPER_MAGIC: return "btrfs";
  case TMPFS_MAGIC: return "tmpfs";
  case OVERLAYFS_SUPER_MAGIC: return "overlayfs";
  case 0x2fc12fc1: return "zfs";
  default: return "unknown";
  }
}

/* The file system the data root lives on (or its closest readable ancestor). */
static void probe_backing_fs(api_host_t *h) {
  char path[sizeof h->data_root];
  snprintf(path, sizeof path, "%s", h->data_root);
  for (;;) {
    struct statfs sfs;
    if (statfs(path, &sfs) == 0) {
      snprintf(h->backing_fs, sizeof h->backing_fs, "%s", fs_name((long)sfs.f_type));
      return;
    }
    char *slash = strrchr(path, '/');
    if (slash == NULL || slash == path)
      return;
    *slash = '\0';
  }
}

static void probe_id(api_host_t *h) {
  sd_id128_t id;
  if (sd_id128_get_machine_app_specific(BERTH_ENGINE_APP_ID, &id) < 0 && sd_id128_randomize(&id) < 0)
    return;
  sd_id128_to_uuid_string(id, h->id);
}

void api_host_refresh(api_host_t *h) {
  h->ipv4_forwarding = read_long("/proc/sys/net/ipv4/ip_forward", h->ipv4_forwarding) == 1;
  h->bridge_nf_iptables = read_long("/proc/sys/net/bridge/bridge-nf-call-iptables", h->bridge_nf_iptables) == 1;
  h->bridge_nf_ip6tables = read_long("/proc/sys/net/bridge/bridge-nf-call-ip6tables", h->bridge_nf_ip6tables) == 1;
}

void api_host_probe(api_host_t *h, const char *data_root) {
  memset(h, 0, sizeof *h);
  struct utsname u;
  if (uname(&u) == 0) {
    snprintf(h->kernel_version, sizeof h->kernel_version, "%s", u.release);
    snprintf(h->machine, sizeof h->machine, "%s", u.machine);
    snprintf(h->hostname, sizeof h->hostname, "%s", u.nodename);
  }
  probe_os(h);
  cpu_set_t set;
  h->ncpu = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : (int)sysconf(_SC_NPROCESSORS_ONLN);
  struct sysinfo si;
  if (sysinfo(&si) == 0)
    h->mem_total = (int64_t)si.totalram * (int64_t)si.mem_unit;
  probe_cgroups(h);
  api_host_refresh(h);
  const char *lvl = getenv("BERTH_LOG_LEVEL");
  h->debug = lvl && strcmp(lvl, "debug") == 0;
  snprintf(h->data_root, sizeof h->data_root, "%s", data_root);
  probe_backing_fs(h);
  probe_id(h);
}

const char *api_host_docker_arch(const char *machine) {
  static const struct {
    const char *uname, *docker;
  } map[] = {
      {"x86_64", "amd64"}, {"aarch64", "arm64"}, {"armv7l", "arm"},    {"armv6l", "arm"},
      {"i686", "386"},     {"i386", "386"},      {"ppc64le", "ppc64le"}, {"s390x", "s390x"},
      {"riscv64", "riscv64"}, {"mips64", "mips64"}, {"loongarch64", "loong64"},
  };
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strcmp(machine, map[i].uname) == 0)
      return map[i].docker;
  return machine;
}

int api_host_count_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL)
    return 0;
  int n = 0;
  struct dirent *de;
  while ((de = readdir(d)))
    if (de->d_name[0] != '.')
      n++;
  closedir(d);
  return n > 0 ? n - 1 : 0;   /* not counting the directory's own fd */
}
