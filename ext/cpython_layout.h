/* cpython_layout.h - the version seam of the stack walker.
 *
 * Why this file exists: the walker (cpython_walker.c) reads interpreter
 * structures without the GIL, and their layout changes in every CPython minor
 * release. Everything that differs between versions - where a thread's
 * current frame pointer lives, how a frame names its code object and
 * instruction, which frame owners exist, how to find the GIL holder from a
 * signal handler, where the runtime's finalizing flags sit - is behind the
 * small interface below, implemented once per version family in
 * cpython_layout_3NN.h (3.11+ share cpython_layout_iframe.h). Every offset
 * comes from the interpreter's own
 * internal headers (the extension is compiled against each interpreter),
 * never from a hand-written constant. Adding a version is one such header
 * plus a test run on the real interpreter (make test-pythons).
 *
 * Interface each cpython_layout_3NN.h provides (all static inline, no state
 * beyond sspl_gil_addr):
 *   SSPL_FAMILY                     "3.9" ... : the family, for messages
 *   sspl_frame, SSPL_FRAME_BYTES    the frame struct and its fixed part
 *   SSPL_FRAMES_IN_CHUNKS           1: thread-owned frames are in data-stack
 *                                   chunks (sspl_chunk); 0: heap objects
 *   sspl_datastack(ts, &c, &t, &l)  the current chunk, its top and limit
 *                                   (all 0 without a data stack)
 *   sspl_native_tid(ts)             the thread's OS id (0 if not known)
 *   SSPL_CODE_START, SSPL_CODE_HDR  where instruction addresses start in a
 *                                   code object; bytes of it to copy
 *   SSPL_CODE_NAME/LINETABLE/FIRSTTRACEABLE/BYTES(co)  its fields; BYTES
 *                                   is what tells a reused address
 *   SSPL_LINETABLE_FORMAT           309 co_lnotab, 310, 311 co_linetable
 *   SSPL_OWNED_BY_THREAD            frame owner: in the thread's data stack
 *   SSPL_OWNED_BY_GENERATOR         frame owner: inside a generator object
 *   SSPL_OWNER_MAX                  largest valid owner value
 *   sspl_owner_is_shim(owner)       1: a frame the interpreter pushes for
 *                                   itself (entry/trampoline frames), never
 *                                   shown and not checked for a code object
 *   sspl_frame_code(f)              code object address (untagged)
 *   sspl_frame_instr(f)             instruction pointer whose distance from
 *                                   the code start, in code units, is what
 *                                   _PyInterpreterFrame_LASTI gives
 *   sspl_frame_previous(f), sspl_frame_owner(f)
 *   SSPL_STR_READY(ascii_hdr)       the str is ready (always, from 3.12)
 *   sspl_frame_slot(ts, tsaddr)     remote address of the pointer to the
 *                                   thread's current frame (inside the
 *                                   thread state or its current _PyCFrame);
 *                                   0 when the thread runs no Python code
 *   SSPL_RT_FINALIZING, SSPL_RT_MAIN       offsets in _PyRuntimeState
 *   SSPL_IS_THREADS_HEAD, SSPL_IS_FINALIZING offsets in PyInterpreterState
 *   sspl_check(err, len)            with the GIL at walker creation: 0 if the
 *                                   running interpreter's own offset table
 *                                   (3.13+) agrees with the compiled layout
 *   sspl_init()                     with the GIL at walker creation
 *   sspl_this_tstate()              the calling thread's state (GIL held)
 *   sspl_gil_holder_self(tid, copy) async-signal-safe: if thread `tid`
 *                                   holds the GIL, copy its PyThreadState
 *                                   into *copy and return its address, else 0
 */
#ifndef SSP_CPYTHON_LAYOUT_H
#define SSP_CPYTHON_LAYOUT_H

#include <patchlevel.h>

#if PY_VERSION_HEX >= 0x03090000 && PY_VERSION_HEX < 0x03100000 && !defined(Py_GIL_DISABLED)
#define SSP_SUPPORTED 1
#ifndef Py_BUILD_CORE
#define Py_BUILD_CORE 1
#endif
#else
#define SSP_SUPPORTED 0
#endif

/* The versions with a layout part, for messages of the refusing stub. */
#define SSP_SUPPORTED_VERSIONS "CPython 3.9 to 3.15 (GIL builds)"

#include <Python.h>

#if SSP_SUPPORTED
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* The layout part of the interpreter this is compiled against. */
#if PY_VERSION_HEX < 0x030B0000
#include "cpython_layout_309.h"
#elif PY_VERSION_HEX < 0x030C0000
#include "cpython_layout_311.h"
#elif PY_VERSION_HEX < 0x030D0000
#include "cpython_layout_312.h"
#elif PY_VERSION_HEX < 0x030E0000
#include "cpython_layout_313.h"
#else
#include "cpython_layout_314.h"
#endif
#if PY_VERSION_HEX >= 0x030B0000
#include "cpython_layout_iframe.h"
#endif
#endif

#endif
