/* aggregator.c - (stack, labels) -> values tables, double-buffered (see aggregator.h). */
#include "aggregator.h"

#include "big_alloc.h"
#include "interner.h"

#include <stdlib.h>
#include <string.h>

#define INITIAL_ROWS 256u
#define INITIAL_FRAMES 4096u

static uint64_t mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
    return h;
}

static uint64_t hash_key(const ss_frame *frames, uint32_t nframes, const ss_labels *labels)
{
    uint64_t h = 0xcbf29ce484222325ull ^ nframes;
    for (uint32_t i = 0; i < nframes; i++)
        h = mix(h, ((uint64_t)frames[i].function << 32) | (uint32_t)frames[i].line);
    const uint64_t *words = (const uint64_t *)(const void *)labels;
    for (size_t i = 0; i < sizeof *labels / sizeof(uint64_t); i++)
        h = mix(h, words[i]);
    return h * 0xff51afd7ed558ccdull;
}

static int grow_rows(ss_profile_buffer *buf)
{
    uint32_t cap = buf->rows_cap ? buf->rows_cap * 2 : INITIAL_ROWS;
    if (cap > SS_MAX_KEYS_PER_BUFFER)
        cap = SS_MAX_KEYS_PER_BUFFER;
    if (cap <= buf->rows_cap)
        return -1;
    ss_sample_row *rows = ss_big_realloc(buf->rows, (size_t)buf->rows_cap * sizeof *rows,
                                         (size_t)cap * sizeof *rows);
    if (!rows)
        return -1;
    buf->rows = rows;
    buf->rows_cap = cap;
    /* Keep the index at most half full. */
    uint32_t nslots = 1;
    while (nslots < cap * 2)
        nslots <<= 1;
    if (nslots != buf->nslots) {
        uint32_t *slots = ss_big_alloc((size_t)nslots * sizeof *slots);
        if (!slots)
            return -1;
        for (uint32_t r = 0; r < buf->nrows; r++) {
            uint32_t i = (uint32_t)buf->rows[r].hash & (nslots - 1);
            while (slots[i])
                i = (i + 1) & (nslots - 1);
            slots[i] = r + 1;
        }
        ss_big_free(buf->slots, (size_t)buf->nslots * sizeof *buf->slots);
        buf->slots = slots;
        buf->nslots = nslots;
    }
    return 0;
}

static int reserve_frames(ss_profile_buffer *buf, uint32_t n)
{
    if ((uint64_t)buf->nframes + n <= buf->frames_cap)
        return 0;
    uint64_t cap = buf->frames_cap ? buf->frames_cap : INITIAL_FRAMES;
    while (cap < (uint64_t)buf->nframes + n)
        cap *= 2;
    if (cap > SS_MAX_FRAMES_PER_BUFFER)
        cap = SS_MAX_FRAMES_PER_BUFFER;
    if (cap < (uint64_t)buf->nframes + n)
        return -1;
    ss_frame *frames = ss_big_realloc(buf->frames, (size_t)buf->frames_cap * sizeof *frames,
                                      (size_t)cap * sizeof *frames);
    if (!frames)
        return -1;
    buf->frames = frames;
    buf->frames_cap = (uint32_t)cap;
    return 0;
}

static int same_key(const ss_profile_buffer *buf, const ss_sample_row *row, uint64_t hash,
                    const ss_frame *frames, uint32_t nframes, const ss_labels *labels)
{
    return row->hash == hash && row->nframes == nframes &&
           memcmp(&row->labels, labels, sizeof *labels) == 0 &&
           memcmp(buf->frames + row->frames_offset, frames, nframes * sizeof *frames) == 0;
}

static pthread_once_t other_stacks_once = PTHREAD_ONCE_INIT;
static uint32_t other_stacks_function;   /* interner id of SS_OTHER_STACKS */

static void intern_other_stacks(void)
{
    other_stacks_function = ss_intern_function(ss_intern_cstr(SS_OTHER_STACKS), SS_STRING_NONE, 0);
}

/* Add at an existing key, or store a new one if it fits in the first `row_limit`
 * rows and `frame_limit` frames. 0 = stored, -1 = no room. */
static int add_row(ss_profile_buffer *buf, const ss_frame *frames, uint32_t nframes,
                   const ss_labels *labels, const int64_t *values, uint32_t row_limit,
                   uint32_t frame_limit)
{
    uint64_t hash = hash_key(frames, nframes, labels);
    if (buf->nslots) {
        uint32_t mask = buf->nslots - 1;
        for (uint32_t i = (uint32_t)hash & mask;; i = (i + 1) & mask) {
            uint32_t slot = buf->slots[i];
            if (!slot)
                break;
            ss_sample_row *row = &buf->rows[slot - 1];
            if (same_key(buf, row, hash, frames, nframes, labels)) {
                for (int k = 0; k < SS_VALUE_KINDS; k++)
                    row->values[k] += values[k];
                buf->added++;
                return 0;
            }
        }
    }
    if (buf->nrows >= row_limit || (uint64_t)buf->nframes + nframes > frame_limit ||
        (buf->nrows == buf->rows_cap && grow_rows(buf) != 0) || reserve_frames(buf, nframes) != 0)
        return -1;
    uint32_t mask = buf->nslots - 1;
    uint32_t i = (uint32_t)hash & mask;
    while (buf->slots[i])
        i = (i + 1) & mask;
    ss_sample_row *row = &buf->rows[buf->nrows];
    row->frames_offset = buf->nframes;
    row->nframes = nframes;
    row->hash = hash;
    row->labels = *labels;
    memcpy(row->values, values, sizeof row->values);
    memcpy(buf->frames + buf->nframes, frames, nframes * sizeof *frames);
    buf->nframes += nframes;
    buf->slots[i] = ++buf->nrows;
    buf->added++;
    return 0;
}

void ss_buffer_add(ss_profile_buffer *buf, const ss_frame *frames, uint32_t nframes,
                   const ss_labels *labels, const int64_t *values)
{
    if (add_row(buf, frames, nframes, labels, values, SS_MAX_KEYS_PER_BUFFER - SS_FOLD_RESERVE_ROWS,
                SS_MAX_FRAMES_PER_BUFFER - SS_FOLD_RESERVE_ROWS) == 0)
        return;
    /* Fold: the thread keeps its time, only the stack is lost. Thread labels
     * only, so the reserve holds one row per thread; past it, one row for all. */
    pthread_once(&other_stacks_once, intern_other_stacks);
    ss_frame other = {other_stacks_function, 0};
    ss_labels thread = {.thread_id = labels->thread_id,
                        .native_thread_id = labels->native_thread_id,
                        .thread_name = labels->thread_name};
    ss_labels anyone = {0};
    if (add_row(buf, &other, 1, &thread, values, SS_MAX_KEYS_PER_BUFFER - 1,
                SS_MAX_FRAMES_PER_BUFFER - 1) == 0 ||
        add_row(buf, &other, 1, &anyone, values, SS_MAX_KEYS_PER_BUFFER,
                SS_MAX_FRAMES_PER_BUFFER) == 0)
        buf->folded++;
    else
        buf->dropped++;
}

void ss_buffer_clear(ss_profile_buffer *buf)
{
    buf->nrows = 0;
    buf->nframes = 0;
    buf->folded = 0;
    buf->dropped = 0;
    buf->added = 0;
    if (buf->slots)
        memset(buf->slots, 0, (size_t)buf->nslots * sizeof *buf->slots);
    /* A period that needed a big table once gives it back, so one burst of
     * distinct stacks does not pin memory for the life of the process. */
    if (buf->rows_cap > 4 * INITIAL_ROWS * 4) {
        ss_big_free(buf->rows, (size_t)buf->rows_cap * sizeof *buf->rows);
        ss_big_free(buf->slots, (size_t)buf->nslots * sizeof *buf->slots);
        buf->rows = NULL;
        buf->slots = NULL;
        buf->rows_cap = buf->nslots = 0;
    }
    if (buf->frames_cap > INITIAL_FRAMES * 16) {
        ss_big_free(buf->frames, (size_t)buf->frames_cap * sizeof *buf->frames);
        buf->frames = NULL;
        buf->frames_cap = 0;
    }
}

static void buffer_free(ss_profile_buffer *buf)
{
    ss_big_free(buf->rows, (size_t)buf->rows_cap * sizeof *buf->rows);
    ss_big_free(buf->slots, (size_t)buf->nslots * sizeof *buf->slots);
    ss_big_free(buf->frames, (size_t)buf->frames_cap * sizeof *buf->frames);
    memset(buf, 0, sizeof *buf);
}

void ss_aggregator_init(ss_aggregator *agg, int64_t now_unix_ns)
{
    memset(agg, 0, sizeof *agg);
    pthread_mutex_init(&agg->lock, NULL);
    agg->active = &agg->buffers[0];
    agg->active->start_ns = now_unix_ns;
}

void ss_aggregator_destroy(ss_aggregator *agg)
{
    buffer_free(&agg->buffers[0]);
    buffer_free(&agg->buffers[1]);
    pthread_mutex_destroy(&agg->lock);
}

void ss_aggregator_add(ss_aggregator *agg, const ss_frame *frames, uint32_t nframes,
                       const ss_labels *labels, const int64_t *values)
{
    pthread_mutex_lock(&agg->lock);
    ss_buffer_add(agg->active, frames, nframes, labels, values);
    pthread_mutex_unlock(&agg->lock);
}

void ss_aggregator_add1(ss_aggregator *agg, const ss_frame *frames, uint32_t nframes,
                        const ss_labels *labels, ss_value_kind kind, int64_t value)
{
    int64_t values[SS_VALUE_KINDS] = {0};
    values[kind] = value;
    ss_aggregator_add(agg, frames, nframes, labels, values);
}

ss_profile_buffer *ss_aggregator_swap(ss_aggregator *agg, int64_t now_unix_ns)
{
    pthread_mutex_lock(&agg->lock);
    ss_profile_buffer *full = agg->active;
    ss_profile_buffer *next = full == &agg->buffers[0] ? &agg->buffers[1] : &agg->buffers[0];
    ss_buffer_clear(next);
    next->start_ns = now_unix_ns;
    full->end_ns = now_unix_ns;
    agg->active = next;
    pthread_mutex_unlock(&agg->lock);
    return full;
}

void ss_aggregator_release(ss_aggregator *agg, ss_profile_buffer *buf)
{
    (void)agg;
    ss_buffer_clear(buf);
}
