/* Docker's seccomp profile format compiled to classic BPF with libseccomp.
 *
 * Semantics follow Docker (moby/profiles seccomp: setupSeccomp) and runc
 * (libcontainer/seccomp): archMap picks the entry of the native architecture
 * and adds its sub-architectures; a syscalls[] entry applies when its
 * "includes" all hold (native arch listed, every cap held, kernel >= minKernel)
 * and none of its "excludes" hits (native arch listed, any cap held, kernel >=
 * minKernel); unknown syscall names are skipped; a rule whose action is the
 * default action is skipped; several conditions on the same argument become
 * one rule each (libseccomp cannot AND them); SCMP_ACT_ERRNO and
 * SCMP_ACT_TRACE without errnoRet use EPERM.
 *
 * Stricter than Docker, on purpose: unknown fields, wrong JSON types, unknown
 * capability or architecture names and a missing defaultAction are errors
 * (Docker ignores the first, and runs an empty profile unconfined), so a typo
 * never weakens a filter silently. Every profile error is EINVAL with the JSON
 * path of the offending value. SCMP_ACT_NOTIFY is refused (no listener).
 *
 * Runs inside berth-apid's own seccomp sandbox, which refuses seccomp(2) and
 * memfd_create: libseccomp's probe of the kernel's actions (seccomp(2)) is
 * replaced by the target's kernel version (KILL_PROCESS and LOG: 4.14), and
 * the program is exported through a pipe. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <seccomp.h>
#include <cap-ng.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cleanup.h"
#include "seccomp_json.h"
#include "seccomp_profile.h"

#define PFX SP_PREFIX
#define PATH_MAX_LEN SP_PATH_MAX
#define ARG_MAX_INDEX 6
/* Argument comparisons in all (each syscall name counts its entry's args):
 * libseccomp's program generator is superlinear in the program's size (a
 * profile of ~1000 comparisons takes it over ten seconds in berth-apid's
 * event loop, for a program the kernel then refuses). Docker's default
 * profile has 9; 256 keeps the worst case to a fraction of a second. */
#define MAX_CONDITIONS 256u

typedef struct {
  const char *scmp;   /* SCMP_ARCH_* as in profiles */
  const char *docker; /* the name "arches" filters use (Go's runtime.GOARCH, libseccomp-golang spelling) */
  uint32_t token;     /* 0: not known to this libseccomp */
} arch_t;

#ifndef SCMP_ARCH_LOONGARCH64
#define SCMP_ARCH_LOONGARCH64 0
#endif
#ifndef SCMP_ARCH_PARISC
#define SCMP_ARCH_PARISC 0
#endif
#ifndef SCMP_ARCH_PARISC64
#define SCMP_ARCH_PARISC64 0
#endif
#ifndef SCMP_ARCH_RISCV64
#define SCMP_ARCH_RISCV64 0
#endif
#define ARCH(n, d) {"SCMP_ARCH_" #n, d, SCMP_ARCH_##n}
static const arch_t arches[] = {
    ARCH(X86, "x86"),           ARCH(X86_64, "amd64"),         ARCH(X32, "x32"),
    ARCH(ARM, "arm"),           ARCH(AARCH64, "arm64"),        ARCH(MIPS, "mips"),
    ARCH(MIPS64, "mips64"),     ARCH(MIPS64N32, "mips64n32"),  ARCH(MIPSEL, "mipsel"),
    ARCH(MIPSEL64, "mipsel64"), ARCH(MIPSEL64N32, "mips3l64n32"), ARCH(PPC, "ppc"),
    ARCH(PPC64, "ppc64"),       ARCH(PPC64LE, "ppc64le"),      ARCH(S390, "s390"),
    ARCH(S390X, "s390x"),       ARCH(PARISC, "parisc"),        ARCH(PARISC64, "parisc64"),
    ARCH(RISCV64, "riscv64"),   ARCH(LOONGARCH64, "loongarch64"),
};
/* Other spellings Docker's tables use in "arches". */
static const char *const arch_aliases[] = {"loong64", "mipsle", NULL};

typedef struct {
  const seccomp_target_t *target;
  berth_error_t *err;
  scmp_filter_ctx filter;
  uint32_t default_action;
  const arch_t *native;
  unsigned conditions; /* argument comparisons added so far */
} compiler_t;

static const arch_t *arch_by_scmp(const char *name) {
  for (size_t i = 0; i < sizeof arches / sizeof *arches; i++)
    if (strcmp(arches[i].scmp, name) == 0)
      return &arches[i];
  return NULL;
}

static int arch_name(compiler_t *c, json_object *v, const char *path, const arch_t **out) {
  const char *s;
  if (sp_string(v, path, &s, c->err) < 0)
    return -1;
  *out = arch_by_scmp(s);
  if (*out == NULL) {
    char b[72];
    return sp_bad(c->err, path, "unknown architecture \"%s\" (expected SCMP_ARCH_X86_64, SCMP_ARCH_AARCH64, ...)",
               sp_shown(s, b, sizeof b));
  }
  return 0;
}

static int arch_add(compiler_t *c, const arch_t *a, const char *path) {
  if (a->token == 0)
    return sp_bad(c->err, path, "architecture %s is not supported by this libseccomp", a->scmp);
  if (seccomp_arch_exist(c->filter, a->token) == 0)
    return 0;
  int r = seccomp_arch_add(c->filter, a->token);
  if (r < 0)
    return sp_bad(c->err, path, "cannot add architecture %s: %s", a->scmp, strerror(-r));
  return 0;
}

/* "architectures" (every one added) or "archMap" (the native entry's
 * sub-architectures added), never both, as Docker. */
static int add_architectures(compiler_t *c, json_object *root) {
  static const char *const map_keys[] = {"architecture", "subArchitectures", NULL};
  json_object *list, *map;
  int has_list = sp_opt_array(root, "architectures", "", &list, c->err);
  int has_map = has_list < 0 ? -1 : sp_opt_array(root, "archMap", "", &map, c->err);
  if (has_map < 0)
    return -1;
  if (has_list && has_map)
    return sp_bad(c->err, "archMap", "both \"architectures\" and \"archMap\" are given; use one of them");
  char p[PATH_MAX_LEN];
  for (size_t i = 0; has_list && i < json_object_array_length(list); i++) {
    const arch_t *a;
    sp_pathf(p, "architectures[%zu]", i);
    if (arch_name(c, json_object_array_get_idx(list, i), p, &a) < 0 || arch_add(c, a, p) < 0)
      return -1;
  }
  bool found = false;
  for (size_t i = 0; has_map && i < json_object_array_length(map); i++) {
    json_object *e = json_object_array_get_idx(map, i), *subs;
    const arch_t *a;
    sp_pathf(p, "archMap[%zu]", i);
    if (sp_check_object(e, p, map_keys, c->err) < 0)
      return -1;
    json_object *av = sp_member(e, "architecture");
    if (av == NULL)
      return sp_bad(c->err, p, "missing \"architecture\"");
    sp_pathf(p, "archMap[%zu].architecture", i);
    if (arch_name(c, av, p, &a) < 0)
      return -1;
    sp_pathf(p, "archMap[%zu]", i);
    int has_subs = sp_opt_array(e, "subArchitectures", p, &subs, c->err);
    if (has_subs < 0)
      return -1;
    bool use = !found && a == c->native;
    found = found || use;
    for (size_t j = 0; has_subs && j < json_object_array_length(subs); j++) {
      const arch_t *s;
      sp_pathf(p, "archMap[%zu].subArchitectures[%zu]", i, j);
      if (arch_name(c, json_object_array_get_idx(subs, j), p, &s) < 0 || (use && arch_add(c, s, p) < 0))
        return -1;
    }
  }
  return 0;
}

/* An action name (+ errnoRet) to a libseccomp action. */
static int parse_action(compiler_t *c, const char *name, const char *path, int has_ret, uint64_t ret,
                        const char *ret_path, uint32_t *out) {
  static const struct {
    const char *name;
    uint32_t action;
  } simple[] = {
      {"SCMP_ACT_ALLOW", SCMP_ACT_ALLOW},         {"SCMP_ACT_KILL", SCMP_ACT_KILL_THREAD},
      {"SCMP_ACT_KILL_THREAD", SCMP_ACT_KILL_THREAD}, {"SCMP_ACT_KILL_PROCESS", SCMP_ACT_KILL_PROCESS},
      {"SCMP_ACT_TRAP", SCMP_ACT_TRAP},           {"SCMP_ACT_LOG", SCMP_ACT_LOG},
  };
  bool with_ret = strcmp(name, "SCMP_ACT_ERRNO") == 0 || strcmp(name, "SCMP_ACT_TRACE") == 0;
  if (with_ret) {
    uint32_t v = has_ret ? (uint32_t)ret : EPERM;
    *out = name[9] == 'E' ? SCMP_ACT_ERRNO(v) : SCMP_ACT_TRACE(v);
    return 0;
  }
  char b[72];
  if (strcmp(name, "SCMP_ACT_NOTIFY") == 0)
    return sp_bad(c->err, path, "SCMP_ACT_NOTIFY is not supported (berth runs no seccomp agent)");
  for (size_t i = 0; i < sizeof simple / sizeof *simple; i++)
    if (strcmp(simple[i].name, name) == 0) {
      if (has_ret)
        return sp_bad(c->err, ret_path, "only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not %s", name);
      *out = simple[i].action;
      return 0;
    }
  return sp_bad(c->err, path, "unknown action \"%s\"", sp_shown(name, b, sizeof b));
}

/* "4.8" -> 4, 8 (each 0..255, not 0.0), as Docker's KernelVersion. */
static int parse_kernel(const char *s, unsigned *major, unsigned *minor) {
  unsigned v[2] = {0, 0};
  for (int i = 0; i < 2; i++) {
    int digits = 0;
    for (; *s >= '0' && *s <= '9'; s++, digits++)
      v[i] = v[i] * 10 + (unsigned)(*s - '0');
    if (digits == 0 || digits > 3 || v[i] > 255 || *s != (i == 0 ? '.' : '\0'))
      return -1;
    s += i == 0;
  }
  if (v[0] == 0 && v[1] == 0)
    return -1;
  *major = v[0], *minor = v[1];
  return 0;
}

static bool arch_known(const char *s) {
  for (size_t i = 0; i < sizeof arches / sizeof *arches; i++)
    if (strcmp(arches[i].docker, s) == 0)
      return true;
  for (const char *const *a = arch_aliases; *a; a++)
    if (strcmp(*a, s) == 0)
      return true;
  return false;
}

/* "CAP_SYS_ADMIN" -> 21, or -1. */
static int cap_number(const char *s) {
  if (strncmp(s, "CAP_", 4) != 0 || s[4] == '\0')
    return -1;
  for (const char *p = s + 4; *p; p++)
    if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_'))
      return -1;
  return capng_name_to_capability(s + 4);
}

typedef struct {
  bool arch_present, arch_hit;    /* "arches" non-empty; native listed */
  bool caps_present, all, any;    /* "caps" non-empty; all held; any held */
  bool kernel_present, kernel_ge; /* "minKernel" given; this kernel >= it */
} conds_t;

static int parse_filter(compiler_t *c, json_object *f, const char *path, conds_t *out) {
  static const char *const keys[] = {"caps", "arches", "minKernel", NULL};
  *out = (conds_t){.all = true};
  if (f == NULL)
    return 0;
  if (sp_check_object(f, path, keys, c->err) < 0)
    return -1;
  json_object *a;
  char p[PATH_MAX_LEN], b[72];
  int r = sp_opt_array(f, "arches", path, &a, c->err);
  if (r < 0)
    return -1;
  out->arch_present = r;
  for (size_t i = 0; r && i < json_object_array_length(a); i++) {
    const char *s;
    sp_pathf(p, "%s.arches[%zu]", path, i);
    if (sp_string(json_object_array_get_idx(a, i), p, &s, c->err) < 0)
      return -1;
    if (!arch_known(s))
      return sp_bad(c->err, p, "unknown architecture \"%s\" (expected amd64, arm64, x86, ...)", sp_shown(s, b, sizeof b));
    out->arch_hit = out->arch_hit || strcmp(s, c->native->docker) == 0;
  }
  r = sp_opt_array(f, "caps", path, &a, c->err);
  if (r < 0)
    return -1;
  out->caps_present = r;
  for (size_t i = 0; r && i < json_object_array_length(a); i++) {
    const char *s;
    sp_pathf(p, "%s.caps[%zu]", path, i);
    if (sp_string(json_object_array_get_idx(a, i), p, &s, c->err) < 0)
      return -1;
    int n = cap_number(s);
    if (n < 0)
      return sp_bad(c->err, p, "unknown capability \"%s\" (expected a name such as CAP_SYS_ADMIN)", sp_shown(s, b, sizeof b));
    bool held = n < 64 && (c->target->capabilities >> n) & 1;
    out->all = out->all && held;
    out->any = out->any || held;
  }
  const char *k;
  sp_pathf(p, "%s.minKernel", path);
  if ((r = sp_opt_string(f, "minKernel", path, &k, c->err)) < 0)
    return -1;
  if (r && *k) {
    unsigned major, minor;
    if (parse_kernel(k, &major, &minor) < 0)
      return sp_bad(c->err, p, "invalid kernel version \"%s\", expected \"<kernel>.<major>\" such as \"4.8\"",
                 sp_shown(k, b, sizeof b));
    out->kernel_present = true;
    out->kernel_ge = c->target->kernel_major > major ||
                     (c->target->kernel_major == major && c->target->kernel_minor >= minor);
  }
  return 0;
}

static int parse_args(compiler_t *c, json_object *args, const char *path, struct scmp_arg_cmp *cmp, size_t *n,
                      bool *same_arg) {
  static const char *const keys[] = {"index", "value", "valueTwo", "op", NULL};
  static const struct {
    const char *name;
    enum scmp_compare op;
  } ops[] = {
      {"SCMP_CMP_NE", SCMP_CMP_NE}, {"SCMP_CMP_LT", SCMP_CMP_LT}, {"SCMP_CMP_LE", SCMP_CMP_LE},
      {"SCMP_CMP_EQ", SCMP_CMP_EQ}, {"SCMP_CMP_GE", SCMP_CMP_GE}, {"SCMP_CMP_GT", SCMP_CMP_GT},
      {"SCMP_CMP_MASKED_EQ", SCMP_CMP_MASKED_EQ},
  };
  unsigned seen = 0;
  *same_arg = false;
  *n = args ? json_object_array_length(args) : 0;
  if (*n > ARG_MAX_INDEX)
    return sp_bad(c->err, path, "%zu argument conditions; at most %d", *n, ARG_MAX_INDEX);
  for (size_t i = 0; i < *n; i++) {
    json_object *a = json_object_array_get_idx(args, i);
    char p[PATH_MAX_LEN], b[72];
    sp_pathf(p, "%s[%zu]", path, i);
    if (sp_check_object(a, p, keys, c->err) < 0)
      return -1;
    uint64_t index, value, two;
    const char *op;
    int r1 = sp_opt_uint(a, "index", p, ARG_MAX_INDEX - 1, &index, c->err);
    int r2 = r1 < 0 ? -1 : sp_opt_uint(a, "value", p, UINT64_MAX, &value, c->err);
    int r3 = r2 < 0 ? -1 : sp_opt_uint(a, "valueTwo", p, UINT64_MAX, &two, c->err);
    int r4 = r3 < 0 ? -1 : sp_opt_string(a, "op", p, &op, c->err);
    if (r4 < 0)
      return -1;
    if (!r1 || !r2 || !r4)
      return sp_bad(c->err, p, "missing \"%s\"", !r1 ? "index" : !r2 ? "value" : "op");
    size_t k = 0;
    while (k < sizeof ops / sizeof *ops && strcmp(ops[k].name, op) != 0)
      k++;
    if (k == sizeof ops / sizeof *ops) {
      sp_pathf(p, "%s[%zu].op", path, i);
      return sp_bad(c->err, p, "unknown operator \"%s\" (expected SCMP_CMP_EQ, SCMP_CMP_MASKED_EQ, ...)",
                 sp_shown(op, b, sizeof b));
    }
    *same_arg = *same_arg || (seen >> index) & 1;
    seen |= 1u << index;
    cmp[i] = (struct scmp_arg_cmp){.arg = (unsigned)index, .op = ops[k].op, .datum_a = value, .datum_b = two};
  }
  return 0;
}

static int add_rule(compiler_t *c, json_object *name_v, const char *path, uint32_t action,
                    const struct scmp_arg_cmp *cmp, size_t n, bool same_arg) {
  const char *name;
  char b[72];
  if (sp_string(name_v, path, &name, c->err) < 0)
    return -1;
  if (*name == '\0')
    return sp_bad(c->err, path, "empty syscall name");
  int nr = seccomp_syscall_resolve_name(name);
  if (nr == __NR_SCMP_ERROR || action == c->default_action)
    return 0; /* unknown to libseccomp (as Docker: skipped), or a no-op */
  c->conditions += (unsigned)n;
  if (c->conditions > MAX_CONDITIONS)
    return sp_bad(c->err, path, "more than %u argument comparisons in the profile (counting each syscall name of an "
                             "entry with \"args\"): split it or use fewer conditions", MAX_CONDITIONS);
  int r = 0;
  if (same_arg)
    for (size_t i = 0; i < n && r >= 0; i++)
      r = seccomp_rule_add_array(c->filter, action, nr, 1, &cmp[i]);
  else
    r = seccomp_rule_add_array(c->filter, action, nr, (unsigned)n, cmp);
  if (r < 0)
    return sp_bad(c->err, path, "libseccomp refused the rule for \"%s\": %s", sp_shown(name, b, sizeof b), strerror(-r));
  return 0;
}

static int add_syscall(compiler_t *c, json_object *s, size_t idx) {
  static const char *const keys[] = {"names", "name", "action", "errnoRet", "args",
                                     "comment", "includes", "excludes", NULL};
  char path[PATH_MAX_LEN], p[PATH_MAX_LEN], rp[PATH_MAX_LEN];
  sp_pathf(path, "syscalls[%zu]", idx);
  if (sp_check_object(s, path, keys, c->err) < 0)
    return -1;
  const char *action_name, *comment, *legacy;
  json_object *names, *args;
  uint64_t ret;
  int has_names = sp_opt_array(s, "names", path, &names, c->err);
  int has_name = has_names < 0 ? -1 : sp_opt_string(s, "name", path, &legacy, c->err);
  if (has_name < 0 || sp_opt_string(s, "comment", path, &comment, c->err) < 0)
    return -1;
  has_name = has_name && *legacy; /* "name": "" is no name, as in Docker */
  json_object *name_v = sp_member(s, "name");
  if (has_name && has_names)
    return sp_bad(c->err, path, "both \"name\" and \"names\" are given; use \"names\"");
  int has_ret = sp_opt_uint(s, "errnoRet", path, 4094, &ret, c->err);
  int r = has_ret < 0 ? -1 : sp_opt_string(s, "action", path, &action_name, c->err);
  if (r <= 0)
    return r < 0 ? -1 : sp_bad(c->err, path, "missing \"action\"");
  uint32_t action;
  sp_pathf(p, "%s.action", path);
  sp_pathf(rp, "%s.errnoRet", path);
  if (parse_action(c, action_name, p, has_ret, ret, rp, &action) < 0)
    return -1;
  struct scmp_arg_cmp cmp[ARG_MAX_INDEX];
  size_t n;
  bool same_arg;
  sp_pathf(p, "%s.args", path);
  if (sp_opt_array(s, "args", path, &args, c->err) < 0 || parse_args(c, args, p, cmp, &n, &same_arg) < 0)
    return -1;
  conds_t inc, exc;
  sp_pathf(p, "%s.includes", path);
  if (parse_filter(c, sp_member(s, "includes"), p, &inc) < 0)
    return -1;
  sp_pathf(p, "%s.excludes", path);
  if (parse_filter(c, sp_member(s, "excludes"), p, &exc) < 0)
    return -1;
  /* Validate every name even when the entry does not apply. */
  bool applies = (!inc.arch_present || inc.arch_hit) && (!inc.caps_present || inc.all) &&
                 (!inc.kernel_present || inc.kernel_ge) && !(exc.arch_present && exc.arch_hit) &&
                 !(exc.caps_present && exc.any) && !(exc.kernel_present && exc.kernel_ge);
  if (has_name) {
    sp_pathf(p, "%s.name", path);
    return applies ? add_rule(c, name_v, p, action, cmp, n, same_arg) : 0;
  }
  for (size_t j = 0; has_names && j < json_object_array_length(names); j++) {
    json_object *v = json_object_array_get_idx(names, j);
    sp_pathf(p, "%s.names[%zu]", path, j);
    const char *nm;
    if (sp_string(v, p, &nm, c->err) < 0 || (applies && add_rule(c, v, p, action, cmp, n, same_arg) < 0))
      return -1;
  }
  return 0;
}

/* libseccomp's program out through a pipe (apid's sandbox has no memfds).
 * The pipe is non-blocking and larger than any program we accept, so a
 * program that fills it is too large rather than a deadlock. */
static int export_bpf(scmp_filter_ctx filter, uint8_t **bpf, size_t *len, berth_error_t *err) {
  int p[2];
  if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
    return berth_error_errno(err, PFX "pipe");
  cleanup_close int rd = p[0];
  cleanup_close int wr = p[1];
  (void)fcntl(wr, F_SETPIPE_SZ, 2 * SECCOMP_BPF_MAX_INSNS * 8);
  int cap = fcntl(wr, F_GETPIPE_SZ);
  if (cap < 0)
    return berth_error_errno(err, PFX "F_GETPIPE_SZ");
  if ((size_t)cap <= SECCOMP_BPF_MAX_INSNS * 8)
    return berth_error_make(err, ENOBUFS, PFX "the export pipe holds only %d bytes (pipe-user-pages-soft reached?)",
                            cap);
  int r = seccomp_export_bpf(filter, wr);
  if (r < 0)
    return berth_error_make(err, r == -ENOMEM ? ENOMEM : EINVAL, PFX "libseccomp could not generate the program: %s",
                            strerror(-r));
  close(berth_steal_fd(&wr));
  cleanup_free uint8_t *buf = malloc((size_t)cap);
  if (buf == NULL)
    return berth_error_make(err, ENOMEM, PFX "out of memory");
  size_t total = 0;
  for (ssize_t n; total < (size_t)cap; total += (size_t)n) {
    n = read(rd, buf + total, (size_t)cap - total);
    if (n < 0 && errno == EINTR)
      n = 0;
    else if (n < 0)
      return berth_error_errno(err, PFX "reading the program");
    else if (n == 0)
      break;
  }
  if (total / 8 > SECCOMP_BPF_MAX_INSNS)
    return berth_error_make(err, EINVAL,
                            PFX "the compiled program has %s%zu instructions; the kernel's limit is %u: "
                                "use fewer rules or argument conditions",
                            total == (size_t)cap ? "at least " : "", total / 8, SECCOMP_BPF_MAX_INSNS);
  if (total == 0 || total % 8 != 0)
    return berth_error_make(err, EINVAL, PFX "libseccomp produced a program of %zu bytes", total);
  *bpf = berth_steal_ptr(&buf);
  *len = total;
  return 0;
}

static void json_putp(json_object **o) {
  json_object_put(*o);
}
static void filter_releasep(scmp_filter_ctx *f) {
  if (*f)
    seccomp_release(*f);
}

int seccomp_profile_compile(const char *json, size_t json_len, const seccomp_target_t *target, uint8_t **bpf,
                            size_t *len, berth_error_t *err) {
  static const char *const root_keys[] = {"defaultAction", "defaultErrnoRet", "architectures", "archMap",
                                          "syscalls", "flags", "listenerPath", "listenerMetadata", NULL};
  if (json == NULL || target == NULL || bpf == NULL || len == NULL)
    return berth_error_make(err, EINVAL, PFX "internal error: missing argument");
  __attribute__((cleanup(json_putp))) json_object *root = NULL;
  if (sp_parse_json(json, json_len, &root, err) < 0)
    return -1 - EINVAL;
  if (sp_check_object(root, "the top level", root_keys, err) < 0)
    return -1 - EINVAL;

  compiler_t c = {.target = target, .err = err};
  for (size_t i = 0; i < sizeof arches / sizeof *arches; i++)
    if (arches[i].token && arches[i].token == seccomp_arch_native())
      c.native = &arches[i];
  if (c.native == NULL)
    return berth_error_make(err, EINVAL, PFX "this host's architecture is unknown to berth");

  const char *s;
  json_object *list;
  uint64_t ret;
  int has_ret = sp_opt_uint(root, "defaultErrnoRet", "", 4094, &ret, err);
  int r = has_ret < 0 ? -1 : sp_opt_string(root, "defaultAction", "", &s, err);
  if (r <= 0)
    return r < 0 ? -1 - EINVAL
                 : sp_bad(err, "defaultAction", "missing (a profile needs one, such as \"SCMP_ACT_ERRNO\"; to run "
                                              "without seccomp use --security-opt seccomp=unconfined)");
  if (parse_action(&c, s, "defaultAction", has_ret, ret, "defaultErrnoRet", &c.default_action) < 0)
    return -1 - EINVAL;
  if ((r = sp_opt_string(root, "listenerPath", "", &s, err)) < 0)
    return -1 - EINVAL;
  if (r && *s)
    return sp_bad(err, "listenerPath", "seccomp agents are not supported");
  if (sp_opt_string(root, "listenerMetadata", "", &s, err) < 0)
    return -1 - EINVAL;
  /* "flags" name seccomp(2) flags for the loader; the executor picks its own. */
  r = sp_opt_array(root, "flags", "", &list, err);
  for (size_t i = 0; r > 0 && i < json_object_array_length(list); i++) {
    char p[PATH_MAX_LEN];
    sp_pathf(p, "flags[%zu]", i);
    if (sp_string(json_object_array_get_idx(list, i), p, &s, err) < 0)
      return -1 - EINVAL;
  }
  if (r < 0)
    return -1 - EINVAL;

  /* libseccomp checks KILL_PROCESS and LOG against the kernel with
   * seccomp(2), which apid's own filter refuses: answer from the target's
   * kernel version instead (both since Linux 4.14). */
  if (seccomp_api_get() < 3 && (target->kernel_major > 4 || (target->kernel_major == 4 && target->kernel_minor >= 14)))
    seccomp_api_set(3);

  __attribute__((cleanup(filter_releasep))) scmp_filter_ctx filter = seccomp_init(c.default_action);
  if (filter == NULL)
    return sp_bad(err, "defaultAction", "libseccomp refused the action (too old a kernel?)");
  c.filter = filter;
  /* Binary search over syscall numbers: shorter paths for a long list. */
  (void)seccomp_attr_set(filter, SCMP_FLTATR_CTL_OPTIMIZE, 2);
  if (add_architectures(&c, root) < 0)
    return -1 - EINVAL;
  if ((r = sp_opt_array(root, "syscalls", "", &list, err)) < 0)
    return -1 - EINVAL;
  for (size_t i = 0; r && i < json_object_array_length(list); i++)
    if (add_syscall(&c, json_object_array_get_idx(list, i), i) < 0)
      return -1 - EINVAL;
  return export_bpf(filter, bpf, len, err);
}
