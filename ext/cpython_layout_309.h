/* cpython_layout_309.h - CPython 3.9 and 3.10 layout part of the stack
 * walker (the interface is described in cpython_layout.h).
 *
 * Before 3.11 a frame is a heap object, PyFrameObject: the thread's current
 * frame is tstate->frame, frames link through f_back and name their code as
 * f_code; there is no data stack, so every frame is read on its own. The
 * position in the code is f_lasti, the start of the last instruction begun
 * (bytes in 3.9, code units in 3.10, -1 before the first). The walker counts
 * in instruction addresses, code + SSPL_CODE_START + 2 * unit, as from 3.11
 * on; here that address is made from f_lasti, with SSPL_CODE_START 0 (the
 * bytecode is a separate bytes object, co_code). No frame is "incomplete"
 * (that 3.11 notion does not exist): first traceable unit -1. A frame that
 * runs a generator has f_gen set; such a frame links to the frame that
 * resumed it while it runs, like 3.11's generator-owned frames.
 * Code objects have no co_qualname: functions are shown by co_name. Line
 * tables: 3.9 co_lnotab, 3.10 co_linetable (SSPL_LINETABLE_FORMAT). */
#ifndef SSP_CPYTHON_LAYOUT_309_H
#define SSP_CPYTHON_LAYOUT_309_H

#include <frameobject.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_pystate.h>
#include <internal/pycore_runtime.h>

#if PY_VERSION_HEX < 0x030A0000
#define SSPL_FAMILY "3.9"
#define SSPL_LINETABLE_FORMAT 309     /* co_lnotab: (byte delta, signed line delta) pairs */
#define SSPL_LASTI_BYTES(f) ((intptr_t)(f)->f_lasti)
#else
#define SSPL_FAMILY "3.10"
#define SSPL_LINETABLE_FORMAT 310     /* co_linetable: (byte delta, line delta or -128) pairs */
#define SSPL_LASTI_BYTES(f) ((intptr_t)(f)->f_lasti * 2)
#endif

/* The walker's frame and its fixed part (what one read copies). */
typedef PyFrameObject sspl_frame;
#define SSPL_FRAME_BYTES (offsetof(PyFrameObject, f_lasti) + sizeof(int))
/* Frames are heap objects, never in data-stack chunks. */
#define SSPL_FRAMES_IN_CHUNKS 0

#define SSPL_OWNED_BY_THREAD 0
#define SSPL_OWNED_BY_GENERATOR 1
#define SSPL_OWNER_MAX 1

/* Code object fields. */
#define SSPL_CODE_START ((uintptr_t)0)
#define SSPL_CODE_HDR sizeof(PyCodeObject)
#define SSPL_CODE_NAME(co) ((co)->co_name)
#if PY_VERSION_HEX < 0x030A0000
#define SSPL_CODE_LINETABLE(co) ((co)->co_lnotab)
#else
#define SSPL_CODE_LINETABLE(co) ((co)->co_linetable)
#endif
#define SSPL_CODE_FIRSTTRACEABLE(co) ((void)(co), -1)
/* What changes when the address holds another code object of the same
 * names: the bytecode object (its length is the code-unit count). */
#define SSPL_CODE_BYTES(co) ((uintptr_t)(co)->co_code)

/* 1 if a str header describes a ready string. */
#define SSPL_STR_READY(a) ((a)->state.ready)

static inline int sspl_owner_is_shim(int owner) { (void)owner; return 0; }
static inline uintptr_t sspl_frame_code(const sspl_frame *f) { return (uintptr_t)f->f_code; }
static inline uintptr_t sspl_frame_instr(const sspl_frame *f)
{
    intptr_t lasti = SSPL_LASTI_BYTES(f);
    if (lasti < 0)
        lasti = -2;                      /* not started: one unit before the first */
    return (uintptr_t)f->f_code + SSPL_CODE_START + (uintptr_t)lasti;
}
static inline uintptr_t sspl_frame_previous(const sspl_frame *f) { return (uintptr_t)f->f_back; }
static inline int sspl_frame_owner(const sspl_frame *f)
{
    return f->f_gen ? SSPL_OWNED_BY_GENERATOR : SSPL_OWNED_BY_THREAD;
}

static inline uintptr_t sspl_frame_slot(const PyThreadState *ts, uintptr_t tsaddr)
{
    (void)ts;
    return tsaddr + offsetof(PyThreadState, frame);
}

/* No data stack: chunk 0 (the walker's chunk code never runs). */
static inline void sspl_datastack(const PyThreadState *ts, uintptr_t *chunk, uintptr_t *top,
                                  uintptr_t *limit)
{
    (void)ts;
    *chunk = *top = *limit = 0;
}
/* The walker's chunk code only compiles against this stand-in; with chunk
 * always 0 no chunk is ever read. */
typedef struct sspl_no_chunk {
    struct sspl_no_chunk *previous;   /* never set */
    size_t size;                      /* never set */
    size_t top;                       /* never set */
    PyObject *data[1];                /* never set */
} sspl_chunk;

/* PyThreadState has no native thread id before 3.11: the binding learns it
 * from each thread (thread_names.h). 0 until known. */
unsigned long ssp_thread_native_id(unsigned long ident);
static inline unsigned long sspl_native_tid(const PyThreadState *ts)
{
    return ssp_thread_native_id(ts->thread_id);
}

#define SSPL_RT_FINALIZING offsetof(_PyRuntimeState, _finalizing)
#define SSPL_RT_MAIN offsetof(_PyRuntimeState, interpreters.main)
#define SSPL_IS_THREADS_HEAD offsetof(PyInterpreterState, tstate_head)
#define SSPL_IS_FINALIZING offsetof(PyInterpreterState, finalizing)

static inline void sspl_init(void) {}

/* No runtime table of offsets before 3.13: the headers are the only source. */
static inline int sspl_check(char *err, size_t errlen) { (void)err; (void)errlen; return 0; }

static inline PyThreadState *sspl_this_tstate(void) { return _PyThreadState_UncheckedGet(); }

static inline uintptr_t sspl_gil_holder_self(pid_t tid, PyThreadState *copy)
{
    (void)tid;
    /* As in 3.11: our own thread state from the GIL-state key, the holder
     * from the runtime; our own state cannot be freed while we run. */
    PyThreadState *mine = (PyThreadState *)PyThread_tss_get(&_PyRuntime.gilstate.autoTSSkey);
    PyThreadState *holder =
        (PyThreadState *)_Py_atomic_load_relaxed(&_PyRuntime.gilstate.tstate_current);
    if (mine == NULL || mine != holder)
        return 0;
    memcpy(copy, mine, sizeof *copy);
    return (uintptr_t)mine;
}

#endif
