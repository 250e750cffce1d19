/* Shared by the IPC fuzz targets and the seed generator: one selector byte
 * says which fds go with a datagram. Bits 0-1: how many (0-3); bits 2-3,
 * 4-5, 6-7: the kind of fd 0, 1, 2 (seqpacket socket, pipe, /dev/null,
 * stream socket). The fds are fresh duplicates the callee may close. */
#pragma once
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

enum { FUZZ_FD_SEQPACKET = 0, FUZZ_FD_PIPE = 1, FUZZ_FD_DEVNULL = 2, FUZZ_FD_STREAM = 3 };

#define FUZZ_FDSEL(n, k0, k1, k2) ((uint8_t)((n) | (k0) << 2 | (k1) << 4 | (k2) << 6))

__attribute__((unused)) static size_t fuzz_make_fds(uint8_t sel, int *fds) {
  static int proto[4] = {-1, -1, -1, -1};
  if (proto[0] < 0) {
    int sv[2], p[2], st[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0 || pipe2(p, O_CLOEXEC) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, st) < 0)
      return 0;
    proto[0] = sv[0];
    proto[1] = p[0];
    proto[2] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    proto[3] = st[0];
  }
  size_t n = sel & 3;
  for (size_t i = 0; i < n; i++) {
    fds[i] = fcntl(proto[(sel >> (2 + 2 * i)) & 3], F_DUPFD_CLOEXEC, 0);
    if (fds[i] < 0) {
      while (i > 0)
        close(fds[--i]);
      return 0;
    }
  }
  return n;
}
