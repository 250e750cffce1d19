/* The berth CLI's formatting, checked against what the docker CLI prints:
 * go-units sizes and durations, id truncation, the images and history
 * tables (their rows through docker's default formats and tabwriter), filters in Docker's map form, URL escaping,
 * Go's json.Indent, the progress bar and the option parser. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "tap.h"
#include "template.h"

static int str_is(const char *got, const char *want, const char *what) {
  int ok = got && strcmp(got, want) == 0;
  if (!tap_ok(ok, "%s", what))
    tap_diag("got [%s], want [%s]", got ? got : "(null)", want);
  return ok;
}

static void test_sizes(void) {
  static const struct {
    double bytes;
    int precision;
    const char *want;
  } cases[] = {
    { 0, 3, "0B" },          { 512, 3, "512B" },        { 999, 3, "999B" },     { 1000, 3, "1kB" },
    { 1234, 3, "1.23kB" },   { 4261000, 3, "4.26MB" },  { 4264960, 3, "4.26MB" }, { 200e6, 3, "200MB" },
    { 1.5e9, 3, "1.5GB" },   { 999999, 3, "1e+03kB" },  { 4264960, 4, "4.265MB" }, { 7.3e12, 4, "7.3TB" },
    { 2e24, 3, "2YB" },      { 2e27, 3, "2e+03YB" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buf[32], what[64];
    cli_human_size(cases[i].bytes, cases[i].precision, buf, sizeof buf);
    snprintf(what, sizeof what, "human size %.0f (precision %d)", cases[i].bytes, cases[i].precision);
    str_is(buf, cases[i].want, what);
  }
}

static void test_durations(void) {
  static const struct {
    double seconds;
    const char *want;
  } cases[] = {
    { -5, "Less than a second" },   { 0.5, "Less than a second" }, { 1, "1 second" },
    { 59.9, "59 seconds" },         { 60, "About a minute" },      { 119, "About a minute" },
    { 120, "2 minutes" },           { 3599, "59 minutes" },        { 3600, "About an hour" },
    { 5399, "About an hour" },      { 5400, "2 hours" },           { 47 * 3600, "47 hours" },
    { 48 * 3600, "2 days" },        { 13 * 86400, "13 days" },     { 14 * 86400, "2 weeks" },
    { 59 * 86400, "8 weeks" },      { 60 * 86400, "2 months" },    { 729 * 86400, "24 months" },
    { 730 * 86400, "2 years" },     { 56.0 * 365 * 86400, "56 years" },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buf[64], what[80];
    cli_human_duration(cases[i].seconds, buf, sizeof buf);
    snprintf(what, sizeof what, "human duration %.1fs", cases[i].seconds);
    str_is(buf, cases[i].want, what);
  }
  char buf[64];
  cli_created_since(1000, 1000 + 14 * 86400 + 5, buf, sizeof buf);
  str_is(buf, "2 weeks ago", "created since: 2 weeks ago");
}

static void test_ids(void) {
  char buf[80];
  cli_truncate_id("sha256:a416a98b71e224a31ee99cff8e16063554498227d2b696152a9c3e0aa65e5824", buf, sizeof buf);
  str_is(buf, "a416a98b71e2", "id: sha256: prefix dropped, 12 hex kept");
  cli_truncate_id("a416a98b71e224a31ee99cff", buf, sizeof buf);
  str_is(buf, "a416a98b71e2", "id without algorithm");
  cli_truncate_id("<missing>", buf, sizeof buf);
  str_is(buf, "<missing>", "history's <missing> unchanged");
  cli_truncate_id("sha256:abc", buf, sizeof buf);
  str_is(buf, "abc", "short id kept");

  char *e = cli_ellipsis("/bin/sh -c #(nop) ADD file:71356d2ad59aa3119d9f5b in /", 45);
  str_is(e, "/bin/sh -c #(nop) ADD file:71356d2ad59aa3119\xe2\x80\xa6", "ellipsis at 45 characters");
  tap_ok(cli_utf8_width(e) == 45, "ellipsis result is 45 characters wide");
  free(e);
  e = cli_ellipsis("short", 45);
  str_is(e, "short", "short text not cut");
  free(e);
}

static void test_table(void) {
  static const char *const headers[] = { "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE" };
  cli_table_t *t = cli_table_new(5, headers);
  cli_table_set_minwidth(t, 10);
  const char *row1[] = { "busybox", "latest", "a416a98b71e2", "2 weeks ago", "4.26MB" };
  const char *row2[] = { "registry.example.com/team/app", "v1.2.3", "0123456789ab", "About an hour ago", "120MB" };
  cli_table_add(t, row1);
  char *text = cli_table_render(t, "");
  str_is(text,
         "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n"
         "busybox      latest    a416a98b71e2   2 weeks ago   4.26MB\n",
         "images table: docker's tabwriter layout (min width 10, padding 3)");
  free(text);
  cli_table_add(t, row2);
  text = cli_table_render(t, "");
  str_is(text,
         "REPOSITORY                      TAG       IMAGE ID       CREATED             SIZE\n"
         "busybox                         latest    a416a98b71e2   2 weeks ago         4.26MB\n"
         "registry.example.com/team/app   v1.2.3    0123456789ab   About an hour ago   120MB\n",
         "images table: columns grow with the widest cell");
  free(text);
  cli_table_free(t);

  static const char *const h2[] = { "A", "B" };
  t = cli_table_new(2, h2);
  const char *r[] = { "\xe2\x80\xa6x", "y" };
  cli_table_add(t, r);
  text = cli_table_render(t, " ");
  str_is(text, " A    B\n \xe2\x80\xa6x   y\n", "widths count characters, not bytes; indent; no min width by default");
  free(text);
  cli_table_free(t);
}

#define IMAGES_TABLE "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
#define IMAGES_TABLE_DIGEST "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
#define HISTORY_TABLE "table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"
#define HISTORY_TABLE_RAW "table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}"

/* What `berth images` prints for list with docker's format (as cmd_images.c
 * calls it). Caller frees. */
static char *images_text(json_object *list, const char *format, bool digests, bool no_trunc, int64_t now) {
  cli_row_t *rows = NULL, proto;
  size_t n = 0;
  char *out = NULL, err[512];
  if (cli_images_rows(list, digests || strstr(format, "{{.Digest}}"), digests, no_trunc, now, &rows, &n) < 0)
    return NULL;
  cli_image_row(NULL, "", "", "", no_trunc, now, &proto);
  if (cli_format_write(format, rows, n, &proto, &out, err, sizeof err) < 0)
    tap_diag("%s", err);
  cli_row_clear(&proto);
  cli_rows_free(rows, n);
  return out;
}

static char *history_text(json_object *list, const char *format, bool human, bool no_trunc, int64_t now) {
  cli_row_t *rows = NULL, proto;
  size_t n = 0;
  char *out = NULL, err[512];
  if (cli_history_rows(list, human, no_trunc, now, &rows, &n) < 0)
    return NULL;
  cli_history_row(NULL, human, no_trunc, now, &proto);
  if (cli_format_write(format, rows, n, &proto, &out, err, sizeof err) < 0)
    tap_diag("%s", err);
  cli_row_clear(&proto);
  cli_rows_free(rows, n);
  return out;
}

static void test_images_table(void) {
  const char *json =
      "[{\"Id\":\"sha256:1111111111111111111111111111111111111111111111111111111111111111\","
      "\"RepoTags\":[\"busybox:latest\",\"me/bb:v1\",\"busybox:1.36\"],"
      "\"RepoDigests\":[\"busybox@sha256:dddd\"],\"Created\":1000,\"Size\":4261000},"
      "{\"Id\":\"sha256:2222222222222222222222222222222222222222222222222222222222222222\","
      "\"RepoTags\":[],\"RepoDigests\":[],\"Created\":100000,\"Size\":999},"
      "{\"Id\":\"sha256:3333333333333333333333333333333333333333333333333333333333333333\","
      "\"RepoTags\":[\"docker.io/library/alpine:3\"],\"RepoDigests\":null,\"Created\":1000,\"Size\":0}]";
  json_object *list = json_tokener_parse(json);
  int64_t now = 1000 + 14 * 86400;
  char *text = images_text(list, IMAGES_TABLE, false, false, now);
  str_is(text,
         "REPOSITORY   TAG       IMAGE ID       CREATED       SIZE\n"
         "busybox      latest    111111111111   2 weeks ago   4.26MB\n"
         "busybox      1.36      111111111111   2 weeks ago   4.26MB\n"
         "me/bb        v1        111111111111   2 weeks ago   4.26MB\n"
         "<none>       <none>    222222222222   12 days ago   999B\n"
         "alpine       3         333333333333   2 weeks ago   0B\n",
         "images: a row per repository:tag, grouped by repository; dangling as <none>; familiar names");
  free(text);

  text = images_text(list, IMAGES_TABLE_DIGEST, true, true, now);
  const char *want_digests =
      "REPOSITORY   TAG       DIGEST        IMAGE ID                                                                  CREATED       SIZE\n"
      "busybox      latest    sha256:dddd   sha256:1111111111111111111111111111111111111111111111111111111111111111   2 weeks ago   4.26MB\n"
      "busybox      1.36      sha256:dddd   sha256:1111111111111111111111111111111111111111111111111111111111111111   2 weeks ago   4.26MB\n"
      "me/bb        v1        <none>        sha256:1111111111111111111111111111111111111111111111111111111111111111   2 weeks ago   4.26MB\n"
      "<none>       <none>    <none>        sha256:2222222222222222222222222222222222222222222222222222222222222222   12 days ago   999B\n"
      "alpine       3         <none>        sha256:3333333333333333333333333333333333333333333333333333333333333333   2 weeks ago   0B\n";
  str_is(text, want_digests, "images --digests --no-trunc: DIGEST column, full ids");
  free(text);
  json_object_put(list);

  list = json_tokener_parse("[{\"Id\":\"sha256:44\",\"RepoTags\":[\"<none>:<none>\"],"
                            "\"RepoDigests\":[\"<none>@<none>\"],\"Created\":0,\"Size\":1},"
                            "{\"Id\":\"sha256:55\",\"RepoTags\":[],\"RepoDigests\":[\"x@sha256:aa\",\"x@sha256:bb\"],"
                            "\"Created\":0,\"Size\":1}]");
  text = images_text(list, IMAGES_TABLE, false, false, 0);
  str_is(text,
         "REPOSITORY   TAG       IMAGE ID   CREATED                  SIZE\n"
         "<none>       <none>    44         Less than a second ago   1B\n"
         "x            <none>    55         Less than a second ago   1B\n",
         "images: <none>:<none> is dangling; digest-only repository shown once without --digests");
  free(text);
  text = images_text(list, "{{.Repository}} {{.Digest}}", false, false, 0);
  str_is(text, "<none> <none>\nx \n", "images --format with .Digest: digest-only repository still once");
  free(text);
  text = images_text(list, "{{.Repository}} {{.Digest}}", true, false, 0);
  str_is(text, "<none> <none>\nx sha256:aa\nx sha256:bb\n", "images --digests: a row per digest");
  free(text);
  json_object_put(list);
}

static void test_history_table(void) {
  json_object *list = json_tokener_parse(
      "[{\"Id\":\"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"Created\":1700000000,"
      "\"CreatedBy\":\"/bin/sh -c #(nop)\\tCMD [\\\"sh\\\"] and a long tail that is cut off\",\"Size\":0,"
      "\"Comment\":\"\"},"
      "{\"Id\":\"<missing>\",\"Created\":1699990000,\"CreatedBy\":\"ADD busybox\",\"Size\":4261000,"
      "\"Comment\":\"berth setup\"},"
      "{\"Id\":\"<missing>\",\"Created\":0,\"CreatedBy\":\"\",\"Size\":5,\"Comment\":\"\"}]");
  char *text = history_text(list, HISTORY_TABLE, true, false, 1700000000 + 3 * 3600);
  str_is(text,
         "IMAGE          CREATED       CREATED BY                                      SIZE      COMMENT\n"
         "aaaaaaaaaaaa   3 hours ago   /bin/sh -c #(nop) CMD [\"sh\"] and a long tail\xe2\x80\xa6   0B        \n"
         "<missing>      6 hours ago   ADD busybox                                     4.26MB    berth setup\n"
         "<missing>      N/A                                                           5B        \n",
         "history: tabs to spaces, CREATED BY cut at 45, N/A for times before 2000");
  free(text);

  setenv("TZ", "UTC", 1);
  tzset();
  text = history_text(list, HISTORY_TABLE_RAW, false, true, 0);
  tap_ok(text && strstr(text, "IMAGE ") == text && strstr(text, "CREATED AT") &&
             strstr(text, "2023-11-14T22:13:20Z") && strstr(text, "4261000") &&
             strstr(text, "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa") &&
             strstr(text, "and a long tail that is cut off"),
         "history --human=false --no-trunc: RFC 3339 times, sizes in bytes, full ids and commands");
  free(text);
  json_object_put(list);
  char buf[64];
  setenv("TZ", "CET-1", 1);
  tzset();
  cli_rfc3339_local(0, buf, sizeof buf);
  str_is(buf, "1970-01-01T01:00:00+01:00", "RFC 3339 with a zone offset");
}

static void test_filters(void) {
  cli_strv_t f = { 0 };
  char *j = cli_filters_json(&f, NULL, NULL);
  str_is(j, "{}", "no filters: {}");
  free(j);
  j = cli_filters_json(&f, "dangling", "true");
  str_is(j, "{\"dangling\":{\"true\":true}}", "prune's dangling=true in the map form");
  free(j);
  cli_strv_push(&f, "label=a=b");
  cli_strv_push(&f, " Dangling = false ");
  cli_strv_push(&f, "label=com.example.x");
  cli_strv_push(&f, "label=a=b");
  cli_strv_push(&f, "reference=\"q\\uote\"");
  j = cli_filters_json(&f, "before", "busybox:latest");
  str_is(j,
         "{\"before\":{\"busybox:latest\":true},\"dangling\":{\"false\":true},"
         "\"label\":{\"a=b\":true,\"com.example.x\":true},\"reference\":{\"\\\"q\\\\uote\\\"\":true}}",
         "filters: names lowercased and trimmed, sorted, merged, duplicates once, JSON-escaped");
  free(j);
  cli_strv_free(&f);
  tap_ok(cli_filter_valid("a=b") && cli_filter_valid("a=") && !cli_filter_valid("dangling"),
         "a filter needs name=value");

  char *e = cli_url_escape("{\"dangling\":{\"true\":true}}", false);
  str_is(e, "%7B%22dangling%22%3A%7B%22true%22%3Atrue%7D%7D", "filters URL-encoded in the query");
  free(e);
  e = cli_url_escape("localhost:5000/me/app:v1 x?#", true);
  str_is(e, "localhost:5000/me/app:v1%20x%3F%23", "image names keep / and : in paths, the rest escaped");
  free(e);
}

static void test_json_indent(void) {
  char *s = cli_json_indent("[{\"Id\":\"sha256:ab\",\"RepoTags\":[\"a:b\", \"c:d\"],\"Empty\":[],"
                            "\"Obj\":{},\"S\":\"x,y:{[\\\"]}\",\"N\":-1.5e3,\"B\":true,\"Z\":null}]",
                            "    ");
  str_is(s,
         "[\n"
         "    {\n"
         "        \"Id\": \"sha256:ab\",\n"
         "        \"RepoTags\": [\n"
         "            \"a:b\",\n"
         "            \"c:d\"\n"
         "        ],\n"
         "        \"Empty\": [],\n"
         "        \"Obj\": {},\n"
         "        \"S\": \"x,y:{[\\\"]}\",\n"
         "        \"N\": -1.5e3,\n"
         "        \"B\": true,\n"
         "        \"Z\": null\n"
         "    }\n"
         "]",
         "inspect output indented like Go's json.Indent (4 spaces, strings untouched)");
  free(s);
  s = cli_json_indent("[]", "    ");
  str_is(s, "[]", "no image: []");
  free(s);
}

static void test_progress(void) {
  char buf[256];
  cli_progress_format(buf, sizeof buf, "Loading", 0, 4261000, 120);
  str_is(buf, "Loading [>                                                  ]       0B/4.261MB",
         "progress: empty bar, 50 wide");
  cli_progress_format(buf, sizeof buf, "Loading", 2130500, 4261000, 120);
  str_is(buf, "Loading [=========================>                         ]  2.131MB/4.261MB", "progress: half");
  cli_progress_format(buf, sizeof buf, "Loading", 5000000, 4261000, 120);
  str_is(buf, "Loading [==================================================>]      5MB/4.261MB",
         "progress: full bar (current beyond total clamped in the bar)");
  cli_progress_format(buf, sizeof buf, "Loading", 100, 200, 50);
  tap_ok(strlen(buf) <= 50, "progress fits a narrow terminal (%zu <= 50)", strlen(buf));
  cli_progress_format(buf, sizeof buf, "Saving", 12300000, -1, 80);
  str_is(buf, "Saving   12.3MB", "progress of unknown total: bytes only");
}

static int run_parse(cli_ctx_t *ctx, const cli_opt_t *opts, cli_strv_t *pos, int argc, char **argv) {
  static const cli_command_t cmd = { .name = "test", .summary = "s", .usage = "[OPTIONS]", .options = "" };
  memset(ctx, 0, sizeof *ctx);
  cli_strv_free(pos);
  FILE *saved = stderr;
  stderr = fopen("/dev/null", "w"); /* usage errors are expected */
  int r = cli_parse_args(ctx, &cmd, opts, argc, argv, pos);
  fclose(stderr);
  stderr = saved;
  return r;
}

static void test_args(void) {
  bool quiet, all;
  const char *out;
  cli_strv_t filters = { 0 }, pos = { 0 };
  const cli_opt_t opts[] = {
    { 'q', "quiet", CLI_OPT_BOOL, &quiet, NULL, NULL },
    { 'a', "all", CLI_OPT_BOOL, &all, NULL, NULL },
    { 'o', "output", CLI_OPT_STRING, &out, NULL, NULL },
    { 'f', "filter", CLI_OPT_LIST, &filters, cli_filter_valid, "bad format" },
    { 0, "format", CLI_OPT_FORMAT, NULL, NULL, NULL },
    { 0, NULL, 0, NULL, NULL, NULL },
  };
  cli_ctx_t ctx;
  char *a1[] = { "x", "img1", "-qa", "--output=f.tar", "-f", "dangling=true", "--filter=label=x", "img2",
                 "--format", "json", "--", "-notaflag", NULL };
  quiet = all = false;
  out = NULL;
  int r = run_parse(&ctx, opts, &pos, 12, a1);
  tap_ok(r == -1 && quiet && all && out && strcmp(out, "f.tar") == 0 && filters.n == 2 && ctx.json &&
             pos.n == 3 && strcmp(pos.v[0], "img1") == 0 && strcmp(pos.v[2], "-notaflag") == 0,
         "options: combined shorts, --x=v, repeated lists, mixed with arguments, -- ends options");
  cli_strv_free(&filters);

  char *a2[] = { "x", "-ofile", "--quiet=false", "-a=false", NULL };
  quiet = all = true;
  r = run_parse(&ctx, opts, &pos, 4, a2);
  tap_ok(r == -1 && !quiet && !all && out && strcmp(out, "file") == 0, "options: -oVALUE, --bool=false, -b=false");

  char *a3[] = { "x", "--nosuch", NULL };
  tap_ok(run_parse(&ctx, opts, &pos, 2, a3) == CLI_EXIT_USAGE, "unknown flag: usage error 125");
  char *a4[] = { "x", "-o", NULL };
  tap_ok(run_parse(&ctx, opts, &pos, 2, a4) == CLI_EXIT_USAGE, "missing value: usage error 125");
  char *a5[] = { "x", "--filter", "nofilter", NULL };
  tap_ok(run_parse(&ctx, opts, &pos, 3, a5) == CLI_EXIT_USAGE && filters.n == 0, "invalid filter: usage error");
  char *a6[] = { "x", "--format", "yaml", NULL };
  tap_ok(run_parse(&ctx, opts, &pos, 3, a6) == CLI_EXIT_USAGE, "unsupported format: usage error");
  char *a7[] = { "x", "--quiet=maybe", NULL };
  tap_ok(run_parse(&ctx, opts, &pos, 2, a7) == CLI_EXIT_USAGE, "bad boolean: usage error");
  char *a8[] = { "x", "-", NULL };
  tap_ok(run_parse(&ctx, opts, &pos, 2, a8) == -1 && pos.n == 1, "\"-\" alone is an argument");

  static const cli_command_t cmd = { .name = "tag", .summary = "s", .usage = "A B", .options = "" };
  FILE *saved = stderr;
  stderr = fopen("/dev/null", "w");
  memset(&ctx, 0, sizeof ctx);
  int exact_bad = cli_check_args(&ctx, &cmd, &pos, 2, 2);
  int min_ok = cli_check_args(&ctx, &cmd, &pos, 1, -1);
  int none_bad = cli_check_args(&ctx, &cmd, &pos, 0, 0);
  fclose(stderr);
  stderr = saved;
  tap_ok(exact_bad == CLI_EXIT_USAGE && min_ok == -1 && none_bad == CLI_EXIT_USAGE, "argument counts checked");
  cli_strv_free(&pos);
}

int main(void) {
  test_sizes();
  test_durations();
  test_ids();
  test_table();
  test_images_table();
  test_history_table();
  test_filters();
  test_json_indent();
  test_progress();
  test_args();
  return tap_done();
}
