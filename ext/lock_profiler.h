/* lock_profiler.h - the lock profiles: Lock Acquires (lock-acquire), Lock
 * Wait Time (lock-acquire-wait), Lock Releases (lock-release) and Locked Time
 * (lock-release-hold).
 *
 * Why this file exists: threading.Lock and threading.RLock are C objects the
 * profiler cannot observe from outside, and their methods are too hot to hook
 * with Python code. While lock profiling runs, stacksight/_locks.py points
 * threading.Lock and threading.RLock at the two proxy types defined here
 * (Condition, Semaphore, BoundedSemaphore, Event and Barrier build on those
 * names, so they are covered too). A proxy owns a real lock and forwards every
 * operation to it through the real method's C function - waiting still
 * happens inside the real lock with the GIL released.
 *
 * Sampling: each acquire that takes ownership is sampled with probability
 * DD_PROFILING_CAPTURE_PCT / 100 (a geometric countdown, so non-sampled
 * acquires cost one decrement). A sampled acquire records lock-acquire and the
 * time it waited at the acquiring stack; the release that ends that ownership
 * records lock-release and the time held at the releasing stack. Every value
 * is multiplied by 100 / DD_PROFILING_CAPTURE_PCT, which makes each column an
 * unbiased estimate of the true total. Re-entrant acquires of an RLock by its
 * owner (and their releases) neither wait nor change ownership: they are not
 * lock operations here. A failed acquire (blocking=False, timeout) records
 * nothing.
 *
 * Label `lock name` = "file.py:LINE:variable": where the lock was created
 * (frames inside threading.py are skipped, so a Condition() names the
 * Condition's site) and the variable, attribute or global the creating
 * statement stores it in, read from the instruction after the creating call.
 * The name is worked out at the lock's first sampled operation, so unsampled
 * locks cost nothing but a reference to their creating code object. */
#ifndef SSP_LOCK_PROFILER_H
#define SSP_LOCK_PROFILER_H

#include <Python.h>
#include "cpython_walker.h"
#include "../src/common/config.h"

/* With the GIL, at module init: ready the proxy types and add them to
 * `module` as LockProxy and RLockProxy. Returns 0 or -1 with an exception. */
int ssp_locks_init_module(PyObject *module);

/* With the GIL, after the core started: start recording. Returns 0, or -1
 * after logging why (lock profiling stays off). */
int ssp_locks_start(ssp_walker *walker, const ss_config *cfg);

/* 1 while recording (tells _locks.py whether to install the proxies). */
int ssp_locks_recording(void);

/* With the GIL: stop recording; proxies keep working. */
void ssp_locks_pause(void);
void ssp_locks_stop(void);

/* Python: _native.set_lock_factories(lock, rlock) - what proxies wrap. */
PyObject *ssp_locks_set_factories(PyObject *module, PyObject *args);

#endif
