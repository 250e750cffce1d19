/* berth image COMMAND: the docker CLI's "image" management command, whose
 * subcommands are the image commands under their docker names and aliases
 * (image ls = images, image rm = rmi, ...). */
#include <string.h>
#include "cli.h"

typedef struct {
  const char *name;
  const cli_command_t *cmd;
  bool listed; /* shown in the help (aliases are not) */
} sub_t;

static const sub_t subs[] = {
  { "history", &cli_cmd_history, true },
  { "inspect", &cli_cmd_image_inspect, true },
  { "load", &cli_cmd_load, true },
  { "ls", &cli_cmd_images, true },
  { "list", &cli_cmd_images, false },
  { "prune", &cli_cmd_image_prune, true },
  { "rm", &cli_cmd_rmi, true },
  { "remove", &cli_cmd_rmi, false },
  { "rmi", &cli_cmd_rmi, false },
  { "save", &cli_cmd_save, true },
  { "tag", &cli_cmd_tag, true },
  { NULL, NULL, false },
};

static void print_help(FILE *out) {
  fprintf(out, "\nUsage:  berth image COMMAND\n\nManage images\n\nCommands:\n");
  for (const sub_t *s = subs; s->name; s++)
    if (s->listed)
      fprintf(out, "  %-9s   %s\n", s->name, s->cmd->summary);
  fprintf(out, "\nRun 'berth image COMMAND --help' for more information on a command.\n");
}

static int run(cli_ctx_t *ctx, int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    print_help(stdout);
    return 0;
  }
  for (const sub_t *s = subs; s->name; s++)
    if (strcmp(s->name, argv[1]) == 0) {
      snprintf(ctx->cmd_path, sizeof ctx->cmd_path, "image %s", s->name);
      return s->cmd->run(ctx, argc - 1, argv + 1);
    }
  if (argv[1][0] == '-') {
    char msg[256];
    snprintf(msg, sizeof msg, "unknown flag: %s", argv[1]);
    snprintf(ctx->cmd_path, sizeof ctx->cmd_path, "image");
    return cli_usage_error(ctx, msg);
  }
  fprintf(stderr, "berth: 'image %s' is not a berth command.\nSee 'berth image --help'\n", argv[1]);
  return CLI_EXIT_USAGE;
}

const cli_command_t cli_cmd_image = {
  .name = "image",
  .summary = "Manage images",
  .usage = "COMMAND",
  .options = "",
  .run = run,
};
