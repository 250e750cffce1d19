/* berth: the command-line client. Global options, command dispatch, help.
 *   berth [OPTIONS] COMMAND [ARG...]
 * Talks the Docker Engine API over the engine's unix socket; exit codes as
 * the docker CLI: 0 ok, 1 error, 125 usage error. */
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include "berth.h"
#include "cli.h"
#include "ctr.h"

/* Top-level commands, as `berth --help` lists them. */
static const cli_command_t *const management[] = { &cli_cmd_container, &cli_cmd_image, NULL };
static const cli_command_t *const commands[] = {
  &cli_cmd_attach, &cli_cmd_create, &cli_cmd_history, &cli_cmd_images, &cli_cmd_info, &cli_cmd_inspect,
  &cli_cmd_kill, &cli_cmd_load, &cli_cmd_logs, &cli_cmd_ps, &cli_cmd_rename, &cli_cmd_restart, &cli_cmd_rm,
  &cli_cmd_rmi, &cli_cmd_run, &cli_cmd_save, &cli_cmd_start, &cli_cmd_stop, &cli_cmd_tag, &cli_cmd_version,
  &cli_cmd_wait, NULL,
};

static const cli_command_t *find_command(const char *name) {
  for (size_t i = 0; commands[i]; i++)
    if (strcmp(commands[i]->name, name) == 0)
      return commands[i];
  for (size_t i = 0; management[i]; i++)
    if (strcmp(management[i]->name, name) == 0)
      return management[i];
  return NULL;
}

static void print_main_help(FILE *out) {
  fprintf(out,
          "\nUsage:  berth [OPTIONS] COMMAND\n\n"
          "A container engine for shared Linux hosts, speaking the Docker Engine API\n\n"
          "Management Commands:\n");
  for (size_t i = 0; management[i]; i++)
    fprintf(out, "  %-10s  %s\n", management[i]->name, management[i]->summary);
  fprintf(out, "\nCommands:\n");
  for (size_t i = 0; commands[i]; i++)
    fprintf(out, "  %-10s  %s\n", commands[i]->name, commands[i]->summary);
  fprintf(out,
          "\nGlobal Options:\n"
          "  -f, --format string   Output format: \"json\" (also an option of each command)\n"
          "  -h, --help            Print usage\n"
          "  -H, --host string     Engine socket to connect to: unix:///path or /path\n"
          "                        (default \"%s\", or $BERTH_HOST)\n"
          "  -v, --version         Print version information and quit\n"
          "\nRun 'berth COMMAND --help' for more information on a command.\n",
          CLI_DEFAULT_HOST);
}

/* "--name=value", "--name value", "-n value": returns the value or NULL.
 * *i advances past a separate value. */
static const char *option_value(int argc, char **argv, int *i, const char *shortopt, const char *longopt,
                                bool *matched, bool *missing) {
  const char *a = argv[*i];
  size_t ll = strlen(longopt);
  *matched = *missing = false;
  if (strncmp(a, longopt, ll) == 0 && a[ll] == '=') {
    *matched = true;
    return a + ll + 1;
  }
  if (strcmp(a, longopt) == 0 || (shortopt && strcmp(a, shortopt) == 0)) {
    *matched = true;
    if (*i + 1 < argc)
      return argv[++*i];
    *missing = true;
  }
  return NULL;
}

int cli_fail(berth_error_t *err) {
  berth_error_print(err, stderr, NULL);
  return CLI_EXIT_ERROR;
}

int main(int argc, char **argv) {
  cli_ctx_t ctx = { 0 };
  const char *host = getenv("BERTH_HOST");
  if (host == NULL || host[0] == '\0')
    host = CLI_DEFAULT_HOST;

  int i = 1;
  for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
    const char *a = argv[i];
    bool matched, missing;
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      print_main_help(stdout);
      return 0;
    }
    if (strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) {
      printf("berth version %s\n", BERTH_VERSION_STRING);
      return 0;
    }
    const char *v = option_value(argc, argv, &i, "-H", "--host", &matched, &missing);
    if (!matched)
      v = option_value(argc, argv, &i, "-f", "--format", &matched, &missing);
    if (!matched) {
      char msg[256];
      snprintf(msg, sizeof msg, "unknown flag: %s", a);
      return cli_usage_error(NULL, msg);
    }
    if (missing) {
      char msg[128];
      snprintf(msg, sizeof msg, "flag needs an argument: %s", a);
      return cli_usage_error(NULL, msg);
    }
    if (strcmp(a, "-H") == 0 || strncmp(a, "--host", 6) == 0) {
      host = v;
    } else {
      int r = cli_set_format(&ctx, v);
      if (r >= 0)
        return r;
    }
  }

  if (i >= argc) {
    print_main_help(stdout);
    return 0;
  }
  const char *name = argv[i];
  if (strcmp(name, "help") == 0) {
    if (i + 1 >= argc) {
      print_main_help(stdout);
      return 0;
    }
    const cli_command_t *cmd = find_command(argv[i + 1]);
    if (cmd == NULL) {
      fprintf(stderr, "unknown help topic: %s\n", argv[i + 1]);
      return CLI_EXIT_USAGE;
    }
    for (size_t m = 0; management[m]; m++)
      if (cmd == management[m]) { /* its help lists its commands */
        char *help_argv[] = { argv[i + 1], (char *)"--help", NULL };
        return cmd->run(&ctx, 2, help_argv);
      }
    cli_print_command_help(NULL, cmd, stdout);
    return 0;
  }
  const cli_command_t *cmd = find_command(name);
  if (cmd == NULL) {
    fprintf(stderr, "berth: '%s' is not a berth command.\nSee 'berth --help'\n", name);
    return CLI_EXIT_USAGE;
  }

  berth_error_t err = NULL;
  if (cli_set_host(&ctx, host, &err) < 0) {
    berth_error_print(&err, stderr, NULL);
    free(ctx.socket_path);
    free(ctx.host);
    return CLI_EXIT_USAGE;
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
    fprintf(stderr, "cannot initialise libcurl\n");
    return CLI_EXIT_ERROR;
  }
  int rc = cmd->run(&ctx, argc - i, argv + i);
  curl_global_cleanup();
  free(ctx.socket_path);
  free(ctx.host);
  return rc;
}
