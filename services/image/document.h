/* Document replies: a JSON document too large for a datagram travels as a
 * sealed memfd (the receiver reads it with pread; nobody can change it). */
#pragma once
#include <stddef.h>
#include "error.h"

/* Returns a memfd (O_CLOEXEC) holding exactly data[0..len), sealed against
 * writes, growing and shrinking; or < 0 with *err. */
int document_memfd(const char *data, size_t len, berth_error_t *err);
