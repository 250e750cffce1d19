/* Start-up shared by the unprivileged services (apid, imaged, netd): never
 * linked into the executor.
 *
 * berth_service_start():
 *   1. checks that only fds 0-2, BERTH_FD_EXEC_EDGE (and, for apid,
 *      BERTH_FD_API_LISTEN) are open, and that the executor's demotion holds
 *      (no_new_privs set; uid/caps as expected for `self`);
 *   2. reads the config file (--config, default BERTH_DEFAULT_CONFIG) with
 *      berth_config_load, so that a broken file stops the service at once;
 *   3. installs this service's seccomp allow-list (berth_sandbox_apply);
 *   4. creates the sd-event loop and the IPC connection to the executor on
 *      BERTH_FD_EXEC_EDGE, answering Ping and AttachPeer itself;
 * all before any input is read.
 *
 * Requests that arrive on any edge (executor or peer) other than Hello, Ping
 * and AttachPeer go to cfg->on_request with cfg->userdata; use
 * berth_conn_remote(c) to see which peer sent it. Without an on_request the
 * service answers them with Error EOPNOTSUPP. */
#pragma once
#include <stdint.h>
#include <systemd/sd-event.h>
#include "conn.h"

struct json_object;

typedef struct berth_service berth_service_t;

typedef struct {
  Berth__Ipc__Peer self;
  /* The service's command line (main's argc/argv): `--data-root DIR --run-root DIR
   * --config FILE` (absolute paths, each at most once); anything else is refused.
   * argv == NULL means "no arguments" (defaults). */
  int argc;
  char **argv;
  /* Requests this service serves itself (beyond Ping and AttachPeer). May be NULL. */
  berth_request_cb on_request;
  /* A (new) edge to a peer service is up; the old one for that peer, if any, was closed. */
  void (*on_peer)(berth_service_t *s, Berth__Ipc__Peer peer, berth_conn_t *conn, void *userdata);
  void *userdata;
} berth_service_config_t;

/* Installs the seccomp allow-list for `self` (SCMP_ACT_ERRNO(EPERM) default,
 * kill on the dangerous ones). Exposed for the sandbox unit tests. */
int berth_sandbox_apply(Berth__Ipc__Peer self, berth_error_t *err);

int berth_service_start(const berth_service_config_t *cfg, berth_service_t **out, berth_error_t *err);
sd_event *berth_service_event(berth_service_t *s);
berth_conn_t *berth_service_exec_conn(berth_service_t *s);
/* The roots given on the command line (defaults from berth.h). */
const char *berth_service_data_root(const berth_service_t *s);
const char *berth_service_run_root(const berth_service_t *s);
/* --config FILE as given (default BERTH_DEFAULT_CONFIG), for error messages
 * that tell the user where a setting comes from. */
const char *berth_service_config_path(const berth_service_t *s);
/* The parsed config file: always a JSON object (empty when the file does not
 * exist). Owned by the service; valid until berth_service_run returns. */
struct json_object *berth_service_config(const berth_service_t *s);

/* ---- config file (lib/service/config.c) ---- */

/* Reads a JSON object from path. A missing file gives an empty object; a
 * file that cannot be read, is not valid JSON or is not an object is an
 * error naming the file (EINVAL, or the errno of open/read). *out is the
 * caller's (json_object_put). */
int berth_config_load(const char *path, struct json_object **out, berth_error_t *err);
/* cfg[key] as a non-negative integer, or def when absent; a value of another
 * type or a negative one is EINVAL naming path and key. */
int berth_config_uint64(struct json_object *cfg, const char *path, const char *key, uint64_t def, uint64_t *out,
                        berth_error_t *err);
/* The current edge to another service, or NULL while it is down. */
berth_conn_t *berth_service_peer_conn(berth_service_t *s, Berth__Ipc__Peer peer);
/* Runs the loop until SIGTERM/SIGINT (returns 0) or the executor edge closes
 * (returns 1: the executor restarts the service); then closes every
 * connection and frees s. The value is meant to be main's exit code. */
int berth_service_run(berth_service_t *s);
