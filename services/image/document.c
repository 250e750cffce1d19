/* Sealed memfds for Document replies. */
#include "document.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

int document_memfd(const char *data, size_t len, berth_error_t *err) {
  int fd = memfd_create("berth-document", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0)
    return berth_error_errno(err, "memfd_create for a reply document");
  size_t off = 0;
  while (off < len) {
    ssize_t n = write(fd, data + off, len - off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0) {
      int r = berth_error_errno(err, "writing a reply document");
      close(fd);
      return r;
    }
    off += (size_t)n;
  }
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0) {
    int r = berth_error_errno(err, "sealing a reply document");
    close(fd);
    return r;
  }
  return fd;
}
