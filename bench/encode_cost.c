/* encode_cost.c - upload-thread CPU to encode one profile period, by distinct stacks.
 *
 * Why: the encoding figures in the README (2 000 / 10 000 / 16 384 distinct
 * stacks per period) must come from a command anyone can rerun. This builds
 * one period the way the sidecar fills it (ss_aggregator_add of CPU and wall
 * rows; 17-frame stacks over 3 000 functions, 8 threads) and times
 * ss_pprof_encode - building, packing and gzip - with the thread's CPU clock,
 * median of 7 encodes. Run by `make bench-encode`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregator.h"
#include "interner.h"
#include "pprof_encoder.h"
#include "thread_clock.h"

#define DEPTH 17
#define FUNCTIONS 3000
#define RUNS 7

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int main(void)
{
    static uint32_t fn[FUNCTIONS];
    char name[64], file[64];
    for (int i = 0; i < FUNCTIONS; i++) {
        snprintf(name, sizeof name, "handler_%d", i);
        snprintf(file, sizeof file, "/srv/app/module_%d.py", i / 20);
        fn[i] = ss_intern_function(ss_intern_cstr(name), ss_intern_cstr(file), 10 + i % 40);
    }
    const uint32_t sizes[] = {2000, 10000, 16384};
    printf("%-16s %10s %12s %12s %10s\n", "distinct stacks", "frames", "encode ms", "raw bytes", "gzip bytes");
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        uint32_t n = sizes[s];
        ss_aggregator agg;
        ss_aggregator_init(&agg, ss_unix_ns());
        for (uint32_t i = 0; i < n; i++) {
            ss_frame frames[DEPTH];
            for (uint32_t k = 0; k < DEPTH; k++) {
                frames[k].function = fn[(i * 7u + k * 131u) % FUNCTIONS];
                frames[k].line = (int32_t)(10 + (i + k) % 50);
            }
            frames[DEPTH - 1].line = (int32_t)(1000 + i / 1000);   /* every stack distinct */
            ss_labels labels;
            memset(&labels, 0, sizeof labels);
            labels.thread_id = 1 + i % 8;
            labels.native_thread_id = 1000 + i % 8;
            int64_t values[SS_VALUE_KINDS] = {0};
            values[SS_CPU_SAMPLES] = 1;
            values[SS_CPU_TIME] = 10000000;
            values[SS_WALL_SAMPLES] = 1;
            values[SS_WALL_TIME] = 10000000;
            ss_aggregator_add(&agg, frames, DEPTH, &labels, values);
        }
        ss_profile_buffer *buf = ss_aggregator_swap(&agg, ss_unix_ns());
        int64_t ns[RUNS];
        ss_encode_stats es;
        ss_bytes out = {0};
        for (int r = 0; r < RUNS; r++) {
            memset(&es, 0, sizeof es);
            out.len = 0;
            if (ss_pprof_encode(buf, SS_MASK_CPU_WALL, 10000000, &out, &es) != 0) {
                fprintf(stderr, "encode failed at %u stacks\n", n);
                return 1;
            }
            ns[r] = es.encode_ns;
        }
        qsort(ns, RUNS, sizeof *ns, cmp_i64);
        printf("%-16u %10u %12.1f %12zu %10zu\n", buf->nrows, buf->nframes, ns[RUNS / 2] / 1e6,
               es.raw_bytes, es.gzip_bytes);
        ss_bytes_free(&out);
        ss_aggregator_release(&agg, buf);
        ss_aggregator_destroy(&agg);
    }
    return 0;
}
