/* module.c - stacksight._native: the CPython binding of the shared core.
 *
 * This file only translates: Python arguments to an ss_config, the walker's
 * thread stacks to core samples, and core warnings to `logging`. Everything
 * that is not CPython-specific lives in src/common/. The public API
 * (stacksight.Profiler) is Python code on top of these functions. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdatomic.h>
#include <string.h>

#include "py_compat.h"

#include "../src/common/config.h"
#include "../src/common/core.h"
#include "../src/common/interner.h"
#include "../src/common/log.h"
#include "../src/common/safe_read.h"
#include "../src/common/cpu_timer.h"
#include "../src/common/idle_stacks.h"
#include "cpu_snapshots.h"
#include "cpython_walker.h"
#include "exception_profiler.h"
#include "lock_profiler.h"
#include "asyncio_tasks.h"
#include "memory_profiler.h"
#include "thread_names.h"

/* The walker of the running profiler, NULL when stopped. Written with the
 * GIL held and only while the sampler is not running. */
static ssp_walker *active_walker;
static char runtime_version[32];
static atomic_int log_drain_scheduled;

/* ---- warnings from the core to logging ---------------------------------- */

static void
drain_log_with_gil(void)
{
    char text[512];
    int level;
    PyObject *logger = NULL;
    while ((level = ss_log_pop(text, sizeof text)) >= 0) {
        if (logger == NULL) {
            PyObject *logging = PyImport_ImportModule("logging");
            if (logging == NULL)
                break;
            logger = PyObject_CallMethod(logging, "getLogger", "s", "stacksight");
            Py_DECREF(logging);
            if (logger == NULL)
                break;
        }
        const char *method = level == SS_LOG_WARNING ? "warning"
                             : level == SS_LOG_INFO  ? "info" : "debug";
        PyObject *r = PyObject_CallMethod(logger, method, "s", text);
        Py_XDECREF(r);
        if (r == NULL)
            PyErr_Clear();
    }
    if (PyErr_Occurred())
        PyErr_Clear();   /* logging must never raise into the application */
    Py_XDECREF(logger);
}

static int
drain_log_pending(void *Py_UNUSED(arg))
{
    atomic_store(&log_drain_scheduled, 0);
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    drain_log_with_gil();
    PyErr_Restore(type, value, tb);
    return 0;
}

/* Core threads call this after queuing a message. Py_AddPendingCall needs
 * neither the GIL nor a thread state; the main thread runs the drain at its
 * next bytecode boundary. */
static void
notify_log(void)
{
    if (atomic_exchange(&log_drain_scheduled, 1) == 0) {
        if (Py_IsInitialized() == 0 || Py_AddPendingCall(drain_log_pending, NULL) != 0)
            atomic_store(&log_drain_scheduled, 0);
    }
}

/* ---- sampling ------------------------------------------------------------ */

static void
fill_labels(ss_labels *labels, unsigned long thread_id, unsigned long native_thread_id)
{
    memset(labels, 0, sizeof *labels);
    labels->thread_id = (int64_t)thread_id;
    labels->native_thread_id = (int64_t)native_thread_id;
    labels->thread_name = ssp_thread_names_get(thread_id);
}

/* What a walk's callbacks need besides the stack. */
typedef struct walk_context {
    ss_tick *tick;
    ss_idle_stacks *idle;           /* last stacks of threads that did not run */
} walk_context;

/* 1: the walk need not read this thread's stack. On a CPU tick that is every
 * thread without an event (the visit drops it anyway: reading 500 parked
 * threads' stacks for one busy thread's slice was most of the sidecar's CPU
 * with many threads); on a wall tick, a thread that did not run. */
static int
thread_unchanged(void *arg, unsigned long native_thread_id)
{
    walk_context *wc = arg;
    if (wc->tick->kind != SS_TICK_WALL)
        return !ss_tick_wants(wc->tick, (pid_t)native_thread_id);
    return ss_idle_stacks_unchanged(wc->idle, (pid_t)native_thread_id);
}

static void
visit_thread(void *arg, const ssp_thread_stack *stack)
{
    walk_context *wc = arg;
    ss_tick *tick = wc->tick;
    pid_t tid = (pid_t)stack->native_thread_id;
    if (!ss_tick_wants(tick, tid))
        return;
    const ss_frame *frames = stack->frames;
    uint32_t nframes = stack->nframes;
    if (stack->unchanged) {
        /* Wall only (it did not run): added up in its slot, not per tick. */
        ss_labels labels;
        fill_labels(&labels, stack->thread_id, stack->native_thread_id);
        if (ss_idle_stacks_charge(wc->idle, tid, &labels, tick->wall_ns, tick->agg) == 0) {
            ss_tick_note_unchanged(tick, tid);
            return;
        }
        nframes = ss_idle_stacks_get(wc->idle, tid, &frames);
    }
    else if (stack->torn) {
        tick->samples_torn++;
        ss_idle_stacks_forget(wc->idle, tid);
        return;
    }
    else if (tick->kind == SS_TICK_WALL) {
        ss_idle_stacks_store(wc->idle, tid, frames, nframes);
    }
    if (nframes == 0)
        return;   /* a thread state with no Python frame running */
    ss_labels labels;
    fill_labels(&labels, stack->thread_id, stack->native_thread_id);
    ss_tick_report_thread(tick, frames, nframes, &labels);
}

/* CPU tick: charge each thread's slice to the stack it captured in the
 * signal handler. Events without a usable snapshot are left for the walk. */
static int
report_cpu_snapshots(ssp_walker *walker, ss_tick *tick)
{
    int left_for_walk = 0;
    for (uint32_t i = 0; i < tick->ncpu_tids; i++) {
        const ssp_snapshot *snap = ssp_cpu_snapshot_get(tick->cpu_tokens[i]);
        if (snap == NULL) {
            left_for_walk = 1;
            continue;
        }
        ssp_thread_stack stack;
        ssp_walker_resolve_snapshot(walker, snap, &stack);
        if (!stack.torn && stack.nframes > 0) {
            ss_labels labels;
            fill_labels(&labels, stack.thread_id, stack.native_thread_id);
            ss_tick_report(tick, stack.frames, stack.nframes, &labels, ss_tick_event_cpu_ns(tick, i));
            tick->cpu_tids[i] = 0;
        } else {
            tick->samples_torn += stack.torn;
            left_for_walk = 1;
        }
        ssp_cpu_snapshot_release(tick->cpu_tokens[i]);
    }
    return left_for_walk;
}

/* The binding's sampling state, created at start. */
typedef struct python_sampler {
    ssp_walker *walker;
    ss_idle_stacks *idle;           /* owned by the sidecar while running; may be NULL */
    uint32_t max_frames;            /* frames per stored stack */
} python_sampler;

static python_sampler active_sampler;

static void
sample_threads(void *ctx, ss_tick *tick)
{
    python_sampler *ps = ctx;
    if (tick->kind == SS_TICK_CPU && !report_cpu_snapshots(ps->walker, tick))
        return;
    walk_context wc = {tick, ps->idle};
    ssp_walker_walk_changed(ps->walker, visit_thread, thread_unchanged, &wc);
    if (tick->kind == SS_TICK_WALL)
        ssp_asyncio_sample(ps->walker, tick);
}

static void
sampler_exit(void *ctx)
{
    python_sampler *ps = ctx;
    ss_idle_stacks_flush(ps->idle);
}

/* ---- exception, lock and memory profiles ---------------------------------- */

/* Value columns of the event profiles switched on in `cfg`. */
static ss_value_mask
event_value_mask(const ss_config *cfg)
{
    ss_value_mask m = 0;
    if (cfg->exception_enabled)
        m |= SS_MASK(SS_EXCEPTION_SAMPLES);
    if (cfg->lock_enabled)
        m |= SS_MASK(SS_LOCK_ACQUIRE) | SS_MASK(SS_LOCK_ACQUIRE_WAIT) |
             SS_MASK(SS_LOCK_RELEASE) | SS_MASK(SS_LOCK_RELEASE_HOLD);
    if (cfg->memory_enabled)
        m |= SS_MASK(SS_ALLOC_SAMPLES) | SS_MASK(SS_ALLOC_SPACE);
    if (cfg->heap_enabled)
        m |= SS_MASK(SS_HEAP_LIVE_SAMPLES) | SS_MASK(SS_HEAP_SPACE);
    return m;
}

/* With the GIL, after ss_core_start. A profile type that cannot start has
 * logged why; the others and the application carry on. */
static void
start_event_profilers(ssp_walker *walker, const ss_config *cfg)
{
    if (cfg->exception_enabled)
        ssp_exceptions_start(walker, cfg);
    if (cfg->lock_enabled)
        ssp_locks_start(walker, cfg);
    if (cfg->memory_enabled || cfg->heap_enabled)
        ssp_memory_start(walker, cfg);
}

static PyObject *
native_lock_profiling_active(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(ssp_locks_recording());
}

PyDoc_STRVAR(asyncio_attach_doc,
"asyncio_attach(tasks, task_type, probe, probe_coro, probe_name, probe_loop[, debug]) -> None\n\n"
"Start sampling suspended asyncio tasks (see ext/asyncio_tasks.h): tasks is\n"
"the set inside asyncio's WeakSet of tasks (None from 3.14: per-thread lists),\n"
"probe a task of task_type whose coroutine and name are probe_coro and\n"
"probe_name; debug (3.14+) the bytes of _asyncio's .AsyncioDebug section.\n"
"Only while running.");

static PyObject *
native_asyncio_attach(PyObject *Py_UNUSED(module), PyObject *args)
{
    PyObject *tasks, *task_type, *probe, *coro, *name, *loop;
    PyObject *debug = Py_None;
    if (!PyArg_ParseTuple(args, "OOOOOO|O:asyncio_attach", &tasks, &task_type, &probe, &coro, &name, &loop,
                          &debug))
        return NULL;
    if (!ss_core_running()) {
        PyErr_SetString(PyExc_RuntimeError, "the profiler is not running");
        return NULL;
    }
    if (ssp_asyncio_attach(tasks, task_type, probe, coro, name, loop, debug) != 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
native_asyncio_loop_running(PyObject *Py_UNUSED(module), PyObject *loop)
{
    ssp_asyncio_loop_running(loop);
    Py_RETURN_NONE;
}

static PyObject *
native_event_counts(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    unsigned long long seen, sampled, mem_sampled, live, dropped, task_samples, task_torn;
    ssp_exceptions_counts(&seen, &sampled);
    ssp_memory_counts(&mem_sampled, &live, &dropped);
    ssp_asyncio_counts(&task_samples, &task_torn);
    return Py_BuildValue("{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:O}", "exceptions_seen", seen,
                         "exceptions_sampled", sampled, "allocations_sampled", mem_sampled,
                         "heap_live_samples", live, "heap_dropped", dropped,
                         "task_samples", task_samples, "task_torn", task_torn,
                         "asyncio_attached", ssp_asyncio_attached() ? Py_True : Py_False);
}

/* ---- module functions ---------------------------------------------------- */

static int
apply_string(ss_config *cfg, const char *name, PyObject *value)
{
    if (value == NULL || value == Py_None)
        return 0;
    const char *text = PyUnicode_AsUTF8(value);
    if (text == NULL)
        return -1;
    const char *why = ss_config_set_string(cfg, name, text);
    if (why != NULL) {
        PyErr_Format(PyExc_ValueError, "%s: %s", name, why);
        return -1;
    }
    return 0;
}

static int
apply_tags(ss_config *cfg, PyObject *tags)
{
    if (tags == NULL || tags == Py_None)
        return 0;
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(tags, &pos, &key, &value)) {
        const char *k = PyUnicode_AsUTF8(key);
        const char *v = k ? PyUnicode_AsUTF8(value) : NULL;
        if (v == NULL)
            return -1;
        const char *why = ss_config_add_tag(cfg, k, v);
        if (why != NULL) {
            PyErr_Format(PyExc_ValueError, "tags: %R: %s", key, why);
            return -1;
        }
    }
    return 0;
}

static PyObject *
config_as_dict(const ss_config *c)
{
    PyObject *tags = PyDict_New();
    if (tags == NULL)
        return NULL;
    for (int i = 0; i < c->ntags; i++) {
        PyObject *v = PyUnicode_DecodeUTF8(c->tags[i].value, strlen(c->tags[i].value), "replace");
        if (v == NULL || PyDict_SetItemString(tags, c->tags[i].key, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(tags);
            return NULL;
        }
        Py_DECREF(v);
    }
    return Py_BuildValue(
        "{s:O,s:s,s:s,s:s,s:N,s:s,s:s,s:s,s:d,s:L,s:i,s:i,s:d,s:O,s:O,s:O,s:O,s:d,s:L}",
        "enabled", c->enabled ? Py_True : Py_False,
        "service", c->service, "env", c->env, "version", c->version,
        "tags", tags,
        "agent_url", c->agent_url, "output_pprof", c->output_pprof,
        "pyroscope_url", c->pyroscope_url,
        "upload_interval", (double)c->upload_period_ns / 1e9,
        "api_timeout_ms", (long long)c->api_timeout_ms,
        "sample_hz", c->sample_hz, "max_frames", c->max_frames,
        "overhead_pct", c->overhead_pct,
        "exception_enabled", c->exception_enabled ? Py_True : Py_False,
        "lock_enabled", c->lock_enabled ? Py_True : Py_False,
        "memory_enabled", c->memory_enabled ? Py_True : Py_False,
        "heap_enabled", c->heap_enabled ? Py_True : Py_False,
        "capture_pct", c->capture_pct,
        "heap_sample_size", (long long)c->heap_sample_bytes);
}

static int
build_config(ss_config *cfg, PyObject *kwargs)
{
    ss_config_init(cfg, SS_LANG_PYTHON);
    ss_config_load_env(cfg);
    if (kwargs == NULL)
        return 0;
    static const char *const strings[] = {"service", "env", "version", "url", "output_pprof"};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        if (apply_string(cfg, strings[i], PyDict_GetItemString(kwargs, strings[i])) < 0)
            return -1;
    if (apply_tags(cfg, PyDict_GetItemString(kwargs, "tags")) < 0)
        return -1;
    PyObject *interval = PyDict_GetItemString(kwargs, "upload_interval");
    if (interval != NULL && interval != Py_None) {
        double s = PyFloat_AsDouble(interval);
        if (s == -1.0 && PyErr_Occurred())
            return -1;
        if (!(s >= 0.01 && s <= 86400.0)) {
            PyErr_SetString(PyExc_ValueError, "upload_interval must be between 0.01 and 86400 seconds");
            return -1;
        }
        cfg->upload_period_ns = (int64_t)(s * 1e9);
    }
    PyObject *service_default = PyDict_GetItemString(kwargs, "default_service");
    if (cfg->service[0] == '\0' && service_default != NULL && service_default != Py_None) {
        const char *text = PyUnicode_AsUTF8(service_default);
        if (text == NULL)
            return -1;
        snprintf(cfg->service, sizeof cfg->service, "%s", text);
    }
    return 0;
}

PyDoc_STRVAR(config_doc,
"config(**options) -> dict\n\n"
"The configuration start() would use: defaults, DD_* variables, options.");

static PyObject *
native_config(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args) != 0) {
        PyErr_SetString(PyExc_TypeError, "config() takes keyword arguments only");
        return NULL;
    }
    ss_config cfg;
    if (build_config(&cfg, kwargs) < 0)
        return NULL;
    return config_as_dict(&cfg);
}

PyDoc_STRVAR(start_doc,
"start(**options) -> None\n\n"
"Start the process's profiler. Raises RuntimeError if it cannot run here.");

static PyObject *
native_start(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    if (PyTuple_GET_SIZE(args) != 0) {
        PyErr_SetString(PyExc_TypeError, "start() takes keyword arguments only");
        return NULL;
    }
    if (ss_core_running()) {
        PyErr_SetString(PyExc_RuntimeError, "the stacksight profiler is already running in this process");
        return NULL;
    }
    ss_config cfg;
    if (build_config(&cfg, kwargs) < 0)
        return NULL;
    if (!ss_safe_read_available()) {
        PyErr_SetString(PyExc_RuntimeError,
                        "stacksight cannot read its own memory safely here (process_vm_readv is "
                        "forbidden, e.g. by a seccomp policy); profiling is off");
        return NULL;
    }
    char err[256] = "";
    ssp_walker *walker = ssp_walker_new(cfg.max_frames < 2 ? 2 : cfg.max_frames, err, sizeof err);
    if (walker == NULL) {
        PyErr_SetString(PyExc_RuntimeError, err[0] ? err : "cannot read this interpreter's stacks");
        return NULL;
    }
    ssp_thread_names_init_fork_safety();
    ss_log_set_notify(notify_log);
    ssp_cpu_snapshots_reset();
    ss_cpu_timer_set_capture(ssp_cpu_snapshot_take);
    active_sampler.walker = walker;
    active_sampler.max_frames = (uint32_t)(cfg.max_frames < 2 ? 2 : cfg.max_frames);
    active_sampler.idle = ss_idle_stacks_new(active_sampler.max_frames);
    ss_binding binding = {
        .family = "python",
        .runtime = "CPython",
        .runtime_version = runtime_version,
        .origin = "stacksight-python",
        .ctx = &active_sampler,
        .sample_threads = sample_threads,
        .sampler_exit = sampler_exit,
        .period_end = (cfg.heap_enabled || cfg.memory_enabled) ? ssp_memory_period_end : NULL,
        .extra_values = event_value_mask(&cfg),
        .cpu_timers = 1,
    };
    if (ss_core_start(&cfg, &binding, err, sizeof err) != 0) {
        ssp_walker_free(walker);
        ss_idle_stacks_free(active_sampler.idle);
        active_sampler.idle = NULL;
        PyErr_SetString(PyExc_RuntimeError, err);
        return NULL;
    }
    active_walker = walker;
    start_event_profilers(walker, &cfg);
    drain_log_with_gil();
    Py_RETURN_NONE;
}

PyDoc_STRVAR(stop_doc,
"stop(flush=True) -> None\n\n"
"Stop the profiler; with flush, export what was collected since the last\n"
"upload. A no-op when not running.");

static PyObject *
native_stop(PyObject *Py_UNUSED(module), PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"flush", NULL};
    int flush = 1;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|p:stop", kwlist, &flush))
        return NULL;
    /* No new events from other threads while the core flushes; the heap
     * table stays for the last profile's snapshot. */
    ssp_exceptions_pause();
    ssp_locks_pause();
    ssp_memory_pause();
    /* The sidecar never needs the GIL, but the export may take up to the API
     * timeout: let other Python threads run meanwhile. */
    Py_BEGIN_ALLOW_THREADS
    ss_core_stop(flush);
    Py_END_ALLOW_THREADS
    ssp_exceptions_stop();
    ssp_locks_stop();
    ssp_memory_stop();
    ssp_asyncio_detach();
    if (active_walker != NULL) {
        ssp_walker_free(active_walker);
        active_walker = NULL;
    }
    ss_idle_stacks_free(active_sampler.idle);
    active_sampler.idle = NULL;
    drain_log_with_gil();
    Py_RETURN_NONE;
}

static PyObject *
native_is_running(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    return PyBool_FromLong(ss_core_running());
}

static PyObject *
native_after_fork_child(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    if (ss_core_needs_restart_in_child()) {
        /* The parent's sampler thread does not exist here, but it may have
         * held the walker's lock at fork time: reset it before restarting. */
        ssp_walker_after_fork_child(active_walker);
        /* The parent's sidecar may have been updating the idle stacks. */
        ss_idle_stacks_free(active_sampler.idle);
        active_sampler.idle = ss_idle_stacks_new(active_sampler.max_frames);
        ss_core_restart_in_child();
    }
    drain_log_with_gil();
    return PyBool_FromLong(ss_core_running());
}

static PyObject *
native_request_flush(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    ss_core_request_flush();
    Py_RETURN_NONE;
}

static PyObject *
native_drain_log(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    drain_log_with_gil();
    Py_RETURN_NONE;
}

static PyObject *
native_set_thread_name(PyObject *Py_UNUSED(module), PyObject *args)
{
    unsigned long ident, native_id = 0;
    const char *name;
    Py_ssize_t len;
    if (!PyArg_ParseTuple(args, "ks#|k:set_thread_name", &ident, &name, &len, &native_id))
        return NULL;
    ssp_thread_names_set(ident, name, (size_t)len);
    if (native_id)
        ssp_thread_names_set_native(ident, native_id);
    Py_RETURN_NONE;
}

static PyObject *
native_forget_thread(PyObject *Py_UNUSED(module), PyObject *args)
{
    unsigned long ident;
    if (!PyArg_ParseTuple(args, "k:forget_thread", &ident))
        return NULL;
    ssp_thread_names_forget(ident);
    Py_RETURN_NONE;
}

static PyObject *
native_stats(PyObject *Py_UNUSED(module), PyObject *Py_UNUSED(ignored))
{
    ss_core_stats s;
    ss_core_get_stats(&s);
    ssp_walker_stats w;
    memset(&w, 0, sizeof w);
    if (active_walker != NULL)
        ssp_walker_get_stats(active_walker, &w);
    return Py_BuildValue(
        "{s:K,s:K,s:K,s:L,s:L,s:L,s:L,s:L,s:K,s:K,s:K,s:K,s:K,s:K,s:L,s:L,s:n,s:K,s:K,s:K,s:s}",
        "ticks", (unsigned long long)s.sampler.ticks,
        "thread_samples", (unsigned long long)s.sampler.thread_samples,
        "torn_samples", (unsigned long long)s.sampler.torn_samples,
        "sampler_cpu_ns", (long long)s.sampler.cpu_ns,
        "upload_cpu_ns", (long long)s.sampler.upload_cpu_ns,
        "signal_cpu_ns", (long long)s.sampler.signal_cpu_ns,
        "self_cpu_ns", (long long)(s.sampler.cpu_ns + s.sampler.upload_cpu_ns + s.sampler.signal_cpu_ns),
        "interval_ns", (long long)s.sampler.interval_ns,
        "stretched_ticks", (unsigned long long)s.sampler.stretched_ticks,
        "profiles_encoded", (unsigned long long)s.profiles_encoded,
        "profiles_exported", (unsigned long long)s.profiles_exported,
        "export_failures", (unsigned long long)s.export_failures,
        "samples_dropped", (unsigned long long)s.samples_dropped,
        "samples_folded", (unsigned long long)s.samples_folded,
        "last_encode_ns", (long long)s.last_encode_ns,
        "last_export_ns", (long long)s.last_export_ns,
        "last_profile_bytes", (Py_ssize_t)s.last_profile_bytes,
        "walker_frames", (unsigned long long)w.frames,
        "code_cache_hits", (unsigned long long)w.code_cache_hits,
        "code_cache_misses", (unsigned long long)w.code_cache_misses,
        "runtime_id", ss_core_runtime_id());
}

static PyMethodDef native_methods[] = {
    {"config", (PyCFunction)(void (*)(void))native_config, METH_VARARGS | METH_KEYWORDS, config_doc},
    {"start", (PyCFunction)(void (*)(void))native_start, METH_VARARGS | METH_KEYWORDS, start_doc},
    {"stop", (PyCFunction)(void (*)(void))native_stop, METH_VARARGS | METH_KEYWORDS, stop_doc},
    {"is_running", native_is_running, METH_NOARGS, "True while the profiler runs."},
    {"after_fork_child", native_after_fork_child, METH_NOARGS,
     "Restart the profiler in a forked child (called from os.register_at_fork)."},
    {"request_flush", native_request_flush, METH_NOARGS, "End the current profile period now."},
    {"drain_log", native_drain_log, METH_NOARGS, "Send queued core warnings to logging."},
    {"set_thread_name", native_set_thread_name, METH_VARARGS, "set_thread_name(ident, name[, native_id])"},
    {"forget_thread", native_forget_thread, METH_VARARGS, "forget_thread(ident)"},
    {"stats", native_stats, METH_NOARGS, "Counters of the running profiler."},
    {"lock_profiling_active", native_lock_profiling_active, METH_NOARGS,
     "True while lock operations are sampled (the proxies should be installed)."},
    {"asyncio_attach", native_asyncio_attach, METH_VARARGS, asyncio_attach_doc},
    {"asyncio_loop_running", native_asyncio_loop_running, METH_O,
     "asyncio_loop_running(loop) -> None: the calling thread now runs loop (None: stopped)."},
    {"event_counts", native_event_counts, METH_NOARGS,
     "Counters of the exception and memory profilers (tests, benchmarks)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "stacksight._native",
    .m_doc = "The stacksight core, bound to CPython.",
    .m_size = -1,
    .m_methods = native_methods,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    /* The running interpreter, which may be a later micro release than the
     * headers this module was built with. */
    snprintf(runtime_version, sizeof runtime_version, "%lu.%lu.%lu", (Py_Version >> 24) & 0xff,
             (Py_Version >> 16) & 0xff, (Py_Version >> 8) & 0xff);
    PyObject *m = PyModule_Create(&native_module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddStringConstant(m, "PROFILER_VERSION", SS_PROFILER_VERSION) < 0 ||
        PyModule_AddStringConstant(m, "RUNTIME_VERSION", runtime_version) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
