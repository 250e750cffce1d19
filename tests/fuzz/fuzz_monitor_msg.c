/* libFuzzer target: the channel message parser (services/monitor/chanmsg.c)
 * that berth-monitor runs on everything apid (or anything that reaches
 * mon/sock) sends, and that apid may run on what a monitor sends. Both
 * directions on every input; a message that parses must satisfy the
 * grammar in channel.h, and formatted messages must parse back. */
#include <stdlib.h>
#include <string.h>
#include "chanmsg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  chan_msg_t m;
  const char *why = NULL;
  if (chan_parse_request(data, size, &m, &why) == 0) {
    if (size == 0 || size > CHANNEL_MAX_MSG || m.type != (char)data[0])
      abort();
    switch (m.type) {
    case CHANNEL_SUBSCRIBE: case CHANNEL_UNSUBSCRIBE: case CHANNEL_STDIN_CLOSE:
      if (size != 1)
        abort();
      break;
    case CHANNEL_STDIN:
      if (m.len != size - 1 || m.len == 0 || m.data != data + 1)
        abort();
      break;
    case CHANNEL_RESIZE:
      if (m.a < 1 || m.a > 65535 || m.b < 1 || m.b > 65535)
        abort();
      break;
    default:
      abort();
    }
  } else if (why == NULL) {
    abort();
  }
  why = NULL;
  if (chan_parse_event(data, size, &m, &why) == 0) {
    char buf[CHAN_SMALL_MSG];
    size_t n = 0;
    if (m.type == CHANNEL_HELLO)
      n = chan_format_hello(buf, m.a, m.b);
    else if (m.type == CHANNEL_EXIT)
      n = chan_format_exit(buf, m.a, (int)m.b, m.c);
    /* Canonical numbers: formatting what was parsed gives the input back. */
    if (n && (n != size || memcmp(buf, data, n) != 0))
      abort();
    if ((m.type == CHANNEL_STDOUT || m.type == CHANNEL_STDERR) && (m.len == 0 || m.len != size - 1))
      abort();
  } else if (why == NULL) {
    abort();
  }
  return 0;
}
