/* walker_probe.c - test-only extension exposing ext/cpython_walker.c.
 *
 * The walker's contract is that it runs on a thread that never holds the
 * GIL. Every entry point here therefore starts a pthread that calls
 * ssp_walker_walk() while the calling Python thread waits with the GIL
 * released; the visitor copies frames into C memory, and Python objects are
 * built only after the pthread is joined and the GIL is held again. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../../../ext/cpython_walker.h"
#include "../../../ext/thread_names.h"
#include "../../../src/common/interner.h"

static ssp_walker *walker;   /* created by init(), lives until fini() */

/* One stack copied by the visitor. */
typedef struct probe_stack {
    unsigned long tid, native_tid;
    int torn;
    uint32_t n;
    ss_frame *frames;        /* malloc'd copy */
} probe_stack;

/* What a sampling pthread does and what it found. */
typedef struct probe_job {
    int mode;                /* 0: keep last walk's stacks; 1: time-bounded loop; 2: count */
    long walks;              /* walks to run (modes 0, 2) */
    double seconds;          /* mode 1 duration */
    probe_stack *stacks;     /* mode 0: stacks of the current walk */
    size_t nstacks, cap;
    long done_walks, failed_walks;
    uint64_t threads, frames, torn;
    int64_t elapsed_ns;
} probe_job;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void clear_stacks(probe_job *j)
{
    for (size_t i = 0; i < j->nstacks; i++)
        free(j->stacks[i].frames);
    j->nstacks = 0;
}

static void visit(void *arg, const ssp_thread_stack *st)
{
    probe_job *j = arg;
    j->threads++;
    j->frames += st->nframes;
    j->torn += (uint64_t)st->torn;
    if (j->mode != 0)
        return;
    if (j->nstacks == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 16;
        j->stacks = realloc(j->stacks, j->cap * sizeof *j->stacks);
    }
    probe_stack *p = &j->stacks[j->nstacks++];
    p->tid = st->thread_id;
    p->native_tid = st->native_thread_id;
    p->torn = st->torn;
    p->n = st->nframes;
    p->frames = malloc((st->nframes + 1) * sizeof(ss_frame));
    memcpy(p->frames, st->frames, st->nframes * sizeof(ss_frame));
}

static void *sampler_main(void *arg)
{
    probe_job *j = arg;
    int64_t start = now_ns(), deadline = start + (int64_t)(j->seconds * 1e9);
    for (long i = 0;; i++) {
        if (j->mode == 1 ? now_ns() >= deadline : i >= j->walks)
            break;
        if (j->mode == 0)
            clear_stacks(j);
        int rc = ssp_walker_walk(walker, visit, j);
        if (rc < 0)
            j->failed_walks++;
        else
            j->done_walks++;
    }
    j->elapsed_ns = now_ns() - start;
    return NULL;
}

static int run_job(probe_job *j)
{
    pthread_t t;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = pthread_create(&t, NULL, sampler_main, j);
    if (rc == 0)
        pthread_join(t, NULL);
    Py_END_ALLOW_THREADS
    if (rc) {
        PyErr_SetString(PyExc_RuntimeError, "pthread_create failed");
        return -1;
    }
    return 0;
}

static PyObject *frame_tuple(const ss_frame *f)
{
    ss_function_info fi = ss_function_at(f->function);
    size_t nl, fl;
    const char *name = ss_string_at(fi.name, &nl);
    const char *file = ss_string_at(fi.filename, &fl);
    return Py_BuildValue("(s#s#ii)", name, (Py_ssize_t)nl, file, (Py_ssize_t)fl,
                         (int)f->line, (int)fi.start_line);
}

static PyObject *frames_list(const ss_frame *frames, uint32_t n)
{
    PyObject *l = PyList_New(n);
    if (!l)
        return NULL;
    for (uint32_t i = 0; i < n; i++) {
        PyObject *t = frame_tuple(&frames[i]);
        if (!t) { Py_DECREF(l); return NULL; }
        PyList_SET_ITEM(l, i, t);
    }
    return l;
}

static PyObject *probe_init(PyObject *self, PyObject *args)
{
    (void)self;
    int max_frames;
    if (!PyArg_ParseTuple(args, "i", &max_frames))
        return NULL;
    if (walker)
        ssp_walker_free(walker);
    char err[256] = "";
    walker = ssp_walker_new(max_frames, err, sizeof err);
    if (!walker) {
        PyErr_SetString(PyExc_RuntimeError, err);
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *probe_fini(PyObject *self, PyObject *noargs)
{
    (void)self; (void)noargs;
    ssp_walker_free(walker);
    walker = NULL;
    Py_RETURN_NONE;
}

/* sample_from_thread(n=1) -> list of dicts of the last of n walks */
static PyObject *probe_sample(PyObject *self, PyObject *args)
{
    (void)self;
    long n = 1;
    if (!PyArg_ParseTuple(args, "|l", &n))
        return NULL;
    if (!walker) { PyErr_SetString(PyExc_RuntimeError, "init first"); return NULL; }
    probe_job j;
    memset(&j, 0, sizeof j);
    j.mode = 0;
    j.walks = n < 1 ? 1 : n;
    PyObject *res = NULL;
    if (run_job(&j) == 0) {
        if (j.failed_walks && !j.done_walks) {
            PyErr_SetString(PyExc_RuntimeError, "walk failed");
        } else if ((res = PyList_New(0)) != NULL) {
            for (size_t i = 0; i < j.nstacks; i++) {
                probe_stack *p = &j.stacks[i];
                PyObject *fl = frames_list(p->frames, p->n);
                PyObject *d = fl ? Py_BuildValue("{s:k,s:k,s:O,s:N}", "thread_id", p->tid,
                                                 "native_thread_id", p->native_tid,
                                                 "torn", p->torn ? Py_True : Py_False,
                                                 "frames", fl) : NULL;
                if (!d || PyList_Append(res, d)) { Py_XDECREF(d); Py_CLEAR(res); break; }
                Py_DECREF(d);
            }
        }
    }
    clear_stacks(&j);
    free(j.stacks);
    return res;
}

/* stress(seconds) -> dict: walks in a tight loop on a pthread */
static PyObject *probe_stress(PyObject *self, PyObject *args)
{
    (void)self;
    double seconds;
    if (!PyArg_ParseTuple(args, "d", &seconds))
        return NULL;
    if (!walker) { PyErr_SetString(PyExc_RuntimeError, "init first"); return NULL; }
    probe_job j;
    memset(&j, 0, sizeof j);
    j.mode = 1;
    j.seconds = seconds;
    if (run_job(&j))
        return NULL;
    return Py_BuildValue("{s:l,s:l,s:K,s:K,s:K,s:L}", "walks", j.done_walks,
                         "failed_walks", j.failed_walks, "threads", (unsigned long long)j.threads,
                         "frames", (unsigned long long)j.frames,
                         "torn", (unsigned long long)j.torn, "elapsed_ns", (long long)j.elapsed_ns);
}

/* bench(n) -> dict: n walks, timing */
static PyObject *probe_bench(PyObject *self, PyObject *args)
{
    (void)self;
    long n;
    if (!PyArg_ParseTuple(args, "l", &n))
        return NULL;
    if (!walker) { PyErr_SetString(PyExc_RuntimeError, "init first"); return NULL; }
    probe_job j;
    memset(&j, 0, sizeof j);
    j.mode = 2;
    j.walks = n;
    if (run_job(&j))
        return NULL;
    return Py_BuildValue("{s:l,s:l,s:K,s:K,s:K,s:L}", "walks", j.done_walks,
                         "failed_walks", j.failed_walks, "threads", (unsigned long long)j.threads,
                         "frames", (unsigned long long)j.frames,
                         "torn", (unsigned long long)j.torn, "elapsed_ns", (long long)j.elapsed_ns);
}

/* capture(max) -> list of frames of the calling thread (GIL held) */
static PyObject *probe_capture(PyObject *self, PyObject *args)
{
    (void)self;
    int max = 128;
    if (!PyArg_ParseTuple(args, "|i", &max))
        return NULL;
    if (!walker) { PyErr_SetString(PyExc_RuntimeError, "init first"); return NULL; }
    if (max < 0 || max > 100000) { PyErr_SetString(PyExc_ValueError, "max"); return NULL; }
    ss_frame *buf = malloc(((size_t)max + 1) * sizeof *buf);
    if (!buf)
        return PyErr_NoMemory();
    uint32_t n = ssp_capture_current(walker, buf, (uint32_t)max);
    PyObject *l = frames_list(buf, n);
    free(buf);
    return l;
}

/* capture_bench(n, max) -> ns per capture */
static PyObject *probe_capture_bench(PyObject *self, PyObject *args)
{
    (void)self;
    long n;
    int max = 128;
    if (!PyArg_ParseTuple(args, "l|i", &n, &max))
        return NULL;
    if (!walker) { PyErr_SetString(PyExc_RuntimeError, "init first"); return NULL; }
    ss_frame buf[1024];
    if (max < 1 || max > 1024) max = 1024;
    uint32_t got = 0;
    int64_t t0 = now_ns();
    for (long i = 0; i < n; i++)
        got = ssp_capture_current(walker, buf, (uint32_t)max);
    int64_t t1 = now_ns();
    return Py_BuildValue("(dI)", n > 0 ? (double)(t1 - t0) / (double)n : 0.0, got);
}

/* forged_snapshot([frame_addr]) -> (torn, frames): a snapshot of the calling
 * thread (GIL held) whose current-frame pointer is replaced by frame_addr
 * (when given), as a torn read could leave it, resolved with the GIL
 * released. */
static PyObject *probe_forged_snapshot(PyObject *self, PyObject *args)
{
    (void)self;
    unsigned long long addr = 0;
    int forge = PyTuple_GET_SIZE(args) > 0;
    if (!PyArg_ParseTuple(args, "|K", &addr))
        return NULL;
    if (!walker) { PyErr_SetString(PyExc_RuntimeError, "init first"); return NULL; }
    ssp_snapshot *snap = malloc(sizeof *snap);
    if (!snap)
        return PyErr_NoMemory();
    if (ssp_snapshot_capture(snap, (pid_t)syscall(SYS_gettid)) != 0) {
        free(snap);
        PyErr_SetString(PyExc_RuntimeError, "snapshot capture failed");
        return NULL;
    }
    if (forge)
        snap->current_frame = (uintptr_t)addr;
    ssp_thread_stack st;
    Py_BEGIN_ALLOW_THREADS
    ssp_walker_resolve_snapshot(walker, snap, &st);
    Py_END_ALLOW_THREADS
    free(snap);
    PyObject *frames = frames_list(st.frames, st.nframes);
    if (!frames)
        return NULL;
    return Py_BuildValue("(iN)", st.torn, frames);
}

static PyObject *probe_stats(PyObject *self, PyObject *noargs)
{
    (void)self; (void)noargs;
    ssp_walker_stats s;
    ssp_walker_get_stats(walker, &s);
    return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K,s:K}", "walks", (unsigned long long)s.walks,
                         "threads", (unsigned long long)s.threads,
                         "frames", (unsigned long long)s.frames,
                         "torn", (unsigned long long)s.torn,
                         "code_cache_hits", (unsigned long long)s.code_cache_hits,
                         "code_cache_misses", (unsigned long long)s.code_cache_misses);
}

static PyObject *probe_set_validation(PyObject *self, PyObject *args)
{
    (void)self;
    int by_read;
    if (!PyArg_ParseTuple(args, "i", &by_read))
        return NULL;
    ssp_walker_set_validation(walker, by_read);
    Py_RETURN_NONE;
}

/* tell_native(ident, native_id): what stacksight's threading patch tells the
 * binding when a thread starts (3.9/3.10 thread states lack the OS id). */
static PyObject *probe_tell_native(PyObject *self, PyObject *args)
{
    (void)self;
    unsigned long ident, native_id;
    if (!PyArg_ParseTuple(args, "kk", &ident, &native_id))
        return NULL;
    ssp_thread_names_set(ident, "", 0);
    ssp_thread_names_set_native(ident, native_id);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"tell_native", probe_tell_native, METH_VARARGS, "tell_native(ident, native_id)"},
    {"set_validation", probe_set_validation, METH_VARARGS, "ssp_walker_set_validation"},
    {"init", probe_init, METH_VARARGS, "init(max_frames)"},
    {"fini", probe_fini, METH_NOARGS, "free the walker"},
    {"sample_from_thread", probe_sample, METH_VARARGS, "walk n times from a pthread"},
    {"stress", probe_stress, METH_VARARGS, "walk in a loop for seconds"},
    {"bench", probe_bench, METH_VARARGS, "time n walks"},
    {"capture", probe_capture, METH_VARARGS, "ssp_capture_current"},
    {"capture_bench", probe_capture_bench, METH_VARARGS, "time captures"},
    {"stats", probe_stats, METH_NOARGS, "walker counters"},
    {"forged_snapshot", probe_forged_snapshot, METH_VARARGS, "resolve a snapshot with a forged frame pointer"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef moddef = {PyModuleDef_HEAD_INIT, "walker_probe", NULL, -1, methods,
                                    NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit_walker_probe(void)
{
    return PyModule_Create(&moddef);
}
