/* lock_profiler.h - the lock profiles: Lock Acquires (lock-acquire), Lock
 * Wait Time (lock-acquire-wait), Lock Releases (lock-release) and Locked Time
 * (lock-release-hold).
 *
 * Why this file exists: threading.Lock and threading.RLock are C objects the
 * profiler cannot observe from outside, and their methods are too hot to hook
 * with Python code. While lock profiling runs, the C functions behind the
 * methods of the interpreter's own lock types are swapped for sampling
 * wrappers that end in the original (lock_profiler.c says how), so the
 * program keeps its own locks: same type, module, isinstance and
 * instantiation rules, and Condition, Semaphore, Event, Barrier and Queue are
 * covered because they are built on them. Locks made before start() are
 * profiled too (unnamed). Waiting still happens inside the real lock with
 * the GIL released.
 *
 * Sampling: each acquire that takes ownership is sampled with probability
 * DD_PROFILING_CAPTURE_PCT / 100 (a geometric countdown, so non-sampled
 * acquires cost one decrement). A sampled acquire records lock-acquire and the
 * time it waited at the acquiring stack; the release that ends that ownership
 * records lock-release and the time held at the releasing stack. Every value
 * is multiplied by 100 / DD_PROFILING_CAPTURE_PCT, which makes each column an
 * unbiased estimate of the true total. Re-entrant acquires of an RLock by its
 * owner (and their releases) neither wait nor change ownership: they are not
 * lock operations here (a countdown that ends on one moves to the next
 * acquire, so RLocks that are mostly re-entered are sampled slightly more). A failed acquire (blocking=False, timeout) records
 * nothing.
 *
 * Label `lock name` = "file.py:LINE:variable": where the lock was created
 * (frames inside threading.py are skipped, so a Condition() names the
 * Condition's site) and the variable, attribute or global the creating
 * statement stores it in, read from the instruction after the creating call.
 * The name is worked out at the lock's first sampled operation, so unsampled
 * locks cost one table entry (and a reference to their creating code object)
 * while they live; past 65 536 live entries new locks go unnamed. */
#ifndef SSP_LOCK_PROFILER_H
#define SSP_LOCK_PROFILER_H

#include <Python.h>
#include "cpython_walker.h"
#include "../src/common/config.h"

/* With the GIL, after the core started: start recording. Returns 0, or -1
 * after logging why (lock profiling stays off). */
int ssp_locks_start(ssp_walker *walker, const ss_config *cfg);

/* 1 while recording. */
int ssp_locks_recording(void);

/* With the GIL: stop recording; stop also puts the original methods back. */
void ssp_locks_pause(void);
void ssp_locks_stop(void);

#endif
