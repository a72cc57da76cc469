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
#include "../src/common/sampling_intervals.h"
#include "thread_names.h"

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

/* Subtract `amount` from the countdown `*left`; true when it reached zero
 * or below (the event is a sampled one). On the application's hottest paths
 * (every object allocation, every lock acquire): on x86-64 one subtract on
 * memory whose flags decide, where the compiler otherwise loads, subtracts,
 * stores and tests - three instructions more per event. */
static inline int
ssp_countdown_expired(int64_t *left, int64_t amount)
{
#if defined(__x86_64__) && defined(__GCC_ASM_FLAG_OUTPUTS__)
    int expired;
    __asm__("subq %2, %0" : "+m"(*left), "=@ccle"(expired) : "er"(amount) : "cc");
    return expired;
#else
    return (*left -= amount) <= 0;
#endif
}

#endif
