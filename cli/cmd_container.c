/* berth container COMMAND: the docker CLI's "container" management
 * command; its subcommands are the container commands under their docker
 * names and aliases (container ls = ps, container rm = rm, ...). */
#include <string.h>
#include "ctr.h"

static const cli_subcommand_t subs[] = {
  { "attach", &cli_cmd_attach, true },
  { "create", &cli_cmd_create, true },
  { "inspect", &cli_cmd_ctr_inspect, true },
  { "kill", &cli_cmd_kill, true },
  { "logs", &cli_cmd_logs, true },
  { "ls", &cli_cmd_ps, true },
  { "list", &cli_cmd_ps, false },
  { "ps", &cli_cmd_ps, false },
  { "prune", &cli_cmd_ctr_prune, true },
  { "rename", &cli_cmd_rename, true },
  { "restart", &cli_cmd_restart, true },
  { "rm", &cli_cmd_rm, true },
  { "remove", &cli_cmd_rm, false },
  { "run", &cli_cmd_run, true },
  { "start", &cli_cmd_start, true },
  { "stop", &cli_cmd_stop, true },
  { "wait", &cli_cmd_wait, true },
  { NULL, NULL, false },
};

static int run(cli_ctx_t *ctx, int argc, char **argv) {
  return cli_run_group(ctx, argc, argv, "container", "Manage containers", subs);
}

const cli_command_t cli_cmd_container = {
  .name = "container",
  .summary = "Manage containers",
  .usage = "COMMAND",
  .options = "",
  .run = run,
};
