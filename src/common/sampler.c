/* sampler.c - the sidecar thread: timer, tick accounting, overhead cap (see sampler.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "sampler.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

struct ss_sampler {
    pthread_t thread;
    pthread_mutex_t lock;        /* guards stop flag + stats for readers */
    pthread_cond_t wake;         /* signalled by stop */
    int stop;                    /* set by ss_sampler_stop */
    int64_t base_interval_ns;    /* configured interval */
    double overhead_pct;         /* CPU budget, percent of one core */
    ss_aggregator *agg;
    ss_sample_fn fn;
    void *ctx;
    ss_cpu_tracker cpu;          /* owned by the sidecar thread */
    ss_sampler_stats stats;      /* copy published under `lock` */
};

void ss_tick_report(ss_tick *tick, const ss_frame *frames, uint32_t nframes,
                    const ss_labels *labels, int64_t cpu_ns)
{
    int64_t values[SS_VALUE_KINDS] = {0};
    values[SS_WALL_SAMPLES] = 1;
    values[SS_WALL_TIME] = tick->wall_ns;
    if (cpu_ns > 0) {
        values[SS_CPU_SAMPLES] = 1;
        values[SS_CPU_TIME] = cpu_ns;
    }
    ss_aggregator_add(tick->agg, frames, nframes, labels, values);
    tick->threads_sampled++;
}

static void add_ns(struct timespec *ts, int64_t ns)
{
    ts->tv_sec += ns / 1000000000;
    ts->tv_nsec += ns % 1000000000;
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

static void *sampler_main(void *arg)
{
    ss_sampler *s = arg;
    int64_t last = ss_monotonic_ns();
    int64_t interval = s->base_interval_ns;
    double avg_cost_ns = 0;      /* moving average of one tick's CPU cost */
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);

    pthread_mutex_lock(&s->lock);
    for (;;) {
        add_ns(&deadline, interval);
        while (!s->stop) {
            int rc = pthread_cond_timedwait(&s->wake, &s->lock, &deadline);
            if (rc == ETIMEDOUT)
                break;
        }
        if (s->stop)
            break;
        pthread_mutex_unlock(&s->lock);

        int64_t cpu0 = ss_self_cpu_ns();
        int64_t now = ss_monotonic_ns();
        ss_tick tick = {0};
        tick.number = s->stats.ticks + 1;
        tick.now_ns = now;
        tick.wall_ns = now - last;
        tick.cpu = &s->cpu;
        tick.agg = s->agg;
        last = now;
        ss_cpu_tracker_begin_tick(&s->cpu);
        s->fn(s->ctx, &tick);
        ss_cpu_tracker_end_tick(&s->cpu);
        int64_t cost = ss_self_cpu_ns() - cpu0;

        /* Overhead cap: at cost c per tick and budget b (fraction of a core),
         * ticks may come no faster than every c / b. */
        avg_cost_ns = avg_cost_ns == 0 ? (double)cost : avg_cost_ns * 0.9 + (double)cost * 0.1;
        int64_t floor_ns = (int64_t)(avg_cost_ns * 100.0 / s->overhead_pct);
        interval = floor_ns > s->base_interval_ns ? floor_ns : s->base_interval_ns;
        if (interval > 1000000000)
            interval = 1000000000;

        pthread_mutex_lock(&s->lock);
        s->stats.ticks++;
        s->stats.thread_samples += tick.threads_sampled;
        s->stats.torn_samples += tick.samples_torn;
        s->stats.cpu_ns += cost;
        s->stats.interval_ns = interval;
        if (interval > s->base_interval_ns)
            s->stats.stretched_ticks++;
        /* If we fell behind (suspended, overloaded), restart the schedule
         * from now instead of firing a burst of catch-up ticks. */
        struct timespec nowts;
        clock_gettime(CLOCK_MONOTONIC, &nowts);
        if (nowts.tv_sec > deadline.tv_sec ||
            (nowts.tv_sec == deadline.tv_sec && nowts.tv_nsec > deadline.tv_nsec))
            deadline = nowts;
    }
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

ss_sampler *ss_sampler_start(int64_t interval_ns, double overhead_pct, ss_aggregator *agg,
                             ss_sample_fn fn, void *ctx)
{
    ss_sampler *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->base_interval_ns = interval_ns > 0 ? interval_ns : 10000000;
    s->overhead_pct = overhead_pct > 0 ? overhead_pct : 1.0;
    s->agg = agg;
    s->fn = fn;
    s->ctx = ctx;
    s->stats.interval_ns = s->base_interval_ns;
    ss_cpu_tracker_reset(&s->cpu);
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->wake, &ca);
    pthread_condattr_destroy(&ca);

    /* The sidecar must never receive the application's signals (a Python
     * signal handler runs on the main thread anyway, but SIGINT delivered to
     * our thread would be lost to the app). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&s->thread, NULL, sampler_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        ss_log(SS_LOG_WARNING, "stacksight: cannot start the sampler thread (%s); profiling is off",
               strerror(rc));
        pthread_mutex_destroy(&s->lock);
        pthread_cond_destroy(&s->wake);
        free(s);
        return NULL;
    }
    return s;
}

void ss_sampler_stop(ss_sampler *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->wake);
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

void ss_sampler_lock_for_fork(ss_sampler *s)
{
    if (s)
        pthread_mutex_lock(&s->lock);
}

void ss_sampler_unlock_after_fork(ss_sampler *s, int in_child)
{
    if (!s)
        return;
    if (in_child) {
        /* The thread is gone; its lock and condvar may be in any state. The
         * struct is abandoned (a few KB per fork generation) because freeing
         * memory another thread's primitives used is not worth the risk. */
        (void)0;
    } else {
        pthread_mutex_unlock(&s->lock);
    }
}

void ss_sampler_forget_after_fork(ss_sampler *s)
{
    (void)s;
}
