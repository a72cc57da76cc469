/* rb_stacksight.h - what the Ruby binding's files share.
 *
 * Ruby 3.1 cannot read another thread's frames, so every stack is taken by
 * the thread itself, in a SIGPROF handler, with rb_profile_frames into a
 * preallocated capture slot. Running threads are interrupted by the core's
 * per-thread CPU-clock timers (src/common/cpu_timer.c) after every slice of
 * CPU they use, so their CPU is charged to the code that used it. A thread
 * that does not run is signalled only to learn where it waits: once when it
 * is seen for the first time, and once when it blocks after running. A Ruby
 * helper thread later turns the raw frame objects into interned names under
 * the GVL and adds them to the aggregator. Wall time of a thread goes to its
 * newest stack.
 *
 *   threads.c  - table of Ruby threads the sidecar can read without the GVL,
 *                and the sidecar's per-tick decision (sample_threads)
 *   capture.c  - the capture-slot pool and the SIGPROF handlers
 *   resolve.c  - frame objects -> function ids (cache kept alive across GC)
 *   park.c     - the helper's deadlock-friendly sleep (Ruby's detector fires)
 *   native.c   - the Stacksight::Native module: start/stop, fork, exec, logs */
#ifndef RB_STACKSIGHT_H
#define RB_STACKSIGHT_H

#include <ruby.h>
#include <stdatomic.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/types.h>

#include "aggregator.h"
#include "sampler.h"

/* ---- capture slots (capture.c) ------------------------------------------ */

enum rt_capture_state {
    RT_FREE,        /* unused; the sidecar (request) or a CPU-slice handler may claim it */
    RT_REQUESTED,   /* claimed by the sidecar and signalled; the handler has not run yet */
    RT_WRITING,     /* a handler is filling it */
    RT_CAPTURED,    /* filled by a CPU-slice handler; the sidecar has not attached it
                     * to its thread yet (then RT_READY) */
    RT_READY,       /* filled and attached; waiting for the resolver */
    RT_RESOLVING    /* the resolver took it (frames still marked for GC) */
};

#define RT_FRAMES_TORN (-1)   /* n: capture unusable (GC ran meanwhile, not a Ruby thread) */
#define RT_FRAMES_GC   (-2)   /* n: the thread was interrupted inside the GC */

typedef struct rt_capture {
    _Atomic int state;        /* enum rt_capture_state */
    pid_t tid;                /* thread that fills the slot */
    int thread;               /* index in the thread table at request time */
    uint32_t thread_gen;      /* that entry's generation, to detect reuse */
    uint64_t seq;             /* request number, orders captures of one thread */
    int64_t requested_ns;     /* monotonic time of the request or capture (stale detection) */
    int n;                    /* frames written, or RT_FRAMES_TORN / RT_FRAMES_GC */
    int64_t handler_ns;       /* CPU the handler spent (overhead accounting) */
    ss_labels labels;         /* labels of the thread, copied at request time */
    int64_t cpu_ns, wall_ns;  /* time charged to this stack (guarded by the table lock) */
    int64_t cpu_n, wall_n;    /* samples charged to this stack */
    VALUE *frames;            /* max_frames frame objects, leaf first */
    int *lines;               /* line of each frame (0 for C methods) */
} rt_capture;

typedef struct rt_pool {
    rt_capture *slots;        /* nslots captures */
    int nslots;
    int max_frames;           /* capacity of each slot's arrays */
    struct rt_pool *retired;  /* older pools: kept, a late signal may still name them */
} rt_pool;

/* The current pool. Replaced (never freed) when a start needs a bigger one. */
extern rt_pool *_Atomic rt_current_pool;

/* Install the core's CPU-timer SIGPROF handler with our capture hook, and
 * ours (one-off requests) in front of it. Idempotent. NULL, or why not. */
const char *rt_capture_install(void);
int rt_pool_ensure(int nslots, int max_frames);
/* Sidecar: ask thread `tid` (running or not) to fill slot `idx` now. 0, -1
 * if the thread is gone, -2 if the application took SIGPROF (no request can
 * be sent any more; time is then charged under RT_SIGNAL_TAKEN_FRAME). */
int rt_capture_request(int idx, pid_t tid);
#define RT_SIGNAL_TAKEN_FRAME "[stack unknown: the application took SIGPROF]"
/* Drop every claimed slot (after fork, at start). */
void rt_pool_reset(void);
/* Discard pending SIGPROFs of the whole process (before exec). */
void rt_capture_discard_pending(void);
/* CPU spent by handlers since the last call (sidecar's overhead budget). */
int64_t rt_capture_take_cost(void);
void rt_capture_add_cost(int64_t ns);
/* While on, CPU-slice signals capture nothing (overhead budget spent). */
void rt_capture_pause(int on);
uint64_t rt_stat_slices(void);                /* CPU-slice captures taken */

/* ---- thread table (threads.c) ------------------------------------------- */

#define RT_MAX_THREADS 4096

typedef struct rt_thread {
    int used;                 /* holds a live Ruby thread */
    pid_t tid;                /* native thread id */
    uint32_t gen;             /* bumped each time the entry is (re)used */
    int excluded;             /* our own helper thread: never sampled */
    ss_labels labels;         /* thread id, native id, name (string id) */
    int latest;               /* capture slot of the newest stack not resolved yet, -1 none */
    int64_t carry_cpu, carry_wall;  /* time not yet charged to any stack */
    int64_t carry_cpu_n, carry_wall_n;
    ss_frame *last;           /* last resolved stack (max_frames), for blocked threads */
    uint32_t nlast;           /* frames in `last`; 0 = none yet */
    uint64_t last_seq;        /* request number `last` came from */
    int64_t tick_cpu;         /* the thread's CPU clock at the previous wall tick, -1 unknown */
    int moved;                /* ran since its newest stack: blocked now = stack unknown */
    int64_t requested_ns;     /* last one-off request, for retries */
    int64_t ran_ns;           /* last wall tick that saw it use CPU */
    int woken;                /* signalled for a request since the previous wall tick */
} rt_thread;

extern pthread_mutex_t rt_table_lock;   /* guards the table and slot accumulators */

int rt_threads_init(int max_frames);    /* allocate once; 0 or -1 */
void rt_threads_reset(void);            /* forget every thread (fork child, start) */
/* Register or refresh a thread. Call with the GVL; takes the table lock. */
void rt_thread_register(pid_t tid, int64_t thread_id, const char *name, size_t name_len, int excluded);
void rt_thread_unregister(pid_t tid);
void rt_thread_set_name(pid_t tid, const char *name, size_t name_len);
/* Record a resolved stack as the thread's latest (resolver, takes the lock). */
void rt_thread_store_stack(int idx, uint32_t gen, uint64_t seq, const ss_frame *f, uint32_t n);
/* The sidecar's tick (ss_binding.sample_threads). */
void rt_sample_threads(void *ctx, ss_tick *tick);
/* Sampling parameters set at start. */
void rt_threads_configure(double overhead_pct, int wake_fd);
/* Helper wake-up: write one byte to the pipe (thread-safe, never blocks). */
void rt_wake_helper(void);
void rt_set_wake_fd(int fd);
uint64_t rt_stat_requests(void);
uint64_t rt_stat_skipped(void);
uint64_t rt_stat_attached(void);              /* CPU-slice captures charged */

/* ---- helper parking (park.c) ------------------------------------------- */

void rt_park_init(VALUE mNative);       /* Native.park / Native.unpark */
/* SIGPROF handler, after a capture: wake the parked helper (async-signal-safe). */
void rt_park_wake_from_handler(void);

/* ---- resolution (resolve.c) --------------------------------------------- */

void rt_resolve_init(VALUE module);     /* GC root for captured frame objects */
/* Resolve every READY capture. GVL held. Returns the number resolved. */
int rt_resolve_pending(void);
uint32_t rt_gc_function(void);          /* "(garbage collection)" */
uint32_t rt_unknown_function(void);     /* "(unknown)" */
/* Function id given to the profiler's own frames (Stacksight::..., also as
 * "block in Stacksight::..."), which every profile type leaves out. */
#define RT_OWN_FUNCTION UINT32_MAX
int rt_is_own_label(VALUE label);
uint64_t rt_stat_torn(void);

#endif
