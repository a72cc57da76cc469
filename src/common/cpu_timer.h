/* cpu_timer.h - "this thread just used another slice of CPU" events.
 *
 * Charging a thread's CPU delta to whatever stack it shows when the wall
 * clock ticks is wrong for threads that alternate computing and waiting: a
 * worker that prices an order and then sleeps 2 ms is usually seen sleeping,
 * so its CPU would land on `sleep`. Instead each thread gets a POSIX timer on
 * its own CPU clock. The kernel fires it only while the thread runs, after
 * every `interval` of CPU it used; the signal handler notes the thread id
 * and wakes the sidecar, which samples the thread microseconds later, while
 * it is still on CPU. Threads that wait receive no signal at all, so their
 * system calls are never interrupted.
 *
 * The handler is async-signal-safe: it writes the thread id into a fixed
 * ring and rings the sampler's doorbell (unless the stack was captured in
 * the handler: see SS_CPU_DEFER_EVENTS). It is installed only if the signal is unused,
 * and stays installed (doing nothing) after stop so a late signal cannot
 * kill the process. */
#ifndef SS_CPU_TIMER_H
#define SS_CPU_TIMER_H

#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

/* Install the handler (once per process). Returns 0, or -1 when the signal
 * already has a handler that is not ours (then CPU timers are unavailable). */
int ss_cpu_timer_install(void);

/* A binding that puts its own handler in front of ours (chaining to it)
 * names it here, so that the handler check below accepts it. */
void ss_cpu_timer_set_front_handler(void (*fn)(int, siginfo_t *, void *));

/* 1 while the signal's handler is still ours (or the front one). An
 * application that installs its own SIGPROF handler, or resets it to the
 * default action (which ends the process), takes the signal back: the sampler
 * checks this every wall tick and then stops all CPU timers (one syscall). */
int ss_cpu_timer_handler_intact(void);

/* 1 once the handler is installed (CPU timers can be used). */
int ss_cpu_timer_available(void);

/* 1 while events wait to be drained (sampler thread only). Each event also
 * rings the doorbell (doorbell.h). */
int ss_cpu_timer_pending(void);

/* Optional, set by the binding before start: called inside the signal
 * handler, on the thread that used the slice, to capture its stack at that
 * instant. Must be async-signal-safe. Returns a token >= 0 that the binding
 * will get back with the event, or -1 (the sidecar then reads the stack). */
typedef int (*ss_cpu_capture_fn)(pid_t tid);
/* An event with a captured stack does not wake the sidecar (it is taken at
 * the next wall tick, one wake-up for all of them) until this many events
 * wait; a binding's capture keeps at least twice as many slots, so that
 * waiting events never use up its captures. */
#define SS_CPU_DEFER_EVENTS 8
void ss_cpu_timer_set_capture(ss_cpu_capture_fn fn);

/* Take the waiting events: thread ids, capture tokens (-1 = none) and how
 * many CPU slices each event stands for (1 + timer overruns, when signal
 * delivery was late). Duplicates possible. Returns how many. */
size_t ss_cpu_timer_drain(pid_t *tids, int32_t *tokens, uint32_t *slices, size_t max);

/* Timers per thread, owned by the sidecar. */
#define SS_CPU_TIMER_SLOTS 4096
typedef struct ss_cpu_timer_slot {
    pid_t tid;             /* 0 = free */
    void *timer;           /* timer_t, stored as a pointer */
    uint64_t seen_tick;    /* last wall tick the thread was reported in */
} ss_cpu_timer_slot;

typedef struct ss_cpu_timer_set {
    int64_t interval_ns;   /* CPU time between events */
    unsigned count;        /* armed timers */
    int failed;            /* timer_create failed once: stop trying */
    ss_cpu_timer_slot slots[SS_CPU_TIMER_SLOTS];
} ss_cpu_timer_set;

void ss_cpu_timer_set_init(ss_cpu_timer_set *set, int64_t interval_ns);
/* Make sure thread `tid` has a timer; remember it was seen at `tick`. */
void ss_cpu_timer_track(ss_cpu_timer_set *set, pid_t tid, uint64_t tick);
/* Delete timers of threads not seen since `oldest_tick`. */
void ss_cpu_timer_expire(ss_cpu_timer_set *set, uint64_t oldest_tick);
void ss_cpu_timer_set_clear(ss_cpu_timer_set *set);
/* In a forked child: timers are not inherited; forget them without deleting. */
void ss_cpu_timer_set_forget(ss_cpu_timer_set *set);

#endif
