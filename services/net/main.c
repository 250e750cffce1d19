/* berth-netd: bridges, IPAM, veths and port publishing, with CAP_NET_ADMIN
 * only. This skeleton only starts sandboxed, says Hello and answers
 * Ping (both inside the IPC connection). */
#include "berth.h"
#include "log.h"
#include "service.h"

int main(int argc, char **argv) {
  berth_error_t err = NULL;
  berth_service_t *s = NULL;
  berth_service_config_t cfg = {
    .self = BERTH__IPC__PEER__PEER_NET,
    .argc = argc,
    .argv = argv,
  };
  if (berth_service_start(&cfg, &s, &err) < 0) {
    berth_error_print(&err, stderr, "berth-netd");
    return 1;
  }
  log_info("berth-netd %s ready", BERTH_VERSION_STRING);
  return berth_service_run(s);
}
