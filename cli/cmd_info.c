/* berth info: engine-wide information (GET /info, laid out like `docker info`)
 * plus how the executor sees each service (GET /berth/v1/services). */
#include <cap-ng.h>
#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "berth.h"
#include "cli.h"
#include "template.h"

static void kv(int indent, const char *label, const char *value) {
  printf("%*s%s: %s\n", indent, "", label, value ? value : "");
}

static void kv_int(int indent, const char *label, json_object *o, const char *key) {
  char buf[32];
  snprintf(buf, sizeof buf, "%" PRId64, cli_json_int(o, key));
  kv(indent, label, buf);
}

static void kv_bool(int indent, const char *label, json_object *o, const char *key) {
  kv(indent, label, cli_json_bool(o, key) ? "true" : "false");
}

/* Prints array elements joined by spaces: "Network: bridge host null". */
static void kv_list(int indent, const char *label, json_object *arr) {
  if (arr == NULL || !json_object_is_type(arr, json_type_array))
    return;
  printf("%*s%s:", indent, "", label);
  for (size_t i = 0; i < json_object_array_length(arr); i++)
    printf(" %s", json_object_get_string(json_object_array_get_idx(arr, i)));
  putchar('\n');
}

/* "name=seccomp,profile=default" -> "  seccomp\n   Profile: default" */
static void print_security_option(const char *opt) {
  char *copy = strdup(opt);
  if (copy == NULL)
    return;
  char *save = NULL;
  for (char *kvp = strtok_r(copy, ",", &save); kvp; kvp = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(kvp, '=');
    if (eq == NULL) {
      printf("  %s\n", kvp);
    } else if (strncmp(kvp, "name=", 5) == 0) {
      printf("  %s\n", eq + 1);
    } else {
      *eq = '\0';
      kvp[0] = (char)toupper((unsigned char)kvp[0]);
      printf("   %s: %s\n", kvp, eq + 1);
    }
  }
  free(copy);
}

static void print_server(json_object *in) {
  printf("\nServer:\n");
  kv_int(1, "Containers", in, "Containers");
  kv_int(2, "Running", in, "ContainersRunning");
  kv_int(2, "Paused", in, "ContainersPaused");
  kv_int(2, "Stopped", in, "ContainersStopped");
  kv_int(1, "Images", in, "Images");
  kv(1, "Server Version", cli_json_str(in, "ServerVersion"));
  kv(1, "Storage Driver", cli_json_str(in, "Driver"));
  json_object *ds = cli_json_get(in, "DriverStatus");
  for (size_t i = 0; ds && json_object_is_type(ds, json_type_array) && i < json_object_array_length(ds); i++) {
    json_object *pair = json_object_array_get_idx(ds, i);
    if (json_object_is_type(pair, json_type_array) && json_object_array_length(pair) == 2)
      kv(2, json_object_get_string(json_object_array_get_idx(pair, 0)),
         json_object_get_string(json_object_array_get_idx(pair, 1)));
  }
  kv(1, "Logging Driver", cli_json_str(in, "LoggingDriver"));
  kv(1, "Cgroup Driver", cli_json_str(in, "CgroupDriver"));
  kv(1, "Cgroup Version", cli_json_str(in, "CgroupVersion"));
  json_object *plugins = cli_json_get(in, "Plugins");
  if (plugins) {
    printf(" Plugins:\n");
    kv_list(2, "Volume", cli_json_get(plugins, "Volume"));
    kv_list(2, "Network", cli_json_get(plugins, "Network"));
    kv_list(2, "Authorization", cli_json_get(plugins, "Authorization"));
    kv_list(2, "Log", cli_json_get(plugins, "Log"));
  }
  json_object *runtimes = cli_json_get(in, "Runtimes");
  if (runtimes && json_object_is_type(runtimes, json_type_object)) {
    printf(" Runtimes:");
    json_object_object_foreach(runtimes, name, val) {
      (void)val;
      printf(" %s", name);
    }
    putchar('\n');
  }
  kv(1, "Default Runtime", cli_json_str(in, "DefaultRuntime"));
  json_object *sec = cli_json_get(in, "SecurityOptions");
  if (sec && json_object_is_type(sec, json_type_array)) {
    printf(" Security Options:\n");
    for (size_t i = 0; i < json_object_array_length(sec); i++)
      print_security_option(json_object_get_string(json_object_array_get_idx(sec, i)));
  }
  kv(1, "Kernel Version", cli_json_str(in, "KernelVersion"));
  kv(1, "Operating System", cli_json_str(in, "OperatingSystem"));
  kv(1, "OSType", cli_json_str(in, "OSType"));
  kv(1, "Architecture", cli_json_str(in, "Architecture"));
  kv_int(1, "CPUs", in, "NCPU");
  char mem[32];
  cli_format_bytes((double)cli_json_int(in, "MemTotal"), mem, sizeof mem);
  kv(1, "Total Memory", mem);
  kv(1, "Name", cli_json_str(in, "Name"));
  kv(1, "ID", cli_json_str(in, "ID"));
  kv(1, "Root Dir", cli_json_str(in, "DockerRootDir"));
  kv_bool(1, "Debug Mode", in, "Debug");
  kv_bool(1, "Experimental", in, "ExperimentalBuild");
  json_object *reg = cli_json_get(in, "RegistryConfig");
  json_object *insecure = cli_json_get(reg, "InsecureRegistryCIDRs");
  if (insecure && json_object_is_type(insecure, json_type_array)) {
    printf(" Insecure Registries:\n");
    for (size_t i = 0; i < json_object_array_length(insecure); i++)
      printf("  %s\n", json_object_get_string(json_object_array_get_idx(insecure, i)));
  }
  json_object *mirrors = cli_json_get(reg, "Mirrors");
  if (mirrors && json_object_is_type(mirrors, json_type_array) && json_object_array_length(mirrors) > 0) {
    printf(" Registry Mirrors:\n");
    for (size_t i = 0; i < json_object_array_length(mirrors); i++)
      printf("  %s\n", json_object_get_string(json_object_array_get_idx(mirrors, i)));
  }
  kv_bool(1, "Live Restore Enabled", in, "LiveRestoreEnabled");
}

static void print_warnings(json_object *in) {
  json_object *w = cli_json_get(in, "Warnings");
  for (size_t i = 0; w && json_object_is_type(w, json_type_array) && i < json_object_array_length(w); i++)
    fprintf(stderr, "WARNING: %s\n", json_object_get_string(json_object_array_get_idx(w, i)));
}

/* CapEff as names: "none", "NET_ADMIN", or a count when there are many. */
static void format_caps(const char *hex, char *buf, size_t len) {
  uint64_t caps = hex ? strtoull(hex, NULL, 16) : 0;
  int n = __builtin_popcountll(caps);
  if (n == 0 || n > 2) {
    snprintf(buf, len, n == 0 ? "none" : "%d caps", n);
    return;
  }
  buf[0] = '\0';
  for (unsigned c = 0; c < 64; c++) {
    if (!(caps & (UINT64_C(1) << c)))
      continue;
    const char *name = capng_capability_to_name(c);
    size_t used = strlen(buf);
    snprintf(buf + used, len - used, "%s%s", used ? "," : "", name ? name : "?");
  }
  for (char *p = buf; *p; p++)
    *p = (char)toupper((unsigned char)*p);
}

static const char *seccomp_mode(int64_t m) {
  return m == 2 ? "filter" : m == 1 ? "strict" : m == 0 ? "disabled" : "?";
}

static void print_services(json_object *st) {
  json_object *exec = cli_json_get(st, "Executor");
  printf("\nServices:\n");
  if (exec)
    printf(" Executor: berth-execd, pid %" PRId64 ", uid %" PRId64 "\n", cli_json_int(exec, "Pid"),
           cli_json_int(exec, "Uid"));
  static const char *const headers[] = { "NAME", "PID", "UID", "CAPS", "SECCOMP", "NNP", "USERNS", "STATE", "RESTARTS" };
  cli_table_t *t = cli_table_new(9, headers);
  json_object *list = cli_json_get(st, "Services");
  for (size_t i = 0; list && json_object_is_type(list, json_type_array) && i < json_object_array_length(list); i++) {
    json_object *s = json_object_array_get_idx(list, i);
    char pid[24], uid[24], caps[64], restarts[24], userns[64];
    int64_t p = cli_json_int(s, "Pid");
    snprintf(pid, sizeof pid, p > 0 ? "%" PRId64 : "-", p);
    snprintf(uid, sizeof uid, p > 0 ? "%" PRId64 : "-", cli_json_int(s, "Uid"));
    format_caps(cli_json_str(s, "CapEff"), caps, sizeof caps);
    snprintf(restarts, sizeof restarts, "%" PRId64, cli_json_int(s, "Restarts"));
    if (!cli_json_bool(s, "OwnUserNamespace")) {
      snprintf(userns, sizeof userns, "host");
    } else { /* "0 1879048192 65536" -> "0:1879048192:65536" */
      snprintf(userns, sizeof userns, "%s", cli_json_str(s, "UidMap") ? cli_json_str(s, "UidMap") : "own");
      for (char *c = userns; *c; c++)
        if (*c == ' ')
          *c = ':';
    }
    const char *row[] = {
      cli_json_str(s, "Name"), pid, uid, caps, seccomp_mode(cli_json_int(s, "Seccomp")),
      cli_json_bool(s, "NoNewPrivs") ? "yes" : "no", userns, cli_json_str(s, "State"), restarts,
    };
    cli_table_add(t, row);
  }
  cli_table_print(t, " ");
}

static json_object *client_info(const cli_ctx_t *ctx) {
  json_object *c = json_object_new_object();
  json_object_object_add(c, "Version", json_object_new_string(BERTH_VERSION_STRING));
  json_object_object_add(c, "Host", json_object_new_string(ctx->host));
  return c;
}

/* info -f TEMPLATE: docker's dockerInfo, the engine's info with ClientInfo
 * (docker's Go names are the engine's members here). */
static int print_template(const cli_ctx_t *ctx, const char *format, json_object *info) {
  json_object *all = info ? json_object_get(info) : json_object_new_object(), *client = client_info(ctx);
  json_object_object_add(client, "Debug", json_object_new_boolean(false));
  json_object_object_add(client, "Plugins", json_object_new_array());
  json_object_object_add(all, "ClientInfo", client);
  const cli_tpl_struct_t structs[] = {
    { all, "system.dockerInfo", NULL },
    { client, "*system.clientInfo", NULL },
    { cli_json_get(all, "Plugins"), "system.PluginsInfo", NULL },
  };
  int r = cli_template_command("", format, all, structs, cli_json_get(all, "Plugins") ? 3 : 2, false);
  json_object_put(all);
  return r;
}

static int run(cli_ctx_t *ctx, int argc, char **argv) {
  const char *format;
  int r = cli_parse_format_options(ctx, &cli_cmd_info, "", argc, argv, &format);
  if (r >= 0)
    return r;
  berth_error_t err = NULL;
  json_object *info = NULL, *services = NULL;
  int failed = cli_get_json(ctx, "/info", &info, &err) < 0;
  if (format && !ctx->json) {
    r = print_template(ctx, format, info);
    json_object_put(info);
    return failed ? cli_fail(&err) : r;
  }
  if (!failed)
    failed = cli_get_json(ctx, "/berth/v1/services", &services, &err) < 0;

  if (ctx->json) {
    json_object *out = info ? json_object_get(info) : json_object_new_object();
    json_object_object_add(out, "ClientInfo", client_info(ctx));
    if (services)
      json_object_object_add(out, "Berth", json_object_get(services));
    if (failed) {
      json_object *errs = json_object_new_array();
      json_object_array_add(errs, json_object_new_string(err && err->msg ? err->msg : "error"));
      json_object_object_add(out, "ServerErrors", errs);
    }
    cli_print_json(out);
    json_object_put(out);
  } else {
    printf("Client:\n Version:  %s\n Host:     %s\n", BERTH_VERSION_STRING, ctx->host);
    if (info)
      print_server(info);
    if (services)
      print_services(services);
    if (info)
      print_warnings(info);
  }
  fflush(stdout);
  json_object_put(info);
  json_object_put(services);
  return failed ? cli_fail(&err) : 0;
}

const cli_command_t cli_cmd_info = {
  .name = "info",
  .summary = "Display system-wide information, including each berth service's privileges",
  .usage = "[OPTIONS]",
  .options = "  -f, --format string   Format output: \"json\" prints the engine's info object\n"
             "                        with \"ClientInfo\" and \"Berth\" (the services) added;\n"
             "                        a Go template runs over it as docker's ({{.ServerVersion}})\n"
             "  -h, --help            Print usage\n",
  .run = run,
};
