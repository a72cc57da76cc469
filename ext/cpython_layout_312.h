/* cpython_layout_312.h - CPython 3.12 layout part of the stack walker (the
 * interface is described in cpython_layout.h).
 *
 * As 3.11 (current frame behind tstate->cframe, `prev_instr`, plain
 * `f_code`), plus entry frames owned by the C stack (FRAME_OWNED_BY_CSTACK,
 * one per _PyEval_EvalFrameDefault call, linked into the chain) and a GIL per
 * interpreter (see cpython_layout_gil.h). */
#ifndef SSP_CPYTHON_LAYOUT_312_H
#define SSP_CPYTHON_LAYOUT_312_H

#include <internal/pycore_code.h>
#include <internal/pycore_frame.h>
#include <internal/pycore_interp.h>
#include <internal/pycore_pystate.h>
#include <internal/pycore_runtime.h>
#include "cpython_layout_gil.h"

#define SSPL_FAMILY "3.12"
#define SSPL_OWNED_BY_THREAD FRAME_OWNED_BY_THREAD
#define SSPL_OWNED_BY_GENERATOR FRAME_OWNED_BY_GENERATOR
#define SSPL_OWNER_MAX FRAME_OWNED_BY_CSTACK

/* 1 if a str header describes a ready string (3.12 removed not-ready ones). */
#define SSPL_STR_READY(a) ((void)(a), 1)

static inline int sspl_owner_is_shim(int owner) { return owner == FRAME_OWNED_BY_CSTACK; }
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

/* No runtime table of offsets before 3.13: the headers are the only source. */
static inline int sspl_check(char *err, size_t errlen) { (void)err; (void)errlen; return 0; }

static inline PyThreadState *sspl_this_tstate(void) { return _PyThreadState_UncheckedGet(); }

#endif
