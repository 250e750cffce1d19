/* Streamed request bodies and responses on libmicrohttpd (see http.h):
 * backpressure both ways by suspending the connection, never by buffering. */
#include <string.h>
#include <sys/epoll.h>
#include "http_impl.h"
#include "log.h"

/* Bytes MHD asks the reader for at once (its write buffer for the response). */
#define STREAM_BLOCK (64u * 1024u)

void api_request_attach(api_request_t *r, const api_stream_ops_t *ops, void *ud) {
  r->ops = ops;
  r->ops_ud = ud;
}

static void unwatch_hangup(api_request_t *r) {
  r->hangup = sd_event_source_disable_unref(r->hangup);
}

/* The client closed while its response sleeps (a long `wait`, `logs -f`):
 * MHD does not poll a suspended connection, so without this the request
 * would hold its slot until the event it waits for. Cut it now. */
static int on_hangup(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
  api_request_t *r = userdata;
  unwatch_hangup(r);
  r->aborted = 1;
  if (r->out_paused) {
    r->out_paused = 0;
    api_http_resume_conn(r);
  }
  return 0;
}

static void watch_hangup(api_request_t *r) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (r->hangup || ci == NULL)
    return;
  if (sd_event_add_io(r->srv->event, &r->hangup, ci->connect_fd, EPOLLRDHUP, on_hangup, r) < 0)
    r->hangup = NULL;
}

void api_http_stream_done(api_request_t *r) {
  unwatch_hangup(r);
  const api_stream_ops_t *ops = r->ops;
  r->ops = NULL;
  if (ops && ops->done)
    ops->done(r, r->ops_ud);
}

enum MHD_Result api_http_stream_body(api_request_t *r, const char *upload_data, size_t *upload_data_size) {
  if (r->aborted)
    return MHD_NO;
  size_t size = *upload_data_size;
  if (size == 0) {
    /* The final call: all of the body arrived. */
    if (!r->body_ended) {
      r->body_ended = 1;
      r->ops->body_end(r, r->ops_ud);
      if (!r->replied && !r->awaiting) {
        log_err("handler for %s gave no reply after the body", r->match.route->pattern);
        api_reply_error(r, 500, "internal error: no reply");
      }
    }
    return r->queue_failed ? MHD_NO : MHD_YES;
  }
  ssize_t n = r->ops->body(r, upload_data, size, r->ops_ud);
  if (n < 0 || (size_t)n > size)
    return MHD_NO;
  *upload_data_size = size - (size_t)n;
  if ((size_t)n < size) {
    /* The handler's sink is full: read nothing more from the client until it resumes us. */
    r->body_paused = 1;
    r->srv->body_pauses++;
    api_http_suspend_conn(r);
  }
  return MHD_YES;
}

void api_request_body_resume(api_request_t *r) {
  if (!r->body_paused || r->finished)
    return;
  r->body_paused = 0;
  api_http_resume_conn(r);
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max) {
  api_request_t *r = cls;
  if (r->aborted || r->finished || r->ops == NULL || r->ops->read == NULL)
    return MHD_CONTENT_READER_END_WITH_ERROR;
  ssize_t n = r->ops->read(r, buf, max, r->ops_ud);
  if (n == 0) {
    /* Nothing to send yet: sleep (MHD would call again at once) until api_request_wake. */
    r->out_paused = 1;
    r->srv->output_pauses++;
    api_http_suspend_conn(r);
    watch_hangup(r);
    return 0;
  }
  if (n == API_STREAM_END)
    return MHD_CONTENT_READER_END_OF_STREAM;
  if (n < 0 || (size_t)n > max)
    return MHD_CONTENT_READER_END_WITH_ERROR;
  return n;
}

void api_reply_stream(api_request_t *r, unsigned status, const char *content_type, const char *const *extra_headers) {
  if (r->replied || r->finished) {
    log_warn("second reply to %s %s ignored", r->method, r->path);
    return;
  }
  if (r->ops == NULL || r->ops->read == NULL) {
    api_reply_error(r, 500, "internal error: a streamed reply without a reader");
    return;
  }
  struct MHD_Response *resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_reader, r, NULL);
  api_http_finish_reply(r, status, resp, content_type, extra_headers);
  if (resp)
    MHD_destroy_response(resp);
}

void api_request_wake(api_request_t *r) {
  if (!r->out_paused || r->finished)
    return;
  r->out_paused = 0;
  unwatch_hangup(r);
  api_http_resume_conn(r);
}

unsigned api_server_body_pauses(const api_server_t *s) { return s->body_pauses; }
unsigned api_server_output_pauses(const api_server_t *s) { return s->output_pauses; }
