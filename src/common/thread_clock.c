/* thread_clock.c - per-thread CPU clocks and the sidecar's delta table (see thread_clock.h). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "thread_clock.h"

#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Linux encodes a thread's CPU clock as a negative clockid built from its TID:
 * ~tid << 3 | CPUCLOCK_PERTHREAD_MASK (4) | CPUCLOCK_SCHED (2). This is the
 * kernel ABI glibc itself uses for pthread_getcpuclockid. */
static clockid_t tid_cpu_clock(pid_t tid)
{
    return (clockid_t)((~(unsigned)tid << 3) | 4u | 2u);
}

static int64_t read_clock(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t ss_thread_cpu_ns(pid_t tid)
{
    if (tid <= 0)
        return -1;
    return read_clock(tid_cpu_clock(tid));
}

int64_t ss_self_cpu_ns(void) { return read_clock(CLOCK_THREAD_CPUTIME_ID); }
int64_t ss_monotonic_ns(void) { return read_clock(CLOCK_MONOTONIC); }
int64_t ss_unix_ns(void) { return read_clock(CLOCK_REALTIME); }
pid_t ss_gettid(void) { return (pid_t)syscall(SYS_gettid); }

void ss_cpu_tracker_reset(ss_cpu_tracker *t)
{
    memset(t, 0, sizeof *t);
}

void ss_cpu_tracker_begin_tick(ss_cpu_tracker *t)
{
    t->tick++;
}

static ss_cpu_tracker_slot *find_slot(ss_cpu_tracker *t, pid_t tid, int create)
{
    uint32_t start = ((uint32_t)tid * 2654435761u) % SS_CPU_TRACKER_SLOTS;
    for (uint32_t i = 0; i < SS_CPU_TRACKER_SLOTS; i++) {
        ss_cpu_tracker_slot *s = &t->slots[(start + i) % SS_CPU_TRACKER_SLOTS];
        if (s->tid == tid)
            return s;
        if (s->tid == 0) {
            /* linear probing: a free slot ends the chain */
            if (!create || t->used >= SS_CPU_TRACKER_SLOTS - 1)
                return NULL;
            s->tid = tid;
            s->last_cpu_ns = -1;
            t->used++;
            return s;
        }
    }
    return NULL;
}

int64_t ss_cpu_tracker_delta(ss_cpu_tracker *t, pid_t tid)
{
    int64_t now = ss_thread_cpu_ns(tid);
    if (now < 0)
        return -1;
    ss_cpu_tracker_slot *s = find_slot(t, tid, 1);
    if (!s)
        return 0;   /* table full: sample without CPU rather than fail */
    int64_t delta = s->last_cpu_ns >= 0 && now >= s->last_cpu_ns ? now - s->last_cpu_ns : 0;
    s->last_cpu_ns = now;
    s->seen_tick = t->tick;
    return delta;
}

void ss_cpu_tracker_end_tick(ss_cpu_tracker *t)
{
    if (t->used < SS_CPU_TRACKER_SLOTS * 3 / 4 || t->tick % 128 != 0)
        return;
    /* Rebuild without dead or stale threads so probe chains stay intact. */
    uint32_t n = 0;
    for (uint32_t i = 0; i < SS_CPU_TRACKER_SLOTS; i++) {
        ss_cpu_tracker_slot *s = &t->slots[i];
        if (s->tid && ss_thread_cpu_ns(s->tid) >= 0 && s->seen_tick + SS_CPU_TRACKER_STALE_TICKS > t->tick)
            t->scratch[n++] = *s;
    }
    memset(t->slots, 0, sizeof t->slots);
    t->used = 0;
    for (uint32_t i = 0; i < n; i++) {
        ss_cpu_tracker_slot *s = find_slot(t, t->scratch[i].tid, 1);
        if (s)
            *s = t->scratch[i];
    }
}
