/* resolve.c - raw frame objects to the core's function ids, under the GVL.
 *
 * rb_profile_frame_* may allocate, so names are looked up here, on a Ruby
 * thread, never in the signal handler. Two things keep frame objects valid
 * between the handler and this code: a GC root (a TypedData object) marks
 * every frame sitting in a filled slot, and it marks every key of the name
 * cache. rb_gc_mark pins, so compaction cannot move them either; a cached
 * address therefore always names the same method. The cache is bounded and
 * emptied when full, which lets code that was unloaded be collected. */
#include "rb_stacksight.h"

#include <string.h>
#include <time.h>
#include <ruby/debug.h>

#include "core.h"
#include "interner.h"

#define CACHE_SLOTS 16384u          /* power of two; emptied at 3/4 full */

typedef struct cache_entry {
    VALUE frame;                    /* key: iseq or method entry; 0 = empty */
    uint32_t function;              /* ss_intern_function id */
} cache_entry;

static cache_entry cache[CACHE_SLOTS];
static uint32_t cache_used;         /* filled entries */
static uint32_t gc_function, unknown_function;
static _Atomic uint64_t stat_torn;
static ss_frame *scratch;           /* one stack being resolved */
static int scratch_cap;

static void root_mark(void *p)
{
    (void)p;
    for (rt_pool *pool = atomic_load(&rt_current_pool); pool; pool = pool->retired) {
        for (int i = 0; i < pool->nslots; i++) {
            rt_capture *c = &pool->slots[i];
            int st = atomic_load(&c->state);
            if (st != RT_CAPTURED && st != RT_READY && st != RT_RESOLVING)
                continue;
            for (int j = 0; j < c->n; j++)
                rb_gc_mark(c->frames[j]);
        }
    }
    for (uint32_t i = 0; i < CACHE_SLOTS; i++)
        if (cache[i].frame)
            rb_gc_mark(cache[i].frame);
}

static const rb_data_type_t root_type = {
    .wrap_struct_name = "stacksight_frame_root",
    .function = {.dmark = root_mark, .dfree = NULL, .dsize = NULL},
    .flags = 0,
};

void rt_resolve_init(VALUE module)
{
    /* Non-NULL data: Ruby calls dmark only for a non-NULL pointer (unpinned frames crashed under GC.compact). */
    VALUE root = TypedData_Wrap_Struct(rb_cObject, &root_type, (void *)cache);
    rb_const_set(module, rb_intern("FRAME_ROOT"), root);
    rb_gc_register_mark_object(root);
    gc_function = ss_intern_function(ss_intern_cstr("(garbage collection)"), SS_STRING_NONE, 0);
    unknown_function = ss_intern_function(ss_intern_cstr("(unknown)"), SS_STRING_NONE, 0);
}

uint32_t rt_gc_function(void) { return gc_function; }
uint32_t rt_unknown_function(void) { return unknown_function; }
uint64_t rt_stat_torn(void) { return atomic_load(&stat_torn); }

static uint32_t intern_value(VALUE s)
{
    if (!RB_TYPE_P(s, T_STRING))
        return SS_STRING_NONE;
    return ss_intern_string(RSTRING_PTR(s), (size_t)RSTRING_LEN(s));
}

int rt_is_own_label(VALUE label)
{
    if (!RB_TYPE_P(label, T_STRING))
        return 0;
    const char *s = RSTRING_PTR(label);
    long n = RSTRING_LEN(label);
    /* "Stacksight::X#m" or "Stacksight.m", also after "block in ",
     * "block (2 levels) in ", "rescue in "... */
    long at = 0;
    for (long i = 0; i + 4 <= n; i++)
        if (memcmp(s + i, " in ", 4) == 0) {
            at = i + 4;
            break;
        }
    static const char own[] = "Stacksight";
    const long k = (long)sizeof own - 1;
    for (int pass = 0; pass < 2; pass++) {
        long i = pass ? at : 0;
        if ((pass == 0 || at > 0) && i + k < n && memcmp(s + i, own, (size_t)k) == 0 &&
            (s[i + k] == ':' || s[i + k] == '.' || s[i + k] == '#'))
            return 1;
    }
    return 0;
}

static uint32_t function_of(VALUE frame)
{
    uint32_t h = (uint32_t)((frame >> 3) * 2654435761u) & (CACHE_SLOTS - 1);
    for (;;) {
        if (cache[h].frame == frame)
            return cache[h].function;
        if (!cache[h].frame)
            break;
        h = (h + 1) & (CACHE_SLOTS - 1);
    }
    VALUE label = rb_profile_frame_full_label(frame);
    uint32_t fn = RT_OWN_FUNCTION;
    if (!rt_is_own_label(label)) {
        VALUE path = rb_profile_frame_path(frame);
        VALUE first = rb_profile_frame_first_lineno(frame);
        uint32_t name = intern_value(label);
        uint32_t file = intern_value(path);
        int32_t line = RB_INTEGER_TYPE_P(first) ? (int32_t)NUM2INT(first) : 0;
        fn = ss_intern_function(name ? name : ss_intern_cstr("(unnamed)"), file, line);
    }
    if (cache_used >= CACHE_SLOTS / 4 * 3) {
        memset(cache, 0, sizeof cache);
        cache_used = 0;
        h = (uint32_t)((frame >> 3) * 2654435761u) & (CACHE_SLOTS - 1);
    }
    while (cache[h].frame)
        h = (h + 1) & (CACHE_SLOTS - 1);
    cache[h].frame = frame;
    cache[h].function = fn;
    cache_used++;
    return fn;
}

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* What one capture contributes; copied out under the table lock. */
typedef struct taken {
    int slot;
    int thread;
    uint32_t gen;
    uint64_t seq;
    int n;
    ss_labels labels;
    int64_t values[SS_VALUE_KINDS];
} taken;

int rt_resolve_pending(void)
{
    rt_pool *pool = atomic_load(&rt_current_pool);
    if (!pool)
        return 0;
    int64_t t0 = thread_cpu_ns();
    if (scratch_cap < pool->max_frames) {
        ss_frame *f = ruby_xrealloc(scratch, (size_t)pool->max_frames * sizeof *f);
        scratch = f;
        scratch_cap = pool->max_frames;
    }
    enum { BATCH = 64 };
    taken batch[BATCH];
    int total = 0;
    for (;;) {
        int nb = 0;
        pthread_mutex_lock(&rt_table_lock);
        for (int i = 0; i < pool->nslots && nb < BATCH; i++) {
            rt_capture *c = &pool->slots[i];
            if (atomic_load(&c->state) != RT_READY)
                continue;
            atomic_store(&c->state, RT_RESOLVING);
            taken *t = &batch[nb++];
            memset(t, 0, sizeof *t);
            t->slot = i;
            t->thread = c->thread;
            t->gen = c->thread_gen;
            t->seq = c->seq;
            t->n = c->n;
            t->labels = c->labels;
            t->values[SS_CPU_TIME] = c->cpu_ns;
            t->values[SS_CPU_SAMPLES] = c->cpu_n;
            t->values[SS_WALL_TIME] = c->wall_ns;
            t->values[SS_WALL_SAMPLES] = c->wall_n;
        }
        pthread_mutex_unlock(&rt_table_lock);
        if (nb == 0)
            break;
        ss_aggregator *agg = ss_core_aggregator();
        for (int k = 0; k < nb; k++) {
            taken *t = &batch[k];
            rt_capture *c = &pool->slots[t->slot];
            uint32_t n = 0;
            if (t->n > 0) {
                for (int j = 0; j < t->n; j++) {
                    scratch[n].function = function_of(c->frames[j]);
                    scratch[n].line = c->lines[j];
                    n += scratch[n].function != RT_OWN_FUNCTION;
                }
                rt_thread_store_stack(t->thread, t->gen, t->seq, scratch, n);
            } else {
                scratch[0].function = t->n == RT_FRAMES_GC ? gc_function : unknown_function;
                scratch[0].line = 0;
                n = 1;
                if (t->n == RT_FRAMES_TORN)
                    atomic_fetch_add(&stat_torn, 1);
            }
            atomic_store(&c->state, RT_FREE);
            if (agg)
                ss_aggregator_add(agg, scratch, n, &t->labels, t->values);
        }
        total += nb;
    }
    rt_capture_add_cost(thread_cpu_ns() - t0);
    return total;
}
