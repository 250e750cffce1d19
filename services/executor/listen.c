/* The API listening socket: taken from systemd (socket activation) when
 * present, otherwise created as RUN_ROOT/berth.sock. execd never accepts on
 * it; it only hands it to berth-apid as fd 4. */
#include <sys/un.h>
#include "executor.h"

/* Picks the fd named "api", or the only fd when the names are not set.
 * Other passed fds are closed: nothing may leak into a service. */
static int take_activated(berth_error_t *err) {
  char **names = NULL;
  int n = sd_listen_fds_with_names(1, &names);
  if (n < 0)
    return berth_error_make(err, -n, "sd_listen_fds_with_names: %s", strerror(-n));
  int fd = -1;
  for (int i = 0; i < n; i++) {
    const char *name = names && names[i] ? names[i] : "unknown";
    bool pick = fd < 0 && (strcmp(name, "api") == 0 || (n == 1 && strcmp(name, "unknown") == 0));
    if (pick)
      fd = SD_LISTEN_FDS_START + i;
    else
      close(SD_LISTEN_FDS_START + i);
    if (names)
      free(names[i]);
  }
  free(names);
  if (n > 0 && fd < 0)
    return berth_error_make(err, EINVAL, "socket activation passed %d fds, none named \"api\"", n);
  if (fd < 0)
    return 0;
  if (sd_is_socket_unix(fd, SOCK_STREAM, 1, NULL, 0) <= 0) {
    close(fd);
    return berth_error_make(err, ENOTSOCK, "activated fd is not a listening AF_UNIX stream socket");
  }
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
    close(fd);
    return berth_error_errno(err, "fcntl");
  }
  return fd;
}

static int create_socket(execd_t *x, berth_error_t *err) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  int len = snprintf(sa.sun_path, sizeof sa.sun_path, "%s/%s", x->run_root, BERTH_SOCKET_NAME);
  if (len < 0 || (size_t)len >= sizeof sa.sun_path)
    return berth_error_make(err, ENAMETOOLONG, "socket path under %s is too long", x->run_root);
  cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return berth_error_errno(err, "socket");
  /* Remove a stale socket from an earlier run, but never anything else,
   * and never the socket of an executor that is still running. */
  struct stat st;
  if (lstat(sa.sun_path, &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return berth_error_make(err, EEXIST, "%s exists and is not a socket", sa.sun_path);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0)
      return berth_error_make(err, EADDRINUSE, "%s is in use: is another berth-execd running?", sa.sun_path);
    if (unlink(sa.sun_path) < 0)
      return berth_error_errno(err, "unlink %s", sa.sun_path);
    close(fd);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
      return berth_error_errno(err, "socket");
  }
  mode_t old = umask(0117); /* born 0660: no window with a wider mode */
  int r = bind(fd, (struct sockaddr *)&sa, sizeof sa);
  umask(old);
  if (r < 0)
    return berth_error_errno(err, "bind %s", sa.sun_path);
  if (chmod(sa.sun_path, 0660) < 0 || listen(fd, SOMAXCONN) < 0)
    return berth_error_errno(err, "set up %s", sa.sun_path);
  x->own_socket = strdup(sa.sun_path);
  log_info("listening on %s", sa.sun_path);
  return berth_steal_fd(&fd);
}

int execd_listen(execd_t *x, berth_error_t *err) {
  int fd = take_activated(err);
  if (fd == 0)
    fd = create_socket(x, err);
  else if (fd > 0)
    log_info("using the socket-activated API socket");
  if (fd < 0)
    return berth_error_wrap(err, "API socket");
  x->api_fd = fd;
  return 0;
}
