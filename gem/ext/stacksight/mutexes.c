/* mutexes.c - the lock profiles (lock-acquire, lock-acquire-wait,
 * lock-release, lock-release-hold) for Thread::Mutex, Monitor and the
 * condition variables that wait on them.
 *
 * Why this file exists: Ruby has no event for lock operations. A module
 * defined here in C is prepended to Thread::Mutex; its lock, try_lock,
 * unlock, synchronize and sleep call the public C functions the stock
 * methods are made of (rb_mutex_lock, rb_mutex_synchronize, ...), so return
 * values, errors ("deadlock; recursive locking", "Attempt to unlock a mutex
 * which is not locked"), deadlock detection and backtraces stay the stock
 * ones; an unsampled call costs a method dispatch and a decrement. Monitor
 * (a C class that locks its own Mutex through C calls) is wrapped in Ruby
 * (lib/stacksight/lock_tracking.rb) with the helpers at the end of this file.
 *
 * Sampling: one acquisition in N, N drawn geometrically with mean
 * 100 / DD_PROFILING_CAPTURE_PCT. A sampled acquisition records
 * lock-acquire = N and lock-acquire-wait = N x wait; its release (unlock,
 * end of synchronize, or Mutex#sleep / ConditionVariable#wait giving the lock
 * up) records lock-release = N and lock-release-hold = N x hold, so every
 * column sums to an unbiased estimate of the true total. Mutex#sleep (and so
 * ConditionVariable#wait) is a release followed by an acquisition whose wait
 * is the whole sleep: time waiting for the signal shows as lock wait, under a
 * stack that shows the wait call. Hold time starts after our stack capture.
 *
 * Lock name: where the lock was created, "file:line:variable" when the
 * source line assigns the new lock to a variable (`@lock = Mutex.new`),
 * else "file:line". Mutex#initialize records the creation site (frame and
 * line, pinned, in a bounded site table) in a hidden instance variable; the
 * name is built the first time a lock of that site is sampled. Locks made by
 * C code (rb_mutex_new) have no site and are named "(unknown)".
 *
 * A sampled acquisition is remembered per thread (a few entries, by object
 * address) until its release; a lock freed or moved by GC.compact while
 * held just loses that one release sample. Everything runs with the GVL. */
#include "events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ruby/debug.h>

#include "core.h"
#include "interner.h"

#define MAX_SITES 4096               /* distinct creation sites named */
#define HELD_MAX 16                  /* sampled locks held at once per thread */

typedef struct lock_site {
    VALUE frame;                     /* creating frame (pinned), 0 = free entry */
    int line;                        /* creating line */
    uint32_t name;                   /* interned lock name, 0 until first sampled */
} lock_site;

typedef struct held_lock {
    VALUE lock;                      /* Mutex or Monitor (not marked; compared only) */
    int64_t since_ns;                /* monotonic time the hold started */
    uint32_t name;                   /* lock name id */
} held_lock;

static lock_site sites[MAX_SITES];   /* [0] is "(unknown)" */
static int nsites = 1;
static int mx_on;                    /* recording */
static double mx_mean;               /* mean acquisitions between samples */
static int64_t mx_weight;            /* rounded mx_mean: one sample's count */
static int64_t mx_countdown;         /* acquisitions until the next sampled one */
static ss_frame *mx_frames;          /* named stack of the sample being recorded */
static _Thread_local held_lock held[HELD_MAX];  /* this thread's sampled holds */
static _Thread_local int nheld;
static ID id_site;                   /* hidden ivar: site index */
static VALUE site_root = Qnil;       /* marks sites[].frame */
static int root_data = 1;            /* Ruby calls dmark only for a non-NULL pointer */

/* ---- creation sites -------------------------------------------------------- */

static void sites_mark(void *p)
{
    (void)p;
    for (int i = 1; i < nsites; i++)
        rb_gc_mark(sites[i].frame);
}

static const rb_data_type_t sites_type = {
    .wrap_struct_name = "stacksight_lock_sites",
    .function = {.dmark = sites_mark, .dfree = NULL, .dsize = NULL},
    .flags = 0,
};

static int path_skipped(VALUE path)
{
    if (!RB_TYPE_P(path, T_STRING))
        return 1;
    const char *s = RSTRING_PTR(path);
    long n = RSTRING_LEN(path);
    static const char *const skip[] = {"/monitor.rb", "/lock_tracking.rb", "<internal:"};
    for (size_t i = 0; i < sizeof skip / sizeof *skip; i++) {
        long k = (long)strlen(skip[i]);
        if (skip[i][0] == '<' ? (n >= k && memcmp(s, skip[i], (size_t)k) == 0)
                              : (n >= k && memcmp(s + n - k, skip[i], (size_t)k) == 0))
            return 1;
    }
    return 0;
}

/* Remember where `lock` is being created: the first Ruby frame outside
 * Monitor's and our own files. */
static void note_site(VALUE lock)
{
    VALUE frames[12];
    int lines[12];
    int n = rb_profile_frames(0, 12, frames, lines);
    int site = 0;
    for (int i = 0; i < n; i++) {
        if (lines[i] <= 0 || path_skipped(rb_profile_frame_path(frames[i])))
            continue;
        for (site = 1; site < nsites; site++)
            if (sites[site].frame == frames[i] && sites[site].line == lines[i])
                break;
        if (site == nsites) {
            if (nsites == MAX_SITES) {
                site = 0;
                break;
            }
            sites[site].frame = frames[i];
            sites[site].line = lines[i];
            sites[site].name = 0;
            nsites++;
        }
        break;
    }
    rb_ivar_set(lock, id_site, INT2FIX(site));
}

/* The variable a source line assigns (`@lock = Mutex.new`), or "". */
static void assigned_variable(const char *path, int line, char *out, size_t outlen)
{
    out[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char buf[512];
    int at = 0;
    while (fgets(buf, sizeof buf, f))
        if (++at == line)
            break;
    fclose(f);
    if (at != line)
        return;
    char *eq = strstr(buf, "=");
    char *made = strstr(buf, ".new");
    if (!eq || !made || made < eq || eq == buf || eq[1] == '=' || eq[1] == '~' || eq[1] == '>' ||
        strchr("!<>=", eq[-1]))
        return;
    char *end = eq;
    while (end > buf && (end[-1] == ' ' || end[-1] == '|' || end[-1] == '&'))
        end--;
    char *start = end;
    while (start > buf && (start[-1] == '_' || start[-1] == '@' || start[-1] == '$' ||
                           (start[-1] >= '0' && start[-1] <= '9') || ((start[-1] | 32) >= 'a' && (start[-1] | 32) <= 'z')))
        start--;
    size_t len = (size_t)(end - start);
    if (len == 0 || len >= outlen)
        return;
    memcpy(out, start, len);
    out[len] = 0;
}

static uint32_t lock_name(VALUE lock)
{
    VALUE v = rb_attr_get(lock, id_site);
    int site = FIXNUM_P(v) ? FIX2INT(v) : 0;
    if (site <= 0 || site >= nsites)
        return ss_intern_cstr("(unknown)");
    lock_site *s = &sites[site];
    if (!s->name) {
        VALUE path = rb_profile_frame_path(s->frame);
        char var[128], name[700];
        const char *p = RB_TYPE_P(path, T_STRING) ? StringValueCStr(path) : "?";
        assigned_variable(p, s->line, var, sizeof var);
        int len = snprintf(name, sizeof name, var[0] ? "%.500s:%d:%s" : "%.500s:%d", p, s->line, var);
        s->name = ss_intern_label(name, (size_t)len);
    }
    return s->name;
}

/* ---- recording ------------------------------------------------------------- */

static void add(uint32_t name, ss_value_kind count_kind, ss_value_kind time_kind, int64_t ns)
{
    uint32_t n = ev_capture_current(0, mx_frames);
    ss_labels labels;
    ev_thread_labels(rb_thread_current(), ev_tid(), &labels);
    labels.lock_name = name;
    int64_t values[SS_VALUE_KINDS] = {0};
    values[count_kind] = mx_weight;
    values[time_kind] = (int64_t)((double)ns * mx_mean);
    ss_aggregator *agg = ss_core_aggregator();   /* nothing above gives up the GVL */
    if (mx_on && agg && n)
        ss_aggregator_add(agg, mx_frames, n, &labels, values);
}

static int sampled(void)
{
    if (!mx_on || --mx_countdown > 0)
        return 0;
    mx_countdown = ss_geometric_interval(mx_mean);
    return 1;
}

typedef struct acq { VALUE lock; int64_t wait_ns; } acq;

static VALUE acquired_body(VALUE p)
{
    acq *a = (acq *)p;
    uint32_t name = lock_name(a->lock);
    add(name, SS_LOCK_ACQUIRE, SS_LOCK_ACQUIRE_WAIT, a->wait_ns);
    if (nheld == HELD_MAX) {   /* forget the oldest (a lock dropped while held) */
        memmove(held, held + 1, (HELD_MAX - 1) * sizeof *held);
        nheld--;
    }
    held[nheld++] = (held_lock){.lock = a->lock, .since_ns = ev_now_ns(), .name = name};
    return Qnil;
}

static void guard(VALUE (*body)(VALUE), VALUE arg)
{
    int state = 0;
    rb_protect(body, arg, &state);
    if (state) {
        rb_set_errinfo(Qnil);
        ev_mutexes_pause();
        ev_fail("lock", "recording a sample raised an error");
    }
}

/* A sampled acquisition of `lock` that waited `wait_ns` has just succeeded. */
static void acquired(VALUE lock, int64_t wait_ns)
{
    acq a = {lock, wait_ns};
    guard(acquired_body, (VALUE)&a);
}

static VALUE released_body(VALUE p)
{
    held_lock *h = (held_lock *)p;
    add(h->name, SS_LOCK_RELEASE, SS_LOCK_RELEASE_HOLD, ev_now_ns() - h->since_ns);
    return Qnil;
}

/* `lock` was just released: record it if its acquisition was sampled. */
static void released(VALUE lock)
{
    for (int i = nheld - 1; i >= 0; i--) {
        if (held[i].lock != lock)
            continue;
        held_lock h = held[i];
        memmove(held + i, held + i + 1, (size_t)(nheld - i - 1) * sizeof *held);
        nheld--;
        if (mx_on)
            guard(released_body, (VALUE)&h);
        return;
    }
}

/* ---- Thread::Mutex methods ---------------------------------------------- */

static VALUE m_initialize(int argc, VALUE *argv, VALUE self)
{
    VALUE r = rb_call_super(argc, argv);
    if (mx_on)
        note_site(self);
    return r;
}

static VALUE sampled_lock(VALUE self)
{
    int64_t t0 = ev_now_ns();
    rb_mutex_lock(self);
    acquired(self, ev_now_ns() - t0);
    return self;
}

static VALUE m_lock(VALUE self)
{
    return sampled() ? sampled_lock(self) : rb_mutex_lock(self);
}

static VALUE m_try_lock(VALUE self)
{
    if (!sampled())
        return rb_mutex_trylock(self);
    VALUE r = rb_mutex_trylock(self);
    if (RTEST(r))
        acquired(self, 0);
    return r;
}

static VALUE m_unlock(VALUE self)
{
    if (!nheld)
        return rb_mutex_unlock(self);
    rb_mutex_unlock(self);
    released(self);
    return self;
}

static VALUE m_synchronize(VALUE self)
{
    if (!rb_block_given_p())
        rb_raise(rb_eThreadError, "must be called with a block");
    if (!sampled())
        return rb_mutex_synchronize(self, rb_yield, Qundef);
    sampled_lock(self);
    return rb_ensure(rb_yield, Qundef, m_unlock, self);
}

static VALUE m_sleep(int argc, VALUE *argv, VALUE self)
{
    VALUE timeout = rb_check_arity(argc, 0, 1) ? argv[0] : Qnil;
    if (nheld)
        released(self);
    /* Locks made in C (Monitor's) are recorded by their Ruby wrapper. */
    if (!sampled() || !FIXNUM_P(rb_attr_get(self, id_site)))
        return rb_mutex_sleep(self, timeout);
    int64_t t0 = ev_now_ns();
    VALUE r = rb_mutex_sleep(self, timeout);
    acquired(self, ev_now_ns() - t0);
    return r;
}

/* ---- helpers for lib/stacksight/lock_tracking.rb (Monitor) -------------- */

/* Native.lock_site(lock) - from Monitor#initialize. */
static VALUE n_lock_site(VALUE mod, VALUE lock)
{
    (void)mod;
    if (mx_on)
        note_site(lock);
    return Qnil;
}

/* Native.lock_sample? -> monotonic ns if this acquisition is sampled, else nil. */
static VALUE n_lock_sample_p(VALUE mod)
{
    (void)mod;
    return sampled() ? LL2NUM(ev_now_ns()) : Qnil;
}

/* Native.lock_acquired(lock, t0) - a sampled acquisition started at t0 (nil: no wait). */
static VALUE n_lock_acquired(VALUE mod, VALUE lock, VALUE t0)
{
    (void)mod;
    if (mx_on)
        acquired(lock, NIL_P(t0) ? 0 : ev_now_ns() - NUM2LL(t0));
    return Qnil;
}

/* Native.lock_held? -> true if this thread holds any sampled lock. */
static VALUE n_lock_held_p(VALUE mod)
{
    (void)mod;
    return nheld ? Qtrue : Qfalse;
}

/* Native.lock_released(lock) - `lock` was (or is about to be) fully released. */
static VALUE n_lock_released(VALUE mod, VALUE lock)
{
    (void)mod;
    if (nheld)
        released(lock);
    return Qnil;
}

/* Native.lock_recording? -> true between start and stop with locks on. */
static VALUE n_lock_recording_p(VALUE mod)
{
    (void)mod;
    return mx_on ? Qtrue : Qfalse;
}

/* ---- lifecycle ------------------------------------------------------------ */

void ev_mutexes_init(VALUE mNative)
{
    id_site = rb_intern("__stacksight_site");   /* no '@': hidden from Ruby */
    site_root = TypedData_Wrap_Struct(rb_cObject, &sites_type, &root_data);
    rb_gc_register_mark_object(site_root);
    rb_define_singleton_method(mNative, "lock_site", n_lock_site, 1);
    rb_define_singleton_method(mNative, "lock_sample?", n_lock_sample_p, 0);
    rb_define_singleton_method(mNative, "lock_acquired", n_lock_acquired, 2);
    rb_define_singleton_method(mNative, "lock_held?", n_lock_held_p, 0);
    rb_define_singleton_method(mNative, "lock_released", n_lock_released, 1);
    rb_define_singleton_method(mNative, "lock_recording?", n_lock_recording_p, 0);
}

/* Prepend the Mutex wrappers once; they forward when not recording. */
static void install(void)
{
    static int installed;
    if (installed)
        return;
    VALUE mod = rb_define_module_under(rb_define_module("Stacksight"), "MutexTracking");
    rb_define_method(mod, "initialize", m_initialize, -1);
    rb_define_method(mod, "lock", m_lock, 0);
    rb_define_method(mod, "try_lock", m_try_lock, 0);
    rb_define_method(mod, "unlock", m_unlock, 0);
    rb_define_method(mod, "synchronize", m_synchronize, 0);
    rb_define_method(mod, "sleep", m_sleep, -1);
    rb_prepend_module(rb_path2class("Thread::Mutex"), mod);
    installed = 1;
}

int ev_mutexes_start(const ss_config *cfg)
{
    if (!cfg->lock_enabled || !(cfg->capture_pct > 0))
        return 0;
    ss_frame *f = realloc(mx_frames, (size_t)ev_max_frames() * sizeof *f);
    if (!f) {
        ev_fail("lock", "out of memory");
        return -1;
    }
    mx_frames = f;
    mx_mean = 100.0 / cfg->capture_pct;
    mx_weight = (int64_t)(mx_mean + 0.5);
    mx_countdown = ss_geometric_interval(mx_mean);
    install();
    mx_on = 1;
    return 0;
}

void ev_mutexes_pause(void)
{
    mx_on = 0;
}
