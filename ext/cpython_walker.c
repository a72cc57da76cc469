/* cpython_walker.c - GIL-free CPython stack walker (see cpython_walker.h).
 *
 * The algorithm below is the same for every supported version; what differs
 * (where the current frame pointer lives, how a frame names its code object,
 * which frame owners exist, how to find the GIL holder) comes from the layout
 * part compiled for the interpreter at hand: cpython_layout.h describes the
 * seam, cpython_layout_3NN.h implement it from the interpreter's headers.
 *
 * What is read, and how (sidecar, no GIL; every read is a safe read):
 *   1. one scatter read per walk: _PyRuntime._finalizing,
 *      _PyRuntime.interpreters.main, interp->finalizing, interp->threads.head;
 *   2. per thread, one read of the whole PyThreadState (ids, next, cframe or
 *      current_frame, datastack_chunk/top/limit);
 *   3. per thread, one scatter read of the current-frame pointer (unless it
 *      is inside the tstate copy: 3.13+, or 3.11/3.12's root_cframe) and of the live part of
 *      the current data-stack chunk, [chunk, datastack_top + slack). Frames
 *      owned by the thread live there contiguously, so the frame chain is
 *      walked in the local copy. Older chunks are copied (one read each) only
 *      when the chain reaches them; frames outside every copied chunk
 *      (generator/coroutine frames live inside their generator object) take
 *      one small read each;
 *   4. code objects: unknown ones are decoded once (header, qualname,
 *      filename, line table: a few reads) into a bounded cache keyed by
 *      address. Hits cost no read: entries of freed code objects are dropped
 *      through a log fed by a wrapper of PyCode_Type.tp_dealloc (see the free
 *      log in cpython_code_cache.c). ssp_walker_set_validation(w, 1) adds a per-stack scatter
 *      read re-validating every distinct cached code object.
 *
 * Torn samples: any failed read, a pointer that is NULL where it must not be,
 * misaligned, a chunk header that disagrees with the thread state, an owner
 * value out of range, a code object whose type is not PyCode_Type or whose
 * fields are insane, an instruction pointer outside its code object, or a
 * frame chain longer than SSP_MAX_WALK_FRAMES marks the thread's sample torn
 * (frames empty). A torn sample is a lost sample, never a crash: the copies
 * cannot fault and every loop is bounded.
 *
 * ssp_capture_current() runs on an application thread holding the GIL: the
 * frames cannot change under it, so it reads them directly, with its own code
 * cache (the sidecar's cache is only touched by the sidecar). */

/* cpython_layout.h decides from PY_VERSION_HEX whether a layout part exists
 * for this interpreter (and then sets Py_BUILD_CORE before Python.h) and
 * includes it. */
#include "cpython_layout.h"
#include "cpython_walker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if SSP_SUPPORTED

#include <pthread.h>
#include <sys/uio.h>
#include "cpython_code_cache.h"
#include "py_compat.h"

#include "../src/common/interner.h"
#include "../src/common/safe_read.h"

/* ---- limits ------------------------------------------------------------ */

#define SSP_MAX_THREADS       100000u          /* thread-list loop limit */
#define SSP_MAX_WALK_FRAMES   (1u << 18)       /* frame-chain loop limit; more = torn */
#define SSP_MAX_CHUNKS        8192u            /* data-stack chunks copied per stack */
#define SSP_MAX_COPY_BYTES    ((size_t)64 << 20) /* chunk bytes copied per stack */
#define SSP_MIN_CHUNK         ((size_t)16 << 10) /* DATA_STACK_CHUNK_SIZE in pystate.c */
#define SSP_COPY_SLACK        ((size_t)512)    /* copied past datastack_top: frames pushed meanwhile */
#define SSP_IOV_BATCH         1024u            /* IOV_MAX */
#define SSP_PREFETCH_THREADS  1022u            /* thread states read in one call per walk (+ 2 header spans = IOV_MAX) */
/* Above any user-space address of x86-64 and arm64 with 48-bit virtual
 * addresses (what Linux gives a process unless it asks for more): a frame
 * pointer above it is a torn read, never a frame. */
#define SSP_MAX_USER_ADDR     (((uintptr_t)1 << 48) - 1)

/* Byte sizes of the parts of interpreter objects this file copies. */
#define SSP_FRAME_SPECIALS    SSPL_FRAME_BYTES
_Static_assert(SSP_FRAME_SPECIALS <= SSP_SNAPSHOT_FRAME_BYTES, "snapshot frame copies too small");
#define SSP_CHUNK_HDR         offsetof(sspl_chunk, data)

/* A part of the target's data stack copied into ssp_walker.copy. */
typedef struct ssp_copy_range {
    uintptr_t start, end;             /* remote addresses [start, end) */
    size_t off;                       /* offset of `start` in ssp_walker.copy */
} ssp_copy_range;

/* How far a raw frame has been resolved. */
enum {
    SSP_RAW_PENDING = 0,              /* code entry not looked up yet */
    SSP_RAW_ENTRY,                    /* `entry` holds its (pinned) code entry */
    SSP_RAW_DONE,                     /* resolved without a cache slot: see `done` */
    SSP_RAW_SKIP                      /* incomplete frame, resolved without a slot */
};

/* A frame found on the chain, before code objects are resolved. */
typedef struct ssp_raw_frame {
    uintptr_t code;                   /* sspl_frame_code: the code object */
    uintptr_t prev_instr;             /* sspl_frame_instr: the instruction pointer */
    int owner;                        /* sspl_frame_owner: FRAME_OWNED_BY_* */
    int state;                        /* SSP_RAW_* */
    ssp_code_entry *entry;            /* SSP_RAW_ENTRY: the entry */
    ss_frame done;                    /* SSP_RAW_DONE: the resolved frame */
} ssp_raw_frame;

struct ssp_walker {
    uint32_t max_frames;              /* frames per stack, marker included (>= 2) */
    PyInterpreterState *interp;       /* main interpreter, recorded with the GIL */
    pthread_mutex_t walk_lock;        /* serialises ssp_walker_walk callers */

    /* --- sidecar state, guarded by walk_lock --- */
    ssp_code_cache walk_cache;        /* the sidecar's code cache */
    int validate_by_read;             /* 1: re-read cached code objects every stack
                                       * instead of trusting the free log */
    char *copy;                       /* copied data-stack chunks */
    size_t copy_cap, copy_len;        /* allocated / used bytes of copy */
    ssp_copy_range *ranges;           /* copied ranges, SSP_MAX_CHUNKS */
    uint32_t nranges;
    uintptr_t next_chunk;             /* older chunk not copied yet, 0 = none */
    uint32_t nchunks;                 /* chunks copied for the current stack */
    ssp_raw_frame *raw;               /* first raw_cap frames of the chain */
    uint32_t raw_cap;                 /* 2 * max_frames + 16 */
    ss_frame *out;                    /* max_frames + 1 resolved frames */
    PyCodeObject *vbuf;               /* validation copies, raw_cap slots of SSP_CODE_HDR */
    struct iovec *vlocal, *vremote;   /* raw_cap scatter-read descriptors */
    ssp_code_entry **ventry;          /* entry being validated by each descriptor */

    /* Thread states of the previous walk, in list order, copied together
     * in one scatter read at the start of the next walk (a thread that did
     * not run then costs no read of its own). Guarded by walk_lock. */
    uintptr_t prefetch_addr[SSP_PREFETCH_THREADS];
    PyThreadState *prefetch_buf;      /* SSP_PREFETCH_THREADS copies */
    uint32_t nprefetch;               /* addresses recorded by the last walk */

    struct ssp_chain_bufs *chain_bufs; /* ssp_walker_await_chains' buffers, NULL until used */

    /* --- capture state, guarded by the GIL --- */
    ssp_code_cache capture_cache;

    /* --- counters, updated with relaxed atomics --- */
    ssp_walker_stats stats;
};

static _Thread_local int ssp_in_capture;   /* re-entrancy guard of ssp_capture_current */

/* Incomplete frame (_PyFrame_IsIncomplete) given its code entry. */
static inline int frame_incomplete(const ssp_raw_frame *r, const ssp_code_entry *e)
{
    return r->owner != SSPL_OWNED_BY_GENERATOR &&
           r->prev_instr < r->code + SSP_CODE_START + (uintptr_t)e->firsttraceable * 2;
}

/* Same test without the code object (first traceable taken as 0): used to
 * count frames past the stored ones, which are only counted. */
static inline int frame_maybe_complete(const ssp_raw_frame *r)
{
    return r->owner == SSPL_OWNED_BY_GENERATOR || r->prev_instr >= r->code + SSP_CODE_START;
}

/* Resolve one complete frame to (function, line); -1 if its instruction
 * pointer is outside the code object (torn). */
static int frame_resolve(const ssp_raw_frame *r, ssp_code_entry *e, ss_frame *out)
{
    uintptr_t start = r->code + SSP_CODE_START;
    uintptr_t end = start + (uintptr_t)e->ncodeunits * 2;
    if (r->prev_instr + 2 < start || r->prev_instr >= end || ((r->prev_instr - start) & 1))
        return -1;
    int64_t unit = ((int64_t)r->prev_instr - (int64_t)start) / 2;
    out->function = e->function;
    out->line = sspc_entry_line(e, unit);
    return 0;
}

/* ---- sidecar: copying the data stack ------------------------------------ */

static int copy_reserve(ssp_walker *w, size_t extra)
{
    if (w->copy_len + extra > SSP_MAX_COPY_BYTES)
        return -1;
    if (w->copy_len + extra <= w->copy_cap)
        return 0;
    size_t cap = w->copy_cap ? w->copy_cap : 65536;
    while (cap < w->copy_len + extra)
        cap *= 2;
    char *p = realloc(w->copy, cap);
    if (!p)
        return -1;
    w->copy = p;
    w->copy_cap = cap;
    return 0;
}

static int add_range(ssp_walker *w, uintptr_t start, uintptr_t end, size_t off)
{
    if (w->nranges >= SSP_MAX_CHUNKS)
        return -1;
    w->ranges[w->nranges++] = (ssp_copy_range){start, end, off};
    return 0;
}

/* Local copy of the frame specials at remote `f`, or NULL if not copied. */
static const char *xlate(ssp_walker *w, uintptr_t f)
{
    for (uint32_t i = w->nranges; i-- > 0;) {
        const ssp_copy_range *r = &w->ranges[i];
        /* written so that a torn `f` near the top of the address space
         * cannot wrap around the end test */
        if (f >= r->start && f < r->end && r->end - f >= SSP_FRAME_SPECIALS)
            return w->copy + r->off + (f - r->start);
    }
    return NULL;
}

/* Copy the older chunk w->next_chunk: one partial read of the minimum chunk
 * size, a second one only for a bigger chunk. -1 = torn. */
static int copy_older_chunk(ssp_walker *w)
{
    uintptr_t chunk = w->next_chunk;
    w->next_chunk = 0;
    if ((chunk & 7) || ++w->nchunks > SSP_MAX_CHUNKS || copy_reserve(w, SSP_MIN_CHUNK))
        return -1;
    size_t off = w->copy_len;
    size_t got = ss_safe_read_partial(w->copy + off, (const void *)chunk, SSP_MIN_CHUNK);
    if (got < SSP_CHUNK_HDR)
        return -1;
    sspl_chunk h;
    memcpy(&h, w->copy + off, SSP_CHUNK_HDR);
    if (h.size < SSP_MIN_CHUNK || h.size > SSP_MAX_COPY_BYTES ||
        h.top > (h.size - SSP_CHUNK_HDR) / sizeof(PyObject *) || ((uintptr_t)h.previous & 7))
        return -1;
    size_t extent = SSP_CHUNK_HDR + h.top * sizeof(PyObject *);
    if (extent > got) {
        if (copy_reserve(w, extent) ||
            ss_safe_read(w->copy + off + got, (const char *)chunk + got, extent - got))
            return -1;
    }
    w->copy_len = off + extent;
    w->next_chunk = (uintptr_t)h.previous;
    return add_range(w, chunk + SSP_CHUNK_HDR, chunk + extent, off + SSP_CHUNK_HDR);
}

/* Follow the frame chain from `frame`, filling w->raw. *nraw: frames stored;
 * *beyond: further frames that look complete (only counted). -1 = torn. */
static int walk_chain(ssp_walker *w, uintptr_t frame, uint32_t *nraw, uint64_t *beyond)
{
    uint32_t n = 0, total = 0;
    uint64_t extra = 0;
    while (frame) {
        if ((frame & 7) || frame > SSP_MAX_USER_ADDR || ++total > SSP_MAX_WALK_FRAMES)
            return -1;
        sspl_frame fr;
        const char *local = xlate(w, frame);
        if (!local && w->next_chunk && frame >= w->next_chunk &&
            frame < w->next_chunk + SSP_MIN_CHUNK) {
            if (copy_older_chunk(w))
                return -1;
            local = xlate(w, frame);
        }
        if (local) {
            memcpy(&fr, local, SSP_FRAME_SPECIALS);
        } else {
            if (ss_safe_read(&fr, (const void *)frame, SSP_FRAME_SPECIALS))
                return -1;
            /* A thread-owned frame outside the copies: the chain has reached
             * the older chunks; copy the next one for the frames to come. */
            if (sspl_frame_owner(&fr) == SSPL_OWNED_BY_THREAD && w->next_chunk &&
                copy_older_chunk(w))
                return -1;
        }
        int owner = sspl_frame_owner(&fr);
        uintptr_t code = sspl_frame_code(&fr), prev = sspl_frame_instr(&fr);
        frame = sspl_frame_previous(&fr);
        if (owner < SSPL_OWNED_BY_THREAD || owner > SSPL_OWNER_MAX || (frame & 7))
            return -1;
        if (sspl_owner_is_shim(owner))
            continue;                    /* the interpreter's own entry frame: not shown */
        if (!code || (code & 7) || (prev & 1))
            return -1;
        ssp_raw_frame r = {code, prev, owner, SSP_RAW_PENDING, NULL, {0, 0}};
        if (n < w->raw_cap)
            w->raw[n++] = r;
        else
            extra += frame_maybe_complete(&r);
        /* A running generator's frame always links to the frame that resumed
         * it; one that links nowhere was suspended while we read it. */
        if (!frame && owner == SSPL_OWNED_BY_GENERATOR)
            return -1;
    }
    *nraw = n;
    *beyond = extra;
    return 0;
}

/* Resolve raw[a..b) to cache entries: look up, re-validate all distinct hits
 * with one scatter read, decode misses. -1 = torn. */
static int prepare_entries(ssp_walker *w, uint32_t a, uint32_t b)
{
    ssp_code_cache *c = &w->walk_cache;
    uint32_t nv = 0;
    for (uint32_t i = a; i < b; i++) {
        ssp_raw_frame *r = &w->raw[i];
        ssp_code_entry *e = sspc_cache_find(c, r->code);
        r->entry = e;
        if (e && e->epoch != c->epoch) {
            e->epoch = c->epoch;      /* pinned, and validated once per stack */
            e->last_used = ++c->clock;
            if (!w->validate_by_read)
                continue;             /* the free log keeps entries valid */
            w->vlocal[nv] = (struct iovec){&w->vbuf[nv], SSP_CODE_HDR};
            w->vremote[nv] = (struct iovec){(void *)e->addr, SSP_CODE_HDR};
            w->ventry[nv++] = e;
        }
    }
    for (uint32_t done = 0; done < nv;) {
        uint32_t batch = nv - done < SSP_IOV_BATCH ? nv - done : SSP_IOV_BATCH;
        size_t ok = ss_safe_readv(w->vlocal + done, w->vremote + done, batch);
        if (ok == 0) {
            /* the first descriptor itself failed: read it alone */
            if (ss_safe_read(&w->vbuf[done], (const void *)w->ventry[done]->addr, SSP_CODE_HDR))
                return -1;
            ok = 1;
        }
        for (uint32_t k = done; k < done + ok; k++) {
            ssp_code_entry *e = w->ventry[k];
            if (!sspc_code_hdr_matches(e, &w->vbuf[k]))
                sspc_entry_clear(c, e);     /* address reused: decode again below */
        }
        done += (uint32_t)ok;
    }
    for (uint32_t i = a; i < b; i++) {
        ssp_raw_frame *r = &w->raw[i];
        ssp_code_entry *e = r->entry;
        r->state = SSP_RAW_ENTRY;
        if (e && e->addr == r->code) {
            c->hits++;
            continue;
        }
        e = sspc_cache_find(c, r->code);      /* decoded for an earlier frame? */
        if (e && e->epoch == c->epoch) {
            r->entry = e;
            c->hits++;
            continue;
        }
        if (e)
            sspc_entry_clear(c, e);           /* unvalidated: cannot happen, be safe */
        ssp_code_entry tmp;
        if (sspc_code_build(c, r->code, NULL, &tmp))
            return -1;
        tmp.last_used = ++c->clock;
        e = sspc_cache_insert(c, &tmp);
        if (!e) {
            /* every way of the set is pinned by this stack: resolve now */
            if (frame_incomplete(r, &tmp)) {
                r->state = SSP_RAW_SKIP;
            } else if (frame_resolve(r, &tmp, &r->done) == 0) {
                r->state = SSP_RAW_DONE;
            } else {
                sspc_entry_clear(c, &tmp);
                return -1;
            }
            sspc_entry_clear(c, &tmp);
            r->entry = NULL;
            continue;
        }
        r->entry = e;
    }
    return 0;
}

/* Resolve the chain from `frame` using the copies set up in w (copy,
 * ranges, next_chunk). Fills st->frames/nframes or sets st->torn. */
static void resolve_raw(ssp_walker *w, uint32_t nraw, uint64_t beyond, ssp_thread_stack *st);

static void resolve_chain(ssp_walker *w, uintptr_t frame, ssp_thread_stack *st)
{
    uint32_t nraw;
    uint64_t beyond;
    if (walk_chain(w, frame, &nraw, &beyond)) {
        st->torn = 1;
        st->nframes = 0;
        return;
    }
    resolve_raw(w, nraw, beyond, st);
}

/* Resolve w->raw[0..nraw) (leaf first; `beyond` more frames were only
 * counted) into st->frames/nframes, or set st->torn. */
static void resolve_raw(ssp_walker *w, uint32_t nraw, uint64_t beyond, ssp_thread_stack *st)
{
    ssp_code_cache *c = &w->walk_cache;

    /* Resolve in windows until max_frames + 1 complete frames are known (the
     * +1 tells whether the stack overflows) or the stored frames run out. */
    uint32_t max = w->max_frames, emitted = 0, idx = 0;
    while (idx < nraw && emitted <= max) {
        uint32_t end = idx + (max + 1 - emitted);
        if (end > nraw)
            end = nraw;
        if (idx == 0)
            sspc_drain_free_log(c);     /* after the copy, before resolving */
        if (prepare_entries(w, idx, end))
            goto torn;
        for (; idx < end; idx++) {
            ssp_raw_frame *r = &w->raw[idx];
            if (r->state == SSP_RAW_ENTRY) {
                if (frame_incomplete(r, r->entry))
                    continue;
                if (frame_resolve(r, r->entry, &w->out[emitted]))
                    goto torn;
                emitted++;
            } else if (r->state == SSP_RAW_DONE) {
                w->out[emitted++] = r->done;
            }
        }
    }
    uint64_t rest = beyond;
    for (; idx < nraw; idx++)
        rest += frame_maybe_complete(&w->raw[idx]);
    if (emitted + rest > max) {
        uint64_t omitted = emitted + rest - (max - 1);
        w->out[max - 1].function = sspc_marker_function(c, omitted);
        w->out[max - 1].line = 0;
        emitted = max;
    }
    st->nframes = emitted;
    return;
torn:
    st->torn = 1;
    st->nframes = 0;
}


/* Sample one thread whose PyThreadState was copied into *ts. Fills
 * st->frames/nframes or sets st->torn. The same system call that copies the
 * stack also copies the next thread state (`next`, into *next_buf); *next_ok
 * tells whether that worked. */
static void sample_thread(ssp_walker *w, uintptr_t tsaddr, const PyThreadState *ts,
                          ssp_thread_stack *st, uintptr_t next, PyThreadState *next_buf,
                          int *next_ok)
{
    *next_ok = 0;
    ssp_code_cache *c = &w->walk_cache;
    st->frames = w->out;
    st->nframes = 0;
    st->torn = 0;
    w->copy_len = 0;
    w->nranges = 0;
    w->next_chunk = 0;
    w->nchunks = 0;
    c->epoch++;

    /* The pointer to the current frame: in the thread state (copied
     * already) or in a _PyCFrame elsewhere (read along with the chunk). */
    uintptr_t slot = sspl_frame_slot(ts, tsaddr), current = 0;
    if (!slot)
        return;                          /* thread not running Python code */
    if (slot & 7)
        goto torn;
    struct iovec loc[3], rem[3];
    size_t niov = 0, want_cf = 0;
    if (slot >= tsaddr && slot + sizeof current <= tsaddr + sizeof *ts) {
        memcpy(&current, (const char *)ts + (slot - tsaddr), sizeof current);
    } else {
        loc[niov] = (struct iovec){&current, sizeof current};
        rem[niov++] = (struct iovec){(void *)slot, sizeof current};
        want_cf = 1;
    }
    uintptr_t chunk, top, limit, copy_end = 0;
    sspl_datastack(ts, &chunk, &top, &limit);
    if (chunk) {
        if ((chunk & 7) || top < chunk + SSP_CHUNK_HDR || top > limit ||
            limit - chunk > SSP_MAX_COPY_BYTES || limit - chunk < SSP_MIN_CHUNK)
            goto torn;
        copy_end = limit - top > SSP_COPY_SLACK ? top + SSP_COPY_SLACK : limit;
        if (copy_reserve(w, copy_end - chunk))
            goto torn;
        loc[niov] = (struct iovec){w->copy, copy_end - chunk};
        rem[niov++] = (struct iovec){(void *)chunk, copy_end - chunk};
    }
    size_t want = niov;                  /* descriptors this sample needs */
    if (niov && next && !(next & 7)) {
        loc[niov] = (struct iovec){next_buf, sizeof *next_buf};
        rem[niov++] = (struct iovec){(void *)next, sizeof *next_buf};
    }
    size_t ok = niov ? ss_safe_readv(loc, rem, niov) : 0;
    *next_ok = niov > want && ok == niov;
    if (ok < want) {
        if (ok < want_cf || !chunk)
            goto torn;                   /* the cframe itself was unreadable */
        /* The chunk copy failed: retry once without the slack. */
        copy_end = top;
        if (ss_safe_read(w->copy, (const void *)chunk, copy_end - chunk))
            goto torn;
    }
    if (chunk) {
        sspl_chunk h;
        memcpy(&h, w->copy, SSP_CHUNK_HDR);
        if (h.size != limit - chunk || ((uintptr_t)h.previous & 7))
            goto torn;                   /* header disagrees with the tstate */
        w->copy_len = copy_end - chunk;
        w->nchunks = 1;
        w->next_chunk = (uintptr_t)h.previous;
        add_range(w, chunk + SSP_CHUNK_HDR, copy_end, SSP_CHUNK_HDR);
    }

    resolve_chain(w, current, st);
#if !SSPL_FRAMES_IN_CHUNKS
    /* A 3.9/3.10 frame that returned while we read it has its f_back cleared
     * (a finished coroutine's f_gen too): it reads as a whole stack of one
     * frame. Such a stack stands only if the thread still points at it. */
    if (!st->torn && st->nframes == 1) {
        uintptr_t again = 0;
        if (ss_safe_read(&again, (const void *)slot, sizeof again) || again != current)
            goto torn;
    }
#endif
    return;
torn:
    st->torn = 1;
    st->nframes = 0;
}

/* ---- public API ----------------------------------------------------------- */

ssp_walker *ssp_walker_new(int max_frames, char *err, size_t errlen)
{
    char dummy[1];
    if (!err || !errlen) { err = dummy; errlen = sizeof dummy; }
    unsigned long rt = Py_Version;
    if ((rt >> 16) != ((unsigned long)PY_VERSION_HEX >> 16)) {
        snprintf(err, errlen,
                 "stacksight's stack walker was compiled for CPython %d.%d but is running "
                 "on CPython %lu.%lu", PY_MAJOR_VERSION, PY_MINOR_VERSION,
                 (rt >> 24) & 0xFF, (rt >> 16) & 0xFF);
        return NULL;
    }
    if (sspl_check(err, errlen))
        return NULL;
    if (max_frames < 2 || max_frames > 65536) {
        snprintf(err, errlen, "max_frames must be between 2 and 65536 (got %d)", max_frames);
        return NULL;
    }
    if (!ss_safe_read_available()) {
        snprintf(err, errlen, "process_vm_readv is not permitted in this process "
                 "(seccomp or container policy); the stack walker cannot run");
        return NULL;
    }
    PyInterpreterState *interp = PyInterpreterState_Main();
    if (!interp) {
        snprintf(err, errlen, "no main interpreter");
        return NULL;
    }
    sspc_install_free_log();
    sspl_init();
    ssp_walker *w = calloc(1, sizeof *w);
    if (!w)
        goto oom;
    w->max_frames = (uint32_t)max_frames;
    w->interp = interp;
    pthread_mutex_init(&w->walk_lock, NULL);
    w->raw_cap = 2 * w->max_frames + 16;
    w->raw = calloc(w->raw_cap, sizeof *w->raw);
    w->out = calloc(w->max_frames + 1, sizeof *w->out);
    w->vbuf = calloc(w->raw_cap, sizeof *w->vbuf);
    w->vlocal = calloc(w->raw_cap, sizeof *w->vlocal);
    w->vremote = calloc(w->raw_cap, sizeof *w->vremote);
    w->ventry = calloc(w->raw_cap, sizeof *w->ventry);
    w->ranges = calloc(SSP_MAX_CHUNKS, sizeof *w->ranges);
    w->prefetch_buf = calloc(SSP_PREFETCH_THREADS, sizeof *w->prefetch_buf);
    if (!w->raw || !w->out || !w->vbuf || !w->vlocal || !w->vremote || !w->ventry ||
        !w->ranges || sspc_cache_init(&w->walk_cache, ss_safe_read) ||
        sspc_cache_init(&w->capture_cache, ssp_direct_read)) {
        ssp_walker_free(w);
        goto oom;
    }
    w->walk_cache.free_seen = sspc_free_log_seq();
    return w;
oom:
    snprintf(err, errlen, "out of memory creating the stack walker");
    return NULL;
}

void ssp_walker_free(ssp_walker *w)
{
    if (!w)
        return;
    sspc_cache_destroy(&w->walk_cache);
    sspc_cache_destroy(&w->capture_cache);
    free(w->copy);
    free(w->ranges);
    free(w->raw);
    free(w->out);
    free(w->vbuf);
    free(w->vlocal);
    free(w->vremote);
    free(w->ventry);
    free(w->prefetch_buf);
    free(w->chain_bufs);
    pthread_mutex_destroy(&w->walk_lock);
    free(w);
}

static void stats_add(ssp_walker *w, uint64_t walks, uint64_t threads, uint64_t frames,
                      uint64_t torn, ssp_code_cache *c)
{
    ssp_walker_stats *s = &w->stats;
    if (walks) __atomic_fetch_add(&s->walks, walks, __ATOMIC_RELAXED);
    if (threads) __atomic_fetch_add(&s->threads, threads, __ATOMIC_RELAXED);
    if (frames) __atomic_fetch_add(&s->frames, frames, __ATOMIC_RELAXED);
    if (torn) __atomic_fetch_add(&s->torn, torn, __ATOMIC_RELAXED);
    if (c->hits) __atomic_fetch_add(&s->code_cache_hits, c->hits, __ATOMIC_RELAXED);
    if (c->misses) __atomic_fetch_add(&s->code_cache_misses, c->misses, __ATOMIC_RELAXED);
    c->hits = c->misses = 0;
}

int ssp_walker_walk(ssp_walker *w, ssp_visit_fn visit, void *arg)
{
    return ssp_walker_walk_changed(w, visit, NULL, arg);
}

/* 1 if [addr, addr + len) lies inside _PyRuntime: a static object of the
 * interpreter binary, readable for as long as the process lives. */
static inline int in_runtime(uintptr_t addr, size_t len)
{
    uintptr_t lo = (uintptr_t)&_PyRuntime, hi = lo + sizeof _PyRuntime;
    return addr >= lo && addr <= hi && len <= hi - addr;
}

int ssp_walker_walk_changed(ssp_walker *w, ssp_visit_fn visit, ssp_unchanged_fn unchanged, void *arg)
{
    if (!w || !visit)
        return -1;
    pthread_mutex_lock(&w->walk_lock);
    /* _PyRuntime._finalizing .. interpreters.main (one span),
     * interp->threads .. interp->finalizing (one span) and every thread
     * state of the previous walk (the first of them is the head the list had
     * then). What lies inside _PyRuntime - the main interpreter and its
     * initial thread state are part of it in 3.11 - is a static object of the
     * interpreter, mapped for the life of the process, so it is copied
     * directly (validated like any copy); the rest in one system call. An
     * idle process whose only thread is the main one costs no system call. */
#define SSP_SPAN_LO(a, b) ((a) < (b) ? (a) : (b))
#define SSP_SPAN_HI(a, sa, b, sb) ((a) + (sa) > (b) + (sb) ? (a) + (sa) : (b) + (sb))
    enum {
        RT_LO = SSP_SPAN_LO(SSPL_RT_FINALIZING, SSPL_RT_MAIN),
        RT_HI = SSP_SPAN_HI(SSPL_RT_FINALIZING, sizeof(void *), SSPL_RT_MAIN, sizeof(void *)),
        IS_LO = SSP_SPAN_LO(SSPL_IS_THREADS_HEAD, SSPL_IS_FINALIZING),
        IS_HI = SSP_SPAN_HI(SSPL_IS_THREADS_HEAD, sizeof(void *), SSPL_IS_FINALIZING, sizeof(int)),
    };
    _Static_assert(RT_HI - RT_LO <= 4096 && IS_HI - IS_LO <= 4096,
                   "runtime fields too far apart for one read each");
    char rt[RT_HI - RT_LO], is[IS_HI - IS_LO];
    PyThreadState bufs[2];               /* current and next thread state copies */
    struct iovec loc[2 + SSP_PREFETCH_THREADS], rem[2 + SSP_PREFETCH_THREADS];
    int8_t via_call[SSP_PREFETCH_THREADS]; /* prefetch entry i went into the system call */
    size_t ncall = 0;
    memcpy(rt, (const char *)&_PyRuntime + RT_LO, sizeof rt);
    if (in_runtime((uintptr_t)w->interp + IS_LO, sizeof is)) {
        memcpy(is, (const char *)w->interp + IS_LO, sizeof is);
    } else {
        loc[ncall] = (struct iovec){is, sizeof is};
        rem[ncall++] = (struct iovec){(char *)w->interp + IS_LO, sizeof is};
    }
    size_t header_calls = ncall;
    uint32_t nprev = w->prefetch_buf ? w->nprefetch : 0, prefetched = 0, pcursor = 0;
    for (uint32_t i = 0; i < nprev; i++) {
        via_call[i] = !in_runtime(w->prefetch_addr[i], sizeof *w->prefetch_buf);
        if (!via_call[i]) {
            memcpy(&w->prefetch_buf[i], (const void *)w->prefetch_addr[i], sizeof *w->prefetch_buf);
            continue;
        }
        loc[ncall] = (struct iovec){&w->prefetch_buf[i], sizeof *w->prefetch_buf};
        rem[ncall++] = (struct iovec){(void *)w->prefetch_addr[i], sizeof *w->prefetch_buf};
    }
    size_t n = ncall ? ss_safe_readv(loc, rem, ncall) : 0;
    uintptr_t finalizing, main_interp, head;
    int interp_finalizing;
    memcpy(&finalizing, rt + SSPL_RT_FINALIZING - RT_LO, sizeof finalizing);
    memcpy(&main_interp, rt + SSPL_RT_MAIN - RT_LO, sizeof main_interp);
    memcpy(&head, is + SSPL_IS_THREADS_HEAD - IS_LO, sizeof head);
    memcpy(&interp_finalizing, is + SSPL_IS_FINALIZING - IS_LO, sizeof interp_finalizing);
    if (n < header_calls || finalizing || interp_finalizing || main_interp != (uintptr_t)w->interp) {
        pthread_mutex_unlock(&w->walk_lock);
        return -1;
    }
    int have = 0;                        /* bufs[cur] already holds thread state t */
    /* Prefetched copies are usable up to the first one the call could not read. */
    for (size_t done = header_calls; prefetched < nprev; prefetched++)
        if (via_call[prefetched] && done++ >= n)
            break;
    w->nprefetch = 0;
    uint64_t frames = 0, torn = 0;
    int visited = 0, cur = 0;
    uintptr_t t = head, tortoise = head;
    uint32_t power = 1, lam = 0;
    while (t && (uint32_t)visited < SSP_MAX_THREADS) {
        PyThreadState *ts = &bufs[cur];
        ssp_thread_stack st = {0, 0, w->out, 0, 1, 0};
        if (!have && pcursor < prefetched && w->prefetch_addr[pcursor] == t) {
            memcpy(ts, &w->prefetch_buf[pcursor], sizeof *ts);
            have = 1;
        }
        if (pcursor < nprev && w->prefetch_addr[pcursor] == t)
            pcursor++;
        if (w->nprefetch < SSP_PREFETCH_THREADS && !(t & 7))
            w->prefetch_addr[w->nprefetch++] = t;
        if ((t & 7) || (!have && ss_safe_read(ts, (const void *)t, sizeof *ts)) ||
            ts->interp != w->interp) {
            /* unreadable or recycled thread state: the list is torn here */
            visit(arg, &st);
            visited++;
            torn++;
            break;
        }
        st.thread_id = ts->thread_id;
        st.native_thread_id = sspl_native_tid(ts);
        uintptr_t next = (uintptr_t)ts->next;
        if (unchanged && unchanged(arg, st.native_thread_id)) {
            st.torn = 0;
            st.unchanged = 1;
            have = 0;                    /* the next thread state is read on its own */
        } else {
            sample_thread(w, t, ts, &st, next, &bufs[cur ^ 1], &have);
        }
        visit(arg, &st);
        visited++;
        torn += (uint64_t)st.torn;
        frames += st.nframes;
        t = next;
        cur ^= 1;
        if (t == tortoise)
            break;                       /* cycle (Brent) */
        if (++lam == power) {
            tortoise = t;
            power *= 2;
            lam = 0;
        }
    }
    stats_add(w, 1, (uint64_t)visited, frames, torn, &w->walk_cache);
    pthread_mutex_unlock(&w->walk_lock);
    return visited;
}

/* ---- CPU-slice snapshots ------------------------------------------------- */

int ssp_snapshot_capture(ssp_snapshot *snap, pid_t tid)
{
    /* Only the thread holding the GIL can be changing its Python stack.
     * `mine` is a copy of our own thread state: it cannot be freed under us,
     * and the frame slot it points to is ours too (our C stack or the
     * tstate). */
    PyThreadState mine_copy;
    const PyThreadState *mine = &mine_copy;
    uintptr_t mine_addr = sspl_gil_holder_self(tid, &mine_copy);
    if (!mine_addr)
        return -1;
    uintptr_t slot = sspl_frame_slot(mine, mine_addr), current;
    if (!slot || (slot & 7) || ss_safe_read(&current, (const void *)slot, sizeof current))
        return -1;
    uintptr_t chunk, top, limit, end = 0;
    sspl_datastack(mine, &chunk, &top, &limit);
    if (SSPL_FRAMES_IN_CHUNKS) {
        /* Interrupted in the middle of a chunk switch, these may disagree:
         * the checks and the fault-proof copy make that a lost sample. */
        if (!chunk || (chunk & 7) || top < chunk + SSP_CHUNK_HDR || top > limit)
            return -1;
        end = limit - top > SSP_COPY_SLACK ? top + SSP_COPY_SLACK : limit;
        if (end - chunk > SSP_SNAPSHOT_BYTES)
            return -1;
        if (ss_safe_read(snap->bytes, (const void *)chunk, end - chunk) != 0)
            return -1;
    }
    snap->current_frame = current;
    /* Follow the chain now through the copy, copying the frames that are
     * not in it; a thread-owned one is in an older chunk, which stays put
     * while this thread runs above it: the sidecar reads that part. */
    snap->noffstack = 0;
    uintptr_t f = snap->current_frame;
    for (uint32_t steps = 0; f && !(f & 7) && steps < SSP_MAX_WALK_FRAMES; steps++) {
        const unsigned char *at;
        if (chunk && f >= chunk + SSP_CHUNK_HDR && f < end && end - f >= SSP_FRAME_SPECIALS) {
            at = snap->bytes + (f - chunk);
        } else {
            uint32_t k = snap->noffstack;
            if (k == SSP_SNAPSHOT_OFFSTACK || ss_safe_read(snap->offstack[k], (const void *)f, SSP_FRAME_SPECIALS))
                break;
            snap->offstack_addr[k] = f;
            snap->noffstack = k + 1;
            at = snap->offstack[k];
        }
        sspl_frame fr;
        memcpy(&fr, at, SSP_FRAME_SPECIALS);
        if (SSPL_FRAMES_IN_CHUNKS && sspl_frame_owner(&fr) == SSPL_OWNED_BY_THREAD &&
            at != snap->bytes + (f - chunk))
            break;
        f = sspl_frame_previous(&fr);
    }
    snap->chunk = chunk;
    snap->limit = limit;
    snap->copy_end = end;
    snap->thread_id = mine->thread_id;
    snap->native_thread_id = (unsigned long)tid;
    return 0;
}

void ssp_walker_resolve_snapshot(ssp_walker *w, const ssp_snapshot *snap, ssp_thread_stack *st)
{
    pthread_mutex_lock(&w->walk_lock);
    st->thread_id = snap->thread_id;
    st->native_thread_id = snap->native_thread_id;
    st->unchanged = 0;
    st->frames = w->out;
    st->nframes = 0;
    st->torn = 0;
    w->copy_len = 0;
    w->nranges = 0;
    w->next_chunk = 0;
    w->nchunks = 0;
    w->walk_cache.epoch++;
    if (snap->chunk) {                   /* 0: frames are not in chunks (SSPL_FRAMES_IN_CHUNKS) */
        size_t len = snap->copy_end - snap->chunk;
        sspl_chunk h;
        if (len < SSP_CHUNK_HDR || len > SSP_SNAPSHOT_BYTES || copy_reserve(w, len))
            goto torn;
        memcpy(w->copy, snap->bytes, len);
        memcpy(&h, w->copy, SSP_CHUNK_HDR);
        if (h.size != snap->limit - snap->chunk || ((uintptr_t)h.previous & 7))
            goto torn;
        w->copy_len = len;
        w->nchunks = 1;
        w->next_chunk = (uintptr_t)h.previous;
        add_range(w, snap->chunk + SSP_CHUNK_HDR, snap->copy_end, SSP_CHUNK_HDR);
    }
    for (uint32_t k = 0; k < snap->noffstack && k < SSP_SNAPSHOT_OFFSTACK; k++) {
        if (copy_reserve(w, SSP_FRAME_SPECIALS))
            goto torn;
        memcpy(w->copy + w->copy_len, snap->offstack[k], SSP_FRAME_SPECIALS);
        add_range(w, snap->offstack_addr[k], snap->offstack_addr[k] + SSP_FRAME_SPECIALS, w->copy_len);
        w->copy_len += SSP_FRAME_SPECIALS;
    }
    resolve_chain(w, snap->current_frame, st);
    stats_add(w, 0, 1, st->nframes, (uint64_t)st->torn, &w->walk_cache);
    pthread_mutex_unlock(&w->walk_lock);
    return;
torn:
    st->torn = 1;
    stats_add(w, 0, 1, 0, 1, &w->walk_cache);
    pthread_mutex_unlock(&w->walk_lock);
}

/* ---- await chains of suspended coroutines -------------------------------- */

/* CPython 3.11 to 3.15: the generator object embeds its frame (gi_iframe)
 * in every one of them; what differs is how a suspended frame says that it
 * awaits something (gen_awaits) and where its value stack top is
 * (gen_stack_top), both as _PyGen_yf finds them in each version. 3.9 and
 * 3.10 keep a generator's frame in a separate PyFrameObject: no await chains
 * there (asyncio_tasks.c attaches from 3.11 on). */
#if PY_VERSION_HEX >= 0x030B0000
#if PY_VERSION_HEX < 0x030D0000
#include <opcode.h>
#endif

#define SSP_MAX_AWAIT_DEPTH 256u   /* coroutines followed per chain; deeper = torn */
#define SSP_CHAIN_STORED 32u       /* frames kept per chain; further ones only counted */
#define SSP_GEN_FRAME offsetof(PyGenObject, gi_iframe)
#define SSP_GEN_HDR (SSP_GEN_FRAME + SSP_FRAME_SPECIALS)
#define SSP_GEN_STACK_SLOTS 24u    /* locals + value stack slots read with the object */
#define SSP_GEN_READ (SSP_GEN_HDR + SSP_GEN_STACK_SLOTS * sizeof(PyObject *))
#define SSP_GEN_MAX_STACK (1u << 20) /* value stack slots believed; more = torn */

/* Frame state classes of a generator, from its gi_frame_state. */
enum { SSP_GEN_OTHER = 0, SSP_GEN_RUNNING, SSP_GEN_SUSPENDED };

static int gen_state_class(int8_t state)
{
    if (state == FRAME_EXECUTING)
        return SSP_GEN_RUNNING;
#if PY_VERSION_HEX < 0x030D0000
    return state == FRAME_SUSPENDED ? SSP_GEN_SUSPENDED : SSP_GEN_OTHER;
#else
    return FRAME_STATE_SUSPENDED(state) ? SSP_GEN_SUSPENDED : SSP_GEN_OTHER;
#endif
}

/* 1 if the suspended generator (state, instruction `prev`) awaits the
 * object on top of its value stack; 0 if at a bare yield; -1 torn. Up to
 * 3.12 the next instruction tells (a RESUME with oparg >= 2 follows an await
 * or yield from); a coroutine can only be suspended in an await, so only
 * generators need it read. From 3.13 the frame state says it. */
static int gen_awaits(int8_t state, int is_coro, uintptr_t prev)
{
#if PY_VERSION_HEX < 0x030D0000
    (void)state;
    if (is_coro)
        return 1;
    _Py_CODEUNIT next;
    if (ss_safe_read(&next, (const void *)(prev + sizeof next), sizeof next))
        return -1;
    int op = _Py_OPCODE(next);
#if PY_VERSION_HEX < 0x030C0000
    int resume = op == RESUME || op == RESUME_QUICK;
#else
    int resume = op == RESUME || op == INSTRUMENTED_RESUME;
#endif
    return resume && _Py_OPARG(next) >= 2;
#else
    (void)is_coro; (void)prev;
    return state != FRAME_SUSPENDED;
#endif
}

/* Offset in the generator object at `obj` of its value stack's top slot;
 * 0 when the copied frame `fr` has no sane one (torn). */
static size_t gen_stack_top(uintptr_t obj, const _PyInterpreterFrame *fr)
{
    size_t base = SSP_GEN_FRAME + offsetof(_PyInterpreterFrame, localsplus);
#if PY_VERSION_HEX < 0x030E0000
    (void)obj;
    if (fr->stacktop < 1 || fr->stacktop > (int)SSP_GEN_MAX_STACK)
        return 0;
    return base + (size_t)(fr->stacktop - 1) * sizeof(PyObject *);
#else
    uintptr_t sp = (uintptr_t)fr->stackpointer, first = obj + base;
    if (sp <= first || sp - first > SSP_GEN_MAX_STACK * sizeof(_PyStackRef) ||
        (sp - first) % sizeof(_PyStackRef))
        return 0;
    return sp - sizeof(_PyStackRef) - obj;
#endif
}

/* The object a value stack slot holds (3.14+: a tagged _PyStackRef). */
static uintptr_t gen_slot_object(uintptr_t word)
{
#if PY_VERSION_HEX >= 0x030E0000
    return word & ~(uintptr_t)Py_TAG_BITS;
#else
    return word;
#endif
}

/* One chain being followed by ssp_walker_await_chains. */
typedef struct ssp_chain {
    uintptr_t obj;                   /* next object to read; 0 = the chain ended */
    int result;                      /* 1 while followed / read, 0 not suspended, -1 torn */
    uint32_t nstored;                /* frames in code/instr, outermost first */
    uint32_t beyond;                 /* further frames only counted */
    uintptr_t code[SSP_CHAIN_STORED];
    uintptr_t instr[SSP_CHAIN_STORED];
    uintptr_t objs[SSP_CHAIN_STORED];   /* the coroutine of each stored frame */
    uintptr_t awaited[SSP_CHAIN_STORED]; /* what it awaited when read; 0 = chain end */
} ssp_chain;

/* Sidecar buffers of ssp_walker_await_chains, made at its first call. */
typedef struct ssp_chain_bufs {
    ssp_chain chains[SSP_AWAIT_BATCH];
    unsigned char objs[SSP_AWAIT_BATCH][SSP_GEN_READ];
    size_t got[SSP_AWAIT_BATCH];     /* bytes of objs[k] read */
    uint32_t active[SSP_AWAIT_BATCH];
    struct iovec local[SSP_AWAIT_BATCH], remote[SSP_AWAIT_BATCH];
} ssp_chain_bufs;

/* One step of chain `c` whose current object was copied into buf (got
 * bytes): record its frame and find what it awaits. */
static void chain_step(ssp_chain *c, const unsigned char *buf, size_t got)
{
    uintptr_t obj = c->obj;
    c->obj = 0;
    if (got < SSP_GEN_HDR) {
        c->result = -1;
        return;
    }
    PyObject head;
    memcpy(&head, buf, sizeof head);
    int is_coro = head.ob_type == &PyCoro_Type;
    if (!is_coro && head.ob_type != &PyGen_Type)
        return;                          /* a future, a task or another awaitable: the end */
    int8_t state;
    memcpy(&state, buf + offsetof(PyGenObject, gi_frame_state), sizeof state);
    int cls = gen_state_class(state);
    if (cls != SSP_GEN_SUSPENDED) {
        /* The outermost one running or not started: no chain of its own
         * (a running one is on its thread's stack). Further in, a frame
         * that is neither suspended nor running means it moved while read. */
        int outermost = c->nstored == 0 && c->beyond == 0;
        c->result = (outermost || cls == SSP_GEN_RUNNING) ? 0 : -1;
        return;
    }
    _PyInterpreterFrame fr;
    memcpy(&fr, buf + SSP_GEN_FRAME, SSP_FRAME_SPECIALS);
    uintptr_t code = sspl_frame_code(&fr), prev = sspl_frame_instr(&fr);
    size_t top = gen_stack_top(obj, &fr);
    if (!code || (code & 7) || (prev & 1) || !prev || top == 0 ||
        c->nstored + c->beyond >= SSP_MAX_AWAIT_DEPTH) {
        c->result = -1;
        return;
    }
    if (c->nstored < SSP_CHAIN_STORED) {
        c->code[c->nstored] = code;
        c->objs[c->nstored] = obj;
        c->awaited[c->nstored] = 0;
        c->instr[c->nstored++] = prev;
    } else {
        c->beyond++;
    }
    int awaits = gen_awaits(state, is_coro, prev);
    if (awaits <= 0) {
        c->result = awaits < 0 ? -1 : c->result;
        return;
    }
    uintptr_t awaited;
    if (top + sizeof awaited <= got)
        memcpy(&awaited, buf + top, sizeof awaited);
    else if (ss_safe_read(&awaited, (const void *)(obj + top), sizeof awaited)) {
        c->result = -1;
        return;
    }
    awaited = gen_slot_object(awaited);
    if (awaited == 0 || (awaited & 7) || awaited > SSP_MAX_USER_ADDR) {
        c->result = -1;
        return;
    }
    if (c->beyond == 0)
        c->awaited[c->nstored - 1] = awaited;
    c->obj = awaited;
}

/* 1 if the coroutine copied into buf (got bytes) is still suspended at
 * `instr` awaiting `awaited` (0: awaiting nothing read): the copies of a
 * chain are taken level by level while the loop thread runs, so a chain
 * whose levels were read at different moments is torn, not a stack. */
static int chain_level_holds(uintptr_t obj, const unsigned char *buf, size_t got, uintptr_t instr,
                             uintptr_t awaited)
{
    if (got < SSP_GEN_HDR)
        return 0;
    int8_t state;
    memcpy(&state, buf + offsetof(PyGenObject, gi_frame_state), sizeof state);
    _PyInterpreterFrame fr;
    memcpy(&fr, buf + SSP_GEN_FRAME, SSP_FRAME_SPECIALS);
    if (gen_state_class(state) != SSP_GEN_SUSPENDED || sspl_frame_instr(&fr) != instr)
        return 0;
    if (awaited == 0)
        return 1;
    size_t top = gen_stack_top(obj, &fr);
    uintptr_t now;
    if (top == 0)
        return 0;
    if (top + sizeof now > got)
        return 1;                        /* beyond the copy: not re-read */
    memcpy(&now, buf + top, sizeof now);
    return gen_slot_object(now) == awaited;
}

void ssp_walker_await_chains(ssp_walker *w, const uintptr_t *coros, uint32_t n,
                             ssp_chain_visit_fn visit, void *arg)
{
    if (n > SSP_AWAIT_BATCH)
        n = SSP_AWAIT_BATCH;
    pthread_mutex_lock(&w->walk_lock);
    if (w->chain_bufs == NULL && (w->chain_bufs = malloc(sizeof *w->chain_bufs)) == NULL) {
        pthread_mutex_unlock(&w->walk_lock);
        return;
    }
    ssp_chain_bufs *b = w->chain_bufs;
    uint32_t nactive = 0;
    for (uint32_t i = 0; i < n; i++) {
        ssp_chain *c = &b->chains[i];
        c->obj = coros[i];
        c->result = (coros[i] && !(coros[i] & 7) && coros[i] <= SSP_MAX_USER_ADDR) ? 1 : -1;
        c->nstored = c->beyond = 0;
        if (c->result == 1)
            b->active[nactive++] = i;
    }
    /* Level by level: one scatter read copies the current object of every
     * chain still being followed. */
    while (nactive > 0) {
        for (uint32_t k = 0; k < nactive; k++) {
            b->local[k] = (struct iovec){b->objs[k], SSP_GEN_READ};
            b->remote[k] = (struct iovec){(void *)b->chains[b->active[k]].obj, SSP_GEN_READ};
        }
        size_t ok = ss_safe_readv(b->local, b->remote, nactive);
        uint32_t still = 0;
        for (uint32_t k = 0; k < nactive; k++) {
            ssp_chain *c = &b->chains[b->active[k]];
            /* Past the first failure (an object near the end of a mapping,
             * say), each is read alone, as far as it can be. */
            size_t got = k < ok ? SSP_GEN_READ
                                : ss_safe_read_partial(b->objs[k], (const void *)c->obj, SSP_GEN_READ);
            chain_step(c, b->objs[k], got);
            if (c->result == 1 && c->obj != 0)
                b->active[still++] = b->active[k];
        }
        nactive = still;
    }
    /* Re-read every stored level of the chains found: one scatter read per
     * SSP_AWAIT_BATCH levels; a level that moved tears its chain. */
    uint32_t nlev = 0;
    uint32_t lev_chain[SSP_AWAIT_BATCH], lev_k[SSP_AWAIT_BATCH];
    for (uint32_t i = 0; i <= n; i++) {
        ssp_chain *c = i < n ? &b->chains[i] : NULL;
        for (uint32_t k = 0; c && c->result == 1 && k < c->nstored; k++) {
            lev_chain[nlev] = i;
            lev_k[nlev] = k;
            b->local[nlev] = (struct iovec){b->objs[nlev], SSP_GEN_READ};
            b->remote[nlev++] = (struct iovec){(void *)c->objs[k], SSP_GEN_READ};
            if (nlev == SSP_AWAIT_BATCH)
                break;
        }
        if (nlev == 0 || (nlev < SSP_AWAIT_BATCH && i < n))
            continue;
        size_t ok = ss_safe_readv(b->local, b->remote, nlev);
        for (uint32_t j = 0; j < nlev; j++) {
            ssp_chain *cj = &b->chains[lev_chain[j]];
            uint32_t k = lev_k[j];
            size_t got = j < ok ? SSP_GEN_READ
                                : ss_safe_read_partial(b->objs[j], (const void *)cj->objs[k], SSP_GEN_READ);
            if (!chain_level_holds(cj->objs[k], b->objs[j], got, cj->instr[k], cj->awaited[k]))
                cj->result = -1;
        }
        if (nlev == SSP_AWAIT_BATCH && c && lev_k[nlev - 1] + 1 < c->nstored)
            i--;                         /* this chain's remaining levels next */
        nlev = 0;
    }
    sspc_drain_free_log(&w->walk_cache);
    for (uint32_t i = 0; i < n; i++) {
        ssp_chain *c = &b->chains[i];
        ssp_thread_stack st = {0, 0, w->out, 0, 0, 0};
        int result = c->result == 1 && c->nstored == 0 ? 0 : c->result;
        if (result == 1) {
            /* Leaf first: the innermost coroutine, then those awaiting it. */
            w->walk_cache.epoch++;
            for (uint32_t k = 0; k < c->nstored; k++)
                w->raw[k] = (ssp_raw_frame){c->code[c->nstored - 1 - k], c->instr[c->nstored - 1 - k],
                                            FRAME_OWNED_BY_GENERATOR, SSP_RAW_PENDING, NULL, {0, 0}};
            resolve_raw(w, c->nstored < w->raw_cap ? c->nstored : w->raw_cap, c->beyond, &st);
            if (st.torn)
                result = -1;
        } else if (result < 0) {
            st.torn = 1;
        }
        stats_add(w, 0, result != 0, st.nframes, (uint64_t)(result < 0), &w->walk_cache);
        visit(arg, i, result, &st);
    }
    pthread_mutex_unlock(&w->walk_lock);
}

#else   /* 3.9, 3.10: no await chains (see above) */

void ssp_walker_await_chains(ssp_walker *w, const uintptr_t *coros, uint32_t n,
                             ssp_chain_visit_fn visit, void *arg)
{
    (void)w; (void)coros; (void)n; (void)visit; (void)arg;
}

#endif

uint32_t ssp_walker_read_label(ssp_walker *w, uintptr_t str)
{
    pthread_mutex_lock(&w->walk_lock);
    uint32_t id = 0;
    if (sspc_read_string_as(&w->walk_cache, str, &id, ss_intern_label))
        id = 0;
    pthread_mutex_unlock(&w->walk_lock);
    return id;
}

uint32_t ssp_capture_current(ssp_walker *w, ss_frame *out, uint32_t max)
{
    if (!w || !out || max == 0 || ssp_in_capture)
        return 0;
    ssp_in_capture = 1;
    uint32_t n = 0;
    uint64_t rest = 0;
    ssp_code_cache *c = &w->capture_cache;
    PyThreadState *ts = sspl_this_tstate();
    /* Only the thread holding the GIL may read its frames directly. */
    uintptr_t slot = ts ? sspl_frame_slot(ts, (uintptr_t)ts) : 0;
    if (!ts || ts != PyGILState_GetThisThreadState() || ts->interp != w->interp || !slot)
        goto done;
    uint32_t total = 0;
    for (const sspl_frame *f = *(sspl_frame *const *)slot; f;
         f = (const sspl_frame *)sspl_frame_previous(f)) {
        if (++total > SSP_MAX_WALK_FRAMES)
            break;
        if (sspl_owner_is_shim(sspl_frame_owner(f)))
            continue;
        ssp_raw_frame r = {sspl_frame_code(f), sspl_frame_instr(f), sspl_frame_owner(f),
                           SSP_RAW_PENDING, NULL, {0, 0}};
        const PyCodeObject *code = (const PyCodeObject *)r.code;
        if (!code || Py_TYPE(code) != &PyCode_Type)
            continue;
        if (n >= max) {                  /* only counting now */
            if (r.owner == SSPL_OWNED_BY_GENERATOR ||
                r.prev_instr >= r.code + SSP_CODE_START + (uintptr_t)SSPL_CODE_FIRSTTRACEABLE(code) * 2)
                rest++;
            continue;
        }
        c->epoch++;
        ssp_code_entry *e = sspc_cache_find(c, r.code);
        if (e && sspc_code_hdr_matches(e, code)) {
            c->hits++;
        } else {
            ssp_code_entry tmp;
            if (e)
                sspc_entry_clear(c, e);
            if (sspc_code_build(c, r.code, code, &tmp))
                continue;
            e = sspc_cache_insert(c, &tmp);
            if (!e) {
                if (!frame_incomplete(&r, &tmp) && frame_resolve(&r, &tmp, &out[n]) == 0)
                    n++;
                sspc_entry_clear(c, &tmp);
                continue;
            }
        }
        e->last_used = ++c->clock;
        if (frame_incomplete(&r, e))
            continue;
        if (frame_resolve(&r, e, &out[n]) == 0)
            n++;
    }
    if (rest && max >= 2) {
        uint64_t omitted = rest + 1;     /* the last stored frame gives way */
        out[max - 1].function = sspc_marker_function(c, omitted);
        out[max - 1].line = 0;
        n = max;
    }
    stats_add(w, 0, 1, n, 0, c);
done:
    ssp_in_capture = 0;
    return n;
}

void ssp_walker_after_fork_child(ssp_walker *w)
{
    if (!w)
        return;
    /* Only the forking thread exists here. A fresh lock, and a fresh cache:
     * the old one may be torn mid-update, so it is abandoned (leaked once
     * per fork) rather than freed. */
    pthread_mutex_init(&w->walk_lock, NULL);
    ssp_code_cache fresh;
    if (sspc_cache_init(&fresh, ss_safe_read) == 0)
        w->walk_cache = fresh;
    else
        sspc_cache_flush(&w->walk_cache);
    w->walk_cache.free_seen = sspc_free_log_seq();
}

void ssp_walker_set_validation(ssp_walker *w, int by_read)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->walk_lock);
    w->validate_by_read = by_read != 0;
    pthread_mutex_unlock(&w->walk_lock);
}

void ssp_walker_get_stats(ssp_walker *w, ssp_walker_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!w)
        return;
    out->walks = __atomic_load_n(&w->stats.walks, __ATOMIC_RELAXED);
    out->threads = __atomic_load_n(&w->stats.threads, __ATOMIC_RELAXED);
    out->frames = __atomic_load_n(&w->stats.frames, __ATOMIC_RELAXED);
    out->torn = __atomic_load_n(&w->stats.torn, __ATOMIC_RELAXED);
    out->code_cache_hits = __atomic_load_n(&w->stats.code_cache_hits, __ATOMIC_RELAXED);
    out->code_cache_misses = __atomic_load_n(&w->stats.code_cache_misses, __ATOMIC_RELAXED);
}

#else /* no layout part for this interpreter */

/* Stub: no layout part describes this interpreter's structures. */
struct ssp_walker {
    int unused;   /* never allocated */
};

ssp_walker *ssp_walker_new(int max_frames, char *err, size_t errlen)
{
    (void)max_frames;
#ifdef Py_GIL_DISABLED
    const char *build = " free-threaded (Py_GIL_DISABLED) build";
#else
    const char *build = "";
#endif
    if (err && errlen)
        snprintf(err, errlen, "stacksight supports %s; this is CPython %d.%d%s",
                 SSP_SUPPORTED_VERSIONS, PY_MAJOR_VERSION, PY_MINOR_VERSION, build);
    return NULL;
}

void ssp_walker_free(ssp_walker *w) { (void)w; }

int ssp_walker_walk(ssp_walker *w, ssp_visit_fn visit, void *arg)
{
    (void)w; (void)visit; (void)arg;
    return -1;
}

int ssp_walker_walk_changed(ssp_walker *w, ssp_visit_fn visit, ssp_unchanged_fn unchanged, void *arg)
{
    (void)w; (void)visit; (void)unchanged; (void)arg;
    return -1;
}

uint32_t ssp_capture_current(ssp_walker *w, ss_frame *out, uint32_t max)
{
    (void)w; (void)out; (void)max;
    return 0;
}

void ssp_walker_set_validation(ssp_walker *w, int by_read)
{
    (void)w; (void)by_read;
}

void ssp_walker_after_fork_child(ssp_walker *w) { (void)w; }

void ssp_walker_await_chains(ssp_walker *w, const uintptr_t *coros, uint32_t n,
                             ssp_chain_visit_fn visit, void *arg)
{
    (void)w; (void)coros; (void)n; (void)visit; (void)arg;
}

uint32_t ssp_walker_read_label(ssp_walker *w, uintptr_t str)
{
    (void)w; (void)str;
    return 0;
}

int ssp_snapshot_capture(ssp_snapshot *snap, pid_t tid)
{
    (void)snap;
    (void)tid;
    return -1;
}

void ssp_walker_resolve_snapshot(ssp_walker *w, const ssp_snapshot *snap, ssp_thread_stack *st)
{
    (void)w;
    (void)snap;
    st->torn = 1;
    st->nframes = 0;
}

void ssp_walker_get_stats(ssp_walker *w, ssp_walker_stats *out)
{
    (void)w;
    if (out)
        memset(out, 0, sizeof *out);
}

#endif
