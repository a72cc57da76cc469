/* thread_clock.h - per-thread CPU time read from another thread.
 *
 * CPU time must come from the sampled thread's own clock, not from "it was
 * running when we looked": that is what charges a long GIL-holding C call to
 * its Python caller and gives idle threads zero. Linux exposes each thread's
 * CPU clock by TID; reading it for a thread that exited fails cleanly
 * (pthread_getcpuclockid on a dead pthread_t would read freed memory). */
#ifndef SS_THREAD_CLOCK_H
#define SS_THREAD_CLOCK_H

#include <stdint.h>
#include <sys/types.h>

/* CPU time consumed by thread `tid` in ns, or -1 if it no longer exists. */
int64_t ss_thread_cpu_ns(pid_t tid);
/* CPU time of the calling thread. */
int64_t ss_self_cpu_ns(void);
pid_t ss_gettid(void);
int64_t ss_monotonic_ns(void);
int64_t ss_unix_ns(void);

/* Remembers each thread's last CPU reading so the sidecar can charge the
 * delta. Owned by the sidecar thread only. Bounded: when it fills up, entries
 * of threads that no longer exist (or were not seen for a long time) go. */
#define SS_CPU_TRACKER_SLOTS 4096
#define SS_CPU_TRACKER_STALE_TICKS 6000   /* about a minute at 100 Hz */
typedef struct ss_cpu_tracker_slot {
    pid_t tid;                 /* 0 = free */
    int64_t last_cpu_ns;       /* reading when CPU was last charged */
    uint64_t seen_tick;        /* tick number of the last reading */
} ss_cpu_tracker_slot;

typedef struct ss_cpu_tracker {
    ss_cpu_tracker_slot slots[SS_CPU_TRACKER_SLOTS];
    unsigned used;             /* slots with tid != 0 */
    uint64_t tick;
    ss_cpu_tracker_slot scratch[SS_CPU_TRACKER_SLOTS];  /* end_tick's rebuild space */
} ss_cpu_tracker;

void ss_cpu_tracker_reset(ss_cpu_tracker *t);
void ss_cpu_tracker_begin_tick(ss_cpu_tracker *t);
/* CPU ns thread `tid` used since the previous call for it (the first call
 * charges 0 and sets the baseline). -1 if the thread is gone. */
int64_t ss_cpu_tracker_delta(ss_cpu_tracker *t, pid_t tid);
/* Housekeeping after a tick: drop dead and long-unseen threads when full. */
void ss_cpu_tracker_end_tick(ss_cpu_tracker *t);

#endif
