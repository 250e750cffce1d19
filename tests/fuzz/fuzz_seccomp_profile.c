/* libFuzzer target: berth-apid's seccomp profile compiler
 * (services/api/seccomp_profile.c) on arbitrary profile text, for two
 * containers (Docker's default capabilities, and every capability) on a 6.1
 * kernel. Every outcome is checked: a program is non-empty, whole
 * instructions, within the kernel's limit; an error is EINVAL (or ENOMEM)
 * with a message that starts with "seccomp profile: " and no program. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "seccomp_profile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *data, size_t size, uint64_t caps) {
  const seccomp_target_t target = {.capabilities = caps, .kernel_major = 6, .kernel_minor = 1};
  uint8_t *bpf = NULL;
  size_t len = 0;
  berth_error_t err = NULL;
  int r = seccomp_profile_compile((const char *)data, size, &target, &bpf, &len, &err);
  if (r == 0) {
    if (bpf == NULL || err != NULL || len == 0 || len % 8 != 0 || len / 8 > SECCOMP_BPF_MAX_INSNS)
      abort();
    free(bpf);
    return;
  }
  if (bpf != NULL || err == NULL || err->msg == NULL || (err->status != EINVAL && err->status != ENOMEM) ||
      r != -1 - err->status || strncmp(err->msg, "seccomp profile: ", 17) != 0)
    abort();
  berth_error_release(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  check(data, size, 0xa80425fbull);      /* Docker's default set */
  check(data, size, (1ull << 41) - 1);   /* every capability (--privileged) */
  return 0;
}
