/* aggregator.h - samples keyed by (stack, labels), many values per key.
 *
 * Every profile type stacksight produces lands here: the sidecar adds CPU and
 * wall time, application threads add exceptions, lock events and allocations,
 * the upload thread adds the heap snapshot. A key's values form one row of the
 * pprof Sample table, so a stack seen by several profile types is stored once.
 *
 * Two buffers: writers fill the active one while the upload thread encodes
 * the other (ss_aggregator_swap). Each buffer has a hard cap on distinct keys
 * and on stored frames and never allocates past it. A sample whose stack does
 * not fit any more is folded, values intact, into its thread's one-frame
 * "[other stacks]" row (rows kept in reserve for that), so the totals of a
 * period with very many distinct stacks stay right; only a sample that finds
 * even the reserve full is counted as dropped. */
#ifndef SS_AGGREGATOR_H
#define SS_AGGREGATOR_H

#include <stdint.h>
#include <pthread.h>

/* Value columns, in the order of profiling-facts §2. */
typedef enum ss_value_kind {
    SS_CPU_SAMPLES, SS_CPU_TIME, SS_WALL_SAMPLES, SS_WALL_TIME,
    SS_EXCEPTION_SAMPLES,
    SS_LOCK_ACQUIRE, SS_LOCK_ACQUIRE_WAIT, SS_LOCK_RELEASE, SS_LOCK_RELEASE_HOLD,
    SS_ALLOC_SAMPLES, SS_ALLOC_SPACE, SS_HEAP_LIVE_SAMPLES, SS_HEAP_SPACE,
    SS_VALUE_KINDS
} ss_value_kind;

/* One frame: a function id from interner.h and a line in it. */
typedef struct ss_frame {
    uint32_t function;
    int32_t line;
} ss_frame;

/* Labels of a sample. Zero means "absent" for every field. */
typedef struct ss_labels {
    int64_t thread_id;         /* interpreter thread ident (Python) / object id (Ruby) */
    int64_t native_thread_id;  /* OS thread id */
    uint32_t thread_name;      /* string ids ... */
    uint32_t exception_type;
    uint32_t lock_name;
    uint32_t class_name;
    uint32_t task_name;
    uint32_t exception_message; /* only when STACKSIGHT_EXCEPTION_MESSAGES is on */
    int64_t task_id;
} ss_labels;

#define SS_MAX_KEYS_PER_BUFFER   16384u   /* distinct (stack, labels) per period */
#define SS_MAX_FRAMES_PER_BUFFER (1u << 19) /* frames stored per period, 4 MB worst case */
#define SS_FOLD_RESERVE_ROWS     256u     /* of the key cap, kept for "[other stacks]" rows */
#define SS_OTHER_STACKS "[other stacks]"

typedef struct ss_sample_row {
    uint32_t frames_offset;    /* into ss_profile_buffer.frames; leaf first */
    uint32_t nframes;
    uint64_t hash;
    ss_labels labels;
    int64_t values[SS_VALUE_KINDS];
} ss_sample_row;

typedef struct ss_profile_buffer {
    ss_sample_row *rows;       /* rows[0..nrows) */
    uint32_t nrows, rows_cap;
    uint32_t *slots;           /* open-addressing index into rows, 0 = empty, else row+1 */
    uint32_t nslots;           /* power of two, > 2 * nrows */
    ss_frame *frames;          /* frames[0..nframes) */
    uint32_t nframes, frames_cap;
    int64_t start_ns;          /* wall clock (Unix ns) when this buffer became active */
    int64_t end_ns;            /* set by swap */
    uint64_t folded;           /* samples folded into "[other stacks]" rows */
    uint64_t dropped;          /* samples that did not fit even there */
    uint64_t added;            /* ss_buffer_add calls that stored something */
} ss_profile_buffer;

typedef struct ss_aggregator {
    pthread_mutex_t lock;      /* guards `active` and its contents */
    ss_profile_buffer buffers[2];
    ss_profile_buffer *active; /* being filled */
} ss_aggregator;

void ss_aggregator_init(ss_aggregator *agg, int64_t now_unix_ns);
void ss_aggregator_destroy(ss_aggregator *agg);

/* Add `values` (SS_VALUE_KINDS entries, zeros ignored) at `frames` (leaf
 * first) with `labels` to the active buffer. Thread-safe. */
void ss_aggregator_add(ss_aggregator *agg, const ss_frame *frames, uint32_t nframes,
                       const ss_labels *labels, const int64_t *values);

/* Same, for a single value column. */
void ss_aggregator_add1(ss_aggregator *agg, const ss_frame *frames, uint32_t nframes,
                        const ss_labels *labels, ss_value_kind kind, int64_t value);

/* Make the other buffer active and return the one that was filling. The
 * returned buffer belongs to the caller until ss_aggregator_release(). */
ss_profile_buffer *ss_aggregator_swap(ss_aggregator *agg, int64_t now_unix_ns);
void ss_aggregator_release(ss_aggregator *agg, ss_profile_buffer *buf);

/* Unlocked add into a buffer the caller owns (heap snapshot at period end). */
void ss_buffer_add(ss_profile_buffer *buf, const ss_frame *frames, uint32_t nframes,
                   const ss_labels *labels, const int64_t *values);
void ss_buffer_clear(ss_profile_buffer *buf);

#endif
