/* asyncio_tasks.c - suspended asyncio tasks, sampled from the sidecar (see
 * asyncio_tasks.h). */
/* The layout seam first: it sets Py_BUILD_CORE for the internal headers
 * (3.14+: the thread and interpreter states' task lists). */
#include "cpython_layout.h"
#include "asyncio_tasks.h"
#include "py_compat.h"
#if PY_VERSION_HEX >= 0x030D0000 && SSP_SUPPORTED
#include <internal/pycore_setobject.h>   /* _PySet_Dummy moved there in 3.13 */
#endif

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "../src/common/safe_read.h"
#include "thread_names.h"

/* Tested on CPython 3.11 to 3.14 (GIL builds): where the tasks live is
 * that of each (see asyncio_tasks.h), the await-chain reader is the
 * walker's. 3.15 is left out: its published offsets agree with its
 * headers, but every read of its task lists fails the link check (not
 * understood yet), so it refuses rather than count torn reads. */
#define SSP_ASYNCIO_SUPPORTED (SSP_SUPPORTED && PY_VERSION_HEX < 0x030F0000)
/* 3.14+: tasks in per-thread linked lists, offsets published by _asyncio. */
#define SSP_ASYNCIO_LISTS (PY_VERSION_HEX >= 0x030E0000)

static atomic_ullong task_samples, task_torn;

void ssp_asyncio_counts(unsigned long long *samples, unsigned long long *torn)
{
    *samples = atomic_load_explicit(&task_samples, memory_order_relaxed);
    *torn = atomic_load_explicit(&task_torn, memory_order_relaxed);
}

#if SSP_ASYNCIO_SUPPORTED

#define NAME_CACHE_SLOTS 4096u          /* task name ids, direct-mapped by task address */

/* A weak reference as the sidecar copies it: the object header, then the
 * referent (wr_object follows PyObject_HEAD, checked below). */
typedef struct weakref_head {
    PyObject head;
    uintptr_t referent;
} weakref_head;
_Static_assert(offsetof(PyWeakReference, wr_object) == sizeof(PyObject),
               "wr_object right after the object header");

/* Task name already read: valid while the task's name pointer is the same. */
typedef struct name_slot {
    uintptr_t task;                  /* task address; 0 = empty */
    uintptr_t name;                  /* its name object when read */
    uint32_t id;                     /* interned label */
} name_slot;

/* Everything the sidecar needs, made with the GIL by ssp_asyncio_attach and
 * published once complete; freed by ssp_asyncio_detach after the sidecar
 * stopped. The buffers belong to the sidecar. */
typedef struct asyncio_state {
    PyObject *tasks;                 /* strong ref: the set of weak references (up to 3.13) */
    PyObject *task_type;             /* strong ref: _asyncio.Task */
    size_t coro_off, name_off;       /* where a task holds its coroutine and name */
    size_t loop_off;                 /* and its event loop */
#if SSP_ASYNCIO_LISTS
    size_t node_off;                 /* its llist_node in the thread's list of tasks */
    uintptr_t interp;                /* main interpreter: list of tasks of exited threads */
    /* Where the rotation through the lists stands (sidecar only). */
    uint32_t list;                   /* list being followed: loop slot, LOOP_SLOTS = interp's */
    uintptr_t head, loop;            /* its head node and the loop whose thread owns it */
    uintptr_t node, prev;            /* next node to read (0: start the list) and its prev */
    uint32_t counted;                /* tasks read in this rotation so far */
    uint32_t rotation_tasks;         /* tasks in the last full rotation */
    int rotation_torn;               /* a list of this rotation was cut short by a torn link */
#endif
    size_t span;                     /* bytes read per task: both fields included */
    setentry *table;                 /* copy of the set's table, table_cap slots */
    size_t table_cap;
    uintptr_t *refs;                 /* weak references found, table_cap */
    weakref_head *heads;             /* copies of the selected ones, PER_TICK */
    unsigned char *spans;            /* copies of their tasks, PER_TICK x span bytes */
    struct iovec *local, *remote;    /* scatter-read descriptors, PER_TICK */
    uint32_t cursor;                 /* rotation through the tasks across ticks */
    name_slot names[NAME_CACHE_SLOTS];
} asyncio_state;

static _Atomic(asyncio_state *) attached;

int ssp_asyncio_attached(void)
{
    return atomic_load(&attached) != NULL;
}

/* The one offset in [sizeof(PyObject), size) of `obj` holding `target`;
 * 0 when none or several do. */
static size_t find_field(PyObject *obj, size_t size, PyObject *target)
{
    size_t found = 0;
    for (size_t off = sizeof(PyObject); off + sizeof(void *) <= size; off += sizeof(void *)) {
        PyObject *word;
        memcpy(&word, (const char *)obj + off, sizeof word);
        if (word == target) {
            if (found)
                return 0;
            found = off;
        }
    }
    return found;
}

/* Event loops running now and the threads that run them, so that a task's
 * samples carry its loop's thread labels. A slot is written with the GIL
 * (ids first, then the loop, released) and read by the sidecar. */
#define LOOP_SLOTS 64u
typedef struct loop_slot {
    _Atomic uintptr_t loop;          /* 0 = free */
    unsigned long thread_id;         /* threading.get_ident() of the thread running it */
    unsigned long native_thread_id;
    uintptr_t tstate;                /* its PyThreadState (3.14+: where its tasks are listed) */
} loop_slot;
static loop_slot loop_slots[LOOP_SLOTS];

void ssp_asyncio_loop_running(PyObject *loop)
{
    unsigned long me = PyThread_get_thread_ident();
    for (uint32_t i = 0; i < LOOP_SLOTS; i++) {
        loop_slot *slot = &loop_slots[i];
        if (atomic_load(&slot->loop) != 0 && slot->thread_id == me)
            atomic_store(&slot->loop, 0);   /* this thread's previous loop stopped */
    }
    if (loop == NULL || loop == Py_None)
        return;
    for (uint32_t i = 0; i < LOOP_SLOTS; i++) {
        loop_slot *slot = &loop_slots[i];
        if (atomic_load(&slot->loop) == 0) {
            slot->thread_id = me;
            slot->native_thread_id = PyThread_get_thread_native_id();
            slot->tstate = (uintptr_t)PyThreadState_Get();
            atomic_store_explicit(&slot->loop, (uintptr_t)loop, memory_order_release);
            return;
        }
    }   /* more than 64 loops running: the others' tasks carry no thread labels */
}

/* Thread labels of the thread running `loop`, if known. */
static void loop_thread_labels(uintptr_t loop, ss_labels *labels)
{
    for (uint32_t i = 0; i < LOOP_SLOTS && loop; i++) {
        const loop_slot *slot = &loop_slots[i];
        if (atomic_load_explicit(&slot->loop, memory_order_acquire) == loop) {
            labels->thread_id = (int64_t)slot->thread_id;
            labels->native_thread_id = (int64_t)slot->native_thread_id;
            labels->thread_name = ssp_thread_names_get(slot->thread_id);
            return;
        }
    }
}

#if SSP_ASYNCIO_LISTS
/* _asyncio's published offsets (the `.AsyncioDebug` section of the module,
 * what Lib/asyncio/tools.py and the remote-debugging module read): 13
 * uint64 in this order. Every offset that the headers also describe is
 * compared with them (the state sizes are not: Debian's 3.15 builds
 * _asyncio into the interpreter with 8 more bytes of PyInterpreterState
 * past the fields used, and the sizes are not used here). */
enum {
    DBG_TASK_SIZE, DBG_TASK_NAME, DBG_TASK_AWAITED_BY, DBG_TASK_IS_TASK, DBG_TASK_AWAITED_BY_IS_SET,
    DBG_TASK_CORO, DBG_TASK_NODE,
    DBG_INTERP_SIZE, DBG_INTERP_TASKS_HEAD,
    DBG_TSTATE_SIZE, DBG_TSTATE_RUNNING_LOOP, DBG_TSTATE_RUNNING_TASK, DBG_TSTATE_TASKS_HEAD,
    DBG_COUNT
};

/* The node offset of a Task from the published table, checked against the
 * headers and the probe's fields; 0 with a Python exception if any
 * disagrees. */
static size_t checked_node_offset(PyObject *debug, size_t task_size, size_t coro_off, size_t name_off)
{
    uint64_t d[DBG_COUNT];
    if (!PyBytes_CheckExact(debug) || PyBytes_GET_SIZE(debug) != (Py_ssize_t)sizeof d) {
        PyErr_SetString(PyExc_RuntimeError, "_asyncio's debug offsets are not the 13 numbers expected");
        return 0;
    }
    memcpy(d, PyBytes_AS_STRING(debug), sizeof d);
    struct { const char *what; uint64_t published, ours; } checks[] = {
        {"Task size", d[DBG_TASK_SIZE], task_size},
        {"Task coroutine", d[DBG_TASK_CORO], coro_off},
        {"Task name", d[DBG_TASK_NAME], name_off},
        {"interpreter task list", d[DBG_INTERP_TASKS_HEAD], offsetof(PyInterpreterState, asyncio_tasks_head)},
        {"thread running loop", d[DBG_TSTATE_RUNNING_LOOP], offsetof(_PyThreadStateImpl, asyncio_running_loop)},
        {"thread running task", d[DBG_TSTATE_RUNNING_TASK], offsetof(_PyThreadStateImpl, asyncio_running_task)},
        {"thread task list", d[DBG_TSTATE_TASKS_HEAD], offsetof(_PyThreadStateImpl, asyncio_tasks_head)},
    };
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        if (checks[i].published != checks[i].ours) {
            PyErr_Format(PyExc_RuntimeError, "_asyncio's debug offsets disagree with this build (%s: %llu, "
                         "expected %llu)", checks[i].what, (unsigned long long)checks[i].published,
                         (unsigned long long)checks[i].ours);
            return 0;
        }
    }
    uint64_t node = d[DBG_TASK_NODE];
    if (node < sizeof(PyObject) || node % sizeof(void *) || node + sizeof(struct llist_node) > task_size) {
        PyErr_SetString(PyExc_RuntimeError, "_asyncio's debug offsets put a Task's list node outside it");
        return 0;
    }
    return (size_t)node;
}
#endif

int ssp_asyncio_attach(PyObject *tasks, PyObject *task_type, PyObject *probe, PyObject *probe_coro,
                       PyObject *probe_name, PyObject *probe_loop, PyObject *debug)
{
#if SSP_ASYNCIO_LISTS
    int tasks_ok = tasks == Py_None;
#else
    int tasks_ok = PySet_CheckExact(tasks);
    (void)debug;
#endif
    if (!tasks_ok || !PyType_Check(task_type) || !Py_IS_TYPE(probe, (PyTypeObject *)task_type) ||
        !PyCoro_CheckExact(probe_coro) || !PyUnicode_CheckExact(probe_name)) {
        PyErr_SetString(PyExc_TypeError, "asyncio_attach: unexpected argument types");
        return -1;
    }
    if (atomic_load(&attached) != NULL)
        return 0;
    size_t size = (size_t)((PyTypeObject *)task_type)->tp_basicsize;
    size_t coro_off = find_field(probe, size, probe_coro);
    size_t name_off = find_field(probe, size, probe_name);
    size_t loop_off = find_field(probe, size, probe_loop);
    if (coro_off == 0 || name_off == 0 || loop_off == 0) {
        PyErr_SetString(PyExc_RuntimeError,
                        "the coroutine and name of an asyncio Task could not be located in it");
        return -1;
    }
#if SSP_ASYNCIO_LISTS
    size_t node_off = checked_node_offset(debug, size, coro_off, name_off);
    if (node_off == 0)
        return -1;
#endif
    asyncio_state *st = calloc(1, sizeof *st);
    if (st != NULL) {
        st->table_cap = 1024;
        st->table = malloc(st->table_cap * sizeof *st->table);
        st->refs = malloc(st->table_cap * sizeof *st->refs);
        st->heads = malloc(SSP_ASYNCIO_TASKS_PER_TICK * sizeof *st->heads);
        st->local = malloc(SSP_ASYNCIO_TASKS_PER_TICK * sizeof *st->local);
        st->remote = malloc(SSP_ASYNCIO_TASKS_PER_TICK * sizeof *st->remote);
        size_t last = coro_off > name_off ? coro_off : name_off;
        st->span = (last > loop_off ? last : loop_off) + sizeof(void *);
#if SSP_ASYNCIO_LISTS
        if (st->span < node_off + sizeof(struct llist_node))
            st->span = node_off + sizeof(struct llist_node);
#endif
        st->spans = malloc(SSP_ASYNCIO_TASKS_PER_TICK * st->span);
    }
    if (st == NULL || !st->table || !st->refs || !st->heads || !st->local || !st->remote || !st->spans) {
        if (st) {
            free(st->table); free(st->refs); free(st->heads); free(st->local); free(st->remote);
            free(st->spans);
        }
        free(st);
        PyErr_NoMemory();
        return -1;
    }
    st->tasks = Py_NewRef(tasks);
    st->task_type = Py_NewRef(task_type);
    st->coro_off = coro_off;
    st->name_off = name_off;
    st->loop_off = loop_off;
#if SSP_ASYNCIO_LISTS
    st->node_off = node_off;
    st->interp = (uintptr_t)PyInterpreterState_Main();
#endif
    atomic_store_explicit(&attached, st, memory_order_release);
    return 0;
}

void ssp_asyncio_detach(void)
{
    asyncio_state *st = atomic_exchange(&attached, NULL);
    if (st == NULL)
        return;
    Py_DECREF(st->tasks);
    Py_DECREF(st->task_type);
    free(st->table);
    free(st->refs);
    free(st->heads);
    free(st->local);
    free(st->remote);
    free(st->spans);
    free(st);
}

/* The label id of task `task` whose name object is `name`. */
static uint32_t task_name(asyncio_state *st, ssp_walker *walker, uintptr_t task, uintptr_t name)
{
    name_slot *slot = &st->names[(task >> 4) & (NAME_CACHE_SLOTS - 1)];
    if (slot->task == task && slot->name == name)
        return slot->id;
    uint32_t id = ssp_walker_read_label(walker, name);
    if (id != 0)
        *slot = (name_slot){task, name, id};
    return id;
}

/* The tasks of one tick whose chains are read, and what a sample of each
 * is worth. */
typedef struct sample_context {
    asyncio_state *st;
    ssp_walker *walker;
    ss_tick *tick;
    int64_t values[SS_VALUE_KINDS];  /* wall time and samples one task stands for */
    uint32_t n;
    uintptr_t task[SSP_ASYNCIO_TASKS_PER_TICK];
    uintptr_t loop[SSP_ASYNCIO_TASKS_PER_TICK];
    uintptr_t coro[SSP_ASYNCIO_TASKS_PER_TICK];
    uint32_t name_id[SSP_ASYNCIO_TASKS_PER_TICK]; /* read before the chains: the visitor
                                                   * runs under the walker's lock */
} sample_context;

static void add_task_sample(void *arg, uint32_t i, int result, const ssp_thread_stack *stack)
{
    sample_context *sc = arg;
    if (result < 0) {
        atomic_fetch_add_explicit(&task_torn, 1, memory_order_relaxed);
        sc->tick->samples_torn++;
        return;
    }
    if (result == 0 || stack->nframes == 0)
        return;                          /* running (on its thread's stack) or not started */
    ss_labels labels;
    memset(&labels, 0, sizeof labels);
    loop_thread_labels(sc->loop[i], &labels);
    labels.task_name = sc->name_id[i];
    labels.task_id = (int64_t)sc->task[i];
    ss_aggregator_add(sc->tick->agg, stack->frames, stack->nframes, &labels, sc->values);
    atomic_fetch_add_explicit(&task_samples, 1, memory_order_relaxed);
}

#if !SSP_ASYNCIO_LISTS
/* Copy the set's table; the number of slots, or 0 (empty or unreadable;
 * *torn set for the latter). */
static size_t copy_table(asyncio_state *st, int *torn)
{
    PySetObject set;
    if (ss_safe_read(&set, st->tasks, sizeof set)) {
        *torn = 1;
        return 0;
    }
    size_t slots = (size_t)set.mask + 1;
    if (set.used <= 0)
        return 0;
    if (set.mask <= 0 || (slots & (slots - 1)) || slots > SSP_ASYNCIO_MAX_SLOTS || set.used > set.mask ||
        !set.table || ((uintptr_t)set.table & 7)) {
        *torn = 1;
        return 0;
    }
    if (slots > st->table_cap) {
        setentry *t = realloc(st->table, slots * sizeof *t);
        if (t == NULL)
            return 0;
        st->table = t;
        uintptr_t *r = realloc(st->refs, slots * sizeof *r);
        if (r == NULL)
            return 0;
        st->refs = r;
        st->table_cap = slots;
    }
    if (ss_safe_read(st->table, set.table, slots * sizeof *st->table)) {
        *torn = 1;          /* resized while read */
        return 0;
    }
    return slots;
}

/* Up to 3.13: the tasks are the referents of the weak references in a
 * set; a window of them is read per tick. */
static void sample_set(asyncio_state *st, ssp_walker *walker, ss_tick *tick)
{
    int torn = 0;
    size_t slots = copy_table(st, &torn);
    uint32_t nrefs = 0;
    for (size_t i = 0; i < slots; i++) {
        uintptr_t key = (uintptr_t)st->table[i].key;
        if (key != 0 && key != (uintptr_t)_PySet_Dummy && !(key & 7))
            st->refs[nrefs++] = key;
    }
    if (torn)
        atomic_fetch_add_explicit(&task_torn, 1, memory_order_relaxed);
    if (nrefs == 0)
        return;
    /* A window of the tasks, rotating: every task is read as often as any
     * other, each standing for nrefs / take of them. */
    uint32_t take = nrefs < SSP_ASYNCIO_TASKS_PER_TICK ? nrefs : SSP_ASYNCIO_TASKS_PER_TICK;
    double weight = (double)nrefs / (double)take;
    uint32_t start = st->cursor % nrefs;
    st->cursor = start + take;
    for (uint32_t k = 0; k < take; k++) {
        st->local[k] = (struct iovec){&st->heads[k], sizeof st->heads[k]};
        st->remote[k] = (struct iovec){(void *)st->refs[(start + k) % nrefs], sizeof st->heads[k]};
    }
    size_t ok = ss_safe_readv(st->local, st->remote, take);
    for (size_t k = ok; k < take; k++)        /* after a failed one: one by one */
        if (ss_safe_read(&st->heads[k], st->remote[k].iov_base, sizeof st->heads[k]))
            memset(&st->heads[k], 0, sizeof st->heads[k]);
    sample_context sc;
    sc.st = st;
    sc.walker = walker;
    sc.tick = tick;
    sc.n = 0;
    memset(sc.values, 0, sizeof sc.values);
    sc.values[SS_WALL_SAMPLES] = llround(weight) > 0 ? llround(weight) : 1;
    sc.values[SS_WALL_TIME] = llround((double)tick->wall_ns * weight);
    /* The live tasks, in one more scatter read. */
    uint32_t ntasks = 0;
    uintptr_t tasks[SSP_ASYNCIO_TASKS_PER_TICK];
    for (uint32_t k = 0; k < take; k++) {
        const weakref_head *ref = &st->heads[k];
        uintptr_t task = ref->referent;
        if (ref->head.ob_type != &_PyWeakref_RefType || task == 0 || task == (uintptr_t)Py_None ||
            (task & 7))
            continue;                     /* not a weak reference now, or the task is gone */
        st->local[ntasks] = (struct iovec){st->spans + (size_t)ntasks * st->span, st->span};
        st->remote[ntasks] = (struct iovec){(void *)task, st->span};
        tasks[ntasks++] = task;
    }
    ok = ntasks ? ss_safe_readv(st->local, st->remote, ntasks) : 0;
    for (uint32_t k = 0; k < ntasks; k++) {
        uintptr_t task = tasks[k];
        const unsigned char *buf = st->spans + (size_t)k * st->span;
        if (k >= ok && ss_safe_read(st->spans + (size_t)k * st->span, (const void *)task, st->span)) {
            atomic_fetch_add_explicit(&task_torn, 1, memory_order_relaxed);
            continue;
        }
        PyObject head;
        uintptr_t coro, name;
        memcpy(&head, buf, sizeof head);
        memcpy(&coro, buf + st->coro_off, sizeof coro);
        memcpy(&name, buf + st->name_off, sizeof name);
        memcpy(&sc.loop[sc.n], buf + st->loop_off, sizeof sc.loop[sc.n]);
        if (head.ob_type != (PyTypeObject *)st->task_type || coro == 0)
            continue;                     /* a Task subclass, or not a task any more */
        sc.task[sc.n] = task;
        sc.name_id[sc.n] = task_name(st, walker, task, name);
        sc.coro[sc.n++] = coro;
    }
    if (sc.n > 0)
        ssp_walker_await_chains(walker, sc.coro, sc.n, add_task_sample, &sc);
}
#endif

#if SSP_ASYNCIO_LISTS
/* Tasks read per wall tick: a list is followed one task per read (the next
 * one's address is in it), so each tick reads the next LIST_READS_PER_TICK
 * tasks of a rotation through all the lists, each standing for (tasks in
 * the last full rotation) / (tasks read this tick). */
#define LIST_READS_PER_TICK 64u
_Static_assert(LIST_READS_PER_TICK <= SSP_ASYNCIO_TASKS_PER_TICK, "one batch of chains per tick");

/* Head of rotation list `i`: loop slot i's thread's list, the interpreter's
 * list (tasks of exited threads) for i == LOOP_SLOTS; 0 for a free slot. */
static uintptr_t list_head(const asyncio_state *st, uint32_t i, uintptr_t *loop)
{
    *loop = 0;
    if (i == LOOP_SLOTS)
        return st->interp + offsetof(PyInterpreterState, asyncio_tasks_head);
    const loop_slot *slot = &loop_slots[i];
    *loop = atomic_load_explicit(&slot->loop, memory_order_acquire);
    if (*loop == 0 || slot->tstate == 0)
        return 0;
    return slot->tstate + offsetof(_PyThreadStateImpl, asyncio_tasks_head);
}

static void list_torn(asyncio_state *st)
{
    atomic_fetch_add_explicit(&task_torn, 1, memory_order_relaxed);
    st->node = 0;                        /* the rest of this list waits for the next rotation */
    st->list++;
    st->rotation_torn = 1;
}

/* 3.14+: the next tasks of the rotation through every loop thread's list
 * and the interpreter's. A link that does not hold (the task unlinked or
 * freed since) ends that list for this rotation, counted as torn. */
static void sample_lists(asyncio_state *st, ssp_walker *walker, ss_tick *tick)
{
    sample_context sc;
    sc.st = st;
    sc.walker = walker;
    sc.tick = tick;
    sc.n = 0;
    unsigned char *buf = st->spans;
    uint32_t reads = 0;
    while (reads < LIST_READS_PER_TICK) {
        if (st->node == 0) {
            if (st->list > LOOP_SLOTS) {        /* a rotation ended: one per tick at most */
                /* A cut rotation saw fewer tasks than live: it does not
                 * lower the population the weights stand for. */
                if (!st->rotation_torn || st->counted > st->rotation_tasks)
                    st->rotation_tasks = st->counted;
                st->counted = 0;
                st->rotation_torn = 0;
                st->list = 0;
                break;
            }
            st->head = list_head(st, st->list, &st->loop);
            struct llist_node link;
            if (st->head == 0) {
                st->list++;
                continue;
            }
            if (ss_safe_read(&link, (const void *)st->head, sizeof link)) {
                list_torn(st);
                continue;
            }
            st->prev = st->head;
            st->node = (uintptr_t)link.next;
        }
        if (st->node == st->head) {
            st->node = 0;
            st->list++;
            continue;
        }
        if (st->node < st->node_off || (st->node & 7) || st->counted >= SSP_ASYNCIO_MAX_SLOTS) {
            list_torn(st);
            continue;
        }
        uintptr_t task = st->node - st->node_off;
        struct llist_node link;
        PyObject obj;
        reads++;
        if (ss_safe_read(buf, (const void *)task, st->span) ||
            (memcpy(&link, buf + st->node_off, sizeof link), (uintptr_t)link.prev != st->prev) ||
            (memcpy(&obj, buf, sizeof obj), obj.ob_type != (PyTypeObject *)st->task_type)) {
            list_torn(st);
            continue;
        }
        st->counted++;
        uintptr_t coro, name;
        memcpy(&coro, buf + st->coro_off, sizeof coro);
        memcpy(&name, buf + st->name_off, sizeof name);
        if (coro != 0) {
            sc.task[sc.n] = task;
            sc.loop[sc.n] = st->loop;
            sc.name_id[sc.n] = task_name(st, walker, task, name);
            sc.coro[sc.n++] = coro;
        }
        st->prev = st->node;
        st->node = (uintptr_t)link.next;
    }
    if (sc.n == 0)
        return;
    uint32_t population = st->rotation_tasks > st->counted ? st->rotation_tasks : st->counted;
    double weight = population > reads ? (double)population / (double)reads : 1.0;
    memset(sc.values, 0, sizeof sc.values);
    sc.values[SS_WALL_SAMPLES] = llround(weight) > 0 ? llround(weight) : 1;
    sc.values[SS_WALL_TIME] = llround((double)tick->wall_ns * weight);
    ssp_walker_await_chains(walker, sc.coro, sc.n, add_task_sample, &sc);
}
#endif

void ssp_asyncio_sample(ssp_walker *walker, ss_tick *tick)
{
    asyncio_state *st = atomic_load_explicit(&attached, memory_order_acquire);
    if (st == NULL || tick->kind != SS_TICK_WALL || tick->wall_ns <= 0)
        return;
#if SSP_ASYNCIO_LISTS
    sample_lists(st, walker, tick);
#else
    sample_set(st, walker, tick);
#endif
}

#else   /* !SSP_ASYNCIO_SUPPORTED */

int ssp_asyncio_attach(PyObject *tasks, PyObject *task_type, PyObject *probe, PyObject *probe_coro,
                       PyObject *probe_name, PyObject *probe_loop, PyObject *debug)
{
    (void)tasks; (void)task_type; (void)probe; (void)probe_coro; (void)probe_name; (void)probe_loop;
    (void)debug;
    PyErr_Format(PyExc_RuntimeError, "asyncio task sampling supports CPython 3.11 to 3.14; this is %d.%d",
                 PY_MAJOR_VERSION, PY_MINOR_VERSION);
    return -1;
}

int ssp_asyncio_attached(void) { return 0; }
void ssp_asyncio_loop_running(PyObject *loop) { (void)loop; }
void ssp_asyncio_sample(ssp_walker *walker, ss_tick *tick) { (void)walker; (void)tick; }
void ssp_asyncio_detach(void) {}

#endif
