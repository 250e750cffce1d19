/* Corpus replayer: links against a fuzz target's LLVMFuzzerTestOneInput and
 * runs it once over every file in the given directories (or files), printing
 * TAP. This is how the corpora are exercised on every normal build; a crash
 * or sanitizer report fails the meson test. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count;

static int run_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    printf("not ok %d - %s: cannot open\n", ++count, path);
    return 1;
  }
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len == cap) {
      cap = cap ? cap * 2 : 4096;
      buf = realloc(buf, cap);
      if (buf == NULL)
        abort();
    }
    size_t n = fread(buf + len, 1, cap - len, f);
    if (n == 0)
      break;
    len += n;
  }
  fclose(f);
  LLVMFuzzerTestOneInput(buf, len);
  free(buf);
  printf("ok %d - %s (%zu bytes)\n", ++count, path, len);
  fflush(stdout);
  return 0;
}

static int skip_dots(const struct dirent *d) {
  return d->d_name[0] != '.';
}

int main(int argc, char **argv) {
  int failed = 0;
  for (int i = 1; i < argc; i++) {
    struct stat st;
    if (stat(argv[i], &st) < 0) {
      printf("not ok %d - %s: missing\n", ++count, argv[i]);
      failed = 1;
      continue;
    }
    if (!S_ISDIR(st.st_mode)) {
      failed |= run_file(argv[i]);
      continue;
    }
    struct dirent **names;
    int n = scandir(argv[i], &names, skip_dots, alphasort);
    for (int j = 0; j < n; j++) {
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", argv[i], names[j]->d_name);
      failed |= run_file(path);
      free(names[j]);
    }
    free(names);
  }
  if (count == 0)
    printf("1..0 # SKIP empty corpus\n");
  else
    printf("1..%d\n", count);
  return failed;
}
