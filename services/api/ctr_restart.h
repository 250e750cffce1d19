/* Restart policies (HostConfig.RestartPolicy: no, always, unless-stopped,
 * on-failure[:N]) in berth-apid, as dockerd's restart manager and restore
 * apply them (ctr_restart.c). The executor and the monitors only start,
 * signal and report exits; apid decides. */
#pragma once
#include "ctr_rt.h"

/* The container exited (ctr_rt_exited, once waiters and hooks ran): decides
 * as dockerd's ShouldRestart; a restart counts (RestartCount + 1), shows as
 * State.Restarting and starts the container after the backoff (100 ms,
 * doubled per restart up to 1 min, back to 100 ms after a run of 10 s).
 * true: a restart is pending (no automatic removal). */
bool ctr_restart_exited(api_app_t *app, api_ctr_t *c);
/* stop / kill / rm -f through the API, before sig is sent to a running or
 * restarting container: HasBeenManuallyStopped (persisted); SIGKILL, the
 * container's stop signal, or any signal when it has no StopSignal also
 * cancel restarts until the next explicit start (dockerd's ExitOnNext),
 * the pending one included. */
void ctr_restart_manual_kill(api_app_t *app, api_ctr_t *c, int sig);
/* At ctr_start's entry: true when the restart manager itself asked for this
 * start (then nothing is reset); false for an explicit start. */
bool ctr_restart_claim_start(api_ctr_t *c);
/* An explicit start (docker start, restart, the engine's start-up):
 * RestartCount 0, HasBeenManuallyStopped false, a fresh backoff (dockerd's
 * ResetRestartManager(true)). The caller persists. */
void ctr_restart_reset(api_ctr_t *c);
/* berth-apid's start-up, for a record that is not running: starts it when
 * its policy says so (dockerd's restore: always; unless-stopped unless
 * stopped by hand; on-failure after a failure with retries left), once the
 * event loop runs. */
void ctr_restart_recover(api_app_t *app, api_ctr_t *c);
