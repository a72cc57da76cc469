/* cpython_layout_314.h - CPython 3.14 and 3.15 layout part of the stack
 * walker (the interface is described in cpython_layout.h).
 *
 * As 3.13, except that `f_executable` is a _PyStackRef (a tagged pointer:
 * the tag bits, Py_TAG_BITS of the build, are masked off) and that frames the
 * interpreter owns (FRAME_OWNED_BY_INTERPRETER and, in 3.14, ..._CSTACK) are
 * entry/cleanup frames. Frame structs moved to pycore_interpframe_structs.h. */
#ifndef SSP_CPYTHON_LAYOUT_314_H
#define SSP_CPYTHON_LAYOUT_314_H

/* The interpreter's own headers have inline functions with unused
 * parameters; -Werror must not fail on code that is not ours. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include <internal/pycore_code.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_interpframe.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_pystate.h>
#include <internal/pycore_runtime.h>
#include <internal/pycore_stackref.h>
#pragma GCC diagnostic pop
#include "cpython_layout_gil.h"
#include "cpython_layout_debug_offsets.h"

#if PY_VERSION_HEX < 0x030F0000
#define SSPL_FAMILY "3.14"
#define SSPL_OWNER_MAX FRAME_OWNED_BY_CSTACK
#else
#define SSPL_FAMILY "3.15"
#define SSPL_OWNER_MAX FRAME_OWNED_BY_INTERPRETER
#endif
#define SSPL_OWNED_BY_THREAD FRAME_OWNED_BY_THREAD
#define SSPL_OWNED_BY_GENERATOR FRAME_OWNED_BY_GENERATOR

/* 1 if a str header describes a ready string (3.12 removed not-ready ones). */
#define SSPL_STR_READY(a) ((void)(a), 1)

static inline int sspl_owner_is_shim(int owner) { return owner >= FRAME_OWNED_BY_INTERPRETER; }
static inline uintptr_t sspl_frame_code(const _PyInterpreterFrame *f)
{
    return f->f_executable.bits & ~(uintptr_t)Py_TAG_BITS;
}
static inline uintptr_t sspl_frame_instr(const _PyInterpreterFrame *f) { return (uintptr_t)f->instr_ptr; }
static inline uintptr_t sspl_frame_previous(const _PyInterpreterFrame *f) { return (uintptr_t)f->previous; }
static inline int sspl_frame_owner(const _PyInterpreterFrame *f) { return f->owner; }

static inline uintptr_t sspl_frame_slot(const PyThreadState *ts, uintptr_t tsaddr)
{
    (void)ts;
    return tsaddr + offsetof(PyThreadState, current_frame);
}

#define SSPL_RT_FINALIZING offsetof(_PyRuntimeState, _finalizing)
#define SSPL_RT_MAIN offsetof(_PyRuntimeState, interpreters.main)
#define SSPL_IS_THREADS_HEAD offsetof(PyInterpreterState, threads.head)
#define SSPL_IS_FINALIZING offsetof(PyInterpreterState, finalizing)

static inline PyThreadState *sspl_this_tstate(void) { return PyThreadState_GetUnchecked(); }

#endif
