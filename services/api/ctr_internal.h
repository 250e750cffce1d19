/* Shared by the files of the create / spec code (ctr_config.c,
 * ctr_resources.c, ctr_security.c, ctr_merge.c, ctr_spec.c); not for the
 * handlers of other owners. */
#pragma once
#include "ctr.h"

/* Adds a string to req->warnings. */
void ctr_warn(ctr_create_req_t *req, const char *msg);
/* ctr_resources.c: network, namespaces, mounts, ports, logging, limits,
 * ulimits, DNS and hosts entries. Normalises req->host_config in place. */
int ctr_check_host_config(ctr_create_req_t *req, const ctr_policy_t *pol, const ctr_host_t *host, berth_error_t *err);
/* ctr_security.c: Privileged, capabilities, SecurityOpt (seccomp compiled
 * once), OomScoreAdj, under the policy. */
int ctr_check_security(ctr_create_req_t *req, const ctr_policy_t *pol, const ctr_host_t *host, berth_error_t *err);
/* RLIMIT_* for a Docker ulimit name ("nofile"), or -1. */
int ctr_ulimit_type(const char *name);
/* The log limits for a container: HostConfig.LogConfig.Config max-size /
 * max-file when given, else the policy's. */
void ctr_log_limits(struct json_object *host_config, const ctr_policy_t *pol, uint64_t *max_size,
                    uint32_t *max_files);
/* Docker's size strings for log max-size ("10m", "1g", "512k", "100"): bytes or -1. */
int64_t ctr_parse_size(const char *s);
/* Docker's default masked and read-only paths (NULL-terminated). */
extern const char *const ctr_masked_paths[];
extern const char *const ctr_readonly_paths[];
/* ctr_hostfiles.c: Dns (IPs), DnsSearch, DnsOptions, ExtraHosts ("name:ip"). */
int ctr_check_dns(struct json_object *host_config, berth_error_t *err);
/* A signal by name or number, or -1 (ctr_util.c, helper D's; declared in ctr_rt.h too). */
int ctr_parse_signal(const char *s);
