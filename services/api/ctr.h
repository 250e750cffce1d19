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
  ctr_runtime_t *rt;       /* NULL until the runtime side needs it; never persisted */
} api_ctr_t;

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
