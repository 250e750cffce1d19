/* The config file loader (lib/service/config.c): what a missing, valid,
 * broken or odd file gives, and the integer getter's checks. */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "service.h"
#include "tap.h"

static char dir[] = "/tmp/berth-test-config.XXXXXX";
static char path[PATH_MAX];

static const char *file(const char *text) {
  snprintf(path, sizeof path, "%s/berth.json", dir);
  unlink(path);
  FILE *f = fopen(path, "we");
  if (f == NULL)
    return path;
  fputs(text, f);
  fclose(f);
  return path;
}

/* Loads text; returns errno status (0 = loaded) and the error message in msg. */
static int load(const char *p, struct json_object **obj, char *msg, size_t len) {
  berth_error_t err = NULL;
  int r = berth_config_load(p, obj, &err);
  snprintf(msg, len, "%s", err && err->msg ? err->msg : "");
  int st = r < 0 ? (err ? err->status : -1) : 0;
  berth_error_release(&err);
  return st;
}

static void refused(const char *text, int want, const char *what) {
  struct json_object *o = NULL;
  char msg[512];
  int st = load(file(text), &o, msg, sizeof msg);
  tap_ok(st == want && o == NULL && strstr(msg, path) != NULL, "%s is refused with %s naming the file (%s)", what,
         strerror(want), msg);
  json_object_put(o);
}

static int getter(struct json_object *o, const char *key, uint64_t *v) {
  berth_error_t err = NULL;
  int r = berth_config_uint64(o, "/etc/berth/berth.json", key, 42, v, &err);
  int st = r < 0 ? err->status : 0;
  if (r < 0 && strstr(err->msg, key) == NULL)
    st = -1; /* the message must name the key */
  berth_error_release(&err);
  return st;
}

int main(void) {
  if (mkdtemp(dir) == NULL)
    return tap_skip_all("mkdtemp failed");
  struct json_object *o = NULL;
  char msg[512];
  snprintf(path, sizeof path, "%s/absent.json", dir);
  int st = load(path, &o, msg, sizeof msg);
  tap_ok(st == 0 && o && json_object_is_type(o, json_type_object) && json_object_object_length(o) == 0,
         "a missing file is an empty object");
  json_object_put(o);

  st = load(file("{\"image-max-uncompressed-bytes\": 1024, \"debug\": true}\n\n"), &o, msg, sizeof msg);
  uint64_t v = 0;
  tap_ok(st == 0 && o && getter(o, "image-max-uncompressed-bytes", &v) == 0 && v == 1024,
         "a valid file is loaded; its integer setting is read (%s)", msg);
  tap_ok(o && getter(o, "not-there", &v) == 0 && v == 42, "an absent setting takes its default");
  tap_ok(o && getter(o, "debug", &v) == EINVAL, "a setting of the wrong type is EINVAL naming the key");
  json_object_put(o);

  st = load(file("{\"a\": -1, \"b\": \"12\", \"c\": 18446744073709551615, \"d\": 1.5}"), &o, msg, sizeof msg);
  tap_ok(st == 0 && getter(o, "a", &v) == EINVAL, "a negative integer is refused");
  tap_ok(getter(o, "b", &v) == EINVAL, "a number in a string is refused");
  tap_ok(getter(o, "c", &v) == 0 && v == UINT64_MAX, "the largest uint64 is accepted");
  tap_ok(getter(o, "d", &v) == EINVAL, "a fraction is refused");
  json_object_put(o);

  refused("", EINVAL, "an empty file");
  refused("{\"a\": 1", EINVAL, "a truncated object");
  refused("{\"a\": 1} x", EINVAL, "trailing data after the object");
  refused("{\"a\": 1}{}", EINVAL, "a second object");
  refused("[1, 2]", EINVAL, "a JSON array");
  refused("\"text\"", EINVAL, "a JSON string");

  snprintf(path, sizeof path, "%s/sub", dir);
  mkdir(path, 0755);
  st = load(path, &o, msg, sizeof msg);
  tap_ok(st != 0 && o == NULL && strstr(msg, path), "a directory is refused (%s)", msg);
  rmdir(path);

  snprintf(path, sizeof path, "%s/big.json", dir);
  FILE *f = fopen(path, "we");
  fputs("{\"pad\": \"", f);
  for (int i = 0; i < (1 << 20); i++)
    fputc('x', f);
  fputs("\"}", f);
  fclose(f);
  st = load(path, &o, msg, sizeof msg);
  tap_ok(st == EFBIG && o == NULL, "a file over 1 MiB is refused (%s)", msg);
  unlink(path);

  if (geteuid() != 0) {
    chmod(file("{}"), 0);
    st = load(path, &o, msg, sizeof msg);
    tap_ok(st == EACCES && o == NULL && strstr(msg, path), "an unreadable file is refused (%s)", msg);
  }
  snprintf(path, sizeof path, "%s/berth.json", dir);
  unlink(path);
  rmdir(dir);
  return tap_done();
}
