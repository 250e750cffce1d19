/* berth-apid's state shared by its handlers, and the handlers themselves. */
#pragma once
#include <sys/types.h>
#include "host.h"
#include "http.h"
#include "service.h"
#include "ctr.h"

typedef struct {
  api_host_t host;
  berth_service_t *svc;
  /* The executor, as the kernel reports the creator of our edge to it. */
  int exec_known;
  pid_t exec_pid;
  uid_t exec_uid;
  /* Unit tests run handlers without a service: they set these edges instead. */
  berth_conn_t *test_exec_conn, *test_image_conn;
  ctr_registry_t *ctrs;      /* containers (ctr.h); NULL when containers.db cannot be opened */
  ctr_policy_t policy;       /* the container policy from the config file (ctr.h) */
} api_app_t;

/* Upper bound on waiting for the executor to answer a request. */
#define API_EXEC_TIMEOUT_USEC (10u * 1000u * 1000u)

void api_handle_ping(api_request_t *r);
void api_handle_version(api_request_t *r);
void api_handle_info(api_request_t *r);
void api_handle_berth_services(api_request_t *r);
/* Images (images.c, image_load.c, image_save.c). */
void api_handle_images_load(api_request_t *r);
void api_handle_images_save(api_request_t *r);
void api_handle_images_list(api_request_t *r);
void api_handle_images_prune(api_request_t *r);
void api_handle_image_inspect(api_request_t *r);
void api_handle_image_history(api_request_t *r);
void api_handle_image_tag(api_request_t *r);
void api_handle_image_delete(api_request_t *r);
void api_handle_berth_image_layers(api_request_t *r);
/* Containers: ctr_create.c, ctr_inspect.c, ctr_list.c, ctr_admin.c (rename). */
void api_handle_ctr_create(api_request_t *r);
void api_handle_ctr_list(api_request_t *r);
void api_handle_ctr_inspect(api_request_t *r);
void api_handle_ctr_rename(api_request_t *r);
/* Containers, runtime side: ctr_run.c and friends. */
void api_handle_ctr_start(api_request_t *r);
void api_handle_ctr_stop(api_request_t *r);
void api_handle_ctr_kill(api_request_t *r);
void api_handle_ctr_restart(api_request_t *r);
void api_handle_ctr_wait(api_request_t *r);
void api_handle_ctr_attach(api_request_t *r);
void api_handle_ctr_resize(api_request_t *r);
void api_handle_ctr_logs(api_request_t *r);
void api_handle_ctr_delete(api_request_t *r);
void api_handle_ctr_prune(api_request_t *r);

/* ---- talking to berth-imaged and berth-execd (image_ipc.c) ---- */

/* Upper bound on waiting for berth-imaged to answer a query, tag, remove,
 * prune or resolve (a load or save is watched for progress instead). */
#define API_IMAGE_TIMEOUT_USEC (120ull * 1000u * 1000u)
/* Largest Document (JSON in a memfd) accepted from berth-imaged. */
#define API_DOCUMENT_MAX (64u * 1024u * 1024u)

/* The edges, or NULL while the peer is down or has not said Hello yet. */
berth_conn_t *api_app_image_conn(api_app_t *app);
berth_conn_t *api_app_exec_conn(api_app_t *app);
/* errno from an IPC Error -> HTTP status: ENOENT 404; EINVAL, EBADMSG,
 * ENAMETOOLONG 400; EEXIST, EBUSY 409; EPERM 403; EFBIG 413; else 500. */
unsigned api_errno_status(int errno_code);
/* Reads `size` bytes of a Document memfd from offset 0 (at most max), checks
 * that they are one JSON object or array and nothing else (strict syntax).
 * Returns 0 with a malloc'd NUL-terminated copy, or < 0 with err. */
int api_document_read(int fd, uint64_t size, size_t max, char **out, size_t *len, berth_error_t *err);
/* Answers r from a failed IPC exchange: reply NULL (the peer went away),
 * an Error (mapped status, the peer's message), or an unexpected op. */
void api_reply_ipc_failure(api_request_t *r, const berth_msg_t *reply, const char *peer_name, const char *what);
/* Answers r 200 with the Document reply's JSON, or as api_reply_ipc_failure. */
void api_reply_document(api_request_t *r, berth_msg_t *reply, const char *what);
/* Sends env to berth-imaged with reply callback cb(…, userdata = r, ref
 * taken) and suspends r; on failure answers r itself (503) and returns -1. */
int api_image_call(api_request_t *r, berth_envelope_t *env, const int *fds, size_t nfds, berth_reply_cb cb,
                   uint64_t timeout_usec, const char *what);

/* Documents the handlers build (pure: unit tested without a server). */
struct json_object *api_render_version(const api_host_t *h);
/* version: the API version asked for (older than 1.25 gets dockerd's old shape). */
struct json_object *api_render_info(const api_host_t *h, const api_version_t *version);
/* Renders a ServicesStatusReply as the /berth/v1/services document. */
struct json_object *api_render_services(const Berth__Ipc__ServicesStatusReply *reply, int exec_known, pid_t exec_pid,
                                        uid_t exec_uid);
