/* sampling_intervals.c - xorshift64* draws for sampling gaps (see sampling_intervals.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sampling_intervals.h"

#include <math.h>
#include <time.h>

static _Thread_local uint64_t rng_state;   /* xorshift64* state; 0 = not seeded yet */

double ss_random_unit(void)
{
    uint64_t x = rng_state;
    if (x == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        /* Time and the address of this thread's state differ between
         * threads started in the same nanosecond. */
        x = ((uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull) ^ (uint64_t)ts.tv_sec ^
            (uint64_t)(uintptr_t)&rng_state;
        if (x == 0)
            x = 0x2545F4914F6CDD1Dull;
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    uint64_t r = x * 0x2545F4914F6CDD1Dull;
    return ((double)(r >> 11) + 1.0) * (1.0 / 9007199254740992.0);   /* 2^53 */
}

static int64_t clamp_interval(double n)
{
    if (n < 1.0)
        return 1;
    return n > 4e18 ? (int64_t)4e18 : (int64_t)n;
}

int64_t ss_geometric_interval(double mean)
{
    if (!(mean > 1.0))
        return 1;
    return clamp_interval(floor(log(ss_random_unit()) / log1p(-1.0 / mean)) + 1.0);
}

int64_t ss_exponential_interval(double mean)
{
    return clamp_interval(-log(ss_random_unit()) * mean);
}
