/* libFuzzer target: what berth-apid parses from berth-imaged while passing
 * image streams on (services/api/pump.c, json_check.c). Input: the first
 * byte picks a split point; the rest is fed
 *   - to the strict JSON validator (as a Document would be); whatever it
 *     accepts, json-c must parse too (apid relays accepted bytes as is);
 *   - as progress output through the line splitter in two pieces, each line
 *     through the progress check; every line accepted is re-serialised JSON
 *     that the validator accepts again, ending in one newline;
 *   - to the tar watcher in two pieces (as a save stream), which must agree
 *     with itself fed in one piece. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "pump.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_line(const char *line, size_t len, void *ud) {
  api_buf_t *out = ud;
  size_t before = out->len;
  int r = api_progress_line(line, len, out, NULL);
  if (r < 0)
    abort();
  if (r == 0) {
    if (out->len != before)
      abort();
    return;
  }
  const char *s = out->data + out->start + before;
  size_t n = out->len - before;
  char top = 0;
  if (n < 3 || s[n - 1] != '\n' || memchr(s, '\n', n - 1) != NULL || !api_json_valid(s, n - 1, 64, &top) || top != '{')
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  size_t split = data[0] % size;
  const char *p = (const char *)data + 1;
  size_t n = size - 1;
  if (split > n)
    split = n;

  char top = 0;
  if (api_json_valid(p, n, 64, &top) && memchr(p, '\0', n) == NULL) {
    struct json_tokener *tok = json_tokener_new_ex(64);
    struct json_object *o = json_tokener_parse_ex(tok, p, (int)n);
    enum json_tokener_error e = json_tokener_get_error(tok);
    if (e != json_tokener_success && e != json_tokener_continue)
      abort();   /* accepted by us, refused by json-c (whose null is a NULL object) */
    json_object_put(o);
    json_tokener_free(tok);
  }

  api_lines_t lines = {.max_line = 4096};
  api_buf_t out = {0};
  api_lines_feed(&lines, p, split, check_line, &out);
  api_lines_feed(&lines, p + split, n - split, check_line, &out);
  api_lines_finish(&lines, check_line, &out);
  api_lines_free(&lines);
  api_buf_free(&out);

  api_tar_watch_t a = {0}, b = {0};
  api_tar_watch_feed(&a, p, split);
  api_tar_watch_feed(&a, p + split, n - split);
  api_tar_watch_feed(&b, p, n);
  if (api_tar_watch_complete(&a) != api_tar_watch_complete(&b) || a.entries != b.entries || a.bad != b.bad)
    abort();
  return 0;
}
