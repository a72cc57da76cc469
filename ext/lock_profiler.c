/* lock_profiler.c - samples the operations of the interpreter's own lock
 * types (see lock_profiler.h for what is measured and why this way).
 *
 * While lock profiling runs, the C functions behind the methods of
 * _thread.lock and _thread.RLock (acquire, release, __enter__, __exit__ and
 * the RLock's _release_save/_acquire_restore that Condition.wait uses) are
 * replaced, in their PyMethodDef entries, by wrappers of the same calling
 * convention that end in the original function. Method descriptors and the
 * specialised CALL instructions read ml_meth at every call, so the swap takes
 * effect at once and is undone at stop. The creating calls (allocate_lock,
 * RLock's tp_new) note where a lock was made, for its name, and tp_dealloc
 * forgets it. Nothing about the locks changes for the program: same type,
 * module, isinstance and instantiation rules; libraries that replace
 * threading's locks (gevent) keep theirs, which are not profiled.
 *
 * Everything here runs with the GIL held, which serialises the lock table
 * and the module state. The original acquire releases the GIL while it
 * waits; the wrappers keep no state across that call but locals. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <opcode.h>

#include <math.h>
#include <string.h>
#include <time.h>

#include "lock_profiler.h"
#include "py_compat.h"
#include "event_sampling.h"
#include "../src/common/core.h"
#include "../src/common/interner.h"
#include "../src/common/log.h"

/* ---- module state (GIL) -------------------------------------------------- */

static int lock_recording;           /* 1 between start and pause */
static PyInterpreterState *lock_interp;  /* the main interpreter: the only one recorded */
static ssp_walker *lock_walker;      /* stack source while recording */
static ss_frame *lock_frames;        /* capture buffer of lock_max_frames entries */
static uint32_t lock_max_frames;
static double lock_scale;            /* 100 / capture_pct: weight of one sample */
static int64_t lock_countdown;       /* acquires until the next sampled one */
static PyObject *lock_threading_suffix;  /* "threading.py": creation frames skipped */

/* ---- the lock table: what is known about individual locks ---------------- */

/* One lock: where it was made (for its name) and, while a sampled
 * acquisition holds it, when that began. Keyed by the lock's address, which
 * tp_dealloc removes before the memory can be reused. */
typedef struct lock_entry {
    PyObject *lock;              /* key; NULL = empty slot */
    PyObject *site_code;         /* strong ref: code of the creating frame, until named */
    int site_lasti;              /* byte offset of the creating call in site_code */
    uint32_t name_id;            /* interned lock name; 0 = none (yet) */
    int64_t hold_start_ns;       /* monotonic ns of a sampled acquisition still held; 0 = none */
} lock_entry;

#define LOCK_TABLE_MAX (1u << 16)    /* entries: 2 MB at most; past it new locks go unnamed */
static lock_entry *lock_table;       /* open addressing, linear probing, power-of-two size */
static uint32_t lock_table_size, lock_table_count;
static uint32_t lock_held_count;     /* entries with hold_start_ns != 0 */

static inline uint32_t
lock_hash(PyObject *lock)
{
    uintptr_t p = (uintptr_t)lock >> 4;
    return (uint32_t)((p * 0x9E3779B97F4A7C15ull) >> 32);
}

static lock_entry *
lock_find(PyObject *lock)
{
    if (lock_table_count == 0)
        return NULL;
    uint32_t mask = lock_table_size - 1;
    for (uint32_t i = lock_hash(lock) & mask;; i = (i + 1) & mask) {
        if (lock_table[i].lock == lock)
            return &lock_table[i];
        if (lock_table[i].lock == NULL)
            return NULL;
    }
}

static int
lock_table_grow(void)
{
    uint32_t size = lock_table_size ? lock_table_size * 2 : 1024;
    if (size > 2 * LOCK_TABLE_MAX)
        return -1;
    lock_entry *table = PyMem_RawCalloc(size, sizeof *table);
    if (table == NULL)
        return -1;
    for (uint32_t k = 0; k < lock_table_size; k++) {
        if (lock_table[k].lock == NULL)
            continue;
        uint32_t i = lock_hash(lock_table[k].lock) & (size - 1);
        while (table[i].lock != NULL)
            i = (i + 1) & (size - 1);
        table[i] = lock_table[k];
    }
    PyMem_RawFree(lock_table);
    lock_table = table;
    lock_table_size = size;
    return 0;
}

/* The entry of `lock`, made if missing; NULL when the table is full. */
static lock_entry *
lock_entry_of(PyObject *lock)
{
    lock_entry *e = lock_find(lock);
    if (e != NULL)
        return e;
    if (lock_table_count >= LOCK_TABLE_MAX ||
        ((lock_table_count + 1) * 2 > lock_table_size && lock_table_grow() != 0))
        return NULL;
    uint32_t mask = lock_table_size - 1;
    uint32_t i = lock_hash(lock) & mask;
    while (lock_table[i].lock != NULL)
        i = (i + 1) & mask;
    memset(&lock_table[i], 0, sizeof lock_table[i]);
    lock_table[i].lock = lock;
    lock_table_count++;
    return &lock_table[i];
}

/* Remove `e`, shifting later entries of its probe run back. */
static void
lock_remove(lock_entry *e)
{
    if (e->hold_start_ns != 0)
        lock_held_count--;
    PyObject *code = e->site_code;
    uint32_t mask = lock_table_size - 1;
    uint32_t i = (uint32_t)(e - lock_table);
    /* Empty slots hold nothing: a moved entry's references belong to its new
     * slot only. */
    memset(&lock_table[i], 0, sizeof lock_table[i]);
    for (uint32_t j = (i + 1) & mask; lock_table[j].lock != NULL; j = (j + 1) & mask) {
        uint32_t home = lock_hash(lock_table[j].lock) & mask;
        /* Move j to the hole at i if its home is not within (i, j]. */
        if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
            lock_table[i] = lock_table[j];
            memset(&lock_table[j], 0, sizeof lock_table[j]);
            i = j;
        }
    }
    lock_table_count--;
    Py_XDECREF(code);
}

static void
lock_table_clear(void)
{
    for (uint32_t k = 0; k < lock_table_size; k++)
        if (lock_table[k].lock != NULL)
            Py_XDECREF(lock_table[k].site_code);
    PyMem_RawFree(lock_table);
    lock_table = NULL;
    lock_table_size = lock_table_count = lock_held_count = 0;
}

static int64_t
lock_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- lock names ---------------------------------------------------------- */

/* Name stored by the instruction that follows the creating call at byte
 * offset `lasti`: a local, cell, global, name or attribute. NULL if the lock
 * is not stored in a name (passed on, put in a container...). Borrowed. */
static PyObject *
lock_stored_name(PyCodeObject *code, int lasti)
{
#if defined(STORE_FAST) && defined(STORE_NAME) && defined(STORE_ATTR)
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
        if (
#ifdef CACHE
            op == CACHE || op == CALL
#else
            SSP_OP_IS_CALL(op)
#endif
#ifdef PRECALL
            || op == PRECALL
#endif
#ifdef KW_NAMES
            || op == KW_NAMES
#endif
            )
            continue;
        PyObject *table = NULL;
        if (op == STORE_FAST)
            table = SSP_FAST_NAMES(code);
        else if (op == STORE_DEREF)
            table = SSP_DEREF_NAMES(code);
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

/* Interned "file.py:LINE:variable" (or "file.py:LINE") of the lock of `e`,
 * worked out once; 0 when the creation site is unknown. */
static uint32_t
lock_name(lock_entry *e)
{
    if (e == NULL)
        return 0;
    if (e->name_id != 0 || e->site_code == NULL)
        return e->name_id;
    PyCodeObject *code = (PyCodeObject *)e->site_code;
    char buf[512];
    const char *file = PyUnicode_Check(code->co_filename) ? PyUnicode_AsUTF8(code->co_filename) : NULL;
    if (file == NULL) {
        PyErr_Clear();
        file = "?";
    }
    const char *slash = strrchr(file, '/');
    if (slash != NULL)
        file = slash + 1;
    int line = PyCode_Addr2Line(code, e->site_lasti);
    PyObject *var = lock_stored_name(code, e->site_lasti);
    const char *v = (var != NULL && PyUnicode_Check(var)) ? PyUnicode_AsUTF8(var) : NULL;
    int len = v ? snprintf(buf, sizeof buf, "%s:%d:%s", file, line, v)
                : snprintf(buf, sizeof buf, "%s:%d", file, line);
    if (PyErr_Occurred())
        PyErr_Clear();
    if (len > 0) {
        if ((size_t)len >= sizeof buf)
            len = (int)sizeof buf - 1;
        e->name_id = ss_intern_label(buf, (size_t)len);
        Py_CLEAR(e->site_code);
    }
    return e->name_id;
}

/* A lock was just made: remember the creating frame, the innermost one
 * outside threading.py. */
static __attribute__((noinline)) void
lock_note_site(PyObject *lock)
{
    if (!lock_recording)
        return;
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    PyFrameObject *f = PyEval_GetFrame();   /* borrowed */
    Py_XINCREF(f);
    for (int hops = 0; f != NULL && hops < 16; hops++) {
        PyCodeObject *code = PyFrame_GetCode(f);
        int inside = PyUnicode_Check(code->co_filename) &&
                     PyUnicode_Tailmatch(code->co_filename, lock_threading_suffix, 0,
                                         PY_SSIZE_T_MAX, 1) == 1;
        if (!inside) {
            lock_entry *e = lock_entry_of(lock);
            if (e != NULL) {
                Py_XSETREF(e->site_code, (PyObject *)code);
                e->site_lasti = PyFrame_GetLasti(f);
                e->name_id = 0;
            } else {
                Py_DECREF(code);
            }
            break;
        }
        Py_DECREF(code);
        PyFrameObject *back = PyFrame_GetBack(f);
        Py_DECREF(f);
        f = back;
    }
    Py_XDECREF(f);
    PyErr_Clear();
    PyErr_Restore(et, ev, etb);
}

/* ---- recording ----------------------------------------------------------- */

/* One sampled event of the lock of `e` at the calling thread's stack. */
static void
lock_record(lock_entry *e, ss_value_kind count_kind, ss_value_kind time_kind, int64_t ns)
{
    ss_aggregator *agg = ss_core_aggregator();
    if (agg == NULL || lock_walker == NULL || !lock_recording)
        return;
    PyObject *et, *ev, *etb;
    PyErr_Fetch(&et, &ev, &etb);
    ss_labels labels;
    ssp_current_thread_labels(&labels);
    labels.lock_name = lock_name(e);
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

/* A sampled acquisition of `lock` began at `t1` (after waiting t1 - t0). */
static __attribute__((noinline)) void
lock_begin_hold(PyObject *lock, int64_t t0, int64_t t1)
{
    lock_entry *e = lock_entry_of(lock);
    lock_record(e, SS_LOCK_ACQUIRE, SS_LOCK_ACQUIRE_WAIT, t1 - t0);
    if (e != NULL) {
        if (e->hold_start_ns == 0)
            lock_held_count++;
        e->hold_start_ns = t1 > 0 ? t1 : 1;
    }
}

/* The ownership of `lock` just ended: record the hold if it was sampled. */
static __attribute__((noinline)) void
lock_end_hold(PyObject *lock)
{
    lock_entry *e = lock_find(lock);
    if (e == NULL || e->hold_start_ns == 0)
        return;
    int64_t held = lock_now_ns() - e->hold_start_ns;
    e->hold_start_ns = 0;
    lock_held_count--;
    lock_record(e, SS_LOCK_RELEASE, SS_LOCK_RELEASE_HOLD, held);
}

/* ---- the hooked methods -------------------------------------------------- */

typedef enum {
    HOOK_ACQUIRE,           /* acquire, acquire_lock, __enter__ */
    HOOK_RELEASE,           /* release, release_lock, __exit__ */
    HOOK_RELEASE_SAVE,      /* RLock._release_save: ownership given up entirely */
    HOOK_ACQUIRE_RESTORE,   /* RLock._acquire_restore: ownership taken back, waiting */
    HOOK_CREATE,            /* _thread.allocate_lock / allocate */
} hook_kind;

/* How a wrapper received its arguments, to call the original the same way. */
typedef struct call_args {
    int flags;                   /* the METH_* convention */
    PyObject *args;              /* VARARGS: the tuple; O: the object */
    PyObject *kwds;              /* VARARGS|KEYWORDS */
    PyObject *const *stack;      /* FASTCALL */
    Py_ssize_t nargs;
    PyObject *kwnames;           /* FASTCALL|KEYWORDS */
} call_args;

/* One patched PyMethodDef. Slots are filled at the first install and kept:
 * `original` must stay callable for as long as the process lives. */
typedef struct lock_hook {
    PyMethodDef *def;            /* the interpreter's entry; NULL = slot unused */
    PyCFunction original;        /* its ml_meth before we patched it */
    PyCFunction wrapper;         /* ours, of the same convention */
    hook_kind kind;
    int is_rlock;
} lock_hook;

#define LOCK_HOOKS 16
static lock_hook lock_hooks[LOCK_HOOKS];
static int lock_hooks_count;         /* slots taken: 0 = not prepared yet */
static int lock_hooks_installed;

#define CONVENTION (METH_VARARGS | METH_KEYWORDS | METH_NOARGS | METH_O | METH_FASTCALL)

/* Inlined into each wrapper, whose convention is a constant there: the
 * switch folds away and the unsampled path is a countdown and a call. */
static inline __attribute__((always_inline)) PyObject *
call_original(const lock_hook *h, PyObject *self, const call_args *a)
{
    switch (a->flags) {
    case METH_VARARGS | METH_KEYWORDS:
        return ((PyCFunctionWithKeywords)(void (*)(void))h->original)(self, a->args, a->kwds);
    case METH_VARARGS:
    case METH_O:
        return h->original(self, a->args);
    case METH_NOARGS:
        return h->original(self, NULL);
    case METH_FASTCALL:
        return ((_PyCFunctionFast)(void (*)(void))h->original)(self, a->stack, a->nargs);
    case METH_FASTCALL | METH_KEYWORDS:
        return ((_PyCFunctionFastWithKeywords)(void (*)(void))h->original)(self, a->stack, a->nargs,
                                                                         a->kwnames);
    default:
        PyErr_SetString(PyExc_SystemError, "stacksight: unexpected lock method convention");
        return NULL;
    }
}

static PyTypeObject *rlock_type;         /* _thread.RLock, strong ref */
static PyCFunction rlock_is_owned;       /* its _is_owned (METH_NOARGS) */

/* 1 if the calling thread owns RLock `self`, 0 if not, -1 if unknown. */
static int
rlock_owned(PyObject *self)
{
    if (rlock_is_owned == NULL)
        return -1;
    PyObject *r = rlock_is_owned(self, NULL);
    if (r == NULL) {
        PyErr_Clear();
        return -1;
    }
    Py_DECREF(r);
    return r == Py_True;
}

/* Slots are grouped by what they hook, so that each wrapper knows its kind
 * (a constant) and its unsampled path is a countdown or one load and a
 * jump to the original, with no frame of its own. */
#define SLOT_PLAIN_ACQUIRE 0     /* 3 slots: acquire, acquire_lock, __enter__ */
#define SLOT_PLAIN_RELEASE 3     /* 3 slots: release, release_lock, __exit__ */
#define SLOT_RLOCK_ACQUIRE 6     /* 3 slots */
#define SLOT_RLOCK_RELEASE 9     /* 3 slots */
#define SLOT_RELEASE_SAVE 12
#define SLOT_ACQUIRE_RESTORE 13
#define SLOT_CREATE 14           /* 2 slots: allocate_lock, allocate */
#define SLOT_KIND(K)                                                                            \
    ((K) < SLOT_PLAIN_RELEASE ? HOOK_ACQUIRE : (K) < SLOT_RLOCK_ACQUIRE ? HOOK_RELEASE        \
     : (K) < SLOT_RLOCK_RELEASE ? HOOK_ACQUIRE : (K) < SLOT_RELEASE_SAVE ? HOOK_RELEASE        \
     : (K) == SLOT_RELEASE_SAVE ? HOOK_RELEASE_SAVE : (K) == SLOT_ACQUIRE_RESTORE ? HOOK_ACQUIRE_RESTORE \
     : HOOK_CREATE)

/* True when slot K's call needs nothing but the original. An acquire counts
 * down (paused: the countdown is INT64_MAX); a release has work only while a
 * sampled hold is open (the original release runs no Python code, so the
 * count cannot change across it); a creation only while recording. */
#define SLOT_FAST(K)                                                                            \
    (SLOT_KIND(K) == HOOK_ACQUIRE || SLOT_KIND(K) == HOOK_ACQUIRE_RESTORE                     \
         ? !ssp_countdown_expired(&lock_countdown, 1)                                          \
         : SLOT_KIND(K) == HOOK_CREATE ? !lock_recording : lock_held_count == 0)

/* Slot k was called and SLOT_FAST said no: the original, with the sampling
 * around it (for an acquire, the countdown has just run out). */
static __attribute__((noinline)) PyObject *
hooked_slow(int k, PyObject *self, const call_args *a)
{
    const lock_hook *h = &lock_hooks[k];
    if (!lock_recording) {
        if (h->kind == HOOK_ACQUIRE || h->kind == HOOK_ACQUIRE_RESTORE)
            lock_countdown = INT64_MAX;
        return call_original(h, self, a);
    }
    /* Subinterpreters share these C types; their objects must not enter the
     * table (their code objects die with them) nor the profile. Only a
     * sampled acquire or a creation can add an entry, so only they check;
     * a release finds no entry for a lock that never got one. */
    switch (h->kind) {
    case HOOK_ACQUIRE:
    case HOOK_ACQUIRE_RESTORE: {
        if (PyInterpreterState_Get() != lock_interp) {
            lock_countdown = 1;
            return call_original(h, self, a);
        }
        /* An owner re-entering its RLock neither waits nor takes ownership:
         * not a lock operation here; the next acquire is sampled instead. */
        if (h->kind == HOOK_ACQUIRE && h->is_rlock && rlock_owned(self) == 1) {
            lock_countdown = 1;
            return call_original(h, self, a);
        }
        lock_countdown = ss_geometric_interval(lock_scale);
        int64_t t0 = lock_now_ns();
        PyObject *r = call_original(h, self, a);
        if (r != NULL && (r == Py_True || h->kind == HOOK_ACQUIRE_RESTORE))
            lock_begin_hold(self, t0, lock_now_ns());
        return r;
    }
    case HOOK_RELEASE: {
        PyObject *r = call_original(h, self, a);
        if (r != NULL && lock_held_count > 0 && (!h->is_rlock || rlock_owned(self) == 0))
            lock_end_hold(self);
        return r;
    }
    case HOOK_RELEASE_SAVE: {
        PyObject *r = call_original(h, self, a);
        if (r != NULL && lock_held_count > 0)
            lock_end_hold(self);
        return r;
    }
    case HOOK_CREATE: {
        PyObject *r = call_original(h, self, a);
        if (r != NULL && PyInterpreterState_Get() == lock_interp)
            lock_note_site(r);
        return r;
    }
    }
    return call_original(h, self, a);
}

/* Inlined into the wrappers, whose slot and convention are constants. */
static inline __attribute__((always_inline)) PyObject *
hooked(int k, PyObject *self, const call_args *a)
{
    if (__builtin_expect(SLOT_FAST(k), 1))
        return call_original(&lock_hooks[k], self, a);
    /* A copy, built on this path only: the fast one keeps `a` in registers. */
    call_args slow = *a;
    return hooked_slow(k, self, &slow);
}

/* Wrappers of slot K, one per calling convention. */
#define LOCK_WRAPPERS(K)                                                                      \
    static PyObject *wrap##K##_vk(PyObject *s, PyObject *args, PyObject *kwds)                \
    {                                                                                         \
        call_args a = {METH_VARARGS | METH_KEYWORDS, args, kwds, NULL, 0, NULL};              \
        return hooked(K, s, &a);                                                              \
    }                                                                                         \
    static PyObject *wrap##K##_v(PyObject *s, PyObject *args)                                 \
    {                                                                                         \
        call_args a = {METH_VARARGS, args, NULL, NULL, 0, NULL};                              \
        return hooked(K, s, &a);                                                              \
    }                                                                                         \
    static PyObject *wrap##K##_o(PyObject *s, PyObject *arg)                                  \
    {                                                                                         \
        call_args a = {METH_O, arg, NULL, NULL, 0, NULL};                                     \
        return hooked(K, s, &a);                                                              \
    }                                                                                         \
    static PyObject *wrap##K##_n(PyObject *s, PyObject *unused)                               \
    {                                                                                         \
        (void)unused;                                                                         \
        call_args a = {METH_NOARGS, NULL, NULL, NULL, 0, NULL};                               \
        return hooked(K, s, &a);                                                              \
    }                                                                                         \
    static PyObject *wrap##K##_f(PyObject *s, PyObject *const *st, Py_ssize_t n)              \
    {                                                                                         \
        call_args a = {METH_FASTCALL, NULL, NULL, st, n, NULL};                               \
        return hooked(K, s, &a);                                                              \
    }                                                                                         \
    static PyObject *wrap##K##_fk(PyObject *s, PyObject *const *st, Py_ssize_t n, PyObject *kn) \
    {                                                                                         \
        call_args a = {METH_FASTCALL | METH_KEYWORDS, NULL, NULL, st, n, kn};                 \
        return hooked(K, s, &a);                                                              \
    }

LOCK_WRAPPERS(0) LOCK_WRAPPERS(1) LOCK_WRAPPERS(2) LOCK_WRAPPERS(3)
LOCK_WRAPPERS(4) LOCK_WRAPPERS(5) LOCK_WRAPPERS(6) LOCK_WRAPPERS(7)
LOCK_WRAPPERS(8) LOCK_WRAPPERS(9) LOCK_WRAPPERS(10) LOCK_WRAPPERS(11)
LOCK_WRAPPERS(12) LOCK_WRAPPERS(13) LOCK_WRAPPERS(14) LOCK_WRAPPERS(15)

#define LOCK_WRAPPER_ROW(K) \
    {(PyCFunction)(void (*)(void))wrap##K##_vk, (PyCFunction)wrap##K##_v, (PyCFunction)wrap##K##_o, \
     (PyCFunction)wrap##K##_n, (PyCFunction)(void (*)(void))wrap##K##_f,                           \
     (PyCFunction)(void (*)(void))wrap##K##_fk}

/* [slot][convention]: VARARGS|KEYWORDS, VARARGS, O, NOARGS, FASTCALL, FASTCALL|KEYWORDS */
static const PyCFunction lock_wrappers[LOCK_HOOKS][6] = {
    LOCK_WRAPPER_ROW(0), LOCK_WRAPPER_ROW(1), LOCK_WRAPPER_ROW(2), LOCK_WRAPPER_ROW(3),
    LOCK_WRAPPER_ROW(4), LOCK_WRAPPER_ROW(5), LOCK_WRAPPER_ROW(6), LOCK_WRAPPER_ROW(7),
    LOCK_WRAPPER_ROW(8), LOCK_WRAPPER_ROW(9), LOCK_WRAPPER_ROW(10), LOCK_WRAPPER_ROW(11),
    LOCK_WRAPPER_ROW(12), LOCK_WRAPPER_ROW(13), LOCK_WRAPPER_ROW(14), LOCK_WRAPPER_ROW(15),
};

static int
convention_index(int flags)
{
    switch (flags & CONVENTION) {
    case METH_VARARGS | METH_KEYWORDS: return 0;
    case METH_VARARGS: return 1;
    case METH_O: return 2;
    case METH_NOARGS: return 3;
    case METH_FASTCALL: return 4;
    case METH_FASTCALL | METH_KEYWORDS: return 5;
    default: return -1;
    }
}

/* First slot and slot count of each group (see SLOT_KIND). */
static void
slot_group(hook_kind kind, int is_rlock, int *first, int *count)
{
    switch (kind) {
    case HOOK_ACQUIRE: *first = is_rlock ? SLOT_RLOCK_ACQUIRE : SLOT_PLAIN_ACQUIRE; *count = 3; return;
    case HOOK_RELEASE: *first = is_rlock ? SLOT_RLOCK_RELEASE : SLOT_PLAIN_RELEASE; *count = 3; return;
    case HOOK_RELEASE_SAVE: *first = SLOT_RELEASE_SAVE; *count = 1; return;
    case HOOK_ACQUIRE_RESTORE: *first = SLOT_ACQUIRE_RESTORE; *count = 1; return;
    case HOOK_CREATE: *first = SLOT_CREATE; *count = 2; return;
    }
    *first = *count = 0;
}

/* Take a slot of its group for `def`. 0, or -1 (group full, unknown convention). */
static int
hook_slot(PyMethodDef *def, hook_kind kind, int is_rlock)
{
    for (int k = 0; k < LOCK_HOOKS; k++)
        if (lock_hooks[k].def == def)
            return 0;   /* two names, one entry */
    int conv = convention_index(def->ml_flags), first, count;
    slot_group(kind, is_rlock, &first, &count);
    int k = first;
    while (k < first + count && lock_hooks[k].def != NULL)
        k++;
    if (conv < 0 || k == first + count)
        return -1;
    lock_hook *h = &lock_hooks[k];
    h->def = def;
    h->original = def->ml_meth;
    h->wrapper = lock_wrappers[k][conv];
    h->kind = kind;
    h->is_rlock = is_rlock;
    lock_hooks_count++;
    return 0;
}

/* The PyMethodDef behind `type`'s method `name`, or NULL. */
static PyMethodDef *
method_def(PyTypeObject *type, const char *name)
{
    PyObject *d = type->tp_dict ? PyDict_GetItemString(type->tp_dict, name) : NULL;
    if (d == NULL || !Py_IS_TYPE(d, &PyMethodDescr_Type))
        return NULL;
    return ((PyMethodDescrObject *)d)->d_method;
}

/* ---- creation and destruction -------------------------------------------- */

static PyTypeObject *plain_type;         /* _thread.lock, strong ref */
static destructor plain_dealloc, rlock_dealloc;
static newfunc rlock_new;
static newfunc plain_new;                /* NULL before 3.13: _thread.lock was not
                                          * instantiable, allocate_lock made them */

static void
hooked_dealloc(PyObject *self, destructor original)
{
    if (lock_table_count > 0) {
        lock_entry *e = lock_find(self);
        if (e != NULL)
            lock_remove(e);
    }
    original(self);
}

static void hooked_plain_dealloc(PyObject *self) { hooked_dealloc(self, plain_dealloc); }
static void hooked_rlock_dealloc(PyObject *self) { hooked_dealloc(self, rlock_dealloc); }

/* Subclasses of RLock made while hooked inherit this tp_new: it must keep
 * working after stop. */
static PyObject *
hooked_rlock_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *r = rlock_new(type, args, kwds);
    if (r != NULL && lock_recording && PyInterpreterState_Get() == lock_interp)
        lock_note_site(r);
    return r;
}

/* 3.13+: threading.Lock is _thread.lock itself, so locks are made by its
 * tp_new as well as by allocate_lock. */
static PyObject *
hooked_plain_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    PyObject *r = plain_new(type, args, kwds);
    if (r != NULL && lock_recording && PyInterpreterState_Get() == lock_interp)
        lock_note_site(r);
    return r;
}

/* Find what to patch, once. 0, or -1 with the reason in *why. */
static int
lock_hooks_prepare(const char **why)
{
    if (lock_hooks_count > 0)
        return 0;
    PyObject *thread = PyImport_ImportModule("_thread");
    if (thread == NULL) {
        PyErr_Clear();
        *why = "cannot import _thread";
        return -1;
    }
    PyObject *alloc = PyObject_GetAttrString(thread, "allocate_lock");
    PyObject *rtype = PyObject_GetAttrString(thread, "RLock");
    PyObject *sample = alloc ? PyObject_CallNoArgs(alloc) : NULL;
    PyObject *alias = PyObject_GetAttrString(thread, "allocate");
    PyErr_Clear();
    Py_DECREF(thread);
    int ok = alloc != NULL && PyCFunction_Check(alloc) && sample != NULL && rtype != NULL &&
             PyType_Check(rtype);
    if (ok) {
        static const char *const acquires[] = {"acquire", "acquire_lock", "__enter__"};
        static const char *const releases[] = {"release", "release_lock", "__exit__"};
        PyTypeObject *types[2] = {Py_TYPE(sample), (PyTypeObject *)rtype};
        for (int t = 0; t < 2 && ok; t++) {
            for (int i = 0; i < 3 && ok; i++) {
                PyMethodDef *acq = method_def(types[t], acquires[i]);
                PyMethodDef *rel = method_def(types[t], releases[i]);
                if (i == 1 && t == 1)
                    continue;   /* RLock has no *_lock aliases */
                ok = acq != NULL && rel != NULL && hook_slot(acq, HOOK_ACQUIRE, t) == 0 &&
                     hook_slot(rel, HOOK_RELEASE, t) == 0;
            }
        }
        PyMethodDef *save = ok ? method_def(types[1], "_release_save") : NULL;
        PyMethodDef *restore = ok ? method_def(types[1], "_acquire_restore") : NULL;
        PyMethodDef *owned = ok ? method_def(types[1], "_is_owned") : NULL;
        ok = ok && save && restore && owned && (owned->ml_flags & CONVENTION) == METH_NOARGS &&
             hook_slot(save, HOOK_RELEASE_SAVE, 1) == 0 && hook_slot(restore, HOOK_ACQUIRE_RESTORE, 1) == 0 &&
             hook_slot(((PyCFunctionObject *)alloc)->m_ml, HOOK_CREATE, 0) == 0 &&
             (alias == NULL || !PyCFunction_Check(alias) ||
              hook_slot(((PyCFunctionObject *)alias)->m_ml, HOOK_CREATE, 0) == 0);
        if (ok) {
            rlock_is_owned = owned->ml_meth;
            plain_type = (PyTypeObject *)Py_NewRef(types[0]);
            rlock_type = (PyTypeObject *)Py_NewRef(types[1]);
            plain_dealloc = plain_type->tp_dealloc;
            rlock_dealloc = rlock_type->tp_dealloc;
            rlock_new = rlock_type->tp_new;
            plain_new = plain_type->tp_new;
        }
    }
    Py_XDECREF(alloc);
    Py_XDECREF(alias);
    Py_XDECREF(rtype);
    Py_XDECREF(sample);
    if (!ok || plain_dealloc == NULL || rlock_dealloc == NULL || rlock_new == NULL) {
        lock_hooks_count = 0;
        memset(lock_hooks, 0, sizeof lock_hooks);
        *why = "this interpreter's lock types do not have the methods expected";
        return -1;
    }
    return 0;
}

static void
lock_hooks_install(void)
{
    if (lock_hooks_installed)
        return;
    for (int k = 0; k < LOCK_HOOKS; k++)
        if (lock_hooks[k].def != NULL)
            lock_hooks[k].def->ml_meth = lock_hooks[k].wrapper;
    plain_type->tp_dealloc = hooked_plain_dealloc;
    rlock_type->tp_dealloc = hooked_rlock_dealloc;
    rlock_type->tp_new = hooked_rlock_new;
    if (plain_new != NULL)
        plain_type->tp_new = hooked_plain_new;
    lock_hooks_installed = 1;
}

static void
lock_hooks_uninstall(void)
{
    if (!lock_hooks_installed)
        return;
    for (int k = 0; k < LOCK_HOOKS; k++)
        if (lock_hooks[k].def != NULL)
            lock_hooks[k].def->ml_meth = lock_hooks[k].original;
    plain_type->tp_dealloc = plain_dealloc;
    rlock_type->tp_dealloc = rlock_dealloc;
    rlock_type->tp_new = rlock_new;
    if (plain_new != NULL)
        plain_type->tp_new = plain_new;
    lock_hooks_installed = 0;
}

/* ---- lifecycle ----------------------------------------------------------- */

int
ssp_locks_start(ssp_walker *walker, const ss_config *cfg)
{
    if (walker == NULL || cfg == NULL || !(cfg->capture_pct > 0.0))
        return -1;
    if (lock_threading_suffix == NULL) {
        lock_threading_suffix = PyUnicode_InternFromString("threading.py");
        if (lock_threading_suffix == NULL) {
            PyErr_Clear();
            return -1;
        }
    }
    const char *why = NULL;
    if (lock_hooks_prepare(&why) != 0) {
        ss_log_once(SS_LOG_WARNING, "lock-start", "stacksight: lock profiling is off: %s", why);
        return -1;
    }
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
    lock_interp = PyInterpreterState_Main();
    lock_recording = 1;
    lock_hooks_install();
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
    lock_countdown = INT64_MAX;   /* acquires take the fast path while paused */
}

void
ssp_locks_stop(void)
{
    lock_recording = 0;
    lock_countdown = INT64_MAX;
    lock_hooks_uninstall();
    lock_table_clear();
    lock_walker = NULL;
    free(lock_frames);
    lock_frames = NULL;
}
