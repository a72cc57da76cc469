/* event_sampling.h - random sampling intervals and labels shared by the
 * event profilers (exceptions, locks, memory).
 *
 * Why this file exists: the three event profilers see events on the
 * application's own threads, far too many to record each one. Each keeps a
 * countdown to its next sampled event, drawn at random so that the sampled
 * events form a Poisson process over the event stream: every event (or every
 * byte, for memory) is sampled with the same probability independently of
 * its neighbours, which is what makes "value x 1/probability" an unbiased
 * estimate of the total. A fixed period (every N-th event) would alias with
 * periodic programs - a loop that raises every 10th iteration would be
 * always or never sampled.
 *
 * All callers hold the GIL, which serialises them; the generator state is
 * still per thread so that no caller depends on that. */
#ifndef SSP_EVENT_SAMPLING_H
#define SSP_EVENT_SAMPLING_H

#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "../src/common/aggregator.h"
#include "thread_names.h"

/* xorshift64* state of the calling thread; 0 = not seeded yet. */
static _Thread_local uint64_t ssp_rng_state;

/* Uniform double in (0, 1]. Never 0, so log() below is finite. */
static inline double
ssp_random_unit(void)
{
    uint64_t x = ssp_rng_state;
    if (x == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        /* Seed from time and the address of this thread's state, which
         * differs between threads started in the same nanosecond. */
        x = ((uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull) ^ (uint64_t)ts.tv_sec ^
            (uint64_t)(uintptr_t)&ssp_rng_state;
        if (x == 0)
            x = 0x2545F4914F6CDD1Dull;
    }
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    ssp_rng_state = x;
    uint64_t r = x * 0x2545F4914F6CDD1Dull;
    return ((double)(r >> 11) + 1.0) * (1.0 / 9007199254740992.0);   /* 2^53 */
}

/* Number of events until the next sampled one (>= 1) when each event is
 * sampled with probability 1/mean: a geometric draw. mean <= 1 samples
 * every event. */
static inline int64_t
ssp_geometric_interval(double mean)
{
    if (!(mean > 1.0))
        return 1;
    double n = floor(log(ssp_random_unit()) / log1p(-1.0 / mean)) + 1.0;
    if (n > 4e18)
        n = 4e18;
    return (int64_t)n;
}

/* Bytes until the next sampled byte when bytes are sampled as a Poisson
 * process of rate 1/mean: an exponential draw, at least 1. */
static inline int64_t
ssp_exponential_interval(double mean)
{
    double n = -log(ssp_random_unit()) * mean;
    if (n < 1.0)
        return 1;
    if (n > 4e18)
        n = 4e18;
    return (int64_t)n;
}

/* Thread labels of the calling thread (which holds the GIL). */
static inline void
ssp_current_thread_labels(ss_labels *labels)
{
    memset(labels, 0, sizeof *labels);
    unsigned long ident = PyThread_get_thread_ident();
    labels->thread_id = (int64_t)ident;
    labels->native_thread_id = (int64_t)PyThread_get_thread_native_id();
    labels->thread_name = ssp_thread_names_get(ident);
}

#endif
