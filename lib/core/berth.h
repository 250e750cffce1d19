/* Constants shared by the executor and the services: fixed fd numbers,
 * service identities, default roots. */
#pragma once

#define BERTH_VERSION_STRING "0.1.0"

/* Every service is exec'd with exactly these fds open (plus 0-2). */
#define BERTH_FD_EXEC_EDGE 3   /* SOCK_SEQPACKET edge to berth-execd */
#define BERTH_FD_API_LISTEN 4  /* berth-apid only: the API listening socket */

#define BERTH_DEFAULT_DATA_ROOT "/var/lib/berth"
#define BERTH_DEFAULT_RUN_ROOT "/run/berth"
#define BERTH_SOCKET_NAME "berth.sock"
/* The engine's config file (JSON, like Docker's daemon.json): execd passes
 * --config FILE to every service; each service reads it itself. */
#define BERTH_DEFAULT_CONFIG "/etc/berth/berth.json"

/* System users the services run as (units/berth.sysusers). */
#define BERTH_USER_API "berth-api"
#define BERTH_USER_NET "berth-net"
/* Owner of the reserved subordinate id range (/etc/subuid, read with libsubid).
 * berth-imaged is root of a user namespace mapped onto the first
 * BERTH_IMAGED_ID_COUNT ids of it. */
#define BERTH_USER_RANGE "berth"
#define BERTH_IMAGED_ID_COUNT 65536u
