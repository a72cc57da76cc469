/* memory_profiler.h - the memory profiles: Allocations (alloc-samples),
 * Allocated Memory (alloc-space), Heap Live Size (heap-live-samples,
 * heap-space).
 *
 * Why this file exists: every Python object's memory comes from the "object"
 * allocator domain (PyObject_Malloc and friends). This file puts a hook in
 * front of that domain's allocator with PyMem_SetAllocator, chaining to the
 * allocator that was there, and samples the bytes allocated.
 *
 * Sampling: allocated bytes are sampled as a Poisson process with a mean of
 * DD_PROFILING_HEAP_SAMPLE_SIZE bytes between sample points: a countdown of
 * bytes drawn from an exponential distribution. An allocation of s bytes is
 * then sampled with probability p = 1 - exp(-s / mean), and a sample counts
 * for 1/p allocations and s/p bytes - so alloc-samples and alloc-space sum to
 * unbiased estimates of the allocations made and bytes requested, whatever
 * the mix of sizes. The countdown is a decrement per allocation; only a
 * sampled allocation captures its stack (ssp_capture_current, no Python
 * allocation) and adds a row.
 *
 * Heap: sampled blocks (with heap profiling on) go into a bounded table until
 * they are freed; a free or realloc of any block looks its address up there
 * (one hash probe, no lock, while the table is empty no probe at all). At the
 * end of every period the upload thread adds one heap-live-samples /
 * heap-space row per live sampled block with the same weights: an unbiased
 * estimate of the live bytes each stack allocated.
 *
 * What is not counted: memory that is not a Python object allocation (the
 * PyMem_Malloc "mem" domain - list and dict item arrays, buffers of
 * extension libraries - and malloc called directly). realloc counts its new
 * size as a new allocation. */
#ifndef SSP_MEMORY_PROFILER_H
#define SSP_MEMORY_PROFILER_H

#include "cpython_walker.h"
#include "../src/common/aggregator.h"
#include "../src/common/config.h"

/* Live sampled blocks tracked at most; samples past it are not in the heap
 * profile (counted, warned once). At the default 1 MB mean that is 64 GB. */
#define SSP_HEAP_MAX_ENTRIES (1u << 16)

/* With the GIL, after the core started: install the hook (once) and start
 * sampling for whichever of cfg->memory_enabled / cfg->heap_enabled is on.
 * Returns 0, or -1 after logging why. */
int ssp_memory_start(ssp_walker *walker, const ss_config *cfg);

/* With the GIL: stop sampling (before the core's last flush, which still
 * reports the live heap). */
void ssp_memory_pause(void);

/* With the GIL, after the core stopped: remove the hook (if nobody chained
 * another on top of it - then it stays, forwarding) and forget the heap. */
void ssp_memory_stop(void);

/* ss_binding.period_end: upload thread, no GIL. Adds the heap snapshot. */
void ssp_memory_period_end(void *ctx, ss_profile_buffer *buf);

/* Counters for tests: allocations sampled, live tracked blocks, dropped. */
void ssp_memory_counts(unsigned long long *sampled, unsigned long long *live,
                       unsigned long long *dropped);

#endif
