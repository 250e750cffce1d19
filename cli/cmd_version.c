/* berth version: client and server versions, laid out like `docker version`. */
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include "berth.h"
#include "cli.h"
#include "template.h"

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

/* docker's reformatDate: an RFC 3339 time as Go's ANSIC ("Sat Nov  7
 * 09:11:06 2026", the wall clock of its own offset); other text unchanged. */
static void reformat_date(const char *in, char *out, size_t len) {
  struct tm tm = { 0 };
  const char *p = strptime(in, "%Y-%m-%dT%H:%M:%S", &tm);
  if (p && *p == '.')
    for (p++; *p >= '0' && *p <= '9'; p++)
      ;
  bool zone = p && (strcmp(p, "Z") == 0 || ((p[0] == '+' || p[0] == '-') && strlen(p) == 6 && p[3] == ':'));
  if (!zone) {
    snprintf(out, len, "%s", in);
    return;
  }
  time_t day = timegm(&tm); /* for the weekday */
  gmtime_r(&day, &tm);
  strftime(out, len, "%a %b %e %H:%M:%S %Y", &tm);
}

/* As docker's runVersion: the Engine component's BuildTime reformatted. */
static void reformat_components(json_object *server) {
  json_object *comps = cli_json_get(server, "Components");
  for (size_t i = 0; comps && json_object_is_type(comps, json_type_array) && i < json_object_array_length(comps); i++) {
    json_object *c = json_object_array_get_idx(comps, i);
    const char *name = cli_json_str(c, "Name"), *built = cli_json_str(cli_json_get(c, "Details"), "BuildTime");
    if (name && strcmp(name, "Engine") == 0 && built) {
      char buf[64];
      reformat_date(built, buf, sizeof buf);
      json_object_object_add(cli_json_get(c, "Details"), "BuildTime", json_object_new_string(buf));
    }
  }
}

/* docker's versionInfo: its client part in docker's clientVersion shape
 * (what berth has; Go omits the empty members but Context). */
static json_object *template_client(const cli_ctx_t *ctx) {
  json_object *c = client_json(ctx);
  json_object_object_del(c, "Host");
  json_object_object_add(c, "Context", json_object_new_string(""));
  return c;
}

static const cli_tpl_field_t version_info_fields[] = { { "Client", "Client", 'p' }, { "Server", "Server", 'p' }, { NULL } };
static const cli_tpl_field_t client_fields[] = {
  { "Platform", "Platform", 'p' }, { "Version", "Version", 's' }, { "APIVersion", "ApiVersion", 's' },
  { "DefaultAPIVersion", "DefaultAPIVersion", 's' }, { "GitCommit", "GitCommit", 's' },
  { "GoVersion", "GoVersion", 's' }, { "Os", "Os", 's' }, { "Arch", "Arch", 's' }, { "BuildTime", "BuildTime", 's' },
  { "Context", "Context", 's' }, { NULL },
};
static const cli_tpl_field_t server_fields[] = {
  { "Platform", "Platform", 'p' }, { "Components", "Components", 'p' }, { "Version", "Version", 's' },
  { "APIVersion", "ApiVersion", 's' }, { "MinAPIVersion", "MinAPIVersion", 's' }, { "GitCommit", "GitCommit", 's' },
  { "GoVersion", "GoVersion", 's' }, { "Os", "Os", 's' }, { "Arch", "Arch", 's' },
  { "KernelVersion", "KernelVersion", 's' }, { "Experimental", "Experimental", 'b' },
  { "BuildTime", "BuildTime", 's' }, { NULL },
};

static int print_template(const cli_ctx_t *ctx, const char *format, json_object *server) {
  json_object *all = json_object_new_object(), *client = template_client(ctx);
  json_object_object_add(all, "Client", client);
  if (server)
    reformat_components(server);
  json_object_object_add(all, "Server", server ? json_object_get(server) : NULL);
  const cli_tpl_struct_t structs[] = {
    { all, "system.versionInfo", version_info_fields },
    { client, "system.clientVersion", client_fields },
    { server, "*types.Version", server_fields },
  };
  int r = cli_template_command("version", format, all, structs, server ? 3 : 2, true);
  json_object_put(all);
  return r;
}

static int run(cli_ctx_t *ctx, int argc, char **argv) {
  const char *format;
  int r = cli_parse_format_options(ctx, &cli_cmd_version, "version", argc, argv, &format);
  if (r >= 0)
    return r;
  berth_error_t err = NULL;
  json_object *server = NULL;
  int failed = cli_get_json(ctx, "/version", &server, &err) < 0;

  if (format && !ctx->json) {
    r = print_template(ctx, format, server);
    json_object_put(server);
    return failed ? cli_fail(&err) : r;
  }
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
  .options = "  -f, --format string   Format output: \"json\" prints {\"Client\":...,\"Server\":...};\n"
             "                        a Go template runs over docker's version object ({{.Server.Version}})\n"
             "  -h, --help            Print usage\n",
  .run = run,
};
