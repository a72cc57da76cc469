/* threads.c - the Ruby threads the sidecar samples, and its per-tick decision.
 *
 * The sidecar holds no GVL, so it cannot ask Ruby for Thread.list. This table
 * is kept up to date from Ruby instead (at start, by a thread-begin/-end
 * TracePoint, and by Thread#name=) and read under a plain mutex.
 *
 * Each tick, for each thread: its CPU delta comes from its own CPU clock. A
 * thread that burned CPU (more than a wake-up's worth) is asked for a fresh
 * stack (capture.c); the tick's
 * CPU and wall time are charged to that capture once it is resolved. A thread
 * that burned none is charged wall time at its last resolved stack and is not
 * signalled - a blocked thread's stack has not changed. Time that cannot be
 * charged yet (no stack known, no free slot) is carried to the next capture,
 * so totals are kept whatever the resolution. */
#define _GNU_SOURCE
#include "rb_stacksight.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "interner.h"
#include "thread_clock.h"

#define STALE_REQUEST_NS 1000000000LL   /* a request unanswered this long is withdrawn */
#define WAKE_INTERVAL_NS 50000000LL     /* resolver wake-ups at most every 50 ms */
#define RUNNING_FLOOR_NS 50000LL        /* CPU below this (and 1 % of the tick) = blocked */

pthread_mutex_t rt_table_lock = PTHREAD_MUTEX_INITIALIZER;
static rt_thread *table;          /* RT_MAX_THREADS entries, allocated once */
static int table_max_frames;      /* capacity of each entry's `last` stack */
static int table_high;            /* entries [0, table_high) may be used */
static double overhead_pct = 1.0; /* budget for handlers + resolver, % of one core */
static int64_t credit_ns;         /* budget left; signals stop when it is negative */
static int64_t last_wake_ns;      /* when the sidecar last woke the resolver */
static _Atomic int wake_fd = -1;  /* write end of the helper's pipe */
static uint64_t next_seq = 1;     /* request numbers */
static int claim_cursor;          /* where the next free-slot search starts */
static _Atomic uint64_t stat_requests, stat_skipped;

int rt_threads_init(int max_frames)
{
    if (table && table_max_frames >= max_frames)
        return 0;
    rt_thread *t = calloc(RT_MAX_THREADS, sizeof *t);
    if (!t)
        return -1;
    pthread_mutex_lock(&rt_table_lock);
    rt_thread *old = table;
    table = t;
    table_max_frames = max_frames;
    table_high = 0;
    pthread_mutex_unlock(&rt_table_lock);
    if (old) {
        for (int i = 0; i < RT_MAX_THREADS; i++)
            free(old[i].last);
        free(old);
    }
    return 0;
}

void rt_threads_reset(void)
{
    pthread_mutex_lock(&rt_table_lock);
    for (int i = 0; table && i < table_high; i++) {
        table[i].used = 0;
        table[i].latest = -1;
        table[i].nlast = 0;
    }
    table_high = 0;
    credit_ns = 0;
    pthread_mutex_unlock(&rt_table_lock);
}

void rt_threads_configure(double pct, int fd)
{
    pthread_mutex_lock(&rt_table_lock);
    overhead_pct = pct > 0 ? pct : 1.0;
    credit_ns = 0;
    pthread_mutex_unlock(&rt_table_lock);
    atomic_store(&wake_fd, fd);
}

void rt_set_wake_fd(int fd)
{
    atomic_store(&wake_fd, fd);
}

void rt_wake_helper(void)
{
    int fd = atomic_load(&wake_fd);
    if (fd >= 0) {
        char b = 1;
        ssize_t r = write(fd, &b, 1);   /* non-blocking pipe: full = already awake */
        (void)r;
    }
}

static int find_locked(pid_t tid)
{
    for (int i = 0; i < table_high; i++)
        if (table[i].used && table[i].tid == tid)
            return i;
    return -1;
}

void rt_thread_register(pid_t tid, int64_t thread_id, const char *name, size_t name_len, int excluded)
{
    if (!table || tid <= 0)
        return;
    uint32_t name_id = name ? ss_intern_string(name, name_len) : SS_STRING_NONE;
    pthread_mutex_lock(&rt_table_lock);
    int i = find_locked(tid);
    if (i < 0) {
        for (i = 0; i < table_high && table[i].used; i++)
            ;
        if (i == RT_MAX_THREADS) {
            pthread_mutex_unlock(&rt_table_lock);
            return;   /* more live threads than we track: the rest go unsampled */
        }
        if (!table[i].last)
            table[i].last = calloc((size_t)table_max_frames, sizeof(ss_frame));
        rt_thread *e = &table[i];
        e->used = 1;
        e->gen++;
        e->tid = tid;
        e->latest = -1;
        e->nlast = 0;
        e->last_seq = 0;
        e->carry_cpu = e->carry_wall = e->carry_cpu_n = e->carry_wall_n = 0;
        memset(&e->labels, 0, sizeof e->labels);
        if (i == table_high)
            table_high++;
    }
    rt_thread *e = &table[i];
    e->excluded = excluded;
    e->labels.thread_id = thread_id;
    e->labels.native_thread_id = tid;
    if (name)
        e->labels.thread_name = name_id;
    pthread_mutex_unlock(&rt_table_lock);
}

static void free_entry_locked(int i)
{
    rt_thread *e = &table[i];
    rt_pool *pool = atomic_load(&rt_current_pool);
    if (e->latest >= 0 && pool) {
        rt_capture *c = &pool->slots[e->latest];
        int expected = RT_REQUESTED;
        atomic_compare_exchange_strong(&c->state, &expected, RT_FREE);
    }
    e->used = 0;
    e->latest = -1;
    while (table_high > 0 && !table[table_high - 1].used)
        table_high--;
}

void rt_thread_unregister(pid_t tid)
{
    if (!table)
        return;
    pthread_mutex_lock(&rt_table_lock);
    int i = find_locked(tid);
    if (i >= 0)
        free_entry_locked(i);
    pthread_mutex_unlock(&rt_table_lock);
}

void rt_thread_set_name(pid_t tid, const char *name, size_t name_len)
{
    if (!table)
        return;
    uint32_t id = ss_intern_string(name, name_len);
    pthread_mutex_lock(&rt_table_lock);
    int i = find_locked(tid);
    if (i >= 0)
        table[i].labels.thread_name = id;
    pthread_mutex_unlock(&rt_table_lock);
}

void rt_thread_store_stack(int idx, uint32_t gen, uint64_t seq, const ss_frame *f, uint32_t n)
{
    pthread_mutex_lock(&rt_table_lock);
    if (table && idx >= 0 && idx < table_high) {
        rt_thread *e = &table[idx];
        if (e->used && e->gen == gen && seq > e->last_seq && e->last) {
            if (n > (uint32_t)table_max_frames)
                n = (uint32_t)table_max_frames;
            memcpy(e->last, f, n * sizeof *f);
            e->nlast = n;
            e->last_seq = seq;
        }
    }
    pthread_mutex_unlock(&rt_table_lock);
}

static int claim_slot_locked(rt_pool *pool)
{
    for (int k = 0; k < pool->nslots; k++) {
        int i = (claim_cursor + k) % pool->nslots;
        if (atomic_load(&pool->slots[i].state) == RT_FREE) {
            claim_cursor = (i + 1) % pool->nslots;
            return i;
        }
    }
    return -1;
}

static void charge(rt_capture *c, int64_t cpu, int64_t wall, int64_t cpu_n, int64_t wall_n)
{
    c->cpu_ns += cpu;
    c->wall_ns += wall;
    c->cpu_n += cpu_n;
    c->wall_n += wall_n;
}

/* One thread, one tick. Table lock held. */
static void sample_one(ss_tick *tick, rt_pool *pool, int i, int may_signal)
{
    rt_thread *e = &table[i];
    int64_t cpu = ss_cpu_tracker_delta(tick->cpu, e->tid);
    if (cpu < 0) {
        free_entry_locked(i);   /* the thread is gone; the end hook may not have run yet */
        return;
    }
    int64_t wall = tick->wall_ns, cpu_n = cpu > 0, wall_n = 1;
    rt_capture *c = NULL;
    int st = RT_FREE;
    if (e->latest >= 0) {
        c = &pool->slots[e->latest];
        st = atomic_load(&c->state);
        if (c->thread != i || c->thread_gen != e->gen || st == RT_FREE || st == RT_RESOLVING) {
            c = NULL;          /* resolved (or withdrawn) since */
            e->latest = -1;
        }
    }
    if (c && st == RT_REQUESTED) {
        if (tick->now_ns - c->requested_ns < STALE_REQUEST_NS) {
            charge(c, cpu, wall, cpu_n, wall_n);   /* the stack is on its way */
            return;
        }
        int expected = RT_REQUESTED;
        if (atomic_compare_exchange_strong(&c->state, &expected, RT_FREE)) {
            /* Never answered (signal blocked in that thread?): keep its time. */
            e->carry_cpu += c->cpu_ns;
            e->carry_wall += c->wall_ns;
            e->carry_cpu_n += c->cpu_n;
            e->carry_wall_n += c->wall_n;
            e->latest = -1;
            c = NULL;
            tick->samples_torn++;
        } else {
            st = atomic_load(&c->state);
        }
    }
    /* A blocked thread that was signalled wakes up briefly (Ruby re-takes
     * the GVL to re-check its sleep); that CPU must not count as running or
     * every signal would earn the next one. */
    int64_t floor = wall / 100 > RUNNING_FLOOR_NS ? wall / 100 : RUNNING_FLOOR_NS;
    int want = cpu > floor || (e->nlast == 0 && !c);
    if (want && may_signal) {
        int s = claim_slot_locked(pool);
        if (s >= 0) {
            rt_capture *n = &pool->slots[s];
            n->tid = e->tid;
            n->thread = i;
            n->thread_gen = e->gen;
            n->seq = next_seq++;
            n->requested_ns = tick->now_ns;
            n->n = 0;
            n->labels = e->labels;
            n->cpu_ns = e->carry_cpu + cpu;
            n->wall_ns = e->carry_wall + wall;
            n->cpu_n = e->carry_cpu_n + cpu_n;
            n->wall_n = e->carry_wall_n + wall_n;
            e->carry_cpu = e->carry_wall = e->carry_cpu_n = e->carry_wall_n = 0;
            atomic_store(&n->state, RT_REQUESTED);
            if (rt_capture_request(s, e->tid) == 0) {
                e->latest = s;
                atomic_fetch_add(&stat_requests, 1);
                return;
            }
            atomic_store(&n->state, RT_FREE);   /* thread gone */
            free_entry_locked(i);
            return;
        }
    }
    if (want)
        atomic_fetch_add(&stat_skipped, 1);
    if (c && (st == RT_WRITING || st == RT_READY)) {
        charge(c, cpu, wall, cpu_n, wall_n);    /* the newest stack, not yet resolved */
    } else if (e->nlast > 0) {
        int64_t v[SS_VALUE_KINDS] = {0};
        v[SS_CPU_TIME] = e->carry_cpu + cpu;
        v[SS_CPU_SAMPLES] = e->carry_cpu_n + cpu_n;
        v[SS_WALL_TIME] = e->carry_wall + wall;
        v[SS_WALL_SAMPLES] = e->carry_wall_n + wall_n;
        e->carry_cpu = e->carry_wall = e->carry_cpu_n = e->carry_wall_n = 0;
        ss_aggregator_add(tick->agg, e->last, e->nlast, &e->labels, v);
        tick->threads_sampled++;
    } else {
        e->carry_cpu += cpu;
        e->carry_wall += wall;
        e->carry_cpu_n += cpu_n;
        e->carry_wall_n += wall_n;
    }
}

void rt_sample_threads(void *ctx, ss_tick *tick)
{
    (void)ctx;
    rt_pool *pool = atomic_load(&rt_current_pool);
    if (!pool || !table)
        return;
    pthread_mutex_lock(&rt_table_lock);
    /* Overhead budget for the work done outside the sidecar (handlers on the
     * application's threads, the resolver): it earns overhead_pct of the
     * elapsed time and pays what was spent; at most 10 ms is banked. */
    credit_ns += (int64_t)((double)tick->wall_ns * overhead_pct / 100.0);
    credit_ns -= rt_capture_take_cost();
    if (credit_ns > 10000000)
        credit_ns = 10000000;
    int may_signal = credit_ns > 0;
    for (int i = 0; i < table_high; i++)
        if (table[i].used && !table[i].excluded)
            sample_one(tick, pool, i, may_signal);
    pthread_mutex_unlock(&rt_table_lock);
    int ready = 0;
    for (int i = 0; i < pool->nslots; i++)
        ready += atomic_load(&pool->slots[i].state) == RT_READY;
    if (ready && (tick->now_ns - last_wake_ns >= WAKE_INTERVAL_NS || ready * 4 >= pool->nslots)) {
        last_wake_ns = tick->now_ns;
        rt_wake_helper();
    }
}

uint64_t rt_stat_requests(void) { return atomic_load(&stat_requests); }
uint64_t rt_stat_skipped(void) { return atomic_load(&stat_skipped); }
