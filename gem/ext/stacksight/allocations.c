/* allocations.c - the memory profiles: Allocations (alloc-samples),
 * Allocated Memory (alloc-space), Heap Live Size (heap-live-samples,
 * heap-space).
 *
 * Why this file exists: Ruby reports every new object to
 * RUBY_INTERNAL_EVENT_NEWOBJ hooks and every freed one to
 * RUBY_INTERNAL_EVENT_FREEOBJ hooks. Those hooks run inside the allocator
 * and the sweeper: they may not allocate Ruby objects nor run Ruby code.
 *
 * Sampling: objects are sampled one in N, N drawn geometrically with mean
 * DD_PROFILING_HEAP_SAMPLE_SIZE / 40 (every Ruby object takes a 40-byte
 * slot), so an unsampled allocation costs the hook call and a decrement.
 * Internal objects (T_IMEMO, hidden) are counted down but not reported, so
 * alloc-samples (N per sample) estimates the Ruby-visible objects created.
 * A sampled allocation is captured in the hook into a preallocated pending
 * slot (rb_profile_frames, class, thread; frame objects pinned by a GC root)
 * and named by a postponed job on the same thread (or the helper thread),
 * where allocating is allowed. alloc-space is N x the object's size
 * (ObjectSpace.memsize_of: slot plus malloc'd content) measured when named,
 * i.e. a few instructions after `new` returned - at NEWOBJ time the object
 * is still empty; if it died before, the 40-byte slot.
 *
 * Heap: sampled objects stay in a bounded table keyed by address (never a
 * reference: the table does not keep anything alive) until FREEOBJ reports
 * them. At the end of every period the upload thread (no GVL, table under a
 * mutex) adds heap-live-samples = N and heap-space = N x size per live entry.
 * GC.compact moves objects without FREEOBJ: the GC root's compaction
 * callback (dcompact) asks rb_gc_location for every tracked address - each
 * names a live object, since freed ones were removed - and re-keys the table,
 * as Ruby's own weak maps do. */
#define _GNU_SOURCE
#include "events.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <ruby/debug.h>

#include "core.h"
#include "log.h"

#define SLOT_BYTES 40            /* sizeof(RVALUE) on 64-bit Ruby 3.1 */
#define PENDING_MAX 64           /* samples waiting to be named */
#define HEAP_SLOTS (1u << 16)    /* open addressing, power of two */
#define HEAP_MAX (HEAP_SLOTS / 2)  /* live sampled objects tracked at most */

typedef struct pending_alloc {
    int filled;                  /* 1 from the hook until named */
    int freed;                   /* FREEOBJ came before naming */
    VALUE obj;                   /* the new object's address (not marked) */
    VALUE klass;                 /* its class (marked while filled) */
    VALUE thread;                /* allocating thread (marked while filled) */
    pid_t tid;                   /* its OS id */
    int n;                       /* frames captured */
    VALUE *frames;               /* ev_max_frames() frame objects (marked while filled) */
    int *lines;                  /* their lines */
} pending_alloc;

typedef struct heap_entry {
    VALUE obj;                   /* address of a live sampled object; 0 = empty */
    int pending;                 /* its pending slot until named, else -1 */
    uint32_t nframes;            /* frames in `frames` */
    ss_frame *frames;            /* named stack (malloc), NULL until named */
    ss_labels labels;            /* thread and class name labels */
    int64_t size;                /* bytes when named */
} heap_entry;

static VALUE newobj_hook = Qnil, freeobj_hook = Qnil;  /* the two TracePoints */
static int al_on;                /* sampling allocations (NEWOBJ enabled) */
static int heap_on;              /* reporting the live heap */
static int report_allocs;        /* alloc-* rows wanted (DD_PROFILING_ALLOCATION_ENABLED) */
static int busy;                 /* naming: our own allocations are not sampled */
static double al_mean;           /* mean objects between samples */
static int64_t al_weight;        /* rounded al_mean */
static int64_t al_countdown;     /* objects until the next sampled one */
static pending_alloc pending[PENDING_MAX];
static int npending;             /* filled pending slots */
static int pending_frames;       /* capacity of each slot's arrays */
static ss_frame *al_frames;      /* named stack being recorded */
static heap_entry *heap;         /* HEAP_SLOTS entries; writers hold the GVL */
static uint32_t heap_count;      /* used entries */
static pthread_mutex_t heap_lock = PTHREAD_MUTEX_INITIALIZER;  /* writers vs period_end */
static size_t (*memsize_of)(VALUE);   /* rb_obj_memsize_of if libruby exports it */
static unsigned long long dropped;    /* samples lost: every pending slot was taken */
static unsigned long long untracked;  /* samples left out of the heap profile: table full */

/* ---- heap table ------------------------------------------------------------ */

static uint32_t hslot(VALUE obj) { return (uint32_t)((obj >> 3) * 2654435761u) & (HEAP_SLOTS - 1); }

static heap_entry *heap_find(VALUE obj)
{
    for (uint32_t h = hslot(obj);; h = (h + 1) & (HEAP_SLOTS - 1)) {
        if (heap[h].obj == obj)
            return &heap[h];
        if (!heap[h].obj)
            return NULL;
    }
}

/* Caller holds heap_lock and checked heap_count < HEAP_MAX. */
static heap_entry *heap_insert(VALUE obj)
{
    uint32_t h = hslot(obj);
    while (heap[h].obj && heap[h].obj != obj)
        h = (h + 1) & (HEAP_SLOTS - 1);
    if (!heap[h].obj)
        heap_count++;
    else
        free(heap[h].frames);   /* a stale entry for a reused address */
    memset(&heap[h], 0, sizeof heap[h]);
    heap[h].obj = obj;
    heap[h].pending = -1;
    return &heap[h];
}

/* Caller holds heap_lock. Backward-shift deletion keeps probes short. */
static void heap_remove(heap_entry *e)
{
    free(e->frames);
    uint32_t i = (uint32_t)(e - heap);
    for (uint32_t j = (i + 1) & (HEAP_SLOTS - 1); heap[j].obj; j = (j + 1) & (HEAP_SLOTS - 1)) {
        uint32_t home = hslot(heap[j].obj);
        if (((j - home) & (HEAP_SLOTS - 1)) >= ((j - i) & (HEAP_SLOTS - 1))) {
            heap[i] = heap[j];
            i = j;
        }
    }
    memset(&heap[i], 0, sizeof heap[i]);
    heap_count--;
}

static void heap_clear(void)
{
    pthread_mutex_lock(&heap_lock);
    for (uint32_t i = 0; heap && i < HEAP_SLOTS; i++)
        free(heap[i].frames);
    if (heap)
        memset(heap, 0, HEAP_SLOTS * sizeof *heap);
    heap_count = 0;
    pthread_mutex_unlock(&heap_lock);
}

/* ---- GC root: marks pending captures, follows compaction ------------------ */

static void root_mark(void *p)
{
    (void)p;
    for (int i = 0; i < PENDING_MAX; i++) {
        pending_alloc *s = &pending[i];
        if (!s->filled)
            continue;
        rb_gc_mark(s->klass);
        rb_gc_mark(s->thread);
        for (int j = 0; j < s->n; j++)
            rb_gc_mark(s->frames[j]);
    }
}

static void root_compact(void *p)
{
    (void)p;
    for (int i = 0; i < PENDING_MAX; i++)
        if (pending[i].filled && !pending[i].freed)
            pending[i].obj = rb_gc_location(pending[i].obj);
    if (!heap_count)
        return;
    heap_entry *moved = malloc(heap_count * sizeof *moved);
    pthread_mutex_lock(&heap_lock);
    if (!moved) {   /* cannot re-key: forget the heap rather than report stale addresses */
        pthread_mutex_unlock(&heap_lock);
        heap_clear();
        return;
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < HEAP_SLOTS; i++) {
        if (!heap[i].obj)
            continue;
        moved[n] = heap[i];
        moved[n++].obj = rb_gc_location(heap[i].obj);
    }
    memset(heap, 0, HEAP_SLOTS * sizeof *heap);
    heap_count = 0;
    for (uint32_t i = 0; i < n; i++) {
        heap_entry *e = heap_insert(moved[i].obj);
        *e = moved[i];
        if (e->pending >= 0)
            pending[e->pending].obj = e->obj;
    }
    pthread_mutex_unlock(&heap_lock);
    free(moved);
}

static int root_data = 1;        /* dcompact is only called for a non-NULL pointer */

static const rb_data_type_t root_type = {
    .wrap_struct_name = "stacksight_allocation_root",
    .function = {.dmark = root_mark, .dfree = NULL, .dsize = NULL, .dcompact = root_compact},
    .flags = 0,
};

/* ---- hooks (inside the allocator / sweeper: no Ruby allocation) ------------ */

static void name_pending(void *data);

/* Ruby 3.3 replaced rb_postponed_job_register_one (deprecated, an error
 * under -Werror) by a handle registered once and triggered from the hook. */
#ifdef HAVE_RB_POSTPONED_JOB_PREREGISTER
static rb_postponed_job_handle_t naming_job = POSTPONED_JOB_HANDLE_INVALID;
static void schedule_naming(void)
{
    if (naming_job != POSTPONED_JOB_HANDLE_INVALID)
        rb_postponed_job_trigger(naming_job);
}
#else
static void schedule_naming(void)
{
    rb_postponed_job_register_one(0, name_pending, NULL);
}
#endif

static void on_newobj(VALUE tpval, void *data)
{
    (void)data;
    if (!al_on || busy || --al_countdown > 0)
        return;
    al_countdown = ss_geometric_interval(al_mean);
    VALUE obj = rb_tracearg_object(rb_tracearg_from_tracepoint(tpval));
    VALUE klass = RBASIC_CLASS(obj);
    if (!klass || RB_BUILTIN_TYPE(obj) == T_IMEMO || RB_BUILTIN_TYPE(obj) == T_NODE)
        return;
    int i = 0;
    while (i < PENDING_MAX && pending[i].filled)
        i++;
    if (i == PENDING_MAX) {
        dropped++;
        return;
    }
    /* A full heap table costs the heap profile this object, never the
     * allocation profile its sample: dropping samples whenever the table is
     * full took them from whichever code allocated at that moment. */
    int track = heap_on && heap_count < HEAP_MAX;
    if (heap_on && !track)
        untracked++;
    pending_alloc *s = &pending[i];
    s->obj = obj;
    s->klass = klass;
    s->thread = rb_thread_current();
    s->tid = ev_tid();
    s->freed = 0;
    s->n = rb_profile_frames(0, pending_frames, s->frames, s->lines);
    if (track) {
        pthread_mutex_lock(&heap_lock);
        heap_insert(obj)->pending = i;
        pthread_mutex_unlock(&heap_lock);
    }
    s->filled = 1;
    npending++;
    schedule_naming();
}

static void on_freeobj(VALUE tpval, void *data)
{
    (void)data;
    if (!heap_count && !npending)
        return;
    VALUE obj = rb_tracearg_object(rb_tracearg_from_tracepoint(tpval));
    /* A sample not named yet must not be measured once its slot is freed
     * (it may hold another object by then). Few are pending, briefly. */
    for (int i = 0; npending && i < PENDING_MAX; i++)
        if (pending[i].filled && pending[i].obj == obj)
            pending[i].freed = 1;
    if (!heap_count)
        return;
    heap_entry *e = heap_find(obj);   /* GVL: no other writer */
    if (!e)
        return;
    pthread_mutex_lock(&heap_lock);
    heap_remove(e);
    pthread_mutex_unlock(&heap_lock);
}

/* ---- naming (GVL, may allocate) -------------------------------------------- */

static VALUE name_one(VALUE idx)
{
    pending_alloc *s = &pending[NUM2INT(idx)];
    uint32_t n = ev_name_frames(s->frames, s->lines, s->n, al_frames);
    ss_labels labels;
    ev_thread_labels(s->thread, s->tid, &labels);
    labels.class_name = ev_class_label(s->klass);
    int64_t size = (!s->freed && memsize_of) ? (int64_t)memsize_of(s->obj) : SLOT_BYTES;
    ss_aggregator *agg = ss_core_aggregator();   /* nothing above gives up the GVL */
    if (report_allocs && al_on && agg && n) {
        int64_t values[SS_VALUE_KINDS] = {0};
        values[SS_ALLOC_SAMPLES] = al_weight;
        values[SS_ALLOC_SPACE] = al_weight * size;
        ss_aggregator_add(agg, al_frames, n, &labels, values);
    }
    if (s->freed)
        return Qnil;
    ss_frame *copy = (heap_on && n) ? malloc(n * sizeof *copy) : NULL;
    if (copy)
        memcpy(copy, al_frames, n * sizeof *copy);
    pthread_mutex_lock(&heap_lock);
    heap_entry *e = heap_find(s->obj);
    if (e && copy) {
        e->pending = -1;
        e->frames = copy;
        e->nframes = n;
        e->labels = labels;
        e->size = size;
    } else {
        free(copy);
        if (e)
            heap_remove(e);
    }
    pthread_mutex_unlock(&heap_lock);
    return Qnil;
}

void ev_allocations_pause(void);

/* Losses are said once each (nothing is dropped silently). Named context:
 * the hook itself must not log. */
static void warn_losses(void)
{
    if (dropped)
        ss_log_once(SS_LOG_WARNING, "allocation-dropped",
                    "stacksight: allocation samples were dropped: more than %d waited to be named at once",
                    PENDING_MAX);
    if (untracked)
        ss_log_once(SS_LOG_WARNING, "heap-untracked",
                    "stacksight: the heap profile tracks at most %u sampled objects; newer ones are left out "
                    "of heap-live (raise DD_PROFILING_HEAP_SAMPLE_SIZE)", (unsigned)HEAP_MAX);
}

static void name_pending(void *data)
{
    (void)data;
    if (!npending || busy)
        return;
    busy = 1;
    warn_losses();
    for (int i = 0; i < PENDING_MAX; i++) {
        if (!pending[i].filled)
            continue;
        int state = 0;
        rb_protect(name_one, INT2FIX(i), &state);
        pending[i].filled = 0;
        npending--;
        if (state) {
            rb_set_errinfo(Qnil);
            ev_allocations_pause();
            ev_fail("allocation", "naming a sample raised an error");
        }
    }
    busy = 0;
}

void ev_allocations_resolve(void)
{
    name_pending(NULL);
}

/* ---- upload thread --------------------------------------------------------- */

void ev_allocations_period_end(void *ctx, ss_profile_buffer *buf)
{
    (void)ctx;
    if (!heap_on)
        return;
    pthread_mutex_lock(&heap_lock);
    for (uint32_t i = 0; heap && i < HEAP_SLOTS; i++) {
        heap_entry *e = &heap[i];
        if (!e->obj || !e->frames)
            continue;
        int64_t values[SS_VALUE_KINDS] = {0};
        values[SS_HEAP_LIVE_SAMPLES] = al_weight;
        values[SS_HEAP_SPACE] = al_weight * e->size;
        ss_buffer_add(buf, e->frames, e->nframes, &e->labels, values);
    }
    pthread_mutex_unlock(&heap_lock);
}

/* ---- lifecycle ------------------------------------------------------------- */

static void before_fork(void) { pthread_mutex_lock(&heap_lock); }
static void after_fork_parent(void) { pthread_mutex_unlock(&heap_lock); }
static void after_fork_child(void) { pthread_mutex_init(&heap_lock, NULL); }

static VALUE native_allocations_off(VALUE self, VALUE why);

void ev_allocations_init(VALUE mNative)
{
    newobj_hook = rb_tracepoint_new(Qnil, RUBY_INTERNAL_EVENT_NEWOBJ, on_newobj, NULL);
    rb_gc_register_address(&newobj_hook);
    rb_define_singleton_method(mNative, "allocations_off", native_allocations_off, 1);
    freeobj_hook = rb_tracepoint_new(Qnil, RUBY_INTERNAL_EVENT_FREEOBJ, on_freeobj, NULL);
    rb_gc_register_address(&freeobj_hook);
    rb_gc_register_mark_object(TypedData_Wrap_Struct(rb_cObject, &root_type, &root_data));
    *(void **)&memsize_of = dlsym(RTLD_DEFAULT, "rb_obj_memsize_of");
#ifdef HAVE_RB_POSTPONED_JOB_PREREGISTER
    naming_job = rb_postponed_job_preregister(0, name_pending, NULL);
#endif
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

int ev_allocations_start(const ss_config *cfg)
{
    if (!cfg->memory_enabled && !cfg->heap_enabled)
        return 0;
#ifdef HAVE_RB_POSTPONED_JOB_PREREGISTER
    if (naming_job == POSTPONED_JOB_HANDLE_INVALID) {
        ev_fail("allocation", "Ruby's postponed-job table is full");
        return -1;
    }
#endif
    int frames = ev_max_frames();
    if (!heap)
        heap = calloc(HEAP_SLOTS, sizeof *heap);
    ss_frame *f = realloc(al_frames, (size_t)frames * sizeof *f);
    if (f)
        al_frames = f;
    for (int i = 0; f && heap && frames > pending_frames && i < PENDING_MAX; i++) {
        VALUE *pf = realloc(pending[i].frames, (size_t)frames * sizeof *pf);
        if (pf)
            pending[i].frames = pf;
        int *pl = realloc(pending[i].lines, (size_t)frames * sizeof *pl);
        if (pl)
            pending[i].lines = pl;
        if (!pf || !pl)
            f = NULL;
    }
    if (!f || !heap) {
        ev_fail("allocation", "out of memory");
        return -1;
    }
    pending_frames = frames;
    double mean = (double)cfg->heap_sample_bytes / SLOT_BYTES;
    al_mean = mean < 1 ? 1 : mean;
    al_weight = (int64_t)(al_mean + 0.5);
    al_countdown = ss_geometric_interval(al_mean);
    report_allocs = cfg->memory_enabled;
    heap_on = cfg->heap_enabled;
    al_on = 1;
    rb_tracepoint_enable(newobj_hook);
    if (heap_on || report_allocs)
        rb_tracepoint_enable(freeobj_hook);
    return 0;
}

/* Stop sampling; the live heap is still reported by the last flush. */
void ev_allocations_pause(void)
{
    al_on = 0;
    if (!NIL_P(newobj_hook))
        rb_tracepoint_disable(newobj_hook);
}

/* After the core stopped: stop following frees and forget the heap. */
void ev_allocations_stop(void)
{
    ev_allocations_pause();
    name_pending(NULL);
    heap_on = 0;
    if (!NIL_P(freeobj_hook))
        rb_tracepoint_disable(freeobj_hook);
    heap_clear();
}

/* Stacksight::Native.allocations_off(why) - switch the memory profiles off
 * for good (this run), saying why; true if they were on. */
static VALUE native_allocations_off(VALUE self, VALUE why)
{
    (void)self;
    if (!al_on && !heap_on)
        return Qfalse;
    ev_allocations_stop();
    ev_fail("allocation", StringValueCStr(why));
    return Qtrue;
}

unsigned long long ev_allocations_dropped(void) { return dropped; }
unsigned long long ev_allocations_untracked(void) { return untracked; }
