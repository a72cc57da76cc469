/* sampling_intervals.h - random gaps between sampled events.
 *
 * Exception, lock and allocation profiles record one event in N, chosen at
 * random so that every event has the same chance and each sample can stand
 * for N events (an unbiased total). Both bindings draw their countdowns here.
 * Per-thread generator state: no lock, callable from interpreter hooks (not
 * from signal handlers: the first call on a thread may allocate TLS). */
#ifndef SS_SAMPLING_INTERVALS_H
#define SS_SAMPLING_INTERVALS_H

#include <stdint.h>

/* Uniform double in (0, 1]; never 0, so log() of it is finite. */
double ss_random_unit(void);

/* Events until the next sampled one (>= 1) when each event is sampled with
 * probability 1/mean: a geometric draw. mean <= 1 samples every event. */
int64_t ss_geometric_interval(double mean);

/* Bytes until the next sampled byte when bytes are sampled as a Poisson
 * process of rate 1/mean: an exponential draw, at least 1. */
int64_t ss_exponential_interval(double mean);

#endif
