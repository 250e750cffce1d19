/* The monitor's channels (channel.h): up to CHANNEL_MAX_CONNS SEQPACKET
 * connections to apid, each with a queue of messages the peer has not taken
 * yet. A subscribed channel with queued output makes the monitor stop
 * reading the container (chans_blocked), so nothing is lost and a slow
 * reader slows the container as a pipe would. Anything malformed, a send or
 * receive error, or the peer closing drops that channel alone.
 *
 * Stdin ('i') goes to fd 7 without blocking: what the pipe cannot take yet
 * stays with the channel that sent it, and that channel is not read again
 * until it is written. 'c' ends the sender's stdin; with --stdin-once (and no
 * tty) it closes the container's stdin for good. With a tty the pty is never
 * closed (Docker does not close a TTY's input either). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>
#include "chanmsg.h"
#include "log.h"
#include "monitor.h"

typedef struct qmsg {
  struct qmsg *next;
  size_t len;
  uint8_t data[];
} qmsg_t;

typedef struct {
  int fd;               /* -1: slot free */
  bool subscribed;
  bool stdin_done;      /* this channel sent 'c' */
  qmsg_t *head, *tail;
  uint8_t *stdin_buf;   /* bytes fd 7 has not taken yet */
  size_t stdin_len, stdin_off;
} chan_t;

struct chans {
  chan_t ch[CHANNEL_MAX_CONNS];
  pid_t pid;
  int64_t started_ns;
  uid_t self_uid;
  bool tty, stdin_once, stdin_closed;
  size_t progress;
  uint8_t rbuf[CHANNEL_MAX_MSG + 1];
};

chans_t *chans_new(pid_t pid, int64_t started_ns, const monitor_args_t *a) {
  chans_t *c = calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  for (size_t i = 0; i < CHANNEL_MAX_CONNS; i++)
    c->ch[i].fd = -1;
  c->pid = pid;
  c->started_ns = started_ns;
  c->self_uid = geteuid();
  c->tty = a->tty;
  c->stdin_once = a->stdin_once;
  c->stdin_closed = !a->stdin_open;
  if (c->stdin_closed)
    close(FD_STDIN);
  return c;
}

static void drop(chans_t *c, chan_t *ch, const char *why) {
  if (ch->fd < 0)
    return;
  if (why)
    log_warn("dropping channel fd %d: %s", ch->fd, why);
  close(ch->fd);
  ch->fd = -1;
  while (ch->head) {
    qmsg_t *n = ch->head->next;
    free(ch->head);
    ch->head = n;
  }
  ch->tail = NULL;
  free(ch->stdin_buf);
  ch->stdin_buf = NULL;
  ch->stdin_len = ch->stdin_off = 0;
  ch->subscribed = ch->stdin_done = false;
}

void chans_free(chans_t *c) {
  if (c == NULL)
    return;
  for (size_t i = 0; i < CHANNEL_MAX_CONNS; i++)
    drop(c, &c->ch[i], NULL);
  free(c);
}

static void flush(chans_t *c, chan_t *ch) {
  while (ch->fd >= 0 && ch->head) {
    qmsg_t *m = ch->head;
    ssize_t n = send(ch->fd, m->data, m->len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    if (n < 0 || (size_t)n != m->len) {
      char why[96];
      snprintf(why, sizeof why, "send: %s", n < 0 ? strerror(errno) : "short send");
      drop(c, ch, errno == EPIPE || errno == ECONNRESET ? NULL : why);
      return;
    }
    c->progress += m->len;
    ch->head = m->next;
    if (ch->head == NULL)
      ch->tail = NULL;
    free(m);
  }
}

static void enqueue(chans_t *c, chan_t *ch, const uint8_t *data, size_t len) {
  qmsg_t *m = malloc(sizeof *m + len);
  if (m == NULL) {
    drop(c, ch, "out of memory");
    return;
  }
  m->next = NULL;
  m->len = len;
  memcpy(m->data, data, len);
  if (ch->tail)
    ch->tail->next = m;
  else
    ch->head = m;
  ch->tail = m;
  flush(c, ch);
}

int chans_add(chans_t *c, int fd, bool subscribed) {
  for (size_t i = 0; i < CHANNEL_MAX_CONNS; i++) {
    chan_t *ch = &c->ch[i];
    if (ch->fd >= 0)
      continue;
    ch->fd = fd;
    ch->subscribed = subscribed;
    /* Room for a whole output message whatever the peer set on this end. */
    int sndbuf = 4 * CHANNEL_MAX_MSG;
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    char hello[CHAN_SMALL_MSG];
    enqueue(c, ch, (const uint8_t *)hello, chan_format_hello(hello, c->pid, c->started_ns));
    return 0;
  }
  return -1;
}

size_t chans_count(const chans_t *c) {
  size_t n = 0;
  for (size_t i = 0; i < CHANNEL_MAX_CONNS; i++)
    n += c->ch[i].fd >= 0;
  return n;
}

/* A peer on mon/sock: refused beyond CHANNEL_MAX_CONNS, and unless it is
 * root (the executor) or our own user. */
void chans_accept(chans_t *c) {
  for (int k = 0; k < CHANNEL_MAX_CONNS; k++) {
    int fd = accept4(FD_LISTEN, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
        log_warn("accept on mon/sock: %m");
      return;
    }
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || (cred.uid != 0 && cred.uid != c->self_uid)) {
      log_warn("refusing a channel from uid %d on mon/sock", (int)cred.uid);
      close(fd);
    } else if (chans_count(c) >= CHANNEL_MAX_CONNS || chans_add(c, fd, false) < 0) {
      log_warn("refusing a channel: %d already open", CHANNEL_MAX_CONNS);
      close(fd);
    }
  }
}

void chans_broadcast(chans_t *c, const uint8_t *msg, size_t len, bool all) {
  for (size_t i = 0; i < CHANNEL_MAX_CONNS; i++)
    if (c->ch[i].fd >= 0 && (all || c->ch[i].subscribed))
      enqueue(c, &c->ch[i], msg, len);
}

bool chans_blocked(const chans_t *c) {
  for (size_t i = 0; i < CHANNEL_MAX_CONNS; i++)
    if (c->ch[i].fd >= 0 && c->ch[i].head)
      return true;
  return false;
}

bool chans_idle(const chans_t *c) {
  return !chans_blocked(c);
}

size_t chans_progress(chans_t *c) {
  size_t p = c->progress;
  c->progress = 0;
  return p;
}

void chans_drop_blocked(chans_t *c) {
  for (size_t i = 0; i < CHANNEL_MAX_CONNS; i++)
    if (c->ch[i].fd >= 0 && c->ch[i].head)
      drop(c, &c->ch[i], "the container exited and the channel takes no more output");
}

static void close_stdin(chans_t *c) {
  if (c->stdin_closed)
    return;
  c->stdin_closed = true;
  close(FD_STDIN);
  for (size_t i = 0; i < CHANNEL_MAX_CONNS; i++) {
    free(c->ch[i].stdin_buf);
    c->ch[i].stdin_buf = NULL;
    c->ch[i].stdin_len = c->ch[i].stdin_off = 0;
  }
}

/* Writes a channel's pending stdin; false while some remains. */
static bool stdin_write(chans_t *c, chan_t *ch) {
  while (ch->stdin_buf && ch->stdin_off < ch->stdin_len) {
    ssize_t n = write(FD_STDIN, ch->stdin_buf + ch->stdin_off, ch->stdin_len - ch->stdin_off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return false;
    if (n <= 0) {
      if (errno != EPIPE && errno != EIO)
        log_warn("writing the container's stdin: %m");
      close_stdin(c); /* the container closed its stdin or is gone */
      return true;
    }
    ch->stdin_off += (size_t)n;
  }
  free(ch->stdin_buf);
  ch->stdin_buf = NULL;
  ch->stdin_len = ch->stdin_off = 0;
  return true;
}

static void handle_msg(chans_t *c, chan_t *ch, const chan_msg_t *m) {
  switch (m->type) {
  case CHANNEL_SUBSCRIBE:
    ch->subscribed = true;
    break;
  case CHANNEL_UNSUBSCRIBE:
    ch->subscribed = false;
    break;
  case CHANNEL_STDIN:
    if (c->stdin_closed || ch->stdin_done)
      break;
    ch->stdin_buf = malloc(m->len);
    if (ch->stdin_buf == NULL) {
      drop(c, ch, "out of memory for stdin");
      break;
    }
    memcpy(ch->stdin_buf, m->data, m->len);
    ch->stdin_len = m->len;
    ch->stdin_off = 0;
    stdin_write(c, ch);
    break;
  case CHANNEL_STDIN_CLOSE:
    ch->stdin_done = true;
    if (c->stdin_once && !c->tty)
      close_stdin(c);
    break;
  case CHANNEL_RESIZE:
    if (c->tty) {
      struct winsize ws = { .ws_row = (unsigned short)m->a, .ws_col = (unsigned short)m->b };
      if (ioctl(FD_STDOUT, TIOCSWINSZ, &ws) < 0 && errno != EBADF)
        log_warn("resizing the tty: %m");
    }
    break;
  }
}

/* Reads what the channel sent, up to a few messages (fair to the others). */
static void receive(chans_t *c, chan_t *ch) {
  for (int k = 0; k < 16 && ch->fd >= 0 && ch->stdin_buf == NULL; k++) {
    struct iovec iov = { c->rbuf, sizeof c->rbuf };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    ssize_t n = recvmsg(ch->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return;
    if (n <= 0) {
      drop(c, ch, n < 0 && errno != ECONNRESET ? "receive error" : NULL);
      return;
    }
    if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
      drop(c, ch, "malformed message: too long or carrying fds");
      return;
    }
    chan_msg_t m;
    const char *why;
    if (chan_parse_request(c->rbuf, (size_t)n, &m, &why) < 0) {
      char buf[128];
      snprintf(buf, sizeof buf, "malformed message (type 0x%02x): %s", c->rbuf[0], why);
      drop(c, ch, buf);
      return;
    }
    handle_msg(c, ch, &m);
  }
}

/* pollfd layout: one entry per slot, then fd 7. */
size_t chans_pollfds(chans_t *c, struct pollfd *p, size_t max) {
  if (max < CHANNEL_MAX_CONNS + 1)
    return 0;
  bool stdin_wait = false;
  for (size_t i = 0; i < CHANNEL_MAX_CONNS; i++) {
    chan_t *ch = &c->ch[i];
    short ev = 0;
    if (ch->fd >= 0) {
      if (ch->head)
        ev |= POLLOUT;
      if (ch->stdin_buf)
        stdin_wait = true;
      else
        ev |= POLLIN;
    }
    p[i].fd = ev ? ch->fd : -1;
    p[i].events = ev;
    p[i].revents = 0;
  }
  p[CHANNEL_MAX_CONNS].fd = stdin_wait && !c->stdin_closed ? FD_STDIN : -1;
  p[CHANNEL_MAX_CONNS].events = POLLOUT;
  p[CHANNEL_MAX_CONNS].revents = 0;
  return CHANNEL_MAX_CONNS + 1;
}

void chans_handle(chans_t *c, const struct pollfd *p, size_t n) {
  if (n < CHANNEL_MAX_CONNS + 1)
    return;
  if (p[CHANNEL_MAX_CONNS].revents)
    for (size_t i = 0; i < CHANNEL_MAX_CONNS && !c->stdin_closed; i++)
      if (c->ch[i].fd >= 0 && c->ch[i].stdin_buf && !stdin_write(c, &c->ch[i]))
        break;
  for (size_t i = 0; i < CHANNEL_MAX_CONNS; i++) {
    chan_t *ch = &c->ch[i];
    short r = p[i].revents;
    if (ch->fd < 0 || p[i].fd != ch->fd || r == 0)
      continue;
    if (ch->head && (r & (POLLOUT | POLLERR | POLLHUP)))
      flush(c, ch);
    if (ch->fd >= 0 && (p[i].events & POLLIN) && (r & (POLLIN | POLLERR | POLLHUP)))
      receive(c, ch);
  }
}
