/* version and info -f TEMPLATE as the docker CLI runs them: the template
 * named ("version", or "" for info), parse errors with status 64, execution
 * over the typed objects, the text before an error kept, then a newline
 * (version's through its tabwriter). */
#include <stdlib.h>
#include <string.h>
#include "template.h"

#define CLI_EXIT_TEMPLATE 64

/* Go names the template in its messages: "template: NAME:1: ..." and
 * "executing \"NAME\""; the engine writes them for the unnamed template. */
static void name_message(const char *name, const char *msg, char *out, size_t len) {
  const char *exec = strstr(msg, "executing \"\"");
  if (*name == '\0' || strncmp(msg, "template: :", 11) != 0) {
    snprintf(out, len, "%s", msg);
    return;
  }
  if (exec)
    snprintf(out, len, "template: %s:%.*sexecuting \"%s\"%s", name, (int)(exec - (msg + 11)), msg + 11, name,
             exec + 12);
  else
    snprintf(out, len, "template: %s:%s", name, msg + 11);
}

static cli_template_t *parse(const char *name, const char *format, int *rc) {
  char msg[1024], named[1200];
  cli_template_t *t = cli_template_parse(format, msg, sizeof msg);
  if (t == NULL) {
    name_message(name, msg, named, sizeof named);
    fprintf(stderr, "template parsing error: %s\n", named);
    *rc = CLI_EXIT_TEMPLATE;
  }
  return t;
}

int cli_template_check(const char *name, const char *format) {
  int rc = -1;
  cli_template_free(parse(name, format, &rc));
  return rc;
}

int cli_template_command(const char *name, const char *format, json_object *obj, const cli_tpl_struct_t *structs,
                         size_t nstructs, bool tabwrite) {
  int rc = 0;
  cli_template_t *t = parse(name, format, &rc);
  if (t == NULL)
    return rc;
  char *text = NULL, msg[1024] = "", named[1200];
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  int r = f ? cli_template_exec_typed(t, obj, structs, nstructs, f, msg, sizeof msg) : -1;
  if (f) {
    fputc('\n', f);
    if (fclose(f) != 0)
      r = -1;
  }
  char *aligned = text && tabwrite ? cli_tabwrite_with(text, 20, 1) : NULL;
  if (aligned || (text && !tabwrite))
    fputs(aligned ? aligned : text, stdout);
  fflush(stdout);
  if (r < 0 || (tabwrite && aligned == NULL)) {
    name_message(name, msg[0] ? msg : "out of memory", named, sizeof named);
    fprintf(stderr, "%s\n", named);
    rc = 1;
  }
  free(aligned);
  free(text);
  cli_template_free(t);
  return rc;
}
