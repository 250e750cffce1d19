/* An attached session on the hijacked connection, as the docker CLI runs
 * it (cli/command/container/hijack.go): the engine's output to stdout and
 * stderr (demultiplexed without a TTY, raw with one) until the engine ends
 * the stream; stdin forwarded when attached, then a half-close
 * (shutdown(SHUT_WR)) at its EOF -- at once when stdin is not attached --
 * while the output is still read. With -it the terminal is raw; its size
 * goes to POST /resize after start and on SIGWINCH. Without a TTY, SIGINT,
 * SIGTERM, ... are forwarded to the container (POST /kill?signal=). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>
#include "ctr.h"

static int sig_pipe[2] = { -1, -1 };
static struct termios saved_termios;
static bool termios_saved;

static const int proxied[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

static void on_signal(int sig) {
  int e = errno;
  unsigned char c = (unsigned char)sig;
  if (write(sig_pipe[1], &c, 1) < 0) {
    /* the pipe is full: the signal is dropped, as a coalesced one would be */
  }
  errno = e;
}

bool cli_term_size(int fd, int *h, int *w) {
  struct winsize ws;
  if (!isatty(fd) || ioctl(fd, TIOCGWINSZ, &ws) < 0)
    return false;
  *h = ws.ws_row;
  *w = ws.ws_col;
  return true;
}

void cli_attach_resize(cli_ctx_t *ctx, const char *id) {
  int h, w;
  if (!cli_term_size(STDOUT_FILENO, &h, &w))
    return;
  char *base = cli_ctr_path(id, "/resize"), *path = NULL;
  if (base && asprintf(&path, "%s?h=%d&w=%d", base, h, w) < 0)
    path = NULL;
  free(base);
  cli_response_t resp = { 0 };
  berth_error_t err = NULL;
  if (path && cli_api(ctx, "POST", path, &resp, &err) < 0)
    berth_error_release(&err); /* as docker: a failed resize is not fatal */
  cli_response_free(&resp);
  free(path);
}

static void forward_signal(cli_ctx_t *ctx, const char *id, int sig) {
  const char *name = sigabbrev_np(sig);
  char *base = cli_ctr_path(id, "/kill"), *path = NULL;
  if (name && base && asprintf(&path, "%s?signal=%s", base, name) < 0)
    path = NULL;
  free(base);
  cli_response_t resp = { 0 };
  berth_error_t err = NULL;
  if (path && cli_api(ctx, "POST", path, &resp, &err) < 0) {
    fprintf(stderr, "error forwarding signal %s: %s\n", name, err->msg);
    berth_error_release(&err);
  }
  cli_response_free(&resp);
  free(path);
}

static void restore_terminal(void) {
  if (termios_saved) {
    tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_termios);
    termios_saved = false;
  }
}

int cli_attach_begin(cli_attach_t *a, berth_error_t *err) {
  signal(SIGPIPE, SIG_IGN);
  if (sig_pipe[0] < 0 && pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
    return berth_error_errno(err, "pipe2");
  struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
  sigemptyset(&sa.sa_mask);
  /* a caller may have started us with these blocked (the mask survives
   * exec): unblock what we handle, or a forwarded signal never arrives */
  sigset_t handled;
  sigemptyset(&handled);
  if (a->resize) {
    sigaction(SIGWINCH, &sa, NULL);
    sigaddset(&handled, SIGWINCH);
  }
  for (size_t i = 0; a->sig_proxy && i < sizeof proxied / sizeof proxied[0]; i++) {
    sigaction(proxied[i], &sa, NULL);
    sigaddset(&handled, proxied[i]);
  }
  sigprocmask(SIG_UNBLOCK, &handled, NULL);
  if (a->tty && a->stdin_attached && isatty(STDIN_FILENO)) {
    if (tcgetattr(STDIN_FILENO, &saved_termios) < 0)
      return berth_error_errno(err, "unable to set IO streams as raw terminal: tcgetattr");
    struct termios raw = saved_termios;
    cfmakeraw(&raw);
    raw.c_oflag = saved_termios.c_oflag & ~(tcflag_t)OPOST;
    if (tcsetattr(STDIN_FILENO, TCSADRAIN, &raw) < 0)
      return berth_error_errno(err, "unable to set IO streams as raw terminal: tcsetattr");
    termios_saved = true;
    atexit(restore_terminal);
  }
  return 0;
}

void cli_attach_end(cli_attach_t *a) {
  (void)a;
  restore_terminal();
  signal(SIGWINCH, SIG_DFL);
  for (size_t i = 0; i < sizeof proxied / sizeof proxied[0]; i++)
    signal(proxied[i], SIG_DFL);
}

typedef struct {
  bool broken[3]; /* stdout/stderr gone (EPIPE): output dropped, the stream still drained */
} out_t;

static int write_fd(void *ud, int stream, const char *p, size_t n) {
  out_t *o = ud;
  int fd = stream == 2 ? STDERR_FILENO : STDOUT_FILENO;
  while (n > 0 && !o->broken[fd]) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && errno == EAGAIN) {
      struct pollfd pfd = { .fd = fd, .events = POLLOUT };
      poll(&pfd, 1, -1);
      continue;
    }
    if (w < 0) {
      o->broken[fd] = true;
      break;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int output(cli_attach_t *a, cli_demux_t *d, out_t *o, const char *p, size_t n, berth_error_t *err) {
  if (a->tty)
    return write_fd(o, 1, p, n);
  if (cli_demux_feed(d, p, n, write_fd, o) < 0)
    return berth_error_make(err, EBADMSG, "the engine's stream has a frame of an unknown stream type");
  return 0;
}

int cli_attach_run(cli_attach_t *a, berth_error_t *err) {
  cli_demux_t demux = { 0 };
  out_t out = { { false } };
  char buf[32768], inbuf[32768];
  size_t in_len = 0, in_off = 0;
  bool stdin_open = a->stdin_attached, write_closed = false;
  int r = 0;
  if (fcntl(a->fd, F_SETFL, fcntl(a->fd, F_GETFL) | O_NONBLOCK) < 0)
    return berth_error_errno(err, "fcntl");
  if (a->pre_len > 0 && output(a, &demux, &out, a->pre, a->pre_len, err) < 0)
    return -1;
  for (;;) {
    if (!stdin_open && in_off == in_len && !write_closed) {
      shutdown(a->fd, SHUT_WR); /* stdin ended: the engine closes the container's stdin */
      write_closed = true;
    }
    struct pollfd p[3] = {
      { .fd = a->fd, .events = POLLIN | (in_off < in_len ? POLLOUT : 0) },
      { .fd = stdin_open && in_off == in_len ? STDIN_FILENO : -1, .events = POLLIN },
      { .fd = sig_pipe[0], .events = POLLIN },
    };
    if (poll(p, 3, -1) < 0) {
      if (errno == EINTR)
        continue;
      return berth_error_errno(err, "poll");
    }
    if (p[2].revents & POLLIN) {
      unsigned char sigs[16];
      ssize_t k = read(sig_pipe[0], sigs, sizeof sigs);
      for (ssize_t i = 0; i < k; i++) {
        if (sigs[i] == SIGWINCH)
          cli_attach_resize(a->ctx, a->id);
        else
          forward_signal(a->ctx, a->id, sigs[i]);
      }
    }
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t k = recv(a->fd, buf, sizeof buf, 0);
      if (k < 0 && (errno == EAGAIN || errno == EINTR))
        continue;
      if (k < 0 && errno != ECONNRESET) {
        r = berth_error_errno(err, "reading the container's output");
        break;
      }
      if (k <= 0)
        break; /* the engine ended the stream: the container's output is over */
      if (output(a, &demux, &out, buf, (size_t)k, err) < 0) {
        r = -1;
        break;
      }
    }
    if ((p[0].revents & POLLOUT) && in_off < in_len) {
      ssize_t k = send(a->fd, inbuf + in_off, in_len - in_off, MSG_NOSIGNAL);
      if (k > 0)
        in_off += (size_t)k;
      else if (k < 0 && errno != EAGAIN && errno != EINTR) {
        in_off = in_len; /* the engine no longer reads stdin: drop it, keep reading output */
        stdin_open = false;
      }
    }
    if (p[1].fd >= 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t k = read(STDIN_FILENO, inbuf, sizeof inbuf);
      if (k < 0 && (errno == EAGAIN || errno == EINTR))
        continue;
      if (k <= 0) {
        stdin_open = false;
      } else {
        in_off = 0;
        in_len = (size_t)k;
      }
    }
  }
  if (r == 0 && cli_demux_partial(&demux))
    r = berth_error_make(err, EBADMSG, "the engine's stream ended inside a frame");
  return r;
}
