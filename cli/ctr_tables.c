/* The `berth ps` table, built as the docker CLI's container formatter
 * builds it (cli/command/formatter/container.go): ids cut to 12, the
 * command quoted as Go's strconv.Quote after an ellipsis at 20 characters,
 * CREATED relative to now, the engine's Status text, ports, the first name
 * that is not a link. Pure: checked in tests/unit/test_cli_format.c. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "ctr.h"

char *cli_go_quote(const char *s) {
  size_t n = strlen(s);
  char *out = malloc(4 * n + 3), *o = out;
  if (out == NULL)
    return NULL;
  *o++ = '"';
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    unsigned char c = *p;
    const char *esc = NULL;
    switch (c) {
    case '\a': esc = "\\a"; break;
    case '\b': esc = "\\b"; break;
    case '\f': esc = "\\f"; break;
    case '\n': esc = "\\n"; break;
    case '\r': esc = "\\r"; break;
    case '\t': esc = "\\t"; break;
    case '\v': esc = "\\v"; break;
    case '\\': esc = "\\\\"; break;
    case '"': esc = "\\\""; break;
    default: break;
    }
    if (esc) {
      o = stpcpy(o, esc);
      continue;
    }
    if (c < 0x20 || c == 0x7f) {
      o += sprintf(o, "\\x%02x", c);
      continue;
    }
    if (c < 0x80) {
      *o++ = (char)c;
      continue;
    }
    /* A valid UTF-8 sequence is kept; a stray byte is \xNN, as Go does. */
    size_t k = (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = k > 0 && !(k == 2 && c < 0xC2);
    for (size_t j = 1; ok && j < k; j++)
      ok = (p[j] & 0xC0) == 0x80;
    if (!ok) {
      o += sprintf(o, "\\x%02x", c);
      continue;
    }
    memcpy(o, p, k);
    o += k;
    p += k - 1;
  }
  *o++ = '"';
  *o = '\0';
  return out;
}

void cli_ps_image(json_object *c, bool no_trunc, char *buf, size_t len) {
  const char *image = cli_json_str(c, "Image");
  if (image == NULL || *image == '\0') {
    snprintf(buf, len, "<no image>");
    return;
  }
  if (!no_trunc) {
    char a[80], b[80];
    cli_truncate_id(cli_json_str(c, "ImageID") ?: "", a, sizeof a);
    cli_truncate_id(image, b, sizeof b);
    if (strcmp(a, b) == 0 || strncmp(image, "sha256:", 7) == 0) {
      snprintf(buf, len, "%s", b);
      return;
    }
    const char *at = strchr(image, '@');
    if (at) { /* name@digest: the digest dropped */
      snprintf(buf, len, "%.*s", (int)(at - image), image);
      return;
    }
  }
  snprintf(buf, len, "%s", image);
}

char *cli_ps_ports(json_object *ports) {
  size_t n = json_object_is_type(ports, json_type_array) ? json_object_array_length(ports) : 0;
  char *out = strdup("");
  for (size_t i = 0; out && i < n; i++) {
    json_object *p = json_object_array_get_idx(ports, i);
    const char *ip = cli_json_str(p, "IP"), *type = cli_json_str(p, "Type") ?: "tcp";
    int64_t priv = cli_json_int(p, "PrivatePort"), pub = cli_json_int(p, "PublicPort");
    char one[128];
    if (ip && *ip && pub > 0)
      snprintf(one, sizeof one, "%s%s%s:%" PRId64 "->%" PRId64 "/%s", strchr(ip, ':') ? "[" : "", ip,
               strchr(ip, ':') ? "]" : "", pub, priv, type);
    else
      snprintf(one, sizeof one, "%" PRId64 "/%s", priv, type);
    char *grown = NULL;
    if (asprintf(&grown, "%s%s%s", out, *out ? ", " : "", one) < 0)
      grown = NULL;
    free(out);
    out = grown;
  }
  return out;
}

/* NAMES: without the leading '/'; truncated: the first that is not a link ("/a/b"). */
static char *names_cell(json_object *names, bool no_trunc) {
  size_t n = json_object_is_type(names, json_type_array) ? json_object_array_length(names) : 0;
  char *out = strdup("");
  for (size_t i = 0; out && i < n; i++) {
    const char *name = json_object_get_string(json_object_array_get_idx(names, i));
    if (name == NULL)
      continue;
    if (*name == '/')
      name++;
    if (!no_trunc && strchr(name, '/') == NULL) {
      free(out);
      return strdup(name);
    }
    char *grown = NULL;
    if (asprintf(&grown, "%s%s%s", out, *out ? "," : "", name) < 0)
      grown = NULL;
    free(out);
    out = grown;
  }
  return out;
}

cli_table_t *cli_ps_table(json_object *list, bool no_trunc, bool size, int64_t now) {
  static const char *const headers[] = { "CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS", "NAMES",
                                         "SIZE" };
  cli_table_t *t = cli_table_new(size ? 8 : 7, headers);
  cli_table_set_minwidth(t, 10);
  size_t n = json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
  for (size_t i = 0; t && i < n; i++) {
    json_object *c = json_object_array_get_idx(list, i);
    char id[80], image[512], created[80], sz[96];
    const char *full = cli_json_str(c, "Id") ?: "";
    if (no_trunc)
      snprintf(id, sizeof id, "%s", full);
    else
      cli_truncate_id(full, id, sizeof id);
    cli_ps_image(c, no_trunc, image, sizeof image);
    const char *command = cli_json_str(c, "Command") ?: "";
    char *cut = no_trunc ? strdup(command) : cli_ellipsis(command, 20);
    char *quoted = cut ? cli_go_quote(cut) : NULL;
    free(cut);
    cli_created_since(cli_json_int(c, "Created"), now, created, sizeof created);
    char *ports = cli_ps_ports(cli_json_get(c, "Ports"));
    char *names = names_cell(cli_json_get(c, "Names"), no_trunc);
    char rw[32], rootfs[32];
    cli_human_size((double)cli_json_int(c, "SizeRw"), 3, rw, sizeof rw);
    cli_human_size((double)cli_json_int(c, "SizeRootFs"), 3, rootfs, sizeof rootfs);
    if (cli_json_int(c, "SizeRootFs") > 0)
      snprintf(sz, sizeof sz, "%s (virtual %s)", rw, rootfs);
    else
      snprintf(sz, sizeof sz, "%s", rw);
    const char *row[] = { id, image, quoted ? quoted : "", created, cli_json_str(c, "Status") ?: "",
                          ports ? ports : "", names ? names : "", sz };
    cli_table_add(t, row);
    free(quoted);
    free(ports);
    free(names);
  }
  return t;
}
