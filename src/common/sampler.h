/* sampler.h - the sidecar thread that takes samples on a timer.
 *
 * The sampler owns time: it wakes every interval, measures how long really
 * passed (wall) and hands a tick to the binding, which walks its interpreter's
 * threads and reports one stack per thread through ss_tick_report. The
 * sampler never runs interpreter code and never takes an interpreter lock.
 *
 * Overhead cap: the sampler measures its own CPU time per tick and, when the
 * average cost would exceed cfg->overhead_pct of one core, stretches the
 * interval. Wall and CPU values are the real elapsed amounts, so a stretched
 * interval changes resolution, not totals. */
#ifndef SS_SAMPLER_H
#define SS_SAMPLER_H

#include <stdint.h>
#include <sys/types.h>
#include "aggregator.h"
#include "thread_clock.h"

typedef struct ss_tick {
    uint64_t number;           /* 1, 2, ... since start */
    int64_t now_ns;            /* monotonic */
    int64_t wall_ns;           /* wall time since the previous tick */
    ss_cpu_tracker *cpu;       /* per-thread CPU deltas, see thread_clock.h */
    ss_aggregator *agg;
    uint32_t threads_sampled;  /* filled by ss_tick_report */
    uint32_t samples_torn;     /* binding increments on a torn read */
} ss_tick;

/* Report one thread's stack for this tick: adds wall-time (tick->wall_ns,
 * wall-samples 1) and, when cpu_ns > 0, cpu-time and cpu-samples 1. */
void ss_tick_report(ss_tick *tick, const ss_frame *frames, uint32_t nframes,
                    const ss_labels *labels, int64_t cpu_ns);

typedef void (*ss_sample_fn)(void *ctx, ss_tick *tick);

typedef struct ss_sampler_stats {
    uint64_t ticks;
    uint64_t thread_samples;
    uint64_t torn_samples;
    int64_t cpu_ns;            /* sampler thread CPU spent in ticks */
    int64_t interval_ns;       /* current interval (stretched by the cap) */
    uint64_t stretched_ticks;  /* ticks taken at a stretched interval */
} ss_sampler_stats;

typedef struct ss_sampler ss_sampler;

/* Start the sidecar. `interval_ns` is the base interval. Returns NULL (and
 * logs) if the thread cannot be created. */
ss_sampler *ss_sampler_start(int64_t interval_ns, double overhead_pct, ss_aggregator *agg,
                             ss_sample_fn fn, void *ctx);
/* Stop and join; safe with NULL. */
void ss_sampler_stop(ss_sampler *s);
void ss_sampler_get_stats(ss_sampler *s, ss_sampler_stats *out);
/* fork support: the sampler's lock is held across fork so the child never
 * sees stats half-written; in the child the thread does not exist and the
 * struct is abandoned. */
void ss_sampler_lock_for_fork(ss_sampler *s);
void ss_sampler_unlock_after_fork(ss_sampler *s, int in_child);
void ss_sampler_forget_after_fork(ss_sampler *s);

#endif
