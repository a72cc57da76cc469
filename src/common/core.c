/* core.c - start, stop, the upload thread and fork handling (see core.h).
 *
 * Threads: the sidecar sampler (sampler.c) and the upload thread below. The
 * upload thread sleeps until the period ends, swaps the aggregator's buffers,
 * lets the binding add its end-of-period rows, encodes and exports. All of
 * that happens off the application's threads. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "core.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "exporter.h"
#include "interner.h"
#include "log.h"
#include "self_cost.h"
#include "thread_clock.h"

/* The one profiler of this process. Fields are guarded by `lock` unless
 * noted; `lock` is never held while joining a thread or doing I/O. */
typedef struct core_state {
    pthread_mutex_t lock;
    pthread_cond_t wake;          /* upload thread sleeps on this */
    int running;                  /* start() succeeded and stop() has not begun */
    int stopping;                 /* upload thread: finish (after a last flush) */
    int flush_on_stop;
    int flush_requested;          /* end the current period now */
    int child_needs_restart;      /* forked child of a running profiler */
    ss_config cfg;                /* immutable while running */
    ss_binding binding;           /* immutable while running */
    ss_aggregator agg;            /* has its own lock; kept after stop */
    int agg_ready;                /* agg initialised (once per process) */
    ss_sampler *sampler;
    pthread_t uploader;
    int uploader_started;
    char runtime_id[40];
    long pid;
    uint64_t seq;                 /* next profile_seq; upload thread only */
    ss_core_stats stats;
    ss_export_stats export_stats; /* upload thread only */
} core_state;

static core_state core = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
};
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;
static int cond_ready;

static void new_runtime_id(char *out, size_t outlen)
{
    unsigned char b[16];
    if (getrandom(b, sizeof b, GRND_NONBLOCK) != (ssize_t)sizeof b) {
        uint64_t x = (uint64_t)ss_monotonic_ns() ^ ((uint64_t)getpid() << 32);
        for (size_t i = 0; i < sizeof b; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b[i] = (unsigned char)x;
        }
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);   /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);   /* RFC 4122 variant */
    snprintf(out, outlen,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

static void init_cond(void)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&core.wake, &ca);
    pthread_condattr_destroy(&ca);
    cond_ready = 1;
}

/* ---- fork ---------------------------------------------------------------- */

static void before_fork(void)
{
    pthread_mutex_lock(&core.lock);
    if (core.agg_ready)
        pthread_mutex_lock(&core.agg.lock);
    ss_interner_lock_for_fork();
    ss_log_lock_for_fork();
}

static void after_fork_parent(void)
{
    ss_log_unlock_after_fork(0);
    ss_interner_unlock_after_fork(0);
    if (core.agg_ready)
        pthread_mutex_unlock(&core.agg.lock);
    pthread_mutex_unlock(&core.lock);
}

static void after_fork_child(void)
{
    ss_log_unlock_after_fork(1);
    ss_interner_unlock_after_fork(1);
    pthread_mutex_init(&core.lock, NULL);
    init_cond();
    if (core.agg_ready)
        pthread_mutex_init(&core.agg.lock, NULL);
    if (core.running) {
        /* The sampler and upload threads do not exist here. Their structs are
         * abandoned rather than freed: their locks may be in any state. The
         * buffers hold the parent's samples; the child starts empty. */
        ss_buffer_clear(&core.agg.buffers[0]);
        ss_buffer_clear(&core.agg.buffers[1]);
        core.agg.active = &core.agg.buffers[0];
        core.agg.active->start_ns = ss_unix_ns();
        core.sampler = NULL;
        core.uploader_started = 0;
        core.running = 0;
        core.child_needs_restart = 1;
    }
}

static void register_atfork(void)
{
    pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

/* ---- upload thread ------------------------------------------------------- */

static char *internal_json(const ss_profile_buffer *buf, const ss_encode_stats *es)
{
    ss_sampler_stats ss;
    ss_sampler_get_stats(core.sampler, &ss);
    char *out = NULL;
    if (asprintf(&out,
                 "{\"sampler\":{\"ticks\":%llu,\"thread_samples\":%llu,\"torn_samples\":%llu,"
                 "\"cpu_ns\":%lld,\"interval_ns\":%lld,\"stretched_ticks\":%llu,\"cpu_events\":%llu,"
                 "\"cpu_timers\":%s},"
                 "\"self_cpu\":{\"sampler_ns\":%lld,\"upload_ns\":%lld,\"signal_ns\":%lld,\"total_ns\":%lld},"
                 "\"samples_folded\":%llu,\"samples_dropped\":%llu,\"interner_overflows\":%llu,"
                 "\"encode\":{\"cpu_ns\":%lld,\"samples\":%u,\"locations\":%u,\"raw_bytes\":%zu,\"gzip_bytes\":%zu},"
                 "\"exports\":{\"sent\":%llu,\"failed\":%llu}}",
                 (unsigned long long)ss.ticks, (unsigned long long)ss.thread_samples,
                 (unsigned long long)ss.torn_samples, (long long)ss.cpu_ns, (long long)ss.interval_ns,
                 (unsigned long long)ss.stretched_ticks, (unsigned long long)ss.cpu_events,
                 ss.cpu_timers ? "true" : "false", (long long)ss.cpu_ns, (long long)ss.upload_cpu_ns,
                 (long long)ss.signal_cpu_ns, (long long)(ss.cpu_ns + ss.upload_cpu_ns + ss.signal_cpu_ns),
                 (unsigned long long)buf->folded,
                 (unsigned long long)buf->dropped,
                 (unsigned long long)ss_interner_overflows(), (long long)es->encode_ns, es->samples,
                 es->locations, es->raw_bytes, es->gzip_bytes, (unsigned long long)core.export_stats.sent,
                 (unsigned long long)core.export_stats.failed) < 0)
        return NULL;
    return out;
}

static char *info_json(void)
{
    const ss_config *c = &core.cfg;
    char *out = NULL;
    if (asprintf(&out,
                 "{\"profiler\":{\"name\":\"stacksight\",\"version\":\"%s\",\"sample_hz\":%d,"
                 "\"upload_period_s\":%.3f,\"max_frames\":%d,\"overhead_target_pct\":%.2f,"
                 "\"exception_enabled\":%s,\"lock_enabled\":%s,\"memory_enabled\":%s,\"heap_enabled\":%s,"
                 "\"capture_pct\":%.3f,\"heap_sample_bytes\":%lld}}",
                 SS_PROFILER_VERSION, c->sample_hz, (double)c->upload_period_ns / 1e9, c->max_frames,
                 c->overhead_pct, c->exception_enabled ? "true" : "false", c->lock_enabled ? "true" : "false",
                 c->memory_enabled ? "true" : "false", c->heap_enabled ? "true" : "false", c->capture_pct,
                 (long long)c->heap_sample_bytes) < 0)
        return NULL;
    return out;
}

/* One period: swap, let the binding finish it, encode, export. */
static void finish_period(ss_bytes *scratch, int final)
{
    ss_profile_buffer *buf = ss_aggregator_swap(&core.agg, ss_unix_ns());
    if (core.binding.period_end)
        core.binding.period_end(core.binding.ctx, buf);
    ss_value_mask mask = SS_MASK_CPU_WALL | core.binding.extra_values;
    ss_encode_stats es = {0};
    int64_t period_ns = 1000000000LL / (core.cfg.sample_hz > 0 ? core.cfg.sample_hz : 100);
    uint64_t dropped = buf->dropped, folded = buf->folded;
    int encoded = ss_pprof_encode(buf, mask, period_ns, scratch, &es) == 0;
    if (folded)
        ss_log_once(SS_LOG_WARNING, "samples-folded", "stacksight: a profile period had more distinct stacks "
                    "than the per-period limit (%u); %llu samples were kept under \"" SS_OTHER_STACKS "\" "
                    "with their thread and values, without their stack", SS_MAX_KEYS_PER_BUFFER,
                    (unsigned long long)folded);
    if (dropped)
        ss_log_once(SS_LOG_WARNING, "samples-dropped", "stacksight: a profile period had more distinct stacks "
                    "than the per-period limit; %llu samples were dropped", (unsigned long long)dropped);
    if (encoded) {
        char *internal = internal_json(buf, &es);
        char *info = info_json();
        ss_upload up = {
            .pprof_gz = scratch,
            .start_unix_ns = buf->start_ns,
            .end_unix_ns = buf->end_ns,
            .seq = core.seq++,
            .runtime_id = core.runtime_id,
            .pid = core.pid,
            .family = core.binding.family,
            .runtime = core.binding.runtime,
            .runtime_version = core.binding.runtime_version,
            .internal_json = internal,
            .info_json = info,
            .final = final,
        };
        int64_t t0 = ss_monotonic_ns();
        int ok = ss_export(&core.cfg, &up, &core.export_stats) == 0;
        int64_t export_ns = ss_monotonic_ns() - t0;
        free(internal);
        free(info);
        pthread_mutex_lock(&core.lock);
        core.stats.profiles_encoded++;
        core.stats.last_encode_ns = es.encode_ns;
        core.stats.last_profile_bytes = scratch->len;
        core.stats.last_export_ns = export_ns;
        if (ok)
            core.stats.profiles_exported++;
        else
            core.stats.export_failures++;
        core.stats.samples_dropped += dropped;
        core.stats.samples_folded += folded;
        pthread_mutex_unlock(&core.lock);
    }
    ss_aggregator_release(&core.agg, buf);
    /* Do not keep a big profile's memory between periods. */
    if (scratch->cap > (1u << 20))
        ss_bytes_free(scratch);
}

static void *uploader_main(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "stacksight-upl");
    ss_bytes scratch = {0};
    int64_t clock_mark = 0;   /* this thread's CPU clock already counted (self_cost.h) */
    struct timespec deadline;
    pthread_mutex_lock(&core.lock);
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    for (;;) {
        int64_t period = core.cfg.upload_period_ns;
        deadline.tv_sec += period / 1000000000;
        deadline.tv_nsec += period % 1000000000;
        if (deadline.tv_nsec >= 1000000000) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000;
        }
        while (!core.stopping && !core.flush_requested) {
            if (pthread_cond_timedwait(&core.wake, &core.lock, &deadline) == ETIMEDOUT)
                break;
        }
        if (core.stopping && !core.flush_on_stop)
            break;
        int last = core.stopping;
        core.flush_requested = 0;
        pthread_mutex_unlock(&core.lock);
        finish_period(&scratch, last);
        int64_t clock = ss_self_cpu_ns();
        ss_self_cost_add_upload(clock - clock_mark);
        clock_mark = clock;
        pthread_mutex_lock(&core.lock);
        if (last)
            break;
        /* A period that overran (slow intake) restarts from now. */
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > deadline.tv_sec || (now.tv_sec == deadline.tv_sec && now.tv_nsec > deadline.tv_nsec))
            deadline = now;
    }
    pthread_mutex_unlock(&core.lock);
    ss_bytes_free(&scratch);
    ss_self_cost_add_upload(ss_self_cpu_ns() - clock_mark);
    return NULL;
}

/* ---- lifecycle ----------------------------------------------------------- */

static int start_threads_locked(char *err, size_t errlen)
{
    /* A process keeps its runtime-id and profile sequence across stop and
     * start; a forked child gets its own. */
    if (core.pid != (long)getpid() || !core.runtime_id[0]) {
        core.pid = (long)getpid();
        new_runtime_id(core.runtime_id, sizeof core.runtime_id);
        core.seq = 0;
    }
    memset(&core.stats, 0, sizeof core.stats);
    memset(&core.export_stats, 0, sizeof core.export_stats);
    core.stopping = core.flush_requested = 0;
    int64_t interval = 1000000000LL / (core.cfg.sample_hz > 0 ? core.cfg.sample_hz : 100);
    core.sampler = ss_sampler_start(interval, core.cfg.overhead_pct, &core.agg,
                                    core.binding.sample_threads, core.binding.sampler_exit, core.binding.ctx,
                                    core.binding.cpu_timers);
    if (!core.sampler) {
        snprintf(err, errlen, "cannot start the sampler thread");
        return -1;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&core.uploader, NULL, uploader_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        pthread_mutex_unlock(&core.lock);
        ss_sampler_stop(core.sampler);
        pthread_mutex_lock(&core.lock);
        core.sampler = NULL;
        snprintf(err, errlen, "cannot start the upload thread: %s", strerror(rc));
        return -1;
    }
    core.uploader_started = 1;
    core.running = 1;
    return 0;
}

int ss_core_start(const ss_config *cfg, const ss_binding *binding, char *err, size_t errlen)
{
    pthread_once(&atfork_once, register_atfork);
    pthread_mutex_lock(&core.lock);
    if (!cond_ready)
        init_cond();
    if (core.running || core.uploader_started) {
        pthread_mutex_unlock(&core.lock);
        snprintf(err, errlen, "a profiler is already running in this process");
        return -1;
    }
    core.cfg = *cfg;
    core.binding = *binding;
    core.child_needs_restart = 0;
    /* The aggregator lives as long as the process once created: event
     * producers on application threads may still hold its address while
     * another thread stops the profiler. */
    if (!core.agg_ready) {
        ss_aggregator_init(&core.agg, ss_unix_ns());
        core.agg_ready = 1;
    } else {
        pthread_mutex_lock(&core.agg.lock);
        ss_buffer_clear(&core.agg.buffers[0]);
        ss_buffer_clear(&core.agg.buffers[1]);
        core.agg.active->start_ns = ss_unix_ns();
        pthread_mutex_unlock(&core.agg.lock);
    }
    int rc = start_threads_locked(err, errlen);
    pthread_mutex_unlock(&core.lock);
    return rc;
}

void ss_core_stop(int flush)
{
    pthread_mutex_lock(&core.lock);
    if (!core.running) {
        core.child_needs_restart = 0;
        pthread_mutex_unlock(&core.lock);
        return;
    }
    core.running = 0;
    ss_sampler *sampler = core.sampler;
    core.sampler = NULL;
    pthread_mutex_unlock(&core.lock);

    ss_sampler_stats last;
    ss_sampler_get_stats(sampler, &last);
    ss_sampler_stop(sampler);   /* no more samples from the sidecar */

    pthread_mutex_lock(&core.lock);
    core.stopping = 1;
    core.flush_on_stop = flush;
    pthread_cond_signal(&core.wake);
    pthread_mutex_unlock(&core.lock);
    pthread_join(core.uploader, NULL);

    pthread_mutex_lock(&core.lock);
    core.uploader_started = 0;
    core.stopping = 0;
    core.stats.sampler = last;   /* the figures of the run that just ended */
    pthread_mutex_unlock(&core.lock);
}

int ss_core_running(void)
{
    pthread_mutex_lock(&core.lock);
    int r = core.running;
    pthread_mutex_unlock(&core.lock);
    return r;
}

int ss_core_needs_restart_in_child(void)
{
    pthread_mutex_lock(&core.lock);
    int r = core.child_needs_restart;
    pthread_mutex_unlock(&core.lock);
    return r;
}

int ss_core_restart_in_child(void)
{
    char err[256];
    pthread_mutex_lock(&core.lock);
    if (!core.child_needs_restart) {
        pthread_mutex_unlock(&core.lock);
        return 0;
    }
    core.child_needs_restart = 0;
    int rc = start_threads_locked(err, sizeof err);
    pthread_mutex_unlock(&core.lock);
    if (rc != 0)
        ss_log(SS_LOG_WARNING, "stacksight: profiling stopped in forked child %ld: %s", (long)getpid(), err);
    return rc;
}

ss_aggregator *ss_core_aggregator(void)
{
    return core.running ? &core.agg : NULL;
}

const ss_config *ss_core_config(void)
{
    return core.running ? &core.cfg : NULL;
}

const char *ss_core_runtime_id(void)
{
    return core.runtime_id;
}

void ss_core_get_stats(ss_core_stats *out)
{
    pthread_mutex_lock(&core.lock);
    *out = core.stats;
    if (core.sampler)
        ss_sampler_get_stats(core.sampler, &out->sampler);
    pthread_mutex_unlock(&core.lock);
}

void ss_core_request_flush(void)
{
    pthread_mutex_lock(&core.lock);
    if (core.running) {
        core.flush_requested = 1;
        pthread_cond_signal(&core.wake);
    }
    pthread_mutex_unlock(&core.lock);
}
