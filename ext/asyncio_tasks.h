/* asyncio_tasks.h - wall time of suspended asyncio tasks, charged to what
 * they await.
 *
 * Why this file exists: an asyncio program's threads spend their wall time
 * in the event loop's select(); the coroutines that are waiting (on a
 * database, a sleep, another task) are on no thread's stack, so a thread
 * sampler cannot say what the program waits for. On every wall tick the
 * sidecar therefore also reads, without the GIL, the live tasks that asyncio
 * keeps (3.11: the set _asyncio._all_tasks; 3.12, 3.13: _scheduled_tasks;
 * 3.14: the task lists of each loop's thread state and of the interpreter,
 * their node offset from _asyncio's published .AsyncioDebug offsets) and,
 * for every suspended task,
 * its await chain (ssp_walker_await_chain), charging the tick's wall time to
 * that chain with the task's name as the `task name` label. A running task is
 * on its thread's stack already and is not charged twice; CPU stays with the
 * threads.
 *
 * Where the Task fields are: _asyncio.Task's C structure is private to the
 * _asyncio module (no installed header declares it). When asyncio is
 * imported, the binding makes one task of a known coroutine and name (never
 * scheduled) and finds, in that live object, the words that hold them: the
 * offsets come from the running interpreter itself. The set, weak reference
 * and coroutine layouts come from CPython's headers.
 *
 * Cost: nothing for a program that never imports asyncio; otherwise per wall
 * tick (up to 3.13) one read of the set table, one scatter read of the weak
 * references, and for at most SSP_ASYNCIO_TASKS_PER_TICK tasks (in rotation,
 * each weighted by live tasks / tasks read, so totals stay unbiased) a few
 * reads each; 3.14: one read per task for the next 64 tasks of a rotation
 * through the lists (weighted the same way), then their chains. */
#ifndef SSP_ASYNCIO_TASKS_H
#define SSP_ASYNCIO_TASKS_H

#include <Python.h>
#include "cpython_walker.h"
#include "../src/common/sampler.h"

#define SSP_ASYNCIO_TASKS_PER_TICK SSP_AWAIT_BATCH   /* 256 */
#define SSP_ASYNCIO_MAX_SLOTS (1u << 17)   /* set tables read at most; bigger = skipped */

/* With the GIL, while the profiler runs. `tasks` is the set inside
 * asyncio's WeakSet of tasks (its `data`), `task_type` _asyncio.Task, and
 * `probe` a task of that type made for the purpose whose coroutine, name and
 * loop are `probe_coro`, `probe_name` and `probe_loop` (distinct objects
 * referenced nowhere else in it). 0 on success; -1 with a Python exception. */
int ssp_asyncio_attach(PyObject *tasks, PyObject *task_type, PyObject *probe, PyObject *probe_coro,
                       PyObject *probe_name, PyObject *probe_loop, PyObject *debug);

/* With the GIL: the calling thread now runs event loop `loop` (None: no
 * loop any more). Its tasks' samples then carry this thread's labels. */
void ssp_asyncio_loop_running(PyObject *loop);

/* 1 while attached. */
int ssp_asyncio_attached(void);

/* Sidecar, wall ticks: add the suspended tasks' samples to tick->agg. */
void ssp_asyncio_sample(ssp_walker *walker, ss_tick *tick);

/* With the GIL, once the sidecar has stopped: forget the set (references
 * dropped) and the buffers. */
void ssp_asyncio_detach(void);

/* Counters: task samples added, task reads that were torn. */
void ssp_asyncio_counts(unsigned long long *samples, unsigned long long *torn);

#endif
