/* Docker's seccomp profile format (JSON) compiled to a classic BPF program
 * with libseccomp, in berth-apid: the executor only loads the result. The
 * default profile is policy/seccomp-default.json (installed as
 * DATADIR/berth/seccomp-default.json); `--security-opt seccomp=FILE` sends a
 * user's own profile's JSON text in HostConfig.SecurityOpt, as docker does.
 * Pure code (no IPC, no HTTP): unit tested and fuzzed alone. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include "error.h"

/* Largest profile text accepted, and largest program produced. */
#define SECCOMP_PROFILE_MAX (1024u * 1024u)
#define SECCOMP_BPF_MAX_INSNS 4096u

typedef struct {
  uint64_t capabilities;   /* the container's capability set: "includes"/"excludes" caps rules use it */
  unsigned kernel_major, kernel_minor; /* for "minKernel" rules (uname of this host) */
} seccomp_target_t;

/* Parses Docker's profile format (defaultAction, defaultErrnoRet,
 * architectures / archMap, syscalls[] with names, action, errnoRet, args,
 * includes/excludes on caps, arches and minKernel) and compiles it for
 * the native architecture plus its archMap sub-architectures.
 * Returns 0 with *bpf (malloc'd struct sock_filter array) and *len (bytes,
 * a multiple of 8), or < 0 with err: EINVAL and a message saying what is
 * wrong and where ("seccomp profile: syscalls[3].action: unknown action
 * \"SCMP_ACT_FOO\""). Unknown syscall names are skipped, as Docker does. */
int seccomp_profile_compile(const char *json, size_t json_len, const seccomp_target_t *target, uint8_t **bpf,
                            size_t *len, berth_error_t *err);
