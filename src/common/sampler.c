/* sampler.c - the sidecar thread: timer, CPU-slice events, overhead cap (see sampler.h).
 *
 * The thread sleeps on the doorbell (doorbell.h), rung by ss_sampler_stop
 * and by every CPU-timer event (cpu_timer.h), with a timeout at the next
 * wall tick; it holds no file descriptor the program could see or close. A wall tick gives every thread its wall time; a CPU event samples the
 * threads that just used a slice of CPU while they are still running. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sampler.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cpu_timer.h"
#include "doorbell.h"
#include "log.h"
#include "self_cost.h"

#define TIMER_EXPIRY_TICKS 50     /* drop CPU timers of threads unseen this long */
/* The upload thread spends its CPU in one lump per period (encoding); the
 * cap charges such a lump over this much wall time, so that one upload does
 * not stop sampling for seconds while the average stays honest. */
#define UPLOAD_SPREAD_NS 10000000000LL

struct ss_sampler {
    pthread_t thread;
    _Atomic int stopping;         /* set by ss_sampler_stop, then the doorbell rings */
    pthread_mutex_t lock;         /* guards `stats` for readers */
    int64_t base_interval_ns;     /* configured wall interval */
    double overhead_pct;          /* CPU budget, percent of one core */
    ss_aggregator *agg;
    ss_sample_fn fn;
    ss_sampler_exit_fn on_exit;   /* may be NULL */
    void *ctx;
    int use_cpu_timers;           /* binding asked for CPU-slice events */
    ss_cpu_tracker cpu;           /* owned by the sidecar thread */
    ss_cpu_timer_set timers;      /* owned by the sidecar thread */
    /* Self-accounting, sidecar thread only. Every wall tick reads the
     * sidecar's CPU clock once: the delta since the previous wall tick is
     * everything the thread did (wake-ups, CPU-slice ticks, timer upkeep),
     * not just the sampling callback. */
    int64_t clock_mark_ns;        /* sidecar CPU clock at the previous wall tick */
    ss_self_cost other_start;     /* self_cost.h counters when the sampler started */
    ss_self_cost other_seen;      /* ... at the previous wall tick */
    double upload_backlog_ns;     /* upload CPU not yet charged to the cap */
    int64_t pending_cpu_ns;       /* sidecar CPU measured, not yet in `stats` */
    ss_self_cost pending_other;   /* self_cost.h counters measured, not yet in `stats` */
    ss_sampler_stats stats;       /* published under `lock` */
};

int ss_tick_wants(const ss_tick *tick, pid_t tid)
{
    if (tick->kind == SS_TICK_WALL)
        return 1;
    for (uint32_t i = 0; i < tick->ncpu_tids; i++)
        if (tick->cpu_tids[i] == tid && tid)
            return 1;
    return 0;
}

int64_t ss_tick_event_cpu_ns(const ss_tick *tick, uint32_t i)
{
    return i < tick->ncpu_tids ? (int64_t)tick->cpu_slices[i] * tick->cpu_slice_ns : 0;
}

void ss_tick_report(ss_tick *tick, const ss_frame *frames, uint32_t nframes,
                    const ss_labels *labels, int64_t cpu_ns)
{
    int64_t values[SS_VALUE_KINDS] = {0};
    if (tick->wall_ns > 0) {
        values[SS_WALL_SAMPLES] = 1;
        values[SS_WALL_TIME] = tick->wall_ns;
    }
    if (cpu_ns > 0) {
        values[SS_CPU_SAMPLES] = 1;
        values[SS_CPU_TIME] = cpu_ns;
    }
    if (values[SS_WALL_SAMPLES] || values[SS_CPU_SAMPLES])
        ss_aggregator_add(tick->agg, frames, nframes, labels, values);
    tick->threads_sampled++;
}

void ss_tick_report_thread(ss_tick *tick, const ss_frame *frames, uint32_t nframes,
                           const ss_labels *labels)
{
    pid_t tid = (pid_t)labels->native_thread_id;
    if (tick->kind == SS_TICK_CPU) {
        int64_t cpu = 0;
        for (uint32_t i = 0; i < tick->ncpu_tids; i++)
            if (tick->cpu_tids[i] == tid && tid)
                cpu += ss_tick_event_cpu_ns(tick, i);
        if (cpu > 0)
            ss_tick_report(tick, frames, nframes, labels, cpu);
        return;
    }
    int64_t cpu = 0;
    if (tick->timers && !tick->timers->failed) {
        ss_cpu_timer_track(tick->timers, tid, tick->number);
    } else {
        cpu = ss_cpu_tracker_delta(tick->cpu, tid);
    }
    ss_tick_report(tick, frames, nframes, labels, cpu);
}

/* The overhead cap: what the profiler spent since the previous wall tick
 * (the sidecar's CPU clock, the signal handlers', a share of the upload
 * thread's) is one interval's cost c; with budget b (fraction of a core) wall
 * ticks may come no faster than every c / b. Publishes the totals. */
static void account_wall_tick(ss_sampler *s, int64_t wall_ns, double *avg_cost_ns, int64_t *interval)
{
    int64_t clock = ss_self_cpu_ns();
    int64_t sidecar = clock >= s->clock_mark_ns ? clock - s->clock_mark_ns : 0;
    s->clock_mark_ns = clock;
    ss_self_cost other;
    ss_self_cost_get(&other);
    int64_t signal = other.signal_ns - s->other_seen.signal_ns;
    s->upload_backlog_ns += (double)(other.upload_ns - s->other_seen.upload_ns);
    s->other_seen = other;
    double share = wall_ns >= UPLOAD_SPREAD_NS ? 1.0 : (double)wall_ns / (double)UPLOAD_SPREAD_NS;
    double upload = s->upload_backlog_ns * share;
    s->upload_backlog_ns -= upload;

    double c = (double)sidecar + (double)signal + upload;
    *avg_cost_ns = *avg_cost_ns == 0 ? c : *avg_cost_ns * 0.9 + c * 0.1;
    int64_t floor_ns = (int64_t)(*avg_cost_ns * 100.0 / s->overhead_pct);
    *interval = floor_ns > s->base_interval_ns ? floor_ns : s->base_interval_ns;
    if (*interval > 1000000000)
        *interval = 1000000000;

    /* Published by run_tick, under the stats lock it takes anyway. */
    s->pending_cpu_ns += sidecar;
    s->pending_other = other;
}

void ss_tick_note_unchanged(ss_tick *tick, pid_t tid)
{
    if (tick->kind != SS_TICK_WALL)
        return;
    if (tick->timers && !tick->timers->failed)
        ss_cpu_timer_track(tick->timers, tid, tick->number);
    /* Without timers the CPU tracker's reading stays right: the thread's
     * clock has not moved since it was taken. */
    tick->threads_sampled++;
}

static void run_tick(ss_sampler *s, ss_tick *tick, double *avg_cost_ns, int64_t *interval)
{
    ss_cpu_tracker_begin_tick(&s->cpu);
    s->fn(s->ctx, tick);
    ss_cpu_tracker_end_tick(&s->cpu);
    if (tick->kind == SS_TICK_WALL && tick->timers && tick->number % TIMER_EXPIRY_TICKS == 0)
        ss_cpu_timer_expire(tick->timers, tick->number - TIMER_EXPIRY_TICKS);
    if (tick->kind == SS_TICK_WALL)
        account_wall_tick(s, tick->wall_ns, avg_cost_ns, interval);

    pthread_mutex_lock(&s->lock);
    if (tick->kind == SS_TICK_WALL) {
        s->stats.cpu_ns += s->pending_cpu_ns;
        s->pending_cpu_ns = 0;
        s->stats.upload_cpu_ns = s->pending_other.upload_ns - s->other_start.upload_ns;
        s->stats.signal_cpu_ns = s->pending_other.signal_ns - s->other_start.signal_ns;
        s->stats.ticks++;
        if (*interval > s->base_interval_ns)
            s->stats.stretched_ticks++;
    } else {
        s->stats.cpu_events += tick->ncpu_tids;
    }
    s->stats.thread_samples += tick->threads_sampled;
    s->stats.torn_samples += tick->samples_torn;
    s->stats.interval_ns = *interval;
    s->stats.cpu_timers = tick->timers != NULL && !tick->timers->failed;
    pthread_mutex_unlock(&s->lock);
}

static void *sampler_main(void *arg)
{
    ss_sampler *s = arg;
    pthread_setname_np(pthread_self(), "stacksight-smp");   /* visible in top -H, perf */
    int64_t interval = s->base_interval_ns;
    double avg_cost_ns = 0;
    ss_cpu_timer_set *timers = s->use_cpu_timers ? &s->timers : NULL;
    int64_t last_wall = ss_monotonic_ns();
    int64_t next_wall = last_wall + interval;
    uint64_t wall_ticks = 0;
    static ss_tick tick;   /* one sidecar per process; too big for the stack */
    s->clock_mark_ns = ss_self_cpu_ns();

    for (;;) {
        uint32_t seen = ss_doorbell_count();
        if (atomic_load(&s->stopping))
            break;
        int64_t now = ss_monotonic_ns();
        if (!(timers && ss_cpu_timer_pending()))
            ss_doorbell_wait(seen, next_wall - now);
        if (atomic_load(&s->stopping))
            break;
        now = ss_monotonic_ns();
        if (timers && ss_cpu_timer_pending()) {
            memset(&tick, 0, offsetof(ss_tick, cpu_tids));
            tick.kind = SS_TICK_CPU;
            tick.number = wall_ticks;
            tick.now_ns = now;
            tick.cpu = &s->cpu;
            tick.agg = s->agg;
            tick.timers = timers;
            tick.ncpu_tids = (uint32_t)ss_cpu_timer_drain(tick.cpu_tids, tick.cpu_tokens, tick.cpu_slices,
                                                          SS_MAX_CPU_EVENTS);
            tick.cpu_slice_ns = s->timers.interval_ns;
            tick.threads_sampled = tick.samples_torn = 0;
            if (tick.ncpu_tids)
                run_tick(s, &tick, &avg_cost_ns, &interval);
        }
        if (now >= next_wall) {
            /* The application took SIGPROF (its own handler, or the default
             * action restored): stop every CPU timer before one fires into
             * it, and charge CPU at wall ticks from now on. */
            if (timers && !timers->failed && !ss_cpu_timer_handler_intact()) {
                ss_cpu_timer_set_clear(timers);
                timers->failed = 1;
                ss_log_once(SS_LOG_WARNING, "sigprof-taken", "stacksight: the application replaced the "
                            "SIGPROF handler; CPU timers are stopped and CPU time is attributed at "
                            "sampling ticks from now on");
            }
            memset(&tick, 0, offsetof(ss_tick, cpu_tids));
            tick.kind = SS_TICK_WALL;
            tick.number = ++wall_ticks;
            tick.now_ns = now;
            tick.wall_ns = now - last_wall;
            tick.cpu = &s->cpu;
            tick.agg = s->agg;
            tick.timers = timers;
            tick.ncpu_tids = 0;
            tick.threads_sampled = tick.samples_torn = 0;
            last_wall = now;
            run_tick(s, &tick, &avg_cost_ns, &interval);
            /* After a stall (suspend, overload) restart the schedule from
             * now instead of firing catch-up ticks. */
            next_wall += interval;
            if (next_wall < ss_monotonic_ns())
                next_wall = ss_monotonic_ns() + interval;
        }
    }
    if (s->on_exit)
        s->on_exit(s->ctx);
    if (timers)
        ss_cpu_timer_set_clear(timers);
    return NULL;
}

ss_sampler *ss_sampler_start(int64_t interval_ns, double overhead_pct, ss_aggregator *agg,
                             ss_sample_fn fn, ss_sampler_exit_fn on_exit, void *ctx, int use_cpu_timers)
{
    ss_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->base_interval_ns = interval_ns > 0 ? interval_ns : 10000000;
    s->overhead_pct = overhead_pct > 0 ? overhead_pct : 1.0;
    s->agg = agg;
    s->fn = fn;
    s->on_exit = on_exit;
    s->ctx = ctx;
    s->use_cpu_timers = use_cpu_timers && ss_cpu_timer_install() == 0;
    s->stats.interval_ns = s->base_interval_ns;
    ss_cpu_tracker_reset(&s->cpu);
    ss_cpu_timer_set_init(&s->timers, s->base_interval_ns);
    ss_self_cost_get(&s->other_start);
    s->other_seen = s->other_start;
    s->pending_other = s->other_start;
    pthread_mutex_init(&s->lock, NULL);

    /* The sidecar must never receive the application's signals. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&s->thread, NULL, sampler_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        ss_log(SS_LOG_WARNING, "stacksight: cannot start the sampler thread (%s); profiling is off",
               strerror(rc));
        pthread_mutex_destroy(&s->lock);
        free(s);
        return NULL;
    }
    return s;
}

void ss_sampler_stop(ss_sampler *s)
{
    if (!s)
        return;
    atomic_store(&s->stopping, 1);
    ss_doorbell_ring();
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

void ss_sampler_get_stats(ss_sampler *s, ss_sampler_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    *out = s->stats;
    pthread_mutex_unlock(&s->lock);
}
