/* cpython_layout_debug_offsets.h - cross-check of the compiled-in layout
 * against the running interpreter's own table of offsets (CPython 3.13+).
 *
 * Why this file exists: the walker's offsets come from the headers the
 * extension was built against. If the interpreter actually running differs
 * (a patched build, a debug build loaded with release headers, a distributor
 * change within a micro release), reading by those offsets would misread
 * memory. From 3.13 the runtime publishes _PyRuntime.debug_offsets, the
 * offsets it was itself built with, for out-of-process tools. sspl_check()
 * compares every offset the walker relies on; any difference refuses start. */
#ifndef SSP_CPYTHON_LAYOUT_DEBUG_OFFSETS_H
#define SSP_CPYTHON_LAYOUT_DEBUG_OFFSETS_H

#include <stdio.h>
#include <string.h>

/* 0 if the running interpreter's table agrees with the compiled layout; else
 * -1 with the first disagreeing field named in err. With the GIL. */
static inline int sspl_check(char *err, size_t errlen)
{
    const _Py_DebugOffsets *d = &_PyRuntime.debug_offsets;
    if (memcmp(d->cookie, _Py_Debug_Cookie, sizeof d->cookie) != 0) {
        snprintf(err, errlen, "this interpreter publishes no _Py_DebugOffsets table");
        return -1;
    }
    if (d->free_threaded) {
        snprintf(err, errlen, "free-threaded CPython builds are not supported");
        return -1;
    }
    struct { const char *name; uint64_t runtime, compiled; } f[] = {
#define SSPL_FIELD(part, field, type, member) {#part "." #field, d->part.field, offsetof(type, member)}
        SSPL_FIELD(runtime_state, finalizing, _PyRuntimeState, _finalizing),
        SSPL_FIELD(interpreter_state, threads_head, PyInterpreterState, threads.head),
        SSPL_FIELD(thread_state, next, PyThreadState, next),
        SSPL_FIELD(thread_state, interp, PyThreadState, interp),
        SSPL_FIELD(thread_state, current_frame, PyThreadState, current_frame),
        SSPL_FIELD(thread_state, thread_id, PyThreadState, thread_id),
        SSPL_FIELD(thread_state, native_thread_id, PyThreadState, native_thread_id),
        SSPL_FIELD(thread_state, datastack_chunk, PyThreadState, datastack_chunk),
        SSPL_FIELD(interpreter_frame, previous, _PyInterpreterFrame, previous),
        SSPL_FIELD(interpreter_frame, executable, _PyInterpreterFrame, f_executable),
        SSPL_FIELD(interpreter_frame, instr_ptr, _PyInterpreterFrame, instr_ptr),
        SSPL_FIELD(interpreter_frame, owner, _PyInterpreterFrame, owner),
        SSPL_FIELD(interpreter_frame, localsplus, _PyInterpreterFrame, localsplus),
        SSPL_FIELD(code_object, filename, PyCodeObject, co_filename),
        SSPL_FIELD(code_object, qualname, PyCodeObject, co_qualname),
        SSPL_FIELD(code_object, linetable, PyCodeObject, co_linetable),
        SSPL_FIELD(code_object, firstlineno, PyCodeObject, co_firstlineno),
        SSPL_FIELD(code_object, co_code_adaptive, PyCodeObject, co_code_adaptive),
#undef SSPL_FIELD
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        if (f[i].runtime != f[i].compiled) {
            snprintf(err, errlen, "this interpreter's layout differs from the headers stacksight "
                     "was built with (%s at %llu, built for %llu); rebuild stacksight against it",
                     f[i].name, (unsigned long long)f[i].runtime, (unsigned long long)f[i].compiled);
            return -1;
        }
    }
    return 0;
}

#endif
