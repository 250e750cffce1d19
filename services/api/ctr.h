/* berth-apid's containers: the record of each one, its registry (in memory,
 * persisted in SQLite at DATA_ROOT/api/containers.db) and the functions the
 * handlers share. Owners: ctr_store.c (registry, persistence, lookup),
 * ctr_create.c / ctr_inspect.c / ctr_list.c / ctr_admin.c (create, inspect,
 * list, rename, prune, delete), ctr_spec.c (record -> ContainerSpec),
 * ctr_run.c and friends (start, stop, kill, restart, wait, attach, logs: the
 * runtime side, which hangs its own state off `rt`). */
#pragma once
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <json-c/json.h>
#include "berth.pb-c.h"
#include "error.h"


typedef enum {
  CTR_CREATED = 0,
  CTR_RUNNING,
  CTR_EXITED,
  CTR_REMOVING, /* DELETE in progress: refuses everything else */
} ctr_status_t;

typedef struct ctr_runtime ctr_runtime_t; /* the runtime side's own state (channel, waiters, attaches) */

typedef struct api_ctr {
  char id[65];             /* 64 lowercase hex */
  char name[129];          /* without the leading '/'; [a-zA-Z0-9][a-zA-Z0-9_.-]* */
  char image[512];         /* as the user named it ("busybox", "busybox:latest", an id) */
  char image_id[72];       /* "sha256:<hex>" */
  struct json_object *chain_ids; /* array of "sha256:<hex>", base first */
  struct json_object *config;      /* Docker's Config, merged with the image's (as inspect shows it) */
  struct json_object *host_config; /* Docker's HostConfig, normalised (as inspect shows it) */
  int64_t created_ns;      /* CLOCK_REALTIME */
  uid_t owner_uid;         /* who created it (SO_PEERCRED) */
  /* state (persisted) */
  ctr_status_t status;
  pid_t pid;
  int exit_code;
  bool oom_killed;
  int64_t started_ns, finished_ns; /* 0 = never */
  unsigned restart_count;
  char error[256];         /* last start error, "" for none */
  uint32_t uid_base;       /* host uid of container root (from the executor) */
  int64_t image_size;      /* bytes of the image at create (SizeRootFs = SizeRw + this) */
  bool manually_stopped;   /* dockerd's HasBeenManuallyStopped: stop/kill through the API (persisted) */
  bool restart_pending;    /* State.Restarting: exited, the restart policy starts it after a backoff */
  ctr_runtime_t *rt;       /* NULL until the runtime side needs it; never persisted */
  struct ctr_restart *restart; /* the restart manager's state (ctr_restart.c); never persisted */
} api_ctr_t;

/* Frees a restart manager's state (its timer too). Safe on NULL. */
void ctr_restart_free(struct ctr_restart *rs);

typedef struct ctr_registry ctr_registry_t;

/* Opens (creating) DATA_ROOT/api/containers.db and loads every record. */
int ctr_registry_open(const char *data_root, ctr_registry_t **out, berth_error_t *err);
void ctr_registry_free(ctr_registry_t *reg);

/* By full id, unique id prefix, or name (with or without a leading '/').
 * NULL with err: ENOENT "No such container: X"; an ambiguous prefix is
 * EINVAL "Multiple IDs found with provided prefix: X" (dockerd answers 404 too). */
api_ctr_t *ctr_lookup(ctr_registry_t *reg, const char *name_or_id, berth_error_t *err);
/* Every record, in creation order (newest last); *n gets the count. The
 * array is valid until the next insert or remove. */
api_ctr_t **ctr_all(ctr_registry_t *reg, size_t *n);

/* Adds c (the registry takes it) and persists it in one transaction.
 * EEXIST with Docker's conflict message when the name is taken. */
int ctr_insert(ctr_registry_t *reg, api_ctr_t *c, berth_error_t *err);
/* Persists c's state fields and name (after start, exit, rename, ...). */
int ctr_save(ctr_registry_t *reg, api_ctr_t *c, berth_error_t *err);
/* EEXIST (Docker's conflict message) when new_name is taken. */
int ctr_rename(ctr_registry_t *reg, api_ctr_t *c, const char *new_name, berth_error_t *err);
/* Forgets c (and frees it: the caller must have released c->rt first). */
int ctr_remove(ctr_registry_t *reg, api_ctr_t *c, berth_error_t *err);

/* A Docker-style "adjective_surname" not taken in reg. */
int ctr_generate_name(ctr_registry_t *reg, char out[129]);
/* Docker's name rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+ after an optional '/'. */
bool ctr_valid_name(const char *name);

/* "Up 3 seconds", "Exited (0) 2 minutes ago", "Created" as `docker ps` shows them. */
void ctr_status_text(const api_ctr_t *c, int64_t now_ns, char *out, size_t size);
/* Docker's State.Status string: created, running, exited, removing. */
const char *ctr_status_name(ctr_status_t s);
/* RFC 3339 with nanoseconds in UTC, "0001-01-01T00:00:00Z" for 0 (as dockerd). */
void ctr_time_text(int64_t ns, char out[40]);

/* Frees a record that is in no registry (its JSON, itself). Safe on NULL. */
void ctr_free(api_ctr_t *c);
/* A name (without '/') that a create in progress holds until it inserts its
 * record or gives up: ctr_insert and ctr_rename refuse it to others (EEXIST,
 * Docker's conflict message naming `id`), ctr_generate_name avoids it. */
int ctr_reserve_name(ctr_registry_t *reg, const char *name, const char *id, berth_error_t *err);
void ctr_release_name(ctr_registry_t *reg, const char *name);
/* Whether a record or a reservation holds name (without '/'). */
bool ctr_name_in_use(ctr_registry_t *reg, const char *name);

/* ---- policy (the engine's --config file, read once at start-up) ---- */

typedef struct {
  bool userns;               /* "userns" (default true); false: ContainerCreate host_ids */
  bool allow_privileged;     /* "allow-privileged" (default false): --privileged, seccomp=unconfined,
                                a negative OomScoreAdj */
  char *seccomp_path;        /* "seccomp-profile" (default DATADIR/berth/seccomp-default.json) */
  char *seccomp_default;     /* its text, NULL when it could not be read (seccomp_error says why) */
  size_t seccomp_default_len;
  char seccomp_error[256];
  uint64_t log_max_size;     /* "log-max-size" bytes (0: the monitor's default, 10 MiB) */
  uint32_t log_max_files;    /* "log-max-files" (0: the monitor's default, 3) */
  char config_path[256];     /* for messages that say where a setting comes from */
} ctr_policy_t;

/* Reads the policy keys from the parsed config file (cfg may be NULL: all
 * defaults) and the default seccomp profile's text (an unreadable profile is
 * not an error here: creating a container that needs it is). EINVAL names the
 * file and the key when a value has the wrong type. */
int ctr_policy_load(struct json_object *cfg, const char *cfg_path, ctr_policy_t *out, berth_error_t *err);
void ctr_policy_release(ctr_policy_t *p);

/* ---- facts about the host the pure functions below take as input ---- */

typedef struct {
  char *resolv_conf;       /* /etc/resolv.conf ("" when unreadable) */
  char *resolv_conf_alt;   /* /run/systemd/resolve/resolv.conf (systemd-resolved's upstream list) or NULL */
  char *hosts;             /* /etc/hosts (used as is with the host network) */
  char hostname[65];       /* uname nodename (the default hostname with the host network) */
  unsigned kernel_major, kernel_minor;
  unsigned cap_last;       /* /proc/sys/kernel/cap_last_cap */
  unsigned ncpu;           /* CPUs configured (NanoCpus range, CpusetCpus) */
} ctr_host_t;

/* Reads the above from the running host (read-only opens, allowed in apid's sandbox). */
void ctr_host_read(ctr_host_t *h);
void ctr_host_release(ctr_host_t *h);

/* ---- create, the pure half (ctr_config.c): unit tested without IPC ---- */

typedef struct {
  char image[512];                 /* Config.Image as given */
  struct json_object *config;      /* Docker's Config, normalised (all of Docker's keys, its types) */
  struct json_object *host_config; /* Docker's HostConfig, normalised and defaulted as dockerd does */
  struct json_object *warnings;    /* array of strings for the 201 reply */
} ctr_create_req_t;

/* Parses and checks a create body (Config fields at the top level, plus
 * HostConfig and NetworkingConfig). On failure err->status is EINVAL (400)
 * or EPERM (403, refused by policy) with Docker's message where Docker has
 * one. A custom seccomp profile is compiled once here so that a profile that
 * does not parse is a 400 with the compiler's message. */
int ctr_create_parse(const char *body, size_t len, const ctr_policy_t *pol, const ctr_host_t *host,
                     ctr_create_req_t *out, berth_error_t *err);
/* Merges the image's Config (image inspect's "Config", may be NULL) into
 * req->config as dockerd does (Env, Cmd/Entrypoint, WorkingDir, User,
 * Labels, ExposedPorts, Volumes, StopSignal), defaults the hostname (first 12
 * hex digits of id; the host's with the host network) and checks that there
 * is a command (EINVAL "No command specified"). */
int ctr_create_merge(ctr_create_req_t *req, struct json_object *image_config, const char *id,
                     const ctr_host_t *host, berth_error_t *err);
void ctr_create_req_release(ctr_create_req_t *req);

/* Docker's name for a network mode ("default" -> "bridge"). */
const char *ctr_network_name(const char *network_mode);
/* The container's capability mask (Docker's default set, CapAdd, CapDrop,
 * "ALL"; every capability up to cap_last when privileged). EINVAL "unknown
 * capability: \"CAP_FOO\"" for a name libcap-ng does not know. */
int ctr_capabilities(struct json_object *host_config, unsigned cap_last, uint64_t *out, berth_error_t *err);
/* What SecurityOpt asks for seccomp: the profile's JSON text (*json, not
 * owned; NULL = the policy's default profile) or *unconfined. EINVAL for a
 * malformed option. */
int ctr_seccomp_choice(struct json_object *host_config, const char **json, size_t *json_len, bool *unconfined,
                       berth_error_t *err);
/* argv = Entrypoint + Cmd (an Entrypoint of [""] is a reset); a new array. */
struct json_object *ctr_argv(struct json_object *config);

/* ---- record -> ContainerSpec (ctr_spec.c) ---- */

/* Pure: turns a record into the spec for ContainerStart (argv, env with
 * PATH/HOSTNAME/TERM as dockerd adds them, cwd, user, hostname, /etc/hosts
 * and /etc/resolv.conf contents, capabilities, seccomp BPF, limits, rlimits,
 * stdio, log sizes). Fails (EINVAL / ENOENT with a message for the user) when
 * a stored setting cannot be honoured any more, e.g. the default seccomp
 * profile went missing. *out is freed with ctr_spec_free. */
int ctr_spec_build(const api_ctr_t *c, const ctr_policy_t *pol, const ctr_host_t *host,
                   Berth__Ipc__ContainerSpec **out, berth_error_t *err);
/* ctr_spec_build with the running host's facts (helper D's start calls this). */
int ctr_spec_make(const api_ctr_t *c, const ctr_policy_t *pol, Berth__Ipc__ContainerSpec **out, berth_error_t *err);
void ctr_spec_free(Berth__Ipc__ContainerSpec *s);
/* How many compiled seccomp programs ctr_spec_build keeps for reuse (tests). */
size_t ctr_spec_seccomp_cached(void);
/* The /etc/hosts and /etc/resolv.conf texts the spec carries (malloc'd). */
char *ctr_hosts_text(struct json_object *config, struct json_object *host_config, const ctr_host_t *host);
char *ctr_resolv_text(struct json_object *host_config, const ctr_host_t *host);

/* ---- inspect and list (ctr_inspect.c, ctr_list.c): pure renderers ---- */

/* GET /containers/{name}/json's document. data_root: for the paths shown. */
struct json_object *ctr_render_inspect(const api_ctr_t *c, const char *data_root);
/* One entry of GET /containers/json; size_rw < 0: no SizeRw/SizeRootFs. */
struct json_object *ctr_render_summary(const api_ctr_t *c, int64_t now_ns, int64_t size_rw);

/* filters=, Docker's map form ({"key":{"value":true}}) or the legacy list
 * form ({"key":["value"]}), as a map-form object (new reference; an empty
 * object for ""). EINVAL "invalid filter" when it is neither. */
int ctr_filters_parse(const char *text, struct json_object **out, berth_error_t *err);

typedef struct {
  bool all;
  long limit;                    /* <= 0: none */
  struct json_object *filters;   /* map form (ctr_filters_parse) */
  struct json_object *ancestors; /* image ids the ancestor filter resolved to, NULL without that filter */
} ctr_list_opts_t;

/* The records GET /containers/json shows, newest first, as dockerd selects
 * them (filters id, name, label, status, exited, ancestor, before, since,
 * health, network, volume, publish, expose, isolation, is-task; all; limit).
 * *out is malloc'd (free it; the records stay the registry's). EINVAL with
 * Docker's "invalid filter ..." message; ENOENT for an unknown before/since. */
int ctr_list_select(ctr_registry_t *reg, const ctr_list_opts_t *o, api_ctr_t ***out, size_t *n, berth_error_t *err);
