/* idle_stacks.c - last stack per thread, keyed by TID (see idle_stacks.h). */
#include "idle_stacks.h"

#include <stdlib.h>
#include <string.h>

#include "thread_clock.h"

#define IDLE_SLOTS 1024u        /* threads remembered; a full table starts over */

typedef struct idle_slot {
    pid_t tid;                  /* 0 = free */
    int has_stack;              /* frames below belong to `stack_cpu_ns` */
    int64_t seen_cpu_ns;        /* clock read by the last _unchanged call */
    int64_t stack_cpu_ns;       /* clock reading taken just before the stack was read */
    uint32_t nframes;
    ss_frame *frames;           /* max_frames entries, allocated on first store */
    /* Wall time charged but not yet in the aggregator; belongs to `frames`
     * and `pending_labels`. pending_samples == 0: nothing pending. */
    uint32_t pending_samples;
    int64_t pending_wall_ns;
    ss_labels pending_labels;
} idle_slot;

struct ss_idle_stacks {
    uint32_t max_frames;
    uint32_t used;              /* slots with tid != 0 */
    ss_aggregator *agg;         /* where pending wall goes; set by the first charge */
    idle_slot slots[IDLE_SLOTS];
};

ss_idle_stacks *ss_idle_stacks_new(uint32_t max_frames)
{
    ss_idle_stacks *c = calloc(1, sizeof *c);
    if (c)
        c->max_frames = max_frames;
    return c;
}

void ss_idle_stacks_free(ss_idle_stacks *c)
{
    if (!c)
        return;
    for (uint32_t i = 0; i < IDLE_SLOTS; i++)
        free(c->slots[i].frames);
    free(c);
}

static void flush_slot(ss_idle_stacks *c, idle_slot *s)
{
    if (!s->pending_samples)
        return;
    if (c->agg && s->has_stack && s->nframes) {
        int64_t values[SS_VALUE_KINDS] = {0};
        values[SS_WALL_SAMPLES] = s->pending_samples;
        values[SS_WALL_TIME] = s->pending_wall_ns;
        ss_aggregator_add(c->agg, s->frames, s->nframes, &s->pending_labels, values);
    }
    s->pending_samples = 0;
    s->pending_wall_ns = 0;
}

void ss_idle_stacks_flush(ss_idle_stacks *c)
{
    if (!c)
        return;
    for (uint32_t i = 0; i < IDLE_SLOTS; i++)
        flush_slot(c, &c->slots[i]);
}

static idle_slot *find(ss_idle_stacks *c, pid_t tid, int create)
{
    uint32_t start = ((uint32_t)tid * 2654435761u) % IDLE_SLOTS;
    for (uint32_t i = 0; i < IDLE_SLOTS; i++) {
        idle_slot *s = &c->slots[(start + i) % IDLE_SLOTS];
        if (s->tid == tid)
            return s;
        if (s->tid == 0) {
            if (!create)
                return NULL;
            if (c->used >= IDLE_SLOTS * 3 / 4) {
                /* Full of threads that may be gone: start over rather than
                 * track liveness; live threads are simply read once more. */
                ss_idle_stacks_flush(c);
                for (uint32_t k = 0; k < IDLE_SLOTS; k++) {
                    c->slots[k].tid = 0;
                    c->slots[k].has_stack = 0;
                }
                c->used = 0;
                return find(c, tid, 1);
            }
            s->tid = tid;
            s->has_stack = 0;
            c->used++;
            return s;
        }
    }
    return NULL;
}

int ss_idle_stacks_unchanged(ss_idle_stacks *c, pid_t tid)
{
    if (!c || tid <= 0)
        return 0;
    idle_slot *s = find(c, tid, 1);
    if (!s)
        return 0;
    s->seen_cpu_ns = ss_thread_cpu_ns(tid);
    return s->has_stack && s->seen_cpu_ns >= 0 && s->seen_cpu_ns == s->stack_cpu_ns;
}

uint32_t ss_idle_stacks_get(ss_idle_stacks *c, pid_t tid, const ss_frame **frames)
{
    idle_slot *s = c ? find(c, tid, 0) : NULL;
    if (!s || !s->has_stack) {
        *frames = NULL;
        return 0;
    }
    *frames = s->frames;
    return s->nframes;
}

void ss_idle_stacks_store(ss_idle_stacks *c, pid_t tid, const ss_frame *frames, uint32_t n)
{
    idle_slot *s = c ? find(c, tid, 0) : NULL;
    if (!s || s->seen_cpu_ns < 0)
        return;
    flush_slot(c, s);   /* pending wall belongs to the old stack */
    if (!s->frames && !(s->frames = malloc((size_t)c->max_frames * sizeof *s->frames)))
        return;
    if (n > c->max_frames)
        n = c->max_frames;
    memcpy(s->frames, frames, (size_t)n * sizeof *frames);
    s->nframes = n;
    s->stack_cpu_ns = s->seen_cpu_ns;
    s->has_stack = 1;
}

void ss_idle_stacks_forget(ss_idle_stacks *c, pid_t tid)
{
    idle_slot *s = c ? find(c, tid, 0) : NULL;
    if (s) {
        flush_slot(c, s);
        s->has_stack = 0;
    }
}

int ss_idle_stacks_charge(ss_idle_stacks *c, pid_t tid, const ss_labels *labels, int64_t wall_ns,
                          ss_aggregator *agg)
{
    idle_slot *s = c ? find(c, tid, 0) : NULL;
    if (!s || !s->has_stack)
        return -1;
    c->agg = agg;
    if (s->pending_samples && memcmp(&s->pending_labels, labels, sizeof *labels) != 0)
        flush_slot(c, s);
    if (!s->pending_samples)
        s->pending_labels = *labels;
    s->pending_samples++;
    s->pending_wall_ns += wall_ns;
    if (s->pending_samples >= SS_IDLE_FLUSH_TICKS)
        flush_slot(c, s);
    return 0;
}
