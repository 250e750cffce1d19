/* docker's formatter.Context.Write for the list commands: the format string
 * as docker reads it, each row through the template, a header and Go's
 * tabwriter for "table ..." formats, Go's JSON encoding of strings. Pure. */
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "template.h"

void cli_row_take(cli_row_t *r, const char *name, const char *header, char *value) {
  if (r->n >= CLI_ROW_MAX_FIELDS) {
    free(value);
    return;
  }
  r->f[r->n++] = (cli_field_t){ .name = name, .header = header, .value = value };
}

void cli_row_add(cli_row_t *r, const char *name, const char *header, const char *value) {
  cli_row_take(r, name, header, value ? strdup(value) : NULL);
}

void cli_row_clear(cli_row_t *r) {
  for (size_t i = 0; i < r->n; i++)
    free(r->f[i].value);
  r->n = 0;
}

void cli_rows_free(cli_row_t *rows, size_t n) {
  for (size_t i = 0; rows && i < n; i++)
    cli_row_clear(&rows[i]);
  free(rows);
}

int cli_rows_push(cli_row_t **rows, size_t *n, const cli_row_t *row) {
  cli_row_t *grown = realloc(*rows, (*n + 1) * sizeof *grown);
  if (grown == NULL)
    return -1;
  *rows = grown;
  grown[(*n)++] = *row;
  return 0;
}

const cli_field_t *cli_row_field(const cli_row_t *r, const char *name) {
  for (size_t i = 0; r && i < r->n; i++)
    if (strcmp(r->f[i].name, name) == 0)
      return &r->f[i];
  return NULL;
}

/* Length of the valid UTF-8 sequence at p, 0 when invalid (as Go decodes). */
static size_t utf8_len(const unsigned char *p) {
  unsigned char c = p[0];
  size_t k = c >= 0xC2 && c <= 0xDF ? 2 : (c >> 4) == 0xE ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  for (size_t j = 1; j < k; j++)
    if ((p[j] & 0xC0) != 0x80)
      return 0;
  if (k == 3 && ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0))) /* overlong, surrogate */
    return 0;
  if (k == 4 && ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90)))
    return 0;
  return k;
}

void cli_go_json_string(FILE *out, const char *s, bool escape_html) {
  static const char hex[] = "0123456789abcdef";
  fputc('"', out);
  for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
    unsigned char c = *p;
    if (c < 0x80) {
      switch (c) {
      case '"': fputs("\\\"", out); continue;
      case '\\': fputs("\\\\", out); continue;
      case '\b': fputs("\\b", out); continue;
      case '\f': fputs("\\f", out); continue;
      case '\n': fputs("\\n", out); continue;
      case '\r': fputs("\\r", out); continue;
      case '\t': fputs("\\t", out); continue;
      default: break;
      }
      if (c < 0x20 || (escape_html && (c == '<' || c == '>' || c == '&')))
        fprintf(out, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
      else
        fputc(c, out);
      continue;
    }
    size_t k = utf8_len(p);
    if (k == 0) { /* an invalid byte: U+FFFD */
      fputs("\\ufffd", out);
    } else if (k == 3 && c == 0xE2 && p[1] == 0x80 && (p[2] == 0xA8 || p[2] == 0xA9)) {
      fputs(p[2] == 0xA8 ? "\\u2028" : "\\u2029", out); /* line and paragraph separators */
      p += 2;
    } else {
      fwrite(p, 1, k, out);
      p += k - 1;
    }
  }
  fputc('"', out);
}

char *cli_format_template_string(const char *format) {
  if (strcmp(format, "table") == 0)
    return strdup("");
  if (strcmp(format, "json") == 0)
    return strdup("{{json .}}");
  if (strncmp(format, "table", 5) == 0)
    format += 5;
  while (*format == ' ')
    format++;
  size_t n = strlen(format);
  while (n && format[n - 1] == ' ')
    n--;
  char *out = malloc(n + 1), *o = out;
  if (out == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    if (format[i] == '\\' && i + 1 < n && (format[i + 1] == 't' || format[i + 1] == 'n')) {
      *o++ = format[i + 1] == 't' ? '\t' : '\n';
      i++;
    } else {
      *o++ = format[i];
    }
  }
  *o = '\0';
  return out;
}

/* One line of the tabwriter: cells end at '\t'; the last one is the text
 * before the newline and belongs to no column. */
typedef struct {
  const char *start;
  size_t ncells;
  size_t *end;   /* byte offset (from start) where each cell ends */
  size_t *width; /* its width in characters */
} tw_line_t;

static void tw_write(FILE *out, const tw_line_t *lines, size_t l0, size_t l1, const size_t *widths, size_t nw) {
  for (size_t l = l0; l < l1; l++) {
    size_t from = 0;
    for (size_t c = 0; c < lines[l].ncells; c++) {
      fwrite(lines[l].start + from, 1, lines[l].end[c] - from, out);
      from = lines[l].end[c] + 1;
      if (c < nw && c + 1 < lines[l].ncells)
        for (size_t w = lines[l].width[c]; w < widths[c]; w++)
          fputc(' ', out);
    }
    fputc('\n', out);
  }
}

/* Go's Writer.format: a column block is a run of lines with a cell in this
 * column; its width is the widest cell + padding, at least minwidth. */
typedef struct {
  size_t minwidth, padding;
} tw_opts_t;

static void tw_format(FILE *out, const tw_opts_t *o, const tw_line_t *lines, size_t l0, size_t l1, size_t *widths,
                      size_t nw) {
  size_t column = nw;
  for (size_t this = l0; this < l1; this++) {
    if (column + 1 >= lines[this].ncells)
      continue;
    tw_write(out, lines, l0, this, widths, nw);
    l0 = this;
    size_t width = o->minwidth;
    for (; this < l1 && column + 1 < lines[this].ncells; this++)
      if (lines[this].width[column] + o->padding > width)
        width = lines[this].width[column] + o->padding;
    widths[nw] = width;
    tw_format(out, o, lines, l0, this, widths, nw + 1);
    l0 = this; /* (the line that ended the block has no cell here: skipping it is safe) */
  }
  tw_write(out, lines, l0, l1, widths, nw);
}

char *cli_tabwrite(const char *text) {
  return cli_tabwrite_with(text, 10, 3);
}

char *cli_tabwrite_with(const char *text, size_t minwidth, size_t padding) {
  const tw_opts_t opts = { minwidth, padding };
  size_t nlines = 0, maxcells = 1;
  for (const char *p = text; *p; p++)
    nlines += *p == '\n';
  if (*text && text[strlen(text) - 1] != '\n')
    nlines++;
  tw_line_t *lines = calloc(nlines + 1, sizeof *lines);
  size_t *widths = NULL;
  char *buf = NULL;
  size_t len = 0;
  bool ok = lines != NULL;
  const char *p = text;
  for (size_t l = 0; ok && l < nlines; l++) {
    const char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p), cells = 1;
    for (size_t i = 0; i < n; i++)
      cells += p[i] == '\t';
    lines[l].start = p;
    lines[l].end = malloc(cells * sizeof(size_t));
    lines[l].width = malloc(cells * sizeof(size_t));
    if (lines[l].end == NULL || lines[l].width == NULL) {
      ok = false;
      break;
    }
    size_t c = 0, w = 0;
    for (size_t i = 0; i <= n; i++) {
      if (i == n || p[i] == '\t') {
        lines[l].end[c] = i;
        lines[l].width[c++] = w;
        w = 0;
      } else if (((unsigned char)p[i] & 0xC0) != 0x80) {
        w++;
      }
    }
    lines[l].ncells = cells;
    if (cells > maxcells)
      maxcells = cells;
    p = nl ? nl + 1 : p + n;
  }
  FILE *out = ok ? open_memstream(&buf, &len) : NULL;
  if (out && (widths = calloc(maxcells, sizeof *widths)) != NULL)
    tw_format(out, &opts, lines, 0, nlines, widths, 0);
  if (out && (fclose(out) != 0 || widths == NULL)) {
    free(buf);
    buf = NULL;
  }
  for (size_t l = 0; lines && l < nlines; l++) {
    free(lines[l].end);
    free(lines[l].width);
  }
  free(lines);
  free(widths);
  return buf;
}

int cli_format_write(const char *format, const cli_row_t *rows, size_t n, const cli_row_t *proto, char **out,
                     char *err, size_t errlen) {
  *out = NULL;
  err[0] = '\0';
  char *text = cli_format_template_string(format), msg[1024] = "";
  cli_template_t *t = text ? cli_template_parse(text, msg, sizeof msg) : NULL;
  free(text);
  if (t == NULL) {
    snprintf(err, errlen, "template parsing error: %s", msg[0] ? msg : "out of memory");
    return -1;
  }
  bool table = strncmp(format, "table", 5) == 0;
  char *body = NULL, *all = NULL;
  size_t blen = 0, alen = 0;
  FILE *f = open_memstream(&body, &blen);
  int r = f ? 0 : -1;
  for (size_t i = 0; r == 0 && i < n; i++) {
    r = cli_template_exec(t, &rows[i], false, f, msg, sizeof msg);
    fputc('\n', f);
  }
  if (f && fclose(f) != 0)
    r = -1;
  if (r == 0 && table) { /* the header (its errors ignored, as docker's), then the rows, aligned */
    FILE *h = open_memstream(&all, &alen);
    if (h) {
      char ignored[256];
      cli_template_exec(t, proto, true, h, ignored, sizeof ignored);
      fputc('\n', h);
      fputs(body, h);
    }
    if (h == NULL || fclose(h) != 0)
      r = -1;
    *out = r == 0 ? cli_tabwrite(all) : NULL;
    if (*out == NULL)
      r = -1;
  } else if (r == 0) {
    *out = body;
    body = NULL;
  }
  if (r < 0)
    snprintf(err, errlen, "template parsing error: %s", msg[0] ? msg : "out of memory");
  free(body);
  free(all);
  cli_template_free(t);
  return r;
}

int cli_print_list(const char *format, const cli_row_t *rows, size_t n, const cli_row_t *proto) {
  char err[1024], *text = NULL;
  if (cli_format_write(format, rows, n, proto, &text, err, sizeof err) < 0) {
    fprintf(stderr, "%s\n", err);
    return CLI_EXIT_ERROR;
  }
  fputs(text, stdout);
  fflush(stdout);
  free(text);
  return 0;
}
