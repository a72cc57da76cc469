/* cpython_layout_311.h - CPython 3.11 layout part of the stack walker (the
 * interface is described in cpython_layout.h).
 *
 * 3.11: _PyInterpreterFrame in data-stack chunks; the current frame pointer is
 * in the thread's current _PyCFrame (tstate->cframe->current_frame), which is
 * on the C stack of _PyEval_EvalFrameDefault or the tstate's root_cframe;
 * frames hold `prev_instr` (the last instruction started) and a plain
 * `f_code`. The GIL holder is _PyRuntime.gilstate.tstate_current. */
#ifndef SSP_CPYTHON_LAYOUT_311_H
#define SSP_CPYTHON_LAYOUT_311_H

#include <internal/pycore_code.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_pystate.h>
#include <internal/pycore_runtime.h>

#define SSPL_FAMILY "3.11"
#define SSPL_OWNED_BY_THREAD FRAME_OWNED_BY_THREAD
#define SSPL_OWNED_BY_GENERATOR FRAME_OWNED_BY_GENERATOR
#define SSPL_OWNER_MAX FRAME_OWNED_BY_FRAME_OBJECT

/* 1 if a str header describes a ready string (3.12 removed not-ready ones). */
#define SSPL_STR_READY(a) ((a)->state.ready)

static inline int sspl_owner_is_shim(int owner) { (void)owner; return 0; }
static inline uintptr_t sspl_frame_code(const _PyInterpreterFrame *f) { return (uintptr_t)f->f_code; }
static inline uintptr_t sspl_frame_instr(const _PyInterpreterFrame *f) { return (uintptr_t)f->prev_instr; }
static inline uintptr_t sspl_frame_previous(const _PyInterpreterFrame *f) { return (uintptr_t)f->previous; }
static inline int sspl_frame_owner(const _PyInterpreterFrame *f) { return f->owner; }

static inline uintptr_t sspl_frame_slot(const PyThreadState *ts, uintptr_t tsaddr)
{
    (void)tsaddr;
    return ts->cframe ? (uintptr_t)ts->cframe + offsetof(_PyCFrame, current_frame) : 0;
}

#define SSPL_RT_FINALIZING offsetof(_PyRuntimeState, _finalizing)
#define SSPL_RT_MAIN offsetof(_PyRuntimeState, interpreters.main)
#define SSPL_IS_THREADS_HEAD offsetof(PyInterpreterState, threads.head)
#define SSPL_IS_FINALIZING offsetof(PyInterpreterState, finalizing)

static inline void sspl_init(void) {}

/* No runtime table of offsets before 3.13: the headers are the only source. */
static inline int sspl_check(char *err, size_t errlen) { (void)err; (void)errlen; return 0; }

static inline PyThreadState *sspl_this_tstate(void) { return _PyThreadState_UncheckedGet(); }

static inline uintptr_t sspl_gil_holder_self(pid_t tid, PyThreadState *copy)
{
    (void)tid;
    /* Our own thread state comes from the GIL-state key (pthread_getspecific
     * is a plain load on glibc), the holder from the runtime; our own state
     * cannot be freed while we run. */
    PyThreadState *mine = (PyThreadState *)PyThread_tss_get(&_PyRuntime.gilstate.autoTSSkey);
    PyThreadState *holder =
        (PyThreadState *)_Py_atomic_load_relaxed(&_PyRuntime.gilstate.tstate_current);
    if (mine == NULL || mine != holder)
        return 0;
    memcpy(copy, mine, sizeof *copy);
    return (uintptr_t)mine;
}

#endif
