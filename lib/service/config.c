/* The engine's configuration file (--config FILE, JSON like Docker's
 * daemon.json). Each service reads it itself at start-up, before its
 * sandbox is applied; berth-execd only passes the path on. A missing file
 * means "all defaults"; a file that exists but cannot be read or parsed
 * stops the service with a message naming the file and the problem. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cleanup.h"
#include "service.h"

#define CONFIG_MAX_BYTES (1 << 20) /* a settings file, not a database */

static char *read_all(int fd, const char *path, berth_error_t *err) {
  struct stat st;
  if (fstat(fd, &st) < 0) {
    berth_error_errno(err, "config file %s", path);
    return NULL;
  }
  if (!S_ISREG(st.st_mode)) {
    berth_error_make(err, EINVAL, "config file %s is not a regular file", path);
    return NULL;
  }
  if (st.st_size > CONFIG_MAX_BYTES) {
    berth_error_make(err, EFBIG, "config file %s is larger than %d bytes", path, CONFIG_MAX_BYTES);
    return NULL;
  }
  size_t cap = (size_t)st.st_size + 1, len = 0;
  char *buf = malloc(cap + 1);
  if (buf == NULL) {
    berth_error_make(err, ENOMEM, "out of memory");
    return NULL;
  }
  for (;;) { /* the size may change under us: read to EOF, within the limit */
    if (len == cap) {
      char *n = cap > CONFIG_MAX_BYTES ? NULL : realloc(buf, cap * 2 + 1);
      if (n == NULL) {
        free(buf);
        berth_error_make(err, EFBIG, "config file %s is larger than %d bytes", path, CONFIG_MAX_BYTES);
        return NULL;
      }
      buf = n;
      cap *= 2;
    }
    ssize_t r = read(fd, buf + len, cap - len);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      free(buf);
      berth_error_errno(err, "reading config file %s", path);
      return NULL;
    }
    if (r == 0)
      break;
    len += (size_t)r;
  }
  buf[len] = '\0';
  if (strlen(buf) != len) {
    free(buf);
    berth_error_make(err, EINVAL, "config file %s contains a NUL byte", path);
    return NULL;
  }
  return buf;
}

int berth_config_load(const char *path, struct json_object **out, berth_error_t *err) {
  *out = NULL;
  cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0 && errno == ENOENT) {
    *out = json_object_new_object(); /* no file: every setting at its default */
    return *out ? 0 : berth_error_make(err, ENOMEM, "out of memory");
  }
  if (fd < 0)
    return berth_error_errno(err, "cannot open config file %s", path);
  cleanup_free char *text = read_all(fd, path, err);
  if (text == NULL)
    return -1;
  json_tokener *tok = json_tokener_new();
  if (tok == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  struct json_object *obj = json_tokener_parse_ex(tok, text, (int)strlen(text));
  enum json_tokener_error jerr = json_tokener_get_error(tok);
  size_t used = json_tokener_get_parse_end(tok);
  json_tokener_free(tok);
  if (obj == NULL || jerr != json_tokener_success) {
    json_object_put(obj);
    return berth_error_make(err, EINVAL, "config file %s is not valid JSON: %s at byte %zu", path,
                            jerr == json_tokener_continue ? "unexpected end of file" : json_tokener_error_desc(jerr),
                            used);
  }
  for (const char *p = text + used; *p; p++) /* only white space may follow the object */
    if (!strchr(" \t\r\n", *p)) {
      json_object_put(obj);
      return berth_error_make(err, EINVAL, "config file %s is not valid JSON: unexpected data after byte %zu", path,
                              used);
    }
  if (!json_object_is_type(obj, json_type_object)) {
    json_object_put(obj);
    return berth_error_make(err, EINVAL, "config file %s must hold a JSON object ({...})", path);
  }
  *out = obj;
  return 0;
}

int berth_config_uint64(struct json_object *cfg, const char *path, const char *key, uint64_t def, uint64_t *out,
                        berth_error_t *err) {
  struct json_object *v = NULL;
  *out = def;
  if (cfg == NULL || !json_object_object_get_ex(cfg, key, &v) || v == NULL)
    return 0;
  if (!json_object_is_type(v, json_type_int))
    return berth_error_make(err, EINVAL, "config file %s: \"%s\" must be a non-negative integer", path, key);
  errno = 0;
  uint64_t n = json_object_get_uint64(v);
  /* json-c keeps negative numbers as int64; get_uint64 turns them into 0. */
  if (errno != 0 || json_object_get_int64(v) < 0)
    return berth_error_make(err, EINVAL, "config file %s: \"%s\" must be a non-negative integer", path, key);
  *out = n;
  return 0;
}
