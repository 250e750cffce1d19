/* A one-line progress bar on stderr, only when stderr is a terminal (so
 * scripts and logs never see carriage returns). */
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int columns(void) {
  struct winsize ws;
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    return ws.ws_col;
  return 80;
}

void cli_progress_init(cli_progress_t *p, const char *label, int64_t total, bool want) {
  *p = (cli_progress_t){ .enabled = want && isatty(STDERR_FILENO), .label = label, .total = total, .last_ms = -1 };
}

static void draw(cli_progress_t *p) {
  char line[256];
  int cols = columns();
  /* One column short of the width, so the terminal never wraps. */
  cli_progress_format(line, sizeof line, p->label, p->done, p->total, cols - 1);
  fprintf(stderr, "\r\033[K%s", line);
  fflush(stderr);
  p->drawn = true;
  p->last_ms = now_ms();
}

void cli_progress_update(cli_progress_t *p, uint64_t done) {
  p->done = done;
  if (!p->enabled)
    return;
  if (p->last_ms >= 0 && now_ms() - p->last_ms < 100)
    return;
  draw(p);
}

void cli_progress_clear(cli_progress_t *p) {
  if (!p->enabled || !p->drawn)
    return;
  fputs("\r\033[K", stderr);
  fflush(stderr);
  p->drawn = false;
  p->last_ms = -1; /* redraw at the next update */
}

void cli_progress_end(cli_progress_t *p, bool success) {
  if (!p->enabled)
    return;
  if (success) {
    draw(p);
    fputc('\n', stderr);
    fflush(stderr);
    p->drawn = false;
  } else {
    cli_progress_clear(p);
  }
  p->enabled = false;
}
