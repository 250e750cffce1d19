/* The engine's container policy (the --config file, read once by apid at
 * start-up) and the host facts create and start need (read when used). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <linux/capability.h>
#include "cleanup.h"
#include "ctr_internal.h"
#include "ctr_json.h"
#include "log.h"
#include "seccomp_profile.h"
#include "service.h"

#ifndef BERTH_DATADIR
#define BERTH_DATADIR "/usr/share"
#endif
#define HOST_FILE_MAX (64u * 1024u)

/* Reads a regular file of at most max bytes; NULL with errno. */
static char *read_file(const char *path, size_t max, size_t *len) {
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0)
    return NULL;
  if (!S_ISREG(st.st_mode)) {
    errno = EINVAL;
    return NULL;
  }
  char *buf = malloc(max + 1);
  size_t got = 0;
  while (buf && got <= max) {
    ssize_t n = read(fd, buf + got, max + 1 - got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      if (n == 0)
        break;
      free(buf);
      return NULL;
    }
    got += (size_t)n;
  }
  if (buf == NULL)
    return NULL;
  if (got > max) {
    free(buf);
    errno = EFBIG;
    return NULL;
  }
  buf[got] = '\0';
  if (len)
    *len = got;
  return buf;
}

static int cfg_bool(struct json_object *cfg, const char *path, const char *key, bool dflt, bool *out,
                    berth_error_t *err) {
  struct json_object *v = ctrj_get(cfg, key);
  *out = dflt;
  if (v == NULL)
    return 0;
  if (!json_object_is_type(v, json_type_boolean))
    return berth_error_make(err, EINVAL, "config file %s: \"%s\" must be true or false", path, key);
  *out = json_object_get_boolean(v);
  return 0;
}

int ctr_policy_load(struct json_object *cfg, const char *cfg_path, ctr_policy_t *out, berth_error_t *err) {
  memset(out, 0, sizeof *out);
  const char *path = cfg_path ? cfg_path : "the config file";
  snprintf(out->config_path, sizeof out->config_path, "%s", path);
  uint64_t size = 0, files = 0;
  if (cfg_bool(cfg, path, "userns", true, &out->userns, err) < 0 ||
      cfg_bool(cfg, path, "allow-privileged", false, &out->allow_privileged, err) < 0 ||
      berth_config_uint64(cfg, path, "log-max-size", 0, &size, err) < 0 ||
      berth_config_uint64(cfg, path, "log-max-files", 0, &files, err) < 0)
    return -1;
  if ((size != 0 && size < 4096) || size > (1ull << 40))
    return berth_error_make(err, EINVAL, "config file %s: \"log-max-size\" must be 4096 bytes .. 1 TiB", path);
  if (files > 1000)
    return berth_error_make(err, EINVAL, "config file %s: \"log-max-files\" must be 1..1000", path);
  out->log_max_size = size;
  out->log_max_files = (uint32_t)files;
  struct json_object *sp = ctrj_get(cfg, "seccomp-profile");
  if (sp && (!json_object_is_type(sp, json_type_string) || json_object_get_string(sp)[0] != '/'))
    return berth_error_make(err, EINVAL, "config file %s: \"seccomp-profile\" must be an absolute path", path);
  out->seccomp_path = strdup(sp ? json_object_get_string(sp) : BERTH_DATADIR "/berth/seccomp-default.json");
  if (out->seccomp_path == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");

  out->seccomp_default = read_file(out->seccomp_path, SECCOMP_PROFILE_MAX, &out->seccomp_default_len);
  if (out->seccomp_default == NULL) {
    snprintf(out->seccomp_error, sizeof out->seccomp_error, "cannot read %s (\"seccomp-profile\" in %s): %s",
             out->seccomp_path, path, strerror(errno));
    log_err("%s; containers that need the default seccomp profile cannot be created", out->seccomp_error);
    return 0;
  }
  /* Compiled once now, so that a broken default is reported at start-up. */
  seccomp_target_t target = {.capabilities = (1ull << (CAP_LAST_CAP + 1)) - 1};
  struct utsname u;
  if (uname(&u) == 0)
    sscanf(u.release, "%u.%u", &target.kernel_major, &target.kernel_minor);
  uint8_t *bpf = NULL;
  size_t blen = 0;
  berth_error_t cerr = NULL;
  if (seccomp_profile_compile(out->seccomp_default, out->seccomp_default_len, &target, &bpf, &blen, &cerr) < 0) {
    snprintf(out->seccomp_error, sizeof out->seccomp_error, "%s (\"seccomp-profile\" in %s): %s", out->seccomp_path,
             path, cerr && cerr->msg ? cerr->msg : "does not compile");
    log_err("%s; containers that need the default seccomp profile cannot be created", out->seccomp_error);
    berth_error_release(&cerr);
    free(out->seccomp_default);
    out->seccomp_default = NULL;
    out->seccomp_default_len = 0;
  }
  free(bpf);
  return 0;
}

void ctr_policy_release(ctr_policy_t *p) {
  free(p->seccomp_path);
  free(p->seccomp_default);
  memset(p, 0, sizeof *p);
}

void ctr_host_read(ctr_host_t *h) {
  memset(h, 0, sizeof *h);
  h->resolv_conf = read_file("/etc/resolv.conf", HOST_FILE_MAX, NULL);
  if (h->resolv_conf == NULL)
    h->resolv_conf = strdup("");
  h->resolv_conf_alt = read_file("/run/systemd/resolve/resolv.conf", HOST_FILE_MAX, NULL);
  h->hosts = read_file("/etc/hosts", HOST_FILE_MAX, NULL);
  struct utsname u;
  if (uname(&u) == 0) {
    snprintf(h->hostname, sizeof h->hostname, "%s", u.nodename);
    sscanf(u.release, "%u.%u", &h->kernel_major, &h->kernel_minor);
  }
  h->cap_last = CAP_LAST_CAP;
  char *cl = read_file("/proc/sys/kernel/cap_last_cap", 64, NULL);
  if (cl && atoi(cl) > 0 && atoi(cl) < 64)
    h->cap_last = (unsigned)atoi(cl);
  free(cl);
  int n = get_nprocs_conf();
  h->ncpu = n > 0 ? (unsigned)n : 1;
}

void ctr_host_release(ctr_host_t *h) {
  free(h->resolv_conf);
  free(h->resolv_conf_alt);
  free(h->hosts);
  memset(h, 0, sizeof *h);
}
