/* cpython_layout_gil.h - who holds the GIL, from a signal handler, on CPython
 * 3.12 and later (shared by their layout parts; see cpython_layout.h).
 *
 * Since 3.12 each interpreter points at its GIL (interp->ceval.gil) and the
 * current thread state is a thread-local the handler cannot portably read.
 * The GIL records its holder (last_holder, valid while `locked`), so the
 * handler copies that thread state and checks it is its own thread's by the
 * native thread id. Two safe reads; a torn or stale answer is a lost sample:
 * a thread that just dropped the GIL copies its own (then stable) stack. */
#ifndef SSP_CPYTHON_LAYOUT_GIL_H
#define SSP_CPYTHON_LAYOUT_GIL_H

#include <internal/pycore_gil.h>
#include "../src/common/safe_read.h"

/* The main interpreter's GIL, recorded with the GIL held by sspl_init; 0
 * before. Interpreter and GIL live until finalization. */
static uintptr_t sspl_gil_addr;

static inline void sspl_init(void)
{
    PyInterpreterState *interp = PyInterpreterState_Main();
    __atomic_store_n(&sspl_gil_addr, interp ? (uintptr_t)interp->ceval.gil : 0, __ATOMIC_RELEASE);
}

static inline uintptr_t sspl_gil_holder_self(pid_t tid, PyThreadState *copy)
{
    uintptr_t gil = __atomic_load_n(&sspl_gil_addr, __ATOMIC_ACQUIRE);
    if (!gil)
        return 0;
    struct _gil_runtime_state g;
    if (ss_safe_read(&g, (const void *)gil, sizeof g))
        return 0;
    uintptr_t holder;
    int locked;
    memcpy(&holder, &g.last_holder, sizeof holder);
    memcpy(&locked, &g.locked, sizeof locked);
    if (!locked || !holder || (holder & 7) || ss_safe_read(copy, (const void *)holder, sizeof *copy))
        return 0;
    return copy->native_thread_id == (unsigned long)tid ? holder : 0;
}

#endif
