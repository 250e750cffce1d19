/* What a container may do, decided at create and again for the spec:
 * Privileged and seccomp=unconfined under the "allow-privileged" policy,
 * capabilities (Docker's default set, CapAdd, CapDrop, "ALL"; names through
 * libcap-ng), SecurityOpt as dockerd parses it, the seccomp profile compiled
 * once at create so that a broken one is a 400 */
#include <cap-ng.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "ctr_internal.h"
#include "ctr_json.h"
#include "seccomp_profile.h"

static const char *const default_caps[] = {
    "chown", "dac_override", "fsetid", "fowner", "mknod", "net_raw", "setgid",
    "setuid", "setfcap", "setpcap", "net_bind_service", "sys_chroot", "kill", "audit_write", NULL,
};

/* Capability number for a Docker name ("NET_ADMIN", "cap_net_admin"), -1
 * unknown, -2 unknown to this kernel. upper gets "CAP_NET_ADMIN". */
static int cap_number(const char *name, unsigned cap_last, char upper[64]) {
  char low[64];
  if (strncasecmp(name, "CAP_", 4) == 0)
    name += 4;
  size_t n = strlen(name);
  if (n == 0 || n >= sizeof low - 4) {
    snprintf(upper, 64, "CAP_%.50s", name);
    return -1;
  }
  for (size_t i = 0; i <= n; i++)
    low[i] = (char)tolower((unsigned char)name[i]);
  snprintf(upper, 64, "CAP_%s", name);
  for (char *p = upper; *p; p++)
    *p = (char)toupper((unsigned char)*p);
  int c = capng_name_to_capability(low);
  if (c < 0)
    return -1;
  return (unsigned)c > cap_last ? -2 : c;
}

static int cap_list(struct json_object *list, unsigned cap_last, uint64_t *mask, bool *all, berth_error_t *err) {
  *mask = 0;
  *all = false;
  for (size_t i = 0; i < ctrj_len(list); i++) {
    const char *name = ctrj_idx_str(list, i);
    if (strcasecmp(name, "ALL") == 0) {
      *all = true;
      continue;
    }
    char upper[64];
    int c = cap_number(name, cap_last, upper);
    if (c == -1)
      return berth_error_make(err, EINVAL, "unknown capability: \"%s\"", upper);
    if (c == -2)
      return berth_error_make(err, EINVAL, "capability not supported by your kernel or not available in the "
                                           "current environment: \"%s\"", upper);
    *mask |= 1ull << c;
  }
  return 0;
}

int ctr_capabilities(struct json_object *hc, unsigned cap_last, uint64_t *out, berth_error_t *err) {
  if (cap_last > 63)
    cap_last = 63;
  uint64_t every = cap_last == 63 ? ~0ull : (1ull << (cap_last + 1)) - 1;
  uint64_t add, drop;
  bool add_all, drop_all;
  if (cap_list(ctrj_get(hc, "CapAdd"), cap_last, &add, &add_all, err) < 0 ||
      cap_list(ctrj_get(hc, "CapDrop"), cap_last, &drop, &drop_all, err) < 0)
    return -1;
  if (ctrj_bool_or(hc, "Privileged", false)) {
    *out = every;
    return 0;
  }
  uint64_t base = 0;
  for (size_t i = 0; default_caps[i]; i++) {
    int c = capng_name_to_capability(default_caps[i]);
    if (c >= 0 && (unsigned)c <= cap_last)
      base |= 1ull << c;
  }
  /* caps.TweakCapabilities: ALL in CapAdd wins, then ALL in CapDrop. */
  if (add_all)
    *out = every & ~drop;
  else if (drop_all)
    *out = add;
  else
    *out = (base & ~drop) | add;
  return 0;
}

/* Go's strconv.ParseBool. */
static int parse_bool(const char *s) {
  static const char *const t[] = {"1", "t", "T", "TRUE", "true", "True", NULL};
  static const char *const f[] = {"0", "f", "F", "FALSE", "false", "False", NULL};
  for (size_t i = 0; t[i]; i++)
    if (!strcmp(s, t[i]))
      return 1;
  for (size_t i = 0; f[i]; i++)
    if (!strcmp(s, f[i]))
      return 0;
  return -1;
}

/* dockerd's parseSecurityOpt. *nnp_off: no-new-privileges=false was asked. */
static int parse_secopts(struct json_object *hc, const char **json, size_t *json_len, bool *unconfined, bool *nnp_off,
                         berth_error_t *err) {
  struct json_object *opts = ctrj_get(hc, "SecurityOpt");
  *json = NULL;
  *json_len = 0;
  *unconfined = false;
  *nnp_off = false;
  for (size_t i = 0; i < ctrj_len(opts); i++) {
    const char *opt = ctrj_idx_str(opts, i);
    if (!strcmp(opt, "no-new-privileges") || !strcmp(opt, "disable"))
      continue;
    const char *sep = strchr(opt, '=');
    if (sep == NULL)
      sep = strchr(opt, ':'); /* the deprecated form */
    if (sep == NULL)
      return berth_error_make(err, EINVAL, "invalid --security-opt 1: \"%.200s\"", opt);
    size_t klen = (size_t)(sep - opt);
    const char *v = sep + 1;
    if (klen == 5 && !strncmp(opt, "label", 5))
      continue; /* SELinux labels: nothing to do without SELinux */
    if (klen == 8 && !strncmp(opt, "apparmor", 8))
      continue; /* berth loads no AppArmor profiles */
    if (klen == 17 && !strncmp(opt, "no-new-privileges", 17)) {
      int b = parse_bool(v);
      if (b < 0)
        return berth_error_make(err, EINVAL, "invalid --security-opt 2: \"%.200s\"", opt);
      *nnp_off = b == 0;
      continue;
    }
    if (klen == 7 && !strncmp(opt, "seccomp", 7)) {
      *unconfined = strcmp(v, "unconfined") == 0;
      bool builtin = v[0] == '\0' || strcmp(v, "builtin") == 0;
      *json = *unconfined || builtin ? NULL : v;
      *json_len = *json ? strlen(v) : 0;
      continue;
    }
    if (klen == 16 && !strncmp(opt, "writable-cgroups", 16))
      return berth_error_make(err, EINVAL, "--security-opt writable-cgroups: not supported by berth");
    return berth_error_make(err, EINVAL, "invalid --security-opt 2: \"%.200s\"", opt);
  }
  return 0;
}

int ctr_seccomp_choice(struct json_object *hc, const char **json, size_t *json_len, bool *unconfined,
                       berth_error_t *err) {
  bool nnp_off;
  return parse_secopts(hc, json, json_len, unconfined, &nnp_off, err);
}

int ctr_check_security(ctr_create_req_t *req, const ctr_policy_t *pol, const ctr_host_t *host, berth_error_t *err) {
  struct json_object *hc = req->host_config;
  bool priv = ctrj_bool_or(hc, "Privileged", false);
  if (priv && !pol->allow_privileged)
    return berth_error_make(err, EPERM, "privileged containers are not allowed by this engine's policy: set "
                                        "\"allow-privileged\": true in %s to allow them", pol->config_path);
  int64_t oom = ctrj_int_or(hc, "OomScoreAdj", 0);
  if (oom < -1000 || oom > 1000)
    return berth_error_make(err, EINVAL, "Invalid value %lld, range for oom score adj is [-1000, 1000]",
                            (long long)oom);
  if (oom < 0 && !pol->allow_privileged)
    return berth_error_make(err, EPERM, "a negative OomScoreAdj (protecting the container from the OOM killer at "
                                        "the host's expense) needs \"allow-privileged\": true in %s",
                            pol->config_path);
  uint64_t caps;
  if (ctr_capabilities(hc, host->cap_last, &caps, err) < 0)
    return -1;
  const char *profile;
  size_t plen;
  bool unconfined, nnp_off;
  if (parse_secopts(hc, &profile, &plen, &unconfined, &nnp_off, err) < 0)
    return -1;
  if (nnp_off)
    ctr_warn(req, "berth always sets no-new-privileges: no-new-privileges=false discarded.");
  if (priv)
    return 0; /* privileged: no seccomp filter at all, as dockerd */
  if (unconfined && !pol->allow_privileged)
    return berth_error_make(err, EPERM, "seccomp=unconfined is not allowed by this engine's policy: set "
                                        "\"allow-privileged\": true in %s to allow it", pol->config_path);
  if (unconfined)
    return 0;
  if (profile == NULL) {
    if (pol->seccomp_default == NULL)
      return berth_error_make(err, EIO, "the default seccomp profile cannot be used: %s", pol->seccomp_error);
    return 0;
  }
  if (plen > SECCOMP_PROFILE_MAX)
    return berth_error_make(err, EINVAL, "seccomp profile: larger than %u bytes", SECCOMP_PROFILE_MAX);
  seccomp_target_t target = {.capabilities = caps, .kernel_major = host->kernel_major,
                             .kernel_minor = host->kernel_minor};
  uint8_t *bpf = NULL;
  size_t blen = 0;
  if (seccomp_profile_compile(profile, plen, &target, &bpf, &blen, err) < 0) {
    if (err && *err)
      (*err)->status = (*err)->status == ENOMEM ? ENOMEM : EINVAL;
    return -1;
  }
  free(bpf);
  return 0;
}
