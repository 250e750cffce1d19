/* Restart policies, as dockerd applies them (restartmanager.go, monitor.go's
 * handleContainerExit, kill.go's ExitOnNext, daemon.go's restore): on an
 * exit apid decides, waits out the backoff with the record in State
 * "restarting", then starts the container the ordinary way (ctr_start).
 * What must outlive apid is in the record: RestartCount and
 * HasBeenManuallyStopped (c->manually_stopped). The backoff and the
 * cancellation are memory only, as in dockerd: a new apid starts afresh. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ctr_restart.h"
#include "log.h"

#define BACKOFF_FIRST_MS 100u
#define BACKOFF_MAX_MS (60u * 1000u)
/* A run this long resets the backoff to its first step. */
#define BACKOFF_RESET_NS (10ll * 1000 * 1000 * 1000)
/* Start-up: the first try waits for the event loop; an executor that is not
 * connected yet (503) is tried again every second, this many times. */
#define RECOVER_DELAY_USEC (100u * 1000u)
#define RECOVER_RETRY_USEC (1000u * 1000u)
#define RECOVER_TRIES 30u

typedef enum { POLICY_NO, POLICY_ALWAYS, POLICY_UNLESS_STOPPED, POLICY_ON_FAILURE } policy_t;

struct ctr_restart {
  api_app_t *app;
  char id[65];
  uint64_t backoff_ms;   /* the last delay; 0: none yet */
  bool canceled;         /* ExitOnNext: no restart until an explicit start */
  bool own_start;        /* the next ctr_start is this manager's */
  unsigned recover_tries;
  sd_event_source *timer;
};

void ctr_restart_free(struct ctr_restart *rs) {
  if (rs == NULL)
    return;
  sd_event_source_disable_unref(rs->timer);
  free(rs);
}

static struct ctr_restart *state_of(api_app_t *app, api_ctr_t *c) {
  if (c->restart == NULL) {
    c->restart = calloc(1, sizeof *c->restart);
    if (c->restart == NULL)
      return NULL;
    snprintf(c->restart->id, sizeof c->restart->id, "%s", c->id);
  }
  c->restart->app = app;
  return c->restart;
}

/* HostConfig.RestartPolicy (checked at create: ctr_resources.c). */
static policy_t policy_of(const api_ctr_t *c, int64_t *max_retry) {
  struct json_object *rp = NULL, *v = NULL;
  *max_retry = 0;
  if (c->host_config == NULL || !json_object_object_get_ex(c->host_config, "RestartPolicy", &rp) ||
      !json_object_is_type(rp, json_type_object))
    return POLICY_NO;
  if (json_object_object_get_ex(rp, "MaximumRetryCount", &v) && json_object_is_type(v, json_type_int))
    *max_retry = json_object_get_int64(v);
  const char *name = json_object_object_get_ex(rp, "Name", &v) ? json_object_get_string(v) : NULL;
  if (name == NULL)
    return POLICY_NO;
  if (strcmp(name, "always") == 0)
    return POLICY_ALWAYS;
  if (strcmp(name, "unless-stopped") == 0)
    return POLICY_UNLESS_STOPPED;
  if (strcmp(name, "on-failure") == 0)
    return POLICY_ON_FAILURE;
  return POLICY_NO;
}

/* dockerd's RestartManager.ShouldRestart: the backoff moves on every call
 * (restart or not), as there. */
static bool should_restart(const api_ctr_t *c, struct ctr_restart *rs, int64_t ran_ns) {
  int64_t max_retry;
  policy_t p = policy_of(c, &max_retry);
  if (p == POLICY_NO || rs->canceled)
    return false;
  if (ran_ns >= BACKOFF_RESET_NS)
    rs->backoff_ms = 0;
  if (rs->backoff_ms == 0)
    rs->backoff_ms = BACKOFF_FIRST_MS;
  else if (rs->backoff_ms < BACKOFF_MAX_MS)
    rs->backoff_ms *= 2;
  if (rs->backoff_ms > BACKOFF_MAX_MS)
    rs->backoff_ms = BACKOFF_MAX_MS;
  switch (p) {
  case POLICY_ALWAYS:
    return true;
  case POLICY_UNLESS_STOPPED:
    return !c->manually_stopped;
  case POLICY_ON_FAILURE:
    return c->exit_code != 0 && (max_retry <= 0 || (int64_t)c->restart_count < max_retry);
  default:
    return false;
  }
}

static int arm(struct ctr_restart *rs, uint64_t usec, sd_event_time_handler_t fn) {
  rs->timer = sd_event_source_disable_unref(rs->timer);
  sd_event *e = rs->app->svc ? berth_service_event(rs->app->svc) : NULL;
  if (e == NULL || sd_event_add_time_relative(e, &rs->timer, CLOCK_MONOTONIC, usec, 0, fn, rs) < 0) {
    rs->timer = NULL;
    return -1;
  }
  return 0;
}

/* ---- the restart after an exit ---- */

static void stopped_quietly(api_app_t *app, const char *id, unsigned status, const char *msg, void *ud) {
  (void)app, (void)ud;
  if (status >= 300 && status != 304)
    log_warn("container %.12s: stop after a canceled restart failed: %s", id, msg ? msg : "?");
}

static void on_restarted(api_app_t *app, const char *id, unsigned status, const char *msg, void *ud) {
  (void)ud;
  api_ctr_t *c = ctr_by_id(app, id);
  if (c == NULL)
    return;
  c->restart_pending = false;
  if (status == 204 || status == 304) {
    /* stopped while the start was under way (dockerd races the same way): stop it again */
    if (c->restart && c->restart->canceled && c->status == CTR_RUNNING) {
      log_info("container %.12s: stopped during its restart: stopping it", id);
      ctr_stop(app, c, 10, stopped_quietly, NULL);
    }
    return;
  }
  /* dockerd: the container stays stopped, no further try */
  log_warn("container %.12s: restart policy: the restart failed: %s", id, msg ? msg : "?");
  ctr_persist(app, c);
  if (c->rt)
    ctr_wait_settled(c->rt);
}

static int on_backoff(sd_event_source *s, uint64_t usec, void *userdata) {
  struct ctr_restart *rs = userdata;
  rs->timer = sd_event_source_disable_unref(rs->timer);
  api_ctr_t *c = ctr_by_id(rs->app, rs->id);
  if (c == NULL || !c->restart_pending || c->status != CTR_EXITED)
    return 0;
  rs->own_start = true;
  ctr_start(rs->app, c, on_restarted, NULL);
  return 0;
}

bool ctr_restart_exited(api_app_t *app, api_ctr_t *c) {
  int64_t max_retry;
  if (policy_of(c, &max_retry) == POLICY_NO)
    return false;
  struct ctr_restart *rs = state_of(app, c);
  int64_t ran = c->started_ns > 0 && c->finished_ns > c->started_ns ? c->finished_ns - c->started_ns : 0;
  if (rs == NULL || !should_restart(c, rs, ran))
    return false;
  if (arm(rs, rs->backoff_ms * 1000u, on_backoff) < 0) {
    log_err("container %.12s: restart policy: cannot arm the backoff timer: not restarted", c->id);
    return false;
  }
  c->restart_count++;
  c->restart_pending = true;
  ctr_persist(app, c);
  log_info("container %.12s: restart policy: restart %u in %llu ms", c->id, c->restart_count,
           (unsigned long long)rs->backoff_ms);
  return true;
}

/* ---- stop, kill, start ---- */

static int stop_signal_of(const api_ctr_t *c) {
  struct json_object *v;
  if (c->config && json_object_object_get_ex(c->config, "StopSignal", &v) && json_object_is_type(v, json_type_string) &&
      json_object_get_string(v)[0])
    return ctr_parse_signal(json_object_get_string(v));
  return 0;
}

void ctr_restart_manual_kill(api_app_t *app, api_ctr_t *c, int sig) {
  if (c->status != CTR_RUNNING && !c->restart_pending)
    return;
  int stop = stop_signal_of(c);
  struct ctr_restart *rs = state_of(app, c);
  if (rs && (stop <= 0 || sig == SIGKILL || sig == stop)) {
    rs->canceled = true;
    if (c->restart_pending) {
      rs->timer = sd_event_source_disable_unref(rs->timer);
      c->restart_pending = false;
      log_info("container %.12s: pending restart canceled", c->id);
      if (c->rt)
        ctr_wait_settled(c->rt);
    }
  }
  c->manually_stopped = true;
  ctr_persist(app, c);
}

bool ctr_restart_claim_start(api_ctr_t *c) {
  if (c->restart == NULL || !c->restart->own_start)
    return false;
  c->restart->own_start = false;
  return true;
}

void ctr_restart_reset(api_ctr_t *c) {
  struct ctr_restart *rs = c->restart;
  if (rs) {
    rs->timer = sd_event_source_disable_unref(rs->timer);
    rs->backoff_ms = 0;
    rs->canceled = false;
  }
  c->restart_count = 0;
  c->manually_stopped = false;
  c->restart_pending = false;
}

/* ---- berth-apid's start-up ---- */

static int on_recover(sd_event_source *s, uint64_t usec, void *userdata);

static void on_recovered(api_app_t *app, const char *id, unsigned status, const char *msg, void *ud) {
  (void)ud;
  api_ctr_t *c = ctr_by_id(app, id);
  if (c == NULL || status == 204 || status == 304) {
    if (c)
      log_info("container %.12s started by its restart policy at start-up", id);
    return;
  }
  struct ctr_restart *rs = c->restart;
  if (status == 503 && rs && ++rs->recover_tries < RECOVER_TRIES && arm(rs, RECOVER_RETRY_USEC, on_recover) == 0)
    return;
  log_warn("container %.12s: restart policy: not started at start-up: %s", id, msg ? msg : "?");
}

static int on_recover(sd_event_source *s, uint64_t usec, void *userdata) {
  struct ctr_restart *rs = userdata;
  rs->timer = sd_event_source_disable_unref(rs->timer);
  api_ctr_t *c = ctr_by_id(rs->app, rs->id);
  if (c == NULL || c->status != CTR_EXITED || c->restart_pending || (c->rt && (c->rt->starting || c->rt->removing)))
    return 0;
  ctr_start(rs->app, c, on_recovered, NULL); /* an explicit start, as dockerd's restore */
  return 0;
}

void ctr_restart_recover(api_app_t *app, api_ctr_t *c) {
  int64_t max_retry;
  /* dockerd: HasBeenStartedBefore; a fresh manager decides */
  if (c->status != CTR_EXITED || c->started_ns == 0 || policy_of(c, &max_retry) == POLICY_NO)
    return;
  struct ctr_restart *rs = state_of(app, c);
  if (rs == NULL)
    return;
  rs->backoff_ms = 0;
  rs->canceled = false;
  if (!should_restart(c, rs, c->finished_ns - c->started_ns))
    return;
  rs->recover_tries = 0;
  if (arm(rs, RECOVER_DELAY_USEC, on_recover) < 0)
    log_err("container %.12s: restart policy: cannot arm the start-up timer", c->id);
  else
    log_info("container %.12s: restart policy: starting it (it is not running)", c->id);
}
