/* lock_profiler.c - proxies for threading.Lock / threading.RLock that sample
 * lock operations (see lock_profiler.h for what is measured).
 *
 * A proxy must be indistinguishable from the lock it wraps, except for its
 * type: same methods, same return values and errors, same blocking
 * behaviour. Every method therefore ends in the wrapped lock's own method.
 * When the wrapped object is the expected C type (_thread.lock /
 * _thread.RLock), the proxy calls that method's C function directly with the
 * argument tuple it received - no bound method, no new tuple - so an
 * unsampled operation costs the proxy's call plus a countdown. Any other
 * wrapped type, or unexpected arguments, take the generic path: look the
 * method up on the wrapped object and call it, so error messages are the
 * wrapped lock's own.
 *
 * Everything here runs with the GIL held; it is what serialises access to
 * the proxies' bookkeeping fields and to the module state below. The wrapped
 * lock's acquire releases the GIL while it waits, and the proxy keeps no
 * state across that call but locals. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <opcode.h>
#include <structmember.h>

#include <math.h>
#include <string.h>
#include <time.h>

#include "lock_profiler.h"
#include "event_sampling.h"
#include "../src/common/core.h"
#include "../src/common/interner.h"
#include "../src/common/log.h"

/* ---- the wrapped locks' C methods ---------------------------------------- */

enum {
    LM_ACQUIRE, LM_RELEASE, LM_ENTER, LM_EXIT, LM_LOCKED, LM_AT_FORK_REINIT,
    LM_IS_OWNED, LM_RELEASE_SAVE, LM_ACQUIRE_RESTORE, LM_RECURSION_COUNT, LM_COUNT
};

static const char *const lock_method_names[LM_COUNT] = {
    "acquire", "release", "__enter__", "__exit__", "locked", "_at_fork_reinit",
    "_is_owned", "_release_save", "_acquire_restore", "_recursion_count",
};

/* One method of a wrapped C lock type, as found in the type's dict. */
typedef struct lock_cmethod {
    PyCFunction meth;        /* the C function; NULL = not found, use the generic path */
    int flags;               /* its METH_* calling convention */
} lock_cmethod;

/* Methods of one wrapped type; `type` NULL until set_lock_factories. */
typedef struct lock_ctype {
    PyTypeObject *type;      /* strong ref: the exact type the table is valid for */
    lock_cmethod methods[LM_COUNT];
} lock_ctype;

/* ---- module state (GIL) -------------------------------------------------- */

static PyObject *lock_factory;       /* callable making a real Lock (threading.Lock at install) */
static PyObject *rlock_factory;      /* callable making a real RLock (_thread.RLock) */
static lock_ctype lock_ctypes[2];    /* [0] plain locks, [1] RLocks */
static int lock_recording;           /* 1 between start and pause */
static ssp_walker *lock_walker;      /* stack source while recording */
static ss_frame *lock_frames;        /* capture buffer of lock_max_frames entries */
static uint32_t lock_max_frames;
static double lock_scale;            /* 100 / capture_pct: weight of one sample */
static int64_t lock_countdown;       /* ownership acquires until the next sampled one */
static PyObject *lock_threading_suffix;  /* "threading.py": creation frames skipped */

/* ---- the proxy object ---------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *inner;             /* the real lock; never NULL after tp_new */
    const lock_ctype *ctype;     /* fast-call table when inner's type matches, else NULL */
    PyObject *weakreflist;       /* real locks accept weak references */
    PyObject *site_code;         /* code object of the creating frame, until named */
    int site_lasti;              /* byte offset of the creating call in site_code */
    uint32_t name_id;            /* interned lock name; 0 = not worked out yet */
    int is_rlock;                /* 1: RLock semantics (owner, depth) */
    unsigned long owner;         /* RLock: ident of the owning thread, 0 = none known */
    long depth;                  /* RLock: owner's recursion depth as seen by the proxy */
    int64_t hold_start_ns;       /* monotonic ns of a sampled acquire still held; 0 = none */
} lock_proxy;

static PyTypeObject LockProxy_Type;
static PyTypeObject RLockProxy_Type;

static int64_t
lock_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Call method `which` of the wrapped lock with the proxy's arguments. */
static PyObject *
lock_inner_call(lock_proxy *self, int which, PyObject *args, PyObject *kwds)
{
    const lock_cmethod *m = self->ctype ? &self->ctype->methods[which] : NULL;
    int no_kw = kwds == NULL || PyDict_GET_SIZE(kwds) == 0;
    if (m != NULL && m->meth != NULL) {
        switch (m->flags & (METH_VARARGS | METH_KEYWORDS | METH_NOARGS | METH_O | METH_FASTCALL)) {
        case METH_VARARGS | METH_KEYWORDS:
            return ((PyCFunctionWithKeywords)(void (*)(void))m->meth)(self->inner, args, kwds);
        case METH_VARARGS:
            if (no_kw)
                return m->meth(self->inner, args);
            break;
        case METH_NOARGS:
            if (no_kw && PyTuple_GET_SIZE(args) == 0)
                return m->meth(self->inner, NULL);
            break;
        default:
            break;
        }
    }
    PyObject *bound = PyObject_GetAttrString(self->inner, lock_method_names[which]);
    if (bound == NULL)
        return NULL;
    PyObject *r = PyObject_Call(bound, args, kwds);
    Py_DECREF(bound);
    return r;
}

/* ---- lock names ---------------------------------------------------------- */

/* Name stored by the instruction that follows the creating call at byte
 * offset `lasti`: a local, cell, global, name or attribute. NULL if the lock
 * is not stored in a name (passed on, put in a container...). Borrowed. */
static PyObject *
lock_stored_name(PyCodeObject *code, int lasti)
{
#if defined(STORE_FAST) && defined(STORE_NAME) && defined(STORE_ATTR) && defined(CACHE)
    PyObject *bytes = PyCode_GetCode(code);
    if (bytes == NULL || !PyBytes_Check(bytes)) {
        Py_XDECREF(bytes);
        return NULL;
    }
    const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(bytes);
    Py_ssize_t n = PyBytes_GET_SIZE(bytes);
    PyObject *name = NULL;
    int ext = 0;
    /* Skip the call's inline caches and, for Condition(Lock()), the calls
     * that consume the lock before the store. Bounded: a handful of units. */
    for (Py_ssize_t i = (Py_ssize_t)lasti + 2, steps = 0; i + 1 < n && steps < 48; i += 2, steps++) {
        int op = b[i];
        int arg = b[i + 1] | (ext << 8);
        if (op == EXTENDED_ARG) {
            ext = arg;
            continue;
        }
        ext = 0;
        if (op == CACHE || op == CALL
#ifdef PRECALL
            || op == PRECALL
#endif
#ifdef KW_NAMES
            || op == KW_NAMES
#endif
            )
            continue;
        PyObject *table = NULL;
        if (op == STORE_FAST || op == STORE_DEREF)
            table = code->co_localsplusnames;
        else if (op == STORE_NAME || op == STORE_GLOBAL || op == STORE_ATTR)
            table = code->co_names;
        if (table != NULL && PyTuple_Check(table) && arg < PyTuple_GET_SIZE(table))
            name = PyTuple_GET_ITEM(table, arg);
        break;
    }
    Py_DECREF(bytes);
    return name;
#else
    (void)code;
    (void)lasti;
    return NULL;
#endif
}

/* Interned "file.py:LINE:variable" (or "file.py:LINE") of the proxy, worked
 * out once; 0 when the creation site is unknown. */
static uint32_t
lock_name(lock_proxy *self)
{
    if (self->name_id != 0 || self->site_code == NULL)
        return self->name_id;
    PyCodeObject *code = (PyCodeObject *)self->site_code;
    char buf[512];
    const char *file = PyUnicode_Check(code->co_filename) ? PyUnicode_AsUTF8(code->co_filename) : NULL;
    if (file == NULL) {
        PyErr_Clear();
        file = "?";
    }
    const char *slash = strrchr(file, '/');
    if (slash != NULL)
        file = slash + 1;
    int line = PyCode_Addr2Line(code, self->site_lasti);
    PyObject *var = lock_stored_name(code, self->site_lasti);
    const char *v = (var != NULL && PyUnicode_Check(var)) ? PyUnicode_AsUTF8(var) : NULL;
    int len = v ? snprintf(buf, sizeof buf, "%s:%d:%s", file, line, v)
                : snprintf(buf, sizeof buf, "%s:%d", file, line);
    if (PyErr_Occurred())
        PyErr_Clear();
    if (len > 0) {
        if ((size_t)len >= sizeof buf)
            len = (int)sizeof buf - 1;
        self->name_id = ss_intern_label(buf, (size_t)len);
        Py_CLEAR(self->site_code);
    }
    return self->name_id;
}

/* Remember the creating frame: the innermost one outside threading.py. */
static void
lock_note_site(lock_proxy *self)
{
    PyFrameObject *f = PyEval_GetFrame();   /* borrowed */
    Py_XINCREF(f);
    for (int hops = 0; f != NULL && hops < 16; hops++) {
        PyCodeObject *code = PyFrame_GetCode(f);
        int inside = PyUnicode_Check(code->co_filename) &&
                     PyUnicode_Tailmatch(code->co_filename, lock_threading_suffix, 0,
                                         PY_SSIZE_T_MAX, 1) == 1;
        if (!inside) {
            self->site_code = (PyObject *)code;
            self->site_lasti = PyFrame_GetLasti(f);
            break;
        }
        Py_DECREF(code);
        PyFrameObject *back = PyFrame_GetBack(f);
        Py_DECREF(f);
        f = back;
    }
    Py_XDECREF(f);
    if (PyErr_Occurred())
        PyErr_Clear();
}

/* ---- recording ----------------------------------------------------------- */

/* One sampled event of `self` at the calling thread's stack. */
static void
lock_record(lock_proxy *self, ss_value_kind count_kind, ss_value_kind time_kind, int64_t ns)
{
    ss_aggregator *agg = ss_core_aggregator();
    if (agg == NULL || lock_walker == NULL || !lock_recording)
        return;
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    ss_labels labels;
    ssp_current_thread_labels(&labels);
    labels.lock_name = lock_name(self);
    uint32_t n = ssp_capture_current(lock_walker, lock_frames, lock_max_frames);
    if (n > 0) {
        int64_t values[SS_VALUE_KINDS];
        memset(values, 0, sizeof values);
        values[count_kind] = llround(lock_scale);
        values[time_kind] = llround((double)(ns > 0 ? ns : 0) * lock_scale);
        ss_aggregator_add(agg, lock_frames, n, &labels, values);
    }
    PyErr_Restore(et, ev, etb);
}

/* Take the next sampling decision for an ownership acquire. */
static inline int
lock_sample_now(void)
{
    if (!lock_recording || --lock_countdown > 0)
        return 0;
    lock_countdown = ss_geometric_interval(lock_scale);
    return 1;
}

/* The calling thread just took ownership of (RLock) `self` at `depth`. */
static inline void
lock_note_owner(lock_proxy *self, unsigned long me, long depth)
{
    self->owner = me;
    self->depth = depth;
}

/* acquire() and __enter__(). */
static PyObject *
lock_do_acquire(lock_proxy *self, int which, PyObject *args, PyObject *kwds)
{
    unsigned long me = 0;
    if (self->is_rlock) {
        me = PyThread_get_thread_ident();
        if (self->owner == me && self->depth > 0) {
            /* Re-entrant: not an ownership change, never sampled. */
            PyObject *r = lock_inner_call(self, which, args, kwds);
            if (r == Py_True)
                self->depth++;
            return r;
        }
    }
    if (!lock_sample_now()) {
        PyObject *r = lock_inner_call(self, which, args, kwds);
        if (self->is_rlock && r == Py_True)
            lock_note_owner(self, me, 1);
        return r;
    }
    int64_t t0 = lock_now_ns();
    PyObject *r = lock_inner_call(self, which, args, kwds);
    if (r == Py_True) {
        int64_t t1 = lock_now_ns();
        if (self->is_rlock)
            lock_note_owner(self, me, 1);
        lock_record(self, SS_LOCK_ACQUIRE, SS_LOCK_ACQUIRE_WAIT, t1 - t0);
        self->hold_start_ns = t1 > 0 ? t1 : 1;
    }
    return r;
}

/* The ownership of `self` just ended on this thread: record a sampled hold. */
static inline void
lock_end_hold(lock_proxy *self)
{
    if (self->hold_start_ns != 0) {
        int64_t held = lock_now_ns() - self->hold_start_ns;
        self->hold_start_ns = 0;
        lock_record(self, SS_LOCK_RELEASE, SS_LOCK_RELEASE_HOLD, held);
    }
}

/* release() and __exit__(). */
static PyObject *
lock_do_release(lock_proxy *self, int which, PyObject *args, PyObject *kwds)
{
    int mine = 0;
    if (self->is_rlock)
        mine = self->owner == PyThread_get_thread_ident() && self->depth > 0;
    PyObject *r = lock_inner_call(self, which, args, kwds);
    if (r == NULL)
        return NULL;
    if (!self->is_rlock) {
        lock_end_hold(self);
    }
    else if (mine && --self->depth == 0) {
        self->owner = 0;
        lock_end_hold(self);
    }
    return r;
}

static PyObject *
lock_acquire(lock_proxy *self, PyObject *args, PyObject *kwds)
{
    return lock_do_acquire(self, LM_ACQUIRE, args, kwds);
}

static PyObject *
lock_enter(lock_proxy *self, PyObject *args, PyObject *kwds)
{
    return lock_do_acquire(self, LM_ENTER, args, kwds);
}

static PyObject *
lock_release(lock_proxy *self, PyObject *args, PyObject *kwds)
{
    return lock_do_release(self, LM_RELEASE, args, kwds);
}

static PyObject *
lock_exit(lock_proxy *self, PyObject *args, PyObject *kwds)
{
    return lock_do_release(self, LM_EXIT, args, kwds);
}

static PyObject *
lock_locked(lock_proxy *self, PyObject *args, PyObject *kwds)
{
    return lock_inner_call(self, LM_LOCKED, args, kwds);
}

static PyObject *
lock_is_owned(lock_proxy *self, PyObject *args, PyObject *kwds)
{
    return lock_inner_call(self, LM_IS_OWNED, args, kwds);
}

static PyObject *
lock_recursion_count(lock_proxy *self, PyObject *args, PyObject *kwds)
{
    return lock_inner_call(self, LM_RECURSION_COUNT, args, kwds);
}

static PyObject *
lock_at_fork_reinit(lock_proxy *self, PyObject *args, PyObject *kwds)
{
    PyObject *r = lock_inner_call(self, LM_AT_FORK_REINIT, args, kwds);
    if (r != NULL) {
        self->owner = 0;
        self->depth = 0;
        self->hold_start_ns = 0;
    }
    return r;
}

/* RLock: Condition.wait() gives up ownership completely... */
static PyObject *
lock_release_save(lock_proxy *self, PyObject *args, PyObject *kwds)
{
    PyObject *r = lock_inner_call(self, LM_RELEASE_SAVE, args, kwds);
    if (r == NULL)
        return NULL;
    self->owner = 0;
    self->depth = 0;
    lock_end_hold(self);
    return r;
}

/* ...and takes it back, waiting like an acquire. */
static PyObject *
lock_acquire_restore(lock_proxy *self, PyObject *args, PyObject *kwds)
{
    int sampled = lock_sample_now();
    int64_t t0 = sampled ? lock_now_ns() : 0;
    PyObject *r = lock_inner_call(self, LM_ACQUIRE_RESTORE, args, kwds);
    if (r == NULL)
        return NULL;
    long depth = 1;
    PyObject *state = PyTuple_GET_SIZE(args) == 1 ? PyTuple_GET_ITEM(args, 0) : NULL;
    if (state != NULL && PyTuple_Check(state) && PyTuple_GET_SIZE(state) >= 1 &&
        PyLong_Check(PyTuple_GET_ITEM(state, 0))) {
        depth = PyLong_AsLong(PyTuple_GET_ITEM(state, 0));
        if (depth < 1) {
            PyErr_Clear();
            depth = 1;
        }
    }
    lock_note_owner(self, PyThread_get_thread_ident(), depth);
    if (sampled) {
        int64_t t1 = lock_now_ns();
        lock_record(self, SS_LOCK_ACQUIRE, SS_LOCK_ACQUIRE_WAIT, t1 - t0);
        self->hold_start_ns = t1 > 0 ? t1 : 1;
    }
    return r;
}

static PyObject *
lock_reduce_ex(lock_proxy *self, PyObject *protocol)
{
    /* The real lock's answer: "cannot pickle '_thread.lock' object". */
    return PyObject_CallMethod(self->inner, "__reduce_ex__", "O", protocol);
}

static PyObject *
lock_repr(lock_proxy *self)
{
    return PyObject_Repr(self->inner);
}

static PyObject *
lock_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    int is_rlock = type == &RLockProxy_Type;
    PyObject *factory = is_rlock ? rlock_factory : lock_factory;
    if (factory == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "stacksight lock proxies are not configured");
        return NULL;
    }
    PyObject *inner = PyObject_Call(factory, args, kwds);
    if (inner == NULL)
        return NULL;
    lock_proxy *self = (lock_proxy *)type->tp_alloc(type, 0);
    if (self == NULL) {
        Py_DECREF(inner);
        return NULL;
    }
    self->inner = inner;
    self->is_rlock = is_rlock;
    const lock_ctype *ct = &lock_ctypes[is_rlock];
    self->ctype = (ct->type != NULL && Py_IS_TYPE(inner, ct->type)) ? ct : NULL;
    if (lock_recording)
        lock_note_site(self);
    return (PyObject *)self;
}

static void
lock_dealloc(lock_proxy *self)
{
    if (self->weakreflist != NULL)
        PyObject_ClearWeakRefs((PyObject *)self);
    Py_XDECREF(self->inner);
    Py_XDECREF(self->site_code);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

#define LOCK_METH(name, fn, doc) \
    {name, _PyCFunction_CAST(fn), METH_VARARGS | METH_KEYWORDS, PyDoc_STR(doc)}

static PyMethodDef lock_proxy_methods[] = {
    LOCK_METH("acquire", lock_acquire, "Lock.acquire(blocking=True, timeout=-1)"),
    LOCK_METH("acquire_lock", lock_acquire, "Alias of acquire()."),
    LOCK_METH("release", lock_release, "Lock.release()"),
    LOCK_METH("release_lock", lock_release, "Alias of release()."),
    LOCK_METH("locked", lock_locked, "Lock.locked()"),
    LOCK_METH("locked_lock", lock_locked, "Alias of locked()."),
    LOCK_METH("__enter__", lock_enter, "Acquire the lock."),
    LOCK_METH("__exit__", lock_exit, "Release the lock."),
    LOCK_METH("_at_fork_reinit", lock_at_fork_reinit, NULL),
    {"__reduce_ex__", (PyCFunction)lock_reduce_ex, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static PyMethodDef rlock_proxy_methods[] = {
    LOCK_METH("acquire", lock_acquire, "RLock.acquire(blocking=True, timeout=-1)"),
    LOCK_METH("release", lock_release, "RLock.release()"),
    LOCK_METH("__enter__", lock_enter, "Acquire the lock."),
    LOCK_METH("__exit__", lock_exit, "Release the lock."),
    LOCK_METH("_is_owned", lock_is_owned, NULL),
    LOCK_METH("_release_save", lock_release_save, NULL),
    LOCK_METH("_acquire_restore", lock_acquire_restore, NULL),
    LOCK_METH("_recursion_count", lock_recursion_count, NULL),
    LOCK_METH("_at_fork_reinit", lock_at_fork_reinit, NULL),
    {"__reduce_ex__", (PyCFunction)lock_reduce_ex, METH_O, NULL},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject LockProxy_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "stacksight._native.LockProxy",
    .tp_basicsize = sizeof(lock_proxy),
    .tp_dealloc = (destructor)lock_dealloc,
    .tp_repr = (reprfunc)lock_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = PyDoc_STR("A threading.Lock whose operations the profiler samples."),
    .tp_weaklistoffset = offsetof(lock_proxy, weakreflist),
    .tp_methods = lock_proxy_methods,
    .tp_new = lock_new,
};

static PyTypeObject RLockProxy_Type = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "stacksight._native.RLockProxy",
    .tp_basicsize = sizeof(lock_proxy),
    .tp_dealloc = (destructor)lock_dealloc,
    .tp_repr = (reprfunc)lock_repr,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = PyDoc_STR("A threading.RLock whose operations the profiler samples."),
    .tp_weaklistoffset = offsetof(lock_proxy, weakreflist),
    .tp_methods = rlock_proxy_methods,
    .tp_new = lock_new,
};

/* ---- configuration and lifecycle ----------------------------------------- */

/* Fill `ct` from the methods of the C type of `sample` (a real lock). */
static void
lock_ctype_fill(lock_ctype *ct, PyObject *sample)
{
    PyTypeObject *type = Py_TYPE(sample);
    Py_XSETREF(ct->type, (PyTypeObject *)Py_NewRef(type));
    for (int i = 0; i < LM_COUNT; i++) {
        ct->methods[i].meth = NULL;
        PyObject *d = type->tp_dict ? PyDict_GetItemString(type->tp_dict, lock_method_names[i]) : NULL;
        if (d != NULL && Py_IS_TYPE(d, &PyMethodDescr_Type)) {
            PyMethodDef *def = ((PyMethodDescrObject *)d)->d_method;
            ct->methods[i].meth = def->ml_meth;
            ct->methods[i].flags = def->ml_flags;
        }
    }
}

PyObject *
ssp_locks_set_factories(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *lock, *rlock;
    if (!PyArg_ParseTuple(args, "OO:set_lock_factories", &lock, &rlock))
        return NULL;
    if (!PyCallable_Check(lock) || !PyCallable_Check(rlock)) {
        PyErr_SetString(PyExc_TypeError, "set_lock_factories() needs two callables");
        return NULL;
    }
    PyObject *a = PyObject_CallNoArgs(lock);
    PyObject *b = a ? PyObject_CallNoArgs(rlock) : NULL;
    if (b == NULL) {
        Py_XDECREF(a);
        return NULL;
    }
    lock_ctype_fill(&lock_ctypes[0], a);
    lock_ctype_fill(&lock_ctypes[1], b);
    Py_DECREF(a);
    Py_DECREF(b);
    Py_XSETREF(lock_factory, Py_NewRef(lock));
    Py_XSETREF(rlock_factory, Py_NewRef(rlock));
    Py_RETURN_NONE;
}

int
ssp_locks_init_module(PyObject *module)
{
    if (PyType_Ready(&LockProxy_Type) < 0 || PyType_Ready(&RLockProxy_Type) < 0)
        return -1;
    if (lock_threading_suffix == NULL) {
        lock_threading_suffix = PyUnicode_InternFromString("threading.py");
        if (lock_threading_suffix == NULL)
            return -1;
    }
    if (PyModule_AddObjectRef(module, "LockProxy", (PyObject *)&LockProxy_Type) < 0 ||
        PyModule_AddObjectRef(module, "RLockProxy", (PyObject *)&RLockProxy_Type) < 0)
        return -1;
    return 0;
}

int
ssp_locks_start(ssp_walker *walker, const ss_config *cfg)
{
    if (walker == NULL || cfg == NULL || !(cfg->capture_pct > 0.0))
        return -1;
    uint32_t max = cfg->max_frames < 2 ? 2u : (uint32_t)cfg->max_frames;
    ss_frame *frames = malloc((size_t)max * sizeof *frames);
    if (frames == NULL) {
        ss_log_once(SS_LOG_WARNING, "lock-start", "stacksight: lock profiling is off: out of memory");
        return -1;
    }
    free(lock_frames);
    lock_frames = frames;
    lock_max_frames = max;
    lock_walker = walker;
    lock_scale = 100.0 / (cfg->capture_pct > 100.0 ? 100.0 : cfg->capture_pct);
    lock_countdown = ss_geometric_interval(lock_scale);
    lock_recording = 1;
    return 0;
}

int
ssp_locks_recording(void)
{
    return lock_recording;
}

void
ssp_locks_pause(void)
{
    lock_recording = 0;
}

void
ssp_locks_stop(void)
{
    lock_recording = 0;
    lock_walker = NULL;
    free(lock_frames);
    lock_frames = NULL;
}
