/* berth image COMMAND: the docker CLI's "image" management command, whose
 * subcommands are the image commands under their docker names and aliases
 * (image ls = images, image rm = rmi, ...). */
#include <string.h>
#include "cli.h"

static const cli_subcommand_t subs[] = {
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

static int run(cli_ctx_t *ctx, int argc, char **argv) {
  return cli_run_group(ctx, argc, argv, "image", "Manage images", subs);
}

const cli_command_t cli_cmd_image = {
  .name = "image",
  .summary = "Manage images",
  .usage = "COMMAND",
  .options = "",
  .run = run,
};
