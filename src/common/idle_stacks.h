/* idle_stacks.h - a thread that did not run is still where it was.
 *
 * Most threads of a server wait most of the time. A thread whose CPU clock
 * has not moved since its stack was last read cannot have changed its stack
 * (running code costs CPU time), so the sidecar charges its wall time to the
 * stack it stored then, without reading the interpreter's memory again: one
 * clock read instead of a walk. Owned by the sidecar thread; bounded.
 *
 * Such a thread's wall time is added up in its slot and reaches the
 * aggregator as one row every SS_IDLE_FLUSH_TICKS ticks (or sooner: when
 * its stack or labels change, it is forgotten, or the sidecar stops), so a
 * parked thread costs a clock read per tick, not an aggregator update. The
 * totals are exact; a period boundary can move by at most those ticks. */
#ifndef SS_IDLE_STACKS_H
#define SS_IDLE_STACKS_H

#include <stdint.h>
#include <sys/types.h>

#include "aggregator.h"

typedef struct ss_idle_stacks ss_idle_stacks;

ss_idle_stacks *ss_idle_stacks_new(uint32_t max_frames);
void ss_idle_stacks_free(ss_idle_stacks *c);

/* Read `tid`'s CPU clock. Returns 1 if the thread has not run since its
 * stored stack was taken (then ss_idle_stacks_get gives it), 0 if its stack
 * must be read (the reading is kept for the next ss_idle_stacks_store). */
int ss_idle_stacks_unchanged(ss_idle_stacks *c, pid_t tid);
/* The stored stack of `tid`; 0 frames if none. */
uint32_t ss_idle_stacks_get(ss_idle_stacks *c, pid_t tid, const ss_frame **frames);
/* Store the stack just read for `tid`, with the clock reading taken by the
 * last ss_idle_stacks_unchanged call for it. */
void ss_idle_stacks_store(ss_idle_stacks *c, pid_t tid, const ss_frame *frames, uint32_t n);
/* Drop a thread whose stack could not be read. */
void ss_idle_stacks_forget(ss_idle_stacks *c, pid_t tid);

#define SS_IDLE_FLUSH_TICKS 8
/* Charge `wall_ns` (one wall sample) of an unchanged thread to its stored
 * stack, labelled `labels`. Returns 0, or -1 if `tid` has no stored stack. */
int ss_idle_stacks_charge(ss_idle_stacks *c, pid_t tid, const ss_labels *labels, int64_t wall_ns,
                          ss_aggregator *agg);
/* Send every thread's pending wall time to the aggregator (sidecar exit). */
void ss_idle_stacks_flush(ss_idle_stacks *c);

#endif
