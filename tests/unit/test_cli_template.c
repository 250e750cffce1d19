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
  check("{{truncate .ID 3}}|{{pad .ID 2 1}}|{{pad \"\" 1 1}}|", "aaa|  aaaaaaaaaaaa ||\nb|  b ||\n",
        "truncate and pad (an empty string not padded, as docker's)");
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
  check("{{if .ID}}x{{end}", "ERR: template parsing error: template: :1: unclosed action", "an unclosed {{end");
  char *got = render("{{.}}");
  tap_ok(got && strncmp(got, "ERR: ", 5) == 0, "{{.}} refused (docker prints Go's struct dump)");
  free(got);
  got = render("{{pad .ID 99999999 0}}");
  tap_ok(got && strncmp(got, "ERR: ", 5) == 0, "a huge pad refused");
  free(got);
  got = render("{{truncate .ID -1}}");
  tap_ok(got && strncmp(got, "ERR: ", 5) == 0, "a negative truncate fails as Go's slice");
  free(got);
}

/* Control structures and the new functions over rows, as docker's ps --format. */
static void test_row_control(void) {
  check("{{if eq .ID \"b\"}}B{{else}}{{.ID}}{{end}}", "aaaaaaaaaaaa\nB\n", "if eq on a row field, else");
  check("{{range split .Names \" \"}}[{{.}}]{{end}}", "[web]\n[d\xc3\xa9j\xc3\xa0][\"vu\"][<x&y>]\n",
        "range over split, . is the element");
  check("{{with .Platform}}p{{else}}none{{end}}|{{if not .Platform}}nil{{end}}|{{len .ID}}",
        "none|nil|12\nnone|nil|1\n", "with over nil, not, len");
  check("table {{if .ID}}{{.ID}}{{end}}\t{{printf \"%.3s\" .Size}}",
        "IMAGE ID       SIZ\naaaaaaaaaaaa   1.9\nb              1.9\n",
        "table header through if and printf (the header runs on the names)");
}

static const char *sample_json =
    "{\"Id\":\"abc\",\"Name\":\"/web\",\"RestartCount\":2,"
    "\"State\":{\"Status\":\"running\",\"Running\":true,\"Pid\":42,\"Health\":null},"
    "\"Config\":{\"Env\":[\"A=1\",\"B=2\"],\"Cmd\":[\"sh\",\"-c\",\"echo hi\"],"
    "\"Labels\":{\"k\":\"v\",\"a\":\"<1>\"},\"Image\":\"busybox\"},"
    "\"HostConfig\":{\"Memory\":67108864,\"CpuShares\":0,\"Binds\":null},"
    "\"Ratio\":0.5,\"Zero\":0,\"Big\":1e+300,\"Empty\":[],\"EmptyMap\":{},\"Nested\":[{\"b\":1,\"a\":[true,null]}]}";

/* A template over sample_json, as inspect -f runs it; the text or "ERR: message". */
static char *render_json(const char *tpl) {
  json_object *o = json_tokener_parse(sample_json);
  char err[1024] = "", *out = NULL;
  size_t len = 0;
  cli_template_t *t = cli_template_parse(tpl, err, sizeof err);
  if (t != NULL) {
    FILE *f = open_memstream(&out, &len);
    int r = cli_template_exec_json(t, o, f, err, sizeof err);
    fclose(f);
    if (r < 0) {
      free(out);
      out = NULL;
    }
  }
  if (out == NULL && asprintf(&out, "ERR: %s", err) < 0)
    out = NULL;
  cli_template_free(t);
  json_object_put(o);
  return out;
}

static void check_json(const char *tpl, const char *want, const char *what) {
  char *got = render_json(tpl);
  str_is(got, want, what);
  free(got);
}

static void test_json_values(void) {
  check_json("{{.State.Status}} {{.State.Running}} {{.HostConfig.Memory}} {{.RestartCount}}",
             "running true 67108864 2", "strings raw, booleans, integers whole");
  check_json("{{.Config.Cmd}}|{{.Config.Labels}}|{{.State.Health}}|{{.Config.Labels.nope}}",
             "[sh -c echo hi]|map[a:<1> k:v]|<nil>|<no value>",
             "arrays [a b], maps in key order, null <nil>, a map's missing key <no value>");
  check_json("{{.Ratio}} {{.Big}} {{.Nested}} {{.Empty}} {{.EmptyMap}}", "0.5 1e+300 [map[a:[true <nil>] b:1]] [] map[]",
             "floats as Go's %v, nested values");
  check_json("{{json .Config.Env}} {{json .Config.Labels}} {{json .State}} {{json .Ratio}} {{json .Name}}",
             "[\"A=1\",\"B=2\"] {\"a\":\"<1>\",\"k\":\"v\"} {\"Status\":\"running\",\"Running\":true,\"Pid\":42,"
             "\"Health\":null} 0.5 \"/web\"",
             "json: compact, a map's keys sorted, a struct's order kept, no HTML escaping");
  check_json("{{.Nope}}", "ERR: template: :1:2: executing \"\" at <.Nope>: map has no entry for key \"Nope\"",
             "a missing member of a struct: the docker CLI's missingkey=error message");
  check_json("{{.State.Health.Status}}", "ERR: template: :1:8: executing \"\" at <.State.Health.Status>: nil data; "
             "no entry for key \"Status\"", "a field of null");
  check_json("{{.Name.X}}", "ERR: template: :1:7: executing \"\" at <.Name.X>: can't evaluate field X in type string",
             "a field of a string");
  char *got = render_json("{{.}}");
  tap_ok(got && strncmp(got, "map[Big:1e+300 Config:map[Cmd:[sh -c echo hi] ", 46) == 0,
         "{{.}}: the object as a map (docker prints its typed struct as {...})");
  free(got);
}

static void test_json_funcs(void) {
  check_json("{{index .Config.Labels \"k\"}}|{{index .Config.Labels \"x\"}}|{{index .Config.Env 1}}|"
             "{{index .Nested 0 \"a\" 0}}|{{index .EmptyMap \"x\"}}",
             "v||B=2|true|<no value>", "index: map key (a string map's zero value ''), array, chained");
  check_json("{{index .Config.Env 5}}", "ERR: template: :1:2: executing \"\" at <index .Config.Env 5>: error calling "
             "index: index out of range: 5", "index out of range");
  check_json("{{len .Config.Cmd}} {{len .Config.Labels}} {{len .Name}} {{.Config.Cmd | len}}", "3 2 4 3", "len");
  check_json("{{len .RestartCount}}|{{or .HostConfig.CpuShares \"none\"}} {{printf \"%d\" .Id}}", "1|0 %!d(string=abc)",
             "the typed pass failing (len of an int; CPUShares spelled CpuShares), the raw pass's json.Number answers");
  check_json("{{len .Nested.Nope}}", "ERR: template: :1:13: executing \"\" at <.Nested.Nope>: can't evaluate field "
             "Nope in type []interface {}", "the raw pass's error is the one reported");
  check_json("{{upper .Name}} {{lower \"AB\"}} {{title \"hello world\"}}", "/WEB ab Hello World", "case functions");
  check_json("{{split .Config.Image \"b\"}} {{split \"ab\" \"\"}} {{join .Config.Cmd \",\"}}",
             "[ usy ox] [a b] sh,-c,echo hi", "split, join");
  check_json("{{join .Name \",\"}}", "ERR: template: :1:7: executing \"\" at <.Name>: wrong type for value; "
             "expected []string; got string", "join of a string");
  check_json("{{printf \"%s-%d\" .Name .RestartCount}}|{{printf \"%v|%q|%5s|%-4d|%05d|%x|%t\" .Config.Cmd .Name "
             "\"x\" 7 42 255 true}}",
             "/web-2|[sh -c echo hi]|\"/web\"|    x|7   |00042|ff|true", "printf verbs, flags, widths");
  check_json("{{printf \"%d %s\" .Name}}|{{printf \"x%%\" 1}}", "%!d(string=/web) %!s(MISSING)|x%%!(EXTRA int=1)",
             "printf: fmt's marks for a bad verb, a missing and an extra argument");
  check_json("{{print \"a\" 1 2 \"b\"}}|{{println .Name 1}}", "a1 2b|/web 1\n", "print and println spacing");
  check_json("{{and .State.Running .Name}} {{and 0 1}} {{or .Empty .Name}} {{or 0 \"\"}} {{not .Empty}} {{not 1}}",
             "/web 0 /web  true false", "and, or give the deciding value; not");
  check_json("{{ne 1 2}} {{lt 1 2}} {{le 2 2}} {{gt \"b\" \"a\"}} {{ge 1 2}} {{eq .RestartCount 1 2}} {{eq true true}}",
             "true true true true false true true", "comparisons, eq with several");
  check_json("{{eq .Name 1}}", "ERR: template: :1:2: executing \"\" at <eq .Name 1>: error calling eq: incompatible "
             "types for comparison", "eq of a string and a number");
  check_json("{{lt true false}}", "ERR: template: :1:2: executing \"\" at <lt true false>: error calling lt: invalid "
             "type for comparison", "lt of booleans");
  check_json("{{eq 1}}", "ERR: template: :1:2: executing \"\" at <eq 1>: error calling eq: missing argument for "
             "comparison", "eq alone");
  check_json("{{printf}}", "ERR: template: :1:2: executing \"\" at <printf>: wrong number of args for printf: want "
             "at least 1 got 0", "printf without a format");
}

static void test_json_control(void) {
  check_json("{{range .Config.Env}}{{.}},{{end}}|{{range .Config.Labels}}{{.}};{{end}}|{{range 3}}{{.}}{{end}}",
             "A=1,B=2,|<1>;v;|012", "range over an array, a map's values in key order, an integer");
  check_json("{{range .Empty}}x{{else}}none{{end}}|{{range .HostConfig.Binds}}x{{else}}nil{{end}}", "none|nil",
             "range else for empty and null");
  check_json("{{if .State.Running}}up{{else}}down{{end}}", "up", "if else");
  check_json("{{if eq .State.Status \"exited\"}}e{{else if eq .State.Status \"running\"}}r{{else}}o{{end}}", "r",
             "else if");
  check_json("{{if .Empty}}a{{else if .EmptyMap}}b{{else if .Zero}}c{{else if \"\"}}d"
             "{{else if .State.Health}}e{{else}}f{{end}}", "f", "Go's truth: empty array, map, 0, \"\", nil are false");
  check_json("{{with .State}}{{.Status}}/{{.Pid}}{{end}}|{{with .State.Health}}h{{else}}no health{{end}}|"
             "{{with .Nope2.X}}{{end}}",
             "ERR: template: :1:104: executing \"\" at <.Nope2.X>: map has no entry for key \"Nope2\"",
             "with: an error inside is reported");
  check_json("{{with .State}}{{.Status}}/{{.Pid}}{{end}}|{{with .State.Health}}h{{else}}no health{{end}}|"
             "{{with .EmptyMap}}m{{else with .Name}}{{.}}{{end}}",
             "running/42|no health|/web", "with sets dot; else; else with");
  check_json("{{range .Config.Env}}{{if eq . \"B=2\"}}[{{.}}]{{end}}{{end}}{{- /* c */ -}} {{.Id}}",
             "[B=2]abc", "nested blocks; dot back after the range");
  check_json("{{range .Name}}x{{end}}", "ERR: template: :1:8: executing \"\" at <.Name>: range can't iterate over /web",
             "range over a string");
}

static void test_control_errors(void) {
  check_json("{{if .Id}}a", "ERR: template: :1: unexpected EOF", "an if without its end");
  check_json("a{{end}}", "ERR: template: :1: unexpected {{end}}", "a stray end");
  check_json("{{else}}", "ERR: template: :1: unexpected {{else}}", "a stray else");
  check_json("{{if 1}}{{else}}{{else}}{{end}}", "ERR: template: :1: expected end; found {{else}}", "two elses");
  check_json("{{if}}{{end}}", "ERR: template: :1: missing value for if", "if without a pipeline");
  check_json("{{range}}{{end}}", "ERR: template: :1: missing value for range", "range without a pipeline");
  check_json("{{end 1}}", "ERR: template: :1: unexpected \"1\" in end", "end with an argument");
  static const char *const refused[] = { "{{define \"x\"}}{{end}}", "{{template \"x\"}}", "{{block \"x\" .}}{{end}}",
                                         "{{slice .Name 1}}", "{{range .Empty}}{{break}}{{end}}", NULL };
  char *got;
  for (const char *const *r = refused; *r; r++) {
    got = render_json(*r);
    tap_ok(got && strncmp(got, "ERR: template: :1: ", 19) == 0 && strstr(got, "not supported"),
           "refused with a parse error: %s", *r);
    if (got && !strstr(got, "not supported"))
      tap_diag("got %s", got);
    free(got);
  }
  got = render_json("{{range 2000000000}}x{{end}}");
  tap_ok(got && strstr(got, "berth ranges over an integer up to 1000000"), "range over a huge integer refused");
  free(got);
  char deep[2000] = "";
  for (int i = 0; i < 150; i++)
    strcat(deep, "{{if 1}}");
  got = render_json(deep);
  tap_ok(got && strstr(got, "nest at most"), "nesting is bounded");
  free(got);
}

/* Parenthesised pipelines and variables, as the docker CLI 28.2 printed
 * them (tests/e2e/cli-containers.bats compares more against it). */
static void test_parens_and_vars(void) {
  check_json("{{if and .State.Running (eq .Config.Image \"busybox\")}}y{{end}} {{printf \"%s|%s\" (index "
             ".Config.Labels \"k\") (index .Config.Env 1)}} {{len (printf \"%s%s\" (index .Config.Env 0) .Name)}}",
             "y v|B=2 7", "parenthesised arguments, nested");
  check_json("{{(index .Nested 0).b}} {{(.State).Pid}} {{(.Config.Cmd)}} {{(len .Name) | printf \"%d\"}}",
             "1 42 [sh -c echo hi] 4", "a field chain on parentheses, a parenthesised first command");
  check_json("{{$n := .Name}}{{$n}} {{$n = \"x\"}}{{$n}} {{$.State.Status}} {{$x := $n}}{{$x}}",
             "/web x running x", "declaration prints nothing, assignment, $ the root, $x := $n");
  check_json("{{range $i, $e := .Config.Env}}{{$i}}={{$e}} {{end}}|{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};"
             "{{end}}|{{range $e := .Config.Cmd}}[{{$e}}]{{end}}|{{range $i := 2}}{{$i}}{{end}}",
             "0=A=1 1=B=2 |a=<1>;k=v;|[sh][-c][echo hi]|01", "range $i, $e (arrays, maps by key) and range $e");
  check_json("{{range .Config.Env}}{{$.Name}}{{.}} {{end}}{{with $s := .State}}{{$s.Pid}}{{.Status}}{{end}}"
             "{{if $r := .State.Running}}{{$r}}{{else}}{{$r}}{{end}}",
             "/webA=1 /webB=2 42runningtrue", "$ inside range, with and if declarations");
  check_json("{{$x := 1}}{{range .Config.Env}}{{$x = .}}{{$y := 2}}{{$y}}{{end}}{{$x}}", "22B=2",
             "assignment reaches the outer variable; the body's declarations end with each iteration");
  check_json("{{$x}}", "ERR: template: :1: undefined variable \"$x\"", "an undefined variable: Go's parse error");
  check_json("{{if 1}}{{$y := 1}}{{end}}{{$y}}", "ERR: template: :1: undefined variable \"$y\"",
             "a variable ends at its block's end");
  check_json("{{$x = 1}}", "ERR: template: :1:7: executing \"\" at <1>: undefined variable: $x",
             "assignment to an undeclared variable fails when run, as Go's");
  check_json("{{(index .Config.Labels \"k\").Nope}}", "ERR: template: :1:24: executing \"\" at <\"k\">: can't "
             "evaluate field Nope in type string", "a chain on parentheses fails at the last node visited");
  check_json("{{$s := .State}}{{$s.Nope}}", "ERR: template: :1:20: executing \"\" at <$s.Nope>: map has no entry "
             "for key \"Nope\"", "a variable's chain fails as Go's");
  check_json("{{range $i, $e := 3}}{{end}}", "ERR: template: :1:18: executing \"\" at <3>: can't use 3 to iterate "
             "over more than one variable", "two variables over an integer");
  check_json("{{.Name | $}}", "ERR: template: :1:10: executing \"\" at <$>: can't give argument to non-function $",
             "a variable given an argument");
  check_json("{{(.Name}}", "ERR: template: :1: unclosed left paren", "unclosed left paren");
  check_json("{{.Name)}}", "ERR: template: :1: unexpected right paren", "unexpected right paren");
  check_json("{{()}}", "ERR: template: :1: missing value for parenthesized pipeline", "empty parentheses");
  check_json("{{$a, $b := .Name}}", "ERR: template: :1: too many declarations in command", "two declarations");
  check_json("{{($x := 1)}}", "ERR: template: :1: a declaration in parentheses is not supported by berth's templates",
             "a declaration in parentheses refused clearly");
  check_json("{{range $a, 1}}{{end}}", "ERR: template: :1: range can only initialize variables", "range $a, 1");
  check("{{$n := .Names}}{{if eq (len $n) 3}}{{$n}}{{else}}{{(printf \"%.1s\" $.ID)}}{{end}}", "web\nb\n",
        "variables and parentheses over rows");
  char deep[400] = "{{";
  for (int i = 0; i < 150; i++)
    strcat(deep, "(");
  strcat(deep, "1");
  for (int i = 0; i < 150; i++)
    strcat(deep, ")");
  strcat(deep, "}}");
  char *got = render_json(deep);
  tap_ok(got && strstr(got, "nest parentheses at most 100 deep"), "parentheses nest at most 100 deep");
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

/* version/info -f: JSON objects read as Go structs (renamed, zero, unknown fields). */
static char *typed(json_object *top, const cli_tpl_struct_t *st, size_t n, const char *format) {
  char msg[1024], *buf = NULL;
  size_t len = 0;
  cli_template_t *t = cli_template_parse(format, msg, sizeof msg);
  FILE *f = open_memstream(&buf, &len);
  if (t == NULL || f == NULL || cli_template_exec_typed(t, top, st, n, f, msg, sizeof msg) < 0)
    fprintf(f, "ERR: %s", t ? msg : "parse");
  fclose(f);
  cli_template_free(t);
  return buf;
}

static void test_typed(void) {
  json_object *top = json_tokener_parse("{\"Server\":{\"Version\":\"1\",\"ApiVersion\":\"1.41\"}}");
  json_object *server = json_object_object_get(top, "Server");
  static const cli_tpl_field_t top_fields[] = { { "Server", "Server", 'p' }, { NULL, NULL, 0 } };
  static const cli_tpl_field_t server_fields[] = {
    { "Version", "Version", 's' }, { "APIVersion", "ApiVersion", 's' }, { "BuildTime", "BuildTime", 's' },
    { "Experimental", "Experimental", 'b' }, { NULL, NULL, 0 },
  };
  const cli_tpl_struct_t st[] = { { top, "system.versionInfo", top_fields }, { server, "*types.Version", server_fields } };
  char *got = typed(top, st, 2, "{{.Server.APIVersion}}|{{.Server.BuildTime}}|{{.Server.Experimental}}");
  str_is(got, "1.41||false", "typed: a renamed field, omitted members read as zero");
  free(got);
  got = typed(top, st, 2, "{{.Server.ApiVersion}}");
  str_is(got, "ERR: template: :1:9: executing \"\" at <.Server.ApiVersion>: can't evaluate field ApiVersion in type "
              "*types.Version", "typed: the JSON name is not the Go field");
  free(got);
  got = typed(top, st, 2, "{{.Nope}}");
  str_is(got, "ERR: template: :1:2: executing \"\" at <.Nope>: can't evaluate field Nope in type system.versionInfo",
         "typed: an unknown field names the Go type");
  free(got);
  json_object_put(top);
}

int main(void) {
  test_format_string();
  test_render();
  test_table();
  test_errors();
  test_row_control();
  test_json_values();
  test_json_funcs();
  test_json_control();
  test_control_errors();
  test_parens_and_vars();
  test_go_json();
  test_ps_row();
  test_typed();
  return tap_done();
}
