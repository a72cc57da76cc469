/* cpython_layout_313.h - CPython 3.13 layout part of the stack walker (the
 * interface is described in cpython_layout.h).
 *
 * 3.13 drops _PyCFrame: the current frame pointer is tstate->current_frame.
 * Frames name their code as `f_executable` (a code object, or None for the
 * C-stack entry frames) and hold `instr_ptr`, the instruction executing or
 * about to begin. GIL per interpreter as in 3.12 (cpython_layout_gil.h). */
#ifndef SSP_CPYTHON_LAYOUT_313_H
#define SSP_CPYTHON_LAYOUT_313_H

#include <internal/pycore_code.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_pystate.h>
#include <internal/pycore_runtime.h>
#include "cpython_layout_gil.h"
#include "cpython_layout_debug_offsets.h"

#define SSPL_FAMILY "3.13"
#define SSPL_OWNED_BY_THREAD FRAME_OWNED_BY_THREAD
#define SSPL_OWNED_BY_GENERATOR FRAME_OWNED_BY_GENERATOR
#define SSPL_OWNER_MAX FRAME_OWNED_BY_CSTACK

/* 1 if a str header describes a ready string (3.12 removed not-ready ones). */
#define SSPL_STR_READY(a) ((void)(a), 1)

static inline int sspl_owner_is_shim(int owner) { return owner == FRAME_OWNED_BY_CSTACK; }
static inline uintptr_t sspl_frame_code(const _PyInterpreterFrame *f) { return (uintptr_t)f->f_executable; }
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
