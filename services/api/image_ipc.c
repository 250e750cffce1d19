/* What the image endpoints share: the edges to berth-imaged and berth-execd,
 * errno -> HTTP status, and Document replies (JSON in a memfd). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "app.h"
#include "log.h"
#include "pump.h"

berth_conn_t *api_app_image_conn(api_app_t *app) {
  berth_conn_t *c = app->test_image_conn;
  if (c == NULL && app->svc)
    c = berth_service_peer_conn(app->svc, BERTH__IPC__PEER__PEER_IMAGE);
  return c && berth_conn_is_ready(c) ? c : NULL;
}

berth_conn_t *api_app_exec_conn(api_app_t *app) {
  berth_conn_t *c = app->test_exec_conn;
  if (c == NULL && app->svc)
    c = berth_service_exec_conn(app->svc);
  return c && berth_conn_is_ready(c) ? c : NULL;
}

unsigned api_errno_status(int errno_code) {
  switch (errno_code) {
  case ENOENT: return 404;
  case EINVAL:
  case EBADMSG:
  case ENAMETOOLONG: return 400;
  case EEXIST:
  case EBUSY: return 409;
  case EPERM: return 403;
  case EFBIG: return 413;
  default: return 500;
  }
}

/* One JSON object or array, strict syntax, nothing after it but whitespace. */
static int json_document_valid(const char *buf, size_t len) {
  char top = 0;
  return memchr(buf, '\0', len) == NULL && api_json_valid(buf, len, 64, &top) && (top == '{' || top == '[');
}

int api_document_read(int fd, uint64_t size, size_t max, char **out, size_t *len, berth_error_t *err) {
  struct stat st;
  if (fstat(fd, &st) < 0)
    return berth_error_errno(err, "document");
  if (!S_ISREG(st.st_mode))
    return berth_error_make(err, EPROTO, "document is not a regular file");
  if (size > max || size > (uint64_t)INT32_MAX)
    return berth_error_make(err, EFBIG, "document of %llu bytes is over the limit of %zu bytes",
                            (unsigned long long)size, max);
  if ((uint64_t)st.st_size < size)
    return berth_error_make(err, EPROTO, "document declares %llu bytes but holds %lld",
                            (unsigned long long)size, (long long)st.st_size);
  char *buf = malloc((size_t)size + 1);
  if (buf == NULL)
    return berth_error_make(err, ENOMEM, "out of memory for a document of %llu bytes", (unsigned long long)size);
  size_t got = 0;
  while (got < size) {
    /* pread: the sender's writes left the shared file offset at the end. */
    ssize_t n = pread(fd, buf + got, (size_t)size - got, (off_t)got);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      free(buf);
      return n < 0 ? berth_error_errno(err, "reading a document") : berth_error_make(err, EPROTO, "document shrank");
    }
    got += (size_t)n;
  }
  buf[got] = '\0';
  if (!json_document_valid(buf, got)) {
    free(buf);
    return berth_error_make(err, EBADMSG, "document is not a JSON object or array");
  }
  *out = buf;
  *len = got;
  return 0;
}

void api_reply_ipc_failure(api_request_t *r, const berth_msg_t *reply, const char *peer_name, const char *what) {
  if (reply == NULL) {
    api_reply_error(r, 503, "%s went away before it answered the %s request (it is being restarted); try again",
                    peer_name, what);
  } else if (reply->env->op_case == BERTH__IPC__ENVELOPE__OP_ERROR) {
    const Berth__Ipc__Error *e = reply->env->error;
    if (e->message && e->message[0])
      api_reply_error(r, api_errno_status(e->errno_code), "%s", e->message);
    else
      api_reply_error(r, api_errno_status(e->errno_code), "%s: %s", what, strerror(e->errno_code));
  } else {
    log_err("%s sent %s in reply to a %s request", peer_name, berth_op_name(reply->env->op_case), what);
    api_reply_error(r, 500, "%s sent an unexpected reply (%s) to the %s request", peer_name,
                    berth_op_name(reply->env->op_case), what);
  }
}

void api_reply_document(api_request_t *r, berth_msg_t *reply, const char *what) {
  if (reply == NULL || reply->env->op_case != BERTH__IPC__ENVELOPE__OP_DOCUMENT || reply->nfds != 1) {
    api_reply_ipc_failure(r, reply, "berth-imaged", what);
    return;
  }
  char *doc = NULL;
  size_t len = 0;
  berth_error_t err = NULL;
  if (api_document_read(reply->fds[0], reply->env->document->size, API_DOCUMENT_MAX, &doc, &len, &err) < 0) {
    log_err("%s: berth-imaged's reply: %s", what, err->msg);
    api_reply_error(r, 500, "berth-imaged sent an unusable reply to the %s request: %s", what, err->msg);
    berth_error_release(&err);
    return;
  }
  /* Like Go's json.Encoder (dockerd): the document ends with a newline. */
  if (len == 0 || doc[len - 1] != '\n') {
    char *nb = realloc(doc, len + 2);
    if (nb == NULL) {
      free(doc);
      api_reply_error(r, 500, "out of memory");
      return;
    }
    doc = nb;
    doc[len++] = '\n';
    doc[len] = '\0';
  }
  api_reply(r, 200, "application/json", doc, len, NULL);
  free(doc);
}

int api_image_call(api_request_t *r, berth_envelope_t *env, const int *fds, size_t nfds, berth_reply_cb cb,
                   uint64_t timeout_usec, const char *what) {
  api_app_t *app = api_request_userdata(r);
  berth_conn_t *c = api_app_image_conn(app);
  if (c == NULL) {
    api_reply_error(r, 503, "berth-imaged is not running (it is being started or restarted); try again");
    return -1;
  }
  berth_error_t err = NULL;
  api_request_ref(r);
  if (berth_conn_call(c, env, fds, nfds, cb, r, &err) < 0) {
    api_request_unref(r);
    api_reply_error(r, 503, "cannot send the %s request to berth-imaged: %s", what,
                    err && err->msg ? err->msg : "unknown error");
    berth_error_release(&err);
    return -1;
  }
  char msg[160];
  snprintf(msg, sizeof msg, "berth-imaged did not answer the %s request in time", what);
  api_request_suspend(r, timeout_usec, msg);
  return 0;
}
