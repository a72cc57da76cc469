/* exception_profiler.h - the "Thrown Exceptions" profile (exception-samples).
 *
 * Why this file exists: CPython 3.11 has no event for "an exception was
 * raised" that a C extension can subscribe to cheaply (sys.monitoring arrived
 * in 3.12; sys.setprofile/settrace cost on every call). What every raise does
 * have in common is that an exception *instance* gets created, through the
 * tp_new slot of its type. This file counts raises by wrapping that slot and
 * records one sample in N (a geometric draw, mean N) with the stack of the
 * thread creating the exception; each sample weighs N, so the sum of
 * exception-samples estimates the number of exceptions created. On 3.12+ it
 * subscribes to sys.monitoring RAISE events instead, with the same sampling.
 *
 * What the count means (README "Thrown Exceptions"):
 * - `raise ValueError(...)` / `raise ValueError` in Python: counted, stack at
 *   the raise site.
 * - exceptions raised by C code (d[k], int("x"), getattr) are created lazily
 *   by CPython 3.11: they are counted when Python code first handles them
 *   (an `except` or `finally` clause, or a context manager's __exit__), with
 *   the stack of the frame holding that clause, at the line of the failing
 *   call. Ones that C code swallows itself (hasattr, dict.get, iteration
 *   ending) never become objects and are not counted - they are not thrown
 *   exceptions from the program's point of view.
 * - re-raising an existing exception object is not a new exception; an
 *   exception object created and never raised is counted.
 * - StopIteration, StopAsyncIteration and GeneratorExit (and subclasses) are
 *   control flow, not errors: never reported.
 * Label: `exception type` = "module.QualName" (builtins.ValueError). The
 * message is never read (STACKSIGHT_EXCEPTION_MESSAGES has no label to go to
 * yet, see README). */
#ifndef SSP_EXCEPTION_PROFILER_H
#define SSP_EXCEPTION_PROFILER_H

#include "cpython_walker.h"
#include "../src/common/config.h"

/* Mean number of exceptions between two sampled ones, unless
 * STACKSIGHT_EXCEPTION_SAMPLE_INTERVAL says otherwise (1 = every one). */
#define SSP_EXCEPTION_DEFAULT_INTERVAL 20.0

/* With the GIL, after the core started. Installs the hooks and starts
 * recording with `walker` (which must outlive ssp_exceptions_stop()).
 * Returns 0, or -1 after logging why (the profile type stays off, the
 * application is not affected). */
int ssp_exceptions_start(ssp_walker *walker, const ss_config *cfg);

/* With the GIL: stop recording (before the core flushes its last profile).
 * Hooks stay in place and only forward. */
void ssp_exceptions_pause(void);

/* With the GIL: remove the hooks. Safe when not started. */
void ssp_exceptions_stop(void);

/* Exceptions seen by the hook / samples recorded since start (tests). */
void ssp_exceptions_counts(unsigned long long *seen, unsigned long long *sampled);

#endif
