/* berth version: client and server versions, laid out like `docker version`. */
#include <string.h>
#include <sys/utsname.h>
#include "berth.h"
#include "cli.h"

static json_object *client_json(const cli_ctx_t *ctx) {
  json_object *c = json_object_new_object();
  json_object_object_add(c, "Version", json_object_new_string(BERTH_VERSION_STRING));
  json_object_object_add(c, "ApiVersion", json_object_new_string(ctx->negotiated ? ctx->api_version : CLI_API_VERSION));
  json_object_object_add(c, "DefaultAPIVersion", json_object_new_string(CLI_API_VERSION));
  json_object_object_add(c, "Os", json_object_new_string("linux"));
  json_object_object_add(c, "Arch", json_object_new_string(cli_goarch()));
  json_object_object_add(c, "Host", json_object_new_string(ctx->host));
  return c;
}

static void print_client(const cli_ctx_t *ctx) {
  printf("Client:\n");
  printf(" Version:           %s\n", BERTH_VERSION_STRING);
  if (ctx->negotiated && strcmp(ctx->api_version, CLI_API_VERSION) != 0)
    printf(" API version:       %s (downgraded from %s)\n", ctx->api_version, CLI_API_VERSION);
  else
    printf(" API version:       %s\n", CLI_API_VERSION);
  printf(" OS/Arch:           linux/%s\n", cli_goarch());
  printf(" Host:              %s\n", ctx->host);
}

static void print_detail(const char *label, const char *value) {
  if (value && *value)
    printf("  %-17s %s\n", label, value);
}

static void print_server(json_object *v) {
  const char *platform = cli_json_str(cli_json_get(v, "Platform"), "Name");
  printf("\nServer:%s%s\n", platform && *platform ? " " : "", platform ? platform : "");
  printf(" Engine:\n");
  print_detail("Version:", cli_json_str(v, "Version"));
  const char *api = cli_json_str(v, "ApiVersion"), *min = cli_json_str(v, "MinAPIVersion");
  if (api) {
    char buf[96];
    if (min)
      snprintf(buf, sizeof buf, "%s (minimum version %s)", api, min);
    else
      snprintf(buf, sizeof buf, "%s", api);
    print_detail("API version:", buf);
  }
  print_detail("Git commit:", cli_json_str(v, "GitCommit"));
  const char *built = cli_json_str(v, "BuildTime");
  if (built) {
    char buf[64];
    cli_format_time(built, buf, sizeof buf);
    print_detail("Built:", buf);
  }
  const char *os = cli_json_str(v, "Os"), *arch = cli_json_str(v, "Arch");
  if (os && arch) {
    char buf[96];
    snprintf(buf, sizeof buf, "%s/%s", os, arch);
    print_detail("OS/Arch:", buf);
  }
  print_detail("Kernel:", cli_json_str(v, "KernelVersion"));
  json_object *exp = cli_json_get(v, "Experimental");
  print_detail("Experimental:", exp && json_object_get_boolean(exp) ? "true" : "false");

  /* Other components (not the engine itself) with their details. */
  json_object *comps = cli_json_get(v, "Components");
  size_t n = comps && json_object_is_type(comps, json_type_array) ? json_object_array_length(comps) : 0;
  for (size_t i = 0; i < n; i++) {
    json_object *c = json_object_array_get_idx(comps, i);
    const char *name = cli_json_str(c, "Name");
    if (name == NULL || strcmp(name, "Engine") == 0)
      continue;
    printf(" %s:\n", name);
    print_detail("Version:", cli_json_str(c, "Version"));
    json_object *details = cli_json_get(c, "Details");
    if (details && json_object_is_type(details, json_type_object)) {
      json_object_object_foreach(details, key, val) {
        char label[64];
        snprintf(label, sizeof label, "%s:", key);
        print_detail(label, json_object_get_string(val));
      }
    }
  }
}

static int run(cli_ctx_t *ctx, int argc, char **argv) {
  int r = cli_parse_command_options(ctx, &cli_cmd_version, argc, argv);
  if (r >= 0)
    return r;
  berth_error_t err = NULL;
  json_object *server = NULL;
  int failed = cli_get_json(ctx, "/version", &server, &err) < 0;

  if (ctx->json) {
    json_object *all = json_object_new_object();
    json_object_object_add(all, "Client", client_json(ctx));
    json_object_object_add(all, "Server", server ? json_object_get(server) : NULL);
    cli_print_json(all);
    json_object_put(all);
  } else {
    print_client(ctx);
    if (server)
      print_server(server);
  }
  fflush(stdout);
  json_object_put(server);
  return failed ? cli_fail(&err) : 0;
}

const cli_command_t cli_cmd_version = {
  .name = "version",
  .summary = "Show the berth version information",
  .usage = "[OPTIONS]",
  .options = "  -f, --format string   Format output: \"json\" prints {\"Client\":...,\"Server\":...}\n"
             "  -h, --help            Print usage\n",
  .run = run,
};
