/* events.h - what the event profiles (exceptions, locks, allocations) share.
 *
 * Why this file exists: those three profiles see events on the application's
 * own threads, far too many to record each one. Each keeps a countdown to its
 * next sampled event, drawn from a geometric distribution, so every event is
 * sampled with the same probability independently of its neighbours; a
 * sample then weighs 1/probability and the sums are unbiased estimates of the
 * totals (a fixed every-N-th period would alias with periodic programs).
 * Sampled events take their stack with rb_profile_frames and name it here,
 * with a cache of frame names of its own (frames pinned by a GC root, as in
 * resolve.c), the thread's labels and the class name labels.
 *
 *   events.c      - sampling draws, stack naming, labels, failure switch
 *   exceptions.c  - exception-samples (:raise TracePoint)
 *   mutexes.c     - lock-* for Thread::Mutex (C) and Monitor (lock_tracking.rb)
 *   allocations.c - alloc-* (NEWOBJ) and heap-* (FREEOBJ, period_end) */
#ifndef RB_STACKSIGHT_EVENTS_H
#define RB_STACKSIGHT_EVENTS_H

#include <ruby.h>
#include <stdint.h>
#include <sys/types.h>

#include "aggregator.h"
#include "sampling_intervals.h"
#include "config.h"

/* Sampling gaps come from the core: ss_geometric_interval(mean). */

/* Monotonic clock, ns. */
int64_t ev_now_ns(void);
/* OS id of the calling thread (cached per thread). */
pid_t ev_tid(void);

/* Frames and lines captured by rb_profile_frames, named into `out`
 * (leaf first). GVL held; may allocate (names of frames seen first). */
uint32_t ev_name_frames(const VALUE *frames, const int *lines, int n, ss_frame *out);
/* Capture and name the current thread's stack into `out` (capacity
 * ev_max_frames()); `skip` innermost frames dropped. GVL held, may allocate. */
uint32_t ev_capture_current(int skip, ss_frame *out);
int ev_max_frames(void);
/* Labels of `thread` (thread id, native id `tid`, name). GVL held. */
void ev_thread_labels(VALUE thread, pid_t tid, ss_labels *out);
/* Interned label of a class: its name, or "<name of the nearest named
 * ancestor> (anonymous)". GVL held, may allocate. */
uint32_t ev_class_label(VALUE klass);

/* Set up at start: buffers for `max_frames`. 0, or -1 (out of memory). */
int ev_prepare(int max_frames);
/* An internal failure of profile `what`: log one warning, the caller then
 * switches that profile off. */
void ev_fail(const char *what, const char *why);

/* Per-profile lifecycle, called from native.c with the GVL. start returns 0
 * or -1 after logging why (that profile stays off). pause stops recording
 * before the core's last flush. */
void ev_exceptions_init(VALUE mNative);
int ev_exceptions_start(const ss_config *cfg);
void ev_exceptions_pause(void);

void ev_mutexes_init(VALUE mNative);
int ev_mutexes_start(const ss_config *cfg);
void ev_mutexes_pause(void);

void ev_allocations_init(VALUE mNative);
int ev_allocations_start(const ss_config *cfg);
void ev_allocations_pause(void);
/* ss_binding.period_end: upload thread, no GVL. Adds the live heap rows. */
void ev_allocations_period_end(void *ctx, ss_profile_buffer *buf);
/* Name pending allocation samples (helper thread, flush). GVL held. */
void ev_allocations_resolve(void);
/* After the core stopped: stop following frees, forget the live heap. */
void ev_allocations_stop(void);
unsigned long long ev_allocations_dropped(void);     /* samples lost: pending slots full */
unsigned long long ev_allocations_untracked(void);   /* samples left out of heap-live: table full */

#endif
