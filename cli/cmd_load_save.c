/* berth load / berth save: image archives streamed to and from the engine
 * with libcurl, never held in memory.
 *   load: POST /images/load?quiet=N with the archive as the request body
 *         (Content-Length for a file, chunked for a pipe); the reply is a
 *         stream of Docker JSON messages ("Loaded image: busybox:latest").
 *   save: GET /images/get?names=.. into a temp file next to -o FILE, renamed
 *         over FILE only when the whole archive arrived. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "cli.h"

volatile int cli_interrupted;

static void on_signal(int sig) {
  cli_interrupted = sig;
}

/* No SA_RESTART: a blocked read() of stdin returns EINTR, and curl's
 * progress callback (called at least once a second) stops the transfer, so
 * the cleanup (temp file removal) always runs. */
void cli_catch_interrupts(void) {
  struct sigaction sa = { .sa_handler = on_signal };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigset_t handled; /* a mask inherited through exec would keep them from us */
  sigemptyset(&handled);
  sigaddset(&handled, SIGINT);
  sigaddset(&handled, SIGTERM);
  sigprocmask(SIG_UNBLOCK, &handled, NULL);
}

static int interrupted_exit(void) {
  fprintf(stderr, "interrupted\n");
  return 128 + cli_interrupted;
}

/* ---------------- load ---------------- */

typedef struct {
  CURL *curl;
  int fd;
  const char *input;     /* for messages */
  int read_errno;
  int64_t size;          /* < 0: unknown (a pipe) */
  uint64_t read_bytes;
  bool eof, quiet;       /* eof: all of the input was read */
  cli_progress_t progress;
  long status;           /* 0 until the reply's status line arrived */
  json_tokener *tok;
  cli_response_t errbody; /* body of a non-2xx reply */
  char *error;           /* the first error message in the stream */
} load_t;

static size_t load_read(char *buf, size_t size, size_t nitems, void *ud) {
  load_t *l = ud;
  for (;;) {
    ssize_t n = read(l->fd, buf, size * nitems);
    if (n >= 0) {
      l->read_bytes += (uint64_t)n;
      /* With a known length curl stops asking once it has it all. */
      l->eof = n == 0 || (l->size >= 0 && l->read_bytes >= (uint64_t)l->size);
      return (size_t)n;
    }
    if (errno != EINTR || cli_interrupted) {
      l->read_errno = cli_interrupted ? 0 : errno;
      return CURL_READFUNC_ABORT;
    }
  }
}

static int load_xfer(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
  load_t *l = ud;
  if (cli_interrupted)
    return 1;
  if (l->progress.enabled)
    cli_progress_update(&l->progress, (uint64_t)ulnow);
  return 0;
}

/* Before a message goes to the terminal: a finished upload keeps its bar
 * (ended with a newline), an unfinished one is erased and redrawn later. */
static void load_before_output(load_t *l) {
  if (!l->progress.enabled)
    return;
  if (l->eof) {
    if (l->progress.total >= 0) /* all of it was read and sent */
      l->progress.done = (uint64_t)l->progress.total;
    cli_progress_end(&l->progress, true);
  }
  else
    cli_progress_clear(&l->progress);
}

/* One Docker JSON message: {"stream":..}, {"status":..,"id":..},
 * {"errorDetail":{"message":..},"error":..}. Progress messages are left out
 * (the upload has its own bar), as the docker CLI leaves them out off a TTY. */
static void load_message(load_t *l, json_object *m) {
  if (l->error)
    return; /* the docker CLI stops at the first error */
  const char *e = cli_json_str(cli_json_get(m, "errorDetail"), "message");
  if (e == NULL)
    e = cli_json_str(m, "error");
  if (e) {
    l->error = strdup(e);
    return;
  }
  const char *stream = cli_json_str(m, "stream");
  if (stream) {
    load_before_output(l);
    fputs(stream, stdout);
    fflush(stdout);
    return;
  }
  const char *status = cli_json_str(m, "status");
  json_object *pd = cli_json_get(m, "progressDetail");
  if (status == NULL || cli_json_int(pd, "current") > 0 || cli_json_int(pd, "total") > 0)
    return;
  load_before_output(l);
  const char *id = cli_json_str(m, "id");
  if (id && *id)
    printf("%s: ", id);
  printf("%s\n", status);
  fflush(stdout);
}

static size_t load_write(char *data, size_t size, size_t nmemb, void *ud) {
  load_t *l = ud;
  size_t n = size * nmemb;
  if (l->status == 0)
    curl_easy_getinfo(l->curl, CURLINFO_RESPONSE_CODE, &l->status);
  if (l->status < 200 || l->status > 299) {
    char *p = realloc(l->errbody.body, l->errbody.len + n + 1);
    if (p == NULL)
      return 0;
    memcpy(p + l->errbody.len, data, n);
    l->errbody.len += n;
    p[l->errbody.len] = '\0';
    l->errbody.body = p;
    return n;
  }
  size_t off = 0;
  while (off < n && l->error == NULL) {
    json_object *m = json_tokener_parse_ex(l->tok, data + off, (int)(n - off));
    enum json_tokener_error e = json_tokener_get_error(l->tok);
    if (e == json_tokener_continue)
      break; /* all consumed; the message goes on in the next chunk */
    if (e != json_tokener_success) {
      if (asprintf(&l->error, "the engine sent invalid JSON: %s", json_tokener_error_desc(e)) < 0)
        l->error = NULL;
      break;
    }
    off += json_tokener_get_parse_end(l->tok);
    json_tokener_reset(l->tok);
    load_message(l, m);
    json_object_put(m);
  }
  return n;
}

/* Prints one line on stderr; returns CLI_EXIT_ERROR. */
__attribute__((format(printf, 1, 2))) static int fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return CLI_EXIT_ERROR;
}

static int run_load(cli_ctx_t *ctx, int argc, char **argv) {
  const char *input = NULL;
  bool quiet = false;
  const cli_opt_t opts[] = {
    { 'i', "input", CLI_OPT_STRING, &input, NULL, NULL },
    { 'q', "quiet", CLI_OPT_BOOL, &quiet, NULL, NULL },
    { 0, NULL, 0, NULL, NULL, NULL },
  };
  cli_strv_t pos = { 0 };
  int r = cli_parse_args(ctx, &cli_cmd_load, opts, argc, argv, &pos);
  if (r < 0)
    r = cli_check_args(ctx, &cli_cmd_load, &pos, 0, 0);
  cli_strv_free(&pos);
  if (r >= 0)
    return r;

  load_t l = { .fd = STDIN_FILENO, .input = "stdin" };
  if (input == NULL || input[0] == '\0') {
    /* Nothing would ever arrive from a terminal (the docker CLI's check). */
    if (isatty(STDIN_FILENO))
      return fail("requested load from stdin, but stdin is empty");
  } else {
    l.input = input;
    l.fd = open(input, O_RDONLY | O_CLOEXEC);
    if (l.fd < 0)
      return fail("open %s: %s", input, strerror(errno));
  }
  struct stat st = { 0 };
  int64_t size = -1;
  if (fstat(l.fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    if (l.fd != STDIN_FILENO)
      close(l.fd);
    return fail("read %s: %s", l.input, strerror(EISDIR));
  }
  if (S_ISREG(st.st_mode)) { /* what is left of it from the current offset */
    off_t at = lseek(l.fd, 0, SEEK_CUR);
    size = st.st_size - (at > 0 ? at : 0);
  }
  l.size = size;
  /* Docker asks for quiet output when stdout is not a terminal. */
  l.quiet = quiet || !isatty(STDOUT_FILENO);

  berth_error_t err = NULL;
  if (cli_negotiate(ctx, &err) < 0) {
    if (l.fd != STDIN_FILENO)
      close(l.fd);
    return cli_fail(&err);
  }
  char path[64];
  snprintf(path, sizeof path, "/images/load?quiet=%d", l.quiet ? 1 : 0);
  char *full = cli_api_url_path(ctx, path);
  char errbuf[CURL_ERROR_SIZE];
  l.curl = full ? cli_curl_new(ctx, full, errbuf) : NULL;
  free(full);
  l.tok = json_tokener_new();
  struct curl_slist *headers = NULL;
  headers = curl_slist_append(headers, "Content-Type: application/x-tar");
  headers = curl_slist_append(headers, "Expect:"); /* no 100-continue round trip */
  if (size < 0)
    headers = curl_slist_append(headers, "Transfer-Encoding: chunked");
  if (l.curl == NULL || l.tok == NULL || headers == NULL) {
    fprintf(stderr, "out of memory\n");
    r = CLI_EXIT_ERROR;
    goto out;
  }
  curl_easy_setopt(l.curl, CURLOPT_POST, 1L);
  curl_easy_setopt(l.curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(l.curl, CURLOPT_READFUNCTION, load_read);
  curl_easy_setopt(l.curl, CURLOPT_READDATA, &l);
  curl_easy_setopt(l.curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)size);
  curl_easy_setopt(l.curl, CURLOPT_UPLOAD_BUFFERSIZE, 512L * 1024); /* fewer, larger writes */
  curl_easy_setopt(l.curl, CURLOPT_WRITEFUNCTION, load_write);
  curl_easy_setopt(l.curl, CURLOPT_WRITEDATA, &l);
  curl_easy_setopt(l.curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(l.curl, CURLOPT_XFERINFOFUNCTION, load_xfer);
  curl_easy_setopt(l.curl, CURLOPT_XFERINFODATA, &l);

  cli_progress_init(&l.progress, "Loading", size, !quiet);
  cli_catch_interrupts();
  CURLcode rc = curl_easy_perform(l.curl);
  if (l.eof && size >= 0)
    l.progress.done = (uint64_t)size;
  cli_progress_end(&l.progress, rc == CURLE_OK && l.eof && l.error == NULL);

  r = CLI_EXIT_ERROR;
  if (l.error) { /* the engine's own words, as the docker CLI prints them */
    fprintf(stderr, "%s\n", l.error);
  } else if (l.status != 0 && (l.status < 200 || l.status > 299)) {
    berth_error_t derr = NULL;
    cli_daemon_error(&l.errbody, &derr);
    cli_fail(&derr);
  } else if (cli_interrupted) {
    r = interrupted_exit();
  } else if (l.read_errno) {
    fprintf(stderr, "error reading %s: %s\n", l.input, strerror(l.read_errno));
  } else if (rc != CURLE_OK) {
    cli_transport_error(ctx, l.curl, rc, errbuf, &err);
    berth_error_wrap(&err, "error during load");
    cli_fail(&err);
  } else {
    r = 0;
  }
out:
  curl_slist_free_all(headers);
  if (l.curl)
    curl_easy_cleanup(l.curl);
  if (l.tok)
    json_tokener_free(l.tok);
  free(l.error);
  cli_response_free(&l.errbody);
  if (l.fd != STDIN_FILENO)
    close(l.fd);
  return r;
}

const cli_command_t cli_cmd_load = {
  .name = "load",
  .summary = "Load an image from a tar archive or STDIN",
  .usage = "[OPTIONS]",
  .options = "  -h, --help           Print usage\n"
             "  -i, --input string   Read from tar archive file, instead of STDIN\n"
             "  -q, --quiet          Suppress the load output (and the progress bar)\n",
  .run = run_load,
  .aliases = "berth image load, berth load",
};

/* ---------------- save ---------------- */

typedef struct {
  CURL *curl;
  int fd;
  const char *output;    /* for messages */
  int write_errno;
  long status;
  cli_progress_t progress;
  cli_response_t errbody;
} save_t;

static size_t save_write(char *data, size_t size, size_t nmemb, void *ud) {
  save_t *s = ud;
  size_t n = size * nmemb;
  if (s->status == 0)
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &s->status);
  if (s->status < 200 || s->status > 299) {
    char *p = realloc(s->errbody.body, s->errbody.len + n + 1);
    if (p == NULL)
      return 0;
    memcpy(p + s->errbody.len, data, n);
    s->errbody.len += n;
    p[s->errbody.len] = '\0';
    s->errbody.body = p;
    return n;
  }
  for (size_t off = 0; off < n;) {
    ssize_t w = write(s->fd, data + off, n - off);
    if (w < 0 && errno == EINTR && !cli_interrupted)
      continue;
    if (w <= 0) {
      s->write_errno = w < 0 ? errno : EIO;
      return 0;
    }
    off += (size_t)w;
  }
  return n;
}

static int save_xfer(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow) {
  save_t *s = ud;
  if (cli_interrupted)
    return 1;
  if (s->status < 200 || s->status > 299)
    return 0; /* no bar before the archive starts (or for an error reply) */
  if (dltotal > 0)
    s->progress.total = dltotal;
  cli_progress_update(&s->progress, (uint64_t)dlnow);
  return 0;
}

/* The checks of moby's atomicwriter: the directory exists, the target is
 * absent or a regular file (a rename would replace a symlink, not write
 * through it). */
static int check_output(const char *file, char **dir_out) {
  char *copy = strdup(file);
  if (copy == NULL)
    return fail("out of memory");
  char *dir = strdup(dirname(copy));
  free(copy);
  struct stat st;
  int r = -1;
  if (dir == NULL)
    r = fail("out of memory");
  else if (stat(dir, &st) < 0)
    r = fail("failed to save image: invalid output path: %s: %s", dir, strerror(errno));
  else if (!S_ISDIR(st.st_mode))
    r = fail("failed to save image: invalid output path: %s is not a directory", dir);
  else if (lstat(file, &st) == 0 && !S_ISREG(st.st_mode))
    r = fail("failed to save image: invalid output path: %s is %s", file,
                  S_ISDIR(st.st_mode)    ? "a directory"
                  : S_ISLNK(st.st_mode)  ? "a symbolic link (berth does not write through it)"
                  : S_ISFIFO(st.st_mode) ? "a named pipe (redirect instead: berth save IMAGE > PIPE)"
                                         : "not a regular file");
  if (r >= 0) {
    free(dir);
    return r;
  }
  *dir_out = dir;
  return -1;
}

static char *names_query(const cli_strv_t *names) {
  size_t len = sizeof "/images/get?";
  char **esc = calloc(names->n, sizeof *esc);
  for (size_t i = 0; esc && i < names->n; i++) {
    esc[i] = cli_url_escape(names->v[i], false);
    len += (esc[i] ? strlen(esc[i]) : 0) + sizeof "&names=";
  }
  char *q = esc ? malloc(len) : NULL;
  if (q) {
    char *o = stpcpy(q, "/images/get?");
    for (size_t i = 0; i < names->n; i++)
      o = stpcpy(stpcpy(o, i ? "&names=" : "names="), esc[i] ? esc[i] : "");
  }
  for (size_t i = 0; esc && i < names->n; i++)
    free(esc[i]);
  free(esc);
  return q;
}

static int run_save(cli_ctx_t *ctx, int argc, char **argv) {
  const char *output = NULL;
  const cli_opt_t opts[] = {
    { 'o', "output", CLI_OPT_STRING, &output, NULL, NULL },
    { 0, NULL, 0, NULL, NULL, NULL },
  };
  cli_strv_t names = { 0 };
  int r = cli_parse_args(ctx, &cli_cmd_save, opts, argc, argv, &names);
  if (r < 0)
    r = cli_check_args(ctx, &cli_cmd_save, &names, 1, -1);
  if (r >= 0) {
    cli_strv_free(&names);
    return r;
  }

  save_t s = { .fd = STDOUT_FILENO, .output = "stdout" };
  char *dir = NULL, *tmp = NULL, *query = NULL, *full = NULL;
  CURL *curl = NULL;
  berth_error_t err = NULL;
  r = CLI_EXIT_ERROR;
  if (output == NULL || output[0] == '\0') {
    if (isatty(STDOUT_FILENO)) {
      fprintf(stderr, "cowardly refusing to save to a terminal. Use the -o flag or redirect\n");
      goto out;
    }
  } else {
    s.output = output;
    if (check_output(output, &dir) >= 0)
      goto out;
    /* 0600 like the docker CLI: an image may hold secrets. */
    if (asprintf(&tmp, "%s/.berth-save-XXXXXX", dir) < 0) {
      tmp = NULL;
      fprintf(stderr, "out of memory\n");
      goto out;
    }
    s.fd = mkostemp(tmp, O_CLOEXEC);
    if (s.fd < 0) {
      fprintf(stderr, "failed to save image: cannot create a file in %s: %s\n", dir, strerror(errno));
      free(tmp);
      tmp = NULL;
      goto out;
    }
  }

  if (cli_negotiate(ctx, &err) < 0) {
    cli_fail(&err);
    goto out;
  }
  char errbuf[CURL_ERROR_SIZE];
  query = names_query(&names);
  full = query ? cli_api_url_path(ctx, query) : NULL;
  curl = full ? cli_curl_new(ctx, full, errbuf) : NULL;
  if (curl == NULL) {
    fprintf(stderr, "out of memory\n");
    goto out;
  }
  s.curl = curl;
  curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, (long)CURL_MAX_READ_SIZE);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, save_write);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, save_xfer);
  curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &s);
  cli_progress_init(&s.progress, "Saving", -1, true);
  cli_catch_interrupts();
  CURLcode rc = curl_easy_perform(curl);
  bool ok = rc == CURLE_OK && s.status >= 200 && s.status <= 299 && !cli_interrupted;
  cli_progress_end(&s.progress, ok);

  if (s.status != 0 && (s.status < 200 || s.status > 299)) {
    cli_daemon_error(&s.errbody, &err);
    cli_fail(&err);
  } else if (cli_interrupted) {
    r = interrupted_exit();
  } else if (s.write_errno) {
    fprintf(stderr, "failed to save image: write %s: %s\n", s.output, strerror(s.write_errno));
  } else if (rc != CURLE_OK) {
    cli_transport_error(ctx, curl, rc, errbuf, &err);
    berth_error_wrap(&err, "error during save (the archive is incomplete%s)", tmp ? " and was not written" : "");
    cli_fail(&err);
  } else if (tmp) { /* on disk whole, then in place */
    int fd = s.fd, serr = 0;
    s.fd = -1;
    if (fsync(fd) < 0)
      serr = errno;
    if (close(fd) < 0 && serr == 0)
      serr = errno;
    if (serr)
      fail("failed to save image: write %s: %s", s.output, strerror(serr));
    else if (rename(tmp, output) < 0)
      fail("failed to save image: rename to %s: %s", output, strerror(errno));
    else
      r = 0;
  } else {
    r = 0;
  }
out:
  if (tmp) {
    if (s.fd >= 0)
      close(s.fd);
    if (r != 0)
      unlink(tmp);
  }
  if (curl)
    curl_easy_cleanup(curl);
  cli_response_free(&s.errbody);
  free(full);
  free(query);
  free(tmp);
  free(dir);
  cli_strv_free(&names);
  return r;
}

const cli_command_t cli_cmd_save = {
  .name = "save",
  .summary = "Save one or more images to a tar archive (streamed to STDOUT by default)",
  .usage = "[OPTIONS] IMAGE [IMAGE...]",
  .options = "  -h, --help            Print usage\n"
             "  -o, --output string   Write to a file, instead of STDOUT (written whole or not at all)\n",
  .run = run_save,
  .aliases = "berth image save, berth save",
};
