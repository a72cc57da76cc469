/* core.h - the profiler's lifecycle, shared by the Python and Ruby bindings.
 *
 * One profiler per process. ss_core_start() creates the aggregator, the
 * sidecar sampler and the upload thread; ss_core_stop() stops them and
 * flushes the last period. The binding supplies what is language-specific in
 * ss_binding: how to sample its threads, and hooks at period end.
 *
 * Fork: the core registers pthread_atfork handlers that take every core lock
 * before fork and re-create them in the child, so a fork that happens while
 * the sampler or uploader holds a lock cannot deadlock the child. The child
 * starts with no profiler threads; the binding calls ss_core_restart_in_child()
 * from its own after-fork hook, which gives the process a new runtime-id. */
#ifndef SS_CORE_H
#define SS_CORE_H

#include "config.h"
#include "aggregator.h"
#include "sampler.h"
#include "pprof_encoder.h"

#define SS_PROFILER_VERSION "0.1.0"

typedef struct ss_binding {
    const char *family;            /* "python" / "ruby" */
    const char *runtime;           /* "CPython" / "ruby" */
    const char *runtime_version;   /* e.g. "3.11.7" */
    const char *origin;            /* DD-EVP-ORIGIN header, e.g. "stacksight-python" */
    void *ctx;
    ss_sample_fn sample_threads;   /* sidecar, every tick */
    ss_sampler_exit_fn sampler_exit; /* sidecar, once as it stops (flush held-back rows); may be NULL */
    /* Upload thread, after swap and before encoding; may add rows (heap
     * snapshot) with ss_buffer_add. NULL if unused. */
    void (*period_end)(void *ctx, ss_profile_buffer *buf);
    /* Extra value columns this binding fills (besides CPU and wall). */
    ss_value_mask extra_values;
    /* 1: attribute CPU with per-thread CPU-clock timers (cpu_timer.h); the
     * binding then reports threads with ss_tick_report_thread. */
    int cpu_timers;
} ss_binding;

/* Start with a copy of `cfg`. Returns 0, or -1 with a reason in `err`. */
int ss_core_start(const ss_config *cfg, const ss_binding *binding, char *err, size_t errlen);
/* Stop threads; if `flush`, encode and export what was collected. Safe to
 * call when not running. Blocks for at most about cfg.api_timeout_ms. */
void ss_core_stop(int flush);
int ss_core_running(void);
/* Child after fork: new runtime-id and pid, fresh buffers, threads started
 * again with the same config. No-op if the parent was not profiling. */
int ss_core_restart_in_child(void);
/* 1 in a forked child whose profiler was running in the parent and has not
 * been restarted yet. */
int ss_core_needs_restart_in_child(void);

/* Accessors for the bindings' event producers (exceptions, locks, memory). */
ss_aggregator *ss_core_aggregator(void);   /* NULL when not running */
const ss_config *ss_core_config(void);     /* NULL when not running */
const char *ss_core_runtime_id(void);

/* Counters for tests, benchmarks and event.json "internal". */
typedef struct ss_core_stats {
    ss_sampler_stats sampler;
    uint64_t profiles_encoded;
    uint64_t profiles_exported;
    uint64_t export_failures;
    uint64_t samples_dropped;
    uint64_t samples_folded;     /* samples kept under "[other stacks]" (stack cap reached) */
    int64_t last_encode_ns;
    int64_t last_export_ns;
    size_t last_profile_bytes;
} ss_core_stats;
void ss_core_get_stats(ss_core_stats *out);

/* Ask the upload thread to end the period now (tests, stop). Non-blocking. */
void ss_core_request_flush(void);

#endif
