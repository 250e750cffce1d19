/* berth-apid's image streams for real: a libmicrohttpd server on an AF_UNIX
 * socket running the real load/save/inspect handlers, a client thread
 * speaking raw HTTP/1.1, and a fake berth-imaged in its own thread and
 * event loop at the other end of a SOCK_SEQPACKET edge.
 *
 * The fake reads the archive pipe to EOF slowly and hashes it, so a
 * multi-megabyte body has to wait in the client, not in apid: the test
 * checks that apid paused the body (backpressure), that imaged got every
 * byte (size and sha256 equal the client's), and that the response carries
 * the checked progress lines and the result. For save, the fake writes a
 * multi-megabyte tar slowly; the client must receive it byte for byte, and
 * a tar cut short must reach the client as a cut-off response. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "app.h"
#include "tap.h"

#define LOAD_SIZE (24u * 1024u * 1024u)
#define SAVE_DATA (8u * 1024u * 1024u)

static struct sockaddr_un addr;
static sd_event *loop;
static int done_pipe[2];
static int stop_loop;
static atomic_int fake_stop;
static api_app_t app;

/* What the fake saw (written by its thread, read after the client finished). */
static uint64_t fake_load_bytes;
static char fake_load_hash[65];
static char fake_save_hash[65];
static char fake_names[256];
static int fake_quiet = -1;

static void hex_of(const unsigned char *md, char out[65]) {
  for (int i = 0; i < 32; i++)
    sprintf(out + 2 * i, "%02x", md[i]);
}

static void sha256_hex(const void *p, size_t n, char out[65]) {
  unsigned char md[32];
  unsigned int len = 0;
  EVP_Digest(p, n, md, &len, EVP_sha256(), NULL);
  hex_of(md, out);
}

/* ---- the fake berth-imaged (its own thread and loop) ---- */

static void write_all(int fd, const void *p, size_t n) {
  const char *c = p;
  while (n > 0) {
    ssize_t w = write(fd, c, n);
    if (w <= 0)
      return;
    c += w;
    n -= (size_t)w;
  }
}

static void fake_load(berth_conn_t *c, berth_msg_t *req) {
  int archive = berth_msg_take_fd(req, 0), progress = berth_msg_take_fd(req, 1);
  fake_quiet = req->env->image_load->quiet;
  char head[16] = "";
  ssize_t hn = read(archive, head, 9);
  if (hn > 0 && strncmp(head, "ERR-EARLY", 9) == 0) {
    /* A malformed archive: refused at once, without reading the rest. */
    close(archive);
    close(progress);
    berth_conn_reply_error(c, req->env->request_id, EINVAL, "archive/tar: invalid tar header at offset 0");
    return;
  }
  EVP_MD_CTX *ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
  EVP_DigestUpdate(ctx, head, hn > 0 ? (size_t)hn : 0);
  uint64_t total = hn > 0 ? (uint64_t)hn : 0, next_report = 0;
  static char buf[64 * 1024];
  for (;;) {
    ssize_t n = read(archive, buf, sizeof buf);
    if (n <= 0)
      break;
    EVP_DigestUpdate(ctx, buf, (size_t)n);
    total += (uint64_t)n;
    usleep(1500);   /* slower than the client: the pipe fills */
    if (total >= next_report) {
      char line[256];
      int len = snprintf(line, sizeof line,
                         "{\"status\": \"Loading layer\", \"progressDetail\": {\"current\": %llu}, \"id\": \"abc\"}\n",
                         (unsigned long long)total);
      write_all(progress, line, (size_t)len);
      next_report += 4u * 1024u * 1024u;
    }
  }
  unsigned char md[32];
  unsigned int mdlen = 0;
  EVP_DigestFinal_ex(ctx, md, &mdlen);
  EVP_MD_CTX_free(ctx);
  hex_of(md, fake_load_hash);
  fake_load_bytes = total;
  write_all(progress, "not json\n{\"x\":1,}\n[1]\n", 22);   /* dropped by apid */
  close(archive);
  close(progress);
  if (strncmp(head, "ERR-LATE", 8) == 0) {
    berth_conn_reply_error(c, req->env->request_id, EBADMSG, "layer sha256:1234: digest mismatch");
    return;
  }
  Berth__Ipc__ImageLoadReply rep = BERTH__IPC__IMAGE_LOAD_REPLY__INIT;
  char id[80];
  snprintf(id, sizeof id, "sha256:%s", fake_load_hash);
  char *loaded[] = {"test:latest", id};
  char *skipped[] = {"sha256:99: dev/null: device node not created"};
  rep.n_loaded = 2;
  rep.loaded = loaded;
  rep.n_skipped = 1;
  rep.skipped = skipped;
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_IMAGE_LOAD_REPLY;
  env.image_load_reply = &rep;
  berth_conn_reply(c, req->env->request_id, &env, NULL, 0, NULL);
}

static size_t tar_header(unsigned char *h, const char *name, size_t size) {
  memset(h, 0, 512);
  snprintf((char *)h, 100, "%s", name);
  snprintf((char *)h + 100, 8, "%07o", 0644);
  snprintf((char *)h + 108, 8, "%07o", 0);
  snprintf((char *)h + 116, 8, "%07o", 0);
  snprintf((char *)h + 124, 12, "%011zo", size);
  snprintf((char *)h + 136, 12, "%011o", 0);
  h[156] = '0';
  memcpy(h + 257, "ustar", 6);
  memcpy(h + 263, "00", 2);
  memset(h + 148, ' ', 8);
  unsigned sum = 0;
  for (int i = 0; i < 512; i++)
    sum += h[i];
  snprintf((char *)h + 148, 8, "%06o", sum);
  return 512;
}

static void fake_save(berth_conn_t *c, berth_msg_t *req) {
  const Berth__Ipc__ImageSaveRequest *q = req->env->image_save;
  fake_names[0] = '\0';
  for (size_t i = 0; i < q->n_names; i++)
    snprintf(fake_names + strlen(fake_names), sizeof fake_names - strlen(fake_names), "%s%s", i ? "," : "",
             q->names[i]);
  int fd = berth_msg_take_fd(req, 0);
  int truncated = q->n_names == 1 && strcmp(q->names[0], "truncated") == 0;
  if (!(q->n_names == 1 && (strcmp(q->names[0], "big") == 0 || truncated))) {
    close(fd);
    berth_conn_reply_error(c, req->env->request_id, ENOENT, "No such image: %s", fake_names);
    return;
  }
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  Berth__Ipc__Ok ok = BERTH__IPC__OK__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_OK;
  env.ok = &ok;
  berth_conn_reply(c, req->env->request_id, &env, NULL, 0, NULL);
  /* manifest.json + one big blob + the end marker, written slowly. */
  size_t len = 512 + 512 + 512 + SAVE_DATA + 1024;
  unsigned char *tar = calloc(1, len);
  size_t off = tar_header(tar, "manifest.json", 2);
  memcpy(tar + off, "[]", 2);
  off += 512;
  off += tar_header(tar + off, "blobs/sha256/data", SAVE_DATA);
  for (size_t i = 0; i < SAVE_DATA; i++)
    tar[off + i] = (unsigned char)((i * 2654435761u) >> 13);
  size_t send = truncated ? len / 2 : len;
  sha256_hex(tar, send, fake_save_hash);
  for (size_t o = 0; o < send; o += 256 * 1024) {
    write_all(fd, tar + o, send - o < 256 * 1024 ? send - o : 256 * 1024);
    usleep(3000);   /* slower than apid: the response waits for data */
  }
  free(tar);
  close(fd);
}

static void fake_query(berth_conn_t *c, berth_msg_t *req) {
  const char *name = req->env->image_query->name;
  const char *doc = strcmp(name, "bad-doc") == 0 ? "{'Id': NaN}"
                                                   : "{\"Id\":\"sha256:abc\",\"RepoTags\":[\"test:latest\"]}";
  int fd = memfd_create("doc", MFD_CLOEXEC);
  write_all(fd, doc, strlen(doc));
  Berth__Ipc__Document d = BERTH__IPC__DOCUMENT__INIT;
  d.size = strlen(doc);
  berth_envelope_t env = BERTH__IPC__ENVELOPE__INIT;
  env.op_case = BERTH__IPC__ENVELOPE__OP_DOCUMENT;
  env.document = &d;
  berth_conn_reply(c, req->env->request_id, &env, &fd, 1, NULL);
  close(fd);
}

static void fake_on_request(berth_conn_t *c, berth_msg_t *req, void *ud) {
  switch (req->env->op_case) {
  case BERTH__IPC__ENVELOPE__OP_IMAGE_LOAD: fake_load(c, req); break;
  case BERTH__IPC__ENVELOPE__OP_IMAGE_SAVE: fake_save(c, req); break;
  case BERTH__IPC__ENVELOPE__OP_IMAGE_QUERY: fake_query(c, req); break;
  default: berth_conn_reply_error(c, req->env->request_id, ENOSYS, "not in this fake"); break;
  }
  berth_msg_release(req);
}

static void fake_on_close(berth_conn_t *c, void *ud) {
  *(berth_conn_t **)ud = NULL;   /* freed once this returns */
}

static void *fake_thread(void *arg) {
  int fd = *(int *)arg;
  sd_event *e = NULL;
  sd_event_new(&e);
  berth_conn_t *c = NULL;
  berth_conn_config_t cfg = {.self = BERTH__IPC__PEER__PEER_IMAGE, .remote = BERTH__IPC__PEER__PEER_API,
                             .on_request = fake_on_request, .on_close = fake_on_close, .userdata = &c};
  c = berth_conn_new(e, fd, &cfg, NULL);
  while (!atomic_load(&fake_stop))
    sd_event_run(e, 50 * 1000);
  berth_conn_close(c);   /* NULL when apid's end closed first */
  sd_event_unref(e);
  return NULL;
}

/* ---- the client (its own thread, blocking socket) ---- */

typedef struct {
  char *request;
  size_t request_len;
  char *response;
  size_t len;
  int status, chunked, terminated;
  char *body;    /* decoded */
  size_t body_len;
} exchange_t;

static void decode(exchange_t *x) {
  if (x->response == NULL)
    return;
  sscanf(x->response, "HTTP/1.1 %d", &x->status);
  char *end = strstr(x->response, "\r\n\r\n");
  if (end == NULL)
    return;
  *end = '\0';   /* headers become a string; the body follows */
  char *p = end + 4, *stop = x->response + x->len;
  x->chunked = strstr(x->response, "Transfer-Encoding: chunked") != NULL;
  x->body = malloc(x->len + 1);
  if (x->body == NULL)
    abort();
  if (!x->chunked) {
    x->body_len = (size_t)(stop - p);
    memcpy(x->body, p, x->body_len);
  } else {
    while (p < stop) {
      char *eol = strstr(p, "\r\n");   /* the response is NUL-terminated */
      if (eol == NULL)
        break;
      size_t n = strtoul(p, NULL, 16);
      p = eol + 2;
      if (n == 0) {
        x->terminated = 1;
        break;
      }
      if ((size_t)(stop - p) < n + 2)
        break;
      memcpy(x->body + x->body_len, p, n);
      x->body_len += n;
      p += n + 2;
    }
  }
  x->body[x->body_len] = '\0';
}

static void exchange(exchange_t *x) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
    return;
  struct timeval tv = {30, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  for (size_t off = 0; off < x->request_len;) {
    ssize_t n = send(fd, x->request + off, x->request_len - off, MSG_NOSIGNAL);
    if (n <= 0)
      break;
    off += (size_t)n;
  }
  size_t cap = 1 << 16;
  x->response = malloc(cap);
  for (;;) {
    if (cap - x->len < 65536)
      x->response = realloc(x->response, cap *= 2);
    ssize_t n = recv(fd, x->response + x->len, cap - 1 - x->len, 0);
    if (n <= 0)
      break;
    x->len += (size_t)n;
  }
  x->response[x->len] = '\0';
  close(fd);
  decode(x);
}

static void *exchange_thread(void *arg) {
  exchange(arg);
  return NULL;
}

static char *head_only(const char *method, const char *path) {
  char *s = NULL;
  if (asprintf(&s, "%s %s HTTP/1.1\r\nHost: api.moby.localhost\r\nConnection: close\r\n\r\n", method, path) < 0)
    abort();
  return s;
}

/* A load request: `size` bytes of archive starting with `magic`, sent with
 * Content-Length or chunked (as the docker CLI sends a file). */
static char *load_request(const char *magic, size_t size, int chunked, size_t *len, char hash[65]) {
  unsigned char *archive = malloc(size);
  size_t m = strlen(magic);
  memcpy(archive, magic, m);
  uint32_t x = 12345;
  for (size_t i = m; i < size; i++) {
    x = x * 1103515245u + 12345u;
    archive[i] = (unsigned char)(x >> 16);
  }
  sha256_hex(archive, size, hash);
  char *s = NULL;
  int h = chunked ? asprintf(&s, "POST /v1.41/images/load?quiet=0 HTTP/1.1\r\nHost: d\r\nConnection: close\r\n"
                                 "Content-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n")
                  : asprintf(&s, "POST /v1.41/images/load?quiet=0 HTTP/1.1\r\nHost: d\r\nConnection: close\r\n"
                                 "Content-Type: application/x-tar\r\nContent-Length: %zu\r\n\r\n",
                             size);
  if (h < 0)
    abort();
  size_t off = (size_t)h;
  s = realloc(s, off + size + size / 1000 * 16 + 64);
  if (!chunked) {
    memcpy(s + off, archive, size);
    off += size;
  } else {
    for (size_t o = 0; o < size; o += 32768) {
      size_t n = size - o < 32768 ? size - o : 32768;
      off += (size_t)sprintf(s + off, "%zx\r\n", n);
      memcpy(s + off, archive + o, n);
      off += n;
      memcpy(s + off, "\r\n", 2);
      off += 2;
    }
    memcpy(s + off, "0\r\n\r\n", 5);
    off += 5;
  }
  free(archive);
  *len = off;
  return s;
}

enum { X_LOAD, X_LOAD_CHUNKED, X_LOAD_ERR_EARLY, X_LOAD_ERR_LATE, X_SAVE, X_SAVE_404, X_SAVE_NAMES, X_SAVE_CUT,
       X_INSPECT, X_INSPECT_BAD, X_COUNT };
static exchange_t xs[X_COUNT];
static char load_hash[X_COUNT][65];
static uint64_t imaged_bytes[X_COUNT];
static char imaged_hash[X_COUNT][65];

static void *client(void *arg) {
  for (int i = 0; i < X_COUNT; i++) {
    exchange(&xs[i]);
    imaged_bytes[i] = fake_load_bytes;   /* the fake is done with a request before apid answers it */
    memcpy(imaged_hash[i], i == X_SAVE ? fake_save_hash : fake_load_hash, 65);
  }
  char c = 1;
  if (write(done_pipe[1], &c, 1) < 0)
    perror("write");
  return NULL;
}

static int on_done(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
  char c;
  if (read(fd, &c, 1) == 1)
    stop_loop = 1;
  return 0;
}

static const api_handler_fn handlers[API_ROUTE__MAX] = {
    [API_ROUTE_IMAGES_LOAD] = api_handle_images_load,
    [API_ROUTE_IMAGES_SAVE] = api_handle_images_save,
    [API_ROUTE_IMAGE_SAVE] = api_handle_images_save,
    [API_ROUTE_IMAGE_INSPECT] = api_handle_image_inspect,
};

static int count_lines(const char *s, const char *needle) {
  int n = 0;
  for (const char *p = s; (p = strstr(p, needle)) != NULL; p++)
    n++;
  return n;
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);   /* as berth_service_start does: EPIPE instead */
  int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof addr.sun_path, "/tmp/berth-test-apistream-%d.sock", (int)getpid());
  unlink(addr.sun_path);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 16) < 0)
    return tap_skip_all("cannot listen on a unix socket");
  int sv[2];
  if (sd_event_new(&loop) < 0 || pipe2(done_pipe, O_CLOEXEC) < 0 ||
      socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return 1;
  berth_error_t err = NULL;
  berth_conn_config_t ccfg = {.self = BERTH__IPC__PEER__PEER_API, .remote = BERTH__IPC__PEER__PEER_IMAGE};
  app.test_image_conn = berth_conn_new(loop, sv[0], &ccfg, &err);
  pthread_t ft;
  pthread_create(&ft, NULL, fake_thread, &sv[1]);
  for (int i = 0; i < 200 && !berth_conn_is_ready(app.test_image_conn); i++)
    sd_event_run(loop, 10 * 1000);
  tap_ok(berth_conn_is_ready(app.test_image_conn), "the edge to the fake berth-imaged is up");

  api_server_t *server = NULL;
  api_server_config_t cfg = {.event = loop, .listen_fd = lfd, .handlers = handlers, .userdata = &app};
  if (!tap_ok(api_server_new(&cfg, &server, &err) == 0, "server starts"))
    return tap_done();
  sd_event_add_io(loop, NULL, done_pipe[0], EPOLLIN, on_done, NULL);

  xs[X_LOAD].request = load_request("OK", LOAD_SIZE, 0, &xs[X_LOAD].request_len, load_hash[X_LOAD]);
  xs[X_LOAD_CHUNKED].request =
      load_request("OK", LOAD_SIZE + 777, 1, &xs[X_LOAD_CHUNKED].request_len, load_hash[X_LOAD_CHUNKED]);
  xs[X_LOAD_ERR_EARLY].request =
      load_request("ERR-EARLY", 4u << 20, 0, &xs[X_LOAD_ERR_EARLY].request_len, load_hash[X_LOAD_ERR_EARLY]);
  xs[X_LOAD_ERR_LATE].request =
      load_request("ERR-LATE", 6u << 20, 1, &xs[X_LOAD_ERR_LATE].request_len, load_hash[X_LOAD_ERR_LATE]);
  xs[X_SAVE].request = head_only("GET", "/v1.41/images/get?names=big");
  xs[X_SAVE_404].request = head_only("GET", "/v1.41/images/nosuch/get");
  xs[X_SAVE_NAMES].request = head_only("GET", "/v1.41/images/get?names=a%2Fb%3Av1&names=sha256%3Aabc");
  xs[X_SAVE_CUT].request = head_only("GET", "/v1.41/images/get?names=truncated");
  xs[X_INSPECT].request = head_only("GET", "/v1.41/images/user/test:latest/json");
  xs[X_INSPECT_BAD].request = head_only("GET", "/v1.41/images/bad-doc/json");
  for (int i = X_SAVE; i < X_COUNT; i++)
    xs[i].request_len = strlen(xs[i].request);

  pthread_t t;
  pthread_create(&t, NULL, client, NULL);
  while (!stop_loop)
    if (sd_event_run(loop, UINT64_MAX) < 0)
      break;
  pthread_join(t, NULL);

  exchange_t *x = &xs[X_LOAD];
  tap_ok(x->status == 200 && strstr(x->response, "Content-Type: application/json"), "load: 200 application/json");
  tap_ok(imaged_bytes[X_LOAD] == LOAD_SIZE && strcmp(imaged_hash[X_LOAD], load_hash[X_LOAD]) == 0,
         "load: imaged read all %u bytes, sha256 as sent (%llu bytes, %.12s vs %.12s)", LOAD_SIZE,
         (unsigned long long)imaged_bytes[X_LOAD], imaged_hash[X_LOAD], load_hash[X_LOAD]);
  tap_ok(fake_quiet == 0, "load: quiet=0 reached imaged");
  unsigned pauses = api_server_body_pauses(server);
  tap_ok(pauses > 0, "load: the body was paused %u times while imaged caught up (backpressure)", pauses);
  tap_ok(count_lines(x->body, "{\"status\":\"Loading layer\",\"progressDetail\":{\"current\":") == 7,
         "load: imaged's progress lines re-serialised (7)");
  tap_ok(strstr(x->body, "not json") == NULL && strstr(x->body, "\"x\":1") == NULL && strstr(x->body, "\n[1]") == NULL,
         "load: invalid progress lines dropped");
  char want[256];
  snprintf(want, sizeof want,
           "{\"stream\":\"Skipped: sha256:99: dev/null: device node not created\\n\"}\n"
           "{\"stream\":\"Loaded image: test:latest\\n\"}\n{\"stream\":\"Loaded image ID: sha256:%s\\n\"}\n",
           load_hash[X_LOAD]);
  size_t wl = strlen(want);
  tap_ok(x->body_len >= wl && strcmp(x->body + x->body_len - wl, want) == 0, "load: ends with dockerd's result lines");
  if (x->body_len < wl || strcmp(x->body + x->body_len - wl, want) != 0)
    tap_diag("body: %s", x->body ? x->body : "(none)");

  x = &xs[X_LOAD_CHUNKED];
  tap_ok(x->status == 200 && imaged_bytes[X_LOAD_CHUNKED] == LOAD_SIZE + 777 &&
             strcmp(imaged_hash[X_LOAD_CHUNKED], load_hash[X_LOAD_CHUNKED]) == 0,
         "load with a chunked body (as the docker CLI sends a file): every byte reached imaged");

  x = &xs[X_LOAD_ERR_EARLY];
  tap_ok(x->status == 400 && strcmp(x->body, "{\"message\":\"archive/tar: invalid tar header at offset 0\"}\n") == 0,
         "load refused before any output: 400 with imaged's message (got %d)", x->status);

  x = &xs[X_LOAD_ERR_LATE];
  const char *last = x->body ? strstr(x->body, "{\"errorDetail\"") : NULL;
  tap_ok(x->status == 200 && x->terminated && last &&
             strcmp(last, "{\"errorDetail\":{\"message\":\"layer sha256:1234: digest mismatch\"},\"error\":\"layer "
                          "sha256:1234: digest mismatch\"}\n") == 0,
         "load failing after progress was sent: 200, last line errorDetail like dockerd");

  x = &xs[X_SAVE];
  char got_hash[65] = "";
  if (x->body)
    sha256_hex(x->body, x->body_len, got_hash);
  tap_ok(x->status == 200 && strstr(x->response, "Content-Type: application/x-tar") && x->chunked && x->terminated,
         "save: 200 application/x-tar, chunked, complete");
  tap_ok(x->body_len == 512 * 3 + SAVE_DATA + 1024 && strcmp(got_hash, imaged_hash[X_SAVE]) == 0,
         "save: the client got imaged's tar byte for byte (%zu bytes)", x->body_len);
  tap_ok(api_server_output_pauses(server) > 0, "save: the response slept %u times waiting for imaged",
         api_server_output_pauses(server));

  x = &xs[X_SAVE_404];
  tap_ok(x->status == 404 && strcmp(x->body, "{\"message\":\"No such image: nosuch\"}\n") == 0,
         "save of an unknown image: 404 before any tar byte");
  x = &xs[X_SAVE_NAMES];
  tap_ok(x->status == 404 && strstr(x->body, "No such image: a/b:v1,sha256:abc"),
         "save: every names= value reaches imaged, in order, unescaped");
  x = &xs[X_SAVE_CUT];
  tap_ok(x->status == 200 && !x->terminated && x->body_len < (512 * 3 + SAVE_DATA + 1024) / 2 + 1,
         "save cut short by imaged: the response is cut off, never completed (%zu bytes)", x->body_len);

  x = &xs[X_INSPECT];
  tap_ok(x->status == 200 && strcmp(x->body, "{\"Id\":\"sha256:abc\",\"RepoTags\":[\"test:latest\"]}\n") == 0,
         "inspect: imaged's document passed on as is (greedy name user/test:latest)");
  x = &xs[X_INSPECT_BAD];
  tap_ok(x->status == 500 && strstr(x->body, "unusable reply"), "inspect: a document that is not strict JSON: 500");

  /* berth-imaged gone: a load is answered 503 at once and its body is
   * read and dropped, never held. */
  berth_conn_close(app.test_image_conn);
  app.test_image_conn = NULL;
  char h[65];
  exchange_t down = {0};
  down.request = load_request("OK", 8u << 20, 0, &down.request_len, h);
  pthread_t td;
  pthread_create(&td, NULL, exchange_thread, &down);
  while (pthread_tryjoin_np(td, NULL) != 0)
    sd_event_run(loop, 50 * 1000);
  tap_ok(down.status == 503 && down.body && strstr(down.body, "berth-imaged is not running"),
         "load while berth-imaged is down: 503 (got %d)", down.status);
  free(down.request);
  free(down.response);
  free(down.body);

  api_server_free(server);
  atomic_store(&fake_stop, 1);
  pthread_join(ft, NULL);
  for (int i = 0; i < X_COUNT; i++) {
    free(xs[i].request);
    free(xs[i].response);
    free(xs[i].body);
  }
  sd_event_unref(loop);
  unlink(addr.sun_path);
  close(done_pipe[0]);
  close(done_pipe[1]);
  return tap_done();
}
