/* The container commands' pure parts, checked against what the docker CLI
 * does: value parsers (go-units sizes, --cpus, --ulimit, --env-file, -e,
 * logs --since), seccomp JSON compaction, the ps table and its cells
 * (strconv.Quote, image, names), the create body run/create send, and
 * option parsing that stops at the image (run IMAGE CMD -x). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ctr.h"
#include "tap.h"

static int str_is(const char *got, const char *want, const char *what) {
  int ok = got && strcmp(got, want) == 0;
  if (!tap_ok(ok, "%s", what))
    tap_diag("got [%s], want [%s]", got ? got : "(null)", want);
  return ok;
}

static void test_ram(void) {
  static const struct {
    const char *in;
    int64_t want; /* -1: refused */
  } cases[] = {
    { "512", 512 }, { "64m", 64 << 20 }, { "64M", 64 << 20 }, { "1.5g", 1610612736 }, { "1GiB", 1 << 30 },
    { "2 kb", 2048 }, { "1KB", 1024 }, { "7b", 7 }, { "1t", 1099511627776 }, { "abc", -1 }, { "-1", -1 },
    { "1.2.3", -1 }, { "10x", -1 }, { "m", -1 }, { "", -1 }, { "1.", -1 }, { "64 m b", -1 },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int64_t v = -1;
    int r = cli_parse_ram(cases[i].in, &v);
    if (cases[i].want < 0)
      tap_ok(r < 0, "size '%s' refused", cases[i].in);
    else if (!tap_ok(r == 0 && v == cases[i].want, "size '%s' = %lld", cases[i].in, (long long)cases[i].want))
      tap_diag("got r=%d v=%lld", r, (long long)v);
  }
}

static void test_cpus(void) {
  static const struct {
    const char *in;
    bool ok;
    int64_t want;
  } cases[] = {
    { "1.5", true, 1500000000 }, { "2", true, 2000000000 }, { ".5", true, 500000000 },
    { "0.000000001", true, 1 }, { "1.0000000000", true, 1000000000 }, { "-1", true, -1000000000 },
    { "0.0000000001", false, 0 }, { "abc", false, 0 }, { "1.5x", false, 0 }, { "", false, 0 },
    { "99999999999", false, 0 },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int64_t v = 0;
    bool ok = cli_parse_nanocpus(cases[i].in, &v);
    tap_ok(ok == cases[i].ok && (!ok || v == cases[i].want), "--cpus '%s' %s", cases[i].in,
           cases[i].ok ? "parsed" : "refused");
  }
}

static void test_ulimit(void) {
  char why[256];
  json_object *u = cli_parse_ulimit("nofile=1024:2048", why, sizeof why);
  str_is(u ? json_object_to_json_string_ext(u, JSON_C_TO_STRING_PLAIN) : NULL,
         "{\"Name\":\"nofile\",\"Hard\":2048,\"Soft\":1024}", "ulimit soft:hard");
  json_object_put(u);
  u = cli_parse_ulimit("nproc=-1", why, sizeof why);
  str_is(u ? json_object_to_json_string_ext(u, JSON_C_TO_STRING_PLAIN) : NULL,
         "{\"Name\":\"nproc\",\"Hard\":-1,\"Soft\":-1}", "ulimit one value is both");
  json_object_put(u);
  static const struct {
    const char *in, *why;
  } bad[] = {
    { "nofile=2048:1024", "ulimit soft limit must be less than or equal to hard limit: 2048 > 1024" },
    { "bogus=1", "invalid ulimit type: bogus" },
    { "nofile", "invalid ulimit argument: nofile" },
    { "nofile=x", "strconv.ParseInt: parsing \"x\": invalid syntax" },
    { "nofile=1:2:3", "strconv.ParseInt: parsing \"2:3\": invalid syntax" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    why[0] = '\0';
    u = cli_parse_ulimit(bad[i].in, why, sizeof why);
    tap_ok(u == NULL && strcmp(why, bad[i].why) == 0, "ulimit '%s': %s", bad[i].in, bad[i].why);
    json_object_put(u);
  }
}

static void test_env(void) {
  setenv("BERTH_T_SET", "from host", 1);
  unsetenv("BERTH_T_UNSET");
  const char text[] = "\xEF\xBB\xBF# comment\n\nA=1\r\n  B=two words  \nBERTH_T_SET\nBERTH_T_UNSET\nC=\nD==x\n";
  json_object *env = json_object_new_array();
  char why[256] = "";
  int r = cli_parse_env_file("f", text, sizeof text - 1, env, why, sizeof why);
  str_is(r == 0 ? json_object_to_json_string_ext(env, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)
                : why,
         "[\"A=1\",\"B=two words  \",\"BERTH_T_SET=from host\",\"C=\",\"D==x\"]",
         "env file: BOM, comments, blank lines, CRLF, values kept, pass-through from the environment");
  json_object_put(env);
  static const struct {
    const char *text, *why;
  } bad[] = {
    { "BAD KEY=x\n", "poorly formatted environment: variable 'BAD KEY' contains whitespaces" },
    { "=x\n", "poorly formatted environment: no variable name on line '=x'" },
    { "A=\xff\n", "env file f contains invalid utf8 bytes at line 1" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    env = json_object_new_array();
    r = cli_parse_env_file("f", bad[i].text, strlen(bad[i].text), env, why, sizeof why);
    tap_ok(r < 0 && strcmp(why, bad[i].why) == 0, "env file refused: %s", bad[i].why);
    json_object_put(env);
  }
  char *v = cli_env_value("A=1");
  str_is(v, "A=1", "-e A=1 as is");
  free(v);
  v = cli_env_value("BERTH_T_SET");
  str_is(v, "BERTH_T_SET=from host", "-e NAME takes the host's value");
  free(v);
  v = cli_env_value("BERTH_T_UNSET");
  str_is(v, "BERTH_T_UNSET", "-e NAME unset is sent bare");
  free(v);
  tap_ok(cli_env_value("=x") == NULL, "-e =x refused");
}

static void test_timestamps(void) {
  static const struct {
    const char *in, *want; /* NULL: refused */
  } cases[] = {
    { "10m", "999400" },
    { "1h30m", "994600" },
    { "1.5h", "994600" },
    { "2013-01-02T13:23:37Z", "1357133017.000000000" },
    { "2013-01-02T13:23:37.5+01:00", "1357129417.500000000" },
    { "2013-01-02T13:23:37.123456789Z", "1357133017.123456789" },
    { "1700000000", "1700000000" },
    { "1700000000.5", "1700000000.5" },
    { "0", "0" },
    { "abc", NULL },
    { "2013-13-01", NULL },
    { "10 m", NULL },
    { "1e3s", NULL },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char out[64] = "";
    bool ok = cli_parse_timestamp(cases[i].in, 1000000, out, sizeof out);
    if (cases[i].want == NULL)
      tap_ok(!ok, "timestamp '%s' refused", cases[i].in);
    else if (!tap_ok(ok && strcmp(out, cases[i].want) == 0, "timestamp '%s' -> %s", cases[i].in, cases[i].want))
      tap_diag("got %d [%s]", ok, out);
  }
  setenv("TZ", "UTC", 1);
  char out[64] = "";
  tap_ok(cli_parse_timestamp("2013-01-02", 0, out, sizeof out) && strcmp(out, "1357084800.000000000") == 0,
         "a date alone is local midnight (TZ=UTC)");
}

static void test_compact(void) {
  char why[128];
  const char *in = "{\n  \"defaultAction\" : \"SCMP_ACT_ERRNO\",\n  \"names\": [ \"a b\", \"q\\\"uote\" ]\n}\n";
  char *c = cli_json_compact(in, strlen(in), why, sizeof why);
  str_is(c, "{\"defaultAction\":\"SCMP_ACT_ERRNO\",\"names\":[\"a b\",\"q\\\"uote\"]}",
         "json compact: whitespace outside strings removed, escapes kept");
  free(c);
  const char *bad[] = { "{\"a\": ", "{\"a\": 1} x", "{/* c */ \"a\": 1}", "{'a': 1}", "" };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    c = cli_json_compact(bad[i], strlen(bad[i]), why, sizeof why);
    tap_ok(c == NULL, "json compact refuses [%s] (%s)", bad[i], why);
    free(c);
  }
}

static void test_quote(void) {
  static const struct {
    const char *in, *want;
  } cases[] = {
    { "sh -c \"echo hi\"", "\"sh -c \\\"echo hi\\\"\"" },
    { "a\tb\nc\\", "\"a\\tb\\nc\\\\\"" },
    { "x\x01y\x7f", "\"x\\x01y\\x7f\"" },
    { "caf\xc3\xa9 \xe2\x80\xa6", "\"caf\xc3\xa9 \xe2\x80\xa6\"" },
    { "bad\xff", "\"bad\\xff\"" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *q = cli_go_quote(cases[i].in);
    str_is(q, cases[i].want, "strconv.Quote");
    free(q);
  }
}

/* `berth ps` with docker's default table format (as cmd_ps.c renders it). */
static char *ps_text(json_object *list, bool no_trunc, int64_t now) {
  cli_row_t *rows = NULL, proto;
  size_t n = 0;
  char *out = NULL, err[512];
  if (cli_ps_rows(list, no_trunc, now, &rows, &n) < 0)
    return NULL;
  cli_ps_row(NULL, no_trunc, now, &proto);
  if (cli_format_write("table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}",
                       rows, n, &proto, &out, err, sizeof err) < 0)
    tap_diag("%s", err);
  cli_row_clear(&proto);
  cli_rows_free(rows, n);
  return out;
}

static void test_ps_table(void) {
  const char *json =
      "[{\"Id\":\"4f2a6b1c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a\",\"Names\":[\"/web\"],"
      "\"Image\":\"busybox\",\"ImageID\":\"sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824\","
      "\"Command\":\"sleep 1000000000000000\",\"Created\":1000,\"Ports\":[],\"Labels\":{},\"State\":\"running\","
      "\"Status\":\"Up 3 minutes\"},"
      "{\"Id\":\"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\",\"Names\":[\"/a/link\",\"/db\"],"
      "\"Image\":\"sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824\","
      "\"ImageID\":\"sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824\","
      "\"Command\":\"true\",\"Created\":400,\"Ports\":[{\"PrivatePort\":80,\"Type\":\"tcp\"}],"
      "\"State\":\"exited\",\"Status\":\"Exited (0) 2 minutes ago\"}]";
  json_object *list = json_tokener_parse(json);
  char *text = ps_text(list, false, 1000 + 3 * 3600);
  str_is(text,
         "CONTAINER ID   IMAGE          COMMAND                  CREATED       STATUS                     PORTS     NAMES\n"
         "4f2a6b1c9d8e   busybox        \"sleep 1000000000000\xe2\x80\xa6\"   3 hours ago   Up 3 minutes                         web\n"
         "0123456789ab   a416a98b71e2   \"true\"                   3 hours ago   Exited (0) 2 minutes ago   80/tcp    db\n",
         "ps table: docker's columns, ids and image ids cut, command quoted after 20 characters, first non-link name");
  free(text);
  text = ps_text(list, true, 1000 + 3 * 3600);
  tap_ok(text && strstr(text, "\"sleep 1000000000000000\"") && strstr(text, "a/link,db") &&
             strstr(text, "4f2a6b1c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a"),
         "ps --no-trunc: whole ids, commands and every name");
  free(text);
  cli_table_free(NULL);
  json_object_put(list);

  json_object *c = json_tokener_parse("{\"Image\":\"busybox@sha256:abcdef\",\"ImageID\":\"sha256:0123\"}");
  char buf[128];
  cli_ps_image(c, false, buf, sizeof buf);
  str_is(buf, "busybox", "ps image: name@digest shows the name");
  cli_ps_image(c, true, buf, sizeof buf);
  str_is(buf, "busybox@sha256:abcdef", "ps image --no-trunc: as given");
  json_object_put(c);
  c = json_tokener_parse("{\"Image\":\"\"}");
  cli_ps_image(c, false, buf, sizeof buf);
  str_is(buf, "<no image>", "ps image: empty");
  json_object_put(c);
  json_object *ports = json_tokener_parse("[{\"IP\":\"0.0.0.0\",\"PrivatePort\":80,\"PublicPort\":8080,\"Type\":\"tcp\"},"
                                          "{\"IP\":\"::\",\"PrivatePort\":53,\"PublicPort\":53,\"Type\":\"udp\"}]");
  char *p = cli_ps_ports(ports);
  str_is(p, "0.0.0.0:8080->80/tcp, [::]:53->53/udp", "ps ports");
  free(p);
  json_object_put(ports);
}

static const char *jstr(json_object *o, const char *path) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", path);
  json_object *cur = o;
  for (char *k = strtok(buf, "."); k; k = strtok(NULL, ".")) {
    json_object *next = NULL;
    if (cur == NULL || !json_object_is_type(cur, json_type_object) || !json_object_object_get_ex(cur, k, &next))
      return "absent";
    cur = next;
  }
  return json_object_to_json_string_ext(cur, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

static int parse_run(cli_run_opts_t *o, cli_strv_t *pos, bool run, int argc, char **argv) {
  cli_ctx_t ctx = { 0 };
  cli_opt_t opts[64];
  cli_run_opt_table(o, run, opts, 64);
  cli_command_t cmd = { .name = "run", .summary = "", .usage = "", .options = "" };
  return cli_parse_args_head(&ctx, &cmd, opts, argc, argv, pos);
}

static void test_run_body(void) {
  char dir[] = "/tmp/berth-cli-ctr-XXXXXX";
  if (mkdtemp(dir) == NULL)
    return;
  char envf[128], sec[128], badsec[128];
  snprintf(envf, sizeof envf, "%s/env", dir);
  snprintf(sec, sizeof sec, "%s/seccomp.json", dir);
  snprintf(badsec, sizeof badsec, "%s/bad.json", dir);
  FILE *f = fopen(envf, "w");
  fputs("FROM_FILE=1\nSHARED=file\n", f);
  fclose(f);
  f = fopen(sec, "w");
  fputs("{\n  \"defaultAction\": \"SCMP_ACT_ALLOW\",\n  \"syscalls\": []\n}\n", f);
  fclose(f);
  f = fopen(badsec, "w");
  fputs("{ not json", f);
  fclose(f);

  char secopt[160];
  snprintf(secopt, sizeof secopt, "seccomp=%s", sec);
  char *argv[] = { "run", "-it", "--rm", "-h", "box", "--name=n1", "-e", "SHARED=flag", "--env-file", envf,
                   "-m", "64m", "--memory-swap=-1", "--cpus", "0.5", "-c", "512", "--pids-limit", "20",
                   "--ulimit", "nofile=10:20", "--cap-add", "NET_ADMIN", "--cap-drop=ALL", "--read-only",
                   "--security-opt", secopt, "--security-opt", "no-new-privileges", "-l", "a=b", "-l", "flag",
                   "--network", "none", "--entrypoint=", "-u", "1:2", "-w", "/tmp", "--stop-signal", "SIGINT",
                   "busybox", "sh", "-c", "echo -h --rm", NULL };
  cli_run_opts_t o = { 0 };
  cli_strv_t pos = { 0 };
  int r = parse_run(&o, &pos, true, (int)(sizeof argv / sizeof argv[0]) - 1, argv);
  tap_ok(r == -1 && pos.n == 4 && strcmp(pos.v[0], "busybox") == 0 && strcmp(pos.v[3], "echo -h --rm") == 0,
         "run options end at the image: the command keeps its own -c");
  tap_ok(o.hostname && strcmp(o.hostname, "box") == 0, "run -h is --hostname, not help");
  char why[512] = "";
  json_object *b = cli_run_body(&o, true, pos.v[0], pos.n - 1, pos.v + 1, 30, 100, why, sizeof why);
  if (!tap_ok(b != NULL, "create body built"))
    tap_diag("%s", why);
  str_is(jstr(b, "Env"), "[\"FROM_FILE=1\",\"SHARED=file\",\"SHARED=flag\"]", "Env: the file's, then -e");
  str_is(jstr(b, "Cmd"), "[\"sh\",\"-c\",\"echo -h --rm\"]", "Cmd");
  str_is(jstr(b, "Entrypoint"), "[\"\"]", "--entrypoint= resets it: [\"\"]");
  str_is(jstr(b, "AttachStdin"), "true", "-i attaches stdin");
  str_is(jstr(b, "StdinOnce"), "true", "run -i: StdinOnce");
  str_is(jstr(b, "Tty"), "true", "-t");
  str_is(jstr(b, "Labels"), "{\"a\":\"b\",\"flag\":\"\"}", "labels");
  str_is(jstr(b, "User"), "\"1:2\"", "user");
  str_is(jstr(b, "StopSignal"), "\"SIGINT\"", "stop signal");
  str_is(jstr(b, "HostConfig.Memory"), "67108864", "-m 64m");
  str_is(jstr(b, "HostConfig.MemorySwap"), "-1", "--memory-swap=-1");
  str_is(jstr(b, "HostConfig.NanoCpus"), "500000000", "--cpus 0.5");
  str_is(jstr(b, "HostConfig.CpuShares"), "512", "-c 512");
  str_is(jstr(b, "HostConfig.PidsLimit"), "20", "--pids-limit");
  str_is(jstr(b, "HostConfig.Ulimits"), "[{\"Name\":\"nofile\",\"Hard\":20,\"Soft\":10}]", "--ulimit");
  str_is(jstr(b, "HostConfig.CapAdd"), "[\"NET_ADMIN\"]", "--cap-add");
  str_is(jstr(b, "HostConfig.CapDrop"), "[\"ALL\"]", "--cap-drop");
  str_is(jstr(b, "HostConfig.ReadonlyRootfs"), "true", "--read-only");
  str_is(jstr(b, "HostConfig.AutoRemove"), "true", "--rm");
  str_is(jstr(b, "HostConfig.SecurityOpt"),
         "[\"seccomp={\\\"defaultAction\\\":\\\"SCMP_ACT_ALLOW\\\",\\\"syscalls\\\":[]}\",\"no-new-privileges\"]",
         "seccomp=FILE sent as its compact JSON text");
  str_is(jstr(b, "HostConfig.NetworkMode"), "\"none\"", "--network none");
  str_is(jstr(b, "NetworkingConfig.EndpointsConfig"), "{\"none\":{}}", "endpoint of the network");
  str_is(jstr(b, "HostConfig.ConsoleSize"), "[30,100]", "console size with -t");
  str_is(jstr(b, "HostConfig.MemorySwappiness"), "-1", "MemorySwappiness -1 as docker");
  json_object_put(b);
  cli_run_opts_free(&o);
  cli_strv_free(&pos);

  char *argv3[] = { "create", "-i", "busybox", NULL };
  memset(&o, 0, sizeof o);
  parse_run(&o, &pos, false, 3, argv3);
  b = cli_run_body(&o, false, pos.v[0], 0, NULL, 0, 0, why, sizeof why);
  str_is(jstr(b, "StdinOnce"), "true", "create -i: StdinOnce too (stdin closed when the attached client ends)");
  json_object_put(b);
  cli_run_opts_free(&o);
  cli_strv_free(&pos);

  char *argv2[] = { "run", "-d", "-i", "busybox", NULL };
  memset(&o, 0, sizeof o);
  parse_run(&o, &pos, true, 4, argv2);
  b = cli_run_body(&o, true, pos.v[0], 0, NULL, 0, 0, why, sizeof why);
  str_is(jstr(b, "AttachStdout"), "false", "-d attaches nothing");
  str_is(jstr(b, "StdinOnce"), "false", "-d -i: stdin kept open, not once");
  str_is(jstr(b, "OpenStdin"), "true", "-d -i: OpenStdin");
  str_is(jstr(b, "Cmd"), "null", "no command: null (the image's)");
  str_is(jstr(b, "Entrypoint"), "null", "no --entrypoint: null");
  str_is(jstr(b, "HostConfig.NetworkMode"), "\"default\"", "NetworkMode default");
  str_is(jstr(b, "HostConfig.PidsLimit"), "null", "no --pids-limit: null");
  json_object_put(b);
  cli_run_opts_free(&o);
  cli_strv_free(&pos);

  const struct {
    const char *flag, *value, *why;
  } bad[] = {
    { "-m", "abc", "invalid argument \"abc\" for \"-m, --memory\" flag: invalid size: 'abc'" },
    { "--cpus", "x", "invalid argument \"x\" for \"--cpus\" flag: failed to parse x as a rational number" },
    { "--pids-limit", "ten", "invalid argument \"ten\" for \"--pids-limit\" flag: strconv.ParseInt: parsing \"ten\": "
                             "invalid syntax" },
    { "--ulimit", "nofile=2:1", "invalid argument \"nofile=2:1\" for \"--ulimit\" flag: ulimit soft limit must be less "
                                "than or equal to hard limit: 2 > 1" },
    { "--security-opt", "seccomp", "Invalid --security-opt: \"seccomp\"" },
    { "--security-opt", badsec, NULL },
    { "--env-file", "/nonexistent/env", "open /nonexistent/env: No such file or directory" },
    { "--pull", "sometimes", "invalid pull option: 'sometimes': must be one of \"always\", \"missing\" or \"never\"" },
    { "-a", "stdin", "Conflicting options: -a and -d" },
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char val[200];
    if (strcmp(bad[i].flag, "--security-opt") == 0 && bad[i].why == NULL)
      snprintf(val, sizeof val, "seccomp=%s", bad[i].value);
    else
      snprintf(val, sizeof val, "%s", bad[i].value);
    char *av[] = { "run", "-d", (char *)bad[i].flag, val, "busybox", NULL };
    memset(&o, 0, sizeof o);
    parse_run(&o, &pos, true, 5, av);
    why[0] = '\0';
    b = cli_run_body(&o, true, "busybox", 0, NULL, 0, 0, why, sizeof why);
    if (bad[i].why)
      str_is(b ? "built" : why, bad[i].why, bad[i].why);
    else
      tap_ok(b == NULL && strstr(why, "compacting json for seccomp profile") != NULL, "a seccomp file that does not "
             "parse: %s", why);
    json_object_put(b);
    cli_run_opts_free(&o);
    cli_strv_free(&pos);
  }
  unlink(envf);
  unlink(sec);
  unlink(badsec);
  rmdir(dir);
}

int main(void) {
  test_ram();
  test_cpus();
  test_ulimit();
  test_env();
  test_timestamps();
  test_compact();
  test_quote();
  test_ps_table();
  test_run_body();
  return tap_done();
}
