/* cpu_snapshots.h - preallocated stack snapshots taken by CPU-timer signals.
 *
 * The CPU-timer signal handler (src/common/cpu_timer.c) runs on the thread
 * that just used a slice of CPU. When that thread is running Python, its
 * stack is copied right there (ssp_snapshot_capture) into one of a fixed set
 * of slots, and the slot number travels with the event to the sidecar, which
 * resolves it and releases the slot. No allocation, no lock: slots are
 * claimed with a compare-and-swap, so the handler is async-signal-safe. */
#ifndef SSP_CPU_SNAPSHOTS_H
#define SSP_CPU_SNAPSHOTS_H

#include <sys/types.h>

#include "cpython_walker.h"

/* ss_cpu_capture_fn for the core: returns a slot number or -1. */
int ssp_cpu_snapshot_take(pid_t tid);
/* The snapshot of slot `token`, NULL if the token is invalid. */
const ssp_snapshot *ssp_cpu_snapshot_get(int token);
void ssp_cpu_snapshot_release(int token);
/* Forget every slot (at start, before timers exist). */
void ssp_cpu_snapshots_reset(void);

#endif
