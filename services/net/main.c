/* berth-netd: bridges, IPAM, veths and port publishing, with CAP_NET_ADMIN
 * only. This skeleton only starts sandboxed, says Hello and answers
 * Ping (both inside the IPC connection). */
#include <stdio.h>
#include <string.h>
#include "berth.h"
#include "log.h"
#include "service.h"

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], "--help") == 0) {
      printf("Usage: berth-netd [--data-root DIR] [--run-root DIR]\n"
             "A berth service: started by berth-execd (fd %d is its edge), not by hand.\n",
             BERTH_FD_EXEC_EDGE);
      return 0;
    }
  berth_error_t err = NULL;
  berth_service_t *s = NULL;
  berth_service_config_t cfg = {
    .self = BERTH__IPC__PEER__PEER_NET,
    .argc = argc,
    .argv = argv,
  };
  if (berth_service_start(&cfg, &s, &err) < 0) {
    log_err("%s", err && err->msg ? err->msg : "start-up failed");
    berth_error_release(&err);
    return 1;
  }
  log_info("berth-netd %s ready", BERTH_VERSION_STRING);
  return berth_service_run(s);
}
