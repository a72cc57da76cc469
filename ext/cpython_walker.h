/* cpython_walker.h - read CPython thread stacks (3.9-3.15) without the GIL.
 *
 * Why this file exists: the core's sidecar thread samples every Python thread
 * every 10 ms and must never take the GIL (that would perturb the program and
 * miss threads stuck in C code). It therefore reads the interpreter's own
 * structures - thread states, the per-thread frame stack chunks, code objects
 * - while their owners keep running. Every such read goes through
 * src/common/safe_read.h so that memory freed under our feet yields a "torn"
 * sample instead of a crash. The same code-object decoding also serves
 * application threads that capture their own stack with the GIL held
 * (exception, lock and allocation profilers): ssp_capture_current().
 *
 * The structures read here change in every minor release: the versions with
 * a layout part (cpython_layout.h) are supported. On any other Python, and on
 * free-threaded builds, the walker compiles to a stub whose ssp_walker_new()
 * names the supported versions. */
#ifndef SSP_CPYTHON_WALKER_H
#define SSP_CPYTHON_WALKER_H

#include <Python.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "../src/common/aggregator.h"

typedef struct ssp_walker ssp_walker;

/* One thread's stack as handed to the visitor. */
typedef struct ssp_thread_stack {
    unsigned long thread_id;         /* PyThreadState.thread_id (threading.get_ident()) */
    unsigned long native_thread_id;  /* OS tid */
    const ss_frame *frames;          /* leaf first, valid only during the callback */
    uint32_t nframes;
    int torn;                        /* 1: the stack could not be read consistently; frames empty */
    int unchanged;                   /* 1: the caller said the thread did not run since its
                                      * last walk; frames were not read (empty) */
} ssp_thread_stack;

typedef void (*ssp_visit_fn)(void *arg, const ssp_thread_stack *stack);

/* With the GIL, at profiler start: checks the running interpreter is the one
 * compiled for (same minor version, and on 3.13+ the same offsets as its
 * _Py_DebugOffsets table; else returns NULL with a clear message in err),
 * records the main interpreter's address. max_frames: deeper
 * stacks keep the max_frames-1 leaf frames plus one frame named
 * "<N frames omitted>" (N = count dropped; interned as a function with file ""
 * line 0). max_frames must be in [2, 65536]. */
ssp_walker *ssp_walker_new(int max_frames, char *err, size_t errlen);

/* Frees the walker. No walk or capture may be running or start afterwards. */
void ssp_walker_free(ssp_walker *w);

/* In a forked child, with the GIL, before the sidecar is started again: the
 * parent's sidecar may have been inside a walk at fork time, holding the
 * walk lock and halfway through updating its cache. */
void ssp_walker_after_fork_child(ssp_walker *w);

/* Sidecar thread, NO GIL: visit every thread state of the main interpreter.
 * Returns the number of threads visited, -1 if the interpreter list could not
 * be read (e.g. finalizing). Calls on one walker are serialised by an internal
 * mutex; use one walker per sampling thread for parallel walks. */
int ssp_walker_walk(ssp_walker *w, ssp_visit_fn visit, void *arg);

/* Same, asking `unchanged(arg, native_thread_id)` first for each thread: when
 * it returns 1 the thread's stack is not read and the visit gets
 * unchanged = 1 (the caller reuses the stack it saw last). */
typedef int (*ssp_unchanged_fn)(void *arg, unsigned long native_thread_id);
int ssp_walker_walk_changed(ssp_walker *w, ssp_visit_fn visit, ssp_unchanged_fn unchanged, void *arg);

/* Application thread WITH the GIL (used by exception/lock/memory profilers):
 * capture the calling thread's own stack into out (leaf first), at most max
 * entries (a deeper stack ends with the "<N frames omitted>" frame when
 * max >= 2). Does not allocate Python objects, does not call Python code, is
 * reentrancy-safe (a nested call on the same thread, e.g. from a PyMem
 * allocator hook, returns 0). Returns the number of frames; 0 also when the
 * calling thread does not hold the GIL. */
uint32_t ssp_capture_current(ssp_walker *w, ss_frame *out, uint32_t max);

/* Counters for tests/benchmarks (sidecar walks and captures summed). */
typedef struct ssp_walker_stats {
    uint64_t walks;              /* ssp_walker_walk calls that read the thread list */
    uint64_t threads;            /* thread stacks visited (walks) or captured */
    uint64_t frames;             /* frames delivered, omitted-marker included */
    uint64_t torn;               /* stacks reported torn */
    uint64_t code_cache_hits;    /* frames resolved from a validated cache entry */
    uint64_t code_cache_misses;  /* code objects decoded from scratch */
} ssp_walker_stats;

void ssp_walker_get_stats(ssp_walker *w, ssp_walker_stats *out);

/* A thread's stack copied by the thread itself, inside the CPU-timer signal
 * handler (see src/common/cpu_timer.h), so that CPU is charged to the code
 * that was running at that instant. Resolution to names happens later on the
 * sidecar. */
#define SSP_SNAPSHOT_BYTES 32768
#define SSP_SNAPSHOT_OFFSTACK 32        /* generator/coroutine frames copied per snapshot */
#define SSP_SNAPSHOT_FRAME_BYTES 128    /* >= a frame's fixed part (SSPL_FRAME_BYTES) */
typedef struct ssp_snapshot {
    uintptr_t current_frame;        /* the thread's current frame at capture time */
    uintptr_t chunk;                /* tstate->datastack_chunk */
    uintptr_t limit;                /* tstate->datastack_limit */
    uintptr_t copy_end;             /* bytes[] holds [chunk, copy_end) */
    unsigned long thread_id;        /* tstate->thread_id */
    unsigned long native_thread_id; /* the signalled thread */
    /* Frames outside the copied chunk, copied at capture time too: the frames
     * of running generators and coroutines live in their objects, and once
     * one is suspended its `previous` link is cleared, so reading it later
     * would cut the stack at the generator. */
    uint32_t noffstack;
    uintptr_t offstack_addr[SSP_SNAPSHOT_OFFSTACK];
    unsigned char offstack[SSP_SNAPSHOT_OFFSTACK][SSP_SNAPSHOT_FRAME_BYTES];
    unsigned char bytes[SSP_SNAPSHOT_BYTES];
} ssp_snapshot;

/* Async-signal-safe: capture the calling thread's stack into `snap` if this
 * thread is the one running Python (holds the GIL). Returns 0, or -1 when
 * there is nothing to capture (the thread is in C code without the GIL, whose
 * Python stack the sidecar can read as well) or the stack is too deep. */
int ssp_snapshot_capture(ssp_snapshot *snap, pid_t tid);

/* Sidecar: resolve a snapshot like ssp_walker_walk resolves a live thread.
 * `st` is filled as for a visit (frames valid until the next walker call). */
void ssp_walker_resolve_snapshot(ssp_walker *w, const ssp_snapshot *snap, ssp_thread_stack *st);

/* Sidecar, NO GIL: the await chains of the coroutine objects coros[0..n)
 * (tasks' coroutines; n <= SSP_AWAIT_BATCH, more are ignored), read level by
 * level with one scatter read per level for all of them. For each,
 * visit(arg, i, result, st): result 1 with st->frames/nframes (the innermost
 * awaiting coroutine first, then each one awaiting it, out to coros[i], as a
 * thread stack would be; valid during the call), 0 when coros[i] is not
 * suspended (running - then it is on its thread's stack -, not started or
 * finished), -1 (st->torn) when its chain could not be read consistently.
 * visit runs under the walker's lock: it must not call the walker. */
#define SSP_AWAIT_BATCH 256u
typedef void (*ssp_chain_visit_fn)(void *arg, uint32_t i, int result, const ssp_thread_stack *st);
void ssp_walker_await_chains(ssp_walker *w, const uintptr_t *coros, uint32_t n,
                             ssp_chain_visit_fn visit, void *arg);

/* Sidecar, NO GIL: the str object at `str` interned as a label value (see
 * ss_intern_label); 0 if it cannot be read. Not from inside a visitor (the
 * walker's lock is held there). */
uint32_t ssp_walker_read_label(ssp_walker *w, uintptr_t str);

/* How the sidecar knows a cached code object is still the same object.
 * Default (0): ssp_walker_new wraps PyCode_Type.tp_dealloc (once per process)
 * to log freed code objects, and the sidecar drops their entries - no read
 * per cache hit. 1: additionally re-read every distinct cached code object of
 * each stack with one scatter read (slower: one iovec per code object). */
void ssp_walker_set_validation(ssp_walker *w, int by_read);

#endif
