/* docker's --format for the list commands (ps, images, history): a small
 * subset of Go's text/template over one row of formatter fields, and the
 * docker CLI's Context.Write around it (json, table + tabwriter). Pure:
 * checked in tests/unit/test_cli_template.c.
 *   template.c     parse: text, {{.Field}}, {{.Label "k"}}, {{json .}},
 *                  pipes (|), trim markers ({{- -}}), comments, literals,
 *                  if/else if/else, range/else, with/else, end,
 *                  ( pipeline ) arguments, variables ($, $x := , $x =)
 *   template_vars.c   variables: scope checked when parsed, a stack when run
 *   template_exec.c   execute over a row or (inspect -f) a JSON object
 *   template_funcs.c  json upper lower title pad truncate split join len
 *                  index printf print println eq ne lt le gt ge and or not
 *   template_value.c  values as Go prints them, Go's truth, JSON, printf
 *   list_format.c  rows, Go's JSON encoding, docker's format strings, the
 *                  tabwriter, cli_format_write */
#pragma once
#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One of docker's formatter methods (ContainerContext.ID, ...). */
typedef struct {
  const char *name;   /* "ID" */
  const char *header; /* "CONTAINER ID": what a table header shows */
  char *value;        /* owned; NULL is Go's nil (text "<nil>", JSON null) */
} cli_field_t;

#define CLI_ROW_MAX_FIELDS 16

typedef struct {
  const char *type;    /* the Go type in errors: "*formatter.ContainerContext" */
  size_t n;
  cli_field_t f[CLI_ROW_MAX_FIELDS]; /* in name order, as json.Marshal sorts a map */
  bool has_label;      /* the .Label "key" method exists (containers) */
  json_object *labels; /* its map (borrowed; may be NULL) */
} cli_row_t;

/* Adds a field (value copied; NULL stays nil). Fields must be added in
 * name order. Out of memory leaves the value NULL. */
void cli_row_add(cli_row_t *r, const char *name, const char *header, const char *value);
/* Adds a field and takes ownership of value (malloc'd). */
void cli_row_take(cli_row_t *r, const char *name, const char *header, char *value);
void cli_row_clear(cli_row_t *r);
/* Appends row (moved: its values now belong to *rows); -1 when out of memory. */
int cli_rows_push(cli_row_t **rows, size_t *n, const cli_row_t *row);
/* Clears every row and frees the array. */
void cli_rows_free(cli_row_t *rows, size_t n);
const cli_field_t *cli_row_field(const cli_row_t *r, const char *name);

/* The --format line of the list commands' help. */
#define CLI_FORMAT_HELP                                                                                      \
  "      --format string   Format output using a custom template:\n"                                         \
  "                        'table':            Print output in table format with column headers (default)\n" \
  "                        'table TEMPLATE':   Print output in table format using the given Go template\n"   \
  "                        'json':             Print in JSON format (one object per line)\n"                 \
  "                        'TEMPLATE':         Print output using the given Go template\n"

/* ---- template.c ---- */

typedef struct cli_template cli_template_t;

/* Parses text. NULL with Go's message in err ("template: :1: unclosed
 * action", "template: :1: function \"nope\" not defined"). */
cli_template_t *cli_template_parse(const char *text, char *err, size_t errlen);
/* Executes t for row, appending to out. header: as docker renders a table
 * header (fields give their header, the text functions but pad give their
 * argument back, unknown fields "<no value>"). -1 with Go's message in err
 * ("template: :1:2: executing \"\" at <.Nope>: can't evaluate field Nope in
 * type *formatter.imageContext"); out keeps what was written before. */
int cli_template_exec(const cli_template_t *t, const cli_row_t *row, bool header, FILE *out, char *err,
                      size_t errlen);
/* Executes t with obj (inspect's JSON object) as its dot, appending to out:
 * values as the docker CLI prints inspect's (strings raw, integers whole,
 * arrays [a b], objects map[k:v] in key order, null <nil>, a missing map
 * key <no value>). -1 with Go's message in err. */
int cli_template_exec_json(const cli_template_t *t, json_object *obj, FILE *out, char *err, size_t errlen);
/* inspect -f as the docker CLI's TemplateInspector: obj through t, then a
 * newline, appended to out; on an error nothing is appended and err has
 * "template parsing error: ..." (Go's message). */
/* A JSON object the docker CLI decodes into a Go struct (version, info):
 * its Go type for messages and its fields (Go name, JSON member, and the
 * zero value a member the engine left out reads as: 's' "", 'b' false, 'i'
 * 0, 'p' nil). fields NULL: the members are the Go names, and only they. */
typedef struct {
  const char *go, *json;
  char zero;
} cli_tpl_field_t;
typedef struct {
  json_object *obj; /* borrowed: matched by identity */
  const char *type; /* "*types.Version" */
  const cli_tpl_field_t *fields; /* ends with { NULL } */
} cli_tpl_struct_t;
/* Executes t once with obj as its dot, the objects of structs as their Go
 * structs (a field not in the struct: "can't evaluate field X in type T"). */
int cli_template_exec_typed(const cli_template_t *t, json_object *obj, const cli_tpl_struct_t *structs,
                            size_t nstructs, FILE *out, char *err, size_t errlen);
int cli_inspect_format(const cli_template_t *t, json_object *obj, FILE *out, char *err, size_t errlen);
/* Whether the template uses the field (directly or through {{json .}}). */
bool cli_template_uses(const cli_template_t *t, const char *field);
void cli_template_free(cli_template_t *t);

/* ---- list_format.c ---- */

/* Go's encoding/json of a string, quotes included, with or without its
 * HTML escaping (<, >, & as \u003c ...). Appends to out. */
void cli_go_json_string(FILE *out, const char *s, bool escape_html);
/* docker's Format.templateString: "json" -> "{{json .}}", the "table"
 * prefix cut, spaces trimmed, the two characters \t and \n made a tab and a
 * newline. Caller frees. */
char *cli_format_template_string(const char *format);
/* Go's text/tabwriter (minwidth 10, padding 3, spaces) over text, as the
 * docker CLI's tables are aligned. Caller frees; NULL when out of memory. */
char *cli_tabwrite(const char *text);
/* The same with another minwidth and padding (docker version: 20, 1). */
char *cli_tabwrite_with(const char *text, size_t minwidth, size_t padding);
/* version and info -f: format (not "json") as docker's template named name
 * ("version", or "" for info) over obj, read through structs, then a
 * newline, on stdout (tabwrite: aligned as docker version aligns); what
 * ran before an error is printed too, as docker's. Returns the exit code:
 * 0; 64 and "template parsing error: ..." when it does not parse; 1 and
 * Go's message when it fails. */
int cli_template_command(const char *name, const char *format, json_object *obj, const cli_tpl_struct_t *structs,
                         size_t nstructs, bool tabwrite);
/* Whether format parses (docker checks it before any request); if not, the
 * message as cli_template_command prints it, and 64. -1 when it does. */
int cli_template_check(const char *name, const char *format);
/* docker's Context.Write: each row through the template, a line each; for a
 * "table..." format a header line (from proto's headers) first and the
 * whole aligned. *out gets the text (caller frees). -1 with the message in
 * err ("template parsing error: ..."), and nothing in *out. */
int cli_format_write(const char *format, const cli_row_t *rows, size_t n, const cli_row_t *proto, char **out,
                     char *err, size_t errlen);
/* cli_format_write to stdout; the error on stderr. Returns the exit code
 * (0, or 1 as docker's for a template error). */
int cli_print_list(const char *format, const cli_row_t *rows, size_t n, const cli_row_t *proto);

/* ---- image_tables.c: the rows of images and history ---- */

/* The fields of docker's imageContext for one row of cli_image_rows (img
 * NULL: empty values). */
void cli_image_row(json_object *img, const char *repo, const char *tag, const char *digest, bool no_trunc,
                   int64_t now, cli_row_t *row);
/* The rows of GET /images/json; need_digest: digests of tagged
 * repositories shown, digest_rows: a row per digest of the others
 * (--digests). -1 when out of memory. */
int cli_images_rows(json_object *images, bool need_digest, bool digest_rows, bool no_trunc, int64_t now,
                    cli_row_t **rows, size_t *n);
/* docker's historyContext of one item of GET /images/{name}/history. */
void cli_history_row(json_object *h, bool human, bool no_trunc, int64_t now, cli_row_t *row);
int cli_history_rows(json_object *history, bool human, bool no_trunc, int64_t now, cli_row_t **rows, size_t *n);
