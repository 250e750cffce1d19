/* berth-apid: the Docker Engine API server. Started by berth-execd as user
 * berth-api with no capabilities, the exec edge on fd 3 and the API
 * listening socket on fd 4. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include "app.h"
#include "ctr_rt.h"
#include "ctr_topstats.h"
#include "events.h"
#include "berth.h"
#include "log.h"

static const api_handler_fn handlers[API_ROUTE__MAX] = {
    [API_ROUTE_PING] = api_handle_ping,
    [API_ROUTE_VERSION] = api_handle_version,
    [API_ROUTE_INFO] = api_handle_info,
    [API_ROUTE_BERTH_SERVICES] = api_handle_berth_services,
    [API_ROUTE_IMAGES_LOAD] = api_handle_images_load,
    [API_ROUTE_IMAGES_SAVE] = api_handle_images_save,
    [API_ROUTE_IMAGE_SAVE] = api_handle_images_save,
    [API_ROUTE_IMAGES_LIST] = api_handle_images_list,
    [API_ROUTE_IMAGES_PRUNE] = api_handle_images_prune,
    [API_ROUTE_IMAGE_INSPECT] = api_handle_image_inspect,
    [API_ROUTE_IMAGE_HISTORY] = api_handle_image_history,
    [API_ROUTE_IMAGE_TAG] = api_handle_image_tag,
    [API_ROUTE_IMAGE_DELETE] = api_handle_image_delete,
    [API_ROUTE_BERTH_IMAGE_LAYERS] = api_handle_berth_image_layers,
    [API_ROUTE_CTR_CREATE] = api_handle_ctr_create,
    [API_ROUTE_CTR_LIST] = api_handle_ctr_list,
    [API_ROUTE_CTR_PRUNE] = api_handle_ctr_prune,
    [API_ROUTE_CTR_INSPECT] = api_handle_ctr_inspect,
    [API_ROUTE_CTR_START] = api_handle_ctr_start,
    [API_ROUTE_CTR_STOP] = api_handle_ctr_stop,
    [API_ROUTE_CTR_KILL] = api_handle_ctr_kill,
    [API_ROUTE_CTR_RESTART] = api_handle_ctr_restart,
    [API_ROUTE_CTR_WAIT] = api_handle_ctr_wait,
    [API_ROUTE_CTR_ATTACH] = api_handle_ctr_attach,
    [API_ROUTE_CTR_RESIZE] = api_handle_ctr_resize,
    [API_ROUTE_CTR_RENAME] = api_handle_ctr_rename,
    [API_ROUTE_CTR_LOGS] = api_handle_ctr_logs,
    [API_ROUTE_CTR_DELETE] = api_handle_ctr_delete,
    [API_ROUTE_CTR_TOP] = api_handle_ctr_top,
    [API_ROUTE_CTR_STATS] = api_handle_ctr_stats,
    [API_ROUTE_EVENTS] = api_handle_events,
};

static void usage(FILE *f) {
  fprintf(f,
          "Usage: berth-apid [--data-root DIR] [--run-root DIR]\n"
          "Serves the Docker Engine API on fd %d; started by berth-execd, not by hand.\n",
          BERTH_FD_API_LISTEN);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      return 0;
    }

  static api_app_t app;
  /* The exec edge is a socketpair the executor made: its creator is the executor. */
  struct ucred uc;
  socklen_t len = sizeof uc;
  if (getsockopt(BERTH_FD_EXEC_EDGE, SOL_SOCKET, SO_PEERCRED, &uc, &len) == 0 && len == sizeof uc) {
    app.exec_known = 1;
    app.exec_pid = uc.pid;
    app.exec_uid = uc.uid;
  }

  /* Checks the demotion, parses --data-root/--run-root, installs seccomp. */
  berth_error_t err = NULL;
  berth_service_config_t cfg = {.self = BERTH__IPC__PEER__PEER_API, .argc = argc, .argv = argv, .userdata = &app};
  if (berth_service_start(&cfg, &app.svc, &err) < 0) {
    berth_error_print(&err, stderr, "berth-apid");
    return 1;
  }
  /* Host facts: world-readable files the sandbox still lets us open read-only. */
  api_host_probe(&app.host, berth_service_data_root(app.svc));
  /* Containers: the policy (a wrong type in the config file stops us, like
   * any broken setting) and the registry (when it cannot be opened, the
   * container endpoints answer 503 and the rest of the API still works). */
  if (ctr_policy_load(berth_service_config(app.svc), berth_service_config_path(app.svc), &app.policy, &err) < 0) {
    log_err("%s", err->msg);
    berth_error_release(&err);
    return 1;
  }
  if (ctr_registry_open(berth_service_data_root(app.svc), &app.ctrs, &err) < 0) {
    log_err("containers unavailable: %s", err->msg);
    berth_error_release(&err);
  }
  /* Containers the records say running: ask the executor, reconnect to their monitors. */
  ctr_recover_all(&app);

  api_server_t *server = NULL;
  api_server_config_t scfg = {
      .event = berth_service_event(app.svc),
      .listen_fd = BERTH_FD_API_LISTEN,
      .handlers = handlers,
      .userdata = &app,
  };
  if (api_server_new(&scfg, &server, &err) < 0) {
    log_err("%s", err->msg);
    berth_error_release(&err);
    return 1;
  }
  log_info("serving the Docker Engine API %s (minimum %s) on fd %d", API_VERSION_DEFAULT, API_VERSION_MIN,
           BERTH_FD_API_LISTEN);
  /* Returns after closing the IPC edges (pending calls are failed, which
   * answers their suspended requests) and freeing the service. */
  int rc = berth_service_run(app.svc);
  app.svc = NULL;
  api_server_free(server);
  ctr_registry_free(app.ctrs);
  api_events_shutdown();
  ctr_policy_release(&app.policy);
  return rc;
}
