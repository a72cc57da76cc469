/* threads.c - the Ruby threads the sidecar samples, and its per-tick decision.
 *
 * The sidecar holds no GVL, so it cannot ask Ruby for Thread.list. This table
 * is kept up to date from Ruby instead (at start, by a thread-begin/-end
 * TracePoint, and by Thread#name=) and read under a plain mutex.
 *
 * CPU: every thread in the table gets a CPU-clock timer from the core
 * (ss_cpu_timer_track). Its SIGPROF captures the stack on the thread while it
 * runs (capture.c); the sidecar then gets a CPU tick with (thread, slot) and
 * charges the slice (or slices, when delivery was late) to that capture.
 * A thread that waits gets no signal and no CPU.
 *
 * Wall: each wall tick gives every thread the wall time that passed, at its
 * newest stack (a capture not resolved yet, or the last resolved stack). A
 * thread whose stack is unknown (seen for the first time), or that has been
 * blocked for BLOCKED_LEARN_NS since it last ran, is signalled once to learn
 * where it waits; until then its wall time is carried, so a long wait is
 * charged to the blocking call, not to the code that ran before it.
 *
 * Without CPU timers (timer_create failed) the earlier policy applies: a
 * thread that used CPU during the tick is signalled at the tick and the
 * tick's CPU and wall go to that capture.
 *
 * Time that cannot be charged yet (no stack known, no free slot) is carried
 * to the next capture, so totals are kept whatever the resolution. */
#define _GNU_SOURCE
#include "rb_stacksight.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu_timer.h"
#include "interner.h"
#include "thread_clock.h"

#define STALE_REQUEST_NS 1000000000LL   /* a request unanswered this long is withdrawn */
#define WAKE_INTERVAL_NS 50000000LL     /* resolver wake-ups at most every 50 ms */
#define RUNNING_FLOOR_NS 50000LL        /* CPU below this (and 1 % of the tick) = blocked */
#define FIRST_RETRY_NS 100000000LL      /* first-stack requests at most every 100 ms */
#define BLOCKED_LEARN_NS 50000000LL     /* blocked this long after running: learn where */
#define WAKE_COST_NS 500000LL           /* CPU our signal may cost a waiting thread */

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
static _Atomic uint64_t stat_requests, stat_skipped, stat_attached;

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
    rt_capture_pause(0);
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
    uint32_t name_id = name ? ss_intern_label(name, name_len) : SS_STRING_NONE;
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
        e->tick_cpu = -1;
        e->moved = 0;
        e->requested_ns = e->ran_ns = 0;
        e->woken = 0;
        memset(&e->labels, 0, sizeof e->labels);
        if (i == table_high)
            table_high++;
    }
    rt_thread *e = &table[i];
    e->excluded = excluded;
    /* Ruby reuses native threads: a new Ruby thread on this one must not
     * carry the name of the thread that ran here before it. */
    if (e->labels.thread_id != thread_id)
        e->labels.thread_name = SS_STRING_NONE;
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
    uint32_t id = ss_intern_label(name, name_len);
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
        rt_capture *c = &pool->slots[i];
        int expected = RT_FREE;
        /* CPU-slice handlers claim slots too: take it atomically, as
         * RT_WRITING so that no handler touches it while it is prepared. */
        if (atomic_load(&c->state) == RT_FREE && atomic_compare_exchange_strong(&c->state, &expected, RT_WRITING)) {
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

/* Give a capture slot its thread and the time carried so far. */
static void attach_locked(rt_capture *c, rt_thread *e, int i, int64_t now_ns)
{
    c->thread = i;
    c->thread_gen = e->gen;
    c->seq = next_seq++;
    c->requested_ns = now_ns;
    c->labels = e->labels;
    c->cpu_ns = e->carry_cpu;
    c->wall_ns = e->carry_wall;
    c->cpu_n = e->carry_cpu_n;
    c->wall_n = e->carry_wall_n;
    e->carry_cpu = e->carry_wall = e->carry_cpu_n = e->carry_wall_n = 0;
}

/* The thread's newest capture that is not resolved yet, or NULL; *st gets its
 * state. A request unanswered for STALE_REQUEST_NS is withdrawn (its time is
 * carried). */
static rt_capture *pending_locked(ss_tick *tick, rt_pool *pool, rt_thread *e, int i, int *st)
{
    if (e->latest < 0)
        return NULL;
    rt_capture *c = &pool->slots[e->latest];
    *st = atomic_load(&c->state);
    if (c->thread != i || c->thread_gen != e->gen || *st == RT_FREE || *st == RT_RESOLVING ||
        *st == RT_CAPTURED) {
        e->latest = -1;        /* resolved (or withdrawn) since */
        return NULL;
    }
    if (*st == RT_REQUESTED && tick->now_ns - c->requested_ns >= STALE_REQUEST_NS) {
        int expected = RT_REQUESTED;
        if (atomic_compare_exchange_strong(&c->state, &expected, RT_FREE)) {
            /* Never answered (signal blocked in that thread?): keep its time. */
            e->carry_cpu += c->cpu_ns;
            e->carry_wall += c->wall_ns;
            e->carry_cpu_n += c->cpu_n;
            e->carry_wall_n += c->wall_n;
            e->latest = -1;
            tick->samples_torn++;
            return NULL;
        }
        *st = atomic_load(&c->state);
    }
    return c;
}

/* Charge time to the thread's newest stack: a capture on its way or not
 * resolved yet, else the last resolved stack, else carry it. */
static void charge_newest_locked(ss_tick *tick, rt_pool *pool, rt_thread *e, int i, int64_t cpu,
                                 int64_t wall, int64_t cpu_n, int64_t wall_n)
{
    int st = RT_FREE;
    rt_capture *c = pending_locked(tick, pool, e, i, &st);
    if (c) {
        charge(c, cpu, wall, cpu_n, wall_n);
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

/* Signal thread i for a capture now, carrying this tick's time to it.
 * 1 if sent; 0 if no slot is free; -1 if the thread is gone (entry freed). */
static int request_locked(ss_tick *tick, rt_pool *pool, int i, int64_t cpu, int64_t wall,
                          int64_t cpu_n, int64_t wall_n)
{
    rt_thread *e = &table[i];
    int s = claim_slot_locked(pool);
    if (s < 0)
        return 0;
    rt_capture *n = &pool->slots[s];
    n->tid = e->tid;
    n->n = 0;
    attach_locked(n, e, i, tick->now_ns);
    charge(n, cpu, wall, cpu_n, wall_n);
    atomic_store(&n->state, RT_REQUESTED);
    int sent = rt_capture_request(s, e->tid);
    if (sent == 0) {
        e->latest = s;
        e->requested_ns = tick->now_ns;
        e->woken = 1;
        atomic_fetch_add(&stat_requests, 1);
        return 1;
    }
    if (sent == -2) {
        /* The application took SIGPROF: no stack can be captured any more.
         * The thread keeps its time, under a frame that says so rather than
         * under a stack it has since left. */
        e->carry_cpu = n->cpu_ns - cpu;   /* this tick's share is charged by the caller */
        e->carry_wall = n->wall_ns - wall;
        e->carry_cpu_n = n->cpu_n - cpu_n;
        e->carry_wall_n = n->wall_n - wall_n;
        atomic_store(&n->state, RT_FREE);
        if (e->last) {
            e->last[0] = (ss_frame){ss_intern_function(ss_intern_cstr(RT_SIGNAL_TAKEN_FRAME), SS_STRING_NONE, 0), 0};
            e->nlast = 1;
        }
        return 0;
    }
    atomic_store(&n->state, RT_FREE);   /* thread gone */
    free_entry_locked(i);
    return -1;
}

/* One thread, one wall tick. Table lock held. */
static void sample_one(ss_tick *tick, rt_pool *pool, int i, int may_signal, int timers)
{
    rt_thread *e = &table[i];
    int64_t clock = ss_thread_cpu_ns(e->tid);
    if (clock < 0) {
        free_entry_locked(i);   /* the thread is gone; the end hook may not have run yet */
        return;
    }
    int64_t wall = tick->wall_ns, wall_n = 1, cpu = 0, cpu_n = 0;
    /* A blocked thread that was signalled wakes up briefly (Ruby re-takes
     * the GVL to re-check its sleep); that CPU must not count as running, or
     * every request would earn the next one. */
    int64_t floor = wall / 100 > RUNNING_FLOOR_NS ? wall / 100 : RUNNING_FLOOR_NS;
    if (e->woken)
        floor += WAKE_COST_NS;
    e->woken = 0;
    int running = e->tick_cpu >= 0 && clock - e->tick_cpu > floor;
    int blocked = e->tick_cpu >= 0 && !running;
    e->tick_cpu = clock;
    if (timers) {
        ss_cpu_timer_track(tick->timers, e->tid, tick->number);
    } else {
        cpu = ss_cpu_tracker_delta(tick->cpu, e->tid);
        if (cpu < 0)
            cpu = 0;
        cpu_n = cpu > 0;
    }
    if (running) {
        e->moved = 1;
        e->ran_ns = tick->now_ns;   /* blocked time counts from here */
    }
    int st = RT_FREE;
    rt_capture *c = pending_locked(tick, pool, e, i, &st);
    int want, hold = 0;
    if (e->nlast == 0 && !c) {
        /* Seen for the first time (or its captures were unusable). */
        want = e->requested_ns == 0 || tick->now_ns - e->requested_ns >= FIRST_RETRY_NS || (!timers && running);
    } else if (timers) {
        /* Blocked since it last ran: its newest stack is where it ran, not
         * where it waits. Hold its wall time a while; if it stays blocked,
         * ask once where. */
        hold = blocked && e->moved && may_signal;
        want = hold && tick->now_ns - e->ran_ns >= BLOCKED_LEARN_NS;
    } else {
        want = running;   /* no CPU timers: sample every thread that ran, at the tick */
    }
    if (want && may_signal) {
        int r = request_locked(tick, pool, i, cpu, wall, cpu_n, wall_n);
        if (r != 0) {
            if (r > 0)
                e->moved = 0;
            return;
        }
    }
    if (want)
        atomic_fetch_add(&stat_skipped, 1);
    if (hold && !want) {
        e->carry_wall += wall;
        e->carry_wall_n += wall_n;
        return;
    }
    charge_newest_locked(tick, pool, e, i, cpu, wall, cpu_n, wall_n);
}

/* CPU-slice events: charge each event's CPU slices to the stack its handler
 * captured at the end of them. Table lock held. */
static void charge_cpu_events(ss_tick *tick, rt_pool *pool)
{
    for (uint32_t k = 0; k < tick->ncpu_tids; k++) {
        pid_t tid = tick->cpu_tids[k];
        int32_t tok = tick->cpu_tokens[k];
        rt_capture *c = NULL;
        if (tok >= 0 && tok < pool->nslots) {
            c = &pool->slots[tok];
            if (atomic_load(&c->state) != RT_CAPTURED || c->tid != tid)
                c = NULL;   /* a duplicate, or a slot reclaimed since */
        }
        int i = tid > 0 ? find_locked(tid) : -1;
        if (i < 0 || table[i].excluded) {
            if (c)
                atomic_store(&c->state, RT_FREE);
            continue;
        }
        rt_thread *e = &table[i];
        int64_t cpu = ss_tick_event_cpu_ns(tick, k);
        int64_t cpu_n = cpu > 0;
        if (c) {
            attach_locked(c, e, i, tick->now_ns);
            charge(c, cpu, 0, cpu_n, 0);
            atomic_store(&c->state, RT_READY);
            e->latest = tok;
            atomic_fetch_add(&stat_attached, 1);
        } else if (cpu > 0) {
            charge_newest_locked(tick, pool, e, i, cpu, 0, cpu_n, 0);
        }
        tick->cpu_tids[k] = 0;
    }
}

/* Slots a CPU-slice handler filled but whose event never reached us (the
 * core's event ring overran) are freed after STALE_REQUEST_NS. */
static int sweep_pool(ss_tick *tick, rt_pool *pool)
{
    int ready = 0;
    for (int i = 0; i < pool->nslots; i++) {
        rt_capture *c = &pool->slots[i];
        int st = atomic_load(&c->state);
        if (st == RT_READY) {
            ready++;
        } else if (st == RT_CAPTURED && tick->kind == SS_TICK_WALL &&
                   tick->now_ns - c->requested_ns >= STALE_REQUEST_NS) {
            atomic_compare_exchange_strong(&c->state, &st, RT_FREE);
        }
    }
    return ready;
}

void rt_sample_threads(void *ctx, ss_tick *tick)
{
    (void)ctx;
    rt_pool *pool = atomic_load(&rt_current_pool);
    if (!pool || !table)
        return;
    pthread_mutex_lock(&rt_table_lock);
    if (tick->kind == SS_TICK_CPU) {
        charge_cpu_events(tick, pool);
    } else {
        /* Overhead budget for the work done outside the sidecar (handlers on
         * the application's threads, the resolver): it earns overhead_pct of
         * the elapsed time and pays what was spent; at most 10 ms is banked.
         * When it is spent, no thread is signalled and CPU slices capture
         * nothing: time goes to the newest stack until it recovers. */
        credit_ns += (int64_t)((double)tick->wall_ns * overhead_pct / 100.0);
        credit_ns -= rt_capture_take_cost();
        if (credit_ns > 10000000)
            credit_ns = 10000000;
        int may_signal = credit_ns > 0;
        rt_capture_pause(!may_signal);
        int timers = tick->timers && !tick->timers->failed;
        for (int i = 0; i < table_high; i++)
            if (table[i].used && !table[i].excluded)
                sample_one(tick, pool, i, may_signal, timers);
    }
    pthread_mutex_unlock(&rt_table_lock);
    int ready = sweep_pool(tick, pool);
    if (ready && (tick->now_ns - last_wake_ns >= WAKE_INTERVAL_NS || ready * 4 >= pool->nslots)) {
        last_wake_ns = tick->now_ns;
        rt_wake_helper();
    }
}

uint64_t rt_stat_requests(void) { return atomic_load(&stat_requests); }
uint64_t rt_stat_skipped(void) { return atomic_load(&stat_skipped); }
uint64_t rt_stat_attached(void) { return atomic_load(&stat_attached); }
