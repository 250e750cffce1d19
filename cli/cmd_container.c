/* berth container COMMAND: the docker CLI's "container" management
 * command; its subcommands are the container commands under their docker
 * names and aliases (container ls = ps, container rm = rm, ...). */
#include <string.h>
#include "ctr.h"

typedef struct {
  const char *name;
  const cli_command_t *cmd;
  bool listed; /* shown in the help (aliases are not) */
} sub_t;

static const sub_t subs[] = {
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

static void print_help(FILE *out) {
  fprintf(out, "\nUsage:  berth container COMMAND\n\nManage containers\n\nCommands:\n");
  for (const sub_t *s = subs; s->name; s++)
    if (s->listed)
      fprintf(out, "  %-9s   %s\n", s->name, s->cmd->summary);
  fprintf(out, "\nRun 'berth container COMMAND --help' for more information on a command.\n");
}

static int run(cli_ctx_t *ctx, int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    print_help(stdout);
    return 0;
  }
  for (const sub_t *s = subs; s->name; s++)
    if (strcmp(s->name, argv[1]) == 0) {
      snprintf(ctx->cmd_path, sizeof ctx->cmd_path, "container %s", s->name);
      return s->cmd->run(ctx, argc - 1, argv + 1);
    }
  snprintf(ctx->cmd_path, sizeof ctx->cmd_path, "container");
  if (argv[1][0] == '-') {
    char msg[256];
    snprintf(msg, sizeof msg, "unknown flag: %s", argv[1]);
    return cli_usage_error(ctx, msg);
  }
  fprintf(stderr, "berth: 'container %s' is not a berth command.\nSee 'berth container --help'\n", argv[1]);
  return CLI_EXIT_USAGE;
}

const cli_command_t cli_cmd_container = {
  .name = "container",
  .summary = "Manage containers",
  .usage = "COMMAND",
  .options = "",
  .run = run,
};
