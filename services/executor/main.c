/* berth-execd entry point: options, start-up checks, the sd-event loop,
 * and a clean stop on SIGTERM/SIGINT. */
#include <getopt.h>
#include <limits.h>
#include "executor.h"

static void usage(FILE *f) {
  fprintf(f,
          "Usage: berth-execd [OPTIONS]\n"
          "The privileged berth executor: starts, demotes and supervises\n"
          "berth-apid, berth-imaged and berth-netd.\n\n"
          "  --data-root DIR    persistent state (default %s)\n"
          "  --run-root DIR     runtime state and berth.sock (default %s)\n"
          "  --libexec-dir DIR  where the service binaries are (default %s)\n"
          "  --config FILE      settings (JSON) passed to every service (default %s)\n"
          "  --cgroup-manager cgroupfs|systemd  containers' cgroups (default: systemd if it is PID 1)\n"
          "  --help             show this help\n",
          BERTH_DEFAULT_DATA_ROOT, BERTH_DEFAULT_RUN_ROOT, BERTH_LIBEXECDIR, BERTH_DEFAULT_CONFIG);
}

/* Services inherit 0-2; make sure they are open so that no socket we create
 * lands on them by accident. */
static int ensure_std_fds(void) {
  for (int fd = 0; fd < 3; fd++) {
    int n = fcntl(fd, F_GETFD) >= 0 ? fd : open("/dev/null", O_RDWR);
    if (n != fd)
      return n >= 0 ? close(n), -1 : -1;
  }
  return 0;
}

/* Creates dir (0755, one level) if missing and returns its absolute path:
 * services get it as an argument and run with another cwd. */
static char *prepare_dir(const char *dir, berth_error_t *err) {
  if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
    berth_error_errno(err, "mkdir %s", dir);
    return NULL;
  }
  char *abs = realpath(dir, NULL);
  if (abs == NULL)
    berth_error_errno(err, "realpath %s", dir);
  return abs;
}

/* Only these variables reach a service (see the contract in the brief). */
static char **service_env(void) {
  static const char *pass[] = {"BERTH_LOG_LEVEL", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"};
  char **env = calloc(2 + sizeof pass / sizeof pass[0], sizeof *env);
  if (env == NULL)
    return NULL;
  size_t n = 0;
  env[n++] = strdup("PATH=/usr/sbin:/usr/bin:/sbin:/bin");
  for (size_t i = 0; i < sizeof pass / sizeof pass[0]; i++) {
    const char *v = getenv(pass[i]);
    if (v && asprintf(&env[n], "%s=%s", pass[i], v) >= 0)
      n++;
  }
  return env;
}

static int on_stop_signal(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata) {
  execd_t *x = userdata;
  log_info("got %s, stopping services", strsignal((int)si->ssi_signo));
  execd_stop_all(x);
  return 0;
}

/* The services run with cwd /: make a relative --config absolute. The file
 * itself is never opened here (it may not exist: defaults). */
static char *absolute(const char *path) {
  char cwd[PATH_MAX], *abs = NULL;
  if (path[0] == '/')
    return strdup(path);
  if (getcwd(cwd, sizeof cwd) == NULL || asprintf(&abs, "%s/%s", cwd, path) < 0)
    return NULL;
  return abs;
}

static int setup(execd_t *x, const char *data_root, const char *run_root, const char *config, const char *cgroups,
                 berth_error_t *err) {
  if (ensure_std_fds() < 0)
    return berth_error_errno(err, "cannot open /dev/null for fds 0-2");
  umask(0022);
  if ((x->data_root = prepare_dir(data_root, err)) == NULL || (x->run_root = prepare_dir(run_root, err)) == NULL)
    return -1;
  if ((x->envp = service_env()) == NULL || x->envp[0] == NULL || (x->config = absolute(config)) == NULL)
    return berth_error_make(err, ENOMEM, "out of memory");
  if (demote_resolve(x, err) < 0)
    return -1;
  /* imaged's store, owned by its namespace root, before imaged starts. */
  x->image_fd = layers_prepare_store(x->data_root, (uid_t)x->subuid, (gid_t)x->subgid, err);
  if (x->image_fd < 0)
    return berth_error_wrap(err, "image store");
  if (container_init(x, cgroups, err) < 0)
    return berth_error_wrap(err, "containers");
  if (execd_listen(x, err) < 0)
    return -1;

  /* sd-event needs these blocked to deliver them by signalfd / pidfd.
   * Children unblock everything before exec (demote.c). */
  sigset_t ss;
  sigemptyset(&ss);
  for (const int *sig = (const int[]){SIGTERM, SIGINT, SIGCHLD, 0}; *sig; sig++)
    sigaddset(&ss, *sig);
  if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
    return berth_error_errno(err, "sigprocmask");
  signal(SIGPIPE, SIG_IGN);
  int rc = sd_event_default(&x->event);
  for (int i = 0; i < 2 && rc >= 0; i++)
    rc = sd_event_add_signal(x->event, NULL, i ? SIGINT : SIGTERM, on_stop_signal, x);
  if (rc < 0)
    return berth_error_make(err, -rc, "sd-event set-up: %s", strerror(-rc));
  return execd_start_all(x, err);
}

/* Everything is gone by now (services exited, their sources unref'd);
 * freeing the rest keeps LeakSanitizer quiet. */
static void cleanup(execd_t *x) {
  for (char **e = x->envp; e && *e; e++)
    free(*e);
  free(x->envp);
  free(x->data_root);
  free(x->run_root);
  free(x->config);
  free(x->own_socket);
  int fds[] = {x->image_fd, x->containers_fd, x->monitor_fd, x->api_fd};
  for (size_t i = 0; i < sizeof fds / sizeof *fds; i++)
    if (fds[i] >= 0)
      close(fds[i]);
  for (int i = 0; i < EXECD_NSERVICES; i++)
    if (x->svc[i].exe_fd > 0)
      close(x->svc[i].exe_fd);
  sd_event_source_unref(x->stop_timer);
  sd_event_source_unref(x->reap_timer);
  sd_event_unref(x->event);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"data-root", required_argument, NULL, 'd'},
      {"run-root", required_argument, NULL, 'r'},
      {"libexec-dir", required_argument, NULL, 'l'},
      {"config", required_argument, NULL, 'c'},
      {"cgroup-manager", required_argument, NULL, 'g'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  execd_t x = {.libexec_dir = BERTH_LIBEXECDIR, .api_fd = -1, .image_fd = -1, .containers_fd = -1, .monitor_fd = -1};
  const char *data_root = BERTH_DEFAULT_DATA_ROOT, *run_root = BERTH_DEFAULT_RUN_ROOT, *config = BERTH_DEFAULT_CONFIG;
  const char *cgroups = NULL;
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'd': data_root = optarg; break;
    case 'r': run_root = optarg; break;
    case 'l': x.libexec_dir = optarg; break;
    case 'c': config = optarg; break;
    case 'g': cgroups = optarg; break;
    case 'h': usage(stdout); return 0;
    default: usage(stderr); return 2;
    }
  }
  if (optind != argc) {
    usage(stderr);
    return 2;
  }
  berth_log_init("berth-execd");
  if (geteuid() != 0) {
    log_err("must run as root (it demotes each service itself)");
    return 1;
  }
  berth_error_t err = NULL;
  int rc = setup(&x, data_root, run_root, config, cgroups, &err);
  if (rc >= 0)
    rc = sd_event_loop(x.event);
  else
    log_err("start-up failed: %s", err && err->msg ? err->msg : "unknown error");
  berth_error_release(&err);
  if (x.own_socket)
    unlink(x.own_socket);
  if (rc >= 0)
    log_info("stopped");
  cleanup(&x);
  return rc < 0 ? 1 : 0;
}
