/* memory_profiler.c - sampling hook on the object allocator and the table of
 * live sampled blocks (see memory_profiler.h for what is measured).
 *
 * Concurrency: the object domain may only be used with the GIL held, so the
 * hooks - and every writer of the state below - are serialised by the GIL.
 * The one reader without the GIL is the upload thread's snapshot
 * (ssp_memory_period_end); `heap.lock` keeps it away from writers. Writers
 * take the lock only to change the table, never to look up: a lookup by a GIL
 * holder cannot race a writer, since writers hold the GIL too.
 *
 * Re-entrancy: recording a sample may itself allocate (the stack capture may
 * build a UTF-8 name, interning uses malloc); `mem_in_sample` makes nested
 * allocations plain forwards. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "memory_profiler.h"
#include "event_sampling.h"
#include "../src/common/core.h"
#include "../src/common/log.h"

/* ---- the table of live sampled blocks ------------------------------------ */

/* One live sampled block. */
typedef struct heap_entry {
    uintptr_t ptr;               /* block address; 0 = entry on the free list */
    int64_t count_weight;        /* allocations this sample stands for (1/p) */
    int64_t bytes_weight;        /* bytes this sample stands for (size/p) */
    ss_labels labels;            /* thread of the allocation */
    ss_frame *frames;            /* allocating stack, leaf first; malloc'd */
    uint32_t nframes;
    uint32_t next_free;          /* free list link (index), when ptr == 0 */
} heap_entry;

#define HEAP_NONE UINT32_MAX
#define HEAP_MIN_SLOTS 1024u

/* Open addressing (linear probing, backward-shift deletion) from address to
 * entry. Invariants: nslots is a power of two and > 2 * live; slots[i] is 0
 * or an entry index + 1 whose entry's ptr is non-zero; every live entry is
 * reachable from its home slot without crossing an empty slot. */
typedef struct heap_table {
    pthread_mutex_t lock;        /* held by writers while changing, by the snapshot */
    uint32_t *slots;
    uint32_t nslots;
    heap_entry *entries;         /* entries[0..nentries) allocated, live or free */
    uint32_t nentries, cap;
    uint32_t free_head;          /* first free entry, HEAP_NONE if none */
    uint32_t live;               /* entries with ptr != 0 */
} heap_table;

static heap_table heap = {.lock = PTHREAD_MUTEX_INITIALIZER, .free_head = HEAP_NONE};

/* Every free must say quickly whether its block can be a sampled one. The
 * filter counts live sampled blocks by the low 16 address bits (blocks are
 * 16-byte aligned, so 4096 of its bytes are ever used): a zero means "not
 * sampled" for sure, so almost every free costs one byte load and no table
 * probe (with L live samples about L / 4096 of frees probe the table).
 * Indexing by the low 16 bits as they are (not bits 4..15 shifted down)
 * saves the free path two instructions; the price is 64 KiB of address space
 * of which only the pages holding a non-zero count are ever written. Counts
 * saturate at 255 and then stay ("maybe") until the table is cleared.
 * Written and read with the GIL. */
#define HEAP_FILTER_SIZE 65536u
static uint8_t heap_filter[HEAP_FILTER_SIZE];

static inline uint32_t
heap_filter_index(uintptr_t ptr)
{
    return (uint16_t)ptr;
}

static inline uint32_t
heap_home(uintptr_t ptr, uint32_t nslots)
{
    uint64_t h = ((uint64_t)ptr >> 4) * 0x9E3779B97F4A7C15ull;
    return (uint32_t)(h >> 32) & (nslots - 1);
}

/* Slot of `ptr`, or HEAP_NONE. GIL holders only. */
static inline uint32_t
heap_find(uintptr_t ptr)
{
    uint32_t mask = heap.nslots - 1;
    for (uint32_t i = heap_home(ptr, heap.nslots);; i = (i + 1) & mask) {
        uint32_t s = heap.slots[i];
        if (s == 0)
            return HEAP_NONE;
        if (heap.entries[s - 1].ptr == ptr)
            return i;
    }
}

static void
heap_place(uint32_t *slots, uint32_t nslots, uintptr_t ptr, uint32_t value)
{
    uint32_t i = heap_home(ptr, nslots);
    while (slots[i] != 0)
        i = (i + 1) & (nslots - 1);
    slots[i] = value;
}

/* With heap.lock: make room for one more live entry. */
static int
heap_reserve(void)
{
    if (heap.live + 1 > SSP_HEAP_MAX_ENTRIES)
        return -1;
    if (heap.slots == NULL || (heap.live + 1) * 2 >= heap.nslots) {
        uint32_t n = heap.slots ? heap.nslots * 2 : HEAP_MIN_SLOTS;
        uint32_t *slots = calloc(n, sizeof *slots);
        if (slots == NULL)
            return -1;
        for (uint32_t i = 0; heap.slots && i < heap.nslots; i++)
            if (heap.slots[i])
                heap_place(slots, n, heap.entries[heap.slots[i] - 1].ptr, heap.slots[i]);
        free(heap.slots);
        heap.slots = slots;
        heap.nslots = n;
    }
    if (heap.free_head == HEAP_NONE && heap.nentries == heap.cap) {
        uint32_t cap = heap.cap ? heap.cap * 2 : 256u;
        heap_entry *e = realloc(heap.entries, (size_t)cap * sizeof *e);
        if (e == NULL)
            return -1;
        heap.entries = e;
        heap.cap = cap;
    }
    return 0;
}

/* With the GIL. Takes ownership of `frames` (freed on failure). */
static int
heap_insert(uintptr_t ptr, int64_t count_weight, int64_t bytes_weight, const ss_labels *labels,
            ss_frame *frames, uint32_t nframes)
{
    pthread_mutex_lock(&heap.lock);
    if (heap_reserve() < 0) {
        pthread_mutex_unlock(&heap.lock);
        free(frames);
        return -1;
    }
    uint32_t idx;
    if (heap.free_head != HEAP_NONE) {
        idx = heap.free_head;
        heap.free_head = heap.entries[idx].next_free;
    }
    else {
        idx = heap.nentries++;
    }
    heap_entry *e = &heap.entries[idx];
    e->ptr = ptr;
    e->count_weight = count_weight;
    e->bytes_weight = bytes_weight;
    e->labels = *labels;
    e->frames = frames;
    e->nframes = nframes;
    e->next_free = HEAP_NONE;
    heap_place(heap.slots, heap.nslots, ptr, idx + 1);
    heap.live++;
    uint8_t *f = &heap_filter[heap_filter_index(ptr)];
    if (*f < 255)
        (*f)++;
    pthread_mutex_unlock(&heap.lock);
    return 0;
}

/* With the GIL: `ptr` is being freed; drop its entry if it has one. */
static void
heap_forget(uintptr_t ptr)
{
    uint32_t i = heap_find(ptr);
    if (i == HEAP_NONE)
        return;
    pthread_mutex_lock(&heap.lock);
    uint32_t idx = heap.slots[i] - 1;
    heap_entry *e = &heap.entries[idx];
    ss_frame *frames = e->frames;
    e->ptr = 0;
    e->frames = NULL;
    e->nframes = 0;
    e->next_free = heap.free_head;
    heap.free_head = idx;
    heap.live--;
    uint8_t *f = &heap_filter[heap_filter_index(ptr)];
    if (*f < 255)
        (*f)--;
    /* Backward shift: pull later members of the cluster into the hole. */
    uint32_t mask = heap.nslots - 1;
    heap.slots[i] = 0;
    for (uint32_t j = (i + 1) & mask; heap.slots[j] != 0; j = (j + 1) & mask) {
        uint32_t home = heap_home(heap.entries[heap.slots[j] - 1].ptr, heap.nslots);
        /* The member at j may move to the hole at i unless its home lies
         * cyclically in (i, j]. */
        int stays = (i <= j) ? (home > i && home <= j) : (home > i || home <= j);
        if (!stays) {
            heap.slots[i] = heap.slots[j];
            heap.slots[j] = 0;
            i = j;
        }
    }
    pthread_mutex_unlock(&heap.lock);
    free(frames);
}

/* With the GIL: forget every block. */
static void
heap_clear(void)
{
    pthread_mutex_lock(&heap.lock);
    for (uint32_t k = 0; k < heap.nentries; k++)
        free(heap.entries[k].frames);
    free(heap.entries);
    free(heap.slots);
    heap.entries = NULL;
    heap.slots = NULL;
    heap.nslots = heap.nentries = heap.cap = heap.live = 0;
    heap.free_head = HEAP_NONE;
    memset(heap_filter, 0, sizeof heap_filter);
    pthread_mutex_unlock(&heap.lock);
}

/* ---- sampling state (GIL) ------------------------------------------------ */

static PyMemAllocatorEx mem_orig;    /* the allocator we chain to; valid while installed */
static int mem_installed;            /* our hook is (or was left) in the object domain */
static int mem_recording;            /* 1: sampling between start and pause */
static int mem_alloc_on;             /* record alloc-samples / alloc-space */
static int mem_heap_on;              /* track live blocks for heap-* */
static double mem_mean;              /* mean bytes between sample points */
static int64_t mem_countdown;        /* bytes until the next sample point; INT64_MAX while
                                      * not recording, so the hook needs no other test */
static int mem_in_sample;            /* a sample is being recorded (re-entrancy) */
static ssp_walker *mem_walker;       /* stack source while recording */
static ss_frame *mem_frames;         /* capture buffer of mem_max_frames entries */
static uint32_t mem_max_frames;
static unsigned long long mem_sampled;  /* allocations sampled since start */
static unsigned long long mem_dropped;  /* heap samples the full table refused */
static pthread_once_t mem_atfork_once = PTHREAD_ONCE_INIT;

/* Record the allocation of `size` bytes at `ptr` whose countdown ran out. */
static void
mem_sample(void *ptr, size_t size)
{
    mem_countdown = ss_exponential_interval(mem_mean);
    if (mem_in_sample || mem_walker == NULL)
        return;
    ss_aggregator *agg = ss_core_aggregator();
    if (agg == NULL)
        return;
    mem_in_sample = 1;
    uint32_t n = ssp_capture_current(mem_walker, mem_frames, mem_max_frames);
    if (n > 0) {
        double p = -expm1(-(double)size / mem_mean);   /* 1 - exp(-size/mean) */
        if (!(p > 0.0))
            p = 1.0;
        int64_t count_weight = llround(1.0 / p);
        int64_t bytes_weight = llround((double)size / p);
        ss_labels labels;
        ssp_current_thread_labels(&labels);
        if (mem_alloc_on) {
            int64_t values[SS_VALUE_KINDS];
            memset(values, 0, sizeof values);
            values[SS_ALLOC_SAMPLES] = count_weight;
            values[SS_ALLOC_SPACE] = bytes_weight;
            ss_aggregator_add(agg, mem_frames, n, &labels, values);
        }
        if (mem_heap_on) {
            /* The copy is complete before the snapshot can see it. */
            ss_frame *copy = malloc((size_t)n * sizeof *copy);
            if (copy != NULL)
                memcpy(copy, mem_frames, (size_t)n * sizeof *copy);
            if (copy == NULL ||
                heap_insert((uintptr_t)ptr, count_weight, bytes_weight, &labels, copy, n) < 0) {
                mem_dropped++;
                ss_log_once(SS_LOG_WARNING, "heap-table-full",
                            "stacksight: the heap profile tracks at most %u live samples; "
                            "newer ones are left out (raise DD_PROFILING_HEAP_SAMPLE_SIZE)",
                            SSP_HEAP_MAX_ENTRIES);
            }
        }
        mem_sampled++;
    }
    mem_in_sample = 0;
}

/* ---- the hook ------------------------------------------------------------ */

/* The hook's context is the chained allocator's own (see ssp_memory_start),
 * so the common paths below end in a plain jump to it: a countdown on
 * allocation, a filter byte on free. The sampled paths are out of line. */

static __attribute__((noinline, cold)) void *
mem_malloc_slow(void *ctx, size_t size)
{
    void *p = mem_orig.malloc(ctx, size);
    if (!mem_recording)
        mem_countdown = INT64_MAX;
    else if (p != NULL)
        mem_sample(p, size);
    return p;
}

/* The countdown's hot form (event_sampling.h): three instructions on allocate. */
static inline int
mem_countdown_expired(size_t size)
{
    return ssp_countdown_expired(&mem_countdown, (int64_t)size);
}

static void *
mem_malloc(void *ctx, size_t size)
{
    if (__builtin_expect(!mem_countdown_expired(size), 1))
        return mem_orig.malloc(ctx, size);
    return mem_malloc_slow(ctx, size);
}

static void *
mem_calloc(void *ctx, size_t nelem, size_t elsize)
{
    void *p = mem_orig.calloc(ctx, nelem, elsize);
    if (p != NULL) {
        size_t size = nelem * elsize;   /* cannot overflow: the allocation succeeded */
        if (mem_countdown_expired(size)) {
            if (mem_recording)
                mem_sample(p, size);
            else
                mem_countdown = INT64_MAX;
        }
    }
    return p;
}

/* `ptr` is being freed or moved and the filter says it may be sampled. */
static __attribute__((noinline, cold)) void
mem_forget_maybe(void *ptr)
{
    if (ptr != NULL && heap.live != 0)
        heap_forget((uintptr_t)ptr);
}

static void *
mem_realloc(void *ctx, void *ptr, size_t size)
{
    void *p = mem_orig.realloc(ctx, ptr, size);
    if (p == NULL)
        return NULL;   /* ptr is untouched */
    if (heap_filter[heap_filter_index((uintptr_t)ptr)])
        mem_forget_maybe(ptr);
    if (mem_countdown_expired(size)) {
        if (mem_recording)
            mem_sample(p, size);
        else
            mem_countdown = INT64_MAX;
    }
    return p;
}

static __attribute__((noinline, cold)) void
mem_free_slow(void *ctx, void *ptr)
{
    mem_forget_maybe(ptr);
    mem_orig.free(ctx, ptr);
}

static void
mem_free(void *ctx, void *ptr)
{
    if (__builtin_expect(heap_filter[heap_filter_index((uintptr_t)ptr)] != 0, 0)) {
        mem_free_slow(ctx, ptr);
        return;
    }
    mem_orig.free(ctx, ptr);
}

/* ---- lifecycle ----------------------------------------------------------- */

/* Child after fork: only the forking thread exists and it held the GIL, so
 * the table is consistent; its lock may have been held by the parent's
 * upload thread. */
static void
mem_after_fork_child(void)
{
    pthread_mutex_init(&heap.lock, NULL);
}

static void
mem_register_atfork(void)
{
    pthread_atfork(NULL, NULL, mem_after_fork_child);
}

int
ssp_memory_start(ssp_walker *walker, const ss_config *cfg)
{
    if (walker == NULL || cfg == NULL || !(cfg->memory_enabled || cfg->heap_enabled))
        return -1;
    pthread_once(&mem_atfork_once, mem_register_atfork);
    uint32_t max = cfg->max_frames < 2 ? 2u : (uint32_t)cfg->max_frames;
    ss_frame *frames = malloc((size_t)max * sizeof *frames);
    if (frames == NULL) {
        ss_log_once(SS_LOG_WARNING, "memory-start", "stacksight: memory profiling is off: out of memory");
        return -1;
    }
    free(mem_frames);
    mem_frames = frames;
    mem_max_frames = max;
    mem_walker = walker;
    mem_alloc_on = cfg->memory_enabled != 0;
    mem_heap_on = cfg->heap_enabled != 0;
    mem_mean = (double)(cfg->heap_sample_bytes > 0 ? cfg->heap_sample_bytes : 1048576);
    mem_countdown = ss_exponential_interval(mem_mean);
    mem_sampled = mem_dropped = 0;
    if (!mem_installed) {
        PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &mem_orig);
        PyMemAllocatorEx hook = {mem_orig.ctx, mem_malloc, mem_calloc, mem_realloc, mem_free};
        if (mem_orig.malloc == NULL || mem_orig.free == NULL) {
            ss_log_once(SS_LOG_WARNING, "memory-start",
                        "stacksight: memory profiling is off: no object allocator to chain to");
            return -1;
        }
        PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &hook);
        mem_installed = 1;
    }
    mem_recording = 1;
    return 0;
}

void
ssp_memory_pause(void)
{
    mem_recording = 0;
    mem_countdown = INT64_MAX;
}

void
ssp_memory_stop(void)
{
    mem_recording = 0;
    mem_countdown = INT64_MAX;
    if (mem_installed) {
        PyMemAllocatorEx cur;
        PyMem_GetAllocator(PYMEM_DOMAIN_OBJ, &cur);
        if (cur.malloc == mem_malloc) {
            /* Blocks allocated through the hook came from mem_orig, so
             * mem_orig frees them correctly from now on. */
            PyMem_SetAllocator(PYMEM_DOMAIN_OBJ, &mem_orig);
            mem_installed = 0;
        }
        /* Else another hook (tracemalloc...) chains to ours: removing ours
         * would cut it off. Ours stays, forwarding only. */
    }
    heap_clear();
    mem_walker = NULL;
    free(mem_frames);
    mem_frames = NULL;
}

void
ssp_memory_period_end(void *Py_UNUSED(ctx), ss_profile_buffer *buf)
{
    pthread_mutex_lock(&heap.lock);
    for (uint32_t k = 0; k < heap.nentries; k++) {
        const heap_entry *e = &heap.entries[k];
        if (e->ptr == 0 || e->nframes == 0)
            continue;
        int64_t values[SS_VALUE_KINDS];
        memset(values, 0, sizeof values);
        values[SS_HEAP_LIVE_SAMPLES] = e->count_weight;
        values[SS_HEAP_SPACE] = e->bytes_weight;
        ss_buffer_add(buf, e->frames, e->nframes, &e->labels, values);
    }
    pthread_mutex_unlock(&heap.lock);
}

void
ssp_memory_counts(unsigned long long *sampled, unsigned long long *live, unsigned long long *dropped)
{
    *sampled = mem_sampled;
    *live = heap.live;
    *dropped = mem_dropped;
}
