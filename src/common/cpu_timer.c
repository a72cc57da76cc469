/* cpu_timer.c - per-thread CPU-clock timers and their signal (see cpu_timer.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "cpu_timer.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "doorbell.h"
#include "log.h"
#include "self_cost.h"

#define EVENT_SIGNAL SIGPROF
#define RING_SIZE 1024u          /* power of two; events beyond it are merged */

static atomic_uint ring_head;    /* next slot to write (handler) */
static atomic_uint ring_tail;    /* next slot to read (written by the sidecar only) */
/* Ring entry: tid (bits 0-31) | token + 1 (bits 32-47) | slices (48-63); 0 = empty. */
static _Atomic uint64_t ring[RING_SIZE];
static ss_cpu_capture_fn capture_fn;      /* set before timers exist */
static pthread_once_t install_once = PTHREAD_ONCE_INIT;
static void (*_Atomic front_handler)(int, siginfo_t *, void *);   /* a binding's, chaining to ours */
static int install_result = -1;

static void on_cpu_slice(int sig, siginfo_t *info, void *uctx)
{
    (void)sig;
    (void)uctx;
    int saved = errno;
    if (info && info->si_code == SI_TIMER) {
        /* This thread's CPU clock around the handler: what the profiler costs
         * the application thread, counted in the overhead budget. */
        struct timespec t0, t1;
        int timed = clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0) == 0;
        pid_t tid = (pid_t)info->si_value.sival_int;
        ss_cpu_capture_fn fn = capture_fn;
        int token = fn ? fn(tid) : -1;
        int overrun = info->si_overrun > 0 ? info->si_overrun : 0;
        uint64_t slices = (uint64_t)(overrun < 0xfffe ? overrun + 1 : 0xffff);
        uint64_t entry = (uint32_t)tid | ((uint64_t)(uint16_t)(token + 1) << 32) | slices << 48;
        unsigned at = atomic_fetch_add_explicit(&ring_head, 1, memory_order_relaxed);
        atomic_store_explicit(&ring[at & (RING_SIZE - 1)], entry, memory_order_release);
        /* A captured stack keeps: the sidecar takes it at its next wake-up
         * (the wall tick) instead of waking once per slice. Without a capture
         * the stack must be read while the thread still runs: wake it now. */
        unsigned waiting = at + 1 - atomic_load_explicit(&ring_tail, memory_order_relaxed);
        if (token < 0 || waiting >= SS_CPU_DEFER_EVENTS)
            ss_doorbell_ring();
        if (timed && clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1) == 0)
            ss_self_cost_add_signal((int64_t)(t1.tv_sec - t0.tv_sec) * 1000000000 + (t1.tv_nsec - t0.tv_nsec));
    }
    errno = saved;
}

/* Timers are not inherited by a forked child; events the parent had not
 * drained are not the child's. */
static void after_fork_child(void)
{
    atomic_store(&ring_head, 0);
    atomic_store(&ring_tail, 0);
    for (unsigned i = 0; i < RING_SIZE; i++)
        atomic_store(&ring[i], 0);
}

static void install(void)
{
    struct sigaction old;
    if (sigaction(EVENT_SIGNAL, NULL, &old) != 0)
        return;
    int ours = (old.sa_flags & SA_SIGINFO) && old.sa_sigaction == on_cpu_slice;
    if (!ours && ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL)) {
        ss_log(SS_LOG_WARNING, "stacksight: SIGPROF is already used by this process; CPU time is "
                               "attributed at sampling ticks instead (less precise for threads that "
                               "alternate computing and waiting)");
        return;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_cpu_slice;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);
    if (sigaction(EVENT_SIGNAL, &sa, NULL) != 0)
        return;
    pthread_atfork(NULL, NULL, after_fork_child);
    install_result = 0;
}

int ss_cpu_timer_install(void)
{
    pthread_once(&install_once, install);
    return install_result;
}

void ss_cpu_timer_set_front_handler(void (*fn)(int, siginfo_t *, void *))
{
    atomic_store(&front_handler, fn);
}

int ss_cpu_timer_handler_intact(void)
{
    struct sigaction cur;
    if (install_result != 0 || sigaction(EVENT_SIGNAL, NULL, &cur) != 0)
        return 0;
    if (!(cur.sa_flags & SA_SIGINFO))
        return 0;
    return cur.sa_sigaction == on_cpu_slice || (cur.sa_sigaction && cur.sa_sigaction == atomic_load(&front_handler));
}

int ss_cpu_timer_available(void)
{
    return install_result == 0;
}

int ss_cpu_timer_pending(void)
{
    return atomic_load_explicit(&ring_head, memory_order_acquire) !=
           atomic_load_explicit(&ring_tail, memory_order_relaxed);
}

void ss_cpu_timer_set_capture(ss_cpu_capture_fn fn)
{
    capture_fn = fn;
}

size_t ss_cpu_timer_drain(pid_t *tids, int32_t *tokens, uint32_t *slices, size_t max)
{
    unsigned head = atomic_load_explicit(&ring_head, memory_order_acquire);
    unsigned tail = atomic_load_explicit(&ring_tail, memory_order_relaxed);
    if (head - tail > RING_SIZE)
        tail = head - RING_SIZE;        /* overrun: the oldest events were overwritten */
    size_t got = 0;
    while (tail != head && got < max) {
        uint64_t entry = atomic_exchange_explicit(&ring[tail & (RING_SIZE - 1)], 0, memory_order_acquire);
        tail++;
        if ((pid_t)(uint32_t)entry > 0) {
            tids[got] = (pid_t)(uint32_t)entry;
            tokens[got] = (int32_t)(uint16_t)(entry >> 32) - 1;
            slices[got++] = (uint32_t)(entry >> 48);
        }
    }
    atomic_store_explicit(&ring_tail, tail, memory_order_relaxed);
    return got;
}

void ss_cpu_timer_set_init(ss_cpu_timer_set *set, int64_t interval_ns)
{
    memset(set, 0, sizeof *set);
    set->interval_ns = interval_ns;
}

static ss_cpu_timer_slot *find_slot(ss_cpu_timer_set *set, pid_t tid, int create)
{
    unsigned start = ((unsigned)tid * 2654435761u) % SS_CPU_TIMER_SLOTS;
    for (unsigned i = 0; i < SS_CPU_TIMER_SLOTS; i++) {
        ss_cpu_timer_slot *s = &set->slots[(start + i) % SS_CPU_TIMER_SLOTS];
        if (s->tid == tid)
            return s;
        if (s->tid == 0)
            return create ? s : NULL;
    }
    return NULL;
}

void ss_cpu_timer_track(ss_cpu_timer_set *set, pid_t tid, uint64_t tick)
{
    if (set->failed || tid <= 0 || set->count >= SS_CPU_TIMER_SLOTS * 3 / 4)
        return;
    ss_cpu_timer_slot *s = find_slot(set, tid, 1);
    if (!s)
        return;
    if (s->tid == tid) {
        s->seen_tick = tick;
        return;
    }
    /* The thread's CPU clock, as in thread_clock.c. */
    clockid_t clock = (clockid_t)((~(unsigned)tid << 3) | 4u | 2u);
    struct sigevent ev;
    memset(&ev, 0, sizeof ev);
    ev.sigev_notify = SIGEV_THREAD_ID;
    ev.sigev_signo = EVENT_SIGNAL;
    ev.sigev_value.sival_int = tid;
    ev._sigev_un._tid = tid;
    timer_t timer;
    if (timer_create(clock, &ev, &timer) != 0) {
        if (errno != EINVAL && errno != ESRCH) {   /* a dead thread is not a failure */
            ss_log_once(SS_LOG_WARNING, "cpu-timer", "stacksight: cannot create CPU timers (%s); CPU "
                        "time is attributed at sampling ticks instead", strerror(errno));
            set->failed = 1;
        }
        return;
    }
    struct itimerspec spec;
    spec.it_interval.tv_sec = set->interval_ns / 1000000000;
    spec.it_interval.tv_nsec = set->interval_ns % 1000000000;
    spec.it_value = spec.it_interval;
    timer_settime(timer, 0, &spec, NULL);
    s->tid = tid;
    s->timer = (void *)timer;
    s->seen_tick = tick;
    set->count++;
}

static void rebuild(ss_cpu_timer_set *set, uint64_t oldest_tick, int delete_all)
{
    /* Delete stale timers, then reinsert survivors so probe chains stay
     * intact. Only the sidecar calls this, so one static scratch suffices. */
    static ss_cpu_timer_slot survivors[SS_CPU_TIMER_SLOTS];
    unsigned n = 0;
    for (unsigned i = 0; i < SS_CPU_TIMER_SLOTS; i++) {
        ss_cpu_timer_slot *s = &set->slots[i];
        if (!s->tid)
            continue;
        if (delete_all || s->seen_tick < oldest_tick)
            timer_delete((timer_t)s->timer);
        else
            survivors[n++] = *s;
    }
    memset(set->slots, 0, sizeof set->slots);
    set->count = 0;
    for (unsigned i = 0; i < n; i++) {
        ss_cpu_timer_slot *s = find_slot(set, survivors[i].tid, 1);
        *s = survivors[i];
        set->count++;
    }
}

void ss_cpu_timer_expire(ss_cpu_timer_set *set, uint64_t oldest_tick)
{
    int stale = 0;
    for (unsigned i = 0; i < SS_CPU_TIMER_SLOTS && !stale; i++)
        stale = set->slots[i].tid && set->slots[i].seen_tick < oldest_tick;
    if (stale)
        rebuild(set, oldest_tick, 0);
}

void ss_cpu_timer_set_clear(ss_cpu_timer_set *set)
{
    rebuild(set, 0, 1);
}

void ss_cpu_timer_set_forget(ss_cpu_timer_set *set)
{
    memset(set->slots, 0, sizeof set->slots);
    set->count = 0;
}
