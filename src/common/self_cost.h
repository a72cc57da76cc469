/* self_cost.h - CPU the profiler spends outside its sidecar thread.
 *
 * The overhead cap must budget what the profiler really costs, not only the
 * part the sidecar happens to time. The sidecar reads its own thread CPU
 * clock; the upload thread and the CPU-timer signal handler (which runs on
 * the application's threads) add their own CPU-clock readings here, and the
 * sidecar charges them to the cap and reports them in the `internal`
 * counters. Lock-free atomic counters: the signal handler may add at any
 * instant (async-signal-safe on every platform with lock-free 64-bit atomics). */
#ifndef SS_SELF_COST_H
#define SS_SELF_COST_H

#include <stdint.h>

/* Counted CPU, ns, since the process started (monotonic, never reset). */
typedef struct ss_self_cost {
    int64_t upload_ns;     /* upload thread: its whole CPU clock while it ran */
    int64_t signal_ns;     /* CPU-timer signal handlers, on the application's threads */
} ss_self_cost;

void ss_self_cost_add_upload(int64_t ns);
/* Async-signal-safe. */
void ss_self_cost_add_signal(int64_t ns);
void ss_self_cost_get(ss_self_cost *out);

#endif
