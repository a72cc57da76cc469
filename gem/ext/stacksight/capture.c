/* capture.c - how a Ruby thread records its own stack, inside a SIGPROF handler.
 *
 * Why a signal: on Ruby 3.1 only the thread itself may call rb_profile_frames
 * (Ruby 3.0 orders the frame-push writes so that this is safe from a signal
 * handler on the same thread). Two kinds of SIGPROF ask for a capture:
 *
 * - CPU slices. The core gives every sampled thread a POSIX timer on its own
 *   CPU clock (src/common/cpu_timer.c); the kernel fires it only while the
 *   thread runs, after every slice of CPU. The core's handler calls
 *   rt_capture_cpu_slice on that thread at that instant: it claims a free
 *   slot, fills it and returns the slot number, which reaches the sidecar
 *   with the event (state RT_CAPTURED until the sidecar attaches it to the
 *   thread). So CPU is charged to the code that was running when it was used.
 * - One-off requests, for a thread that does not run (seen for the first
 *   time, or blocked since it last ran): the sidecar claims a slot, stores
 *   the thread id in it and sends SIGPROF with rt_tgsigqueueinfo (SI_QUEUE),
 *   the slot number and a tag travelling in si_value. The core's handler only
 *   takes SI_TIMER signals, so ours is installed in front of it: it answers
 *   tagged requests and passes every other SIGPROF on to the core's handler.
 *
 * Both only read the thread's own frames and write a preallocated slot: no
 * allocation, no lock, errno preserved. SA_RESTART keeps restartable system
 * calls from failing with EINTR; Ruby's own blocking calls (sleep, select,
 * queue and mutex waits) retry on EINTR. */
#define _GNU_SOURCE
#include "rb_stacksight.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <ruby/debug.h>

#include "cpu_timer.h"
#include "self_cost.h"

#define RT_SIGNAL_TAG 0x55a7ULL   /* high bits of si_value: "this SIGPROF is ours" */

rt_pool *_Atomic rt_current_pool;
static struct sigaction previous_action;   /* handler we replaced, for chaining */
static int installed;                      /* our handler is in place */
static _Atomic int64_t handler_cost_ns;    /* CPU spent in handlers, drained by the sidecar */
static _Atomic int paused;                 /* overhead budget spent: CPU slices capture nothing */
static _Atomic uint64_t stat_slices;       /* CPU-slice captures taken */

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void chain(int sig, siginfo_t *si, void *uc)
{
    if (previous_action.sa_flags & SA_SIGINFO) {
        if (previous_action.sa_sigaction)
            previous_action.sa_sigaction(sig, si, uc);
    } else if (previous_action.sa_handler != SIG_DFL && previous_action.sa_handler != SIG_IGN &&
               previous_action.sa_handler) {
        previous_action.sa_handler(sig);
    }
    /* SIG_DFL would end the process ("Profiling timer expired"): never. */
}

static int64_t monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Fill slot `c` (state RT_WRITING, owned by this handler) with the calling
 * thread's frames. */
static void fill(rt_pool *pool, rt_capture *c)
{
    int64_t t0 = thread_cpu_ns();
    int n;
    if (!ruby_native_thread_p()) {
        n = RT_FRAMES_TORN;
    } else if (rb_during_gc()) {
        n = RT_FRAMES_GC;
    } else {
        size_t gc_before = rb_gc_count();
        n = rb_profile_frames(0, pool->max_frames, c->frames, c->lines);
        /* A GC that started meanwhile may have moved what we just read. */
        if (rb_during_gc() || rb_gc_count() != gc_before)
            n = RT_FRAMES_TORN;
    }
    c->n = n;
    c->handler_ns = thread_cpu_ns() - t0;
    atomic_fetch_add(&handler_cost_ns, c->handler_ns);
}

/* The core's capture hook (ss_cpu_capture_fn): runs in the core's SIGPROF
 * handler on thread `tid`, which just used a slice of CPU. */
static int capture_cpu_slice(pid_t tid)
{
    int saved_errno = errno;
    int token = -1;
    rt_pool *pool = atomic_load(&rt_current_pool);
    if (!pool || atomic_load_explicit(&paused, memory_order_relaxed))
        goto out;
    /* Start where this thread's last search ended, so that threads signalled
     * at the same time rarely contend for one slot. */
    unsigned start = ((unsigned)tid * 2654435761u) % (unsigned)pool->nslots;
    for (int k = 0; k < pool->nslots; k++) {
        int i = (int)((start + (unsigned)k) % (unsigned)pool->nslots);
        rt_capture *c = &pool->slots[i];
        int expected = RT_FREE;
        if (atomic_load_explicit(&c->state, memory_order_relaxed) != RT_FREE ||
            !atomic_compare_exchange_strong(&c->state, &expected, RT_WRITING))
            continue;
        c->tid = tid;
        c->requested_ns = monotonic_ns();
        fill(pool, c);
        atomic_store(&c->state, RT_CAPTURED);
        atomic_fetch_add_explicit(&stat_slices, 1, memory_order_relaxed);
        rt_park_wake_from_handler();
        token = i;
        break;
    }
out:
    errno = saved_errno;
    return token;
}

static void on_sigprof(int sig, siginfo_t *si, void *uc)
{
    uint64_t v = (uint64_t)(uintptr_t)si->si_value.sival_ptr;
    if (si->si_code != SI_QUEUE || si->si_pid != getpid() || (v >> 32) != RT_SIGNAL_TAG) {
        chain(sig, si, uc);   /* CPU-slice timers: the core's handler */
        return;
    }
    int saved_errno = errno;
    /* Pools are only replaced while no sampler runs; a late signal for a
     * retired pool finds a slot whose tid or state does not match. */
    rt_pool *pool = atomic_load(&rt_current_pool);
    uint32_t idx = (uint32_t)(v & 0xffffffffu);
    if (!pool || idx >= (uint32_t)pool->nslots)
        goto out;
    rt_capture *c = &pool->slots[idx];
    if (c->tid != (pid_t)syscall(SYS_gettid))
        goto out;
    int expected = RT_REQUESTED;
    if (!atomic_compare_exchange_strong(&c->state, &expected, RT_WRITING))
        goto out;
    fill(pool, c);
    /* CPU-slice captures are timed by the core's handler around this one;
     * a requested capture's cost is counted here (self_cost.h). */
    ss_self_cost_add_signal(c->handler_ns);
    atomic_store(&c->state, RT_READY);
    rt_park_wake_from_handler();
out:
    errno = saved_errno;
}

const char *rt_capture_install(void)
{
    if (installed)
        return NULL;
    /* The core's CPU-timer handler goes in first (it wants SIGPROF unused),
     * then ours in front of it. */
    if (!ss_cpu_timer_available()) {
        struct sigaction cur;
        if (sigaction(SIGPROF, NULL, &cur) != 0)
            return "cannot read the SIGPROF handler";
        if ((cur.sa_flags & SA_SIGINFO) || cur.sa_handler != SIG_DFL)
            return "SIGPROF is already used in this process (another profiler such as stackprof?)";
        if (ss_cpu_timer_install() != 0 || !ss_cpu_timer_available())
            return "cannot set up the CPU timers' SIGPROF handler";
    }
    ss_cpu_timer_set_capture(capture_cpu_slice);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigprof;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigfillset(&sa.sa_mask);   /* as the core's handler, which ours calls */
    /* Read the handler to chain to before ours can run. */
    if (sigaction(SIGPROF, NULL, &previous_action) != 0)
        return "cannot read the SIGPROF handler";
    if ((previous_action.sa_flags & SA_SIGINFO) && previous_action.sa_sigaction == on_sigprof)
        memset(&previous_action, 0, sizeof previous_action);
    ss_cpu_timer_set_front_handler(on_sigprof);
    if (sigaction(SIGPROF, &sa, NULL) != 0)
        return "cannot install the SIGPROF handler";
    installed = 1;
    return NULL;
}

void rt_capture_pause(int on)
{
    atomic_store(&paused, on);
}

uint64_t rt_stat_slices(void)
{
    return atomic_load(&stat_slices);
}

int rt_pool_ensure(int nslots, int max_frames)
{
    rt_pool *cur = atomic_load(&rt_current_pool);
    if (cur && cur->nslots >= nslots && cur->max_frames >= max_frames)
        return 0;
    if (nslots > 0xffff)
        nslots = 0xffff;
    rt_pool *p = calloc(1, sizeof *p);
    if (!p)
        return -1;
    p->slots = calloc((size_t)nslots, sizeof *p->slots);
    if (!p->slots) {
        free(p);
        return -1;
    }
    p->nslots = nslots;
    p->max_frames = max_frames;
    for (int i = 0; i < nslots; i++) {
        p->slots[i].frames = calloc((size_t)max_frames, sizeof(VALUE));
        p->slots[i].lines = calloc((size_t)max_frames, sizeof(int));
        if (!p->slots[i].frames || !p->slots[i].lines) {
            /* Leave what was allocated: a smaller pool is still usable. */
            free(p->slots[i].frames);
            free(p->slots[i].lines);
            p->nslots = i;
            break;
        }
    }
    if (p->nslots == 0) {
        free(p->slots);
        free(p);
        return -1;
    }
    p->retired = cur;
    atomic_store(&rt_current_pool, p);
    return 0;
}

int rt_capture_request(int idx, pid_t tid)
{
    /* trap('PROF') or a native library took the signal: a request would run
     * the application's handler, or end the process with the default action. */
    if (!ss_cpu_timer_handler_intact())
        return -2;
    siginfo_t si;
    memset(&si, 0, sizeof si);
    si.si_signo = SIGPROF;
    si.si_code = SI_QUEUE;
    si.si_pid = getpid();
    si.si_uid = getuid();
    si.si_value.sival_ptr = (void *)(uintptr_t)((RT_SIGNAL_TAG << 32) | (uint64_t)(uint32_t)idx);
    if (syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, SIGPROF, &si) != 0)
        return -1;
    return 0;
}

void rt_pool_reset(void)
{
    for (rt_pool *p = atomic_load(&rt_current_pool); p; p = p->retired)
        for (int i = 0; i < p->nslots; i++)
            atomic_store(&p->slots[i].state, RT_FREE);
}

void rt_capture_discard_pending(void)
{
    /* Setting SIG_IGN discards a pending signal of that number (POSIX), for
     * every thread; then our handler goes back in case exec fails. */
    struct sigaction ign, ours;
    memset(&ign, 0, sizeof ign);
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    if (sigaction(SIGPROF, &ign, &ours) == 0)
        sigaction(SIGPROF, &ours, NULL);
}

int64_t rt_capture_take_cost(void)
{
    return atomic_exchange(&handler_cost_ns, 0);
}

void rt_capture_add_cost(int64_t ns)
{
    atomic_fetch_add(&handler_cost_ns, ns);
}
