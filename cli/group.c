/* Management commands ("berth image COMMAND", "berth container COMMAND"):
 * help, dispatch to a subcommand, errors for what is not one. */
#include <string.h>
#include "cli.h"

static void print_help(FILE *out, const char *group, const char *what, const cli_subcommand_t *subs) {
  fprintf(out, "\nUsage:  berth %s COMMAND\n\n%s\n\nCommands:\n", group, what);
  for (const cli_subcommand_t *s = subs; s->name; s++)
    if (s->listed)
      fprintf(out, "  %-9s   %s\n", s->name, s->cmd->summary);
  fprintf(out, "\nRun 'berth %s COMMAND --help' for more information on a command.\n", group);
}

int cli_run_group(cli_ctx_t *ctx, int argc, char **argv, const char *group, const char *what,
                  const cli_subcommand_t *subs) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    print_help(stdout, group, what, subs);
    return 0;
  }
  for (const cli_subcommand_t *s = subs; s->name; s++)
    if (strcmp(s->name, argv[1]) == 0) {
      snprintf(ctx->cmd_path, sizeof ctx->cmd_path, "%s %s", group, s->name);
      return s->cmd->run(ctx, argc - 1, argv + 1);
    }
  snprintf(ctx->cmd_path, sizeof ctx->cmd_path, "%s", group);
  if (argv[1][0] == '-') {
    char msg[256];
    snprintf(msg, sizeof msg, "unknown flag: %s", argv[1]);
    return cli_usage_error(ctx, msg);
  }
  fprintf(stderr, "berth: '%s %s' is not a berth command.\nSee 'berth %s --help'\n", group, argv[1], group);
  return CLI_EXIT_USAGE;
}
