/* Checks, at service start, that the executor demoted us as the contract
 * says (docs/architecture.md): a service that finds anything else refuses to run. */
#pragma once
#include <stdint.h>
#include "conn.h"

typedef struct {
  uint64_t inh, prm, eff, bnd, amb;
} berth_capsets_t;

/* Reads the Cap* lines of /proc/self/status. */
int berth_read_capsets(berth_capsets_t *out, berth_error_t *err);

/* Only fds 0-2, BERTH_FD_EXEC_EDGE (a SOCK_SEQPACKET socket) and, for apid,
 * BERTH_FD_API_LISTEN (a listening stream socket) are open. */
int berth_check_fds(Berth__Ipc__Peer self, berth_error_t *err);

/* The whole check: fds, no_new_privs, uid and capabilities for `self`.
 * netd also drops its inheritable and ambient sets here. */
int berth_demotion_check(Berth__Ipc__Peer self, berth_error_t *err);
