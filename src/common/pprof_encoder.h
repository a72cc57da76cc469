/* pprof_encoder.h - one period's samples to a gzip-compressed pprof Profile.
 *
 * Runs on the upload thread only. Writes the message's wire format from a
 * swapped-out buffer in one pass, interning strings, functions and locations per profile
 * (ids are dense and start at 1, string_table[0] is ""), and emits only the
 * value columns of profile types that are switched on. */
#ifndef SS_PPROF_ENCODER_H
#define SS_PPROF_ENCODER_H

#include <stdint.h>
#include <stddef.h>
#include "aggregator.h"

typedef struct ss_bytes {
    unsigned char *data;
    size_t len, cap;
} ss_bytes;

void ss_bytes_free(ss_bytes *b);
int ss_bytes_append(ss_bytes *b, const void *data, size_t len);
/* Make room for `extra` more bytes after b->len (capacity doubles). */
int ss_bytes_reserve(ss_bytes *b, size_t extra);

/* Bit i set = value column i (ss_value_kind) is written. */
typedef uint32_t ss_value_mask;
#define SS_MASK(kind) ((ss_value_mask)1u << (kind))
#define SS_MASK_CPU_WALL (SS_MASK(SS_CPU_SAMPLES) | SS_MASK(SS_CPU_TIME) | \
                          SS_MASK(SS_WALL_SAMPLES) | SS_MASK(SS_WALL_TIME))

typedef struct ss_encode_stats {
    uint32_t samples, locations, functions, strings;
    size_t raw_bytes, gzip_bytes;
    int64_t encode_ns;         /* build + pack + gzip, thread CPU time */
} ss_encode_stats;

/* Encode `buf` into `out` (gzip). `period_ns` is the sampling interval
 * written as Profile.period (period_type wall-time/nanoseconds).
 * Returns 0, or -1 with a warning logged. */
int ss_pprof_encode(const ss_profile_buffer *buf, ss_value_mask mask, int64_t period_ns,
                    ss_bytes *out, ss_encode_stats *stats);

/* gzip `len` bytes into out (appending), with libdeflate when the build
 * found it, else zlib (gzip.c). Exposed for tests. */
int ss_gzip(const void *data, size_t len, ss_bytes *out);
/* The same with zlib always (the fallback, kept testable). */
int ss_gzip_zlib(const void *data, size_t len, ss_bytes *out);
/* "libdeflate" or "zlib": what ss_gzip uses in this build. */
const char *ss_gzip_library(void);

const char *ss_value_type_name(ss_value_kind kind);
const char *ss_value_unit_name(ss_value_kind kind);

#endif
