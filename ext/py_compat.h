/* py_compat.h - the few public C APIs the binding uses that CPython 3.9 and
 * 3.10 lack (3.9 also lacks Py_NewRef), and the bytecode names that differ.
 *
 * Why this file exists: on an interpreter without a stack-walker layout part
 * (see cpython_layout.h) the package must still build, so that start()
 * refuses with a clear message instead of `pip install` failing, and the
 * 3.9/3.10 builds use these stand-ins. Include after Python.h and opcode.h. */
#ifndef SSP_PY_COMPAT_H
#define SSP_PY_COMPAT_H

#include <Python.h>
#include <stdlib.h>

#if PY_VERSION_HEX < 0x030B0000
#include <frameobject.h>

/* 3.11's PyFrame_GetLasti: byte offset of the last instruction (3.10 counts
 * f_lasti in code units, 3.9 in bytes). */
static inline int ssp_frame_get_lasti(PyFrameObject *f)
{
#if PY_VERSION_HEX >= 0x030A0000
    return f->f_lasti < 0 ? -1 : f->f_lasti * 2;
#else
    return f->f_lasti;
#endif
}
#define PyFrame_GetLasti(f) ssp_frame_get_lasti(f)

/* Py_Version (3.11+) of the running interpreter, from its version string. */
static inline unsigned long ssp_runtime_version_hex(void)
{
    const char *v = Py_GetVersion();
    char *end;
    unsigned long major = strtoul(v, &end, 10), minor = 0, micro = 0;
    if (*end == '.') minor = strtoul(end + 1, &end, 10);
    if (*end == '.') micro = strtoul(end + 1, &end, 10);
    return (major << 24) | (minor << 16) | (micro << 8);
}
#define Py_Version ssp_runtime_version_hex()
#endif

#if PY_VERSION_HEX < 0x030A0000
static inline PyObject *ssp_new_ref(PyObject *o) { Py_INCREF(o); return o; }
#define Py_NewRef(o) ssp_new_ref((PyObject *)(o))
#ifndef PySet_CheckExact
#define PySet_CheckExact(op) Py_IS_TYPE((op), &PySet_Type)
#endif
#endif

#if PY_VERSION_HEX < 0x030B0000
/* 3.11's PyCode_GetCode: the bytecode (a new reference). */
static inline PyObject *ssp_code_get_code(PyCodeObject *co) { Py_INCREF(co->co_code); return co->co_code; }
#define PyCode_GetCode(co) ssp_code_get_code(co)
/* Names STORE_FAST stores to (3.11 merged them into co_localsplusnames). */
#define SSP_FAST_NAMES(co) ((co)->co_varnames)
/* STORE_DEREF's index: cells first (a free variable's index is past them,
 * outside this table: no name). */
#define SSP_DEREF_NAMES(co) ((co)->co_cellvars)
/* Call instructions a stored lock can pass through (Condition(Lock())); no
 * inline caches before 3.11. */
#define SSP_OP_IS_CALL(op) ((op) == CALL_FUNCTION || (op) == CALL_METHOD || (op) == CALL_FUNCTION_KW)
#else
#define SSP_FAST_NAMES(co) ((co)->co_localsplusnames)
#define SSP_DEREF_NAMES(co) ((co)->co_localsplusnames)
#endif

#endif
