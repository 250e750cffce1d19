/* The channel between berth-apid and a container's monitor (berth-monitor).
 * AF_UNIX SOCK_SEQPACKET: one message per datagram, at most
 * CHANNEL_MAX_MSG bytes: one type byte, then the payload. Numbers in a
 * payload are ASCII decimal separated by single spaces (no sign unless the
 * field may be negative), nothing else: both ends parse strictly and close
 * the connection on anything malformed or unknown.
 *
 * The first channel is born with the container: apid passes one end of a
 * socketpair in ContainerStart; the monitor gets the other. More channels
 * come through the monitor's listening socket (the executor connects on
 * ContainerConnect and hands the fd to apid): that is how a restarted apid
 * finds its running containers again. The monitor serves up to
 * CHANNEL_MAX_CONNS at once and refuses more. */
#pragma once

#define CHANNEL_MAX_MSG 65536
#define CHANNEL_MAX_CONNS 8

/* monitor -> apid */
#define CHANNEL_HELLO 'h'    /* first message on every channel: "PID STARTED_UNIX_NANO" (the
                              * container's host pid; the monitor's start-up time, within ms of
                              * the container's: the pid file's time is the reference) */
#define CHANNEL_STDOUT 'o'   /* output bytes (a TTY's output is all 'o'); only while subscribed */
#define CHANNEL_STDERR 'e'
#define CHANNEL_ROTATED 'R'  /* log.json was rotated to log.json.1: re-open index 0 to follow
                              * (subscribed channels only; at most one per output message) */
#define CHANNEL_EXIT 'x'     /* "EXIT_CODE OOM FINISHED_UNIX_NANO" (OOM 0|1): the container is gone,
                              * all its output was sent before this and the exit file written;
                              * the monitor then closes the channel */

/* apid -> monitor */
#define CHANNEL_SUBSCRIBE 's'    /* forward output from now on (the first channel starts subscribed) */
#define CHANNEL_UNSUBSCRIBE 'u'
#define CHANNEL_STDIN 'i'        /* bytes (at least one) for the container's stdin (ignored without
                                  * open_stdin, after this channel's 'c', or once stdin is closed) */
#define CHANNEL_STDIN_CLOSE 'c'  /* end of this channel's stdin. With stdin_once (and no tty) the
                                  * first 'c' from any channel closes the container's stdin for good;
                                  * otherwise stdin stays open for later attaches, as with Docker
                                  * (a tty's input is never closed) */
#define CHANNEL_RESIZE 'w'       /* "ROWS COLS" (1..65535 each): TIOCSWINSZ on a TTY, else ignored */

/* Backpressure: the monitor stops reading the container's output while a
 * subscribed channel cannot take more (EAGAIN), so a slow reader slows the
 * container as a pipe would; a channel that is closed or errors is
 * dropped. The log file is always written first, then the channels.
 * After the container exited, a channel that takes nothing for 10 s is
 * dropped so the monitor can finish.
 *
 * Dropped without a word: a malformed or unknown message, an empty one
 * (recv() 0 is end of connection on SEQPACKET), one longer than
 * CHANNEL_MAX_MSG, one carrying fds. mon/sock accepts only root (the
 * executor) and the monitor's own uid; beyond CHANNEL_MAX_CONNS a new
 * connection is closed at once (the peer reads EOF before any 'h'). */
