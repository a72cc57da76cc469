/* cpython_layout_iframe.h - what the layout parts of CPython 3.11 and later
 * share (see cpython_layout.h): frames are _PyInterpreterFrame structs,
 * mostly in the thread's data-stack chunks, and the bytecode is inside the
 * code object (co_code_adaptive), so instruction addresses are real ones.
 * Included by cpython_layout.h after the version's own part. */
#ifndef SSP_CPYTHON_LAYOUT_IFRAME_H
#define SSP_CPYTHON_LAYOUT_IFRAME_H

/* The walker's frame and its fixed part (what one read copies). */
typedef _PyInterpreterFrame sspl_frame;
#define SSPL_FRAME_BYTES offsetof(_PyInterpreterFrame, localsplus)
/* Thread-owned frames live in data-stack chunks. */
#define SSPL_FRAMES_IN_CHUNKS 1
typedef _PyStackChunk sspl_chunk;

/* Code object fields. */
#define SSPL_CODE_START offsetof(PyCodeObject, co_code_adaptive)
#define SSPL_CODE_HDR (offsetof(PyCodeObject, _co_firsttraceable) + sizeof(int))
#define SSPL_CODE_NAME(co) ((co)->co_qualname)
#define SSPL_CODE_LINETABLE(co) ((co)->co_linetable)
#define SSPL_CODE_FIRSTTRACEABLE(co) ((co)->_co_firsttraceable)
/* The code-unit count (ob_size): compared to tell a reused address. */
#define SSPL_CODE_BYTES(co) ((uintptr_t)(co)->ob_base.ob_size)
#define SSPL_LINETABLE_FORMAT 311     /* Objects/locations.md */

static inline void sspl_datastack(const PyThreadState *ts, uintptr_t *chunk, uintptr_t *top,
                                  uintptr_t *limit)
{
    *chunk = (uintptr_t)ts->datastack_chunk;
    *top = (uintptr_t)ts->datastack_top;
    *limit = (uintptr_t)ts->datastack_limit;
}

static inline unsigned long sspl_native_tid(const PyThreadState *ts) { return ts->native_thread_id; }

#endif
