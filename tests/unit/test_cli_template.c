/* docker's --format in the berth CLI (cli/template.c, cli/list_format.c),
 * checked against what the docker CLI 28.2 prints: the format string's
 * escapes, fields, functions, pipes, trim markers, Go's error messages
 * (unknown field, unclosed action, undefined function), Go's JSON of
 * strings, the table header and Go's tabwriter, the rows of `ps`. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ctr.h"
#include "tap.h"
#include "template.h"

static int str_is(const char *got, const char *want, const char *what) {
  int ok = got && strcmp(got, want) == 0;
  if (!tap_ok(ok, "%s", what))
    tap_diag("got [%s], want [%s]", got ? got : "(null)", want);
  return ok;
}

/* An image-like row: ID, Names (with a quote), Size, Platform nil. */
static void sample_row(cli_row_t *r, const char *id, const char *names) {
  memset(r, 0, sizeof *r);
  r->type = "*formatter.imageContext";
  cli_row_add(r, "ID", "IMAGE ID", id);
  cli_row_add(r, "Names", "NAMES", names);
  cli_row_add(r, "Platform", "PLATFORM", NULL);
  cli_row_add(r, "Size", "SIZE", "1.98MB");
}

/* cli_format_write over two sample rows; the text, or "ERR: message". */
static char *render(const char *format) {
  cli_row_t rows[2], proto;
  sample_row(&rows[0], "aaaaaaaaaaaa", "web");
  sample_row(&rows[1], "b", "d\xc3\xa9j\xc3\xa0 \"vu\" <x&y>");
  sample_row(&proto, "", "");
  char *out = NULL, err[1024];
  if (cli_format_write(format, rows, 2, &proto, &out, err, sizeof err) < 0) {
    if (out != NULL)
      tap_diag("output despite an error");
    free(out);
    out = NULL;
    if (asprintf(&out, "ERR: %s", err) < 0)
      out = NULL;
  }
  cli_row_clear(&rows[0]);
  cli_row_clear(&rows[1]);
  cli_row_clear(&proto);
  return out;
}

static void check(const char *format, const char *want, const char *what) {
  char *got = render(format);
  str_is(got, want, what);
  free(got);
}

static void test_format_string(void) {
  char *s = cli_format_template_string("table {{.ID}}\\t{{.Names}}\\n");
  str_is(s, "{{.ID}}\t{{.Names}}\n", "\\t and \\n in the format are a tab and a newline, 'table' cut");
  free(s);
  s = cli_format_template_string("  x {{.ID}}\\q  ");
  str_is(s, "x {{.ID}}\\q", "spaces trimmed, other backslashes kept");
  free(s);
  s = cli_format_template_string("json");
  str_is(s, "{{json .}}", "'json' is {{json .}}");
  free(s);
  s = cli_format_template_string("table");
  str_is(s, "", "bare 'table' has no template (the caller uses its default)");
  free(s);
}

static void test_render(void) {
  check("{{.ID}} {{.Names}}", "aaaaaaaaaaaa web\nb d\xc3\xa9j\xc3\xa0 \"vu\" <x&y>\n", "fields and text, a line per row");
  check("{{.ID}}\\t{{.Size}}", "aaaaaaaaaaaa\t1.98MB\nb\t1.98MB\n", "a real tab without 'table'");
  check("{{upper .Names}}|{{.Names | lower}}|{{title .ID}}", "WEB|web|Aaaaaaaaaaaa\n"
        "D\xc3\x89J\xc3\x80 \"VU\" <X&Y>|d\xc3\xa9j\xc3\xa0 \"vu\" <x&y>|B\n", "upper (Unicode too), lower (pipe), title");
  check("{{truncate .ID 3}}|{{pad .ID 2 1}}|", "aaa|  aaaaaaaaaaaa |\nb|  b |\n", "truncate and pad");
  check("a  {{- .ID -}}  \\n z{{/* a comment */}}", "aaaaaaaaaaaaaz\nabz\n", "trim markers and comments");
  check("{{.Platform}}|{{json .Platform}}", "<nil>|null\n<nil>|null\n", "nil prints <nil>, its JSON null");
  check("{{\"}}\"}} }}", "}} }}\n}} }}\n", "a string literal holding }}, a stray }} is text");
  check("{{json .Names}}", "\"web\"\n\"d\xc3\xa9j\xc3\xa0 \\\"vu\\\" <x&y>\"\n",
        "{{json .Field}}: quotes escaped, unicode and <>& kept (SetEscapeHTML(false))");
  check("json",
        "{\"ID\":\"aaaaaaaaaaaa\",\"Names\":\"web\",\"Platform\":null,\"Size\":\"1.98MB\"}\n"
        "{\"ID\":\"b\",\"Names\":\"d\xc3\xa9j\xc3\xa0 \\\"vu\\\" \\u003cx\\u0026y\\u003e\",\"Platform\":null,"
        "\"Size\":\"1.98MB\"}\n",
        "json: one object per line, keys sorted, HTML escaped as json.Marshal");
  check("yaml", "yaml\nyaml\n", "a format without actions is text, printed per row");
}

static void test_table(void) {
  check("table {{.ID}}\\t{{.Names}}\\t{{.Size}}",
        "IMAGE ID       NAMES             SIZE\n"
        "aaaaaaaaaaaa   web               1.98MB\n"
        "b              d\xc3\xa9j\xc3\xa0 \"vu\" <x&y>   1.98MB\n",
        "table: header names, columns as wide as the widest cell (in characters) + 3");
  check("table {{.Size}}\\t{{.ID}}", "SIZE      IMAGE ID\n1.98MB    aaaaaaaaaaaa\n1.98MB    b\n",
        "table: a column is at least 10 wide");
  check("table {{upper .ID}} {{json .Names}} {{.Nope2 | lower}}", "ERR: template parsing error: template: :1:32: "
        "executing \"\" at <.Nope2>: can't evaluate field Nope2 in type *formatter.imageContext",
        "an unknown field fails the rows (and nothing is printed)");
  check("table {{upper .ID}}|{{json .Names}}|{{pad .Size 1 0}}",
        "IMAGE ID|NAMES| SIZE\nAAAAAAAAAAAA|\"web\"| 1.98MB\nB|\"d\xc3\xa9j\xc3\xa0 \\\"vu\\\" <x&y>\"| 1.98MB\n",
        "table header: functions give the name back, pad pads it");
  check("table {{.ID}} {{json .}}", "IMAGE ID \n"
        "aaaaaaaaaaaa {\"ID\":\"aaaaaaaaaaaa\",\"Names\":\"web\",\"Platform\":null,\"Size\":\"1.98MB\"}\n"
        "b {\"ID\":\"b\",\"Names\":\"d\xc3\xa9j\xc3\xa0 \\\"vu\\\" \\u003cx\\u0026y\\u003e\",\"Platform\":null,"
        "\"Size\":\"1.98MB\"}\n",
        "table header stops at {{json .}} as docker's does");

  char *t = cli_tabwrite("a\tbb\tc\nlonger than ten\tx\nno tabs at all\n\txy\tz\n");
  str_is(t,
         "a                 bb        c\n"
         "longer than ten   x\n"
         "no tabs at all\n"
         "          xy        z\n",
         "tabwriter: column blocks end at a line without the cell, as Go's");
  free(t);
  t = cli_tabwrite("");
  str_is(t, "", "tabwriter: nothing");
  free(t);
}

static void test_errors(void) {
  check("{{.Nope}}", "ERR: template parsing error: template: :1:2: executing \"\" at <.Nope>: can't evaluate field "
        "Nope in type *formatter.imageContext", "unknown field: Go's message");
  check("{{.ID.Foo}}", "ERR: template parsing error: template: :1:5: executing \"\" at <.ID.Foo>: can't evaluate "
        "field Foo in type string", "a field of a string: Go's message at the chain's second field");
  check("{{.ID", "ERR: template parsing error: template: :1: unclosed action", "unclosed action");
  check("x\\n{{.ID}} {{", "ERR: template parsing error: template: :2: unclosed action",
        "unclosed action on the second line");
  check("{{nope .ID}}", "ERR: template parsing error: template: :1: function \"nope\" not defined",
        "undefined function");
  check("{{}}", "ERR: template parsing error: template: :1: missing value for command", "empty action");
  check("{{\"abc}}", "ERR: template parsing error: template: :1: unterminated quoted string", "unterminated string");
  check("{{.ID \"x\"}}", "ERR: template parsing error: template: :1:2: executing \"\" at <.ID>: wrong number of "
        "args for ID: want 0 got 1", "arguments to a field");
  check("{{upper}}", "ERR: template parsing error: template: :1:2: executing \"\" at <upper>: wrong number of "
        "args for upper: want 1 got 0", "a function without its argument");
  char *got = render("{{if .ID}}x{{end}}");
  tap_ok(got && strstr(got, "ERR: template parsing error: template: :1: \"if\" is not supported"),
         "control structures refused with a parse error");
  free(got);
  got = render("{{.}}");
  tap_ok(got && strncmp(got, "ERR: ", 5) == 0, "{{.}} refused (docker prints Go's struct dump)");
  free(got);
  got = render("{{pad .ID 99999999 0}}");
  tap_ok(got && strncmp(got, "ERR: ", 5) == 0, "a huge pad refused");
  free(got);
  got = render("{{truncate .ID -1}}");
  tap_ok(got && strncmp(got, "ERR: ", 5) == 0, "a negative truncate fails as Go's slice");
  free(got);
  got = render("{{$x := .ID}}");
  tap_ok(got && strncmp(got, "ERR: ", 5) == 0, "variables refused");
  free(got);
}

static void test_go_json(void) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  cli_go_json_string(f, "q\"b\\s\n\t\r\b\f\x01\x7f<>&\xc3\xa9\xe2\x80\xa8\xff", true);
  fputc(' ', f);
  cli_go_json_string(f, "<>&", false);
  fclose(f);
  str_is(buf, "\"q\\\"b\\\\s\\n\\t\\r\\b\\f\\u0001\x7f\\u003c\\u003e\\u0026\xc3\xa9\\u2028\\ufffd\" \"<>&\"",
         "Go's JSON strings: short escapes, \\u00XX controls, HTML, U+2028, invalid bytes as U+FFFD");
  free(buf);
}

static void test_ps_row(void) {
  json_object *c = json_tokener_parse(
      "{\"Id\":\"4f2a6b1c9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a\",\"Names\":[\"/web\"],"
      "\"Image\":\"busybox\",\"Command\":\"sh -c 'echo \\\"hi\\\"'\",\"Created\":0,\"State\":\"running\","
      "\"Status\":\"Up 3 minutes\",\"Labels\":{\"z\":\"1\",\"a\":\"<2>\"},\"SizeRw\":12,\"SizeRootFs\":2000000,"
      "\"Mounts\":[{\"Name\":\"averyveryverylongvolumename\",\"Driver\":\"local\"},{\"Source\":\"/srv\"}],"
      "\"NetworkSettings\":{\"Networks\":{\"bridge\":{}}}}");
  setenv("TZ", "UTC", 1);
  tzset();
  cli_row_t row, proto;
  cli_ps_row(c, false, 90, &row);
  cli_ps_row(NULL, false, 0, &proto);
  char *out = NULL, err[512];
  cli_format_write("{{.ID}}|{{.Command}}|{{.CreatedAt}}|{{.RunningFor}}|{{.Labels}}|{{.Label \"a\"}}|"
                   "{{.Label \"none\"}}|{{.Size}}|{{.Mounts}}|{{.LocalVolumes}}|{{.Networks}}|{{.State}}",
                   &row, 1, &proto, &out, err, sizeof err);
  str_is(out,
         "4f2a6b1c9d8e|\"sh -c 'echo \\\"hi\\\"'\"|1970-01-01 00:00:00 +0000 UTC|About a minute ago|a=<2>,z=1|<2>||"
         "12B (virtual 2MB)|averyveryveryl\xe2\x80\xa6,/srv|1|bridge|running\n",
         "ps fields as docker's ContainerContext computes them");
  free(out);
  cli_format_write("json", &row, 1, &proto, &out, err, sizeof err);
  tap_ok(out && strncmp(out, "{\"Command\":", 11) == 0 && strstr(out, "\"Labels\":\"a=\\u003c2\\u003e,z=1\"") &&
             strstr(out, "\"Platform\":null,\"Ports\":\"\",\"RunningFor\":"),
         "ps json: docker's members in order, strings");
  free(out);
  cli_row_clear(&row);
  cli_row_clear(&proto);
  json_object_put(c);
}

int main(void) {
  test_format_string();
  test_render();
  test_table();
  test_errors();
  test_go_json();
  test_ps_row();
  return tap_done();
}
