/* berth-apid's state shared by its handlers, and the handlers themselves. */
#pragma once
#include <sys/types.h>
#include "host.h"
#include "http.h"
#include "service.h"

typedef struct {
  api_host_t host;
  berth_service_t *svc;
  /* The executor, as the kernel reports the creator of our edge to it. */
  int exec_known;
  pid_t exec_pid;
  uid_t exec_uid;
} api_app_t;

/* Upper bound on waiting for the executor to answer a request. */
#define API_EXEC_TIMEOUT_USEC (10u * 1000u * 1000u)

void api_handle_ping(api_request_t *r);
void api_handle_version(api_request_t *r);
void api_handle_info(api_request_t *r);
void api_handle_berth_services(api_request_t *r);

/* Documents the handlers build (pure: unit tested without a server). */
struct json_object *api_render_version(const api_host_t *h);
/* version: the API version asked for (older than 1.25 gets dockerd's old shape). */
struct json_object *api_render_info(const api_host_t *h, const api_version_t *version);
/* Renders a ServicesStatusReply as the /berth/v1/services document. */
struct json_object *api_render_services(const Berth__Ipc__ServicesStatusReply *reply, int exec_known, pid_t exec_pid,
                                        uid_t exec_uid);
