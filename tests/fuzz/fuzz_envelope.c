/* libFuzzer target: the envelope decoder and the dispatch checks behind it.
 * Input: one fd selector byte (fuzz_fds.h), then the datagram. The datagram
 * is decoded directly (berth_msg_decode) and again after a trip through a
 * real SOCK_SEQPACKET socketpair (berth_wire_recv), and every decoded message
 * is checked as a request for every pair of peers and as a reply. */
#include <errno.h>
#include <stdlib.h>
#include "dispatch.h"
#include "fuzz_fds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_all(const berth_msg_t *m) {
  static const int peers[] = {0, 1, 2, 3, 4, 5, 32, -1};
  for (size_t f = 0; f < sizeof peers / sizeof peers[0]; f++)
    for (size_t t = 0; t < sizeof peers / sizeof peers[0]; t++) {
      berth_error_t err = NULL;
      berth_dispatch_check_request((Berth__Ipc__Peer)peers[f], (Berth__Ipc__Peer)peers[t], m, &err);
      berth_error_release(&err);
    }
  berth_error_t err = NULL;
  berth_dispatch_check_reply(m, &err);
  berth_error_release(&err);
  (void)berth_op_name(m->env->op_case);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int sv[2] = {-1, -1};
  if (size < 1)
    return 0;
  if (sv[0] < 0 && socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    abort();
  uint8_t sel = data[0];
  data++, size--;

  int fds[3];
  size_t nfds = fuzz_make_fds(sel, fds);
  berth_msg_t m;
  berth_error_t err = NULL;
  if (berth_msg_decode(data, size, fds, nfds, &m, &err) == 0) {
    check_all(&m);
    berth_msg_release(&m);
  }
  berth_error_release(&err);

  /* The same bytes through the kernel: size limits, fd passing, cmsg parsing. */
  if (size <= BERTH_IPC_MAX_MSG + 1) {
    nfds = fuzz_make_fds(sel, fds);
    int sent = berth_wire_send_packed(sv[0], data, size, fds, nfds, NULL) == 0;
    for (size_t i = 0; i < nfds; i++)
      close(fds[i]);
    while (sent) { /* read until the queue is empty */
      int r = berth_wire_recv(sv[1], &m, &err);
      int empty = r < 0 && (err == NULL || err->status == EAGAIN);
      berth_error_release(&err);
      if (r > 0) {
        check_all(&m);
        berth_msg_release(&m);
      }
      if (empty)
        break;
    }
  }
  return 0;
}
