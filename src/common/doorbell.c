/* doorbell.c - a futex word the sampler sleeps on (see doorbell.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "doorbell.h"

#include <errno.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static _Atomic uint32_t bell;   /* rings so far (wraps) */

uint32_t ss_doorbell_count(void)
{
    return atomic_load_explicit(&bell, memory_order_acquire);
}

void ss_doorbell_ring(void)
{
    int saved = errno;
    atomic_fetch_add_explicit(&bell, 1, memory_order_release);
    syscall(SYS_futex, &bell, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    errno = saved;
}

void ss_doorbell_wait(uint32_t seen, int64_t timeout_ns)
{
    if (timeout_ns <= 0)
        return;
    struct timespec ts = {(time_t)(timeout_ns / 1000000000), (long)(timeout_ns % 1000000000)};
    /* Returns at once if the word already moved on (EAGAIN), on a ring, on
     * the timeout, or on a signal (the sampler blocks all of them anyway). */
    syscall(SYS_futex, &bell, FUTEX_WAIT_PRIVATE, seen, &ts, NULL, 0);
}
