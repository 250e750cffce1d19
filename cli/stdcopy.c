/* Docker's stream framing (pkg/stdcopy), read side: without a TTY, attach
 * and logs send frames of an 8-byte header [stream, 0, 0, 0, len32be]
 * followed by len bytes of stdout (1) or stderr (2). Incremental: bytes
 * arrive in any split. */
#include <errno.h>
#include "ctr.h"

int cli_demux_feed(cli_demux_t *d, const char *data, size_t len, cli_demux_fn fn, void *ud) {
  while (len > 0) {
    if (d->left == 0 && d->hdr_len < 8) {
      size_t k = 8 - d->hdr_len < len ? 8 - d->hdr_len : len;
      for (size_t i = 0; i < k; i++)
        d->hdr[d->hdr_len++] = (unsigned char)data[i];
      data += k;
      len -= k;
      if (d->hdr_len < 8)
        return 0;
      if (d->hdr[0] > 3)
        return -EBADMSG;
      d->stream = d->hdr[0];
      d->left = (uint32_t)d->hdr[4] << 24 | (uint32_t)d->hdr[5] << 16 | (uint32_t)d->hdr[6] << 8 | d->hdr[7];
      if (d->left == 0) { /* an empty frame */
        d->hdr_len = 0;
        continue;
      }
      if (len == 0)
        return 0;
    }
    size_t k = d->left < len ? d->left : len;
    int r = fn(ud, d->stream == 2 ? 2 : 1, data, k);
    if (r < 0)
      return r;
    data += k;
    len -= k;
    d->left -= (uint32_t)k;
    if (d->left == 0)
      d->hdr_len = 0;
  }
  return 0;
}

bool cli_demux_partial(const cli_demux_t *d) {
  return d->left > 0 || d->hdr_len > 0;
}
