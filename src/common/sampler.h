/* sampler.h - the sidecar thread that takes samples on a timer.
 *
 * The sampler owns time: it wakes every interval, measures how long really
 * passed (wall) and hands a tick to the binding, which walks its interpreter's
 * threads and reports one stack per thread through ss_tick_report. The
 * sampler never runs interpreter code and never takes an interpreter lock.
 *
 * Overhead cap: the sampler measures what the profiler costs - its own
 * thread's CPU clock, the CPU-timer signal handlers' and the upload thread's
 * (self_cost.h) - and, when the average would exceed cfg->overhead_pct of one
 * core, stretches the interval. Wall and CPU values are the real elapsed amounts, so a stretched
 * interval changes resolution, not totals. */
#ifndef SS_SAMPLER_H
#define SS_SAMPLER_H

#include <stdint.h>
#include <sys/types.h>
#include "aggregator.h"
#include "thread_clock.h"
#include "self_cost.h"

typedef enum ss_tick_kind {
    SS_TICK_WALL,              /* the timer: every thread gets wall time */
    SS_TICK_CPU                /* CPU-slice events: only tick->cpu_tids get CPU */
} ss_tick_kind;

#define SS_MAX_CPU_EVENTS 256

struct ss_cpu_timer_set;

typedef struct ss_tick {
    ss_tick_kind kind;
    uint64_t number;           /* wall ticks since start (CPU ticks repeat it) */
    int64_t now_ns;            /* monotonic */
    int64_t wall_ns;           /* wall time since the previous wall tick; 0 for CPU ticks */
    ss_cpu_tracker *cpu;       /* per-thread CPU deltas, see thread_clock.h */
    ss_aggregator *agg;
    struct ss_cpu_timer_set *timers; /* NULL when CPU timers are unavailable */
    pid_t cpu_tids[SS_MAX_CPU_EVENTS]; /* CPU ticks: threads that used a slice;
                                        * a binding sets an entry to 0 once it
                                        * reported that thread itself */
    int32_t cpu_tokens[SS_MAX_CPU_EVENTS]; /* capture tokens (cpu_timer.h), -1 = none */
    uint32_t cpu_slices[SS_MAX_CPU_EVENTS]; /* CPU slices each event stands for */
    int64_t cpu_slice_ns;       /* CPU time of one slice */
    uint32_t ncpu_tids;
    uint32_t threads_sampled;  /* filled by ss_tick_report */
    uint32_t samples_torn;     /* binding increments on a torn read */
} ss_tick;

/* Report one thread's stack for this tick: adds wall-time (tick->wall_ns,
 * wall-samples 1) and, when cpu_ns > 0, cpu-time and cpu-samples 1. */
void ss_tick_report(ss_tick *tick, const ss_frame *frames, uint32_t nframes,
                    const ss_labels *labels, int64_t cpu_ns);

/* Report one thread's stack and let the core decide what it is worth: on a
 * wall tick, wall time (and, without CPU timers, the thread's CPU delta); on
 * a CPU tick, the CPU slices of its events in tick->cpu_tids, else nothing.
 * labels->native_thread_id identifies the thread. */
void ss_tick_report_thread(ss_tick *tick, const ss_frame *frames, uint32_t nframes,
                           const ss_labels *labels);

/* 1 if a CPU tick has an event for `tid` (bindings may skip other threads). */
int ss_tick_wants(const ss_tick *tick, pid_t tid);

/* CPU time event `i` of a CPU tick stands for. Each event is one or more
 * whole slices of the thread's CPU clock, so charging slices (not the clock
 * delta at resolution time) keeps every snapshot's weight exact and unbiased
 * however late the sidecar got to it. */
int64_t ss_tick_event_cpu_ns(const ss_tick *tick, uint32_t i);

/* A wall tick's report of a thread whose stack did not change and whose wall
 * time the binding charges itself (idle_stacks.h): counts the sample and
 * keeps the thread's CPU timer, without touching the aggregator. */
void ss_tick_note_unchanged(ss_tick *tick, pid_t tid);

typedef void (*ss_sample_fn)(void *ctx, ss_tick *tick);
/* Called once on the sidecar thread as it stops, after its last tick. */
typedef void (*ss_sampler_exit_fn)(void *ctx);

typedef struct ss_sampler_stats {
    uint64_t ticks;
    uint64_t thread_samples;
    uint64_t torn_samples;
    int64_t cpu_ns;            /* the sidecar thread's whole CPU clock while sampling */
    int64_t upload_cpu_ns;     /* upload thread CPU (self_cost.h) since the sampler started */
    int64_t signal_cpu_ns;     /* CPU-timer signal handlers' CPU since the sampler started */
    int64_t interval_ns;       /* current interval (stretched by the cap) */
    uint64_t stretched_ticks;  /* ticks taken at a stretched interval */
    uint64_t cpu_events;       /* CPU-slice events handled */
    int cpu_timers;            /* 1 when CPU is attributed by per-thread CPU timers */
} ss_sampler_stats;

typedef struct ss_sampler ss_sampler;

/* Start the sidecar. `interval_ns` is the base interval. Returns NULL (and
 * logs) if the thread cannot be created. */
ss_sampler *ss_sampler_start(int64_t interval_ns, double overhead_pct, ss_aggregator *agg,
                             ss_sample_fn fn, ss_sampler_exit_fn on_exit, void *ctx, int use_cpu_timers);
/* Stop and join; safe with NULL. */
void ss_sampler_stop(ss_sampler *s);
void ss_sampler_get_stats(ss_sampler *s, ss_sampler_stats *out);
/* In a forked child the thread does not exist: the struct is abandoned
 * (its lock may be held), and its CPU timers were not inherited. */

#endif
