/* libFuzzer target: a berth_conn facing a hostile peer. Input: one byte
 * choosing the edge (which peer we are, which the remote is), then chunks of
 * [length hi, length lo, fd selector (fuzz_fds.h), bytes...], each sent as one
 * datagram from the raw peer. The loop then runs until the conn is idle or
 * closed. Whatever arrives, the conn must neither crash nor leak. */
#include <errno.h>
#include <stdlib.h>
#include "conn.h"
#include "fuzz_fds.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int closed;

static void on_close(berth_conn_t *c, void *ud) {
  closed = 1;
}

static void on_request(berth_conn_t *c, berth_msg_t *req, void *ud) {
  uint64_t id = req->env->request_id;
  int n = (int)req->nfds;
  berth_msg_release(req);
  /* Alternate answers so both reply paths and close-from-handler are covered. */
  if (id % 7 == 3)
    berth_conn_close(c);
  else
    berth_conn_reply_error(c, id, EOPNOTSUPP, "fuzz handler (%d fds)", n);
}

static void on_reply(berth_conn_t *c, berth_msg_t *reply, void *ud) {
  berth_msg_release(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static sd_event *ev;
  if (ev == NULL && sd_event_new(&ev) < 0)
    abort();
  if (size < 1)
    return 0;
  /* The 12 ordered pairs of distinct known peers (1..4). */
  unsigned edge = data[0] % 12;
  Berth__Ipc__Peer self = (Berth__Ipc__Peer)(1 + edge / 3);
  Berth__Ipc__Peer remote = (Berth__Ipc__Peer)(1 + (self - 1 + 1 + edge % 3) % 4);
  data++, size--;

  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) < 0)
    abort();
  berth_conn_config_t cfg = {.self = self, .remote = remote, .on_request = on_request, .on_close = on_close};
  closed = 0;
  berth_conn_t *c = berth_conn_new(ev, sv[0], &cfg, NULL);
  if (c == NULL)
    abort();
  /* One call of ours, so a reply from the peer can match something (id 1). */
  Berth__Ipc__Ping ping = BERTH__IPC__PING__INIT;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_PING;
  env.ping = &ping;
  berth_conn_call(c, &env, NULL, 0, on_reply, NULL, NULL);

  while (size >= 3 && !closed) {
    size_t len = (size_t)data[0] << 8 | data[1];
    uint8_t sel = data[2];
    data += 3, size -= 3;
    if (len > size)
      len = size;
    int fds[3];
    size_t nfds = fuzz_make_fds(sel, fds);
    berth_wire_send_packed(sv[1], data, len, fds, nfds, NULL);
    for (size_t i = 0; i < nfds; i++)
      close(fds[i]);
    data += len, size -= len;
    for (int i = 0; i < 4 && !closed; i++)
      sd_event_run(ev, 0);
  }
  /* Drain what the conn sent us, so it never sees a full socket... */
  char buf[256];
  while (recv(sv[1], buf, sizeof buf, MSG_DONTWAIT) > 0)
    ;
  /* ...then hang up and let it notice; close it ourselves if it did not. */
  close(sv[1]);
  for (int i = 0; i < 8 && !closed; i++)
    sd_event_run(ev, 0);
  if (!closed)
    berth_conn_close(c);
  return 0;
}
