/* TEMPORARY scaffold while issue 4 lands: container routes whose handler is
 * not written yet answer 501. Each helper deletes its functions from this
 * file as it implements them; the file must be gone before the issue closes. */
#include "app.h"

#define PENDING(fn) \
  void fn(api_request_t *r) { api_reply_error(r, 501, "not implemented yet"); }

PENDING(api_handle_ctr_start)
PENDING(api_handle_ctr_stop)
PENDING(api_handle_ctr_kill)
PENDING(api_handle_ctr_restart)
PENDING(api_handle_ctr_wait)
PENDING(api_handle_ctr_attach)
PENDING(api_handle_ctr_resize)
PENDING(api_handle_ctr_logs)
PENDING(api_handle_ctr_delete)
PENDING(api_handle_ctr_prune)
