/* safe_read.h - copy memory that may be freed or unmapped under our feet.
 *
 * The sidecar reads interpreter structures owned by threads that keep
 * running: a frame can be popped and its chunk unmapped between two reads.
 * A plain memcpy would then kill the host with SIGSEGV. process_vm_readv on
 * our own pid copies through the kernel, which reports a bad address as an
 * error instead of a signal. Callers treat any failure as a torn sample. */
#ifndef SS_SAFE_READ_H
#define SS_SAFE_READ_H

#include <stddef.h>
#include <sys/uio.h>

/* Copy `len` bytes from `src` to `dst`. Returns 0 only if all were copied. */
int ss_safe_read(void *dst, const void *src, size_t len);

/* Scatter read: local[i] <- remote[i] for i < n, one system call. Returns the
 * number of leading pairs copied completely (a short read ends the count). */
size_t ss_safe_readv(const struct iovec *local, const struct iovec *remote, size_t n);

/* Copy up to `len` bytes from `src`, stopping at the first unreadable page.
 * Returns the number of bytes copied. */
size_t ss_safe_read_partial(void *dst, const void *src, size_t len);

/* 1 if safe reads work in this process (they can be forbidden by seccomp or
 * a container policy); checked once at start. */
int ss_safe_read_available(void);

#endif
