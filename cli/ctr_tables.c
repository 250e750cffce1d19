/* The rows of `berth ps`, the fields as the docker CLI's container formatter
 * computes them (cli/command/formatter/container.go): ids cut to 12, the
 * command quoted as Go's strconv.Quote after an ellipsis at 20 characters,
 * CREATED relative to now, the engine's Status text, ports, the first name
 * that is not a link, sorted labels, mounts, networks. Pure: checked in
 * tests/unit/test_cli_format.c and test_cli_template.c. */
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

/* LABELS: "k=v" pairs sorted and joined with ',' (docker sorts the pairs). */
static int str_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *labels_cell(json_object *labels) {
  if (!json_object_is_type(labels, json_type_object))
    return strdup("");
  size_t n = (size_t)json_object_object_length(labels), k = 0;
  char **pairs = calloc(n + 1, sizeof *pairs);
  if (pairs == NULL)
    return NULL;
  json_object_object_foreach(labels, key, val) {
    if (k < n && asprintf(&pairs[k], "%s=%s", key, json_object_get_string(val) ?: "") >= 0)
      k++;
  }
  qsort(pairs, k, sizeof *pairs, str_cmp);
  size_t len = 1;
  for (size_t i = 0; i < k; i++)
    len += strlen(pairs[i]) + 1;
  char *out = malloc(len), *o = out;
  for (size_t i = 0; out && i < k; i++)
    o = stpcpy(stpcpy(o, i ? "," : ""), pairs[i]);
  if (out)
    *o = '\0';
  for (size_t i = 0; i < k; i++)
    free(pairs[i]);
  free(pairs);
  return out;
}

/* MOUNTS (names, else sources; cut at 15 when truncating), LOCAL VOLUMES
 * (how many use the "local" driver). */
static char *mounts_cell(json_object *mounts, bool trunc, int *local) {
  size_t n = json_object_is_type(mounts, json_type_array) ? json_object_array_length(mounts) : 0;
  char *out = strdup("");
  *local = 0;
  for (size_t i = 0; out && i < n; i++) {
    json_object *m = json_object_array_get_idx(mounts, i);
    const char *name = cli_json_str(m, "Name");
    if (name == NULL || *name == '\0')
      name = cli_json_str(m, "Source") ?: "";
    *local += strcmp(cli_json_str(m, "Driver") ?: "", "local") == 0;
    char *cut = trunc ? cli_ellipsis(name, 15) : strdup(name), *grown = NULL;
    if (cut == NULL || asprintf(&grown, "%s%s%s", out, i ? "," : "", cut) < 0)
      grown = NULL;
    free(cut);
    free(out);
    out = grown;
  }
  return out;
}

/* NETWORKS: the names of NetworkSettings.Networks, joined with ','. */
static char *networks_cell(json_object *settings) {
  json_object *nets = cli_json_get(settings, "Networks");
  char *out = strdup("");
  if (!json_object_is_type(nets, json_type_object))
    return out;
  json_object_object_foreach(nets, key, val) {
    (void)val;
    char *grown = NULL;
    if (out == NULL || asprintf(&grown, "%s%s%s", out, *out ? "," : "", key) < 0)
      grown = NULL;
    free(out);
    out = grown;
  }
  return out;
}

void cli_ps_row(json_object *c, bool no_trunc, int64_t now, cli_row_t *row) {
  char id[80], image[512], created_at[80], running_for[80], sz[96], vols[24];
  memset(row, 0, sizeof *row);
  row->type = "*formatter.ContainerContext";
  row->has_label = true;
  row->labels = cli_json_get(c, "Labels");
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
  cli_go_time_string(cli_json_int(c, "Created"), created_at, sizeof created_at);
  cli_created_since(cli_json_int(c, "Created"), now, running_for, sizeof running_for);
  char rw[32], rootfs[32];
  cli_human_size((double)cli_json_int(c, "SizeRw"), 3, rw, sizeof rw);
  cli_human_size((double)cli_json_int(c, "SizeRootFs"), 3, rootfs, sizeof rootfs);
  if (cli_json_int(c, "SizeRootFs") > 0)
    snprintf(sz, sizeof sz, "%s (virtual %s)", rw, rootfs);
  else
    snprintf(sz, sizeof sz, "%s", rw);
  int local = 0;
  char *mounts = mounts_cell(cli_json_get(c, "Mounts"), !no_trunc, &local);
  snprintf(vols, sizeof vols, "%d", local);
  /* in name order, as docker's JSON has them */
  cli_row_take(row, "Command", "COMMAND", quoted);
  cli_row_add(row, "CreatedAt", "CREATED AT", created_at);
  cli_row_add(row, "ID", "CONTAINER ID", id);
  cli_row_add(row, "Image", "IMAGE", image);
  cli_row_take(row, "Labels", "LABELS", labels_cell(row->labels));
  cli_row_add(row, "LocalVolumes", "LOCAL VOLUMES", vols);
  cli_row_take(row, "Mounts", "MOUNTS", mounts);
  cli_row_take(row, "Names", "NAMES", names_cell(cli_json_get(c, "Names"), no_trunc));
  cli_row_take(row, "Networks", "NETWORKS", networks_cell(cli_json_get(c, "NetworkSettings")));
  cli_row_add(row, "Platform", "PLATFORM", NULL); /* API 1.41 has no ImageManifestDescriptor: nil */
  cli_row_take(row, "Ports", "PORTS", cli_ps_ports(cli_json_get(c, "Ports")));
  cli_row_add(row, "RunningFor", "CREATED", running_for);
  cli_row_add(row, "Size", "SIZE", sz);
  cli_row_add(row, "State", "STATE", cli_json_str(c, "State") ?: "");
  cli_row_add(row, "Status", "STATUS", cli_json_str(c, "Status") ?: "");
}

int cli_ps_rows(json_object *list, bool no_trunc, int64_t now, cli_row_t **rows, size_t *n) {
  *rows = NULL;
  *n = 0;
  size_t len = json_object_is_type(list, json_type_array) ? json_object_array_length(list) : 0;
  for (size_t i = 0; i < len; i++) {
    cli_row_t row;
    cli_ps_row(json_object_array_get_idx(list, i), no_trunc, now, &row);
    if (cli_rows_push(rows, n, &row) < 0) {
      cli_row_clear(&row);
      cli_rows_free(*rows, *n);
      *rows = NULL;
      *n = 0;
      return -1;
    }
  }
  return 0;
}
