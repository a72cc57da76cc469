/* doorbell.h - wake the sampler thread without a file descriptor.
 *
 * Why not an eventfd or a pipe: a profiled program may count, close or pass
 * on its descriptors (daemons closing every fd, subprocess' close_fds and
 * pass_fds checks, CPython's own test_subprocess); a descriptor of ours
 * would be visible to it and, once closed behind our back, would stop the
 * sampler. A futex on one word has nothing to close. Ringing is
 * async-signal-safe (an atomic add and one system call), so the CPU-timer
 * signal handler rings it too. One doorbell per process: there is one
 * sampler thread. */
#ifndef SS_DOORBELL_H
#define SS_DOORBELL_H

#include <stdint.h>

/* The current ring count; pass it to ss_doorbell_wait after checking for
 * work, so a ring in between is never missed. */
uint32_t ss_doorbell_count(void);

/* Wake the waiter. Async-signal-safe; errno preserved. */
void ss_doorbell_ring(void);

/* Sleep until the count differs from `seen` or `timeout_ns` passed. */
void ss_doorbell_wait(uint32_t seen, int64_t timeout_ns);

#endif
