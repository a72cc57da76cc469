/* exception_profiler.c - see exception_profiler.h for what is counted.
 *
 * CPython 3.11 mechanism: every exception type's tp_new slot ends in one of a
 * handful of C functions (BaseException_new for almost all of them,
 * OSError_new for the OSError family, a few in extension modules). A static
 * exception type gets its slot from its definition, a subclass copies its
 * base's slot when it is readied (type_ready_set_new), and a class with a
 * Python __new__ gets slot_tp_new, which ends up calling a base's slot through
 * BaseException.__new__. So at start we walk BaseException.__subclasses__()
 * recursively and replace every slot that holds a C function by a trampoline
 * that forwards to that function; classes created afterwards inherit the
 * trampoline. Each distinct original function gets its own trampoline, so a
 * trampoline always knows where to forward without a lookup. At stop the same
 * walk puts the originals back. Trampolines are never unloaded and keep
 * forwarding, so a slot the walk missed (a type unreachable from
 * __subclasses__) stays correct.
 *
 * Consistency matters beyond forwarding: tp_new_wrapper refuses
 * X.__new__(Y) when Y's nearest C base's slot differs from X's. Patching every
 * slot that holds a given function (never only some) keeps that check true.
 *
 * Cost: a non-sampled exception costs one countdown decrement and an
 * indirect call. Sampled ones capture the stack (ssp_capture_current: no
 * Python allocation) and add one row to the aggregator. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>
#include <string.h>

#include "exception_profiler.h"
#include "event_sampling.h"
#include "../src/common/core.h"
#include "../src/common/interner.h"
#include "../src/common/log.h"

/* ---- state shared by both mechanisms (all guarded by the GIL) ---------- */

static int exc_recording;            /* 1 between start and pause */
static int exc_messages;             /* STACKSIGHT_EXCEPTION_MESSAGES: add the message label */
static ssp_walker *exc_walker;       /* stack source; NULL when stopped */
static ss_frame *exc_frames;         /* capture buffer of exc_max_frames entries */
static uint32_t exc_max_frames;      /* DD_PROFILING_MAX_FRAMES at start */
static double exc_mean_interval;     /* mean exceptions between samples (>= 1) */
static int64_t exc_countdown;        /* exceptions until the next sample, >= 1 while recording */
static unsigned long long exc_seen;     /* exceptions the hook saw since start */
static unsigned long long exc_sampled;  /* samples recorded since start */
static PyObject *exc_module_key;     /* interned "__module__"; kept for the process */

/* 1 for the control-flow exceptions that are never reported. */
static int
exc_is_control_flow(PyTypeObject *type)
{
    return PyType_IsSubtype(type, (PyTypeObject *)PyExc_StopIteration) ||
           PyType_IsSubtype(type, (PyTypeObject *)PyExc_StopAsyncIteration) ||
           PyType_IsSubtype(type, (PyTypeObject *)PyExc_GeneratorExit);
}

/* Interned "module.QualName" of `type`, as type.__module__ and
 * type.__qualname__ would give; 0 if it cannot be built. Does not run
 * Python code (dict lookup of an exact str key, UTF-8 views of str). */
static uint32_t
exc_type_name(PyTypeObject *type)
{
    char buf[512];
    int len;
    if (!(type->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
        /* Static types spell their module in tp_name ("socket.gaierror");
         * a plain name means builtins. */
        if (strchr(type->tp_name, '.') != NULL)
            len = snprintf(buf, sizeof buf, "%s", type->tp_name);
        else
            len = snprintf(buf, sizeof buf, "builtins.%s", type->tp_name);
    }
    else {
        PyObject *qualname = ((PyHeapTypeObject *)type)->ht_qualname;
        PyObject *module = type->tp_dict != NULL
                           ? PyDict_GetItemWithError(type->tp_dict, exc_module_key) : NULL;
        const char *q = (qualname && PyUnicode_Check(qualname))
                        ? PyUnicode_AsUTF8(qualname) : NULL;
        const char *m = (module && PyUnicode_Check(module)) ? PyUnicode_AsUTF8(module) : NULL;
        if (q == NULL)
            q = type->tp_name;
        if (m != NULL && strcmp(m, "builtins") != 0)
            len = snprintf(buf, sizeof buf, "%s.%s", m, q);
        else
            len = snprintf(buf, sizeof buf, "builtins.%s", q);
    }
    if (PyErr_Occurred())
        PyErr_Clear();
    if (len <= 0)
        return 0;
    if ((size_t)len >= sizeof buf)
        len = (int)sizeof buf - 1;
    return ss_intern_label(buf, (size_t)len);
}

/* The exception's message when it is a plain string argument: no Python
 * code runs (str() of an arbitrary object could). Capped, interned as a
 * bounded label. */
static uint32_t
exc_message(PyObject *exc)
{
    if (exc == NULL || !PyExceptionInstance_Check(exc))
        return 0;
    PyObject *args = ((PyBaseExceptionObject *)exc)->args;
    if (args == NULL || !PyTuple_Check(args) || PyTuple_GET_SIZE(args) < 1 ||
        !PyUnicode_Check(PyTuple_GET_ITEM(args, 0)))
        return 0;
    Py_ssize_t len;
    const char *text = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(args, 0), &len);
    if (text == NULL) {
        PyErr_Clear();
        return 0;
    }
    return ss_intern_label(text, (size_t)(len > 200 ? 200 : len));
}

/* A sampled exception of `type` (the object `exc`, when known) is being
 * created on this thread. */
static void
exc_record(PyTypeObject *type, PyObject *exc)
{
    ss_aggregator *agg = ss_core_aggregator();
    if (agg == NULL || exc_walker == NULL || exc_is_control_flow(type))
        return;
    /* Whatever error indicator the caller has (normalisation runs with it
     * fetched, but be safe) survives this function untouched. */
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    uint32_t n = ssp_capture_current(exc_walker, exc_frames, exc_max_frames);
    ss_labels labels;
    ssp_current_thread_labels(&labels);
    labels.exception_type = exc_type_name(type);
    if (exc_messages)
        labels.exception_message = exc_message(exc);
    if (n > 0) {
        int64_t weight = (int64_t)(exc_mean_interval + 0.5);
        ss_aggregator_add1(agg, exc_frames, n, &labels, SS_EXCEPTION_SAMPLES, weight);
        exc_sampled++;
    }
    PyErr_Restore(et, ev, etb);
}

/* Called for every exception the mechanism sees. */
static inline void
exc_event(PyTypeObject *type, PyObject *exc)
{
    exc_seen++;
    if (--exc_countdown > 0)
        return;
    exc_countdown = ss_geometric_interval(exc_mean_interval);
    exc_record(type, exc);
}

#if PY_VERSION_HEX < 0x030C0000

/* ---- CPython 3.11: tp_new trampolines ----------------------------------- */

#define EXC_TRAMPOLINES 8

/* exc_originals[i] is what trampoline i forwards to; set once, never
 * cleared (a trampoline may be called long after stop). */
static newfunc exc_originals[EXC_TRAMPOLINES];
static int exc_ntrampolines;         /* entries of exc_originals in use */
static newfunc exc_slot_tp_new;      /* typeobject.c's slot_tp_new, never patched */
static int exc_installed;            /* slots currently patched */

static inline PyObject *
exc_new_common(int i, PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *self = exc_originals[i](type, args, kwds);
    if (self != NULL && exc_recording)
        exc_event(type, self);
    return self;
}

#define EXC_TRAMPOLINE(i)                                                    \
    static PyObject *                                                        \
    exc_new_##i(PyTypeObject *type, PyObject *args, PyObject *kwds)          \
    {                                                                        \
        return exc_new_common(i, type, args, kwds);                          \
    }
EXC_TRAMPOLINE(0)
EXC_TRAMPOLINE(1)
EXC_TRAMPOLINE(2)
EXC_TRAMPOLINE(3)
EXC_TRAMPOLINE(4)
EXC_TRAMPOLINE(5)
EXC_TRAMPOLINE(6)
EXC_TRAMPOLINE(7)

static const newfunc exc_trampolines[EXC_TRAMPOLINES] = {
    exc_new_0, exc_new_1, exc_new_2, exc_new_3, exc_new_4, exc_new_5, exc_new_6, exc_new_7,
};

/* Index of the trampoline `fn` is, or -1. */
static int
exc_trampoline_index(newfunc fn)
{
    for (int i = 0; i < EXC_TRAMPOLINES; i++)
        if (exc_trampolines[i] == fn)
            return i;
    return -1;
}

/* The trampoline for original `fn`, allocating one; NULL when all are used. */
static newfunc
exc_trampoline_for(newfunc fn)
{
    for (int i = 0; i < exc_ntrampolines; i++)
        if (exc_originals[i] == fn)
            return exc_trampolines[i];
    if (exc_ntrampolines == EXC_TRAMPOLINES)
        return NULL;
    exc_originals[exc_ntrampolines] = fn;
    return exc_trampolines[exc_ntrampolines++];
}

/* slot_tp_new's address: the slot of a class whose __new__ is not a C
 * wrapper. It cannot be named from outside typeobject.c. */
static int
exc_find_slot_tp_new(void)
{
    if (exc_slot_tp_new != NULL)
        return 0;
    PyObject *ns = Py_BuildValue("{s:O}", "__new__", (PyObject *)&PyBaseObject_Type);
    if (ns == NULL)
        return -1;
    PyObject *probe = PyObject_CallFunction((PyObject *)&PyType_Type, "s(O)O",
                                            "_stacksight_probe", (PyObject *)&PyBaseObject_Type,
                                            ns);
    Py_DECREF(ns);
    if (probe == NULL)
        return -1;
    exc_slot_tp_new = ((PyTypeObject *)probe)->tp_new;
    Py_DECREF(probe);
    return exc_slot_tp_new != NULL ? 0 : -1;
}

/* Visit `type` and its subclasses, depth first: patch (install = 1) or
 * restore (install = 0) their tp_new. Returns -1 on a Python error. The tree
 * is shallow (tens of levels at most); depth bounds pathological ones. */
static int
exc_walk(PyTypeObject *type, int install, int depth, int *skipped)
{
    if (depth > 200)
        return 0;
    newfunc cur = type->tp_new;
    if (install) {
        if (cur != NULL && cur != exc_slot_tp_new && exc_trampoline_index(cur) < 0) {
            newfunc t = exc_trampoline_for(cur);
            if (t != NULL)
                type->tp_new = t;
            else
                (*skipped)++;
        }
    }
    else {
        int i = exc_trampoline_index(cur);
        if (i >= 0)
            type->tp_new = exc_originals[i];
    }
    PyObject *subs = PyObject_CallMethod((PyObject *)type, "__subclasses__", NULL);
    if (subs == NULL)
        return -1;
    if (!PyList_Check(subs)) {
        Py_DECREF(subs);
        return 0;
    }
    for (Py_ssize_t k = 0; k < PyList_GET_SIZE(subs); k++) {
        PyObject *sub = PyList_GET_ITEM(subs, k);
        if (PyType_Check(sub) && exc_walk((PyTypeObject *)sub, install, depth + 1, skipped) < 0) {
            Py_DECREF(subs);
            return -1;
        }
    }
    Py_DECREF(subs);
    return 0;
}

static int
exc_install(void)
{
    if (exc_find_slot_tp_new() < 0)
        return -1;
    int skipped = 0;
    if (exc_walk((PyTypeObject *)PyExc_BaseException, 1, 0, &skipped) < 0) {
        /* Leave nothing half done: what was patched goes back. */
        PyObject *et, *ev, *etb;
        PyErr_Fetch(&et, &ev, &etb);
        int ignored = 0;
        exc_walk((PyTypeObject *)PyExc_BaseException, 0, 0, &ignored);
        PyErr_Restore(et, ev, etb);
        return -1;
    }
    if (skipped)
        ss_log_once(SS_LOG_INFO, "exception-trampolines",
                    "stacksight: %d exception types with their own __new__ in C are not "
                    "counted by the exception profile", skipped);
    exc_installed = 1;
    return 0;
}

static void
exc_uninstall(void)
{
    if (!exc_installed)
        return;
    int ignored = 0;
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    if (exc_walk((PyTypeObject *)PyExc_BaseException, 0, 0, &ignored) < 0) {
        /* The trampolines keep forwarding; only recording is off. */
        PyErr_Clear();
        ss_log_once(SS_LOG_WARNING, "exception-uninstall",
                    "stacksight: could not restore every exception type after profiling; "
                    "they keep working unchanged");
    }
    PyErr_Restore(et, ev, etb);
    exc_installed = 0;
}

#else

/* ---- CPython 3.12+: sys.monitoring RAISE events ------------------------- */

#define EXC_TOOL_ID 2                /* sys.monitoring.PROFILER_ID */

static int exc_installed;            /* tool id held and RAISE events on */

/* callback(code, instruction_offset, exception) */
static PyObject *
exc_on_raise(PyObject *Py_UNUSED(module), PyObject *const *args, Py_ssize_t nargs)
{
    if (exc_recording && nargs == 3)
        exc_event(Py_TYPE(args[2]), args[2]);
    Py_RETURN_NONE;
}

static PyMethodDef exc_on_raise_def = {
    "_stacksight_on_raise", _PyCFunction_CAST(exc_on_raise), METH_FASTCALL, NULL,
};

static int
exc_monitoring_call(const char *method, const char *format, ...)
{
    PyObject *sys_monitoring = PySys_GetObject("monitoring");   /* borrowed */
    if (sys_monitoring == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "sys.monitoring is missing");
        return -1;
    }
    PyObject *fn = PyObject_GetAttrString(sys_monitoring, method);
    if (fn == NULL)
        return -1;
    va_list va;
    va_start(va, format);
    PyObject *args = Py_VaBuildValue(format, va);
    va_end(va);
    PyObject *r = args ? PyObject_Call(fn, args, NULL) : NULL;
    Py_XDECREF(args);
    Py_DECREF(fn);
    if (r == NULL)
        return -1;
    Py_DECREF(r);
    return 0;
}

static long
exc_raise_event_bit(void)
{
    PyObject *sys_monitoring = PySys_GetObject("monitoring");
    PyObject *events = sys_monitoring ? PyObject_GetAttrString(sys_monitoring, "events") : NULL;
    PyObject *raise = events ? PyObject_GetAttrString(events, "RAISE") : NULL;
    long bit = raise ? PyLong_AsLong(raise) : -1;
    Py_XDECREF(raise);
    Py_XDECREF(events);
    return bit;
}

static int
exc_install(void)
{
    long bit = exc_raise_event_bit();
    if (bit < 0)
        return -1;
    PyObject *cb = PyCFunction_New(&exc_on_raise_def, NULL);
    if (cb == NULL)
        return -1;
    if (exc_monitoring_call("use_tool_id", "(is)", EXC_TOOL_ID, "stacksight") < 0) {
        Py_DECREF(cb);
        return -1;
    }
    if (exc_monitoring_call("register_callback", "(ilO)", EXC_TOOL_ID, bit, cb) < 0 ||
        exc_monitoring_call("set_events", "(il)", EXC_TOOL_ID, bit) < 0) {
        Py_DECREF(cb);
        PyObject *et, *ev, *etb;
        PyErr_Fetch(&et, &ev, &etb);
        if (exc_monitoring_call("free_tool_id", "(i)", EXC_TOOL_ID) < 0)
            PyErr_Clear();
        PyErr_Restore(et, ev, etb);
        return -1;
    }
    Py_DECREF(cb);
    exc_installed = 1;
    return 0;
}

static void
exc_uninstall(void)
{
    if (!exc_installed)
        return;
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    long bit = exc_raise_event_bit();
    if (exc_monitoring_call("set_events", "(ii)", EXC_TOOL_ID, 0) < 0)
        PyErr_Clear();
    if (bit >= 0 && exc_monitoring_call("register_callback", "(ilO)", EXC_TOOL_ID, bit, Py_None) < 0)
        PyErr_Clear();
    if (exc_monitoring_call("free_tool_id", "(i)", EXC_TOOL_ID) < 0)
        PyErr_Clear();
    PyErr_Clear();
    PyErr_Restore(et, ev, etb);
    exc_installed = 0;
}

#endif

/* ---- lifecycle ---------------------------------------------------------- */

int
ssp_exceptions_start(ssp_walker *walker, const ss_config *cfg)
{
    if (exc_installed || walker == NULL || cfg == NULL)
        return -1;
    uint32_t max = cfg->max_frames < 2 ? 2u : (uint32_t)cfg->max_frames;
    ss_frame *frames = malloc((size_t)max * sizeof *frames);
    if (frames == NULL) {
        ss_log_once(SS_LOG_WARNING, "exception-start",
                    "stacksight: exception profiling is off: out of memory");
        return -1;
    }
    if (exc_module_key == NULL) {
        exc_module_key = PyUnicode_InternFromString("__module__");
        if (exc_module_key == NULL) {
            PyErr_Clear();
            free(frames);
            return -1;
        }
    }
    double mean = cfg->exception_sample_interval >= 1.0 ? cfg->exception_sample_interval
                                                         : SSP_EXCEPTION_DEFAULT_INTERVAL;
    exc_messages = cfg->collect_exception_message;
    exc_frames = frames;
    exc_max_frames = max;
    exc_walker = walker;
    exc_mean_interval = mean;
    exc_countdown = ss_geometric_interval(mean);
    exc_seen = exc_sampled = 0;
    if (exc_install() < 0) {
        PyObject *et, *ev, *etb;
        PyErr_Fetch(&et, &ev, &etb);
        PyObject *msg = ev ? PyObject_Str(ev) : NULL;
        const char *why = msg ? PyUnicode_AsUTF8(msg) : NULL;
        ss_log_once(SS_LOG_WARNING, "exception-start",
                    "stacksight: exception profiling is off: cannot hook exception creation (%s)",
                    why ? why : "unknown error");
        Py_XDECREF(msg);
        Py_XDECREF(et);
        Py_XDECREF(ev);
        Py_XDECREF(etb);
        PyErr_Clear();
        exc_walker = NULL;
        exc_frames = NULL;
        free(frames);
        return -1;
    }
    exc_recording = 1;
    return 0;
}

void
ssp_exceptions_pause(void)
{
    exc_recording = 0;
}

void
ssp_exceptions_stop(void)
{
    exc_recording = 0;
    exc_uninstall();
    exc_walker = NULL;
    free(exc_frames);
    exc_frames = NULL;
}

void
ssp_exceptions_counts(unsigned long long *seen, unsigned long long *sampled)
{
    *seen = exc_seen;
    *sampled = exc_sampled;
}
