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

/* Remembers each thread's last CPU reading so a tick can charge the delta.
 * Owned by the sidecar thread only; bounded (oldest threads are evicted by
 * ss_cpu_tracker_end_tick when they were not seen in a tick). */
#define SS_CPU_TRACKER_SLOTS 4096
typedef struct ss_cpu_tracker_slot {
    pid_t tid;                 /* 0 = free */
    int64_t last_cpu_ns;       /* reading at the previous tick */
    uint64_t seen_tick;        /* tick number of the last reading */
} ss_cpu_tracker_slot;

typedef struct ss_cpu_tracker {
    ss_cpu_tracker_slot slots[SS_CPU_TRACKER_SLOTS];
    uint64_t tick;
    ss_cpu_tracker_slot scratch[SS_CPU_TRACKER_SLOTS];  /* end_tick's rebuild space */
} ss_cpu_tracker;

void ss_cpu_tracker_reset(ss_cpu_tracker *t);
void ss_cpu_tracker_begin_tick(ss_cpu_tracker *t);
/* CPU ns thread `tid` used since the previous tick it was seen in (the first
 * sighting charges 0). -1 if the thread is gone. */
int64_t ss_cpu_tracker_delta(ss_cpu_tracker *t, pid_t tid);
/* Forget threads not seen in this tick. */
void ss_cpu_tracker_end_tick(ss_cpu_tracker *t);

#endif
