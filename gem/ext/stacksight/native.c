/* native.c - Stacksight::Native, the only Ruby-visible part of the extension.
 *
 * Translates between Ruby and the shared core: builds the ss_config from the
 * environment and keyword arguments, starts and stops the core with the Ruby
 * sampler (threads.c), keeps the thread table current with a thread-begin/
 * -end TracePoint, and hands the core's warnings to Ruby. Fork and exec
 * support is called from Ruby wrappers of Process._fork, Process.daemon and
 * exec (lib/stacksight/hooks.rb). */
#define _GNU_SOURCE
#include "rb_stacksight.h"
#include "events.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <ruby/debug.h>
#include <ruby/thread.h>
#include <ruby/version.h>

#include "config.h"
#include "core.h"
#include "log.h"
#include "thread_clock.h"

static ss_config env_config;      /* the environment, parsed (and warned about) once */
static int env_loaded;
static ss_config run_config;      /* configuration of the running profiler */
static ss_binding binding;        /* what the core calls back */
static char runtime_version[32];  /* RUBY_VERSION */
static VALUE thread_hook = Qnil;  /* TracePoint on thread begin/end */
static int wake_pipe[2] = {-1, -1};   /* sidecar/logger -> helper thread */
static int atfork_done;           /* our pthread_atfork registered */
static int stopped_for_exec;      /* before_exec stopped a running profiler */
static ID id_name, id_native_thread_id, id_list;

/* ---- threads -------------------------------------------------------------- */

static void register_thread(VALUE thread, pid_t tid, int excluded)
{
    VALUE name = rb_funcall(thread, id_name, 0);
    int64_t oid = NUM2LL(rb_obj_id(thread));
    if (NIL_P(name) && thread == rb_thread_main())
        name = rb_str_new_cstr("main");
    if (RB_TYPE_P(name, T_STRING))
        rt_thread_register(tid, oid, RSTRING_PTR(name), (size_t)RSTRING_LEN(name), excluded);
    else
        rt_thread_register(tid, oid, NULL, 0, excluded);
}

static void on_thread_event(VALUE tpval, void *data)
{
    (void)data;
    rb_trace_arg_t *arg = rb_tracearg_from_tracepoint(tpval);
    if (rb_tracearg_event_flag(arg) == RUBY_EVENT_THREAD_BEGIN)
        register_thread(rb_thread_current(), ss_gettid(), 0);
    else
        rt_thread_unregister(ss_gettid());
}

static void register_all_threads(void)
{
    VALUE list = rb_funcall(rb_cThread, id_list, 0);
    for (long i = 0; i < RARRAY_LEN(list); i++) {
        VALUE t = rb_ary_entry(list, i);
        VALUE nid = rb_funcall(t, id_native_thread_id, 0);
        if (RB_INTEGER_TYPE_P(nid))
            register_thread(t, (pid_t)NUM2INT(nid), 0);
    }
}

/* Stacksight::Native.thread_named(native_id, name) - from Thread#name=. */
static VALUE native_thread_named(VALUE self, VALUE nid, VALUE name)
{
    (void)self;
    if (RB_INTEGER_TYPE_P(nid) && RB_TYPE_P(name, T_STRING))
        rt_thread_set_name((pid_t)NUM2INT(nid), RSTRING_PTR(name), (size_t)RSTRING_LEN(name));
    return Qnil;
}

/* Stacksight::Native.exclude_current_thread - the helper thread. */
static VALUE native_exclude_current_thread(VALUE self)
{
    (void)self;
    register_thread(rb_thread_current(), ss_gettid(), 1);
    return Qnil;
}

/* ---- logs and the helper's wake-up pipe ----------------------------------- */

static void log_notify(void)
{
    rt_wake_helper();
}

static int open_wake_pipe(void)
{
    if (wake_pipe[0] >= 0) {
        close(wake_pipe[0]);
        close(wake_pipe[1]);
        wake_pipe[0] = wake_pipe[1] = -1;
    }
    if (pipe2(wake_pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
        wake_pipe[0] = wake_pipe[1] = -1;
        return -1;
    }
    rt_set_wake_fd(wake_pipe[1]);
    return 0;
}

/* Stacksight::Native.wake_fd -> Integer or nil */
static VALUE native_wake_fd(VALUE self)
{
    (void)self;
    return wake_pipe[0] >= 0 ? INT2NUM(wake_pipe[0]) : Qnil;
}

/* Stacksight::Native.pop_logs -> [[level, message], ...]; level 0 debug, 1 info, 2 warn */
static VALUE native_pop_logs(VALUE self)
{
    (void)self;
    VALUE out = rb_ary_new();
    char buf[600];
    int level;
    while ((level = ss_log_pop(buf, sizeof buf)) >= 0)
        rb_ary_push(out, rb_assoc_new(INT2NUM(level), rb_str_new_cstr(buf)));
    unsigned dropped = ss_log_dropped();
    if (dropped) {
        snprintf(buf, sizeof buf, "stacksight: %u warnings were dropped (too many at once)", dropped);
        rb_ary_push(out, rb_assoc_new(INT2NUM(SS_LOG_WARNING), rb_str_new_cstr(buf)));
    }
    return out;
}

/* Stacksight::Native.resolve -> number of stacks resolved */
static VALUE native_resolve(VALUE self)
{
    (void)self;
    ev_allocations_resolve();
    return INT2NUM(rt_resolve_pending());
}

/* ---- configuration ------------------------------------------------------ */

static void load_env_once(void)
{
    if (env_loaded)
        return;
    ss_config_init(&env_config, SS_LANG_RUBY);
    ss_config_load_env(&env_config);
    env_loaded = 1;
}

static VALUE opt(VALUE opts, const char *key)
{
    return rb_hash_lookup2(opts, ID2SYM(rb_intern(key)), Qnil);
}

static void set_string(ss_config *cfg, VALUE opts, const char *key)
{
    VALUE v = opt(opts, key);
    if (NIL_P(v))
        return;
    v = rb_obj_as_string(v);
    const char *err = ss_config_set_string(cfg, key, StringValueCStr(v));
    if (err)
        rb_raise(rb_eArgError, "stacksight: %s %+" PRIsVALUE ": %s", key, v, err);
}

static int add_tag_pair(VALUE k, VALUE v, VALUE arg)
{
    ss_config *cfg = (ss_config *)arg;
    VALUE ks = rb_obj_as_string(k), vs = rb_obj_as_string(v);
    const char *err = ss_config_add_tag(cfg, StringValueCStr(ks), StringValueCStr(vs));
    if (err)
        rb_raise(rb_eArgError, "stacksight: tag %" PRIsVALUE ": %s", ks, err);
    return ST_CONTINUE;
}

static double num_opt(VALUE opts, const char *key, double min, double max, double dflt)
{
    VALUE v = opt(opts, key);
    if (NIL_P(v))
        return dflt;
    if (!rb_obj_is_kind_of(v, rb_cNumeric))
        rb_raise(rb_eArgError, "stacksight: %s must be a number, not %" PRIsVALUE, key, rb_obj_class(v));
    double d = NUM2DBL(v);
    if (!(d >= min && d <= max))
        rb_raise(rb_eArgError, "stacksight: %s must be between %g and %g (got %g)", key, min, max, d);
    return d;
}

static void build_config(ss_config *cfg, VALUE opts)
{
    load_env_once();
    *cfg = env_config;
    set_string(cfg, opts, "service");
    set_string(cfg, opts, "env");
    set_string(cfg, opts, "version");
    set_string(cfg, opts, "url");
    set_string(cfg, opts, "output_pprof");
    VALUE tags = opt(opts, "tags");
    if (RB_TYPE_P(tags, T_HASH))
        rb_hash_foreach(tags, add_tag_pair, (VALUE)cfg);
    else if (RB_TYPE_P(tags, T_STRING))
        ss_config_parse_tags(cfg, StringValueCStr(tags), "tags");
    else if (!NIL_P(tags))
        rb_raise(rb_eArgError, "stacksight: tags must be a Hash or a \"k:v,k:v\" String");
    cfg->upload_period_ns = (int64_t)(num_opt(opts, "upload_period", 0.01, 86400,
                                              (double)cfg->upload_period_ns / 1e9) * 1e9);
    cfg->sample_hz = (int)num_opt(opts, "sample_hz", 1, 10000, cfg->sample_hz);
    cfg->max_frames = (int)num_opt(opts, "max_frames", 1, 10000, cfg->max_frames);
    cfg->overhead_pct = num_opt(opts, "overhead_target_percentage", 0.01, 100, cfg->overhead_pct);
    /* Event profiles (events.h): true/false switches, lock capture %, heap sample bytes. */
    static const char *const switches[] = {"exception_enabled", "lock_enabled", "allocation_enabled", "heap_enabled"};
    int *fields[] = {&cfg->exception_enabled, &cfg->lock_enabled, &cfg->memory_enabled, &cfg->heap_enabled};
    for (int i = 0; i < 4; i++) {
        VALUE v = opt(opts, switches[i]);
        if (v == Qtrue || v == Qfalse)
            *fields[i] = v == Qtrue;
        else if (!NIL_P(v))
            rb_raise(rb_eArgError, "stacksight: %s must be true or false", switches[i]);
    }
    cfg->capture_pct = num_opt(opts, "capture_pct", 0, 100, cfg->capture_pct);
    cfg->heap_sample_bytes = (int64_t)num_opt(opts, "heap_sample_size", 1, 1099511627776.0, (double)cfg->heap_sample_bytes);
    VALUE dflt = opt(opts, "default_service");
    if (!cfg->service[0] && RB_TYPE_P(dflt, T_STRING))
        ss_config_set_string(cfg, "service", StringValueCStr(dflt));
}

/* ---- lifecycle ------------------------------------------------------------ */

static void before_fork(void) { pthread_mutex_lock(&rt_table_lock); }
static void after_fork_parent(void) { pthread_mutex_unlock(&rt_table_lock); }
static void after_fork_child(void) { pthread_mutex_init(&rt_table_lock, NULL); }

static int pool_slots(const ss_config *cfg)
{
    /* Captures wait for the resolver up to about one GVL time slice
     * (100 ms) plus its wake-up interval; hold 0.3 s worth of them. */
    int n = (int)(cfg->sample_hz * 0.3);
    return n < 64 ? 64 : n > 1024 ? 1024 : n;
}

static const char *prepare(const ss_config *cfg)
{
    const char *why = rt_capture_install();
    if (why)
        return why;
    if (rt_pool_ensure(pool_slots(cfg), cfg->max_frames) != 0 || rt_threads_init(cfg->max_frames) != 0)
        return "out of memory for the capture buffers";
    rt_pool_reset();
    rt_threads_reset();
    if (open_wake_pipe() != 0)
        return "cannot create the helper's pipe";
    rt_threads_configure(cfg->overhead_pct, wake_pipe[1]);
    return NULL;
}

static VALUE start_with(const ss_config *cfg)
{
    const char *why = prepare(cfg);
    if (why)
        return rb_str_new_cstr(why);
    register_all_threads();
    binding.family = "ruby";
    binding.runtime = "ruby";
    binding.runtime_version = runtime_version;
    binding.origin = "stacksight-ruby";
    binding.ctx = NULL;
    binding.sample_threads = rt_sample_threads;
    binding.period_end = cfg->heap_enabled ? ev_allocations_period_end : NULL;
    binding.extra_values = 0;
    if (ev_prepare(cfg->max_frames) != 0)
        return rb_str_new_cstr("out of memory for the event profiles' buffers");
    if (cfg->exception_enabled)
        binding.extra_values |= SS_MASK(SS_EXCEPTION_SAMPLES);
    if (cfg->lock_enabled)
        binding.extra_values |= SS_MASK(SS_LOCK_ACQUIRE) | SS_MASK(SS_LOCK_ACQUIRE_WAIT) |
                                SS_MASK(SS_LOCK_RELEASE) | SS_MASK(SS_LOCK_RELEASE_HOLD);
    if (cfg->memory_enabled)
        binding.extra_values |= SS_MASK(SS_ALLOC_SAMPLES) | SS_MASK(SS_ALLOC_SPACE);
    if (cfg->heap_enabled)
        binding.extra_values |= SS_MASK(SS_HEAP_LIVE_SAMPLES) | SS_MASK(SS_HEAP_SPACE);
    binding.cpu_timers = 1;   /* CPU charged at CPU-clock timer captures (capture.c) */
    char err[256];
    if (ss_core_start(cfg, &binding, err, sizeof err) != 0)
        return rb_str_new_cstr(err);
    /* Each logs why it cannot start; the others and the application go on. */
    ev_exceptions_start(cfg);
    ev_mutexes_start(cfg);
    ev_allocations_start(cfg);
    if (!atfork_done) {
        /* After the core's: prepare handlers run in reverse order, so the
         * table lock is taken before the core's locks, as the sidecar does. */
        pthread_atfork(before_fork, after_fork_parent, after_fork_child);
        atfork_done = 1;
    }
    ss_log_set_notify(log_notify);
    rb_tracepoint_enable(thread_hook);
    return Qnil;
}

/* Stacksight::Native.start(opts) -> nil, or a String saying why not */
static VALUE native_start(VALUE self, VALUE opts)
{
    (void)self;
    Check_Type(opts, T_HASH);
    if (ss_core_running())
        return rb_str_new_cstr("a profiler is already running in this process");
    build_config(&run_config, opts);
    stopped_for_exec = 0;
    return start_with(&run_config);
}

static void *stop_without_gvl(void *flush)
{
    ss_core_stop(flush != NULL);
    return NULL;
}

static void stop_core(int flush)
{
    rb_tracepoint_disable(thread_hook);
    ev_exceptions_pause();
    ev_mutexes_pause();
    ev_allocations_resolve();
    ev_allocations_pause();
    rt_resolve_pending();
    rb_thread_call_without_gvl(stop_without_gvl, flush ? (void *)1 : NULL, RUBY_UBF_IO, NULL);
    ev_allocations_stop();
    ss_log_set_notify(NULL);
}

/* Stacksight::Native.stop(flush) */
static VALUE native_stop(VALUE self, VALUE flush)
{
    (void)self;
    if (ss_core_running())
        stop_core(RTEST(flush));
    return Qnil;
}

static VALUE native_running_p(VALUE self)
{
    (void)self;
    return ss_core_running() ? Qtrue : Qfalse;
}

/* Stacksight::Native.after_fork_child -> true if the profiler restarted */
static VALUE native_after_fork_child(VALUE self)
{
    (void)self;
    if (!ss_core_needs_restart_in_child())
        return Qfalse;
    rt_pool_reset();
    rt_threads_reset();
    if (open_wake_pipe() != 0) {
        ss_core_stop(0);
        return Qfalse;
    }
    register_thread(rb_thread_current(), ss_gettid(), 0);
    return ss_core_restart_in_child() == 0 ? Qtrue : Qfalse;
}

/* Stacksight::Native.before_exec - stop (flushing; the sampler deletes the
 * CPU timers) and drop pending SIGPROFs, which would otherwise survive execve
 * and kill the new program. */
static VALUE native_before_exec(VALUE self)
{
    (void)self;
    if (ss_core_running()) {
        stop_core(1);
        stopped_for_exec = 1;
    }
    rt_capture_discard_pending();
    return Qnil;
}

/* Stacksight::Native.after_failed_exec - exec raised; profile again. */
static VALUE native_after_failed_exec(VALUE self)
{
    (void)self;
    if (!stopped_for_exec || ss_core_running())
        return Qnil;
    stopped_for_exec = 0;
    return start_with(&run_config);
}

/* Stacksight::Native.stats -> Hash of counters (tests, benchmarks) */
static VALUE native_stats(VALUE self)
{
    (void)self;
    ss_core_stats s;
    ss_core_get_stats(&s);
    VALUE h = rb_hash_new();
#define PUT(k, v) rb_hash_aset(h, ID2SYM(rb_intern(k)), ULL2NUM((unsigned long long)(v)))
    PUT("ticks", s.sampler.ticks);
    PUT("thread_samples", s.sampler.thread_samples);
    PUT("sampler_cpu_ns", s.sampler.cpu_ns);
    PUT("upload_cpu_ns", s.sampler.upload_cpu_ns);
    PUT("signal_cpu_ns", s.sampler.signal_cpu_ns);
    PUT("interval_ns", s.sampler.interval_ns);
    PUT("profiles_exported", s.profiles_exported);
    PUT("export_failures", s.export_failures);
    PUT("signals", rt_stat_requests());
    PUT("skipped", rt_stat_skipped());
    PUT("torn", rt_stat_torn());
    PUT("allocation_samples_dropped", ev_allocations_dropped());
    PUT("heap_samples_untracked", ev_allocations_untracked());
    PUT("cpu_slices", rt_stat_slices());
    PUT("cpu_captures", rt_stat_attached());
    PUT("cpu_timers", s.sampler.cpu_timers);
#undef PUT
    return h;
}

/* Stacksight::Native.wake - wake the helper thread (so it can exit). */
static VALUE native_wake(VALUE self)
{
    (void)self;
    rt_wake_helper();
    return Qnil;
}

/* Stacksight::Native.env_enabled -> true/false, nil when unset or invalid.
 * Parses (and warns about) the whole environment once. */
static VALUE native_env_enabled(VALUE self)
{
    (void)self;
    load_env_once();
    int b;
    const char *v = getenv("DD_PROFILING_ENABLED");
    if (!v || ss_parse_bool(v, &b) != 0)
        return Qnil;
    return b ? Qtrue : Qfalse;
}

/* Stacksight::Native.flush - end the current period now (tests). */
static VALUE native_flush(VALUE self)
{
    (void)self;
    ev_allocations_resolve();
    rt_resolve_pending();
    ss_core_request_flush();
    return Qnil;
}

__attribute__((visibility("default"))) void Init_stacksight_native(void)
{
    VALUE mStacksight = rb_define_module("Stacksight");
    VALUE mNative = rb_define_module_under(mStacksight, "Native");
    id_name = rb_intern("name");
    id_native_thread_id = rb_intern("native_thread_id");
    id_list = rb_intern("list");
    snprintf(runtime_version, sizeof runtime_version, "%s", ruby_version);
    rt_resolve_init(mNative);
    rt_park_init(mNative);
    thread_hook = rb_tracepoint_new(Qnil, RUBY_EVENT_THREAD_BEGIN | RUBY_EVENT_THREAD_END, on_thread_event, NULL);
    rb_gc_register_address(&thread_hook);
    ev_exceptions_init(mNative);
    ev_mutexes_init(mNative);
    ev_allocations_init(mNative);
    rb_define_const(mNative, "PROFILER_VERSION", rb_str_new_cstr(SS_PROFILER_VERSION));
    rb_define_singleton_method(mNative, "start", native_start, 1);
    rb_define_singleton_method(mNative, "stop", native_stop, 1);
    rb_define_singleton_method(mNative, "running?", native_running_p, 0);
    rb_define_singleton_method(mNative, "resolve", native_resolve, 0);
    rb_define_singleton_method(mNative, "pop_logs", native_pop_logs, 0);
    rb_define_singleton_method(mNative, "wake_fd", native_wake_fd, 0);
    rb_define_singleton_method(mNative, "thread_named", native_thread_named, 2);
    rb_define_singleton_method(mNative, "exclude_current_thread", native_exclude_current_thread, 0);
    rb_define_singleton_method(mNative, "after_fork_child", native_after_fork_child, 0);
    rb_define_singleton_method(mNative, "before_exec", native_before_exec, 0);
    rb_define_singleton_method(mNative, "after_failed_exec", native_after_failed_exec, 0);
    rb_define_singleton_method(mNative, "stats", native_stats, 0);
    rb_define_singleton_method(mNative, "flush", native_flush, 0);
    rb_define_singleton_method(mNative, "wake", native_wake, 0);
    rb_define_singleton_method(mNative, "env_enabled", native_env_enabled, 0);
}
